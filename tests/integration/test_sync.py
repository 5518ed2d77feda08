"""Invoice-data sync from another imgarc archive, between two real nodes.

The target first migrates the source's bills (a batch), then takes the face data of the
source's invoices as it changes there: a run for a date takes only that day's changes, a
full run everything, a single-bill run that bill; the tenant's protected fields and an
invoice edited here are never overwritten; a record that cannot be applied (the
source's file is not here) is tried again by the next runs and given up after 3
attempts, then put back by hand; the daily run fires once per organisation and day, and
not again after a restart."""

import json
import time
import unittest

from imgarc_node import NodeTestCase, cli_json, make_pdf, quote, run_cli

JSON = {"Content-Type": "application/json"}
INV = {"number": "04400000000112345678", "code": "044001900111", "date": "2026-11-02",
       "amount": "100.00", "tax": "6.00", "total": "106.00",
       "seller_tax_no": "91440000123456789X", "buyer_tax_no": "91110000987654321Y"}


def post(node, path, body):
    return node.post(path, json.dumps(body).encode(), headers=JSON)


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


def inv(**kw):
    d = dict(INV)
    d.update(kw)
    return d


class TestSyncFromImgarc(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.src = cls.start_class_node("sync-src")
        cls.dst = cls.start_class_node("sync-dst", args=["--sync-tick-ms", "100"])
        r = post(cls.src, "/api/v1/clients", {"tenant": "default", "name": "sync"})
        assert r.status == 201, r.body
        cls.cid, cls.secret = r.json["client_id"], r.json["client_secret"]
        cls.files = {}
        for no, org in (("SY-1", "org-a"), ("SY-2", "org-a"), ("SY-3", "org-a"),
                        ("SY-4", "org-b")):
            assert cls.src.pool_push({"image_no": no, "bill_no": "ER-" + no,
                                      "bill_type": "FYBX", "org": org}).status in (200, 201)
            r = cls.src.upload(no, make_pdf(text=no), name="inv.pdf", category="invoice")
            assert r.status == 201, r.body
            cls.files[no] = r.json["file_id"]
            cls.set_invoice(cls.src, no, r.json["file_id"], inv(number="0440000000011234567" +
                                                                no[-1]))

    @staticmethod
    def set_invoice(node, image_no, file_id, invoice):
        r = node.request("PATCH", "/api/v1/bills/%s/files/%s" % (quote(image_no), file_id),
                         body=json.dumps({"invoice": invoice}).encode(), headers=JSON)
        assert r.status == 200, (r.status, r.body)

    def file_invoice(self, node, image_no, file_id=None):
        b = node.bill(image_no)
        self.assertStatus(b, 200)
        f = [f for f in b.json["files"] if f["file_id"] == (file_id or self.files[image_no])]
        self.assertEqual(len(f), 1, b.json)
        return f[0]["invoice"]

    def wait_run(self, run_id, timeout=60):
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            r = self.dst.get("/api/v1/sync/runs/" + run_id)
            self.assertStatus(r, 200)
            last = r.json
            if last["state"] in ("done", "failed"):
                return last
            time.sleep(0.1)
        self.fail("run %s never ended: %r\n%s" % (run_id, last, self.dst.log_tail(30)))

    def sync_run(self, body, n=1):
        r = post(self.dst, "/api/v1/sync/runs", body)
        self.assertStatus(r, 201)
        self.assertEqual(len(r.json["runs"]), n, r.json)
        return [self.wait_run(x["run_id"]) for x in r.json["runs"]]

    def test_01_migrate_then_configure(self):
        dst = self.dst
        # Nothing before the settings.
        self.assertStatus(dst.get("/api/v1/sync/settings"), 404)
        self.assertStatus(post(dst, "/api/v1/sync/runs", {"date": ""}), 404)
        self.assertStatus(post(dst, "/api/v1/datasources", {
            "name": "old", "kind": "imgarc", "url": self.src.url, "tenant": "default",
            "client_id": self.cid, "client_secret": self.secret}), 201)
        self.assertStatus(post(dst, "/api/v1/migrations", {"batch_no": "B1",
                                                           "datasource": "old"}), 201)
        self.assertStatus(dst.post("/api/v1/migrations/B1/start"), 200)
        deadline = time.time() + 60
        while dst.get("/api/v1/migrations/B1").json["state"] != "done":
            self.assertLess(time.time(), deadline, dst.get("/api/v1/migrations/B1").json)
            time.sleep(0.2)
        self.assertEqual(self.file_invoice(dst, "SY-1")["amount"], "100.00")
        # Bad settings get a 400 that says what is wrong.
        for bad, word in (({"datasource": "old", "daily_at": "25:00"}, "daily_at"),
                          ({"datasource": "old", "protected_fields": ["colour"]},
                           "protected_fields"),
                          ({"datasource": "old", "orgs": ["a", "a"]}, "twice"),
                          ({"datasource": "old", "extra": 1}, "extra")):
            r = dst.request("PUT", "/api/v1/sync/settings", body=json.dumps(bad).encode(),
                            headers=JSON)
            self.assertStatus(r, 400)
            self.assertIn(word, r.body.decode())
        r = dst.request("PUT", "/api/v1/sync/settings", headers=JSON, body=json.dumps(
            {"datasource": "nope", "enabled": False, "daily_at": "02:00"}).encode())
        self.assertStatus(r, 404)
        settings = {"datasource": "old", "enabled": False, "daily_at": "02:00",
                    "orgs": ["org-a", "org-b"], "protected_fields": ["tax"]}
        r = dst.request("PUT", "/api/v1/sync/settings", body=json.dumps(settings).encode(),
                        headers=JSON)
        self.assertStatus(r, 200)
        got = dst.get("/api/v1/sync/settings").json
        for k, v in settings.items():
            self.assertEqual(got[k], v)

    def test_02_date_run_takes_that_days_changes_and_keeps_what_is_protected(self):
        src, dst = self.src, self.dst
        # Changed at the source today; SY-2 also edited here.
        self.set_invoice(src, "SY-1", self.files["SY-1"],
                         inv(number="04400000000112345671", amount="200.00", tax="12.00",
                             total="212.00"))
        self.set_invoice(src, "SY-2", self.files["SY-2"],
                         inv(number="04400000000112345672", amount="300.00"))
        self.set_invoice(dst, "SY-2", self.files["SY-2"],
                         inv(number="04400000000112345672", amount="999.00"))
        # Yesterday: nothing changed then.
        y = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))
        run, = self.sync_run({"org": "org-a", "date": y})
        self.assertEqual((run["state"], run["result"], run["succeeded"], run["failed"],
                          run["skipped"], run["kind"], run["date"]),
                         ("done", "ok", 0, 0, 0, "date", y), run)
        self.assertEqual(self.file_invoice(dst, "SY-1")["amount"], "100.00")
        # Today, org-a: SY-1 takes the source's data but its protected tax; SY-2 stays.
        run, = self.sync_run({"org": "org-a", "date": today()})
        self.assertEqual((run["state"], run["result"], run["org"], run["attempts"]),
                         ("done", "ok", "org-a", 1), run)
        self.assertEqual((run["succeeded"], run["skipped"]), (2, 1), run)
        self.assertIsNotNone(run["started"])
        self.assertIsNotNone(run["finished"])
        self.assertIn("2 records synchronised", run["message"])
        i1 = self.file_invoice(dst, "SY-1")
        self.assertEqual((i1["amount"], i1["total"], i1["tax"]), ("200.00", "212.00", "6.00"))
        self.assertEqual(self.file_invoice(dst, "SY-2")["amount"], "999.00")
        b2 = dst.bill("SY-2").json["files"][0]
        self.assertEqual((b2["invoice_local"], dst.bill("SY-1").json["files"][0]["invoice_local"]),
                         (True, False))
        log = dst.audit_log("SY-1").json
        self.assertIn("invoice_data_synced", json.dumps(log))
        # org-b was not in that run.
        self.set_invoice(src, "SY-4", self.files["SY-4"],
                         inv(number="04400000000112345674", code="999"))
        self.assertEqual(self.file_invoice(dst, "SY-4")["code"], "044001900111")

    def test_03_full_and_single_bill_runs(self):
        src, dst = self.src, self.dst
        # No org: one run per organisation of the settings.
        runs = self.sync_run({"date": ""}, n=2)
        self.assertEqual(sorted(r["org"] for r in runs), ["org-a", "org-b"])
        self.assertTrue(all(r["kind"] == "full" and r["state"] == "done" for r in runs), runs)
        self.assertEqual(self.file_invoice(dst, "SY-4")["code"], "999")
        # One bill: only that one.
        self.set_invoice(src, "SY-4", self.files["SY-4"],
                         inv(number="04400000000112345674", code="888"))
        self.set_invoice(src, "SY-1", self.files["SY-1"],
                         inv(number="04400000000112345671", amount="250.00"))
        run, = self.sync_run({"image_no": "SY-4"})
        self.assertEqual((run["kind"], run["image_no"], run["succeeded"], run["state"]),
                         ("bill", "SY-4", 1, "done"), run)
        self.assertEqual(self.file_invoice(dst, "SY-4")["code"], "888")
        self.assertEqual(self.file_invoice(dst, "SY-1")["amount"], "200.00")
        # A retried request (same Idempotency-Key) answers the same run; another body
        # under that key is a conflict.
        hs = dict(JSON, **{"Idempotency-Key": "sync-run-1"})
        a = dst.post("/api/v1/sync/runs", json.dumps({"image_no": "SY-4"}).encode(), headers=hs)
        b = dst.post("/api/v1/sync/runs", json.dumps({"image_no": "SY-4"}).encode(), headers=hs)
        self.assertStatus(a, 201)
        self.assertStatus(b, 201)
        self.assertEqual(a.json["runs"][0]["run_id"], b.json["runs"][0]["run_id"])
        c = dst.post("/api/v1/sync/runs", json.dumps({"image_no": "SY-1"}).encode(), headers=hs)
        self.assertStatus(c, 409)
        self.wait_run(a.json["runs"][0]["run_id"])
        # A run that does not exist.
        r = dst.get("/api/v1/sync/runs/no-such-run")
        self.assertError(r, 404, 11060, "sync_not_found")
        self.assertIn("no-such-run", r.json["message"])
        # A bill this archive does not hold: the run says so.
        run, = self.sync_run({"image_no": "NOPE-1"})
        self.assertEqual((run["state"], run["failed"]), ("failed", 1), run)
        self.assertStatus(dst.post("/api/v1/sync/failures/retry"), 200)

    def test_04_a_failing_record_is_tried_three_times_then_given_up(self):
        src, dst = self.src, self.dst
        # A file added at the source after the migration: not here.
        r = src.upload("SY-3", make_pdf(text="late"), name="late.pdf", category="invoice")
        self.assertStatus(r, 201)
        late = r.json["file_id"]
        self.set_invoice(src, "SY-3", late, inv(number="04400000000112340000"))
        states = []
        for attempt in (1, 2, 3):
            run, = self.sync_run({"org": "org-a", "date": today()})
            self.assertEqual((run["state"], run["result"], run["failed"]),
                             ("failed", "partial", 1), run)
            self.assertIn("sync by hand or check network and configuration", run["message"])
            f = dst.get("/api/v1/sync/failures?org=org-a").json["failures"]
            f = [x for x in f if x["image_no"] == "SY-3"]
            self.assertEqual(len(f), 1, f)
            self.assertEqual(f[0]["attempts"], attempt, f)
            self.assertIn("not in this archive", f[0]["reason"])
            states.append(f[0]["state"])
        self.assertEqual(states, ["retrying", "retrying", "given_up"])
        # Given up: the next run leaves it alone.
        run, = self.sync_run({"org": "org-a", "date": today()})
        f = [x for x in dst.get("/api/v1/sync/failures?org=org-a").json["failures"]
             if x["image_no"] == "SY-3"]
        self.assertEqual((f[0]["state"], f[0]["attempts"]), ("given_up", 3), f)
        # By hand: back to retrying.
        r = post(dst, "/api/v1/sync/failures/retry", {"org": "org-a"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["retrying"], 1, r.json)
        f = dst.get("/api/v1/sync/failures?org=org-a&state=retrying").json["failures"]
        self.assertEqual([(x["image_no"], x["attempts"]) for x in f], [("SY-3", 0)])
        # The sync list shows every run, by organisation.
        runs = dst.get("/api/v1/sync/runs?org=org-a&limit=1000").json
        self.assertGreaterEqual(len(runs["runs"]), 7)
        self.assertTrue(all(r["org"] == "org-a" for r in runs["runs"]))
        for k in ("run_id", "org", "kind", "date", "image_no", "state", "started", "finished",
                  "result", "message", "succeeded", "failed", "attempts"):
            self.assertIn(k, runs["runs"][0])
        page = dst.get("/api/v1/sync/runs?limit=2").json
        self.assertEqual(len(page["runs"]), 2)
        nxt = dst.get("/api/v1/sync/runs?limit=2&after=" + page["next_after"]).json
        self.assertNotEqual(nxt["runs"][0]["run_id"], page["runs"][0]["run_id"])

    def test_05_the_daily_run_fires_once_per_organisation_and_day(self):
        dst = self.dst
        r = dst.request("PUT", "/api/v1/sync/settings", headers=JSON, body=json.dumps(
            {"datasource": "old", "enabled": True, "daily_at": "00:00",
             "orgs": ["org-a", "org-b"]}).encode())
        self.assertStatus(r, 200)
        ids = ["daily-%s-org-a" % today(), "daily-%s-org-b" % today()]
        for i in ids:
            deadline = time.time() + 30
            while dst.get("/api/v1/sync/runs/" + i).status == 404:
                self.assertLess(time.time(), deadline, dst.log_tail(30))
                time.sleep(0.1)
            run = self.wait_run(i)
            self.assertEqual((run["kind"], run["date"]), ("scheduled", today()), run)

        def daily():
            return sorted(x["run_id"] for x in
                          dst.get("/api/v1/sync/runs?limit=1000").json["runs"]
                          if x["run_id"].startswith("daily-"))
        time.sleep(1)
        self.assertEqual(daily(), ids)
        dst.restart()
        time.sleep(2)
        self.assertEqual(daily(), ids)

    def test_06_the_cli(self):
        dst = self.dst

        def cli(*args, rc=0):
            p = run_cli(dst, "sync", *args)
            self.assertEqual(p.returncode, rc, (args, p.stdout, p.stderr))
            return p
        cli("set", "--datasource", "old", "--daily-at", "00:00", "--orgs", "org-a,org-b",
            "--protect", "tax,total")
        s = cli_json(cli("settings", "--json"))
        self.assertEqual((s["orgs"], s["protected_fields"], s["enabled"]),
                         (["org-a", "org-b"], ["tax", "total"], True))
        self.assertIn("protected  tax,total", cli("settings").stdout)
        p = cli("run", "--org", "org-b", "--full", "--json")
        run_id = cli_json(p)["runs"][0]["run_id"]
        self.assertEqual(self.wait_run(run_id)["state"], "done")
        p = cli("show", run_id)
        self.assertIn("state      done", p.stdout)
        self.assertIn("org-b", p.stdout)
        p = cli("runs", "--org", "org-b")
        self.assertIn(run_id, p.stdout)
        self.assertIn("RUN_ID", p.stdout)
        p = cli("failures", "--org", "org-a")
        self.assertIn("SY-3", p.stdout)
        p = cli("retry", "--org", "org-a")
        self.assertIn("back to retrying", p.stdout)
        # What the client or the node refuses.
        cli("run", "--full", "--date", "2026-12-01", rc=2)
        p = run_cli(dst, "sync", "run", "--date", "2026-13-45")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("YYYY-MM-DD", p.stderr)
        p = run_cli(dst, "sync", "show", "nope")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("sync_not_found", p.stderr + p.stdout)
        cli("set", "--datasource", "old", "--disabled")

    def test_07_a_run_that_cannot_go_on_fails_with_what_to_do(self):
        dst = self.dst
        # Credentials the source refuses.
        self.assertStatus(post(dst, "/api/v1/datasources", {
            "name": "refused", "kind": "imgarc", "url": self.src.url, "tenant": "default",
            "client_id": self.cid, "client_secret": "not-the-secret"}), 201)
        r = dst.request("PUT", "/api/v1/sync/settings", headers=JSON, body=json.dumps(
            {"datasource": "refused", "enabled": False, "orgs": ["org-a"]}).encode())
        self.assertStatus(r, 200)
        run, = self.sync_run({"date": ""})
        self.assertEqual((run["state"], run["result"]), ("failed", "error"), run)
        self.assertIn("sync by hand or check network and configuration", run["message"])
        self.assertNotIn("not-the-secret", json.dumps(run))
        self.assertNotIn("not-the-secret", dst.log_text(whole=True))
        # A disabled data source takes no runs.
        r = dst.request("PATCH", "/api/v1/datasources/refused", headers=JSON,
                        body=json.dumps({"enabled": False}).encode())
        self.assertStatus(r, 200)
        r = post(dst, "/api/v1/sync/runs", {"date": ""})
        self.assertStatus(r, 409)
        self.assertIn("disabled", r.body.decode())


if __name__ == "__main__":
    unittest.main()
