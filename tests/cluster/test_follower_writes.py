"""Writes and consistent reads through a follower (issue 14): the follower answers once
it has applied the entry itself (read-your-writes on the node written through), and the
leader, after answering a forwarded proposal or read index, tells the followers the new
commit index with a raft barrier when no other entry does (imgarc_raft_commit_notices_total),
rather than leaving them to learn it from the next heartbeat.

The heartbeat here is long (1 s), so that a follower that learned commits only from
heartbeats would be the slow path; how fast the writes are is measured by
bench/follower_bench.py, not asserted here.
"""

import unittest

from imgarc_cluster import Cluster, ClusterTestCase

# (The election timeout stays short enough for a stopped leader's hand-over, which
# waits two of them, to end within the harness's stop timeout.)
RAFT_SLOW_HEARTBEAT = ["--election-timeout-ms", "6000", "--heartbeat-timeout-ms", "1000"]


class SlowHeartbeatCluster(Cluster):
    def node_args(self, k, join, zone):
        args = super().node_args(k, join, zone)
        i = args.index("--election-timeout-ms")
        del args[i:i + 4]  # the harness's raft timing, replaced
        return args + RAFT_SLOW_HEARTBEAT


class FollowerWritesTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cluster = SlowHeartbeatCluster("fw", voters=3)
        cls.cluster = cluster
        cls.addClassCleanup(cluster.cleanup)
        cluster.start(3)

    def notices(self, node):
        return node.metrics()["imgarc_raft_commit_notices_total"]

    def test_1_each_write_through_a_follower_is_read_back_there(self):
        c = self.cluster
        leader = c.leader()
        follower = c.followers()[0]
        self.assertEqual(self.notices(follower), 0)  # only a leader appends them
        before = self.notices(leader)
        for i in range(5):
            no = "FW-%d" % i
            r = follower.pool_push({"image_no": no, "bill_no": "ER-" + no,
                                    "amount": "%d.00" % (i + 1)}, key="fw-push-%d" % i)
            self.assertStatus(r, 201)
            index = r.json["index"]
            self.assertGreaterEqual(int(r.header("x-imgarc-index")), index)
            # No index token: the node written through has applied it already.
            b = follower.bill(no)
            self.assertStatus(b, 200)
            self.assertEqual(b.json["bill_no"], "ER-" + no)
            self.assertEqual(b.json["amount"], "%d.00" % (i + 1))
            self.assertGreaterEqual(c.applied(follower), index)
            data = ("capture %d through a follower" % i).encode()
            r = follower.upload(no, data, name="f.bin", key="fw-up-%d" % i)
            self.assertStatus(r, 201)
            files = follower.bill(no).json["files"]
            self.assertEqual([f["file_id"] for f in files], [r.json["file_id"]])
            self.assertEqual(follower.content(r.json["file_id"]).body, data)
        # One write at a time on an idle cluster: no other entry carried the commit,
        # so the leader appended barriers for them.
        self.assertGreater(self.notices(leader), before)
        # A replay through the follower answers the first outcome.
        r = follower.upload("FW-0", b"capture 0 through a follower", name="f.bin",
                            key="fw-up-0")
        self.assertIn(r.status, (200, 201))
        self.assertIs(r.json["replayed"], True)
        self.assertEqual(len(follower.bill("FW-0").json["files"]), 1)

    def test_2_a_consistent_read_through_a_follower_sees_a_write_made_on_the_leader(self):
        c = self.cluster
        leader = c.leader()
        follower = c.followers()[1]
        r = leader.pool_push({"image_no": "FW-L", "bill_no": "ER-FW-L", "amount": "7.00"})
        self.assertStatus(r, 201)
        r = follower.get("/api/v1/bills/FW-L?consistent=true")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["bill_no"], "ER-FW-L")
        self.assertGreaterEqual(c.applied(follower), leader_index(r))
        # Every node holds the same metadata afterwards.
        c.wait_converged()


def leader_index(r):
    return int(r.header("x-imgarc-index"))


if __name__ == "__main__":
    unittest.main()
