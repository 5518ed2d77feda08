"""Resumable uploads (tus 1.0, docs/uploads.md) against a real node: an upload sent in
pieces and captured, resumed after a kill -9 and after a PATCH that broke off, the
protocol's refusals, a capture refused at the end and tried again, cancellation, expiry,
and one upload owned by one request at a time."""

import base64
import glob
import json
import os
import socket
import time
import unittest

import threading

from imgarc_node import (NodeTestCase, blake2b_hex, build_request, cli_json, make_pdf, quote,
                         random_bytes, run_cli)

TUS = {"Tus-Resumable": "1.0.0"}
PATCH_TYPE = "application/offset+octet-stream"


def metadata(**kv):
    return ",".join("%s %s" % (k, base64.b64encode(v.encode()).decode())
                    for k, v in kv.items())


class UploadClient:
    """A tus client over the harness's requests."""

    def __init__(self, test, node):
        self.test = test
        self.node = node

    def create(self, image_no, length, meta=None, query="", headers=None, **kw):
        hs = dict(TUS)
        hs["Upload-Length"] = str(length)
        if meta is not None:
            hs["Upload-Metadata"] = meta
        hs.update(headers or {})
        path = "/api/v1/bills/%s/uploads%s" % (quote(image_no), query)
        return self.node.request("POST", path, body=b"", headers=hs, **kw)

    def created(self, image_no, length, **kw):
        r = self.create(image_no, length, **kw)
        self.test.assertStatus(r, 201)
        where = r.header("location")
        self.test.assertEqual(where, "/api/v1/uploads/" + r.json["upload_id"])
        self.test.assertEqual(r.header("upload-offset"), "0")
        self.test.assertEqual(r.json["state"], "receiving")
        return where

    def patch(self, where, offset, data, headers=None, **kw):
        hs = dict(TUS)
        hs["Upload-Offset"] = str(offset)
        hs["Content-Type"] = PATCH_TYPE
        hs.update(headers or {})
        return self.node.request("PATCH", where, body=data, headers=hs, **kw)

    def head(self, where, **kw):
        return self.node.request("HEAD", where, headers=dict(TUS), **kw)

    def offset(self, where):
        r = self.head(where)
        self.test.assertStatus(r, 200)
        self.test.assertEqual(r.header("cache-control"), "no-store")
        return int(r.header("upload-offset"))

    def send(self, where, data, start=0, piece=256 * 1024):
        """PATCHes @data[start:] in pieces; the last answer."""
        off = start
        r = None
        while off < len(data):
            chunk = data[off:off + piece]
            r = self.patch(where, off, chunk)
            self.test.assertStatus(r, 204)
            off += len(chunk)
            self.test.assertEqual(int(r.header("upload-offset")), off)
        return r


class UploadTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("uploads", args=["--body-max", str(64 << 20)])

    def setUp(self):
        super().setUp()
        self.tus = UploadClient(self, self.node)

    def file_of(self, image_no, file_id):
        files = self.node.bill(image_no).json["files"]
        return [f for f in files if f["file_id"] == file_id][0]

    def assertCaptured(self, last, image_no, data, name):
        """The last PATCH captured the file: its id, the bill, the bytes."""
        file_id = last.header("imgarc-file-id")
        self.assertTrue(file_id, "no Imgarc-File-Id on %r" % last)
        f = self.file_of(image_no, file_id)
        self.assertEqual(f["name"], name)
        self.assertEqual(f["size"], len(data))
        got = self.node.content(file_id)
        self.assertStatus(got, 200)
        self.assertEqual(blake2b_hex(got.body), blake2b_hex(data))
        return file_id

    def upload_files(self):
        return sorted(os.path.basename(p)
                      for p in glob.glob(os.path.join(self.node.data, "uploads", "*")))

    def test_options(self):
        r = self.node.request("OPTIONS", "/api/v1/uploads", auth=False)
        self.assertStatus(r, 204)
        self.assertEqual(r.header("tus-version"), "1.0.0")
        self.assertEqual(r.header("tus-resumable"), "1.0.0")
        self.assertEqual(r.header("tus-extension"), "creation,termination,expiration")
        self.assertEqual(r.header("tus-max-size"), str(64 << 20))

    def test_upload_in_pieces(self):
        data = make_pdf(pages=3) + random_bytes(700 * 1024, seed=41)
        where = self.tus.created("BX-TUS-1", len(data),
                                 meta=metadata(filename="scan one.pdf", filetype="x"),
                                 query="?category=invoice")
        self.assertEqual(self.tus.offset(where), 0)
        last = self.tus.send(where, data, piece=300 * 1024)
        file_id = self.assertCaptured(last, "BX-TUS-1", data, "scan one.pdf")
        f = self.file_of("BX-TUS-1", file_id)
        self.assertEqual(f["category"], "invoice")
        self.assertEqual(f["format"], "pdf")
        # Where it stands, afterwards: complete and captured, with the capture's answer.
        self.assertEqual(self.tus.offset(where), len(data))
        r = self.node.get(where)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "captured")
        self.assertEqual(r.json["file"]["file_id"], file_id)
        self.assertEqual(r.json["file"]["blob"], blake2b_hex(data))
        # An empty PATCH at the end says it again; more bytes are refused.
        r = self.tus.patch(where, len(data), b"")
        self.assertStatus(r, 204)
        self.assertEqual(r.header("imgarc-file-id"), file_id)
        r = self.tus.patch(where, len(data), b"x")
        self.assertEqual(r.status, 413)
        # The staged bytes are gone once captured; the record stays until expiry.
        upload_id = where.rsplit("/", 1)[1]
        self.assertEqual([p for p in self.upload_files() if p.startswith(upload_id)],
                         [upload_id + ".json"])
        self.assertEqual(len(self.node.bill("BX-TUS-1").json["files"]), 1)

    def test_name_from_query_and_default(self):
        data = random_bytes(5000, seed=42)
        where = self.tus.created("BX-TUS-2", len(data), meta=metadata(filename="meta.bin"),
                                 query="?name=" + quote("query.bin"))
        self.assertCaptured(self.tus.send(where, data), "BX-TUS-2", data, "query.bin")
        where = self.tus.created("BX-TUS-2", len(data))
        last = self.tus.send(where, data)
        file_id = last.header("imgarc-file-id")
        self.assertEqual(self.file_of("BX-TUS-2", file_id)["name"], file_id + ".bin")

    def test_resume_after_kill9(self):
        data = random_bytes(3 * 1024 * 1024 + 17, seed=43)
        where = self.tus.created("BX-TUS-3", len(data), meta=metadata(filename="big.bin"))
        half = len(data) // 2
        self.tus.send(where, data[:half], piece=1 << 20)
        self.node.kill9()
        self.node.start()
        # Every acknowledged byte is there after the crash.
        self.assertEqual(self.tus.offset(where), half)
        last = self.tus.send(where, data, start=half, piece=1 << 20)
        self.assertCaptured(last, "BX-TUS-3", data, "big.bin")

    def test_broken_patch_keeps_what_arrived(self):
        data = random_bytes(4 * 1024 * 1024, seed=44)
        where = self.tus.created("BX-TUS-4", len(data), meta=metadata(filename="cut.bin"))
        sent = 1536 * 1024
        head = build_request("PATCH", where, headers=dict(
            TUS, **{"Upload-Offset": "0", "Content-Type": PATCH_TYPE,
                    "Content-Length": str(len(data))}, **self.node.auth_headers()))
        with self.node.socket() as s:
            s.sendall(head + data[:sent])
            time.sleep(0.5)
        # The node notices the broken body, syncs what it wrote and counts it; until
        # then HEAD reports the durable offset, 0, and a PATCH is refused 423.
        deadline = time.time() + 10
        off = 0
        while time.time() < deadline and off == 0:
            r = self.tus.patch(where, 0, data[:10])
            if r.status == 423:
                time.sleep(0.1)
                continue
            self.assertError(r, 409, 11071, "upload_offset_mismatch")
            off = self.tus.offset(where)
            self.assertEqual(int(r.header("upload-offset")), off)
        self.assertTrue(0 <= off <= sent, off)
        self.assertGreater(off, 0, "nothing of the %d bytes sent was kept" % sent)
        last = self.tus.send(where, data, start=off, piece=1 << 20)
        self.assertCaptured(last, "BX-TUS-4", data, "cut.bin")

    def test_one_request_at_a_time(self):
        data = random_bytes(600 * 1024, seed=45)
        where = self.tus.created("BX-TUS-5", len(data))
        head = build_request("PATCH", where, headers=dict(
            TUS, **{"Upload-Offset": "0", "Content-Type": PATCH_TYPE,
                    "Content-Length": str(len(data))}, **self.node.auth_headers()))
        s = self.node.socket()
        try:
            s.sendall(head + data[:1000])
            time.sleep(0.3)
            r = self.tus.patch(where, 0, data)
            self.assertError(r, 423, 11072, "upload_busy")
            self.assertEqual(r.header("retry-after"), "1")
            r = self.node.request("DELETE", where, headers=dict(TUS))
            self.assertError(r, 423, 11072, "upload_busy")
            s.sendall(data[1000:])
            from imgarc_node import ResponseReader
            answer = ResponseReader(s).read("PATCH")
            self.assertEqual(answer.status, 204)
        finally:
            s.close()
        r = self.tus.patch(where, len(data), b"")
        self.assertStatus(r, 204)
        self.assertTrue(r.header("imgarc-file-id"))

    def test_protocol_refusals(self):
        data = random_bytes(1000, seed=46)
        where = self.tus.created("BX-TUS-6", len(data))
        # The version.
        r = self.node.request("PATCH", where, body=data,
                              headers={"Upload-Offset": "0", "Content-Type": PATCH_TYPE})
        self.assertError(r, 412, 11075, "tus_version")
        self.assertEqual(r.header("tus-version"), "1.0.0")
        r = self.tus.create("BX-TUS-6", 10, headers={"Tus-Resumable": "0.2.2"})
        self.assertError(r, 412, 11075, "tus_version")
        # The body's type, the offset.
        r = self.tus.patch(where, 0, data, headers={"Content-Type": "application/pdf"})
        self.assertError(r, 415, 10415, "unsupported_media_type")
        r = self.tus.patch(where, 0, data, headers={"Upload-Offset": "-1"})
        self.assertError(r, 400, 10400, "bad_request")
        r = self.tus.patch(where, 10, data[10:])
        self.assertError(r, 409, 11071, "upload_offset_mismatch")
        self.assertEqual(r.header("upload-offset"), "0")
        r = self.tus.patch(where, 0, data + b"more")
        self.assertError(r, 413, 10413, "body_too_large")
        self.assertEqual(self.tus.offset(where), 0)
        # The creation's headers.
        r = self.tus.create("BX-TUS-6", 0)
        self.assertError(r, 400, 10400, "bad_request")
        r = self.node.request("POST", "/api/v1/bills/BX-TUS-6/uploads", body=b"",
                              headers=dict(TUS))
        self.assertError(r, 400, 10400, "bad_request")
        self.assertIn("Upload-Length", r.json["message"])
        r = self.tus.create("BX-TUS-6", 10, headers={"Upload-Length": "1e3"})
        self.assertError(r, 400, 10400, "bad_request")
        r = self.tus.create("BX-TUS-6", 10, headers={"Upload-Defer-Length": "1"})
        self.assertError(r, 400, 10400, "bad_request")
        r = self.tus.create("BX-TUS-6", (64 << 20) + 1)
        self.assertError(r, 413, 10413, "body_too_large")
        for meta in ("filename not-base64!", "a YQ==,a YQ==", ",", "a YQ==,",
                     "filename " + base64.b64encode(b"x" * 300).decode(),
                     "filename " + base64.b64encode(b"a/b").decode()):
            with self.subTest(meta=meta):
                r = self.tus.create("BX-TUS-6", 10, meta=meta)
                self.assertEqual(r.status, 400, r)
        r = self.tus.create("bad image no", 10)
        self.assertError(r, 400, 11001, "invalid_image_no")
        r = self.tus.create("BX-TUS-6", 10, query="?category=" + quote("no such"))
        self.assertError(r, 400, 11009, "invalid_category")
        r = self.tus.create("BX-TUS-6", 10, query="?after=" + quote("a b"))
        self.assertError(r, 400, 11011, "invalid_query")
        r = self.node.request("POST", "/api/v1/bills/BX-TUS-6/uploads", body=b"abc",
                              headers=dict(TUS, **{"Upload-Length": "3"}))
        self.assertError(r, 400, 10400, "bad_request")
        # Ids: unknown here, another node's, not an id.
        upload_id = where.rsplit("/", 1)[1]
        other = "%016x" % (int(upload_id[:16], 16) ^ 1) + upload_id[16:]
        r = self.tus.head("/api/v1/uploads/" + upload_id[:16] + "0" * 16)
        self.assertEqual(r.status, 404)
        r = self.node.get("/api/v1/uploads/" + other, headers=dict(TUS))
        self.assertError(r, 421, 11073, "upload_elsewhere")
        self.assertIn(str(int(other[:16], 16)), r.json["message"])
        r = self.node.get("/api/v1/uploads/nope", headers=dict(TUS))
        self.assertError(r, 404, 11070, "upload_not_found")
        # None of it moved the upload.
        self.assertEqual(self.tus.offset(where), 0)
        self.assertCaptured(self.tus.send(where, data), "BX-TUS-6", data,
                            self.tus.node.get(where).json["file"]["file_id"] + ".bin")

    def test_another_caller_does_not_see_it(self):
        data = random_bytes(1000, seed=47)
        where = self.tus.created("BX-TUS-7", len(data))
        r = self.node.post("/api/v1/clients",
                           body=json.dumps({"tenant": "default", "name": "scan"}).encode())
        self.assertStatus(r, 201)
        r = self.node.post("/api/v1/auth/token", auth=False,
                           body=json.dumps({"client_id": r.json["client_id"],
                                            "client_secret": r.json["client_secret"]}).encode())
        self.assertStatus(r, 200)
        client = "Bearer " + r.json["access_token"]
        r = self.node.request("HEAD", where, headers=dict(TUS), auth=client)
        self.assertEqual(r.status, 404)
        r = self.node.request("PATCH", where, body=data, auth=client,
                              headers=dict(TUS, **{"Upload-Offset": "0",
                                                   "Content-Type": PATCH_TYPE}))
        self.assertError(r, 404, 11070, "upload_not_found")
        r = self.node.request("HEAD", where, headers=dict(TUS), auth=False)
        self.assertEqual(r.status, 401)
        self.assertEqual(self.tus.offset(where), 0)

    def test_refused_capture_is_tried_again_then_cancelled(self):
        data = random_bytes(2000, seed=48)
        self.assertStatus(self.node.upload("BX-TUS-8", data[:100], name="first.bin"), 201)
        where = self.tus.created("BX-TUS-8", len(data), query="?replace=NOSUCHFILE")
        r = self.tus.patch(where, 0, data)
        self.assertError(r, 404, 11003, "file_not_found")
        # Every byte stays: the capture can be tried again without sending them.
        self.assertEqual(self.tus.offset(where), len(data))
        r = self.node.get(where)
        self.assertEqual(r.json["state"], "complete")
        self.assertIsNone(r.json["file"])
        r = self.tus.patch(where, len(data), b"")
        self.assertError(r, 404, 11003, "file_not_found")
        # Cancelled: gone, with its files.
        upload_id = where.rsplit("/", 1)[1]
        r = self.node.request("DELETE", where, headers=dict(TUS))
        self.assertStatus(r, 204)
        self.assertEqual(self.tus.head(where).status, 404)
        self.assertEqual([p for p in self.upload_files() if p.startswith(upload_id)], [])

    def test_metrics(self):
        before = self.node.metrics()
        data = random_bytes(4000, seed=49)
        where = self.tus.created("BX-TUS-9", len(data))
        self.tus.patch(where, 0, data[:1500])
        after = self.node.metrics()
        self.assertEqual(after["imgarc_uploads_open"], before["imgarc_uploads_open"] + 1)
        self.assertEqual(after["imgarc_upload_staged_bytes"],
                         before["imgarc_upload_staged_bytes"] + 1500)
        self.tus.send(where, data, start=1500)
        self.assertEqual(self.node.metrics()["imgarc_uploads_open"],
                         before["imgarc_uploads_open"])


