#!/usr/bin/env python3
"""The cost of a resumable upload (docs/uploads.md) against a plain capture of the same
file and against copying it with the disk, measured side by side.

One node (durable blobs). Each round uploads one file of --size with one client, the
`imgarc` CLI, interleaved:

  plain      `imgarc upload` (POST .../files: the body streamed into the blob store)
  resumable  `imgarc upload --resumable` with --piece-size pieces (each PATCH fsynced
             into the staged file, the record replaced; then the staged file read back
             into the blob store at the capture)
  cp         `cp` of the file into the node's data disk, then `sync`: the peer, what
             the disk does with the same bytes

It prints each round's seconds and MB/s, then medians and the ratios (throughput,
higher is better): resumable/plain, plain/cp, resumable/cp.

    python3 bench/upload_bench.py                       # 5 rounds of 256 MiB, 8M pieces
    python3 bench/upload_bench.py --size 1G --piece-size 32M --rounds 3
"""

import argparse
import os
import shutil
import statistics
import tempfile

import benchlib
from benchlib import progress, timed


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(p, os.path.join(tempfile.gettempdir(), "imgarc-upload-bench"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--size", default="256M")
    p.add_argument("--piece-size", default="8M")
    args = p.parse_args()
    _, node_mod = benchlib.setup_env(args)
    build = os.path.abspath(args.build)
    cli = os.path.join(build, "imgarc")
    size = benchlib.parse_size(args.size)
    node = node_mod.Node("upload-bench", args=["--sync-blobs", "true",
                                               "--body-max", str(2 * size)] + args.node_arg)
    work = os.path.join(args.dir, "work")
    rows = {"plain": [], "resumable": [], "cp": []}
    try:
        os.makedirs(work, exist_ok=True)
        node.start()
        env = dict(os.environ, IMGARC_SERVER=node.url, IMGARC_TOKEN=node.token)
        for rnd in range(args.rounds):
            # A new file each round: content addressing would store the same one once.
            src = os.path.join(work, "file.bin")
            with open(src, "wb") as f:
                left = size
                while left > 0:
                    n = min(left, 8 << 20)
                    f.write(os.urandom(n))
                    left -= n
            image_no = "BENCH-%d" % rnd
            order = ["plain", "resumable", "cp"] if rnd % 2 == 0 else ["cp", "resumable", "plain"]
            took = {}
            for kind in order:
                if kind == "plain":
                    took[kind] = timed([cli, "upload", image_no, src], env)[0]
                elif kind == "resumable":
                    # Other bytes than the plain upload's, so both store their blob.
                    with open(src, "r+b") as f:
                        f.write(os.urandom(16))
                    took[kind] = timed([cli, "upload", image_no, src, "--resumable",
                                        "--piece-size", args.piece_size], env)[0]
                else:
                    dst = os.path.join(node.data, "cp-peer.bin")
                    took[kind] = timed(["sh", "-c", 'cp "$0" "$1" && sync', src, dst])[0]
                    os.unlink(dst)
                rows[kind].append(took[kind])
            progress("round %d: plain %.2f s (%.0f MB/s), resumable %.2f s (%.0f MB/s), "
                     "cp %.2f s (%.0f MB/s)"
                     % (rnd + 1, took["plain"], size / took["plain"] / 1e6, took["resumable"],
                        size / took["resumable"] / 1e6, took["cp"], size / took["cp"] / 1e6))
        med = {k: statistics.median(v) for k, v in rows.items()}
        print("\nmedians over %d rounds, one file of %s, pieces of %s:"
              % (args.rounds, args.size, args.piece_size))
        for k in ("plain", "resumable", "cp"):
            print("  %-10s %8.2f s  %8.1f MB/s" % (k, med[k], size / med[k] / 1e6))
        print("  resumable/plain throughput ratio %.2f" % (med["plain"] / med["resumable"]))
        print("  plain/cp throughput ratio        %.2f" % (med["cp"] / med["plain"]))
        print("  resumable/cp throughput ratio    %.2f" % (med["cp"] / med["resumable"]))
    finally:
        node.cleanup(remove_data=not args.keep)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
