"""Placement with capacity weights on real nodes (docs/replication.md, "Capacity
weights").

Four nodes, --replicas 2, zones a, b, c, a. Node 4's disk is "full" from the start: it
runs with a --min-free-mb floor far above its file system's free space, so its disk
guard refuses new files and copies, and it reports itself full to the cluster
(ReportNodeSpace). The test checks:

- every node reports its capacity, and node 4 shows placement_full in the cluster view;
- captures through nodes 1-3 are placed on nodes 1-3 only: no blob's placement and no
  holder list names node 4, no file lands in its data dir, every blob has its 2
  copies (under_replicated 0, the fallback node took node 4's share), and no node
  ever pushed a copy to node 4 for it to refuse (no 507s counted); each node reported
  its space once (on change only, not every tick);
- the operator's weight (PUT /api/v1/cluster/nodes/{id}/weight): validated (400 for
  0 or 1001, 404 for a non-member), shown in the view, and acted on: node 2 at 1000%
  is wanted for almost every blob, and the keeper moves the copies to match.
"""

import random
import time
import unittest

from imgarc_cluster import SLOW
from imgarc_node import cli_json, run_cli
from test_blobs import BASE_ARGS, BlobTestCase, content

SETTLE = 240.0 if SLOW else 120.0
FILES = 24
FULL_FLOOR_MB = str(1 << 30)  # 1 PiB: above any test machine's free space


