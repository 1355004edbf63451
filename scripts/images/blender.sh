#!/usr/bin/env bash
# Builds `gpunet/blender:latest` from Debian's packages (scripts/images/debian.sh):
# Blender, for the render example (examples/render), once; prints the
# image's id.
set -euo pipefail
exec "$(dirname "$0")/debian.sh" "${1:-gpunet/blender:latest}" blender '["blender", "--version"]'
