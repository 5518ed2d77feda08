"""Data sources (docs/migration.md, docs/API.md "Data sources"), against a real node.

A tenant admin (or the operator) keeps the other imaging systems the tenant migrates
from: another imgarc cluster (kind imgarc) or a system speaking the incumbent's API
(kind vendor, here tests/fixtures/vendor_source.py, a real HTTP server). Every field is
checked (400 naming it), names are unique (409), a missing one is 404, a change keeps
what it does not name (the secret too), deletion is refused while a batch uses one.
No answer, and nothing in the node's log, ever holds a secret. The connection test
logs in and reads one page of the source's list: 200, or 502 source_unreachable saying
which call failed and what the source answered."""

import json
import os
import subprocess
import sys
import time
import unittest

import base64

from imgarc_node import IMGARC, NodeTestCase, cli_json, free_port, make_jpg, make_pdf, run_cli

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "fixtures", "vendor_source.py")

APP_SECRET = "vendor-app-secret-7f3a9c"
CLIENT_SECRET_WRONG = "wrong-secret-0123456789"
SEED = {
    "app_id": "app-imgarc", "app_secret": APP_SECRET, "tenant_id": "tn-001",
    "account_id": "acc-9", "users": ["erp.admin"], "token_ttl_s": 7200,
    "bills": [
        {"scanBillNo": "FY-2026-0001", "billNo": "BX001", "billType": "FYBX",
         "orgCode": "ORG1", "createTime": "2026-03-01 10:00:00", "imageStatus": 2,
         "billId": "b-1",
         "cover": [{"name": "cover.pdf", "text": "%PDF-1.4 cover", "fileType": 1}],
         "attachment": [{"name": "receipt.jpg", "text": "jpeg bytes"}],
         "invoice": [{"name": "inv.pdf", "text": "%PDF-1.4 inv", "invoiceNo": "12345678",
                      "invoiceCode": "044001", "amount": "100.00"}]},
    ],
}


