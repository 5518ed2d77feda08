"""Migration batches, the operator's side, against a real node over real HTTP.

A tenant admin (or the operator with ?tenant=) creates a batch naming a data source and
a scope, starts, pauses, resumes, retries and cancels it, marks bills "do not migrate",
and reads the batch, its bills and its log (JSON pages, or CSV streamed whole). Every
refusal has its documented status and code. The data source points at a port nobody
listens on: what the runner does with a reachable source is test_migration.py's."""

import csv
import io
import json
import unittest

from imgarc_node import NodeTestCase, free_port

JSON = {"Content-Type": "application/json"}


class MigrationApiTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("migration-api")
        cls.dead_url = "http://127.0.0.1:%d" % free_port()

    # -- helpers ---------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, raw=None):
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        h = dict(JSON)
        h.update(headers or {})
        return self.node.request(method, path, body=data, headers=h)

    def datasource(self, name, enabled=True, tenant=None):
        """A data source of the tenant (POST /api/v1/datasources, helper A's API)."""
        path = "/api/v1/datasources" + ("?tenant=" + tenant if tenant else "")
        r = self.call("POST", path, {
            "name": name, "kind": "imgarc", "url": self.dead_url, "tenant": "old",
            "client_id": "cid", "client_secret": "a-secret-of-the-old-system",
            "enabled": enabled})
        if r.status == 404 and r.json.get("error") == "not_found":
            self.skipTest("POST /api/v1/datasources is not on this branch yet")
        self.assertIn(r.status, (201, 409), "create data source: %r" % r.body[:300])
        return name

    def create(self, batch_no, datasource, scope=None, expect=201, tenant=None, headers=None):
        body = {"batch_no": batch_no, "datasource": datasource}
        if scope is not None:
            body["scope"] = scope
        path = "/api/v1/migrations" + ("?tenant=" + tenant if tenant else "")
        r = self.call("POST", path, body, headers=headers)
        if expect is not None:
            self.assertStatus(r, expect, "create batch %s" % batch_no)
        return r

    def act(self, batch_no, action, expect=200):
        r = self.call("POST", "/api/v1/migrations/%s/%s" % (batch_no, action))
        if expect is not None:
            self.assertStatus(r, expect, "%s %s" % (action, batch_no))
        return r

    def batch(self, batch_no):
        r = self.node.get("/api/v1/migrations/%s" % batch_no)
        self.assertStatus(r, 200)
        return r.json

    # -- refusals that need no data source ---------------------------------------

    def test_bodies_and_names_are_checked_before_anything_is_proposed(self):
        bad = [
            (b"not json", 400, 11004, "invalid_json"),
            (b"[]", 400, 11004, "invalid_json"),
            (b"{}", 400, 11005, "invalid_field"),
            (b'{"batch_no": "B1"}', 400, 11005, "invalid_field"),
            (b'{"batch_no": ".B1", "datasource": "old"}', 400, 11005, "invalid_field"),
            (b'{"batch_no": "B 1", "datasource": "old"}', 400, 11005, "invalid_field"),
            (json.dumps({"batch_no": "B" * 65, "datasource": "old"}).encode(), 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "o/d"}', 400, 11005, "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "extra": 1}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": []}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"org": ["A"]}}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"orgs": "A"}}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"orgs": [""]}}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"orgs": [1]}}', 400, 11005,
             "invalid_field"),
            (json.dumps({"batch_no": "B1", "datasource": "old",
                         "scope": {"orgs": ["O%d" % i for i in range(65)]}}).encode(), 400,
             11005, "invalid_field"),
            (json.dumps({"batch_no": "B1", "datasource": "old",
                         "scope": {"bill_types": ["T"] * 65}}).encode(), 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"from": "yesterday"}}', 400,
             11005, "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"to": 5}}', 400, 11005,
             "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"from": "2026-02-01", '
             b'"to": "2026-01-01"}}', 400, 11005, "invalid_field"),
            (b'{"batch_no": "B1", "datasource": "old", "scope": {"from": '
             b'"2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}}', 400, 11005,
             "invalid_field"),
        ]
        for raw, status, code, error in bad:
            r = self.call("POST", "/api/v1/migrations", raw=raw)
            self.assertError(r, status, code, error, msg=raw[:80].decode())
        r = self.call("POST", "/api/v1/migrations", {"batch_no": "B1", "datasource": "old"},
                      headers={"Idempotency-Key": "not a key"})
        self.assertError(r, 400, 11005, "invalid_field")
        # Nothing was created by any of them.
        r = self.node.get("/api/v1/migrations")
        self.assertStatus(r, 200)
        self.assertEqual([b["batch_no"] for b in r.json["migrations"] if b["batch_no"] == "B1"],
                         [])

    def test_unknown_data_source_and_unknown_batch(self):
        r = self.create("NO-SOURCE", "nosuchsource", expect=None)
        body = self.assertError(r, 404, 11050, "datasource_not_found")
        self.assertIn("nosuchsource", body["message"])
        for action in ("start", "pause", "resume", "retry", "cancel"):
            r = self.act("NOPE", action, expect=None)
            self.assertError(r, 404, 11053, "migration_not_found", msg=action)
        # A parameter that is no batch number is not found either, never a crash.
        for path in ("/api/v1/migrations/NOPE", "/api/v1/migrations/NOPE/bills",
                     "/api/v1/migrations/NOPE/log", "/api/v1/migrations/NOPE/log?format=csv",
                     "/api/v1/migrations/..x", "/api/v1/migrations/%s" % ("x" * 300)):
            self.assertError(self.node.get(path), 404, 11053, "migration_not_found", msg=path)
        r = self.call("POST", "/api/v1/migrations/.hidden/start")
        self.assertError(r, 404, 11053, "migration_not_found")
        r = self.call("POST", "/api/v1/migrations/NOPE/bills/skip", {"image_nos": ["A1"]})
        self.assertError(r, 404, 11053, "migration_not_found")

    def test_tenant_admin_only(self):
        # A business system's client token has every permission but admin.
        r = self.call("POST", "/api/v1/clients", {"name": "erp-mig"})
        self.assertStatus(r, 201)
        r = self.node.request("POST", "/api/v1/auth/token", auth=False, body=json.dumps(
            {"client_id": r.json["client_id"], "client_secret": r.json["client_secret"]}
        ).encode())
        self.assertStatus(r, 200)
        token = r.json["access_token"]
        for method, path in (("GET", "/api/v1/migrations"), ("POST", "/api/v1/migrations"),
                             ("POST", "/api/v1/migrations/X/start"),
                             ("GET", "/api/v1/migrations/X/log")):
            r = self.node.request(method, path, body=b"{}" if method == "POST" else None,
                                  headers={"Authorization": "Bearer " + token})
            self.assertError(r, 403, 10403, "forbidden", msg=path)

    # -- batches -----------------------------------------------------------------

    def test_create_show_and_list(self):
        src = self.datasource("src-create")
        scope = {"orgs": ["ORG-1", "ORG-2"], "bill_types": ["BX"], "from": "2026-01-01",
                 "to": "2026-01-31"}
        r = self.create("C-1", src, scope, headers={"Idempotency-Key": "create-c-1"})
        b = r.json
        self.assertEqual(b["batch_no"], "C-1")
        self.assertEqual(b["datasource"], src)
        self.assertEqual(b["state"], "pending")
        self.assertIsNone(b["phase"])
        self.assertIsNone(b["error"])
        self.assertIsNone(b["started"])
        self.assertIsNone(b["finished"])
        self.assertEqual(b["created_by"], "operator")
        self.assertEqual(b["scope"], {"orgs": ["ORG-1", "ORG-2"], "bill_types": ["BX"],
                                      "from": "2026-01-01T00:00:00.000Z",
                                      "to": "2026-02-01T00:00:00.000Z"})  # the end of that day
        self.assertEqual(b["counts"], {k: 0 for k in (
            "bills", "pending", "migrated", "failed", "skipped", "files", "bytes",
            "files_moved", "bytes_moved", "checked")})
        self.assertGreater(b["index"], 0)
        # The same request again is answered from the first one.
        r = self.create("C-1", src, scope, headers={"Idempotency-Key": "create-c-1"})
        self.assertEqual(r.json["index"], b["index"])
        # The key for another request is a misuse.
        r = self.create("C-2", src, headers={"Idempotency-Key": "create-c-1"}, expect=None)
        self.assertError(r, 409, 10409, "idempotency_conflict")
        # Without the key, the number is taken.
        r = self.create("C-1", src, expect=None)
        self.assertError(r, 409, 11054, "migration_exists")
        # RFC 3339 bounds are kept as they are; no scope at all is every bill.
        r = self.create("C-3", src, {"from": "2026-03-01T08:00:00+08:00", "to": None})
        self.assertEqual(r.json["scope"]["from"], "2026-03-01T00:00:00.000Z")
        self.assertIsNone(r.json["scope"]["to"])
        r = self.create("C-4", src)
        self.assertEqual(r.json["scope"], {"orgs": [], "bill_types": [], "from": None,
                                           "to": None})
        shown = self.batch("C-1")
        self.assertEqual(shown["scope"], b["scope"])
        listed = self.node.get("/api/v1/migrations").json["migrations"]
        numbers = [m["batch_no"] for m in listed]
        self.assertEqual(numbers, sorted(numbers))
        self.assertTrue({"C-1", "C-3", "C-4"} <= set(numbers))

    def test_disabled_source_is_refused(self):
        src = self.datasource("src-off", enabled=False)
        r = self.create("OFF-1", src, expect=None)
        body = self.assertError(r, 409, 11007, "invalid_state")
        self.assertIn("disabled", body["message"])

    def test_batches_are_the_tenants_own(self):
        r = self.call("POST", "/api/v1/tenants", {"id": "migt2"})
        self.assertIn(r.status, (201, 409))
        src = self.datasource("src-t2", tenant="migt2")
        self.create("T2-1", src, tenant="migt2")
        self.assertEqual([m["batch_no"] for m in self.node.get(
            "/api/v1/migrations?tenant=migt2").json["migrations"]], ["T2-1"])
        # The default tenant has no batch T2-1 and no data source src-t2.
        self.assertError(self.node.get("/api/v1/migrations/T2-1"), 404, 11053,
                         "migration_not_found")
        self.assertError(self.create("T2-1", src, expect=None), 404, 11050,
                         "datasource_not_found")

    def test_transitions(self):
        src = self.datasource("src-actions")
        self.create("A-1", src)
        # pending: not pause, resume or retry.
        for action in ("pause", "resume", "retry"):
            body = self.assertError(self.act("A-1", action, expect=None), 409, 11007,
                                    "invalid_state", msg=action)
            self.assertIn("pending", body["message"])
        r = self.act("A-1", "start")
        self.assertEqual(r.json["state"], "running")
        self.assertIsNotNone(r.json["started"])
        started = r.json["started"]
        self.assertError(self.act("A-1", "start", expect=None), 409, 11007, "invalid_state")
        self.assertError(self.act("A-1", "resume", expect=None), 409, 11007, "invalid_state")
        self.assertEqual(self.act("A-1", "pause").json["state"], "paused")
        self.assertError(self.act("A-1", "pause", expect=None), 409, 11007, "invalid_state")
        self.assertEqual(self.act("A-1", "resume").json["state"], "running")
        self.assertEqual(self.act("A-1", "pause").json["state"], "paused")
        r = self.act("A-1", "retry")
        self.assertEqual(r.json["state"], "running")
        self.assertEqual(r.json["started"], started)  # the first start's
        r = self.act("A-1", "cancel")
        self.assertEqual(r.json["state"], "failed")
        self.assertEqual(r.json["error"], "cancelled by operator")
        self.assertIsNotNone(r.json["finished"])
        for action in ("start", "pause", "resume", "cancel"):
            self.assertError(self.act("A-1", action, expect=None), 409, 11007,
                             "invalid_state", msg=action)
        r = self.act("A-1", "retry")
        self.assertEqual(r.json["state"], "running")
        self.assertIsNone(r.json["error"])
        self.assertIsNone(r.json["finished"])
        self.act("A-1", "cancel")
        # A pending batch is cancelled as it is.
        self.create("A-2", src)
        self.assertEqual(self.act("A-2", "cancel").json["state"], "failed")
        # Unknown actions are no route.
        r = self.call("POST", "/api/v1/migrations/A-1/fly")
        self.assertEqual(r.status, 404)

    def test_skip_and_bills(self):
        src = self.datasource("src-skip")
        self.create("S-1", src)
        bad = [
            {}, {"image_nos": []}, {"image_nos": "A1"}, {"image_nos": ["A1"], "skip": "yes"},
            {"image_nos": ["A 1"]}, {"image_nos": [1]}, {"image_nos": ["A1"], "x": 1},
            {"image_nos": ["A%d" % i for i in range(1001)]},
        ]
        for body in bad:
            r = self.call("POST", "/api/v1/migrations/S-1/bills/skip", body)
            self.assertError(r, 400, 11005, "invalid_field", msg=json.dumps(body)[:60])
        # Bills the batch has not listed are unchanged, for a skip and an unskip.
        r = self.call("POST", "/api/v1/migrations/S-1/bills/skip",
                      {"image_nos": ["A1", "A2"], "skip": True})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["changed"], 0)
        self.assertEqual(r.json["unchanged"], ["A1", "A2"])
        self.assertTrue(r.json["skip"])
        r = self.call("POST", "/api/v1/migrations/S-1/bills/skip",
                      {"image_nos": ["A1"], "skip": False})
        self.assertStatus(r, 200)
        self.assertEqual((r.json["changed"], r.json["unchanged"], r.json["skip"]),
                         (0, ["A1"], False))
        # The bills page of a batch that has listed nothing.
        r = self.node.get("/api/v1/migrations/S-1/bills")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["bills"], [])
        self.assertIsNone(r.json["next_after"])
        r = self.node.get("/api/v1/migrations/S-1/bills?state=failed&after=A1&limit=5")
        self.assertStatus(r, 200)
        for q in ("state=done", "limit=0", "limit=1001", "limit=x", "after=a%20b"):
            self.assertError(self.node.get("/api/v1/migrations/S-1/bills?" + q), 400, 11011,
                             "invalid_query", msg=q)
        self.assertEqual(self.batch("S-1")["counts"]["skipped"], 0)

    def test_log_json_pages_and_csv(self):
        src = self.datasource("src-log")
        self.create("L-1", src)
        self.act("L-1", "start")
        self.act("L-1", "pause")
        self.act("L-1", "resume")
        self.act("L-1", "cancel")
        self.act("L-1", "retry")
        self.act("L-1", "cancel")
        want = ["created", "started", "paused", "resumed", "cancelled", "retried",
                "cancelled"]
        r = self.node.get("/api/v1/migrations/L-1/log")
        self.assertStatus(r, 200)
        entries = r.json["entries"]
        self.assertEqual([e["action"] for e in entries], want)
        self.assertEqual([e["seq"] for e in entries], list(range(1, 8)))
        self.assertIsNone(r.json["next_after"])
        self.assertEqual(entries[0]["detail"]["datasource"], src)
        self.assertEqual(entries[5]["detail"], {"bills": 0})
        self.assertTrue(all(e["operator"] == "operator" and e["image_no"] is None
                            and e["time"].endswith("Z") for e in entries))
        # Pages.
        seen, after = [], 0
        while True:
            r = self.node.get("/api/v1/migrations/L-1/log?limit=3&after=%d" % after)
            self.assertStatus(r, 200)
            seen += [e["action"] for e in r.json["entries"]]
            self.assertLessEqual(len(r.json["entries"]), 3)
            if r.json["next_after"] is None:
                break
            after = r.json["next_after"]
        self.assertEqual(seen, want)
        # CSV: a header, every entry, RFC 4180 (the JSON detail is quoted).
        r = self.node.get("/api/v1/migrations/L-1/log?format=csv")
        self.assertStatus(r, 200)
        self.assertTrue(r.header("content-type").startswith("text/csv"))
        self.assertEqual(r.header("content-disposition"),
                         'attachment; filename="migration-L-1-log.csv"')
        rows = list(csv.reader(io.StringIO(r.body.decode("utf-8"), newline="")))
        self.assertEqual(rows[0], ["seq", "time", "operator", "action", "image_no", "detail"])
        self.assertEqual([row[3] for row in rows[1:]], want)
        self.assertEqual([int(row[0]) for row in rows[1:]], list(range(1, 8)))
        self.assertEqual(json.loads(rows[1][5])["datasource"], src)
        self.assertEqual(rows[1][1], entries[0]["time"])
        r = self.node.get("/api/v1/migrations/L-1/log?format=csv&after=5&limit=1")
        rows = list(csv.reader(io.StringIO(r.body.decode("utf-8"), newline="")))
        self.assertEqual([row[3] for row in rows[1:]], ["retried"])
        for q in ("format=xml", "after=-1", "after=x", "limit=0", "limit=1001"):
            self.assertError(self.node.get("/api/v1/migrations/L-1/log?" + q), 400, 11011,
                             "invalid_query", msg=q)

    def test_a_long_log_streams_whole_as_csv(self):
        src = self.datasource("src-long")
        self.create("LONG-1", src)
        n = 1 + 2 * 300  # more than one streamed page (500 entries)
        for _ in range(300):
            self.act("LONG-1", "start")
            self.act("LONG-1", "pause")
        r = self.node.get("/api/v1/migrations/LONG-1/log?format=csv")
        self.assertStatus(r, 200)
        rows = list(csv.reader(io.StringIO(r.body.decode("utf-8"), newline="")))
        self.assertEqual(len(rows), 1 + n)
        self.assertEqual([int(row[0]) for row in rows[1:]], list(range(1, n + 1)))
        self.assertTrue(self.node.alive())


if __name__ == "__main__":
    unittest.main()
