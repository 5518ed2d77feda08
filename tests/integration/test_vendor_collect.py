"""The vendor's capture calls on a real node over real HTTP: fileCollect (base64
streamed out of a JSON body) and scanBillSubmit, mixed with the native API.

The access token is a business-system client's (POST /api/v1/clients, then
/api/v1/auth/token), sent as ?access_token= the way the connectors send theirs."""

import base64
import hashlib
import http.server
import json
import os
import threading
import time
import unittest

from imgarc_node import make_jpg, make_pdf, random_bytes, scratch_dir
import test_recognition as recognition
import test_tenants_licenses as licenses


def b64(data):
    return base64.b64encode(data).decode()


class VendorCollectTest(licenses.LicenseTestCase):
    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.node = cls.start_class_node("vendor-collect",
                                        args=["--license-pubkey", cls.key.public])

    def client_token(self, tenant="default"):
        r = self.node.post("/api/v1/clients",
                           body=json.dumps({"tenant": tenant, "name": "erp"}).encode())
        self.assertStatus(r, 201)
        r = self.node.post("/api/v1/auth/token", auth=False,
                           body=json.dumps({"client_id": r.json["client_id"],
                                            "client_secret": r.json["client_secret"]}).encode())
        self.assertStatus(r, 200)
        return r.json["access_token"]

    def setUp(self):
        if not hasattr(type(self), "token"):
            type(self).token = self.client_token()

    def vendor(self, path, body, token=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        return self.node.post("%s?access_token=%s" % (path, token or self.token), body=data,
                              auth=False, headers={"Content-Type": "application/json"})

    def collect(self, data, token=None, **fields):
        body = {"base64": b64(data)}
        body.update(fields)
        return self.vendor("/kapi/app/bds/fileCollect", body, token=token)

    def collected(self, data, **fields):
        r = self.collect(data, **fields)
        self.assertStatus(r, 200, "fileCollect")
        self.assertOk(r)
        d = r.json["data"]
        self.assertTrue(d["srcPath"].startswith("collect/" + d["fileNo"] + "/"), d)
        return d

    def submit(self, image_no, files, token=None, **fields):
        body = {"scanBillNo": image_no, "resource": "REG_SDJ", "fileList": files}
        body.update(fields)
        return self.vendor("/kapi/app/bds/scanBillSubmit", body, token=token)

    def assertOk(self, r):
        self.assertEqual((r.json["success"], r.json["errorCode"]), (True, "0000"), r.json)

    def assertVendorError(self, r, status, code, text=None):
        self.assertEqual(r.status, status, r.body[:500])
        self.assertEqual(r.json["success"], False, r.json)
        self.assertEqual(r.json["errorCode"], str(code), r.json)
        if text is not None:
            self.assertIn(text, r.json["message"])

    def files_of(self, image_no):
        r = self.node.get("/api/v1/bills/%s" % image_no)
        self.assertStatus(r, 200)
        return r.json["files"]

    def content_hash(self, file_id):
        r = self.node.get("/api/v1/files/%s/content" % file_id)
        self.assertStatus(r, 200)
        return hashlib.sha256(r.body).hexdigest()

    # ---------------------------------------------------------------------------

    def test_collect_submit_and_read_natively(self):
        cover = make_pdf(pages=3, seed=71)
        invoice = random_bytes(3 << 20, seed=72)  # several MB: many chunks streamed
        attach = b"\xff\xd8\xff\xe0" + random_bytes(5000, seed=73)
        c = self.collected(cover, fileType="cover", fileSuffix="pdf", scanBillNo="VC-1")
        self.assertEqual((c["format"], c["pages"]), ("pdf", 3))
        i = self.collected(invoice, fileType="invoice", fileSuffix="bin")
        a = self.collected(attach, fileSuffix="jpg")  # fileType defaults to attach
        self.assertEqual(a["format"], "jpg")
        # Not in any bill yet.
        self.assertStatus(self.node.get("/api/v1/bills/VC-1"), 404)
        r = self.submit("VC-1", [{"fileNo": c["fileNo"], "srcPath": c["srcPath"]},
                                 {"srcPath": i["srcPath"]}, {"fileNo": a["fileNo"]}],
                        modelType=1, saveType="add", billType={"number": "BX"})
        self.assertStatus(r, 200)
        self.assertOk(r)
        self.assertEqual(r.json["data"]["state"], "captured")
        files = self.files_of("VC-1")
        self.assertEqual([f["file_id"] for f in files], [c["fileNo"], i["fileNo"], a["fileNo"]])
        self.assertEqual([f["category"] for f in files], ["cover", "invoice", "attachment"])
        for f, data in zip(files, (cover, invoice, attach)):
            self.assertEqual(f["size"], len(data))
            self.assertEqual(self.content_hash(f["file_id"]), hashlib.sha256(data).hexdigest())
        log = self.node.get("/api/v1/bills/VC-1/log").json
        self.assertIn("scanBillSubmit", json.dumps(log))

    def test_an_e_invoice_brings_its_data(self):
        """An XML e-invoice (数电票) collected as fileType invoice: its data is read on the
        upload worker (archive/einvoice.h) and the bill's file carries it."""
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                            "einvoice", "sdp-invoice.xml")
        with open(path, "rb") as f:
            xml = f.read()
        d = self.collected(xml, fileType="invoice", fileSuffix="xml")
        self.assertEqual(d["format"], "xml")
        self.assertEqual((d["invoice"]["number"], d["invoice"]["total"]),
                         ("25312000000000001234", "113.00"))
        plain = self.collected(xml, fileType="attach", fileSuffix="xml")
        self.assertNotIn("invoice", plain)
        r = self.submit("VC-INV", [{"fileNo": d["fileNo"]}, {"fileNo": plain["fileNo"]}],
                        modelType=1)
        self.assertStatus(r, 200)
        files = self.files_of("VC-INV")
        self.assertEqual(files[0]["invoice"]["number"], "25312000000000001234")
        self.assertIsNone(files[1].get("invoice"))

    def test_a_file_is_examined_as_a_native_capture_is(self):
        """fileCollect reads what a file is the way the native upload does (api/probe.c):
        a PDF whose pages the page counter cannot read keeps the byte scan's count (a
        user password leaves the 5 page dictionaries readable) and the node says so in
        its log; the same bytes uploaded natively answer the same format and pages."""
        cases = [("encrypted-user-5.pdf", 5), ("truncated-17.pdf", 1), ("objstm-17.pdf", 17)]
        unread = None
        for name, pages in cases:
            with self.subTest(name=name):
                path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                    "fixtures", "pdf", name)
                with open(path, "rb") as f:
                    data = f.read()
                d = self.collected(data, fileSuffix="pdf")
                self.assertEqual((d["format"], d["pages"]), ("pdf", pages))
                n = self.node.upload("VC-PDF", data, name=name)
                self.assertStatus(n, 201)
                self.assertEqual((n.json["format"], n.json["pages"]), ("pdf", pages))
                if name.startswith("encrypted"):
                    unread = d["fileNo"]
        self.assertIn("file_id=%s: pages=5 from the byte scan, the PDF library cannot read "
                      "the file" % unread, self.node.log_text(whole=True))

    def test_retried_submit_adds_nothing(self):
        d = self.collected(b"retry me", fileSuffix="txt")
        for _ in range(2):
            r = self.submit("VC-R", [{"fileNo": d["fileNo"]}], modelType=1, saveType="add")
            self.assertStatus(r, 200)
        self.assertTrue(r.json["data"]["replayed"])
        self.assertEqual(len(self.files_of("VC-R")), 1)
        # The same file into another bill: refused.
        r = self.submit("VC-R2", [{"fileNo": d["fileNo"]}], modelType=1)
        self.assertVendorError(r, 409, 11007, "joined bill VC-R")

    def test_save_types_and_model_types(self):
        one = self.collected(b"first file", fileSuffix="txt")
        r = self.submit("VC-S", [{"fileNo": one["fileNo"]}], modelType=0)
        self.assertVendorError(r, 404, 11002, "modelType 1")
        self.submit("VC-S", [{"fileNo": one["fileNo"]}], modelType=1)
        # A native capture on the same bill.
        n = self.node.upload("VC-S", b"native file", name="n.txt")
        self.assertStatus(n, 201)
        two = self.collected(b"second file", fileSuffix="txt")
        r = self.submit("VC-S", [{"fileNo": two["fileNo"]}], saveType="add")
        self.assertStatus(r, 200)
        self.assertEqual(len(self.files_of("VC-S")), 3)
        three = self.collected(b"third file", fileSuffix="txt")
        r = self.submit("VC-S", [{"fileNo": three["fileNo"]}], saveType="upload")
        self.assertStatus(r, 200)
        self.assertEqual([f["file_id"] for f in self.files_of("VC-S")], [three["fileNo"]])

    def test_a_held_bill_keeps_its_files(self):
        """saveType upload replaces a bill's files: refused while a legal hold is in
        force (docs/retention.md); saveType add still adds."""
        one = self.collected(b"kept file", fileSuffix="txt")
        self.assertStatus(self.submit("VC-H", [{"fileNo": one["fileNo"]}], modelType=1), 200)
        r = self.node.post("/api/v1/bills/VC-H/holds", body=b'{"reason": "audit"}')
        self.assertStatus(r, 201)
        two = self.collected(b"replacement", fileSuffix="txt")
        r = self.submit("VC-H", [{"fileNo": two["fileNo"]}], saveType="upload")
        self.assertVendorError(r, 409, 11032, "legal hold")
        self.assertEqual([f["file_id"] for f in self.files_of("VC-H")], [one["fileNo"]])
        r = self.submit("VC-H", [{"fileNo": two["fileNo"]}], saveType="add")
        self.assertStatus(r, 200)
        self.assertEqual([f["file_id"] for f in self.files_of("VC-H")],
                         [one["fileNo"], two["fileNo"]])

    def test_submit_erp(self):
        d = self.collected(b"to submit", fileSuffix="txt")
        r = self.submit("VC-E", [{"fileNo": d["fileNo"]}], modelType=1, isSubmitErp=1)
        self.assertStatus(r, 200)
        self.assertIn(r.json["data"]["state"], ("ready", "submitted", "erp_submitted"))
        self.assertNotEqual(self.node.status("VC-E").json["state"], "captured")

    def test_refusals(self):
        r = self.submit("VC-U", [{"fileNo": "f0000000000000000000000000000000"}], modelType=1)
        self.assertVendorError(r, 404, 11003, "no collected file")
        r = self.submit("VC-U", [{"srcPath": "elsewhere/x"}], modelType=1)
        self.assertVendorError(r, 400, 11005)
        r = self.vendor("/kapi/app/bds/fileCollect", {"base64": "abc$"})
        self.assertVendorError(r, 400, 11005, "base64")
        r = self.vendor("/kapi/app/bds/fileCollect", {"base64": ""})
        self.assertVendorError(r, 400, 11012)
        r = self.vendor("/kapi/app/bds/fileCollect", {"fileType": "cover"})
        self.assertVendorError(r, 400, 11005, "base64")
        r = self.vendor("/kapi/app/bds/fileCollect",
                        {"fileDownUrl": "http://127.0.0.1:9/x", "base64": "QUJD"})
        self.assertVendorError(r, 400, 11005, "not both")
        r = self.collect(b"abc", fileType="photo")
        self.assertVendorError(r, 400, 11005, "fileType")
        r = self.collect(b"abc", needRecognition="1")
        self.assertVendorError(r, 409, 11040, "--recognition-url")
        r = self.vendor("/kapi/app/bds/fileCollect", None, raw=b'{"base64": "QUJD"')
        self.assertVendorError(r, 400, 11004)
        r = self.vendor("/kapi/app/bds/fileCollect", {"base64": "QUJD"}, token="nope")
        self.assertEqual(r.status, 401)
        self.assertEqual(r.json["success"], False)

    def test_license_and_quota(self):
        t = self.create_tenant("vc-nolic")
        token = self.client_token("vc-nolic")
        r = self.collect(b"abc", token=token)
        self.assertVendorError(r, 403, 10888, "license")
        self.licensed_tenant("vc-quota", quota=1000)
        token = self.client_token("vc-quota")
        d = self.collected_as(token, random_bytes(900, seed=74))
        r = self.collect(random_bytes(200, seed=75), token=token)
        self.assertVendorError(r, 413, 10890)
        usage = self.node.get("/api/v1/tenants/vc-quota/usage").json
        self.assertEqual((usage["bytes"], usage["files"]), (900, 1))
        self.assertTrue(d["fileNo"])
        del t

    def collected_as(self, token, data):
        r = self.collect(data, token=token)
        self.assertStatus(r, 200)
        return r.json["data"]

    def test_file_down_url(self):
        """fileDownUrl: downloaded by the node from a server --outbound-allow permits
        (the default test rule allows 127.0.0.1, not the node's own ports), following
        at most 3 redirects, each one checked; refused addresses name the rule."""
        data = make_pdf(pages=2, seed=77) + random_bytes(600000, seed=78)
        server = FileServer(data)
        self.addCleanup(server.close)
        r = self.vendor("/kapi/app/bds/fileCollect",
                        {"fileDownUrl": server.url("/file.pdf"), "fileSuffix": "pdf",
                         "fileType": "invoice"})
        self.assertStatus(r, 200)
        d = r.json["data"]
        self.assertEqual((d["size"], d["format"], d["pages"]), (len(data), "pdf", 2))
        r = self.vendor("/kapi/app/bds/fileCollect", {"fileDownUrl": server.url("/redirect/2")})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["data"]["size"], len(data))
        r = self.submit("VC-DL", [{"fileNo": d["fileNo"]}], modelType=1)
        self.assertStatus(r, 200)
        f = self.files_of("VC-DL")[0]
        self.assertEqual(self.content_hash(f["file_id"]), hashlib.sha256(data).hexdigest())
        refused = [
            ("http://127.0.0.2:%d/file.pdf" % server.port, "--outbound-allow"),
            ("http://127.0.0.1:%d/api/v1/version" % self.node.http_port, "--outbound-allow"),
            ("http://10.1.2.3/x", "--outbound-allow"),
            (server.url("/away"), "--outbound-allow"),  # a redirect to a refused address
            (server.url("/redirect/5"), "more than 3 redirects"),
            (server.url("/missing"), "HTTP 404"),
            ("ftp://127.0.0.1/x", "fileDownUrl"),
        ]
        for url, why in refused:
            with self.subTest(url=url):
                r = self.vendor("/kapi/app/bds/fileCollect", {"fileDownUrl": url})
                self.assertVendorError(r, 400, 11005, why)

    def test_large_body_streams_in_bounded_memory(self):
        """A 200 MB base64 body: the node's resident memory grows by a small fraction of
        it (the body is never held whole)."""
        size = int(os.environ.get("IMGARC_COLLECT_BIG_MB", "150")) << 20
        raw = random_bytes(1 << 20, seed=76) * (size >> 20)
        body = b'{"fileSuffix": "bin", "base64": "' + base64.b64encode(raw) + b'"}'
        before = rss_kb(self.node.pid)
        hwm_before = rss_kb(self.node.pid, "VmHWM:")
        peak = [before]
        import threading
        done = threading.Event()

        def watch():
            while not done.is_set():
                peak[0] = max(peak[0], rss_kb(self.node.pid))
                time.sleep(0.05)
        w = threading.Thread(target=watch)
        w.start()
        try:
            r = self.node.post("/kapi/app/bds/fileCollect?access_token=" + self.token,
                               body=body, auth=False, timeout=600)
        finally:
            done.set()
            w.join()
        self.assertStatus(r, 200)
        self.assertEqual(r.json["data"]["size"], len(raw))
        grew = (peak[0] - before) * 1024
        hwm = rss_kb(self.node.pid, "VmHWM:")
        print("\nfileCollect of a %d MB base64 body: node RSS before %d MB, sampled peak %d MB "
              "(grew %.1f MB); the process's high-water mark %d MB"
              % (len(body) >> 20, before >> 10, peak[0] >> 10, grew / 2 ** 20, hwm >> 10))
        self.assertLess(grew, 64 << 20, "the node held the body")
        self.assertLess((hwm - hwm_before) << 10, 64 << 20,
                        "the node's peak memory grew with the body")
        r = self.submit("VC-BIG", [{"fileNo": r.json["data"]["fileNo"]}], modelType=1)
        self.assertStatus(r, 200)
        f = self.files_of("VC-BIG")[0]
        self.assertEqual(self.content_hash(f["file_id"]), hashlib.sha256(raw).hexdigest())


