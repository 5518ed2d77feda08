"""Webhooks are kept off internal addresses (issue 10, point 3).

A webhook's URL is chosen by a tenant admin, so the node must not become a way into
the services next to it. imgarcd refuses loopback, private, link-local, reserved and
the cluster's own addresses unless an operator allows a receiver with
--outbound-allow HOST[:PORT]|CIDR. The check runs on the resolved address when a
connection is opened (a webhook that was allowed when created is refused once the
allow is gone); creating a webhook whose URL can only reach refused addresses answers
400. Redirects are never followed. A receiver's answer body never reaches a bill's
status; the delivery history keeps a sanitised excerpt that only tenant admins see."""

import http.server
import json
import os
import subprocess
import threading
import time
import unittest

from imgarc_node import IMGARCD, NodeTestCase, free_port, make_pdf, quote

ARGS = ["--webhook-retry-ms", "200", "--webhook-retry-max-ms", "400",
        "--webhook-attempts", "2"]
SECRET = "s3cret-for-the-outbound-tests"


def run_imgarcd(*args):
    return subprocess.run([IMGARCD] + list(args), capture_output=True, text=True, timeout=20,
                          stdin=subprocess.DEVNULL)


class Receiver:
    """An HTTP server on 127.0.0.1 recording POSTs; answers @status with @body and
    @headers."""

    def __init__(self, status=200, body=b"ok", headers=()):
        self.requests = []
        self.lock = threading.Lock()
        self.status, self.body, self.headers = status, body, list(headers)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                data = self.rfile.read(n)
                with receiver.lock:
                    receiver.requests.append((self.path, data))
                self.send_response(receiver.status)
                for name, value in receiver.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.body)))
                self.end_headers()
                self.wfile.write(receiver.body)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def received(self):
        with self.lock:
            return list(self.requests)


class OutboundCase(NodeTestCase):
    def receiver(self, **kw):
        r = Receiver(**kw)
        self.addCleanup(r.stop)
        return r

    def create(self, url, events, node=None):
        node = node or self.node
        return node.post("/api/v1/webhooks", json.dumps(
            {"url": url, "events": events, "secret": SECRET}).encode(),
            headers={"Content-Type": "application/json"})

    def hook(self, url, events, node=None):
        node = node or self.node
        r = self.create(url, events, node)
        self.assertStatus(r, 201, "create webhook %s" % url)
        self.addCleanup(node.request, "DELETE", "/api/v1/webhooks/%s" % r.json["id"])
        return r.json

    def assertRefused(self, url, *words, node=None):
        r = self.create(url, ["ready"], node)
        self.assertError(r, 400, 11005, "invalid_field")
        self.assertIn("--outbound-allow", r.json["message"], url)
        for w in words:
            self.assertIn(w, r.json["message"], url)

    def ready_bill(self, image_no, node=None, org=None):
        node = node or self.node
        fields = {"image_no": image_no, "bill_no": "B-1"}
        if org is not None:
            fields["org"] = org
        self.assertStatus(node.pool_push(fields), 201)
        self.assertStatus(node.upload(image_no, make_pdf(text=image_no), name="a.pdf"), 201)
        self.assertStatus(node.submit(image_no), 200)

    def deliveries(self, image_no, node=None, headers=None):
        node = node or self.node
        r = node.request("GET", "/api/v1/bills/%s/deliveries" % quote(image_no),
                         headers=headers, auth=headers is None)
        self.assertStatus(r, 200)
        return r.json["deliveries"]

    def wait_done(self, image_no, node=None):
        deadline = time.time() + 30
        while time.time() < deadline:
            ds = self.deliveries(image_no, node)
            if ds and all(d["state"] != "pending" for d in ds):
                return ds
            time.sleep(0.1)
        self.fail("deliveries of %s still pending: %r" % (image_no,
                                                          self.deliveries(image_no, node)))


