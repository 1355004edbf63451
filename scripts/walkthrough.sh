#!/usr/bin/env bash
# A new user's first session with gpunet, command by command, each checked
# against what it must print: install, devnet, a wallet, init, fund, run,
# logs, get, stop, rent, end. It runs in a fresh home directory (no profile,
# no wallet) and from a directory other than the repository, so that nothing
# works by accident of where it runs. `.ci/run` runs it; so can you.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
devnet_pid=
cleanup() {
    if [ -n "$devnet_pid" ]; then
        kill "$devnet_pid" 2>/dev/null || true
        wait "$devnet_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# The toolchain stays where it is; everything gpunet keeps moves to the new home.
export RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export HOME="$work/home"
mkdir -p "$HOME" "$work/elsewhere"
unset GPUNET_NODE GPUNET_KEYSTORE GPUNET_PROFILE GPUNET_CONFIG
export GPUNET_PASSPHRASE="walkthrough passphrase, not a secret"

# Runs a command as the user types it, showing it and its output; the output
# is kept in $out for `expect`.
run() {
    printf '\n$ %s\n' "$*"
    out="$("$@" 2>&1)" || { echo "$out"; echo "FAILED: $*"; exit 1; }
    echo "$out"
    if grep -q "GPN GPN" <<<"$out"; then echo "FAILED: a unit said twice"; exit 1; fi
}
expect() {
    grep -qF -- "$1" <<<"$out" || { echo "FAILED: expected \"$1\" in the output above"; exit 1; }
}

echo "== install (README: cargo install --path crates/cli --locked)"
# WALKTHROUGH_INSTALL_PROFILE=dev installs from the dev build a test run
# left in the target directory (`.ci/run`) rather than build it for release.
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}" \
    cargo install --path "$repo/crates/cli" --locked --root "$work/cargo" --quiet \
    ${WALKTHROUGH_INSTALL_PROFILE:+--profile "$WALKTHROUGH_INSTALL_PROFILE"}
export PATH="$work/cargo/bin:$PATH"
run gpunet --version
expect "gpunet "

echo "== a local network"
cd "$work/elsewhere"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
gpunet devnet --listen "127.0.0.1:$port" --providers 1 >"$work/devnet.log" 2>&1 &
devnet_pid=$!
for _ in $(seq 240); do
    grep -q "^profile devnet" "$work/devnet.log" && break
    kill -0 "$devnet_pid" 2>/dev/null || { cat "$work/devnet.log"; exit 1; }
    sleep 0.5
done
cat "$work/devnet.log"
out="$(cat "$work/devnet.log")"
expect "the default, so commands from any directory use it"
node="$(sed -n 's/^gpunet devnet serving //p' "$work/devnet.log")"
run gpunet profiles
expect "devnet *"

echo "== a wallet of one's own, and a profile for it"
run gpunet wallet new --keystore "$HOME/me.json"
expect "sealed with your passphrase"
run gpunet init --profile me --node "$node" --keystore "$HOME/me.json" --default
expect "profile me written to $HOME/.config/gpunet/config.toml (the default"
expect "existing key"
expect "chain     gpunet-devnet"
run gpunet wallet show
me="$out"
run gpunet --profile devnet devnet fund "$me" 100
expect "sent 100.000000 GPN from the devnet faucet to $me"
run gpunet wallet balance
expect "balance   100.000000 GPN"

echo "== a job: run, logs, get"
cd "$repo"
run gpunet job run examples/hello.toml --wait
expect "words: 34, sum: 500000500000"
job="$(sed -n 's/^order  *\([0-9][0-9]*\)$/\1/p' <<<"$out" | head -1)"
cd "$work/elsewhere"
run gpunet job logs "$job"
expect "sum: 500000500000"
run gpunet job get "$job" --out results
expect "results"
[ "$(cat results/outputs/sum.txt)" = 500000500000 ] || { echo "FAILED: results/outputs/sum.txt"; exit 1; }

echo "== a job stopped while it runs"
run gpunet -o json job run --image gpunet/busybox --max-price 50 --timeout 10m -- sleep 600
long="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["order"])' "$out")"
for _ in $(seq 120); do
    gpunet -o json job describe "$long" | grep -q '"status": "running"' && break
    sleep 0.5
done
run gpunet job stop "$long"
expect "stopped order $long:"
expect "GPN refunded"
run gpunet job describe "$long"
expect "status    stopped"

echo "== a rental, ended early"
cd "$repo"
run gpunet -o json rent start examples/rental.toml --duration 30m
rental="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["order"])' "$out")"
run gpunet rent end "$rental"
run gpunet job describe "$rental"
expect "status    settled"
expect "refunded"

echo
echo "walkthrough: every step printed what it should"
