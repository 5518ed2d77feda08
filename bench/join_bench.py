#!/usr/bin/env python3
"""join_bench.py: how long a new node takes to join a loaded imgarc cluster.

What it does
  1. Starts 3 imgarcd nodes (tests/cluster/imgarc_cluster.py: node 1 bootstraps, the
     others --join; fast raft timings 1500/150 ms; --replicas 3 --write-quorum 2 by
     default) with a small --snapshot-threshold / --snapshot-trailing (1024/1024), so
     the leader's log is compacted and a joining node must be sent a snapshot.
  2. Creates --files file records (default 100000 files of 1 KiB, each distinct, 20 per
     bill) through --clients keep-alive connections spread over the 3 nodes, and prints
     the load rate. Waits until under_replicated is 0 and the 3 nodes agree (digest).
  3. Starts a 4th node with --join (to node 1) and measures from its start until
       (a) it is a member and serves: GET /readyz answers 200;
       (b) it answers GET /api/v1/bills/<bill>/status of the upload with the highest
           index, sent with X-Imgarc-Min-Index: <that index>, with 200 and the bill's
           full file count (the node has the snapshot plus the log up to that write);
       (c) it holds its share of the blobs: its blob_count in the cluster view (asked on
           node 1) is > 0, under_replicated is 0, and the count has stopped growing
           (unchanged for --stable-s, and the nodes have dropped as many holders as the
           new node received copies, or unchanged for 60 s). The time printed is that
           of the last growth; (c') is when the drops were complete.
  4. Prints a summary block on stdout (progress goes to stderr), the snapshot sizes the
     logs report ("snapshot taken: ... bytes=" on the leader, "restored snapshot" on the
     new node), the WARN/ERROR lines of the logs, then stops every node it started by
     pid and removes the data dirs (unless --keep), whatever happened.

Run (from the repository root; binaries in build/):
    python3 bench/join_bench.py                  # 100000 files of 1 KiB
    python3 bench/join_bench.py --files 200      # a quick check
    python3 bench/join_bench.py --snapshot-threshold 16384 --snapshot-trailing 65536
Nothing else should run on the machine; the load average is printed at start and end.

What bounds the figures
  - Loading: every capture is a raft entry committed on 2 of 3 voters (fsync each) and
    a blob made durable on 2 nodes before the answer (3 copies are made), all on the
    same 2 cores and disk as this Python client. docs/replication.md measured 450
    uploads/s of 4 KiB with imgarc-bench; a Python client costs more CPU per request.
    With --snapshot-threshold 1024 every node also encodes a whole-store snapshot (one
    buffer, about 600 bytes per file record) every 1024 entries, which grows with the
    store: a cost real deployments (16384/65536) pay 16 times less often.
  - (a) is the join handshake (retried with back-off from 1 s while another membership
    change is in progress), the leader's one-second role tick (spare -> standby), and
    installing the snapshot: one message of the whole store, encoded on the leader,
    sent over raft's TCP transport and restored on the new node (docs/performance.md:
    about 80,000 records/s).
  - (b) adds the log entries after the snapshot (at most --snapshot-trailing behind).
  - (c) is rebalancing: placement wants the new node for about R/N of the blobs; each
    blob's owner pushes one HTTP request per blob (--push-threads 8 per node), records
    the holders (SetHolders, up to 128 per command), then drops its extra copy. Small
    files make it request-bound, not byte-bound.
"""

import argparse
import http.client
import json
import os
import re
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import progress  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=100000, help="files to create [%(default)s]")
    p.add_argument("--size", default="1K", help="bytes per file, K/M = 1024^n [%(default)s]")
    p.add_argument("--clients", type=int, default=48,
                   help="parallel keep-alive connections, spread over the 3 nodes "
                        "[%(default)s]")
    p.add_argument("--files-per-bill", type=int, default=20, help="[%(default)s]")
    p.add_argument("--replicas", type=int, default=3, help="[%(default)s]")
    p.add_argument("--write-quorum", type=int, default=2, help="[%(default)s]")
    p.add_argument("--snapshot-threshold", type=int, default=1024, help="[%(default)s]")
    p.add_argument("--snapshot-trailing", type=int, default=1024, help="[%(default)s]")
    p.add_argument("--stable-s", type=float, default=10.0,
                   help="(c): seconds the new node's blob count must stay unchanged "
                        "[%(default)s]")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds to wait for each phase [%(default)s]")
    bl.add_common_args(p, "/tmp/imgarc-bench")
    a = p.parse_args()
    a.size_bytes = bl.parse_size(a.size)
    return a