class CliResumableTest(NodeTestCase):
    """`imgarc upload --resumable` against a real node."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("uploads-cli", args=["--log-level", "debug"])

    def write(self, name, data):
        path = os.path.join(self.scratch("cli-upload"), name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def assertContent(self, answer, image_no, data, name):
        self.assertEqual(answer["image_no"], image_no)
        self.assertEqual(answer["blob"], blake2b_hex(data))
        self.assertEqual(answer["size"], len(data))
        files = self.node.bill(image_no).json["files"]
        f = [x for x in files if x["file_id"] == answer["file_id"]][0]
        self.assertEqual(f["name"], name)
        got = self.node.content(answer["file_id"])
        self.assertEqual(blake2b_hex(got.body), blake2b_hex(data))

    def test_pieces(self):
        data = random_bytes(300 * 1024 + 5, seed=60)
        path = self.write("pieces.bin", data)
        before = len(self.node.log_text(whole=True))
        p = run_cli(self.node, "upload", "BX-CLI-TUS-1", path, "--resumable", "--piece-size",
                    "64K", "--category", "attachment", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        answer = cli_json(p)
        self.assertContent(answer, "BX-CLI-TUS-1", data, "pieces.bin")
        self.assertEqual(answer["category"], "attachment")
        # Five PATCHes of 64 KiB: the node's log has one 204 per piece.
        patches = [l for l in self.node.log_text(whole=True)[before:].splitlines()
                   if "PATCH /api/v1/uploads/" in l and "status=204" in l]
        self.assertEqual(len(patches), 5, patches)

    def test_survives_a_node_restart(self):
        data = random_bytes(24 * 1024 * 1024 + 3, seed=61)
        path = self.write("restart.bin", data)
        result = {}

        def upload():
            result["p"] = run_cli(self.node, "upload", "BX-CLI-TUS-2", path, "--resumable",
                                  "--piece-size", "1M", "--json", timeout=300)

        t = threading.Thread(target=upload)
        t.start()
        # Once a few pieces are on the node, it dies and comes back.
        deadline = time.time() + 60
        staged = 0
        while time.time() < deadline and staged < 3 * 1024 * 1024:
            sizes = [os.path.getsize(p) for p in
                     glob.glob(os.path.join(self.node.data, "uploads", "*.data"))]
            staged = max(sizes or [0])
            time.sleep(0.02)
        self.assertGreaterEqual(staged, 3 * 1024 * 1024, "the upload did not start")
        self.node.kill9()
        time.sleep(1)
        self.node.start()
        t.join(300)
        p = result["p"]
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("trying again", p.stderr)
        self.assertContent(cli_json(p), "BX-CLI-TUS-2", data, "restart.bin")

    def test_continue_an_upload(self):
        data = random_bytes(200 * 1024, seed=62)
        path = self.write("later.bin", data)
        tus = UploadClient(self, self.node)
        where = tus.created("BX-CLI-TUS-3", len(data), query="?name=later.bin")
        self.assertStatus(tus.patch(where, 0, data[:70000]), 204)
        upload_id = where.rsplit("/", 1)[1]
        p = run_cli(self.node, "upload", "BX-CLI-TUS-3", path, "--resumable", "--upload-id",
                    upload_id, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertContent(cli_json(p), "BX-CLI-TUS-3", data, "later.bin")

    def test_refused_capture_says_how_to_continue(self):
        data = random_bytes(1000, seed=63)
        path = self.write("r.bin", data)
        self.assertStatus(self.node.upload("BX-CLI-TUS-4", data[:10], name="first.bin"), 201)
        p = run_cli(self.node, "upload", "BX-CLI-TUS-4", path, "--resumable", "--replace",
                    "NOSUCHFILE")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("file_not_found", p.stderr)
        self.assertIn("--resumable --upload-id ", p.stderr)

    def test_usage(self):
        path = self.write("u.bin", b"x")
        for args in (["--upload-id", "ab"], ["--piece-size", "1M"],
                     ["--resumable", "--idempotency-key", "k"],
                     ["--resumable", "--piece-size", "10"],
                     ["--resumable", "--upload-id", "not-hex"],
                     ["--resumable", "--retries", "x"]):
            with self.subTest(args=args):
                p = run_cli(self.node, "upload", "BX-CLI-TUS-5", path, *args)
                self.assertEqual(p.returncode, 2, p.stderr)


class UploadExpiryTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("uploads-expiry", args=["--upload-expiry-s", "2"])

    def test_expired_upload_is_removed(self):
        tus = UploadClient(self, self.node)
        data = random_bytes(3000, seed=50)
        where = tus.created("BX-TUS-EXP", len(data))
        r = tus.patch(where, 0, data[:1000])
        self.assertStatus(r, 204)
        upload_id = where.rsplit("/", 1)[1]
        files = os.path.join(self.node.data, "uploads", upload_id)
        self.assertTrue(os.path.exists(files + ".data"))
        deadline = time.time() + 15
        while time.time() < deadline and os.path.exists(files + ".json"):
            time.sleep(0.2)
        self.assertFalse(os.path.exists(files + ".json"))
        self.assertFalse(os.path.exists(files + ".data"))
        self.assertEqual(tus.head(where).status, 404)
        r = tus.patch(where, 1000, data[1000:])
        self.assertError(r, 404, 11070, "upload_not_found")
        self.assertIn("expired", self.node.log_text(whole=True))


if __name__ == "__main__":
    unittest.main()