class FileServer:
    """A loopback HTTP server: /file.pdf the data, /redirect/N N redirects to it,
    /away a redirect to a refused address, anything else 404."""

    def __init__(self, data):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/file.pdf":
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path.startswith("/redirect/"):
                    n = int(self.path.rsplit("/", 1)[1])
                    self.send_response(302)
                    self.send_header("Location", "/redirect/%d" % (n - 1) if n > 1
                                     else outer.url("/file.pdf"))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/away":
                    self.send_response(302)
                    self.send_header("Location", "http://127.0.0.2:%d/file.pdf" % outer.port)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class CollectCleanupTest(VendorCollectTest):
    """--collect-keep-s: files collected and never submitted are forgotten by the
    leader's cleanup, their usage given back; submitted ones stay in their bill."""

    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.node = cls.start_class_node("vendor-collect-cleanup",
                                        args=["--license-pubkey", cls.key.public,
                                              "--collect-keep-s", "2"])

    def usage(self):
        u = self.node.get("/api/v1/tenants/default/usage").json
        return u["bytes"], u["files"]

    def test_unsubmitted_files_are_cleaned_up(self):
        before = self.usage()
        kept = self.collected(b"submitted in time", fileSuffix="txt")
        r = self.submit("VC-GC", [{"fileNo": kept["fileNo"]}], modelType=1)
        self.assertStatus(r, 200)
        lost = self.collected(b"never submitted", fileSuffix="txt")
        self.assertEqual(self.usage(), (before[0] + 32, before[1] + 2))
        deadline = time.time() + 30
        while time.time() < deadline and self.usage() != (before[0] + 17, before[1] + 1):
            time.sleep(0.2)
        self.assertEqual(self.usage(), (before[0] + 17, before[1] + 1))
        r = self.submit("VC-GC", [{"fileNo": lost["fileNo"]}])
        self.assertVendorError(r, 404, 11003, "cleaned up")
        self.assertEqual([f["file_id"] for f in self.files_of("VC-GC")], [kept["fileNo"]])
        self.assertIn("collected files older than 2 s", self.node.log_text())

    # The other cases run on the first node only.
    test_collect_submit_and_read_natively = None
    test_retried_submit_adds_nothing = None
    test_save_types_and_model_types = None
    test_submit_erp = None
    test_refusals = None
    test_license_and_quota = None
    test_large_body_streams_in_bounded_memory = None
    test_file_down_url = None
    test_an_e_invoice_brings_its_data = None
    test_a_file_is_examined_as_a_native_capture_is = None


