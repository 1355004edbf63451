#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, as run on a lent GPU machine that has
# no Docker engine (BENCHMARKS.md records their results): the training
# example on CUDA through a devnet whose provider proves its GPU and runs the
# job as a process, against the same script run directly.
#
#   cargo build -p gpunet --features cuda
#   scripts/gpu-bench.sh target/debug/gpunet [EPOCHS] [ROUNDS] [BENCH OPTIONS]
#   CPU_EPOCHS=10 scripts/gpu-bench.sh target/debug/gpunet 3000 3 --env HIDDEN=4096 --env BATCH=500
#
# The same job then runs through gpunet on the CPU (CPU_EPOCHS, default a
# tenth of EPOCHS), for scale.
#
# Meant for a throwaway machine: the process executor starts jobs with the
# system's PATH (/usr/local/bin first), so when the python3 there lacks
# PyTorch, one that starts the python3 that has it is put there.
set -euo pipefail

bin=${1:?usage: scripts/gpu-bench.sh GPUNET_BINARY [EPOCHS] [ROUNDS] [BENCH OPTIONS]}
epochs=${2:-400}
rounds=${3:-3}
shift $(($# < 3 ? $# : 3))
cpu_epochs=${CPU_EPOCHS:-$((epochs / 10))}

nvidia-smi --query-gpu=name,uuid,driver_version,memory.total --format=csv
# The prover loads cuBLASLt and NVRTC by their plain names: where only
# versioned files are installed (e.g. PyTorch's wheels), link them.
links=$(mktemp -d)
for lib in libcublasLt libnvrtc; do
    if ! ldconfig -p | grep -q " $lib\.so "; then
        found=$(find /usr /opt -name "$lib.so.*" -not -name '*.alt.*' 2>/dev/null | sort | head -n 1)
        if [ -n "$found" ]; then
            ln -sf "$found" "$links/$lib.so"
            echo "using $found as $lib.so"
        fi
    fi
done
export LD_LIBRARY_PATH="$links${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if ! /usr/local/bin/python3 -c 'import torch, sklearn' 2>/dev/null; then
    for candidate in "$(command -v python3)" /opt/torch/.venv/bin/python3; do
        if [ "$candidate" != /usr/local/bin/python3 ] && "$candidate" -c 'import torch, sklearn'; then
            # A script, not a link: a virtual environment's python finds
            # its packages from the path it was started by.
            rm -f /usr/local/bin/python3
            printf '#!/bin/sh\nexec %s "$@"\n' "$candidate" > /usr/local/bin/python3
            chmod +x /usr/local/bin/python3
            break
        fi
    done
fi
/usr/local/bin/python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'

# The same job once on the GPU directly, short, so that a script that cannot
# run on CUDA fails here and not after the devnet has started.
check=$(mktemp -d)
EPOCHS=2 GPUNET_OUTPUT_DIR="$check" /usr/local/bin/python3 examples/training/train.py
grep -q '"device": "gpu"' "$check/metrics.json"

RUST_LOG=${RUST_LOG:-warn} "$bin" bench training --executor process --gpus 1 \
    --epochs "$epochs" --rounds "$rounds" "$@"
RUST_LOG=${RUST_LOG:-warn} "$bin" bench training --executor process \
    --epochs "$cpu_epochs" --rounds 1 "$@"
