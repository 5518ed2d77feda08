#!/usr/bin/env python3
"""side_by_side.py: imgarc against the systems a user would otherwise pick, same run.

The table of the issue "The core at scale", measured on this machine with one client
for all systems (build/imgarc-bench: its raw HTTP engine drives imgarc, nginx and
etcd alike), interleaved: odd rounds run nginx, imgarc (one node), imgarc (3 nodes),
etcd; even rounds the reverse, so each peer runs next to the imgarc it is compared with,
before it in one round and after it in the next. The figures are medians of --rounds
rounds; a ratio is the median of the rounds' own ratios (each round measures both sides
back to back, under the same load from whatever else runs on the machine).

  row                                    imgarc                    peer
  durable capture, 200 KB, 16 clients    upload phase, one node    nginx WebDAV PUT (no fsync)
  whole-file GET, 200 KB, 16 clients     read phase, one node      nginx GET (sendfile)
  metadata commits, 3 nodes, 64 clients  push phase (PoolPush,     etcd 3.4, 3 members, v3 JSON
                                         one raft command) to      gateway POST /v3/kv/put to
                                         the leader                the leader
  capture on 3 nodes (R=3, W=2)          upload phase, 3 nodes     the one-node capture above
  node peak RSS after mixed load         the 3-node leader's       the 100 MiB budget
                                         VmHWM through push,
                                         upload, read, status at
                                         64 clients
  the disk's pace (reference)            16 threads writing and fsyncing 200 KB files
  CPU per operation                      imgarcd (all nodes)       nginx (master and workers),
                                                                   etcd (all members)

What it does
  1. Installs nginx-core and etcd-server from Debian when nginx or etcd is missing
     (apt-get update, then apt-get install -y; needs root; --no-install to refuse).
  2. Makes a temp dir (under --dir) and, per measurement, starts a fresh system there on
     127.0.0.1 (ports from --base-port on, checked free first): nginx (2 workers, its
     own config and prefix, daemon off), three etcd members (--initial-cluster on
     loopback), imgarc through deploy/cluster.sh (1 node; 3 nodes, R=3 W=2 defaults).
     Each is stopped by pid when its measurement is done, and everything still running
     is stopped at exit (finally, SIGTERM, SIGHUP), then the temp dir removed (unless
     --keep).
  3. Prints one line per measurement, then the table: imgarc, peer, ratio, target.

Run (from the repository root; binaries in build/):
    python3 bench/side_by_side.py                 # 3 rounds of 15 s phases
    python3 bench/side_by_side.py --quick         # 1 round of 4 s phases: a check
    python3 bench/side_by_side.py --rounds 5 --duration 20
Exit status: 0 when every measurement ran (the targets may be missed: the table
says so), 1 when setup failed (install, a port taken, a system that did not start)
or a measurement produced no figure.
"""

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLUSTER_SH = os.path.join(ROOT, "deploy", "cluster.sh")
MIB = 1024 * 1024
SIZE = "200K"
SIZE_BYTES = 200 * 1024
READ_KEYS = 128  # files read in turn: imgarc seeds one per bill (clients * 8 = 128)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import loadavg, progress  # noqa: E402
from benchlib import proc_rss_peak as vmhwm  # noqa: E402


class SetupError(Exception):
    pass


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n", 2)[2])
    p.add_argument("--rounds", type=int, default=3, help="rounds; medians [%(default)s]")
    p.add_argument("--duration", type=float, default=15.0,
                   help="seconds per measured phase [%(default)s]")
    p.add_argument("--quick", action="store_true",
                   help="a short check: 1 round of 4 s phases (unless given)")
    p.add_argument("--dir", default=os.environ.get("TMPDIR", "/tmp"),
                   help="where the temp dir goes (the file system measured) [%(default)s]")
    p.add_argument("--build", default=os.path.join(ROOT, "build"),
                   help="directory holding imgarcd and imgarc-bench [%(default)s]")
    p.add_argument("--base-port", type=int, default=18700,
                   help="first of the loopback ports used (about 70) [%(default)s]")
    p.add_argument("--no-install", action="store_true",
                   help="fail instead of installing nginx and etcd with apt-get")
    p.add_argument("--keep", action="store_true", help="keep the temp dir at the end")
    args = p.parse_args()
    if args.quick:
        if "--rounds" not in " ".join(sys.argv):
            args.rounds = 1
        if "--duration" not in " ".join(sys.argv):
            args.duration = 4.0
    if args.rounds < 1 or args.duration <= 0:
        p.error("--rounds and --duration must be positive")
    return args


