"""Snapshots of the "store" format (docs/snapshots.md): a raft snapshot is a descriptor
of a few dozen bytes, and a node that needs the store fetches it from a member beside
raft (GET /internal/v1/snapshot), into a staging store it swaps in once complete.

One three-node cluster, loaded with a few thousand bills, with snapshots every 16
entries (so a new node cannot replay the log) and snapshot sends held to 128 KiB/s
(--snapshot-send-bytes-per-s) so that a fetch lasts long enough to be interrupted:

- a fourth node joins while writes go on: it spools the entries committed during its
  fetch, applies those after the fetched store's index once it is in, converges to the
  same digest, and the leader's raft snapshot stays tiny;
- the sender is killed with -9 in the middle of a stream: the joining node fetches
  from another member and converges;
- the receiver is killed with -9 in the middle of a fetch: restarted, it discards the
  half-written staging store, fetches again and converges;
- the receiver's disk fills during a fetch (its data dir is a small tmpfs this test
  mounts: root is needed): the staging store is dropped, the failure says "disk full",
  the node keeps trying, and once space is freed it catches up;
- a node still catching up answers 503 with a clear reason and says so in /readyz and
  /metrics.
"""

import os
import subprocess
import threading
import time

from imgarc_cluster import SLOW, ClusterTestCase, wait_for
from imgarc_node import Node

SNAPSHOT_ARGS = ["--snapshot-threshold", "16", "--snapshot-trailing", "64",
                 "--snapshot-format", "store", "--snapshot-send-bytes-per-s", "131072"]
BILLS = int(os.environ.get("SNAP_BILLS", "2400"))  # a store of about 1.3 MB: a fetch of about 10 s at 128 KiB/s
CATCH_UP = 240.0 if SLOW else 150.0


class SnapshotStoreTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("snap", 3, extra_args=SNAPSHOT_ARGS)
        cls.load(BILLS)

    @classmethod
    def load(cls, n):
        """@n pool pushes, through the three nodes, 6 at a time."""
        errors = []
        nodes = cls.cluster.nodes

        def worker(k):
            for i in range(k, n, 6):
                r = nodes[i % 3].pool_push({"image_no": "SN-%05d" % i,
                                            "bill_no": "ER-SN-%05d" % i,
                                            "amount": "%d.00" % (i + 1),
                                            "submitter": "submitter-%05d-" % i + "s" * 100})
                if r.status != 201:
                    errors.append(r)
                    return
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("loading failed: %r" % errors[:3])

    def staging(self, node):
        return os.path.join(node.data, "catchup", "store")

    def wait_fetching(self, node):
        """Until @node has a staging store (its fetch has written its first MiB). A
        member may refuse a fetch (busy sending, catching up itself) and the node then
        tries again after a backoff that doubles up to 30 s, so on a loaded machine
        this may take as long as a catch-up; a timeout shows the node's log."""
        try:
            wait_for(lambda: os.path.isdir(self.staging(node)), CATCH_UP,
                     "%s to fetch into its staging store" % node.name, interval=0.02)
        except AssertionError as e:
            # What moved meanwhile: the bytes this node fetched and each member sent
            # (a refusal or a silent member is logged; a slow trickle is not).
            figures = {}
            for n in self.cluster.alive():
                try:
                    m = n.metrics()
                    figures[n.name] = {k: v for k, v in m.items()
                                       if k.startswith("imgarc_snapshot_")}
                except Exception as err:  # noqa: BLE001 (a diagnostic, best effort)
                    figures[n.name] = repr(err)
            lines = node.log_text(whole=True).splitlines()
            raise AssertionError(
                "%s\n%s's log, the catch-up lines:\n%s\nsnapshot figures: %r\n%s is %s; "
                "the last lines of its log:\n%s" % (
                    e, node.name, "\n".join(l for l in lines
                                            if "snapshot" in l or "catch" in l or "join" in l),
                    figures, node.name,
                    "running" if node.alive() else "gone (exit status %r)" % node.proc.poll(),
                    "\n".join(lines[-40:])))

    def sent_bytes(self):
        return {n.name: n.metrics().get("imgarc_snapshot_send_bytes_total", 0)
                for n in self.cluster.alive()}

    def assertCaughtUp(self, node):
        node.wait_ready(CATCH_UP)
        self.assertIn("caught up: the store fetched at index", node.log_text(whole=True))
        m = node.metrics()
        self.assertGreaterEqual(m["imgarc_catchups_total"], 1, m)
        self.assertEqual(m["imgarc_catchup_active"], 0, m)
        self.assertFalse(os.path.exists(os.path.join(node.data, "catchup")),
                         "the staging directory is gone once swapped in")
        self.cluster.wait_converged(timeout=CATCH_UP)
        r = node.bill("SN-%05d" % (BILLS - 1))
        self.assertStatus(r, 200)

    def test_01_a_new_node_joins_through_a_fetched_store(self):
        c = self.cluster
        leader = c.leader()
        stop = threading.Event()
        pushed = []

        def writer():
            i = 0
            while not stop.is_set():
                r = c.nodes[i % 2].pool_push({"image_no": "SN-W-%05d" % i,
                                              "bill_no": "ER-SN-W-%05d" % i, "amount": "2.00"})
                if r.status == 201:
                    pushed.append("SN-W-%05d" % i)
                i += 1
                time.sleep(0.02)
        t = threading.Thread(target=writer)
        t.start()
        try:
            node4 = c.add(join=c.followers()[0], wait=False)
            self.wait_fetching(node4)
            # Meanwhile the node refuses what would read its store, and says why.
            r = node4.get("/readyz", auth=False)
            if r.status == 503:  # the fetch may be over already on a fast machine
                self.assertIn("catching up", r.json["message"])
                r = node4.bill("SN-00001")
                if r.status == 503:
                    self.assertIn("catching up", r.json["message"])
            node4.wait_ready(CATCH_UP)
        finally:
            stop.set()
            t.join()
        self.assertGreater(len(pushed), 10)
        self.assertCaughtUp(node4)
        spooled = [l for l in node4.log_text(whole=True).splitlines() if "caught up:" in l]
        self.assertEqual(len(spooled), 1, spooled)
        self.assertStatus(node4.bill(pushed[-1]), 200)
        m = leader.metrics()
        self.assertGreaterEqual(m["imgarc_snapshot_sends_total"], 1, m)
        # The leader's raft snapshot names its store; it does not hold it.
        self.assertLess(m["imgarc_raft_snapshot_bytes"], 4096, m)
        self.assertGreater(m["imgarc_raft_snapshots_total"], 0, m)
        # Writes through the new node.
        r = node4.pool_push({"image_no": "SN-NEW-4", "bill_no": "ER-SN-NEW-4",
                             "amount": "1.00"})
        self.assertStatus(r, 201)

    def test_02_the_sender_killed_mid_stream(self):
        c = self.cluster
        before = self.sent_bytes()
        node5 = c.add(join=c.followers()[0], wait=False)
        # The member sending: the one whose sent bytes grow (the node that took the
        # snapshot raft installed is asked first). Killed a quarter of the way in.
        sender = wait_for(lambda: next((n for n in c.alive() if n is not node5 and
                                        n.metrics().get("imgarc_snapshot_send_bytes_total", 0)
                                        - before.get(n.name, 0) >= 256 << 10), None),
                          60, "a member to send a quarter of its store")
        sender.kill9()
        self.assertCaughtUp(node5)
        log = node5.log_text(whole=True)
        self.assertIn("transfer closed", log)
        self.assertGreaterEqual(log.count("fetching a store at index"), 2, log[-3000:])
        sender.restart()
        c.wait_converged(timeout=CATCH_UP)

    def test_03_the_receiver_killed_mid_fetch(self):
        c = self.cluster
        node6 = c.add(join=c.followers()[0], wait=False)
        self.wait_fetching(node6)
        time.sleep(0.5)
        node6.kill9()
        self.assertTrue(os.path.isdir(self.staging(node6)),
                        "killed with its staging store half written")
        self.assertTrue(os.path.exists(os.path.join(node6.data, "catchup-spool")),
                        "killed with its spool on disk")
        node6.restart(wait=False)
        self.assertCaughtUp(node6)
        self.assertFalse(os.path.exists(os.path.join(node6.data, "catchup-spool")),
                         "the interrupted catch-up's spool is gone")
        self.assertTrue(node6.log_text().count("catching up: raft installed a snapshot") >= 1)

    def test_04_the_receivers_disk_fills_during_a_fetch(self):
        c = self.cluster
        k = len(c.nodes) + 1
        small = os.path.join(c.dir, "n%d" % k)
        os.makedirs(small)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", small], check=True)
        self.addCleanup(self.umount, small)
        node = Node("%s-n%d" % (c.name, k), fast_election=False, data_dir=small)
        node.log_path = os.path.join(c.dir, "n%d.log" % k)  # off the full file system
        node.args = c.node_args(k, c.followers()[0], "zone-a") + ["--min-free-mb", "0"]
        c.nodes.append(node)
        self.addCleanup(node.cleanup)  # stopped by pid before the unmount
        node.start(wait=False)
        wait_for(lambda: "catching up: raft installed" in node.log_text(whole=True), 60,
                 "node %d to begin catching up" % k)
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            while True:
                st = os.statvfs(small)
                free = st.f_bavail * st.f_frsize
                if free <= 512 << 10:
                    break
                f.write(b"\0" * min(1 << 20, free - (512 << 10)))
                f.flush()
        wait_for(lambda: "disk full" in node.log_text(whole=True), 120,
                 "the fetch to fail for a full disk")
        self.assertTrue(node.alive(), node.log_tail())
        r = node.get("/readyz", auth=False)
        self.assertEqual(r.status, 503)
        self.assertIn("catching up", r.json["message"])
        self.assertFalse(os.path.exists(os.path.join(small, "catchup", "READY")))
        os.remove(filler)
        self.assertCaughtUp(node)

    @staticmethod
    def umount(path):
        if os.path.ismount(path):
            subprocess.run(["umount", path], check=True)
