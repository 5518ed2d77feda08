"""The failure paths of backup and restore (docs/backup.md) against a real node: a
backup that lacks a blob restores with exit 5 naming it (the rest restored, the node
starting); a restore marker that names another index than the restored store stops
the node with a message before anything changes; a restore refuses a data dir that
holds something; a backup with the wrong token is refused with exit 1."""

import glob
import json
import os
import unittest

from imgarc_node import Node, NodeTestCase, cli_json, random_bytes, run_cli


class BackupErrorsTest(NodeTestCase):

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("backup-errors")
        cls.blobs = []
        for k in range(3):
            r = cls.node.upload("BX-BE-%d" % k, random_bytes(5000 + k, seed=80 + k),
                                name="f%d.bin" % k)
            assert r.status == 201, r
            cls.blobs.append(r.json["blob"])

    def backup(self):
        d = os.path.join(self.scratch("backup-errors"), "b")
        p = run_cli(self.node, "backup", d, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        return d, cli_json(p)

    def test_restore_without_a_blob(self):
        d, doc = self.backup()
        lost = self.blobs[1]
        os.unlink(os.path.join(d, "blobs", lost[:2], lost))
        data = os.path.join(self.scratch("restore-missing"), "data")
        p = run_cli(None, "restore", d, "--data", data, "--json")
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn("blob %s is not in the backup" % lost, p.stderr)
        self.assertEqual(cli_json(p)["missing"], 1)
        # What was there is restored: the node starts and serves the other files.
        node = Node("restored-missing", data_dir=data)
        self.addCleanup(node.cleanup)
        node.start()
        files = {f["blob"]: f["file_id"]
                 for k in range(3)
                 for f in node.bill("BX-BE-%d" % k).json["files"]}
        self.assertEqual(set(files), set(self.blobs))
        for blob, file_id in files.items():
            r = node.content(file_id)
            if blob == lost:
                self.assertGreaterEqual(r.status, 500, r)
            else:
                self.assertStatus(r, 200)

    def test_marker_names_another_index(self):
        d, doc = self.backup()
        data = os.path.join(self.scratch("restore-marker"), "data")
        p = run_cli(None, "restore", d, "--data", data)
        self.assertEqual(p.returncode, 0, p.stderr)
        marker = os.path.join(data, "restored")
        with open(marker) as f:
            self.assertEqual(f.read(), "imgarc-restored 1 index %d\n" % doc["index"])
        with open(marker, "w") as f:
            f.write("imgarc-restored 1 index %d\n" % (doc["index"] + 5))
        node = Node("restored-marker", data_dir=data)
        self.addCleanup(node.cleanup)
        node.start(wait=False)
        code = node.wait_exit(30)
        self.assertIsNotNone(code, "the node started on a store the marker does not name")
        self.assertNotEqual(code, 0)
        log = node.log_text(whole=True)
        self.assertIn("the restored store is at index %d, but" % doc["index"], log)
        self.assertIn("names %d" % (doc["index"] + 5), log)
        # Nothing was changed: the marker is still there, no raft log was seeded.
        self.assertTrue(os.path.exists(marker))
        self.assertEqual(glob.glob(os.path.join(data, "raft", "*")), [])

    def test_refusals(self):
        d, doc = self.backup()
        data = self.scratch("restore-nonempty")
        with open(os.path.join(data, "something"), "w") as f:
            f.write("x")
        p = run_cli(None, "restore", d, "--data", data)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertEqual(sorted(os.listdir(data)), ["something"])
        p = run_cli(self.node, "backup", os.path.join(self.scratch("bad-token"), "b"),
                    token="not-the-operator-token-0123456789")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("401", p.stderr)


if __name__ == "__main__":
    unittest.main()
