"""A multi-node metadata cluster: real imgarcd processes on loopback.

One three-node cluster serves the tests of ClusterTest, in order (the test names are
numbered): its shape, writes through followers and reads from every node, read-your-
writes, node-to-node authentication, the leader killed during a stream of writes, a
fourth node joining through a snapshot, a voter lost and replaced by a standby, and a
removal. The nodes take a snapshot every 16 entries (--snapshot-threshold), so the log
a new node needs is gone and it must catch up from a snapshot.

File content is kept only by the node that received the upload until blob
replication is built; other nodes stream it from that node (test_remote_read.py).
"""

import hashlib
import json
import os
import random
import signal
import threading
import time
import unittest

from imgarc_cluster import Cluster, ClusterTestCase, sign, wait_for
from imgarc_node import Node, make_pdf, run_cli, cli_json

NODE_KEYS = {"id", "http", "raft", "zone", "role", "health", "applied_index", "blob_bytes",
             "free_bytes", "storage", "blob_count", "disk_full", "clock_offset_ms",
             "capacity_bytes", "weight_pct", "weight", "placement_full", "feature_level"}
# A snapshot every 16 entries, 64 kept after it: a node that joins late needs a
# snapshot. (With only 16 kept, a node restarted after a burst of writes is sent a
# snapshot while it may be taking its own, which libraft 0.22.1 does not survive:
# docs/replication.md, known limits.)
SNAPSHOT_ARGS = ["--snapshot-threshold", "16", "--snapshot-trailing", "64"]


class ClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("cl", 3, extra_args=SNAPSHOT_ARGS + ["--failover-after-ms", "3000"])

    # -- helpers ---------------------------------------------------------------

    def assertClusterShape(self, view, n, under_replicated=0):
        """@under_replicated None: any count (a node is down, so copies are missing)."""
        self.assertEqual(set(view), {"leader", "nodes", "under_replicated", "feature_level"})
        self.assertEqual(view["feature_level"], 1)  # a new cluster: its members' level
        if under_replicated is not None:
            self.assertEqual(view["under_replicated"], under_replicated)
        self.assertEqual(len(view["nodes"]), n, view)
        for node in view["nodes"]:
            self.assertEqual(set(node), NODE_KEYS, node)
            self.assertIn(node["role"], ("voter", "standby", "spare"))
            self.assertIn(node["health"], ("ok", "down", "draining"))
        self.assertIn(view["leader"], [x["id"] for x in view["nodes"]])
        # Node ids are strings of digits: JavaScript rounds JSON numbers above 2^53.
        self.assertTrue(all(isinstance(x["id"], str) and x["id"].isdigit()
                            for x in view["nodes"]), view)

    def wait_view(self, node, pred, what, timeout=60):
        return wait_for(lambda: (lambda v: v if pred(v) else None)(self.cluster.view(node)),
                        timeout, what, interval=0.2)

    def roles(self, view):
        return {x["id"]: x["role"] for x in view["nodes"]}

    def push(self, node, image_no, key=None, **kw):
        return node.pool_push({"image_no": image_no, "bill_no": "ER-" + image_no,
                               "amount": "10.00"}, key=key, **kw)

    # -- tests -----------------------------------------------------------------

    def test_01_every_node_shows_the_cluster(self):
        c = self.cluster
        ids = {c.node_id(n) for n in c.nodes}
        for node in c.nodes:
            self.wait_view(node, lambda v: sorted(self.roles(v).values()) == ["voter"] * 3 and
                           all(x["health"] == "ok" for x in v["nodes"]),
                           "three healthy voters seen from %s" % node.name)
        for node in c.nodes:
            view = c.view(node)
            self.assertClusterShape(view, 3)
            self.assertEqual({x["id"] for x in view["nodes"]}, ids)
            self.assertEqual(view["leader"], c.node_id(c.leader()))
            mine = [x for x in view["nodes"] if x["id"] == c.node_id(node)][0]
            self.assertEqual(mine["http"], "127.0.0.1:%d" % node.http_port)
            self.assertEqual(mine["raft"], "127.0.0.1:%d" % node.raft_port)
            self.assertIsInstance(mine["applied_index"], int)
            self.assertGreater(mine["free_bytes"], 0)
        self.assertEqual(sorted(x["zone"] for x in view["nodes"]), ["zone-a", "zone-b", "zone-c"])
        # Operator only.
        r = c.nodes[1].get("/api/v1/cluster", auth="Bearer nope")
        self.assertError(r, 401, 10401, "unauthorized")
        # The CLI: a table, and the same document with --json. It exits 5 while a member
        # looks down, and on a loaded machine one may miss the view's status call now
        # and then: look again.
        p = wait_for(lambda: (lambda p: p if p.returncode == 0 else None)(
            run_cli(c.nodes[2], "cluster")), 30, "imgarc cluster to exit 0", interval=0.5)
        lines = p.stdout.splitlines()
        self.assertRegex(lines[0], r"^ID\s+HTTP\s+RAFT\s+ZONE\s+ROLE\s+LEADER\s+HEALTH\s+APPLIED")
        self.assertEqual(len([ln for ln in lines if " voter " in ln]), 3, p.stdout)
        self.assertEqual(len([ln for ln in lines if "  *  " in ln]), 1, p.stdout)
        self.assertIn("under-replicated blobs: 0", p.stdout)
        p = wait_for(lambda: (lambda p: p if p.returncode == 0 else None)(
            run_cli(c.nodes[2], "cluster", "--json")), 30, "imgarc cluster --json to exit 0",
            interval=0.5)
        self.assertClusterShape(cli_json(p), 3)
        # Raft figures in /metrics.
        for node in c.nodes:
            m = node.metrics()
            for name in ("imgarc_raft_term", "imgarc_raft_commit_index",
                         "imgarc_raft_applied_index", "imgarc_raft_leader_changes_total",
                         "imgarc_raft_is_leader"):
                self.assertIn(name, m)
            self.assertEqual(m["imgarc_raft_is_leader"], 1 if node is c.leader() else 0)
            self.assertGreaterEqual(m["imgarc_raft_term"], 1)

    def test_02_write_through_a_follower_read_from_every_node(self):
        c = self.cluster
        a, b = c.followers()[:2]
        leader = c.leader()
        r = self.push(a, "BX-F-1")
        self.assertStatus(r, 201)
        pdf = make_pdf(pages=3, seed=21)
        r = a.upload("BX-F-1", pdf, name="scan.pdf", key="cl-upload-1")
        self.assertStatus(r, 201)
        index = r.json["index"]
        file_id = r.json["file_id"]
        # The node written through has applied the write when it answers.
        self.assertGreaterEqual(int(r.header("x-imgarc-index")), index)
        self.assertEqual(a.status("BX-F-1").json["files"], 1)
        # Any other node, asked with the index token, shows it at once.
        for node in (b, leader):
            hs = {"X-Imgarc-Min-Index": str(index)}
            r = node.status("BX-F-1", headers=hs)
            self.assertStatus(r, 200)
            self.assertEqual(r.json["files"], 1)
            self.assertGreaterEqual(int(r.header("x-imgarc-index")), index)
        # Every read API on every node gives the same answer.
        paths = ["/api/v1/bills/BX-F-1", "/api/v1/bills/BX-F-1/status",
                 "/api/v1/bills/BX-F-1/log", "/api/v1/bills?limit=100",
                 "/api/v1/tenants", "/api/v1/tenants/default/usage", "/api/v1/licenses",
                 "/api/v1/audit", "/api/v1/users", "/api/v1/roles", "/api/v1/orgs"]
        for path in paths:
            answers = []
            for node in c.nodes:
                r = node.get(path, headers={"X-Imgarc-Min-Index": str(index)})
                self.assertStatus(r, 200, "%s on %s" % (path, node.name))
                answers.append(r.json)
            self.assertEqual(answers[0], answers[1], path)
            self.assertEqual(answers[0], answers[2], path)
        for node in c.nodes:
            for path in ("/healthz", "/readyz", "/api/v1/version"):
                self.assertStatus(node.get(path, auth=False), 200, path)
        # Content: only the node that took the upload holds the blob (no blob
        # replication yet); the others stream it from that node.
        r = a.content(file_id)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, pdf)
        r = b.content(file_id)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, pdf)
        # A refusal of the state machine comes back through the follower as it is.
        self.assertStatus(self.push(b, "BX-F-EMPTY"), 201)
        r = b.submit("BX-F-EMPTY")
        self.assertError(r, 409, 11008, "bill_empty")
        r = a.pool_push({"image_no": "BX-F-EMPTY", "bill_no": "x", "amount": "1.00"},
                        key="cl-upload-1")  # a key used for another request
        self.assertError(r, 409, 10409, "idempotency_conflict")
        # A retry of the upload with the same key, through another node, is a replay.
        r = b.upload("BX-F-1", pdf, name="scan.pdf", key="cl-upload-1")
        self.assertIn(r.status, (200, 201))
        self.assertIs(r.json["replayed"], True)
        self.assertEqual(r.json["file_id"], file_id)
        self.assertEqual(len(leader.bill("BX-F-1").json["files"]), 1)

    def test_03_read_your_writes(self):
        c = self.cluster
        a, b = c.followers()[:2]
        r = self.push(a, "BX-RYW-1")
        self.assertStatus(r, 201)
        index = r.json["index"]
        # consistent=true: the other node asks the leader for its read index first.
        r = b.get("/api/v1/bills/BX-RYW-1/status?consistent=true")
        self.assertStatus(r, 200)
        self.assertGreaterEqual(int(r.header("x-imgarc-index")), index)
        r = c.leader().get("/api/v1/bills/BX-RYW-1?consistent=1")
        self.assertStatus(r, 200)
        # An index not reached in time: 503 saying how far the node is.
        ahead = c.applied(b) + 1000000
        t0 = time.monotonic()
        r = b.status("BX-RYW-1", headers={"X-Imgarc-Min-Index": str(ahead)})
        self.assertError(r, 503, 11103, "index_not_reached")
        self.assertIn(str(ahead), r.json["message"])
        self.assertGreater(time.monotonic() - t0, 4.0)
        # Malformed tokens are 400s, on every endpoint (before authentication).
        for value in ("x", "-1", "1.5", "99999999999999999999"):
            r = b.get("/api/v1/bills", headers={"X-Imgarc-Min-Index": value}, auth=False)
            self.assertError(r, 400, 10400, "bad_request", msg=value)
        r = b.get("/api/v1/bills?consistent=maybe")
        self.assertError(r, 400, 11011, "invalid_query")

    def test_04_node_to_node_calls_need_the_secret(self):
        c = self.cluster
        node = c.nodes[1]
        r = node.get("/internal/v1/status", auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("X-Imgarc-Signature", r.json["message"])
        r = node.get("/internal/v1/status", auth=False,
                     headers=sign("another secret of 32 characters or more!", "GET",
                                  "/internal/v1/status"))
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("cluster secret", r.json["message"])
        old = int(time.time() * 1000) - 120000
        r = node.get("/internal/v1/status", auth=False,
                     headers=sign(c.secret, "GET", "/internal/v1/status", time_ms=old))
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("clock", r.json["message"])
        r = node.get("/internal/v1/status", auth=False,
                     headers=sign(c.secret, "GET", "/internal/v1/status"))
        self.assertStatus(r, 200)
        self.assertEqual(r.header("content-type"), "application/x-protobuf")
        # A signed call with a body that is not a command: 400, and the node lives on.
        body = b"\xff\xfe not protobuf"
        r = node.post("/internal/v1/propose", body, auth=False,
                      headers=sign(c.secret, "POST", "/internal/v1/propose", body))
        self.assertEqual(r.status, 400, r)
        r = node.post("/internal/v1/propose", body, auth=False,
                      headers=sign(c.secret, "POST", "/internal/v1/propose", b"other"))
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertServing(node)

    def test_05_leader_killed_during_writes(self):
        c = self.cluster
        old = c.leader()
        old_id = c.node_id(old)
        acked = {}           # image_no -> index of the 2xx answer
        uploaded = {}        # image_no -> file_id
        errors = []
        lock = threading.Lock()
        stop = threading.Event()
        per_client = 12

        def client(k):
            rnd = random.Random(k)
            done = 0
            attempt = 0
            while done < per_client and not stop.is_set():
                image_no = "BX-K%d-%d" % (k, done)
                key = "kill-%d-%d" % (k, done)
                targets = c.alive()
                if not targets:
                    time.sleep(0.05)
                    continue
                node = rnd.choice(targets)
                try:
                    if done % 3 == 2:
                        r = node.upload(image_no, b"content %d %d" % (k, done),
                                        name="f.txt", key=key, timeout=30)
                    else:
                        r = self.push(node, image_no, key=key, timeout=30)
                except OSError:
                    attempt += 1
                    time.sleep(0.05)
                    continue
                if r.status in (200, 201):
                    with lock:
                        acked[image_no] = r.json["index"]
                        if "file_id" in r.json:
                            uploaded[image_no] = r.json["file_id"]
                    done += 1
                elif r.status == 503:
                    attempt += 1  # retry with the same key: never applied twice
                    time.sleep(0.05)
                else:
                    with lock:
                        errors.append("%s on %s: %r" % (image_no, node.name, r))
                    return
                if attempt > 400:
                    with lock:
                        errors.append("client %d: too many retries" % k)
                    return

        threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(acked) >= 8, 60, "the first writes")
            old.kill9()
        finally:
            for t in threads:
                t.join(180)
            stop.set()
        self.assertEqual(errors, [])
        self.assertEqual(len(acked), 4 * per_client)
        new = c.leader(exclude=(old,))
        self.assertNotEqual(c.node_id(new), old_id)
        survivors = c.alive()
        # Every acknowledged write is on every surviving node, once, and the metadata of
        # the survivors is identical.
        top = max(acked.values())
        index, _ = c.wait_converged(survivors)
        self.assertGreaterEqual(index, top)
        for node in survivors:
            bills = {b["image_no"]: b for b in node.all_bills()}
            for image_no in acked:
                self.assertIn(image_no, bills, "%s lost on %s" % (image_no, node.name))
            for image_no, file_id in uploaded.items():
                files = node.bill(image_no, headers={"X-Imgarc-Min-Index": str(top)}).json[
                    "files"]
                self.assertEqual([f["file_id"] for f in files], [file_id], image_no)
            for image_no in acked:
                if image_no in uploaded:
                    continue
                entries = node.audit_log(image_no).json["entries"]
                self.assertEqual([e["action"] for e in entries], ["pool_created"], image_no)
        for node in survivors:
            self.assertGreaterEqual(node.metrics()["imgarc_raft_leader_changes_total"], 1)
        view = self.wait_view(new, lambda v: [x["health"] for x in v["nodes"]
                                              if x["id"] == old_id] == ["down"],
                              "the killed leader shown down")
        # Files captured while it was down have one copy less until it is back.
        self.assertClusterShape(view, 3, under_replicated=None)
        # The old leader restarts on its data and rejoins by itself.
        old.start()
        index, _ = c.wait_converged()
        self.assertGreaterEqual(index, top)
        self.wait_view(new, lambda v: all(x["health"] == "ok" for x in v["nodes"]),
                       "every node healthy again")
        r = old.status(list(acked)[-1])
        self.assertStatus(r, 200)
        # Repair gives the restarted node its copies back: every node then holds every
        # acknowledged file's bytes, and they are identical.
        self.wait_view(new, lambda v: v["under_replicated"] == 0, "every blob on 3 nodes")
        for image_no, file_id in uploaded.items():
            k, n = image_no[4:].split("-")
            want = b"content %s %s" % (k.encode(), n.encode())
            for node in c.nodes:
                self.assertEqual(node.blob_file(hashlib.blake2b(want, digest_size=32)
                                                .hexdigest()), want, (image_no, node.name))

    def test_06_fourth_node_joins_through_a_snapshot(self):
        c = self.cluster
        for i in range(20):  # more than a snapshot's worth, so the log start is gone
            self.assertStatus(self.push(c.nodes[i % 3], "BX-S-%d" % i), 201)
        follower = c.followers()[0]
        node4 = c.add(join=follower)
        view = self.wait_view(node4, lambda v: len(v["nodes"]) == 4 and
                              self.roles(v)[c.node_id(node4)] == "standby",
                              "the fourth node a standby")
        self.assertClusterShape(view, 4)
        self.assertEqual(sorted(self.roles(view).values()), ["standby", "voter", "voter",
                                                              "voter"])
        self.assertIn("caught up: the store fetched at index", node4.log_text())
        c.wait_converged()
        r = node4.bill("BX-S-19")
        self.assertStatus(r, 200)
        # Writes through the new node.
        r = self.push(node4, "BX-S-NEW")
        self.assertStatus(r, 201)
        r = c.nodes[0].status("BX-S-NEW", headers={"X-Imgarc-Min-Index": str(r.json["index"])})
        self.assertStatus(r, 200)
        # Asking the cluster to add a member again is harmless.
        p = run_cli(c.nodes[0], "cluster", "join", "127.0.0.1:%d" % node4.http_port)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("member already", p.stdout)

    def test_07_lost_voter_is_replaced_by_the_standby(self):
        c = self.cluster
        leader = c.leader()
        view = c.view(leader)
        standby = [x["id"] for x in view["nodes"] if x["role"] == "standby"]
        self.assertEqual(len(standby), 1, view)
        victim = [n for n in c.alive() if n is not leader and
                  self.roles(view)[c.node_id(n)] == "voter"][0]
        victim_id = c.node_id(victim)
        victim.kill9()
        view = self.wait_view(leader, lambda v: self.roles(v)[standby[0]] == "voter" and
                              self.roles(v)[victim_id] == "standby",
                              "the standby promoted and the lost voter demoted")
        self.assertEqual(sorted(self.roles(view).values()), ["standby", "voter", "voter",
                                                              "voter"])
        # Writes go on; the old voter comes back as a standby and catches up.
        self.assertStatus(self.push(c.followers()[0], "BX-V-1"), 201)
        victim.start()
        c.wait_converged()
        self.assertEqual(self.roles(c.view(victim))[victim_id], "standby")

    def test_08_remove_a_node(self):
        c = self.cluster
        leader = c.leader()
        view = c.view(leader)
        standby = [x["id"] for x in view["nodes"] if x["role"] == "standby"][0]
        node = c.by_id(standby)
        r = leader.request("DELETE", "/api/v1/cluster/nodes/12345")
        self.assertError(r, 404, 11101, "node_not_found")
        r = leader.request("DELETE", "/api/v1/cluster/nodes/abc")
        self.assertError(r, 400, 10400, "bad_request")
        p = run_cli(c.followers()[0], "cluster", "remove", str(standby))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("removed", p.stdout)
        self.wait_view(leader, lambda v: standby not in self.roles(v) and len(v["nodes"]) == 3,
                       "the removed node out of the cluster")
        # The removed node knows: it refuses requests.
        wait_for(lambda: node.get("/readyz", auth=False).status == 503, 30,
                 "the removed node to say so")
        r = node.list_bills()
        self.assertError(r, 503, 10503, "unavailable")
        self.assertIn("removed", r.json["message"])
        # A removed id cannot join again.
        r = leader.post("/api/v1/cluster/join",
                            json.dumps({"http": "127.0.0.1:%d" % node.http_port}).encode())
        self.assertError(r, 409, 11102, "membership_conflict")
        self.assertEqual(node.stop(), 0)
        self.assertStatus(self.push(leader, "BX-AFTER-REMOVE"), 201)
        c.wait_converged()