# ---------------------------------------------------------------------------
# Setup: packages, ports, processes
# ---------------------------------------------------------------------------

def ensure_packages(no_install):
    """nginx and etcd from Debian, installed when missing."""
    missing = [pkg for cmd, pkg in (("nginx", "nginx-core"), ("etcd", "etcd-server"))
               if shutil.which(cmd) is None and not os.access("/usr/sbin/" + cmd, os.X_OK)]
    if not missing:
        return
    if no_install:
        raise SetupError("missing %s (--no-install given)" % " ".join(missing))
    if os.geteuid() != 0:
        raise SetupError("missing %s: run as root, or apt-get install -y %s first"
                         % (" ".join(missing), " ".join(missing)))
    progress("installing %s from Debian" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y"] + missing):
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.stderr.write(r.stdout.decode(errors="replace")[-2000:])
            raise SetupError("%s failed (status %d)" % (" ".join(cmd), r.returncode))


def which(cmd):
    return shutil.which(cmd) or "/usr/sbin/" + cmd


def version_of(cmd):
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
        return r.stdout.decode(errors="replace").splitlines()[0].strip()
    except (OSError, subprocess.SubprocessError, IndexError):
        return "?"


def port_free(port):
    s = socket.socket()
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_ports(ports):
    taken = [p for p in ports if not port_free(p)]
    if taken:
        raise SetupError("ports taken on 127.0.0.1: %s (use --base-port)" % taken)


def wait_http(url, timeout, proc=None, method="GET", body=None):
    """Waits until @url answers 2xx; raises SetupError with the reason otherwise."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SetupError("%s: the process exited with status %s" % (url, proc.returncode))
        try:
            req = urllib.request.Request(url, data=body, method=method)
            with urllib.request.urlopen(req, timeout=5) as r:
                if 200 <= r.status < 300:
                    return r.read()
        except Exception as e:  # noqa: BLE001 - not up yet
            last = e
        time.sleep(0.2)
    raise SetupError("%s did not answer in %d s (%s)" % (url, timeout, last))


class Procs:
    """Every process the benchmark started, to stop by pid."""

    def __init__(self):
        self.procs = []  # (name, Popen)
        self.clusters = []  # (basedir, env) of deploy/cluster.sh

    def start(self, name, cmd, log_path, **kw):
        log = open(log_path, "ab")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, **kw)
        log.close()
        self.procs.append((name, p))
        return p

    def stop(self, p, timeout=20):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_cluster(self, basedir, env):
        subprocess.run([CLUSTER_SH, "stop", basedir], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.clusters = [(b, e) for b, e in self.clusters if b != basedir]

    def stop_all(self):
        for _, p in list(self.procs):
            self.stop(p)
        for basedir, env in list(self.clusters):
            self.stop_cluster(basedir, env)


# ---------------------------------------------------------------------------
# The client: imgarc-bench
# ---------------------------------------------------------------------------

class Bench:
    def __init__(self, path, duration):
        self.path = path
        self.duration = duration
        self.log = None

    def run(self, label, args, phase, pids=()):
        """Runs imgarc-bench; returns {phase: json line} and checks @phase is there. With
        @pids, the CPU those processes used during the run is in lines["cpu_s"]."""
        cmd = [self.path, "--json", "--duration", "%g" % self.duration] + args
        cpu0 = cpu_s(pids)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        cpu1 = cpu_s(pids)
        out = r.stdout.decode(errors="replace")
        err = r.stderr.decode(errors="replace")
        if self.log is not None:
            self.log.write("$ %s\n%s%s\n" % (" ".join(cmd), out, err))
            self.log.flush()
        lines = {}
        for line in out.splitlines():
            if line.startswith("{"):
                d = json.loads(line)
                lines[d["phase"]] = d
        if phase not in lines or lines[phase]["ok"] == 0:
            sys.stderr.write(err[-3000:])
            raise RuntimeError("%s: imgarc-bench gave no figure for %s (status %d)"
                               % (label, phase, r.returncode))
        d = lines[phase]
        lines["cpu_s"] = cpu1 - cpu0
        if d["errors"]:
            progress("%s: %d errors %s (counted out of the rate)"
                     % (label, d["errors"], d["errors_by_status"]))
        return lines


def rate(d):
    return d["ops_per_s"]


def rate_ok(lines):
    return lines["upload"]["ok"]


def cpu_s(pids):
    """User plus system CPU seconds of @pids and their children (nginx's workers)."""
    pids = set(pids)
    total = 0.0
    if not pids:
        return total
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(entry) in pids or int(fields[1]) in pids:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def ms_per_op(lines, phase):
    return 1000.0 * lines["cpu_s"] / max(1, lines[phase]["ok"])


# ---------------------------------------------------------------------------
# The systems
# ---------------------------------------------------------------------------

NGINX_CONF = """\
{user}worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    client_max_body_size 100m;
    server {{
        listen 127.0.0.1:{port};
        location /dav/ {{
            root {dir}/root;
            dav_methods PUT DELETE;
            create_full_put_path on;
        }}
    }}
}}
"""


class Nginx:
    def __init__(self, procs, tmp, port):
        self.procs, self.tmp, self.port = procs, tmp, port
        self.url = "http://127.0.0.1:%d" % port

    def __enter__(self):
        self.dir = os.path.join(self.tmp, "nginx")
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("tmp", "root/dav"):
            os.makedirs(os.path.join(self.dir, d))
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user="user root;\n" if os.geteuid() == 0 else "",
                                      dir=self.dir, port=self.port))
        self.p = self.procs.start("nginx", [which("nginx"), "-p", self.dir, "-c", conf,
                                            "-e", os.path.join(self.dir, "error.log")],
                                  os.path.join(self.dir, "stdout.log"))
        with open(os.path.join(self.dir, "root", "dav", "ping"), "w") as f:
            f.write("ok")
        wait_http(self.url + "/dav/ping", 30, self.p)
        return self

    def __exit__(self, *exc):
        self.procs.stop(self.p)
        shutil.rmtree(self.dir, ignore_errors=True)


