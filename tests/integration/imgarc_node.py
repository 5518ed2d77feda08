"""Helpers for the integration tests: a real imgarcd on loopback, HTTP clients, the CLI.

Environment (set by CTest, see tests/CMakeLists.txt):
  IMGARC_BIN_DIR   the build directory holding imgarcd, imgarc and imgarc-bench
  IMGARC_TEST_TMP  the scratch root; every node gets a fresh data dir under it

Only the Python standard library is used.

A node is started on free loopback ports (picked by binding port 0, kept across
restarts so the raft configuration and the clients stay valid), with a fresh data dir,
a known bootstrap token, and its stdout/stderr in DATA/imgarcd.log. start() waits
for GET /readyz 200 and fails with the log's tail when the node does not get there.
Every node started is stopped (SIGTERM, then SIGKILL after a timeout) by the cleanup
the tests register, and again at interpreter exit as a last resort, always by its
own pid.
"""

import atexit
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

BIN_DIR = os.environ.get("IMGARC_BIN_DIR") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build")
TMP_ROOT = os.environ.get("IMGARC_TEST_TMP") or os.path.join(tempfile.gettempdir(),
                                                             "imgarc-itest")
IMGARCD = os.path.join(BIN_DIR, "imgarcd")
IMGARC = os.path.join(BIN_DIR, "imgarc")
TOKEN = "itest-operator-token-0123456789abcdef"

READY_TIMEOUT = float(os.environ.get("IMGARC_TEST_READY_TIMEOUT", "20"))
# Sanitizer builds are several times slower; a generous per-request timeout.
HTTP_TIMEOUT = float(os.environ.get("IMGARC_TEST_HTTP_TIMEOUT", "60"))

ID_ALPHABET = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
ERROR_KEYS = {"code", "error", "message", "request_id"}


def blake2b_hex(data):
    """The blob hash of @data: BLAKE2b-256, lowercase hex."""
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def free_port():
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_free_ports():
    a = free_port()
    b = free_port()
    while b == a:
        b = free_port()
    return a, b


def scratch_dir(prefix):
    """A fresh empty directory under IMGARC_TEST_TMP."""
    os.makedirs(TMP_ROOT, exist_ok=True)
    return tempfile.mkdtemp(prefix=prefix + "-", dir=TMP_ROOT)


def quote(s):
    """Percent-encodes a path segment or query value (bytes or str), every reserved byte."""
    return urllib.parse.quote(s, safe="")


# ---------------------------------------------------------------------------
# Test content
# ---------------------------------------------------------------------------

def random_bytes(n, seed):
    return random.Random(seed).randbytes(n)


def make_pdf(pages=2, text="imgarc test document", seed=0):
    """A small PDF with @pages page objects ("/Type /Page") and a /Pages tree."""
    kids = " ".join("%d 0 R" % (3 + i) for i in range(pages))
    objs = [
        b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n",
        ("2 0 obj\n<< /Type /Pages /Kids [%s] /Count %d >>\nendobj\n" % (kids, pages)).encode(),
    ]
    for i in range(pages):
        objs.append(("%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\n"
                     "endobj\n" % (3 + i)).encode())
    body = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = []
    for o in objs:
        offsets.append(len(body))
        body += o
    body += ("%% %s seed=%d\n" % (text, seed)).encode()
    xref = len(body)
    body += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)).encode()
    for off in offsets:
        body += ("%010d 00000 n \n" % off).encode()
    body += ("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
             % (len(objs) + 1, xref)).encode()
    return body


def make_jpg(n=20000, seed=1):
    """Bytes with a JPEG header (FF D8 FF E0 ... JFIF) and an end marker."""
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return head + random_bytes(max(0, n - len(head) - 2), seed) + b"\xff\xd9"


