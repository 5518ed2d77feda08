#!/usr/bin/env python3
"""The speed of backup and restore (docs/backup.md) against copying the same bytes
with cp, measured side by side.

One node is filled with --files captures of --size bytes (imgarc-bench's upload phase,
durable blobs). Then each round runs, interleaved:

  backup    `imgarc backup` of the node into a new directory (every blob fetched over
            HTTP, verified by the node and hashed again by the CLI, each fsynced)
  again     `imgarc backup` into the same directory (nothing new: the incremental cost)
  cp        `cp -r` of the node's blobs directory into a new directory, then `sync`:
            the peer, what the disk does with the same bytes and no checks
  restore   `imgarc restore` of the backup into a new data dir (the store written,
            every blob hashed and fsynced through the node's blob store)

It prints each round's seconds and MB/s, then medians and the ratios backup/cp and
restore/cp (throughput, higher is better; 1.0 is the disk's pace).

    python3 bench/backup_bench.py                 # 3 rounds, 2000 files of 200 KB
    python3 bench/backup_bench.py --files 5000 --rounds 5
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

import benchlib
from benchlib import progress, timed


def dir_bytes(path):
    total = 0
    for base, _, names in os.walk(path):
        for n in names:
            total += os.path.getsize(os.path.join(base, n))
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(p, os.path.join(tempfile.gettempdir(), "imgarc-backup-bench"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--files", type=int, default=2000)
    p.add_argument("--size", default="200K")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--parallel", type=int, default=8,
                   help="imgarc backup --parallel: blobs fetched at once [%(default)s]")
    args = p.parse_args()
    _, node_mod = benchlib.setup_env(args)
    build = os.path.abspath(args.build)
    bench, cli = os.path.join(build, "imgarc-bench"), os.path.join(build, "imgarc")
    node = node_mod.Node("backup-bench", args=["--sync-blobs", "true"] + args.node_arg)
    work = os.path.join(args.dir, "work")
    rows = {"backup": [], "again": [], "cp": [], "restore": []}
    try:
        node.start()
        progress("filling the node with %d files of %s" % (args.files, args.size))
        subprocess.run([bench, "--json", "--server", node.url, "--token", node.token,
                        "--clients", str(args.clients), "--size", args.size, "--phases",
                        "upload", "--files", str(args.files), "--bills", "64"],
                       check=True, capture_output=True)
        blobs = os.path.join(node.data, "blobs")
        total = dir_bytes(blobs)
        env = dict(os.environ, IMGARC_SERVER=node.url, IMGARC_TOKEN=node.token)
        progress("%d bytes of content on the node" % total)
        for rnd in range(args.rounds):
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            dest = os.path.join(work, "backup")
            dt, out = timed([cli, "backup", dest, "--json", "--parallel", str(args.parallel)],
                            env)
            doc = json.loads(out)
            rows["backup"].append(dt)
            dt2, _ = timed([cli, "backup", dest, "--json", "--parallel", str(args.parallel)],
                           env)
            rows["again"].append(dt2)
            dt3, _ = timed(["sh", "-c", 'cp -r "$0" "$1" && sync', blobs,
                            os.path.join(work, "cp")])
            rows["cp"].append(dt3)
            dt4, _ = timed([cli, "restore", dest, "--data", os.path.join(work, "restored")])
            rows["restore"].append(dt4)
            progress("round %d: backup %.2f s (%d blobs, %.1f MB/s), again %.2f s, cp %.2f s "
                     "(%.1f MB/s), restore %.2f s (%.1f MB/s)"
                     % (rnd + 1, dt, doc["blobs"], doc["blob_bytes"] / dt / 1e6, dt2, dt3,
                        total / dt3 / 1e6, dt4, doc["blob_bytes"] / dt4 / 1e6))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print("\nmedians over %d rounds, %d files of %s (%.1f MB):"
              % (args.rounds, args.files, args.size, total / 1e6))
        for k in ("backup", "again", "cp", "restore"):
            print("  %-8s %8.2f s  %8.1f MB/s" % (k, med[k], total / med[k] / 1e6))
        print("  backup/cp throughput ratio  %.2f" % (med["cp"] / med["backup"]))
        print("  restore/cp throughput ratio %.2f" % (med["cp"] / med["restore"]))
        print("  incremental backup of nothing new: %.2f s (%.0f%% of a full one)"
              % (med["again"], 100 * med["again"] / med["backup"]))
    finally:
        node.cleanup(remove_data=not args.keep)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