class TestDefaultRefusals(OutboundCase):
    """A node without --outbound-allow."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("outbound-default", args=ARGS, outbound_allow=())

    def test_the_nodes_own_api_and_raft_ports_are_refused(self):
        self.assertRefused("http://127.0.0.1:%d/api/v1/tenants" % self.node.http_port,
                           "refused: 127.0.0.1")
        self.assertRefused("http://127.0.0.1:%d/" % self.node.raft_port, "refused: 127.0.0.1")

    def test_internal_addresses_in_every_spelling_are_refused(self):
        port = free_port()
        cases = [
            ("http://127.0.0.1:%d/" % port, "a loopback address"),
            ("http://127.1.2.3:%d/" % port, "a loopback address"),
            ("http://2130706433:%d/" % port, "a loopback address"),  # 127.0.0.1 as a number
            ("http://0x7f.0.0.1:%d/" % port, "a loopback address"),
            ("http://[::1]:%d/" % port, "a loopback address"),
            ("http://[::ffff:127.0.0.1]:%d/" % port, "a loopback address"),
            ("http://[::ffff:10.1.2.3]/", "a private address"),
            ("http://0.0.0.0:%d/" % port, "an unspecified address"),
            ("http://[::]:%d/" % port, "an unspecified address"),
            ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
            ("http://[fe80::1]/", "a link-local address"),
            ("http://10.0.0.1/", "a private address"),
            ("http://172.16.5.4/", "a private address"),
            ("http://192.168.1.1/", "a private address"),
            ("http://[fd00::1]/", "a private address"),
            ("http://100.64.0.1/", "a carrier-grade NAT address"),
            ("http://224.0.0.1/", "a multicast address"),
            ("http://255.255.255.255/", "the broadcast address"),
            ("http://192.0.2.1/", "a reserved address"),
        ]
        for url, what in cases:
            with self.subTest(url=url):
                self.assertRefused(url, what)

    def test_localhost_is_refused(self):
        self.assertRefused("http://localhost:%d/hook" % free_port(),
                           "localhost resolves only to refused addresses",
                           "a loopback address")

    def test_other_schemes_are_refused(self):
        r = self.create("ftp://example.com/x", ["ready"])
        self.assertError(r, 400, 11005, "invalid_field")


class TestConnectTime(OutboundCase):
    def test_a_webhook_allowed_at_creation_is_refused_at_connect_once_disallowed(self):
        erp = self.receiver()
        node = self.start_node("outbound-connect", args=ARGS)  # allows 127.0.0.1
        self.hook(erp.url, ["ready"], node)
        node.stop()
        node.outbound_allow = []
        node.start()
        self.ready_bill("OB-CONNECT-1", node)
        d, = self.wait_done("OB-CONNECT-1", node)
        self.assertEqual(d["state"], "failed")
        self.assertEqual(erp.received(), [], "the receiver must get nothing")
        for a in d["history"]:
            self.assertIsNone(a["http_status"])
            self.assertEqual(a["error"], "refused: 127.0.0.1 is a loopback address; an "
                             "operator can allow it with --outbound-allow")


class TestAllowed(OutboundCase):
    """The harness's node: --outbound-allow 127.0.0.1 (no port)."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("outbound-allowed", args=ARGS)

    def test_a_portless_allow_leaves_the_nodes_own_ports_refused(self):
        self.assertRefused("http://127.0.0.1:%d/api/v1/tenants" % self.node.http_port,
                           "an address of this node")
        self.assertRefused("http://127.0.0.1:%d/" % self.node.raft_port,
                           "an address of this node")
        self.assertRefused("http://localhost:%d/" % self.node.http_port)

    def test_an_allowed_receiver_gets_its_deliveries(self):
        r = self.receiver()
        self.hook(r.url, ["ready"])
        self.ready_bill("OB-ALLOW-1")
        d, = self.wait_done("OB-ALLOW-1")
        self.assertEqual(d["state"], "delivered")
        self.assertEqual(len(r.received()), 1)

    def test_status_reasons_never_show_the_receivers_answer(self):
        body = b"INTERNAL-SECRET \x1b[31mred\x00\xff\xfe tab\there \xe4\xb8\xad" + b"x" * 400
        erp = self.receiver(status=500, body=body)
        self.hook(erp.url, ["erp_submit"])
        self.assertStatus(self.node.post("/api/v1/orgs", b'{"id": "ob", "name": "OB"}'), 201)
        self.ready_bill("OB-ERP-1", org="ob")
        r = self.node.post("/api/v1/bills/OB-ERP-1/erp-submit")
        self.assertStatus(r, 200)
        deadline = time.time() + 30
        while self.node.status("OB-ERP-1").json["state"] != "erp_failed":
            self.assertLess(time.time(), deadline, "the bill never became erp_failed")
            time.sleep(0.1)
        s = self.node.status("OB-ERP-1").json
        self.assertEqual(s["reasons"], [
            "submission to the ERP failed: HTTP 500 from the receiver; retry with POST "
            "/api/v1/bills/OB-ERP-1/erp-submit"])
        self.assertNotIn("INTERNAL-SECRET", json.dumps(s))
        self.assertNotIn("INTERNAL-SECRET", self.node.bill("OB-ERP-1").body.decode())
        # The tenant admin (here the operator) sees a short, sanitised excerpt.
        d, = self.deliveries("OB-ERP-1")
        a, = d["history"]
        self.assertEqual((a["http_status"], a["error"]), (500, "HTTP 500 from the receiver"))
        excerpt = a["excerpt"]
        self.assertTrue(excerpt.startswith("INTERNAL-SECRET ?[31mred??? tab?here \u4e2d"),
                        excerpt)
        self.assertLessEqual(len(excerpt.encode()), 200)
        self.assertTrue(all(c >= " " for c in excerpt), excerpt)
        # A user without the admin permission sees the history without it.
        pw = "correct horse battery"
        self.assertStatus(self.node.post("/api/v1/users", json.dumps(
            {"username": "olga", "password": pw, "roles": ["scanner"]}).encode()), 201)
        self.assertStatus(self.node.request("PUT", "/api/v1/users/olga/grants",
                                            body=b'{"grants": [{"org": "ob"}]}'), 200)
        r = self.node.post("/api/v1/auth/login", json.dumps(
            {"username": "olga", "password": pw}).encode(), auth=False)
        self.assertStatus(r, 200)
        h = {"Authorization": "Bearer " + r.json["access_token"]}
        d, = self.deliveries("OB-ERP-1", headers=h)
        a, = d["history"]
        self.assertNotIn("excerpt", a)
        self.assertEqual(a["error"], "HTTP 500 from the receiver")
        self.assertNotIn("INTERNAL-SECRET", json.dumps(d))
        r = self.node.request("GET", "/api/v1/bills/OB-ERP-1/status", headers=h, auth=False)
        self.assertNotIn("INTERNAL-SECRET", r.body.decode())


