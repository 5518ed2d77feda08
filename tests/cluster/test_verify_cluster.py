"""imgarc-verify --metadata on the nodes of a cluster with more nodes than copies: a
node is checked for the blobs its records say it holds, not for every file's blob."""

import os
import subprocess

from imgarc_cluster import ClusterTestCase
from imgarc_node import BIN_DIR, random_bytes

VERIFY = os.path.join(BIN_DIR, "imgarc-verify")


class VerifyClusterTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_cluster("vfc", 3, extra_args=["--replicas", "2"])

    def verify(self, node):
        return subprocess.run([VERIFY, "--data", node.data, "--metadata"],
                              capture_output=True, text=True, timeout=120)

    def test_only_the_blobs_a_node_holds_are_expected(self):
        c = self.cluster
        # Every node's first pass (a full one) is done before the captures, so what
        # settles their copies is the indexed passes: a capture through a node that
        # placement does not want leaves R copies off placement, which no class of
        # the blob index names (the capturing node asks for a recheck).
        # The nodes' space reports change placement's weights, which makes a full pass
        # due: they come first, then two passes more on every node (a metadata change
        # kicks one within a second), after which the candidates stay as they are.
        self.wait_for(lambda: all(x.get("capacity_bytes") for x in c.view(c.nodes[0])["nodes"]),
                      60, "every node's space report", interval=0.2)
        passes = {n.name: n.metrics()["imgarc_keeper_passes_total"] for n in c.nodes}
        k = [0]

        def two_more_passes():
            k[0] += 1
            self.assertEqual(c.nodes[0].pool_push({"image_no": "VC-K%d" % k[0]}).status, 201)
            return all(n.metrics()["imgarc_keeper_passes_total"] >= passes[n.name] + 2
                       for n in c.nodes)
        self.wait_for(two_more_passes, 90, "two more passes on every node", interval=1.2)
        full_before = {n.name: n.metrics()["imgarc_keeper_full_passes_total"] for n in c.nodes}
        self.assertTrue(all(v >= 1 for v in full_before.values()), full_before)
        ups = []
        for i in range(4):
            r = c.nodes[i % 3].upload("VC-1", random_bytes(50000 + i, seed=40 + i),
                                      name="f%d.bin" % i)
            self.assertEqual(r.status, 201, r)
            ups.append(r.json)
        c.wait_converged()
        holders = {}
        def settled(blob):
            # Copies are where placement wants them and nowhere else. Two holders is not
            # enough: a capture is answered at W copies, which may include the capturing
            # node; the keeper then copies to the placement node it lacks and trims the
            # capturer's copy, so the holders pass through other sets of two.
            d = c.nodes[0].get("/api/v1/cluster/blobs/%s" % blob).json
            want = d["placement"][:d["replicas"]]
            return d if len(want) == 2 and sorted(d["holders"]) == sorted(want) else None

        for up in ups:
            doc = self.wait_for(lambda: settled(up["blob"]), 120,
                                "blob %s to be held where placement wants it"
                                % up["blob"][:16], interval=0.5)
            holders[up["blob"]] = set(doc["holders"])
        self.assertEqual({n.name: n.metrics()["imgarc_keeper_full_passes_total"]
                          for n in c.nodes}, full_before,
                         "settled by a full pass, not by the indexed passes")
        c.wait_converged()
        for n in c.nodes:
            n.stop()
        elsewhere_total = 0
        for n in c.nodes:
            me = c.node_id(n)
            held = sum(1 for h in holders.values() if me in h)
            p = self.verify(n)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn("4 file records, 0 without their blob, %d held by other nodes only"
                          % (4 - held), p.stdout)
            elsewhere_total += 4 - held
        self.assertEqual(elsewhere_total, 4, "4 files, 2 copies each, on 3 nodes")
        # A copy a node is listed for and lacks is still reported.
        victim = next(n for n in c.nodes
                      if c.node_id(n) in holders[ups[0]["blob"]])
        blob = ups[0]["blob"]
        os.unlink(os.path.join(victim.data, "blobs", blob[:2], blob[2:4], blob))
        p = self.verify(victim)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("missing    file %s (bill VC-1)" % ups[0]["file_id"], p.stdout)
