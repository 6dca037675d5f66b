#!/usr/bin/env bash
# Run every harness built by fuzz/build.sh: first replay its seeds and regression inputs (each
# once; any failure stops here), then fuzz it for SECONDS. New corpus entries go to
# $OUT/corpus/<harness> (never into tests/), crashes to $OUT/crashes/. Exits non-zero on the
# first crash, naming the input; keep that input in tests/corpus/fuzz/<harness>/regressions/.
#
# Usage: fuzz/run.sh SECONDS [HARNESS...]   (OUT defaults to build/fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:?usage: fuzz/run.sh SECONDS [HARNESS...]}
shift
OUT=${OUT:-build/fuzz}
HARNESSES=("$@")
[ ${#HARNESSES[@]} -gt 0 ] || HARNESSES=(helpers ws request_parser response_writer frame_parser)

for h in "${HARNESSES[@]}"; do
    bin="$OUT/fuzz_$h"
    seeds="tests/corpus/fuzz/$h"
    [ -x "$bin" ] || { echo "fuzz/run.sh: $bin is missing: run fuzz/build.sh"; exit 2; }
    # Options shared with OSS-Fuzz: fuzz/fuzz_<h>.options ([libfuzzer] key = value lines).
    opts=()
    if [ -f "fuzz/fuzz_$h.options" ]; then
        while IFS=' =' read -r key value; do
            [[ -n $key && $key != \[* && $key != \#* ]] && opts+=("-$key=$value")
        done < "fuzz/fuzz_$h.options"
    fi
    [ -f "fuzz/fuzz_$h.dict" ] && opts+=("-dict=fuzz/fuzz_$h.dict")
    mkdir -p "$OUT/corpus/$h" "$OUT/crashes"
    mapfile -t inputs < <(find "$seeds" -type f | sort)
    echo "== $h: replaying ${#inputs[@]} seeds and regressions"
    "$bin" "${opts[@]}" "${inputs[@]}" > "$OUT/crashes/$h-replay.log" 2>&1 || {
        tail -n 30 "$OUT/crashes/$h-replay.log"
        echo "fuzz/run.sh: $h failed on a seed or regression input (log: $OUT/crashes/$h-replay.log)"
        exit 1
    }
    # FUZZ_RUNS and FUZZ_SEED (the CI pass sets both) make a run repeat itself exactly.
    [ -n "${FUZZ_RUNS:-}" ] && opts+=("-runs=$FUZZ_RUNS")
    [ -n "${FUZZ_SEED:-}" ] && opts+=("-seed=$FUZZ_SEED")
    echo "== $h: fuzzing for ${SECONDS_EACH}s${FUZZ_RUNS:+ or $FUZZ_RUNS runs}"
    "$bin" "${opts[@]}" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
        -artifact_prefix="$OUT/crashes/$h-" "$OUT/corpus/$h" "$seeds" > "$OUT/crashes/$h.log" 2>&1 || {
        tail -n 40 "$OUT/crashes/$h.log"
        echo "fuzz/run.sh: $h crashed; the input is in $OUT/crashes/ (log: $OUT/crashes/$h.log)"
        exit 1
    }
    grep -E '^#[0-9]+[[:space:]]+DONE|stat::(number_of_executed_units|average_exec_per_sec)' "$OUT/crashes/$h.log" \
        | sed "s/^/   /"
done
echo "fuzz/run.sh: ${HARNESSES[*]}: no crash"
