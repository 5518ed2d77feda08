"""A member whose raft log conflicts with a new leader's, on real imgarcd nodes.

The guard for docs/replication.md, "libraft 0.22.1: the malformed AppendEntries abort":
libraft 0.22.1 frees a received entries batch twice when handling an AppendEntries
fails, and the one failure a message can cause by its content (a conflict at or below
the receiver's commit index) is never sent by a real leader. Here the conflict real
members do produce runs over raft_uv (segments on disk, the TCP transport): the
followers are killed, the leader appends writes that cannot commit, then it is stopped
itself (SIGSTOP) before the followers come back; they elect a new leader that commits
other writes at the same indexes, and the old leader is resumed (first round) or
restarted from its disk (second round): it must truncate its uncommitted entries,
replace them with the new leader's, stay up, and hold every acknowledged write. The
nodes run with LIBRAFT_TRACE so that the test sees the truncation in the old leader's
log.
"""

import os
import signal
import threading
import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for

LOST_WRITES = 6
NEW_WRITES = 10
# libraft's trace lines when a follower finds entries of another term in its log.
CONFLICT_TRACES = ("log mismatch", "previous term mismatch")


class LogConflictTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        os.environ["LIBRAFT_TRACE"] = "1"  # inherited by the nodes this test starts
        c = cls.start_cluster("lc", 3)
        # The joiners become voters a little after they are ready; the case needs
        # three voters, so that two of them elect a leader without the third.
        wait_for(lambda: [x["role"] for x in c.view(c.leader())["nodes"]] == ["voter"] * 3,
                 60, "three voters")

    def setUp(self):
        self.acknowledged = []   # image numbers whose push answered 2xx
        self.unanswered = []     # image numbers pushed to a leader that could not commit

    def push(self, node, image_no, timeout=None):
        r = node.pool_push({"image_no": image_no, "bill_no": "ER-" + image_no,
                            "amount": "10.00"}, timeout=timeout)
        if 200 <= r.status < 300:
            self.acknowledged.append(image_no)
        return r

    def push_unanswered(self, node, image_no):
        """A push to a leader whose followers are down: raft appends it to the leader's
        log only. The answer (none in time, or an error) is not an acknowledgement."""
        self.unanswered.append(image_no)
        try:
            self.push(node, image_no, timeout=4)
        except OSError:
            pass

    def leader_among(self, nodes):
        """The node all @nodes name as leader, once they agree on one of them."""
        ids = {self.cluster.node_id(n): n for n in nodes}

        def agreed():
            seen = set()
            for n in nodes:
                r = n.get("/readyz", auth=False, timeout=5)
                if r.status != 200:
                    return None
                seen.add(r.json["leader"])
            if len(seen) != 1:
                return None
            return ids.get(seen.pop())
        return wait_for(agreed, 60, "%s to elect one of them" % [n.name for n in nodes],
                        interval=0.1)

    def conflict_round(self, tag, restart_old):
        c = self.cluster
        old = c.leader()
        followers = [n for n in c.nodes if n is not old]
        self.assertEqual(self.push(old, "BX-%s-BEFORE" % tag).status, 201)
        c.wait_converged()

        # The leader appends writes nobody else receives, then stops.
        for n in followers:
            n.kill9()
        threads = [threading.Thread(target=self.push_unanswered,
                                    args=(old, "BX-%s-LOST-%d" % (tag, k)))
                   for k in range(LOST_WRITES)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        old.proc.send_signal(signal.SIGSTOP)
        old_log_offset = len(old.log_text(whole=True))
        try:
            # The followers come back and elect one of them, which commits other writes
            # at the indexes the old leader used.
            for n in followers:
                n.start(wait=False)
            new = self.leader_among(followers)
            for k in range(NEW_WRITES):
                self.assertEqual(self.push(new, "BX-%s-NEW-%d" % (tag, k)).status, 201)
        finally:
            old.proc.send_signal(signal.SIGCONT)
        if restart_old:
            old.restart(kill=True)

        # The old leader learns the new term, its conflicting entries are truncated and
        # replaced, and it applies the new leader's writes.
        self.assertIs(c.leader(), new)
        c.wait_converged()
        for n in c.nodes:
            self.assertTrue(n.alive(), "%s stopped:\n%s" % (n.name, n.log_tail()))
            self.assertIsNone(n.problems())
        tail = old.log_text(whole=True)[old_log_offset:]
        self.assertTrue(any(t in tail for t in CONFLICT_TRACES),
                        "the old leader's log shows no conflict: the case did not happen")
        self.assertEqual(self.acknowledged[1:],
                         ["BX-%s-NEW-%d" % (tag, k) for k in range(NEW_WRITES)])
        return old

    def assert_acknowledged_everywhere(self):
        """Every acknowledged write is on every node; the old leader's unacknowledged
        ones are on none (the new leader's entries replaced them)."""
        for n in self.cluster.nodes:
            for image_no in self.acknowledged:
                r = n.get("/api/v1/bills/%s" % image_no)
                self.assertEqual(r.status, 200, "%s lacks acknowledged %s: %r"
                                 % (n.name, image_no, r))
            for image_no in self.unanswered:
                self.assertNotIn(image_no, self.acknowledged)
                r = n.get("/api/v1/bills/%s" % image_no)
                self.assertEqual(r.status, 404, "%s holds %s, which only the deposed "
                                 "leader had: %r" % (n.name, image_no, r))

    def test_1_deposed_leader_truncates_its_uncommitted_entries(self):
        self.conflict_round("A", restart_old=False)
        self.assert_acknowledged_everywhere()

    def test_2_deposed_leader_restarted_from_its_disk(self):
        self.conflict_round("B", restart_old=True)
        self.assert_acknowledged_everywhere()
        # The cluster still takes writes on its leader.
        self.assertEqual(self.push(self.cluster.leader(), "BX-AFTER").status, 201)
        self.cluster.wait_converged()


if __name__ == "__main__":
    unittest.main()
