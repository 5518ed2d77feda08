"""Capture copies on real nodes (docs/replication.md, "Capture: acknowledged after W
durable copies"): a capture is answered once W copies are durable, not when every
push has ended, so a follower that is stopped (SIGSTOP: it accepts connections and
never answers) does not hold captures up; its copy is made when it runs again. And a
push over a kept connection that the other node lost while it restarted is sent again
on a new connection instead of failing.

One 3-node cluster with the product defaults (R=3, W=2). Node 1 pushes with one
thread (--push-threads 1), so its one connection to each node is the one reused.
Node 3 is reached through a TCP relay of this test (its --advertise address): on
loopback the kernel tells the pusher at once that a killed node's connection is gone,
so nothing is resent; the relay models the case where that news is lost (a partition,
a dropped FIN): the connections open when the node goes keep their client side, and
the next request that arrives on one is read and the connection closed unanswered.
"""

import os
import signal
import socket
import threading
import time

from imgarc_cluster import SLOW, Cluster
from test_blobs import BlobTestCase

SETTLE = 240.0 if SLOW else 120.0
# Well under the 30 s a push to a stopped node took before captures stopped waiting
# for it, and well over what a capture of 10 KB takes on a loaded machine.
CAPTURE_TIMEOUT = 10.0
# The stalled push fails after 5 s of nothing moving; before, only the 30 s
# whole-transfer timeout ended it. The test tells the two apart by the failure's words
# ("nothing moved for", not curl's timeout), so it may wait longer than either on a
# loaded machine without mistaking one for the other.
STALL_WAIT = 90.0 if SLOW else 45.0
STALLED = "nothing moved for"
# Captures of a burst while the node is stopped: below the 5 s a push to it stalls, so
# that none of them waits for such a push (for a pusher thread held by one).
BURST_CLIENTS = 4
BURST_EACH = 6
BURST_TIMEOUT = 4.0


class Relay:
    """A TCP relay on 127.0.0.1 to the port @upstream() names, one thread per
    direction of each connection. sever(): the connections open now lose their node
    side without their clients hearing of it."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.closed = False
        self.cut_off = 0  # requests that arrived on a severed connection
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                node = socket.create_connection(("127.0.0.1", self.upstream()), timeout=5)
                node.settimeout(None)
            except (OSError, TypeError):
                client.close()
                continue
            pair = {"client": client, "node": node, "severed": False}
            with self.lock:
                self.pairs.append(pair)
            threading.Thread(target=self._to_node, args=(pair,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(pair,), daemon=True).start()

    def _to_node(self, pair):
        client = pair["client"]
        while True:
            try:
                data = client.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if pair["severed"]:
                # The request is read whole and the connection closed unanswered (a
                # FIN, not a reset); what the client sends after is read and dropped.
                with self.lock:
                    self.cut_off += 1
                try:
                    client.shutdown(socket.SHUT_WR)
                    while client.recv(65536):
                        pass
                except OSError:
                    pass
                break
            try:
                pair["node"].sendall(data)
            except OSError:
                if not pair["severed"]:
                    break
        self._close(pair)

    def _to_client(self, pair):
        node = pair["node"]
        while True:
            try:
                data = node.recv(65536)
            except OSError:
                data = b""
            if not data or pair["severed"]:
                break
            try:
                pair["client"].sendall(data)
            except OSError:
                break
        if not pair["severed"]:
            self._close(pair)

    def _close(self, pair):
        for k in ("client", "node"):
            try:
                pair[k].close()
            except OSError:
                pass
        with self.lock:
            if pair in self.pairs:
                self.pairs.remove(pair)

    def sever(self):
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            pair["severed"] = True
            try:
                pair["node"].shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(pairs)

    def close(self):
        self.listener.close()
        with self.lock:
            pairs = list(self.pairs)
        for pair in pairs:
            self._close(pair)


class RelayCluster(Cluster):
    """Node 1 pushes with one thread; node 3 is advertised at the relay's port."""

    def __init__(self, name, **kw):
        super().__init__(name, **kw)
        self.relay = Relay(lambda: self.nodes[2].http_port if len(self.nodes) > 2 else None)

    def node_args(self, k, join, zone):
        args = super().node_args(k, join, zone)
        if k == 1:
            args += ["--push-threads", "1"]
        if k == 3:
            args += ["--advertise", "127.0.0.1:%d" % self.relay.port]
        return args


