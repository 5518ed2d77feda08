"""Backup and restore (docs/backup.md), between real processes: `imgarc backup` of a
3-node cluster while captures go on holds every write acknowledged before it began;
`imgarc backup-verify` finds a corrupted blob; a second backup fetches only what the
directory lacks; `imgarc restore` writes a new data dir from which one node founds a new
cluster holding every bill, log and byte as they were, keeps the raft indices (an
idempotency key used before the backup still replays), takes new captures, and gives
its store and copies to a node that joins it. The refusals: a non-empty data dir, a
restored data dir started with --join, a token that is not the operator's."""

import json
import os
import shutil
import subprocess
import threading
import time
import unittest

from imgarc_cluster import Cluster, ClusterTestCase, wait_for
from imgarc_node import IMGARCD, run_cli, cli_json

# Fields of a bill's JSON that are not the bill's (where it was read).
VOLATILE = {"index"}


def strip(doc):
    return {k: v for k, v in doc.items() if k not in VOLATILE}


class BackupRestoreTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("bk", 3)

    def backup(self, node, path, *extra):
        p = run_cli(node, "backup", path, "--json", *extra)
        self.assertEqual(p.returncode, 0, p.stderr)
        return cli_json(p)

    def verify(self, path, *extra):
        return run_cli(None, "backup-verify", path, *extra)

    def capture_base(self, c):
        """Bills on every node: two files each, one content shared by two bills, a
        deleted file (its content released) and an idempotent capture."""
        files = {}
        self.keyed = {}
        shared = os.urandom(40000)
        for i in range(6):
            node = c.nodes[i % 3]
            for j, data in enumerate((os.urandom(20000 + 1000 * i),
                                      shared if i in (1, 4) else os.urandom(9000))):
                r = node.upload("BK-%d" % i, data, name="f%d-%d.bin" % (i, j),
                                key="bk-%d-%d" % (i, j))
                self.assertStatus(r, 201)
                files[r.json["file_id"]] = (data, r.json["image_no"])
                self.keyed["bk-%d-%d" % (i, j)] = (data, r.json["file_id"])
        gone = c.nodes[0].upload("BK-0", os.urandom(7000), name="gone.bin")
        self.assertStatus(gone, 201)
        r = c.nodes[0].request("DELETE", "/api/v1/bills/BK-0/files/" + gone.json["file_id"])
        self.assertIn(r.status, (200, 204), r)
        return files

    def test_backup_verify_restore_and_join(self):
        c = self.cluster
        c.leader()
        files = self.capture_base(c)
        root = c.dir
        path = os.path.join(root, "backup")

        # Captures go on during the backup, through every node.
        stop = threading.Event()
        acked = []  # (time acknowledged, index, file_id, data, image_no)

        def load():
            i = 0
            while not stop.is_set():
                data = os.urandom(5000 + i)
                r = c.nodes[i % 3].upload("LOAD-%d" % (i // 3), data, name="l%d.bin" % i)
                if r.status == 201:
                    acked.append((time.monotonic(), r.json["index"], r.json["file_id"], data,
                                  r.json["image_no"]))
                i += 1
        t = threading.Thread(target=load)
        t.start()
        try:
            wait_for(lambda: len(acked) >= 5, 60, "captures under way")
            began = time.monotonic()
            first = self.backup(c.followers()[0], path)
            time.sleep(0.3)
        finally:
            stop.set()
            t.join()
        before = [a for a in acked if a[0] < began]
        self.assertTrue(before)
        self.assertGreaterEqual(first["index"], max(a[1] for a in before),
                                "the backup misses writes acknowledged before it began")
        self.assertGreater(first["blobs"], len(files) - 1)
        self.assertEqual(first["fetched"], first["blobs"])
        for k in ("records", "blob_bytes", "fetched_bytes"):
            self.assertGreater(first[k], 0)
        with open(os.path.join(path, "metadata", "%d.json" % first["index"])) as f:
            manifest = json.load(f)
        # It holds the cluster's secrets (the token key): the caller's user alone reads it.
        snap = os.path.join(path, "metadata", "%d.snap" % first["index"])
        self.assertEqual(os.stat(snap).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.join(path, "blobs")).st_mode & 0o777, 0o700)
        self.assertEqual(manifest["format"], "imgarc-backup/1")
        self.assertEqual(manifest["metadata_blake2b"], first["metadata_blake2b"])

        p = self.verify(path, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = cli_json(p)
        self.assertEqual((doc["valid"], doc["index"], doc["blobs"]),
                         (True, first["index"], first["blobs"]))

        # Quiet now: the next backups hold the whole state; the third fetches nothing.
        for a in acked:
            files[a[2]] = (a[3], a[4])
        c.wait_converged()
        second = self.backup(c.nodes[0], path)
        self.assertGreaterEqual(second["index"], max(a[1] for a in acked))
        self.assertLess(second["fetched"], second["blobs"])
        third = self.backup(c.nodes[1], path)
        self.assertEqual(third["fetched"], 0)
        self.assertEqual(third["blobs"], second["blobs"])

        # A corrupted blob is found and named; put back, the backup is valid again.
        some = sorted(os.listdir(os.path.join(path, "blobs")))
        some = [d for d in some if len(d) == 2][0]
        name = sorted(os.listdir(os.path.join(path, "blobs", some)))[0]
        blob = os.path.join(path, "blobs", some, name)
        with open(blob, "rb") as f:
            original = f.read()
        with open(blob, "r+b") as f:
            f.write(bytes([original[0] ^ 1]))
        p = self.verify(path)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn(name, p.stderr)
        self.assertIn("not valid: 1 problem", p.stdout)
        with open(blob, "wb") as f:
            f.write(original)
        p = self.verify(path, "--index", str(first["index"]))
        self.assertEqual(p.returncode, 0, p.stderr)

        # What the restored cluster must hold: the old cluster's bills now.
        old = c.nodes[0]
        bills = {b["image_no"]: strip(old.bill(b["image_no"]).json) for b in old.all_bills()}
        logs = {no: old.audit_log(no).json for no in ("BK-0", "BK-4")}
        self.assertGreaterEqual(len(bills), 7)

        # Restore into a new cluster's first data dir. A raft dir left there (a seed a
        # crash cut short) is emptied first.
        rc = Cluster("bkr", voters=3)
        self.addCleanup(rc.cleanup)
        data = os.path.join(rc.dir, "n1")
        p = run_cli(None, "restore", path, "--data", data, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        doc = cli_json(p)
        self.assertEqual((doc["index"], doc["blobs"], doc["missing"]),
                         (third["index"], third["blobs"], 0))
        os.makedirs(os.path.join(data, "raft"), exist_ok=True)
        with open(os.path.join(data, "raft", "metadata1"), "wb") as f:
            f.write(b"left by a cut seed")
        n1 = rc.add()
        self.assertEqual(rc.applied(n1) >= third["index"], True)
        view = rc.view(n1)
        self.assertEqual([x["id"] for x in view["nodes"]], [rc.node_id(n1)])
        for no, want in bills.items():
            self.assertEqual(strip(n1.bill(no).json), want, no)
        for no, want in logs.items():
            self.assertEqual(n1.audit_log(no).json, want, no)
        for fid, (content, _) in files.items():
            r = n1.content(fid)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, content, fid)

        # The indices go on from the backup's: an idempotency key used before it still
        # answers the same file, and new captures are stored.
        data, fid = self.keyed["bk-2-0"]
        r = n1.upload("BK-2", data, name="f2-0.bin", key="bk-2-0")
        self.assertStatus(r, 201)
        self.assertTrue(r.json["replayed"])
        self.assertEqual(r.json["file_id"], fid)
        new = os.urandom(12345)
        r = n1.upload("AFTER-RESTORE", new, name="n.bin")
        self.assertStatus(r, 201)
        self.assertGreater(r.json["index"], third["index"])
        new_id, new_blob = r.json["file_id"], r.json["blob"]

        # A node joins the restored cluster: it takes the store and the copies.
        n2 = rc.add()
        rc.wait_converged()
        wait_for(lambda: len(n1.get("/api/v1/cluster/blobs/%s" % new_blob).json["holders"])
                 == 2, 120, "the joining node holding a copy of a new capture")
        r = n2.content(new_id)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, new)
        for fid, (content, _) in list(files.items())[:5]:
            r = n2.content(fid)
            self.assertStatus(r, 200)
            self.assertEqual(r.body, content)

    def test_refusals(self):
        c = self.cluster
        root = c.dir
        path = os.path.join(root, "backup-refusals")
        # Only the operator backs up a cluster.
        p = run_cli(c.nodes[0], "backup", path, token="not-the-operator-token")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("401", p.stderr)
        self.backup(c.nodes[0], path)
        # A directory that is neither empty nor a backup.
        other = os.path.join(root, "not-a-backup")
        os.makedirs(other, exist_ok=True)
        open(os.path.join(other, "x"), "w").close()
        p = run_cli(c.nodes[0], "backup", other)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("neither empty nor a backup", p.stderr)
        p = run_cli(None, "restore", other, "--data", os.path.join(root, "r0"))
        self.assertEqual(p.returncode, 4, p.stderr)
        # Never over a node's data dir.
        p = run_cli(None, "restore", path, "--data", c.nodes[0].data)
        self.assertEqual(p.returncode, 4, p.stderr)
        self.assertIn("is not empty", p.stderr)
        p = run_cli(None, "restore", path)
        self.assertEqual(p.returncode, 2, p.stderr)
        # A restored data dir founds a cluster: --join is refused, before anything.
        data = os.path.join(root, "r1")
        p = run_cli(None, "restore", path, "--data", data)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = subprocess.run([IMGARCD, "--data", data, "--listen", "127.0.0.1:0",
                            "--raft-listen", "127.0.0.1:0", "--cluster-secret-file",
                            c.secret_path, "--advertise", "127.0.0.1:1",
                            "--join", "127.0.0.1:%d" % c.nodes[0].http_port],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("restored from a backup", p.stderr)
        self.assertTrue(os.path.exists(os.path.join(data, "restored")))
        shutil.rmtree(data)


if __name__ == "__main__":
    unittest.main()