class Timeline:
    """When each awaited thing first happened, seconds after t0 (thread-safe)."""

    def __init__(self, t0):
        self.t0 = t0
        self.at = {}
        self.notes = {}
        self.lock = threading.Lock()

    def mark(self, what, note=None):
        with self.lock:
            if what not in self.at:
                self.at[what] = time.monotonic() - self.t0
                if note is not None:
                    self.notes[what] = note
                progress("%s: %.2f s after the 4th node started%s"
                         % (what, self.at[what], (" (%s)" % note) if note else ""))

    def get(self, what):
        with self.lock:
            return self.at.get(what)


def poll_ready(node, tl, stop):
    while not stop.is_set():
        if not node.alive():
            return
        try:
            r = node.get("/readyz", auth=False, timeout=2)
            if r.status == 200:
                tl.mark("(a) member, /readyz 200")
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.05)


def poll_status(node, image_no, index, want_files, tl, stop, seen):
    """(b): status of @image_no with X-Imgarc-Min-Index @index answers 200 with the
    whole bill. @seen counts the other answers."""
    path = "/api/v1/bills/%s/status" % image_no
    while not stop.is_set():
        if not node.alive():
            return
        try:
            r = node.get(path, headers={"X-Imgarc-Min-Index": str(index)}, timeout=10)
        except (OSError, http.client.HTTPException) as e:
            key = type(e).__name__
            seen[key] = seen.get(key, 0) + 1
            time.sleep(0.05)
            continue
        if r.status == 200:
            try:
                files = r.json.get("files")
            except AssertionError:
                files = None
            if files == want_files:
                tl.mark("(b) status at the last upload's index",
                        "X-Imgarc-Index %s, %s files" % (r.header("x-imgarc-index"), files))
                return
            key = "200 with files=%r" % files
        else:
            key = "HTTP %d" % r.status
            try:
                key += " " + r.json.get("error", "")
            except AssertionError:
                pass
        seen[key] = seen.get(key, 0) + 1
        time.sleep(0.05)


def snapshot_lines(nodes, pattern):
    out = []
    rx = re.compile(pattern)
    for n in nodes:
        try:
            with open(n.log_path, "rb") as f:
                for line in f.read().decode("utf-8", "replace").splitlines():
                    if rx.search(line):
                        out.append((n, line))
        except OSError:
            pass
    return out


