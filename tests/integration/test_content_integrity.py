"""Stored content that no longer matches what was captured is never served as if it
were good: a flipped byte cuts the download before it completes, a truncated or
missing blob gets a 503 before any byte, and the corruption is counted. Range reads
are verified chunk by chunk: one over a rotted chunk never gets a 206 with its bytes."""

import os
import socket
import unittest

from imgarc_node import NodeTestCase, build_request, random_bytes


class ContentIntegrityTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("integrity")

    def blob_path(self, blob):
        return os.path.join(self.node.data, "blobs", blob[:2], blob[2:4], blob)

    def capture(self, image_no, size, seed):
        data = random_bytes(size, seed=seed)
        up = self.node.upload(image_no, data, name="scan.bin")
        self.assertStatus(up, 201)
        return data, up.json

    def raw_get(self, file_id):
        """GET over a raw socket, read until the node closes: (status, declared
        Content-Length, body bytes received)."""
        sock = socket.create_connection((self.node.host, self.node.http_port), timeout=10)
        data = b""
        try:
            sock.sendall(build_request("GET", "/api/v1/files/%s/content" % file_id,
                                       headers=self.node.auth_headers()))
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = [int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")]
        return status, length[0], body

    def test_flipped_byte_cuts_the_download(self):
        data, up = self.capture("INT-FLIP-1", 600000, seed=11)
        path = self.blob_path(up["blob"])
        with open(path, "r+b") as f:
            f.seek(len(data) - 10)
            b = f.read(1)
            f.seek(len(data) - 10)
            f.write(bytes([b[0] ^ 0x01]))
        before = self.node.metrics()["imgarc_corrupt_reads_total"]
        status, declared, got = self.raw_get(up["file_id"])
        self.assertEqual(status, 200)
        self.assertEqual(declared, len(data))
        self.assertLess(len(got), declared, "a corrupt copy was delivered complete")
        self.assertEqual(got, data[:len(got)], "bytes before the cut are the stored ones")
        after = self.node.metrics()["imgarc_corrupt_reads_total"]
        self.assertEqual(after - before, 1)
        self.assertIn("does not match its checksum", self.node.log_text())
        # A range read of a good part still works, and the node keeps serving.
        r = self.node.content(up["file_id"], headers={"Range": "bytes=0-99"})
        self.assertStatus(r, 206)
        self.assertEqual(r.body, data[:100])

    def test_truncated_blob_is_refused_before_any_byte(self):
        data, up = self.capture("INT-TRUNC-1", 300000, seed=12)
        with open(self.blob_path(up["blob"]), "r+b") as f:
            f.truncate(1000)
        r = self.node.content(up["file_id"])
        self.assertError(r, 503, 10503, "unavailable")

    def test_missing_blob_is_refused(self):
        data, up = self.capture("INT-GONE-1", 5000, seed=13)
        os.unlink(self.blob_path(up["blob"]))
        r = self.node.content(up["file_id"])
        self.assertError(r, 503, 10503, "unavailable")
        self.assertIn("blob missing", r.json["message"])


CHUNK = 64 * 1024  # BLOB_CHUNK_BYTES
JOB = 256 * 1024  # READ_CHUNK in replication/blob_out.c: one read job, at most


class RangeIntegrityTest(NodeTestCase):
    """A single node, so no other holder: a range over a rotted chunk is answered as a
    whole read of it would be. The scrubber is off (--scrub-bytes-per-s 0) so that
    the rotted copy stays in place for every read."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("ranges", args=["--scrub-bytes-per-s", "0"])

    def rotted_capture(self, image_no, seed):
        """A 20.5-chunk file whose stored copy has a flipped bit in chunk 10."""
        data = random_bytes(20 * CHUNK + CHUNK // 2, seed=seed)
        up = self.node.upload(image_no, data, name="scan.bin")
        self.assertStatus(up, 201)
        up = up.json
        path = os.path.join(self.node.data, "blobs", up["blob"][:2], up["blob"][2:4],
                            up["blob"])
        flip = 10 * CHUNK + 4321
        with open(path, "r+b") as f:
            f.seek(flip)
            b = f.read(1)
            f.seek(flip)
            f.write(bytes([b[0] ^ 0x10]))
        return data, up, flip

    def corrupt_reads(self):
        return self.node.metrics()["imgarc_corrupt_reads_total"]

    def test_range_over_a_rotted_chunk_is_not_served(self):
        data, up, flip = self.rotted_capture("RANGE-ROT-1", seed=21)
        fid = up["file_id"]
        before = self.corrupt_reads()
        # Ranges of good chunks are served, checked, from this copy.
        for rng, want in (("bytes=0-999", data[:1000]),
                          ("bytes=%d-%d" % (12 * CHUNK - 5, 12 * CHUNK + 5),
                           data[12 * CHUNK - 5:12 * CHUNK + 6]),
                          ("bytes=-1000", data[-1000:])):
            r = self.node.content(fid, headers={"Range": rng})
            self.assertStatus(r, 206, rng)
            self.assertTrue(r.body == want, "%s: other bytes" % rng)
        self.assertEqual(self.corrupt_reads(), before)
        # A range inside the rotted chunk: refused before any byte, as a whole read
        # of a damaged copy is.
        r = self.node.content(fid, headers={"Range": "bytes=%d-%d" % (flip - 10, flip + 10)})
        self.assertError(r, 503, 10503, "unavailable")
        self.assertIn("damaged or unreadable copy", r.json["message"])
        self.assertEqual(self.corrupt_reads(), before + 1)
        log = self.node.log_text()
        self.assertIn("this node's copy is corrupt", log)
        self.assertIn("does not match its chunk list", log)
        # A range that starts more than a read job before the rotted chunk: the head is
        # out when that chunk is read, so the response is cut short at its first byte,
        # never completed with the rotted bytes.
        self.assertGreater(10 * CHUNK - (CHUNK + 7), JOB)
        status, declared, got = self.raw_range(fid, "bytes=%d-" % (CHUNK + 7))
        self.assertEqual(status, 206)
        self.assertEqual(declared, len(data) - CHUNK - 7)
        self.assertLess(len(got), declared, "a rotted range was delivered complete")
        self.assertLessEqual(CHUNK + 7 + len(got), 10 * CHUNK, "bytes of the rotted chunk sent")
        self.assertEqual(got, data[CHUNK + 7:CHUNK + 7 + len(got)])
        self.assertEqual(self.corrupt_reads(), before + 2)
        self.assertServing(self.node)

    def test_chunk_list_missing_or_damaged_is_rebuilt(self):
        data = random_bytes(3 * CHUNK + 99, seed=22)
        up = self.node.upload("RANGE-LIST-1", data, name="scan.bin")
        self.assertStatus(up, 201)
        h = up.json["blob"]
        path = os.path.join(self.node.data, "chunks", h[:2], h[2:4], h)
        with open(path, "rb") as f:
            good = f.read()
        # IMGCHK2: a 24-byte head, an XXH3-128 per 64 KiB chunk, a 32-byte seal.
        self.assertEqual(len(good), 24 + 4 * 16 + 32)
        self.assertEqual(good[:8], b"IMGCHK2\n")
        # As a data dir from before chunk lists: rebuilt by the first range read.
        os.unlink(path)
        r = self.node.content(up.json["file_id"], headers={"Range": "bytes=100-199"})
        self.assertStatus(r, 206)
        self.assertEqual(r.body, data[100:200])
        with open(path, "rb") as f:
            self.assertEqual(f.read(), good)
        # A flipped bit in the list: found by its seal, rebuilt from the verified blob.
        with open(path, "r+b") as f:
            f.seek(24 + 16 + 3)
            b = f.read(1)
            f.seek(24 + 16 + 3)
            f.write(bytes([b[0] ^ 0x01]))
        r = self.node.content(up.json["file_id"], headers={"Range": "bytes=%d-" % CHUNK})
        self.assertStatus(r, 206)
        self.assertTrue(r.body == data[CHUNK:])
        with open(path, "rb") as f:
            self.assertEqual(f.read(), good)
        self.assertIn("chunk list rebuilt", self.node.log_text())

    def raw_range(self, file_id, rng):
        """A Range GET over a raw socket, read until the node closes: (status,
        declared Content-Length, body bytes received)."""
        sock = socket.create_connection((self.node.host, self.node.http_port), timeout=10)
        data = b""
        try:
            sock.sendall(build_request("GET", "/api/v1/files/%s/content" % file_id,
                                       headers=dict(self.node.auth_headers(), Range=rng,
                                                    Connection="close")))
            while True:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = [int(l.split(":", 1)[1]) for l in lines
                  if l.lower().startswith("content-length:")]
        return status, length[0], body


if __name__ == "__main__":
    unittest.main()