class StartupTest(ClusterTestCase):
    """Cluster settings checked at start, and a node that has the wrong secret."""

    def run_node(self, *args, timeout=30):
        import subprocess
        from imgarc_node import IMGARCD
        return subprocess.run([IMGARCD] + list(args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def test_join_needs_a_secret_and_a_single_node_refuses_internal_calls(self):
        d = self.scratch("cl-nosecret")
        p = self.run_node("--data", d, "--join", "127.0.0.1:1", "--listen", "127.0.0.1:0",
                          "--raft-listen", "127.0.0.1:0")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--cluster-secret-file", p.stderr)
        p = self.run_node("--data", d, "--voters", "2")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("voters", p.stderr)
        node = self.start_node("cl-single")
        r = node.get("/internal/v1/status", auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("cluster secret", r.json["message"])
        # A single node's cluster view: itself, the leader.
        view = node.get("/api/v1/cluster").json
        self.assertEqual(len(view["nodes"]), 1)
        self.assertEqual(view["nodes"][0]["role"], "voter")
        self.assertEqual(view["leader"], view["nodes"][0]["id"])

    def test_wrong_secret_cannot_join_and_cannot_bootstrap_later(self):
        c = self.start_cluster("cl-wrong", 1)
        other = Cluster("cl-wrong-other")
        self.addCleanup(other.cleanup)
        stranger = Node("cl-stranger", fast_election=False,
                        data_dir=os.path.join(other.dir, "n1"))
        stranger.args = other.node_args(1, c.nodes[0], "zone-x")
        other.nodes.append(stranger)
        stranger.start(wait=False)
        wait_for(lambda: "wrong signature" in stranger.log_text(), 30,
                 "the join refused for the wrong secret")
        self.assertEqual(len(c.view(c.nodes[0])["nodes"]), 1)
        stranger.signal(signal.SIGTERM)
        self.assertEqual(stranger.wait_exit(30), 0)
        # Its data dir asked to join: it may not start a cluster of its own.
        p = self.run_node("--data", stranger.data, "--cluster-secret-file", other.secret_path,
                          "--listen", "127.0.0.1:%d" % stranger.http_port, "--raft-listen",
                          "127.0.0.1:%d" % stranger.raft_port)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("start it with --join", p.stderr)


if __name__ == "__main__":
    unittest.main()
