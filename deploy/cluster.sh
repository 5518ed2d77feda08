#!/usr/bin/env bash
# A local imgarc cluster on 127.0.0.1, for trying things out and for development.
#
#   deploy/cluster.sh start N [BASEDIR]   start N nodes (1-9); BASEDIR defaults to ./imgarc-cluster
#   deploy/cluster.sh stop [BASEDIR]      stop every node started there (SIGTERM, then SIGKILL)
#   deploy/cluster.sh status [BASEDIR]    which nodes run, and the cluster as node 1 sees it
#
# start writes, under BASEDIR:
#   secret                 the cluster secret (64 random hex digits, mode 600)
#   token                  the operator token every node accepts
#   nodeK/imgarcd.conf     node K's configuration (HTTP port BASE_HTTP+K, raft BASE_RAFT+K)
#   nodeK/data/            its data dir
#   nodeK/imgarcd.log      its log
#   nodeK/imgarcd.pid      its pid (stop kills by these pids only)
# Node 1 starts the cluster; the others start with --join (in the file) and ask node 1
# to add them. Voters: 1 for one or two nodes, 3 for three or four, 5 from five on; the
# other nodes are standbys. Zones alternate zone-a, zone-b, zone-c. Running start again
# on the same BASEDIR restarts the stopped nodes with their data (and adds nodes up to N).
#
# Environment: IMGARCD (the daemon; default build/imgarcd of this checkout, else imgarcd
# on PATH), IMGARC_BASE_HTTP (default 8180), IMGARC_BASE_RAFT (default 9180), and
# IMGARC_NODE_ARGS (extra flags for every node, e.g. "--log-level debug").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cmd=${1:-}
base_http=${IMGARC_BASE_HTTP:-8180}
base_raft=${IMGARC_BASE_RAFT:-9180}
ready_timeout=${IMGARC_READY_TIMEOUT:-60}

