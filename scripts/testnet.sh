#!/usr/bin/env bash
# A four-validator BFT testnet with two provider agents, in Docker containers
# built here (no registry). Usage:
#   scripts/testnet.sh up [DIR]    keys and genesis under DIR (default .gpunet/testnet), image, start
#   scripts/testnet.sh apply SERVICE [DIR]
#                                  recreate one service with the settings now in
#                                  the environment (CLOCK_OFFSET_n...), its volume kept
#   scripts/testnet.sh down [DIR]  stop and remove containers and volumes
# GPUNET_BIN picks the binary to package (default: a release build);
# GPUNET_PROJECT the compose project name (default gpunet-testnet).
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
CMD="${1:?usage: testnet.sh up|apply SERVICE|down [DIR]}"
if [ "$CMD" = apply ]; then
    SERVICE="${2:?usage: testnet.sh apply SERVICE [DIR]}"
    shift
fi
DIR="$(mkdir -p "${2:-.gpunet/testnet}" && cd "${2:-.gpunet/testnet}" && pwd)"
export TESTNET_DIR="$DIR"
export GPUNET_IMAGE="${GPUNET_IMAGE:-gpunet/node:latest}"
PROJECT="${GPUNET_PROJECT:-gpunet-testnet}"
COMPOSE=(docker compose)
docker compose version >/dev/null 2>&1 || COMPOSE=(docker-compose)
COMPOSE+=(-p "$PROJECT" -f "$HERE/testnet/docker-compose.yml")

# The keys the validators' API certificates carry, which clients pin.
export_api_keys() {
    for i in 1 2 3 4; do
        key="$(sed -n 's/.*"address": *"\([0-9a-f]*\)".*/\1/p' "$DIR/validator$i-api.key" 2>/dev/null || true)"
        [ -n "$key" ] || { echo "no API key in $DIR/validator$i-api.key (made by an older version? delete $DIR)" >&2; exit 1; }
        export "API_KEY_$i=$key"
    done
}

case "$CMD" in
apply)
    export_api_keys
    "${COMPOSE[@]}" up -d --no-deps "$SERVICE"
    ;;
up)
    if [ -z "${GPUNET_BIN:-}" ]; then
        (cd "$HERE" && cargo build --release --locked --bin gpunet)
        GPUNET_BIN="$HERE/target/release/gpunet"
    fi
    "$HERE/scripts/node-image.sh" "$GPUNET_BIN" "$GPUNET_IMAGE"
    if [ ! -f "$DIR/genesis.json" ]; then
        args=()
        for name in validator1-api validator2-api validator3-api validator4-api \
            validator1 validator2 validator3 validator4 provider1 provider2 client; do
            addr="$("$GPUNET_BIN" --keystore "$DIR/$name.key" --output json wallet new --plaintext | sed -n 's/.*"address": *"\([0-9a-f]*\)".*/\1/p')"
            case "$name" in
            *-api) ;;
            validator*) args+=(--validator "$addr" --fund "$addr=1000") ;;
            *) args+=(--fund "$addr=100000") ;;
            esac
        done
        # Short proofs of compute, as on the devnet: four validators and two
        # providers share this one machine.
        "$GPUNET_BIN" genesis --chain-id gpunet-testnet "${args[@]}" \
            --challenge-work-ms 2000 --out "$DIR/genesis.json"
    fi
    export_api_keys
    "${COMPOSE[@]}" up -d
    echo "testnet up; keys in $DIR; the validators' APIs (for gpunet --node):"
    for i in 1 2 3 4; do
        port="API_PORT_$i" key="API_KEY_$i"
        echo "  validator$i https://127.0.0.1:${!port:-1864$i}#${!key}"
    done
    ;;
down)
    "${COMPOSE[@]}" down -v --remove-orphans
    ;;
*)
    echo "usage: testnet.sh up|apply SERVICE|down [DIR]" >&2
    exit 2
    ;;
esac
