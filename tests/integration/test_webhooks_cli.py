"""Webhooks through the CLI: `imgarc webhook`, `imgarc deliveries`, `imgarc delivery retry`.

A real node and a real HTTP receiver on loopback (http.server in a thread): a webhook
for "ready" gets its POST, signed with the webhook's secret, once a bill captured and
submitted with the CLI is ready, and `imgarc deliveries IMAGE_NO` shows it delivered.
A receiver that answers 503 makes a delivery fail; `imgarc delivery retry` sends it
again. Then list, show, delete, and the errors: exit 1 with the server's message, exit
2 for what the client can tell is wrong."""

import hashlib
import hmac
import http.server
import json
import os
import re
import threading
import time
import unittest

from imgarc_node import ID_ALPHABET, NodeTestCase, cli_json, make_pdf, run_cli

# How long a delivery may take to reach its state: generous for sanitizer builds.
WAIT_S = float(os.environ.get("IMGARC_TEST_WEBHOOK_WAIT", "60"))
POLL_S = 0.1


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST and answers each path with
    the status set for it (200 by default)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.posts = []  # {"path", "headers" (lowercase names), "body" (bytes)}
        self.status = {}
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                receiver.record(self)

            def log_message(self, fmt, *args):
                pass  # the test's output is for failures

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.server.server_address[1], path)

    def record(self, handler):
        if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
            body = b""
            while True:
                size = int(handler.rfile.readline().split(b";")[0], 16)
                chunk = handler.rfile.read(size + 2)[:size]
                if size == 0:
                    break
                body += chunk
        else:
            body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self.lock:
            self.posts.append({"path": handler.path, "body": body,
                               "headers": {k.lower(): v for k, v in handler.headers.items()}})
            status = self.status.get(handler.path, 200)
        reply = json.dumps({"received": True}).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)

    def set_status(self, path, status):
        with self.lock:
            self.status[path] = status

    def received(self, path):
        with self.lock:
            return [p for p in self.posts if p["path"] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


class WebhooksCliTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.addClassCleanup(cls.receiver.stop)
        # Quick retries and two attempts, so that a failing receiver fails a delivery
        # within a second.
        cls.node = cls.start_class_node("webhooks-cli", args=[
            "--webhook-retry-ms", "100", "--webhook-retry-max-ms", "200",
            "--webhook-attempts", "2", "--webhook-timeout-ms", "5000"])

    def cli(self, *args, ok=True):
        p = run_cli(self.node, *args)
        if ok and p.returncode != 0:
            self.fail("imgarc %s exited %d\nstdout: %s\nstderr: %s"
                      % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                         p.stderr[-2000:]))
        return p

    def cli_fails(self, code, *args):
        p = self.cli(*args, ok=False)
        self.assertEqual(p.returncode, code, "imgarc %s: exit %d, want %d\nstdout: %s\n"
                         "stderr: %s" % (" ".join(map(str, args)), p.returncode, code,
                                         p.stdout, p.stderr))
        return p

    def create_webhook(self, path, *flags):
        """Creates a webhook for the receiver's @path; deleted when the test ends."""
        wh = cli_json(self.cli("webhook", "create", self.receiver.url(path), *flags, "--json"))
        self.addCleanup(run_cli, self.node, "webhook", "delete", wh["id"])
        return wh

    def captured_bill(self, image_no):
        """A pool bill with one file, captured with the CLI."""
        path = os.path.join(self.scratch("wh-files"), "scan.pdf")
        with open(path, "wb") as f:
            f.write(make_pdf(pages=1, seed=len(image_no)))
        self.cli("pool", "push", image_no, "--bill-no", "ER-" + image_no)
        self.cli("upload", image_no, path)

    def deliveries(self, image_no, webhook):
        """The bill's deliveries to @webhook, as `imgarc deliveries IMAGE_NO --json`."""
        ans = cli_json(self.cli("deliveries", image_no, "--json"))
        self.assertEqual(ans["image_no"], image_no)
        return [d for d in ans["deliveries"] if d["webhook"] == webhook]

    def wait_delivery(self, image_no, webhook, state):
        """Polls until the bill's one delivery to @webhook is in @state; returns it."""
        deadline = time.monotonic() + WAIT_S
        found = []
        while time.monotonic() < deadline:
            found = self.deliveries(image_no, webhook)
            if len(found) == 1 and found[0]["state"] == state:
                return found[0]
            time.sleep(POLL_S)
        self.fail("no %s delivery of %s to %s within %.0f s; deliveries: %r\nnode log:\n%s"
                  % (state, image_no, webhook, WAIT_S, found, self.node.log_tail()))

    def assertSigned(self, post, secret):
        """The POST carries X-Imgarc-Signature: sha256=HMAC(secret, "<timestamp>.<body>")."""
        h = post["headers"]
        self.assertRegex(h.get("x-imgarc-timestamp", ""), r"^[0-9]+$")
        mac = hmac.new(secret.encode(), h["x-imgarc-timestamp"].encode() + b"." + post["body"],
                       hashlib.sha256).hexdigest()
        self.assertEqual(h.get("x-imgarc-signature"), "sha256=" + mac)

    def test_ready_event_is_delivered(self):
        image_no = "BX-WH-0001"
        wh = self.create_webhook("/hooks/ready", "--events", "ready")
        self.assertRegex(wh["id"], ID_ALPHABET)
        self.assertEqual(wh["url"], self.receiver.url("/hooks/ready"))
        self.assertEqual(wh["events"], ["ready"])
        self.assertRegex(wh["secret"], r"^[0-9a-f]{64}$", "a secret made by the node")

        self.captured_bill(image_no)
        self.assertEqual(cli_json(self.cli("submit", image_no, "--json"))["state"], "ready")

        d = self.wait_delivery(image_no, wh["id"], "delivered")
        self.assertEqual(d["event"], "ready")
        self.assertEqual(d["image_no"], image_no)
        self.assertRegex(d["id"], r"^[0-9]+$")
        self.assertEqual(d["attempts"], 1)
        self.assertIsNone(d["next_attempt"])
        self.assertEqual([a["http_status"] for a in d["history"]], [200])
        self.assertEqual(d["payload"]["image_no"], image_no)
        self.assertEqual(d["payload"]["event"], "ready")

        # The receiver got that delivery: one POST, signed, the payload as its body.
        posts = [p for p in self.receiver.received("/hooks/ready")
                 if json.loads(p["body"]).get("image_no") == image_no]
        self.assertEqual(len(posts), 1, "one POST for the bill: %r" % posts)
        post = posts[0]
        self.assertEqual(post["headers"].get("x-imgarc-event"), "ready")
        self.assertEqual(post["headers"].get("x-imgarc-delivery"), d["id"])
        self.assertTrue(post["headers"].get("content-type", "").startswith("application/json"))
        body = json.loads(post["body"])
        self.assertEqual(body, d["payload"])
        self.assertEqual(body["state"], "ready")
        self.assertSigned(post, wh["secret"])

        # The table, for people.
        p = self.cli("deliveries", image_no)
        self.assertRegex(p.stdout.splitlines()[0],
                         r"^ID +EVENT +WEBHOOK +BILL +STATE +ATTEMPTS +NEXT_ATTEMPT +LAST$")
        row = [line for line in p.stdout.splitlines() if line.startswith(d["id"] + " ")]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertRegex(row[0], r"^%s +ready +%s +%s +delivered +1 +- +200$"
                         % (d["id"], wh["id"], image_no))

        # The tenant's deliveries, filtered by state.
        listed = cli_json(self.cli("deliveries", "--state", "delivered", "--json"))
        self.assertIsNone(listed["image_no"])
        self.assertIn(d["id"], [x["id"] for x in listed["deliveries"]])
        self.assertTrue(all(x["state"] == "delivered" for x in listed["deliveries"]))
        listed = cli_json(self.cli("deliveries", "--state", "failed", "--json"))
        self.assertNotIn(d["id"], [x["id"] for x in listed["deliveries"]])
        self.assertTrue(all(x["state"] == "failed" for x in listed["deliveries"]))

        # --limit: a note on stderr when more match.
        total = len(cli_json(self.cli("deliveries", "--limit", "1000", "--json"))["deliveries"])
        page = cli_json(self.cli("deliveries", "--limit", "1", "--json"))
        self.assertEqual(len(page["deliveries"]), 1)
        self.assertIs(page["more"], total > 1)
        p = self.cli("deliveries", "--limit", "1")
        self.assertEqual(len(p.stdout.splitlines()), 2, "a header and one delivery")
        self.assertEqual("more deliveries match" in p.stderr, total > 1, p.stderr)

    def test_failed_delivery_is_retried(self):
        image_no = "BX-WH-0002"
        path = "/hooks/flaky"
        self.receiver.set_status(path, 503)
        self.addCleanup(self.receiver.set_status, path, 200)
        wh = self.create_webhook(path, "--events", "captured")

        self.captured_bill(image_no)
        d = self.wait_delivery(image_no, wh["id"], "failed")
        self.assertEqual(d["event"], "captured")
        self.assertEqual(d["attempts"], 2, "--webhook-attempts 2")
        self.assertEqual([a["http_status"] for a in d["history"]], [503, 503])
        self.assertTrue(d["history"][-1]["error"].startswith("HTTP 503"), d["history"])
        p = self.cli("deliveries", image_no, "--state", "failed")
        row = [line for line in p.stdout.splitlines() if line.startswith(d["id"] + " ")]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertRegex(row[0], r" failed +2 +- +HTTP 503")

        self.receiver.set_status(path, 200)
        p = self.cli("delivery", "retry", d["id"])
        self.assertRegex(p.stdout, r"^delivery %s: pending, queued for another attempt "
                         r"\(index [0-9]+\)$" % d["id"])
        d = self.wait_delivery(image_no, wh["id"], "delivered")
        self.assertEqual(d["attempts"], 1, "a retry starts a new round of attempts")
        self.assertEqual(d["history"][-1]["http_status"], 200)
        got = [json.loads(p["body"]) for p in self.receiver.received(path)]
        self.assertEqual(sum(1 for b in got if b.get("image_no") == image_no), 3,
                         "two failed attempts and the retried one: %r" % got)

        # --json gives the server's answer.
        ans = cli_json(self.cli("delivery", "retry", d["id"], "--json"))
        self.assertEqual(ans["id"], d["id"])
        self.assertEqual(ans["state"], "pending")
        self.assertIsInstance(ans["index"], int)
        self.wait_delivery(image_no, wh["id"], "delivered")

    def test_list_show_delete(self):
        url = self.receiver.url("/hooks/admin")
        secret = "a-secret-of-the-erp-0123456789"
        p = self.cli("webhook", "create", url, "--events", "submitted,captured", "--events",
                     "returned", "--secret", secret)
        fields = dict(re.split(r" +", line, maxsplit=1) for line in p.stdout.splitlines())
        self.assertEqual(fields["url"], url)
        self.assertEqual(fields["events"], "submitted,captured,returned")
        self.assertEqual(fields["secret"], secret)
        self.assertRegex(fields["index"], r"^[0-9]+$")
        self.assertIn("shown only this once", p.stderr)
        wid = fields["id"]
        self.addCleanup(run_cli, self.node, "webhook", "delete", wid)

        p = self.cli("webhook", "list")
        self.assertRegex(p.stdout.splitlines()[0], r"^ID +EVENTS +CREATED +URL$")
        row = [line for line in p.stdout.splitlines() if line.startswith(wid + " ")]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertRegex(row[0], r"^%s +submitted,captured,returned +\S+ +%s$"
                         % (wid, re.escape(url)))
        listed = cli_json(self.cli("webhook", "list", "--json"))["webhooks"]
        mine = [w for w in listed if w["id"] == wid]
        self.assertEqual(len(mine), 1, listed)
        self.assertEqual(mine[0]["url"], url)
        self.assertEqual(mine[0]["events"], ["submitted", "captured", "returned"])
        self.assertNotIn("secret", mine[0], "the secret is shown only at creation")

        p = self.cli("webhook", "show", wid)
        self.assertIn(url, p.stdout)
        self.assertIn("submitted,captured,returned", p.stdout)
        self.assertNotIn(secret, p.stdout)
        shown = cli_json(self.cli("webhook", "show", wid, "--json"))
        self.assertEqual(shown, mine[0])

        p = self.cli("webhook", "delete", wid)
        self.assertRegex(p.stdout, r"^%s: webhook deleted" % wid)
        p = self.cli_fails(1, "webhook", "show", wid)
        self.assertIn("webhook_not_found (11023)", p.stderr)
        listed = cli_json(self.cli("webhook", "list", "--json"))["webhooks"]
        self.assertNotIn(wid, [w["id"] for w in listed])
        p = self.cli_fails(1, "webhook", "delete", wid)
        self.assertIn("11023", p.stderr)

    def test_tenant_flag_picks_the_tenant(self):
        self.cli("tenant", "create", "wh-acme")
        wh = cli_json(self.cli("--tenant", "wh-acme", "webhook", "create",
                               self.receiver.url("/hooks/acme"), "--events", "*", "--json"))
        self.assertEqual(wh["events"], ["*"])
        listed = cli_json(self.cli("webhook", "list", "--tenant", "wh-acme", "--json"))
        self.assertEqual([w["id"] for w in listed["webhooks"]], [wh["id"]])
        listed = cli_json(self.cli("webhook", "list", "--json"))
        self.assertNotIn(wh["id"], [w["id"] for w in listed["webhooks"]])
        p = self.cli_fails(1, "webhook", "show", wh["id"])
        self.assertIn("11023", p.stderr)
        p = self.cli_fails(1, "webhook", "delete", wh["id"])
        self.assertIn("11023", p.stderr)
        self.cli("--tenant", "wh-acme", "webhook", "delete", wh["id"])
        p = self.cli("--tenant", "wh-acme", "webhook", "list")
        self.assertEqual(p.stdout, "")
        self.assertIn("no webhooks", p.stderr)

    def test_errors(self):
        url = self.receiver.url("/hooks/errors")
        # The server refuses: exit 1 with its message.
        p = self.cli_fails(1, "webhook", "create", url, "--events", "ready,bogus")
        self.assertIn("invalid_field", p.stderr)
        self.assertIn("unknown event 'bogus'", p.stderr)
        self.assertIn("pending_upload", p.stderr, "the message lists the known events")
        p = self.cli_fails(1, "webhook", "create", "ftp://example.com/x", "--events", "ready")
        self.assertIn("http:// or https://", p.stderr)
        p = self.cli_fails(1, "webhook", "show", "wh0000000000000000")
        self.assertIn("404 webhook_not_found (11023)", p.stderr)
        p = self.cli_fails(1, "delivery", "retry", "987654321")
        self.assertIn("delivery_not_found (11024)", p.stderr)
        p = self.cli_fails(1, "deliveries", "NO-SUCH-BILL-WH")
        self.assertIn("11002", p.stderr)
        listed = cli_json(self.cli("webhook", "list", "--json"))["webhooks"]
        self.assertNotIn(url, [w["url"] for w in listed], "nothing was created")

        # What the client can tell is wrong: exit 2, nothing sent.
        for args in (("webhook", "create", url),
                     ("webhook", "create", url, "--events", "ready,,captured"),
                     ("webhook", "create", url, "--events", "ready", "--secret", "short"),
                     ("webhook", "create", "--events", "ready"),
                     ("webhook", "show"),
                     ("webhook", "delete", "a", "b"),
                     ("webhook", "frob"),
                     ("webhook",),
                     ("deliveries", "--state", "lost"),
                     ("deliveries", "--limit", "0"),
                     ("deliveries", "--limit", "1001"),
                     ("deliveries", "BX-1", "BX-2"),
                     ("delivery", "retry", "abc"),
                     ("delivery", "retry")):
            with self.subTest(args=args):
                p = self.cli_fails(2, *args)
                self.assertIn("imgarc: ", p.stderr)

        # Help texts.
        for cmd in ("webhook", "deliveries", "delivery"):
            with self.subTest(help=cmd):
                p = self.cli(cmd, "--help")
                self.assertIn("Usage: imgarc " + cmd, p.stdout)
        p = self.cli("--help")
        for cmd in ("webhook ACTION", "deliveries [IMAGE_NO]", "delivery retry ID"):
            self.assertIn(cmd, p.stdout)
        # help's own help, which help's usage errors suggest, is its text (it was
        # "unknown command '--help'" with the same suggestion again).
        for flag in ("--help", "-h"):
            with self.subTest(help_of_help=flag):
                p = self.cli("help", flag)
                self.assertIn("Usage: imgarc help", p.stdout)
        p = self.cli_fails(2, "help", "nosuch")
        self.assertIn("unknown command 'nosuch'", p.stderr)


if __name__ == "__main__":
    unittest.main()
