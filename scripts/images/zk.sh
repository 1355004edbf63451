#!/usr/bin/env bash
# Builds `gpunet/zk:latest`, the ZK example's image (examples/zk): the
# `gpunet-zk` prover, built here from crates.io (arkworks) as a static binary,
# on the busybox image (scripts/busybox-image.sh). About 2 minutes on a 2-core
# machine, once: the image carries a hash of this script and the example's
# sources, and is rebuilt only when they change. Prints the image's id.
#
# A client needs the same program to set up keys and verify proofs:
# `cargo install --path examples/zk`, or copy it out of the image
# (`docker cp $(docker create gpunet/zk):/bin/gpunet-zk .`).
set -euo pipefail
IMAGE="${1:-gpunet/zk:latest}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
EXAMPLE="$ROOT/examples/zk"
LABEL="$( (cat "$0" "$EXAMPLE/Cargo.toml" "$EXAMPLE/Cargo.lock" "$EXAMPLE"/src/*.rs) | sha256sum | cut -c1-16)"
# Tests and CI may start the same build concurrently: one at a time.
exec 9>"${TMPDIR:-/tmp}/gpunet-image-${IMAGE//[^a-z0-9]/-}.lock"
flock 9
built="$(docker image inspect -f '{{index .Config.Labels "gpunet.script"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$built" != "$LABEL" ]; then
    "$ROOT/scripts/busybox-image.sh" >/dev/null
    target="${CARGO_TARGET_DIR:-$ROOT/target}/zk-example"
    # Static: the image has no C library, and the binary runs on any Linux
    # (naming the target keeps RUSTFLAGS off the build scripts).
    host="$(rustc -vV | sed -n 's/^host: //p')"
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$target" \
        cargo build --quiet --release --locked --manifest-path "$EXAMPLE/Cargo.toml" --target "$host"
    context="$(mktemp -d)"
    trap 'rm -rf "$context"' EXIT
    cp "$target/$host/release/gpunet-zk" "$context/"
    printf '%s\n' 'FROM gpunet/busybox:latest' \
        'COPY gpunet-zk /bin/gpunet-zk' \
        "LABEL gpunet.script=$LABEL" \
        'CMD ["gpunet-zk", "--help"]' > "$context/Dockerfile"
    docker build --quiet --tag "$IMAGE" "$context" >/dev/null
fi
docker image inspect -f '{{.Id}}' "$IMAGE"
