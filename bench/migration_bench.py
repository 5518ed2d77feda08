#!/usr/bin/env python3
"""migration_bench.py: how fast a batch moves bills in from another imgarc archive,
against the capture path's own figures, and what it costs captures meanwhile.

What it does
  1. Starts two imgarcd nodes on loopback (tests/integration/imgarc_node.py): the
     source and the target (the target with --migrate-lanes and, when given,
     --migrate-bytes-per-s).
  2. Seeds the source with --files files of --size bytes (every file distinct), --per-bill
     files per bill, through imgarc-bench's upload phase (16 keep-alive clients).
  3. The capture path's figure: imgarc-bench uploads --capture-files files of the same
     size into the target (16 clients): files/s and MB/s.
  4. Capture latency, idle: imgarc-bench with 1 client uploads into the target for
     --probe-s seconds (p50, p99).
  5. The migration: a client at the source, a data source and a batch at the target,
     started; while it runs, the same 1-client probe runs again (p50, p99 during the
     migration). The batch is polled until done: files/s and MB/s of the whole batch
     (listing, pre-check and moving), and of the moving phase alone.
  6. Prints a summary: the ratios migration / capture (files/s) and the probe's
     latency during / idle; then stops both nodes by pid and removes the data dirs
     (unless --keep).

Run (from the repository root; binaries in build/):
    python3 bench/migration_bench.py                         # 100k x 4 KiB
    python3 bench/migration_bench.py --files 5000            # a quick check
    python3 bench/migration_bench.py --migrate-bytes-per-s 20000000
Nothing else should run on the machine: both nodes, the client and the disk share it.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

import benchlib as bl
from benchlib import progress

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, default=100000, help="files at the source [%(default)s]")
    p.add_argument("--size", default="4K", help="bytes per file (K, M) [%(default)s]")
    p.add_argument("--per-bill", type=int, default=10, help="files per bill [%(default)s]")
    p.add_argument("--capture-files", type=int, default=20000,
                   help="files of the capture figure [%(default)s]")
    p.add_argument("--probe-s", type=float, default=10.0,
                   help="seconds of each 1-client capture probe [%(default)s]")
    p.add_argument("--lanes", type=int, default=4, help="--migrate-lanes [%(default)s]")
    p.add_argument("--migrate-bytes-per-s", type=int, default=0,
                   help="--migrate-bytes-per-s of the target (0: none) [%(default)s]")
    p.add_argument("--timeout", type=float, default=3600, help="seconds [%(default)s]")
    bl.add_common_args(p, "/tmp/imgarc-bench")
    a = p.parse_args()
    a.size_bytes = bl.parse_size(a.size)
    return a


def bench_tool(args, node, extra):
    """Runs imgarc-bench against @node; returns its JSON line of the upload phase."""
    cmd = [os.path.join(args.build, "imgarc-bench"), "--server", node.url, "--token",
           node.token, "--pid", str(node.pid), "--phases", "upload", "--json"] + extra
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    for line in out.stdout.splitlines():
        if line.startswith("{") and json.loads(line).get("phase") == "upload":
            return json.loads(line)
    raise RuntimeError("imgarc-bench gave no upload figures: %s %s" % (out.stdout[-2000:],
                                                                      out.stderr[-2000:]))


def parse_time(t):
    """Seconds since the epoch of an RFC 3339 UTC time with optional fraction."""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", t)
    if not m:
        raise ValueError("not an RFC 3339 UTC time: %r" % t)
    import calendar
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return secs + (float(m.group(7)) if m.group(7) else 0.0)


def call(node, method, path, body=None):
    r = node.request(method, path, body=json.dumps(body).encode() if body is not None
                     else (b"" if method == "POST" else None),
                     headers={"Content-Type": "application/json"}, timeout=60)
    if r.status >= 300:
        raise RuntimeError("%s %s: %d %s" % (method, path, r.status, r.body[:300]))
    return r.json


def main():
    args = parse_args()
    _, imgarc_node = bl.setup_env(args)
    rows = [("machine", "%d cores, load average at start %s" % (os.cpu_count(), bl.loadavg())),
            ("files at the source", "%d x %d bytes, %d per bill" % (args.files, args.size_bytes,
                                                                   args.per_bill))]
    target_args = ["--migrate-lanes", str(args.lanes)] + args.node_arg
    if args.migrate_bytes_per_s:
        target_args += ["--migrate-bytes-per-s", str(args.migrate_bytes_per_s)]
    src = imgarc_node.Node("mig-bench-src", args=args.node_arg)
    dst = imgarc_node.Node("mig-bench-dst", args=target_args)
    ok = False
    try:
        src.start()
        dst.start()
        progress("source %s (pid %d), target %s (pid %d, %s)" % (src.url, src.pid, dst.url,
                                                                 dst.pid, " ".join(target_args)))
        # -- 2. the source -------------------------------------------------------
        progress("seeding the source: %d files" % args.files)
        seed = bench_tool(args, src, ["--files", str(args.files), "--size", args.size,
                                      "--bills", str(max(1, args.files // args.per_bill)),
                                      "--clients", "16"])
        if seed["errors"]:
            raise RuntimeError("seeding failed: %r" % seed)
        rows.append(("seed (source capture)", "%.0f files/s" % seed["ops_per_s"]))
        # -- 3. the capture path -------------------------------------------------
        progress("capture figure: %d files into the target" % args.capture_files)
        cap = bench_tool(args, dst, ["--files", str(args.capture_files), "--size", args.size,
                                     "--clients", "16"])
        cap_mb = cap["ops_per_s"] * args.size_bytes / 1e6
        rows.append(("capture into the target, 16 clients", "%.0f files/s, %.1f MB/s, p99 %.1f ms"
                     % (cap["ops_per_s"], cap_mb, cap["latency_ms"]["p99"])))
        # -- 4. idle probe -------------------------------------------------------
        idle = bench_tool(args, dst, ["--clients", "1", "--duration", str(args.probe_s),
                                      "--size", args.size])
        rows.append(("capture probe, 1 client, idle", "p50 %.2f ms, p99 %.2f ms, %.0f files/s"
                     % (idle["latency_ms"]["p50"], idle["latency_ms"]["p99"], idle["ops_per_s"])))
        # -- 5. the migration ----------------------------------------------------
        c = call(src, "POST", "/api/v1/clients", {"tenant": "default", "name": "bench"})
        call(dst, "POST", "/api/v1/datasources", {
            "name": "bench-src", "kind": "imgarc", "url": src.url, "tenant": "default",
            "client_id": c["client_id"], "client_secret": c["client_secret"]})
        call(dst, "POST", "/api/v1/migrations", {"batch_no": "BENCH", "datasource": "bench-src"})
        t0 = time.monotonic()
        call(dst, "POST", "/api/v1/migrations/BENCH/start")
        progress("migration started; probing captures meanwhile")
        during = bench_tool(args, dst, ["--clients", "1", "--duration", str(args.probe_s),
                                        "--size", args.size])
        last = None
        while time.monotonic() - t0 < args.timeout:
            b = call(dst, "GET", "/api/v1/migrations/BENCH")
            if b["state"] in ("done", "failed"):
                break
            if last is None or time.monotonic() - last > 10:
                progress("%s %s: %d of %d bills, %d files moved" % (
                    b["state"], b["phase"], b["counts"]["migrated"], b["counts"]["bills"],
                    b["counts"]["files_moved"]))
                last = time.monotonic()
            time.sleep(0.5)
        if b["state"] != "done":
            raise RuntimeError("the batch ended %s: %r" % (b["state"], b))
        files = b["counts"]["files_moved"]
        # The batch's own log says when each phase ended (times in ms).
        log, after = [], None
        while True:
            page = call(dst, "GET", "/api/v1/migrations/BENCH/log?limit=1000" +
                        ("&after=%s" % after if after else ""))
            log += [e for e in page["entries"] if e["action"] != "migrated"]
            after = page.get("next_after")
            if not after:
                break
        when = {}
        for e in log:
            if e["action"] == "listed" and not (e.get("detail") or {}).get("complete"):
                continue
            when.setdefault(e["action"], parse_time(e["time"]))
        total_s = when["done"] - when["started"]
        move_s = when["done"] - when["checked"]
        rows.append(("phases", "listing %.1f s, pre-check %.1f s, moving %.1f s" % (
            when["listed"] - when["started"] if "listed" in when else 0,
            when["checked"] - when.get("listed", when["started"]), move_s)))
        mig_fps = files / total_s
        mig_mb = files * args.size_bytes / 1e6 / total_s
        rows.append(("migration, whole batch", "%d bills, %d files in %.1f s: %.0f files/s, "
                     "%.1f MB/s" % (b["counts"]["bills"], files, total_s, mig_fps, mig_mb)))
        rows.append(("migration, moving phase", "%.1f s: %.0f files/s"
                     % (move_s, files / move_s if move_s > 0 else 0)))
        rows.append(("capture probe, 1 client, during", "p50 %.2f ms, p99 %.2f ms, %.0f files/s"
                     % (during["latency_ms"]["p50"], during["latency_ms"]["p99"], during["ops_per_s"])))
        rows.append(("ratio migration / capture (files/s)", "%.2f" % (mig_fps / cap["ops_per_s"])))
        rows.append(("ratio probe p50 during / idle", "%.2f" % (during["latency_ms"]["p50"] / idle["latency_ms"]["p50"])))
        rows.append(("ratio probe p99 during / idle", "%.2f" % (during["latency_ms"]["p99"] / idle["latency_ms"]["p99"])))
        usage = call(dst, "GET", "/api/v1/tenants/default/usage")
        rows.append(("target usage", "%d bills, %d files" % (usage["bills"], usage["files"])))
        rows.append(("load average at end", bl.loadavg()))
        ok = True
    finally:
        bl.summary("migration bench%s" % ("" if ok else " (FAILED)"), rows)
        for n in (src, dst):
            n.stop() if n.alive() else None
            if not args.keep:
                n.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
