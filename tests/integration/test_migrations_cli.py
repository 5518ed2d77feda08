"""Migration batches through the CLI: `imgarc migrations create|list|show|start|pause|
resume|retry|cancel|skip|unskip|bills|log` against a real node.

Exit 2 for what the client can tell is wrong before sending anything, exit 1 with the
server's message for a refusal; the log's CSV export is parsed with the csv module,
from stdout and from a file written with -o."""

import csv
import io
import json
import os
import shutil
import unittest

from imgarc_node import NodeTestCase, cli_json, free_port, run_cli, scratch_dir


class MigrationsCliTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("migrations-cli")

    def cli(self, *args, rc=0):
        p = run_cli(self.node, *args)
        if p.returncode != rc:
            self.fail("imgarc %s: exit %d, wanted %d\nstdout: %s\nstderr: %s" % (
                " ".join(args), p.returncode, rc, p.stdout[-2000:], p.stderr[-2000:]))
        return p

    def datasource(self, name):
        r = self.node.request("POST", "/api/v1/datasources", body=json.dumps({
            "name": name, "kind": "imgarc", "url": "http://127.0.0.1:%d" % free_port(),
            "tenant": "old", "client_id": "cid",
            "client_secret": "a-secret-of-the-old-system"}).encode(),
            headers={"Content-Type": "application/json"})
        if r.status == 404 and r.json.get("error") == "not_found":
            self.skipTest("POST /api/v1/datasources is not on this branch yet")
        self.assertIn(r.status, (201, 409), r.body[:300])
        return name

    def test_usage_errors_exit_2_before_sending(self):
        cases = [
            ("migrations", "create", "B1"),                       # no --datasource
            ("migrations", "create", ".B1", "--datasource", "x"),  # bad batch number
            ("migrations", "create", "B1", "--datasource", "a/b"),
            ("migrations", "create", "B1", "--datasource", "x", "--key", "no key"),
            ("migrations", "show"),
            ("migrations", "start", "B 1"),
            ("migrations", "skip", "B1"),                          # no image numbers
            ("migrations", "bills", "B1", "--state", "done"),
            ("migrations", "bills", "B1", "--limit", "0"),
            ("migrations", "log", "B1", "--format", "xml"),
            ("migrations", "log", "B1", "--output", "x.csv"),      # -o needs csv
            ("migrations", "log", "B1", "--after", "-3"),
            ("migrations", "fly", "B1"),
        ]
        for args in cases:
            p = self.cli(*args, rc=2)
            self.assertIn("imgarc:", p.stderr, args)

    def test_refusals_exit_1_with_the_servers_message(self):
        p = self.cli("migrations", "show", "NOPE", rc=1)
        self.assertIn("migration batch NOPE", p.stderr)
        p = self.cli("migrations", "start", "NOPE", rc=1)
        self.assertIn("NOPE", p.stderr)
        p = self.cli("migrations", "create", "B1", "--datasource", "nosuchsource", rc=1)
        self.assertIn("nosuchsource", p.stderr)
        p = self.cli("migrations", "create", "B1", "--datasource", "x", "--from", "someday",
                     rc=1)
        self.assertIn("scope.from", p.stderr)
        r = self.node.request("POST", "/api/v1/tenants", body=b'{"id": "cliempty"}')
        self.assertIn(r.status, (201, 409))
        p = self.cli("--tenant", "cliempty", "migrations", "list")
        self.assertIn("no migration batches", p.stderr)

    def test_a_batch_from_create_to_its_log(self):
        src = self.datasource("cli-src")
        b = cli_json(self.cli("migrations", "create", "CLI-1", "--datasource", src,
                              "--org", "ORG-1", "--org", "ORG-2", "--bill-type", "BX",
                              "--from", "2026-01-01", "--to", "2026-01-31", "--key", "cli-1",
                              "--json"))
        self.assertEqual((b["batch_no"], b["state"], b["datasource"]), ("CLI-1", "pending", src))
        self.assertEqual(b["scope"]["orgs"], ["ORG-1", "ORG-2"])
        self.assertEqual(b["scope"]["to"], "2026-02-01T00:00:00.000Z")
        # A retried create with the same key answers the same batch.
        again = cli_json(self.cli("migrations", "create", "CLI-1", "--datasource", src,
                                  "--org", "ORG-1", "--org", "ORG-2", "--bill-type", "BX",
                                  "--from", "2026-01-01", "--to", "2026-01-31", "--key",
                                  "cli-1", "--json"))
        self.assertEqual(again["index"], b["index"])
        p = self.cli("migrations", "create", "CLI-1", "--datasource", src, rc=1)
        self.assertIn("CLI-1", p.stderr)

        out = self.cli("migrations", "show", "CLI-1").stdout
        for text in ("CLI-1", "pending", "ORG-1,ORG-2", "2026-01-01T00:00:00.000Z",
                     "0: 0 pending"):
            self.assertIn(text, out)
        out = self.cli("migrations", "list").stdout
        self.assertIn("BATCH", out)
        self.assertIn("CLI-1", out)

        self.assertIn("CLI-1: running (index", self.cli("migrations", "start", "CLI-1").stdout)
        self.assertIn("CLI-1: paused", self.cli("migrations", "pause", "CLI-1").stdout)
        p = self.cli("migrations", "pause", "CLI-1", rc=1)
        self.assertIn("paused", p.stderr)
        self.assertIn("CLI-1: running", self.cli("migrations", "resume", "CLI-1").stdout)
        out = self.cli("migrations", "cancel", "CLI-1").stdout
        self.assertIn("CLI-1: failed (cancelled by operator)", out)
        self.assertIn("CLI-1: running", self.cli("migrations", "retry", "CLI-1").stdout)
        self.cli("migrations", "cancel", "CLI-1")

        out = self.cli("migrations", "skip", "CLI-1", "IMG-1", "IMG-2").stdout
        self.assertIn("CLI-1: 0 bills marked do-not-migrate, 2 unchanged (IMG-1,IMG-2)", out)
        ans = cli_json(self.cli("migrations", "unskip", "CLI-1", "IMG-1", "--json"))
        self.assertEqual((ans["changed"], ans["unchanged"], ans["skip"]), (0, ["IMG-1"], False))
        p = self.cli("migrations", "bills", "CLI-1", "--state", "failed")
        self.assertIn("no bills", p.stderr)

        actions = ["created", "started", "paused", "resumed", "cancelled", "retried",
                   "cancelled"]
        out = self.cli("migrations", "log", "CLI-1").stdout
        lines = out.splitlines()
        self.assertIn("ACTION", lines[0])
        self.assertEqual([ln.split()[3] for ln in lines[1:]], actions)
        p = self.cli("migrations", "log", "CLI-1", "--limit", "2")
        self.assertEqual(len(p.stdout.splitlines()), 3)
        self.assertIn("--after 2", p.stderr)
        log = cli_json(self.cli("migrations", "log", "CLI-1", "--after", "5", "--json"))
        self.assertEqual([e["action"] for e in log["entries"]], ["retried", "cancelled"])

        # CSV: to stdout, and to a file.
        rows = list(csv.reader(io.StringIO(
            self.cli("migrations", "log", "CLI-1", "--format", "csv").stdout, newline="")))
        self.assertEqual(rows[0], ["seq", "time", "operator", "action", "image_no", "detail"])
        self.assertEqual([r[3] for r in rows[1:]], actions)
        d = scratch_dir("migrations-cli-out")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "log.csv")
        self.cli("migrations", "log", "CLI-1", "--format", "csv", "-o", path)
        with open(path, newline="", encoding="utf-8") as f:
            rows_file = list(csv.reader(f))
        self.assertEqual(rows_file, rows)
        self.assertEqual(json.loads(rows[1][5])["datasource"], src)


if __name__ == "__main__":
    unittest.main()
