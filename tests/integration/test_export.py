"""imgarc export and export-verify: bills, their files, audit logs and a manifest with
BLAKE2b-256 and SHA-256 hashes as one zip, read back byte for byte; the verifier
accepts it and finds every kind of tampering; filters, refusals and no leftovers."""

import csv
import hashlib
import io
import json
import os
import zipfile

from imgarc_node import NodeTestCase, blake2b_hex, make_jpg, make_pdf, run_cli


class ExportTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("export")
        cls.content = {}
        for no, bill_no, files in (
                ("BX-EXP-1", "ER-EXP-1", [("cover.pdf", make_pdf(pages=2, seed=1)),
                                          ('scan, "one".jpg', make_jpg(n=3000, seed=2)),
                                          ("发票.pdf", make_pdf(pages=1, seed=3))]),
                ("BX-EXP-2", "ER-EXP-2", [("b.pdf", make_pdf(pages=3, seed=4))])):
            r = cls.node.pool_push({"image_no": no, "bill_no": bill_no, "amount": "3.00"})
            assert r.status == 201, r
            for name, data in files:
                r = cls.node.upload(no, data, name=name)
                assert r.status == 201, r
                cls.content[r.json["file_id"]] = (no, name, data)

    def setUp(self):
        self.dir = self.scratch("export")

    def export(self, *args):
        return run_cli(self.node, "export", *args)

    def verify(self, path, *args):
        return run_cli(self.node, "export-verify", path, *args)

    def test_export_holds_every_byte_and_verifies(self):
        out = os.path.join(self.dir, "two.zip")
        p = self.export("BX-EXP-1", "BX-EXP-2", "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("exported 2 bills, 4 files", p.stdout)
        self.assertEqual(sorted(os.listdir(self.dir)), ["two.zip"], "temp files left")
        with zipfile.ZipFile(out) as z:
            self.assertIsNone(z.testzip())
            m = json.loads(z.read("manifest.json"))
            self.assertEqual(m["format"], "imgarc-export/1")
            self.assertEqual((m["bills_total"], m["files_total"]), (2, 4))
            self.assertEqual([b["image_no"] for b in m["bills"]], ["BX-EXP-1", "BX-EXP-2"])
            seen = set()
            for b in m["bills"]:
                bill = json.loads(z.read(b["bill"]))
                self.assertEqual(bill, self.node.bill(b["image_no"]).json)
                log = json.loads(z.read(b["log"]))
                self.assertEqual(log["entries"], self.node.get(
                    "/api/v1/bills/%s/log" % b["image_no"]).json["entries"])
                self.assertEqual(b["log_entries"], len(log["entries"]))
                for pos, f in enumerate(b["files"], 1):
                    no, name, data = self.content[f["file_id"]]
                    self.assertEqual((no, name, pos), (b["image_no"], f["name"], f["position"]))
                    got = z.read(f["path"])
                    self.assertEqual(got, data, f["path"])
                    self.assertEqual(f["size"], len(data))
                    self.assertEqual(f["sha256"], hashlib.sha256(data).hexdigest())
                    self.assertEqual(f["blake2b_256"], blake2b_hex(data))
                    self.assertTrue(f["path"].startswith("%s/files/%03d-%s-" % (no, pos,
                                                                                 f["file_id"])))
                    seen.add(f["file_id"])
            self.assertEqual(seen, set(self.content))
            # The CSV says the same as the JSON, quoting included.
            rows = list(csv.DictReader(io.StringIO(z.read("manifest.csv").decode())))
            files = [dict(f, image_no=b["image_no"]) for b in m["bills"] for f in b["files"]]
            self.assertEqual(len(rows), len(files))
            for row, f in zip(rows, files):
                for k in ("image_no", "file_id", "name", "category", "blake2b_256",
                          "sha256", "path"):
                    self.assertEqual(row[k], f[k])
                self.assertEqual(int(row["size"]), f["size"])
        p = self.verify(out)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("valid: 2 bills, 4 files", p.stdout)
        p = self.verify(out, "--json")
        self.assertEqual(json.loads(p.stdout)["valid"], True)

    def rewrite(self, src, dst, change=None, drop=None, add=None):
        with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
            for info in a.infolist():
                if info.filename == drop:
                    continue
                data = a.read(info.filename)
                if change is not None and change[0] in info.filename:
                    data = change[1](data)
                b.writestr(info, data)
            if add is not None:
                b.writestr(add, b"x")

    def test_tampering_is_found(self):
        out = os.path.join(self.dir, "one.zip")
        self.assertEqual(self.export("BX-EXP-1", "-o", out).returncode, 0)
        with zipfile.ZipFile(out) as z:
            m = json.loads(z.read("manifest.json"))
        target = m["bills"][0]["files"][0]["path"]

        def flip(d):
            d = bytearray(d)
            d[len(d) // 2] ^= 1
            return bytes(d)
        cases = (
            ("a flipped bit", dict(change=(target, flip)), [target, "SHA-256", "BLAKE2b-256"]),
            ("a file removed", dict(drop=target), [target, "not in the zip"]),
            ("an entry added", dict(add="BX-EXP-1/files/999-extra"), ["999-extra",
                                                                      "not in the manifest"]),
            ("the CSV changed", dict(change=("manifest.csv", lambda d: d.replace(b"cover",
                                                                                b"coven"))),
             ["manifest.csv"]),
            ("the log cut", dict(change=("log.json", lambda d: json.dumps(
                dict(json.loads(d), entries=[])).encode())), ["log.json"]),
        )
        for what, how, needles in cases:
            with self.subTest(what):
                bad = os.path.join(self.dir, "bad.zip")
                self.rewrite(out, bad, **how)
                p = self.verify(bad)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("not valid", p.stdout)
                for n in needles:
                    self.assertIn(n, p.stderr)
                self.assertEqual(json.loads(self.verify(bad, "--json").stdout)["valid"], False)
        junk = os.path.join(self.dir, "junk.zip")
        with open(junk, "wb") as f:
            f.write(b"not a zip at all")
        p = self.verify(junk)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("cannot open", p.stderr)

    def test_filters_and_refusals(self):
        out = os.path.join(self.dir, "f.zip")
        p = self.export("--bill-no", "ER-EXP-2", "-o", out)
        self.assertEqual(p.returncode, 0, p.stderr)
        with zipfile.ZipFile(out) as z:
            self.assertEqual([b["image_no"] for b in json.loads(z.read("manifest.json"))["bills"]],
                             ["BX-EXP-2"])
        self.assertEqual(self.verify(out).returncode, 0)
        p = self.export("--all", "-o", os.path.join(self.dir, "all.zip"))
        self.assertEqual(p.returncode, 0, p.stderr)
        # Nothing matching, an unknown bill: exit 1 and nothing left behind.
        for args in (("--bill-no", "ER-NONE"), ("BX-EXP-1", "BX-NONE")):
            with self.subTest(args=args):
                before = sorted(os.listdir(self.dir))
                p = self.export(*args, "-o", os.path.join(self.dir, "none.zip"))
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertEqual(sorted(os.listdir(self.dir)), before)
        for args, needle in ((("BX-EXP-1",), "-o FILE.zip is required"),
                             (("-o", "x.zip"), "name the bills"),
                             (("BX-EXP-1", "--all", "-o", "x.zip"), "not both"),
                             (("BX-EXP-1", "-o", self.dir), "must name a file"),
                             (("BX-EXP-1", "-o", "d/" * 2100 + "x.zip"), "path is too long")):
            with self.subTest(args=args):
                p = self.export(*args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)
