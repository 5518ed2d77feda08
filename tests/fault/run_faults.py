#!/usr/bin/env python3
"""The fault suite: a fresh 3-node cluster per scenario, a workload of clients writing
through random nodes, faults injected and healed, then every acknowledged write
checked on every node (checker.py). docs/fault-testing.md explains it.

    run_faults.py --profile ci|long [--scenario NAME ...] [--seed N] [--seeds K]
                  [--json FILE] [--list]

A scenario is a list of faults (faults.py) applied one after another while the
workload runs: warm-up, then for each fault: inject, hold it for the fault time, heal,
let the cluster work for the recovery time; then the workload stops and the checker
runs. Exit status 0 when every scenario passed; the last line reads
"N passed, M failed".

Needs root (network namespaces, nftables, a tmpfs mount), iproute2, nftables and
libfaketime (scripts/install-deps.sh --test) and a build (IMGARC_BIN_DIR).
"""

import argparse
import json
import os
import random
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from nodes import FaultCluster  # noqa: E402  (first: it puts the harness on sys.path)
import faults  # noqa: E402
from checker import Checker  # noqa: E402
from netlab import NetLab  # noqa: E402
from workload import Workload  # noqa: E402

PROFILES = {
    # A short run of each fault: what CI runs on every change.
    "ci": {
        "scenarios": {name: [name] for name in (
            "kill_leader", "kill_follower", "kill_all", "stop_leader", "stop_follower",
            "partition_leader", "partition_leader_oneway", "split_follower", "bitrot",
            "disk_full", "clock_jump")},
        "clients": 6, "think_s": 0.1, "warmup_s": 4, "fault_s": 8, "recover_s": 5,
        "max_size": 3 << 20,
        "op_deadline_s": 60, "attempt_timeout_s": 5, "settle_bound_s": 120,
    },
    # Before a release: every fault for longer, a non-transitive split, and runs of
    # several faults in a row; run with --seeds to repeat with other seeds.
    "long": {
        "scenarios": dict([(name, [name]) for name in sorted(faults.FAULTS)] + [
            ("chaos_a", "random:6"), ("chaos_b", "random:6")]),
        "clients": 8, "think_s": 0.3, "warmup_s": 10, "fault_s": 25, "recover_s": 15,
        "max_size": 4 << 20,
        "op_deadline_s": 90, "attempt_timeout_s": 5, "settle_bound_s": 180,
    },
}


