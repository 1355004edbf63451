#!/usr/bin/env bash
# Builds `gpunet/jupyter:latest` from Debian's packages (scripts/images/debian.sh):
# the Jupyter notebook server with NumPy and Matplotlib, for
# examples/rentals/jupyter.toml (`gpunet rent start --template jupyter`).
# About two minutes on a 2-core machine, once; prints the image's id.
set -euo pipefail
exec "$(dirname "$0")/debian.sh" "${1:-gpunet/jupyter:latest}" jupyter-notebook,python3-ipykernel,python3-numpy,python3-matplotlib '["jupyter", "notebook", "--ip=127.0.0.1", "--no-browser", "--allow-root"]'