def make_xml_invoice(number="04400000000112345678", amount="12.50"):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<EInvoice><Header><InvoiceNumber>%s</InvoiceNumber>"
            "<IssueDate>2024-05-01</IssueDate></Header>"
            "<Amount>%s</Amount><Tax>0.00</Tax><Total>%s</Total></EInvoice>\n"
            % (number, amount, amount)).encode()


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Response:
    """An HTTP response: status, headers (lowercase names), body bytes."""

    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lowercase name, value)
        self.body = body
        self._json = None

    def header(self, name, default=None):
        name = name.lower()
        found = default
        for k, v in self.headers:
            if k == name:
                found = v
        return found

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    @property
    def json(self):
        if self._json is None:
            try:
                self._json = json.loads(self.body)
            except ValueError as e:
                raise AssertionError("response %d is not JSON (%s): %r"
                                     % (self.status, e, self.body[:500])) from None
        return self._json

    def __repr__(self):
        return "<Response %d %r %r>" % (self.status, self.headers, self.body[:300])


def _from_httpclient(r):
    body = r.read()
    headers = [(k.lower(), v) for k, v in r.getheaders()]
    return Response(r.status, r.reason, headers, body)


class ResponseReader:
    """Reads successive HTTP/1.1 responses from a socket (keep-alive and pipelining)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def _fill(self):
        if self.eof:
            return False
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed before a full line (have %r)"
                               % self.buf[:200])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed after %d of %d body bytes"
                               % (len(self.buf), n))
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read(self, method="GET"):
        """One response; EOFError when the connection closes before one is complete."""
        status_line = self._line()
        m = re.match(rb"^HTTP/1\.[01] (\d{3})(?: (.*))?$", status_line)
        if m is None:
            raise AssertionError("bad status line %r" % status_line)
        status = int(m.group(1))
        reason = (m.group(2) or b"").decode("latin-1")
        headers = []
        while True:
            line = self._line()
            if line == b"":
                break
            name, _, value = line.partition(b":")
            headers.append((name.decode("latin-1").strip().lower(),
                            value.decode("latin-1").strip()))
        hdrs = dict(headers)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "chunked" in hdrs.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line() != b"":
                        pass
                    break
                body += self._exact(size)
                self._line()
        elif "content-length" in hdrs:
            body = self._exact(int(hdrs["content-length"]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(status, reason, headers, body)

    def at_eof(self, timeout):
        """True when the peer closes the connection within @timeout seconds with no
        further bytes; False when still open. Raises when bytes arrive."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if data:
            self.buf += data
            raise AssertionError("unexpected bytes on the connection: %r" % data[:300])
        return True


def build_request(method, path, headers=None, body=None, host="127.0.0.1"):
    """Raw HTTP/1.1 request bytes. Adds Host, and Content-Length when @body is given
    and no length header is."""
    hs = [("Host", host)]
    hs += list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hs}
    if body is not None and "content-length" not in names and \
            "transfer-encoding" not in names:
        hs.append(("Content-Length", str(len(body))))
    out = ("%s %s HTTP/1.1\r\n" % (method, path)).encode("latin-1")
    for k, v in hs:
        out += k.encode("latin-1") + b": " + (v if isinstance(v, bytes)
                                              else v.encode("latin-1")) + b"\r\n"
    out += b"\r\n"
    if body is not None:
        out += body
    return out


# ---------------------------------------------------------------------------
# The node
# ---------------------------------------------------------------------------

_live = {}
_live_lock = threading.Lock()


def _kill_leftovers():
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass


atexit.register(_kill_leftovers)


class NodeError(AssertionError):
    pass


# Webhook receivers of the tests listen on 127.0.0.1, which imgarcd refuses to reach
# unless allowed (--outbound-allow). Without a port the rule leaves the node's own API
# and raft ports refused. Node(outbound_allow=()) starts a node with the default.
OUTBOUND_ALLOW = ("127.0.0.1",)


