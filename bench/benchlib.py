"""Shared helpers of the cluster benchmarks in bench/ (repair_bench.py, join_bench.py).

Standard library only. Builds on tests/cluster/imgarc_cluster.py (Cluster: a secret,
node 1 bootstraps, the others --join) and tests/integration/imgarc_node.py (Node: one
imgarcd on free loopback ports, its log in DATA/imgarcd.log).

setup_env() must run before the first import of those modules: it points their
IMGARC_TEST_TMP (where data dirs go) and IMGARC_BIN_DIR (where imgarcd is) at the
benchmark's --dir and --build.
"""

import http.client
import os
import re
import shutil
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

_mods = {}


def timed(cmd, env=None):
    """Runs @cmd to its end: (seconds, stdout); a failure ends the benchmark."""
    import subprocess
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise SystemExit("%s: exit %d\n%s" % (" ".join(cmd[:3]), r.returncode,
                                                r.stderr[-2000:]))
    return dt, r.stdout


def add_common_args(p, default_dir):
    p.add_argument("--dir", default=default_dir,
                   help="parent of the data dirs (the file system measured) [%(default)s]")
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="directory holding imgarcd [%(default)s]")
    p.add_argument("--keep", action="store_true",
                   help="keep the data dirs (and their imgarcd.log) at the end")
    p.add_argument("--node-arg", action="append", default=[], metavar="ARG",
                   help="extra imgarcd argument for every node (repeat; e.g. "
                        "--node-arg=--scrub-bytes-per-s --node-arg=0)")


def setup_env(args):
    """Points the test helpers at --dir and --build and imports them."""
    os.makedirs(args.dir, exist_ok=True)
    os.environ["IMGARC_TEST_TMP"] = os.path.abspath(args.dir)
    os.environ["IMGARC_BIN_DIR"] = os.path.abspath(args.build)
    sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import imgarc_cluster  # noqa: E402
    import imgarc_node  # noqa: E402
    _mods["cluster"] = imgarc_cluster
    _mods["node"] = imgarc_node
    if not os.access(imgarc_node.IMGARCD, os.X_OK):
        sys.exit("imgarcd not found at %s (build it: cmake --build %s -j2)"
                 % (imgarc_node.IMGARCD, args.build))
    # SIGTERM/SIGHUP to the benchmark: unwind through the finally blocks (cleanup).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_exit)
    return imgarc_cluster, imgarc_node


def _raise_exit(signum, frame):
    raise SystemExit("signal %d" % signum)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

T0 = time.monotonic()


def progress(msg):
    """One progress line on stderr, stamped with seconds since the start."""
    sys.stderr.write("[%7.1f s] %s\n" % (time.monotonic() - T0, msg))
    sys.stderr.flush()


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def summary(title, rows):
    """The final block on stdout: aligned `name: value` lines."""
    width = max(len(k) for k, _ in rows)
    print()
    print("==== %s ====" % title)
    for k, v in rows:
        print("%-*s  %s" % (width, k + ":", v))
    print("=" * (len(title) + 10))
    sys.stdout.flush()


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q / 100.0 * (len(sorted_values) - 1)))))
    return sorted_values[i]


MIB = 1024 * 1024


def parse_size(s):
    """'1M', '4K', '1024', '2G' (powers of 1024) to bytes."""
    m = re.match(r"^\s*(\d+)\s*([KMGkmg]?)(i?[Bb])?\s*$", s)
    if m is None:
        raise ValueError("bad size %r" % s)
    return int(m.group(1)) * {"": 1, "k": 1024, "m": MIB, "g": 1024 * MIB}[m.group(2).lower()]


# ---------------------------------------------------------------------------
# The disk
# ---------------------------------------------------------------------------

def disk_write_bench(directory, total_bytes, block=MIB):
    """Sequential write of @total_bytes in @block writes, then fsync (like
    `dd bs=1M conv=fdatasync`). Returns (MB/s including the fsync, seconds,
    fsync seconds). The file is removed."""
    path = os.path.join(directory, "disk-bench-%d.tmp" % os.getpid())
    buf = os.urandom(block)  # not zeros: no file system may shortcut them
    n = total_bytes // block
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        t = time.monotonic()
        for _ in range(n):
            os.write(fd, buf)
        t_sync = time.monotonic()
        os.fsync(fd)
        t_end = time.monotonic()
    finally:
        os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
    secs = t_end - t
    return n * block / secs / 1e6, secs, t_end - t_sync


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

