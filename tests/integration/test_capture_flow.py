"""The capture user story, through the CLI and through plain HTTP.

An ERP pushes a pool bill, a scanner station captures the cover, invoices and
attachments, the bill is submitted and becomes ready, the ERP reads it back. Then the
retrieval details of docs/API.md: ranges, ETags, HEAD, request ids, the applied index
header, idempotency, content addressing."""

import os
import unittest
from urllib.parse import quote

from imgarc_node import (HEX64, ID_ALPHABET, NodeTestCase, blake2b_hex, cli_json, free_port,
                         make_jpg, make_pdf, make_xml_invoice, random_bytes, run_cli)

BIG = 25 * 1024 * 1024


def as_list(doc):
    return doc if isinstance(doc, list) else [doc]


class CliCaptureFlowTest(NodeTestCase):
    """The README's walk-through with the `imgarc` binary."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("capture-cli")

    def cli(self, *args, ok=True):
        p = run_cli(self.node, *args)
        if ok and p.returncode != 0:
            self.fail("imgarc %s exited %d\nstdout: %s\nstderr: %s"
                      % (" ".join(map(str, args)), p.returncode, p.stdout[-2000:],
                         p.stderr[-2000:]))
        return p

    def test_user_story(self):
        image_no = "BX-CLI-0001"
        tmp = self.scratch("cli-files")
        files = [  # (name, content, category, format)
            ("scan.pdf", make_pdf(pages=2, seed=11), "attachment", "pdf"),
            ("receipt.jpg", make_jpg(30000, seed=12), "attachment", "jpg"),
            ("einvoice.xml", make_xml_invoice(), "invoice", "xml"),
            ("cover-%s.pdf" % image_no, make_pdf(pages=1, text="cover sheet", seed=13),
             "cover", "pdf"),
            ("statement.bin", random_bytes(BIG, seed=14), "attachment", "bin"),
        ]
        paths = []
        for name, data, _, _ in files:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)

        # The ERP's pool bill.
        p = self.cli("pool", "push", image_no, "--bill-no", "ER-1", "--amount", "12.50",
                     "--json")
        pushed = cli_json(p)
        self.assertEqual(pushed["image_no"], image_no)
        self.assertEqual(pushed["state"], "pending_upload")
        self.assertIs(pushed["created"], True)

        # Capture: every file in one call, in this order.
        p = self.cli("upload", image_no, *paths, "--json")
        answers = as_list(cli_json(p))
        self.assertEqual(len(answers), len(files), "one answer per uploaded file: %r" % answers)
        for (name, data, category, fmt), a, pos in zip(files, answers, range(1, 6)):
            with self.subTest(file=name):
                self.assertEqual(a["image_no"], image_no)
                self.assertEqual(a["blob"], blake2b_hex(data))
                self.assertEqual(a["size"], len(data))
                self.assertEqual(a["category"], category, "classification of %s" % name)
                self.assertEqual(a["format"], fmt)
                self.assertEqual(a["position"], pos)
        self.assertEqual(answers[0]["pages"], 2, "pages of a 2-page PDF")

        # Before submit: captured, not ready.
        p = self.cli("status", image_no, "--json")
        st = cli_json(p)
        self.assertEqual(st["state"], "captured")
        self.assertIs(st["ready"], False)
        self.assertIn("captured but not submitted", st["reasons"])

        p = self.cli("submit", image_no, "--json")
        sub = cli_json(p)
        self.assertEqual(sub["state"], "ready")
        self.assertIs(sub["ready"], True)

        p = self.cli("status", image_no, "--json")
        st = cli_json(p)
        self.assertEqual(st["image_no"], image_no)
        self.assertEqual(st["state"], "ready")
        self.assertIs(st["ready"], True)
        self.assertEqual(st["counts"], {"cover": 1, "invoice": 1, "attachment": 3})
        self.assertEqual(st["files"], 5)
        self.assertEqual(st["reasons"], [])
        # The human form names the state too.
        p = self.cli("status", image_no)
        self.assertIn("ready", p.stdout)

        # The bill and its files, in capture order.
        p = self.cli("get", image_no, "--json")
        bill = cli_json(p)
        self.assertEqual(bill["image_no"], image_no)
        self.assertEqual(bill["bill_no"], "ER-1")
        self.assertEqual(bill["amount"], "12.50")
        self.assertEqual(bill["state"], "ready")
        self.assertIs(bill["in_pool"], True)
        self.assertEqual([f["name"] for f in bill["files"]], [f[0] for f in files])
        self.assertEqual([f["position"] for f in bill["files"]], [1, 2, 3, 4, 5])
        self.assertEqual([f["file_id"] for f in bill["files"]], [a["file_id"] for a in answers])
        for (name, data, category, fmt), f in zip(files, bill["files"]):
            with self.subTest(file=name):
                self.assertEqual(f["category"], category)
                self.assertEqual(f["format"], fmt)
                self.assertEqual(f["size"], len(data))
                self.assertEqual(f["blob"], blake2b_hex(data))
        p = self.cli("get", image_no)
        for name, _, _, _ in files:
            self.assertIn(name, p.stdout, "human output of get lists every file")

        # Every file downloads byte-identical.
        for (name, data, _, _), f in zip(files, bill["files"]):
            with self.subTest(download=name):
                out = os.path.join(tmp, "copy-" + name)
                self.cli("download", f["file_id"], "-o", out)
                with open(out, "rb") as fh:
                    got = fh.read()
                self.assertEqual(len(got), len(data))
                self.assertTrue(got == data, "downloaded %s differs" % name)
                self.assertFalse(os.path.exists(out + ".part"))

        # The audit log.
        p = self.cli("log", image_no, "--json")
        log = cli_json(p)
        entries = log["entries"]
        actions = [e["action"] for e in entries]
        self.assertEqual(actions[0], "pool_created")
        self.assertEqual(actions.count("file_added"), 5)
        self.assertIn("state_changed", actions)
        self.assertEqual([e["index"] for e in entries], sorted(e["index"] for e in entries),
                         "log oldest first")
        added = [e["detail"]["file_id"] for e in entries if e["action"] == "file_added"]
        self.assertEqual(added, [a["file_id"] for a in answers])
        states = [e["detail"] for e in entries if e["action"] == "state_changed"]
        self.assertTrue(any("ready" in str(d) for d in states), "state change to ready: %r"
                        % states)
        p = self.cli("log", image_no)
        self.assertIn("file_added", p.stdout)

        # The ERP's list of ready bills.
        p = self.cli("bills", "--state", "ready", "--json")
        listed = cli_json(p)
        bills = listed["bills"] if isinstance(listed, dict) else listed
        mine = [b for b in bills if b["image_no"] == image_no]
        self.assertEqual(len(mine), 1, "bills --state ready lists the bill once: %r" % bills)
        self.assertEqual(mine[0]["state"], "ready")
        self.assertEqual(mine[0]["files"], 5)
        self.assertTrue(all(b["state"] == "ready" for b in bills))
        p = self.cli("bills", "--state", "ready")
        self.assertIn(image_no, p.stdout)

    def test_cli_details(self):
        tmp = self.scratch("cli-details")
        image_no = "BX-CLI-0002"
        a = make_pdf(2, seed=21)
        b = make_jpg(4000, seed=22)
        paths = []
        for name, data in (("a.pdf", a), ("b.jpg", b)):
            paths.append(os.path.join(tmp, name))
            with open(paths[-1], "wb") as f:
                f.write(data)

        # Pool push with invoices; a second push updates.
        p = self.cli("pool", "push", image_no, "--bill-no", "ER-2", "--invoice",
                     "number=1,total=13.00", "--invoice", "number=2", "--json")
        self.assertIs(cli_json(p)["created"], True)
        p = self.cli("pool", "push", image_no, "--bill-no", "ER-2b")
        self.assertIn("updated", p.stdout)
        bill = self.node.bill(image_no).json
        self.assertEqual(bill["bill_no"], "ER-2b")
        p = self.cli("pool", "push", image_no, "--amount", "12,50", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)

        # A rerun with the same --idempotency-key replays, adding nothing.
        p = self.cli("upload", image_no, *paths, "--idempotency-key", "cli-run-1", "--json")
        first = as_list(cli_json(p))
        self.assertEqual([x["replayed"] for x in first], [False, False])
        p = self.cli("upload", image_no, *paths, "--idempotency-key", "cli-run-1", "--json")
        again = as_list(cli_json(p))
        self.assertEqual([x["replayed"] for x in again], [True, True])
        self.assertEqual([x["file_id"] for x in again], [x["file_id"] for x in first])
        self.assertEqual(len(self.node.bill(image_no).json["files"]), 2)
        # A missing second file: nothing is uploaded.
        p = self.cli("upload", "BX-CLI-0003", paths[0], os.path.join(tmp, "missing.pdf"),
                     ok=False)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(self.node.bill("BX-CLI-0003").status, 404)

        # Ranges, stdout, and a failed download leaves no file.
        fid = first[0]["file_id"]
        out = os.path.join(tmp, "part.bin")
        for rng, want in (("10-19", a[10:20]), ("-5", a[-5:]), ("100-", a[100:])):
            with self.subTest(range=rng):
                self.cli("download", fid, "--range", rng, "-o", out)
                with open(out, "rb") as f:
                    self.assertEqual(f.read(), want)
        p = self.cli("download", fid, "--range", "%d-%d" % (len(a), len(a) + 10), "-o",
                     os.path.join(tmp, "none.bin"), ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("11010", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(tmp, "none.bin")))
        self.assertFalse(os.path.exists(os.path.join(tmp, "none.bin.part")))
        p = run_cli(self.node, "download", first[1]["file_id"], binary=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(p.stdout == b, "download to stdout differs")
        p = self.cli("download", "f" + "0" * 31, "-o", os.path.join(tmp, "gone.bin"), ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("11003", p.stderr)
        self.assertEqual(sorted(os.listdir(tmp)), ["a.pdf", "b.jpg", "part.bin"])

        # Listing every page as JSON lines; the server's version.
        p = self.cli("bills", "--all", "--limit", "1", "--json")
        listed = as_list(cli_json(p))
        names = [x["image_no"] for x in listed]
        self.assertEqual(names, sorted(names))
        self.assertIn(image_no, names)
        self.assertEqual(len(names), len(set(names)))
        p = self.cli("version", "--json")
        self.assertIn("node_id", cli_json(p)["server"])

    def test_exit_codes(self):
        # 1: the server refused (unknown bill).
        p = self.cli("status", "NO-SUCH-BILL-1", ok=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("11002", p.stderr + p.stdout)
        # 1: wrong token.
        p = run_cli(self.node, "status", "NO-SUCH-BILL-1", token="wrong-token")
        self.assertEqual(p.returncode, 1, p.stderr)
        # 2: usage.
        p = self.cli("no-such-command", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = self.cli("upload", ok=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        # 3: nothing listens there.
        p = run_cli(self.node, "status", "BX-1", server="http://127.0.0.1:%d" % free_port())
        self.assertEqual(p.returncode, 3, p.stderr)
        # 4: a local file that does not exist; nothing is created on the node.
        p = self.cli("upload", "BX-CLI-LOCAL", "/nonexistent/file.pdf", ok=False)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(self.node.bill("BX-CLI-LOCAL").status, 404)


class HttpCaptureTest(NodeTestCase):
    """Capture and retrieval over plain HTTP."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("capture-http")
        cls.data = random_bytes(1000, seed=99)
        r = cls.node.upload("BX-RANGE-1", cls.data, name="range.pdf")
        if r.status != 201:
            raise AssertionError("setup upload: %r" % r)
        cls.file = r.json

    # -- content addressing and classification ---------------------------------

    def test_blob_is_blake2b_and_dedup(self):
        data = random_bytes(70000, seed=1)
        a = self.assertUploaded(self.node.upload("BX-DEDUP-1", data, name="a.png"),
                                "BX-DEDUP-1", data)
        b = self.assertUploaded(self.node.upload("BX-DEDUP-2", data, name="b.png"),
                                "BX-DEDUP-2", data)
        self.assertRegex(a["blob"], HEX64)
        self.assertEqual(a["blob"], b["blob"], "same content, same blob")
        self.assertNotEqual(a["file_id"], b["file_id"])
        for fid in (a["file_id"], b["file_id"]):
            r = self.node.content(fid)
            self.assertStatus(r, 200)
            self.assertTrue(r.body == data)
        # Stored once on disk, under its hash.
        blob = a["blob"]
        path = os.path.join(self.node.data, "blobs", blob[:2], blob[2:4], blob)
        self.assertTrue(os.path.isfile(path), "blob file %s" % path)
        with open(path, "rb") as f:
            self.assertEqual(blake2b_hex(f.read()), blob)

    def test_classification(self):
        image_no = "BX-CLASS-1"
        cases = [  # (name, data, category, format)
            ("scan.pdf", make_pdf(3, seed=2), "attachment", "pdf"),
            ("photo.jpg", make_jpg(5000, seed=3), "attachment", "jpg"),
            ("e-invoice.xml", make_xml_invoice("1234"), "invoice", "xml"),
            ("einvoice.ofd", random_bytes(3000, seed=4), "invoice", "ofd"),
            ("%s-cover.jpg" % image_no, make_jpg(4000, seed=5), "cover", "jpg"),
            # The image number inside the content (a printed cover code) makes a cover.
            ("sheet.pdf", make_pdf(1, text="cover code %s" % image_no, seed=6), "cover", "pdf"),
            # Format from the magic number when the name says nothing.
            ("noext", make_jpg(3000, seed=7), "attachment", "jpg"),
            ("forced.pdf", make_pdf(1, seed=8), "invoice", "pdf"),
        ]
        for i, (name, data, category, fmt) in enumerate(cases, start=1):
            with self.subTest(name=name):
                r = self.node.upload(image_no, data, name=name,
                                     category="invoice" if name == "forced.pdf" else None)
                body = self.assertUploaded(r, image_no, data)
                self.assertEqual(body["category"], category)
                self.assertEqual(body["format"], fmt)
                self.assertEqual(body["position"], i)
        r = self.node.upload(image_no, make_pdf(2, seed=9), name="two.pdf")
        self.assertEqual(r.json["pages"], 2)

    def test_order_and_after(self):
        image_no = "BX-ORDER-1"
        ids = []
        for i in range(3):
            r = self.node.upload(image_no, random_bytes(100, seed=100 + i), name="p%d.png" % i)
            self.assertStatus(r, 201)
            ids.append(r.json["file_id"])
        r = self.node.upload(image_no, random_bytes(100, seed=200), name="inserted.png",
                             after=ids[0])
        self.assertStatus(r, 201)
        self.assertEqual(r.json["position"], 2)
        bill = self.node.bill(image_no).json
        self.assertEqual([f["name"] for f in bill["files"]],
                         ["p0.png", "inserted.png", "p1.png", "p2.png"])
        self.assertEqual([f["position"] for f in bill["files"]], [1, 2, 3, 4])
        # `after` naming a file of another bill.
        r = self.node.upload(image_no, b"x", name="x.txt", after=self.file["file_id"])
        self.assertError(r, 404, 11003, "file_not_found")
        self.assertEqual(len(self.node.bill(image_no).json["files"]), 4)

    def test_states(self):
        image_no = "BX-STATE-1"
        # A pool bill without files cannot be submitted.
        self.assertStatus(self.node.pool_push({"image_no": image_no, "bill_no": "ER-9"}), 201)
        st = self.node.status(image_no).json
        self.assertEqual(st["state"], "pending_upload")
        self.assertIs(st["ready"], False)
        self.assertError(self.node.submit(image_no), 409, 11008, "bill_empty")
        # A bill captured without a pool bill says so.
        r = self.node.upload("BX-STATE-2", b"%PDF-1.4 x", name="a.pdf")
        self.assertStatus(r, 201)
        st = self.node.status("BX-STATE-2").json
        self.assertEqual(st["state"], "captured")
        self.assertIn("captured but not submitted", st["reasons"])
        self.assertTrue(any("no pool bill" in x for x in st["reasons"]), st["reasons"])
        bill = self.node.bill("BX-STATE-2").json
        self.assertIs(bill["in_pool"], False)
        # Submit, then submit again: nothing changes.
        r = self.node.submit("BX-STATE-2")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "ready")
        self.assertIs(r.json["ready"], True)
        entries = len(self.node.audit_log("BX-STATE-2").json["entries"])
        r = self.node.submit("BX-STATE-2")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "ready")
        self.assertEqual(len(self.node.audit_log("BX-STATE-2").json["entries"]), entries)
        # After submit only a supplementary scan: no cover given, so nothing at all.
        r = self.node.upload("BX-STATE-2", b"more", name="late.txt")
        self.assertError(r, 409, 11007, "invalid_state")
        # A submitted bill with a cover takes invoices and attachments, not covers.
        image_no = "BX-STATE-3"
        self.assertStatus(self.node.upload(image_no, b"c", name="c.pdf", category="cover"), 201)
        self.assertStatus(self.node.submit(image_no), 200)
        r = self.node.upload(image_no, make_xml_invoice("77"), name="late.xml")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["category"], "invoice")
        self.assertEqual(self.node.status(image_no).json["state"], "ready")
        r = self.node.upload(image_no, b"c2", name="c2.pdf", category="cover")
        self.assertError(r, 409, 11007, "invalid_state")
        self.assertEqual(len(self.node.bill(image_no).json["files"]), 2)
        # Unknown category.
        r = self.node.upload(image_no, b"c2", name="c2.pdf", category="receipt")
        self.assertError(r, 400, 11009, "invalid_category")
        # An empty body.
        r = self.node.upload("BX-STATE-4", b"", name="empty.pdf")
        self.assertError(r, 400, 11012, "empty_file")
        self.assertEqual(self.node.bill("BX-STATE-4").status, 404)

    # -- ranges, ETag, HEAD ------------------------------------------------------

    def test_whole_content(self):
        r = self.node.content(self.file["file_id"])
        self.assertStatus(r, 200)
        self.assertTrue(r.body == self.data)
        self.assertEqual(r.header("content-type"), "application/pdf")
        self.assertEqual(r.header("accept-ranges"), "bytes")
        self.assertEqual(r.header("content-length"), str(len(self.data)))
        self.assertIn('filename="range.pdf"', r.header("content-disposition") or "")
        self.assertCommonHeaders(r)

    def test_ranges(self):
        fid = self.file["file_id"]
        n = len(self.data)
        cases = [
            ("bytes=10-19", 10, 19),
            ("bytes=0-0", 0, 0),
            ("bytes=990-", 990, n - 1),
            ("bytes=0-", 0, n - 1),
            ("bytes=-5", n - 5, n - 1),
            ("bytes=-5000", 0, n - 1),   # longer than the file: all of it
            ("bytes=995-5000", 995, n - 1),  # last byte past the end: clipped
            ("bytes=999-999", 999, 999),
        ]
        for rng, a, b in cases:
            with self.subTest(range=rng):
                r = self.node.content(fid, headers={"Range": rng})
                self.assertStatus(r, 206)
                self.assertEqual(r.header("content-range"), "bytes %d-%d/%d" % (a, b, n))
                self.assertEqual(r.body, self.data[a:b + 1])
                self.assertEqual(r.header("content-length"), str(b - a + 1))
                self.assertCommonHeaders(r)
        for rng in ("bytes=1000-", "bytes=1000-2000", "bytes=5000-6000", "bytes=-0"):
            with self.subTest(range=rng):
                r = self.node.content(fid, headers={"Range": rng})
                self.assertError(r, 416, 11010, "range_not_satisfiable")
                self.assertEqual(r.header("content-range"), "bytes */%d" % n)

    def test_etag_and_if_none_match(self):
        fid = self.file["file_id"]
        blob = self.file["blob"]
        r = self.node.content(fid)
        self.assertEqual(r.header("etag"), '"%s"' % blob)
        r = self.node.content(fid, headers={"If-None-Match": '"%s"' % blob})
        self.assertStatus(r, 304)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("etag"), '"%s"' % blob)
        self.assertCommonHeaders(r)
        r = self.node.content(fid, headers={"If-None-Match": '"%s"' % ("0" * 64)})
        self.assertStatus(r, 200)
        self.assertTrue(r.body == self.data)

    def test_head(self):
        fid = self.file["file_id"]
        r = self.node.head("/api/v1/files/%s/content" % fid)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(r.header("content-length"), str(len(self.data)))
        self.assertEqual(r.header("etag"), '"%s"' % self.file["blob"])
        self.assertEqual(r.header("content-type"), "application/pdf")
        self.assertCommonHeaders(r)
        # The connection stays usable after a HEAD (no body bytes were sent).
        conn = self.node.connection()
        try:
            for method in ("HEAD", "GET", "HEAD"):
                conn.request(method, "/api/v1/files/%s/content" % fid,
                             headers=self.node.auth_headers())
                resp = conn.getresponse()
                body = resp.read()
                self.assertEqual(resp.status, 200)
                self.assertEqual(body, b"" if method == "HEAD" else self.data)
        finally:
            conn.close()

    def test_unicode_file_name_disposition(self):
        name = "发票 №1.pdf"
        data = make_pdf(1, seed=31)
        r = self.node.upload("BX-UNI-1", data, name=name)
        self.assertStatus(r, 201)
        bill = self.node.bill("BX-UNI-1").json
        self.assertEqual(bill["files"][0]["name"], name)
        r = self.node.content(r.json["file_id"])
        cd = r.header("content-disposition") or ""
        self.assertIn("filename*=UTF-8''" + quote(name, safe=""), cd)

    # -- headers on every response -----------------------------------------------

    def test_request_id(self):
        r = self.node.get("/healthz", auth=False, headers={"X-Request-Id": "my.req-ID_42"})
        self.assertEqual(r.header("x-request-id"), "my.req-ID_42")
        r = self.node.bill("NO-SUCH-BILL", headers={"X-Request-Id": "err-req-1"})
        body = self.assertError(r, 404, 11002, "bill_not_found")
        self.assertEqual(body["request_id"], "err-req-1")
        # Generated when absent, and different each time.
        seen = set()
        for _ in range(3):
            r = self.node.get("/healthz", auth=False)
            rid = r.header("x-request-id")
            self.assertIsNotNone(rid)
            self.assertRegex(rid, ID_ALPHABET)
            seen.add(rid)
        self.assertEqual(len(seen), 3, "generated request ids repeat: %r" % seen)
        # Invalid ones are replaced by a generated one.
        for bad in ("has space", "x" * 65, "semi;colon", "é"):
            with self.subTest(request_id=bad):
                r = self.node.get("/healthz", auth=False,
                                  headers={"X-Request-Id": bad.encode("utf-8")})
                self.assertStatus(r, 200)
                rid = r.header("x-request-id")
                self.assertRegex(rid or "", ID_ALPHABET)
                self.assertNotEqual(rid, bad)
        # A write carries the request id into the audit log.
        r = self.node.upload("BX-RID-1", b"abc", name="a.txt",
                             headers={"X-Request-Id": "upload-rid-7"})
        self.assertEqual(r.header("x-request-id"), "upload-rid-7")
        entries = self.node.audit_log("BX-RID-1").json["entries"]
        self.assertEqual(entries[-1]["request_id"], "upload-rid-7")

    def test_index_header(self):
        for r in (self.node.get("/healthz", auth=False), self.node.get("/readyz", auth=False),
                  self.node.get("/api/v1/version", auth=False),
                  self.node.bill("BX-RANGE-1"), self.node.bill("NO-SUCH-BILL"),
                  self.node.content(self.file["file_id"]), self.node.get("/no/such/path")):
            with self.subTest(resp=r.status):
                self.assertCommonHeaders(r)
        a = self.node.upload("BX-IDX-1", b"first", name="1.txt")
        b = self.node.upload("BX-IDX-1", b"second", name="2.txt")
        self.assertGreater(b.json["index"], a.json["index"])
        self.assertGreaterEqual(int(b.header("x-imgarc-index")), b.json["index"])
        r = self.node.bill("BX-IDX-1")
        self.assertGreaterEqual(int(r.header("x-imgarc-index")), b.json["index"])

    # -- idempotency ---------------------------------------------------------------

    def test_upload_idempotency(self):
        data = random_bytes(40000, seed=5)
        r1 = self.node.upload("BX-IDEM-1", data, name="x.pdf", key="idem-upload-1")
        first = self.assertUploaded(r1, "BX-IDEM-1", data)
        r2 = self.node.upload("BX-IDEM-1", data, name="x.pdf", key="idem-upload-1")
        self.assertStatus(r2, 201)
        again = r2.json
        self.assertEqual(again["file_id"], first["file_id"])
        self.assertIs(again["replayed"], True)
        self.assertEqual(again["blob"], first["blob"])
        self.assertEqual(again["position"], first["position"])
        self.assertEqual(again["index"], first["index"])
        # Same key, different bytes: refused, nothing added.
        r3 = self.node.upload("BX-IDEM-1", data + b"!", name="x.pdf", key="idem-upload-1")
        self.assertError(r3, 409, 10409, "idempotency_conflict")
        # Same key, same bytes, another name: a different request too.
        r4 = self.node.upload("BX-IDEM-1", data, name="y.pdf", key="idem-upload-1")
        self.assertError(r4, 409, 10409, "idempotency_conflict")
        files = self.node.bill("BX-IDEM-1").json["files"]
        self.assertEqual([f["file_id"] for f in files], [first["file_id"]])
        # A new key is a new file (same content: same blob).
        r5 = self.node.upload("BX-IDEM-1", data, name="x.pdf", key="idem-upload-2")
        self.assertStatus(r5, 201)
        self.assertNotEqual(r5.json["file_id"], first["file_id"])
        self.assertEqual(r5.json["blob"], first["blob"])
        # An invalid key is refused.
        r6 = self.node.upload("BX-IDEM-1", data, name="x.pdf", key="bad key!")
        self.assertError(r6, 400, 10400, "bad_request")
        self.assertEqual(len(self.node.bill("BX-IDEM-1").json["files"]), 2)

    def test_content_range_upload_refused(self):
        """A part of a file sent as if it were an upload (Content-Range on the body) is
        refused: it would be stored as a whole, shorter file."""
        whole = random_bytes(30000, seed=6)
        self.assertStatus(self.node.upload("BX-CR-1", whole[:1000], name="a.pdf"), 201)
        part = whole[10000:]
        for cr in ("bytes 10000-29999/30000", "bytes */30000", "bytes 0-29999/30000"):
            with self.subTest(content_range=cr):
                r = self.node.upload("BX-CR-1", part, name="b.pdf",
                                     headers={"Content-Range": cr})
                self.assertError(r, 400, 10400, "bad_request")
                self.assertIn("Content-Range", r.json["message"])
        # Nothing of them was stored; the same body without the header is taken.
        self.assertEqual(len(self.node.bill("BX-CR-1").json["files"]), 1)
        self.assertStatus(self.node.upload("BX-CR-1", whole, name="b.pdf"), 201)
        self.assertEqual(len(self.node.bill("BX-CR-1").json["files"]), 2)

    def test_pool_push_twice(self):
        image_no = "BX-POOL-1"
        r = self.node.pool_push({"image_no": image_no, "bill_no": "ER-1", "amount": "12.50"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["image_no"], image_no)
        self.assertEqual(r.json["state"], "pending_upload")
        self.assertIs(r.json["created"], True)
        self.assertIsInstance(r.json["index"], int)
        r = self.node.pool_push({"image_no": image_no, "bill_no": "ER-1", "amount": "13.00",
                                 "invoices": [{"number": "1", "total": "13.00"}]})
        self.assertStatus(r, 200)
        self.assertIs(r.json["created"], False)
        self.assertEqual(r.json["state"], "pending_upload")
        bills = [b for b in self.node.all_bills() if b["image_no"] == image_no]
        self.assertEqual(len(bills), 1)
        bill = self.node.bill(image_no).json
        self.assertEqual(bill["amount"], "13.00")
        self.assertEqual(bill["invoices"][0]["number"], "1")
        self.assertIs(bill["in_pool"], True)
        self.assertEqual(bill["files"], [])
        actions = [e["action"] for e in self.node.audit_log(image_no).json["entries"]]
        self.assertEqual(actions, ["pool_created", "pool_updated"])
        # Captured after the push: the pool bill becomes captured.
        r = self.node.upload(image_no, b"%PDF-1.4", name="s.pdf")
        self.assertStatus(r, 201)
        self.assertEqual(self.node.status(image_no).json["state"], "captured")
        st = self.node.status(image_no).json
        self.assertEqual(st["invoices"]["declared"], 1)

    def test_pool_push_idempotency(self):
        body = {"image_no": "BX-POOL-2", "bill_no": "ER-2", "amount": "1.00"}
        r1 = self.node.pool_push(body, key="idem-pool-1")
        self.assertStatus(r1, 201)
        r2 = self.node.pool_push(body, key="idem-pool-1")
        self.assertEqual(r2.status, r1.status, "a replay returns the first answer")
        self.assertEqual(r2.json["index"], r1.json["index"], "replay answers the first write")
        self.assertEqual(r2.json["created"], r1.json["created"])
        r3 = self.node.pool_push(dict(body, amount="2.00"), key="idem-pool-1")
        self.assertError(r3, 409, 10409, "idempotency_conflict")
        self.assertEqual(self.node.bill("BX-POOL-2").json["amount"], "1.00")
        self.assertEqual(len(self.node.audit_log("BX-POOL-2").json["entries"]), 1)

    def test_submit_idempotency(self):
        self.assertStatus(self.node.upload("BX-SUB-1", b"a", name="a.txt"), 201)
        r1 = self.node.submit("BX-SUB-1", key="idem-submit-1")
        self.assertStatus(r1, 200)
        r2 = self.node.submit("BX-SUB-1", key="idem-submit-1")
        self.assertStatus(r2, 200)
        self.assertEqual(r2.json["index"], r1.json["index"])
        self.assertStatus(self.node.upload("BX-SUB-2", b"a", name="a.txt"), 201)
        r3 = self.node.submit("BX-SUB-2", key="idem-submit-1")
        self.assertError(r3, 409, 10409, "idempotency_conflict")
        self.assertEqual(self.node.status("BX-SUB-2").json["state"], "captured")

    # -- listing -------------------------------------------------------------------

    def test_list_pages(self):
        names = ["BX-LIST-%02d" % i for i in range(7)]
        for n in names:
            self.assertStatus(self.node.pool_push({"image_no": n, "org": "ORG-LIST"}), 201)
        got = []
        cursor = None
        pages = 0
        while True:
            q = "org=ORG-LIST&limit=3" + ("&cursor=" + cursor if cursor else "")
            r = self.node.list_bills(q)
            self.assertStatus(r, 200)
            pages += 1
            got += [b["image_no"] for b in r.json["bills"]]
            self.assertLessEqual(len(r.json["bills"]), 3)
            cursor = r.json["next_cursor"]
            if cursor is None:
                break
            self.assertLess(pages, 10)
        self.assertEqual(got, names)
        self.assertEqual(pages, 3)
        for bad in ("limit=0", "limit=1001", "limit=abc"):
            with self.subTest(query=bad):
                self.assertError(self.node.list_bills(bad), 400, 11011, "invalid_query")


if __name__ == "__main__":
    unittest.main()