class FullNodeWeightsTest(BlobTestCase):

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random()
        cls.start_blob_cluster("pw", 4, extra_args=BASE_ARGS + ["--replicas", "2"],
                               per_node={4: ["--min-free-mb", FULL_FLOOR_MB]})
        cls.hashes = []

    def node_view(self, node):
        return self.view_node(self.view(), self.nid(node))

    def test_01_every_node_reports_its_space(self):
        c = self.cluster
        n4 = c.nodes[3]

        def reported():
            v = self.view()
            for x in v["nodes"]:
                if not isinstance(x.get("capacity_bytes"), int) or x["capacity_bytes"] <= 0:
                    raise AssertionError("node %s has not reported its capacity: %r"
                                         % (x["id"], x))
            return v
        v = self.wait(reported, "every node to report its capacity", timeout=60)
        for x in v["nodes"]:
            self.assertEqual(x["weight_pct"], 100)
            self.assertGreater(x["weight"], 0)
        id4 = self.nid(n4)
        for n in c.nodes:  # each node's own store has applied the report
            self.wait(lambda: self.view_node(c.view(n), id4)["placement_full"] is True,
                      "%s to see node 4's disk full" % n.name, timeout=60)
        for n in c.nodes[:3]:
            self.assertIs(self.node_view(n)["placement_full"], False)
        # The keeper's loop-side placement (capture copies) is refreshed every 500 ms
        # after an apply; a push in that window would meet the 507 back-off instead.
        time.sleep(1.5)

    def test_02_a_full_node_receives_no_new_copies(self):
        c = self.cluster
        n4 = c.nodes[3]
        id4 = self.nid(n4)
        refused_before = self.metric_sum("imgarc_copies_refused_disk_full_total",
                                         c.nodes[:3])
        for i in range(FILES):
            body = self.capture(c.nodes[i % 3], "PW-%d" % (i % 6), content(self.rng),
                                name="f%d.bin" % i)
            self.hashes.append(body["blob"])
        for h in self.hashes:
            doc = self.blob(h)
            self.assertNotIn(id4, doc["placement"], "blob %s placed on the full node" % h)
            self.assertEqual(len(doc["placement"]), 2, doc)

        def placed():
            for h in self.hashes:
                doc = self.replicated(h, set(self.blob(h)["placement"]), exact_holders=True)
                if id4 in doc["holders"]:
                    raise AssertionError("blob %s held by the full node" % h)
            return True
        self.wait(placed, "every blob to have its 2 copies without node 4")
        self.wait(lambda: self.under_replicated() == 0 or None, "under_replicated 0")
        self.assertEqual(self.local_blobs(n4) & set(self.hashes), set(),
                         "blob files on the full node")
        # The keeper never tried: nothing was pushed for node 4 to refuse.
        self.assertEqual(self.metric_sum("imgarc_copies_refused_disk_full_total", c.nodes[:3]),
                         refused_before)
        self.assertEqual(n4.metrics()["imgarc_disk_full"], 1)
        # Reports only on change: one each so far (capacity and fullness did not move),
        # however many one-second ticks and captures went by.
        for n in c.nodes:
            with open(n.log_path, "rb") as f:
                lines = [x for x in f.read().decode("utf-8", "replace").splitlines()
                         if "reported this node's space" in x]
            self.assertEqual(len(lines), 1, "%s: %s" % (n.name, lines))
            self.assertIn("full (placement sends it no new copies)" if n is n4
                          else "not full", lines[0])

    def test_03_operator_weight(self):
        c = self.cluster
        n1, n2 = c.nodes[0], c.nodes[1]
        id2 = self.nid(n2)
        path = "/api/v1/cluster/nodes/%d/weight" % id2
        for bad in (b'{"weight_pct": 0}', b'{"weight_pct": 1001}', b'{"weight_pct": "5"}',
                    b'{}'):
            r = n1.request("PUT", path, bad)
            self.assertStatus(r, 400, "weight %r" % bad)
        r = n1.request("PUT", "/api/v1/cluster/nodes/12345/weight", b'{"weight_pct": 50}')
        self.assertStatus(r, 404, "weight of a non-member")
        r = n1.request("PUT", path, b'{"weight_pct": 1000}')
        self.assertStatus(r, 200, "weight 1000%")
        self.assertEqual(r.json["weight_pct"], 1000)
        self.assertIs(r.json["changed"], True)
        r = n1.request("PUT", path, b'{"weight_pct": 1000}')
        self.assertStatus(r, 200, "the same weight again")
        self.assertIs(r.json["changed"], False)
        v = self.view(n1)
        x2 = self.view_node(v, id2)
        self.assertEqual(x2["weight_pct"], 1000)
        others = [x["weight"] for x in v["nodes"] if int(x["id"]) != id2]
        self.assertEqual(x2["weight"], 10 * max(others))
        # Ten times the weight of the others: node 2 ranks last of the three non-full
        # zones for about 1.5% of blobs, so it is wanted for nearly all of them.
        wanted = sum(1 for h in self.hashes if id2 in self.blob(h)["placement"])
        self.assertGreaterEqual(wanted, FILES - 3, "node 2 wanted for %d of %d blobs"
                                % (wanted, FILES))

        def moved():
            for h in self.hashes:
                doc = self.blob(h)
                if sorted(doc["holders"]) != sorted(doc["placement"]):
                    raise AssertionError("blob %s holders %s placement %s" % (
                        h[:12], self.names(doc["holders"]), self.names(doc["placement"])))
                self.replicated(h, set(doc["placement"]), exact_holders=True)
            return True
        self.wait(moved, "the copies to move where the weights want them")
        # The CLI: back to 100%, then its usage errors before any request.
        p = run_cli(n1, "cluster", "weight", str(id2), "100")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("node %d weight 100%% of its capacity" % id2, p.stdout)
        self.assertEqual(self.node_view(n2)["weight_pct"], 100)
        p = run_cli(n1, "cluster", "weight", str(id2), "100", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIs(cli_json(p)["changed"], False)
        for bad in ("0", "1001", "5x"):
            p = run_cli(n1, "cluster", "weight", str(id2), bad)
            self.assertEqual(p.returncode, 2, "PCT %s: %s" % (bad, p.stderr))
            self.assertIn("PCT", p.stderr)
        p = run_cli(n1, "cluster", "weight", "12345", "50")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("node_not_found", p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