class TestHostPortAndCidr(OutboundCase):
    def test_host_port_allows_that_receiver_only_and_redirects_are_not_followed(self):
        other = self.receiver()
        hop = self.receiver(status=302, headers=[("Location", other.url)])
        ok = self.receiver()
        node = self.start_node("outbound-hostport", args=ARGS, outbound_allow=(
            "127.0.0.1:%d" % ok.port, "127.0.0.1:%d" % hop.port))
        self.assertRefused(other.url, "a loopback address", node=node)
        self.hook(ok.url, ["ready"], node)
        self.hook(hop.url, ["ready"], node)
        self.ready_bill("OB-HP-1", node)
        ds = self.wait_done("OB-HP-1", node)
        by_hook = {d["webhook"]: d for d in ds}
        self.assertEqual(len(ok.received()), 1)
        self.assertEqual(len(hop.received()), 2, "two attempts, each answered 302")
        self.assertEqual(other.received(), [], "the redirect must not be followed")
        states = sorted(d["state"] for d in by_hook.values())
        self.assertEqual(states, ["delivered", "failed"])
        failed, = [d for d in ds if d["state"] == "failed"]
        self.assertEqual(failed["history"][0]["http_status"], 302)
        self.assertIn("redirects are not followed", failed["history"][0]["error"])

    def test_a_cidr_allows_its_range(self):
        r = self.receiver()
        node = self.start_node("outbound-cidr", args=ARGS, outbound_allow=("127.0.0.0/8",))
        self.assertRefused("http://10.1.2.3/", "a private address", node=node)
        self.assertRefused("http://127.0.0.1:%d/" % node.http_port, "an address of this node",
                           node=node)
        self.hook(r.url, ["ready"], node)
        self.ready_bill("OB-CIDR-1", node)
        d, = self.wait_done("OB-CIDR-1", node)
        self.assertEqual(d["state"], "delivered")

    def test_bad_allow_values_stop_the_node_with_a_clear_message(self):
        tmp = self.scratch("outbound-bad")
        for bad, words in [("10.0.0.0/33", "the prefix length must be 0-32"),
                           ("10.0.0.1/8", "the address has bits set beyond the prefix length"),
                           ("host:0", "the port must be a number from 1 to 65535"),
                           ("[::1", "'[' without ']'"),
                           ("bad_host!", "not a host name"),
                           ("", "the value is empty")]:
            with self.subTest(value=bad):
                p = run_imgarcd("--data", tmp, "--outbound-allow", bad)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("flag: --outbound-allow '%s': %s" % (bad, words), p.stderr)
        # The config file takes the key too, line by line.
        conf = os.path.join(tmp, "imgarcd.conf")
        with open(conf, "w") as f:
            f.write("# receivers\noutbound-allow = 10.20.0.0/16\noutbound-allow = 10.0.0.0/33\n")
        p = run_imgarcd("--data", tmp, "--config", conf)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("%s:3: --outbound-allow '10.0.0.0/33': the prefix length" % conf, p.stderr)
        p = run_imgarcd("--help")
        self.assertIn("--outbound-allow", p.stdout)

if __name__ == "__main__":
    unittest.main()
