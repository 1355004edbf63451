#!/usr/bin/env bash
# Runs every fuzz target (crates/fuzz) under AFL++ for SECONDS each (default
# 60), or only the TARGETs named. Fails if any target crashed; each crash is
# copied to crates/fuzz/regressions/<target>/, where `cargo test -p
# gpunet-fuzz` replays it from then on, and printed as hex. Prints, per
# target, executions, their rate and the coverage reached.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#   scripts/fuzz.sh --build-only    installs cargo-afl and builds, runs nothing
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

if ! cargo afl --version >/dev/null 2>&1; then
    echo "== installing cargo-afl (it builds AFL++ too)"
    cargo install cargo-afl --locked --version 0.18.2
fi

# Instrumented builds get their own target directory: their RUSTFLAGS differ
# from the plain build's, which would otherwise be rebuilt after them.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-target-fuzz}"
echo "== cargo afl build (gpunet-fuzz)"
cargo afl build --locked --profile fuzz -p gpunet-fuzz --features afl --bin gpunet-fuzz
binary="$CARGO_TARGET_DIR/fuzz/gpunet-fuzz"
[ "$seconds" != --build-only ] || exit 0

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(ls crates/fuzz/corpus)
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
    AFL_NO_AFFINITY=1 AFL_QUIET=1
crashed=0
printf '%-16s %12s %10s %10s %8s %8s\n' target executions "per sec" coverage paths crashes
for target in "${targets[@]}"; do
    cargo afl fuzz -V "$seconds" -t 5000 -i "crates/fuzz/corpus/$target" -o "$out/$target" \
        -- "$binary" "$target" >"$out/$target.log" 2>&1 || {
        echo "AFL++ could not run $target:"
        tail -n 30 "$out/$target.log"
        exit 1
    }
    stats="$out/$target/default/fuzzer_stats"
    stat() { awk -F' *: *' -v k="$1" '$1 == k { print $2 }' "$stats"; }
    printf '%-16s %12s %10s %10s %8s %8s\n' "$target" "$(stat execs_done)" \
        "$(stat execs_per_sec)" "$(stat bitmap_cvg)" "$(stat corpus_count)" "$(stat saved_crashes)"
    for crash in "$out/$target"/default/crashes/id:*; do
        [ -e "$crash" ] || continue
        crashed=1
        name="crash-$(sha256sum "$crash" | cut -c1-16)"
        mkdir -p "crates/fuzz/regressions/$target"
        cp "$crash" "crates/fuzz/regressions/$target/$name"
        echo "-- $target crashed on crates/fuzz/regressions/$target/$name:"
        od -An -tx1 -v "$crash" | head -n 40
        "$binary" "$target" "$crash" 2>&1 | tail -n 15 || true
    done
done
if [ "$crashed" -ne 0 ]; then
    echo "fuzzing found crashes: each is now under crates/fuzz/regressions/"
    exit 1
fi
