#!/usr/bin/env bash
# Builds `gpunet/pytorch:latest` from Debian's packages (scripts/images/debian.sh):
# Python, PyTorch and scikit-learn, for the training and inference examples
# (examples/training, examples/inference). About 6 minutes and 2 GB on a
# 2-core machine, once; prints the image's id.
set -euo pipefail
exec "$(dirname "$0")/debian.sh" "${1:-gpunet/pytorch:latest}" python3-torch,python3-sklearn '["python3"]'