class VendorFixture:
    """tests/fixtures/vendor_source.py on a free port with @seed; stopped by pid."""

    def __init__(self, test, seed, scratch):
        path = os.path.join(scratch, "seed.json")
        with open(path, "w") as f:
            json.dump(seed, f)
        self.proc = subprocess.Popen([sys.executable, FIXTURE, path], stdout=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        test.addCleanup(self.stop)
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            raise AssertionError("the vendor fixture did not start: %r" % line)
        self.port = int(line.split()[1])
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.proc.stdout.close()


class DataSourcesTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("datasources")

    def call(self, method, path, obj=None, headers=None):
        body = json.dumps(obj).encode() if obj is not None else None
        if method in ("POST", "PATCH", "PUT") and body is None:
            body = b""
        return self.node.request(method, path, body=body, headers=headers,
                                 auth=headers is None)

    def vendor(self, name, url, **over):
        ds = {"name": name, "kind": "vendor", "url": url, "app_id": "app-imgarc",
              "app_secret": APP_SECRET, "tenant_id": "tn-001", "account_id": "acc-9",
              "user": "erp.admin"}
        ds.update(over)
        return ds

    def create(self, ds, status=201):
        r = self.call("POST", "/api/v1/datasources", ds)
        self.assertStatus(r, status)
        return r

    def assertNoSecret(self, r, *secrets):
        for s in secrets + (APP_SECRET,):
            self.assertNotIn(s.encode(), r.body, "a secret in the answer")

    def fixture(self, seed=SEED):
        return VendorFixture(self, seed, self.scratch("vendor-src"))

    # ---- CRUD ----

    def test_create_list_get_patch_delete(self):
        r = self.create(self.vendor("crud-v", "https://img.example.com/ierp/"))
        o = r.json
        self.assertNoSecret(r)
        self.assertEqual(o["name"], "crud-v")
        self.assertEqual(o["kind"], "vendor")
        self.assertEqual(o["url"], "https://img.example.com/ierp/")
        self.assertEqual(o["app_id"], "app-imgarc")
        self.assertEqual(o["tenant_id"], "tn-001")
        self.assertEqual(o["account_id"], "acc-9")
        self.assertEqual(o["user"], "erp.admin")
        self.assertEqual(o["list_path"], "/kapi/app/bds/queryBillList")
        self.assertTrue(o["enabled"])
        self.assertTrue(o["secret_set"])
        self.assertNotIn("app_secret", o)
        self.assertNotIn("secret", o)
        self.assertRegex(o["created"], r"^\d{4}-\d\d-\d\dT")
        # The same name again: 409.
        r = self.call("POST", "/api/v1/datasources",
                      self.vendor("crud-v", "https://img.example.com"))
        self.assertError(r, 409, 11051, "datasource_exists")
        # imgarc kind.
        r = self.create({"name": "crud-i", "kind": "imgarc", "url": "https://other.example",
                         "tenant": "acme", "client_id": "mig", "client_secret": "cs-123456",
                         "enabled": False})
        self.assertNoSecret(r, "cs-123456")
        self.assertFalse(r.json["enabled"])
        self.assertEqual(r.json["tenant"], "acme")
        self.assertEqual(r.json["client_id"], "mig")
        self.assertNotIn("app_id", r.json)
        # List and get.
        r = self.call("GET", "/api/v1/datasources")
        self.assertStatus(r, 200)
        self.assertNoSecret(r, "cs-123456")
        names = [d["name"] for d in r.json["datasources"]]
        self.assertIn("crud-v", names)
        self.assertIn("crud-i", names)
        r = self.call("GET", "/api/v1/datasources/crud-v")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["user"], "erp.admin")
        # PATCH: a new URL and disabled; the secret stays (checked below by the audit).
        r = self.call("PATCH", "/api/v1/datasources/crud-v",
                      {"url": "https://new.example.com", "enabled": False})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["url"], "https://new.example.com")
        self.assertFalse(r.json["enabled"])
        self.assertTrue(r.json["secret_set"])
        self.assertEqual(r.json["app_id"], "app-imgarc")
        r = self.call("PATCH", "/api/v1/datasources/crud-v", {"enabled": True,
                                                               "app_secret": "rotated-s3cret"})
        self.assertStatus(r, 200)
        self.assertTrue(r.json["enabled"])
        self.assertNoSecret(r, "rotated-s3cret")
        # Name and kind never change.
        r = self.call("PATCH", "/api/v1/datasources/crud-v", {"kind": "imgarc"})
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.call("PATCH", "/api/v1/datasources/crud-v", {"name": "other"})
        self.assertError(r, 400, 11005, "invalid_field")
        # A field of the other kind.
        r = self.call("PATCH", "/api/v1/datasources/crud-v", {"client_id": "x"})
        self.assertError(r, 400, 11005, "invalid_field")
        self.assertIn("client_id", r.json["message"])
        # Audit: created, updated, never a secret.
        r = self.call("GET", "/api/v1/audit")
        self.assertStatus(r, 200)
        self.assertIn(b"datasource_created", r.body)
        self.assertIn(b"datasource_updated", r.body)
        self.assertNoSecret(r, "rotated-s3cret", "cs-123456")
        # Delete; then 404s.
        r = self.call("DELETE", "/api/v1/datasources/crud-v")
        self.assertStatus(r, 200)
        self.assertTrue(r.json["deleted"])
        for method, path, body in (("GET", "/api/v1/datasources/crud-v", None),
                                   ("PATCH", "/api/v1/datasources/crud-v", {"user": "x"}),
                                   ("DELETE", "/api/v1/datasources/crud-v", None),
                                   ("POST", "/api/v1/datasources/crud-v/test", None)):
            r = self.call(method, path, body)
            self.assertError(r, 404, 11050, "datasource_not_found", msg=method)
        self.assertNotIn(APP_SECRET, self.node.log_text(whole=True))
        self.assertNotIn("rotated-s3cret", self.node.log_text(whole=True))

    def test_validation(self):
        good = self.vendor("val", "https://img.example.com")
        cases = [
            ({"kind": "sap"}, "kind"),
            ({"kind": None}, "kind"),
            ({"name": "bad name"}, "name"),
            ({"name": ".x"}, "name"),
            ({"name": "x" * 65}, "name"),
            ({"url": "ftp://x"}, "http"),
            ({"url": "https://h/x?y=1"}, "query"),
            ({"url": "https://h/x#f"}, "query"),
            ({"url": "https://h/" + "a" * 600}, "512"),
            ({"url": 5}, "url"),
            ({"app_secret": ""}, "app_secret"),
            ({"app_secret": "k" * 513}, "512"),
            ({"user": ""}, "user"),
            ({"tenant_id": ""}, "tenant_id"),
            ({"list_path": "no-slash"}, "list_path"),
            ({"enabled": "yes"}, "enabled"),
            ({"client_secret": "x"}, "client_secret"),  # a field of the other kind
            ({"extra": 1}, "extra"),
        ]
        for over, word in cases:
            ds = dict(good)
            for k, v in over.items():
                if v is None:
                    ds.pop(k)
                else:
                    ds[k] = v
            r = self.call("POST", "/api/v1/datasources", ds)
            # The body's shape is the API's (invalid_field); the values' rules are the
            # state machine's (bad_request): both 400 naming the field.
            self.assertEqual(r.status, 400, "%r: %r" % (over, r.body))
            self.assertIn(r.json["code"], (10400, 11005), repr(over))
            self.assertIn(word, r.json["message"], repr(over))
        r = self.node.request("POST", "/api/v1/datasources", body=b"[1]")
        self.assertError(r, 400, 11004, "invalid_json")
        r = self.call("GET", "/api/v1/datasources/val")
        self.assertError(r, 404, 11050, "datasource_not_found")

    def test_outbound_refused_at_creation(self):
        # The node's own API port stays refused under --outbound-allow 127.0.0.1.
        r = self.call("POST", "/api/v1/datasources",
                      self.vendor("self", "http://127.0.0.1:%d" % self.node.http_port))
        self.assertError(r, 400, 11005, "invalid_field")
        self.assertIn("--outbound-allow", r.json["message"])
        r = self.call("POST", "/api/v1/datasources", self.vendor("meta", "http://169.254.169.254"))
        self.assertError(r, 400, 11005, "invalid_field")
        self.assertIn("--outbound-allow", r.json["message"])

    # ---- The connection test ----

    def test_vendor_connection(self):
        fx = self.fixture()
        self.create(self.vendor("conn-v", fx.url))
        r = self.call("POST", "/api/v1/datasources/conn-v/test")
        self.assertStatus(r, 200)
        self.assertTrue(r.json["ok"])
        self.assertEqual(r.json["kind"], "vendor")
        self.assertIn("FY-2026-0001", r.json["detail"])
        self.assertIsInstance(r.json["elapsed_ms"], int)
        self.assertNoSecret(r)
        # A wrong secret: 502 naming the call and the source's answer.
        r = self.call("PATCH", "/api/v1/datasources/conn-v", {"app_secret": "not-the-secret"})
        self.assertStatus(r, 200)
        r = self.call("POST", "/api/v1/datasources/conn-v/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("getAppToken.do", r.json["message"])
        self.assertIn("1001", r.json["message"])
        self.assertNotIn(b"not-the-secret", r.body)
        # An unknown user: login.do refuses.
        self.call("PATCH", "/api/v1/datasources/conn-v", {"app_secret": APP_SECRET,
                                                          "user": "nobody"})
        r = self.call("POST", "/api/v1/datasources/conn-v/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("login.do", r.json["message"])
        # A listing call that is not at list_path: 404 from the source, named.
        self.call("PATCH", "/api/v1/datasources/conn-v", {"user": "erp.admin",
                                                          "list_path": "/kapi/app/bds/nope"})
        r = self.call("POST", "/api/v1/datasources/conn-v/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("/kapi/app/bds/nope", r.json["message"])
        self.assertIn("404", r.json["message"])
        self.assertIn("list_path", r.json["message"])
        log = self.node.log_text(whole=True)
        self.assertNotIn(APP_SECRET, log)
        self.assertNotIn("not-the-secret", log)

    def test_dead_port_and_refused_connection(self):
        port = free_port()
        self.create(self.vendor("dead", "http://127.0.0.1:%d" % port))
        r = self.call("POST", "/api/v1/datasources/dead/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("getAppToken.do", r.json["message"])
        self.assertIn("no answer", r.json["message"])
        # A host name is checked when connecting: localhost is this node's loopback,
        # and its own API port stays refused whatever --outbound-allow 127.0.0.1 says.
        self.create(self.vendor("self-by-name", "http://localhost:%d" % self.node.http_port))
        r = self.call("POST", "/api/v1/datasources/self-by-name/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("getAppToken.do", r.json["message"])

    def test_imgarc_connection(self):
        other = self.start_node("ds-source")
        r = other.post("/api/v1/clients", body=json.dumps({"tenant": "default",
                                                          "name": "migration"}).encode())
        self.assertStatus(r, 201)
        cid, secret = r.json["client_id"], r.json["client_secret"]
        self.create({"name": "conn-i", "kind": "imgarc", "url": other.url, "tenant": "default",
                     "client_id": cid, "client_secret": secret})
        r = self.call("POST", "/api/v1/datasources/conn-i/test")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["kind"], "imgarc")
        self.assertNoSecret(r, secret)
        self.call("PATCH", "/api/v1/datasources/conn-i", {"client_secret": CLIENT_SECRET_WRONG})
        r = self.call("POST", "/api/v1/datasources/conn-i/test")
        self.assertError(r, 502, 11055, "source_unreachable")
        self.assertIn("/api/v1/auth/token", r.json["message"])
        self.assertNotIn(secret, self.node.log_text(whole=True))
        self.assertNotIn(CLIENT_SECRET_WRONG, self.node.log_text(whole=True))

    def test_vendor_batch_moves_bills_in(self):
        """The vendor kind under the runner: a batch over the fixture moves its bills
        in with their files (a file whose URL fails twice comes on a retry), and a bill
        whose queryCover fails is a failed bill with the source's words."""
        pdf, jpg, inv = make_pdf(2, seed=11), make_jpg(seed=12), make_pdf(1, seed=13)
        b64 = lambda data: base64.b64encode(data).decode()
        seed = dict(SEED)
        seed["bills"] = [
            {"scanBillNo": "MV-0001", "billNo": "BX-1", "billType": "FYBX", "orgCode": "ORG1",
             "createTime": "2026-03-01 10:00:00", "imageStatus": 2, "billId": "erp-1",
             "cover": [{"name": "MV-0001.pdf", "base64": b64(pdf), "fileType": 1}],
             "attachment": [{"name": "receipt.jpg", "base64": b64(jpg), "fail_times": 2}],
             "invoice": [{"name": "invoice.pdf", "base64": b64(inv), "fileType": 1,
                          "invoiceNo": "87654321", "amount": "12.50"}]},
            {"scanBillNo": "MV-0002", "billNo": "BX-2", "billType": "FYBX", "orgCode": "ORG1",
             "createTime": "2026-03-02 10:00:00", "imageStatus": 0, "billId": "erp-2",
             "cover_fails": True},
        ]
        fx = self.fixture(seed)
        self.create(self.vendor("mv-src", fx.url))
        r = self.call("POST", "/api/v1/migrations", {"batch_no": "mv-1", "datasource": "mv-src"})
        self.assertStatus(r, 201)
        r = self.call("POST", "/api/v1/migrations/mv-1/start")
        self.assertStatus(r, 200)
        deadline = time.time() + 90
        while True:
            r = self.call("GET", "/api/v1/migrations/mv-1")
            self.assertStatus(r, 200)
            batch = r.json
            if batch["state"] in ("done", "failed", "paused") or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertIn(batch["state"], ("done", "failed"), batch)
        r = self.call("GET", "/api/v1/migrations/mv-1/bills")
        self.assertStatus(r, 200)
        bills = {b["image_no"]: b for b in r.json["bills"]}
        self.assertEqual(bills["MV-0001"]["state"], "migrated", bills)
        self.assertEqual(bills["MV-0002"]["state"], "failed", bills)
        self.assertIn("5000", bills["MV-0002"]["reason"])
        r = self.call("GET", "/api/v1/bills/MV-0001")
        self.assertStatus(r, 200)
        bill = r.json
        self.assertEqual(bill["state"], "ready")
        self.assertEqual(bill["bill_type"], "FYBX")
        self.assertEqual(bill["fbill_id"], "erp-1")
        files = {f["category"]: f for f in bill["files"]}
        self.assertEqual(set(files), {"cover", "attachment", "invoice"})
        self.assertEqual(files["invoice"]["invoice"]["number"], "87654321")
        for cat, data in (("cover", pdf), ("attachment", jpg), ("invoice", inv)):
            c = self.node.content(files[cat]["file_id"])
            self.assertStatus(c, 200)
            self.assertEqual(c.body, data, cat)
        self.assertNotIn(APP_SECRET, self.node.log_text(whole=True))

    def test_cli(self):
        """imgarc datasources: the secret from a file or stdin, never an argument or
        an output; add, list, show, update, disable, enable, test, delete."""
        fx = self.fixture()
        d = self.scratch("ds-cli")
        secret_file = os.path.join(d, "secret")
        with open(secret_file, "w") as f:
            f.write(APP_SECRET + "\n")
        p = run_cli(self.node, "datasources", "add", "cli-v", "--kind", "vendor", "--url",
                    fx.url, "--source-tenant", "tn-001", "--app-id", "app-imgarc",
                    "--account-id", "acc-9", "--user", "erp.admin", "--secret-file",
                    secret_file, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(cli_json(p)["app_id"], "app-imgarc")
        self.assertNotIn(APP_SECRET, p.stdout + p.stderr)
        p = run_cli(self.node, "datasources", "list")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("cli-v", p.stdout)
        p = run_cli(self.node, "datasources", "show", "cli-v")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("never shown", p.stdout)
        self.assertNotIn(APP_SECRET, p.stdout)
        p = run_cli(self.node, "datasources", "test", "cli-v")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("ok", p.stdout)
        # A wrong secret through stdin: the test fails with the source's words.
        e = dict(os.environ, IMGARC_SERVER=self.node.url, IMGARC_TOKEN=self.node.token)
        p = subprocess.run([IMGARC, "datasources", "update", "cli-v", "--secret-stdin"],
                           input="wrong-one\n", env=e, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(self.node, "datasources", "test", "cli-v")
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("getAppToken.do", p.stderr)
        self.assertNotIn("wrong-one", p.stderr)
        p = run_cli(self.node, "datasources", "disable", "cli-v", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertFalse(cli_json(p)["enabled"])
        p = run_cli(self.node, "datasources", "enable", "cli-v", "--json")
        self.assertTrue(cli_json(p)["enabled"])
        p = run_cli(self.node, "datasources", "update", "cli-v")
        self.assertEqual(p.returncode, 2, p.stderr)
        p = run_cli(self.node, "datasources", "add", "x", "--kind", "sap")
        self.assertEqual(p.returncode, 2, p.stderr)
        p = run_cli(self.node, "datasources", "delete", "cli-v")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(self.node, "datasources", "show", "cli-v")
        self.assertEqual(p.returncode, 1)
        self.assertIn("datasource_not_found", p.stderr)

    def test_tenant_admins_only(self):
        r = self.call("POST", "/api/v1/users", {"username": "scan1", "password": "pw-123456789",
                                                "roles": ["scanner"]})
        self.assertStatus(r, 201)
        r = self.node.request("POST", "/api/v1/auth/login", auth=False,
                              body=json.dumps({"username": "scan1",
                                               "password": "pw-123456789"}).encode())
        self.assertStatus(r, 200)
        h = {"Authorization": "Bearer " + r.json["access_token"]}
        r = self.call("GET", "/api/v1/datasources", headers=h)
        self.assertEqual(r.status, 403, r.body)
        r = self.call("POST", "/api/v1/datasources", self.vendor("x", "https://h"), headers=h)
        self.assertEqual(r.status, 403, r.body)


if __name__ == "__main__":
    unittest.main()
