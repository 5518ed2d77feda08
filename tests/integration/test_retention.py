"""Retention periods and deleting bills (docs/retention.md, docs/API.md "Retention and
deleting bills"), against a real node: GET/PUT /api/v1/retention set the tenant's
default and each bill type's period; every bill carries the end of its period
("retain_until", stamped when it is stored and never moved earlier); DELETE
/api/v1/bills/{image_no} is refused with 409 while the period runs or a hold is in
force, for anyone, and otherwise removes the bill with its files, audit log, ERP id,
deliveries and usage, leaves a summary in the admin audit log, and releases content no
other bill references, which the garbage sweep then deletes from disk; the CLI drives
both."""

import json
import time
import unittest

from imgarc_node import NodeTestCase, random_bytes, run_cli, cli_json
from test_webhooks import Receiver

GRACE_MS = 1000


class RetentionTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("retention", args=["--gc-grace-ms", str(GRACE_MS)])

    def put_retention(self, body, status=200, **kw):
        r = self.node.request("PUT", "/api/v1/retention", body=json.dumps(body).encode(), **kw)
        if status == 200:
            self.assertStatus(r, 200)
        return r

    def post_json(self, path, obj, **kw):
        return self.node.request("POST", path, body=json.dumps(obj).encode(), **kw)

    def bill_type(self, code, years):
        r = self.post_json("/api/v1/bill-types", {"code": code, "name": code, "mode": "basic"})
        self.assertStatus(r, 201)
        if years is not None:
            self.put_retention({"bill_type": code, "years": years})

    def delete(self, image_no, reason=None, **kw):
        body = json.dumps({"reason": reason}).encode() if reason is not None else b""
        return self.node.request("DELETE", "/api/v1/bills/" + image_no, body=body, **kw)

    def admin_entries(self, action):
        r = self.node.get("/api/v1/audit?limit=10000")
        self.assertStatus(r, 200)
        return [e for e in r.json["entries"] if e["action"] == action]

    def usage(self):
        r = self.node.get("/api/v1/tenants/default/usage")
        self.assertStatus(r, 200)
        return r.json

    def test_a_periods_settings_and_where_they_come_from(self):
        doc = self.node.get("/api/v1/retention")
        self.assertStatus(doc, 200)
        self.assertEqual(doc.json["default"], {"years": 30, "from": "default"})
        self.bill_type("RT-TEN", 10)
        self.bill_type("RT-INHERIT", None)
        types = {t["code"]: t for t in self.node.get("/api/v1/retention").json["bill_types"]}
        self.assertEqual((types["RT-TEN"]["years"], types["RT-TEN"]["from"]), (10, "bill_type"))
        self.assertEqual((types["RT-INHERIT"]["years"], types["RT-INHERIT"]["from"]),
                         (30, "default"))
        r = self.put_retention({"years": "permanent"})
        self.assertEqual(r.json["default"], {"years": "permanent", "from": "tenant"})
        types = {t["code"]: t for t in r.json["bill_types"]}
        self.assertEqual((types["RT-INHERIT"]["years"], types["RT-INHERIT"]["from"]),
                         ("permanent", "tenant"))
        self.assertEqual(types["RT-TEN"]["years"], 10)
        self.assertGreater(r.json["index"], 0)
        r = self.put_retention({"years": None})
        self.assertEqual(r.json["default"], {"years": 30, "from": "default"})
        # Every change is in the admin audit log, with the value it replaced.
        last = self.admin_entries("retention_set")[-1]
        self.assertEqual(last["detail"], {"bill_type": None, "years": None, "before": "permanent"})
        for bad in ({"years": -1}, {"years": 1001}, {"years": "forever"}, {"years": 1.5},
                    {}, {"bill_type": "", "years": 3}, {"years": 3, "extra": 1},
                    {"bill_type": 7, "years": 3}):
            r = self.put_retention(bad, status=400)
            e = self.assertError(r, 400, 11005, "invalid_field", msg=repr(bad))
            self.assertIn("permanent", e["message"])
        r = self.put_retention({"bill_type": "NO-SUCH", "years": 3}, status=404)
        self.assertError(r, 404, 11025, "bill_type_not_found")

    def test_b_a_bill_inside_its_period_is_kept_for_everyone(self):
        r = self.node.upload("RT-KEEP-1", random_bytes(2000, seed=11), name="a.pdf")
        self.assertStatus(r, 201)
        bill = self.node.bill("RT-KEEP-1").json
        year = int(bill["created"][:4])
        # 30 years from the first day after the year of creation.
        self.assertTrue(bill["retain_until"].startswith("%d-01-01T00:00:00" % (year + 31)),
                        bill["retain_until"])
        r = self.delete("RT-KEEP-1", reason="clean-up")
        e = self.assertError(r, 409, 11034, "bill_retained")
        self.assertIn("%d-01-01" % (year + 31), e["message"])
        # A shorter default set later does not release a bill stamped under the longer.
        self.put_retention({"years": 0})
        try:
            r = self.delete("RT-KEEP-1")
            self.assertError(r, 409, 11034, "bill_retained")
            self.assertEqual(self.node.bill("RT-KEEP-1").json["retain_until"],
                             bill["retain_until"])
        finally:
            self.put_retention({"years": None})
        # A permanent bill type: a bill that takes it gets the longer period.
        self.bill_type("RT-PERM", "permanent")
        r = self.node.pool_push({"image_no": "RT-KEEP-1", "bill_type": "RT-PERM"})
        self.assertIn(r.status, (200, 201), r)
        self.assertEqual(self.node.bill("RT-KEEP-1").json["retain_until"], "permanent")
        self.assertError(self.delete("RT-KEEP-1"), 409, 11034, "bill_retained")
        self.assertStatus(self.node.bill("RT-KEEP-1"), 200)

    def test_c_deleting_a_bill_removes_what_belongs_to_it(self):
        self.bill_type("RT-ZERO", 0)
        shared = random_bytes(5000, seed=21)
        own = random_bytes(7000, seed=22)
        r = self.node.pool_push({"image_no": "RT-DEL-1", "bill_type": "RT-ZERO", "org": "",
                                 "fbill_id": "ERP-RT-1"})
        self.assertStatus(r, 201)
        a = self.node.upload("RT-DEL-1", own, name="own.pdf")
        self.assertStatus(a, 201)
        b = self.node.upload("RT-DEL-1", shared, name="shared.pdf")
        self.assertStatus(b, 201)
        other = self.node.upload("RT-OTHER-1", shared, name="shared.pdf")
        self.assertStatus(other, 201)
        own_blob = a.json["blob"]
        self.assertIsNotNone(self.node.blob_file(own_blob))
        before = self.usage()
        bill = self.node.bill("RT-DEL-1").json
        self.assertEqual(bill["retain_until"], bill["created"])

        # A hold stops the deletion; lifted, the deletion goes through.
        r = self.post_json("/api/v1/bills/RT-DEL-1/holds", {"reason": "audit"})
        self.assertStatus(r, 201)
        hid = r.json["hold_id"]
        e = self.assertError(self.delete("RT-DEL-1"), 409, 11032, "bill_held")
        self.assertIn(hid, e["message"])
        self.assertStatus(self.node.request("DELETE", "/api/v1/bills/RT-DEL-1/holds/" + hid), 200)
        # The business system hears of the deletion through a webhook.
        receiver = Receiver()
        self.addCleanup(receiver.stop)
        hook = self.post_json("/api/v1/webhooks", {"url": receiver.url,
                                                   "events": ["bill_deleted"]})
        self.assertStatus(hook, 201)
        self.addCleanup(self.node.request, "DELETE", "/api/v1/webhooks/" + hook.json["id"])
        r = self.delete("RT-DEL-1", reason="duplicate scan, agreed with finance")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["image_no"], r.json["deleted"]), ("RT-DEL-1", True))
        _, headers, body = receiver.wait_for(1)[0]
        event = json.loads(body)
        self.assertEqual((event["event"], event["image_no"], event["fbill_id"], event["reason"],
                          event["file_count"], event["bytes"], event["tenant"]),
                         ("bill_deleted", "RT-DEL-1", "ERP-RT-1",
                          "duplicate scan, agreed with finance", 2, len(own) + len(shared),
                          "default"))
        self.assertTrue(headers.get("X-Imgarc-Signature", "").startswith("sha256="))

        # Gone: the bill, its files, its audit log; deleting again is a 404.
        self.assertError(self.node.bill("RT-DEL-1"), 404, 11002, "bill_not_found")
        self.assertError(self.delete("RT-DEL-1"), 404, 11002, "bill_not_found")
        self.assertEqual(self.node.content(a.json["file_id"]).status, 404)
        log = self.node.audit_log("RT-DEL-1")
        self.assertIn(log.status, (200, 404), log)
        if log.status == 200:
            self.assertEqual(log.json["entries"], [])
        # Usage gives back one bill, two files and their bytes; the shared content stays
        # counted once for the tenant.
        after = self.usage()
        self.assertEqual(after["bills"], before["bills"] - 1)
        self.assertEqual(after["files"], before["files"] - 2)
        self.assertEqual(after["bytes"], before["bytes"] - len(own) - len(shared))
        self.assertEqual(after["physical_bytes"], before["physical_bytes"] - len(own))
        # The summary stays in the admin audit log.
        entry = self.admin_entries("bill_deleted")[-1]
        detail = entry["detail"]
        self.assertEqual(entry["operator"], "operator")
        self.assertEqual((detail["image_no"], detail["fbill_id"], detail["bill_type"]),
                         ("RT-DEL-1", "ERP-RT-1", "RT-ZERO"))
        self.assertEqual(detail["reason"], "duplicate scan, agreed with finance")
        self.assertEqual(sorted(f["blake2b"] for f in detail["files"]),
                         sorted([own_blob, b.json["blob"]]))
        self.assertEqual(detail["file_count"], 2)
        self.assertGreaterEqual(detail["audit_entries"], 4)  # push, 2 files, hold, lift

        # The ERP id is free again, and the image number starts a new bill and log.
        r = self.node.pool_push({"image_no": "RT-DEL-2", "fbill_id": "ERP-RT-1"})
        self.assertStatus(r, 201)
        r = self.node.upload("RT-DEL-1", random_bytes(1000, seed=23), name="new.pdf")
        self.assertStatus(r, 201)
        actions = [x["action"] for x in self.node.audit_log("RT-DEL-1").json["entries"]]
        self.assertNotIn("hold_placed", actions)

        # The released content leaves the disk after the grace period; shared stays.
        deadline = time.time() + 120
        while self.node.blob_file(own_blob) is not None and time.time() < deadline:
            time.sleep(0.5)
        self.assertIsNone(self.node.blob_file(own_blob), "released content still on disk")
        r = self.node.content(other.json["file_id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.body, shared)

    def test_d_only_admins_delete_bills(self):
        self.bill_type("RT-ZERO2", 0)
        r = self.node.pool_push({"image_no": "RT-PERM-1", "bill_type": "RT-ZERO2"})
        self.assertStatus(r, 201)
        r = self.post_json("/api/v1/clients", {"tenant": "default", "name": "erp-retention"})
        self.assertStatus(r, 201)
        tok = self.post_json("/api/v1/auth/token", {"client_id": r.json["client_id"],
                                                   "client_secret": r.json["client_secret"]},
                             auth=False)
        self.assertStatus(tok, 200)
        client = {"Authorization": "Bearer " + tok.json["access_token"]}
        r = self.delete("RT-PERM-1", headers=client, auth=False)
        e = self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("admin", e["message"])
        r = self.put_retention({"years": 1}, status=403, headers=client, auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertStatus(self.node.get("/api/v1/retention", headers=client, auth=False), 200)
        r = self.node.request("DELETE", "/api/v1/bills/RT-PERM-1", body=b'{"why": 1}')
        self.assertError(r, 400, 11005, "invalid_field")
        self.assertStatus(self.node.bill("RT-PERM-1"), 200)

    def test_e_the_cli_and_a_restart(self):
        self.bill_type("RT-CLI", 0)
        r = self.node.pool_push({"image_no": "RT-CLI-1", "bill_type": "RT-CLI"})
        self.assertStatus(r, 201)
        self.node.restart()
        p = run_cli(self.node, "retention", "set", "--bill-type", "RT-CLI", "--years", "0")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        doc = cli_json(run_cli(self.node, "retention", "show", "--json"))
        types = {t["code"]: t for t in doc["bill_types"]}
        self.assertEqual(types["RT-CLI"]["years"], 0)
        p = run_cli(self.node, "retention", "set", "--years", "eleven")
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        p = run_cli(self.node, "delete-bill", "RT-KEEP-1")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bill_retained", p.stderr)
        p = run_cli(self.node, "delete-bill", "RT-CLI-1", "--reason", "test")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("bill RT-CLI-1 deleted", p.stdout)
        p = run_cli(self.node, "retention", "show")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"RT-CLI\s+RT-CLI\s+0 years\s+bill_type")
        self.assertEqual(self.node.bill("RT-CLI-1").status, 404)


if __name__ == "__main__":
    unittest.main()
