"""Editing a captured bill on a real node: categories (custom ones too), delete, rotate,
move across sections, replace scan and replace cover, and amends of ready sync-mode
bills. Each rule of DOMAIN.md "Capture" has allowed and refused cases."""

import json
import unittest

from imgarc_node import NodeTestCase, make_pdf, quote


class EditTestCase(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("edits")

    def post(self, path, body, headers=None, auth=True):
        return self.node.request("POST", path, body=json.dumps(body).encode(),
                                 headers=headers, auth=auth)

    def bill(self, image_no, categories, bill_type="", invoices=()):
        """A pool bill with one file per category; returns the file ids in order."""
        self.assertStatus(self.node.pool_push({"image_no": image_no, "bill_type": bill_type,
                                               "invoices": list(invoices)}), 201)
        ids = []
        for i, cat in enumerate(categories):
            r = self.node.upload(image_no, make_pdf(text="%s %d" % (image_no, i)),
                                 name="f%d.pdf" % i, category=cat)
            self.assertStatus(r, 201)
            ids.append(r.json["file_id"])
        return ids

    def files(self, image_no):
        r = self.node.bill(image_no)
        self.assertStatus(r, 200)
        return r.json["files"]

    def layout(self, image_no):
        return [(f["file_id"], f["category"]) for f in self.files(image_no)]

    def counts(self, image_no):
        return self.node.status(image_no).json["counts"]

    def refused(self, r, status, code, words=None):
        self.assertEqual((r.status, r.json.get("code")), (status, code), r.json)
        if words:
            self.assertIn(words, r.json["message"])


class TestCategories(EditTestCase):
    def test_set_category_rules(self):
        a, b, c = self.bill("ED-CAT-1", ["attachment", "attachment", "attachment"])
        path = "/api/v1/bills/ED-CAT-1/categorize"
        self.refused(self.post(path, {"file_ids": [a, b], "category": "invoice"}), 400, 10400,
                     "one file at a time")
        r = self.post(path, {"file_ids": [a], "category": "invoice"})
        self.assertStatus(r, 200)
        r = self.post(path, {"file_ids": [b, c], "category": "cover"})
        self.assertStatus(r, 200)
        self.assertEqual(self.counts("ED-CAT-1"), {"cover": 2, "invoice": 1, "attachment": 0})
        self.refused(self.post(path, {"file_ids": [b], "category": "receipts"}), 400, 11009,
                     "receipts")
        self.assertStatus(self.post("/api/v1/categories", {"code": "receipts",
                                                           "name": "Taxi receipts"}), 201)
        self.assertStatus(self.post(path, {"file_ids": [b], "category": "receipts"}), 200)
        self.assertEqual(dict(self.layout("ED-CAT-1"))[b], "receipts")
        self.assertEqual(self.counts("ED-CAT-1"), {"cover": 1, "invoice": 1, "attachment": 1})
        cats = self.node.get("/api/v1/categories").json
        self.assertEqual(cats["built_in"], ["cover", "invoice", "attachment"])
        self.assertIn("receipts", [x["code"] for x in cats["categories"]])
        # Uploads may name the custom category; unknown ones are refused at apply.
        r = self.node.upload("ED-CAT-1", make_pdf(text="r"), name="r.pdf", category="receipts")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["category"], "receipts")
        r = self.node.upload("ED-CAT-1", make_pdf(text="x"), name="x.pdf", category="nosuch")
        self.refused(r, 400, 11009)
        self.refused(self.post("/api/v1/categories", {"code": "cover"}), 400, 11005)
        self.refused(self.post(path, {"file_ids": [a, a], "category": "cover"}), 400, 10400,
                     "twice")
        self.refused(self.post(path, {"file_ids": ["fnope"], "category": "cover"}), 404, 11003)
        self.refused(self.post(path, {"file_ids": [], "category": "cover"}), 400, 11005)
        log = [e["action"] for e in self.node.audit_log("ED-CAT-1").json["entries"]]
        self.assertEqual(log.count("category_set"), 3)

    def test_no_edits_after_submit(self):
        a, = self.bill("ED-SUB-1", ["attachment"])
        self.assertStatus(self.node.submit("ED-SUB-1"), 200)
        for name, r in [
                ("categorize", self.post("/api/v1/bills/ED-SUB-1/categorize",
                                         {"file_ids": [a], "category": "cover"})),
                ("delete", self.node.request("DELETE", "/api/v1/bills/ED-SUB-1/files/" + a)),
                ("move", self.post("/api/v1/bills/ED-SUB-1/files/%s/move" % a,
                                   {"after": None})),
                ("replace", self.node.upload("ED-SUB-1", make_pdf(text="n"), name="n.pdf",
                                             query="replace=" + a))]:
            with self.subTest(name):
                self.refused(r, 409, 11007, "ready")


