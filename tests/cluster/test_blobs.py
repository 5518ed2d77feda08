"""Blob replication on real nodes: captures made durable on a write quorum of nodes,
copies placed on R nodes, repair of a node gone "out", rebalancing when a node joins,
scrubbing (a corrupt copy is quarantined and healed), draining a node, and garbage
collection of content no file refers to any more (docs/replication.md).

Three clusters and one single node, each started once for its class (the tests of a
class run in order, their names are numbered):

- CaptureQuorumGcTest: 3 nodes, --replicas 3, --write-quorum 2 (node 3: 3). The
  node-to-node PUT and copies no record lists (deleted after the grace), a capture
  through a follower reaching every node, the write quorum with a node down, garbage
  collection, and R and W capped once a node is removed.
- JoinRebalanceTest: 3 nodes, --replicas 2; a fourth joins and takes a share.
- RepairDrainScrubTest: 4 nodes, --replicas 3: scrub heals a flipped byte, a drain
  empties a node and undrain brings it back, a node killed for good is replaced and,
  when it answers again, is active.
- SingleNodeTest: one node with the default flags captures with one copy.

Everything on disk is checked by reading the blob files of every node's data dir,
DATA/blobs/ab/cd/<hash>, and hashing them (BLAKE2b-256).
"""

import hashlib
import os
import random
import time
import unittest

from imgarc_cluster import SLOW, Cluster, ClusterTestCase, sign, wait_for

# Small timings: repair after 3 s of silence, unreferenced content purged after 2 s,
# a scrub cycle every half second at a rate that does not hold it back.
GRACE_MS = 2000
BASE_ARGS = ["--gc-grace-ms", str(GRACE_MS), "--scrub-pause-ms", "500",
             "--scrub-bytes-per-s", "100000000"]
SETTLE = 240.0 if SLOW else 120.0

NEW_METRICS = ("imgarc_blobs_under_replicated", "imgarc_replica_pushes_total",
               "imgarc_replica_pushes_failed_total", "imgarc_repair_copies_total",
               "imgarc_repair_bytes_total", "imgarc_scrub_bytes_total",
               "imgarc_scrub_corrupt_total", "imgarc_gc_blobs_deleted_total",
               "imgarc_gc_records_purged_total")
BLOB_KEYS = {"blob", "size", "refs", "holders", "live_holders", "placement"}


