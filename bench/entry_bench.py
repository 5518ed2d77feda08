#!/usr/bin/env python3
"""entry_bench.py: metadata commits with shared raft entries against one command per
entry, on the same cluster size, in the same run.

What it does
  For each round (--rounds, default 3) and each setting, in alternating order
  (round 1: shared then single, round 2: single then shared, ...):
    1. Starts --nodes imgarcd nodes (tests/cluster/imgarc_cluster.py; fast raft
       timings) with --entry-commands 64 ("shared", the default) or 1 ("single": one
       command per raft entry, as before shared entries).
    2. Runs build/imgarc-bench --phases push (one POST /api/v1/pool of a new bill per
       operation: a replicated command with no content) with --clients keep-alive
       connections to the leader for --duration seconds.
    3. Reads the leader's /metrics before and after: proposals per raft entry.
    4. Stops every node by pid.
  Prints, per setting, the median ops/s and latency percentiles over the rounds, the
  commands per entry, and the ratio shared / single.

Run (from the repository root; binaries in build/):
    python3 bench/entry_bench.py                   # 3 nodes, 64 clients, 10 s, 3 rounds
    python3 bench/entry_bench.py --nodes 1 --duration 5 --rounds 1
The imgarc-bench client and every node share the machine; compare the ratio, not the
absolute figures, on a machine that also runs other work.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

SETTINGS = (("shared", "64"), ("single", "1"))


def leader(nodes):
    for n in nodes:
        if benchlib.metrics(n).get("imgarc_raft_is_leader") == 1:
            return n
    raise SystemExit("no leader")


def one_run(args, cluster_mod, node_mod, name, entry_commands):
    c = cluster_mod.Cluster("entry-bench-%s" % name,
                            extra_args=["--entry-commands", entry_commands] + args.node_arg)
    try:
        c.start(args.nodes)
        lead = leader(c.nodes)
        m0 = benchlib.metrics(lead)
        cmd = [os.path.join(args.build, "imgarc-bench"), "--server", lead.url,
               "--token", node_mod.TOKEN, "--clients", str(args.clients), "--phases", "push",
               "--duration", str(args.duration), "--pid", str(lead.pid), "--json"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 120)
        lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
        if out.returncode != 0 or not lines:
            raise SystemExit("imgarc-bench failed (%d):\n%s%s" % (out.returncode, out.stdout,
                                                                  out.stderr))
        j = json.loads(lines[-1])
        m1 = benchlib.metrics(lead)
        props = m1["imgarc_raft_proposals_total"] - m0["imgarc_raft_proposals_total"]
        entries = m1["imgarc_raft_entries_proposed_total"] - \
            m0["imgarc_raft_entries_proposed_total"]
        lat = j.get("latency_ms", {})
        return {"ops": j["ops_per_s"], "p50": lat.get("p50"), "p99": lat.get("p99"),
                "errors": j.get("errors"), "per_entry": props / max(entries, 1),
                "node_cpu_s": j.get("node_cpu_s")}
    finally:
        c.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    benchlib.add_common_args(p, "/tmp/imgarc-entry-bench")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    cluster_mod, node_mod = benchlib.setup_env(args)
    benchlib.progress("load average at start: %s" % benchlib.loadavg())
    runs = {name: [] for name, _ in SETTINGS}
    for r in range(args.rounds):
        order = SETTINGS if r % 2 == 0 else tuple(reversed(SETTINGS))
        for name, ec in order:
            res = one_run(args, cluster_mod, node_mod, name, ec)
            benchlib.progress("round %d %s: %.0f ops/s p50 %.1f ms p99 %.1f ms, %.1f "
                              "commands per entry, errors %s" %
                              (r + 1, name, res["ops"], res["p50"], res["p99"],
                               res["per_entry"], res["errors"]))
            runs[name].append(res)
    rows = []
    med = {}
    for name, _ in SETTINGS:
        rs = runs[name]
        med[name] = statistics.median(x["ops"] for x in rs)
        rows.append(("%s ops/s (median of %d)" % (name, len(rs)), "%.0f" % med[name]))
        rows.append(("%s p50 / p99 ms" % name, "%.1f / %.1f" % (
            statistics.median(x["p50"] for x in rs), statistics.median(x["p99"] for x in rs))))
        rows.append(("%s commands per entry" % name,
                     "%.1f" % statistics.median(x["per_entry"] for x in rs)))
    rows.append(("ratio shared / single", "%.2f" % (med["shared"] / med["single"])))
    benchlib.progress("load average at end: %s" % benchlib.loadavg())
    benchlib.summary("metadata commits, %d node(s), %d clients, %d s per run" %
                     (args.nodes, args.clients, args.duration), rows)


if __name__ == "__main__":
    main()
