"""The invoice-data sync survives its leader: in a three-node cluster a run by hand
whose source stops answering is taken over by the next leader after the first is
killed with -9, and finishes from the replicated progress with every record counted
once; the daily run is made once per organisation and day whichever node leads, and
not again after leaders change and the killed nodes come back."""

import json
import time
import unittest

from imgarc_cluster import ClusterTestCase
from imgarc_node import Node, make_pdf, quote

JSON = {"Content-Type": "application/json"}
BILLS = 4
INV = {"number": "04400000000112345678", "code": "044001900111", "date": "2026-11-02",
       "amount": "100.00", "tax": "6.00", "total": "106.00"}


def today():
    return time.strftime("%Y-%m-%d", time.gmtime())


class SyncClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("syncc", 3, extra_args=["--sync-tick-ms", "100"])
        cls.src = Node("syncc-src")
        cls.addClassCleanup(cls.src.cleanup)
        cls.src.start()

    def post(self, node, path, body):
        return node.post(path, json.dumps(body).encode(), headers=JSON)

    def put(self, node, path, body):
        return node.request("PUT", path, body=json.dumps(body).encode(), headers=JSON)

    def set_invoice(self, node, image_no, file_id, inv):
        r = node.request("PATCH", "/api/v1/bills/%s/files/%s" % (quote(image_no), file_id),
                         body=json.dumps({"invoice": inv}).encode(), headers=JSON)
        self.assertStatus(r, 200)

    def run_of(self, node, run_id):
        r = node.get("/api/v1/sync/runs/" + run_id)
        self.assertStatus(r, 200)
        return r.json

    def daily_runs(self, node):
        runs = node.get("/api/v1/sync/runs?limit=1000").json["runs"]
        return sorted(r["run_id"] for r in runs if r["run_id"].startswith("daily-"))

    def test_runs_and_the_schedule_survive_leader_changes(self):
        src = self.src
        files = {}
        for i in range(BILLS):
            no = "SC-%d" % i
            self.assertIn(src.pool_push({"image_no": no, "bill_no": no, "bill_type": "FYBX",
                                         "org": "org-a"}).status, (200, 201))
            r = src.upload(no, make_pdf(text=no), name="inv.pdf", category="invoice")
            self.assertStatus(r, 201)
            files[no] = r.json["file_id"]
            self.set_invoice(src, no, files[no], INV)
        r = self.post(src, "/api/v1/clients", {"tenant": "default", "name": "sync"})
        self.assertStatus(r, 201)
        follower = self.cluster.followers()[0]
        self.assertStatus(self.post(follower, "/api/v1/datasources", {
            "name": "src", "kind": "imgarc", "url": src.url, "tenant": "default",
            "client_id": r.json["client_id"], "client_secret": r.json["client_secret"]}), 201)
        self.assertStatus(self.post(follower, "/api/v1/migrations",
                                    {"batch_no": "M1", "datasource": "src"}), 201)
        self.assertStatus(follower.post("/api/v1/migrations/M1/start"), 200)
        self.wait_for(lambda: follower.get("/api/v1/migrations/M1").json["state"] == "done",
                      90, "the migration done")
        self.assertStatus(self.put(follower, "/api/v1/sync/settings", {
            "datasource": "src", "enabled": False, "orgs": ["org-a"]}), 200)

        # The source changes, then stops answering; a full run starts and backs off.
        for no in files:
            self.set_invoice(src, no, files[no], dict(INV, amount="321.00"))
        src.stop()
        r = self.post(follower, "/api/v1/sync/runs", {"date": ""})
        self.assertStatus(r, 201)
        run_id = r.json["runs"][0]["run_id"]
        leader = self.cluster.leader()
        self.wait_for(lambda: self.run_of(leader, run_id)["state"] == "running", 30,
                      "the run running (its retry pass recorded)")
        leader.kill9()
        src.start()
        new = self.cluster.leader(exclude=(leader,))
        self.wait_for(lambda: self.run_of(new, run_id)["state"] in ("done", "failed"), 90,
                      "the run finished by the new leader")
        run = self.run_of(new, run_id)
        self.assertEqual((run["state"], run["result"], run["succeeded"], run["failed"],
                          run["attempts"]), ("done", "ok", BILLS, 0, 1), run)
        for no in files:
            f = [x for x in new.bill(no).json["files"] if x["file_id"] == files[no]][0]
            self.assertEqual(f["invoice"]["amount"], "321.00", no)

        leader.restart()
        self.cluster.wait_converged()

        # The daily run: made once, whoever leads.
        current = self.cluster.leader()
        self.assertStatus(self.put(current, "/api/v1/sync/settings", {
            "datasource": "src", "enabled": True, "daily_at": "00:00",
            "orgs": ["org-a"]}), 200)
        daily = "daily-%s-org-a" % today()
        self.wait_for(lambda: current.get("/api/v1/sync/runs/" + daily).status == 200, 30,
                      "the daily run made")
        self.wait_for(lambda: self.run_of(current, daily)["state"] == "done", 30,
                      "the daily run done")
        current.kill9()
        nxt = self.cluster.leader(exclude=(current,))
        time.sleep(2)  # many looks of the next leader
        self.assertEqual(self.daily_runs(nxt), [daily])
        current.restart()
        self.cluster.wait_converged()
        time.sleep(1)
        for node in self.cluster.nodes:
            self.assertEqual(self.daily_runs(node), [daily], node.name)
            self.assertEqual(self.run_of(node, run_id)["succeeded"], BILLS, node.name)

if __name__ == "__main__":
    unittest.main()