def b2(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def content(rng):
    """Random content of 20-300 KB (os.urandom: unique across runs and classes)."""
    return os.urandom(rng.randint(20 * 1024, 300 * 1024))


class BlobCluster(Cluster):
    """A Cluster whose node k also gets per_node[k] (1-based) as extra flags."""

    def __init__(self, name, per_node=None, **kw):
        super().__init__(name, **kw)
        self.per_node = dict(per_node or {})

    def node_args(self, k, join, zone):
        return super().node_args(k, join, zone) + list(self.per_node.get(k, ()))


class BlobTestCase(ClusterTestCase):
    """Helpers: blob files on disk, the blob and cluster views, metrics."""

    @classmethod
    def start_blob_cluster(cls, name, n, per_node=None, **kw):
        cluster = BlobCluster(name, per_node=per_node, **kw)
        cls.addClassCleanup(cluster.cleanup)
        cls.cluster = cluster
        return cluster.start(n)

    # -- nodes -------------------------------------------------------------------

    def nid(self, node):
        return int(self.cluster.node_id(node))

    def ids(self, nodes):
        return {self.nid(n) for n in nodes}

    def names(self, ids):
        out = []
        for i in sorted(ids):
            try:
                out.append(self.cluster.by_id(i).name)
            except AssertionError:
                out.append(str(i))
        return out

    def some_node(self, exclude=()):
        """An alive node, the leader preferred (it is never behind on metadata)."""
        try:
            leader = self.cluster.leader(timeout=30)
            if leader not in exclude:
                return leader
        except AssertionError:
            pass
        return [n for n in self.cluster.alive() if n not in exclude][0]

    def follower(self, among=None, exclude=()):
        leader = self.cluster.leader()
        cands = [n for n in (among or self.cluster.alive())
                 if n is not leader and n.alive() and n not in exclude]
        self.assertTrue(cands, "no follower among %s" % [n.name for n in among or []])
        return cands[0]

    # -- disk --------------------------------------------------------------------

    @staticmethod
    def blob_path(node, h):
        return os.path.join(node.data, "blobs", h[:2], h[2:4], h)

    def disk_copy(self, node, h):
        """True: the node's file hashes to its name; False: the file is there with
        other bytes; None: no file."""
        try:
            with open(self.blob_path(node, h), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return b2(data) == h

    def nodes_with_copy(self, h, nodes=None):
        """The nodes (of @nodes, default all) whose file for @h is a good copy."""
        return [n for n in (nodes or self.cluster.nodes) if self.disk_copy(n, h)]

    @staticmethod
    def local_blobs(node):
        """Hashes of every blob file under the node's DATA/blobs."""
        out = set()
        for _, _, files in os.walk(os.path.join(node.data, "blobs")):
            for f in files:
                if len(f) == 64:
                    out.add(f)
        return out

    # -- HTTP ----------------------------------------------------------------------

    def capture(self, node, image_no, data, name="scan.bin", **kw):
        r = node.upload(image_no, data, name=name, **kw)
        self.assertStatus(r, 201, "capture %s through %s" % (image_no, node.name))
        body = r.json
        self.assertEqual(body["blob"], b2(data))
        self.assertIsInstance(body.get("copies"), int, "capture answer: %r" % body)
        return body

    def blob_info(self, node, h, min_index=None):
        hs = {"X-Imgarc-Min-Index": str(min_index)} if min_index else None
        return node.get("/api/v1/cluster/blobs/" + h, headers=hs, timeout=30)

    def blob(self, h, node=None):
        """The blob's document, asked of @node (default: the leader); asserts 200."""
        node = node or self.some_node()
        r = self.blob_info(node, h)
        if r.status != 200:
            raise AssertionError("GET /api/v1/cluster/blobs/%s on %s: %r" % (h, node.name, r))
        doc = r.json
        if not BLOB_KEYS <= set(doc):
            raise AssertionError("blob document lacks %s: %r" % (BLOB_KEYS - set(doc), doc))
        for k in ("holders", "live_holders", "placement"):
            if not all(isinstance(x, str) and x.isdigit() for x in doc[k]):
                raise AssertionError("%s: node ids must be strings of digits: %r" % (k, doc))
            doc[k] = [int(x) for x in doc[k]]
        return doc

    def view(self, node=None):
        return self.cluster.view(node or self.some_node())

    def view_node(self, view, node_id):
        for x in view["nodes"]:
            if int(x["id"]) == node_id:
                return x
        raise AssertionError("node %d not in the cluster view %r" % (node_id, view))

    def metric_sum(self, name, nodes=None):
        return sum(n.metrics().get(name, 0) for n in (nodes or self.cluster.alive()))

    def wait(self, fn, what, timeout=SETTLE, interval=0.25):
        return wait_for(fn, timeout, what, interval)

    # -- conditions ------------------------------------------------------------------

    def replicated(self, h, want_ids, exact_holders=False):
        """Raises AssertionError (what is wrong) unless blob @h has exactly @want_ids as
        its live holders, each with a good copy on disk (and, with @exact_holders, no
        other holder listed and no other node with a file)."""
        doc = self.blob(h)
        live = set(doc["live_holders"])
        if live != set(want_ids):
            raise AssertionError("blob %s live holders %s, want %s (doc %r)"
                                 % (h[:12], self.names(live), self.names(want_ids), doc))
        for i in want_ids:
            node = self.cluster.by_id(i)
            ok = self.disk_copy(node, h)
            if not ok:
                raise AssertionError("blob %s: holder %s has %s" % (
                    h[:12], node.name, "no file" if ok is None else "a corrupt file"))
        if exact_holders:
            if set(doc["holders"]) != set(want_ids):
                raise AssertionError("blob %s holders %s, want %s" % (
                    h[:12], self.names(doc["holders"]), self.names(want_ids)))
            extra = [n.name for n in self.cluster.nodes
                     if self.nid(n) not in want_ids and self.disk_copy(n, h) is not None]
            if extra:
                raise AssertionError("blob %s still on disk on %s (not holders)"
                                     % (h[:12], extra))
        return doc

    def under_replicated(self, node=None):
        return self.view(node)["under_replicated"]


# ---------------------------------------------------------------------------------
# 3 nodes, R=3, W=2 (node 3: W=3): capture, node-to-node PUT, write quorum, GC
# ---------------------------------------------------------------------------------

class CaptureQuorumGcTest(BlobTestCase):

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random()
        cls.start_blob_cluster(
            "bq", 3, extra_args=BASE_ARGS + ["--replicas", "3", "--write-quorum", "2"],
            per_node={3: ["--write-quorum", "3"]})

    def all_ids(self):
        return self.ids(self.cluster.nodes)

    def test_01_capture_reaches_every_node(self):
        c = self.cluster
        via = self.follower(among=c.nodes[:2])  # a follower with W=2
        data = content(self.rng)
        body = self.capture(via, "BQ-1", data)
        h = body["blob"]
        self.assertGreaterEqual(body["copies"], 2, body)
        self.assertLessEqual(body["copies"], 3, body)
        # The answering node counted only durable copies: that many are on disk now.
        self.assertGreaterEqual(len(self.nodes_with_copy(h)), body["copies"])
        self.assertTrue(self.disk_copy(via, h), "the receiving node has no copy")
        # Eventually every node has a byte-identical copy, all listed as holders.
        want = self.all_ids()
        doc = self.wait(lambda: self.replicated(h, want, exact_holders=True),
                        "three good copies of %s" % h)
        for n in c.nodes:
            with open(self.blob_path(n, h), "rb") as f:
                self.assertTrue(f.read() == data, "%s's copy differs" % n.name)
        self.assertEqual(doc["blob"], h)
        self.assertEqual(doc["size"], len(data))
        self.assertEqual(doc["refs"], 1)
        self.assertEqual(sorted(doc["holders"]), sorted(want))
        self.assertEqual(sorted(doc["placement"]), sorted(want))
        # Every node answers the same about it.
        for n in c.nodes:
            self.wait(lambda: sorted(self.blob(h, n)["holders"]) == sorted(want),
                      "%s to list the three holders" % n.name, timeout=30)
        self.wait(lambda: self.under_replicated() == 0, "under_replicated 0")
        # The cluster view: storage state and blob counts per node.
        view = self.view()
        for n in c.nodes:
            x = self.view_node(view, self.nid(n))
            self.assertEqual(x["storage"], "active", x)
            self.assertIsInstance(x["blob_count"], int, x)
            self.assertGreaterEqual(x["blob_count"], 1, x)
        # Unknown hashes: 404. The operator token is needed.
        r = self.blob_info(via, "ab" * 32)
        self.assertEqual(r.status, 404, r)
        r = via.get("/api/v1/cluster/blobs/" + h, auth="Bearer nope")
        self.assertEqual(r.status, 401, r)
        # The new metrics are there on every node; pushes were made.
        for n in c.nodes:
            m = n.metrics()
            for name in NEW_METRICS:
                self.assertIn(name, m, "%s on %s" % (name, n.name))
        self.assertGreater(self.metric_sum("imgarc_replica_pushes_total"), 0)
        # A second capture of the same content through another node: one blob, 2 refs.
        other = [n for n in c.nodes[:2] if n is not via][0]  # the other W=2 node
        body2 = self.capture(other, "BQ-1B", data)
        self.assertEqual(body2["blob"], h)
        self.assertGreaterEqual(body2["copies"], 2)
        self.wait(lambda: self.blob(h)["refs"] == 2, "refs 2 after a second capture")

    def test_00_internal_put_and_unlisted_copies(self):
        """Runs first, in the cluster as it formed (nothing captured yet): a PUT copy
        that no record lists is deleted once older than the grace, even when nothing
        else happens in the cluster."""
        c = self.cluster
        node = c.nodes[1]
        data = content(self.rng)
        h = b2(data)
        target = "/internal/v1/blobs/" + h
        path = self.blob_path(node, h)
        # Unsigned: 401.
        r = node.request("PUT", target, body=data, auth=False)
        self.assertEqual(r.status, 401, r)
        # A body that does not hash to the name: 422, nothing stored.
        bad = bytearray(data)
        bad[len(bad) // 2] ^= 0x01
        r = node.request("PUT", target, body=bytes(bad),
                         headers=sign(c.secret, "PUT", target, bytes(bad)))
        self.assertEqual(r.status, 422, r)
        other = os.urandom(1000)
        r = node.request("PUT", target, body=other, headers=sign(c.secret, "PUT", target, other))
        self.assertEqual(r.status, 422, r)
        self.assertFalse(os.path.exists(path), "a refused body was stored")
        # A signature of another secret: 401.
        r = node.request("PUT", target, body=data,
                         headers=sign("another secret of 32 characters or more!!",
                                      "PUT", target, data))
        self.assertEqual(r.status, 401, r)
        # The right body: 201, stored.
        r = node.request("PUT", target, body=data, headers=sign(c.secret, "PUT", target, data))
        self.assertEqual(r.status, 201, r)
        self.assertTrue(self.disk_copy(node, h), "201 but no good copy on disk")
        # The same on the other nodes.
        for n in c.nodes:
            if n is not node:
                r = n.request("PUT", target, body=data,
                              headers=sign(c.secret, "PUT", target, data))
                self.assertEqual(r.status, 201, "%s: %r" % (n.name, r))
        # The copies are no file's content and no record lists their nodes: each is
        # deleted once older than the grace (passes run at least every 30 s).
        self.assertEqual(self.blob_info(node, h).status, 404)

        def gone():
            left = [n.name for n in c.nodes if os.path.exists(self.blob_path(n, h))]
            if left:
                raise AssertionError("unlisted copies still on %s" % left)
            return True
        self.wait(gone, "the unlisted copies of %s to be deleted after the grace" % h)
        for n in c.nodes:
            self.assertGreater(n.metrics()["imgarc_gc_blobs_deleted_total"], 0, n.name)

    def test_03_internal_put_of_a_stored_blob(self):
        """A PUT of content the node already stores answers 200."""
        c = self.cluster
        node = c.nodes[2]
        held = sorted(self.local_blobs(node) & self.local_blobs(c.nodes[0]))
        self.assertTrue(held, "test_01's blob is on every node")
        with open(self.blob_path(node, held[0]), "rb") as f:
            data = f.read()
        target = "/internal/v1/blobs/" + held[0]
        r = node.request("PUT", target, body=data, headers=sign(c.secret, "PUT", target, data))
        self.assertEqual(r.status, 200, "PUT of a blob the node holds: %r" % r)
        self.assertTrue(self.disk_copy(node, held[0]))
        # Twice in a row for new content: 201, then 200.
        data = content(self.rng)
        target = "/internal/v1/blobs/" + b2(data)
        r = node.request("PUT", target, body=data, headers=sign(c.secret, "PUT", target, data))
        self.assertEqual(r.status, 201, r)
        r = node.request("PUT", target, body=data, headers=sign(c.secret, "PUT", target, data))
        self.assertEqual(r.status, 200, "the second PUT of the same content: %r" % r)

    def test_04_write_quorum(self):
        c = self.cluster
        strict = c.nodes[2]  # --write-quorum 3
        leader = c.leader()
        victim = c.nodes[1] if leader is not c.nodes[1] else c.nodes[0]
        relaxed = [n for n in c.nodes[:2] if n is not victim][0]  # W=2
        victim.kill9()
        try:
            # W=3 with a node down: 503 unavailable, naming the write quorum.
            data = content(self.rng)
            r = strict.upload("BQ-Q-1", data, name="q.bin")
            body = self.assertError(r, 503, 10503, "unavailable",
                                    msg="capture with W=3 and one node down")
            self.assertIn("quorum", body["message"].lower(), body)
            refused = b2(data)
            # The refused capture made no file.
            r = strict.bill("BQ-Q-1")
            if r.status == 200:
                self.assertEqual(r.json.get("files", []), [], r.json)
            # W=2 on the other node: acknowledged with two copies; that blob is
            # under-replicated (its third copy cannot be made) until the node is back.
            data2 = content(self.rng)
            body2 = self.capture(relaxed, "BQ-Q-2", data2)
            self.assertEqual(body2["copies"], 2, body2)
            h2 = body2["blob"]
            self.assertEqual(len(self.nodes_with_copy(h2, c.alive())), 2)
            self.wait(lambda: self.under_replicated(relaxed) >= 1,
                      "under_replicated >= 1 with a blob on 2 of 3 nodes", timeout=30)
            self.wait(lambda: relaxed.metrics()["imgarc_blobs_under_replicated"] >= 1
                      or self.some_node().metrics()["imgarc_blobs_under_replicated"] >= 1,
                      "imgarc_blobs_under_replicated >= 1", timeout=30)
            self.assertEqual(len(self.blob(h2)["live_holders"]), 2)
        finally:
            victim.start()
        # With the node back, W=3 captures succeed with three copies.
        data3 = content(self.rng)

        def try_capture():
            r = strict.upload("BQ-Q-3", data3, name="q3.bin")
            if r.status == 503:
                return None
            self.assertStatus(r, 201)
            return r.json
        body3 = self.wait(try_capture, "a W=3 capture to succeed once all nodes are up",
                          interval=1.0)
        self.assertEqual(body3["copies"], 3, body3)
        self.assertEqual(len(self.nodes_with_copy(body3["blob"])), 3)
        # The blob captured with two copies gets its third.
        self.wait(lambda: self.replicated(h2, self.all_ids()), "blob %s on all 3" % h2)
        self.wait(lambda: self.under_replicated() == 0, "under_replicated back to 0")
        # Copies the refused capture left (here or on the node it pushed to) are no
        # file's content: deleted after the grace.
        self.assertEqual(self.blob_info(strict, refused).status, 404)

        def refused_gone():
            left = [n.name for n in c.nodes if os.path.exists(self.blob_path(n, refused))]
            if left:
                raise AssertionError("the refused capture's content is still on %s" % left)
            return True
        self.wait(refused_gone, "the refused capture's copies to be deleted")

    def test_05_gc(self):
        c = self.cluster
        data = content(self.rng)
        a = self.capture(c.nodes[0], "BQ-GC-1", data, name="shared.bin")
        b = self.capture(c.nodes[1], "BQ-GC-2", data, name="shared.bin")
        h = a["blob"]
        self.assertEqual(b["blob"], h)
        all_ids = self.all_ids()
        self.wait(lambda: self.replicated(h, all_ids) and self.blob(h)["refs"] == 2,
                  "blob %s with refs 2 on all 3 nodes" % h)
        # Deleted from one bill: the other still refers to it; it stays.
        r = c.nodes[2].request("DELETE", "/api/v1/bills/BQ-GC-1/files/" + a["file_id"])
        self.assertStatus(r, 200, "delete from BQ-GC-1")
        self.wait(lambda: self.blob(h)["refs"] == 1, "refs 1 after one delete", timeout=30)
        time.sleep(2 * GRACE_MS / 1000.0 + 3)  # well past the grace: nothing may go
        doc = self.blob(h)
        self.assertEqual(doc["refs"], 1, doc)
        self.assertEqual(sorted(doc["live_holders"]), sorted(all_ids), doc)
        self.assertEqual(len(self.nodes_with_copy(h)), 3, "a copy went while referenced")
        r = c.nodes[0].content(b["file_id"])
        self.assertStatus(r, 200)
        self.assertTrue(r.body == data)
        # Deleted from the other: the record is purged and every copy deleted.
        purged0 = self.metric_sum("imgarc_gc_records_purged_total")
        r = c.nodes[0].request("DELETE", "/api/v1/bills/BQ-GC-2/files/" + b["file_id"])
        self.assertStatus(r, 200, "delete from BQ-GC-2")

        def gone():
            for n in c.nodes:
                r = self.blob_info(n, h)
                if r.status != 404:
                    raise AssertionError("%s answers %d for the blob" % (n.name, r.status))
                if os.path.exists(self.blob_path(n, h)):
                    raise AssertionError("%s still has the file" % n.name)
            return True
        self.wait(gone, "blob %s purged and deleted everywhere" % h)
        self.assertGreater(self.metric_sum("imgarc_gc_records_purged_total"), purged0)
        self.assertGreaterEqual(self.metric_sum("imgarc_gc_blobs_deleted_total"), 3)
        # Other content is untouched.
        self.assertEqual(self.under_replicated(), 0)


    def test_06_removed_node_caps_r_and_w(self):
        """With a node removed, two registered nodes remain: effective R and W are 2,
        so node 3 (W=3) captures with two copies and nothing is under-replicated."""
        c = self.cluster
        leader = c.leader()
        gone = c.nodes[1] if leader is not c.nodes[1] else c.nodes[0]
        gid = self.nid(gone)
        r = leader.request("DELETE", "/api/v1/cluster/nodes/%d" % gid)
        self.assertStatus(r, 200, "remove %s" % gone.name)
        wait_for(lambda: gone.get("/readyz", auth=False).status == 503, 30,
                 "the removed node to say so")
        self.assertEqual(gone.stop(), 0)
        rest = [n for n in c.nodes if n is not gone]
        data = content(self.rng)
        body = self.wait(lambda: (lambda r: r.json if r.status == 201 else None)(
            c.nodes[2].upload("BQ-RM-1", data, name="rm.bin")),
            "a capture through the W=3 node with two registered nodes", interval=1.0)
        self.assertEqual(body["copies"], 2, body)
        self.wait(lambda: self.replicated(body["blob"], self.ids(rest)),
                  "the capture on both remaining nodes")
        self.wait(lambda: self.under_replicated() == 0,
                  "under_replicated 0 with R capped at 2")
        doc = self.blob(body["blob"])
        self.assertEqual(len(doc["placement"]), 2, doc)
        self.assertNotIn(gid, doc["placement"])


class SingleNodeTest(BlobTestCase):
    """One node with the default flags: R and W are capped at 1."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("bs")

    def test_capture_on_one_node(self):
        data = content(random.Random())
        body = self.capture(self.node, "BS-1", data)
        self.assertEqual(body["copies"], 1, body)
        with open(self.blob_path(self.node, body["blob"]), "rb") as f:
            self.assertTrue(f.read() == data)
        r = self.node.get("/api/v1/cluster")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["under_replicated"], 0, r.json)


# ---------------------------------------------------------------------------------
# 3 nodes, R=2: a fourth node joins and takes its share
# ---------------------------------------------------------------------------------

class JoinRebalanceTest(BlobTestCase):

    FILES = 30

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random()
        cls.start_blob_cluster("bj", 3, extra_args=BASE_ARGS + ["--replicas", "2"])

    def settled(self, nodes):
        """Every blob: two holders, its placement, files exactly on them, good."""
        for h in self.hashes:
            doc = self.blob(h)
            if len(doc["holders"]) != 2 or sorted(doc["holders"]) != sorted(doc["placement"]):
                raise AssertionError("blob %s holders %s placement %s" % (
                    h[:12], self.names(doc["holders"]), self.names(doc["placement"])))
            self.replicated(h, set(doc["holders"]), exact_holders=True)
            if not set(doc["holders"]) <= self.ids(nodes):
                raise AssertionError("blob %s holders %s outside %s"
                                     % (h[:12], doc["holders"], [n.name for n in nodes]))
        return True

    def check_safe(self):
        """The invariant while copies move: every blob has >= 2 live holders and >= 2
        good copies on disk."""
        for h in self.hashes:
            doc = self.blob(h)
            self.assertGreaterEqual(len(doc["live_holders"]), 2,
                                    "blob %s lost a live holder: %r" % (h, doc))
            disk = self.nodes_with_copy(h)
            self.assertGreaterEqual(len(disk), 2, "blob %s has good copies on %s only"
                                    % (h, [n.name for n in disk]))

    def test_01_join_takes_a_share(self):
        c = self.cluster
        self.__class__.hashes = []
        via = c.followers()
        for i in range(self.FILES):
            body = self.capture(via[i % len(via)], "BJ-%d" % (i // 10), content(self.rng),
                                name="f%d.bin" % i)
            self.assertEqual(body["copies"], 2, body)
            self.hashes.append(body["blob"])
        self.wait(lambda: self.settled(c.nodes), "30 blobs on 2 nodes each")
        self.assertEqual(self.under_replicated(), 0)
        # Two copies of each, on disk exactly where listed (settled() checked which).
        counts = {n.name: len(self.local_blobs(n) & set(self.hashes)) for n in c.nodes}
        self.assertEqual(sum(counts.values()), 2 * self.FILES, counts)

        n4 = c.add()
        n4_id = self.nid(n4)
        deadline = time.monotonic() + SETTLE
        last = None
        while True:
            self.check_safe()
            try:
                self.settled(c.nodes)
                mine = self.local_blobs(n4) & set(self.hashes)
                if 0 < len(mine) < self.FILES:
                    break
                last = "the new node holds %d of %d" % (len(mine), self.FILES)
            except AssertionError as e:
                last = e
            if time.monotonic() > deadline:
                self.fail("timed out waiting for the blobs to settle on 4 nodes (last: %s)"
                          % last)
            time.sleep(0.25)
        listed = [h for h in self.hashes if n4_id in self.blob(h)["holders"]]
        self.assertGreater(len(listed), 0)
        self.assertLess(len(listed), self.FILES)
        self.assertEqual(self.under_replicated(), 0)
        # Copies no longer listed were deleted (settled() checks the files); the
        # cluster view counts them per node.

        def counts_match():
            view = self.view()
            for n in c.nodes:
                x = self.view_node(view, self.nid(n))
                if x["storage"] != "active" or x["blob_count"] != len(self.local_blobs(n)):
                    raise AssertionError("%s: %r, %d files" % (n.name, x,
                                                               len(self.local_blobs(n))))
            return True
        self.wait(counts_match, "blob_count of every node to match its files", timeout=60)
        # Trimmed copies were counted.
        self.assertGreater(self.metric_sum("imgarc_gc_blobs_deleted_total"), 0)


# ---------------------------------------------------------------------------------
# 4 nodes, R=3: scrub, drain, repair of a node gone for good
# ---------------------------------------------------------------------------------

class RepairDrainScrubTest(BlobTestCase):

    FILES = 20

    @classmethod
    def setUpClass(cls):
        cls.rng = random.Random()
        c = cls.start_blob_cluster("br", 4, extra_args=BASE_ARGS + [
            "--replicas", "3", "--write-quorum", "2", "--repair-after-ms", "3000"])
        cls.data = {}
        cls.fids = {}
        for i in range(cls.FILES):
            node = c.nodes[i % 4]
            data = content(cls.rng)
            r = node.upload("BR-%d" % (i // 5), data, name="f%d.bin" % i)
            if r.status != 201:
                raise AssertionError("capture %d through %s: %r" % (i, node.name, r))
            if r.json.get("copies", 0) < 2:
                raise AssertionError("capture %d: %r" % (i, r.json))
            cls.data[r.json["blob"]] = data
            cls.fids[r.json["blob"]] = r.json["file_id"]

    def settled(self, active_nodes):
        """Every blob: three live holders, all among @active_nodes, holders equal to
        placement, good files on them and on no other node; under_replicated 0."""
        want_ids = self.ids(active_nodes)
        for h in self.data:
            doc = self.blob(h)
            live = set(doc["live_holders"])
            if len(live) != 3 or not live <= want_ids:
                raise AssertionError("blob %s live holders %s" % (h[:12], self.names(live)))
            if sorted(doc["holders"]) != sorted(doc["placement"]):
                raise AssertionError("blob %s holders %s placement %s" % (
                    h[:12], self.names(doc["holders"]), self.names(doc["placement"])))
            self.replicated(h, live, exact_holders=True)
        ur = self.under_replicated()
        if ur != 0:
            raise AssertionError("under_replicated %d" % ur)
        return True

    def test_01_scrub_heals_a_flipped_byte(self):
        c = self.cluster
        self.wait(lambda: self.settled(c.nodes), "20 blobs on 3 of 4 nodes each")
        h = sorted(self.data)[0]
        doc = self.blob(h)
        node = self.cluster.by_id(doc["holders"][0])
        path = self.blob_path(node, h)
        corrupt0 = node.metrics()["imgarc_scrub_corrupt_total"]
        mode = os.stat(path).st_mode
        os.chmod(path, mode | 0o200)
        with open(path, "r+b") as f:
            f.seek(len(self.data[h]) // 2)
            byte = f.read(1)
            f.seek(len(self.data[h]) // 2)
            f.write(bytes([byte[0] ^ 0x20]))
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(path, mode)
        except FileNotFoundError:
            pass  # already moved away
        self.assertFalse(self.disk_copy(node, h))
        corrupted = bytearray(self.data[h])
        corrupted[len(corrupted) // 2] ^= 0x20

        self.wait(lambda: self.disk_copy(node, h),
                  "%s's copy of %s to be healed" % (node.name, h))
        with open(path, "rb") as f:
            self.assertTrue(f.read() == self.data[h])
        m = node.metrics()
        self.assertGreaterEqual(m["imgarc_scrub_corrupt_total"], corrupt0 + 1)
        self.assertGreaterEqual(m["imgarc_scrub_corrupt_total"], 1)
        self.assertGreater(m["imgarc_scrub_bytes_total"], 0)

        # The corrupt copy was moved to DATA/quarantine/.
        def quarantined():
            for root, _, files in os.walk(os.path.join(node.data, "quarantine")):
                for f in files:
                    with open(os.path.join(root, f), "rb") as fh:
                        if fh.read() == corrupted:
                            return True
            raise AssertionError("no file with the corrupt bytes under %s/quarantine"
                                 % node.data)
        self.wait(quarantined, "the corrupt copy in quarantine", timeout=10)
        # The other nodes' scrubbers found nothing.
        for n in c.nodes:
            if n is not node:
                self.assertEqual(n.metrics()["imgarc_scrub_corrupt_total"], 0, n.name)
        self.wait(lambda: self.settled(c.nodes), "the blobs settled after the heal")

    def test_02_drain_and_undrain(self):
        c = self.cluster
        leader = c.leader()
        target = self.follower()
        tid = self.nid(target)
        asker = [n for n in c.nodes if n is not target and n is not leader][0]
        r = asker.post("/api/v1/cluster/nodes/%d/drain" % tid)
        self.assertIn(r.status, (200, 202), r)
        r = asker.post("/api/v1/cluster/nodes/%d/drain" % 12345)
        self.assertEqual(r.status, 404, r)
        r = asker.request("DELETE", "/api/v1/cluster/nodes/%d/drain" % 12345)
        self.assertEqual(r.status, 404, r)
        r = asker.post("/api/v1/cluster/nodes/%d/drain" % tid, auth="Bearer nope")
        self.assertEqual(r.status, 401, r)

        def draining():
            x = self.view_node(self.view(), tid)
            if x["storage"] != "draining" or x["health"] != "draining":
                raise AssertionError(x)
            return True
        self.wait(draining, "storage and health 'draining' for %s" % target.name, timeout=30)
        others = [n for n in c.nodes if n is not target]
        self.wait(lambda: self.settled(others), "no blob listed on the drained node")
        for h in self.data:
            self.assertNotIn(tid, self.blob(h)["holders"])
        self.wait(lambda: not (self.local_blobs(target) & set(self.data)),
                  "the drained node's files to be deleted after the grace")
        self.wait(lambda: self.view_node(self.view(), tid)["blob_count"] == 0,
                  "blob_count 0 for the drained node", timeout=60)
        # Content is still served by the drained node (from other holders).
        h = sorted(self.data)[1]
        r = target.content(self.fids[h])
        self.assertStatus(r, 200)
        self.assertTrue(r.body == self.data[h])
        # Undrain: active again, and it takes its share back.
        # Draining took no full pass: the blob index named the drained node's blobs.
        # Undraining makes a node a placement candidate again, which moves blobs no
        # index names: every node reads all its records once more.
        full0 = {n.name: n.metrics()["imgarc_keeper_full_passes_total"] for n in c.nodes}
        r = asker.request("DELETE", "/api/v1/cluster/nodes/%d/drain" % tid)
        self.assertIn(r.status, (200, 202), r)

        def active():
            x = self.view_node(self.view(), tid)
            if x["storage"] != "active" or x["health"] != "ok":
                raise AssertionError(x)
            return True
        self.wait(active, "%s active again" % target.name, timeout=30)
        self.wait(lambda: self.settled(c.nodes) and self.local_blobs(target) & set(self.data),
                  "the undrained node to hold blobs again")
        def full_passes():
            for n in c.nodes:
                got = n.metrics()["imgarc_keeper_full_passes_total"]
                if got <= full0[n.name]:
                    raise AssertionError("%s: %d full passes, as before the undrain"
                                         % (n.name, got))
            return True
        self.wait(full_passes, "a full pass on every node after the undrain", timeout=30)

    def test_03_repair_after_a_node_is_lost(self):
        c = self.cluster
        # A few more captures, then a follower is killed for good.
        for i in range(5):
            data = content(self.rng)
            body = self.capture(c.nodes[i % 4], "BR-R", data, name="r%d.bin" % i)
            self.data[body["blob"]] = data
        self.wait(lambda: self.settled(c.nodes), "the blobs settled before the kill")
        repairs0 = self.metric_sum("imgarc_repair_copies_total")
        # The wait above may have come before a full pass the undrain of test_02 made
        # due: the counts are read once passes are back to the index's.
        def indexed_passes():
            for n in c.nodes:
                m = n.metrics()
                if m["imgarc_keeper_last_pass_full"] != 0:
                    raise AssertionError("%s: the last pass read every record" % n.name)
            return True
        self.wait(indexed_passes, "passes over what the blob index names")
        full0 = {n.name: n.metrics()["imgarc_keeper_full_passes_total"] for n in c.nodes}
        passes0 = {n.name: n.metrics()["imgarc_keeper_passes_total"] for n in c.nodes}
        victim = self.follower()
        vid = self.nid(victim)
        held = self.local_blobs(victim) & set(self.data)
        self.assertTrue(held, "the victim held no blob")
        victim.kill9()
        alive = [n for n in c.nodes if n is not victim]

        def out():
            x = self.view_node(self.view(), vid)
            if x["storage"] != "out":
                raise AssertionError(x)
            return True
        self.wait(out, "the dead node to be storage 'out'")

        def repaired():
            for h in self.data:
                doc = self.blob(h)
                if sorted(doc["live_holders"]) != sorted(self.ids(alive)):
                    raise AssertionError("blob %s live holders %s" % (
                        h[:12], self.names(doc["live_holders"])))
                self.replicated(h, self.ids(alive))
            ur = self.under_replicated()
            if ur != 0:
                raise AssertionError("under_replicated %d" % ur)
            return True
        self.wait(repaired, "every blob on the three alive nodes")
        for n in alive:
            for h in self.data:
                with open(self.blob_path(n, h), "rb") as f:
                    self.assertTrue(f.read() == self.data[h], "%s: %s" % (n.name, h))
        self.assertGreater(self.metric_sum("imgarc_repair_copies_total", alive), repairs0)
        # The repair came from passes over the index: a node going out makes no full
        # pass due (only the blobs it held move, and the index names them).
        for n in alive:
            m = n.metrics()
            self.assertEqual(m["imgarc_keeper_full_passes_total"], full0[n.name], n.name)
            self.assertGreater(m["imgarc_keeper_passes_total"], passes0[n.name], n.name)
        self.assertGreater(self.metric_sum("imgarc_repair_bytes_total", alive), 0)
        view = self.view()
        self.assertEqual(view["under_replicated"], 0)
        self.assertEqual(self.view_node(view, vid)["storage"], "out")
        for n in alive:
            self.assertEqual(self.view_node(view, self.nid(n))["storage"], "active")
        # An out node is not drained: its copies are being replaced already.
        r = alive[0].post("/api/v1/cluster/nodes/%d/drain" % vid)
        self.assertError(r, 409, 11007, "invalid_state")
        self.assertIn("out", r.json["message"])
        # New captures go to the three alive nodes.
        data = content(self.rng)
        body = self.capture(alive[0], "BR-R2", data)
        self.assertGreaterEqual(body["copies"], 2)
        self.wait(lambda: self.replicated(body["blob"], self.ids(alive)),
                  "a capture after the loss on the three alive nodes")
        self.data[body["blob"]] = data
        self.__class__.victim = victim

    def test_04_out_node_answers_again(self):
        victim = getattr(self.__class__, "victim", None)
        if victim is None:
            self.skipTest("test_03 did not leave a node out")
        victim.start()
        vid = self.nid(victim)

        def active():
            x = self.view_node(self.view(), vid)
            if x["storage"] != "active":
                raise AssertionError(x)
            return True
        self.wait(active, "the returned node to be storage 'active'")
        # Once settled, its copies are those placement gives it, and it has no others.
        self.wait(lambda: self.settled(self.cluster.nodes), "the blobs settled on 4 nodes")


if __name__ == "__main__":
    unittest.main()
