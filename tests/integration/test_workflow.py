"""The capture workflow on a real node: bill types and schemes, image modes, invoice
data, automatic and manual matching, ERP submission through a webhook, returns.

Rules (DOMAIN.md): a bill type without a scheme behaves as basic; basic and sync bills
are ready once submitted; match bills once every declared invoice is matched (normal:
number and total; standard: also code, date, amount and tax); matched invoices are
locked; ready bills go to the ERP automatically or by hand per the scheme, and the
ERP's answer decides erp_submitted or erp_failed."""

import json
import os
import shutil
import time
import unittest

from imgarc_node import NodeTestCase, make_pdf, quote, scratch_dir
from test_tenants_licenses import DAY_MS, Key, now_ms
from test_webhooks import Receiver

INVOICES = [
    {"number": "04400001", "code": "044001", "date": "2026-11-01", "amount": "100.00",
     "tax": "13.00"},
    {"number": "04400002", "code": "044001", "date": "2026-11-02", "amount": "50",
     "tax": "6.5"},
]


class WorkflowTestCase(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        d = scratch_dir("workflow-keys")
        cls.addClassCleanup(shutil.rmtree, d, True)
        cls.key = Key(os.path.join(d, "k"))
        cls.node = cls.start_class_node("workflow", args=[
            "--webhook-retry-ms", "200", "--webhook-attempts", "3",
            "--license-pubkey", cls.key.public])

    def post(self, path, body):
        return self.node.post(path, json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})

    def bill_type(self, code, mode, match="normal", submit="manual", scheme=True, org=None):
        self.assertStatus(self.post("/api/v1/bill-types", {"code": code, "mode": mode}), 201)
        if scheme:
            body = {"bill_type": code, "match": match, "submit": submit}
            if org is not None:
                body["org"] = org
            self.assertStatus(self.post("/api/v1/schemes", body), 201)

    def invoice_bill(self, image_no, bill_type, scanned):
        """A pool bill declaring INVOICES, with one invoice file per entry of @scanned
        (its invoice data, or None), and a cover. Returns the invoice file ids."""
        r = self.node.pool_push({"image_no": image_no, "bill_no": "B-" + image_no,
                                 "bill_type": bill_type, "invoices": INVOICES})
        self.assertStatus(r, 201)
        self.assertStatus(self.node.upload(image_no, make_pdf(text=image_no + " cover"),
                                           name="cover.pdf", category="cover"), 201)
        ids = []
        for i, data in enumerate(scanned):
            r = self.node.upload(image_no, make_pdf(text="%s invoice %d" % (image_no, i)),
                                 name="inv%d.pdf" % i, category="invoice")
            self.assertStatus(r, 201)
            ids.append(r.json["file_id"])
            if data is not None:
                self.assertStatus(self.set_invoice(image_no, ids[-1], data), 200)
        return ids

    def set_invoice(self, image_no, file_id, data):
        return self.node.request("PATCH", "/api/v1/bills/%s/files/%s" % (quote(image_no),
                                                                          quote(file_id)),
                                 body=json.dumps({"invoice": data}).encode())

    def scanned(self, i, **change):
        inv = dict(INVOICES[i])
        inv.update(change)
        return inv

    def status(self, image_no):
        r = self.node.status(image_no)
        self.assertStatus(r, 200)
        return r.json

    def wait_state(self, image_no, state, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            s = self.status(image_no)
            if s["state"] == state:
                return s
            time.sleep(0.1)
        self.fail("bill %s never reached %s: %r" % (image_no, state, self.status(image_no)))

    def hook(self, url, events):
        r = self.post("/api/v1/webhooks", {"url": url, "events": events})
        self.assertStatus(r, 201)
        self.addCleanup(self.node.request, "DELETE", "/api/v1/webhooks/" + r.json["id"])
        return r.json


class TestSchemes(WorkflowTestCase):
    def test_bill_types_and_schemes(self):
        self.bill_type("BT_LIST", "match", match="standard", submit="auto")
        types = self.node.get("/api/v1/bill-types").json["bill_types"]
        t, = [x for x in types if x["code"] == "BT_LIST"]
        self.assertEqual((t["name"], t["mode"]), ("BT_LIST", "match"))
        schemes = self.node.get("/api/v1/schemes").json["schemes"]
        s, = [x for x in schemes if x["bill_type"] == "BT_LIST"]
        self.assertEqual((s["org"], s["match"], s["submit"]), (None, "standard", "auto"))
        # Re-sending replaces.
        self.assertStatus(self.post("/api/v1/schemes", {"bill_type": "BT_LIST"}), 201)
        s, = [x for x in self.node.get("/api/v1/schemes").json["schemes"]
              if x["bill_type"] == "BT_LIST"]
        self.assertEqual((s["match"], s["submit"]), ("normal", "manual"))

    def test_invalid_definitions(self):
        cases = [
            ("/api/v1/bill-types", {"code": "X", "mode": "fancy"}, 400, 11005),
            ("/api/v1/bill-types", {"code": "bad code", "mode": "basic"}, 400, 11005),
            ("/api/v1/bill-types", {"mode": "basic"}, 400, 11005),
            ("/api/v1/schemes", {"bill_type": "NO_SUCH_TYPE"}, 404, 11025),
            ("/api/v1/schemes", {"bill_type": "BT_LIST2", "match": "strict"}, 400, 11005),
            ("/api/v1/schemes", {"bill_type": "BT_LIST2", "submit": "later"}, 400, 11005),
            ("/api/v1/schemes", {"bill_type": "BT_LIST2", "org": "no-such-org"}, 404, 11021),
        ]
        self.bill_type("BT_LIST2", "basic", scheme=False)
        for path, body, status, code in cases:
            with self.subTest(body=body):
                r = self.post(path, body)
                self.assertEqual((r.status, r.json["code"]), (status, code), r.json)
                self.assertTrue(r.json["message"])

    def test_no_scheme_is_basic(self):
        self.bill_type("BT_NOSCHEME", "match", scheme=False)
        self.invoice_bill("WF-NOSCHEME", "BT_NOSCHEME", [None])
        r = self.node.submit("WF-NOSCHEME")
        self.assertStatus(r, 200)
        s = self.status("WF-NOSCHEME")
        self.assertEqual((s["state"], s["mode"], s["reasons"]), ("ready", "basic", []))

    def test_scheme_of_a_parent_organisation_applies(self):
        self.assertStatus(self.post("/api/v1/orgs", {"id": "wf-hq", "name": "HQ"}), 201)
        self.assertStatus(self.post("/api/v1/orgs", {"id": "wf-branch", "name": "Branch",
                                                     "parent": "wf-hq"}), 201)
        self.bill_type("BT_ORG", "match", org="wf-hq")
        r = self.node.pool_push({"image_no": "WF-ORG-1", "bill_type": "BT_ORG",
                                 "org": "wf-branch", "invoices": INVOICES[:1]})
        self.assertStatus(r, 201)
        self.assertStatus(self.node.upload("WF-ORG-1", make_pdf(text="o"), name="a.pdf"), 201)
        self.assertStatus(self.node.submit("WF-ORG-1"), 200)
        s = self.status("WF-ORG-1")
        self.assertEqual((s["state"], s["mode"]), ("submitted", "match"))
        self.assertEqual(s["invoices"], {"declared": 1, "matched": 0})
        self.assertIn("1 of 1 declared invoices are not matched", s["reasons"][0])


class TestMatching(WorkflowTestCase):
    def test_normal_match_fix_data_then_rematch_then_erp_by_hand(self):
        self.bill_type("BT_MATCH", "match")
        f1, f2 = self.invoice_bill("WF-M-1", "BT_MATCH", [
            self.scanned(0, total="113.00", amount="", tax=""),  # total given, equal
            self.scanned(1, amount="50.00", tax="7.00")])         # total 57 != 56.5
        self.assertStatus(self.node.submit("WF-M-1"), 200)
        s = self.status("WF-M-1")
        self.assertEqual((s["state"], s["invoices"]), ("submitted", {"declared": 2,
                                                                      "matched": 1}))
        m = self.node.get("/api/v1/bills/WF-M-1/match").json
        self.assertEqual([d["file_id"] for d in m["declared"]], [f1, None])
        bad, = [f for f in m["files"] if f["file_id"] == f2]
        self.assertEqual(bad["match"], None)
        self.assertIn("total amount", bad["problem"])
        # Matched invoices are locked.
        r = self.set_invoice("WF-M-1", f1, self.scanned(0))
        self.assertError(r, 409, 11026, "match_locked")
        # Correcting the data is how a failed match is fixed.
        self.assertStatus(self.set_invoice("WF-M-1", f2, self.scanned(1)), 200)
        r = self.node.post("/api/v1/bills/WF-M-1/match")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["state"], r.json["invoices"]["matched"]), ("ready", 2))
        log = [e["action"] for e in self.node.audit_log("WF-M-1").json["entries"]]
        self.assertEqual(log.count("invoice_matched"), 2)
        # Manual ERP submission needs an erp_submit webhook.
        r = self.node.post("/api/v1/bills/WF-M-1/erp-submit")
        self.assertError(r, 409, 11007, "invalid_state")
        self.assertIn("erp_submit", r.json["message"])
        erp = Receiver()
        self.addCleanup(erp.stop)
        self.hook(erp.url, ["erp_submit"])
        self.assertStatus(self.node.post("/api/v1/bills/WF-M-1/erp-submit"), 200)
        (_, headers, body), = erp.wait_for(1)
        self.assertEqual(headers["X-Imgarc-Event"], "erp_submit")
        sent = json.loads(body)
        self.assertEqual((sent["image_no"], sent["bill_no"]), ("WF-M-1", "B-WF-M-1"))
        self.assertEqual([f["category"] for f in sent["files"]], ["cover", "invoice",
                                                                 "invoice"])
        self.assertEqual([f.get("match") for f in sent["files"]], [None, "04400001",
                                                                   "04400002"])
        self.wait_state("WF-M-1", "erp_submitted")

    def test_invoice_data_and_barcode_given_at_capture(self):
        self.bill_type("BT_CAP", "match")
        r = self.node.pool_push({"image_no": "WF-CAP-1", "bill_type": "BT_CAP",
                                 "invoices": INVOICES})
        self.assertStatus(r, 201)
        r = self.node.upload("WF-CAP-1", make_pdf(text="page"), name="scan1.pdf",
                             query="barcode=WF-CAP-1")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["category"], "cover", "the scanner read the cover code")
        r = self.node.upload("WF-CAP-1", make_pdf(text="page 2"), name="scan2.pdf",
                             query="barcode=OTHER")
        self.assertEqual(r.json["category"], "attachment")
        for inv in INVOICES:
            q = "&".join("invoice_%s=%s" % (k, quote(v)) for k, v in inv.items())
            r = self.node.upload("WF-CAP-1", make_pdf(text=inv["number"]), name="i.pdf",
                                 query=q)
            self.assertStatus(r, 201)
            self.assertEqual(r.json["category"], "invoice", "invoice data makes an invoice")
        files = self.node.bill("WF-CAP-1").json["files"]
        self.assertEqual(files[2]["invoice"]["number"], INVOICES[0]["number"])
        self.assertStatus(self.node.submit("WF-CAP-1"), 200)
        s = self.status("WF-CAP-1")
        self.assertEqual((s["state"], s["invoices"]["matched"]), ("ready", 2))
        r = self.node.upload("WF-CAP-1", b"x", name="x.txt", query="invoice_total=1")
        self.assertError(r, 400, 11011, "invalid_query")
        r = self.node.upload("WF-CAP-1", b"x", name="x.txt",
                             query="invoice_number=1&invoice_total=1.234")
        self.assertError(r, 400, 11011, "invalid_query")

    def test_match_results_per_capture_batch(self):
        self.bill_type("BT_BATCH", "match")
        for no in ("WF-BATCH-1", "WF-BATCH-2"):
            self.assertStatus(self.node.pool_push({"image_no": no, "bill_type": "BT_BATCH",
                                                   "invoices": INVOICES[:1]}), 201)
        inv = INVOICES[0]
        q = "batch=scan-7&" + "&".join("invoice_%s=%s" % (k, quote(v)) for k, v in inv.items())
        r1 = self.node.upload("WF-BATCH-1", make_pdf(text="b1"), name="i.pdf", query=q)
        r2 = self.node.upload("WF-BATCH-2", make_pdf(text="b2"), name="i.pdf",
                              query="batch=scan-7&invoice_number=999&invoice_total=1")
        r3 = self.node.upload("WF-BATCH-2", make_pdf(text="other"), name="o.pdf",
                              query="batch=scan-8")
        for r in (r1, r2, r3):
            self.assertStatus(r, 201)
        for no in ("WF-BATCH-1", "WF-BATCH-2"):
            self.assertStatus(self.node.submit(no), 200)
        r = self.node.get("/api/v1/batches/scan-7/match")
        self.assertStatus(r, 200)
        files = {f["file_id"]: f for f in r.json["files"]}
        self.assertEqual(set(files), {r1.json["file_id"], r2.json["file_id"]})
        self.assertEqual(files[r1.json["file_id"]]["match"], inv["number"])
        self.assertIn("declares no invoice", files[r2.json["file_id"]]["problem"])
        self.assertEqual(r.json["bills"]["WF-BATCH-1"]["state"], "ready")
        self.assertEqual(r.json["bills"]["WF-BATCH-2"]["invoices"], {"declared": 1,
                                                                     "matched": 0})
        self.assertEqual(self.node.get("/api/v1/batches/nothing/match").json["files"], [])
        self.assertError(self.node.get("/api/v1/batches/bad%20id/match"), 400, 11011,
                         "invalid_query")

    def test_standard_compares_more_elements(self):
        self.bill_type("BT_STD", "match", match="standard")
        self.invoice_bill("WF-STD-1", "BT_STD", [self.scanned(0, code="999999"),
                                                 self.scanned(1)])
        self.assertStatus(self.node.submit("WF-STD-1"), 200)
        s = self.status("WF-STD-1")
        self.assertEqual(s["invoices"]["matched"], 1)
        m = self.node.get("/api/v1/bills/WF-STD-1/match").json
        self.assertEqual(m["level"], "standard")
        self.assertIn("invoice code", [f for f in m["files"] if f["match"] is None][0]["problem"])

    def test_manual_match_and_unmatch(self):
        self.bill_type("BT_MAN", "match")
        f1, f2 = self.invoice_bill("WF-MAN-1", "BT_MAN", [None, None])
        self.assertStatus(self.node.submit("WF-MAN-1"), 200)
        self.assertEqual(self.status("WF-MAN-1")["invoices"]["matched"], 0)
        path = "/api/v1/bills/WF-MAN-1/files/%s/match"
        r = self.post(path % f1, {"invoice_number": "04400001"})
        self.assertStatus(r, 200)
        self.assertEqual((r.json["state"], r.json["invoices"]["matched"]), ("submitted", 1))
        # The same invoice cannot be matched twice; an unknown one not at all.
        self.assertError(self.post(path % f2, {"invoice_number": "04400001"}), 409, 11026,
                         "match_locked")
        self.assertError(self.post(path % f2, {"invoice_number": "nope"}), 400, 10400,
                         "bad_request")
        r = self.post(path % f2, {"invoice_number": "04400002"})
        self.assertEqual(r.json["state"], "ready")
        # Unmatching a ready bill's invoice sends it back to submitted.
        r = self.node.request("DELETE", path % f2)
        self.assertStatus(r, 200)
        self.assertEqual((r.json["state"], r.json["invoices"]["matched"]), ("submitted", 1))
        self.assertError(self.node.request("DELETE", path % f2), 409, 11007, "invalid_state")

    def test_refusals(self):
        self.bill_type("BT_REF", "match")
        f1, = self.invoice_bill("WF-REF-1", "BT_REF", [None])
        cover = self.node.bill("WF-REF-1").json["files"][0]["file_id"]
        basic_ids = self.invoice_bill("WF-REF-BASIC", "", [None])
        cases = [
            ("PATCH unknown file", lambda: self.set_invoice("WF-REF-1", "fnope", INVOICES[0]),
             404, 11003),
            ("PATCH a cover", lambda: self.set_invoice("WF-REF-1", cover, INVOICES[0]),
             409, 11007),
            ("PATCH without number", lambda: self.set_invoice("WF-REF-1", f1, {"total": "1"}),
             400, 11005),
            ("PATCH bad amount", lambda: self.set_invoice("WF-REF-1", f1,
                                                          {"number": "1", "total": "1.234"}),
             400, 11005),
            ("PATCH unknown field", lambda: self.set_invoice("WF-REF-1", f1,
                                                             {"number": "1", "x": "y"}),
             400, 11005),
            ("match a cover", lambda: self.post("/api/v1/bills/WF-REF-1/files/%s/match"
                                                % cover, {"invoice_number": "04400001"}),
             409, 11007),
            ("match in basic mode", lambda: self.post(
                "/api/v1/bills/WF-REF-BASIC/files/%s/match" % basic_ids[0],
                {"invoice_number": "04400001"}), 409, 11007),
            ("rematch a captured bill", lambda: self.node.post("/api/v1/bills/WF-REF-1/match"),
             409, 11007),
            ("erp-submit a captured bill",
             lambda: self.node.post("/api/v1/bills/WF-REF-1/erp-submit"), 409, 11007),
            ("return a captured bill", lambda: self.post("/api/v1/bills/WF-REF-1/return",
                                                         {"reason": "x"}), 409, 11007),
            ("return without reason", lambda: self.post("/api/v1/bills/WF-REF-1/return", {}),
             400, 11005),
            ("unknown bill", lambda: self.node.post("/api/v1/bills/NO-BILL/match"), 404, 11002),
        ]
        for name, call, status, code in cases:
            with self.subTest(name):
                r = call()
                self.assertEqual((r.status, r.json["code"]), (status, code), r.json)
        # After submit, the basic bill is ready and its invoice data is frozen.
        self.assertStatus(self.node.submit("WF-REF-BASIC"), 200)
        r = self.set_invoice("WF-REF-BASIC", basic_ids[0], INVOICES[0])
        self.assertError(r, 409, 11007, "invalid_state")


