"""Protocol and validation errors: every refusal is the documented 4xx with a JSON body
{"code","error","message","request_id"}, nothing is stored by a refused or broken
request, and the node keeps serving afterwards. Also keep-alive, pipelining, chunked
uploads and the idle timeout."""

import hashlib
import hmac
import json
import os
import socket
import time
import unittest

from imgarc_node import (Node, NodeError, NodeTestCase, ResponseReader, blake2b_hex,
                         build_request, make_pdf, quote, random_bytes, scratch_dir)

HEADER_MAX = 4096
BODY_MAX = 2000000
IDLE_MS = 1500
JSON_MAX = 1 << 20


class HttpErrorsTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node(
            "http-errors", args=["--header-max", str(HEADER_MAX), "--body-max", str(BODY_MAX),
                                 "--idle-timeout-ms", str(IDLE_MS)])
        cls.auth = "Bearer " + cls.node.token

    def hs(self, *extra):
        return [("Authorization", self.auth)] + list(extra)

    def refused(self, resp, status, code, error, index=True, msg=None):
        """The documented error, and the node still serving."""
        body = self.assertError(resp, status, code, error, index=index, msg=msg)
        self.assertServing(self.node, msg)
        return body

    def tmp_entries(self):
        return os.listdir(os.path.join(self.node.data, "tmp"))

    def wait_tmp_empty(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.tmp_entries():
                return
            time.sleep(0.1)
        self.fail("DATA/tmp still holds %r after a failed upload" % self.tmp_entries())

    def head_then_body(self, head, body, wait=0.5):
        """Sends the head; if the node answers within @wait seconds (refusing the body
        early) returns that answer, else sends @body and returns the answer."""
        s = self.node.socket(timeout=30)
        try:
            s.sendall(head)
            reader = ResponseReader(s)
            s.settimeout(wait)
            try:
                reader._fill()
            except socket.timeout:
                pass
            s.settimeout(30)
            if not reader.buf and not reader.eof:
                try:
                    s.sendall(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
            return reader.read()
        finally:
            s.close()

    # -- the request itself --------------------------------------------------------

    def test_malformed_request_line(self):
        cases = [
            b"GARBAGE\r\n\r\n",
            b"GET\r\n\r\n",
            b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/x.y\r\nHost: x\r\n\r\n",
            b"GET /he llo HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
            b"GET /healthz HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
            b"POST /api/v1/pool HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Content-Length: 6\r\n\r\nhello!",
            b"POST /api/v1/pool HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(request=raw[:40]):
                r = self.node.raw_response(raw)
                self.refused(r, 400, 10400, "bad_request", index=False, msg=repr(raw[:40]))

    def test_garbage_bytes(self):
        cases = [
            # A TLS ClientHello on the plain HTTP port.
            bytes.fromhex("160301020001000001fc0303") + random_bytes(200, seed=1),
            b"\x00" * 64 + b"\r\n\r\n",
            random_bytes(512, seed=2) + b"\r\n\r\n",
        ]
        for raw in cases:
            with self.subTest(request=raw[:12]):
                r = self.node.raw_response(raw)
                self.refused(r, 400, 10400, "bad_request", index=False)

    def test_oversized_headers(self):
        cases = {
            "one big header": build_request("GET", "/healthz", [("X-Pad", "a" * 5000)]),
            "many headers": build_request("GET", "/healthz",
                                          [("X-Pad-%03d" % i, "b" * 50) for i in range(100)]),
            "long request line": build_request("GET", "/healthz?" + "c" * 5000),
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                r = self.node.raw_response(raw)
                self.refused(r, 431, 10431, "headers_too_large", index=False, msg=name)
        # Under the limit is fine.
        r = self.node.raw_response(build_request("GET", "/healthz", [("X-Pad", "d" * 3000)]))
        self.assertStatus(r, 200)

    def test_body_over_max_refused_at_headers(self):
        image_no = "BX-BIG-1"
        s = self.node.socket(timeout=20)
        try:
            # Only the head: the answer must come without any body byte sent.
            s.sendall(build_request("POST", "/api/v1/bills/%s/files?name=big.pdf" % image_no,
                                    self.hs(("Content-Length", str(BODY_MAX + 1)))))
            r = ResponseReader(s).read()
        finally:
            s.close()
        self.refused(r, 413, 10413, "body_too_large", index=False)
        self.assertError(self.node.bill(image_no), 404, 11002, "bill_not_found")
        # Exactly the limit is accepted.
        data = random_bytes(BODY_MAX, seed=3)
        r = self.node.upload(image_no, data, name="limit.bin")
        self.assertUploaded(r, image_no, data)

    def test_json_body_over_1mib(self):
        body = b'{"image_no":"BX-BIGJSON-1","bill_no":"' + b"x" * (JSON_MAX + 10) + b'"}'
        r = self.head_then_body(build_request(
            "POST", "/api/v1/pool", self.hs(("Content-Length", str(len(body))))), body)
        self.refused(r, 413, 10413, "body_too_large", index=False)
        self.assertError(self.node.bill("BX-BIGJSON-1"), 404, 11002, "bill_not_found")

    def test_truncated_body(self):
        image_no = "BX-TRUNC-1"
        first = self.node.upload(image_no, b"%PDF-1.4 first", name="first.pdf")
        self.assertStatus(first, 201)
        cases = {
            "content-length": (build_request(
                "POST", "/api/v1/bills/%s/files?name=cut.pdf" % image_no,
                self.hs(("Content-Length", "600000"))) + random_bytes(300000, seed=4)),
            "chunked": (build_request(
                "POST", "/api/v1/bills/%s/files?name=cut2.pdf" % image_no,
                self.hs(("Transfer-Encoding", "chunked"))) +
                b"40000\r\n" + random_bytes(0x40000, seed=5) + b"\r\n" +
                b"1000\r\n" + random_bytes(100, seed=6)),
            "new bill": (build_request(
                "POST", "/api/v1/bills/BX-TRUNC-2/files?name=cut.pdf",
                self.hs(("Content-Length", "100000"))) + random_bytes(50000, seed=7)),
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                s = self.node.socket()
                s.sendall(raw)
                time.sleep(0.2)
                s.close()  # the client goes away mid-upload
                self.assertServing(self.node, name)
                self.wait_tmp_empty()
        time.sleep(0.5)
        files = self.node.bill(image_no).json["files"]
        self.assertEqual([f["name"] for f in files], ["first.pdf"])
        self.assertError(self.node.bill("BX-TRUNC-2"), 404, 11002, "bill_not_found")
        actions = [e["action"] for e in self.node.audit_log(image_no).json["entries"]]
        self.assertEqual(actions.count("file_added"), 1, actions)

    # -- validation ----------------------------------------------------------------

    def test_pool_wrong_types(self):
        cases = [
            {"image_no": 123},
            {"bill_no": "ER-1"},
            {"image_no": None},
            {"image_no": "BX-TYPE-1", "amount": 12.5},
            {"image_no": "BX-TYPE-1", "bill_no": ["ER-1"]},
            {"image_no": "BX-TYPE-1", "org": {"id": 1}},
            {"image_no": "BX-TYPE-1", "submitter": True},
            {"image_no": "BX-TYPE-1", "invoices": "none"},
            {"image_no": "BX-TYPE-1", "invoices": [1]},
            {"image_no": "BX-TYPE-1", "invoices": [{"number": 7}]},
            {"image_no": "BX-TYPE-1", "bill_no": "x" * 257},
        ]
        for body in cases:
            with self.subTest(body=str(body)[:60]):
                self.refused(self.node.pool_push(body), 400, 11005, "invalid_field")
        self.assertError(self.node.bill("BX-TYPE-1"), 404, 11002, "bill_not_found")
        # The longest accepted value.
        self.assertStatus(self.node.pool_push({"image_no": "BX-TYPE-2", "bill_no": "x" * 256}),
                          201)

    def test_pool_invalid_json(self):
        for raw in (b"{", b"not json", b"", b"[]", b'"a string"', b"42", b"null",
                    b'{"image_no":"BX-J-1",}', b'{"image_no":"BX-J-1","image_no":"BX-J-2"}',
                    b"\xff\xfe{}"):
            with self.subTest(body=raw):
                self.refused(self.node.pool_push(raw), 400, 11004, "invalid_json")
        for image_no in ("BX-J-1", "BX-J-2"):
            self.assertError(self.node.bill(image_no), 404, 11002, "bill_not_found")

    def test_file_name_tricks(self):
        names = [
            b"../../etc/passwd", b"/etc/passwd", b"a/b.pdf", b"a\\b.pdf", b"..\\..\\win.ini",
            b"..", b".", b"a\x01b.pdf", b"a\nb.pdf", b"a\rb.pdf", b"tab\there.pdf",
            b"a\x7fb.pdf", b"a\x00b.pdf", b"\x1b[31mred.pdf",
            b"a" * 256,
            # Not UTF-8.
            b"\xff.pdf", b"\x80.pdf", b"\xc3.pdf", b"caf\xe9.pdf", b"\xc0\xaf.pdf",
            b"\xe0\x80\xaf.pdf", b"\xed\xa0\x80.pdf", b"\xf4\x90\x80\x80.pdf",
            b"\xf5\x80\x80\x80.pdf", b"\xf8\x88\x80\x80\x80.pdf",
        ]
        for i, name in enumerate(names):
            image_no = "BX-NAME-%02d" % i
            with self.subTest(name=name[:30]):
                path = "/api/v1/bills/%s/files?name=%s" % (image_no, quote(name))
                r = self.node.post(path, b"%PDF-1.4 data")
                self.refused(r, 400, 11006, "invalid_file_name", msg=repr(name[:30]))
                self.assertError(self.node.bill(image_no), 404, 11002, "bill_not_found")
        self.assertFalse(os.path.exists(os.path.join(self.node.data, "etc")))
        # What is allowed at the edges.
        for i, name in enumerate(["a" * 255, "...", ".hidden", "名前 (1).pdf", "😀.jpg",
                                  "a b+c=d&e.pdf"]):
            with self.subTest(ok_name=name[:30]):
                r = self.node.upload("BX-NAME-OK", b"x%d" % i, name=name)
                self.assertStatus(r, 201)
        names_back = [f["name"] for f in self.node.bill("BX-NAME-OK").json["files"]]
        self.assertEqual(names_back, ["a" * 255, "...", ".hidden", "名前 (1).pdf", "😀.jpg",
                                      "a b+c=d&e.pdf"])

    def test_invalid_image_numbers(self):
        bad = ["has%20space", "a%2Fb", "..", ".", "x" * 65, "%C3%BCmlaut", "semi%3Bcolon",
               "star*", "a%2Eb%3F"]
        for raw in bad:
            for method, path in (("GET", "/api/v1/bills/%s"), ("GET", "/api/v1/bills/%s/status"),
                                 ("GET", "/api/v1/bills/%s/log"),
                                 ("POST", "/api/v1/bills/%s/submit"),
                                 ("POST", "/api/v1/bills/%s/files?name=a.pdf")):
                with self.subTest(image_no=raw, endpoint=path):
                    r = self.node.request(method, path % raw,
                                          body=b"data" if method == "POST" else None)
                    self.refused(r, 400, 11001, "invalid_image_no", msg=path % raw)
        for image_no in ("has space", "a/b", "..", ".", "x" * 65, "ümlaut", ""):
            with self.subTest(pool_image_no=image_no):
                self.refused(self.node.pool_push({"image_no": image_no}), 400, 11001,
                             "invalid_image_no")
        # The longest valid one works.
        r = self.node.upload("y" * 64, b"data", name="a.txt")
        self.assertStatus(r, 201)
        # A broken percent-escape in the path is a malformed request.
        r = self.node.get("/api/v1/bills/BX%zz1")
        self.refused(r, 400, 10400, "bad_request", index=False)

    def test_unknown_image_numbers(self):
        for method, path in (("GET", "/api/v1/bills/BX-NOPE-1"),
                             ("GET", "/api/v1/bills/BX-NOPE-1/status"),
                             ("GET", "/api/v1/bills/BX-NOPE-1/log"),
                             ("POST", "/api/v1/bills/BX-NOPE-1/submit")):
            with self.subTest(endpoint=path):
                r = self.node.request(method, path, body=b"" if method == "POST" else None)
                self.refused(r, 404, 11002, "bill_not_found")
        # The same image number in another tenant is another bill.
        self.ensure_tenant("other-co")
        self.assertStatus(self.node.upload("BX-TENANT-1", b"a", name="a.txt"), 201)
        r = self.node.get("/api/v1/bills/BX-TENANT-1?tenant=other-co")
        self.refused(r, 404, 11002, "bill_not_found")
        # A tenant that does not exist is named as such.
        r = self.node.get("/api/v1/bills/BX-TENANT-1?tenant=no-such-co")
        self.refused(r, 404, 11014, "tenant_not_found")
        r = self.node.get("/api/v1/bills/BX-TENANT-1?tenant=bad%20tenant")
        self.refused(r, 400, 11011, "invalid_query")

    def ensure_tenant(self, tenant):
        r = self.node.post("/api/v1/tenants",
                           body=json.dumps({"id": tenant, "name": tenant}).encode())
        self.assertIn(r.status, (201, 409), r.body)

    def test_unknown_file_id(self):
        for fid in ("f" + "0" * 31, "nosuchfile"):
            with self.subTest(file_id=fid):
                r = self.node.content(fid)
                self.refused(r, 404, 11003, "file_not_found")
                r = self.node.head("/api/v1/files/%s/content" % fid)
                self.assertEqual(r.status, 404)
                self.assertEqual(r.body, b"")
        # A file of another tenant is not visible.
        r = self.node.upload("BX-FID-1", b"secret", name="s.txt")
        self.assertStatus(r, 201)
        self.ensure_tenant("other-co")
        r = self.node.get("/api/v1/files/%s/content?tenant=other-co" % r.json["file_id"])
        self.refused(r, 404, 11003, "file_not_found")

    def test_unknown_endpoint(self):
        # "/" is the web console's page (test_console_serving.py); a file it lacks is not.
        for method, path in (("GET", "/assets/nope.js"), ("GET", "/nope"), ("GET", "/api/v1"),
                             ("GET", "/api/v2/version"), ("GET", "/api/v1/bills/BX-1/unknown"),
                             ("GET", "/api/v1/files/abc"), ("GET", "/healthz/extra"),
                             ("POST", "/api/v1/bills/BX-1/files/extra/more"),
                             ("DELETE", "/api/v1/nothing")):
            with self.subTest(endpoint=path):
                r = self.node.request(method, path)
                self.refused(r, 404, 10404, "not_found")

    def test_wrong_method(self):
        for method, path in (("POST", "/healthz"), ("PUT", "/readyz"), ("DELETE", "/metrics"),
                             ("POST", "/api/v1/version"), ("GET", "/api/v1/pool"),
                             ("PUT", "/api/v1/pool"), ("DELETE", "/api/v1/bills/BX-1/status"),
                             ("POST", "/api/v1/bills/BX-1"), ("GET", "/api/v1/bills/BX-1/files"),
                             ("GET", "/api/v1/bills/BX-1/submit"),
                             ("POST", "/api/v1/files/abc/content"),
                             ("PATCH", "/api/v1/bills/BX-1/status")):
            with self.subTest(method=method, endpoint=path):
                r = self.node.request(method, path,
                                      body=b"" if method in ("POST", "PUT", "PATCH") else None)
                self.refused(r, 405, 10405, "method_not_allowed")

    def test_auth(self):
        token = self.node.token
        bad = [None, "Bearer wrong", "Basic " + token, "Bearer", "Bearer ", "Bearer " + token + "x",
               "Bearer " + token[:-1], token]
        endpoints = [("GET", "/api/v1/bills"), ("GET", "/api/v1/bills/BX-AUTH-1"),
                     ("GET", "/api/v1/bills/BX-AUTH-1/status"),
                     ("GET", "/api/v1/bills/BX-AUTH-1/log"),
                     ("POST", "/api/v1/pool"), ("POST", "/api/v1/bills/BX-AUTH-1/files?name=a"),
                     ("POST", "/api/v1/bills/BX-AUTH-1/submit"),
                     ("GET", "/api/v1/files/abc/content")]
        for auth in bad:
            for method, path in endpoints:
                with self.subTest(auth=auth, endpoint=path):
                    body = None
                    if method == "POST":
                        body = (b'{"image_no":"BX-AUTH-1"}' if path.endswith("pool")
                                else b"data")
                    r = self.node.request(method, path, body=body,
                                          auth=auth if auth is not None else False)
                    self.assertError(r, 401, 10401, "unauthorized")
        self.assertServing(self.node)
        self.assertError(self.node.bill("BX-AUTH-1"), 404, 11002, "bill_not_found")
        # The scheme is case-insensitive; the open endpoints need no token.
        self.assertStatus(self.node.get("/api/v1/bills", auth="bearer " + token), 200)
        for path in ("/healthz", "/readyz", "/metrics", "/api/v1/version"):
            self.assertStatus(self.node.get(path, auth=False), 200)
        # A big upload without a token is refused at the headers, before its body.
        s = self.node.socket(timeout=20)
        try:
            s.sendall(build_request("POST", "/api/v1/bills/BX-AUTH-1/files?name=a.pdf",
                                    [("Content-Length", "1500000")]))
            r = ResponseReader(s).read()
        finally:
            s.close()
        self.refused(r, 401, 10401, "unauthorized")

    def test_upload_length_required(self):
        raw = build_request("POST", "/api/v1/bills/BX-LEN-1/files?name=a.pdf", self.hs())
        r = self.node.raw_response(raw)
        self.refused(r, 411, 10411, "length_required")
        self.assertError(self.node.bill("BX-LEN-1"), 404, 11002, "bill_not_found")

    # -- what works ------------------------------------------------------------------

    def test_chunked_upload(self):
        data = random_bytes(600000, seed=8)
        sizes = [1, 100, 0x40000, 77777, 200000]
        body = b""
        off = 0
        for n in sizes:
            piece = data[off:off + n]
            off += n
            body += b"%x\r\n" % len(piece) + piece + b"\r\n"
        body += b"%x\r\n" % (len(data) - off) + data[off:] + b"\r\n0\r\n\r\n"
        raw = build_request("POST", "/api/v1/bills/BX-CHUNK-1/files?name=chunked.bin",
                            self.hs(("Transfer-Encoding", "chunked")), body)
        r = self.node.raw_response(raw, timeout=60)
        self.assertUploaded(r, "BX-CHUNK-1", data)
        got = self.node.content(r.json["file_id"])
        self.assertStatus(got, 200)
        self.assertTrue(got.body == data)

    def test_keep_alive(self):
        s = self.node.socket()
        reader = ResponseReader(s)
        data = make_pdf(2, seed=9)
        try:
            steps = [
                ("GET", "/healthz", None, 200),
                ("POST", "/api/v1/bills/BX-KA-1/files?name=ka.pdf", data, 201),
                ("GET", "/api/v1/bills/BX-KA-1", None, 200),
                ("GET", "/api/v1/nope", None, 404),
                ("GET", "/api/v1/bills/BX-KA-404", None, 404),
                ("POST", "/api/v1/pool", b"{bad json", 400),
                ("GET", "/api/v1/bills/BX-KA-1/status", None, 200),
            ]
            file_id = None
            for method, path, body, status in steps:
                s.sendall(build_request(method, path, self.hs(), body))
                r = reader.read(method)
                self.assertEqual(r.status, status, "%s %s on a kept-alive connection: %r"
                                 % (method, path, r))
                self.assertNotEqual((r.header("connection") or "").lower(), "close",
                                    "%s %s closed the connection" % (method, path))
                if status == 201:
                    file_id = r.json["file_id"]
            s.sendall(build_request("GET", "/api/v1/files/%s/content" % file_id, self.hs()))
            r = reader.read()
            self.assertEqual(r.body, data)
            # Connection: close is honoured.
            s.sendall(build_request("GET", "/healthz", [("Connection", "close")]))
            r = reader.read()
            self.assertStatus(r, 200)
            self.assertTrue(reader.at_eof(5), "the node kept a 'Connection: close' connection")
        finally:
            s.close()

    def test_pipelining(self):
        self.assertStatus(self.node.pool_push({"image_no": "BX-PIPE-0"}), 201)
        data = random_bytes(300000, seed=10)
        reqs = [
            ("GET", "/healthz", None, 200),
            ("POST", "/api/v1/pool", b'{"image_no":"BX-PIPE-1","bill_no":"P1"}', 201),
            ("POST", "/api/v1/bills/BX-PIPE-2/files?name=p.bin", data, 201),
            ("GET", "/api/v1/bills/BX-PIPE-0", None, 200),
            ("GET", "/nope", None, 404),
            ("HEAD", "/api/v1/version", None, 405),
            ("GET", "/api/v1/version", None, 200),
        ]
        raw = b""
        for i, (method, path, body, _) in enumerate(reqs):
            raw += build_request(method, path, self.hs(("X-Request-Id", "pipe-%d" % i)), body)
        s = self.node.socket()
        try:
            s.sendall(raw)
            reader = ResponseReader(s)
            for i, (method, path, body, status) in enumerate(reqs):
                r = reader.read(method)
                self.assertEqual(r.header("x-request-id"), "pipe-%d" % i,
                                 "responses out of order at %d: %r" % (i, r))
                self.assertEqual(r.status, status, "%s %s: %r" % (method, path, r))
                if i == 2:
                    self.assertEqual(r.json["blob"], blake2b_hex(data))
        finally:
            s.close()
        self.assertEqual(self.node.bill("BX-PIPE-1").json["bill_no"], "P1")
        self.assertEqual(len(self.node.bill("BX-PIPE-2").json["files"]), 1)

    def test_expect_continue(self):
        data = random_bytes(200000, seed=11)
        s = self.node.socket()
        try:
            s.sendall(build_request("POST", "/api/v1/bills/BX-EXP-1/files?name=e.bin",
                                    self.hs(("Content-Length", str(len(data))),
                                            ("Expect", "100-continue"))))
            reader = ResponseReader(s)
            interim = reader.read()
            self.assertEqual(interim.status, 100, "expected 100 Continue: %r" % interim)
            s.sendall(data)
            self.assertUploaded(reader.read(), "BX-EXP-1", data)
            # Refused at the head: the final answer comes instead of 100.
            s.sendall(build_request("POST", "/api/v1/bills/BX-EXP-2/files?name=e.bin",
                                    self.hs(("Content-Length", str(BODY_MAX + 1)),
                                            ("Expect", "100-continue"))))
            r = reader.read()
        finally:
            s.close()
        self.refused(r, 413, 10413, "body_too_large", index=False)
        self.assertError(self.node.bill("BX-EXP-2"), 404, 11002, "bill_not_found")

    def test_client_gone(self):
        """Clients that disappear mid-download or while their upload commits."""
        data = random_bytes(1500000, seed=12)
        up = self.node.upload("BX-GONE-1", data, name="gone.bin")
        self.assertStatus(up, 201)
        fid = up.json["file_id"]
        for i in range(8):
            s = self.node.socket()
            try:
                s.sendall(build_request("GET", "/api/v1/files/%s/content" % fid, self.hs()))
                if i % 2:
                    s.recv(1000)  # else: gone before the first byte of the answer
            except OSError:
                pass  # the node is gone: said below
            finally:
                s.close()
            time.sleep(0.05)
            if not self.node.alive():
                self.fail("imgarcd died (exit status %s) after a client closed download %d "
                          "early; log:\n%s" % (self.node.proc.poll(), i + 1,
                                                self.node.log_tail(10)))
        self.assertServing(self.node, "after downloads cut short")
        # The whole body sent, the connection closed before the answer.
        late = random_bytes(300000, seed=13)
        s = self.node.socket()
        s.sendall(build_request("POST", "/api/v1/bills/BX-GONE-1/files?name=late.bin",
                                self.hs(("Idempotency-Key", "gone-late-1")), late))
        s.close()
        self.assertServing(self.node, "after an upload whose client left")
        # Its retry with the same key leaves one file, whatever happened.
        r = self.node.upload("BX-GONE-1", late, name="late.bin", key="gone-late-1")
        self.assertStatus(r, 201)
        time.sleep(0.3)
        names = [f["name"] for f in self.node.bill("BX-GONE-1").json["files"]]
        self.assertEqual(names, ["gone.bin", "late.bin"])
        r = self.node.content(fid)
        self.assertTrue(r.body == data)
        self.wait_tmp_empty()
        # Nothing is left in flight but the metrics request itself.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = self.node.metrics()
            if m["imgarc_http_requests_in_flight"] <= 1:
                break
            time.sleep(0.1)
        self.assertLessEqual(m["imgarc_http_requests_in_flight"], 1)

    # -- idle timeout -------------------------------------------------------------------

    def time_to_close(self, s, limit):
        """Seconds until the node closes @s (no bytes expected)."""
        t0 = time.monotonic()
        reader = ResponseReader(s)
        self.assertTrue(reader.at_eof(limit), "connection still open after %.1f s" % limit)
        return time.monotonic() - t0

    def test_idle_timeout(self):
        idle = IDLE_MS / 1000.0
        # A connection that never sends anything.
        s = self.node.socket()
        try:
            took = self.time_to_close(s, idle + 10)
        finally:
            s.close()
        self.assertGreaterEqual(took, idle * 0.5, "closed long before the idle timeout")
        # A kept-alive connection after a request.
        s = self.node.socket()
        try:
            s.sendall(build_request("GET", "/healthz"))
            self.assertStatus(ResponseReader(s).read(), 200)
            took = self.time_to_close(s, idle + 10)
        finally:
            s.close()
        self.assertGreaterEqual(took, idle * 0.5)
        self.assertServing(self.node)

    def test_idle_mid_request_408(self):
        cases = {
            "partial head": b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
            "partial body": build_request(
                "POST", "/api/v1/bills/BX-IDLE-1/files?name=a.pdf",
                self.hs(("Content-Length", "1000"))) + b"x" * 10,
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                s = self.node.socket(timeout=IDLE_MS / 1000.0 + 15)
                try:
                    s.sendall(raw)
                    t0 = time.monotonic()
                    r = ResponseReader(s).read()
                    took = time.monotonic() - t0
                finally:
                    s.close()
                self.refused(r, 408, 10408, "request_timeout", index=False, msg=name)
                self.assertGreaterEqual(took, IDLE_MS / 1000.0 * 0.5)
        self.assertError(self.node.bill("BX-IDLE-1"), 404, 11002, "bill_not_found")
        self.wait_tmp_empty()

    def test_protocol_errors_carry_index_header(self):
        """docs/API.md: every response carries X-Request-Id and X-Imgarc-Index."""
        responses = {
            "400": self.node.raw_response(b"GARBAGE\r\n\r\n"),
            "431": self.node.raw_response(build_request("GET", "/healthz",
                                                        [("X-Pad", "a" * 5000)])),
            "413": self.node.raw_response(build_request(
                "POST", "/api/v1/bills/BX-H-1/files",
                self.hs(("Content-Length", str(BODY_MAX + 1))))),
        }
        for name, r in responses.items():
            with self.subTest(status=name):
                self.assertEqual(str(r.status), name)
                self.assertCommonHeaders(r, index=True)

    # -- framing the parser would let through (issue 10) ---------------------------

    def test_framing_refused(self):
        """Debian's http-parser is built without HTTP_PARSER_STRICT: the node checks
        what it lets through itself. Each refusal closes the connection."""
        chunked = build_request("POST", "/api/v1/pool",
                                self.hs(("Transfer-Encoding", "chunked"),
                                        ("Content-Type", "application/json")))
        cases = [
            ("chunk data without CRLF", 400,
             chunked + b"2\r\n{}XY0\r\n\r\n"),
            ("chunk data with LF only", 400,
             chunked + b"2\r\n{}\n0\r\n\r\n"),
            ("obs-fold", 400,
             b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n folded\r\n\r\n"),
            ("obs-fold with tab", 400,
             b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n"),
            ("obs-fold of the first line", 400,
             b"GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n"),
            ("HTTP/0.9", 400, b"GET /healthz\r\n\r\n"),
            ("HTTP/0.9 with headers", 400, b"GET /healthz\r\nHost: x\r\n\r\n"),
            ("HTTP/3.0", 505, b"GET /healthz HTTP/3.0\r\nHost: x\r\n\r\n"),
            ("HTTP/2.0", 505, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n"),
            ("HTTP/1.2", 505, b"GET /healthz HTTP/1.2\r\nHost: x\r\n\r\n"),
        ]
        for name, status, raw in cases:
            with self.subTest(case=name):
                s = self.node.socket(timeout=10)
                try:
                    s.sendall(raw)
                    reader = ResponseReader(s)
                    r = reader.read()
                    self.assertEqual(r.status, status, "%s: %r" % (name, r))
                    self.assertEqual(r.header("connection"), "close", name)
                    self.assertTrue(reader.at_eof(10), "%s: the connection stays open" % name)
                finally:
                    s.close()
                if status == 400:
                    self.refused(r, 400, 10400, "bad_request", index=False, msg=name)
        # Nothing was pushed by the broken chunked bodies, and well-formed ones still go.
        good = chunked + b"2\r\n{}\r\n0\r\n\r\n"
        r = self.node.raw_response(good)
        self.assertEqual(r.status, 400, r)  # {} is not a pool bill: refused by the handler
        self.assertEqual(r.json["error"], "invalid_field", r)
        for version in (b"1.0", b"1.1"):
            r = self.node.raw_response(b"GET /healthz HTTP/" + version + b"\r\nHost: x\r\n\r\n")
            self.assertStatus(r, 200)

    # -- Range (RFC 9110 14.2) -------------------------------------------------------

    def test_malformed_range_is_ignored(self):
        data = random_bytes(1000, seed=21)
        up = self.node.upload("BX-RANGE-1", data, name="r.bin")
        self.assertStatus(up, 201)
        fid = up.json["file_id"]
        # Malformed, or several ranges (not served): the whole file, 200.
        for rng in ("bytes=--1", "bytes=5-2", "bytes=1-2,3-4", "bytes=-", "bytes=", "bytes=a-b",
                    "bytes=1-2-3", "bytes=+1-2", "bytes= 1-2", "bytes=1 -2", "bytes=--",
                    "bytes=-+5", "bytes=0x10-", "lines=1-2", "bytes=1--2",
                    "bytes=99999999999999999999999-1"):
            with self.subTest(range=rng):
                r = self.node.content(fid, headers={"Range": rng})
                self.assertStatus(r, 200)
                self.assertIsNone(r.header("content-range"), rng)
                self.assertEqual(r.body, data, rng)
        # Well formed but unsatisfiable: 416.
        for rng in ("bytes=-0", "bytes=1000-", "bytes=99999999999999999999999-",
                    "bytes=18446744073709551616-18446744073709551617"):
            with self.subTest(range=rng):
                r = self.node.content(fid, headers={"Range": rng})
                self.assertError(r, 416, 11010, "range_not_satisfiable")
                self.assertEqual(r.header("content-range"), "bytes */1000")
        # Overflowing ends of valid ranges are past the end: clipped.
        for rng, a, b in (("bytes=990-99999999999999999999999", 990, 999),
                          ("bytes=-99999999999999999999999", 0, 999),
                          ("Bytes=0-0", 0, 0)):
            with self.subTest(range=rng):
                r = self.node.content(fid, headers={"Range": rng})
                self.assertStatus(r, 206)
                self.assertEqual(r.header("content-range"), "bytes %d-%d/1000" % (a, b))
                self.assertEqual(r.body, data[a:b + 1])

    # -- enumerated query parameters ---------------------------------------------------

    def test_unknown_enum_query_values(self):
        for value in ("<script>", "READY", "ready ", "", "pending"):
            with self.subTest(state=value):
                r = self.node.list_bills("state=" + quote(value))
                body = self.refused(r, 400, 11011, "invalid_query", msg=value)
                for allowed in ("pending_upload", "captured", "submitted", "ready",
                                "erp_submitted", "erp_failed", "returned"):
                    self.assertIn(allowed, body["message"])
                self.assertNotIn("<script>", body["message"])
        self.assertStatus(self.node.list_bills("state=ready"), 200)
        for query, allowed in (("state=<script>", "cancelled"), ("format=html", "csv")):
            path = "/api/v1/deliveries" if query.startswith("state") else "/api/v1/audit"
            with self.subTest(path=path):
                r = self.node.get(path + "?" + query)
                body = self.refused(r, 400, 11011, "invalid_query")
                self.assertIn(allowed, body["message"])

    # -- read-your-writes needs credentials --------------------------------------------

    def index_of(self, r):
        return int(r.header("x-imgarc-index"))

    def raft_last_index(self):
        return self.node.metrics()["imgarc_raft_last_index"]

    def test_consistency_needs_credentials(self):
        """?consistent=true commits a raft barrier (a log entry): only an authenticated
        caller on a route that reads state may ask for it."""
        def anonymous_round():
            start = self.raft_last_index()
            for path in ("/healthz?consistent=true", "/readyz?consistent=1",
                         "/metrics?consistent=1", "/api/v1/version?consistent=true"):
                with self.subTest(path=path):
                    r = self.node.get(path, auth=False)
                    self.assertStatus(r, 200)
            for path in ("/api/v1/bills?consistent=true", "/api/v1/tenants?consistent=1"):
                with self.subTest(path=path):
                    r = self.node.get(path, auth=False)
                    self.assertError(r, 401, 10401, "unauthorized")
                    r = self.node.get(path, auth=False,
                                      headers={"Authorization": "Bearer not-a-token"})
                    self.assertError(r, 401, 10401, "unauthorized")
            return self.raft_last_index() - start
        # The node's own commands (its space report, a license warning) may land in a
        # round; a barrier per anonymous request would grow every round.
        grown = [anonymous_round() for _ in range(3)]
        self.assertEqual(min(grown), 0,
                         "an anonymous or public ?consistent=true appended a raft barrier "
                         "(index grew by %r in three rounds)" % grown)
        before = self.raft_last_index()
        # An authenticated one does, and is answered.
        r = self.node.get("/api/v1/bills?consistent=true")
        self.assertStatus(r, 200)
        self.assertGreater(self.raft_last_index(), before)
        # Malformed values are still 400s for everyone.
        r = self.node.get("/api/v1/bills?consistent=maybe", auth=False)
        self.assertError(r, 400, 11011, "invalid_query")

    def test_min_index_needs_credentials(self):
        """An index far ahead: an anonymous caller is refused at once (401), not held
        for 5 s; public routes ignore it; an authenticated caller waits (503)."""
        ahead = str(self.index_of(self.node.get("/healthz", auth=False)) + 1000000)
        hs = {"X-Imgarc-Min-Index": ahead}
        r = self.node.get("/api/v1/bills", auth=False, headers=hs)
        self.assertError(r, 401, 10401, "unauthorized")
        r = self.node.get("/api/v1/bills", auth=False,
                          headers=dict(hs, Authorization="Bearer imgarc.forged.token"))
        self.assertError(r, 401, 10401, "unauthorized")
        for path in ("/healthz", "/api/v1/version"):
            with self.subTest(path=path):
                self.assertStatus(self.node.get(path, auth=False, headers=hs), 200)
        r = self.node.get("/api/v1/bills", headers=hs, timeout=30)
        self.assertError(r, 503, 11103, "index_not_reached")


def sign(secret, method, target, body=b"", time_ms=None, length=None, digest=None):
    """Headers of a node-to-node call (replication/peer_auth.h); @length and @digest
    override what is signed (a lie about the body)."""
    t = str(int(time.time() * 1000) if time_ms is None else time_ms)
    key = hashlib.sha256(secret.encode()).digest()
    if digest is None:
        digest = hashlib.sha256(body).hexdigest() if body else ""
    n = len(body) if length is None else length
    msg = ("imgarc-internal-v2\n%s\n%s\n%s\n%d\n%s" % (method, target, t, n, digest)).encode()
    hs = [("X-Imgarc-Time", t),
          ("X-Imgarc-Signature", hmac.new(key, msg, hashlib.sha256).hexdigest())]
    if digest:
        hs.append(("X-Imgarc-Body-Sha256", digest))
    return hs


class InternalCallsTest(NodeTestCase):
    """/internal/v1/*: the signature is checked from the head before a byte of the
    body is read, the body against the signed digest before it is acted on, and
    either secret of a rotation is accepted."""

    @classmethod
    def setUpClass(cls):
        d = scratch_dir("internal-secrets")
        cls.secret = "new-" + os.urandom(32).hex()
        cls.previous = "old-" + os.urandom(32).hex()
        paths = {}
        for name, text in (("secret", cls.secret), ("previous", cls.previous)):
            paths[name] = os.path.join(d, name)
            with open(paths[name], "w") as f:
                f.write(text + "\n")
            os.chmod(paths[name], 0o600)
        # The previous secret comes from the config file, the current one from a flag.
        conf = os.path.join(d, "imgarcd.conf")
        with open(conf, "w") as f:
            f.write("cluster-secret-previous-file = %s\n" % paths["previous"])
        cls.node = cls.start_class_node(
            "internal", args=["--cluster-secret-file", paths["secret"], "--config", conf,
                              "--idle-timeout-ms", str(IDLE_MS)])

    def answer_to_head(self, head):
        """Sends only @head (no body) and reads the answer: it must come at once, with
        Connection: close, and the node must close the connection."""
        s = self.node.socket(timeout=30)
        try:
            s.sendall(head)
            reader = ResponseReader(s)
            r = reader.read()
            self.assertEqual(r.header("connection"), "close", r)
            self.assertTrue(reader.at_eof(10), "the connection stays open after %r" % r)
            return r
        finally:
            s.close()

    def index(self):
        return int(self.node.get("/healthz", auth=False).header("x-imgarc-index"))

    def test_unsigned_body_is_refused_from_the_head(self):
        target = "/internal/v1/propose"
        big = str(4000000)
        heads = {
            "unsigned": [],
            "stale": sign(self.secret, "POST", target, time_ms=int(time.time() * 1000) - 120000,
                          length=4000000, digest="0" * 64),
            "another secret": sign("another secret of 32 characters or more!", "POST", target,
                                   length=4000000, digest="0" * 64),
            "signed for another length": sign(self.secret, "POST", target, length=10,
                                              digest="0" * 64),
        }
        for name, hs in heads.items():
            with self.subTest(case=name):
                r = self.answer_to_head(build_request(
                    "POST", target, hs + [("Content-Length", big),
                                          ("Content-Type", "application/x-protobuf")]))
                self.assertError(r, 401, 10401, "unauthorized", msg=name)
        # A chunked body cannot have its length signed: refused from the head too.
        r = self.answer_to_head(build_request(
            "POST", target, sign(self.secret, "POST", target) +
            [("Transfer-Encoding", "chunked")]))
        self.assertError(r, 411, 10411, "length_required")
        # The same for a pushed blob copy.
        blob = "/internal/v1/blobs/" + "ab" * 32
        r = self.answer_to_head(build_request("PUT", blob, [("Content-Length", big)]))
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertServing(self.node)

    def test_body_must_match_the_signed_digest(self):
        target = "/internal/v1/propose"
        body = b"\xff\xfe not protobuf" * 3
        before = self.index()
        # A body altered on the way (same length): 400, nothing done.
        other = bytes(reversed(body))
        r = self.node.post(target, other, auth=False,
                           headers=dict(sign(self.secret, "POST", target, body)))
        self.assertError(r, 400, 10400, "bad_request")
        self.assertIn("X-Imgarc-Body-Sha256", r.json["message"])
        # A body without the signed digest: 400.
        r = self.node.post(target, body, auth=False,
                           headers=dict(sign(self.secret, "POST", target, body, digest="")))
        self.assertError(r, 400, 10400, "bad_request")
        self.assertEqual(self.index(), before, "a refused /internal call changed the log")
        # The right digest of a body that is no command: the handler's own 400.
        r = self.node.post(target, body, auth=False,
                           headers=dict(sign(self.secret, "POST", target, body)))
        self.assertError(r, 400, 10400, "bad_request")
        self.assertIn("Command", r.json["message"])
        # A valid Command message with no command in it (only a tenant field): refused
        # before it reaches the log.
        body = bytes.fromhex("0a03616263") * 4
        r = self.node.post(target, body, auth=False,
                           headers=dict(sign(self.secret, "POST", target, body)))
        self.assertError(r, 400, 10400, "bad_request")
        self.assertEqual(self.index(), before, "a command without a body reached the log")

    def test_either_secret_of_a_rotation_is_accepted(self):
        target = "/internal/v1/status"
        for name, secret in (("current", self.secret), ("previous", self.previous)):
            with self.subTest(secret=name):
                r = self.node.get(target, auth=False, headers=dict(sign(secret, "GET", target)))
                self.assertStatus(r, 200)
                self.assertEqual(r.header("content-type"), "application/x-protobuf")
        r = self.node.get(target, auth=False,
                          headers=dict(sign("a third secret of 32 characters or more", "GET",
                                            target)))
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("--cluster-secret-previous-file", r.json["message"])

    def test_previous_secret_alone_is_refused(self):
        d = self.scratch("previous-alone")
        path = os.path.join(d, "previous")
        with open(path, "w") as f:
            f.write(self.previous)
        os.chmod(path, 0o600)
        node = Node("previous-alone", args=["--cluster-secret-previous-file", path])
        self.addCleanup(node.cleanup)
        with self.assertRaises(NodeError) as ctx:
            node.start(timeout=30)
        self.assertIn("--cluster-secret-file", str(ctx.exception))


if __name__ == "__main__":
    unittest.main()