def main():
    args = parse_args()
    imgarc_cluster, imgarc_node = bl.setup_env(args)
    rows = [("machine", "%d cores, load average at start %s" % (os.cpu_count(), bl.loadavg())),
            ("data dirs under", os.path.abspath(args.dir))]
    progress("load average %s" % bl.loadavg())
    extra = ["--replicas", str(args.replicas), "--write-quorum", str(args.write_quorum),
             "--snapshot-threshold", str(args.snapshot_threshold),
             "--snapshot-trailing", str(args.snapshot_trailing)] + args.node_arg
    cluster = imgarc_cluster.Cluster("join-bench", extra_args=extra)
    ok = False
    stop = threading.Event()
    try:
        # -- 1. three nodes -----------------------------------------------------
        for k in range(1, 4):
            cluster.add(zone="default")
            progress("node %d started (pid %d, %s)" % (k, cluster.nodes[-1].pid,
                                                       cluster.nodes[-1].url))
        leader = cluster.leader()
        progress("cluster of 3 formed; leader %s; extra args %s" % (leader.name,
                                                                    " ".join(extra)))

        # -- 2. the records -----------------------------------------------------
        run_id = os.urandom(4).hex()
        up = bl.Uploader(list(cluster.nodes), leader.token, args.files, args.size_bytes,
                         args.clients, args.files_per_bill, run_id)
        progress("uploading %d x %d bytes through %d connections"
                 % (args.files, args.size_bytes, args.clients))
        up.run("load")
        rows += up.rows("load: ")
        t_up = time.monotonic()
        imgarc_cluster.wait_for(
            lambda: (lambda v: v is not None and v["under_replicated"] == 0)(
                bl.view(leader, timeout=30)), args.timeout, "under_replicated 0", interval=0.5)
        applied, _ = cluster.wait_converged(timeout=args.timeout)
        progress("3 nodes converged at index %d (%.1f s after the last upload)"
                 % (applied, time.monotonic() - t_up))
        index, image_no, n_in_bill = up.last_upload()
        rows.append(("last upload", "index %d, bill %s (%d files); applied index before "
                     "the join %d" % (index, image_no, n_in_bill, applied)))
        leader = cluster.leader()
        snaps = snapshot_lines([leader], r"snapshot taken")
        snap_before = len(snaps)
        if snaps:
            rows.append(("leader's last snapshot before the join",
                         snaps[-1][1].split(" raft ", 1)[-1]))
        before = {n.name: bl.metrics(n) for n in cluster.nodes}
        expected_share = args.files * min(args.replicas, 4) / 4.0

        # -- 3. the fourth node -------------------------------------------------
        progress("starting the 4th node with --join %s; load %s"
                 % (cluster.nodes[0].url, bl.loadavg()))
        t0 = time.monotonic()
        n4 = cluster.add(zone="default", wait=False)
        tl = Timeline(t0)
        seen = {}
        threads = [threading.Thread(target=poll_ready, args=(n4, tl, stop), daemon=True),
                   threading.Thread(target=poll_status,
                                    args=(n4, image_no, index, n_in_bill, tl, stop, seen),
                                    daemon=True)]
        for t in threads:
            t.start()
        watcher = cluster.nodes[0]
        addr = "127.0.0.1:%d" % n4.http_port
        last_count = None
        last_change = None
        last_print = 0
        deadline = t0 + args.timeout
        final = None
        old = cluster.nodes[:3]
        t_dropped = None
        dropped = 0
        while time.monotonic() < deadline:
            if not n4.alive():
                raise RuntimeError("the 4th node exited with status %s; log:\n%s"
                                   % (n4.proc.returncode, n4.log_tail(30)))
            now = time.monotonic()
            v = bl.view(watcher, timeout=10)
            rec = [n for n in v["nodes"] if n["http"] == addr] if v else []
            count = rec[0]["blob_count"] if rec else None
            if count is not None and count != last_count:
                if last_count is None or count > (last_count or 0):
                    last_change = now
                if count > 0:
                    tl.mark("(c0) first blob on the 4th node")
                last_count = count
            # Rebalance is complete when every copy the new node received has been
            # dropped by an old node (copy, record, drop): dropped == received.
            # (The owner drops: the new node itself when it scores best.)
            dropped = sum(bl.metrics(n, timeout=5).get("imgarc_holders_dropped_total", 0)
                          - before.get(n.name, {}).get("imgarc_holders_dropped_total", 0)
                          for n in cluster.nodes)
            if count and dropped >= count and t_dropped is None:
                t_dropped = now
            elif count and dropped < count:
                t_dropped = None
            if (count and v["under_replicated"] == 0 and last_change is not None and
                    tl.get("(a) member, /readyz 200") is not None):
                quiet = now - last_change
                if (quiet >= args.stable_s and t_dropped is not None) or quiet >= 60:
                    final = (last_change - t0, count, v, dropped,
                             (t_dropped - t0) if t_dropped is not None else None)
                    break
            if now - last_print >= 3:
                progress("after %.1f s: 4th node %s, blob_count %s (R/N share %.0f), "
                         "old copies dropped %d, under_replicated %s, load %s"
                         % (now - t0, ("role %s health %s" % (rec[0]["role"], rec[0]["health"]))
                            if rec else "not a member yet", count, expected_share, dropped,
                            v["under_replicated"] if v else "?", bl.loadavg()))
                last_print = now
            time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(15)
        if final is None:
            raise RuntimeError("the 4th node's blob count did not settle within %.0f s"
                               % args.timeout)
        t_c, count, v, dropped, t_drop = final
        after = {n.name: bl.metrics(n) for n in cluster.nodes}

        def d(name, nodes):
            return sum(after.get(n.name, {}).get(name, 0) -
                       before.get(n.name, {}).get(name, 0) for n in nodes)
        for what in ("(a) member, /readyz 200", "(b) status at the last upload's index"):
            at = tl.get(what)
            rows.append((what, "%.2f s" % at if at is not None else "never"))
        rows.append(("(c) blobs in place", "%.2f s (last growth; detected after %.0f s more "
                     "of no change); blob_count %d = %.1f%% of the files (R/N share %.0f)"
                     % (t_c, args.stable_s, count, 100.0 * count / args.files,
                        expected_share)))
        rows.append(("(c') old copies dropped", ("%.2f s (as many holders dropped as the "
                     "new node received: %d)" % (t_drop, dropped))
                     if t_drop is not None else "not complete (%d dropped of %d)"
                     % (dropped, count)))
        if tl.get("(c0) first blob on the 4th node") is not None:
            rows.append(("(c0) first blob on the 4th node",
                         "%.2f s" % tl.get("(c0) first blob on the 4th node")))
        rows.append(("rebalance rate", "%.0f blobs/s from the first blob to the last"
                     % (count / max(1e-3, t_c - tl.get("(c0) first blob on the 4th node")))
                     if tl.get("(c0) first blob on the 4th node") is not None else "?"))
        rows.append(("(b) other answers while waiting", json.dumps(seen) if seen else "none"))
        rows.append(("copies received by the 4th node", "%d (pushes failed on the old "
                     "nodes: %d; holders dropped: %d by the old nodes, %d by the new one)"
                     % (after.get(n4.name, {}).get("imgarc_replicas_received_total", 0),
                        d("imgarc_replica_pushes_failed_total", old),
                        d("imgarc_holders_dropped_total", old),
                        d("imgarc_holders_dropped_total", [n4]))))
        rows.append(("roles now", ", ".join("%s %s/%s blobs %s" % (
            "n%d" % (1 + [bl.node_id(x) for x in cluster.nodes].index(n["id"]))
            if n["id"] in [bl.node_id(x) for x in cluster.nodes] else n["id"],
            n["role"], n["health"], n["blob_count"]) for n in v["nodes"])))

        # Snapshot sizes from the logs: the new node's "restored snapshot at
        # applied_index=X" and the "snapshot taken: applied_index=X bytes=B" of the node
        # that sent it (the leader took it).
        taken = snapshot_lines([leader], r"snapshot taken")[snap_before:]
        restored = snapshot_lines([n4], r"^\S+Z \w+ (?!config)\S+ .*snapshot")
        if taken:
            rows.append(("leader snapshots during the join", "%d; last: %s"
                         % (len(taken), taken[-1][1].split(" raft ", 1)[-1])))
        if restored:
            rows.append(("4th node's log on snapshots",
                         " | ".join(line.split("Z ", 1)[-1] for _, line in restored[:4])))
            m = re.search(r"restored snapshot at applied_index=(\d+)", restored[0][1])
            if m:
                src = [line for _, line in snapshot_lines(
                    old, r"snapshot taken: applied_index=%s " % m.group(1))]
                if src:
                    b = re.search(r"bytes=(\d+)", src[0])
                    rows.append(("snapshot sent to the 4th node", "%.1f MB (%s)"
                                 % (int(b.group(1)) / 1e6, src[0].split(" raft ", 1)[-1])))
        else:
            rows.append(("4th node's log on snapshots", "nothing logged (no snapshot "
                         "installed: it caught up from the log)"))
        rss = {n.name.rsplit("-", 1)[-1]: bl.proc_rss_peak(n.pid) for n in cluster.nodes}
        rows.append(("peak RSS (VmHWM)", ", ".join("%s %.0f MiB" % (k, (val or 0) / 2**20)
                                                  for k, val in rss.items())))
        rows.append(("load average at end", bl.loadavg()))
        ok = True
    finally:
        stop.set()
        bl.finish("join_bench", ok, rows, cluster, args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