class TestErpAndReturns(WorkflowTestCase):
    def test_auto_erp_failure_then_retry_by_hand(self):
        self.bill_type("BT_AUTO", "basic", submit="auto")
        erp = Receiver(statuses=(500, 200))
        self.addCleanup(erp.stop)
        self.hook(erp.url, ["erp_submit"])
        self.invoice_bill("WF-AUTO-1", "BT_AUTO", [])
        self.assertStatus(self.node.submit("WF-AUTO-1"), 200)
        s = self.wait_state("WF-AUTO-1", "erp_failed")
        self.assertEqual(len(erp.received()), 1, "an ERP submission is attempted once")
        self.assertIn("HTTP 500", s["reasons"][0])
        self.assertIs(s["ready"], True)
        self.assertStatus(self.node.post("/api/v1/bills/WF-AUTO-1/erp-submit"), 200)
        s = self.wait_state("WF-AUTO-1", "erp_submitted")
        self.assertEqual(s["reasons"], [])
        deliveries = self.node.get("/api/v1/bills/WF-AUTO-1/deliveries").json["deliveries"]
        erp_d = [d for d in deliveries if d["event"] == "erp_submit"]
        self.assertEqual([d["state"] for d in erp_d], ["failed", "delivered"])

    def test_answers_say_scheme_and_erp_delivery(self):
        """status, submit and match answers carry "submit" (the scheme) and "erp" (the
        delivery), so a console tells situation 1 (auto) from situation 2 (manual)."""
        erp = Receiver()
        self.addCleanup(erp.stop)
        self.bill_type("BT_G7_AUTO", "match", submit="auto")
        self.bill_type("BT_G7_MAN", "match", submit="manual")
        # No scheme: null; nothing sent yet: none.
        self.invoice_bill("WF-G7-0", "", [])
        s = self.status("WF-G7-0")
        self.assertEqual((s["submit"], s["erp"]), (None, {"state": "none", "error": None}))
        # Situation 2: manual scheme, all matched -> ready, erp none until erp-submit.
        self.invoice_bill("WF-G7-M", "BT_G7_MAN", [self.scanned(0), self.scanned(1)])
        r = self.node.submit("WF-G7-M")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["state"], r.json["submit"], r.json["erp"]["state"],
                          r.json["mode"], r.json["invoices"]),
                         ("ready", "manual", "none", "match", {"declared": 2, "matched": 2}))
        m = self.node.get("/api/v1/bills/WF-G7-M/match").json
        self.assertEqual((m["submit"], m["erp"]["state"]), ("manual", "none"))
        self.hook(erp.url, ["erp_submit"])
        r = self.node.post("/api/v1/bills/WF-G7-M/erp-submit")
        self.assertStatus(r, 200)
        self.assertIn(r.json["erp"]["state"], ("queued", "delivered"))
        self.wait_state("WF-G7-M", "erp_submitted")
        s = self.status("WF-G7-M")
        self.assertEqual((s["submit"], s["erp"]), ("manual", {"state": "delivered",
                                                             "error": None}))
        # Situation 3 then 1: auto scheme, one wrong total -> submitted, erp none; fixing
        # the data and matching again queues the bill, which the ERP takes.
        f1, f2 = self.invoice_bill("WF-G7-A", "BT_G7_AUTO",
                                   [self.scanned(0), self.scanned(1, total="99.00")])
        r = self.node.submit("WF-G7-A")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["state"], r.json["submit"], r.json["erp"]["state"],
                          r.json["invoices"]["matched"]), ("submitted", "auto", "none", 1))
        self.assertStatus(self.set_invoice("WF-G7-A", f2, self.scanned(1)), 200)
        r = self.node.post("/api/v1/bills/WF-G7-A/match")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["submit"], "auto")
        self.assertIn(r.json["erp"]["state"], ("queued", "delivered"))
        self.wait_state("WF-G7-A", "erp_submitted")
        self.assertEqual(self.status("WF-G7-A")["erp"]["state"], "delivered")

    def test_erp_failure_shows_in_erp(self):
        erp = Receiver(statuses=(500,))
        self.addCleanup(erp.stop)
        self.hook(erp.url, ["erp_submit"])
        self.bill_type("BT_G7_FAIL", "basic", submit="auto")
        self.invoice_bill("WF-G7-F", "BT_G7_FAIL", [])
        r = self.node.submit("WF-G7-F")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["submit"], "auto")
        self.assertIn(r.json["erp"]["state"], ("queued", "failed"))
        s = self.wait_state("WF-G7-F", "erp_failed")
        self.assertEqual(s["erp"]["state"], "failed")
        self.assertIn("HTTP 500", s["erp"]["error"])

    def test_auto_erp_without_webhook_fails_with_a_reason(self):
        self.bill_type("BT_NOHOOK", "basic", submit="auto")
        self.invoice_bill("WF-NOHOOK-1", "BT_NOHOOK", [])
        r = self.node.submit("WF-NOHOOK-1")
        self.assertStatus(r, 200)
        s = self.status("WF-NOHOOK-1")
        self.assertEqual(s["state"], "erp_failed")
        self.assertIn("no webhook subscribes to erp_submit", s["reasons"][0])

    def test_return_then_recapture_and_submit(self):
        self.invoice_bill("WF-RET-1", "", [])
        self.assertStatus(self.node.submit("WF-RET-1"), 200)
        r = self.post("/api/v1/bills/WF-RET-1/return", {"reason": "page 2 is blurred"})
        self.assertStatus(r, 200)
        s = self.status("WF-RET-1")
        self.assertEqual(s["state"], "returned")
        self.assertIn("page 2 is blurred", s["reasons"][0])
        self.assertStatus(self.node.upload("WF-RET-1", make_pdf(text="rescan"),
                                           name="rescan.pdf"), 201)
        self.assertEqual(self.status("WF-RET-1")["state"], "captured")
        self.assertStatus(self.node.submit("WF-RET-1"), 200)
        self.assertEqual(self.status("WF-RET-1")["state"], "ready")
        log = [e["action"] for e in self.node.audit_log("WF-RET-1").json["entries"]]
        self.assertIn("returned", log)

    def test_mode_must_be_licensed(self):
        tenant = "wf-basic-only"
        self.assertStatus(self.post("/api/v1/tenants", {"id": tenant}), 201)
        doc = self.key.sign(tenant, now_ms() + 365 * DAY_MS, 10 ** 9, modes="basic")
        self.assertStatus(self.node.post("/api/v1/licenses", doc), 201)
        q = "?tenant=" + tenant
        self.assertStatus(self.post("/api/v1/bill-types" + q, {"code": "BT_M",
                                                               "mode": "match"}), 201)
        self.assertStatus(self.post("/api/v1/schemes" + q, {"bill_type": "BT_M"}), 201)
        r = self.post("/api/v1/pool" + q, {"image_no": "WF-LIC-1", "bill_type": "BT_M"})
        self.assertError(r, 403, 10888, "license_expired")
        self.assertIn("match", r.json["message"])
        # A bill type without a scheme is basic, which the license covers.
        self.assertStatus(self.post("/api/v1/bill-types" + q, {"code": "BT_M2",
                                                               "mode": "match"}), 201)
        r = self.post("/api/v1/pool" + q, {"image_no": "WF-LIC-2", "bill_type": "BT_M2"})
        self.assertStatus(r, 201)


if __name__ == "__main__":
    unittest.main()
