"""The operator CLI of a cluster's storage: `imgarc cluster` (show) with the storage
state, blob count and under-replicated count; `imgarc cluster blob HASH`; `imgarc
cluster drain ID` and `undrain ID`; and their argument and server errors.

One three-node cluster (three copies of every blob) serves the tests, in order (the
test names are numbered). A few files are uploaded once; a node is drained and made
active again, so the cluster ends as it began.
"""

import re

from imgarc_cluster import ClusterTestCase, wait_for
from imgarc_node import make_jpg, make_pdf, run_cli, cli_json

HEADER = re.compile(r"^ID\s+HTTP\s+RAFT\s+ZONE\s+ROLE\s+LEADER\s+HEALTH\s+APPLIED\s+STORAGE"
                    r"\s+BLOBS\s+BYTES\s+FREE$")


class ClusterCliTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        c = cls.start_cluster("clcli", 3)
        node = c.nodes[0]
        cls.ids = sorted(c.node_id(n) for n in c.nodes)
        wait_for(lambda: (lambda v: len(v["nodes"]) == 3 and
                          all(x["health"] == "ok" and x["role"] == "voter"
                              for x in v["nodes"]))(c.view(node)),
                 60, "three healthy voters", interval=0.2)
        r = node.pool_push({"image_no": "BX-CLI-1", "bill_no": "ER-CLI-1", "amount": "5.00"})
        assert r.status == 201, r
        cls.blobs = []
        for k, data in enumerate([make_pdf(pages=2, seed=71), make_jpg(n=5000, seed=72)]):
            r = node.upload("BX-CLI-1", data, name="f%d" % k, key="clcli-up-%d" % k)
            assert r.status == 201, r
            cls.blobs.append(r.json["blob"])
        # Every node stores both copies and says so in the view, has counted them in a
        # pass over the blob records, and lists every node as a holder.
        for n in c.nodes:
            wait_for(lambda: (lambda v: v["under_replicated"] == 0 and
                              all(x["health"] == "ok" and x["blob_count"] == 2
                                  for x in v["nodes"]))(c.view(n)),
                     60, "%s to see two copies on every node" % n.name, interval=0.2)
            for blob in cls.blobs:
                wait_for(lambda: len(n.get("/api/v1/cluster/blobs/" + blob).json["holders"]) == 3,
                         60, "%s to list three holders of %s" % (n.name, blob), interval=0.2)

    def cli(self, *args, node=None):
        return run_cli(node or self.cluster.nodes[1], *args)

    def assertCliOk(self, p):
        self.assertEqual(p.returncode, 0, "exit %d\nstdout %s\nstderr %s"
                         % (p.returncode, p.stdout, p.stderr))

    def assertUsageError(self, p, *fragments):
        self.assertEqual(p.returncode, 2, "exit %d\nstdout %s\nstderr %s"
                         % (p.returncode, p.stdout, p.stderr))
        self.assertEqual(p.stdout, "")
        for f in fragments:
            self.assertIn(f, p.stderr)

    def storage_seen(self, node_id, storage):
        """Waits until every node's GET /api/v1/cluster gives @node_id @storage."""
        c = self.cluster

        def seen():
            for n in c.nodes:
                mine = [x for x in c.view(n)["nodes"] if x["id"] == node_id]
                if len(mine) != 1 or mine[0]["storage"] != storage:
                    return False
            return True
        wait_for(seen, 60, "node %s storage %s on every node" % (node_id, storage),
                 interval=0.2)

    # -- tests -----------------------------------------------------------------

    def test_01_show_lists_storage_blob_count_under_replicated(self):
        # The view asks every node for its figures; on a loaded machine one may miss an
        # answer now and then (HEALTH down, figures "-"): look again.
        p = wait_for(lambda: (lambda p: p if p.returncode == 0 and p.stdout.count(" ok ") == 3
                              else None)(self.cli("cluster")),
                     30, "the CLI to show three healthy nodes", interval=0.5)
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], HEADER)
        rows = {}
        for ln in lines[1:4]:
            cells = ln.split()
            rows[cells[0]] = cells
        self.assertEqual(sorted(rows), self.ids, p.stdout)
        for cells in rows.values():
            # ... HEALTH APPLIED STORAGE BLOBS BYTES(2 words) FREE(2 words)
            self.assertEqual(cells[-8], "ok", cells)
            self.assertRegex(cells[-7], r"^[0-9]+$")
            self.assertEqual(cells[-6], "active", cells)
            self.assertEqual(cells[-5], "2", cells)
            self.assertRegex(" ".join(cells[-4:-2]), r"^[0-9.]+ (B|KiB)$", cells)
        self.assertIn("leader: ", p.stdout)
        self.assertIn("under-replicated blobs: 0\n", p.stdout)
        # show is the default action; --json is the server's document.
        p = wait_for(lambda: (lambda p: p if p.returncode == 0 and all(
            x["blob_count"] is not None for x in cli_json(p)["nodes"]) else None)(
                self.cli("cluster", "show", "--json")),
            30, "the CLI to give every node's blob count", interval=0.5)
        view = cli_json(p)
        self.assertEqual(view["under_replicated"], 0)
        for x in view["nodes"]:
            self.assertEqual(x["storage"], "active")
            self.assertEqual(x["blob_count"], 2)

    def test_02_blob_shows_three_holders(self):
        blob = self.blobs[0]
        p = self.cli("cluster", "blob", blob)
        self.assertCliOk(p)
        out = p.stdout
        self.assertRegex(out, r"(?m)^blob\s+%s$" % blob)
        self.assertRegex(out, r"(?m)^size\s+\d+ B \(\d+ bytes\)$")
        self.assertRegex(out, r"(?m)^refs\s+1$")
        self.assertRegex(out, r"(?m)^replicas\s+3$")
        self.assertRegex(out, r"(?m)^copies\s+3 \(3 live, 3 where placement wants them\)$")
        self.assertRegex(out, r"(?m)^NODE\s+COPY\s+LIVE\s+PLACEMENT\s+NOTE$")
        rows = [ln.split() for ln in out.splitlines() if re.match(r"^[0-9]+ ", ln)]
        self.assertEqual(sorted(r[0] for r in rows), self.ids, out)
        # Every node holds a live copy where placement wants it, best first.
        self.assertEqual([r[1:] for r in rows], [["yes", "yes", "1"], ["yes", "yes", "2"],
                                                 ["yes", "yes", "3"]], out)
        # --json: the server's answer; an upper-case hash names the same blob.
        p = self.cli("cluster", "blob", blob.upper(), "--json")
        self.assertCliOk(p)
        ans = cli_json(p)
        self.assertEqual(ans["blob"], blob)
        self.assertEqual(ans["refs"], 1)
        self.assertEqual(ans["replicas"], 3)
        self.assertEqual(sorted(ans["holders"]), self.ids)
        self.assertEqual(sorted(ans["live_holders"]), self.ids)
        self.assertEqual(sorted(ans["placement"]), self.ids)
        self.assertEqual([r[0] for r in rows], ans["placement"])

    def test_03_drain_then_undrain(self):
        c = self.cluster
        target = c.node_id(c.nodes[2])
        # Through another node than the drained one.
        p = self.cli("cluster", "drain", str(target), "--json", node=c.nodes[0])
        self.assertCliOk(p)
        ans = cli_json(p)
        self.assertEqual(ans["id"], target)
        self.assertEqual(ans["storage"], "draining")
        self.assertIsInstance(ans["index"], int)
        self.storage_seen(target, "draining")
        p = self.cli("cluster")
        self.assertCliOk(p)
        row = [ln for ln in p.stdout.splitlines() if ln.startswith("%s " % target)]
        self.assertEqual(len(row), 1, p.stdout)
        cells = row[0].split()
        self.assertEqual((cells[-8], cells[-6]), ("draining", "draining"), row)
        # Placement leaves the draining node out; its copy is still counted live.
        p = self.cli("cluster", "blob", self.blobs[1], "--json")
        self.assertCliOk(p)
        ans = cli_json(p)
        self.assertNotIn(target, ans["placement"])
        self.assertIn(target, ans["live_holders"])
        p = self.cli("cluster", "blob", self.blobs[1])
        self.assertCliOk(p)
        row = [ln for ln in p.stdout.splitlines() if ln.startswith("%s " % target)]
        self.assertEqual(len(row), 1, p.stdout)
        self.assertRegex(row[0], r"^\d+\s+yes\s+yes\s+-\s+not where placement wants it")
        # Draining again is accepted (nothing changes).
        p = self.cli("cluster", "drain", str(target))
        self.assertCliOk(p)
        self.assertIn("node %s storage draining" % target, p.stdout)
        self.assertIn("it was draining already", p.stdout)

        p = self.cli("cluster", "undrain", str(target))
        self.assertCliOk(p)
        self.assertIn("node %s storage active" % target, p.stdout)
        self.storage_seen(target, "active")
        p = self.cli("cluster", "undrain", str(target), "--json", node=c.nodes[2])
        self.assertCliOk(p)
        ans = cli_json(p)
        self.assertEqual((ans["id"], ans["storage"], ans["changed"]), (target, "active", False))
        for n in c.nodes:
            view = c.view(n)
            self.assertEqual({x["storage"] for x in view["nodes"]}, {"active"}, view)
        p = self.cli("cluster", "blob", self.blobs[1], "--json")
        self.assertCliOk(p)
        self.assertEqual(sorted(cli_json(p)["placement"]), self.ids)

    def test_04_argument_errors(self):
        for action in ("drain", "undrain", "remove"):
            self.assertUsageError(self.cli("cluster", action), "cluster %s: missing ID" % action)
            for bad in ("abc", "0", "012", "12a", "1.5", "99999999999999999999",
                        "9223372036854775808"):
                self.assertUsageError(self.cli("cluster", action, bad),
                                      "cluster %s: ID '%s' must be a node id" % (action, bad))
            self.assertUsageError(self.cli("cluster", action, "1", "2"),
                                  "unexpected argument '2'")
            self.assertUsageError(self.cli("cluster", action, "-5"), "unknown flag '-5'")
        self.assertUsageError(self.cli("cluster", "blob"), "cluster blob: missing HASH")
        for bad in ("abc", self.blobs[0][:63], self.blobs[0] + "0", "g" * 64,
                    self.blobs[0][:62] + "-1"):
            self.assertUsageError(self.cli("cluster", "blob", bad),
                                  "cluster blob: HASH must be the 64 hex digits")
        self.assertUsageError(self.cli("cluster", "blob", self.blobs[0], self.blobs[1]),
                              "unexpected argument")
        self.assertUsageError(self.cli("cluster", "frob"), "unknown action 'frob'", "drain",
                              "undrain", "blob")
        # The help names the new actions.
        p = self.cli("cluster", "drain", "--help")
        self.assertCliOk(p)
        for f in ("imgarc cluster drain ID", "imgarc cluster undrain ID",
                  "imgarc cluster blob HASH"):
            self.assertIn(f, p.stdout)

    def test_05_unknown_node_and_blob(self):
        for action in ("drain", "undrain"):
            p = self.cli("cluster", action, "12345")
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertEqual(p.stdout, "")
            self.assertIn("404 node_not_found (11101)", p.stderr)
            self.assertIn("not a member", p.stderr)
        p = self.cli("cluster", "blob", "0" * 64)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertIn("404 blob_not_found", p.stderr)
        self.assertIn("no blob", p.stderr)
        # Nothing changed the cluster.
        view = self.cluster.view(self.cluster.nodes[0])
        self.assertEqual({x["storage"] for x in view["nodes"]}, {"active"})

    def test_06_a_member_down_is_seen_at_once(self):
        """A member that stops answering: `imgarc cluster` exits 5 naming it (while the
        table still prints), and the leader's imgarc_cluster_members_down says 1, and
        its under-replicated count includes the copies on that member, long before the
        node is marked out; all clear when it is back."""
        c = self.cluster
        leader = c.leader()
        self.assertCliOk(self.cli("cluster", node=leader))
        self.assertEqual(leader.metrics()["imgarc_cluster_members"], 3)
        self.assertEqual(leader.metrics()["imgarc_cluster_members_down"], 0)
        for n in c.nodes:
            if n is not leader:
                self.assertEqual(n.metrics()["imgarc_cluster_members_down"], 0,
                                 "a follower judges no one")
        victim = [n for n in c.nodes if n is not leader][0]
        victim_id = c.node_id(victim)
        victim.kill9()
        wait_for(lambda: leader.metrics()["imgarc_cluster_members_down"] == 1, 30,
                 "the leader's imgarc_cluster_members_down to say 1", interval=0.2)
        # Both blobs have a copy on it: two of three copies answer.
        wait_for(lambda: leader.metrics()["imgarc_blobs_under_replicated"] == 2, 30,
                 "the leader's imgarc_blobs_under_replicated to count the two blobs",
                 interval=0.2)
        self.assertEqual(c.view(leader)["under_replicated"], 2)
        self.assertEqual(leader.metrics()["imgarc_blobs_lost"], 0)
        self.assertEqual({x["storage"] for x in c.view(leader)["nodes"]}, {"active"},
                         "the member is not marked out: its copies stay where they are")
        p = wait_for(lambda: (lambda p: p if p.returncode == 5 else None)(
            self.cli("cluster", node=leader)), 30, "imgarc cluster to exit 5", interval=0.2)
        self.assertIn("imgarc: the cluster needs attention: node %s is down" % victim_id,
                      p.stderr)
        self.assertRegex(p.stdout, HEADER.pattern[1:-1])
        # --json too: a script gets the document and the status.
        p = self.cli("cluster", "--json", node=leader)
        self.assertEqual(p.returncode, 5, p.stderr)
        self.assertIn(victim_id, [x["id"] for x in cli_json(p)["nodes"]
                                  if x["health"] == "down"])
        victim.start()
        wait_for(lambda: leader.metrics()["imgarc_cluster_members_down"] == 0, 60,
                 "the leader's imgarc_cluster_members_down back to 0", interval=0.2)
        wait_for(lambda: leader.metrics()["imgarc_blobs_under_replicated"] == 0, 60,
                 "the leader's imgarc_blobs_under_replicated back to 0", interval=0.2)
        wait_for(lambda: self.cli("cluster", node=leader).returncode == 0, 60,
                 "imgarc cluster to exit 0 again", interval=0.2)
