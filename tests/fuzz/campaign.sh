#!/usr/bin/env bash
# The long fuzzing campaign (docs/fuzzing.md): runs each fuzz target for SECONDS with
# JOBS processes, growing its corpus in build-fuzz/fuzz-corpus/<target> (the repo's
# seeds are read, never written), and prints one line of figures per target.
#   tests/fuzz/campaign.sh SECONDS [JOBS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/../.."
secs=${1:?usage: campaign.sh SECONDS [JOBS] [TARGET...]}
jobs=${2:-1}
shift 2 2>/dev/null || shift $#
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(entry_framing peer_headers license snapshot http_request
                                    json_bodies command_apply)
build=${IMGARC_FUZZ_BUILD:-build-fuzz}
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"
for t in "${targets[@]}"; do
    bin=$build/tests/fuzz/fuzz_$t
    corpus=$build/fuzz-corpus/$t
    logs=$build/fuzz-logs/$t
    mkdir -p "$corpus" "$logs"
    args=(-max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$build/fuzz-artifacts/$t-")
    [ -f "tests/fuzz/dict/$t.dict" ] && args+=(-dict="tests/fuzz/dict/$t.dict")
    case $t in command_apply|json_bodies) args+=(-len_control=0 -max_len=2048) ;; esac
    if [ "$jobs" -gt 1 ]; then
        (cd "$logs" && ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=5} \
             "$OLDPWD/$bin" "${args[@]}" -jobs="$jobs" -workers="$jobs" \
             "$OLDPWD/$corpus" "$OLDPWD/tests/fuzz/corpus/$t" >/dev/null 2>&1)
        cat "$logs"/fuzz-*.log > "$logs/run.log"
    else
        ASAN_OPTIONS=${ASAN_OPTIONS:-malloc_context_size=5} \
            "$bin" "${args[@]}" "$corpus" "tests/fuzz/corpus/$t" > "$logs/run.log" 2>&1
    fi
    execs=$(grep -h "stat::number_of_executed_units" "$logs/run.log" | awk '{s+=$2} END {print s+0}')
    rate=$(grep -h "stat::average_exec_per_sec" "$logs/run.log" | awk '{s+=$2} END {print s+0}')
    cov=$(grep -ho "cov: [0-9]*" "$logs/run.log" | awk '{if ($2>m) m=$2} END {print m+0}')
    crashes=$(ls "$build/fuzz-artifacts" | grep -c "^$t-" || true)
    echo "$t: executions=$execs exec/s=$rate cov=$cov corpus=$(ls "$corpus" | wc -l) artifacts=$crashes"
done