class TestDeleteRotateMove(EditTestCase):
    def test_delete_many_updates_counts_and_usage(self):
        before = self.node.get("/api/v1/tenants/default/usage").json
        a, b, c = self.bill("ED-DEL-1", ["cover", "attachment", "attachment"])
        mid = self.node.get("/api/v1/tenants/default/usage").json
        r = self.post("/api/v1/bills/ED-DEL-1/delete", {"file_ids": [b, c]})
        self.assertStatus(r, 200)
        self.assertEqual([f for f, _ in self.layout("ED-DEL-1")], [a])
        self.assertEqual(self.node.status("ED-DEL-1").json["files"], 1)
        after = self.node.get("/api/v1/tenants/default/usage").json
        self.assertEqual(after["files"], mid["files"] - 2)
        self.assertLess(after["bytes"], mid["bytes"])
        self.assertGreater(after["bytes"], before["bytes"])
        self.refused(self.node.get("/api/v1/files/%s/content" % b), 404, 11003)
        r = self.node.request("DELETE", "/api/v1/bills/ED-DEL-1/files/" + a)
        self.assertStatus(r, 200)
        self.assertEqual(self.node.status("ED-DEL-1").json["files"], 0)

    def test_rotate_is_saved(self):
        a, b = self.bill("ED-ROT-1", ["attachment", "attachment"])
        path = "/api/v1/bills/ED-ROT-1/rotate"
        self.assertStatus(self.post(path, {"file_ids": [a, b], "degrees": 90}), 200)
        self.assertStatus(self.post(path, {"file_ids": [a], "degrees": 180}), 200)
        self.assertStatus(self.post(path, {"file_ids": [b], "degrees": -90}), 200)
        rot = {f["file_id"]: f["rotation"] for f in self.files("ED-ROT-1")}
        self.assertEqual(rot, {a: 270, b: 0})
        self.refused(self.post(path, {"file_ids": [a], "degrees": 45}), 400, 11005)

    def test_move_within_and_across_sections(self):
        c, i1, a1, a2 = self.bill("ED-MOV-1", ["cover", "invoice", "attachment", "attachment"])
        move = "/api/v1/bills/ED-MOV-1/files/%s/move"
        self.assertStatus(self.post(move % a2, {"after": i1}), 200)  # a2 next to a1: stays
        self.assertEqual(self.layout("ED-MOV-1"), [(c, "cover"), (i1, "invoice"),
                                                   (a2, "attachment"), (a1, "attachment")])
        r = self.post(move % a1, {"after": c})  # between cover and invoice: joins the cover
        self.refused(r, 409, 11007, '"category": "cover"')
        r = self.post(move % a1, {"after": c, "category": "cover"})
        self.assertStatus(r, 200)
        self.assertEqual(self.layout("ED-MOV-1"), [(c, "cover"), (a1, "cover"),
                                                   (i1, "invoice"), (a2, "attachment")])
        r = self.post(move % i1, {"after": None, "category": "cover"})
        self.assertStatus(r, 200)
        self.assertEqual(self.layout("ED-MOV-1")[0], (i1, "cover"))
        self.assertEqual(self.counts("ED-MOV-1"), {"cover": 3, "invoice": 0, "attachment": 1})
        self.refused(self.post(move % a2, {"after": a2}), 400, 10400)
        self.refused(self.post(move % a2, {"after": "fnope"}), 404, 11003)


