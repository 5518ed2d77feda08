#!/usr/bin/env bash
# The cost of the sealed raft transport: metadata commits (pool pushes, one raft entry
# each) and captures on a local three-node cluster, run with two imgarcd builds side by
# side: BASELINE (a build of a commit before the transport, libraft's raft_uv_tcp) and
# this checkout's build/imgarcd (handshake + XChaCha20-Poly1305 frames). Rounds
# interleave the two; the same build/imgarc-bench drives both.
#
#   bench/raft_transport_bench.sh BASELINE_IMGARCD [ROUNDS] [SECONDS]
#
# e.g. git worktree add /tmp/base 8620938 && cmake -S /tmp/base -B /tmp/base/build &&
#      cmake --build /tmp/base/build --target imgarcd -j2
#      bench/raft_transport_bench.sh /tmp/base/build/imgarcd 3 15
# Prints one line per run and the medians with their ratio (sealed / baseline).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
baseline=${1:?usage: $0 BASELINE_IMGARCD [ROUNDS] [SECONDS]}
rounds=${2:-3}
secs=${3:-15}
sealed=$here/build/imgarcd
bench=$here/build/imgarc-bench
dir=$(mktemp -d "${TMPDIR:-/tmp}/raftbench.XXXXXX")
export IMGARC_BASE_HTTP=${IMGARC_BASE_HTTP:-8680} IMGARC_BASE_RAFT=${IMGARC_BASE_RAFT:-9680}
trap 'IMGARCD=$sealed "$here/deploy/cluster.sh" stop "$dir/c" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT

run() { # $1 label, $2 imgarcd, $3 phase, $4 clients -> ops/s
    local out
    rm -rf "$dir/c"
    IMGARCD=$2 "$here/deploy/cluster.sh" start 3 "$dir/c" >/dev/null
    sleep 2
    export IMGARC_TOKEN
    IMGARC_TOKEN=$(cat "$dir/c/token")
    out=$("$bench" --server "http://127.0.0.1:$((IMGARC_BASE_HTTP + 1))" \
          --pid "$(cat "$dir/c/node1/imgarcd.pid")" --phases "$3" --clients "$4" \
          --duration "$secs" --size 200K --json 2>&1 | grep '^{' | tail -1)
    IMGARCD=$2 "$here/deploy/cluster.sh" stop "$dir/c" >/dev/null
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f" % d["ops_per_s"])' "$out"
}

declare -A results
for r in $(seq 1 "$rounds"); do
    for which in baseline sealed; do
        bin=$baseline
        [ "$which" = sealed ] && bin=$sealed
        p=$(run "$which" "$bin" push 16)
        u=$(run "$which" "$bin" upload 16)
        echo "round $r $which: pushes/s $p, captures/s $u"
        results[$which-push]+="$p "
        results[$which-upload]+="$u "
    done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for phase in push upload; do
    b=$(echo "${results[baseline-$phase]}" | median)
    s=$(echo "${results[sealed-$phase]}" | median)
    echo "$phase: baseline median $b/s, sealed median $s/s, ratio $(python3 -c "print('%.2f' % ($s / $b))")"
done
