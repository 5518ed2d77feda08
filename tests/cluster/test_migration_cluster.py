"""A migration batch survives its leader: a three-node cluster moves bills in from
another imgarc node, the leader is killed with -9 in the middle of the batch, and the
new leader finishes it from the replicated progress: every bill arrives once, with
its bytes, readable on every member, and the killed node catches up after its
restart."""

import json
import time
import unittest

from imgarc_cluster import ClusterTestCase
from imgarc_node import Node, make_jpg

JSON = {"Content-Type": "application/json"}
BILLS = 20
# Slow downloads (50 KB/s on the leader) so the kill lands mid-batch.
ARGS = ["--migrate-lanes", "2", "--migrate-bytes-per-s", "50000"]


class MigrationClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("migc", 3, extra_args=ARGS)
        cls.src = Node("migc-src")
        cls.addClassCleanup(cls.src.cleanup)
        cls.src.start()

    def post(self, node, path, body):
        return node.post(path, json.dumps(body).encode(), headers=JSON)

    def batch(self, node, batch_no):
        r = node.get("/api/v1/migrations/" + batch_no)
        self.assertStatus(r, 200)
        return r.json

    def test_the_new_leader_finishes_the_batch(self):
        src = self.src
        for i in range(BILLS):
            no = "MC-%03d" % i
            self.assertStatus(src.upload(no, make_jpg(15000, seed=300 + i), name="a.jpg",
                                         category="attachment"), 201)
            self.assertStatus(src.upload(no, make_jpg(8000, seed=700 + i), name="b.jpg",
                                         category="attachment"), 201)
        r = self.post(src, "/api/v1/clients", {"tenant": "default", "name": "migration"})
        self.assertStatus(r, 201)
        cid, secret = r.json["client_id"], r.json["client_secret"]

        follower = self.cluster.followers()[0]
        self.assertStatus(self.post(follower, "/api/v1/datasources", {
            "name": "src", "kind": "imgarc", "url": src.url, "tenant": "default",
            "client_id": cid, "client_secret": secret}), 201)
        self.assertStatus(self.post(follower, "/api/v1/migrations",
                                    {"batch_no": "MC1", "datasource": "src"}), 201)
        self.assertStatus(follower.post("/api/v1/migrations/MC1/start"), 200)

        leader = self.cluster.leader()
        self.wait_for(lambda: self.batch(leader, "MC1")["counts"]["migrated"] >= 3, 90,
                      "three bills migrated")
        before = self.batch(leader, "MC1")["counts"]["migrated"]
        self.assertLess(before, BILLS, "the batch ended before the kill")
        leader.kill9()
        new = self.cluster.leader(exclude=(leader,))
        self.assertIsNot(new, leader)
        self.wait_for(lambda: self.batch(new, "MC1")["state"] in ("done", "failed"), 180,
                      "the batch done under the new leader")
        b = self.batch(new, "MC1")
        self.assertEqual((b["state"], b["counts"]["migrated"], b["counts"]["failed"]),
                         ("done", BILLS, 0), b)
        usage = new.get("/api/v1/tenants/default/usage").json
        self.assertEqual((usage["bills"], usage["files"]), (BILLS, 2 * BILLS))

        leader.restart()
        self.cluster.wait_converged()
        for node in self.cluster.nodes:
            for i in range(0, BILLS, 4):
                no = "MC-%03d" % i
                a, t = src.bill(no).json, node.bill(no).json
                self.assertEqual([f["blob"] for f in a["files"]],
                                 [f["blob"] for f in t["files"]], (node.name, no))
                for f in t["files"]:
                    self.assertEqual(node.content(f["file_id"]).body,
                                     src.content(f["file_id"]).body, (node.name, no))


if __name__ == "__main__":
    unittest.main()