class TestMergeSplit(EditTestCase):
    def test_merge_adjacent_files_and_split(self):
        self.assertStatus(self.post("/api/v1/bill-types", {"code": "ED_MM", "mode": "match"}),
                          201)
        self.assertStatus(self.post("/api/v1/schemes", {"bill_type": "ED_MM"}), 201)
        c, i1, a1, a2 = self.bill("ED-MRG-1", ["cover", "invoice", "attachment", "attachment"],
                                  bill_type="ED_MM",
                                  invoices=[{"number": "N7", "amount": "5"}])
        merge = "/api/v1/bills/ED-MRG-1/merge"
        self.refused(self.post(merge, {"file_ids": [i1, a2]}), 400, 10400, "adjacent")
        self.refused(self.post(merge, {"file_ids": [i1]}), 400, 10400)
        r = self.post(merge, {"file_ids": [i1, a1, a2]})
        self.assertStatus(r, 200)
        files = {f["file_id"]: f for f in self.files("ED-MRG-1")}
        self.assertEqual(files[i1]["parts"], [a1, a2])
        self.assertEqual((files[a1]["merged_into"], files[a1]["category"]), (i1, "invoice"))
        self.assertEqual(self.counts("ED-MRG-1"), {"cover": 1, "invoice": 3, "attachment": 0})
        # Sub-pages take no part in matching, and merged files are edited by splitting.
        r = self.post("/api/v1/bills/ED-MRG-1/files/%s/match" % a1, {"invoice_number": "N7"})
        self.refused(r, 409, 11007, "sub-page")
        self.refused(self.node.request("DELETE", "/api/v1/bills/ED-MRG-1/files/" + a2), 409,
                     11007, "split it first")
        self.refused(self.post(merge, {"file_ids": [c, i1]}), 409, 11007, "split it first")
        self.refused(self.post("/api/v1/bills/ED-MRG-1/files/%s/split" % a1, {}), 409, 11007,
                     "split the document it belongs to")
        # The document's own invoice data (its first page) matches.
        r = self.node.request("PATCH", "/api/v1/bills/ED-MRG-1/files/" + i1,
                              body=json.dumps({"invoice": {"number": "N7", "amount": "5"}}).encode())
        self.assertStatus(r, 200)
        r = self.node.submit("ED-MRG-1")
        self.assertStatus(r, 200)
        self.assertEqual(self.node.status("ED-MRG-1").json["state"], "ready")

    def test_split_restores_the_files(self):
        a, b = self.bill("ED-SPL-1", ["attachment", "attachment"])
        self.assertStatus(self.post("/api/v1/bills/ED-SPL-1/merge", {"file_ids": [a, b]}), 200)
        r = self.post("/api/v1/bills/ED-SPL-1/files/%s/split" % a, {})
        self.assertStatus(r, 200)
        files = self.files("ED-SPL-1")
        self.assertEqual([(f["parts"], f["merged_into"]) for f in files], [([], None)] * 2)
        self.refused(self.post("/api/v1/bills/ED-SPL-1/files/%s/split" % a, {}), 409, 11007,
                     "not a merged document")
        log = [e["action"] for e in self.node.audit_log("ED-SPL-1").json["entries"]]
        self.assertIn("files_merged", log)
        self.assertIn("file_split", log)


class TestReplace(EditTestCase):
    def test_replace_scan_and_cover(self):
        c, a, i = self.bill("ED-REP-1", ["cover", "attachment", "invoice"])
        r = self.node.upload("ED-REP-1", make_pdf(text="better"), name="better.pdf",
                             query="replace=" + a)
        self.assertStatus(r, 201)
        new_a = r.json["file_id"]
        self.assertEqual((r.json["category"], r.json["position"]), ("attachment", 2))
        self.assertEqual(self.layout("ED-REP-1"), [(c, "cover"), (new_a, "attachment"),
                                                   (i, "invoice")])
        self.refused(self.node.get("/api/v1/files/%s/content" % a), 404, 11003)
        r = self.node.upload("ED-REP-1", make_pdf(text="new cover"), name="c.pdf",
                             query="replace=" + c)
        self.assertStatus(r, 201)
        self.assertEqual((r.json["category"], r.json["position"]), ("cover", 1))
        self.assertEqual(self.counts("ED-REP-1"), {"cover": 1, "invoice": 1, "attachment": 1})
        r = self.node.upload("ED-REP-1", make_pdf(text="x"), name="x.pdf",
                             query="replace=%s&category=attachment" % i)
        self.refused(r, 400, 11009, "keeps the category")
        r = self.node.upload("ED-REP-1", make_pdf(text="x"), name="x.pdf", query="replace=fnope")
        self.refused(r, 404, 11003)
        log = [e["action"] for e in self.node.audit_log("ED-REP-1").json["entries"]]
        self.assertEqual(log.count("file_replaced"), 2)

    def test_matched_invoices_are_locked(self):
        self.assertStatus(self.post("/api/v1/bill-types", {"code": "ED_M", "mode": "match"}),
                          201)
        self.assertStatus(self.post("/api/v1/schemes", {"bill_type": "ED_M"}), 201)
        c, i = self.bill("ED-LOCK-1", ["cover", "invoice"], bill_type="ED_M",
                         invoices=[{"number": "N1", "amount": "1"}])
        r = self.post("/api/v1/bills/ED-LOCK-1/files/%s/match" % i, {"invoice_number": "N1"})
        self.assertStatus(r, 200)
        for name, r in [
                ("delete", self.node.request("DELETE", "/api/v1/bills/ED-LOCK-1/files/" + i)),
                ("replace", self.node.upload("ED-LOCK-1", make_pdf(text="n"), name="n.pdf",
                                             query="replace=" + i)),
                ("categorize", self.post("/api/v1/bills/ED-LOCK-1/categorize",
                                         {"file_ids": [i], "category": "attachment"}))]:
            with self.subTest(name):
                self.refused(r, 409, 11026)


