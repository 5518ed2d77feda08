"""Stored content that no longer matches what was captured is never served as if it
were good: a flipped byte cuts the download before it completes, a truncated or
missing blob gets a 503 before any byte, and the corruption is counted."""

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


if __name__ == "__main__":
    unittest.main()
