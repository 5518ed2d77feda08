"""TLS on the HTTP port (docs/tls.md), against a real node with certificates made by
openssl: captures and reads over https with the bytes intact; a plain HTTP request to
the TLS port gets a 400 that says to use https; clients that do not trust the node's
CA, speak TLS 1.1, send garbage or stall in the handshake are closed and the node
serves on; SIGHUP reads the certificate files again (a bad file keeps the old one);
bad files stop the start before the data dir is made; the CLI verifies the node's
certificate (--cacert / IMGARC_CACERT) and says what to set when it cannot; with
--tls-client-ca only clients presenting a certificate of that CA get in."""

import os
import signal
import socket
import ssl
import subprocess
import time
import unittest
import warnings

from imgarc_node import (IMGARCD, Node, NodeTestCase, random_bytes, run_cli, scratch_dir)
from tls_certs import TestCA


def wait_log(test, node, needle, timeout=15):
    deadline = time.monotonic() + timeout
    while needle not in node.log_text():
        test.assertLess(time.monotonic(), deadline, "%r not in the log:\n%s"
                        % (needle, node.log_tail()))
        time.sleep(0.05)


def proc_cpu(pid):
    """CPU seconds (user + system) process @pid used so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def not_after(cert):
    """The end of @cert's validity (PEM file), Unix seconds, as openssl reads it."""
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", cert],
                         capture_output=True, text=True, check=True).stdout.strip()
    return float(ssl.cert_time_to_seconds(out.split("=", 1)[1]))


