"""A data dir written by an older build opens and serves under this one.

datadir-182740d.tar.gz was written by 182740d (make_datadir.py, beside this file): a
tenant with a license, users, a custom role, organisations and grants, a client, bill
types and a scheme, a webhook, and bills in the states ready, captured and returned
(covers, invoices with invoice data, attachments, a rotation, a merge, a replaced and a
deleted file), plus the default tenant's bill. datadir-182740d.json holds every answer
182740d gave for them and the hash of every file's content.

This build must answer the same (every field the old answer had, with the same value;
new fields may be added, and a list of every permission may gain new ones at its end), serve every file's bytes whole and by range, accept the old
credentials, take new writes on the old bills, survive kill -9, and leave a data dir
imgarc-verify passes."""

import json
import os
import subprocess
import tarfile
import unittest

import sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from imgarc_node import (BIN_DIR, Node, NodeTestCase, blake2b_hex,  # noqa: E402
                         make_jpg, quote)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "datadir-182740d")
VERIFY = os.path.join(BIN_DIR, "imgarc-verify")

# Fields whose value depends on when the answer is given, not on what is stored.
VOLATILE = {"expires_in_days", "request_id"}
# Lists that may grow at their end: a permission list that names every permission (the
# built-in tenant_admin role's) gains each permission added since (hold, for legal
# holds): the old list must be where the new one starts.
GROWING = {"permissions"}


def differences(old, new, where="$"):
    """Where @new does not hold @old: every key of an old object present with an equal
    value (recursively), lists of equal length compared item by item."""
    out = []
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return ["%s: was an object, now %r" % (where, new)]
        for k, v in old.items():
            if k in VOLATILE:
                continue
            if k not in new:
                out.append("%s.%s: missing (was %r)" % (where, k, v))
            elif k in GROWING and isinstance(v, list) and isinstance(new[k], list):
                if new[k][:len(v)] != v:
                    out.append("%s.%s: was %r, now %r (may only grow at its end)"
                               % (where, k, v, new[k]))
            else:
                out += differences(v, new[k], "%s.%s" % (where, k))
    elif isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return ["%s: was %r, now %r" % (where, old, new)]
        for i, (a, b) in enumerate(zip(old, new)):
            out += differences(a, b, "%s[%d]" % (where, i))
    elif old != new:
        out.append("%s: was %r, now %r" % (where, old, new))
    return out


class UpgradeDataDirTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        with open(FIXTURE + ".json") as f:
            cls.manifest = json.load(f)
        root = cls.scratch_class("upgrade")
        with tarfile.open(FIXTURE + ".tar.gz") as tar:
            # The "data" filter (refusing links and paths out of root) where this
            # Python has it; the archive is the project's own fixture either way.
            if hasattr(tarfile, "data_filter"):
                tar.extractall(root, filter="data")
            else:
                tar.extractall(root)
        cls.node = Node("upgrade", data_dir=os.path.join(root, "data"),
                        args=["--license-pubkey", os.path.join(root, "keys", "license.pub")])
        cls.addClassCleanup(cls.node.cleanup)
        cls.node.start()

    @classmethod
    def scratch_class(cls, prefix):
        from imgarc_node import scratch_dir
        import shutil
        d = scratch_dir(prefix)
        if os.environ.get("IMGARC_TEST_KEEP") is None:
            cls.addClassCleanup(shutil.rmtree, d, True)
        return d

    def check_reads(self):
        for path, old in sorted(self.manifest["reads"].items()):
            with self.subTest(path=path):
                r = self.node.get(path)
                self.assertEqual(r.status, 200, "%s: %s" % (path, r.body[:300]))
                diff = differences(old, r.json)
                self.assertEqual(diff, [], "%s answers differently than 182740d did" % path)

    def check_contents(self):
        for file_id, f in sorted(self.manifest["files"].items()):
            with self.subTest(file=file_id):
                q = "?tenant=" + f["tenant"]
                r = self.node.get("/api/v1/files/%s/content%s" % (file_id, q))
                self.assertEqual(r.status, 200, r.body[:300])
                self.assertEqual(len(r.body), f["size"])
                self.assertEqual(blake2b_hex(r.body), f["blake2b"])
                if f["size"] > 10:
                    a, b = f["size"] // 3, f["size"] // 3 * 2
                    r2 = self.node.get("/api/v1/files/%s/content%s" % (file_id, q),
                                       headers={"Range": "bytes=%d-%d" % (a, b)})
                    self.assertEqual(r2.status, 206, r2.body[:300])
                    self.assertEqual(r2.body, r.body[a:b + 1])

    def test_1_every_old_answer_and_byte_is_served(self):
        self.assertGreaterEqual(len(self.manifest["reads"]), 25)
        self.assertGreaterEqual(len(self.manifest["files"]), 9)
        self.check_reads()
        self.check_contents()

    def test_1b_the_old_store_gets_its_blob_index(self):
        # The old store has blob records and no blob index: it is built at open, over
        # every record (one per distinct content), and the keeper's passes then read
        # what it names.
        import re
        m = re.search(r"built the blob index over (\d+) blob records", self.node.log_text(True))
        self.assertIsNotNone(m, "no 'built the blob index' line in the log")
        contents = {f["blake2b"] for f in self.manifest["files"].values()}
        self.assertGreaterEqual(int(m.group(1)), len(contents))
        metrics = self.node.get("/metrics", auth=False).body.decode()
        self.assertRegex(metrics, r"(?m)^imgarc_keeper_full_passes_total [1-9]")

    def test_2_old_credentials_still_work(self):
        m = self.manifest
        r = self.node.post("/api/v1/auth/login", json.dumps(
            {"tenant": m["tenant"], "username": m["user"], "password": m["password"]}),
            auth=False)
        self.assertEqual(r.status, 200, r.body[:300])
        user_token = r.json["access_token"]
        r = self.node.get("/api/v1/bills/UP-0001/status", auth="Bearer " + user_token)
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(r.json["state"], "ready")
        r = self.node.post("/api/v1/auth/token", json.dumps(
            {"client_id": m["client_id"], "client_secret": m["client_secret"]}), auth=False)
        self.assertEqual(r.status, 200, r.body[:300])
        r = self.node.get("/api/v1/bills", auth="Bearer " + r.json["access_token"])
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(sorted(b["image_no"] for b in r.json["bills"]),
                         ["UP-0001", "UP-0002", "UP-0003"])
        r = self.node.post("/api/v1/auth/login", json.dumps(
            {"tenant": m["tenant"], "username": m["user"], "password": "not-the-password"}),
            auth=False)
        self.assertEqual(r.status, 401, r.body[:300])

    def test_3_old_bills_take_new_writes_and_survive_kill9(self):
        t = "?tenant=acme"
        data = make_jpg(25000, seed=99)
        r = self.node.post("/api/v1/bills/UP-0003/files%s&name=rescan.jpg" % t, data,
                           headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(r.status, 201, r.body[:300])
        new_file = r.json["file_id"]
        self.assertEqual(self.node.get("/api/v1/bills/UP-0003/status" + t).json["state"],
                         "captured", "a returned bill becomes captured at its next capture")
        r = self.node.post("/api/v1/bills/UP-0002/submit" + t, b"")
        self.assertEqual(r.status, 200, r.body[:300])
        r = self.node.post("/api/v1/pool" + t, json.dumps(
            {"image_no": "UP-0004", "bill_no": "AP-2026-99", "bill_type": "AP_Invoice",
             "org": "sh"}))
        self.assertIn(r.status, (200, 201), r.body[:300])
        files = self.node.get("/api/v1/bills/UP-0001" + t).json["files"]
        r = self.node.post("/api/v1/bills/UP-0001/rotate" + t, json.dumps(
            {"file_ids": [files[0]["file_id"]], "degrees": 180}))
        self.assertEqual(r.status, 200, r.body[:300])

        self.node.kill9()
        self.node.start()
        st = self.node.get("/api/v1/bills/UP-0002/status" + t).json
        self.assertEqual(st["state"], "ready", st)
        self.assertEqual(self.node.get("/api/v1/bills/UP-0004" + t).status, 200)
        r = self.node.get("/api/v1/files/%s/content%s" % (new_file, t))
        self.assertEqual(r.status, 200)
        self.assertEqual(blake2b_hex(r.body), blake2b_hex(data))
        self.assertEqual(self.node.get("/api/v1/bills/UP-0001" + t).json["files"][0]["rotation"],
                         180)
        # What was there before the writes is still served, byte for byte.
        self.check_contents()

    def test_4_imgarc_verify_passes_on_the_upgraded_dir(self):
        self.node.stop()
        try:
            p = subprocess.run([VERIFY, "--data", self.node.data], capture_output=True,
                               text=True, timeout=300)
            self.assertEqual(p.returncode, 0, p.stdout[-2000:] + p.stderr[-2000:])
        finally:
            self.node.start()

    def test_5_old_accounts_and_clients_are_administered(self):
        """Users and clients written by the old build (no disabled flag, no client
        generation) are disabled, re-keyed and rotated like new ones."""
        m, t = self.manifest, "?tenant=" + self.manifest["tenant"]
        login = json.dumps({"tenant": m["tenant"], "username": m["user"],
                            "password": m["password"]})
        r = self.node.post("/api/v1/auth/login", login, auth=False)
        self.assertEqual(r.status, 200, r.body[:300])
        user_token = "Bearer " + r.json["access_token"]
        r = self.node.post("/api/v1/auth/token", json.dumps(
            {"client_id": m["client_id"], "client_secret": m["client_secret"]}), auth=False)
        self.assertEqual(r.status, 200, r.body[:300])
        client_token = "Bearer " + r.json["access_token"]
        r = self.node.get("/api/v1/users/%s%s" % (m["user"], t))
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertIs(r.json["disabled"], False)
        r = self.node.request("PATCH", "/api/v1/users/%s%s" % (m["user"], t),
                              body=b'{"disabled": true}')
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.node.get("/api/v1/bills" + t, auth=user_token).status, 401)
        self.assertEqual(self.node.post("/api/v1/auth/login", login, auth=False).status, 403)
        r = self.node.request("PATCH", "/api/v1/users/%s%s" % (m["user"], t),
                              body=b'{"disabled": false}')
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.node.post("/api/v1/auth/login", login, auth=False).status, 200)
        r = self.node.get("/api/v1/clients" + t)
        self.assertIn(m["client_id"], [c["client_id"] for c in r.json["clients"]])
        self.assertEqual(self.node.get("/api/v1/bills" + t, auth=client_token).status, 200)
        r = self.node.post("/api/v1/clients/%s/secret%s" % (m["client_id"], t), b"")
        self.assertEqual(r.status, 200, r.body[:300])
        self.assertEqual(self.node.get("/api/v1/bills" + t, auth=client_token).status, 401)
        r = self.node.post("/api/v1/auth/token", json.dumps(
            {"client_id": m["client_id"], "client_secret": r.json["client_secret"]}),
            auth=False)
        self.assertEqual(r.status, 200, r.body[:300])


if __name__ == "__main__":
    unittest.main()