class CollectRecognitionTest(VendorCollectTest):
    """needRecognition "1" on a node with a recognition service (--recognition-url):
    the collected invoice image is sent to it once it joins its bill, and the answer
    fills its invoice data; a cover cannot ask for it."""

    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.service = recognition.Service()
        cls.addClassCleanup(cls.service.stop)
        d = scratch_dir("collect-recognition-secret")
        path = os.path.join(d, "secret")
        with open(path, "w") as f:
            f.write(recognition.SECRET + "\n")
        os.chmod(path, 0o600)
        cls.node = cls.start_class_node("vendor-collect-recognition", args=[
            "--license-pubkey", cls.key.public, "--recognition-url", cls.service.url,
            "--recognition-secret-file", path, "--recognition-retry-ms", "200",
            "--recognition-retry-max-ms", "400"])

    def test_need_recognition(self):
        scan = make_jpg(30000, seed=79)
        d = self.collected(scan, needRecognition="1", fileSuffix="jpg")
        self.assertEqual(d["fileType"], "invoice")  # asked to be read: an invoice
        r = self.collect(scan, needRecognition="1", fileType="cover")
        self.assertVendorError(r, 400, 11011, "recognition reads invoices")
        r = self.submit("VC-REC", [{"fileNo": d["fileNo"]}], modelType=1)
        self.assertStatus(r, 200)
        deadline = time.time() + 30
        while time.time() < deadline:
            f = self.files_of("VC-REC")[0]
            if f["recognition"] is not None and f["recognition"]["state"] != "pending":
                break
            time.sleep(0.1)
        self.assertEqual(f["recognition"]["state"], "done", f)
        self.assertEqual(f["invoice"]["number"], recognition.ANSWER["invoice"]["number"])
        sent = self.service.requests_for("VC-REC")
        self.assertEqual(hashlib.sha256(sent[0]["body"]).hexdigest(),
                         hashlib.sha256(scan).hexdigest())

    test_collect_submit_and_read_natively = None
    test_retried_submit_adds_nothing = None
    test_save_types_and_model_types = None
    test_submit_erp = None
    test_refusals = None
    test_license_and_quota = None
    test_large_body_streams_in_bounded_memory = None
    test_file_down_url = None
    test_an_e_invoice_brings_its_data = None
    test_a_file_is_examined_as_a_native_capture_is = None


def rss_kb(pid, field="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


if __name__ == "__main__":
    unittest.main()
