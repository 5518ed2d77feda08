#!/usr/bin/env python3
"""Writes through a follower against writes through the leader (issue 14): a 3-node
cluster on loopback, one client, the same writes sent through the leader and through a
follower, interleaved (leader, follower, leader, ...; the order swapped every round).
With --clients N, N clients do that at once (each its own writes, half of them starting
with the follower). Two kinds of write: a capture (POST /api/v1/bills/{no}/files, --kb KiB, W=2 copies) and a
metadata-only command (POST /api/v1/pool). After every write the client reads it back on
the node it wrote through (GET /api/v1/bills/{no}, not timed): a write that is not there
is counted as a read-your-writes miss (there must be none).

Prints, per kind and path, p50/p99/max in ms over --rounds rounds of --n writes, the
medians of the per-round p50 and p99, the follower/leader ratio, and how many follower
writes took longer than the heartbeat interval (the wait this benchmark was written to
find: a follower learning the commit index only from the leader's next heartbeat).

    python3 bench/follower_bench.py [--build build] [--n 60] [--rounds 3] [--kb 20]
                                    [--clients 1] [--heartbeat-ms 500] [--election-ms 3000]

The raft timing defaults are imgarcd's own (--heartbeat-timeout-ms 500,
--election-timeout-ms 3000), not the faster ones of the cluster tests.
"""

import argparse
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def percentile(values, q):
    return benchlib.percentile(sorted(values), q)


def capture(node, no, data):
    t = time.monotonic()
    r = node.upload(no, data, name="fb.bin", key="fb-" + no)
    dt = (time.monotonic() - t) * 1000
    if r.status != 201:
        raise SystemExit("capture %s through %s: HTTP %d %r" % (no, node.name, r.status,
                                                               r.body[:300]))
    b = node.bill(no)
    seen = b.status == 200 and any(f.get("file_id") == r.json["file_id"]
                                   for f in b.json.get("files", []))
    return dt, seen


def pool(node, no, _data):
    t = time.monotonic()
    r = node.pool_push({"image_no": no, "bill_no": "ER-" + no, "amount": "12.50"},
                       key="fbp-" + no)
    dt = (time.monotonic() - t) * 1000
    if r.status not in (200, 201):
        raise SystemExit("pool push %s through %s: HTTP %d %r" % (no, node.name, r.status,
                                                                 r.body[:300]))
    b = node.bill(no)
    seen = b.status == 200 and b.json.get("bill_no") == "ER-" + no
    return dt, seen


KINDS = [("capture", capture), ("pool push", pool)]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    benchlib.add_common_args(p, "/tmp/imgarc-follower-bench")
    p.add_argument("--n", type=int, default=60, help="writes per path, kind and round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--kb", type=int, default=20, help="capture size in KiB")
    p.add_argument("--clients", type=int, default=1,
                   help="concurrent clients, each alternating leader and follower")
    p.add_argument("--heartbeat-ms", type=int, default=500)
    p.add_argument("--election-ms", type=int, default=3000)
    args = p.parse_args()
    cmod, _ = benchlib.setup_env(args)
    cmod.RAFT_ARGS = ["--election-timeout-ms", str(args.election_ms),
                      "--heartbeat-timeout-ms", str(args.heartbeat_ms)]
    cluster = cmod.Cluster("fb", voters=3, extra_args=args.node_arg)
    try:
        benchlib.progress("starting 3 nodes (heartbeat %d ms)" % args.heartbeat_ms)
        cluster.start(3)
        leader = cluster.leader()
        follower = [n for n in cluster.nodes if n is not leader][0]
        paths = [("leader", leader), ("follower", follower)]
        data = os.urandom(args.kb * 1024)
        for name, node in paths:  # warm up: connections, placement, page cache
            for k in range(3):
                capture(node, "FB-WARM-%s-%d" % (name, k), data)
                pool(node, "FBP-WARM-%s-%d" % (name, k), data)
        times = {(k, n): [] for k, _ in KINDS for n, _ in paths}
        rounds = {(k, n): [] for k, _ in KINDS for n, _ in paths}
        misses = {(k, n): 0 for k, _ in KINDS for n, _ in paths}
        for rd in range(args.rounds):
            benchlib.progress("round %d/%d (load %s)" % (rd + 1, args.rounds,
                                                         benchlib.loadavg()))
            this = {key: [] for key in times}
            lock = threading.Lock()

            def client(cl, rd=rd, this=this, lock=lock):
                # Each client alternates the paths; half of them start with the follower.
                order = paths if (rd + cl) % 2 == 0 else paths[::-1]
                for i in range(args.n):
                    for kind, fn in KINDS:
                        for name, node in order:
                            no = "FB%s-%d-%d-%d-%s" % (kind[0].upper(), rd, cl, i, name)
                            dt, seen = fn(node, no, data)
                            with lock:
                                this[(kind, name)].append(dt)
                                if not seen:
                                    misses[(kind, name)] += 1
            threads = [threading.Thread(target=client, args=(cl,))
                       for cl in range(args.clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for key, v in this.items():
                times[key] += v
                rounds[key].append((percentile(v, 50), percentile(v, 99)))
        if leader is not cluster.leader():
            print("note: the leader changed during the run; figures mix both roles")
        print()
        print("%-10s %-9s %8s %8s %8s %10s %10s %6s %6s" % (
            "kind", "path", "p50 ms", "p99 ms", "max ms", "med p50", "med p99",
            ">hb", "miss"))
        for kind, _ in KINDS:
            med = {}
            for name, _ in paths:
                v = times[(kind, name)]
                med[name] = (statistics.median(x[0] for x in rounds[(kind, name)]),
                             statistics.median(x[1] for x in rounds[(kind, name)]))
                slow = sum(1 for x in v if x > args.heartbeat_ms)
                print("%-10s %-9s %8.1f %8.1f %8.1f %10.1f %10.1f %6d %6d" % (
                    kind, name, percentile(v, 50), percentile(v, 99), max(v),
                    med[name][0], med[name][1], slow, misses[(kind, name)]))
            print("%-10s follower/leader: p50 %.2f, p99 %.2f (medians of %d rounds of %d, "
                  "%d client%s)" % (kind, med["follower"][0] / med["leader"][0],
                                    med["follower"][1] / med["leader"][1], args.rounds,
                                    args.n, args.clients, "s" if args.clients > 1 else ""))
        fm, lm = benchlib.metrics(follower), benchlib.metrics(leader)
        print("follower: forwards %s, failed %s; leader: commit notices (barriers) %s"
              % (fm.get("imgarc_raft_forwards_total", "?"),
                 fm.get("imgarc_raft_forwards_failed_total", "?"),
                 lm.get("imgarc_raft_commit_notices_total", "n/a")))
    finally:
        if not args.keep:
            cluster.cleanup()


if __name__ == "__main__":
    main()
