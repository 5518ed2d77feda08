"""A full disk on one node of three (docs/replication.md, "A full disk").

Node 3's data dir is a 128 MB tmpfs this test mounts (root is needed) and fills with
a filler file to its last 4 MB (its floor is --min-free-mb 16). Captures then run through all
three nodes for a while, and the test checks what an operator would see:

- no node crashed; every capture through a healthy node was acknowledged (W=2 copies
  on the healthy nodes); the full node answers its captures with a clear 507 that
  says its disk is full, never a 500;
- the logs do not flood: the peers log a handful of lines about node 3 refusing copies
  (one per state change and peer), node 3 a handful about having no space;
- node 3 gave back its reserve (half the floor) so raft and RocksDB could go on
  writing, and applied everything the others did;
- the state shows: disk_full for node 3 in GET /api/v1/cluster, imgarc_disk_full on
  node 3, the refused copies counted on both sides.

Then the filler is deleted: node 3 says it has space again, repair brings every blob
back to R=3 copies (under_replicated 0), and node 3 takes captures again, without a
restart. The tmpfs is unmounted after node 3 is stopped (class cleanups, by pid).
"""

import os
import re
import subprocess
import sys
import threading
import time

from imgarc_cluster import SLOW, Cluster, ClusterTestCase, wait_for
from imgarc_node import Node

FLOOR_MB = 16
TMPFS_MB = 128
LOAD_S = 12.0
SETTLE = 240.0 if SLOW else 150.0
# Lines a node may log about one full disk: a state change or two per peer, plus
# capture copies already on their way when the refusal was first heard.
LOG_LINES_MAX = 5


def umount(path):
    if os.path.ismount(path):
        r = subprocess.run(["umount", path], capture_output=True, text=True)
        if r.returncode != 0:
            raise AssertionError("umount %s: %s" % (path, r.stderr.strip()))


class SmallDiskCluster(Cluster):
    """Node 3's data dir is the mount point @small; its log is kept outside it (a log
    on the full file system would lose the very lines the test counts)."""

    def add(self, join=None, zone=None, wait=True):
        if len(self.nodes) != 2:
            return super().add(join, zone, wait)
        node = Node("%s-n3" % self.name, fast_election=False,
                    data_dir=os.path.join(self.dir, "n3"))
        node.log_path = os.path.join(self.dir, "n3.log")
        node.args = self.node_args(3, self.nodes[0], "zone-c")
        self.nodes.append(node)
        node.start(wait=wait)
        return node


class DiskFullTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cluster = SmallDiskCluster("diskfull", extra_args=["--min-free-mb", str(FLOOR_MB)])
        cls.small = os.path.join(cluster.dir, "n3")
        os.makedirs(cls.small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB, "tmpfs",
                        cls.small], check=True)
        cls.addClassCleanup(umount, cls.small)  # runs after the nodes are stopped
        cls.addClassCleanup(cluster.cleanup)
        cls.cluster = cluster
        cluster.start(3)
        cls.filler = os.path.join(cls.small, "filler")

    def free_bytes(self):
        st = os.statvfs(self.small)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """Grows the filler until @leave bytes are free on node 3's file system."""
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "ab") as f:
            while self.free_bytes() > leave + len(chunk):
                f.write(chunk)
                f.flush()
            rest = self.free_bytes() - leave
            if rest > 0:
                f.write(b"\0" * rest)

    @staticmethod
    def log_size(node):
        return os.path.getsize(node.log_path)

    @staticmethod
    def log_since(node, offset):
        with open(node.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace").splitlines()

    def captures(self, node, prefix, seconds, out):
        """Captures 20-100 KB files through @node for @seconds, ten a second at most
        (what repair must copy back to node 3 has to fit on its small file system);
        appends (status, body) to @out."""
        deadline = time.monotonic() + seconds
        k = 0
        while time.monotonic() < deadline:
            k += 1
            time.sleep(0.1)
            data = os.urandom(20 * 1024 + (k * 37 * 1024) % (80 * 1024))
            r = node.upload("%s-%d" % (prefix, k % 4), data, name="f%d.bin" % k,
                            key="%s-%d" % (prefix, k), timeout=60)
            out.append((r.status, r.body[:400]))

    def test_full_disk_then_freed(self):
        c = self.cluster
        n1, n2, n3 = c.nodes
        id3 = c.node_id(n3)
        c.leader()
        warm = []
        for i, n in enumerate(c.nodes, 1):  # raft and RocksDB on node 3 take their room
            self.captures(n, "DF-WARM%d" % i, 1.0, warm)
        self.assertEqual({s for s, _ in warm}, {201}, warm)
        c.wait_converged()
        wait_for(lambda: os.path.exists(os.path.join(self.small, "reserve")), 30,
                 "node 3 to make its reserve")
        self.fill(leave=4 << 20)
        offsets = {n.name: self.log_size(n) for n in c.nodes}

        results = {n.name: [] for n in c.nodes}
        threads = [threading.Thread(target=self.captures, args=(n, "DF%d" % i, LOAD_S,
                                                                 results[n.name]))
                   for i, n in enumerate(c.nodes, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        for n in c.nodes:
            self.assertTrue(n.alive(), "%s died:\n%s" % (n.name, n.log_tail()))
        for n in (n1, n2):
            self.assertGreater(len(results[n.name]), 3, "too few captures through %s"
                               % n.name)
            bad = [x for x in results[n.name] if x[0] != 201]
            self.assertEqual(bad, [], "captures through healthy node %s not acknowledged"
                             % n.name)
        statuses = [s for s, _ in results[n3.name]]
        self.assertTrue(set(statuses) <= {201, 507}, "node 3 answered %r" % results[n3.name])
        refused = [b for s, b in results[n3.name] if s == 507]
        self.assertTrue(refused, "node 3 never refused a capture: %r" % statuses)
        self.assertIn(b"disk is full", refused[-1])
        self.assertIn(b"node %s" % id3.encode(), refused[-1])

        # The logs: a handful of lines about the full disk, not one per copy.
        about3 = re.compile(r"node %s\b" % id3)
        for n in (n1, n2):
            lines = [x for x in self.log_since(n, offsets[n.name])
                     if (" WARN " in x or " ERROR " in x) and about3.search(x)]
            print("%s: %d warnings about node 3" % (n.name, len(lines)), file=sys.stderr)
            self.assertLessEqual(len(lines), LOG_LINES_MAX, "%s logs about node %s:\n%s"
                                 % (n.name, id3, "\n".join(lines[:20])))
        # Below half the floor node 3 gave its reserve back, so raft and RocksDB went on
        # writing what the captures through the others changed.
        wait_for(lambda: not os.path.exists(os.path.join(self.small, "reserve")), 30,
                 "node 3 to give its reserve back")
        c.wait_converged()
        self.assertTrue(n3.alive(), "node 3 died:\n%s" % n3.log_tail())

        nospace = [x for x in self.log_since(n3, offsets[n3.name])
                   if re.search(r"no space|disk full|nearly full", x, re.I)]
        print("node 3: %d lines about its full disk; %d captures refused"
              % (len(nospace), len(refused)), file=sys.stderr)
        self.assertLessEqual(len(nospace), LOG_LINES_MAX, "node 3 logs:\n%s"
                             % "\n".join(nospace[:20]))
        def node3(view):
            return [x for x in view["nodes"] if x["id"] == id3][0]
        self.assertIs(node3(c.view(n1))["disk_full"], True)
        self.assertIs(node3(c.view(n2))["disk_full"], True)
        m3 = n3.metrics()
        self.assertEqual(m3["imgarc_disk_full"], 1)
        self.assertGreaterEqual(m3["imgarc_disk_full_refused_total"], 1)
        self.assertGreaterEqual(sum(n.metrics()["imgarc_copies_refused_disk_full_total"]
                                    for n in (n1, n2)), 1)

        # Space comes back: the node says so, repair catches up, captures are taken.
        os.unlink(self.filler)
        freed = time.monotonic()
        wait_for(lambda: n3.metrics()["imgarc_disk_full"] == 0, 30, "node 3 not full")
        self.assertTrue(any("disk has space again" in x
                            for x in self.log_since(n3, offsets[n3.name])))
        wait_for(lambda: c.view(n1)["under_replicated"] == 0, SETTLE,
                 "repair to bring every blob back to 3 copies", interval=0.5)
        print("under_replicated 0 %.1f s after the filler was deleted"
              % (time.monotonic() - freed), file=sys.stderr)
        wait_for(lambda: os.path.exists(os.path.join(self.small, "reserve")), 30,
                 "node 3 to make its reserve again")
        self.assertIs(node3(c.view(n1))["disk_full"], False)
        r = n3.upload("DF-AFTER", os.urandom(100 * 1024), name="after.bin")
        self.assertStatus(r, 201, "a capture through node 3 once space is back")
        for n in c.nodes:
            self.assertTrue(n.alive(), "%s died:\n%s" % (n.name, n.log_tail()))
