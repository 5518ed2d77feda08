"""A leader stopped with SIGTERM hands leadership over first (raft's TimeoutNow), so
the others go on at once instead of waiting out an election timeout; a follower
stopped the same way just stops."""

import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for

# A long election timeout makes the difference plain: without a hand-over the others
# would wait at least this long before electing a new leader.
ARGS = ["--election-timeout-ms", "5000", "--heartbeat-timeout-ms", "200"]


class HandoverTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("ho", 3, extra_args=ARGS)

    def three_voters(self):
        def voters():
            view = self.cluster.view(self.cluster.leader(timeout=60))
            return [x for x in view["nodes"] if x["role"] == "voter"]
        wait_for(lambda: len(voters()) == 3, 60, "three voters", interval=0.2)

    def test_sigterm_on_the_leader_hands_leadership_over(self):
        self.three_voters()  # else losing the leader also loses the quorum
        leader = self.cluster.leader(timeout=60)
        others = [n for n in self.cluster.alive() if n is not leader]
        self.assertStatus(others[0].pool_push({"image_no": "HO-1"}), 201)
        start = time.monotonic()
        leader.stop()  # SIGTERM, waits for the exit
        new = self.cluster.leader(timeout=30, exclude=(leader,))
        took = time.monotonic() - start
        self.assertIn(new, others)
        self.assertIn("handed leadership over to node %s" % self.cluster.node_id(new),
                      leader.log_text(whole=True))
        # Well under the 5 s election timeout the others would otherwise wait.
        self.assertLess(took, 4.5, "a new leader took %.1f s" % took)
        r = new.pool_push({"image_no": "HO-2"})
        self.assertStatus(r, 201)
        leader.start()
        self.cluster.wait_converged()

    def test_sigterm_on_a_follower_just_stops(self):
        self.three_voters()
        follower = self.cluster.followers()[0]
        follower.stop()
        self.assertNotIn("handed leadership", follower.log_text(whole=True).split(
            "start #%d" % follower.starts)[-1])
        follower.start()
        wait_for(lambda: follower.get("/readyz", auth=False).status == 200, 30,
                 "the follower to be ready again")
        self.cluster.wait_converged()


if __name__ == "__main__":
    unittest.main()