class Scenario:
    def __init__(self, name, fault_names, profile, seed):
        self.name = name
        self.fault_names = fault_names
        self.p = profile
        self.seed = seed
        self.rng = random.Random("%s/%d" % (name, seed))
        self.fault_s = profile["fault_s"]
        self.rotted = []
        self.disk_node = 2
        self.t0 = time.monotonic()
        self.events = []
        self.cluster = None
        self.lab = None
        self.ledger = None

    def log(self, msg):
        line = "[%6.1f s] %s: %s" % (time.monotonic() - self.t0, self.name, msg)
        self.events.append(line)
        print(line, flush=True)

    def run(self):
        p = self.p
        result = {"scenario": self.name, "seed": self.seed, "faults": self.fault_names}
        faketime = any(f in faults.NEEDS_FAKETIME for f in self.fault_names)
        small_disk = any(f in faults.NEEDS_SMALL_DISK for f in self.fault_names)
        with NetLab(3) as lab:
            self.lab = lab
            cluster = FaultCluster("ft-%s-%d" % (self.name, self.seed), lab,
                                   faketime=faketime,
                                   tmpfs_mb={self.disk_node: 2048} if small_disk else None)
            self.cluster = cluster
            checker = None
            wl = None
            try:
                cluster.start(3)
                cluster.leader(timeout=60)
                self.log("cluster up: %s" % ", ".join("%s=%s" % (n.name, n.ip)
                                                      for n in cluster.nodes))
                wl = Workload(cluster.nodes, cluster.nodes[0].token,
                              "F%d%s" % (self.seed, self.name.replace("_", "")[:12]),
                              clients=p["clients"], seed=self.seed, max_size=p["max_size"],
                              attempt_timeout=p["attempt_timeout_s"],
                              op_deadline=p["op_deadline_s"], think_s=p["think_s"])
                self.ledger = wl.ledger
                wl.start()
                time.sleep(p["warmup_s"])
                windows = []
                for f in self.fault_names:
                    t_in = time.monotonic()
                    heal = faults.FAULTS[f](self)
                    remaining = self.fault_s - (time.monotonic() - t_in)
                    if remaining > 0:
                        time.sleep(remaining)
                    heal()
                    t_out = time.monotonic()
                    self.log("healed %s" % f)
                    windows.append((f, t_in, t_out))
                    time.sleep(p["recover_s"])
                self.log("stopping the workload")
                wl.stop()
                t_stop = time.monotonic()
                led = wl.ledger
                self.log("workload done: %d ops, %d acknowledged, %d unknown, %d errors"
                         % (led.ops, len(led.acks), len(led.unknown), len(led.errors)))
                checker = Checker(cluster, led)
                for e in led.errors:
                    checker.fail("workload: " + e)
                for n in cluster.nodes:
                    if not n.alive():
                        checker.fail("%s is not running after healing (exit %s):\n%s"
                                     % (n.name, n.proc.returncode, n.log_tail(30)))
                        n.start(wait=False)
                settle = checker.settle(p["settle_bound_s"], since=windows[-1][2])
                self.log("settled %s after the last heal" % ("%.1f s" % settle if settle is not None else "-"))
                checker.check_digests(timeout=60)
                checker.check_bills()
                checker.check_content(seed=self.seed)
                if self.rotted:
                    left = faults.check_rot_repaired(self, p["settle_bound_s"])
                    for path in left:
                        checker.fail("the rotted copy %s was not repaired within %d s"
                                     % (path, p["settle_bound_s"]))
                    # A rotted copy found by the reads is dropped, then made again.
                    again = checker.settle(p["settle_bound_s"])
                    self.log("settled again %s after the rot was repaired"
                             % ("in %.1f s" % again if again is not None else "-"))
                checker.check_copies()
                checker.finish()
                gap, gap_at = led.longest_gap()
                fault_acks = sum(led.acked_between(a, b) for _, a, b in windows)
                fault_time = sum(b - a for _, a, b in windows)
                result.update({
                    "ops": led.ops, "attempts": led.attempts, "acknowledged": len(led.acks),
                    "captures": len(led.captures()),
                    "pool": sum(1 for a in led.acks if a["kind"] == "pool"),
                    "submits": sum(1 for a in led.acks if a["kind"] == "submit"),
                    "unknown": len(led.unknown), "lost": len(checker.lost),
                    "missing_copies": checker.missing_copies,
                    "longest_gap_s": round(gap, 2), "gap_at_s": round(gap_at, 1),
                    "acks_during_faults": fault_acks, "fault_s": round(fault_time, 1),
                    "settle_s": round(settle, 1) if settle is not None else None,
                    "reads": checker.reads, "read_retries": checker.read_retries,
                    "workload_s": round(t_stop - led.t_start, 1),
                    "bytes_acked": sum(a["size"] for a in led.captures()),
                    "log_warn_max": max(w for w, _ in checker.log_lines.values()),
                    "log_error_max": max(e for _, e in checker.log_lines.values()),
                    "problems": checker.problems,
                    "slowest": sorted(led.slow, reverse=True)[:5],
                    "slowest_answer_s": round(led.slowest_answer[0], 2),
                    "slowest_answer": led.slowest_answer[2],
                })
            except Exception:
                result["problems"] = (checker.problems if checker else []) + [
                    "the scenario itself failed:\n" + traceback.format_exc()]
            finally:
                if wl is not None:
                    wl.abort()
                if result.get("problems"):
                    os.environ["IMGARC_TEST_KEEP"] = "1"
                    for n in cluster.nodes:
                        print("---- %s log tail\n%s" % (n.name, n.log_tail(25)), flush=True)
                try:
                    cluster.cleanup()
                except AssertionError as e:
                    result.setdefault("problems", []).append("cleanup: %s" % e)
        result["seconds"] = round(time.monotonic() - self.t0, 1)
        return result


