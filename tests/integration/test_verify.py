"""imgarc-verify checks a data directory without the daemon: blobs re-hashed while
the node runs, file records against blobs once it is stopped."""

import os
import subprocess
import unittest

from imgarc_node import BIN_DIR, NodeTestCase, random_bytes

VERIFY = os.path.join(BIN_DIR, "imgarc-verify")


class VerifyTest(NodeTestCase):
    def verify(self, node, *args):
        return subprocess.run([VERIFY, "--data", node.data] + list(args), capture_output=True,
                              text=True, timeout=120)

    def test_finds_corrupt_and_missing_blobs(self):
        node = self.start_node("verify")
        ups = [node.upload("VF-1", random_bytes(70000 + i, seed=i), name="f%d.bin" % i).json
               for i in range(3)]
        p = self.verify(node)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("3 blobs", p.stdout)
        self.assertIn("0 corrupt", p.stdout)
        self.assertIn("chunk lists: 0 damaged, 0 missing", p.stdout)
        # A damaged chunk list (what range reads are verified with) is a problem; a
        # missing one (a blob stored by an older version) is only counted.
        blob = ups[2]["blob"]
        chunks = os.path.join(node.data, "chunks", blob[:2], blob[2:4], blob)
        with open(chunks, "rb") as f:
            good = f.read()
        with open(chunks, "r+b") as f:
            f.seek(30)
            f.write(bytes([good[30] ^ 0x01]))
        p = self.verify(node)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("bad chunks " + os.path.join(node.data, "blobs", blob[:2], blob[2:4],
                                                   blob), p.stdout)
        os.unlink(chunks)
        p = self.verify(node)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("chunk lists: 0 damaged, 1 missing", p.stdout)
        with open(chunks, "wb") as f:
            f.write(good)
        # A flipped byte, found while the node still runs.
        blob = ups[0]["blob"]
        path = os.path.join(node.data, "blobs", blob[:2], blob[2:4], blob)
        with open(path, "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x80]))
        p = self.verify(node)
        self.assertEqual(p.returncode, 1, p.stdout)
        self.assertIn("corrupt    " + path, p.stdout)
        # The metadata check needs the store: refused clearly while the node runs.
        p = self.verify(node, "--metadata")
        self.assertEqual(p.returncode, 2)
        self.assertIn("stop the node", p.stderr)
        node.stop()
        missing = ups[1]["blob"]
        os.unlink(os.path.join(node.data, "blobs", missing[:2], missing[2:4], missing))
        p = self.verify(node, "--metadata")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("missing    file %s (bill VF-1)" % ups[1]["file_id"], p.stdout)
        self.assertIn("3 file records, 1 without their blob", p.stdout)
        self.assertEqual(self.verify(node, "--bogus").returncode, 2)


if __name__ == "__main__":
    unittest.main()
