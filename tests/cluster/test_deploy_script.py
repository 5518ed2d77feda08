"""deploy/cluster.sh: a local N-node cluster started and stopped by the script."""

import os
import random
import signal
import socket
import subprocess
import unittest

from imgarc_cluster import wait_for
from imgarc_node import IMGARCD, NodeTestCase, cli_json, run_cli

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                      "cluster.sh")


def ports_free(ports):
    socks = []
    try:
        for p in ports:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def running(pid):
    """Whether @pid is a live process (a zombie waiting for its reaper is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def free_bases(n):
    """HTTP and raft base ports such that base+1..base+n are free for both. Both below
    the kernel's ephemeral range (32768 and up by default): a port there can be taken
    by any outgoing connection between this check and the node's bind."""
    rnd = random.Random()
    while True:
        http, raft = rnd.randrange(20000, 26000), rnd.randrange(26000, 32000)
        if ports_free([http + k for k in range(1, n + 1)] +
                      [raft + k for k in range(1, n + 1)]):
            return http, raft


class DeployScriptTest(NodeTestCase):

    def pids(self, base):
        out = []
        for k in (1, 2, 3):
            path = os.path.join(base, "node%d" % k, "imgarcd.pid")
            if os.path.exists(path):
                with open(path) as f:
                    out.append(int(f.read().strip()))
        return out

    def kill_leftovers(self, base):
        for pid in self.pids(base):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def test_start_three_then_stop(self):
        base = self.scratch("deploy")
        http, raft = free_bases(3)
        env = dict(os.environ, IMGARCD=IMGARCD, IMGARC_BASE_HTTP=str(http),
                   IMGARC_BASE_RAFT=str(raft))
        self.addCleanup(self.kill_leftovers, base)  # by pid, should the test fail midway
        p = subprocess.run(["bash", SCRIPT, "start", "3", base], env=env, capture_output=True,
                           text=True, timeout=180, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("The cluster is up", p.stdout)
        pids = self.pids(base)
        self.assertEqual(len(pids), 3)
        self.assertEqual(os.stat(os.path.join(base, "secret")).st_mode & 0o777, 0o600)
        with open(os.path.join(base, "token")) as f:
            token = f.read().strip()
        with open(os.path.join(base, "node2", "imgarcd.conf")) as f:
            conf = f.read()
        self.assertIn("join = 127.0.0.1:%d" % (http + 1), conf)
        self.assertIn("cluster-secret-file = %s" % os.path.join(base, "secret"), conf)
        server = "http://127.0.0.1:%d" % (http + 2)

        def three_voters():
            view = cli_json(run_cli(None, "cluster", "--json", server=server, token=token))
            return view if sorted(n["role"] for n in view["nodes"]) == ["voter"] * 3 else None
        view = wait_for(three_voters, 60, "three voters")
        self.assertEqual(sorted(n["http"] for n in view["nodes"]),
                         ["127.0.0.1:%d" % (http + k) for k in (1, 2, 3)])
        p = run_cli(None, "pool", "push", "BX-D-1", "--bill-no", "ER-1", "--amount", "1.00",
                    server=server, token=token)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["bash", SCRIPT, "stop", base], env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.count("stopped node"), 3, p.stdout)
        for pid in pids:
            self.assertFalse(running(pid), "pid %d still runs after stop" % pid)
        self.assertEqual(self.pids(base), [])
        for k in (1, 2, 3):
            with open(os.path.join(base, "node%d" % k, "imgarcd.log")) as f:
                log = f.read()
            self.assertIn("INFO node stopped", log)
            self.assertNotIn("ERROR: AddressSanitizer", log)
        # Started again on the same dir: every node comes back with its data (node 1
        # alone cannot elect itself, so it must not be waited for first).
        p = subprocess.run(["bash", SCRIPT, "start", "3", base], env=env, capture_output=True,
                           text=True, timeout=180, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("The cluster is up", p.stdout)
        self.assertEqual(len(self.pids(base)), 3)
        wait_for(lambda: run_cli(None, "cluster", server=server, token=token).returncode == 0,
                 60, "every member up again ('imgarc cluster' exits 0)")
        p = run_cli(None, "status", "BX-D-1", server=server, token=token)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run(["bash", SCRIPT, "stop", base], env=env, capture_output=True,
                           text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.count("stopped node"), 3, p.stdout)
        # Usage errors.
        p = subprocess.run(["bash", SCRIPT, "start", "0", base], env=env, capture_output=True,
                           text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 2)


if __name__ == "__main__":
    unittest.main()
