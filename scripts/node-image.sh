#!/usr/bin/env bash
# Builds the local image `gpunet/node` (no registry): a root filesystem holding
# the given gpunet binary, the shared libraries it links and Debian's
# busybox-static (a shell for jobs of the process executor), loaded with
# `docker import`. Usage: node-image.sh BINARY [IMAGE]
set -euo pipefail
BIN="$1"
IMAGE="${2:-gpunet/node:latest}"
HERE="$(cd "$(dirname "$0")" && pwd)"
# The busybox image's root filesystem is the base.
"$HERE/busybox-image.sh" >/dev/null
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
CID="$(docker create gpunet/busybox:latest)"
docker export "$CID" | tar -C "$ROOT" -x
docker rm "$CID" >/dev/null
cp "$BIN" "$ROOT/bin/gpunet"
# The dynamic loader and every library the binary needs, at their own paths.
for lib in $(ldd "$BIN" | grep -o '/[^ ]*'); do
    mkdir -p "$ROOT$(dirname "$lib")"
    cp -L "$lib" "$ROOT$lib"
done
mkdir -p "$ROOT/data"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'WORKDIR /data' -c 'ENTRYPOINT ["/bin/gpunet"]' - "$IMAGE" >/dev/null
echo "built $IMAGE from $BIN"
