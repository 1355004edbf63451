#!/usr/bin/env bash
# Builds the local image `gpunet/busybox:latest` from Debian's busybox-static,
# without a registry: a root filesystem made here, loaded with `docker import`.
# Tests and the devnet's Docker executor use it. Idempotent.
set -euo pipefail
IMAGE="${1:-gpunet/busybox:latest}"
# Tests build it concurrently on a fresh machine; apt and the import run once.
exec 9>"${TMPDIR:-/tmp}/gpunet-busybox-image.lock"
flock 9
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    exit 0
fi
BUSYBOX="$(command -v busybox || true)"
if [ -z "$BUSYBOX" ] || ldd "$BUSYBOX" >/dev/null 2>&1; then
    # Not installed, or dynamically linked: use the static package's binary.
    if [ ! -x /bin/busybox ] || ldd /bin/busybox >/dev/null 2>&1; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y busybox-static >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y busybox-static >/dev/null; }
    fi
    BUSYBOX=/bin/busybox
fi
ROOT="$(mktemp -d)"
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,tmp,etc,dev,proc,sys,gpunet/inputs,gpunet/outputs,gpunet/work}
cp "$BUSYBOX" "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$ROOT/bin/$applet"
done
chmod 1777 "$ROOT/tmp"
echo 'root:x:0:0:root:/root:/bin/sh' > "$ROOT/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >> "$ROOT/etc/passwd"
tar -C "$ROOT" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - "$IMAGE" >/dev/null
echo "built $IMAGE from $BUSYBOX"
