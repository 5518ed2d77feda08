"""The fault suite's cluster: real imgarcd processes, each in its own network namespace.

A FaultNode is the integration tests' Node (tests/integration/imgarc_node.py: started,
stopped and killed by its own pid, its log in DATA/imgarcd.log) reached at its
namespace's address instead of 127.0.0.1, on fixed ports (every node has an address of
its own). It can run under libfaketime, whose offset the suite changes while the node
runs (a wall clock jump; the monotonic clock is left alone, as a real NTP step would),
and on a data directory that is a small file system of its own (tmpfs), to be filled.

A FaultCluster is the cluster tests' Cluster (tests/cluster/imgarc_cluster.py) on such
nodes, with the product's default raft timings.
"""

import http.client
import os
import socket
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "cluster"))

from imgarc_node import HTTP_TIMEOUT, IMGARCD, Node  # noqa: E402
from imgarc_cluster import Cluster  # noqa: E402

HTTP_PORT = 8080
RAFT_PORT = 9090
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


class FaultNode(Node):
    def __init__(self, name, lab, k, data_dir, faketime=False, tmpfs_mb=0):
        super().__init__(name, data_dir=data_dir, fast_election=False, outbound_allow=())
        self.lab = lab
        self.k = k
        self.ip = lab.ip(k)
        self.http_port = HTTP_PORT
        self.raft_port = RAFT_PORT
        self.clock_file = None
        self.mounted = False
        if tmpfs_mb:
            os.makedirs(self.data, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm,mode=0700" % tmpfs_mb,
                            "imgarc-fault-%d" % os.getpid(), self.data], check=True)
            self.mounted = True
        if faketime:
            if not os.path.exists(FAKETIME_LIB):
                raise AssertionError("libfaketime is missing (%s): run "
                                     "scripts/install-deps.sh --test" % FAKETIME_LIB)
            self.clock_file = os.path.join(os.path.dirname(self.data),
                                           "%s.faketime" % os.path.basename(self.data))
            self.set_clock_offset(0)

    @property
    def host(self):
        return self.ip

    @property
    def url(self):
        return "http://%s:%d" % (self.ip, self.http_port)

    def connection(self, timeout=None):
        return http.client.HTTPConnection(self.ip, self.http_port,
                                          timeout=timeout or HTTP_TIMEOUT)

    def socket(self, timeout=None):
        s = socket.create_connection((self.ip, self.http_port),
                                     timeout=timeout or HTTP_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def env_args(self):
        if self.clock_file is None:
            return []
        asan = os.environ.get("ASAN_OPTIONS", "")
        asan = (asan + ":" if asan else "") + "verify_asan_link_order=0"
        # FAKETIME_DONT_FAKE_MONOTONIC: only the wall clock moves (raft and libuv run on
        # the monotonic one); the offset file is read again at most once a second.
        return ["env", "LD_PRELOAD=" + FAKETIME_LIB, "FAKETIME_TIMESTAMP_FILE=" + self.clock_file,
                "FAKETIME_DONT_FAKE_MONOTONIC=1", "FAKETIME_CACHE_DURATION=1",
                "ASAN_OPTIONS=" + asan]

    def command(self):
        cmd = self.lab.exec_prefix(self.k) + self.env_args()
        cmd += [IMGARCD, "--listen", "%s:%d" % (self.ip, self.http_port),
                "--raft-listen", "%s:%d" % (self.ip, self.raft_port), "--data", self.data]
        if self.token is not None:
            cmd += ["--bootstrap-token", self.token]
        return cmd + self.args

    def set_clock_offset(self, seconds):
        """Moves this node's wall clock to real time + @seconds (takes effect within a
        second, while it runs)."""
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+ds\n" % seconds)
        os.replace(tmp, self.clock_file)

    def free_bytes(self):
        st = os.statvfs(self.data)
        return st.f_bavail * st.f_frsize

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.data], check=False)
            self.mounted = False


class FaultCluster(Cluster):
    """Nodes of one scenario, node k (0-based) in the lab's namespace k."""

    def __init__(self, name, lab, voters=3, faketime=False, tmpfs_mb=None):
        super().__init__(name, voters=voters)
        self.lab = lab
        self.faketime = faketime
        self.tmpfs_mb = tmpfs_mb or {}

    def node_args(self, k, join, zone):
        args = ["--cluster-secret-file", self.secret_path, "--voters", str(self.voters),
                "--zone", zone]
        if join is not None:
            args += ["--join", "%s:%d" % (join.ip, join.http_port)]
        return args

    def add(self, join=None, zone=None, wait=True):
        k = len(self.nodes)
        if self.nodes and join is None:
            join = self.nodes[0]
        zone = zone or ("zone-%s" % "abc"[k % 3])
        node = FaultNode("%s-n%d" % (self.name, k + 1), self.lab, k,
                         os.path.join(self.dir, "n%d" % (k + 1)), faketime=self.faketime,
                         tmpfs_mb=self.tmpfs_mb.get(k, 0))
        node.args = self.node_args(k, join, zone)
        self.nodes.append(node)
        node.start(wait=wait)
        return node

    def cleanup(self):
        try:
            super().cleanup()
        finally:
            for n in self.nodes:
                n.unmount()