class Etcd:
    """Three etcd members on loopback; .leader is the leader's client URL."""

    def __init__(self, procs, tmp, client_port, peer_port):
        self.procs, self.tmp = procs, tmp
        self.client = [client_port + i for i in range(3)]
        self.peer = [peer_port + i for i in range(3)]

    def __enter__(self):
        self.dir = os.path.join(self.tmp, "etcd")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        cluster = ",".join("e%d=http://127.0.0.1:%d" % (i, p) for i, p in enumerate(self.peer))
        self.p = []
        for i in range(3):
            c, pr = "http://127.0.0.1:%d" % self.client[i], "http://127.0.0.1:%d" % self.peer[i]
            self.p.append(self.procs.start("etcd%d" % i, [
                which("etcd"), "--name", "e%d" % i, "--data-dir",
                os.path.join(self.dir, "e%d" % i), "--listen-client-urls", c,
                "--advertise-client-urls", c, "--listen-peer-urls", pr,
                "--initial-advertise-peer-urls", pr, "--initial-cluster", cluster,
                "--initial-cluster-state", "new", "--initial-cluster-token", "side-by-side",
                "--log-level", "warn", "--logger", "zap"],
                os.path.join(self.dir, "e%d.log" % i)))
        self.leader = None
        deadline = time.monotonic() + 60
        while self.leader is None and time.monotonic() < deadline:
            for i in range(3):
                url = "http://127.0.0.1:%d" % self.client[i]
                try:
                    st = json.loads(wait_http(url + "/v3/maintenance/status", 5, self.p[i],
                                              "POST", b"{}"))
                except SetupError:
                    continue
                if st.get("leader") and st["leader"] == st["header"].get("member_id"):
                    self.leader = url
                    self.leader_pid = self.p[i].pid
                    break
            else:
                time.sleep(0.3)
        if self.leader is None:
            raise SetupError("etcd: no leader in 60 s (logs in %s)" % self.dir)
        return self

    def __exit__(self, *exc):
        for p in self.p:
            self.procs.stop(p)
        shutil.rmtree(self.dir, ignore_errors=True)


