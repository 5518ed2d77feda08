"""The capture workflow on a three-node cluster: definitions, pool push, capture,
submit, automatic matching, ERP submission and webhooks through different nodes, and
a webhook delivery that keeps going when the leader that was sending it dies.

Blobs are not replicated yet, so every upload of a bill goes through the same node;
everything else (metadata, state, matching, the outbox) is the replicated state
machine's and is checked on every node."""

import json
import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for
from imgarc_node import make_pdf, quote
from test_webhooks import Receiver

INVOICES = [
    {"number": "C0001", "code": "044", "date": "2026-11-01", "amount": "100.00", "tax": "13.00"},
    {"number": "C0002", "code": "044", "date": "2026-11-02", "amount": "20", "tax": "0"},
]
ARGS = ["--webhook-retry-ms", "200", "--webhook-retry-max-ms", "400",
        "--webhook-attempts", "100"]


class WorkflowClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("wf", 3, extra_args=ARGS)

    def post(self, node, path, body):
        return node.request("POST", path, body=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"})

    def hook(self, node, url, events):
        r = self.post(node, "/api/v1/webhooks", {"url": url, "events": events})
        self.assertStatus(r, 201)
        self.addCleanup(lambda: self.cluster.leader().request(
            "DELETE", "/api/v1/webhooks/" + r.json["id"]))
        return r.json["id"]

    def states(self, image_no):
        out = {}
        for n in self.cluster.alive():
            r = n.status(image_no)
            out[n.name] = r.json["state"] if r.status == 200 else r.status
        return out

    def wait_state(self, image_no, state, timeout=60):
        return wait_for(lambda: all(s == state for s in self.states(image_no).values()),
                        timeout, "%s to be %s on every node (%r)"
                        % (image_no, state, self.states(image_no)), interval=0.1)

    def test_01_match_bill_to_the_erp_through_different_nodes(self):
        a, b = self.cluster.followers()[:2]
        leader = self.cluster.leader()
        ready_rx, erp_rx = Receiver(), Receiver()
        self.addCleanup(ready_rx.stop)
        self.addCleanup(erp_rx.stop)
        # Definitions through one follower, webhooks through the other.
        self.assertStatus(self.post(a, "/api/v1/bill-types", {"code": "CL_M", "mode": "match"}),
                          201)
        self.assertStatus(self.post(a, "/api/v1/schemes", {"bill_type": "CL_M",
                                                           "submit": "auto"}), 201)
        self.hook(b, ready_rx.url, ["ready"])
        self.hook(b, erp_rx.url, ["erp_submit"])
        # The ERP pushes through the leader; the scanner uploads through follower a.
        r = leader.pool_push({"image_no": "CL-WF-1", "bill_type": "CL_M", "invoices": INVOICES})
        self.assertStatus(r, 201)
        min_index = {"X-Imgarc-Min-Index": str(r.json["index"])}
        r = a.upload("CL-WF-1", make_pdf(text="cover"), name="cover.pdf",
                     query="barcode=CL-WF-1", headers=min_index)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["category"], "cover")
        files = []
        for inv in INVOICES:
            q = "&".join("invoice_%s=%s" % (k, quote(v)) for k, v in inv.items())
            r = a.upload("CL-WF-1", make_pdf(text=inv["number"]), name="i.pdf", query=q)
            self.assertStatus(r, 201)
            files.append(r.json["file_id"])
        # One invoice's data is wrong: submit leaves the bill submitted.
        r = a.request("PATCH", "/api/v1/bills/CL-WF-1/files/" + files[1],
                      body=json.dumps({"invoice": dict(INVOICES[1], tax="1")}).encode())
        self.assertStatus(r, 200)
        r = b.post("/api/v1/bills/CL-WF-1/submit", b"",
                   headers={"X-Imgarc-Min-Index": str(r.json["index"])})
        self.assertStatus(r, 200)
        self.wait_state("CL-WF-1", "submitted")
        for n in self.cluster.alive():
            s = n.status("CL-WF-1").json
            self.assertEqual(s["invoices"], {"declared": 2, "matched": 1}, n.name)
            m = n.get("/api/v1/bills/CL-WF-1/match").json
            self.assertIn("total amount", [f["problem"] for f in m["files"]
                                           if f["file_id"] == files[1]][0])
        # Fixed through the leader, re-matched through follower b: ready, then the ERP.
        r = leader.request("PATCH", "/api/v1/bills/CL-WF-1/files/" + files[1],
                           body=json.dumps({"invoice": INVOICES[1]}).encode())
        self.assertStatus(r, 200)
        r = b.request("POST", "/api/v1/bills/CL-WF-1/match", body=b"",
                      headers={"X-Imgarc-Min-Index": str(r.json["index"])})
        self.assertStatus(r, 200)
        self.assertIn(r.json["state"], ("ready", "erp_submitted"))
        self.wait_state("CL-WF-1", "erp_submitted")
        (_, headers, body), = erp_rx.wait_for(1)
        sent = json.loads(body)
        self.assertEqual(sent["image_no"], "CL-WF-1")
        self.assertEqual([f["match"] for f in sent["files"] if f["category"] == "invoice"],
                         ["C0001", "C0002"])
        got = ready_rx.wait_for(1)
        self.assertEqual(json.loads(got[0][2])["event"], "ready")
        time.sleep(0.5)
        self.assertEqual(len(ready_rx.received()), 1, "one ready event, from the leader")
        # Every node lists the same deliveries, and the metadata is identical.
        lists = []
        for n in self.cluster.alive():
            ds = n.get("/api/v1/bills/CL-WF-1/deliveries").json["deliveries"]
            lists.append([(d["event"], d["state"]) for d in ds])
        self.assertEqual(len({json.dumps(x) for x in lists}), 1, lists)
        self.assertEqual(sorted(lists[0]), [("erp_submit", "delivered"), ("ready", "delivered")])
        self.cluster.wait_converged()

    def test_02_delivery_goes_on_when_the_leader_dies(self):
        leader = self.cluster.leader()
        follower = self.cluster.followers()[0]
        rx = Receiver(statuses=(503,))
        self.addCleanup(rx.stop)
        self.hook(follower, rx.url, ["returned"])
        self.assertStatus(follower.pool_push({"image_no": "CL-WF-2"}), 201)
        self.assertStatus(follower.upload("CL-WF-2", make_pdf(text="x"), name="x.pdf"), 201)
        self.assertStatus(follower.submit("CL-WF-2"), 200)
        r = self.post(follower, "/api/v1/bills/CL-WF-2/return", {"reason": "blurred"})
        self.assertStatus(r, 200)
        rx.wait_for(2)  # the leader is retrying
        leader.kill9()
        rx.statuses = [200]
        new_leader = self.cluster.leader(exclude=(leader,))
        self.assertIsNot(new_leader, leader)

        def delivered():
            ds = follower.get("/api/v1/bills/CL-WF-2/deliveries").json["deliveries"]
            return [d for d in ds if d["state"] == "delivered"]
        d, = wait_for(delivered, 60, "the returned event to be delivered by the new leader")
        # The old leader's last report may have died with it: at least one attempt of
        # its own is recorded, then the new leader's successful one.
        self.assertGreaterEqual(d["attempts"], 2)
        self.assertGreaterEqual(len(rx.received()), 3)
        self.assertEqual(d["history"][-1]["http_status"], 200)
        ids = {h["X-Imgarc-Delivery"] for _, h, _ in rx.received()}
        self.assertEqual(ids, {d["id"]}, "every attempt is the same delivery")
        leader.start()
        self.cluster.wait_converged()


if __name__ == "__main__":
    unittest.main()
