"""GET /api/v1/nodes on a three-node cluster: every node lists all three members with
its console URL (the address each registered), one leader, all healthy; a user's token
is enough; a killed node is shown down by the others (within the 5 s the answer is
kept plus the view's poll timeout)."""

import json

from imgarc_cluster import ClusterTestCase

PASSWORD = "correct horse battery"


class NodesClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("nodesc", 3)

    def nodes(self, node, auth=True):
        r = node.get("/api/v1/nodes", auth=auth)
        self.assertStatus(r, 200)
        return r.json["nodes"]

    def test_every_node_lists_every_member_and_then_one_down(self):
        c = self.cluster
        urls = sorted(n.url for n in c.nodes)
        ids = {c.node_id(n): n.url for n in c.nodes}
        leader = c.node_id(c.leader())
        for node in c.nodes:
            got = self.nodes(node)
            self.assertEqual(sorted(x["url"] for x in got), urls, got)
            for x in got:
                self.assertRegex(x["id"], r"^[0-9]+$")
                self.assertEqual(ids[x["id"]], x["url"])
                self.assertEqual(x["health"], "ok", got)
                self.assertIn(x["zone"], ("zone-a", "zone-b", "zone-c"))
                self.assertIs(x["leader"], x["id"] == leader, got)
        # A user's token (any role) is enough, on any node.
        r = c.nodes[0].post("/api/v1/users", body=json.dumps(
            {"username": "ann", "password": PASSWORD, "roles": ["reviewer"]}).encode())
        self.assertStatus(r, 201)
        c.wait_converged()
        r = c.nodes[1].post("/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "ann", "password": PASSWORD}).encode())
        self.assertStatus(r, 200)
        self.assertEqual(len(self.nodes(c.nodes[2], auth="Bearer " + r.json["access_token"])),
                         3)
        # Kill a follower: the others say it is down within the cache's 5 s and a poll.
        victim = [n for n in c.nodes if c.node_id(n) != leader][0]
        victim.kill9()
        others = [n for n in c.nodes if n is not victim]

        def down_everywhere():
            return all([x for x in self.nodes(n) if x["url"] == victim.url][0]["health"]
                       == "down" for n in others)
        self.wait_for(down_everywhere, 30, "the killed node shown down by the others")
        for n in others:
            self.assertEqual(len(self.nodes(n)), 3)