class Node:
    """One imgarcd process on a data dir; restartable on the same dir and ports."""

    def __init__(self, name="node", args=(), token=TOKEN, data_dir=None,
                 fast_election=True, base_args=True, outbound_allow=OUTBOUND_ALLOW,
                 env=None, ssl_context=None, cacert=None):
        """@env: variables set for the process, over os.environ (e.g. LD_PRELOAD of
        libfaketime); None: the environment as it is. @ssl_context: the node serves
        https (its args name --tls-cert): the harness's requests use this context, and
        the CLI gets @cacert (with the context's client certificate, if any, given as
        IMGARC_CERT/IMGARC_KEY by the test)."""
        self.name = name
        self.ssl_context = ssl_context
        self.cacert = cacert
        self.env = dict(env) if env else None
        self.token = token
        self.data = data_dir or scratch_dir(name)
        self.log_path = os.path.join(self.data, "imgarcd.log")
        self.http_port, self.raft_port = two_free_ports()
        self.args = list(args)
        self.fast_election = fast_election
        self.base_args = base_args
        self.outbound_allow = list(outbound_allow)
        self.proc = None
        self.returncode = None
        self.starts = 0
        self.binary = IMGARCD  # another build's imgarcd for an upgrade test
        self._log_offset = 0
        self._term_sent = False

    # -- process -------------------------------------------------------------

    @property
    def host(self):
        return "127.0.0.1"

    @property
    def url(self):
        scheme = "https" if self.ssl_context is not None else "http"
        return "%s://127.0.0.1:%d" % (scheme, self.http_port)

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def command(self):
        cmd = [self.binary]
        if self.base_args:
            cmd += ["--listen", "127.0.0.1:%d" % self.http_port,
                    "--raft-listen", "127.0.0.1:%d" % self.raft_port,
                    "--data", self.data]
            if self.token is not None:
                cmd += ["--bootstrap-token", self.token]
            if self.fast_election:
                cmd += ["--election-timeout-ms", "1000", "--heartbeat-timeout-ms", "100"]
            for rule in self.outbound_allow:
                cmd += ["--outbound-allow", rule]
        return cmd + self.args

    def start(self, wait=True, timeout=None):
        """Starts the process (and waits for /readyz 200 unless @wait is False)."""
        if not os.access(self.binary, os.X_OK):
            raise NodeError("imgarcd not found at %s (set IMGARC_BIN_DIR)" % self.binary)
        if self.proc is not None and self.proc.poll() is None:
            raise NodeError("node %s is already running" % self.name)
        for attempt in range(3):
            self._spawn()
            if not wait:
                return self
            try:
                self.wait_ready(timeout)
                return self
            except NodeError:
                # A port taken between picking and binding: pick others, but only on
                # a first start (a restart must keep its raft address).
                if (self.starts == 1 and self.proc.poll() is not None and
                        "in use" in self.log_tail() and attempt < 2):
                    self.http_port, self.raft_port = two_free_ports()
                    self.starts = 0
                    continue
                raise
        return self

    def _spawn(self):
        os.makedirs(self.data, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            log.write(("\n==== test harness: start #%d: %s\n"
                       % (self.starts + 1, " ".join(self.command()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         env=self.process_env())
        self.returncode = None
        self._term_sent = False
        self.starts += 1
        with _live_lock:
            _live[self.proc.pid] = self.proc

    def process_env(self):
        """The spawned process's environment: os.environ with self.env over it. A
        preloaded library (libfaketime) comes before the sanitizer runtime in a
        sanitizer build, which ASan refuses unless told not to check: the option is
        added to whatever ASAN_OPTIONS says."""
        if not self.env:
            return None
        env = dict(os.environ)
        env.update(self.env)
        if env.get("LD_PRELOAD") and "verify_asan_link_order" not in env.get("ASAN_OPTIONS", ""):
            env["ASAN_OPTIONS"] = ":".join(
                o for o in (env.get("ASAN_OPTIONS", ""), "verify_asan_link_order=0") if o)
        return env

    def _forget(self):
        if self.proc is not None:
            with _live_lock:
                _live.pop(self.proc.pid, None)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=None):
        timeout = READY_TIMEOUT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                self._forget()
                raise NodeError("imgarcd exited with %s before it was ready; log:\n%s"
                                % (self.proc.returncode, self.log_tail()))
            try:
                r = self.get("/readyz", auth=False, timeout=2)
                if r.status == 200:
                    return
                last = "%d %r" % (r.status, r.body[:200])
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            time.sleep(0.05)
        raise NodeError("imgarcd not ready after %.0f s (last /readyz: %s); log:\n%s"
                        % (timeout, last, self.log_tail()))

    def signal(self, sig):
        if self.alive():
            os.kill(self.proc.pid, sig)
            if sig in (signal.SIGTERM, signal.SIGINT):
                self._term_sent = True

    def wait_exit(self, timeout):
        """Waits for the process to exit; its return code, or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        self._forget()
        return self.returncode

    def stop(self, timeout=30):
        """SIGTERM, wait up to @timeout, then SIGKILL. Returns the exit code (negative
        for a signal). Safe to call when not running."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            # A node already told to stop gets no second signal (that one means "exit
            # at once"): it is given the time to finish.
            if not self._term_sent:
                try:
                    os.kill(self.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                self._term_sent = True
            if self.wait_exit(timeout) is None:
                self.proc.kill()
                self.proc.wait()
                self.returncode = self.proc.returncode
        self.returncode = self.proc.returncode
        self._forget()
        return self.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.returncode = self.proc.returncode if self.proc is not None else None
        self._forget()
        return self.returncode

    def restart(self, wait=True, kill=False):
        if kill:
            self.kill9()
        else:
            self.stop()
        return self.start(wait=wait)

    def log_text(self, whole=False):
        try:
            with open(self.log_path, "rb") as f:
                if not whole:
                    f.seek(self._log_offset)
                return f.read().decode("utf-8", "replace")
        except OSError as e:
            return "(no log: %s)" % e

    def log_tail(self, lines=40):
        return "\n".join(self.log_text().splitlines()[-lines:])

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                       "assertion failed")
    # A stack frame of libraft's or libuv's own code, or of the sanitizer's allocator.
    LIBRARY_FRAME = re.compile(r"\(\S*/(libraft|libuv)\.so[.\d]*\+0x[0-9a-f]+\)|"
                               r"/libsanitizer/|in __interceptor_")

    def library_leak_only(self):
        """The one exception to "no sanitizer report": a LeakSanitizer report at exit in
        which every allocation stack lies wholly inside libraft 0.22.1 and libuv (no frame
        of imgarc's). libraft leaks what a snapshot send or install had loaded when the
        node closes in the middle of it (its legacy layer frees it only when the send or
        the restore completes); that is not imgarc's to free and a test cannot time it
        away. A leak with any frame of imgarc's, and every other report, still fails."""
        text = self.log_text(whole=True)
        if "ERROR: LeakSanitizer" not in text or any(
                m in text for m in self.SANITIZER_MARKS if m != "ERROR: LeakSanitizer"):
            return False
        report = text[text.index("ERROR: LeakSanitizer"):]
        report = report[:report.find("SUMMARY:")] if "SUMMARY:" in report else report
        frames = [x for x in report.splitlines() if re.match(r"\s+#\d+ 0x", x)]
        return bool(frames) and all(self.LIBRARY_FRAME.search(x) for x in frames)

    def problems(self):
        """Sanitizer reports and failed assertions anywhere in the node's log."""
        lines = self.log_text(whole=True).splitlines()
        for i, line in enumerate(lines):
            if any(m in line for m in self.SANITIZER_MARKS):
                return "\n".join(lines[max(0, i - 5):i + 60])
        return None

    def cleanup(self, remove_data=True):
        """Stops the node, then fails (keeping the data dir and its log) when a node
        that was still running did not exit 0 on SIGTERM, or when its log holds a
        sanitizer report or a failed assertion. Otherwise removes the data dir."""
        was_running = self.alive()
        code = self.stop()
        found = []
        library_leak = self.library_leak_only()
        if library_leak:
            # LeakSanitizer ends the process with an error (or aborts) after its report.
            sys.stderr.write("%s: a leak inside libraft/libuv at close, not imgarc's "
                             "(reported, not failed):\n%s\n" % (self.name, self.problems()))
        if was_running and code != 0 and not (library_leak and code in (-6, 23)):
            found.append("imgarcd did not exit 0 when stopped at cleanup: exit status %s "
                         "(negative: killed by that signal)" % code)
        report = None if library_leak else self.problems()
        if report:
            found.append("the node's log reports:\n" + report)
        if found:
            raise NodeError("%s (data dir kept: %s)\n%s" % (self.name, self.data,
                                                            "\n".join(found)))
        if remove_data and os.environ.get("IMGARC_TEST_KEEP") is None:
            shutil.rmtree(self.data, ignore_errors=True)

    # -- HTTP ----------------------------------------------------------------

    def connection(self, timeout=None):
        if self.ssl_context is not None:
            return http.client.HTTPSConnection("127.0.0.1", self.http_port,
                                               timeout=timeout or HTTP_TIMEOUT,
                                               context=self.ssl_context)
        return http.client.HTTPConnection("127.0.0.1", self.http_port,
                                          timeout=timeout or HTTP_TIMEOUT)

    def auth_headers(self, token=None):
        return {"Authorization": "Bearer %s" % (token or self.token)}

    def request(self, method, path, body=None, headers=None, auth=True, timeout=None):
        """One request on a fresh connection: a Response."""
        hs = {}
        if auth is True:
            hs.update(self.auth_headers())
        elif isinstance(auth, str):
            hs["Authorization"] = auth
        hs.update(headers or {})
        conn = self.connection(timeout)
        try:
            conn.request(method, path, body=body, headers=hs)
            return _from_httpclient(conn.getresponse())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def head(self, path, **kw):
        return self.request("HEAD", path, **kw)

    def post(self, path, body=b"", **kw):
        return self.request("POST", path, body=body, **kw)

    def pool_push(self, fields, key=None, **kw):
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        body = fields if isinstance(fields, bytes) else json.dumps(fields).encode()
        return self.post("/api/v1/pool", body, headers=headers, **kw)

    def upload(self, image_no, data, name=None, category=None, after=None, key=None,
               headers=None, query=None, **kw):
        q = []
        if name is not None:
            q.append("name=" + quote(name))
        if category is not None:
            q.append("category=" + quote(category))
        if after is not None:
            q.append("after=" + quote(after))
        if query:
            q.append(query)
        path = "/api/v1/bills/%s/files" % quote(image_no)
        if q:
            path += "?" + "&".join(q)
        hs = {"Content-Type": "application/octet-stream"}
        if key is not None:
            hs["Idempotency-Key"] = key
        hs.update(headers or {})
        return self.post(path, data, headers=hs, **kw)

    def submit(self, image_no, key=None, **kw):
        hs = {"Idempotency-Key": key} if key is not None else {}
        return self.post("/api/v1/bills/%s/submit" % quote(image_no), b"", headers=hs, **kw)

    def bill(self, image_no, **kw):
        return self.get("/api/v1/bills/%s" % quote(image_no), **kw)

    def status(self, image_no, **kw):
        return self.get("/api/v1/bills/%s/status" % quote(image_no), **kw)

    def audit_log(self, image_no, **kw):
        return self.get("/api/v1/bills/%s/log" % quote(image_no), **kw)

    def content(self, file_id, headers=None, **kw):
        return self.get("/api/v1/files/%s/content" % quote(file_id), headers=headers, **kw)

    def list_bills(self, query="", **kw):
        return self.get("/api/v1/bills" + (("?" + query) if query else ""), **kw)

    def all_bills(self, query=""):
        """Every bill of the list endpoint, following next_cursor."""
        out = []
        cursor = None
        while True:
            q = "limit=1000" + ("&" + query if query else "")
            if cursor is not None:
                q += "&cursor=" + quote(cursor)
            r = self.list_bills(q)
            if r.status != 200:
                raise AssertionError("GET /api/v1/bills?%s: %r" % (q, r))
            out += r.json["bills"]
            cursor = r.json["next_cursor"]
            if cursor is None:
                return out

    def blob_file(self, blob):
        """The bytes of this node's copy of @blob (64 hex digits), or None."""
        path = os.path.join(self.data, "blobs", blob[:2], blob[2:4], blob)
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def metrics(self):
        """GET /metrics parsed: {name: float} (samples without labels)."""
        r = self.get("/metrics", auth=False)
        if r.status != 200:
            raise AssertionError("GET /metrics: %r" % r)
        return parse_metrics(r.body.decode())

    # -- raw sockets ---------------------------------------------------------

    def socket(self, timeout=None):
        s = socket.create_connection(("127.0.0.1", self.http_port),
                                     timeout=timeout or HTTP_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def raw(self, data, timeout=10, shutdown_write=False):
        """Sends @data on a fresh connection and reads until the node closes it or
        @timeout passes. Returns all bytes received."""
        s = self.socket(timeout)
        out = b""
        try:
            try:
                s.sendall(data)
                if shutdown_write:
                    s.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        return out

    def raw_response(self, data, method="GET", timeout=10):
        """Sends @data on a fresh connection and parses the first response."""
        s = self.socket(timeout)
        try:
            try:
                s.sendall(data)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return ResponseReader(s).read(method)
        finally:
            s.close()


def parse_metrics(text):
    """Prometheus text format to {name: value}; checks the syntax of every line."""
    out = {}
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$", line)
            if m is None:
                raise AssertionError("bad metrics comment line: %r" % line)
            if m.group(1) == "TYPE":
                if m.group(3) not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise AssertionError("bad metric type: %r" % line)
                types[m.group(2)] = m.group(3)
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([^ ]+)( [0-9]+)?$", line)
        if m is None:
            raise AssertionError("bad metrics sample line: %r" % line)
        try:
            value = float(m.group(3))
        except ValueError:
            raise AssertionError("bad metric value: %r" % line) from None
        if m.group(2) is None:
            out[m.group(1)] = value
    out["__types__"] = types
    return out


# ---------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------

def run_cli(node, *args, env=None, timeout=180, server=None, token=None, cwd=None,
            binary=False):
    """Runs `imgarc ARGS` against @node (IMGARC_SERVER / IMGARC_TOKEN set).
    Returns subprocess.CompletedProcess with text stdout/stderr (bytes when
    @binary)."""
    if not os.access(IMGARC, os.X_OK):
        raise AssertionError("imgarc CLI not found at %s (set IMGARC_BIN_DIR)" % IMGARC)
    e = dict(os.environ)
    for k in ("IMGARC_SERVER", "IMGARC_TOKEN", "IMGARC_CACERT", "IMGARC_CERT", "IMGARC_KEY"):
        e.pop(k, None)
    if node is not None:
        e["IMGARC_SERVER"] = node.url
        e["IMGARC_TOKEN"] = node.token
        if node.cacert is not None:
            e["IMGARC_CACERT"] = node.cacert
    if server is not None:
        e["IMGARC_SERVER"] = server
    if token is not None:
        e["IMGARC_TOKEN"] = token
    e.update(env or {})
    if binary:
        return subprocess.run([IMGARC] + [str(a) for a in args], env=e, capture_output=True,
                              timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL)
    return subprocess.run([IMGARC] + [str(a) for a in args], env=e, capture_output=True,
                          timeout=timeout, cwd=cwd, text=True, errors="replace",
                          stdin=subprocess.DEVNULL)


def cli_json(proc):
    """The JSON the CLI printed with --json: one document, or one per line (a list)."""
    text = proc.stdout.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    docs = []
    for line in text.splitlines():
        line = line.strip()
        if line:
            try:
                docs.append(json.loads(line))
            except ValueError:
                raise AssertionError("CLI output is not JSON: %r (stderr %r)"
                                     % (proc.stdout[:1000], proc.stderr[:500])) from None
    return docs


# ---------------------------------------------------------------------------
# Test case base
# ---------------------------------------------------------------------------

class NodeTestCase(unittest.TestCase):
    """Assertions shared by the integration tests."""

    maxDiff = 4000
    node = None  # the class's node, when it has one

    def setUp(self):
        # A node that died in an earlier test (that test failed for it) is started
        # again on the same data dir, so one crash does not fail every later test.
        node = type(self).node
        if node is not None and node.proc is not None and not node.alive():
            node.stop()
            node.start()

    @classmethod
    def start_class_node(cls, name, args=(), **kw):
        """Starts a node for the whole class, stopped by tearDownClass (even when
        setUpClass fails after this)."""
        node = Node(name, args=args, **kw)
        cls.addClassCleanup(node.cleanup)
        node.start()
        return node

    def scratch(self, prefix):
        """A fresh directory under IMGARC_TEST_TMP, removed after the test."""
        d = scratch_dir(prefix)
        if os.environ.get("IMGARC_TEST_KEEP") is None:
            self.addCleanup(shutil.rmtree, d, True)
        return d

    def start_node(self, name, args=(), **kw):
        """A node for one test, stopped at its end whatever happens."""
        node = Node(name, args=args, **kw)
        self.addCleanup(node.cleanup)
        node.start()
        return node

    def assertStatus(self, resp, status, msg=None):
        if resp.status != status:
            self.fail("%sexpected HTTP %d, got %d: %r"
                      % (msg + ": " if msg else "", status, resp.status, resp.body[:1000]))

    def assertCommonHeaders(self, resp, index=True):
        rid = resp.header("x-request-id")
        self.assertIsNotNone(rid, "X-Request-Id missing: %r" % resp)
        self.assertRegex(rid, ID_ALPHABET, "X-Request-Id not in the id alphabet")
        if index:
            idx = resp.header("x-imgarc-index")
            self.assertIsNotNone(idx, "X-Imgarc-Index missing: %r" % resp)
            self.assertRegex(idx, r"^[0-9]+$", "X-Imgarc-Index is not an integer")

    def assertError(self, resp, status, code, error, index=True, msg=None):
        """A documented error: HTTP @status, JSON {"code","error","message",
        "request_id"} with @code and @error, request_id equal to X-Request-Id."""
        where = (msg + ": ") if msg else ""
        self.assertEqual(resp.status, status, "%sexpected HTTP %d, got %d: %r"
                         % (where, status, resp.status, resp.body[:1000]))
        ctype = resp.header("content-type") or ""
        self.assertTrue(ctype.startswith("application/json"),
                        "%serror Content-Type %r, body %r" % (where, ctype, resp.body[:300]))
        body = resp.json
        self.assertIsInstance(body, dict, where + "error body is not an object")
        self.assertEqual(set(body), ERROR_KEYS, where + "error body keys: %r" % body)
        self.assertEqual(body["code"], code, where + "error code: %r" % body)
        self.assertEqual(body["error"], error, where + "error name: %r" % body)
        self.assertIsInstance(body["message"], str)
        self.assertTrue(body["message"], where + "empty error message")
        self.assertIsInstance(body["request_id"], str)
        self.assertEqual(body["request_id"], resp.header("x-request-id"),
                         where + "request_id differs from X-Request-Id")
        self.assertCommonHeaders(resp, index=index)
        return body

    def assertServing(self, node, msg=None):
        """The node still answers /healthz on a new connection, and is alive."""
        self.assertTrue(node.alive(), "%simgarcd died; log:\n%s"
                        % ((msg + ": ") if msg else "", node.log_tail()))
        try:
            r = node.get("/healthz", auth=False, timeout=20)
        except (OSError, http.client.HTTPException) as e:
            self.fail("%s/healthz failed: %r; log:\n%s"
                      % ((msg + ": ") if msg else "", e, node.log_tail()))
        self.assertEqual(r.status, 200, "/healthz after %s: %r" % (msg, r))

    def assertUploaded(self, resp, image_no, data):
        """A 201 upload answer whose blob and size are those of @data."""
        self.assertStatus(resp, 201, "upload to %s" % image_no)
        body = resp.json
        self.assertEqual(body["image_no"], image_no)
        self.assertEqual(body["blob"], blake2b_hex(data), "blob is not BLAKE2b-256 of the bytes")
        self.assertEqual(body["size"], len(data))
        self.assertRegex(body["file_id"], ID_ALPHABET)
        self.assertIsInstance(body["index"], int)
        self.assertIs(body["replayed"], False)
        return body
