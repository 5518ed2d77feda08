"""Several commands in one raft entry, against a real node over real HTTP.

The leader gathers the pool pushes, captures and submits proposed in one loop
iteration into one raft entry (replication/propose_local.c, --entry-commands). Each
client still gets its own answer; a command refused inside an entry does not fail its
neighbours; a command whose webhook deliveries find no ids left in a shared entry is
proposed again alone (imgarc_raft_proposals_requeued_total), and nothing is lost or
applied twice across a kill -9."""

import json
import socket
import time
import unittest

from imgarc_node import NodeTestCase, ResponseReader, build_request

BURST = 64


class SharedEntriesTest(NodeTestCase):

    def burst(self, node, bodies, key_prefix=None):
        """Sends one POST /api/v1/pool per body on its own connection, all written
        before any answer is read, so the node reads them in one loop iteration; returns
        the answers in order."""
        socks = []
        for _ in bodies:
            s = socket.create_connection(("127.0.0.1", node.http_port), timeout=30)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        reqs = []
        for i, body in enumerate(bodies):
            hs = dict(node.auth_headers())
            hs["Content-Type"] = "application/json"
            if key_prefix is not None:
                hs["Idempotency-Key"] = "%s-%d" % (key_prefix, i)
            reqs.append(build_request("POST", "/api/v1/pool", hs, json.dumps(body).encode()))
        for s, req in zip(socks, reqs):
            s.sendall(req)
        answers = []
        for s in socks:
            answers.append(ResponseReader(s).read("POST"))
            s.close()
        return answers

    def wait_space_reported(self, node):
        """Waits for the node's one proposal of its own after a start (ReportNodeSpace,
        its capacity), so that the proposals counted are the test's alone."""
        deadline = time.monotonic() + 60
        while True:
            r = node.get("/api/v1/cluster")
            if r.status == 200 and all(n.get("capacity_bytes") for n in r.json["nodes"]):
                return
            if time.monotonic() > deadline:
                self.fail("the node never reported its space: %r" % (r.json,))
            time.sleep(0.1)

    def test_bursts_share_entries_and_each_client_gets_its_answer(self):
        node = self.start_node("shared-entries")
        self.wait_space_reported(node)
        m0 = node.metrics()
        pushed = []
        for b in range(5):
            bodies = [{"image_no": "SE-%d-%02d" % (b, i), "bill_no": "B%d" % i}
                      for i in range(BURST)]
            # One body the node refuses inside the burst: its neighbours still apply.
            bodies[7] = {"image_no": "not a valid image number!"}
            answers = self.burst(node, bodies)
            for i, a in enumerate(answers):
                if i == 7:
                    self.assertEqual(a.status, 400, a)
                    continue
                self.assertEqual(a.status, 201, a)
                self.assertEqual(a.json["image_no"], bodies[i]["image_no"])
                pushed.append(bodies[i]["image_no"])
        m1 = node.metrics()
        proposals = m1["imgarc_raft_proposals_total"] - m0["imgarc_raft_proposals_total"]
        entries = m1["imgarc_raft_entries_proposed_total"] - \
            m0["imgarc_raft_entries_proposed_total"]
        self.assertEqual(proposals, len(pushed))
        self.assertLess(entries, proposals, "no entry held two commands: %r" % m1)
        # Every bill is there once, and stays after a kill -9 (the log replays into
        # the entries' write batches; nothing applies twice).
        listed = {b["image_no"] for b in node.all_bills()}
        self.assertTrue(set(pushed) <= listed)
        node.kill9()
        node.start()
        listed = [b["image_no"] for b in node.all_bills()]
        self.assertEqual(sorted(x for x in listed if x.startswith("SE-")), sorted(pushed))
        self.assertEqual(node.stop(), 0)

    def test_one_command_per_entry_when_asked(self):
        node = self.start_node("one-per-entry", args=["--entry-commands", "1"])
        m0 = node.metrics()
        answers = self.burst(node, [{"image_no": "SO-%02d" % i} for i in range(16)])
        self.assertTrue(all(a.status == 201 for a in answers), answers)
        m1 = node.metrics()
        self.assertEqual(m1["imgarc_raft_entries_proposed_total"] -
                         m0["imgarc_raft_entries_proposed_total"],
                         m1["imgarc_raft_proposals_total"] - m0["imgarc_raft_proposals_total"])
        self.assertEqual(node.stop(), 0)

    def test_a_full_entry_sends_commands_back_alone(self):
        """32 webhooks (a tenant's most) each want every new bill: 32 deliveries per
        push, so an entry has ids for 32 pushes; the rest of a bigger burst is proposed
        again alone. Every push is answered 201 once and has its 32 deliveries."""
        node = self.start_node("entry-full", args=["--outbound-allow", "127.0.0.1",
                                                   "--webhook-retry-ms", "600000"])
        for w in range(32):
            r = node.post("/api/v1/webhooks", json.dumps(
                {"url": "http://127.0.0.1:9/hook%d" % w, "events": ["pending_upload"]}).encode(),
                headers={"Content-Type": "application/json"})
            self.assertStatus(r, 201)
        pushed = []
        requeued = 0
        # A burst fills an entry only when the node reads 33 or more of its requests in
        # one loop iteration; a loaded machine spreads some bursts, so up to 30 are sent.
        for b in range(30):
            bodies = [{"image_no": "SF-%d-%02d" % (b, i)} for i in range(BURST)]
            answers = self.burst(node, bodies, key_prefix="sf-%d" % b)
            for body, a in zip(bodies, answers):
                self.assertEqual(a.status, 201, a)
                self.assertIs(a.json.get("replayed", False), False)
                pushed.append(body["image_no"])
            requeued = node.metrics()["imgarc_raft_proposals_requeued_total"]
            if requeued > 0:
                break
        self.assertGreater(requeued, 0, "no burst filled an entry's delivery ids")
        for image_no in pushed:
            r = node.get("/api/v1/bills/%s/deliveries" % image_no)
            self.assertStatus(r, 200)
            self.assertEqual(len(r.json["deliveries"]), 32, image_no)
            self.assertEqual(len({d["webhook"] for d in r.json["deliveries"]}), 32)
        self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    unittest.main()
