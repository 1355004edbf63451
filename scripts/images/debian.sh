#!/usr/bin/env bash
# Builds a local image (no registry can be reached): a Debian bookworm root
# filesystem holding PACKAGES (comma-separated, from Debian's archive), made
# by mmdebstrap and loaded with `docker import`, with the directories the
# executors bind (/gpunet/inputs, outputs, work) and HOME=/tmp (a job's root
# filesystem is read-only; /tmp is its tmpfs).
#
# The image carries a hash of this script and its arguments as a label: it
# is rebuilt only when they change, so CI and tests build it once per
# machine. Prints the image's id, which a job names to be deterministic.
#
# Usage: debian.sh IMAGE PACKAGES [CMD as JSON]
set -euo pipefail
IMAGE="$1"
PACKAGES="$2"
CMD="${3:-[\"bash\"]}"
LABEL="$( (cat "$0"; echo "$PACKAGES $CMD") | sha256sum | cut -c1-16)"
# Tests and CI may start the same build concurrently: one at a time.
exec 9>"${TMPDIR:-/tmp}/gpunet-image-${IMAGE//[^a-z0-9]/-}.lock"
flock 9
built="$(docker image inspect -f '{{index .Config.Labels "gpunet.script"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$built" != "$LABEL" ]; then
    if ! command -v mmdebstrap >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends mmdebstrap >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends mmdebstrap >/dev/null; }
    fi
    mmdebstrap --quiet --variant=apt \
        --include="$PACKAGES" \
        --aptopt='APT::Install-Recommends "false"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='mkdir -p "$1/gpunet/inputs" "$1/gpunet/outputs" "$1/gpunet/work"' \
        --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"' \
        bookworm - http://deb.debian.org/debian |
        docker import \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            -c 'ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1' \
            -c "LABEL gpunet.script=$LABEL" \
            -c "CMD $CMD" - "$IMAGE" >/dev/null
fi
docker image inspect -f '{{.Id}}' "$IMAGE"
