"""Stress of the HTTP/1.1 server: many concurrent raw-socket clients doing random mixes of
valid requests (pool pushes, uploads with and without chunked encoding and
Expect: 100-continue, downloads with and without Range, HEAD, status), pipelined
batches, clients that go away at random points, slow clients, garbage, oversized heads
and bodies, and bodies on GET, against one node with small limits.

Checked throughout: every complete answer is well-formed HTTP/1.1 with the headers
every answer carries; pipelined answers come back in order with the X-Request-Id sent;
the node keeps answering GET /healthz; every upload that got 201 downloads
byte-identical afterwards; nothing is left in flight once the clients are gone; and
the node stops on SIGTERM within a few seconds, exit status 0, with no sanitizer report
in its log (NodeTestCase's cleanup checks the log).

Everything random comes from one seed, printed at the start; set IMGARC_STRESS_SEED to
replay a run (thread timing still varies) and IMGARC_STRESS_SECONDS to change how long
the clients run (default 15 s).

Short deterministic tests at the end pin down what the review of the server found
(they fail until it is fixed): answers the node has already made are lost when the
client half-closes, when the idle timeout fires while they are still queued for a slow
reader, and when SIGTERM arrives while they are queued; a download pipelined behind
another request is cut by the idle timeout when the client reads slowly; and an
HTTP/1.0 request that says "Connection: close" next to "keep-alive" keeps its
connection."""

import hashlib
import json
import os
import random
import select
import signal
import socket
import threading
import time
import traceback
import unittest

from imgarc_node import (HTTP_TIMEOUT, ID_ALPHABET, NodeTestCase, ResponseReader,
                         build_request)

SEED = int(os.environ.get("IMGARC_STRESS_SEED", "20240517"))
SECONDS = float(os.environ.get("IMGARC_STRESS_SECONDS", "15"))
WORKERS = 10
HEADER_MAX = 4096
BODY_MAX = 2200000
UPLOAD_MAX = 2000000
IDLE_MS = 3000
GRACE_MS = 2000
# One socket operation that takes longer than this is a hang (the sanitizer build is
# slow, but not this slow).
OP_TIMEOUT = min(HTTP_TIMEOUT, 20.0)
STOP_SECONDS = 8.0


