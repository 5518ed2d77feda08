"""A rolling upgrade of a 3-node cluster from the previous release's build to this one,
under capture load (docs/replication.md, "Upgrades").

PREVIOUS_RELEASE (beside this file) names the commit of the previous release. Its
imgarcd is built from this repository's history (git archive of that commit, built as
CI builds it, without the web console) into build-previous/COMMIT/ at the top of the
tree, once: later runs (the sanitizer build's suite) reuse it.

Three nodes of the previous build form a cluster; clients capture files without pause,
each file under its own idempotency key, retrying with that key whatever fails (as
clients are told to: docs/API.md "Idempotency"). Node by node, followers first and the
leader last, a node is stopped gracefully and started again on its data dir with this
build; the cluster must stay healthy in between. Then: no capture failed for good,
every acknowledged file is there with its bytes on every node, every node holds the
same metadata (equal digests at the same index), and the cluster's feature level is
this build's."""

import fcntl
import os
import random
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))
from imgarc_cluster import ClusterTestCase, wait_for  # noqa: E402
from imgarc_node import IMGARCD, blake2b_hex, random_bytes  # noqa: E402

with open(os.path.join(HERE, "PREVIOUS_RELEASE")) as f:
    PREVIOUS = f.read().split()[0]

# How long one capture may keep being retried before it counts as failed.
RETRY_FOR_S = 60


def build_previous():
    """The previous release's imgarcd, built once (under a lock: two suites may ask)."""
    base = os.environ.get("IMGARC_PREVIOUS_BUILD_DIR") or os.path.join(
        ROOT, "build-previous", PREVIOUS[:12])
    binary = os.path.join(base, "build", "imgarcd")
    done = os.path.join(base, "BUILT")
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(done) and os.access(binary, os.X_OK):
            return binary
        src = os.path.join(base, "src")
        subprocess.run(["rm", "-rf", src, os.path.join(base, "build")], check=True)
        os.makedirs(src)
        log = os.path.join(base, "build.log")
        with open(log, "w") as out:
            steps = [
                "git -C '%s' archive %s | tar -x -C '%s'" % (ROOT, PREVIOUS, src),
                # As CI builds it; its warnings are not this build's to fail on.
                "cmake -S '%s' -B '%s/build' -DCMAKE_BUILD_TYPE=RelWithDebInfo "
                "-DIMGARC_CONSOLE=OFF -DIMGARC_WERROR=OFF" % (src, base),
                "make -C '%s/build' -j%d imgarcd" % (base, os.cpu_count() or 2),
            ]
            for step in steps:
                r = subprocess.run(["bash", "-o", "pipefail", "-c", step], stdout=out,
                                   stderr=subprocess.STDOUT)
                if r.returncode != 0:
                    raise AssertionError("building the previous release %s failed at: %s "
                                         "(see %s)" % (PREVIOUS, step, log))
        with open(done, "w") as f:
            f.write(PREVIOUS + "\n")
        return binary


class Load:
    """Clients capturing files, each under its own idempotency key, retried with it
    until it is acknowledged or RETRY_FOR_S pass."""

    def __init__(self, cluster, clients=3):
        self.cluster = cluster
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}      # key -> (image_no, file_id, blob)
        self.failed = []     # (key, last answer)
        self.retries = 0
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(RETRY_FOR_S + 30)

    def capture(self, key, image_no, data):
        deadline = time.time() + RETRY_FOR_S
        last = None
        while time.time() < deadline:
            nodes = [n for n in self.cluster.nodes if n.alive()]
            node = random.choice(nodes) if nodes else None
            try:
                r = node.upload(image_no, data, name=key + ".bin", key=key, timeout=20) \
                    if node is not None else None
            except (OSError, Exception) as e:  # the node went away mid-request
                r, last = None, repr(e)
            if r is not None and r.status == 201:
                return r.json
            if r is not None:
                last = "%d %s" % (r.status, r.body[:200])
            with self.lock:
                self.retries += 1
            time.sleep(0.2)
        raise AssertionError(last)

    def run(self, client):
        n = 0
        while not self.stop.is_set():
            key = "upg-%d-%d" % (client, n)
            image_no = "UPG-%d-%d" % (client, n % 5)
            data = random_bytes(3000 + (n % 7) * 1000, seed=client * 100000 + n)
            try:
                ans = self.capture(key, image_no, data)
                with self.lock:
                    self.acked[key] = (image_no, ans["file_id"], blake2b_hex(data))
                    if ans["blob"] != blake2b_hex(data):
                        self.failed.append((key, "blob %s" % ans["blob"]))
            except AssertionError as e:
                with self.lock:
                    self.failed.append((key, str(e)))
            n += 1


class RollingUpgradeTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.previous = build_previous()
        cls.start_cluster("upgrade", 3, binary=cls.previous)

    def healthy(self, want_level=None):
        def ok():
            view = self.cluster.view(self.cluster.nodes[0])
            nodes = view["nodes"]
            good = len(nodes) == 3 and all(x["health"] == "ok" for x in nodes)
            return view if good else None
        return wait_for(ok, 90, "three healthy members")

    def test_rolling_upgrade_under_load(self):
        c = self.cluster
        def build_of(n):
            v = n.get("/api/v1/version", auth=False).json
            return (v["version"], v["git_commit"], v["build_time"])
        version_of = {n.name: build_of(n) for n in c.nodes}
        load = Load(c)
        load.start()
        try:
            time.sleep(3)
            leader = c.leader()
            order = [n for n in c.nodes if n is not leader] + [leader]
            for node in order:
                before = len(load.acked)
                node.stop()
                node.binary = IMGARCD
                node.start()
                self.healthy()
                # The cluster takes captures with this node on the new build.
                wait_for(lambda: len(load.acked) > before + 5, 60,
                         "captures to go on after upgrading %s" % node.name)
                self.assertNotEqual(build_of(node), version_of[node.name],
                                    "%s still runs the previous build" % node.name)
            time.sleep(2)
        finally:
            load.finish()
        self.assertEqual(load.failed, [], "captures that failed for good")
        self.assertGreater(len(load.acked), 30)
        # Every node holds the same metadata and every acknowledged file's bytes.
        c.wait_converged()
        for node in c.nodes:
            for key, (image_no, file_id, blob) in sorted(load.acked.items())[::7]:
                r = node.content(file_id)
                self.assertStatus(r, 200, "%s on %s" % (key, node.name))
                self.assertEqual(blake2b_hex(r.body), blob)
        view = self.healthy()
        levels = {x["feature_level"] for x in view["nodes"]}
        self.assertEqual(len(levels), 1)
        self.assertEqual(view["feature_level"], levels.pop())
        print("\n%d captures acknowledged, %d retries across the upgrade"
              % (len(load.acked), load.retries), file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
