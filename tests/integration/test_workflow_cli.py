"""The capture workflow through the CLI: `imgarc bill-type`, `scheme`, `category`,
`invoice set`, `match`, `erp-submit`, `return`, and the edits `categorize`, `rotate`,
`move`, `delete-files`, `merge`, `split` and `upload --replace`.

A real node and the real CLI binary. A match-mode bill goes from its pool push with two
declared invoices through invoice data, submit, a failed match that `match show`
explains, corrected data, matching, unmatching and manual matching, to a return with a
reason and, once recaptured, to the ERP through an erp_submit webhook. A captured bill
is edited file by file. Then the errors: exit 1 with the server's message, exit 2 for
what the client can tell is wrong, before anything is sent."""

import json
import os
import re
import time
import unittest

from imgarc_node import ID_ALPHABET, NodeTestCase, cli_json, make_pdf, run_cli
from test_webhooks import Receiver

INVOICE_1 = "number=04400001,code=044001,date=2026-11-01,amount=100.00,tax=13.00"
INVOICE_2 = "number=04400002,code=044001,date=2026-11-02,amount=50,tax=6.5"
# "IMAGE_NO: WHAT; state S, M of D invoices matched (index N)"
OP_LINE = r"^%s: %s; state %s, %s \(index [0-9]+\)$"


class WorkflowCliTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("workflow-cli", args=[
            "--webhook-retry-ms", "100", "--webhook-attempts", "2"])

    def cli(self, *args, ok=True):
        p = run_cli(self.node, *args)
        if ok and p.returncode != 0:
            self.fail("imgarc %s exited %d\nstdout: %s\nstderr: %s"
                      % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                         p.stderr[-2000:]))
        return p

    def cli_fails(self, code, *args):
        p = self.cli(*args, ok=False)
        self.assertEqual(p.returncode, code, "imgarc %s: exit %d, want %d\nstdout: %s\n"
                         "stderr: %s" % (" ".join(map(str, args)), p.returncode, code,
                                         p.stdout, p.stderr))
        return p

    def assertOp(self, p, image_no, what, state, counts="no invoices declared"):
        """The one line a bill operation prints."""
        self.assertRegex(p.stdout, OP_LINE % (re.escape(image_no), re.escape(what), state,
                                             re.escape(counts)))

    def pdf(self, name, text):
        path = os.path.join(self.scratch("wf-cli"), name)
        with open(path, "wb") as f:
            f.write(make_pdf(pages=1, text=text))
        return path

    def upload(self, image_no, category, text, *flags):
        """Uploads one PDF with the CLI; its file id."""
        up = cli_json(self.cli("upload", image_no, self.pdf("f.pdf", text), "--category",
                               category, "--json", *flags))
        self.assertRegex(up["file_id"], ID_ALPHABET)
        return up["file_id"]

    def files(self, image_no):
        return cli_json(self.cli("get", image_no, "--json"))["files"]

    def layout(self, image_no):
        return [(f["file_id"], f["category"]) for f in self.files(image_no)]

    def status(self, image_no):
        return cli_json(self.cli("status", image_no, "--json"))

    def table(self, text, head):
        """The rows of the table whose header line starts with @head, split on runs of
        two or more spaces, until the first empty line."""
        lines = text.splitlines()
        start = [i for i, line in enumerate(lines) if line.startswith(head)]
        self.assertEqual(len(start), 1, "one %s table in:\n%s" % (head, text))
        rows = []
        for line in lines[start[0]:]:
            if not line:
                break
            rows.append(re.split(r"  +", line.rstrip()))
        return rows

    # -- definitions -----------------------------------------------------------

    def test_definitions(self):
        p = self.cli("bill-type", "create", "WC_DEF", "--mode", "sync", "--name", "Purchases")
        self.assertRegex(p.stdout, r"^WC_DEF: bill type saved, mode sync, name Purchases "
                         r"\(index [0-9]+\)$")
        p = self.cli("bill-type", "create", "WC_DEF", "--mode", "basic")
        self.assertRegex(p.stdout, r"^WC_DEF: bill type saved, mode basic, name WC_DEF ")
        rows = self.table(self.cli("bill-type", "list").stdout, "CODE ")
        self.assertEqual(rows[0], ["CODE", "MODE", "CREATED", "NAME"])
        mine = [r for r in rows if r[0] == "WC_DEF"]
        self.assertEqual(len(mine), 1, rows)
        self.assertEqual((mine[0][1], mine[0][3]), ("basic", "WC_DEF"))
        types = cli_json(self.cli("bill-type", "list", "--json"))["bill_types"]
        self.assertIn({"code": "WC_DEF", "name": "WC_DEF", "mode": "basic"},
                      [{k: t[k] for k in ("code", "name", "mode")} for t in types])

        self.cli("org", "create", "wc-hq", "--name", "WC head office")
        p = self.cli("scheme", "set", "WC_DEF", "--org", "wc-hq", "--match", "standard",
                     "--submit", "auto")
        self.assertRegex(p.stdout, r"^WC_DEF: scheme set, match standard, submit auto, for "
                         r"organisation wc-hq and those under it \(index [0-9]+\)$")
        p = self.cli("scheme", "set", "WC_DEF")
        self.assertRegex(p.stdout, r"^WC_DEF: scheme set, match normal, submit manual, for "
                         r"every organisation \(index [0-9]+\)$")
        rows = self.table(self.cli("scheme", "list").stdout, "BILL_TYPE ")
        self.assertEqual(rows[0], ["BILL_TYPE", "ORG", "MATCH", "SUBMIT", "UPDATED"])
        mine = sorted(r[:4] for r in rows if r[0] == "WC_DEF")
        self.assertEqual(mine, [["WC_DEF", "-", "normal", "manual"],
                                ["WC_DEF", "wc-hq", "standard", "auto"]])
        ans = cli_json(self.cli("scheme", "set", "WC_DEF", "--submit", "auto", "--json"))
        self.assertEqual((ans["bill_type"], ans["match"], ans["submit"]),
                         ("WC_DEF", "normal", "auto"))
        self.assertIsInstance(ans["index"], int)

        p = self.cli("category", "create", "wc-taxi", "--name", "Taxi receipts")
        self.assertRegex(p.stdout, r"^wc-taxi: category saved, name Taxi receipts "
                         r"\(index [0-9]+\)$")
        rows = self.table(self.cli("category", "list").stdout, "CODE ")
        self.assertEqual(rows[0], ["CODE", "KIND", "CREATED", "NAME"])
        self.assertEqual([r[:2] for r in rows[1:4]], [["cover", "built-in"],
                                                      ["invoice", "built-in"],
                                                      ["attachment", "built-in"]])
        mine = [r for r in rows if r[0] == "wc-taxi"]
        self.assertEqual((mine[0][1], mine[0][3]), ("custom", "Taxi receipts"))
        cats = cli_json(self.cli("category", "list", "--json"))
        self.assertIn("wc-taxi", [c["code"] for c in cats["categories"]])

    # -- a match-mode bill from pool push to the ERP ---------------------------

    def test_match_flow(self):
        bill = "WC-M-1"
        self.cli("bill-type", "create", "WC_MATCH", "--mode", "match")
        self.cli("scheme", "set", "WC_MATCH")
        self.cli("pool", "push", bill, "--bill-no", "ER-" + bill, "--bill-type", "WC_MATCH",
                 "--invoice", INVOICE_1, "--invoice", INVOICE_2)
        self.upload(bill, "cover", "cover " + bill)
        f1 = self.upload(bill, "invoice", "invoice 1")
        f2 = self.upload(bill, "invoice", "invoice 2")

        # Before submit: the invoice files have no data, and match show says so.
        p = self.cli("match", "show", bill)
        self.assertIn("undecided (submit decides it", p.stdout)
        files = self.table(p.stdout, "POS ")
        self.assertEqual([r[1] for r in files[1:]], [f1, f2])
        self.assertTrue(all(r[-1].startswith("no invoice data") for r in files[1:]), files)

        p = self.cli("invoice", "set", bill, f1, "--number", "04400001", "--total", "113.00")
        self.assertOp(p, bill, "invoice data of file %s set, number 04400001" % f1, "captured",
                      "0 of 2 invoices matched")
        # The total of 50.00 + 7.00 is not the declared 50 + 6.5.
        self.cli("invoice", "set", bill, f2, "--number", "04400002", "--amount", "50.00",
                 "--tax", "7.00")
        p = self.cli("submit", bill)
        self.assertRegex(p.stdout, r"^%s: state submitted, not ready yet" % bill)

        # match show: which declared invoice is matched, and why the other is not.
        p = self.cli("match", "show", bill)
        self.assertRegex(p.stdout, r"(?m)^state +submitted$")
        self.assertRegex(p.stdout, r"(?m)^mode +match \(normal: invoice number and total\)$")
        self.assertRegex(p.stdout, r"(?m)^invoices +1 of 2 declared invoices matched$")
        declared = self.table(p.stdout, "DECLARED ")
        self.assertEqual(declared[0], ["DECLARED", "CODE", "DATE", "AMOUNT", "TAX", "TOTAL",
                                       "MATCHED_BY"])
        self.assertEqual(declared[1:], [
            ["04400001", "044001", "2026-11-01", "100.00", "13.00", "-", f1],
            ["04400002", "044001", "2026-11-02", "50", "6.5", "-", "-"]])
        files = self.table(p.stdout, "POS ")
        self.assertEqual(files[0], ["POS", "INVOICE_FILE", "NUMBER", "CODE", "DATE", "AMOUNT",
                                    "TAX", "TOTAL", "MATCH", "PROBLEM"])
        self.assertEqual(files[1], ["2", f1, "04400001", "-", "-", "-", "-", "113.00",
                                    "04400001", "-"])
        self.assertEqual(files[2], ["3", f2, "04400002", "-", "-", "50.00", "7.00", "-", "-",
                                    "total amount differs from the declared invoice"])
        m = cli_json(self.cli("match", "show", bill, "--json"))
        self.assertEqual((m["mode"], m["level"], m["invoices"]),
                         ("match", "normal", {"declared": 2, "matched": 1}))
        self.assertEqual([d["file_id"] for d in m["declared"]], [f1, None])

        # A matched invoice is locked: exit 1 with the server's message.
        p = self.cli_fails(1, "invoice", "set", bill, f1, "--number", "04400001")
        self.assertIn("409 match_locked (11026)", p.stderr)
        self.assertIn("unmatch it first", p.stderr)

        # Correct the data, match again: ready.
        p = self.cli("invoice", "set", bill, f2, "--number", "04400002", "--amount", "50.00",
                     "--tax", "6.50")
        self.assertOp(p, bill, "invoice data of file %s set, number 04400002" % f2, "submitted",
                      "1 of 2 invoices matched")
        p = self.cli("match", "run", bill)
        self.assertOp(p, bill, "matching run", "ready", "2 of 2 invoices matched")

        # Undo a match, and match by hand.
        p = self.cli("match", "undo", bill, f2)
        self.assertOp(p, bill, "file unmatched", "submitted", "1 of 2 invoices matched")
        p = self.cli_fails(1, "match", "file", bill, f2, "04400001")
        self.assertIn("409 match_locked (11026)", p.stderr)
        self.assertIn("matched to another file", p.stderr)
        ans = cli_json(self.cli("match", "file", bill, f2, "04400002", "--json"))
        self.assertEqual((ans["image_no"], ans["state"], ans["invoices"]),
                         (bill, "ready", {"declared": 2, "matched": 2}))
        self.assertIsInstance(ans["index"], int)

        # Sent back with a reason; the status says it.
        p = self.cli("return", bill, "--reason", "page 2 is blurred")
        self.assertOp(p, bill, "returned for rescanning", "returned", "2 of 2 invoices matched")
        st = self.status(bill)
        self.assertEqual(st["state"], "returned")
        self.assertIn("page 2 is blurred", " ".join(st["reasons"]))
        p = self.cli_fails(1, "erp-submit", bill)
        self.assertIn("409 invalid_state (11007)", p.stderr)

        # Rescanned and submitted again, then to the ERP by hand through its webhook.
        self.upload(bill, "attachment", "rescan of page 2")
        self.assertEqual(self.status(bill)["state"], "captured")
        self.assertRegex(self.cli("submit", bill).stdout, r"^%s: state ready, ready " % bill)
        erp = Receiver()
        self.addCleanup(erp.stop)
        wh = cli_json(self.cli("webhook", "create", erp.url, "--events", "erp_submit",
                               "--json"))
        self.addCleanup(run_cli, self.node, "webhook", "delete", wh["id"])
        p = self.cli("erp-submit", bill)
        self.assertRegex(p.stdout, r"^%s: queued for the ERP .*; state ready, 2 of 2 invoices "
                         r"matched \(index [0-9]+\)$" % bill)
        (_, headers, body), = erp.wait_for(1)
        self.assertEqual(headers.get("X-Imgarc-Event"), "erp_submit")
        sent = json.loads(body)
        self.assertEqual(sent["image_no"], bill)
        self.assertEqual([f.get("match") for f in sent["files"] if f["category"] == "invoice"],
                         ["04400001", "04400002"])
        self.assertEqual(self.wait_state(bill, "erp_submitted")["reasons"], [])
        log = [e["action"] for e in cli_json(self.cli("log", bill, "--json"))["entries"]]
        for action in ("invoice_data_set", "invoice_matched", "invoice_unmatched", "returned",
                       "erp_submit_queued"):
            self.assertIn(action, log)

    def wait_state(self, image_no, state, timeout=30):
        deadline = time.monotonic() + timeout
        st = None
        while time.monotonic() < deadline:
            st = self.status(image_no)
            if st["state"] == state:
                return st
            time.sleep(0.1)
        self.fail("%s never reached %s: %r\nnode log:\n%s"
                  % (image_no, state, st, self.node.log_tail()))

    # -- edits of a captured bill ----------------------------------------------

    def test_edit_flow(self):
        bill = "WC-E-1"
        self.cli("pool", "push", bill)
        c = self.upload(bill, "cover", "cover")
        i1 = self.upload(bill, "invoice", "invoice")
        a1 = self.upload(bill, "attachment", "attachment 1")
        a2 = self.upload(bill, "attachment", "attachment 2")

        # Within its own section a file keeps its category.
        p = self.cli("move", bill, a2, "--after", i1)
        self.assertOp(p, bill, "file %s moved after %s" % (a2, i1), "captured")
        self.assertEqual(self.layout(bill), [(c, "cover"), (i1, "invoice"), (a2, "attachment"),
                                             (a1, "attachment")])
        # Into another section only when the new category is confirmed.
        p = self.cli_fails(1, "move", bill, a1, "--after", c)
        self.assertIn("409 invalid_state (11007)", p.stderr)
        self.assertIn('"category": "cover"', p.stderr)
        self.cli("move", bill, a1, "--after", c, "--category", "cover")
        self.assertEqual(self.layout(bill), [(c, "cover"), (a1, "cover"), (i1, "invoice"),
                                             (a2, "attachment")])
        p = self.cli("move", bill, i1, "--first", "--category", "cover")
        self.assertOp(p, bill, "file %s moved first" % i1, "captured")
        self.assertEqual(self.layout(bill)[0], (i1, "cover"))

        # Categories, custom ones too.
        self.cli("category", "create", "wc-hotel")
        p = self.cli("categorize", bill, "--category", "wc-hotel", a2)
        self.assertOp(p, bill, "1 file set to category wc-hotel", "captured")
        p = self.cli("categorize", bill, "--category", "attachment", a1, a2)
        self.assertOp(p, bill, "2 files set to category attachment", "captured")
        self.assertEqual(self.status(bill)["counts"], {"cover": 2, "invoice": 0,
                                                       "attachment": 2})
        p = self.cli_fails(1, "categorize", bill, "--category", "invoice", a1, a2)
        self.assertIn("one file at a time", p.stderr)
        p = self.cli_fails(1, "categorize", bill, "--category", "wc-nosuch", a1)
        self.assertIn("400 invalid_category (11009)", p.stderr)

        # Rotations add up; -90 is a value, not a flag.
        p = self.cli("rotate", bill, "--degrees", "90", a1, a2)
        self.assertOp(p, bill, "2 files rotated by 90 degrees", "captured")
        self.cli("rotate", bill, "--degrees", "-90", a2)
        self.cli("rotate", bill, "--degrees=180", a1)
        rot = {f["file_id"]: f["rotation"] for f in self.files(bill)}
        self.assertEqual((rot[a1], rot[a2], rot[c]), (270, 0, 0))

        # Delete, then replace a file in place.
        p = self.cli("delete-files", bill, a2)
        self.assertOp(p, bill, "1 file deleted", "captured")
        self.assertNotIn(a2, [f for f, _ in self.layout(bill)])
        before = self.layout(bill)
        pos = [f for f, _ in before].index(a1)
        p = self.cli("upload", bill, self.pdf("better.pdf", "a better scan"), "--replace", a1)
        new_a1 = p.stdout.split()[0]
        self.assertRegex(p.stdout, r"^%s +attachment +%d +[0-9]+ +better\.pdf$"
                         % (new_a1, pos + 1))
        after = self.layout(bill)
        self.assertEqual(after[pos], (new_a1, "attachment"))
        self.assertEqual(after[:pos] + after[pos + 1:], before[:pos] + before[pos + 1:])
        p = self.cli_fails(1, "download", a1, "-o", os.path.join(self.scratch("wf-dl"), "x"))
        self.assertIn("404 file_not_found (11003)", p.stderr)
        log = [e["action"] for e in cli_json(self.cli("log", bill, "--json"))["entries"]]
        for action in ("file_moved", "category_set", "rotated", "files_deleted",
                       "file_replaced"):
            self.assertIn(action, log)

        # Merge adjacent files into a document, and split it back.
        p = self.cli("merge", bill, i1, c)
        self.assertOp(p, bill, "2 files merged into one document", "captured")
        doc = {f["file_id"]: f for f in self.files(bill)}
        self.assertEqual((doc[i1]["parts"], doc[c]["merged_into"]), ([c], i1))
        p = self.cli_fails(1, "delete-files", bill, c)
        self.assertIn("split it first", p.stderr)
        p = self.cli("split", bill, i1)
        self.assertOp(p, bill, "document split back into its files", "captured")
        self.assertEqual([f["merged_into"] for f in self.files(bill)], [None] * 3)

        # After submit the bill is closed to edits.
        self.cli("submit", bill)
        p = self.cli_fails(1, "categorize", bill, "--category", "attachment", c)
        self.assertIn("409 invalid_state (11007)", p.stderr)
        self.assertIn("allowed while it is captured or returned", p.stderr)

    # -- errors ----------------------------------------------------------------

    def test_server_refusals(self):
        bill = "WC-R-1"
        self.cli("bill-type", "create", "WC_REF", "--mode", "match")
        self.cli("scheme", "set", "WC_REF")
        self.cli("pool", "push", bill, "--bill-type", "WC_REF", "--invoice", INVOICE_1)
        cover = self.upload(bill, "cover", "cover")
        inv = self.upload(bill, "invoice", "invoice")
        cases = [
            (("scheme", "set", "WC_NO_SUCH_TYPE"), "404 bill_type_not_found (11025)"),
            (("scheme", "set", "WC_REF", "--org", "wc-no-such-org"),
             "404 org_not_found (11021)"),
            (("match", "run", "WC-NO-SUCH-BILL"), "404 bill_not_found (11002)"),
            (("match", "show", "WC-NO-SUCH-BILL"), "404 bill_not_found (11002)"),
            (("match", "run", bill), "matching runs on submitted bills"),
            (("invoice", "set", bill, inv, "--number", "1", "--total", "1.234"),
             "at most two decimals"),
            (("invoice", "set", bill, cover, "--number", "1"), "not an invoice"),
            (("invoice", "set", bill, "fnope", "--number", "1"), "404 file_not_found (11003)"),
            (("return", bill, "--reason", "why"), "409 invalid_state (11007)"),
            (("erp-submit", bill), "only ready bills"),
            (("move", bill, inv, "--after", "fnope"), "404 file_not_found (11003)"),
            (("move", bill, inv, "--after", inv), "cannot move after itself"),
            (("upload", bill, self.pdf("r.pdf", "r"), "--replace", "fnope"),
             "404 file_not_found (11003)"),
            (("upload", bill, self.pdf("r.pdf", "r"), "--replace", inv, "--category", "cover"),
             "400 invalid_category (11009)"),
            (("delete-files", bill, inv, inv), "twice"),
            (("merge", bill, cover, "fnope"), "404 file_not_found (11003)"),
            (("split", bill, cover), "not a merged document"),
            (("category", "create", "wc-x", "--name", "n" * 300), "400 invalid_field (11005)"),
        ]
        for args, words in cases:
            with self.subTest(args=args):
                p = self.cli_fails(1, *args)
                self.assertIn(words, p.stderr)
                self.assertIn("[request_id ", p.stderr)
                self.assertEqual(p.stdout, "")
        self.assertEqual(self.layout(bill), [(cover, "cover"), (inv, "invoice")],
                         "nothing changed")
        self.cli("submit", bill)
        p = self.cli_fails(1, "match", "file", bill, inv, "nope")
        self.assertIn("400 bad_request (10400)", p.stderr)

    def test_usage_errors(self):
        f = self.pdf("u.pdf", "u")
        for args in (("bill-type",),
                     ("bill-type", "frob"),
                     ("bill-type", "create", "WC_U"),
                     ("bill-type", "create", "WC_U", "--mode", "fancy"),
                     ("bill-type", "create", "bad code", "--mode", "basic"),
                     ("bill-type", "create", "--mode", "basic"),
                     ("bill-type", "list", "extra"),
                     ("scheme", "set"),
                     ("scheme", "set", "WC_U", "--match", "strict"),
                     ("scheme", "set", "WC_U", "--submit", "later"),
                     ("scheme", "set", "WC_U", "--org", "bad org"),
                     ("category", "create", "cover"),
                     ("category", "create", "x" * 32),
                     ("category", "create", "a/b"),
                     ("category", "create"),
                     ("invoice",),
                     ("invoice", "set", "B", "F"),
                     ("invoice", "set", "B", "--number", "1"),
                     ("invoice", "set", "B", "F", "G", "--number", "1"),
                     ("invoice", "set", "B", "F", "--number", "1", "--total", "12,50"),
                     ("invoice", "set", "B", "F", "--number", "1", "--frob", "x"),
                     ("match",),
                     ("match", "frob", "B"),
                     ("match", "run"),
                     ("match", "show", "B", "C"),
                     ("match", "file", "B", "F"),
                     ("match", "undo", "B"),
                     ("erp-submit",),
                     ("return", "B"),
                     ("return", "B", "--reason", ""),
                     ("return", "B", "--reason", "x" * 1025),
                     ("categorize", "B", "F"),
                     ("categorize", "B", "--category", "cover"),
                     ("categorize", "B", "--category", "no such", "F"),
                     ("rotate", "B", "F"),
                     ("rotate", "B", "--degrees", "45", "F"),
                     ("rotate", "B", "--degrees", "90"),
                     ("move", "B", "F"),
                     ("move", "B", "F", "--after", "G", "--first"),
                     ("move", "B", "--first"),
                     ("move", "B", "F", "--first", "--category", "a b"),
                     ("delete-files", "B"),
                     ("merge", "B", "F"),
                     ("split", "B"),
                     ("split", "B", "F", "G"),
                     ("upload", "B", f, f, "--replace", "F"),
                     ("upload", "B", f, "--replace", "F", "--after", "G"),
                     ("upload", "B", f, "--replace", ""),
                     ("upload", "B", f, "--category", "no such")):
            with self.subTest(args=args):
                p = self.cli_fails(2, *args)
                self.assertRegex(p.stderr, r"^imgarc: ")
                self.assertIn("Try 'imgarc ", p.stderr)
                self.assertEqual(p.stdout, "")
        # The node saw none of them.
        self.assertNotIn("WC_U", [t["code"] for t in
                                  cli_json(self.cli("bill-type", "list", "--json"))["bill_types"]])
        self.assertEqual(self.node.bill("B").status, 404)

    def test_help(self):
        for cmd in ("bill-type", "scheme", "category", "invoice", "match", "erp-submit",
                    "return", "hold", "categorize", "rotate", "move", "delete-files", "merge", "split"):
            with self.subTest(help=cmd):
                p = self.cli(cmd, "--help")
                self.assertIn("Usage: imgarc " + cmd, p.stdout)
                self.assertEqual(self.cli("help", cmd).stdout, p.stdout)
        self.assertIn("--replace FILE_ID", self.cli("upload", "--help").stdout)
        p = self.cli("--help")
        for synopsis in ("bill-type create CODE | list", "scheme set BILL_TYPE | list",
                         "category create CODE | list", "invoice set IMAGE_NO FILE_ID",
                         "match ACTION IMAGE_NO", "erp-submit IMAGE_NO",
                         "return IMAGE_NO --reason R", "hold place|lift|list IMAGE_NO",
                         "categorize IMAGE_NO FILE_ID...",
                         "rotate IMAGE_NO FILE_ID...", "move IMAGE_NO FILE_ID",
                         "delete-files IMAGE_NO FILE_ID...", "merge IMAGE_NO FILE_ID...",
                         "split IMAGE_NO FILE_ID"):
            self.assertIn("  " + synopsis + " ", p.stdout)


if __name__ == "__main__":
    unittest.main()
