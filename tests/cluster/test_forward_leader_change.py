"""A write forwarded to a leader that stops answering ends as soon as the follower sees
a new leader: the client is told to retry then, not after the forward's whole timeout
(15 s), and its retry with the same Idempotency-Key is applied once."""

import signal
import time

from imgarc_cluster import ClusterTestCase


class ForwardLeaderChangeTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cls.start_cluster("fwdlc", 3)

    def test_forward_to_a_stopped_leader_ends_when_another_leads(self):
        c = self.cluster
        old = c.leader()
        old_id = c.node_id(old)
        follower = [n for n in c.nodes if n is not old][0]
        warm = follower.pool_push({"image_no": "FLC-0", "bill_no": "ER-0"}, key="flc-0")
        self.assertIn(warm.status, (200, 201), warm)
        old.signal(signal.SIGSTOP)
        try:
            r = follower.pool_push({"image_no": "FLC-1", "bill_no": "ER-1"}, key="flc-1",
                                   timeout=60)
            self.assertError(r, 503, 10503, "unavailable")
            msg = r.json["message"]
            self.assertIn("the leader changed from node %s to node " % old_id, msg)
            self.assertIn("outcome is unknown", msg)
            # The retry with the same key, through the same node, is applied.
            deadline = time.monotonic() + 60
            while True:
                r2 = follower.pool_push({"image_no": "FLC-1", "bill_no": "ER-1"},
                                        key="flc-1", timeout=60)
                if r2.status in (200, 201) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertIn(r2.status, (200, 201), r2)
        finally:
            old.signal(signal.SIGCONT)
        c.wait_converged()
        for n in c.nodes:
            log = n.audit_log("FLC-1").json["entries"]
            created = [e for e in log if e["action"] == "pool_created"]
            updated = [e for e in log if e["action"] == "pool_updated"]
            self.assertEqual((len(created), len(updated)), (1, 0), (n.name, log))
