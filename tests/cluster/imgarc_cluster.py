"""Helpers for the cluster tests: N real imgarcd processes on 127.0.0.1.

Built on tests/integration/imgarc_node.py (the Node class, HTTP helpers, the CLI). A
Cluster writes a cluster secret, starts node 1 (it bootstraps the cluster) and then
the others with --join pointing at a member, each on its own free ports and data dir.
Every node is stopped by its own pid at the end of the test class, whatever happened
(Node.cleanup, registered with addClassCleanup; the atexit hook of imgarc_node kills
leftovers as a last resort).

Only the Python standard library is used.
"""

import hashlib
import hmac
import http.client
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from imgarc_node import (HTTP_TIMEOUT, Node, NodeTestCase, scratch_dir)  # noqa: E402

# Raft timing for the tests: quick elections, yet calm enough for a loaded machine
# running sanitizer builds of four nodes on two cores.
RAFT_ARGS = ["--election-timeout-ms", "1500", "--heartbeat-timeout-ms", "150"]
SLOW = os.environ.get("IMGARC_TEST_SLOW") is not None
CONVERGE_TIMEOUT = 60.0


def wait_for(fn, timeout, what, interval=0.05):
    """Polls @fn until it returns a true value, which is returned; fails after
    @timeout seconds saying @what was awaited and the last value or error."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = fn()
            if value:
                return value
            last = value
        except (OSError, http.client.HTTPException, AssertionError, KeyError,
                ValueError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s (last: %r)"
                                 % (timeout, what, last))
        time.sleep(interval)


def sign(secret, method, target, body=b"", time_ms=None):
    """The headers of a node-to-node call (replication/peer_auth.h): the signature
    covers the head only (method, target, time, Content-Length and the body's SHA-256,
    which a blob copy leaves out: its target names its hash)."""
    t = str(int(time.time() * 1000) if time_ms is None else time_ms)
    key = hashlib.sha256(secret.strip().encode()).digest()
    blob_put = method == "PUT" and target.startswith("/internal/v1/blobs/")
    digest = hashlib.sha256(body).hexdigest() if body and not blob_put else ""
    msg = ("imgarc-internal-v2\n%s\n%s\n%s\n%d\n%s"
           % (method, target, t, len(body), digest)).encode()
    hs = {"X-Imgarc-Time": t,
          "X-Imgarc-Signature": hmac.new(key, msg, hashlib.sha256).hexdigest()}
    if digest:
        hs["X-Imgarc-Body-Sha256"] = digest
    return hs


class Cluster:
    """Nodes of one cluster, sharing a secret."""

    def __init__(self, name, voters=3, extra_args=(), tls=None, mutual_tls=False):
        """@tls: a tls_certs.TestCA: every node serves https with a certificate of its
        own from it and trusts it for the others (@mutual_tls: and asks clients, the
        other members included, for one)."""
        self.name = name
        self.tls = tls
        self.mutual_tls = mutual_tls
        self.dir = scratch_dir(name)
        self.voters = voters
        self.extra_args = list(extra_args)
        self.secret = os.urandom(32).hex()
        self.secret_path = os.path.join(self.dir, "secret")
        with open(self.secret_path, "w") as f:
            f.write(self.secret + "\n")
        os.chmod(self.secret_path, 0o600)
        self.nodes = []

    def node_args(self, k, join, zone):
        args = ["--cluster-secret-file", self.secret_path, "--voters", str(self.voters),
                "--zone", zone] + RAFT_ARGS + self.extra_args
        if join is not None:
            args += ["--join", "127.0.0.1:%d" % join.http_port]
        return args

    def add(self, join=None, zone=None, wait=True, env=None, binary=None):
        """Starts one more node, joining through @join (default: node 1); the first
        node bootstraps. @env: variables for its process (Node's env); @binary: another
        build's imgarcd (an upgrade test's previous release)."""
        k = len(self.nodes) + 1
        if self.nodes and join is None:
            join = self.nodes[0]
        zone = zone or ("zone-%s" % "abc"[(k - 1) % 3])
        node = Node("%s-n%d" % (self.name, k), fast_election=False,
                    data_dir=os.path.join(self.dir, "n%d" % k), env=env)
        node.args = self.node_args(k, join, zone)
        if binary is not None:
            node.binary = binary
        if self.tls is not None:
            cert, key = self.tls.issue("%s-n%d" % (self.name, k), "%s-n%d" % (self.name, k))
            node.args += ["--tls-cert", cert, "--tls-key", key, "--tls-ca", self.tls.cert]
            if self.mutual_tls:
                node.args += ["--tls-client-ca", self.tls.cert]
            node.ssl_context = self.tls.context(client=(cert, key) if self.mutual_tls
                                                else None)
            node.cacert = self.tls.cert
        self.nodes.append(node)
        node.start(wait=wait)
        return node

    def start(self, n, binary=None):
        """Starts @n nodes and waits until the first node sees them all, as many of them
        voters as --voters asks and every one healthy: a test that then kills a voter
        must not find the third node still a learner (two voters of which it killed
        one: no quorum, no new leader)."""
        for _ in range(n):
            # Subclasses (the fault suite's, the small-disk one) override add() without
            # @binary: pass it only when there is one.
            if binary is None:
                self.add()
            else:
                self.add(binary=binary)
        want = min(n, self.voters)

        def settled():
            nodes = self.view(self.nodes[0])["nodes"]
            voters = [x for x in nodes if x["role"] == "voter"]
            return (len(nodes) == n and len(voters) == want and
                    all(x["health"] == "ok" for x in nodes))
        wait_for(settled, CONVERGE_TIMEOUT * (2 if SLOW else 1),
                 "%d members, %d of them voters, all healthy" % (n, want))
        return self

    def alive(self):
        return [n for n in self.nodes if n.alive()]

    def cleanup(self):
        """Stops every node by its pid; raises the first node's problem (a sanitizer
        report, a bad exit) after stopping all of them."""
        errors = []
        for node in self.nodes:
            try:
                node.cleanup()
            except AssertionError as e:
                errors.append(str(e))
        if errors:
            raise AssertionError("\n\n".join(errors))

    # -- what the nodes say -----------------------------------------------------

    def view(self, node):
        r = node.get("/api/v1/cluster", timeout=10)
        if r.status != 200:
            raise AssertionError("GET /api/v1/cluster on %s: %r" % (node.name, r))
        return r.json

    def node_id(self, node):
        """@node's id as the API spells it: a string of decimal digits (JSON numbers
        round above 2^53 in JavaScript)."""
        with open(os.path.join(node.data, "node-id")) as f:
            return str(int(f.read().strip()))

    def by_id(self, node_id):
        """The node of id @node_id (a string as answers carry it, or an int)."""
        for n in self.nodes:
            if self.node_id(n) == str(node_id):
                return n
        raise AssertionError("no node with id %s" % node_id)

    def leader(self, timeout=CONVERGE_TIMEOUT, exclude=()):
        """The node every alive node names as leader (polled until they agree)."""
        def agreed():
            ids = set()
            for n in self.alive():
                r = n.get("/readyz", auth=False, timeout=5)
                if r.status != 200:
                    return None
                ids.add(r.json["leader"])
            if len(ids) != 1:
                return None
            node = self.by_id(ids.pop())
            return node if node.alive() and node not in exclude else None
        return wait_for(agreed, timeout, "the alive nodes to agree on a leader")

    def followers(self):
        leader = self.leader()
        return [n for n in self.alive() if n is not leader]

    def applied(self, node):
        r = node.get("/healthz", auth=False, timeout=5)
        return int(r.header("x-imgarc-index"))

    def wait_converged(self, nodes=None, timeout=CONVERGE_TIMEOUT):
        """Waits until @nodes (default: the alive ones) have applied the same index,
        then returns it with their keyspace digests, which must be equal."""
        nodes = nodes or self.alive()

        def same():
            idx = {self.applied(n) for n in nodes}
            if len(idx) != 1:
                return None
            digests = {}
            for n in nodes:
                r = n.get("/api/v1/cluster/digest", timeout=30)
                if r.status != 200:
                    return None
                digests[n.name] = (r.json["applied_index"], r.json["digest"])
            if len({d[0] for d in digests.values()}) != 1:
                return None  # a write applied between the two reads: look again
            return digests
        digests = wait_for(same, timeout, "nodes %s to apply the same index"
                           % [n.name for n in nodes], interval=0.1)
        values = set(digests.values())
        if len(values) != 1:
            raise AssertionError("the nodes applied the same index but hold different "
                                 "metadata: %r" % digests)
        return values.pop()


class ClusterTestCase(NodeTestCase):
    """A test class sharing one cluster, stopped (by pid) after the class."""

    cluster = None

    @classmethod
    def start_cluster(cls, name, n, binary=None, **kw):
        cluster = Cluster(name, **kw)
        cls.addClassCleanup(cluster.cleanup)
        cls.cluster = cluster
        return cluster.start(n, binary=binary)

    def setUp(self):
        pass  # nodes a test killed stay down until the test that restarts them

    def wait_for(self, fn, timeout, what, interval=0.05):
        return wait_for(fn, timeout, what, interval)


__all__ = ["Cluster", "ClusterTestCase", "HTTP_TIMEOUT", "sign", "wait_for", "SLOW"]