class CaptureCopiesTest(BlobTestCase):

    @classmethod
    def setUpClass(cls):
        cluster = RelayCluster("cc")
        cls.addClassCleanup(cluster.relay.close)
        cls.addClassCleanup(cluster.cleanup)
        cls.cluster = cluster
        cluster.start(3)

    def all_ids(self):
        return self.ids(self.cluster.nodes)

    def fully_replicated(self, h):
        self.wait(lambda: self.replicated(h, self.all_ids()),
                  "blob %s recorded on all three nodes, a good copy on each" % h[:12],
                  timeout=SETTLE)

    def warm_up(self, via, image_no):
        """A capture through @via that ends on all three nodes: every node's placement
        has them all, and @via's pushers hold a connection to each other node."""
        def captured():
            r = via.upload(image_no, os.urandom(10240), name="warm.bin")
            return r.json if r.status == 201 else None
        body = self.wait(captured, "a capture through %s" % via.name, interval=1.0)
        self.fully_replicated(body["blob"])

    def test_1_a_stopped_follower_does_not_hold_captures_up(self):
        c = self.cluster
        leader = c.leader()
        via = c.nodes[1]  # eight pushers
        victim = [n for n in c.nodes if n is not leader and n is not via][0]
        self.warm_up(via, "CC-WARM-1")
        m0 = via.metrics()
        stalls0 = via.log_text(whole=True).count(STALLED)
        victim.signal(signal.SIGSTOP)
        try:
            data = os.urandom(10240)
            r = via.upload("CC-STOP-1", data, name="stopped.bin", timeout=CAPTURE_TIMEOUT)
            self.assertStatus(r, 201, "capture through %s with %s stopped"
                              % (via.name, victim.name))
            self.assertEqual(r.json["copies"], 2, r.json)
            h1 = r.json["blob"]
            self.assertEqual(len(self.nodes_with_copy(h1)), 2)
            self.assertIsNone(self.disk_copy(victim, h1))
            # The push to the stopped node fails at the stall bound while it is still
            # stopped, not at the whole-transfer timeout: its failure says so.
            self.wait(lambda: via.log_text(whole=True).count(STALLED) > stalls0,
                      "the push to the stopped %s to fail as stalled" % victim.name,
                      timeout=STALL_WAIT)
            self.assertGreater(via.metrics()["imgarc_replica_pushes_failed_total"],
                               m0["imgarc_replica_pushes_failed_total"])
            # A burst of captures from several clients goes on meanwhile: pushes to
            # the stopped node hold two pusher threads at most, and after one failed
            # the others are not tried for a while, so no capture waits for one.
            blobs = self.burst(via, victim)
        finally:
            victim.signal(signal.SIGCONT)
        # Running again, the node gets its copies and is recorded as their holder (by
        # the late pushes, or by repair).
        for h in [h1] + blobs:
            self.fully_replicated(h)
        self.wait(lambda: self.under_replicated(via) == 0, "under_replicated 0")
        self.assertTrue(victim.alive(), "%s exited" % victim.name)
        for n in c.nodes:
            self.assertIsNone(n.problems(), n.name)

    def burst(self, via, victim):
        results = []

        def client(i):
            for j in range(BURST_EACH):
                t = time.monotonic()
                try:
                    r = via.upload("CC-BURST-%d-%d" % (i, j), os.urandom(10240),
                                   name="burst.bin", timeout=BURST_TIMEOUT)
                    results.append((r.status, r.json.get("copies"), r.json.get("blob"),
                                    time.monotonic() - t))
                except OSError as e:
                    results.append((None, None, repr(e), time.monotonic() - t))
        threads = [threading.Thread(target=client, args=(i,)) for i in range(BURST_CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bad = [x for x in results if x[0] != 201 or x[1] != 2]
        self.assertFalse(bad, "captures with %s stopped that were not acknowledged with two "
                         "copies within %.0f s: %r" % (victim.name, BURST_TIMEOUT, bad))
        self.assertEqual(len(results), BURST_CLIENTS * BURST_EACH)
        return [x[2] for x in results]

    def test_2_a_push_over_a_connection_lost_in_a_restart_is_sent_again(self):
        c = self.cluster
        via, victim = c.nodes[0], c.nodes[2]
        # The one pusher of node 1 holds a kept connection (through the relay) to node 3.
        self.warm_up(via, "CC-WARM-2")
        m0 = via.metrics()
        self.assertGreater(c.relay.sever(), 0, "no connection through the relay")
        victim.kill9()
        victim.start()
        c.leader()
        data = os.urandom(10240)
        body = self.capture(via, "CC-RESTART-1", data, name="restart.bin")
        self.fully_replicated(body["blob"])
        m1 = via.metrics()
        self.assertGreater(c.relay.cut_off, 0, "no request met a severed connection")
        self.assertEqual(m1["imgarc_replica_pushes_failed_total"],
                         m0["imgarc_replica_pushes_failed_total"],
                         "a push failed; %s's log:\n%s" % (via.name, via.log_tail(15)))
        self.assertGreaterEqual(m1["imgarc_replica_pushes_total"]
                                - m0["imgarc_replica_pushes_total"], 2,
                                "node 1 made both copies of the capture")
        self.assertGreaterEqual(m1["imgarc_replica_pushes_late_total"]
                                - m0["imgarc_replica_pushes_late_total"], 1,
                                "with one pusher, the second copy ends after the answer")
