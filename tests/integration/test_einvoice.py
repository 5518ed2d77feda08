"""E-invoices read from their files on a real node: a 数电票 XML and an OFD invoice
captured as `invoice` get their invoice data filled by the upload worker
(archive/einvoice.c), and match mode matches them against the pool bill's declared
invoices on submit, with no PATCH; an invoice whose data differs does not match.

The files are tests/fixtures/einvoice/ (made by make_fixtures.py there; all data
made up)."""

import json
import os
import unittest

from imgarc_node import NodeTestCase, make_pdf

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                        "einvoice")

SDP = {"number": "25312000000000001234", "code": "", "date": "2025-03-14",
       "amount": "100.00", "tax": "13.00", "total": "113.00",
       "seller_tax_no": "91310000MA1FL0XX1A", "buyer_tax_no": "91110108MA00TEST2B"}
OFD = {"number": "25312000000000005678", "code": "", "date": "2025-03-15",
       "amount": "200.00", "tax": "26.00", "total": "226.00",
       "seller_tax_no": "91310000MA1FL0XX1A", "buyer_tax_no": "91110108MA00TEST2B"}


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


class TestEInvoice(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("einvoice")
        for code in ("BT_EINV", "BT_EINV_STD"):
            body = {"code": code, "mode": "match"}
            r = cls.node.post("/api/v1/bill-types", json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})
            assert r.status == 201, r.body
            body = {"bill_type": code, "match": "normal" if code == "BT_EINV" else "standard"}
            r = cls.node.post("/api/v1/schemes", json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})
            assert r.status == 201, r.body

    def pool_bill(self, image_no, invoices, bill_type="BT_EINV"):
        r = self.node.pool_push({"image_no": image_no, "bill_no": "B-" + image_no,
                                 "bill_type": bill_type, "invoices": invoices})
        self.assertStatus(r, 201)
        r = self.node.upload(image_no, make_pdf(text=image_no + " cover"), name="cover.pdf",
                             category="cover")
        self.assertStatus(r, 201)

    def capture(self, image_no, name, data, category="invoice", query=None):
        r = self.node.upload(image_no, data, name=name, category=category, query=query)
        self.assertStatus(r, 201)
        return r.json

    def file(self, image_no, file_id):
        f, = [f for f in self.node.bill(image_no).json["files"] if f["file_id"] == file_id]
        return f

    def test_xml_and_ofd_are_read_and_matched_without_patch(self):
        self.pool_bill("EI-1", [{"number": SDP["number"], "total": "113"},
                                {"number": OFD["number"], "total": "226.00"}])
        x = self.capture("EI-1", "dianpiao.xml", fixture("sdp-invoice.xml"))
        o = self.capture("EI-1", "fapiao.ofd", fixture("ofd-invoice.ofd"))
        self.assertEqual((x["format"], x["category"]), ("xml", "invoice"))
        self.assertEqual((o["format"], o["category"]), ("ofd", "invoice"))
        self.assertEqual(self.file("EI-1", x["file_id"])["invoice"], SDP)
        self.assertEqual(self.file("EI-1", o["file_id"])["invoice"], OFD)
        self.assertEqual(self.node.status("EI-1").json["invoices"],
                         {"declared": 2, "matched": 0})
        self.assertStatus(self.node.submit("EI-1"), 200)
        s = self.node.status("EI-1").json
        self.assertEqual((s["state"], s["invoices"]), ("ready", {"declared": 2, "matched": 2}))
        self.assertEqual(self.file("EI-1", x["file_id"])["match"], SDP["number"])
        self.assertEqual(self.file("EI-1", o["file_id"])["match"], OFD["number"])
        log = self.node.audit_log("EI-1").json
        matched = [e for e in json.dumps(log).split('"invoice_matched"')][1:]
        self.assertEqual(len(matched), 2, "two automatic matches in the audit log")
        self.assertNotIn("invoice_data_set", json.dumps(log), "no PATCH was needed")

    def test_a_differing_invoice_does_not_match(self):
        self.pool_bill("EI-2", [{"number": SDP["number"], "total": "113.00"}])
        # Another invoice number, with no category: the content makes it an invoice.
        other = self.capture("EI-2", "other.xml", fixture("sdp-mismatch.xml"), category=None)
        self.assertEqual(other["category"], "invoice")
        self.assertEqual(self.file("EI-2", other["file_id"])["invoice"]["number"],
                         "25312000000000004321")
        self.assertStatus(self.node.submit("EI-2"), 200)
        s = self.node.status("EI-2").json
        self.assertEqual((s["state"], s["invoices"]), ("submitted",
                                                       {"declared": 1, "matched": 0}))
        m = self.node.get("/api/v1/bills/EI-2/match").json
        f, = [f for f in m["files"] if f["file_id"] == other["file_id"]]
        self.assertIsNone(f["match"])
        self.assertIn("number", f["problem"])
        # The same number with another total does not match either.
        self.pool_bill("EI-3", [{"number": SDP["number"], "total": "113.01"}])
        self.capture("EI-3", "x.xml", fixture("sdp-invoice.xml"))
        self.assertStatus(self.node.submit("EI-3"), 200)
        self.assertEqual(self.node.status("EI-3").json["invoices"]["matched"], 0)

    def test_standard_level_compares_date_amount_and_tax(self):
        self.pool_bill("EI-4", [{"number": "21010038", "code": "044031900111",
                                 "date": "2020-04-07", "amount": "300", "tax": "18"}],
                       bill_type="BT_EINV_STD")
        self.capture("EI-4", "fp.xml", fixture("fp-invoice.xml"))
        self.assertStatus(self.node.submit("EI-4"), 200)
        self.assertEqual(self.node.status("EI-4").json["state"], "ready")

    def test_attached_original_and_a_zip_named_for_nothing(self):
        self.pool_bill("EI-5", [{"number": "25312000000000009012", "total": "56.50"}])
        r = self.capture("EI-5", "scan", fixture("ofd-attached.ofd"), category=None)
        self.assertEqual((r["format"], r["category"]), ("ofd", "invoice"),
                         "a zip that reads as an OFD invoice is one")
        self.assertEqual(self.file("EI-5", r["file_id"])["invoice"]["total"], "56.50")
        self.assertStatus(self.node.submit("EI-5"), 200)
        self.assertEqual(self.node.status("EI-5").json["state"], "ready")

    def test_caller_data_category_and_bad_files(self):
        self.pool_bill("EI-6", [])
        # Data the caller gives wins over the file's.
        r = self.capture("EI-6", "a.xml", fixture("sdp-invoice.xml"),
                         query="invoice_number=777&invoice_total=1.00")
        self.assertEqual(self.file("EI-6", r["file_id"])["invoice"]["number"], "777")
        # Not read for another category.
        r = self.capture("EI-6", "b.xml", fixture("sdp-invoice.xml"), category="attachment")
        self.assertIsNone(self.file("EI-6", r["file_id"])["invoice"])
        # Hostile or broken files are kept, without invoice data; the node stays up.
        for name in ("billion-laughs.xml", "xxe.xml", "bomb.ofd", "bomb-lying.ofd",
                     "truncated.ofd", "no-data.ofd", "not-invoice.xml"):
            r = self.capture("EI-6", name, fixture(name))
            self.assertEqual(r["category"], "invoice", name)
            self.assertIsNone(self.file("EI-6", r["file_id"])["invoice"], name)
        self.assertIn("no invoice data read from the", self.node.log_text())
        self.assertStatus(self.node.get("/api/v1/bills/EI-6"), 200)


if __name__ == "__main__":
    unittest.main()
