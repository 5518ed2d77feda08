#!/usr/bin/env python3
"""keeper_scale.py: what a keeper pass costs on a node with millions of blobs.

The keeper reads every blob record in a full pass (its first, one every 6 h, and one
after the placement's choice of nodes changes) and otherwise only what the blob index
names (archive/blobs.h): blobs whose holder count is not R, and those with a copy on a
node that is not an active member. This prints both, side by side, for each N.

For each N of --records (default 1000000,10000000), in its own one-node cluster
(--replicas 1):
  1. Starts the node (it bootstraps its cluster), stops it, and seeds N file records
     into its metadata store with `imgarc-snapbench --seed-store DATA/meta --records N
     --holder ID`: real AddFile commands applied by the state machine, every blob
     recorded as held by this node, so every record is settled (one holder, R=1).
  2. Restarts it and waits for the keeper's first pass: a full one. Prints its
     duration and the records it read (imgarc_keeper_last_pass_seconds and
     imgarc_keeper_last_pass_records), and the node's peak RSS meanwhile.
  3. Waits for the first pass that is not full (the node's first space report, a
     weight, makes one more full pass due) and prints it: nothing needs work, so it
     reads nothing.
  4. Deletes --changes seeded files through the API (their blobs become unreferenced:
     the leader's passes read them, to purge them after --gc-grace-ms) and prints the
     next --passes passes: what they read is what changed.
     A pass that also checks this node's own copies (every --gc-grace-ms / 2, at most
     10 min) reads this node's blobs by the holder index: a run shorter than that
     shows none.
Stops every node it started by pid and removes the data dirs unless --keep.

Run (from the repository root; binaries in build/):
    python3 bench/keeper_scale.py --records 1000000,10000000
Disk: about 250 bytes per record for the store.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import progress  # noqa: E402

MIB = 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default="1000000,10000000",
                   help="file records to seed, comma-separated, one node each [%(default)s]")
    p.add_argument("--changes", type=int, default=1000,
                   help="seeded files deleted once passes are indexed [%(default)s]")
    p.add_argument("--passes", type=int, default=2,
                   help="passes measured after the captures [%(default)s]")
    p.add_argument("--gc-grace-ms", type=int, default=3600000,
                   help="the node's --gc-grace-ms: own copies are checked every half "
                        "of it, at most every 10 min [%(default)s]")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds to wait for each phase [%(default)s]")
    bl.add_common_args(p, "/tmp/imgarc-bench")
    a = p.parse_args()
    a.counts = [int(x) for x in a.records.split(",") if x.strip()]
    return a


def pass_figures(node):
    m = bl.metrics(node, timeout=60)
    return {"passes": int(m.get("imgarc_keeper_passes_total", 0)),
            "full_passes": int(m.get("imgarc_keeper_full_passes_total", 0)),
            "seconds": m.get("imgarc_keeper_last_pass_seconds", 0.0),
            "records": int(m.get("imgarc_keeper_last_pass_records", 0)),
            "full": m.get("imgarc_keeper_last_pass_full", 0) == 1}


def wait_pass(imgarc_cluster, node, after, timeout):
    """Waits for pass number @after + 1 to end; returns its figures."""
    got = {}

    def done():
        f = pass_figures(node)
        if f["passes"] > after:
            got.update(f)
            return True
        return False
    imgarc_cluster.wait_for(done, timeout, "keeper pass %d" % (after + 1), interval=0.5)
    return got


def one_run(args, imgarc_cluster, n_records):
    extra = ["--replicas", "1", "--write-quorum", "1", "--gc-grace-ms", str(args.gc_grace_ms)]
    extra += args.node_arg
    cluster = imgarc_cluster.Cluster("keeper-scale-%d" % n_records, extra_args=extra)
    res = {"records": n_records, "after": []}
    try:
        n1 = cluster.add(zone="default")
        imgarc_cluster.wait_for(lambda: n1.get("/readyz", auth=False).status == 200,
                                args.timeout, "the node to be ready")
        node_id = cluster.node_id(n1)
        n1.stop()
        meta = os.path.join(n1.data, "meta")
        snapbench = os.path.join(os.path.abspath(args.build), "imgarc-snapbench")
        progress("seeding %d records held by node %s into %s" % (n_records, node_id, meta))
        t0 = time.monotonic()
        out = subprocess.run([snapbench, "--seed-store", meta, "--records", str(n_records),
                              "--holder", str(node_id)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=args.timeout)
        if out.returncode != 0:
            raise RuntimeError("imgarc-snapbench --seed-store failed: " + out.stdout[-500:])
        res["seed_s"] = time.monotonic() - t0
        n1.start(wait=True, timeout=args.timeout)
        progress("node restarted with %d records (pid %d)" % (n_records, n1.pid))
        first = wait_pass(imgarc_cluster, n1, 0, args.timeout)
        res["first"] = first
        progress("first pass: %(seconds).2f s, %(records)d records, full=%(full)s" % first)
        # The node's first space report (its capacity: a weight) makes one more full
        # pass due; then passes read what the index names.
        seen, steady = first["passes"], None
        while steady is None:
            f = wait_pass(imgarc_cluster, n1, seen, args.timeout)
            seen = f["passes"]
            progress("pass %d: %.3f s, %d records, full=%s" % (seen, f["seconds"],
                                                              f["records"], f["full"]))
            if not f["full"]:
                steady = f
        res["steady"] = steady
        res["full_passes"] = steady["full_passes"]
        # Deleting files leaves their blobs unreferenced: the leader's indexed passes read
        # those (to purge them after --gc-grace-ms), and only those.
        for i in range(args.changes):
            r = n1.request("DELETE", "/api/v1/bills/SB-%08d/files/f%031x" % (i // 20, i))
            if r.status != 200:
                raise RuntimeError("deleting seeded file %d: %r" % (i, r))
        progress("%d files deleted" % args.changes)
        for _ in range(args.passes):
            f = wait_pass(imgarc_cluster, n1, seen, args.timeout)
            seen = f["passes"]
            res["after"].append(f)
            progress("a pass after the deletions: %(seconds).3f s, %(records)d records, "
                     "full=%(full)s" % f)
        res["hwm"] = bl.proc_rss_peak(n1.pid)
        res["ok"] = True
    finally:
        bl.stop_all(cluster, args.keep)
    return res


def main():
    args = parse_args()
    imgarc_cluster, _ = bl.setup_env(args)
    rows = []
    progress("load average at start: %s" % (os.getloadavg(),))
    for n in args.counts:
        rows.append(one_run(args, imgarc_cluster, n))
    progress("load average at end: %s" % (os.getloadavg(),))
    print()
    print("| blobs | full pass | records read | indexed pass, nothing to do | records read "
          "| after %d deletions (s) | records read | peak RSS |" % args.changes)
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        later = r["after"]
        print("| %d | %.2f s | %d | %.3f s | %d | %s | %s | %.0f MiB |" % (
            r["records"], r["first"]["seconds"], r["first"]["records"],
            r["steady"]["seconds"], r["steady"]["records"],
            ", ".join("%.3f%s" % (f["seconds"], " (full)" if f["full"] else "")
                      for f in later),
            ", ".join(str(f["records"]) for f in later),
            (r.get("hwm") or 0) / MIB))


if __name__ == "__main__":
    main()
