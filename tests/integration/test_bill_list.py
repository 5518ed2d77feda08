"""The bill list as ERPs and the console ask it: exact filters (bill number, the ERP's
bill id, image number, bill type, organisation, state, creation time), refusals that
name the parameter, and the ERP's bill identity on the pool push (fbill_id unique per
tenant, never changed), against a real node."""

import json
import time
import unittest
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

from imgarc_node import NodeTestCase, cli_json, make_pdf, random_bytes, run_cli


class BillListTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("bill-list")

    def push(self, fields, status=None):
        r = self.node.request("POST", "/api/v1/pool", body=json.dumps(fields).encode())
        if status is not None:
            self.assertStatus(r, status)
        return r

    def listed(self, query, headers=None):
        r = self.node.request("GET", "/api/v1/bills?" + query, headers=headers,
                              auth=headers is None)
        self.assertStatus(r, 200, query)
        return r.json

    def image_nos(self, query, headers=None):
        return sorted(b["image_no"] for b in self.listed(query, headers)["bills"])

    def post_json(self, path, body, status):
        r = self.node.post(path, json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertStatus(r, status, path)
        return r.json

    def test_mode_filter_and_workflow_fields(self):
        """?mode= (decided at submit) and the fields the console's sign-off, rescanning
        and upload lists show without reading each bill."""
        self.post_json("/api/v1/bill-types", {"code": "LM_MATCH", "mode": "match"}, 201)
        self.post_json("/api/v1/schemes", {"bill_type": "LM_MATCH"}, 201)
        self.post_json("/api/v1/bill-types", {"code": "LM_AUTO", "mode": "basic"}, 201)
        self.post_json("/api/v1/schemes", {"bill_type": "LM_AUTO", "submit": "auto"}, 201)
        inv = [{"number": "LM-INV-%d" % i, "amount": "10.00", "tax": "1.30"} for i in (1, 2)]
        for image_no, btype in (("LM-1", "LM_MATCH"), ("LM-2", ""), ("LM-3", "LM_MATCH"),
                                ("LM-4", "LM_AUTO"), ("LM-5", "LM_MATCH")):
            self.push({"image_no": image_no, "bill_no": "B-" + image_no, "bill_type": btype,
                       "submitter": "Zhang San", "amount": "22.60", "currency": "CNY",
                       "invoices": inv}, 201)
            if image_no == "LM-5":
                continue  # waits for upload
            r = self.node.upload(image_no, make_pdf(text=image_no), name="inv.pdf",
                                 category="invoice")
            self.assertStatus(r, 201)
            r = self.node.request("PATCH", "/api/v1/bills/%s/files/%s" % (
                image_no, r.json["file_id"]), body=json.dumps(
                    {"invoice": dict(inv[0], total="11.30")}).encode())
            self.assertStatus(r, 200)
            self.assertStatus(self.node.submit(image_no), 200)
        self.post_json("/api/v1/bills/LM-3/return", {"reason": "page 2 is blurred"}, 200)

        def items(query):
            return {b["image_no"]: b for b in self.listed(query)["bills"]
                    if b["image_no"].startswith("LM-")}
        self.assertEqual(sorted(items("mode=match")), ["LM-1", "LM-3"])
        self.assertEqual(sorted(items("mode=basic")), ["LM-2", "LM-4"])
        self.assertEqual(sorted(items("mode=sync")), [])
        self.assertEqual(sorted(items("mode=match&state=returned")), ["LM-3"])
        for bad in ("mode=", "mode=MATCH", "mode=strict"):
            r = self.node.request("GET", "/api/v1/bills?" + bad)
            self.assertError(r, 400, 11011, "invalid_query")
            self.assertIn("mode", r.json["message"])
        every = items("limit=1000")
        one = every["LM-1"]
        self.assertEqual((one["mode"], one["state"]), ("match", "submitted"))
        self.assertEqual((one["submitter"], one["amount"], one["currency"]),
                         ("Zhang San", "22.60", "CNY"))
        self.assertEqual(one["invoices"], {"declared": 2, "matched": 1})
        self.assertIsNone(one["returned_reason"])
        self.assertIsNone(one["erp_error"])
        self.assertTrue(one["created"].endswith("Z"))
        self.assertEqual(every["LM-3"]["returned_reason"], "page 2 is blurred")
        self.assertEqual(every["LM-2"]["mode"], "basic")
        self.assertEqual(every["LM-4"]["state"], "erp_failed")
        self.assertIn("no webhook subscribes to erp_submit", every["LM-4"]["erp_error"])
        pending = every["LM-5"]
        self.assertEqual((pending["mode"], pending["state"], pending["invoices"]),
                         (None, "pending_upload", {"declared": 2, "matched": 0}))

    def test_exact_filters(self):
        # ER-1 is a prefix of the others: an exact filter lists only ER-1.
        for image_no, bill_no, fbill, btype, org in (
                ("LF-1", "ER-1", "EAS/a+1=", "FYBX", "east"),
                ("LF-2", "ER-10", "EAS/a+2=", "FYBX", "west"),
                ("LF-3", "ER-1-B", "EAS/a+3=", "CLBX", "east"),
                ("LF-4", "er-1", None, "CLBX", "")):
            fields = {"image_no": image_no, "bill_no": bill_no, "bill_type": btype, "org": org}
            if fbill:
                fields["fbill_id"] = fbill
            self.push(fields, 201)
        self.assertEqual(self.image_nos("bill_no=ER-1"), ["LF-1"])
        self.assertEqual(self.image_nos("bill_no=" + quote("er-1")), ["LF-4"])
        self.assertEqual(self.image_nos("bill_no=ER-"), [])
        self.assertEqual(self.image_nos("fbill_id=" + quote("EAS/a+2=", safe="")), ["LF-2"])
        # An unencoded '+' decodes as a space, which no ERP id holds: 400, not a miss.
        r = self.node.request("GET", "/api/v1/bills?fbill_id=EAS/a+2=")
        self.assertError(r, 400, 11011, "invalid_query")
        self.assertIn("%2B", r.json["message"])
        self.assertEqual(self.image_nos("fbill_id=unknown"), [])
        self.assertEqual(self.image_nos("image_no=LF-3"), ["LF-3"])
        self.assertEqual(self.image_nos("image_no=LF-9"), [])
        self.assertEqual(self.image_nos("bill_type=FYBX"), ["LF-1", "LF-2"])
        self.assertEqual(self.image_nos("bill_type=CLBX&org=east"), ["LF-3"])
        self.assertIn("LF-4", self.image_nos("org=&bill_type=CLBX"))
        self.assertEqual(self.image_nos("state=pending_upload&bill_type=CLBX"), ["LF-3", "LF-4"])
        self.assertEqual(self.image_nos("state=captured&bill_type=CLBX"), [])
        # Combined: every condition holds.
        self.assertEqual(self.image_nos("fbill_id=%s&org=west" % quote("EAS/a+2=", safe="")),
                         ["LF-2"])
        self.assertEqual(self.image_nos("fbill_id=%s&org=east" % quote("EAS/a+2=", safe="")),
                         [])
        self.assertEqual(self.image_nos("fbill_id=%s&image_no=LF-1" % quote("EAS/a+2=",
                                                                             safe="")), [])
        # A cursor past the one bill an indexed filter names leaves nothing.
        self.assertEqual(self.image_nos("image_no=LF-3&cursor=LF-3"), [])
        self.assertEqual(self.image_nos("image_no=LF-3&cursor=LF-2"), ["LF-3"])
        # The state changes with a capture, and the filter follows it.
        self.assertStatus(self.node.upload("LF-3", random_bytes(100, seed=3), name="a.pdf"),
                          201)
        self.assertEqual(self.image_nos("state=captured&bill_type=CLBX"), ["LF-3"])
        entry = self.listed("bill_no=ER-1")["bills"][0]
        self.assertEqual(entry["fbill_id"], "EAS/a+1=")
        self.assertIsNotNone(entry["created"])

    def test_paging_with_filters(self):
        for i in range(7):
            self.push({"image_no": "PG-%d" % i, "bill_type": "PAGE" if i % 2 else "ODD"}, 201)
        seen, cursor, pages = [], None, 0
        while True:
            q = "bill_type=PAGE&limit=2" + ("&cursor=" + quote(cursor) if cursor else "")
            page = self.listed(q)
            pages += 1
            seen += [b["image_no"] for b in page["bills"]]
            self.assertLessEqual(len(page["bills"]), 2)
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual(seen, ["PG-1", "PG-3", "PG-5"])
        self.assertEqual(pages, 2)

    def test_created_range(self):
        created = []
        for i in range(3):
            self.push({"image_no": "TR-%d" % i, "bill_type": "TIMED"}, 201)
            created.append(self.node.bill("TR-%d" % i).json["created"])
            time.sleep(0.01)
        self.assertEqual(len(set(created)), 3, created)
        q = lambda **kw: self.image_nos("bill_type=TIMED&" + "&".join(
            "%s=%s" % (k, quote(v, safe="")) for k, v in kw.items()))
        # created_from is inclusive, created_to exclusive.
        self.assertEqual(q(created_from=created[1]), ["TR-1", "TR-2"])
        self.assertEqual(q(created_to=created[1]), ["TR-0"])
        self.assertEqual(q(created_from=created[0], created_to=created[2]), ["TR-0", "TR-1"])
        # An offset: the same instant written in UTC+8 (its '+' encoded, or sent as is and
        # decoded into a space).
        t1 = datetime.strptime(created[1], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
        east = t1.astimezone(timezone(timedelta(hours=8))).isoformat(timespec="milliseconds")
        self.assertTrue(east.endswith("+08:00"), east)
        self.assertEqual(q(created_from=east), ["TR-1", "TR-2"])
        self.assertEqual(self.image_nos("bill_type=TIMED&created_from=" + east),
                         ["TR-1", "TR-2"])
        # A date: UTC midnight; created_to with a date includes that whole day.
        today = created[0][:10]
        day = datetime.strptime(today, "%Y-%m-%d")
        tomorrow = (day + timedelta(days=1)).strftime("%Y-%m-%d")
        yesterday = (day - timedelta(days=1)).strftime("%Y-%m-%d")
        self.assertEqual(q(created_from=today, created_to=today), ["TR-0", "TR-1", "TR-2"])
        self.assertEqual(q(created_from=tomorrow), [])
        self.assertEqual(q(created_to=yesterday), [])

    def test_refusals_name_the_parameter(self):
        cases = (
            ("bill_number=ER-1", "bill_number", "bill_no"),
            ("State=ready", "State", "state"),
            ("state=done", "state", "erp_submitted"),
            ("state=", "state", "erp_failed"),
            ("created_from=yesterday", "created_from", "RFC 3339"),
            ("created_to=2026-02-30", "created_to", "RFC 3339"),
            ("created_from=2026-12-01T08:00:00", "created_from", None),
            ("image_no=a/b", "image_no", None),
            ("limit=0", "limit", "1 to 1000"),
            ("limit=abc", "limit", None),
            ("bill_no=ER-1&bill_no=ER-2", "bill_no", "twice"),
            ("fbill_id=has%20space", "fbill_id", None),
            ("org=%zz", "org", None),
        )
        for query, name, hint in cases:
            with self.subTest(query=query):
                r = self.node.request("GET", "/api/v1/bills?" + query)
                self.assertError(r, 400, 11011, "invalid_query")
                self.assertIn("'%s'" % name, r.json["message"])
                self.assertNotIn("ER-2", r.json["message"])
                if hint is not None:
                    self.assertIn(hint, r.json["message"])
        r = self.node.request("GET", "/api/v1/bills?state=done")
        for state in ("pending_upload", "captured", "submitted", "ready", "erp_submitted",
                      "erp_failed", "returned"):
            self.assertIn(state, r.json["message"])
        r = self.node.request("GET", "/api/v1/bills?%3Cscript%3E=1")
        self.assertError(r, 400, 11011, "invalid_query")
        self.assertNotIn("<script>", r.json["message"])
        self.assertIn("bill_no", r.json["message"])
        # The router's own parameters are known.
        self.assertStatus(self.node.request("GET", "/api/v1/bills?tenant=default&limit=1"), 200)

    def test_fbill_id_identifies_one_bill(self):
        full = {"image_no": "FB-1", "fbill_id": "QWTuNOdJT3Cdhr0ltl2hfcznrtQ=", "source": "EAS",
                "bill_type": "FYBX", "bill_type_name": "费用报销单", "submitter": "张三",
                "submitter_phone": "+86 138 0000 0000", "submitter_erp_name": "zhangsan",
                "org": "east", "org_name": "华东分公司", "bill_no": "BX-2026-1",
                "tax_no": "91310000MA1K4A2B3C"}
        self.push(full, 201)
        bill = self.node.bill("FB-1").json
        for k, v in full.items():
            self.assertEqual(bill[k], v, k)
        # Shown in the list and the audit log.
        entry = self.listed("image_no=FB-1")["bills"][0]
        self.assertEqual(entry["fbill_id"], full["fbill_id"])
        self.assertEqual(entry["org_name"], "华东分公司")
        changes = self.node.audit_log("FB-1").json["entries"][0]["detail"]["changes"]
        for k in ("fbill_id", "source", "bill_type_name", "submitter_phone",
                  "submitter_erp_name", "org_name", "tax_no"):
            self.assertEqual(changes[k]["after"], full[k], k)
        # The same push again changes nothing; leaving fbill_id out keeps it.
        self.push(full, 200)
        self.push({"image_no": "FB-1", "bill_no": "BX-2026-1b"}, 200)
        bill = self.node.bill("FB-1").json
        self.assertEqual(bill["fbill_id"], full["fbill_id"])
        self.assertEqual(bill["bill_no"], "BX-2026-1b")
        self.assertEqual(bill["source"], "")  # other fields: what the last push says
        # Another image number with the same ERP bill id: 409 naming the bill that has it.
        r = self.push({"image_no": "FB-2", "fbill_id": full["fbill_id"]})
        self.assertError(r, 409, 11030, "fbill_id_conflict")
        self.assertIn("FB-1", r.json["message"])
        self.assertError(self.node.bill("FB-2"), 404, 11002, "bill_not_found")
        # A changed ERP bill id: 409, and nothing changed.
        r = self.push({"image_no": "FB-1", "fbill_id": "other-id", "bill_no": "changed"})
        self.assertError(r, 409, 11030, "fbill_id_conflict")
        self.assertIn(full["fbill_id"], r.json["message"])
        self.assertEqual(self.node.bill("FB-1").json["bill_no"], "BX-2026-1b")
        # A bill captured before its push takes an fbill_id with the push.
        self.assertStatus(self.node.upload("FB-3", random_bytes(10, seed=4), name="a.pdf"), 201)
        self.push({"image_no": "FB-3", "fbill_id": "fb-3"}, 200)
        self.assertEqual(self.image_nos("fbill_id=fb-3"), ["FB-3"])
        # The identity survives a restart (the index is in the store).
        self.node.restart()
        self.assertEqual(self.image_nos("fbill_id=" + quote(full["fbill_id"], safe="")),
                         ["FB-1"])

    def test_identity_fields_are_validated(self):
        cases = (
            ({"fbill_id": "has space"}, "fbill_id"),
            ({"fbill_id": "x" * 129}, "fbill_id"),
            ({"fbill_id": "ctl\u0001"}, "fbill_id"),
            ({"source": "E AS"}, "source"),
            ({"source": "E" * 33}, "source"),
            ({"submitter_phone": "call me"}, "submitter_phone"),
            ({"tax_no": "9131-0000"}, "tax_no"),
            ({"org_name": "line\nbreak"}, "org_name"),
            ({"bill_type_name": "x" * 257}, "bill_type_name"),
            ({"submitter_erp_name": 12}, "submitter_erp_name"),
        )
        for extra, name in cases:
            with self.subTest(field=name, value=extra):
                r = self.push(dict({"image_no": "IV-1"}, **extra))
                self.assertError(r, 400, 11005, "invalid_field")
                self.assertIn(name, r.json["message"])
        self.assertError(self.node.bill("IV-1"), 404, 11002, "bill_not_found")

    def test_grants_restrict_the_list(self):
        self.push({"image_no": "GR-E", "org": "gr-east", "fbill_id": "gr-e", "bill_no": "GR"},
                  201)
        self.push({"image_no": "GR-W", "org": "gr-west", "fbill_id": "gr-w", "bill_no": "GR"},
                  201)
        for org in ("gr-east", "gr-west"):
            r = self.node.request("POST", "/api/v1/orgs", body=json.dumps(
                {"id": org, "name": org.upper()}).encode())
            self.assertStatus(r, 201)
        pw = "correct horse battery"
        r = self.node.request("POST", "/api/v1/users", body=json.dumps(
            {"username": "lister", "password": pw, "roles": ["reviewer"]}).encode())
        self.assertStatus(r, 201)
        r = self.node.request("PUT", "/api/v1/users/lister/grants",
                              body=b'{"grants": [{"org": "gr-east"}]}')
        self.assertStatus(r, 200)
        r = self.node.request("POST", "/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "lister", "password": pw}).encode())
        self.assertStatus(r, 200)
        user = {"Authorization": "Bearer " + r.json["access_token"]}
        self.assertEqual(self.image_nos("bill_no=GR", user), ["GR-E"])
        self.assertEqual(self.image_nos("fbill_id=gr-w", user), [])
        self.assertEqual(self.image_nos("image_no=GR-W", user), [])
        self.assertEqual(self.image_nos("fbill_id=gr-e", user), ["GR-E"])
        # Pages fill with visible bills: a limit of 1 still finds GR-E.
        page = self.listed("bill_no=GR&limit=1", user)
        self.assertEqual([b["image_no"] for b in page["bills"]], ["GR-E"])

    def test_cli_filters(self):
        self.push({"image_no": "CL-1", "bill_no": "CLI-1", "fbill_id": "cli-1",
                   "bill_type": "CLI"}, 201)
        self.push({"image_no": "CL-2", "bill_no": "CLI-10", "bill_type": "CLI"}, 201)
        p = run_cli(self.node, "bills", "--bill-no", "CLI-1", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([b["image_no"] for b in cli_json(p)["bills"]], ["CL-1"])
        p = run_cli(self.node, "bills", "--fbill-id", "cli-1", "--bill-type", "CLI",
                    "--created-from", "2000-01-01", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([b["image_no"] for b in cli_json(p)["bills"]], ["CL-1"])
        p = run_cli(self.node, "bills", "--image-no", "CL-2", "--created-to", "2000-01-01",
                    "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(cli_json(p)["bills"], [])
        p = run_cli(self.node, "bills", "--state", "done")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("state", p.stderr)
        self.assertStatus(self.node.upload("CL-2", random_bytes(10, seed=5), name="a.pdf"), 201)
        self.assertStatus(self.node.submit("CL-2"), 200)
        p = run_cli(self.node, "bills", "--mode", "basic", "--bill-type", "CLI", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual([b["image_no"] for b in cli_json(p)["bills"]], ["CL-2"])
        p = run_cli(self.node, "bills", "--mode", "strict")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("mode", p.stderr)
        p = run_cli(self.node, "pool", "push", "CL-3", "--fbill-id", "cli-3", "--source", "EAS",
                    "--org-name", "Head office", "--tax-no", "91310000MA1K4A2B3C", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        bill = self.node.bill("CL-3").json
        self.assertEqual((bill["fbill_id"], bill["source"], bill["org_name"], bill["tax_no"]),
                         ("cli-3", "EAS", "Head office", "91310000MA1K4A2B3C"))


if __name__ == "__main__":
    unittest.main()
