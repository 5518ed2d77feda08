#!/usr/bin/env bash
# Where one node's CPU goes during one imgarc-bench phase: starts a one-node cluster
# (deploy/cluster.sh start 1) from BUILD, runs the phase with 16 clients of 200 KB
# bodies, records `perf record -g` of imgarcd for the middle of it, and prints the
# phase's figures, the shares by library and the top symbols. Needs perf (Debian's
# linux-perf) and kernel.perf_event_paranoid <= 2 for a process of your own.
#
#   bash bench/profile_node.sh [--build DIR] [--phase upload|read|status] [--seconds N]
#                              [--keep]
#
# The phase runs N seconds (default 15); perf records N-4 of them, from the 2nd.
# docs/performance.md ("Capture: where the CPU goes") has its figures.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build phase=upload secs=15 keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --build) build=$(cd "$2" && pwd); shift 2 ;;
        --phase) phase=$2; shift 2 ;;
        --seconds) secs=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "profile_node.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $phase in upload|read|status) ;; *) echo "profile_node.sh: --phase upload, read or status" >&2; exit 2 ;; esac
if [ "$secs" -lt 6 ] 2>/dev/null; then echo "profile_node.sh: --seconds 6 at least" >&2; exit 2; fi
command -v perf >/dev/null || { echo "profile_node.sh: perf is missing (apt-get install linux-perf)" >&2; exit 1; }
for f in imgarcd imgarc-bench; do
    [ -x "$build/$f" ] || { echo "profile_node.sh: $build/$f is missing (bash scripts/build.sh)" >&2; exit 1; }
done
tmp=$(mktemp -d -t imgarc-profile.XXXXXX) # $TMPDIR, else /tmp
cleanup() {
    bash "$root/deploy/cluster.sh" stop "$tmp/c" >/dev/null 2>&1 || true
    if [ $keep = 0 ]; then rm -rf "$tmp"; else echo "kept $tmp (perf.data, the node's log)"; fi
}
trap cleanup EXIT
export IMGARCD=$build/imgarcd IMGARC_BASE_HTTP=${IMGARC_BASE_HTTP:-19300}
export IMGARC_BASE_RAFT=${IMGARC_BASE_RAFT:-19400}
bash "$root/deploy/cluster.sh" start 1 "$tmp/c" >"$tmp/start.log" 2>&1 ||
    { cat "$tmp/start.log" >&2; exit 1; }
pid=$(cat "$tmp/c/node1/imgarcd.pid")
bench=("$build/imgarc-bench" --json --server "http://127.0.0.1:$((IMGARC_BASE_HTTP + 1))"
       --token "$(cat "$tmp/c/token")" --pid "$pid" --size 200K --clients 16)
if [ "$phase" != upload ]; then
    "${bench[@]}" --phases upload --duration 3 >/dev/null 2>&1
fi
( sleep 2; perf record -F 999 -g -p "$pid" -o "$tmp/perf.data" -- sleep $((secs - 4)) \
      >/dev/null 2>&1 ) &
"${bench[@]}" --phases "$phase" --duration "$secs" 2>/dev/null | grep "\"phase\":\"$phase\"" |
    python3 -c 'import sys, json
d = json.loads(sys.stdin.read())
print("%s: %.0f/s, %d ok, %d errors, node CPU %.3f ms per operation" % (d["phase"],
      d["ops_per_s"], d["ok"], d["errors"], 1000 * d["node_cpu_s"] / max(d["ok"], 1)))'
wait
echo "--- shares by library"
perf report -i "$tmp/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
    grep '%' | head -12
echo "--- top symbols (self)"
perf report -i "$tmp/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null |
    grep '%' | head -25
