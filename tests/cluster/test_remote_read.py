"""Reading content through a node that holds no copy of it: the node streams it from
the node that does (its holder, recorded in the blob's metadata), whole or a range,
verified against the file's checksum. The cluster keeps one copy of each blob
(--replicas 1), so the node that took the upload is the only holder; when it is down,
the others say so (503)."""

import hashlib
import os
import unittest

from imgarc_cluster import ClusterTestCase, sign, wait_for


class RemoteReadTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("rr", 3, extra_args=["--replicas", "1", "--write-quorum", "1"])

    def test_01_content_from_a_node_without_a_copy(self):
        holder = self.cluster.followers()[0]
        others = [n for n in self.cluster.alive() if n is not holder]
        data = os.urandom(3 * 1024 * 1024 + 12345)
        r = holder.upload("RR-1", data, name="big.bin")
        self.assertStatus(r, 201)
        fid, index = r.json["file_id"], r.json["index"]
        want_etag = '"%s"' % hashlib.blake2b(data, digest_size=32).hexdigest()
        for n in others:
            hdr = {"X-Imgarc-Min-Index": str(index)}
            r = n.content(fid, headers=hdr)
            self.assertStatus(r, 200, n.name)
            self.assertEqual(len(r.body), len(data), n.name)
            self.assertTrue(r.body == data, "%s served other bytes" % n.name)
            self.assertEqual(r.header("etag"), want_etag)
            r = n.content(fid, headers=dict(hdr, Range="bytes=1000000-1000999"))
            self.assertStatus(r, 206, n.name)
            self.assertEqual(r.body, data[1000000:1001000])
            self.assertEqual(r.header("content-range"), "bytes 1000000-1000999/%d" % len(data))
            r = n.content(fid, headers=dict(hdr, Range="bytes=-10"))
            self.assertEqual(r.body, data[-10:])
            r = n.head("/api/v1/files/%s/content" % fid, headers=hdr)
            self.assertStatus(r, 200)
            self.assertEqual(r.header("content-length"), str(len(data)))
        metrics = others[0].metrics()
        self.assertGreaterEqual(metrics["imgarc_downloads_total"], 3)

    def test_02_internal_blob_reads_need_the_secret(self):
        node = self.cluster.alive()[0]
        path = "/internal/v1/blobs/" + "ab" * 32
        r = node.get(path)
        self.assertEqual(r.status, 401, r.body)
        r = node.get(path, headers=sign(self.cluster.secret, "GET", path))
        self.assertEqual(r.status, 404, r.body)  # signed, but no such blob
        r = node.get("/internal/v1/blobs/xyz", headers=sign(self.cluster.secret, "GET",
                                                              "/internal/v1/blobs/xyz"))
        self.assertEqual(r.status, 400, r.body)

    def test_03_holder_down(self):
        holder = self.cluster.followers()[0]
        data = os.urandom(100000)
        r = holder.upload("RR-2", data, name="b.bin")
        self.assertStatus(r, 201)
        fid, index = r.json["file_id"], r.json["index"]
        reader = [n for n in self.cluster.alive() if n is not holder][0]
        r = reader.content(fid, headers={"X-Imgarc-Min-Index": str(index)})
        self.assertEqual(r.body, data)
        holder.kill9()
        try:
            r = wait_for(lambda: (lambda x: x if x.status == 503 else None)(
                reader.content(fid)), 30, "a 503 once the only holder is down")
            self.assertEqual(r.json["code"], 10503)
            self.assertIn("holds no copy", r.json["message"])
        finally:
            holder.start()
        self.cluster.wait_converged()
        self.assertEqual(reader.content(fid).body, data)


if __name__ == "__main__":
    unittest.main()