class Imgarc:
    """An imgarc cluster of @n nodes started by deploy/cluster.sh; node 1 leads."""

    def __init__(self, procs, tmp, build, n, http_base, raft_base):
        self.procs, self.tmp, self.n = procs, tmp, n
        self.env = dict(os.environ, IMGARCD=os.path.join(build, "imgarcd"),
                        IMGARC_BASE_HTTP=str(http_base), IMGARC_BASE_RAFT=str(raft_base))
        self.urls = ["http://127.0.0.1:%d" % (http_base + k) for k in range(1, n + 1)]

    def __enter__(self):
        self.dir = os.path.join(self.tmp, "imgarc%d" % self.n)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.procs.clusters.append((self.dir, self.env))
        r = subprocess.run([CLUSTER_SH, "start", str(self.n), self.dir], env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            sys.stderr.write(r.stdout.decode(errors="replace")[-3000:])
            raise SetupError("imgarc: deploy/cluster.sh start %d failed" % self.n)
        with open(os.path.join(self.dir, "token")) as f:
            self.token = f.read().strip()
        self.pids = []
        for k in range(1, self.n + 1):
            with open(os.path.join(self.dir, "node%d" % k, "imgarcd.pid")) as f:
                self.pids.append(int(f.read()))
        return self

    def args(self):
        return ["--server", self.urls[0], "--token", self.token, "--pid", str(self.pids[0])]

    def __exit__(self, *exc):
        self.procs.stop_cluster(self.dir, self.env)
        shutil.rmtree(self.dir, ignore_errors=True)




# ---------------------------------------------------------------------------
# The disk: 16 threads writing and fsyncing 200 KB files
# ---------------------------------------------------------------------------

def disk_probe(directory, threads, seconds, size=SIZE_BYTES):
    """Files of @size written (one write) and fsynced by @threads threads for @seconds;
    returns files/s. Each thread reuses its few names (no directory growth)."""
    d = os.path.join(directory, "disk-probe")
    os.makedirs(d, exist_ok=True)
    buf = os.urandom(size)
    counts = [0] * threads
    stop = time.monotonic() + seconds

    def worker(i):
        n = 0
        while time.monotonic() < stop:
            path = os.path.join(d, "t%d-%d" % (i, n % 8))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                os.write(fd, buf)
                os.fsync(fd)
            finally:
                os.close(fd)
            n += 1
        counts[i] = n

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    secs = time.monotonic() - t0
    shutil.rmtree(d, ignore_errors=True)
    return sum(counts) / secs


# ---------------------------------------------------------------------------
# One round
# ---------------------------------------------------------------------------

def measure_nginx(ctx, res):
    with Nginx(ctx.procs, ctx.tmp, ctx.ports["nginx"]) as ng:
        base = ["--server", ng.url, "--phases", "http", "--size", SIZE, "--clients", "16"]
        d = ctx.bench.run("nginx PUT", base + ["--method", "PUT", "--path", "/dav/p/{r}-{n}"],
                          "http", [ng.p.pid])
        res["nginx_put"] = rate(d["http"])
        res["nginx_put_cpu_ms"] = ms_per_op(d, "http")
        shutil.rmtree(os.path.join(ng.dir, "root", "dav", "p"), ignore_errors=True)
        # the files read: READ_KEYS of them, made by PUT first (not timed)
        ctx.bench.run("nginx GET files", base + ["--method", "PUT", "--path", "/dav/g/{n}",
                                                 "--files", str(READ_KEYS)], "http")
        lines = ctx.bench.run("nginx GET", base + ["--method", "GET", "--path", "/dav/g/{n}",
                                                   "--keys", str(READ_KEYS)], "http", [ng.p.pid])
        d = lines["http"]
        if d["ok"] and d["bytes"] / d["ok"] != SIZE_BYTES:
            raise RuntimeError("nginx GET: %d bytes per answer, not %d"
                               % (d["bytes"] / d["ok"], SIZE_BYTES))
        res["nginx_get"] = rate(d)
        res["nginx_get_cpu_ms"] = ms_per_op(lines, "http")
    progress("nginx: PUT %.0f/s, GET %.0f/s (load %s)"
             % (res["nginx_put"], res["nginx_get"], loadavg()))


def measure_imgarc1(ctx, res):
    with Imgarc(ctx.procs, ctx.tmp, ctx.build, 1, ctx.ports["imgarc1"],
                ctx.ports["imgarc1_raft"]) as im:
        d = ctx.bench.run("imgarc capture", im.args() + ["--phases", "upload", "--size", SIZE,
                                                         "--clients", "16"], "upload")
        res["imgarc_capture"] = rate(d["upload"])
        res["imgarc_capture_cpu_ms"] = 1000.0 * d["upload"]["node_cpu_s"] / max(1, rate_ok(d))
        d = ctx.bench.run("imgarc GET", im.args() + ["--phases", "read", "--size", SIZE,
                                                     "--clients", "16", "--bills",
                                                     str(READ_KEYS)], "read")
        res["imgarc_get"] = rate(d["read"])
        res["imgarc_get_cpu_ms"] = 1000.0 * d["read"]["node_cpu_s"] / max(1, d["read"]["ok"])
    progress("imgarc, one node: capture %.0f/s, GET %.0f/s (load %s)"
             % (res["imgarc_capture"], res["imgarc_get"], loadavg()))


# etcd v3 JSON gateway: key "key" + run id + operation (base64 of the digits: 24 base64
# characters are 18 bytes); a 96-byte value (128 base64 characters), about the size of
# an imgarc pool push's JSON.
ETCD_VALUE = base64.b64encode(bytes(range(32, 128))).decode()
ETCD_BODY = '{"key":"a2V5{r}{n}","value":"%s"}' % ETCD_VALUE


def measure_etcd(ctx, res):
    with Etcd(ctx.procs, ctx.tmp, ctx.ports["etcd_client"], ctx.ports["etcd_peer"]) as et:
        d = ctx.bench.run("etcd put", ["--server", et.leader, "--phases", "http", "--method",
                                       "POST", "--path", "/v3/kv/put", "--body", ETCD_BODY,
                                       "--clients", "64"], "http", [p.pid for p in et.p])
        res["etcd_put"] = rate(d["http"])
        res["etcd_put_cpu_ms"] = ms_per_op(d, "http")
    progress("etcd, 3 members: put %.0f/s (load %s)" % (res["etcd_put"], loadavg()))


def measure_imgarc3(ctx, res):
    with Imgarc(ctx.procs, ctx.tmp, ctx.build, 3, ctx.ports["imgarc3"],
                ctx.ports["imgarc3_raft"]) as im:
        d = ctx.bench.run("imgarc commits", im.args() + ["--phases", "push", "--clients", "64"],
                          "push", im.pids)
        res["imgarc_commit"] = rate(d["push"])
        res["imgarc_commit_cpu_ms"] = ms_per_op(d, "push")
        d = ctx.bench.run("imgarc capture, 3 nodes",
                          im.args() + ["--phases", "upload", "--size", SIZE, "--clients", "16"],
                          "upload", im.pids)
        res["imgarc_capture3"] = rate(d["upload"])
        res["imgarc_capture3_cpu_ms"] = ms_per_op(d, "upload")
        # mixed load at 64 clients; the leader's VmHWM is reset at each phase start by
        # imgarc-bench, so its peak is the largest of the phases' peaks
        d = ctx.bench.run("imgarc mixed", im.args() + ["--phases", "push,upload,read,status",
                                                       "--size", SIZE, "--clients", "64"],
                          "status")
        peaks = [x["node_peak_rss_bytes"] for k, x in d.items()
                 if k != "cpu_s" and x["node_peak_rss_bytes"]]
        res["imgarc_rss"] = max(peaks) / MIB
        res["imgarc_rss_followers"] = [(vmhwm(p) or 0) / MIB for p in im.pids[1:]]
    progress("imgarc, 3 nodes: commits %.0f/s, capture %.0f/s, leader peak RSS %.0f MiB, "
             "followers %s MiB since start (load %s)"
             % (res["imgarc_commit"], res["imgarc_capture3"], res["imgarc_rss"],
                "/".join("%.0f" % x for x in res["imgarc_rss_followers"]), loadavg()))


def measure_disk(ctx, res):
    res["disk"] = disk_probe(ctx.tmp, 16, ctx.bench.duration)
    progress("disk: %.0f files of 200 KB written+fsynced per s, 16 threads" % res["disk"])


def one_round(ctx, r):
    """Odd rounds: nginx, imgarc one node, imgarc 3 nodes, etcd; even rounds the reverse.
    So each peer runs next to the imgarc it is compared with, first in one round and
    second in the next, and so do the one-node and 3-node captures."""
    res = {}
    order = [measure_nginx, measure_imgarc1, measure_imgarc3, measure_etcd]
    for m in order if r % 2 == 1 else reversed(order):
        m(ctx, res)
    measure_disk(ctx, res)
    return res


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------

def med(rounds, key):
    return statistics.median(x[key] for x in rounds)


def spread(rounds, key):
    v = [x[key] for x in rounds]
    return "" if len(v) < 2 else " (%.0f-%.0f)" % (min(v), max(v))


def table(rounds):
    """The table. A row's ratio is the median of the rounds' own ratios: each round
    measures both sides back to back, so its ratio shares that round's load."""
    cap1 = med(rounds, "imgarc_capture")
    for x in rounds:
        x["budget_mib"] = 100.0
    spec = [
        # name, imgarc key, peer key, peer label, unit, target text, want (None: at most 1)
        ("durable capture, 200 KB, 16 clients, one node", "imgarc_capture", "nginx_put",
         "nginx WebDAV PUT (no fsync)", "/s", ">= 0.8", 0.8),
        ("whole-file GET, 200 KB, 16 clients", "imgarc_get", "nginx_get", "nginx GET", "/s",
         ">= 0.8", 0.8),
        ("metadata commits, 3 nodes, 64 clients", "imgarc_commit", "etcd_put",
         "etcd 3.4, 3 nodes,", "/s", ">= 1.2", 1.2),
        ("capture on 3 nodes (R=3, W=2) vs one node", "imgarc_capture3", "imgarc_capture",
         "one node", "/s", ">= 0.5", 0.5),
        ("node peak RSS after mixed load (3-node leader, 64 clients)", "imgarc_rss",
         "budget_mib", "budget", " MiB", "<= 1.0", None),
    ]
    rows = []
    for name, ours, peer, label, unit, target, want in spec:
        ratios = [x[ours] / x[peer] for x in rounds]
        ratio = statistics.median(ratios)
        met = ratio >= want if want is not None else ratio <= 1.0
        peer_text = "%s %.0f%s" % (label, med(rounds, peer), unit)
        if peer != "budget_mib":
            peer_text += spread(rounds, peer)
        rows.append((name, "%.0f%s%s" % (med(rounds, ours), unit, spread(rounds, ours)),
                     peer_text, "%.2f" % ratio, target, "met" if met else "NOT met",
                     " ".join("%.2f" % v for v in ratios)))
    head = ("path", "imgarc", "peer", "ratio", "target", "", "ratio per round")
    widths = [max(len(head[i]), max(len(r[i]) for r in rows)) for i in range(len(head))]
    fmt = "  ".join("%%-%ds" % w for w in widths)
    print()
    print((fmt % head).rstrip())
    for row in rows:
        print((fmt % row).rstrip())
    disk = med(rounds, "disk")
    print()
    print("the disk: 200 KB files written+fsynced by 16 threads: %.0f/s%s; imgarc capture "
          "%.2f of it, nginx PUT (no fsync) %.2f of it"
          % (disk, spread(rounds, "disk"), cap1 / disk, med(rounds, "nginx_put") / disk))
    print("CPU per operation (ms, medians; the servers' processes, all nodes or members):")
    for what, ours, peer in (("capture vs PUT", "imgarc_capture_cpu_ms", "nginx_put_cpu_ms"),
                             ("GET", "imgarc_get_cpu_ms", "nginx_get_cpu_ms"),
                             ("commit, 3 nodes", "imgarc_commit_cpu_ms", "etcd_put_cpu_ms"),
                             ("capture, 3 nodes", "imgarc_capture3_cpu_ms", None)):
        print("  %-17s imgarc %.3f%s" % (what, med(rounds, ours), "" if peer is None else
                                         ", peer %.3f" % med(rounds, peer)))
    sys.stdout.flush()


class Ctx:
    pass


def main():
    args = parse_args()
    ctx = Ctx()
    ctx.build = os.path.abspath(args.build)
    ctx.procs = Procs()
    b = args.base_port
    ctx.ports = {"nginx": b, "etcd_client": b + 10, "etcd_peer": b + 20, "imgarc1": b + 30,
                 "imgarc1_raft": b + 40, "imgarc3": b + 50, "imgarc3_raft": b + 60}
    ports = [b] + [b + o + k for o in (10, 20) for k in range(3)] + \
            [b + 31, b + 41] + [b + o + k for o in (50, 60) for k in (1, 2, 3)]
    ctx.tmp = None

    def on_signal(signum, frame):
        raise SystemExit("signal %d" % signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    rounds = []
    try:
        for f in ("imgarcd", "imgarc-bench"):
            if not os.access(os.path.join(ctx.build, f), os.X_OK):
                raise SetupError("%s not found in %s (build it: bash scripts/build.sh)"
                                 % (f, ctx.build))
        ensure_packages(args.no_install)
        check_ports(ports)
        ctx.tmp = tempfile.mkdtemp(prefix="side-by-side.", dir=args.dir)
        ctx.bench = Bench(os.path.join(ctx.build, "imgarc-bench"), args.duration)
        ctx.bench.log = open(os.path.join(ctx.tmp, "bench.log"), "w")
        print("side_by_side: %d round(s) of %g s phases, temp dir %s" % (args.rounds,
                                                                        args.duration, ctx.tmp))
        print("side_by_side: %s; %s; %s; %d CPUs; load %s" % (
            version_of([which("nginx"), "-v"]), version_of([which("etcd"), "--version"]),
            version_of([os.path.join(ctx.build, "imgarcd"), "--version"]),
            os.cpu_count(), loadavg()))
        sys.stdout.flush()
        for r in range(1, args.rounds + 1):
            progress("round %d of %d (%s)" % (r, args.rounds, "nginx, imgarc 1, imgarc 3, etcd"
                                              if r % 2 else "etcd, imgarc 3, imgarc 1, nginx"))
            res = one_round(ctx, r)
            rounds.append(res)
            print("round %d: %s" % (r, json.dumps(res, sort_keys=True)))
            sys.stdout.flush()
        table(rounds)
        print("load average at the end: %s" % loadavg())
        return 0
    except SetupError as e:
        progress("setup failed: %s" % e)
        return 1
    except RuntimeError as e:
        progress("failed: %s" % e)
        return 1
    finally:
        ctx.procs.stop_all()
        if ctx.tmp is not None:
            if args.keep:
                progress("kept %s (bench.log has every imgarc-bench output)" % ctx.tmp)
            else:
                shutil.rmtree(ctx.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
