"""The recognition hook in a 3-node cluster (issue 11): the queue is replicated state,
so a file waiting for recognition is finished by the next leader when the leader dies
(kill -9) in the middle of an attempt, and every node shows the same result.

The service (tests/integration/test_recognition.py's) holds its first answer for the
bill long enough for the leader to be killed while the attempt is in flight, then
answers the next attempt at once."""

import unittest

from imgarc_cluster import ClusterTestCase
from imgarc_node import make_jpg, make_pdf
from test_recognition import DECLARED, Service, answer


class RecognitionClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.service = Service()
        cls.addClassCleanup(cls.service.stop)
        cls.start_cluster("rcc", 3, extra_args=[
            "--recognition-url", cls.service.url, "--recognition-retry-ms", "200",
            "--recognition-retry-max-ms", "400", "--recognition-timeout-ms", "20000"])

    def file(self, node, image_no, file_id):
        r = node.bill(image_no)
        self.assertStatus(r, 200)
        f, = [f for f in r.json["files"] if f["file_id"] == file_id]
        return f

    def test_the_next_leader_finishes_what_a_killed_leader_started(self):
        leader = self.cluster.leader()
        follower = self.cluster.followers()[0]
        self.service.script["RCC-1"] = [answer(200, delay=15), answer(200)]
        self.assertStatus(follower.pool_push({"image_no": "RCC-1", "bill_no": "B-1",
                                              "invoices": [DECLARED]}), 201)
        self.assertStatus(follower.upload("RCC-1", make_pdf(text="RCC-1 cover"),
                                          name="cover.pdf", category="cover"), 201)
        data = make_jpg(40000, seed=21)
        r = follower.upload("RCC-1", data, name="scan.jpg", query="recognize=true")
        self.assertStatus(r, 201)
        file_id = r.json["file_id"]
        self.wait_for(lambda: self.service.requests_for("RCC-1"), 30,
                      "the leader to send the file")
        f = self.file(follower, "RCC-1", file_id)
        self.assertEqual((f["recognition"]["state"], f["recognition"]["attempts"]),
                         ("pending", 0))
        leader.kill9()
        new = self.cluster.leader(exclude=(leader,), timeout=60)
        self.assertIsNot(new, leader)

        def done():
            f = self.file(follower, "RCC-1", file_id)
            return f if f["recognition"]["state"] != "pending" else None
        f = self.wait_for(done, 60, "the new leader to finish the recognition")
        self.assertEqual((f["recognition"]["state"], f["recognition"]["attempts"]),
                         ("done", 1))
        self.assertEqual(f["invoice"]["number"], DECLARED["number"])
        reqs = self.service.requests_for("RCC-1")
        self.assertGreaterEqual(len(reqs), 2)
        # At least once, the same file each time, its bytes whichever node sent them.
        self.assertEqual({q["headers"]["X-Imgarc-File-Id"] for q in reqs}, {file_id})
        for q in reqs:
            self.assertEqual(q["body"], data)
        alive = [n for n in self.cluster.nodes if n is not leader]
        self.cluster.wait_converged(alive)
        for n in alive:
            f = self.file(n, "RCC-1", file_id)
            self.assertEqual(f["recognition"]["state"], "done", n.name)
        # The killed node catches up when it comes back.
        leader.start()
        self.cluster.wait_converged()
        self.assertEqual(self.file(leader, "RCC-1", file_id)["recognition"]["state"], "done")


class RecognitionRemoteReadTest(ClusterTestCase):
    """One copy of each file (--replicas 1): a file captured through a follower is
    held by that follower only, so the leader reads it from there to send it."""

    @classmethod
    def setUpClass(cls):
        cls.service = Service()
        cls.addClassCleanup(cls.service.stop)
        cls.start_cluster("rcr", 2, voters=1, extra_args=[
            "--recognition-url", cls.service.url, "--replicas", "1",
            "--write-quorum", "1"])

    def test_the_leader_sends_a_file_only_another_node_holds(self):
        follower = self.cluster.followers()[0]
        leader = self.cluster.leader()
        self.assertStatus(follower.pool_push({"image_no": "RCR-1", "bill_no": "B"}), 201)
        data = make_jpg(200000, seed=22)
        r = follower.upload("RCR-1", data, name="scan.jpg", query="recognize=true")
        self.assertStatus(r, 201)
        file_id = r.json["file_id"]
        blob = r.json["blob"]
        holders = leader.get("/api/v1/cluster/blobs/" + blob).json["holders"]
        self.assertEqual(holders, [self.cluster.node_id(follower)])

        def done():
            r = follower.bill("RCR-1")
            f, = [f for f in r.json["files"] if f["file_id"] == file_id]
            return f if f["recognition"]["state"] != "pending" else None
        f = self.wait_for(done, 60, "the leader to recognise the file")
        self.assertEqual(f["recognition"]["state"], "done", f)
        req, = self.service.requests_for("RCR-1")
        self.assertEqual(req["body"], data)


if __name__ == "__main__":
    unittest.main()
