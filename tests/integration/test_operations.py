"""Operating a node: health, readiness, version, metrics, flags and the config file,
and a graceful SIGTERM while uploads are in flight."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from imgarc_node import (IMGARCD, Node, NodeTestCase, ResponseReader, blake2b_hex,
                         build_request, random_bytes, two_free_ports)

FLAGS = ["listen", "advertise", "raft-listen", "data", "node-id", "bootstrap-token", "join",
         "zone", "cluster-secret-file", "voters", "failover-after-ms",
         "config", "log-level", "body-max", "header-max", "idle-timeout-ms",
         "connections-max", "sync-blobs", "verify-reads", "group-commit-max",
         "snapshot-threshold", "snapshot-trailing", "election-timeout-ms",
         "heartbeat-timeout-ms", "shutdown-grace-ms", "token-ttl-s", "license-pubkey",
         "help", "version"]

# docs/API.md, Operations: the metric names an operator can rely on.
METRICS = {
    "imgarc_http_requests_total": "counter",
    "imgarc_http_requests_in_flight": "gauge",
    "imgarc_http_responses_4xx_total": "counter",
    "imgarc_http_responses_5xx_total": "counter",
    "imgarc_http_bytes_in_total": "counter",
    "imgarc_http_bytes_out_total": "counter",
    "imgarc_captures_total": "counter",
    "imgarc_capture_bytes_total": "counter",
    "imgarc_downloads_total": "counter",
    "imgarc_download_bytes_total": "counter",
    "imgarc_corrupt_reads_total": "counter",
    "imgarc_group_commits_total": "counter",
    "imgarc_raft_term": "gauge",
    "imgarc_raft_last_index": "gauge",
    "imgarc_raft_commit_index": "gauge",
    "imgarc_raft_applied_index": "gauge",
    "imgarc_raft_is_leader": "gauge",
    "imgarc_raft_leader_changes_total": "counter",
    "imgarc_raft_proposals_total": "counter",
}


def run_imgarcd(*args, timeout=20):
    return subprocess.run([IMGARCD] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


class OperationsTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("ops", args=["--node-id", "7"])

    def test_healthz_readyz(self):
        r = self.node.get("/healthz", auth=False)
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        r = self.node.get("/readyz", auth=False)
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)

    def test_version(self):
        r = self.node.get("/api/v1/version", auth=False)
        self.assertStatus(r, 200)
        v = r.json
        for key in ("version", "git_commit", "node_id", "build_time"):
            self.assertIn(key, v)
        self.assertEqual(v["node_id"], "7")  # a string: JSON numbers round above 2^53
        self.assertRegex(v["version"], r"^\d+\.\d+\.\d+")
        self.assertTrue(v["git_commit"])
        p = run_imgarcd("--version")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(v["version"], p.stdout)
        self.assertIn(v["git_commit"], p.stdout)

    def assertNoMetricLintProblems(self, text):
        """What `promtool check metrics` lints (Prometheus's naming rules): a HELP and a
        TYPE for every family, before its samples; counters end in _total and nothing
        else does; no _count, _sum or _bucket suffix outside histograms and summaries;
        names in snake case of [a-z0-9_]; no family twice."""
        types, helps, seen = {}, set(), set()
        problems = []
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name = line.split()[2]
                if name in helps:
                    problems.append("%s: HELP twice" % name)
                helps.add(name)
            elif line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                if name in types:
                    problems.append("%s: TYPE twice" % name)
                types[name] = kind
                if name not in helps:
                    problems.append("%s: no HELP before TYPE" % name)
                if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                    problems.append("%s: not snake case" % name)
                if kind == "counter" and not name.endswith("_total"):
                    problems.append("%s: a counter must end in _total" % name)
                if kind != "counter" and name.endswith("_total"):
                    problems.append("%s: only counters end in _total" % name)
                if kind not in ("histogram", "summary") and re.search(r"_(count|sum|bucket)$",
                                                                        name):
                    problems.append("%s: a %s must not end in _count, _sum or _bucket"
                                    % (name, kind))
            elif line and not line.startswith("#"):
                name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
                family = name
                if family not in types:
                    family = re.sub(r"_(count|sum|bucket)$", "", name)
                if family not in types:
                    problems.append("%s: a sample without TYPE" % name)
                seen.add(family)
        self.assertEqual(problems, [])

    def test_metrics(self):
        r = self.node.get("/metrics", auth=False)
        self.assertStatus(r, 200)
        self.assertTrue((r.header("content-type") or "").startswith("text/plain"),
                        r.header("content-type"))
        self.assertCommonHeaders(r)
        m = self.node.metrics()
        for name, kind in METRICS.items():
            with self.subTest(metric=name):
                self.assertIn(name, m)
                self.assertEqual(m["__types__"].get(name), kind)
        self.assertEqual(m["imgarc_raft_is_leader"], 1)
        self.assertGreaterEqual(m["imgarc_raft_term"], 1)
        self.assertNoMetricLintProblems(r.body.decode())
        self.assertGreaterEqual(m["imgarc_raft_commit_index"], m["imgarc_raft_applied_index"])

        before = self.node.metrics()
        data = random_bytes(12345, seed=1)
        up = self.node.upload("OPS-MET-1", data, name="m.bin")
        self.assertStatus(up, 201)
        got = self.node.content(up.json["file_id"])
        self.assertStatus(got, 200)
        self.assertEqual(self.node.bill("OPS-NOPE").status, 404)
        after = self.node.metrics()
        self.assertEqual(after["imgarc_captures_total"] - before["imgarc_captures_total"], 1)
        self.assertEqual(after["imgarc_capture_bytes_total"] - before["imgarc_capture_bytes_total"],
                         len(data))
        self.assertEqual(after["imgarc_downloads_total"] - before["imgarc_downloads_total"], 1)
        self.assertEqual(after["imgarc_download_bytes_total"] -
                         before["imgarc_download_bytes_total"], len(data))
        self.assertGreaterEqual(after["imgarc_group_commits_total"] -
                                before["imgarc_group_commits_total"], 1)
        self.assertGreaterEqual(after["imgarc_http_responses_4xx_total"] -
                                before["imgarc_http_responses_4xx_total"], 1)
        # The metrics request itself, the upload, the download, the 404 and one more.
        self.assertGreaterEqual(after["imgarc_http_requests_total"] -
                                before["imgarc_http_requests_total"], 4)
        self.assertGreaterEqual(after["imgarc_http_bytes_in_total"] -
                                before["imgarc_http_bytes_in_total"], len(data))
        self.assertGreaterEqual(after["imgarc_http_bytes_out_total"] -
                                before["imgarc_http_bytes_out_total"], len(data))
        self.assertGreater(after["imgarc_raft_applied_index"], before["imgarc_raft_applied_index"])
        self.assertGreater(after["imgarc_raft_proposals_total"],
                           before["imgarc_raft_proposals_total"])
        self.assertEqual(after["imgarc_corrupt_reads_total"], 0)
        # A delta: a /readyz polled by the harness before the node was ready answered
        # 503, and that counts too.
        self.assertEqual(after["imgarc_http_responses_5xx_total"] -
                         before["imgarc_http_responses_5xx_total"], 0)

    def test_help_lists_flags(self):
        p = run_imgarcd("--help")
        self.assertEqual(p.returncode, 0, p.stderr)
        for flag in FLAGS:
            with self.subTest(flag=flag):
                self.assertRegex(p.stdout, r"(?m)^\s*--%s\b" % re.escape(flag))
        self.assertIn("key = value", p.stdout)

    def test_bad_flags_refused(self):
        tmp = self.scratch("ops-badflag")
        for args, needle in ((["--no-such-flag", "1"], "no-such-flag"),
                             (["--body-max", "lots"], "body-max"),
                             (["--header-max", "10"], "header-max"),
                             (["--sync-blobs", "maybe"], "sync-blobs"),
                             (["--log-level", "chatty"], "log-level"),
                             (["stray-argument"], "stray-argument"),
                             (["--node-id"], "node-id"),
                             (["--node-id", "9223372036854775808"], "node-id"),
                             (["--replicas", "2", "--write-quorum", "3"], "write-quorum"),
                             (["--recover", "true"], "no raft state")):
            with self.subTest(args=args):
                p = run_imgarcd("--data", tmp, *args)
                self.assertEqual(p.returncode, 2, "exit status for %r: %s" % (args, p.stderr))
                self.assertIn(needle, p.stderr)


class ReadyzLogTest(NodeTestCase):

    def test_readyz_503_is_not_logged_at_info(self):
        """A load balancer polls /readyz: its 503s (here: a node asking to join a
        cluster nobody answers for, so it knows no leader) go to DEBUG, while other 4xx
        and 5xx answers stay at INFO."""
        d = self.scratch("ops-readyz-log")
        secret = os.path.join(d, "secret")
        with open(secret, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(secret, 0o600)
        nobody, _ = two_free_ports()
        node = Node("ops-readyz-log", data_dir=os.path.join(d, "data"),
                    args=["--cluster-secret-file", secret,
                          "--join", "127.0.0.1:%d" % nobody])
        self.addCleanup(node.cleanup)
        node.start(wait=False)
        seen_503 = 0
        deadline = time.monotonic() + 20
        while seen_503 < 5 and time.monotonic() < deadline:
            try:
                r = node.get("/readyz", auth=False, timeout=2)
            except OSError:
                time.sleep(0.1)
                continue
            self.assertEqual(r.status, 503, r.body)
            seen_503 += 1
            time.sleep(0.05)
        self.assertEqual(seen_503, 5, "the joining node's /readyz")
        r = node.get("/api/v1/bills", auth="Bearer " + "x" * 24)
        self.assertIn(r.status, (401, 503), r.body)
        deadline = time.monotonic() + 5
        while "status=%d" % r.status not in node.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = node.log_text()
        self.assertIn("GET /api/v1/bills status=%d" % r.status, log,
                      "other error answers are logged at INFO")
        self.assertNotRegex(log, r"GET /readyz status=503", "readyz 503s logged at INFO")


class ReloadTest(NodeTestCase):

    def wait_log(self, node, needle, timeout=10):
        deadline = time.monotonic() + timeout
        while needle not in node.log_text():
            self.assertLess(time.monotonic(), deadline, "%r not in the log:\n%s"
                            % (needle, node.log_tail()))
            time.sleep(0.05)

    def test_sighup_reloads_log_level_and_outbound_allow(self):
        d = self.scratch("ops-reload")
        path = os.path.join(d, "imgarcd.conf")
        with open(path, "w") as f:
            f.write("log-level = info\nbody-max = 1048576\n")
        node = Node("ops-reload", data_dir=os.path.join(d, "data"), args=["--config", path],
                    outbound_allow=[])
        self.addCleanup(node.cleanup)
        node.start()
        self.assertStatus(node.get("/api/v1/version", auth=False), 200)
        self.assertNotIn("GET /api/v1/version status=200", node.log_text(), "at info")
        with open(path, "w") as f:
            f.write("log-level = debug\nbody-max = 2097152\n"
                    "outbound-allow = 10.0.0.0/8\noutbound-allow = erp.example:8443\n")
        os.kill(node.pid, signal.SIGHUP)
        self.wait_log(node, "SIGHUP: %s read again" % path)
        log = node.log_text()
        self.assertIn("SIGHUP: log-level info -> debug", log)
        self.assertIn("SIGHUP: outbound-allow now has 2 rules (had 0)", log)
        self.assertIn("taking effect at the next start: body-max", log)
        self.assertIsNone(node.proc.poll(), "SIGHUP ended the node")
        # Debug is in force: successful answers are logged now.
        self.assertStatus(node.get("/api/v1/version", auth=False), 200)
        self.wait_log(node, "GET /api/v1/version status=200")
        # A file that does not load changes nothing and the node stays up.
        with open(path, "w") as f:
            f.write("log-level = loud\n")
        os.kill(node.pid, signal.SIGHUP)
        self.wait_log(node, "does not load")
        self.assertIn("not 'loud'", node.log_text())
        self.assertIsNone(node.proc.poll(), "a bad file on SIGHUP ended the node")
        self.assertStatus(node.get("/readyz", auth=False), 200)
        self.assertEqual(node.stop(), 0)

    def test_systemd_notifications(self):
        """Type=notify: READY=1 once serving HTTP, STATUS= following raft, RELOADING=1
        and READY=1 around a SIGHUP, STOPPING=1 on SIGTERM, on $NOTIFY_SOCKET."""
        d = self.scratch("ops-notify")
        sock_path = os.path.join(d, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(sock_path)
        sock.settimeout(0.2)
        messages = []

        def wait_for(needle, timeout=15):
            deadline = time.monotonic() + timeout
            while not any(needle in m for m in messages):
                self.assertLess(time.monotonic(), deadline,
                                "%r not notified; got %r" % (needle, messages))
                try:
                    messages.append(sock.recv(4096).decode())
                except socket.timeout:
                    pass
            return next(m for m in messages if needle in m)

        path = os.path.join(d, "imgarcd.conf")
        with open(path, "w") as f:
            f.write("log-level = info\n")
        node = Node("ops-notify", data_dir=os.path.join(d, "data"), args=["--config", path],
                    env={"NOTIFY_SOCKET": sock_path})
        self.addCleanup(node.cleanup)
        node.start()
        ready = wait_for("READY=1")
        self.assertIn("STATUS=", ready)
        wait_for("STATUS=serving: raft leader")
        del messages[:]
        os.kill(node.pid, signal.SIGHUP)
        wait_for("RELOADING=1")
        wait_for("READY=1")
        self.assertLess(next(i for i, m in enumerate(messages) if "RELOADING=1" in m),
                        next(i for i, m in enumerate(messages) if "READY=1" in m))
        node.proc.send_signal(signal.SIGTERM)
        wait_for("STOPPING=1")
        self.assertEqual(node.proc.wait(30), 0)

    def test_sighup_without_a_config_file(self):
        node = Node("ops-reload-none")
        self.addCleanup(node.cleanup)
        node.start()
        os.kill(node.pid, signal.SIGHUP)
        self.wait_log(node, "SIGHUP: no --config file")
        self.assertIsNone(node.proc.poll())
        self.assertStatus(node.get("/readyz", auth=False), 200)


class SystemdUnitTest(unittest.TestCase):
    """deploy/imgarcd.service: systemd accepts it and its sandbox rates OK."""
    UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                        "imgarcd.service")

    def setUp(self):
        if shutil.which("systemd-analyze") is None:
            self.fail("systemd-analyze is missing: scripts/install-deps.sh --test installs "
                      "systemd")
        self.dir = tempfile.mkdtemp(prefix="imgarc-unit-")
        self.addCleanup(shutil.rmtree, self.dir)
        with open(self.UNIT) as f:
            text = f.read()
        self.assertIn("ExecStart=/usr/local/bin/imgarcd ", text)
        # verify checks that the command exists: the binary just built stands in.
        self.path = os.path.join(self.dir, "imgarcd.service")
        with open(self.path, "w") as f:
            f.write(text.replace("/usr/local/bin/imgarcd", IMGARCD))
        self.text = text

    def test_verify(self):
        p = subprocess.run(["systemd-analyze", "verify", self.path], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("imgarcd.service", p.stderr, "warnings about the unit")

    def test_sandbox_rating(self):
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", self.path],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for imgarcd.service: ([0-9.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)
        for line in ("Type=notify", "User=imgarc", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=/var/lib/imgarc",
                     "ExecReload=/bin/kill -HUP $MAINPID"):
            self.assertIn(line + "\n", self.text)


class ConfigFileTest(NodeTestCase):

    def write_config(self, lines, d=None):
        d = d or self.scratch("ops-config")
        path = os.path.join(d, "imgarcd.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return d, path

    def test_config_file_honoured_and_flags_win(self):
        http_port, raft_port = two_free_ports()
        d = self.scratch("ops-config")
        d, path = self.write_config([
            "# imgarcd test configuration",
            "",
            "listen = 127.0.0.1:%d" % http_port,
            "  raft-listen=127.0.0.1:%d  " % raft_port,
            "data = %s" % os.path.join(d, "data"),
            "bootstrap-token = cfg-token-1-0123456789",
            "header-max = 2048",
            "node-id = 5",
            "\tshutdown-grace-ms = 2000",
            "election-timeout-ms = 1000",
            "heartbeat-timeout-ms = 100",
        ], d)
        node = Node("ops-config", args=["--config", path, "--node-id", "9"],
                    token="cfg-token-1-0123456789", data_dir=os.path.join(d, "data"), base_args=False)
        node.http_port, node.raft_port = http_port, raft_port
        self.addCleanup(node.cleanup)
        node.start()
        # Flags win over the file.
        self.assertEqual(node.get("/api/v1/version", auth=False).json["node_id"], "9")
        # The file's token and header limit are in force.
        self.assertStatus(node.list_bills(), 200)
        self.assertEqual(node.get("/api/v1/bills", auth="Bearer " + "x" * 10).status, 401)
        r = node.get("/healthz", auth=False, headers={"X-Pad": "a" * 1500})
        self.assertStatus(r, 200)
        r = node.raw_response(build_request("GET", "/healthz", [("X-Pad", "a" * 3000)]))
        self.assertError(r, 431, 10431, "headers_too_large", index=False)
        self.assertTrue(os.path.isdir(os.path.join(d, "data", "raft")), "the file's data dir")
        self.assertEqual(node.stop(), 0)

    def test_quotes_and_trailing_comments(self):
        """A value may be quoted (a '#' inside is kept) and a '#' after a blank starts a
        comment; list keys repeat."""
        http_port, raft_port = two_free_ports()
        d = self.scratch("ops-config-quotes")
        data = os.path.join(d, "da#ta")
        d, path = self.write_config([
            'listen = "127.0.0.1:%d"' % http_port,
            "raft-listen = 127.0.0.1:%d # raft" % raft_port,
            "election-timeout-ms = 1000",
            "heartbeat-timeout-ms = 100",
            "node-id = 7   # this node",
            'bootstrap-token = "cfg-token-3-01234#56789"  # quoted: the # is kept',
            "data = '%s'" % data,
            "log-level = debug\t# tab before the comment",
            "outbound-allow = 10.0.0.0/8",
            "outbound-allow = 192.168.0.0/16",
        ], d)
        node = Node("ops-config-quotes", args=["--config", path], token=None, data_dir=data,
                    base_args=False)
        node.http_port, node.raft_port = http_port, raft_port
        self.addCleanup(node.cleanup)
        node.start()
        self.assertEqual(node.get("/api/v1/version", auth=False).json["node_id"], "7")
        self.assertEqual(node.get("/api/v1/bills", auth="Bearer cfg-token-3-01234#56789").status,
                         200, "the quoted token with its '#'")
        self.assertTrue(os.path.isdir(os.path.join(data, "raft")), "the quoted data dir")

    def test_config_equals_form(self):
        """--config=FILE is the same as --config FILE (the other flags take both forms)."""
        d, path = self.write_config(["node-id = 5", "bootstrap-token = cfg-token-2-0123456789"])
        node = Node("ops-config-eq", args=["--config=" + path], token=None,
                    data_dir=os.path.join(d, "data"))
        self.addCleanup(node.cleanup)
        node.start()
        self.assertEqual(node.get("/api/v1/version", auth=False).json["node_id"], "5",
                         "--config=FILE was ignored")
        self.assertEqual(node.get("/api/v1/bills", auth="Bearer cfg-token-2-0123456789").status, 200)

    def test_bad_config_refused_naming_the_line(self):
        cases = [
            (["# comment", "", "body-max = lots"], 3, "body-max"),
            (["node-id = 1", "no-such-key = 3"], 2, "no-such-key"),
            (["just some words"], 1, "key = value"),
            (["header-max = 10"], 1, "header-max"),
            (["", "", "", "sync-blobs = maybe"], 4, "sync-blobs"),
            (["config = other.conf"], 1, "config"),
            (["node-id = 3", "# again", "node-id = 4"], 3, "already set on line 1"),
            (['data = "/tmp/x'], 1, "quote is not closed"),
            (['node-id = "3" 4'], 1, "only a comment"),
            (["listen = nohost:8080"], 1, "listen must be IP:PORT"),
            (["listen = 127.0.0.1:99999"], 1, "listen must be IP:PORT"),
            (["raft-listen = localhost:9080"], 1, "raft-listen must be IPv4:PORT"),
            (["advertise = http://a:1"], 1, "advertise must be HOST:PORT"),
            (["snapshot-format = zip"], 1, "snapshot-format must be store or inline"),
            (["log-level = loud  # comment"], 1, "not 'loud'"),
        ]
        for lines, lineno, needle in cases:
            with self.subTest(config=lines[-1]):
                d, path = self.write_config(lines)
                data = os.path.join(d, "data")
                p = run_imgarcd("--config", path, "--data", data)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("%s:%d" % (path, lineno), p.stderr)
                self.assertIn(needle, p.stderr)
                # Refused before anything is created: no data dir of a new cluster.
                self.assertFalse(os.path.exists(data), "%s created for a bad config" % data)
        # The same checks for flags, before the data dir too.
        for args, needle in ((["--listen", "nohost:8080"], "listen must be IP:PORT"),
                             (["--raft-listen", "[::1]:9080"], "raft-listen must be IPv4"),
                             (["--join", "nohost"], "join must be HOST:PORT")):
            with self.subTest(args=args):
                data = os.path.join(self.scratch("ops-badflag-addr"), "data")
                p = run_imgarcd("--data", data, *args)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn(needle, p.stderr)
                self.assertFalse(os.path.exists(data), "%s created for a bad flag" % data)
        p = run_imgarcd("--config", "/nonexistent/imgarcd.conf", "--data", self.scratch("ops"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("/nonexistent/imgarcd.conf", p.stderr)


class ShutdownTest(NodeTestCase):
    GRACE_MS = 4000

    def start_upload(self, node, image_no, total, first):
        s = node.socket(timeout=30)
        s.sendall(build_request("POST", "/api/v1/bills/%s/files?name=inflight.bin" % image_no,
                                [("Authorization", "Bearer " + node.token),
                                 ("Content-Length", str(total))]))
        s.sendall(first)
        return s

    def assertNoNewConnections(self, node):
        """After SIGTERM a new connection is refused or answered 503."""
        try:
            r = node.get("/healthz", auth=False, timeout=5)
        except OSError:
            return
        self.assertEqual(r.status, 503, "a new request after SIGTERM: %r" % r)

    def test_sigterm_idle_exits_quickly(self):
        node = self.start_node("ops-term-idle", args=["--shutdown-grace-ms", "10000"])
        # An idle kept-alive connection does not hold the shutdown.
        s = node.socket()
        s.sendall(build_request("GET", "/healthz"))
        self.assertStatus(ResponseReader(s).read(), 200)
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        code = node.wait_exit(8)
        s.close()
        self.assertIsNotNone(code, "node still running 8 s after SIGTERM with an idle "
                             "connection (grace is 10 s)")
        self.assertEqual(code, 0, node.log_tail())
        self.assertLess(time.monotonic() - t0, 8)

    def test_sigterm_with_upload_in_flight(self):
        node = self.start_node("ops-term-upload",
                               args=["--shutdown-grace-ms", str(self.GRACE_MS)])
        data = random_bytes(3 * 1024 * 1024, seed=5)
        s = self.start_upload(node, "OPS-TERM-1", len(data), data[:1024 * 1024])
        time.sleep(0.2)
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        time.sleep(0.3)
        try:
            s.sendall(data[1024 * 1024:])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            r = ResponseReader(s).read()
        except (EOFError, ConnectionResetError) as e:
            self.fail("the upload in flight got no answer after SIGTERM: %r; log:\n%s"
                      % (e, node.log_tail()))
        finally:
            s.close()
        if r.status == 201:
            self.assertEqual(r.json["blob"], blake2b_hex(data))
        else:
            self.assertError(r, 503, 10503, "unavailable")
        code = node.wait_exit(self.GRACE_MS / 1000.0 + 10)
        self.assertIsNotNone(code, "node did not exit after SIGTERM; log:\n" + node.log_tail())
        self.assertEqual(code, 0, node.log_tail())
        self.assertLess(time.monotonic() - t0, self.GRACE_MS / 1000.0 + 10)
        # What was acknowledged is there after a restart; a refusal left nothing.
        node.start()
        bill = node.bill("OPS-TERM-1")
        if r.status == 201:
            self.assertEqual([f["file_id"] for f in bill.json["files"]], [r.json["file_id"]])
            self.assertTrue(node.content(r.json["file_id"]).body == data)
        else:
            self.assertEqual(bill.status, 404)
        self.assertEqual(os.listdir(os.path.join(node.data, "tmp")), [])

    def test_sigterm_stalled_upload_cut_after_grace(self):
        grace = 1500
        node = self.start_node("ops-term-stall", args=["--shutdown-grace-ms", str(grace),
                                                        "--idle-timeout-ms", "60000"])
        s = self.start_upload(node, "OPS-TERM-2", 1000000, b"x" * 1000)
        time.sleep(0.2)
        t0 = time.monotonic()
        node.signal(signal.SIGTERM)
        time.sleep(0.2)
        if node.alive():
            self.assertNoNewConnections(node)
        code = node.wait_exit(grace / 1000.0 + 10)
        took = time.monotonic() - t0
        s.close()
        self.assertIsNotNone(code, "a stalled upload kept the node from exiting; log:\n"
                             + node.log_tail())
        self.assertEqual(code, 0, node.log_tail())
        self.assertLess(took, grace / 1000.0 + 10)
        node.start()
        self.assertEqual(node.bill("OPS-TERM-2").status, 404)
        self.assertEqual(os.listdir(os.path.join(node.data, "tmp")), [])


if __name__ == "__main__":
    unittest.main()
