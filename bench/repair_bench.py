#!/usr/bin/env python3
"""repair_bench.py: how fast a 4-node imgarc cluster re-creates the copies of a node it lost.

What it does
  1. Measures the disk: a sequential 1 GiB write in 1 MiB blocks + fsync (like
     `dd bs=1M count=1024 conv=fdatasync`) in --dir, the parent of the data dirs.
  2. Starts 4 imgarcd nodes (tests/cluster/imgarc_cluster.py: node 1 bootstraps, the
     others --join; fast raft timings 1500/150 ms) with --replicas 3 --write-quorum 2
     --repair-after-ms 2000 (and --repair-bytes-per-s when given).
  3. Uploads --files files of --size bytes (every file distinct), --clients keep-alive
     connections spread over the 4 nodes, waits until under_replicated is 0, then
     until every blob record has exactly --replicas live holders (a capture taken by a
     node outside the blob's placement is moved by the keeper afterwards).
  4. Reads, from GET /api/v1/cluster/blobs/<hash> of every uploaded blob, which blobs
     the victim is a live holder of (E blobs: the copies repair has to make), then
     kill -9 one node (--victim: a voting follower by default) and measures, polling
     GET /api/v1/cluster on the leader and /metrics on every survivor (~0.3 s):
       - time until the victim's "storage" is "out" in the cluster view,
       - when the under_replicated gauge is first > 0 (view or any survivor),
       - when all E copies are made (imgarc_repair_copies_total summed over survivors
         rose by E) and when the victim is dropped as a holder of all of them
         (imgarc_holders_dropped_total rose by E),
       - time until under_replicated is 0 again (on the view and on every survivor),
       - bytes repaired: the rise of imgarc_repair_bytes_total summed over survivors,
       - repair throughput: bytes repaired / (time of 0 - time of out), in MB/s
         (1 MB = 10^6 bytes, as dd prints), and its ratio to the disk's MB/s; and the
         copy throughput: bytes repaired / (time of the last copy - time of out).
     Afterwards it checks that each of the E blobs has --replicas live holders.
  5. Prints a summary block on stdout (progress goes to stderr), the WARN/ERROR lines of
     the node logs, then stops every node it started by pid and removes the data dirs
     (unless --keep), whatever happened.

Run (from the repository root; binaries in build/):
    python3 bench/repair_bench.py                       # 2000 x 1 MiB
    python3 bench/repair_bench.py --files 200           # a quick check
    python3 bench/repair_bench.py --repair-bytes-per-s 50000000
Nothing else should run on the machine; the load average is printed at start and end.

What bounds the figures
  - All 4 nodes, the client and the disk bench share the machine (2 cores, one virtual
    disk here). Every repaired copy is written once on the receiver and made durable
    (fdatasync + rename + syncfs) exactly like a capture, and read on the sender (from
    the page cache when the data fits in RAM), so the disk's sequential write rate is the
    ceiling: with 3 survivors receiving in parallel the ratio repair/disk can approach
    but not pass 1.
  - Repair is one HTTP request per blob (PUT /internal/v1/blobs/<hash>), at most
    --push-threads (8) at once per owner, and it begins only when the victim is marked
    out: --repair-after-ms (2 s here) + the leader's one-second role/storage tick + the
    owner's next keeper pass (within about a second of the change).
  - --repair-bytes-per-s caps each node's repair bandwidth (split over its pushers).
  - The time to "out" is bounded below by --repair-after-ms (+ up to the leader's 1 s
    tick).
  - under_replicated is the count a node's last *finished* keeper pass found, stored at
    the end of the pass (replication/keeper.c pass_run), and a pass makes its repair
    copies before it ends. So the gauge stays 0 while the first repair pass copies,
    then shows the pre-repair count once the copies are made, until the next pass,
    which waits 5x the last pass's duration (at most 30 s). Dropping the out holder
    happens in that next pass too. "time to under_replicated 0" is therefore
    copy time + about min(30 s, 5 x copy time); "all copies made" is the data-moving
    figure.
  - With --zones same (the default) placement is plain rendezvous hashing: each node holds
    about 3/4 of the blobs and the victim's share is re-made on the 3 survivors. With
    --zones abc (the test helper's layout, node 4 shares zone-a with node 1) or distinct,
    the zone rule changes which and how many copies move.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from benchlib import MIB, progress  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=2000, help="files to upload [%(default)s]")
    p.add_argument("--size", default="1M", help="bytes per file, K/M/G = 1024^n [%(default)s]")
    p.add_argument("--clients", type=int, default=8,
                   help="parallel upload connections, spread over the nodes [%(default)s]")
    p.add_argument("--files-per-bill", type=int, default=20, help="[%(default)s]")
    p.add_argument("--nodes", type=int, default=4, help="[%(default)s]")
    p.add_argument("--replicas", type=int, default=3, help="[%(default)s]")
    p.add_argument("--write-quorum", type=int, default=2, help="[%(default)s]")
    p.add_argument("--repair-after-ms", type=int, default=2000, help="[%(default)s]")
    p.add_argument("--repair-bytes-per-s", type=int, default=None,
                   help="passed to every node (default: the node's, 0 = no limit)")
    p.add_argument("--zones", choices=["same", "distinct", "abc"], default="same",
                   help="same: every node in zone 'default'; distinct: one zone each; "
                        "abc: zone-a, zone-b, zone-c, zone-a, ... [%(default)s]")
    p.add_argument("--victim", choices=["follower", "standby", "leader"], default="follower",
                   help="which node is killed: a voting follower, the standby (non-voter), "
                        "or the leader [%(default)s]")
    p.add_argument("--disk-bench-mib", type=int, default=1024,
                   help="MiB written by the disk bench (0: skip) [%(default)s]")
    p.add_argument("--timeout", type=float, default=1800,
                   help="seconds to wait for each phase [%(default)s]")
    bl.add_common_args(p, "/tmp/imgarc-bench")
    a = p.parse_args()
    a.size_bytes = bl.parse_size(a.size)
    return a


def blob_live_holders(node, blob):
    """The live holders (node ids) of @blob, from GET /api/v1/cluster/blobs/<hash>."""
    r = node.get("/api/v1/cluster/blobs/" + blob, timeout=30)
    if r.status != 200:
        raise RuntimeError("GET /api/v1/cluster/blobs/%s: %r" % (blob, r))
    return set(r.json["live_holders"])


def main():
    args = parse_args()
    imgarc_cluster, imgarc_node = bl.setup_env(args)
    rows = [("machine", "%d cores, load average at start %s" % (os.cpu_count(), bl.loadavg())),
            ("data dirs under", os.path.abspath(args.dir))]
    progress("load average %s" % bl.loadavg())

    # -- 1. the disk ------------------------------------------------------------
    disk_mbs = None
    if args.disk_bench_mib > 0:
        progress("disk bench: writing %d MiB + fsync in %s" % (args.disk_bench_mib, args.dir))
        disk_mbs, secs, sync_s = bl.disk_write_bench(args.dir, args.disk_bench_mib * MIB)
        progress("disk bench: %.0f MB/s (%.1f s, of which fsync %.1f s)"
                 % (disk_mbs, secs, sync_s))
        rows.append(("disk sequential write", "%.0f MB/s (%d MiB in 1 MiB writes + fsync: "
                     "%.1f s, fsync %.1f s)" % (disk_mbs, args.disk_bench_mib, secs, sync_s)))

    extra = ["--replicas", str(args.replicas), "--write-quorum", str(args.write_quorum),
             "--repair-after-ms", str(args.repair_after_ms)]
    if args.repair_bytes_per_s is not None:
        extra += ["--repair-bytes-per-s", str(args.repair_bytes_per_s)]
    extra += args.node_arg
    cluster = imgarc_cluster.Cluster("repair-bench", extra_args=extra)
    ok = False
    try:
        # -- 2. the cluster -----------------------------------------------------
        for k in range(1, args.nodes + 1):
            zone = {"same": "default", "distinct": "z%d" % k,
                    "abc": "zone-%s" % "abc"[(k - 1) % 3]}[args.zones]
            cluster.add(zone=zone)
            progress("node %d started (pid %d, %s, zone %s)"
                     % (k, cluster.nodes[-1].pid, cluster.nodes[-1].url, zone))
        leader = cluster.leader()

        def all_active(v):
            return (v is not None and len(v["nodes"]) == args.nodes and
                    all(n["storage"] == "active" and n["health"] == "ok" for n in v["nodes"]))
        imgarc_cluster.wait_for(lambda: all_active(bl.view(leader)), 120,
                                "%d active members" % args.nodes, interval=0.2)
        progress("cluster of %d formed; leader %s; extra args %s"
                 % (args.nodes, leader.name, " ".join(extra)))

        # -- 3. the content -----------------------------------------------------
        run_id = os.urandom(4).hex()
        up = bl.Uploader(cluster.nodes, leader.token, args.files, args.size_bytes,
                         args.clients, args.files_per_bill, run_id)
        progress("uploading %d x %d bytes through %d connections"
                 % (args.files, args.size_bytes, args.clients))
        up.run()
        rows += up.rows()
        t_up = time.monotonic()
        v = imgarc_cluster.wait_for(
            lambda: (lambda v: v if v is not None and v["under_replicated"] == 0 else None)(
                bl.view(leader)), args.timeout, "under_replicated 0 after the upload",
            interval=0.25)
        rows.append(("fully replicated after upload", "%.1f s after the last answer"
                     % (time.monotonic() - t_up)))
        # Captures land on the node that took them plus the first ranks; the keeper
        # then moves copies that sit outside placement (counted as repair bytes too)
        # and drops the extra holder in a later pass (up to 30 s later). Wait until
        # every blob record has exactly --replicas live holders, so the kill starts
        # from a settled cluster.
        blobs = [b for (_, _, b) in up.results.values() if b]
        t_q = time.monotonic()
        while True:
            counts = {}
            for b in blobs:
                n_live = len(blob_live_holders(leader, b))
                counts[n_live] = counts.get(n_live, 0) + 1
            if set(counts) == {args.replicas}:
                break
            if time.monotonic() - t_q > args.timeout:
                raise RuntimeError("blob records did not settle: live holder counts %r"
                                   % counts)
            progress("waiting for the post-capture rebalance: blobs by live holders %r"
                     % counts)
            time.sleep(2)
        moved = sum(bl.metrics(n).get("imgarc_repair_bytes_total", 0) for n in cluster.nodes)
        rows.append(("post-capture rebalance", "%.1f MB moved by the keeper after captures "
                     "(placement); every blob at %d live holders %.1f s after the last answer"
                     % (moved / 1e6, args.replicas, time.monotonic() - t_up)))
        cluster.wait_converged()
        v = bl.view(leader)
        for n in v["nodes"]:
            progress("  node %s: role %s storage %s blobs %s (%.1f MB)"
                     % (n["id"], n["role"], n["storage"], n["blob_count"],
                        (n["blob_bytes"] or 0) / 1e6))

        # -- 4. the victim ------------------------------------------------------
        leader = cluster.leader()
        leader_id = bl.node_id(leader)
        roles = {n["id"]: n["role"] for n in v["nodes"]}
        by_id = {bl.node_id(n): n for n in cluster.nodes}
        if args.victim == "leader":
            victim_id = leader_id
        else:
            want = "voter" if args.victim == "follower" else "standby"
            cands = [i for i, r in roles.items() if r == want and i != leader_id]
            if not cands:
                raise RuntimeError("no %s to kill: roles %r" % (args.victim, roles))
            victim_id = cands[0]
        victim = by_id[victim_id]
        victim_rec = [n for n in v["nodes"] if n["id"] == victim_id][0]
        survivors = [n for n in cluster.nodes if n is not victim]
        watcher = leader if victim is not leader else survivors[0]
        # Which blobs the victim is a live holder of (the copies repair must make),
        # from the blob records: ground truth independent of the gauge.
        held = [b for b in blobs if victim_id in blob_live_holders(watcher, b)]
        expected = len(held)
        expected_bytes = expected * args.size_bytes
        before = {n.name: bl.metrics(n) for n in survivors}
        total_blobs = len(up.results)
        progress("killing %s (id %s, %s; live holder of %d of %d blobs, %d blob files, "
                 "%.1f MB) with SIGKILL; watching on %s"
                 % (victim.name, victim_id, roles[victim_id], expected, total_blobs,
                    victim_rec["blob_count"], victim_rec["blob_bytes"] / 1e6, watcher.name))
        rows.append(("victim", "%s (%s): live holder of %d of %d blobs (%.1f MB to repair); "
                     "%d blob files on its disk"
                     % (victim.name, roles[victim_id], expected, total_blobs,
                        expected_bytes / 1e6, victim_rec["blob_count"])))

        def survivors_sum(ms, name):
            return sum(ms[n.name].get(name, 0) - before[n.name].get(name, 0)
                       for n in survivors)

        t_kill = time.monotonic()
        victim.kill9()
        t = {}  # milestone -> monotonic time
        max_ur = 0
        cpu0 = io0 = None
        last_print = 0
        leader_changed_to = None
        deadline = t_kill + args.timeout
        ur = None
        last_state, last_move, stalled = None, t_kill, False
        while time.monotonic() < deadline:
            now = time.monotonic()
            v = bl.view(watcher, timeout=5)
            ms = {n.name: bl.metrics(n, timeout=5) for n in survivors}
            if v is None or any(not m for m in ms.values()):
                time.sleep(0.2)
                continue
            if v.get("leader") not in (None, leader_id) and leader_changed_to is None:
                leader_changed_to = v["leader"]
                progress("leader is now %s (%.1f s after the kill)" % (v["leader"], now - t_kill))
            rec = [n for n in v["nodes"] if n["id"] == victim_id]
            # The gauge: the cluster view's count and every survivor's own.
            ur = max([v["under_replicated"]] +
                     [m.get("imgarc_blobs_under_replicated", 0) for m in ms.values()])
            max_ur = max(max_ur, ur)
            copies = survivors_sum(ms, "imgarc_repair_copies_total")
            dropped = survivors_sum(ms, "imgarc_holders_dropped_total")
            rep = survivors_sum(ms, "imgarc_repair_bytes_total")
            if "out" not in t and rec and rec[0]["storage"] == "out":
                t["out"] = now
                cpu0 = {n.name: bl.proc_cpu_s(n.pid) for n in survivors}
                io0 = {n.name: bl.proc_io(n.pid) for n in survivors}
                progress("victim marked out %.2f s after the kill (under_replicated %d)"
                         % (now - t_kill, ur))
            if ur > 0 and "gauge>0" not in t:
                t["gauge>0"] = now
                progress("under_replicated %d first seen %.2f s after the kill (repaired so "
                         "far: %d copies, %.1f MB)" % (ur, now - t_kill, copies, rep / 1e6))
            if copies >= expected and "copies" not in t:
                t["copies"] = now
                progress("all %d copies made %.2f s after the kill" % (expected, now - t_kill))
            if dropped >= expected and "copies" in t and "dropped" not in t:
                t["dropped"] = now
                progress("the victim dropped as a holder of all %d blobs %.2f s after the kill"
                         % (expected, now - t_kill))
            if ("gauge>0" in t or "dropped" in t) and ur == 0 and "gauge0" not in t \
                    and "out" in t:
                t["gauge0"] = now
                progress("under_replicated 0 again %.2f s after the kill" % (now - t_kill))
            if all(k in t for k in ("out", "copies", "dropped", "gauge0")):
                break
            state = (copies, dropped, ur)
            if state != last_state:
                last_state, last_move = state, now
            elif "out" in t and now - last_move > 90:
                progress("nothing changed for 90 s: stopping the watch (milestones %r)"
                         % sorted(t))
                stalled = True
                break
            if now - last_print >= 2:
                progress("after %.1f s: victim storage %s, under_replicated %d, repaired %d "
                         "copies %.1f MB, dropped %d, load %s"
                         % (now - t_kill, rec[0]["storage"] if rec else "?", ur, copies,
                            rep / 1e6, dropped, bl.loadavg()))
                last_print = now
            time.sleep(0.25)
        else:
            raise RuntimeError("repair did not finish within %.0f s (milestones %r)"
                               % (args.timeout, sorted(t)))
        cpu1 = {n.name: bl.proc_cpu_s(n.pid) for n in survivors}
        io1 = {n.name: bl.proc_io(n.pid) for n in survivors}
        time.sleep(0.5)  # counters of the last pushes
        after = {n.name: bl.metrics(n) for n in survivors}
        # Check the outcome in the records: every blob the victim held has R live holders.
        short = [b for b in held if len(blob_live_holders(watcher, b)) < args.replicas]

        def delta(name):
            return sum(after[n.name].get(name, 0) - before[n.name].get(name, 0)
                       for n in survivors)
        rbytes = delta("imgarc_repair_bytes_total")
        rcopies = delta("imgarc_repair_copies_total")
        rfailed = delta("imgarc_repair_failed_total")
        pushes_failed = delta("imgarc_replica_pushes_failed_total")
        dropped = delta("imgarc_holders_dropped_total")
        lost = max(after[n.name].get("imgarc_blobs_lost", 0) for n in survivors)
        if stalled:
            rows.append(("WARNING", "the repair stalled: milestones reached %r" % sorted(t)))
        t_out = t["out"]
        t_done = t.get("gauge0", time.monotonic())
        repair_s = t_done - t_out
        copy_s = t.get("copies", t_done) - t_out
        mbs = rbytes / repair_s / 1e6 if repair_s > 0 else float("nan")
        copy_mbs = rbytes / copy_s / 1e6 if copy_s > 0 else float("nan")

        def at(k):
            return "%.2f s" % (t[k] - t_kill) if k in t else "never"
        rows += [
            ("time to out", "%.2f s after kill -9 (--repair-after-ms %d)"
             % (t_out - t_kill, args.repair_after_ms)),
            ("under_replicated > 0 first seen", "%s after the kill (peak %d)"
             % (at("gauge>0"), max_ur)),
            ("all copies made", "%s after the kill, %.2f s after out (repair_copies_total "
             "reached %d; polled every ~0.3 s)" % (at("copies"), copy_s, expected)),
            ("victim dropped as holder", "%s after the kill" % at("dropped")),
            ("time to under_replicated 0", "%.2f s after the kill, %.2f s after out"
             % (t_done - t_kill, repair_s)),
            ("bytes repaired", "%.1f MB in %d copies (expected %.1f MB, %d; %d repair "
             "failures, %d failed pushes, %d holders dropped, lost %d)"
             % (rbytes / 1e6, rcopies, expected_bytes / 1e6, expected, rfailed, pushes_failed,
                dropped, lost)),
            ("records after repair", "%d of the %d blobs have fewer than %d live holders"
             % (len(short), expected, args.replicas)),
            ("repair throughput", "%.1f MB/s (bytes repaired / time from out to "
             "under_replicated 0)" % mbs),
            ("copy throughput", "%.1f MB/s (bytes repaired / time from out to the last copy)"
             % copy_mbs),
            ("repair throughput from kill", "%.1f MB/s (bytes repaired / time from kill to 0)"
             % (rbytes / (t_done - t_kill) / 1e6)),
        ]
        if disk_mbs:
            rows.append(("repair / disk", "%.2f (%.1f / %.0f MB/s); copy / disk %.2f"
                         % (mbs / disk_mbs, mbs, disk_mbs, copy_mbs / disk_mbs)))
        if args.repair_bytes_per_s is not None:
            rows.append(("--repair-bytes-per-s", "%d per node" % args.repair_bytes_per_s))
        cpu = []
        for n in survivors:
            c0, c1 = (cpu0 or {}).get(n.name), cpu1.get(n.name)
            w0 = (io0 or {}).get(n.name, {}).get("write_bytes")
            w1 = io1.get(n.name, {}).get("write_bytes")
            cpu.append("%s %.2f cores%s" % (
                n.name.rsplit("-", 1)[-1],
                (c1 - c0) / repair_s if c0 is not None and c1 is not None else float("nan"),
                ", wrote %.0f MB" % ((w1 - w0) / 1e6) if w0 is not None and w1 is not None
                else ""))
        rows.append(("survivors, out to 0", "; ".join(cpu)))
        passes = ["%s last pass %.1f s" % (n.name.rsplit("-", 1)[-1],
                                          after[n.name].get("imgarc_keeper_last_pass_seconds",
                                                            float("nan")))
                  for n in survivors]
        rows.append(("keeper", "; ".join(passes)))
        if leader_changed_to is not None:
            rows.append(("leader after the kill", str(leader_changed_to)))
        rows.append(("load average at end", bl.loadavg()))
        ok = True
    finally:
        bl.finish("repair_bench", ok, rows, cluster, args.keep)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