def peer_cn(node, ctx):
    with socket.create_connection(("127.0.0.1", node.http_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            subject = dict(x[0] for x in s.getpeercert()["subject"])
            return subject["commonName"]


class TlsTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch_dir("tls-certs")
        cls.ca = TestCA(cls.dir)
        cls.cert, cls.key = cls.ca.issue("node", "node-tls-1")
        cls.node = cls.start_class_node(
            "tls", args=["--tls-cert", cls.cert, "--tls-key", cls.key],
            ssl_context=cls.ca.context(), cacert=cls.ca.cert)

    def test_a_capture_and_read_over_https(self):
        data = random_bytes(300 * 1024, seed=41)
        r = self.node.upload("TLS-1", data, name="scan.pdf")
        self.assertStatus(r, 201)
        fid = r.json["file_id"]
        r = self.node.content(fid)
        self.assertStatus(r, 200)
        self.assertTrue(r.body == data, "the bytes read back differ")
        r = self.node.get("/api/v1/bills/TLS-1/status")
        self.assertStatus(r, 200)
        # Several requests on one kept-alive TLS connection.
        conn = self.node.connection()
        try:
            for _ in range(5):
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                resp.read()
        finally:
            conn.close()

    def test_b_plain_http_to_the_tls_port_is_told_to_use_https(self):
        for line in (b"GET /healthz HTTP/1.1", b"DELETE /api/v1/bills/X HTTP/1.1",
                     b"OPTIONS * HTTP/1.1"):
            with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10) as s:
                s.sendall(line + b"\r\nHost: x\r\n\r\n" + b"y" * 30000)
                answer = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
                except ConnectionResetError:
                    pass
            self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), (line, answer[:200]))
            self.assertIn(b"use https://", answer)
        self.assertStatus(self.node.get("/healthz", auth=False), 200)

    def test_b2_close_notify_both_ways(self):
        # The node ends a "Connection: close" answer with close_notify, not a bare FIN.
        ctx = self.ca.context()
        with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = b""
                while True:
                    chunk = s.recv(4096)  # SSLEOFError here on a bare FIN
                    if not chunk:
                        break
                    answer += chunk
        self.assertTrue(answer.startswith(b"HTTP/1.1 200 "), answer[:100])
        # A request, the client's close_notify and one more byte in one segment: the
        # node answers and closes, without spinning on the byte it cannot read.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing, server_hostname="127.0.0.1")
        with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10) as raw:
            while True:
                try:
                    tls.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    raw.sendall(outgoing.read())
                    incoming.write(raw.recv(65536))
            raw.sendall(outgoing.read())
            tls.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                tls.unwrap()
            except ssl.SSLWantReadError:
                pass
            cpu0 = proc_cpu(self.node.pid)
            raw.sendall(outgoing.read() + b"\x17")
            t0 = time.monotonic()
            while raw.recv(65536):
                self.assertLess(time.monotonic() - t0, 8, "the node did not close")
            cpu = proc_cpu(self.node.pid) - cpu0
        self.assertLess(cpu, 1.0, "the node spun: %.2f s of CPU" % cpu)
        self.assertStatus(self.node.get("/healthz", auth=False), 200)

    def test_c_clients_that_fail_the_handshake_are_closed(self):
        # A client trusting only the system's CAs does not accept the node.
        with self.assertRaises(ssl.SSLCertVerificationError):
            peer_cn(self.node, ssl.create_default_context())
        # TLS 1.1 is refused.
        old = self.ca.context()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            peer_cn(self.node, old)
        # Garbage, and a handshake left half done, while another client is served.
        with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01\x00\x05garbage-garbage-garbage" + os.urandom(4000))
            s.settimeout(10)
            try:
                while s.recv(4096):
                    pass
            except ConnectionError:
                pass
        stalled = socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10)
        try:
            stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
            self.assertEqual(peer_cn(self.node, self.ca.context()), "node-tls-1")
            self.assertStatus(self.node.get("/healthz", auth=False), 200)
        finally:
            stalled.close()
        metrics = self.node.get("/metrics").body.decode()
        self.assertIn("imgarc_http_tls_failures_total", metrics)

    def expiry_metric(self):
        for line in self.node.get("/metrics").body.decode().splitlines():
            if line.startswith("imgarc_tls_certificate_expiry_timestamp_seconds "):
                return float(line.split()[1])
        self.fail("no imgarc_tls_certificate_expiry_timestamp_seconds in /metrics")

    def test_d_sighup_reads_the_certificate_again(self):
        # /metrics shows when the certificate in use expires, for the alert.
        self.assertEqual(self.expiry_metric(), not_after(self.cert))
        new_cert, new_key = self.ca.issue("renewed", "node-tls-renewed", days=90)
        old = []
        for path in (self.cert, self.key):
            with open(path, "rb") as f:
                old.append(f.read())
        try:
            for src, dst in ((new_cert, self.cert), (new_key, self.key)):
                with open(src, "rb") as f, open(dst, "wb") as g:
                    g.write(f.read())
            self.node.signal(signal.SIGHUP)
            wait_log(self, self.node, "TLS certificate reloaded for new connections: "
                                      "/CN=node-tls-renewed")
            self.assertEqual(peer_cn(self.node, self.ca.context()), "node-tls-renewed")
            self.assertEqual(self.expiry_metric(), not_after(new_cert))
            self.assertGreater(self.expiry_metric() - time.time(), 80 * 86400)
            # A file that does not load: the error is logged and the old one stays.
            with open(self.cert, "wb") as f:
                f.write(b"not a certificate\n")
            self.node.signal(signal.SIGHUP)
            wait_log(self, self.node, "TLS certificate not reloaded")
            self.assertIn("--tls-cert", self.node.log_text())
            self.assertEqual(peer_cn(self.node, self.ca.context()), "node-tls-renewed")
            self.assertStatus(self.node.get("/healthz", auth=False), 200)
        finally:
            with open(self.cert, "wb") as f:
                f.write(old[0])
            with open(self.key, "wb") as f:
                f.write(old[1])

    def test_c2_a_handshake_trickled_byte_by_byte_is_closed(self):
        node = self.start_node("tls-slow", args=["--tls-cert", self.cert, "--tls-key", self.key,
                                                 "--header-timeout-ms", "1000",
                                                 "--idle-timeout-ms", "3000"],
                               ssl_context=self.ca.context(), cacert=self.ca.cert)
        hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64
        t0 = time.monotonic()
        closed_after = None
        with socket.create_connection(("127.0.0.1", node.http_port), timeout=10) as s:
            for b in hello:
                try:
                    s.sendall(bytes([b]))
                    s.settimeout(0.3)
                    if s.recv(100) == b"":
                        closed_after = time.monotonic() - t0
                        break
                except socket.timeout:
                    continue
                except (ConnectionError, BrokenPipeError):
                    closed_after = time.monotonic() - t0
                    break
        self.assertIsNotNone(closed_after, "a trickled handshake kept the connection open")
        self.assertLess(closed_after, 2.9, "closed by the idle timer, not the deadline")
        self.assertStatus(node.get("/healthz", auth=False), 200)

    def test_e_the_cli_verifies_the_node(self):
        r = self.node.upload("TLS-CLI", random_bytes(2000, seed=42), name="a.pdf")
        self.assertStatus(r, 201)
        p = run_cli(self.node, "status", "TLS-CLI")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("TLS-CLI", p.stdout)
        p = run_cli(self.node, "status", "TLS-CLI", env={"IMGARC_CACERT": ""})
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)
        self.assertIn("--cacert", p.stderr)
        other = TestCA(os.path.join(self.dir, "other"), name="another CA")
        p = run_cli(self.node, "--cacert", other.cert, "status", "TLS-CLI",
                    env={"IMGARC_CACERT": ""})
        self.assertEqual(p.returncode, 3, p.stdout + p.stderr)

    def test_f_bad_files_stop_the_start_before_the_data_dir(self):
        d = scratch_dir("tls-bad")
        data = os.path.join(d, "data")
        other_cert, _ = self.ca.issue("other", "other")
        cases = [
            (["--tls-cert", os.path.join(d, "missing.pem"), "--tls-key", self.key], "--tls-cert"),
            (["--tls-cert", self.cert], "--tls-key"),
            (["--tls-cert", other_cert, "--tls-key", self.key], "not the key of --tls-cert"),
            (["--tls-client-ca", self.ca.cert], "--tls-cert"),
        ]
        for args, needle in cases:
            p = subprocess.run([IMGARCD, "--data", data, "--listen", "127.0.0.1:0"] + args,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, (args, p.stdout, p.stderr))
            self.assertIn(needle, p.stdout + p.stderr, args)
            self.assertFalse(os.path.exists(data), "the data dir was made for %r" % args)


class MutualTlsTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = scratch_dir("mtls-certs")
        cls.ca = TestCA(cls.dir)
        cert, key = cls.ca.issue("node", "node-mtls")
        cls.client = cls.ca.issue("client", "erp-connector", ip=None)
        cls.node = cls.start_class_node(
            "mtls", args=["--tls-cert", cert, "--tls-key", key,
                          "--tls-client-ca", cls.ca.cert],
            ssl_context=cls.ca.context(client=cls.client), cacert=cls.ca.cert)

    def test_a_session_is_resumed_under_client_certificates(self):
        ctx = self.ca.context(client=self.client)
        session = None
        for attempt in range(2):
            with socket.create_connection(("127.0.0.1", self.node.http_port), timeout=10) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                    self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200"))
                    if attempt == 1:
                        self.assertTrue(s.session_reused, "the session was not resumed")
                    session = s.session

    def test_only_clients_with_a_certificate_of_the_ca_get_in(self):
        self.assertStatus(self.node.get("/healthz", auth=False), 200)
        other = TestCA(os.path.join(self.dir, "other"), name="another CA")
        stranger = other.issue("stranger", "stranger", ip=None)
        for ctx in (self.ca.context(), self.ca.context(client=stranger)):
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                with socket.create_connection(("127.0.0.1", self.node.http_port),
                                              timeout=10) as raw:
                    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        if not s.recv(100):
                            raise ConnectionError("closed")
        p = run_cli(self.node, "status", "NONE-1",
                    env={"IMGARC_CERT": self.client[0], "IMGARC_KEY": self.client[1]})
        self.assertEqual(p.returncode, 1, p.stderr)  # reached: the bill is unknown
        self.assertIn("bill_not_found", p.stderr)
        p = run_cli(self.node, "status", "NONE-1")
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertStatus(self.node.get("/healthz", auth=False), 200)


if __name__ == "__main__":
    unittest.main()
