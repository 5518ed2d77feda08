"""Quorum loss: two of three nodes are lost for good. The survivor restarted with
--recover becomes the only voter and serves what it has; captures wait for the write
quorum until the lost nodes are removed; a new node joins and gets the copies."""

import os
import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for


class RecoverTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("rec", 3, extra_args=["--repair-after-ms", "2000"])

    def test_recover_after_losing_two_voters(self):
        c = self.cluster
        c.leader()
        files = {}
        for i in range(4):
            data = os.urandom(50000 + i)
            r = c.nodes[i % 3].upload("REC-%d" % i, data, name="r%d.bin" % i)
            self.assertStatus(r, 201)
            files[r.json["file_id"]] = (data, r.json["index"], r.json["blob"])
        top = max(index for _, index, _ in files.values())
        blobs = [blob for _, _, blob in files.values()]
        c.wait_converged()
        # Every copy made and recorded before the loss: a capture is answered at W=2
        # copies, and the third copy's holder record may still be on its way. (A copy
        # on disk whose holder record was lost with the quorum is not claimed back by
        # its node yet: see the note on issue 15.)
        for b in blobs:
            wait_for(lambda: len(c.nodes[0].get("/api/v1/cluster/blobs/%s" % b).json[
                "holders"]) == 3, 60, "blob %s recorded on all three nodes" % b[:16])
        c.wait_converged()
        survivor, lost = c.nodes[0], c.nodes[1:]
        lost_ids = [c.node_id(n) for n in lost]
        for n in lost:
            n.kill9()
        survivor.kill9()

        # Without --recover the survivor has no quorum: no leader, no writes.
        survivor.args = survivor.args + ["--recover", "true"]
        survivor.start()
        wait_for(lambda: survivor.get("/readyz").status == 200, 60, "the survivor leads")
        view = c.view(survivor)
        self.assertEqual(view["leader"], c.node_id(survivor))
        self.assertEqual([x["id"] for x in view["nodes"]], [c.node_id(survivor)])
        for fid, (data, _, _) in files.items():
            r = survivor.content(fid, headers={"X-Imgarc-Min-Index": str(top)})
            self.assertStatus(r, 200)
            self.assertEqual(r.body, data)

        # The lost nodes are still registered: they are marked out, and a capture
        # cannot get its write quorum of 2.
        wait_for(lambda: all(survivor.get("/api/v1/cluster/blobs/%s" % b).json[
            "live_holders"] == [c.node_id(survivor)] for b in blobs),
            30, "the lost nodes' copies no longer counted")
        r = survivor.upload("REC-X", b"after the loss", name="x.bin")
        self.assertError(r, 503, 10503, "unavailable")
        self.assertIn("write quorum", r.json["message"])

        # Removing them leaves a one-node cluster, which takes captures again.
        for node_id in lost_ids:
            r = survivor.request("DELETE", "/api/v1/cluster/nodes/%s" % node_id)
            self.assertStatus(r, 200)
        r = wait_for(lambda: (lambda r: r if r.status == 201 else None)(
            survivor.upload("REC-X", b"after the loss", name="x.bin", key="rec-x")),
            30, "a capture on the recovered node")
        self.assertEqual(r.json["copies"], 1)

        # A new node joins: every blob gets its second copy there.
        survivor.args = survivor.args[:-2]  # without --recover true
        fresh = c.add(join=survivor)
        wait_for(lambda: c.view(survivor)["under_replicated"] == 0 and
                 all(fresh.blob_file(b) is not None for b in blobs),
                 90, "the new node holding a copy of every blob")
        for data, _, blob in files.values():
            self.assertEqual(fresh.blob_file(blob), data)


if __name__ == "__main__":
    unittest.main()
