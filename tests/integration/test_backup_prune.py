"""`imgarc backup-prune` (docs/backup.md, "Pruning") against backups of a real node:
older backups go with the content only they referenced, the remaining ones still
verify and restore-check; a dry run removes nothing; leftovers of an interrupted backup
go; a damaged remaining backup stops the prune before anything is removed; the
directory's lock keeps a prune and a backup apart."""

import fcntl
import glob
import json
import os
import unittest

from imgarc_node import NodeTestCase, cli_json, random_bytes, run_cli


class BackupPruneTest(NodeTestCase):

    def setUp(self):
        super().setUp()
        # A node per test: a backup holds every blob of the node.
        self.node = self.start_node("backup-prune")

    def cli(self, *args, code=0):
        p = run_cli(self.node, *args)
        self.assertEqual(p.returncode, code, "exit %d\nstdout %s\nstderr %s"
                         % (p.returncode, p.stdout, p.stderr))
        return p

    def blobs_in(self, d):
        return sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "blobs", "*", "*")))

    def capture(self, image_no, seed):
        r = self.node.upload(image_no, random_bytes(4000 + seed, seed=seed), name="f.bin")
        self.assertStatus(r, 201)
        return r.json["blob"]

    def test_prune(self):
        d = os.path.join(self.scratch("prune"), "backups")
        # Retention 0, stamped on the bills as they are stored: b's bill may go later.
        r = self.node.request("PUT", "/api/v1/retention", body=json.dumps({"years": 0}).encode())
        self.assertStatus(r, 200)
        a = self.capture("BX-PR-A", 1)
        b = self.capture("BX-PR-B", 2)
        first = cli_json(self.cli("backup", d, "--json"))
        self.assertEqual(self.blobs_in(d), sorted([a, b]))
        # b's bill goes, c arrives: the second backup has a and c.
        r = self.node.request("DELETE", "/api/v1/bills/BX-PR-B", body=b"{}")
        self.assertStatus(r, 200)
        c = self.capture("BX-PR-A", 3)
        second = cli_json(self.cli("backup", d, "--json"))
        self.assertGreater(second["index"], first["index"])
        self.assertEqual(self.blobs_in(d), sorted([a, b, c]))
        # Leftovers of an interrupted backup.
        with open(os.path.join(d, "metadata", "99999999.snap"), "wb") as f:
            f.write(b"partial")
        with open(os.path.join(d, "blobs", "incoming-" + "0" * 64), "wb") as f:
            f.write(b"partial")

        # A dry run says what would go and removes nothing.
        doc = cli_json(self.cli("backup-prune", d, "--keep", "1", "--dry-run", "--json"))
        self.assertEqual(doc["kept"], [second["index"]])
        self.assertEqual(doc["removed"], [first["index"]])
        self.assertEqual(doc["blobs_removed"], 1)
        self.assertEqual(doc["leftovers"], 2)
        self.assertTrue(doc["dry_run"])
        self.assertEqual(self.blobs_in(d), sorted([a, b, c]))
        self.assertTrue(os.path.exists(os.path.join(d, "metadata", "%d.json" % first["index"])))

        p = self.cli("backup-prune", d, "--keep", "1")
        self.assertIn("1 backups kept (index %d), 1 removed (index %d)"
                      % (second["index"], first["index"]), p.stdout)
        self.assertEqual(self.blobs_in(d), sorted([a, c]))
        self.assertEqual(sorted(os.listdir(os.path.join(d, "metadata"))),
                         ["%d.json" % second["index"], "%d.snap" % second["index"]])
        self.assertEqual(glob.glob(os.path.join(d, "blobs", "incoming-*")), [])
        # What stays is whole.
        self.cli("backup-verify", d)
        # Pruning again changes nothing; keeping more than there are keeps all.
        doc = cli_json(self.cli("backup-prune", d, "--keep", "5", "--json"))
        self.assertEqual(doc["removed"], [])
        self.assertEqual(doc["blobs_removed"], 0)
        self.assertEqual(doc["blobs_kept"], 2)

    def test_damaged_backup_stops_the_prune(self):
        d = os.path.join(self.scratch("prune-damaged"), "backups")
        self.capture("BX-PR-D", 4)
        first = cli_json(self.cli("backup", d, "--json"))
        self.capture("BX-PR-D", 5)
        second = cli_json(self.cli("backup", d, "--json"))
        snap = os.path.join(d, "metadata", "%d.snap" % second["index"])
        with open(snap, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        before = self.blobs_in(d)
        p = self.cli("backup-prune", d, "--keep", "1", code=5)
        self.assertIn(snap, p.stderr)
        self.assertEqual(self.blobs_in(d), before)
        self.assertTrue(os.path.exists(os.path.join(d, "metadata", "%d.json" % first["index"])))

    def test_lock_and_usage(self):
        d = os.path.join(self.scratch("prune-lock"), "backups")
        self.capture("BX-PR-L", 6)
        self.cli("backup", d)
        with open(os.path.join(d, "IMGARC-BACKUP")) as held:
            fcntl.flock(held, fcntl.LOCK_SH)  # as backup-verify holds it
            p = self.cli("backup-prune", d, "--keep", "1", code=4)
            self.assertIn("another imgarc", p.stderr)
            p = self.cli("backup", d, code=4)
            self.assertIn("another imgarc", p.stderr)
            self.cli("backup-verify", d)  # readers share it
            fcntl.flock(held, fcntl.LOCK_UN)
        self.cli("backup-prune", d, "--keep", "1")
        for args in ([d], [d, "--keep", "0"], [d, "--keep", "x"], []):
            with self.subTest(args=args):
                self.cli("backup-prune", *args, code=2)
        p = self.cli("backup-prune", self.scratch("not-a-backup"), "--keep", "1", code=4)
        self.assertIn("not a backup directory", p.stderr)


if __name__ == "__main__":
    unittest.main()
