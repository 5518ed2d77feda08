"""GET /internal/v1/snapshot (replication/snapshot_send.h) over real HTTP: a signed
call gets the node's whole metadata store as a snapshot stream (storage/snapshot.h),
chunked, stamped with X-Imgarc-Snapshot-Index, ending with a BLAKE2b-256 trailer over
everything before it; the records decode and hold what was written. Refusals: 400 for
a min_index that is not a number, 409 for one beyond what the node applied, 401 for an
unsigned or wrongly signed call. The counters show in /metrics."""

import hashlib
import struct
import unittest

from imgarc_cluster import ClusterTestCase, sign, wait_for

PATH = "/internal/v1/snapshot"


def parse_stream(data):
    """The applied index and the records [(family, key, value)] of a snapshot stream;
    fails unless it is whole and its trailer matches."""
    assert data[:8] == b"IMGSNAP1", data[:16]
    index = struct.unpack(">Q", data[8:16])[0]
    pos, records = 16, []
    while True:
        family = data[pos]
        if family == 0xFF:
            break
        klen = struct.unpack(">I", data[pos + 1:pos + 5])[0]
        key = data[pos + 5:pos + 5 + klen]
        pos += 5 + klen
        vlen = struct.unpack(">I", data[pos:pos + 4])[0]
        value = data[pos + 4:pos + 4 + vlen]
        pos += 4 + vlen
        records.append((family, key, value))
    want = hashlib.blake2b(data[:pos + 1], digest_size=32).digest()
    assert data[pos + 1:] == want, "the trailer does not match the stream"
    return index, records


class SnapshotSendTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("snapsend", 2)

    def signed_get(self, node, target, **kw):
        return node.get(target, auth=False, headers=sign(self.cluster.secret, "GET", target),
                        timeout=60, **kw)

    def metric(self, node, name):
        r = node.get("/metrics")
        self.assertStatus(r, 200)
        for line in r.body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        self.fail("no %s in /metrics" % name)

    def test_01_the_store_streams_whole(self):
        c = self.cluster
        leader = c.leader()
        for i in range(5):
            r = leader.upload("SNAP-%d" % i, b"content of file %d" % i, name="f%d.txt" % i)
            self.assertStatus(r, 201)
        applied = c.applied(leader)
        sends = self.metric(leader, "imgarc_snapshot_sends_total")
        sent_bytes = self.metric(leader, "imgarc_snapshot_send_bytes_total")
        target = "%s?min_index=%d" % (PATH, applied)
        r = self.signed_get(leader, target)
        self.assertStatus(r, 200)
        self.assertEqual(r.header("content-type"), "application/octet-stream")
        self.assertEqual(r.header("transfer-encoding"), "chunked")
        index = int(r.header("x-imgarc-snapshot-index"))
        self.assertGreaterEqual(index, applied)
        got_index, records = parse_stream(r.body)
        self.assertEqual(got_index, index)
        self.assertGreater(len(records), 5)
        self.assertTrue(any(b"SNAP-3" in key or b"SNAP-3" in value
                            for _, key, value in records), "the bills written are in it")
        # Records in family and key order, as storage/snapshot.h says.
        self.assertEqual([(f, k) for f, k, _ in records], sorted((f, k) for f, k, _ in records))
        self.assertEqual(self.metric(leader, "imgarc_snapshot_sends_total"), sends + 1)
        self.assertEqual(self.metric(leader, "imgarc_snapshot_send_bytes_total"),
                         sent_bytes + len(r.body))
        # No min_index: any index will do.
        r = self.signed_get(leader, PATH)
        self.assertStatus(r, 200)
        parse_stream(r.body)
        # A follower serves its own store too, once it applied that far.
        follower = c.followers()[0]
        wait_for(lambda: c.applied(follower) >= applied, 30, "the follower to apply")
        r = self.signed_get(follower, target)
        self.assertStatus(r, 200)
        self.assertGreaterEqual(parse_stream(r.body)[0], applied)

    def test_02_refusals(self):
        c = self.cluster
        node = c.leader()
        applied = c.applied(node)
        ahead = applied + 1000000
        r = self.signed_get(node, "%s?min_index=%d" % (PATH, ahead))
        self.assertError(r, 409, 11103, "index_not_reached")
        self.assertIn("applied only up to", r.json["message"])
        self.assertIn("another member", r.json["message"])
        for bad in ("x", "-1", "1.5", "", "99999999999999999999", "18446744073709551616",
                    "%00"):
            r = self.signed_get(node, "%s?min_index=%s" % (PATH, bad))
            self.assertError(r, 400, 10400, "bad_request", msg=bad)
            self.assertIn("min_index", r.json["message"])
        # The largest index is a number, just not reached.
        r = self.signed_get(node, "%s?min_index=18446744073709551615" % PATH)
        self.assertError(r, 409, 11103, "index_not_reached")
        # Unsigned, or signed with another secret, or over another target.
        r = node.get(PATH, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        r = node.get(PATH, auth=False,
                     headers=sign("another secret of 32 characters or more!", "GET", PATH))
        self.assertError(r, 401, 10401, "unauthorized")
        r = node.get(PATH + "?min_index=0", auth=False,
                     headers=sign(c.secret, "GET", PATH + "?min_index=1"))
        self.assertError(r, 401, 10401, "unauthorized")
        # Another method on the path.
        r = node.post(PATH, b"", auth=False, headers=sign(c.secret, "POST", PATH))
        self.assertEqual(r.status, 405, r)
        self.assertServing(node)
        self.assertEqual(self.metric(node, "imgarc_snapshot_sends_failed_total"), 0)


if __name__ == "__main__":
    unittest.main()