def blake(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def data_of(seed, size):
    """The bytes of an upload, regenerated from its seed (uploads are not kept)."""
    return random.Random(seed).randbytes(size)


class Failure(Exception):
    """A node misbehaviour seen by a client."""


class Hang(Failure):
    pass


class Client:
    """One raw connection."""

    def __init__(self, node, rcvbuf=None, timeout=OP_TIMEOUT):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", node.http_port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = ResponseReader(self.sock)
        self.senders = []

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False
        except socket.timeout:
            raise Hang("sending %d bytes timed out" % len(data)) from None

    def send_bg(self, data):
        """Sends from a thread, so that a client that sends a lot before it reads
        cannot deadlock with a server that answers before it reads."""
        t = threading.Thread(target=self._send_quiet, args=(data,), daemon=True)
        t.start()
        self.senders.append(t)

    def _send_quiet(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            pass

    def shut_wr(self):
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def read(self, method="GET"):
        try:
            return self.reader.read(method)
        except socket.timeout:
            raise Hang("no complete answer within %.0f s (have %r)"
                       % (OP_TIMEOUT, self.reader.buf[:200])) from None

    def closes(self, timeout=OP_TIMEOUT):
        """True when the node closes the connection (no more bytes) in time."""
        try:
            return self.reader.at_eof(timeout)
        except OSError:
            return True
        except AssertionError as e:
            raise Failure("the connection should close, but the node sent more: %s"
                          % str(e)[:400]) from None

    def reset(self):
        """Closes with RST."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        except OSError:
            pass
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        for t in self.senders:
            t.join(5)


def check_well_formed(resp, rid=None, what=""):
    """An answer the way every answer of the node looks."""
    where = "%s: " % what if what else ""
    if not 100 <= resp.status <= 599:
        raise Failure("%sstatus %d" % (where, resp.status))
    if 100 <= resp.status < 200:
        return
    got_rid = resp.header("x-request-id")
    if got_rid is None or not ID_ALPHABET.match(got_rid):
        raise Failure("%sX-Request-Id missing or malformed: %r" % (where, resp))
    if rid is not None and got_rid != rid:
        raise Failure("%sanswer carries X-Request-Id %r, expected %r (out of order?): %r"
                      % (where, got_rid, rid, resp))
    if resp.header("date") is None:
        raise Failure("%sno Date header: %r" % (where, resp))
    if resp.header("x-imgarc-index") is None:
        raise Failure("%sno X-Imgarc-Index header: %r" % (where, resp))
    conn = (resp.header("connection") or "").lower()
    if conn not in ("keep-alive", "close"):
        raise Failure("%sConnection header %r" % (where, conn))
    if len(resp.header_all("content-length")) > 1:
        raise Failure("%stwo Content-Length headers: %r" % (where, resp))
    if resp.header("content-length") is None and resp.header("transfer-encoding") is None \
            and resp.status not in (204, 304) and conn != "close":
        raise Failure("%sno length and not closing: %r" % (where, resp))
    if resp.status >= 400:
        try:
            body = json.loads(resp.body) if resp.body else None
        except ValueError:
            body = None
        if body is not None and (not isinstance(body, dict) or
                                 set(body) != {"code", "error", "message", "request_id"} or
                                 body["request_id"] != got_rid):
            raise Failure("%serror body %r" % (where, resp.body[:300]))


def expect(resp, statuses, what):
    if resp.status not in statuses:
        raise Failure("%s: expected %s, got %r" % (what, sorted(statuses), resp))


class Shared:
    """What the workers learn and report."""

    def __init__(self):
        self.lock = threading.Lock()
        self.uploads = []       # (file_id, seed, size)
        self.failures = []      # strings
        self.counts = {}

    def add_upload(self, file_id, seed, size):
        with self.lock:
            self.uploads.append((file_id, seed, size))

    def pick_upload(self, rng, small=False):
        with self.lock:
            pool = [u for u in self.uploads if not small or u[2] <= 200000]
            return rng.choice(pool) if pool else None

    def fail(self, text):
        with self.lock:
            self.failures.append(text)

    def count(self, name):
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1


class Worker:
    """One client thread: random scenarios until the deadline."""

    def __init__(self, node, shared, index, deadline):
        self.node = node
        self.shared = shared
        self.index = index
        self.deadline = deadline
        self.rng = random.Random(SEED * 1000 + index)
        self.n = 0
        self.auth = ("Authorization", "Bearer " + node.token)

    # -- request builders ---------------------------------------------------------

    def rid(self):
        self.n += 1
        return "s%dx%d" % (self.index, self.n)

    def image_no(self):
        return "ST-%d-%d" % (self.index, self.rng.randrange(6))

    def new_upload(self, size_max=UPLOAD_MAX):
        roll = self.rng.random()
        if roll < 0.5:
            size = self.rng.randint(1, 20000)
        elif roll < 0.8:
            size = self.rng.randint(20000, 300000)
        else:
            size = self.rng.randint(300000, UPLOAD_MAX)
        size = min(size, size_max)
        seed = self.rng.getrandbits(48)
        return seed, size

    def upload_request(self, rid, seed, size, chunked=False, expect_continue=False):
        """(head, body) of an upload; the body is chunked in random pieces."""
        data = data_of(seed, size)
        hs = [self.auth, ("X-Request-Id", rid), ("Content-Type", "application/octet-stream")]
        if expect_continue:
            hs.append(("Expect", "100-continue"))
        if chunked:
            hs.append(("Transfer-Encoding", "chunked"))
            body = b""
            off = 0
            while off < size:
                n = self.rng.choice([1, 7, 1000, 65536, 70000, 262144, self.rng.randint(1, 400000)])
                piece = data[off:off + n]
                off += len(piece)
                ext = b";x=y" if self.rng.random() < 0.1 else b""
                body += b"%x" % len(piece) + ext + b"\r\n" + piece + b"\r\n"
            body += b"0\r\n" + (b"X-Trailer: t\r\n" if self.rng.random() < 0.2 else b"") + b"\r\n"
        else:
            hs.append(("Content-Length", str(size)))
            body = data
        path = "/api/v1/bills/%s/files?name=f%d.bin" % (self.image_no(), self.rng.randrange(1000))
        return build_request("POST", path, hs), body

    def check_upload_answer(self, resp, rid, seed, size, what):
        check_well_formed(resp, rid, what)
        expect(resp, {201}, what)
        body = json.loads(resp.body)
        if body["size"] != size or body["blob"] != blake(data_of(seed, size)):
            raise Failure("%s: stored size/blob differ: %r" % (what, body))
        self.shared.add_upload(body["file_id"], seed, size)

    def download_request(self, rid, upload, method="GET", ranged=None, extra=()):
        """(request bytes, checker(resp))."""
        file_id, seed, size = upload
        hs = [self.auth, ("X-Request-Id", rid)] + list(extra)
        lo, hi = 0, size - 1
        if ranged == "a-b":
            lo = self.rng.randrange(size)
            hi = self.rng.randrange(lo, size + 10)
            hs.append(("Range", "bytes=%d-%d" % (lo, hi)))
            hi = min(hi, size - 1)
        elif ranged == "a-":
            lo = self.rng.randrange(size)
            hs.append(("Range", "bytes=%d-" % lo))
        elif ranged == "-n":
            n = self.rng.randint(1, size + 5)
            lo = max(0, size - n)
            hs.append(("Range", "bytes=-%d" % n))
        raw = build_request(method, "/api/v1/files/%s/content" % file_id, hs)

        def check(resp, what):
            check_well_formed(resp, rid, what)
            expect(resp, {206 if ranged else 200}, what)
            if resp.header("content-length") != str(hi - lo + 1):
                raise Failure("%s: Content-Length %r, expected %d" %
                              (what, resp.header("content-length"), hi - lo + 1))
            if method == "HEAD":
                if resp.body:
                    raise Failure("%s: HEAD answer has a body" % what)
                return
            want = data_of(seed, size)[lo:hi + 1]
            if resp.body != want:
                raise Failure("%s: downloaded bytes differ (%d bytes, expected %d)"
                              % (what, len(resp.body), len(want)))
        return raw, check

    def small_item(self):
        """A small request for pipelined batches: (method, raw, checker or None,
        closes) with its X-Request-Id checked by the caller."""
        rid = self.rid()
        kind = self.rng.choice(["healthz", "version", "pool", "upload", "upload_chunked",
                                "upload_expect", "download", "range", "head", "notfound",
                                "wrongmethod", "get_body", "status", "not_modified",
                                "bad_range", "http10"])
        hs = [self.auth, ("X-Request-Id", rid)]
        if kind == "http10":
            raw = build_request("GET", "/healthz", hs + [("Connection", "keep-alive")])
            return rid, "GET", raw.replace(b"HTTP/1.1", b"HTTP/1.0", 1), {200}, None
        if kind == "upload_expect":
            # Expect: 100-continue, but the body follows at once (clients may): a 100
            # interim answer may come before the final one.
            seed, size = self.new_upload(60000)
            head, body = self.upload_request(rid, seed, size, expect_continue=True)

            def check(resp, what, seed=seed, size=size):
                self.check_upload_answer(resp, rid, seed, size, what)
            return rid, "POST", head + body, {201}, check
        if kind in ("not_modified", "bad_range"):
            up = self.shared.pick_upload(self.rng, small=True)
            if up is None:
                return rid, "GET", build_request("GET", "/healthz", hs), {200}, None
            extra = [("If-None-Match", "*")] if kind == "not_modified" else \
                [("Range", "bytes=%d-" % (up[2] + 5))]
            return rid, "GET", build_request("GET", "/api/v1/files/%s/content" % up[0],
                                             hs + extra), \
                {304} if kind == "not_modified" else {416}, None
        if kind == "healthz":
            return rid, "GET", build_request("GET", "/healthz", hs), {200}, None
        if kind == "version":
            return rid, "GET", build_request("GET", "/api/v1/version", hs), {200}, None
        if kind == "status":
            return rid, "GET", build_request("GET", "/api/v1/bills/%s/status" % self.image_no(),
                                             hs), {200, 404}, None
        if kind == "pool":
            body = json.dumps({"image_no": "SP-%d-%d" % (self.index, self.n),
                               "bill_no": "B%d" % self.n}).encode()
            return rid, "POST", build_request("POST", "/api/v1/pool", hs, body), {201}, None
        if kind in ("upload", "upload_chunked"):
            seed, size = self.new_upload(60000)
            head, body = self.upload_request(rid, seed, size, chunked=kind == "upload_chunked")

            def check(resp, what, seed=seed, size=size):
                self.check_upload_answer(resp, rid, seed, size, what)
            return rid, "POST", head + body, {201}, check
        if kind in ("download", "range", "head"):
            up = self.shared.pick_upload(self.rng, small=True)
            if up is None:
                return rid, "GET", build_request("GET", "/healthz", hs), {200}, None
            method = "HEAD" if kind == "head" else "GET"
            raw, check = self.download_request(
                rid, up, method, ranged=self.rng.choice(["a-b", "a-", "-n"])
                if kind == "range" else None)
            return rid, method, raw, {206 if kind == "range" else 200}, check
        if kind == "notfound":
            return rid, "GET", build_request("GET", "/nope/%d" % self.n, hs), {404}, None
        if kind == "wrongmethod":
            return rid, "POST", build_request("POST", "/healthz", hs, b"abc"), {405}, None
        # get_body: a small body on a GET is read and dropped, the connection kept.
        return rid, "GET", build_request("GET", "/healthz", hs,
                                         self.rng.randbytes(self.rng.randint(1, 5000))), \
            {200}, None

    # -- scenarios -----------------------------------------------------------------

    def sc_keepalive(self):
        """A few valid requests one after the other on one connection."""
        c = Client(self.node)
        try:
            for _ in range(self.rng.randint(1, 4)):
                roll = self.rng.random()
                rid = self.rid()
                if roll < 0.4:
                    seed, size = self.new_upload()
                    chunked = self.rng.random() < 0.4
                    cont = self.rng.random() < 0.3
                    head, body = self.upload_request(rid, seed, size, chunked, cont)
                    what = "upload %d bytes chunked=%s expect=%s" % (size, chunked, cont)
                    if cont:
                        c.send(head)
                        first = c.read()
                        if first.status != 100:
                            raise Failure("%s: expected 100 Continue, got %r" % (what, first))
                        c.send_bg(body)
                    else:
                        c.send_bg(head + body)
                    resp = c.read()
                    self.check_upload_answer(resp, rid, seed, size, what)
                    self.shared.count("upload")
                elif roll < 0.75:
                    up = self.shared.pick_upload(self.rng)
                    if up is None:
                        continue
                    method = "HEAD" if self.rng.random() < 0.2 else "GET"
                    ranged = self.rng.choice([None, None, "a-b", "a-", "-n"])
                    raw, check = self.download_request(rid, up, method, ranged)
                    c.send(raw)
                    resp = c.read(method)
                    check(resp, "%s %s range=%s" % (method, up[0], ranged))
                    self.shared.count("download")
                elif roll < 0.9:
                    body = json.dumps({"image_no": "SK-%d-%d" % (self.index, self.n),
                                       "invoices": [{"number": "1"}]}).encode()
                    c.send(build_request("POST", "/api/v1/pool",
                                         [self.auth, ("X-Request-Id", rid)], body))
                    resp = c.read()
                    check_well_formed(resp, rid, "pool push")
                    expect(resp, {201}, "pool push")
                    self.shared.count("pool")
                else:
                    c.send(build_request("GET", "/api/v1/bills/%s/status" % self.image_no(),
                                         [self.auth, ("X-Request-Id", rid)]))
                    resp = c.read()
                    check_well_formed(resp, rid, "status")
                    expect(resp, {200, 404}, "status")
                if (resp.header("connection") or "").lower() != "keep-alive":
                    raise Failure("a valid request closed the connection: %r" % resp)
        finally:
            c.close()

    def sc_pipelined(self):
        """A batch of small requests in one go; the answers in order."""
        items = [self.small_item() for _ in range(self.rng.randint(2, 10))]
        garbage_at = None
        close_last = self.rng.random() < 0.2
        if self.rng.random() < 0.15:
            garbage_at = self.rng.randrange(len(items) + 1)
        raw = b""
        for i, (rid, method, req, statuses, check) in enumerate(items):
            if i == garbage_at:
                raw += b"\x01GARBAGE\r\n\r\n"
            if close_last and i == len(items) - 1:
                req = req.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
            raw += req
        if garbage_at == len(items):
            raw += b"\x01GARBAGE\r\n\r\n"
        half_close = self.rng.random() < 0.3
        c = Client(self.node)
        try:
            c.send_bg(raw)
            if half_close:
                c.senders[-1].join(OP_TIMEOUT)
                c.shut_wr()
            for i, (rid, method, req, statuses, check) in enumerate(items):
                if i == garbage_at:
                    resp = c.read()
                    check_well_formed(resp, None, "garbage in a pipeline")
                    expect(resp, {400}, "garbage in a pipeline")
                    if not c.closes():
                        raise Failure("connection kept after a 400 for garbage")
                    return
                what = "pipelined %d/%d %s half_close=%s" % (i + 1, len(items),
                                                             req[:60], half_close)
                try:
                    resp = c.read(method)
                    while resp.status == 100:
                        resp = c.read(method)
                except EOFError as e:
                    raise Failure("%s: connection closed before this answer: %s"
                                  % (what, e)) from None
                check_well_formed(resp, rid, what)
                if check is not None:
                    check(resp, what)
                else:
                    expect(resp, statuses, what)
            if garbage_at == len(items) and not close_last:
                resp = c.read()
                check_well_formed(resp, None, "garbage at the end of a pipeline")
                expect(resp, {400}, "garbage at the end of a pipeline")
            if (close_last or half_close or garbage_at is not None) and not c.closes():
                raise Failure("connection not closed after the last pipelined answer")
            self.shared.count("pipelined")
        finally:
            c.close()

    def sc_pipeline_abandoned(self):
        """A pipelined batch whose client reads some answers, then goes away."""
        items = [self.small_item() for _ in range(self.rng.randint(2, 8))]
        keep = self.rng.randrange(len(items))
        c = Client(self.node)
        try:
            c.send_bg(b"".join(item[2] for item in items))
            for rid, method, req, statuses, check in items[:keep]:
                resp = c.read(method)
                while resp.status == 100:
                    resp = c.read(method)
                check_well_formed(resp, rid, "pipelined, before abandoning")
            if self.rng.random() < 0.5:
                c.reset()
            self.shared.count("abandoned")
        finally:
            c.close()

    def sc_client_gone(self):
        """A valid request whose client goes away at a random point."""
        point = self.rng.choice(["mid_head", "mid_body", "after_send", "mid_download",
                                 "mid_chunked", "after_head_continue"])
        rid = self.rid()
        c = Client(self.node, rcvbuf=self.rng.choice([None, 4096]))
        try:
            if point in ("mid_head", "mid_body", "after_send", "mid_chunked",
                         "after_head_continue"):
                seed, size = self.new_upload()
                head, body = self.upload_request(rid, seed, max(size, 2), chunked=point ==
                                                 "mid_chunked", expect_continue=point ==
                                                 "after_head_continue")
                if point == "mid_head":
                    c.send(head[:self.rng.randrange(1, len(head))])
                elif point in ("mid_body", "mid_chunked"):
                    c.send(head + body[:self.rng.randrange(len(body))])
                elif point == "after_head_continue":
                    c.send(head)
                else:
                    c.send_bg(head + body)
                    c.senders[-1].join(OP_TIMEOUT)
                time.sleep(self.rng.choice([0, 0, 0.01, 0.1]))
            else:
                up = self.shared.pick_upload(self.rng)
                if up is None:
                    return
                raw, _ = self.download_request(rid, up)
                c.send(raw)
                try:
                    c.sock.recv(self.rng.choice([1, 100, 5000, 70000]))
                except OSError:
                    pass
            if self.rng.random() < 0.3:
                c.reset()
            self.shared.count("gone")
        finally:
            c.close()

    def sc_slow(self):
        """A request dribbled in small pieces (well within the idle timeout), or a
        download read slowly."""
        rid = self.rid()
        c = Client(self.node)
        try:
            if self.rng.random() < 0.5:
                body = json.dumps({"image_no": "SS-%d-%d" % (self.index, self.n)}).encode()
                raw = build_request("POST", "/api/v1/pool", [self.auth, ("X-Request-Id", rid)],
                                    body)
                cuts = sorted(self.rng.sample(range(1, len(raw)), 8))
                last = 0
                for cut in cuts + [len(raw)]:
                    c.send(raw[last:cut])
                    last = cut
                    time.sleep(0.05)
                resp = c.read()
                check_well_formed(resp, rid, "slow pool push")
                expect(resp, {201}, "slow pool push")
            else:
                up = self.shared.pick_upload(self.rng)
                if up is None:
                    return
                c.close()
                c = Client(self.node, rcvbuf=4096)
                raw, check = self.download_request(rid, up)
                c.send(raw)
                got = b""
                while len(got) < 300 and time.monotonic() < self.deadline:
                    piece = c.sock.recv(50)
                    if not piece:
                        break
                    got += piece
                    time.sleep(0.02)
                c.reader.buf = got
                check(c.read(), "slowly read download")
            self.shared.count("slow")
        finally:
            c.close()

    def sc_refused(self):
        """What the server refuses itself: garbage, oversized heads and bodies."""
        kind = self.rng.choice(["garbage", "tls", "nul", "big_header", "many_headers",
                                "long_line", "over_body_max", "over_body_max_chunked",
                                "json_over", "json_over_chunked", "bad_chunk",
                                "bad_path"])
        rid = self.rid()
        hs = [self.auth, ("X-Request-Id", rid)]
        c = Client(self.node)
        try:
            body = None
            if kind == "garbage":
                raw = bytes([self.rng.choice(b"\x00\x01\x7f\xff{}<")]) + \
                    self.rng.randbytes(self.rng.randint(1, 3000)) + b"\r\n\r\n"
                statuses = {400, 431}
            elif kind == "tls":
                raw = bytes.fromhex("160301020001000001fc0303") + self.rng.randbytes(200)
                statuses = {400}
            elif kind == "nul":
                raw = b"GET /healthz HTTP/1.1\r\nX-A: a\x00b\r\n\r\n"
                statuses = {400}
            elif kind == "big_header":
                raw = build_request("GET", "/healthz", hs + [("X-Pad", "a" * (HEADER_MAX + 10))])
                statuses = {431}
            elif kind == "many_headers":
                raw = build_request("GET", "/healthz", hs + [("X-H%d" % i, "v") for i in range(120)])
                statuses = {431}
            elif kind == "long_line":
                raw = build_request("GET", "/healthz?" + "q" * (HEADER_MAX + 10), hs)
                statuses = {431}
            elif kind == "over_body_max":
                raw = build_request("POST", "/api/v1/bills/SR-1/files?name=big",
                                    hs + [("Content-Length", str(BODY_MAX + 1))])
                statuses = {413}
            elif kind == "over_body_max_chunked":
                raw = build_request("POST", "/api/v1/bills/SR-1/files?name=big",
                                    hs + [("Transfer-Encoding", "chunked")])
                piece = self.rng.randbytes(0x40000)
                body = (b"40000\r\n" + piece + b"\r\n") * (BODY_MAX // 0x40000 + 2)
                statuses = {413}
            elif kind == "json_over":
                raw = build_request("POST", "/api/v1/pool",
                                    hs + [("Content-Length", str((1 << 20) + 100))])
                statuses = {413}
            elif kind == "json_over_chunked":
                raw = build_request("POST", "/api/v1/pool",
                                    hs + [("Transfer-Encoding", "chunked")])
                body = (b"10000\r\n" + b" " * 0x10000 + b"\r\n") * 18
                statuses = {413}
            elif kind == "bad_chunk":
                raw = build_request("POST", "/api/v1/bills/SR-2/files?name=x",
                                    hs + [("Transfer-Encoding", "chunked")]) + b"3\r\nabcXYZ\r\n"
                statuses = {400}
            else:
                raw = b"GET /a%zzb HTTP/1.1\r\nHost: x\r\n\r\n"
                statuses = {400}
            c.send(raw)
            if body is not None:
                c.send_bg(body)
            resp = c.read()
            check_well_formed(resp, None, "refused %s" % kind)
            expect(resp, statuses, "refused %s" % kind)
            if (resp.header("connection") or "").lower() != "close":
                raise Failure("refused %s: the connection is kept: %r" % (kind, resp))
            if not c.closes():
                raise Failure("refused %s: the node did not close the connection" % kind)
            self.shared.count("refused")
        finally:
            c.close()

    def sc_stall(self):
        """A client that stops sending mid-head or mid-body: 408 after the idle timeout,
        then the connection closes."""
        rid = self.rid()
        c = Client(self.node)
        try:
            kind = self.rng.choice(["head", "upload", "upload_chunked", "json"])
            if kind == "head":
                c.send(b"GET /healthz HTTP/1.1\r\nX-Request-Id: %s\r\n" % rid.encode())
            elif kind == "json":
                c.send(build_request("POST", "/api/v1/pool", [self.auth, ("X-Request-Id", rid),
                                                              ("Content-Length", "100")])
                       + b'{"image_no":')
            else:
                seed, size = self.new_upload()
                head, body = self.upload_request(rid, seed, max(size, 2),
                                                 chunked=kind == "upload_chunked")
                c.send(head + body[:self.rng.randrange(len(body) - 1)])
            t0 = time.monotonic()
            resp = c.read()
            check_well_formed(resp, None, "stalled %s" % kind)
            expect(resp, {408}, "stalled %s" % kind)
            if time.monotonic() - t0 < IDLE_MS / 1000.0 * 0.5:
                raise Failure("stalled %s: 408 long before the idle timeout" % kind)
            if not c.closes():
                raise Failure("stalled %s: the connection stays after the 408" % kind)
            self.shared.count("stall")
        finally:
            c.close()

    def sc_head_and_get_body(self):
        """HEAD answers carry no body, and bodies on GET are dropped: the next answer
        on the same connection parses."""
        c = Client(self.node)
        try:
            for _ in range(self.rng.randint(1, 4)):
                rid = self.rid()
                kind = self.rng.choice(["head_content", "head_healthz", "get_body",
                                        "get_chunked_body", "get_content_body"])
                hs = [self.auth, ("X-Request-Id", rid)]
                if kind == "head_content":
                    up = self.shared.pick_upload(self.rng)
                    if up is None:
                        continue
                    raw, check = self.download_request(rid, up, "HEAD")
                    c.send(raw)
                    check(c.read("HEAD"), "HEAD content")
                elif kind == "head_healthz":
                    c.send(build_request("HEAD", "/healthz", hs))
                    resp = c.read("HEAD")
                    check_well_formed(resp, rid, "HEAD /healthz")
                    expect(resp, {405}, "HEAD /healthz")
                elif kind == "get_body":
                    c.send_bg(build_request("GET", "/healthz", hs,
                                            self.rng.randbytes(self.rng.randint(1, 900000))))
                    resp = c.read()
                    check_well_formed(resp, rid, "GET with a body")
                    expect(resp, {200}, "GET with a body")
                elif kind == "get_content_body":
                    up = self.shared.pick_upload(self.rng)
                    if up is None:
                        continue
                    raw, check = self.download_request(rid, up, extra=[("Content-Length", "3000")])
                    c.send_bg(raw + self.rng.randbytes(3000))
                    check(c.read(), "download with a body on the GET")
                else:
                    c.send(build_request("GET", "/healthz", hs + [("Transfer-Encoding",
                                                                   "chunked")],
                                         b"5\r\nhello\r\n0\r\n\r\n"))
                    resp = c.read()
                    check_well_formed(resp, rid, "GET with a chunked body")
                    expect(resp, {200}, "GET with a chunked body")
                    if (resp.header("connection") or "").lower() == "close":
                        if not c.closes():
                            raise Failure("Connection: close, but the connection stays")
                        return
            self.shared.count("head_get_body")
        finally:
            c.close()

    SCENARIOS = [("sc_keepalive", 30), ("sc_pipelined", 25), ("sc_client_gone", 15),
                 ("sc_pipeline_abandoned", 6), ("sc_stall", 1),
                 ("sc_slow", 6), ("sc_refused", 12), ("sc_head_and_get_body", 12)]

    def run(self):
        names = [n for n, _ in self.SCENARIOS]
        weights = [w for _, w in self.SCENARIOS]
        while time.monotonic() < self.deadline:
            name = self.rng.choices(names, weights)[0]
            try:
                getattr(self, name)()
            except Failure as e:
                self.shared.fail("worker %d %s (%s): %s" % (self.index, name,
                                                           type(e).__name__, e))
            except Exception as e:  # noqa: BLE001 - a client that breaks is reported
                self.shared.fail("worker %d %s: %s\n%s" % (self.index, name, repr(e),
                                                            traceback.format_exc(limit=3)))


class HttpStressTest(NodeTestCase):

    def monitor(self, node, shared, stop):
        """GET /healthz on fresh connections throughout."""
        while not stop.wait(0.5):
            try:
                r = node.get("/healthz", auth=False, timeout=OP_TIMEOUT)
                if r.status != 200:
                    shared.fail("healthz: %r" % r)
            except Exception as e:  # noqa: BLE001 - anything is a failure here
                shared.fail("healthz failed: %r (node alive: %s)" % (e, node.alive()))

    def settle(self, node):
        """Nothing left in flight and no connections but ours once clients are gone."""
        deadline = time.monotonic() + 15
        while True:
            m = node.metrics()
            if m["imgarc_http_requests_in_flight"] <= 1 and \
                    m["imgarc_http_connections_open"] <= 1:
                return m
            if time.monotonic() > deadline:
                self.fail("requests or connections never finish after the clients left: "
                          "in flight %d, connections open %d"
                          % (m["imgarc_http_requests_in_flight"],
                             m["imgarc_http_connections_open"]))
            time.sleep(0.2)

    def test_stress(self):
        t0 = time.monotonic()
        print("\nhttp stress: seed %d (IMGARC_STRESS_SEED), %d workers, %.0f s"
              % (SEED, WORKERS, SECONDS), flush=True)
        node = self.start_node("http-stress", args=[
            "--header-max", str(HEADER_MAX), "--body-max", str(BODY_MAX),
            "--idle-timeout-ms", str(IDLE_MS), "--shutdown-grace-ms", str(GRACE_MS)])
        shared = Shared()
        # A few files to download from the start.
        seeder = Worker(node, shared, 99, 0)
        for size in (1, 5000, 70000, 300000, 1500000):
            seed = seeder.rng.getrandbits(48)
            rid = seeder.rid()
            head, body = seeder.upload_request(rid, seed, size)
            c = Client(node)
            try:
                c.send_bg(head + body)
                seeder.check_upload_answer(c.read(), rid, seed, size, "seed upload")
            finally:
                c.close()
        stop = threading.Event()
        mon = threading.Thread(target=self.monitor, args=(node, shared, stop), daemon=True)
        mon.start()
        deadline = time.monotonic() + SECONDS
        threads = []
        for i in range(WORKERS):
            w = Worker(node, shared, i, deadline)
            t = threading.Thread(target=w.run, daemon=True)
            t.start()
            threads.append(t)
        for t in threads:
            t.join(max(1.0, deadline - time.monotonic() + 2 * OP_TIMEOUT))
            if t.is_alive():
                shared.fail("a client thread is stuck (a request that never finishes)")
        stop.set()
        mon.join(OP_TIMEOUT + 5)
        print("http stress: %r, %d uploads stored, %d failures"
              % (shared.counts, len(shared.uploads), len(shared.failures)), flush=True)
        self.assertTrue(node.alive(), "imgarcd died; log:\n%s" % node.log_tail())
        if shared.failures:
            self.fail("seed %d: %d client failures, first ones:\n%s"
                      % (SEED, len(shared.failures), "\n".join(shared.failures[:8])))

        # Every 201 upload downloads byte-identical (all the small ones, some big).
        rng = random.Random(SEED)
        uploads = list(shared.uploads)
        rng.shuffle(uploads)
        checked = 0
        big = 0
        for file_id, seed, size in uploads:
            if size > 300000:
                if big >= 6:
                    continue
                big += 1
            r = node.content(file_id)
            self.assertEqual(r.status, 200, "download of %s: %r" % (file_id, r))
            self.assertTrue(r.body == data_of(seed, size),
                            "file %s (%d bytes) downloads different bytes" % (file_id, size))
            checked += 1
        self.settle(node)
        self.assertServing(node, "after the stress")

        # Stop with connections in several states: it completes within a few seconds.
        idle = Client(node)
        half_head = Client(node)
        half_head.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        mid_body = Client(node)
        head, body = seeder.upload_request("stop-1", 7, 500000)
        mid_body.send(head + body[:100000])
        kept = Client(node)
        kept.send(build_request("GET", "/healthz"))
        kept.read()
        time.sleep(0.3)
        t_stop = time.monotonic()
        code = node.stop(timeout=30)
        took = time.monotonic() - t_stop
        for c in (idle, half_head, mid_body, kept):
            c.close()
        print("http stress: %d downloads verified, stop took %.2f s, whole test %.1f s"
              % (checked, took, time.monotonic() - t0), flush=True)
        self.assertEqual(code, 0, "imgarcd exit status on SIGTERM; log:\n%s" % node.log_tail())
        self.assertLess(took, STOP_SECONDS, "SIGTERM took %.1f s to stop the node" % took)

    # -- what the stress found, pinned down -------------------------------------------

    def test_pipelined_answers_survive_half_close(self):
        """A client that sends its pipelined requests, half-closes (shutdown(SHUT_WR))
        and then reads gets every answer: the FIN must not cut the answers the node
        still has queued."""
        node = self.start_node("http-halfclose")
        n = 3000
        raw = b"".join(build_request("GET", "/metrics", [("X-Request-Id", "m-%d" % i)])
                       for i in range(n))
        c = Client(node, rcvbuf=4096)
        got = 0
        try:
            c.send(raw)
            c.shut_wr()
            time.sleep(2)  # the client is slow to start reading
            while got < n:
                r = c.read()
                self.assertEqual(r.header("x-request-id"), "m-%d" % got)
                got += 1
        except EOFError:
            pass
        finally:
            c.close()
        self.assertEqual(got, n, "only %d of %d pipelined answers arrived before the node "
                                 "closed the half-closed connection" % (got, n))

    def metrics_answers_fitting(self, node):
        """How many /metrics answers fit in well under the node's 4 MiB queue of
        answers for one connection (the answer grows with the node's metrics)."""
        size = len(node.get("/metrics").body) + 512  # and the head
        return min(900, (3 << 20) // size)

    def metrics_pipeline(self, node, n):
        """A client with a small receive buffer that pipelines @n GET /metrics and does
        not read yet."""
        c = Client(node, rcvbuf=4096)
        c.send(b"".join(build_request("GET", "/metrics", [("X-Request-Id", "m-%d" % i)])
                        for i in range(n)))
        return c

    def read_metrics_answers(self, c, n):
        got = 0
        try:
            while got < n:
                r = c.read()
                self.assertEqual(r.header("x-request-id"), "m-%d" % got)
                got += 1
        except EOFError:
            pass
        finally:
            c.close()
        return got

    def test_pipelined_answers_survive_idle_timeout(self):
        """Answers the node still has queued for a slow reader are delivered: the idle
        timeout (no request bytes) does not throw them away."""
        node = self.start_node("http-slowreader", args=["--idle-timeout-ms", "1500"])
        n = self.metrics_answers_fitting(node)
        c = self.metrics_pipeline(node, n)
        time.sleep(3)  # twice the idle timeout before the client starts reading
        got = self.read_metrics_answers(c, n)
        self.assertEqual(got, n, "only %d of %d pipelined answers arrived: the idle timeout "
                                 "closed the connection with answers queued" % (got, n))

    def test_stop_delivers_queued_answers(self):
        """SIGTERM lets answers already made reach a slow reader (within the grace
        period) instead of closing their connection at once."""
        node = self.start_node("http-stopqueue", args=["--shutdown-grace-ms", "5000"])
        n = self.metrics_answers_fitting(node)
        c = self.metrics_pipeline(node, n)
        time.sleep(1)
        node.signal(signal.SIGTERM)
        time.sleep(1)
        got = self.read_metrics_answers(c, n)
        self.assertEqual(node.wait_exit(30), 0, "imgarcd exit status after SIGTERM")
        self.assertEqual(got, n, "only %d of %d answers (all made before the SIGTERM) "
                                 "arrived" % (got, n))

    def test_connection_close_wins(self):
        """A request that says "Connection: close" gets the last answer of its
        connection, whatever else its Connection headers say (RFC 9112 9.6), HTTP/1.0
        included: a pipelined request after it is not answered."""
        node = self.start_node("http-close")
        cases = {
            "1.1 close": b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n",
            "1.1 keep-alive, close": b"GET /healthz HTTP/1.1\r\n"
                                     b"Connection: keep-alive, close\r\n\r\n",
            "1.0": b"GET /healthz HTTP/1.0\r\n\r\n",
            "1.0 keep-alive, close": b"GET /healthz HTTP/1.0\r\n"
                                     b"Connection: keep-alive, close\r\n\r\n",
            "1.0 close + keep-alive": b"GET /healthz HTTP/1.0\r\nConnection: close\r\n"
                                      b"Connection: keep-alive\r\n\r\n",
        }
        for name, raw in cases.items():
            with self.subTest(case=name):
                c = Client(node, timeout=10)
                try:
                    c.send(raw + build_request("GET", "/healthz", [("X-Request-Id", "next")]))
                    r = c.read()
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.header("connection"), "close",
                                     "the answer keeps the connection: %r" % r)
                    self.assertTrue(c.closes(10), "the connection stays open")
                finally:
                    c.close()

    def test_pipelined_download_read_slowly(self):
        """A download that was pipelined behind another request, to a client that reads
        slowly, is not cut by the idle timeout (the node is not waiting for bytes
        from the client then)."""
        node = self.start_node("http-slowpipe", args=["--idle-timeout-ms", "1500"])
        big = random.Random(5).randbytes(16 << 20)
        auth = ("Authorization", "Bearer " + node.token)
        ids = []
        for name, data in (("small.bin", b"hello"), ("big.bin", big)):
            r = node.upload("SLOW-1", data, name=name)
            self.assertEqual(r.status, 201, r)
            ids.append(r.json["file_id"])
        c = Client(node, rcvbuf=8192)
        try:
            c.send(build_request("GET", "/api/v1/files/%s/content" % ids[0], [auth]) +
                   build_request("GET", "/api/v1/files/%s/content" % ids[1], [auth]))
            time.sleep(3)  # twice the idle timeout without reading
            self.assertEqual(c.read().body, b"hello")
            try:
                body = c.read().body
            except EOFError as e:
                self.fail("the pipelined download was cut: %s" % e)
            self.assertTrue(body == big, "the pipelined download differs")
        finally:
            c.close()


class SlowBodiesTest(NodeTestCase):
    """Slow or stalled clients cannot hold the node's memory: a request's head and a
    body held in memory have deadlines however steadily they trickle, and the bodies
    held at once are bounded (503 with Retry-After beyond)."""

    def trickle(self, node, head, data, every=0.3):
        """Sends @head, then @data one byte every @every seconds until the node answers;
        returns (answer, bytes of @data sent)."""
        s = node.socket(timeout=30)
        try:
            s.sendall(head)
            sent = 0
            for i in range(len(data)):
                readable, _, _ = select.select([s], [], [], every)
                if readable:
                    break
                try:
                    s.send(data[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
                sent += 1
            return ResponseReader(s).read(), sent
        finally:
            s.close()

    def test_trickled_head_and_body_get_408(self):
        node = self.start_node("slow-bodies", args=[
            "--idle-timeout-ms", "2000", "--header-timeout-ms", "2500",
            "--body-timeout-ms", "2500"])
        auth = [("Authorization", "Bearer " + node.token)]
        # A head a byte at a time, never 2 s apart: its deadline still ends it.
        r, sent = self.trickle(node, b"GET /healthz HTTP/1.1\r\n",
                               b"X-Pad: " + b"a" * 100 + b"\r\n\r\n")
        self.assertError(r, 408, 10408, "request_timeout", index=False)
        self.assertIn("--header-timeout-ms", r.json["message"])
        self.assertLess(sent, 100, "the whole head was taken")
        # The same for a JSON body (held in memory until complete).
        body = json.dumps({"image_no": "BX-SLOW-1", "bill_no": "1", "amount": "1.00",
                           "note": "x" * 100}).encode()
        head = build_request("POST", "/api/v1/pool",
                             auth + [("Content-Type", "application/json"),
                                     ("Content-Length", str(len(body)))])
        r, sent = self.trickle(node, head, body)
        self.assertError(r, 408, 10408, "request_timeout", index=False)
        self.assertIn("--body-timeout-ms", r.json["message"])
        self.assertLess(sent, len(body), "the whole body was taken")
        self.assertError(node.bill("BX-SLOW-1"), 404, 11002, "bill_not_found")
        self.assertEqual(node.metrics()["imgarc_http_buffered_bytes"], 0)

    def test_buffered_bodies_are_bounded(self):
        budget = 8 << 20
        node = self.start_node("buffered-bodies", args=[
            "--buffered-bytes-max", str(budget), "--body-timeout-ms", "600000",
            "--idle-timeout-ms", "600000"])
        auth = [("Authorization", "Bearer " + node.token),
                ("Content-Type", "application/json")]
        size = 1 << 20  # the largest JSON body
        head = build_request("POST", "/api/v1/pool", auth + [("Content-Length", str(size))])
        held = []
        try:
            # Seven bodies of 1 MiB (each holds its length + 1) fit in 8 MiB...
            for _ in range(7):
                s = node.socket(timeout=30)
                held.append(s)
                s.sendall(head + b'{"image_no": ')
            self.wait_metric(node, "imgarc_http_buffered_bytes", 7 * (size + 1))
            # ...an eighth does not: 503 from its head, told when to retry (its body
            # bytes already on the way are dropped).
            s = node.socket(timeout=30)
            try:
                s.sendall(head + b"x" * 200000)
                reader = ResponseReader(s)
                r = reader.read()
                self.assertError(r, 503, 10503, "unavailable", index=False)
                self.assertEqual(r.header("retry-after"), "1")
                self.assertIn("--buffered-bytes-max", r.json["message"])
                self.assertTrue(reader.at_eof(10), "the refused connection stays open")
            finally:
                s.close()
            m = node.metrics()
            self.assertEqual(m["imgarc_http_bodies_refused_busy_total"], 1)
            # Requests without a body are not held back.
            self.assertStatus(node.get("/api/v1/bills"), 200)
            # A client gone gives its share back; the next body fits again.
            held.pop().close()
            self.wait_metric(node, "imgarc_http_buffered_bytes", 6 * (size + 1), below=True)
            r = node.pool_push({"image_no": "BX-BUDGET-1", "bill_no": "1", "amount": "1.00"})
            self.assertStatus(r, 201)
        finally:
            for s in held:
                s.close()
        self.wait_metric(node, "imgarc_http_buffered_bytes", 0, below=True)

    def wait_metric(self, node, name, value, below=False, timeout=20):
        deadline = time.monotonic() + timeout
        while True:
            got = node.metrics()[name]
            if (got <= value) if below else (got >= value):
                return
            if time.monotonic() > deadline:
                self.fail("%s is %d, never %s %d" % (name, got, "<=" if below else ">=", value))
            time.sleep(0.1)


if __name__ == "__main__":
    unittest.main()