usage() {
    sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

daemon() {
    if [ -n "${IMGARCD:-}" ]; then
        echo "$IMGARCD"
    elif [ -x "$here/../build/imgarcd" ]; then
        echo "$here/../build/imgarcd"
    elif command -v imgarcd >/dev/null 2>&1; then
        command -v imgarcd
    else
        echo "cluster.sh: no imgarcd: build it (scripts/build.sh) or set IMGARCD" >&2
        exit 1
    fi
}

random_hex() {
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

alive() {
    local pidfile=$1
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# Waits for GET /readyz 200 on @port; fails with the log's tail.
wait_ready() {
    local k=$1 dir=$2 port=$3 deadline=$((SECONDS + ready_timeout))
    while [ $SECONDS -lt $deadline ]; do
        if ! alive "$dir/imgarcd.pid"; then
            echo "cluster.sh: node $k exited; its log ($dir/imgarcd.log) ends with:" >&2
            tail -n 20 "$dir/imgarcd.log" >&2
            return 1
        fi
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "cluster.sh: node $k not ready after ${ready_timeout}s; see $dir/imgarcd.log" >&2
    return 1
}

write_config() {
    local k=$1 n=$2 basedir=$3 dir=$4 voters=1 zones=(zone-a zone-b zone-c)
    [ "$n" -ge 3 ] && voters=3
    [ "$n" -ge 5 ] && voters=5
    {
        echo "# Node $k of a local $n-node cluster (deploy/cluster.sh)."
        echo "listen = 127.0.0.1:$((base_http + k))"
        echo "raft-listen = 127.0.0.1:$((base_raft + k))"
        echo "data = $dir/data"
        echo "zone = ${zones[$(((k - 1) % 3))]}"
        echo "bootstrap-token = $(cat "$basedir/token")"
        echo "cluster-secret-file = $basedir/secret"
        echo "voters = $voters"
        if [ "$k" -gt 1 ]; then
            echo "# Asks node 1 to be added on its first start (ignored once a member)."
            echo "join = 127.0.0.1:$((base_http + 1))"
        fi
    } >"$dir/imgarcd.conf"
}

start_node() {
    local k=$1 dir=$2 bin=$3
    # shellcheck disable=SC2086 # IMGARC_NODE_ARGS is a list of flags
    "$bin" --config "$dir/imgarcd.conf" ${IMGARC_NODE_ARGS:-} >>"$dir/imgarcd.log" 2>&1 \
        </dev/null &
    echo $! >"$dir/imgarcd.pid"
    echo "node $k: pid $!, http://127.0.0.1:$((base_http + k))"
}

start() {
    local n=${1:-} basedir=${2:-$PWD/imgarc-cluster} bin
    [[ "$n" =~ ^[1-9]$ ]] || usage
    command -v curl >/dev/null || { echo "cluster.sh: curl is needed" >&2; exit 1; }
    bin=$(daemon)
    mkdir -p "$basedir"
    basedir=$(cd "$basedir" && pwd)
    umask 077
    [ -s "$basedir/secret" ] || random_hex >"$basedir/secret"
    [ -s "$basedir/token" ] || random_hex >"$basedir/token"
    chmod 600 "$basedir/secret" "$basedir/token"
    for k in $(seq 1 "$n"); do
        local dir="$basedir/node$k"
        mkdir -p "$dir"
        [ -f "$dir/imgarcd.conf" ] || write_config "$k" "$n" "$basedir" "$dir"
        if alive "$dir/imgarcd.pid"; then
            echo "node $k: already running (pid $(cat "$dir/imgarcd.pid"))"
            continue
        fi
        local fresh=1
        [ -d "$dir/data/raft" ] && fresh=0
        start_node "$k" "$dir" "$bin"
        # A new node 1 must lead before the others ask it to add them. A restarted one
        # cannot lead alone (it needs a quorum of the others): they start first.
        if [ "$k" -eq 1 ] && [ $fresh -eq 1 ]; then
            wait_ready 1 "$dir" $((base_http + 1))
        fi
    done
    for k in $(seq 1 "$n"); do
        wait_ready "$k" "$basedir/node$k" $((base_http + k))
    done
    echo
    echo "The cluster is up. Try:"
    echo "  export IMGARC_SERVER=http://127.0.0.1:$((base_http + 1)) IMGARC_TOKEN=\$(cat $basedir/token)"
    echo "  imgarc cluster"
    echo "Stop it with: $0 stop $basedir"
}

stop() {
    local basedir=${1:-$PWD/imgarc-cluster} pids=() dirs=()
    [ -d "$basedir" ] || { echo "cluster.sh: no $basedir" >&2; exit 1; }
    for pidfile in "$basedir"/node*/imgarcd.pid; do
        [ -f "$pidfile" ] || continue
        if alive "$pidfile"; then
            pids+=("$(cat "$pidfile")")
            dirs+=("$(dirname "$pidfile")")
            kill -TERM "$(cat "$pidfile")"
        else
            rm -f "$pidfile"
        fi
    done
    for i in "${!pids[@]}"; do
        local deadline=$((SECONDS + 30))
        while kill -0 "${pids[$i]}" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
            sleep 0.1
        done
        if kill -0 "${pids[$i]}" 2>/dev/null; then
            echo "${dirs[$i]}: pid ${pids[$i]} did not stop in 30 s: SIGKILL" >&2
            kill -KILL "${pids[$i]}" 2>/dev/null || true
        fi
        rm -f "${dirs[$i]}/imgarcd.pid"
        echo "stopped $(basename "${dirs[$i]}") (pid ${pids[$i]})"
    done
    [ ${#pids[@]} -gt 0 ] || echo "no node of $basedir was running"
}

status() {
    local basedir=${1:-$PWD/imgarc-cluster}
    for dir in "$basedir"/node*; do
        [ -d "$dir" ] || continue
        if alive "$dir/imgarcd.pid"; then
            echo "$(basename "$dir"): running (pid $(cat "$dir/imgarcd.pid"))"
        else
            echo "$(basename "$dir"): stopped"
        fi
    done
    if [ -s "$basedir/token" ]; then
        curl -sS -H "Authorization: Bearer $(cat "$basedir/token")" \
            "http://127.0.0.1:$((base_http + 1))/api/v1/cluster" && echo || true
    fi
}

case "$cmd" in
start) shift; start "$@" ;;
stop) shift; stop "$@" ;;
status) shift; status "$@" ;;
*) usage ;;
esac
