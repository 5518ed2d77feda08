"""Range reads of a rotted copy (issue 17): a node whose stored blob has a flipped bit
never serves those bytes. Each range is read in whole chunks checked against the
blob's chunk list before a byte is sent; a chunk that fails makes the copy corrupt
(counted, logged, reported to the keeper) and the range, or its rest, is streamed from
another holder. 3 nodes, 3 copies; the scrubber is off (--scrub-bytes-per-s 0) so the
rotted copy stays in place for every read."""

import hashlib
import os
import unittest

from imgarc_cluster import ClusterTestCase, wait_for

CHUNK = 64 * 1024  # BLOB_CHUNK_BYTES
JOB = 256 * 1024  # READ_CHUNK in replication/blob_out.c: one read job, at most


class RangeRotTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("rot", 3, extra_args=["--scrub-bytes-per-s", "0"])

    def test_ranges_through_a_node_with_a_rotted_copy(self):
        writer = self.cluster.leader()
        data = os.urandom(20 * CHUNK + 12345)  # 21 chunks, the last a short one
        h = hashlib.blake2b(data, digest_size=32).hexdigest()
        r = writer.upload("ROT-1", data, name="scan.bin")
        self.assertStatus(r, 201)
        fid, index = r.json["file_id"], r.json["index"]
        wait_for(lambda: all(n.blob_file(h) == data for n in self.cluster.nodes), 60,
                 "a copy on every node")
        # Every copy came with its chunk list: the capture's and the pushed ones.
        wait_for(lambda: all(os.path.exists(os.path.join(n.data, "chunks", h[:2], h[2:4], h))
                             for n in self.cluster.nodes), 10, "a chunk list on every node")
        rot = self.cluster.followers()[0]
        path = os.path.join(rot.data, "blobs", h[:2], h[2:4], h)
        flip = 10 * CHUNK + 1000
        with open(path, "r+b") as f:
            f.seek(flip)
            b = f.read(1)
            f.seek(flip)
            f.write(bytes([b[0] ^ 0x02]))
        self.assertNotEqual(rot.blob_file(h), data)
        hdr = {"X-Imgarc-Min-Index": str(index)}
        size = len(data)
        before = rot.metrics()["imgarc_corrupt_reads_total"]
        cases = [
            # (Range, first byte, last byte, covers the flipped byte)
            ("bytes=0-999", 0, 999, False),
            ("bytes=%d-" % (12 * CHUNK + 5), 12 * CHUNK + 5, size - 1, False),
            ("bytes=%d-%d" % (flip - 100, flip + 100), flip - 100, flip + 100, True),
            # Starts more than a read job before the rotted chunk: the head and chunks
            # 0-8 go out from this copy, the rest comes from another holder.
            ("bytes=-%d" % (size - 17), 17, size - 1, True),
            ("bytes=%d-%d" % (10 * CHUNK, 11 * CHUNK - 1), 10 * CHUNK, 11 * CHUNK - 1, True),
        ]
        covering = 0
        for rng, first, last, covers in cases:
            r = rot.content(fid, headers=dict(hdr, Range=rng))
            self.assertStatus(r, 206, rng)
            self.assertEqual(r.header("content-range"), "bytes %d-%d/%d" % (first, last, size),
                             rng)
            self.assertEqual(len(r.body), last - first + 1, rng)
            self.assertTrue(r.body == data[first:last + 1], "%s: not the captured bytes" % rng)
            covering += covers
            self.assertEqual(rot.metrics()["imgarc_corrupt_reads_total"], before + covering,
                             rng)
        log = rot.log_text()
        self.assertIn("this node's copy is corrupt", log)
        self.assertIn("chunk 10 (bytes %d-%d) does not match its chunk list"
                      % (10 * CHUNK, 11 * CHUNK - 1), log)
        # The suffix range's head went out before the rotted chunk was read: its rest
        # was asked of another holder from the first byte of the job that found it.
        self.assertIn("bytes %d-%d asked of another holder" % (9 * CHUNK, size - 1), log)
        # The other nodes served those bytes from good copies and found nothing.
        for n in self.cluster.nodes:
            if n is not rot:
                self.assertEqual(n.metrics()["imgarc_corrupt_reads_total"], 0, n.name)


if __name__ == "__main__":
    unittest.main()
