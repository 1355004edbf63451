#!/usr/bin/env bash
# Builds `gpunet/ssh:latest` from Debian's packages (scripts/images/debian.sh):
# OpenSSH's server, bash, rsync and Python, for rentals people reach with ssh,
# scp, rsync and VS Code's Remote-SSH through `gpunet rent ssh-proxy`
# (examples/rentals/shell.toml starts its sshd with the renter's keys). About a
# minute on a 2-core machine, once; prints the image's id.
set -euo pipefail
exec "$(dirname "$0")/debian.sh" "${1:-gpunet/ssh:latest}" openssh-server,bash,rsync,python3,procps,less