def proc_cpu_s(pid):
    """utime + stime of @pid in seconds (None when gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def proc_io(pid):
    """{read_bytes, write_bytes} of /proc/PID/io (storage I/O), or {} when unreadable."""
    out = {}
    try:
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                out[k.strip()] = int(v)
    except (OSError, ValueError):
        return {}
    return out


def proc_rss_peak(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def metrics(node, timeout=10):
    """GET /metrics parsed (unlabelled samples), {} when the node does not answer."""
    imgarc_node = _mods["node"]
    try:
        r = node.get("/metrics", auth=False, timeout=timeout)
    except (OSError, http.client.HTTPException):
        return {}
    if r.status != 200:
        return {}
    return imgarc_node.parse_metrics(r.body.decode())


def view(node, timeout=10):
    """GET /api/v1/cluster on @node, or None."""
    try:
        r = node.get("/api/v1/cluster", timeout=timeout)
    except (OSError, http.client.HTTPException):
        return None
    if r.status != 200:
        return None
    return r.json


def node_id(node):
    """@node's id as the API spells it: a string of decimal digits."""
    with open(os.path.join(node.data, "node-id")) as f:
        return str(int(f.read().strip()))


LOG_LINE = re.compile(r"^\S+Z (ERROR|WARN) (\S+) (.*)$")


