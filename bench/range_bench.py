#!/usr/bin/env python3
"""What verifying range reads costs (issue 17): one node, one blob of --mb MiB, range
reads timed with range verification on (--verify-reads true, the default: each 256 KiB
chunk checked against the blob's chunk list) and off (--verify-reads false: the
unverified read path ranges had before). Reports, per mode: large ranges (the whole
blob but a byte at each end) in MB/s and the node's CPU seconds per GiB served, small
ranges (4 KiB at random offsets, one keep-alive connection) in microseconds each (wall
and the node's CPU), and,
verified, the first range read of a blob whose chunk list is missing (the lazy upgrade
of a blob from an older version). The machine's load is printed: on a shared machine
compare CPU per GiB rather than wall time.

    python3 bench/range_bench.py [--build build] [--mb 64] [--rounds 3]
"""

import argparse
import http.client
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def get(conn, node, fid, rng):
    conn.request("GET", "/api/v1/files/%s/content" % fid,
                 headers=dict(node.auth_headers(), Range=rng))
    r = conn.getresponse()
    body = r.read()
    if r.status != 206:
        raise SystemExit("Range %s: HTTP %d %r" % (rng, r.status, body[:200]))
    return body


def run(mod, args, verify, data):
    node = mod.Node("rb-%s" % ("on" if verify else "off"),
                    args=["--verify-reads", "true" if verify else "false",
                          "--scrub-bytes-per-s", "0"])
    node.start()
    try:
        up = node.upload("RB-1", data, name="big.bin")
        assert up.status == 201, up
        fid, h = up.json["file_id"], up.json["blob"]
        conn = http.client.HTTPConnection(node.host, node.http_port, timeout=120)
        size = len(data)
        out = {}
        if verify:
            os.unlink(os.path.join(node.data, "chunks", h[:2], h[2:4], h))
            t = time.monotonic()
            get(conn, node, fid, "bytes=0-4095")
            out["rebuild_ms"] = (time.monotonic() - t) * 1000
        get(conn, node, fid, "bytes=1-%d" % (size - 2))  # warm the page cache
        c0, t0 = cpu_s(node.pid), time.monotonic()
        for _ in range(args.rounds):
            body = get(conn, node, fid, "bytes=1-%d" % (size - 2))
            assert len(body) == size - 2
        wall = time.monotonic() - t0
        cpu = cpu_s(node.pid) - c0
        served = args.rounds * (size - 2)
        out["large_mb_s"] = served / wall / 1e6
        out["large_cpu_s_per_gib"] = cpu / (served / 2**30)
        rnd = random.Random(7)
        n = args.small
        c0, t0 = cpu_s(node.pid), time.monotonic()
        for _ in range(n):
            a = rnd.randrange(0, size - 4096)
            get(conn, node, fid, "bytes=%d-%d" % (a, a + 4095))
        out["small_us"] = (time.monotonic() - t0) / n * 1e6
        out["small_cpu_us"] = (cpu_s(node.pid) - c0) / n * 1e6
        conn.close()
        return out
    finally:
        node.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    benchlib.add_common_args(p, "/tmp/imgarc-range-bench")
    p.add_argument("--mb", type=int, default=64)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--small", type=int, default=500)
    args = p.parse_args()
    _, mod = benchlib.setup_env(args)
    data = os.urandom(args.mb << 20)
    print("blob %d MiB, %d large ranges, %d small ranges per mode; load %s"
          % (args.mb, args.rounds, args.small, benchlib.loadavg()))
    for verify in (False, True, False, True):
        r = run(mod, args, verify, data)
        print("verify-reads %-5s  large: %7.1f MB/s, %5.2f CPU s/GiB;  4 KiB: %5.0f us, "
              "%4.0f us CPU%s"
              % ("true" if verify else "false", r["large_mb_s"], r["large_cpu_s_per_gib"],
                 r["small_us"], r["small_cpu_us"], "; first read without a chunk list: %.0f ms" % r["rebuild_ms"]
                 if verify else ""))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
