#!/usr/bin/env python3
"""The cost of TLS on the HTTP port (docs/tls.md): captures and whole-file reads of one
node over https against the same over plain http, measured side by side.

Two single nodes run at once on this machine with the same flags, one with
--tls-cert/--tls-key (a P-256 certificate from a throw-away CA made with openssl), one
without. Rounds alternate plain, TLS, plain, TLS... (interleaved, so a noisy neighbour
hits both); each round runs imgarc-bench's curl engine (the raw engine has no TLS, so
both sides use curl: the figures are comparable with each other, not with the raw
engine's in docs/performance.md) for --duration seconds of uploads of --size bytes,
then of whole-file reads of them. It prints each round's rates and node CPU per
operation, then medians and the ratios TLS/plain.

    python3 bench/tls_bench.py                  # 3 rounds of 10 s, 16 clients, 200 KB
    python3 bench/tls_bench.py --rounds 5 --duration 15
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import benchlib
from benchlib import progress


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(p, os.path.join(tempfile.gettempdir(), "imgarc-tls-bench"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--size", default="200K")
    args = p.parse_args()
    _, node_mod = benchlib.setup_env(args)
    sys.path.insert(0, os.path.join(benchlib.ROOT, "tests", "integration"))
    from tls_certs import TestCA  # noqa: E402

    bench = os.path.join(os.path.abspath(args.build), "imgarc-bench")
    ca = TestCA(os.path.join(args.dir, "ca"))
    cert, key = ca.issue("node", "bench-node")
    base = ["--sync-blobs", "true"] + args.node_arg
    plain = node_mod.Node("plain", args=base)
    tls = node_mod.Node("tls", args=base + ["--tls-cert", cert, "--tls-key", key],
                        ssl_context=ca.context(), cacert=ca.cert)
    rows = {"plain": {"upload": [], "read": []}, "tls": {"upload": [], "read": []}}
    try:
        for n in (plain, tls):
            n.start()
        for rnd in range(args.rounds):
            for label, node in (("plain", plain), ("tls", tls)):
                cmd = [bench, "--json", "--engine", "curl", "--server", node.url,
                       "--token", node.token, "--clients", str(args.clients),
                       "--size", args.size, "--duration", "%g" % args.duration,
                       "--phases", "upload,read", "--pid", str(node.pid),
                       "--bills", "64"]
                if node.cacert:
                    cmd += ["--cacert", node.cacert]
                r = subprocess.run(cmd, capture_output=True, text=True)
                lines = {}
                for line in r.stdout.splitlines():
                    if line.startswith("{"):
                        d = __import__("json").loads(line)
                        lines[d["phase"]] = d
                for phase in ("upload", "read"):
                    d = lines.get(phase)
                    if d is None or d["ok"] == 0:
                        sys.stderr.write(r.stderr[-2000:])
                        raise SystemExit("%s round %d: no %s figure" % (label, rnd + 1, phase))
                    cpu = d.get("node_cpu_s")
                    per_op = cpu / d["ok"] * 1000 if cpu is not None and d["ok"] else None
                    rows[label][phase].append((d["ops_per_s"], per_op, d["errors"]))
                    progress("round %d %-5s %-6s %8.1f/s  node CPU %s ms/op  errors %d"
                             % (rnd + 1, label, phase, d["ops_per_s"],
                                "%.3f" % per_op if per_op is not None else "?", d["errors"]))
        print("\nmedians over %d rounds (%d clients, %s files, curl engine on both):"
              % (args.rounds, args.clients, args.size))
        for phase in ("upload", "read"):
            p_rate = statistics.median(x[0] for x in rows["plain"][phase])
            t_rate = statistics.median(x[0] for x in rows["tls"][phase])
            p_cpu = statistics.median(x[1] for x in rows["plain"][phase] if x[1] is not None)
            t_cpu = statistics.median(x[1] for x in rows["tls"][phase] if x[1] is not None)
            print("  %-6s plain %8.1f/s (%.3f ms CPU/op)  tls %8.1f/s (%.3f ms CPU/op)  "
                  "rate tls/plain %.2f  CPU tls/plain %.2f"
                  % (phase, p_rate, p_cpu, t_rate, t_cpu, t_rate / p_rate, t_cpu / p_cpu))
    finally:
        for n in (plain, tls):
            try:
                n.cleanup()
            except Exception as e:  # noqa: BLE001 - report, keep stopping the other
                progress("cleanup of %s: %s" % (n.name, e))


if __name__ == "__main__":
    main()
