#!/usr/bin/env python3
"""join_scale.py: what a new node joining a cluster with millions of files costs.

For each N of --records (default 1000000,10000000), in its own cluster:
  1. Starts node 1 (it bootstraps its cluster: InitCluster), waits until it is ready,
     stops it, and seeds N file records into its metadata store with
     `imgarc-snapbench --seed-store DATA/meta --records N` (real AddFile commands applied
     by the state machine in large write batches, keeping the store's applied index, so
     raft's log on that node still matches: tools/README.md). The records' blobs have no
     holders: no node is asked to copy content it does not have (the keeper counts them
     as lost, and does nothing).
  2. Restarts node 1 with --snapshot-threshold 16 --snapshot-trailing 16 (and the
     --node-arg arguments), uploads small files one at a time until it logs "snapshot
     taken" at an index past the bootstrap's entries: its log is truncated, so a joining
     node must be sent a snapshot and cannot replay the log.
  3. Starts node 2 with --join and measures from its start until it has caught up:
     GET /readyz answers 200 and the raft index it has applied (X-Imgarc-Index) has
     reached node 1's (read just before). Then both nodes' peak RSS (VmHWM, sampled
     every 0.2 s while waiting; the kernel's high-water mark is what is printed), and
     the digests of both stores are compared (GET /api/v1/cluster/digest, after the
     measurement: it reads the whole store).
  4. Prints a table: records, store size on disk, snapshot size (the leader's log line
     and its raft dir's snapshot files), catch-up seconds, leader RSS before the join
     and peak, joiner peak RSS. Stops every node it started by pid, whatever happened,
     and removes the data dirs unless --keep.

Run (from the repository root; binaries in build/):
    python3 bench/join_scale.py --records 100000,1000000
    python3 bench/join_scale.py --records 1000000 --node-arg=--snapshot-format --node-arg=store
Nothing else should run on the machine; the load average is printed at start and end.
Disk: about 250 bytes per record for the store (x2 while a node joins), plus the
snapshot files. Both nodes run --replicas 1 --write-quorum 1 (one copy of the uploads).
"""

import argparse
import http.client
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import progress  # noqa: E402

