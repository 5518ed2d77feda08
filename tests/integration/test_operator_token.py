"""The operator's short-lived token (POST /api/v1/auth/operator, for the web console,
which then keeps no bootstrap token) and node ids as strings (JSON numbers round above
2^53 in JavaScript), against a real node whose id is above 2^53."""

import http.client
import json
import time

from imgarc_node import TOKEN, NodeTestCase, _from_httpclient, random_bytes

BIG_ID = "9007199254740993"  # 2^53 + 1: a JavaScript number would read ...992
TTL_S = 120


class OperatorTokenTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("optok", args=["--node-id", BIG_ID,
                                                       "--token-ttl-s", str(TTL_S)])

    def exchange(self, token, source="127.0.0.1", node=None):
        node = node or self.node
        conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=30,
                                          source_address=(source, 0))
        try:
            conn.request("POST", "/api/v1/auth/operator", body=json.dumps({"token": token}),
                         headers={"Content-Type": "application/json"})
            return _from_httpclient(conn.getresponse())
        finally:
            conn.close()

    def short_token(self, node=None, token=TOKEN):
        r = self.exchange(token, node=node)
        self.assertStatus(r, 200)
        return r.json["access_token"]

    # -- the exchange ----------------------------------------------------------

    def test_exchange_gives_a_short_operator_token(self):
        before = time.time()
        r = self.exchange(TOKEN)
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"access_token", "token_type", "expires_in", "expires"})
        self.assertEqual(r.json["token_type"], "Bearer")
        self.assertEqual(r.json["expires_in"], TTL_S)
        self.assertTrue(r.json["access_token"].startswith("imgarc1."), r.json)
        self.assertNotIn(TOKEN, r.json["access_token"])
        self.assertEqual(r.header("cache-control"), "no-store")
        tok = "Bearer " + r.json["access_token"]
        # It acts as the operator: operator-only routes, any tenant by ?tenant=.
        self.assertStatus(self.node.get("/api/v1/cluster", auth=tok), 200)
        self.assertStatus(self.node.get("/api/v1/tenants", auth=tok), 200)
        me = self.node.get("/api/v1/auth/me?tenant=default", auth=tok)
        self.assertStatus(me, 200)
        self.assertEqual((me.json["kind"], me.json["tenant"], me.json["admin"]),
                         ("operator", "default", True))
        self.assertEqual(me.json["expires"], r.json["expires"])
        # The operator token itself does not expire.
        self.assertIsNone(self.node.get("/api/v1/auth/me").json["expires"])
        r = self.node.request("POST", "/api/v1/tenants", auth=tok,
                              body=json.dumps({"id": "optok-t", "name": "Via short token"}),
                              headers={"Content-Type": "application/json"})
        self.assertStatus(r, 201)
        self.assertStatus(self.node.list_bills(auth=tok), 200)
        self.assertLess(time.time() - before, TTL_S)
        # Neither token is logged by the node (the harness's own lines name the flag).
        logged = "\n".join(ln for ln in self.node.log_text(whole=True).splitlines()
                            if not ln.startswith("==== test harness"))
        self.assertIn("operator token exchanged", logged)
        self.assertNotIn(TOKEN, logged)
        self.assertNotIn(tok[len("Bearer "):], logged)

    def test_wrong_token_is_401_then_throttled(self):
        src = "127.0.0.23"  # its own source address: the brake is per source
        r = self.exchange("not-the-operator-token", source=src)
        self.assertError(r, 401, 10401, "unauthorized", index=False)
        self.assertIn("wrong operator token", r.json["message"])
        for _ in range(4):  # --login-source-failures (5) failures, then the brake
            self.assertEqual(self.exchange("x" * len(TOKEN), source=src).status, 401)
        r = self.exchange("x" * len(TOKEN), source=src)
        self.assertEqual(r.status, 429, r)
        self.assertTrue(int(r.header("retry-after")) >= 1, r)
        # While braked even the right token waits: no oracle for guessing.
        r = self.exchange(TOKEN, source=src)
        self.assertEqual(r.status, 429, r)
        # Another source is not held back.
        self.assertStatus(self.exchange(TOKEN, source="127.0.0.24"), 200)

    def test_bad_bodies_are_400(self):
        for body in (b"", b"[]", b'{"tok": "x"}', b'{"token": 7}', b"{not json"):
            r = self.node.request("POST", "/api/v1/auth/operator", body=body, auth=False,
                                  headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 400, (body, r))

    def test_forged_and_user_shaped_tokens_are_refused(self):
        tok = self.short_token()
        head, payload, mac = tok.split(".")
        forged = ".".join([head, payload, ("A" if mac[0] != "A" else "B") + mac[1:]])
        r = self.node.get("/api/v1/cluster", auth="Bearer " + forged)
        self.assertEqual(r.status, 401, r)
        # A short operator token is not taken from a URL (the vendor surface's
        # ?access_token=).
        r = self.node.request("POST", "/kapi/app/rim/queryCover?access_token=" + tok,
                              body=b"{}", auth=False,
                              headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 401, r)
        self.assertIn("Authorization header of native calls only", r.body.decode())

    def test_expiry_and_a_changed_bootstrap_token(self):
        node = self.start_node("optok-ttl", args=["--token-ttl-s", "1"])
        tok = "Bearer " + self.short_token(node=node)
        self.assertStatus(node.get("/api/v1/cluster", auth=tok), 200)
        time.sleep(1.3)
        r = node.get("/api/v1/cluster", auth=tok)
        self.assertEqual(r.status, 401, r)
        self.assertIn("expired", r.json["message"])
        # A node restarted with another operator token refuses short tokens of the old.
        node2 = self.start_node("optok-rot", args=["--token-ttl-s", "600"])
        tok2 = "Bearer " + self.short_token(node=node2)
        node2.stop()
        node2.token = "another-operator-token-0123456789"
        node2.start()
        r = node2.get("/api/v1/cluster", auth=tok2)
        self.assertEqual(r.status, 401, r)
        self.assertIn("--bootstrap-token changed", r.json["message"])
        self.assertStatus(node2.get("/api/v1/cluster"), 200)
        # The old operator token is wrong now.
        self.assertEqual(self.exchange(TOKEN, node=node2, source="127.0.0.25").status, 401)

    # -- node ids are strings --------------------------------------------------

    def test_node_ids_are_strings_everywhere(self):
        v = self.node.get("/api/v1/version", auth=False)
        self.assertStatus(v, 200)
        self.assertEqual(v.json["node_id"], BIG_ID)
        self.assertIn(b'"node_id":"%s"' % BIG_ID.encode(), v.body.replace(b" ", b""))
        r = self.node.get("/readyz", auth=False)
        self.assertEqual(r.json["leader"], BIG_ID)
        view = self.node.get("/api/v1/cluster").json
        self.assertEqual(view["leader"], BIG_ID)
        self.assertEqual([x["id"] for x in view["nodes"]], [BIG_ID])
        # A blob's holders and placement.
        up = self.node.upload("OPTOK-1", random_bytes(2048, 7), name="a.bin")
        self.assertStatus(up, 201)
        blob = self.node.bill("OPTOK-1").json["files"][0]["blob"]
        doc = self.node.get("/api/v1/cluster/blobs/" + blob).json
        self.assertEqual(doc["holders"], [BIG_ID])
        self.assertEqual(doc["live_holders"], [BIG_ID])
        self.assertEqual(doc["placement"], [BIG_ID])
        # Drain and undrain answer the id as a string; the path takes its digits.
        r = self.node.post("/api/v1/cluster/nodes/%s/drain" % BIG_ID)
        self.assertStatus(r, 200)
        self.assertEqual((r.json["id"], r.json["storage"]), (BIG_ID, "draining"))
        r = self.node.request("DELETE", "/api/v1/cluster/nodes/%s/drain" % BIG_ID)
        self.assertStatus(r, 200)
        self.assertEqual((r.json["id"], r.json["storage"]), (BIG_ID, "active"))
        # A path id that is no number: 400; an unknown one: 404.
        self.assertEqual(self.node.post("/api/v1/cluster/nodes/abc/drain").status, 400)
        self.assertEqual(self.node.post("/api/v1/cluster/nodes/12/drain").status, 404)
