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
        ups = []
        for i in range(4):
            r = c.nodes[i % 3].upload("VC-1", random_bytes(50000 + i, seed=40 + i),
                                      name="f%d.bin" % i)
            self.assertEqual(r.status, 201, r)
            ups.append(r.json)
        c.wait_converged()
        holders = {}
        for up in ups:
            # The capturing node may keep an extra copy until the keeper trims it.
            doc = self.wait_for(
                lambda: (lambda d: d if len(d["holders"]) == 2 else None)(
                    c.nodes[0].get("/api/v1/cluster/blobs/%s" % up["blob"]).json),
                120, "blob %s to have 2 holders" % up["blob"][:16], interval=0.5)
            holders[up["blob"]] = set(doc["holders"])
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
