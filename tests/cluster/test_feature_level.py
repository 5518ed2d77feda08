"""Feature levels (docs/replication.md, "Upgrades"): a rolling upgrade under capture
load. Three nodes run with --feature-level 0, as a cluster still holding a node of the
previous version would: the cluster stays at level 0 and every node refuses the kinds
of command level 1 brought (a legal hold here) with 409 upgrade_in_progress, so no two
nodes ever apply different commands. The nodes are then restarted one by one at this
version's level while captures go on (clients retry with their idempotency keys): the
level stays 0 until the last one is back, then the leader raises it and the held-back
command works everywhere; no capture failed for good and every node holds the same
metadata. A node of a lower level is then refused when it asks to join."""

import os
import threading
import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for


class FeatureLevelTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("lvl", 3, extra_args=["--feature-level", "0"])

    def level(self, node):
        return self.cluster.view(node)["feature_level"]

    def hold(self, node, image_no):
        return node.post("/api/v1/bills/%s/holds" % image_no, b'{"reason": "audit"}',
                         headers={"Content-Type": "application/json"})

    def test_a_rolling_upgrade_raises_the_level_once_every_member_runs_it(self):
        c = self.cluster
        c.leader()
        self.assertStatus(c.nodes[0].upload("LV-1", os.urandom(3000), name="a.bin"), 201)
        self.assertEqual(self.level(c.nodes[0]), 0)
        self.assertEqual([n["feature_level"] for n in c.view(c.nodes[0])["nodes"]], [0, 0, 0])
        for node in c.nodes:
            e = self.assertError(self.hold(node, "LV-1"), 409, 11037, "upgrade_in_progress")
            self.assertIn("level 1", e["message"])

        # Captures through every node meanwhile, each retried with its key until it is
        # answered (a node restarting refuses connections; a leader change answers 503).
        stop = threading.Event()
        done, failed = [], []

        def load():
            i = 0
            while not stop.is_set():
                key = "lv-load-%d" % i
                data = os.urandom(2000 + i)
                deadline = time.time() + 60
                while True:
                    node = c.nodes[(i + int(time.time())) % 3]
                    try:
                        r = node.upload("LV-LOAD-%d" % (i // 4), data, name="l%d.bin" % i,
                                        key=key, timeout=10)
                        status = r.status
                    except OSError:
                        status = None
                    if status == 201:
                        done.append((r.json["file_id"], data))
                        break
                    if time.time() > deadline:
                        failed.append((key, status))
                        break
                    time.sleep(0.2)
                i += 1
        t = threading.Thread(target=load)
        t.start()
        try:
            for k, node in enumerate(c.nodes):
                wait_for(lambda: len(done) >= 3 * (k + 1), 60, "captures going on")
                node.stop()
                node.args = [a for a in node.args if a not in ("--feature-level", "0")]
                node.start()
                c.leader()
                if k < 2:
                    # A member still reports level 0: the level waits for it.
                    time.sleep(2)
                    self.assertEqual(self.level(node), 0)
                    self.assertError(self.hold(node, "LV-1"), 409, 11037,
                                     "upgrade_in_progress")
            wait_for(lambda: self.level(c.nodes[0]) == 1, 60,
                     "the leader raising the cluster's level")
            wait_for(lambda: len(done) >= 12, 60, "captures after the upgrade")
        finally:
            stop.set()
            t.join()
        self.assertEqual(failed, [])
        for node in c.nodes:
            self.assertEqual(self.level(node), 1)
        self.assertEqual([n["feature_level"] for n in c.view(c.nodes[1])["nodes"]], [1, 1, 1])
        r = self.hold(c.followers()[0], "LV-1")
        self.assertStatus(r, 201)
        # The raise is in the operator's audit log; the nodes agree on everything.
        entries = c.nodes[0].get("/api/v1/audit?limit=1000").json["entries"]
        raised = [x["detail"] for x in entries if x["action"] == "cluster_level_raised"]
        self.assertEqual(raised, [{"from": 0, "to": 1}])
        c.wait_converged()
        for fid, data in done[::5]:
            r = c.nodes[2].content(fid)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, data)

    def test_b_a_node_of_a_lower_level_is_not_let_in(self):
        """Once the cluster is at level 1, a node reporting 0 (an older version) would
        refuse commands the others apply: its join is refused, with the reason."""
        c = self.cluster
        wait_for(lambda: self.level(c.nodes[0]) == 1, 60, "the cluster at level 1")
        node = c.add(wait=False)  # the class's nodes start with --feature-level 0
        try:
            wait_for(lambda: "runs feature level 0 and the cluster is at level 1"
                     in node.log_text(), 60, "the join refused")
            self.assertEqual(len(c.view(c.nodes[0])["nodes"]), 3)
        finally:
            node.stop()
            c.nodes.remove(node)
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
