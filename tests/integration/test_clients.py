"""Business-system clients and their access tokens: issued per tenant, refused with a
message naming the client id, acting for their own tenant only, expiring."""

import json
import time
import unittest

from imgarc_node import NodeTestCase, random_bytes


class ClientTokenTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("clients", args=["--token-ttl-s", "2"])

    def create_client(self, tenant, name="erp"):
        r = self.node.post("/api/v1/clients",
                           body=json.dumps({"tenant": tenant, "name": name}).encode())
        self.assertStatus(r, 201)
        self.assertEqual(r.json["tenant"], tenant)
        return r.json["client_id"], r.json["client_secret"]

    def token(self, client_id, secret):
        return self.node.post("/api/v1/auth/token", auth=False,
                              body=json.dumps({"client_id": client_id,
                                               "client_secret": secret}).encode())

    def as_client(self, token):
        return {"Authorization": "Bearer " + token}

    def test_token_acts_for_its_tenant_only(self):
        r = self.node.post("/api/v1/tenants", body=b'{"id": "beta", "name": "Beta"}')
        self.assertIn(r.status, (201, 409))
        cid, secret = self.create_client("default")
        r = self.token(cid, secret)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["token_type"], "Bearer")
        self.assertEqual(r.json["expires_in"], 2)
        h = self.as_client(r.json["access_token"])
        up = self.node.request("POST", "/api/v1/bills/CL-1/files?name=a.txt",
                               body=random_bytes(100, seed=1), headers=h, auth=False)
        self.assertStatus(up, 201)
        log = self.node.request("GET", "/api/v1/bills/CL-1/log", headers=h, auth=False)
        self.assertStatus(log, 200)
        self.assertEqual(log.json["entries"][-1]["operator"], "client:" + cid)
        # Another tenant, operator endpoints: forbidden, with the client named.
        for method, path in (("GET", "/api/v1/bills/CL-1?tenant=beta"),
                             ("GET", "/api/v1/tenants"),
                             ("POST", "/api/v1/tenants"),
                             ("POST", "/api/v1/licenses"),
                             ("POST", "/api/v1/clients"),
                             ("GET", "/api/v1/tenants/beta/usage")):
            with self.subTest(path=path):
                r = self.node.request(method, path, headers=h, auth=False,
                                      body=b"{}" if method == "POST" else None)
                self.assertError(r, 403, 10403, "forbidden")
                self.assertIn(cid, r.json["message"])
        # Its own tenant's usage and license are readable.
        r = self.node.request("GET", "/api/v1/tenants/default/usage", headers=h, auth=False)
        self.assertStatus(r, 200)
        r = self.node.request("GET", "/api/v1/licenses", headers=h, auth=False)
        self.assertStatus(r, 200)
        # The token expires.
        time.sleep(2.2)
        r = self.node.request("GET", "/api/v1/bills/CL-1", headers=h, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("expired", r.json["message"])

    def test_refusals_name_the_client(self):
        r = self.token("no-such-client", "x")
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("no-such-client", r.json["message"])
        cid, secret = self.create_client("default", "payables")
        r = self.token(cid, secret + "x")
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn(cid, r.json["message"])
        r = self.node.post("/api/v1/auth/token", auth=False, body=b'{"client_id": 5}')
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.node.post("/api/v1/clients", body=b'{"tenant": "nope", "name": "x"}')
        self.assertError(r, 404, 11014, "tenant_not_found")

    def test_forged_tokens_are_refused(self):
        cid, secret = self.create_client("default")
        tok = self.token(cid, secret).json["access_token"]
        head, payload, mac = tok.split(".")
        # Another tenant in the payload, same MAC.
        forged = ".".join([head, payload[:-2] + ("A" if payload[-2] != "A" else "B") +
                           payload[-1], mac])
        for bad in (forged, tok + "x", "imgarc1.e30.AAAA", "operator"):
            with self.subTest(token=bad[:20]):
                r = self.node.request("GET", "/api/v1/bills", headers=self.as_client(bad),
                                      auth=False)
                self.assertError(r, 401, 10401, "unauthorized")

    def test_admin_audit_log_exports(self):
        r = self.node.post("/api/v1/tenants", body=b'{"id": "audited", "name": "A, \\"B\\""}')
        self.assertStatus(r, 201)
        cid, _ = self.create_client("audited", "erp")
        r = self.node.get("/api/v1/audit?tenant=audited")
        self.assertStatus(r, 200)
        actions = [(e["action"], e["operator"]) for e in r.json["entries"]]
        self.assertEqual(actions, [("tenant_created", "operator"), ("client_created", "operator")])
        self.assertEqual(r.json["entries"][1]["detail"]["client_id"], cid)
        self.assertIsNone(r.json["next_after"])
        # Pages: one entry, then the rest after its index.
        r = self.node.get("/api/v1/audit?tenant=audited&limit=1")
        self.assertEqual(len(r.json["entries"]), 1)
        nxt = r.json["next_after"]
        r = self.node.get("/api/v1/audit?tenant=audited&after=%d" % nxt)
        self.assertEqual([e["action"] for e in r.json["entries"]], ["client_created"])
        # JSON lines and CSV carry the same entries.
        r = self.node.get("/api/v1/audit?tenant=audited&format=jsonl")
        self.assertStatus(r, 200)
        lines = [json.loads(l) for l in r.body.decode().splitlines()]
        self.assertEqual([l["action"] for l in lines], ["tenant_created", "client_created"])
        r = self.node.get("/api/v1/audit?tenant=audited&format=csv")
        self.assertTrue(r.header("content-type").startswith("text/csv"))
        import csv
        import io
        rows = list(csv.reader(io.StringIO(r.body.decode())))
        self.assertEqual(rows[0], ["index", "time", "action", "operator", "request_id",
                                   "detail"])
        self.assertEqual(json.loads(rows[1][5])["name"], 'A, "B"')
        r = self.node.get("/api/v1/audit?tenant=audited&format=xml")
        self.assertError(r, 400, 11011, "invalid_query")
        # The default tenant's log starts with the cluster's creation.
        r = self.node.get("/api/v1/audit")
        self.assertEqual(r.json["entries"][0]["action"], "cluster_initialized")


if __name__ == "__main__":
    unittest.main()