MIB = 1024 * 1024


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", default="1000000,10000000",
                   help="file records to seed, comma-separated, one cluster each "
                        "[%(default)s]")
    p.add_argument("--files-per-bill", type=int, default=20, help="[%(default)s]")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds to wait for each phase [%(default)s]")
    p.add_argument("--seed-only", action="store_true",
                   help="only seed node 1 and restart it (the store's size, the seeding "
                        "and restart times, node 1's RSS); no snapshot, no join")
    p.add_argument("--no-digest", action="store_true",
                   help="skip the digest comparison after the measurement")
    bl.add_common_args(p, "/tmp/imgarc-bench")
    a = p.parse_args()
    a.counts = [int(x) for x in a.records.split(",") if x.strip()]
    return a


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def proc_status(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def applied(node, timeout=5):
    """The raft index @node has applied (X-Imgarc-Index of GET /readyz), or None."""
    try:
        r = node.get("/readyz", auth=False, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None, None
    idx = r.header("x-imgarc-index")
    return r.status, int(idx) if idx is not None and idx.isdigit() else None


def log_lines(node, pattern):
    rx = re.compile(pattern)
    try:
        with open(node.log_path, "rb") as f:
            return [line for line in f.read().decode("utf-8", "replace").splitlines()
                    if rx.search(line)]
    except OSError:
        return []


def snap_files(node):
    d = os.path.join(node.data, "raft")
    try:
        names = sorted(n for n in os.listdir(d) if n.startswith("snapshot-"))
    except OSError:
        return []
    return [(n, os.path.getsize(os.path.join(d, n))) for n in names]


class Peak:
    """Samples VmHWM and VmRSS of some pids every 0.2 s in a thread."""

    def __init__(self):
        self.pids = {}
        self.hwm = {}
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def watch(self, name, pid):
        self.pids[name] = pid

    def _run(self):
        while not self.stop.is_set():
            for name, pid in list(self.pids.items()):
                v = proc_status(pid, "VmHWM")
                if v is not None and v > self.hwm.get(name, 0):
                    self.hwm[name] = v
            time.sleep(0.2)

    def close(self):
        self.stop.set()
        self.t.join(5)


KEEPER = ("imgarc_blobs_lost", "imgarc_blobs_under_replicated", "imgarc_keeper_passes_total",
          "imgarc_keeper_last_pass_seconds")


def keeper_figures(node):
    """What the blob keeper made of the seeded records (their blobs have no holders)."""
    m = bl.metrics(node, timeout=30)
    return " ".join("%s=%s" % (k[len("imgarc_"):], m.get(k)) for k in KEEPER)


def one_run(args, imgarc_cluster, n_records, rows):
    extra = ["--replicas", "1", "--write-quorum", "1",
             "--snapshot-threshold", "16", "--snapshot-trailing", "16"] + args.node_arg
    cluster = imgarc_cluster.Cluster("join-scale-%d" % n_records, extra_args=extra)
    peak = Peak()
    res = {"records": n_records}
    t_run = time.monotonic()
    try:
        # -- 1. node 1 bootstraps, stops, is seeded -------------------------------
        n1 = cluster.add(zone="default")
        imgarc_cluster.wait_for(lambda: (applied(n1)[1] or 0) > 0, args.timeout,
                                "node 1 applies its InitCluster")
        n1.stop()
        meta = os.path.join(n1.data, "meta")
        snapbench = os.path.join(os.path.abspath(args.build), "imgarc-snapbench")
        progress("seeding %d records into %s" % (n_records, meta))
        t0 = time.monotonic()
        seeder = subprocess.Popen([snapbench, "--seed-store", meta, "--records",
                                   str(n_records), "--files-per-bill", str(args.files_per_bill)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            for line in seeder.stdout:
                progress("  snapbench: " + line.rstrip())
        except BaseException:
            seeder.kill()  # by its pid: we started it
            seeder.wait()
            raise
        if seeder.wait() != 0:
            raise RuntimeError("imgarc-snapbench --seed-store failed (%d)" % seeder.returncode)
        res["seed_s"] = time.monotonic() - t0
        res["store"] = du(meta)

        # -- 2. node 1 restarts and takes a snapshot --------------------------------
        t0 = time.monotonic()
        n1.start(wait=True, timeout=args.timeout)
        res["restart_s"] = time.monotonic() - t0
        peak.watch("n1", n1.pid)
        progress("node 1 restarted with %d records in %.1f s (pid %d); store %.0f MiB"
                 % (n_records, res["restart_s"], n1.pid, res["store"] / MIB))
        if args.seed_only:
            imgarc_cluster.wait_for(
                lambda: bl.metrics(n1, timeout=30).get("imgarc_keeper_passes_total", 0) >= 1,
                args.timeout, "the keeper's first pass", interval=1)
            res["n1_keeper"] = keeper_figures(n1)
            res["n1_rss_before"] = proc_status(n1.pid, "VmRSS")
            res["n1_hwm"] = proc_status(n1.pid, "VmHWM")
            res["ok"] = True
            return res
        up = bl.Uploader([n1], n1.token, 200, 1024, 1, args.files_per_bill,
                         os.urandom(4).hex(), progress_every=60)
        snap = None
        t0 = time.monotonic()
        while snap is None:
            if time.monotonic() - t0 > args.timeout:
                raise RuntimeError("node 1 took no snapshot")
            up.files = up.next + 8
            up.run("8 uploads")
            for line in log_lines(n1, r"snapshot taken: applied_index=(\d+)"):
                m = re.search(r"applied_index=(\d+) bytes=(\d+)", line)
                if m and int(m.group(1)) > 24:
                    snap = line
                    res["snap_index"] = int(m.group(1))
                    res["snap_bytes"] = int(m.group(2))
                    break
        res["snap_take"] = snap.split(" raft ", 1)[-1]
        # raft writes the snapshot after the line and truncates its log only once the
        # files are durable; a node joining before that would be sent the log from
        # index 1 instead (without the seeded records, which are in no entry).
        imgarc_cluster.wait_for(
            lambda: any(name.endswith(".meta") and name.split("-")[2] == str(res["snap_index"])
                        for name, _ in snap_files(n1)),
            args.timeout, "the snapshot's files in node 1's raft dir", interval=0.2)
        time.sleep(1)
        res["snap_files"] = snap_files(n1)
        # The file of the snapshot the line names (raft keeps the last two).
        res["snap_file"] = sum(size for name, size in res["snap_files"]
                               if name.startswith("snapshot-") and
                               name.split("-")[2] == str(res["snap_index"]) and
                               not name.endswith(".meta"))
        res["n1_rss_before"] = proc_status(n1.pid, "VmRSS")
        res["n1_hwm_before"] = proc_status(n1.pid, "VmHWM")
        progress("node 1: %s; raft dir %s; RSS %.0f MiB (peak so far %.0f MiB)"
                 % (res["snap_take"], res["snap_files"], res["n1_rss_before"] / MIB,
                    res["n1_hwm_before"] / MIB))

        # -- 3. node 2 joins --------------------------------------------------------
        _, target = applied(n1)
        progress("starting node 2 with --join; node 1 applied %s; load %s"
                 % (target, bl.loadavg()))
        t0 = time.monotonic()
        n2 = cluster.add(zone="default", wait=False)
        peak.watch("n2", n2.pid)
        ready_at = None
        done_at = None
        last_print = t0
        while done_at is None:
            now = time.monotonic()
            if now - t0 > args.timeout:
                raise RuntimeError("node 2 did not catch up within %.0f s" % args.timeout)
            if not n2.alive():
                raise RuntimeError("node 2 exited (%s); log:\n%s"
                                   % (n2.proc.returncode, n2.log_tail(30)))
            if not n1.alive():
                raise RuntimeError("node 1 exited (%s); log:\n%s"
                                   % (n1.proc.returncode, n1.log_tail(30)))
            st, idx2 = applied(n2)
            if st == 200 and ready_at is None:
                ready_at = now - t0
            if st == 200:
                _, idx1 = applied(n1)
                if idx2 is not None and idx1 is not None and idx2 >= idx1 >= target:
                    done_at = time.monotonic() - t0
                    res["index"] = idx2
                    break
            if now - last_print >= 5:
                progress("after %.0f s: node 2 /readyz %s index %s; RSS n1 %.0f n2 %.0f MiB"
                         % (now - t0, st, idx2, (proc_status(n1.pid, "VmRSS") or 0) / MIB,
                            (proc_status(n2.pid, "VmRSS") or 0) / MIB))
                last_print = now
            time.sleep(0.1)
        res["ready_s"] = ready_at
        res["catchup_s"] = done_at
        res["n1_hwm"] = max(peak.hwm.get("n1", 0), proc_status(n1.pid, "VmHWM") or 0)
        res["n2_hwm"] = max(peak.hwm.get("n2", 0), proc_status(n2.pid, "VmHWM") or 0)
        restored = log_lines(n2, r"restor\w* snapshot|snapshot.*(restor|fetch|swap)")
        res["n2_restored"] = [line.split("Z ", 1)[-1] for line in restored][:3]
        res["n2_store"] = du(os.path.join(n2.data, "meta"))
        res["n1_keeper"] = keeper_figures(n1)
        res["n2_keeper"] = keeper_figures(n2)
        progress("node 2 caught up in %.1f s (ready %.1f s); peak RSS n1 %.0f n2 %.0f MiB"
                 % (done_at, ready_at, res["n1_hwm"] / MIB, res["n2_hwm"] / MIB))
        if not args.no_digest:
            res["digests"] = "not compared (the indexes kept moving)"
            for _ in range(5):
                ds = []
                for n in (n1, n2):
                    r = n.get("/api/v1/cluster/digest", timeout=600,
                              headers={"X-Imgarc-Min-Index": str(res["index"])})
                    ds.append(r.json if r.status == 200 else {"status": r.status})
                if ds[0].get("applied_index") != ds[1].get("applied_index"):
                    time.sleep(1)
                    continue
                res["digests"] = ("equal at index %s" % ds[0].get("applied_index")
                                  if ds[0].get("digest") and ds[0] == ds[1]
                                  else "DIFFER: %r" % ds)
                break
            if not res["digests"].startswith("equal"):
                # The seeded records are in no raft entry: a node that caught up from
                # the log has none of them, and the run measured nothing.
                raise RuntimeError("digests: %s (node 2 restored: %s)"
                                   % (res["digests"], res["n2_restored"] or "nothing logged"))
        elif not res["n2_restored"]:
            raise RuntimeError("node 2 logged no restored snapshot (it may have been sent "
                               "the log, which lacks the seeded records): the run is void")
        res["ok"] = True
    finally:
        peak.close()
        res["wall_s"] = time.monotonic() - t_run
        try:
            for k, v in sorted(res.items()):
                rows.append(("%d: %s" % (n_records, k), v if not isinstance(v, float)
                             else "%.2f" % v))
            for count, names, line in bl.log_findings(cluster.nodes)[0]:
                rows.append(("%d: log %dx on %s" % (n_records, count, ",".join(names)),
                             line[:200]))
        finally:
            bl.stop_all(cluster, args.keep)
    return res


def mib(v):
    return "%.0f MiB" % (v / MIB) if v else "?"


def main():
    args = parse_args()
    imgarc_cluster, _ = bl.setup_env(args)
    progress("%d cores, load average %s; extra node args: %s"
             % (os.cpu_count(), bl.loadavg(), " ".join(args.node_arg) or "none"))
    rows = []
    results = []
    ok = True
    for n in args.counts:
        try:
            results.append(one_run(args, imgarc_cluster, n, rows))
        except Exception as e:  # noqa: BLE001 - report it, go on with the next size
            progress("run with %d records FAILED: %s" % (n, e))
            ok = False
            break
    bl.summary("join_scale details", rows)
    print("\nnode args: %s; load average at end %s" % (" ".join(args.node_arg) or "none",
                                                      bl.loadavg()))
    hdr = ("records", "store", "snapshot", "snapshot file", "catch-up s", "ready s",
           "leader RSS before", "leader peak", "joiner peak", "seed s", "run wall s")
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for r in results:
        if "catchup_s" not in r:
            print("| {:,} | {} | seeded in {:.0f} s; restart {:.1f} s; node 1 RSS {} (peak {}) |"
                  .format(r["records"], mib(r["store"]), r["seed_s"], r["restart_s"],
                          mib(r["n1_rss_before"]), mib(r["n1_hwm"])))
            continue
        print("| " + " | ".join([
            "{:,}".format(r["records"]), mib(r["store"]),
            mib(r.get("snap_bytes")), mib(r.get("snap_file")),
            "%.1f" % r["catchup_s"], "%.1f" % r["ready_s"], mib(r["n1_rss_before"]),
            mib(r["n1_hwm"]), mib(r["n2_hwm"]), "%.0f" % r["seed_s"],
            "%.0f" % r["wall_s"]]) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
