#!/usr/bin/env bash
# Builds the local image `gpunet/pytorch:latest` (no registry): a Debian
# bookworm root filesystem with Python, PyTorch and scikit-learn from Debian's
# packages, made by mmdebstrap and loaded with `docker import`. The training
# and inference examples (examples/training, examples/inference) run in it.
#
# The image carries this script's hash as a label: it is rebuilt only when
# the script changes, so CI and tests build it once per machine (about 6
# minutes and 2 GB on a 2-core machine). Prints the image's id, which a job
# names to be deterministic (`image = "sha256:..."`, see examples/training).
set -euo pipefail
IMAGE="${1:-gpunet/pytorch:latest}"
SCRIPT_HASH="$(sha256sum "$0" | cut -c1-16)"
# Tests and CI may start it concurrently: one build at a time.
exec 9>"${TMPDIR:-/tmp}/gpunet-pytorch-image.lock"
flock 9
built="$(docker image inspect -f '{{index .Config.Labels "gpunet.script"}}' "$IMAGE" 2>/dev/null || true)"
if [ "$built" != "$SCRIPT_HASH" ]; then
    if ! command -v mmdebstrap >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends mmdebstrap >/dev/null 2>&1 ||
            { apt-get update >/dev/null && apt-get install -y -o DPkg::Lock::Timeout=600 --no-install-recommends mmdebstrap >/dev/null; }
    fi
    # The job's bound directories exist in the image, as in gpunet/busybox.
    mmdebstrap --quiet --variant=apt \
        --include=python3-torch,python3-sklearn \
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
            -c "LABEL gpunet.script=$SCRIPT_HASH" \
            -c 'CMD ["python3"]' - "$IMAGE" >/dev/null
fi
docker image inspect -f '{{.Id}}' "$IMAGE"