class TestAmend(EditTestCase):
    def ready_sync_bill(self, image_no):
        self.node.request("POST", "/api/v1/bill-types",
                          body=json.dumps({"code": "ED_SYNC", "mode": "sync"}).encode())
        self.node.request("POST", "/api/v1/schemes",
                          body=json.dumps({"bill_type": "ED_SYNC"}).encode())
        ids = self.bill(image_no, ["cover", "invoice", "attachment"], bill_type="ED_SYNC")
        self.assertStatus(self.node.submit(image_no), 200)
        self.assertEqual(self.node.status(image_no).json["state"], "ready")
        return ids

    def user_token(self, username, permissions):
        r = self.post("/api/v1/roles", {"name": "role-" + username,
                                        "permissions": permissions})
        self.assertStatus(r, 201)
        r = self.post("/api/v1/users", {"username": username, "password": "correct horse",
                                        "roles": ["role-" + username]})
        self.assertStatus(r, 201)
        r = self.node.request("PUT", "/api/v1/users/%s/grants" % username,
                              body=json.dumps({"grants": [{"org": "*"}]}).encode())
        self.assertStatus(r, 200)
        r = self.post("/api/v1/auth/login", {"username": username, "password": "correct horse"},
                      auth=False)
        self.assertStatus(r, 200)
        return {"Authorization": "Bearer " + r.json["access_token"]}

    def test_amend_rules(self):
        c, i, a = self.ready_sync_bill("ED-AM-1")
        no_amend = self.user_token("ed-noamend", ["read", "capture", "edit", "delete"])
        r = self.node.request("DELETE", "/api/v1/bills/ED-AM-1/files/" + a, headers=no_amend,
                              auth=False)
        self.refused(r, 409, 11007, "amend permission")
        amender = self.user_token("ed-amender", ["read", "capture", "delete", "amend"])
        r = self.node.request("DELETE", "/api/v1/bills/ED-AM-1/files/" + c, headers=amender,
                              auth=False)
        self.refused(r, 409, 11007, "never delete")
        r = self.node.request("DELETE", "/api/v1/bills/ED-AM-1/files/" + a, headers=amender,
                              auth=False)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "ready", "an amend keeps the state")
        # Covers can be replaced by an amend.
        r = self.node.upload("ED-AM-1", make_pdf(text="cover 2"), name="c2.pdf",
                             query="replace=" + c, headers=amender, auth=False)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["category"], "cover")
        # Files an amend adds are marked and never matched.
        r = self.node.upload("ED-AM-1", make_pdf(text="late invoice"), name="late.pdf",
                             category="invoice")
        self.assertStatus(r, 201)
        late, = [f for f in self.files("ED-AM-1") if f["file_id"] == r.json["file_id"]]
        self.assertTrue(late["amended"])
        self.assertEqual(self.node.status("ED-AM-1").json["state"], "ready")

    def test_amend_is_for_sync_mode_only(self):
        a, = self.bill("ED-AM-BASIC", ["attachment"])
        self.assertStatus(self.node.submit("ED-AM-BASIC"), 200)
        r = self.node.request("DELETE", "/api/v1/bills/ED-AM-BASIC/files/" + a)
        self.refused(r, 409, 11007, "only sync-mode bills")


class TestFilesOfAnotherBill(EditTestCase):
    """Naming another bill's file in an edit once crashed the node at apply, and again at
    every restart (the entry was committed). Each edit is refused with 404 naming the
    file, the other bill is untouched, and the node survives a restart."""

    def test_every_edit_refuses_another_bills_file(self):
        a, a2 = self.bill("ED-XB-A", ["attachment", "attachment"])
        b, = self.bill("ED-XB-B", ["attachment"])
        before = self.files("ED-XB-B")
        base = "/api/v1/bills/ED-XB-A"
        for path, body in [
                ("/rotate", {"file_ids": [b], "degrees": 90}),
                ("/rotate", {"file_ids": [a, b], "degrees": -90}),
                ("/categorize", {"file_ids": [b], "category": "cover"}),
                ("/delete", {"file_ids": [b]}),
                ("/merge", {"file_ids": [a, b]}),
                ("/files/%s/move" % b, {"after": None}),
                ("/files/%s/move" % a, {"after": b}),
                ("/files/%s/split" % b, {})]:
            r = self.post(base + path, body)
            self.refused(r, 404, 11003, b)
        r = self.node.request("DELETE", base + "/files/" + b)
        self.refused(r, 404, 11003, b)
        r = self.node.upload("ED-XB-A", make_pdf(text="x"), name="x.pdf", query="replace=" + b)
        self.refused(r, 404, 11003)
        self.assertEqual(self.files("ED-XB-B"), before)
        self.assertEqual([f["file_id"] for f in self.files("ED-XB-A")], [a, a2])
        self.node.restart()
        self.assertEqual(self.files("ED-XB-B"), before)
        self.assertStatus(self.post(base + "/rotate", {"file_ids": [a], "degrees": 90}), 200)


if __name__ == "__main__":
    unittest.main()
