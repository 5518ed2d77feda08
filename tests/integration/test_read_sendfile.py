"""Reads of copies verified recently (docs/performance.md, "Reads of copies verified
recently"): the first whole read of a copy checks every byte; later reads within
--reverify-after-s of that check, of the same unchanged file, go out by sendfile
without a new check (counted in imgarc_download_sendfile_bytes_total) and carry the
same bytes: whole files, ranges, large files to a slow reader, HEAD. A copy written
since is checked again; so is every read with --reverify-after-s 0, and every read
once the check is older than the window."""

import os
import socket
import time
import unittest

from imgarc_node import NodeTestCase, build_request, random_bytes

SENT = "imgarc_download_sendfile_bytes_total"
LOOP = "imgarc_download_loop_reads_total"


def kernel_has_cachestat():
    """cachestat(2) (Linux 6.5) tells the node a file's pages are cached; without it
    every read goes to the pool."""
    major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    return (major, minor) >= (6, 5)


def split_answer(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = [int(l.split(":", 1)[1]) for l in lines if l.lower().startswith("content-length:")]
    return status, length[0] if length else None, body


class SendfileReadTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        # No scrubber: which check came first must be the test's own reads.
        cls.node = cls.start_class_node("sendfile", args=["--scrub-bytes-per-s", "0"])

    def capture(self, image_no, size, seed):
        data = random_bytes(size, seed=seed)
        up = self.node.upload(image_no, data, name="scan.bin")
        self.assertStatus(up, 201)
        return data, up.json

    def sent(self):
        return self.node.metrics()[SENT]

    def read(self, fid, data, headers=None, status=200):
        r = self.node.content(fid, headers=headers)
        self.assertStatus(r, status)
        self.assertTrue(r.body == data, "other bytes than were captured (%d against %d)"
                        % (len(r.body), len(data)))
        return r

    def raw_get(self, fid, rcvbuf=None, pause=0.0, stop_after=None):
        """GET over a raw socket, read in 64 KiB pieces with @pause seconds between
        them (a slow reader) until the node closes or @stop_after bytes came."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(20)
        sock.connect((self.node.host, self.node.http_port))
        data = b""
        try:
            sock.sendall(build_request("GET", "/api/v1/files/%s/content" % fid,
                                       headers=dict(self.node.auth_headers(),
                                                    Connection="close")))
            while stop_after is None or len(data) < stop_after:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                if pause:
                    time.sleep(pause)
        finally:
            sock.close()
        return split_answer(data)

    def test_later_reads_go_by_sendfile_with_the_same_bytes(self):
        data, up = self.capture("SF-1", 600000, seed=31)
        fid = up["file_id"]
        before = self.sent()
        r = self.read(fid, data)
        self.assertEqual(r.header("etag"), '"%s"' % up["blob"])
        self.assertEqual(self.sent(), before, "the first read must check every byte")
        loop = self.node.metrics()[LOOP]
        for _ in range(3):
            self.read(fid, data)
        self.assertEqual(self.sent(), before + 3 * len(data))
        # The copy stays open and its pages cached: answered on the loop, no pool trip.
        if kernel_has_cachestat():
            self.assertEqual(self.node.metrics()[LOOP], loop + 3)
        else:
            self.assertEqual(self.node.metrics()[LOOP], loop)
        # Ranges of the verified copy: also by sendfile, the requested bytes only.
        mid = self.sent()
        for rng, want in (("bytes=0-999", data[:1000]),
                          ("bytes=300000-", data[300000:]),
                          ("bytes=-7", data[-7:])):
            self.read(fid, want, headers={"Range": rng}, status=206)
        self.assertEqual(self.sent(), mid + 1000 + (len(data) - 300000) + 7)
        # HEAD: the length, no body, nothing sent.
        mid = self.sent()
        h = self.node.request("HEAD", "/api/v1/files/%s/content" % fid)
        self.assertStatus(h, 200)
        self.assertEqual(int(h.header("content-length")), len(data))
        self.assertEqual(h.body, b"")
        self.assertEqual(self.sent(), mid)
        self.assertServing(self.node)

    def test_a_copy_written_since_its_check_is_checked_again(self):
        data, up = self.capture("SF-2", 400000, seed=32)
        fid = up["file_id"]
        self.read(fid, data)  # checked: sendfile from now on
        self.read(fid, data)
        before_sent = self.sent()
        before_corrupt = self.node.metrics()["imgarc_corrupt_reads_total"]
        path = os.path.join(self.node.data, "blobs", up["blob"][:2], up["blob"][2:4],
                            up["blob"])
        time.sleep(0.01)  # the write's change time differs from the check's
        with open(path, "r+b") as f:
            f.seek(len(data) - 10)
            b = f.read(1)
            f.seek(len(data) - 10)
            f.write(bytes([b[0] ^ 0x01]))
        status, declared, got = self.raw_get(fid)
        self.assertEqual(status, 200)
        self.assertEqual(declared, len(data))
        self.assertLess(len(got), declared, "a copy written since its check went out whole")
        self.assertEqual(self.sent(), before_sent)
        self.assertEqual(self.node.metrics()["imgarc_corrupt_reads_total"], before_corrupt + 1)
        # Put back, it is checked once more before sendfile serves it again.
        with open(path, "r+b") as f:
            f.seek(len(data) - 10)
            f.write(b)
        self.read(fid, data)
        self.assertEqual(self.sent(), before_sent)
        self.read(fid, data)
        self.assertEqual(self.sent(), before_sent + len(data))

    def test_a_removed_copy_is_not_served_from_its_open_descriptor(self):
        data, up = self.capture("SF-4", 200000, seed=37)
        fid = up["file_id"]
        self.read(fid, data)
        self.read(fid, data)  # kept open, maybe answered on the loop
        path = os.path.join(self.node.data, "blobs", up["blob"][:2], up["blob"][2:4],
                            up["blob"])
        os.unlink(path)
        r = self.node.content(fid)
        self.assertError(r, 503, 10503, "unavailable")
        self.assertIn("blob missing", r.json["message"])
        self.assertServing(self.node)

    def test_large_file_to_a_slow_reader(self):
        """8 MiB through a small receive window, read slowly: the socket fills, the rest
        goes through the write queue and sendfile again, and every byte arrives."""
        data, up = self.capture("SF-3", 8 << 20, seed=33)
        fid = up["file_id"]
        self.read(fid, data)
        before = self.sent()
        status, declared, got = self.raw_get(fid, rcvbuf=32768, pause=0.002)
        self.assertEqual((status, declared), (200, len(data)))
        self.assertTrue(got == data, "other bytes (%d of %d)" % (len(got), len(data)))
        # Some by sendfile, and at least one piece through the write queue (the socket
        # was full).
        self.assertGreater(self.sent(), before)
        self.assertLess(self.sent() - before, len(data))
        # A reader that leaves half-way: the node goes on serving.
        status, declared, got = self.raw_get(fid, rcvbuf=32768, stop_after=1 << 20)
        self.assertEqual(got, data[:len(got)])
        self.read(fid, data)
        self.assertServing(self.node)


class ReverifyWindowTest(NodeTestCase):
    def test_window_zero_checks_every_read(self):
        node = self.start_node("sf-zero", args=["--scrub-bytes-per-s", "0",
                                                "--reverify-after-s", "0"])
        data = random_bytes(300000, seed=34)
        up = node.upload("SF-Z", data, name="scan.bin")
        self.assertStatus(up, 201)
        for _ in range(3):
            r = node.content(up.json["file_id"])
            self.assertStatus(r, 200)
            self.assertTrue(r.body == data)
        self.assertEqual(node.metrics()[SENT], 0)

    def test_a_check_older_than_the_window_is_done_again(self):
        node = self.start_node("sf-one", args=["--scrub-bytes-per-s", "0",
                                               "--reverify-after-s", "1"])
        data = random_bytes(300000, seed=35)
        up = node.upload("SF-W", data, name="scan.bin")
        self.assertStatus(up, 201)
        fid = up.json["file_id"]
        self.assertStatus(node.content(fid), 200)  # checked
        self.assertTrue(node.content(fid).body == data)
        self.assertEqual(node.metrics()[SENT], len(data))
        time.sleep(1.3)
        self.assertTrue(node.content(fid).body == data)  # checked again
        self.assertEqual(node.metrics()[SENT], len(data))
        self.assertTrue(node.content(fid).body == data)
        self.assertEqual(node.metrics()[SENT], 2 * len(data))

    def test_unverified_reads_all_go_by_sendfile(self):
        node = self.start_node("sf-noverify", args=["--verify-reads", "false"])
        data = random_bytes(300000, seed=36)
        up = node.upload("SF-N", data, name="scan.bin")
        self.assertStatus(up, 201)
        r = node.content(up.json["file_id"])
        self.assertTrue(r.body == data)
        self.assertEqual(node.metrics()[SENT], len(data))


if __name__ == "__main__":
    unittest.main()
