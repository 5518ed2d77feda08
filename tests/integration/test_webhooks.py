"""Webhooks and the replicated outbox, against a real node and real HTTP receivers.

A tenant admin registers a URL for some events. Every state change of a bill (and a
license reaching 30, 7 or 1 days before expiry, or expiring) queues one delivery per
subscribed webhook in the replicated outbox; the leader POSTs it, signed with the
webhook's secret (X-Imgarc-Signature: sha256=HMAC(secret, "<timestamp>.<body>")),
retries with back-off until a 2xx or the last attempt, and records every attempt.
Deliveries survive a kill -9 of the node; a failed one can be retried by hand."""

import hashlib
import hmac
import http.server
import json
import os
import shutil
import threading
import time
import unittest

from imgarc_node import NodeTestCase, free_port, make_pdf, quote, scratch_dir
from test_tenants_licenses import DAY_MS, Key, now_ms

SECRET = "s3cret-for-the-itest-receiver"
RETRY_ARGS = ["--webhook-retry-ms", "200", "--webhook-retry-max-ms", "400",
              "--webhook-attempts", "3"]


class Receiver:
    """An HTTP server on 127.0.0.1 that records POSTs and answers @statuses in turn
    (the last one repeats)."""

    def __init__(self, statuses=(200,), port=0):
        self.statuses = list(statuses)
        self.requests = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with receiver.lock:
                    receiver.requests.append((self.path, dict(self.headers), body))
                    i = min(len(receiver.requests), len(receiver.statuses)) - 1
                    status = receiver.statuses[i]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def received(self):
        with self.lock:
            return list(self.requests)

    def wait_for(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.received()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        raise AssertionError("receiver got %d requests, expected %d" % (len(self.received()), n))


class WebhookTestCase(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        d = scratch_dir("webhook-keys")
        cls.addClassCleanup(shutil.rmtree, d, True)
        cls.key = Key(os.path.join(d, "k"))
        cls.node = cls.start_class_node(
            "webhooks", args=RETRY_ARGS + ["--license-pubkey", cls.key.public])

    def receiver(self, statuses=(200,)):
        r = Receiver(statuses)
        self.addCleanup(r.stop)
        return r

    def create(self, url, events, secret=SECRET, tenant=None, expect=201):
        body = {"url": url, "events": events}
        if secret is not None:
            body["secret"] = secret
        path = "/api/v1/webhooks" + ("?tenant=" + tenant if tenant else "")
        r = self.node.post(path, json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertStatus(r, expect, "create webhook")
        if expect == 201:
            self.addCleanup(self.node.request, "DELETE", "/api/v1/webhooks/%s%s" % (
                r.json["id"], "?tenant=" + tenant if tenant else ""))
        return r.json

    def captured_bill(self, image_no):
        self.assertStatus(self.node.pool_push({"image_no": image_no, "bill_no": "B-1"}), 201)
        self.assertStatus(self.node.upload(image_no, make_pdf(text=image_no), name="a.pdf"),
                          201)

    def deliveries(self, image_no, tenant=None):
        r = self.node.get("/api/v1/bills/%s/deliveries%s" % (
            quote(image_no), "?tenant=" + tenant if tenant else ""))
        self.assertStatus(r, 200)
        return r.json["deliveries"]

    def wait_state(self, image_no, state, n=1, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            ds = self.deliveries(image_no)
            if len(ds) >= n and all(d["state"] == state for d in ds):
                return ds
            time.sleep(0.1)
        self.fail("deliveries of %s never all %s: %r" % (image_no, state,
                                                          self.deliveries(image_no)))

    def assertSigned(self, headers, body, secret=SECRET):
        sig = headers.get("X-Imgarc-Signature")
        ts = headers.get("X-Imgarc-Timestamp")
        self.assertIsNotNone(sig, headers)
        self.assertRegex(ts, r"^[0-9]+$")
        self.assertLess(abs(int(ts) - time.time()), 60)
        want = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        self.assertEqual(sig, "sha256=" + want)


class TestDelivery(WebhookTestCase):
    def test_ready_event_is_delivered_signed(self):
        rx = self.receiver()
        hook = self.create(rx.url, ["ready"])
        self.assertEqual(hook["secret"], SECRET)
        self.assertRegex(hook["id"], r"^wh[0-9a-f]{16}$")
        self.captured_bill("WH-READY-1")
        self.assertEqual(self.deliveries("WH-READY-1"), [], "no webhook wants 'captured'")
        self.assertStatus(self.node.submit("WH-READY-1"), 200)
        (path, headers, body), = rx.wait_for(1)
        self.assertEqual(path, "/hook")
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(headers["X-Imgarc-Event"], "ready")
        self.assertSigned(headers, body)
        event = json.loads(body)
        self.assertEqual(event["event"], "ready")
        self.assertEqual(event["image_no"], "WH-READY-1")
        self.assertEqual(event["state"], "ready")
        self.assertEqual(event["previous_state"], "submitted")
        self.assertEqual(event["tenant"], "default")
        self.assertEqual(event["id"], headers["X-Imgarc-Delivery"])
        ds = self.wait_state("WH-READY-1", "delivered")
        self.assertEqual(len(ds), 1)
        d = ds[0]
        self.assertEqual(d["id"], event["id"])
        self.assertEqual((d["webhook"], d["event"], d["image_no"], d["attempts"]),
                         (hook["id"], "ready", "WH-READY-1", 1))
        self.assertEqual(d["payload"], event)
        self.assertEqual(d["history"][0]["http_status"], 200)
        self.assertIsNone(d["history"][0]["error"])
        self.assertIsNotNone(d["done"])
        self.assertIsNone(d["next_attempt"])
        time.sleep(0.5)
        self.assertEqual(len(rx.received()), 1, "delivered once")

    def test_wildcard_gets_every_state_in_order(self):
        rx = self.receiver()
        self.create(rx.url, ["*"])
        self.captured_bill("WH-ALL-1")
        self.assertStatus(self.node.submit("WH-ALL-1"), 200)
        got = rx.wait_for(4)
        events = [json.loads(b)["event"] for _, _, b in got]
        self.assertEqual(sorted(events), ["captured", "pending_upload", "ready", "submitted"])
        ids = [int(json.loads(b)["id"]) for _, _, b in got]
        ordered = [e for _, e in sorted(zip(ids, events))]
        self.assertEqual(ordered, ["pending_upload", "captured", "submitted", "ready"])
        self.wait_state("WH-ALL-1", "delivered", n=4)

    def test_receiver_failing_twice_then_succeeding(self):
        rx = self.receiver(statuses=(500, 503, 200))
        self.create(rx.url, ["ready"])
        self.captured_bill("WH-RETRY-1")
        self.assertStatus(self.node.submit("WH-RETRY-1"), 200)
        got = rx.wait_for(3)
        self.assertEqual(len({b for _, _, b in got}), 1, "every attempt sends the same body")
        self.assertEqual(len({h["X-Imgarc-Delivery"] for _, h, _ in got}), 1)
        for _, h, b in got:
            self.assertSigned(h, b)
        d, = self.wait_state("WH-RETRY-1", "delivered")
        self.assertEqual(d["attempts"], 3)
        self.assertEqual([a["http_status"] for a in d["history"]], [500, 503, 200])
        self.assertTrue(d["history"][0]["error"].startswith("HTTP 500"), d)

    def test_gives_up_then_manual_retry_delivers(self):
        rx = self.receiver(statuses=(500,))
        self.create(rx.url, ["ready"])
        self.captured_bill("WH-FAIL-1")
        self.assertStatus(self.node.submit("WH-FAIL-1"), 200)
        d, = self.wait_state("WH-FAIL-1", "failed")
        self.assertEqual(d["attempts"], 3, "--webhook-attempts 3")
        self.assertEqual(len(rx.received()), 3)
        failed = self.node.get("/api/v1/deliveries?state=failed&image_no=WH-FAIL-1")
        self.assertStatus(failed, 200)
        self.assertEqual([x["id"] for x in failed.json["deliveries"]], [d["id"]])
        metrics = self.node.metrics()
        self.assertGreaterEqual(metrics["imgarc_webhook_deliveries_failed_total"], 1)
        rx.statuses = [500, 500, 500, 200]
        r = self.node.post("/api/v1/deliveries/%s/retry" % d["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "pending")
        d, = self.wait_state("WH-FAIL-1", "delivered")
        self.assertEqual(len(rx.received()), 4)
        self.assertEqual(d["history"][-1]["http_status"], 200)

    def test_unreachable_receiver_records_the_error(self):
        url = "http://127.0.0.1:%d/nowhere" % free_port()
        self.create(url, ["ready"])
        self.captured_bill("WH-DOWN-1")
        self.assertStatus(self.node.submit("WH-DOWN-1"), 200)
        d, = self.wait_state("WH-DOWN-1", "failed")
        for a in d["history"]:
            self.assertIsNone(a["http_status"])
            self.assertTrue(a["error"], d)


class TestWebhookApi(WebhookTestCase):
    def test_list_show_delete_and_no_secret_after_creation(self):
        hook = self.create("https://erp.example/hooks/imgarc", ["ready", "erp_failed"],
                           secret=None)
        self.assertRegex(hook["secret"], r"^[0-9a-f]{64}$", "made by the archive")
        r = self.node.get("/api/v1/webhooks")
        self.assertStatus(r, 200)
        mine = [w for w in r.json["webhooks"] if w["id"] == hook["id"]]
        self.assertEqual(len(mine), 1)
        self.assertEqual(set(mine[0]), {"id", "url", "events", "created"})
        self.assertEqual(mine[0]["events"], ["ready", "erp_failed"])
        r = self.node.get("/api/v1/webhooks/%s" % hook["id"])
        self.assertStatus(r, 200)
        self.assertNotIn("secret", r.json)
        r = self.node.request("DELETE", "/api/v1/webhooks/%s" % hook["id"])
        self.assertStatus(r, 200)
        self.assertError(self.node.get("/api/v1/webhooks/%s" % hook["id"]), 404, 11023,
                         "webhook_not_found")
        self.assertError(self.node.request("DELETE", "/api/v1/webhooks/%s" % hook["id"]), 404,
                         11023, "webhook_not_found")
        audit = self.node.get("/api/v1/audit").json
        actions = [e["action"] for e in audit["entries"]]
        self.assertIn("webhook_created", actions)
        self.assertIn("webhook_deleted", actions)

    def test_invalid_webhooks_are_refused(self):
        cases = [
            ({"url": "ftp://x/y", "events": ["ready"]}, "http:// or https://"),
            ({"url": "http://", "events": ["ready"]}, "no host"),
            ({"url": "http://a b/", "events": ["ready"]}, "spaces"),
            ({"url": "http://x/", "events": ["readyy"]}, "readyy"),
            ({"url": "http://x/", "events": []}, "events"),
            ({"url": "http://x/", "events": "ready"}, "events"),
            ({"url": "http://x/", "events": ["ready"], "secret": "short"}, "secret"),
            ({"events": ["ready"]}, "url"),
        ]
        for body, words in cases:
            r = self.node.post("/api/v1/webhooks", json.dumps(body).encode())
            e = self.assertError(r, 400, 11005, "invalid_field", msg=repr(body))
            self.assertIn(words, e["message"], body)
        self.assertError(self.node.post("/api/v1/webhooks", b"{not json"), 400, 11004,
                         "invalid_json")

    def test_deliveries_queries(self):
        self.assertError(self.node.get("/api/v1/deliveries?state=lost"), 400, 11011,
                         "invalid_query")
        self.assertError(self.node.get("/api/v1/deliveries?limit=0"), 400, 11011,
                         "invalid_query")
        self.assertError(self.node.post("/api/v1/deliveries/123456/retry"), 404, 11024,
                         "delivery_not_found")
        self.assertError(self.node.post("/api/v1/deliveries/abc/retry"), 404, 11024,
                         "delivery_not_found")
        self.assertError(self.node.get("/api/v1/bills/NO-SUCH-BILL/deliveries"), 404, 11002,
                         "bill_not_found")

    def test_tenants_see_only_their_own_webhooks_and_events(self):
        for t in ("whta", "whtb"):
            r = self.node.post("/api/v1/tenants", json.dumps({"id": t}).encode())
            self.assertStatus(r, 201)
            doc = self.key.sign(t, now_ms() + 365 * DAY_MS, 10 ** 9)
            self.assertStatus(self.node.post("/api/v1/licenses", doc), 201)
        rx_a, rx_b = self.receiver(), self.receiver()
        hook_a = self.create(rx_a.url, ["*"], tenant="whta")
        self.create(rx_b.url, ["*"], tenant="whtb")
        listed = self.node.get("/api/v1/webhooks?tenant=whtb").json["webhooks"]
        self.assertNotIn(hook_a["id"], [w["id"] for w in listed])
        self.assertError(self.node.get("/api/v1/webhooks/%s?tenant=whtb" % hook_a["id"]), 404,
                         11023, "webhook_not_found")
        self.assertError(self.node.request("DELETE", "/api/v1/webhooks/%s?tenant=whtb"
                                           % hook_a["id"]), 404, 11023, "webhook_not_found")
        r = self.node.post("/api/v1/pool?tenant=whta", json.dumps({"image_no": "WH-T-1"}).encode())
        self.assertStatus(r, 201)
        got = rx_a.wait_for(1)
        self.assertEqual(json.loads(got[0][2])["tenant"], "whta")
        time.sleep(0.5)
        self.assertEqual(rx_b.received(), [], "tenant B hears nothing of tenant A")
        d = self.node.get("/api/v1/deliveries?tenant=whta").json["deliveries"]
        self.assertEqual(len(d), 1)
        self.assertError(self.node.post("/api/v1/deliveries/%s/retry?tenant=whtb" % d[0]["id"]),
                         404, 11024, "delivery_not_found")
        self.assertEqual(self.node.get("/api/v1/deliveries?tenant=whtb").json["deliveries"], [])


class TestLicenseWarnings(WebhookTestCase):
    def test_expiring_license_is_announced_once_per_stage(self):
        tenant = "whlic"
        r = self.node.post("/api/v1/tenants", json.dumps({"id": tenant}).encode())
        self.assertStatus(r, 201)
        rx = self.receiver()
        self.create(rx.url, ["license_expiring", "license_expired"], tenant=tenant)
        doc = self.key.sign(tenant, now_ms() + 5 * DAY_MS, 10 ** 9)
        self.assertStatus(self.node.post("/api/v1/licenses", doc), 201)
        (_, headers, body), = rx.wait_for(1)
        self.assertSigned(headers, body)
        event = json.loads(body)
        self.assertEqual(event["event"], "license_expiring")
        self.assertEqual(event["days_left"], 7)
        self.assertEqual(event["tenant"], tenant)
        self.assertEqual(event["license_id"], json.loads(json.loads(doc)["payload"])["license_id"])
        time.sleep(2.5)  # one license check period: the same stage is not announced again
        self.assertEqual(len(rx.received()), 1)
        doc2 = self.key.sign(tenant, now_ms() + DAY_MS // 2, 10 ** 9)
        self.assertStatus(self.node.post("/api/v1/licenses", doc2), 201)
        got = rx.wait_for(2)
        self.assertEqual(json.loads(got[1][2])["days_left"], 1)
        d = self.node.get("/api/v1/deliveries?tenant=%s" % tenant).json["deliveries"]
        self.assertEqual([x["image_no"] for x in d], [None, None])
        audit = self.node.get("/api/v1/audit?tenant=%s" % tenant).json["entries"]
        self.assertEqual(len([e for e in audit if e["action"] == "license_warning"]), 2)
        self.assertGreaterEqual(self.node.metrics()["imgarc_license_warnings_total"], 2)


class TestDurability(NodeTestCase):
    def test_deleting_the_webhook_cancels_pending_deliveries(self):
        node = self.start_node("webhooks-cancel", args=["--webhook-retry-ms", "1500"])
        rx = Receiver(statuses=(500,))
        self.addCleanup(rx.stop)
        r = node.post("/api/v1/webhooks", json.dumps({"url": rx.url, "events": ["ready"],
                                                       "secret": SECRET}).encode())
        self.assertStatus(r, 201)
        hook = r.json
        self.assertStatus(node.pool_push({"image_no": "WH-CANCEL-1"}), 201)
        self.assertStatus(node.upload("WH-CANCEL-1", make_pdf(text="c"), name="a.pdf"), 201)
        self.assertStatus(node.submit("WH-CANCEL-1"), 200)
        rx.wait_for(1)
        r = node.request("DELETE", "/api/v1/webhooks/%s" % hook["id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["deleted"], True)
        deadline = time.time() + 30
        while time.time() < deadline:
            d, = node.get("/api/v1/bills/WH-CANCEL-1/deliveries").json["deliveries"]
            if d["state"] != "pending":
                break
            time.sleep(0.1)
        self.assertEqual(d["state"], "cancelled", d)
        self.assertEqual(len(d["history"]), 1, "the cancel is not an attempt")
        self.assertEqual(len(rx.received()), 1)

    def test_pending_delivery_survives_kill9(self):
        node = self.start_node("webhooks-kill", args=["--webhook-retry-ms", "300",
                                                      "--webhook-retry-max-ms", "600"])
        port = free_port()
        url = "http://127.0.0.1:%d/hook" % port
        r = node.post("/api/v1/webhooks", json.dumps({"url": url, "events": ["ready"],
                                                       "secret": SECRET}).encode())
        self.assertStatus(r, 201)
        self.assertStatus(node.pool_push({"image_no": "WH-KILL-1"}), 201)
        self.assertStatus(node.upload("WH-KILL-1", make_pdf(text="kill"), name="a.pdf"), 201)
        self.assertStatus(node.submit("WH-KILL-1"), 200)
        deadline = time.time() + 30
        while time.time() < deadline:
            d, = node.get("/api/v1/bills/WH-KILL-1/deliveries").json["deliveries"]
            if d["attempts"] >= 1:
                break
            time.sleep(0.1)
        self.assertEqual(d["state"], "pending")
        node.kill9()
        rx = Receiver(port=port)
        self.addCleanup(rx.stop)
        node.start()
        (_, headers, body), = rx.wait_for(1)
        self.assertEqual(json.loads(body)["image_no"], "WH-KILL-1")
        self.assertEqual(headers["X-Imgarc-Delivery"], d["id"])
        deadline = time.time() + 30
        while time.time() < deadline:
            d, = node.get("/api/v1/bills/WH-KILL-1/deliveries").json["deliveries"]
            if d["state"] == "delivered":
                break
            time.sleep(0.1)
        self.assertEqual(d["state"], "delivered")
        self.assertGreaterEqual(d["attempts"], 2)


if __name__ == "__main__":
    unittest.main()