def log_findings(nodes, limit=6):
    """WARN/ERROR lines of the nodes' logs, grouped by message shape: a list of
    (count, node names, example line)."""
    groups = {}
    for node in nodes:
        try:
            with open(node.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for line in text.splitlines():
            m = LOG_LINE.match(line)
            if m is None:
                if "Assertion" in line or "AddressSanitizer" in line or "abort" in line.lower():
                    key = ("CRASH", line[:80])
                else:
                    continue
            else:
                # The shape: numbers and hex replaced, so repeats group together.
                shape = re.sub(r"[0-9a-f]{16,}", "H", m.group(3))
                shape = re.sub(r"\d+(\.\d+)?", "N", shape)
                key = (m.group(1) + " " + m.group(2), shape[:120])
            g = groups.setdefault(key, [0, set(), line])
            g[0] += 1
            g[1].add(node.name.rsplit("-", 1)[-1])
    out = sorted(((c, sorted(names), ex) for c, names, ex in groups.values()),
                 key=lambda x: -x[0])
    return out[:limit], len(out)


def print_log_findings(nodes):
    found, total = log_findings(nodes, limit=12)
    print()
    if not found:
        print("node logs: no WARN or ERROR lines")
        return
    print("node logs: %d kinds of WARN/ERROR lines (most frequent first):" % total)
    for count, names, example in found:
        print("  %6dx on %s: %s" % (count, ",".join(names), example[:300]))


def stop_all(cluster, keep):
    """Stops every node the benchmark started, by its pid (SIGTERM, then SIGKILL after
    30 s), then removes the cluster's data dirs unless @keep."""
    if cluster is None:
        return
    for node in cluster.nodes:
        try:
            code = node.stop(timeout=30)
            if code not in (None, 0, -9):
                progress("%s exited with status %s at shutdown (log: %s)"
                         % (node.name, code, node.log_path))
        except Exception as e:  # noqa: BLE001 - keep stopping the others
            progress("stopping %s: %r" % (node.name, e))
            try:
                node.kill9()
            except Exception:  # noqa: BLE001
                pass
    if keep:
        progress("data dirs kept in %s" % cluster.dir)
    else:
        shutil.rmtree(cluster.dir, ignore_errors=True)


# ---------------------------------------------------------------------------
# Uploads: many keep-alive connections spread over the nodes
# ---------------------------------------------------------------------------

class Uploader:
    """Uploads @files files through @clients threads, each with one keep-alive
    connection to one node (client i talks to nodes[i % len(nodes)]). File k goes to
    bill BENCH-<run>-<k // per_bill> and its body is @base with its first 16 bytes
    replaced by the run id and k (every file distinct: no dedup). A 503 or a broken
    connection is retried with the same Idempotency-Key."""

    def __init__(self, nodes, token, files, size, clients, per_bill, run_id,
                 progress_every=2.0):
        self.nodes = nodes
        self.token = token
        self.files = files
        self.size = size
        self.clients = clients
        self.per_bill = per_bill
        self.run_id = run_id
        self.base = os.urandom(max(size, 16))[:size] if size >= 16 else os.urandom(16)
        self.next = 0
        self.lock = threading.Lock()
        self.done = 0
        self.bytes = 0
        self.retries = 0
        self.errors = {}
        self.latencies = []
        self.results = {}  # k -> (index, image_no, blob hash)
        self.connections = 0
        self.progress_every = progress_every
        self.failed = None

    def image_no(self, k):
        return "BENCH-%s-%d" % (self.run_id, k // self.per_bill)

    def body(self, k):
        head = ("%08s%08d" % (self.run_id[:8], k % 100000000)).encode()[:16]
        return head + self.base[16:]

    def _take(self):
        with self.lock:
            if self.next >= self.files or self.failed:
                return None
            k = self.next
            self.next += 1
            return k

    def _worker(self, i):
        node = self.nodes[i % len(self.nodes)]
        conn = None
        lat = []
        while True:
            k = self._take()
            if k is None:
                break
            image_no = self.image_no(k)
            path = "/api/v1/bills/%s/files?name=bench-%d.bin" % (image_no, k)
            hs = {"Authorization": "Bearer " + self.token,
                  "Content-Type": "application/octet-stream",
                  "Idempotency-Key": "bench-%s-%d" % (self.run_id, k)}
            body = self.body(k)
            for attempt in range(60):
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=120)
                    with self.lock:
                        self.connections += 1
                t = time.monotonic()
                try:
                    conn.request("POST", path, body=body, headers=hs)
                    r = conn.getresponse()
                    data = r.read()
                except (OSError, http.client.HTTPException) as e:
                    conn.close()
                    conn = None
                    self._error("transport %s" % type(e).__name__, attempt)
                    time.sleep(0.2)
                    continue
                dt = time.monotonic() - t
                if r.status == 201:
                    lat.append(dt)
                    blob = None
                    try:
                        idx = int(r.getheader("X-Imgarc-Index"))
                        j = _json_loads(data)
                        idx = int(j.get("index", idx))
                        blob = j.get("blob")
                    except (TypeError, ValueError):
                        idx = 0
                    with self.lock:
                        self.done += 1
                        self.bytes += len(body)
                        self.results[k] = (idx, image_no, blob)
                    break
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
                self._error("HTTP %d" % r.status, attempt, data)
                if r.status in (503, 429, 500):
                    time.sleep(0.2)
                    continue
                self.failed = "file %d: HTTP %d %r" % (k, r.status, data[:300])
                break
            else:
                self.failed = "file %d: no success after 60 attempts" % k
        if conn is not None:
            conn.close()
        with self.lock:
            self.latencies.extend(lat)

    def _error(self, what, attempt, data=b""):
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1
            self.retries += 1
            n = self.errors[what]
        if n <= 3:
            progress("upload: %s (attempt %d) %r; retrying" % (what, attempt + 1, data[:200]))

    def run(self, label="upload"):
        threads = [threading.Thread(target=self._worker, args=(i,), daemon=True)
                   for i in range(self.clients)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        last = t0
        last_done = 0
        while any(t.is_alive() for t in threads):
            threads[0].join(0.1) if threads[0].is_alive() else time.sleep(0.1)
            now = time.monotonic()
            if now - last >= self.progress_every:
                with self.lock:
                    done, nbytes = self.done, self.bytes
                progress("%s: %d/%d files, %.0f files/s now, %.1f MB/s avg, load %s"
                         % (label, done, self.files, (done - last_done) / (now - last),
                            nbytes / (now - t0) / 1e6, loadavg()))
                last, last_done = now, done
        self.seconds = time.monotonic() - t0
        if self.failed:
            raise RuntimeError("upload failed: " + self.failed)
        self.latencies.sort()
        return self

    def last_upload(self):
        """(index, image_no, files in that bill) of the upload with the highest index."""
        k, (idx, image_no, _) = max(self.results.items(), key=lambda kv: kv[1][0])
        b = k // self.per_bill
        n_in_bill = sum(1 for j in range(b * self.per_bill, min((b + 1) * self.per_bill,
                                                                 self.files)))
        return idx, image_no, n_in_bill

    def rows(self, prefix=""):
        lat = self.latencies
        return [
            (prefix + "files uploaded", "%d x %d bytes = %.1f MB in %.1f s (%d clients, %d "
             "connections opened)" % (self.done, self.size, self.bytes / 1e6, self.seconds,
                                      self.clients, self.connections)),
            (prefix + "upload rate", "%.1f files/s, %.1f MB/s" % (self.done / self.seconds,
                                                                  self.bytes / self.seconds / 1e6)),
            (prefix + "upload latency", "p50 %.1f ms, p99 %.1f ms, max %.1f ms"
             % (percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3,
                (lat[-1] if lat else float("nan")) * 1e3)),
            (prefix + "upload retries", "%d %s" % (self.retries, self.errors or "")),
        ]


def _json_loads(data):
    import json
    return json.loads(data)


def finish(name, ok, rows, cluster, keep):
    """The end of a benchmark, whatever happened: the node logs' tails when it failed,
    the summary, the log findings, then every node stopped (and its data removed unless
    @keep)."""
    try:
        if not ok:
            progress("FAILED; tails of the node logs follow")
            for n in cluster.nodes:
                sys.stderr.write("---- %s (%s)\n%s\n" % (n.name, n.log_path, n.log_tail(15)))
        summary(name + ("" if ok else " (incomplete)"), rows)
        print_log_findings(cluster.nodes)
    finally:
        stop_all(cluster, keep)
