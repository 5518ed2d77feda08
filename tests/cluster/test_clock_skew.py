"""A leader whose wall clock is off: node-to-node calls must not depend on the nodes'
clocks agreeing (replication/peer_auth.h, docs/security.md).

Three nodes, --replicas 3 --write-quorum 3, so every acknowledged capture was pushed
node to node. Node 1 bootstraps the cluster and stays its leader; it runs under
libfaketime (Debian's faketime and libfaketime packages) with its wall clock read from
a file the test rewrites, so the clock can jump while it runs (its monotonic clock,
which raft and libuv time with, is left alone). The tests of the class run in order:

- the leader's clock jumps 120 s ahead: captures through both followers and through
  the leader are acknowledged with three copies, the leader stays the leader, the
  followers show the skew (GET /api/v1/cluster, the metric) and log it once;
- the clock jumps back: writes go on, and the followers log that the clocks agree;
- a real refusal: node 3 signs with a secret the leader does not hold, and a write
  through it is answered with what happened (the leader refused the call, nothing was
  applied), not with "outcome unknown".
"""

import email.utils
import os
import re
import time

from imgarc_cluster import Cluster, ClusterTestCase, wait_for

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SKEW_S = 120
ARGS = ["--replicas", "3", "--write-quorum", "3"]


class ClockSkewTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(FAKETIME_LIB):
            raise AssertionError("%s is missing: install the faketime and libfaketime "
                                 "packages (scripts/install-deps.sh)" % FAKETIME_LIB)
        cluster = Cluster("skew", extra_args=ARGS)
        cls.addClassCleanup(cluster.cleanup)
        cls.cluster = cluster
        cls.clock_file = os.path.join(cluster.dir, "faketime")
        cls.set_clock("+0")
        # The file is read again at most once a second (FAKETIME_CACHE_DURATION=1), as
        # in the fault suite (tests/fault/nodes.py). Not FAKETIME_NO_CACHE: libfaketime
        # 0.9.10 then rereads it on every call from every thread, and about one call in
        # 600 from a busy thread gets the real time instead (measured: 1358 of 800,000
        # calls from 4 threads; 0 of 40,000,000 from 8 threads with a one-second cache),
        # so node 1 sometimes signed a call with a clock 120 s off from the one it had
        # just learned the other nodes' offsets by, and the copy was refused.
        cluster.add(env={"LD_PRELOAD": FAKETIME_LIB,
                         "FAKETIME_TIMESTAMP_FILE": cls.clock_file,
                         "FAKETIME_CACHE_DURATION": "1",
                         "FAKETIME_DONT_FAKE_MONOTONIC": "1"})
        cluster.add()
        cluster.add()
        cls.n1, cls.n2, cls.n3 = cluster.nodes
        wait_for(lambda: all(x["role"] == "voter" and x["health"] == "ok"
                             for x in cluster.view(cls.n1)["nodes"]) and
                 len(cluster.view(cls.n1)["nodes"]) == 3,
                 60, "three healthy voters")
        # Every node places copies on all three (each has applied the others' records),
        # clocks still agreeing: a capture through each is acknowledged with 3 copies.
        cls.serial = 0
        for via in cls.n1, cls.n2, cls.n3:
            wait_for(lambda: cls.warm_up(via), 60,
                     "a capture through %s with three copies" % via.name, interval=0.2)

    @classmethod
    def warm_up(cls, via):
        cls.serial += 1
        r = via.upload("WARM-%d" % cls.serial, os.urandom(1024), name="scan.bin")
        return r.status == 201 and r.json["copies"] == 3

    @classmethod
    def set_clock(cls, offset):
        """Node 1's wall clock from now on: this node's plus @offset ("+120")."""
        tmp = cls.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.replace(tmp, cls.clock_file)

    # -- helpers -------------------------------------------------------------------

    def node_clock_offset(self, node):
        """Seconds @node's Date header is ahead of this process's clock."""
        r = node.get("/healthz", auth=False, timeout=10)
        return email.utils.parsedate_to_datetime(r.header("date")).timestamp() - time.time()

    def capture_everywhere(self, prefix):
        """Captures through each follower and the leader, twice round: all acknowledged
        with three copies."""
        for via in (self.n2, self.n3, self.n1) * 2:
            ClockSkewTest.serial += 1
            image_no = "%s-%d" % (prefix, self.serial)
            r = via.upload(image_no, os.urandom(30 * 1024), name="scan.bin",
                           key="k-" + image_no)
            self.assertStatus(r, 201, "capture %s through %s" % (image_no, via.name))
            self.assertEqual(r.json["copies"], 3, r.json)

    def assertLeader(self, node):
        leader = self.cluster.leader()
        self.assertIs(leader, node, "the leader moved to %s" % leader.name)

    def offset_seen_by(self, node, of):
        """node's view of @of's clock offset (ms; None when unknown)."""
        want = self.cluster.node_id(of)
        for x in self.cluster.view(node)["nodes"]:
            if x["id"] == want:
                return x["clock_offset_ms"]
        raise AssertionError("node %s not in %s's view" % (want, node.name))

    def offset_metric(self, node, of):
        body = node.get("/metrics", auth=False).body.decode()
        m = re.search(r'^imgarc_peer_clock_offset_seconds\{peer="127\.0\.0\.1:%d"\} (\S+)$'
                      % of.http_port, body, re.M)
        return float(m.group(1)) if m else None

    def skew_lines(self, node, of, what):
        pat = re.compile(r"the clock of the node at 127\.0\.0\.1:%d %s" % (of.http_port, what))
        return [line for line in node.log_text(whole=True).splitlines() if pat.search(line)]

    # -- tests -----------------------------------------------------------------------

    def test_01_a_leader_120_s_ahead_keeps_taking_writes(self):
        self.assertLeader(self.n1)
        self.set_clock("+%d" % SKEW_S)
        ahead = wait_for(lambda: (lambda s: s if s > SKEW_S - 5 else None)(
            self.node_clock_offset(self.n1)), 30, "node 1's clock to be 120 s ahead")
        self.assertLess(ahead, SKEW_S + 5)
        self.capture_everywhere("SKEW-AHEAD")
        self.assertLeader(self.n1)  # no failover was needed
        # Every node sees the skew, in the cluster view and the metric.
        for node in (self.n2, self.n3):
            ms = self.offset_seen_by(node, self.n1)
            self.assertIsNotNone(ms, "%s does not know node 1's clock" % node.name)
            self.assertTrue(abs(ms - SKEW_S * 1000) < 5000, "%s sees %r ms" % (node.name, ms))
            s = self.offset_metric(node, self.n1)
            self.assertTrue(s is not None and abs(s - SKEW_S) < 5, "metric on %s: %r"
                            % (node.name, s))
            # Logged once, not per call.
            lines = self.skew_lines(node, self.n1, r"is 1[12]\d\.\d s ahead of this node's")
            self.assertEqual(len(lines), 1, "%s logged %r" % (node.name, lines))
        ms = self.offset_seen_by(self.n1, self.n2)
        self.assertTrue(ms is not None and abs(ms + SKEW_S * 1000) < 5000, ms)
        self.assertEqual(len(self.skew_lines(self.n1, self.n2,
                                             r"is 1[12]\d\.\d s behind this node's")), 1)
        self.assertEqual(self.offset_seen_by(self.n1, self.n1), 0)

    def test_02_the_clock_jumps_back(self):
        self.set_clock("+0")
        wait_for(lambda: abs(self.node_clock_offset(self.n1)) < 5, 30,
                 "node 1's clock to be back")
        self.capture_everywhere("SKEW-BACK")
        self.assertLeader(self.n1)
        for node in (self.n2, self.n3):
            ms = self.offset_seen_by(node, self.n1)
            self.assertTrue(ms is not None and abs(ms) < 5000, "%s sees %r ms"
                            % (node.name, ms))
            self.assertEqual(len(self.skew_lines(node, self.n1,
                                                 "agrees with this node's again")), 1)

    def test_03_a_refusal_says_what_happened(self):
        """Node 3 signs with a new secret the leader does not hold yet (the raft port
        still meets on the old one): the leader refuses its forwarded write 401."""
        new = os.path.join(self.cluster.dir, "secret-new")
        with open(new, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(new, 0o600)
        args = self.n3.args
        i = args.index("--cluster-secret-file")
        args[i + 1] = new
        args += ["--cluster-secret-previous-file", self.cluster.secret_path]
        self.n3.restart()
        self.assertLeader(self.n1)
        r = self.n3.pool_push({"image_no": "SKEW-REFUSED", "bill_no": "ER-SKEW-REFUSED",
                               "amount": "1.00"}, key="k-skew-refused")
        self.assertStatus(r, 503)
        msg = r.json["message"]
        self.assertIn("the leader (node %s" % self.cluster.node_id(self.n1), msg)
        self.assertIn("refused this node's signed call with HTTP 401", msg)
        self.assertIn("wrong signature", msg)
        self.assertIn("nothing was applied", msg)
        self.assertNotIn("outcome", msg)
        self.assertNotIn("leadership changed", msg)
        # Nothing was applied indeed.
        self.assertStatus(self.n1.bill("SKEW-REFUSED"), 404)
        # A follower holding the leader's secret still writes.
        r = self.n2.pool_push({"image_no": "SKEW-OK", "bill_no": "ER-SKEW-OK",
                               "amount": "1.00"}, key="k-skew-ok")
        self.assertIn(r.status, (200, 201), r.body)