def expand(spec, rng):
    if isinstance(spec, list):
        return spec
    kind, n = spec.split(":")
    assert kind == "random"
    return [rng.choice(sorted(faults.FAULTS)) for _ in range(int(n))]


def figures(r):
    if "ops" not in r:
        return "%-24s seed %d: did not complete" % (r["scenario"], r["seed"])
    return ("%-24s seed %d: ops %d, acknowledged %d (captures %d, pool %d, submits %d, "
            "%.1f MB), unknown %d, lost %d, copies missing %d, longest gap %.2f s (at %.1f s), "
            "slowest answer %.2f s, acks during faults %d in %.1f s, settled in %s s, %d reads (%d retried), log lines per node "
            "at most %d WARN %d ERROR, %.0f s in all"
            % (r["scenario"], r["seed"], r["ops"], r["acknowledged"], r["captures"],
               r["pool"], r["submits"], r["bytes_acked"] / 1e6, r["unknown"], r["lost"],
               r["missing_copies"], r["longest_gap_s"], r["gap_at_s"], r["slowest_answer_s"],
               r["acks_during_faults"], r["fault_s"],
               r["settle_s"], r["reads"], r["read_retries"], r["log_warn_max"],
               r["log_error_max"], r["seconds"]))


def main():
    # A run stopped with SIGTERM (a CTest timeout, a ^C from a wrapper) still stops its
    # nodes, unmounts and deletes its namespaces: the finally blocks run.
    def stop(*_):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the cleanup
        sys.exit(143)
    signal.signal(signal.SIGTERM, stop)
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=sorted(PROFILES), default="ci")
    ap.add_argument("--scenario", action="append", help="run only these (repeatable)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=1, help="run each scenario with this many "
                    "seeds, from --seed on")
    ap.add_argument("--json", help="append one JSON line per scenario to this file")
    ap.add_argument("--list", action="store_true", help="print the profile's scenarios")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=SECONDS",
                    help="override a number of the profile (e.g. fault_s=20, clients=8)")
    args = ap.parse_args()
    profile = dict(PROFILES[args.profile])
    for kv in args.set:
        k, _, v = kv.partition("=")
        if k not in profile or k == "scenarios":
            ap.error("--set: no number %r in the profile (%s)"
                     % (k, ", ".join(x for x in profile if x != "scenarios")))
        profile[k] = type(profile[k])(float(v)) if isinstance(profile[k], int) else float(v)
    names = sorted(profile["scenarios"])
    if args.list:
        print(";".join(names))
        return 0
    if args.scenario:
        unknown = [s for s in args.scenario if s not in profile["scenarios"]]
        if unknown:
            ap.error("no scenario %s in the %s profile (%s)" % (unknown, args.profile,
                                                                ", ".join(names)))
        names = args.scenario
    results = []
    for seed in range(args.seed, args.seed + args.seeds):
        for name in names:
            fault_names = expand(profile["scenarios"][name], random.Random("%s/%d"
                                                                           % (name, seed)))
            r = Scenario(name, fault_names, profile, seed).run()
            results.append(r)
            print("FIGURES " + figures(r), flush=True)
            for took, at, what in r.get("slowest", []):
                print("SLOW %s: %.2f s from %.1f s: %s" % (name, took, at, what), flush=True)
            problems = r.get("problems") or []
            for p in problems[:40]:
                print("PROBLEM %s: %s" % (name, p), flush=True)
            if len(problems) > 40:
                print("PROBLEM %s: ... and %d more (--json FILE keeps them all)"
                      % (name, len(problems) - 40), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(r) + "\n")
    failed = sum(1 for r in results if r.get("problems"))
    print("%d passed, %d failed" % (len(results) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
