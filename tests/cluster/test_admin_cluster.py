"""Disabling a user and rotating a client's secret stop their tokens on every node: the
revocation is a replicated fact (the user's and the client's token generation, bumped
by the state machine), checked by each node against its own store."""

import json
import time
import unittest

from imgarc_cluster import ClusterTestCase

PASSWORD = "correct horse battery"


class AdminClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("adminc", 3)

    def wait_index(self, node, index):
        """Waits (with the operator's token) until @node has applied @index."""
        self.assertStatus(node.request("GET", "/api/v1/bills",
                                       headers={"X-Imgarc-Min-Index": str(index)}), 200)

    def orgs(self, node, headers, index=None):
        h = dict(headers)
        if index is not None:
            h["X-Imgarc-Min-Index"] = str(index)
        return node.request("GET", "/api/v1/orgs", headers=h, auth=False)

    def refused_after(self, node, headers, words):
        """Seconds until @node refuses @headers' token without being asked to wait for
        an index (a follower applies a committed entry within a heartbeat or so)."""
        start = time.monotonic()
        while True:
            r = self.orgs(node, headers)
            if r.status == 401:
                self.assertIn(words, r.json["message"])
                return time.monotonic() - start
            self.assertStatus(r, 200)
            if time.monotonic() - start > 5:
                self.fail("%s still takes the token 5 s after the change" % node.name)
            time.sleep(0.01)

    def test_a_disabled_user_is_refused_on_every_node(self):
        leader = self.cluster.leader()
        a, b = self.cluster.followers()[:2]
        r = leader.request("POST", "/api/v1/users", body=json.dumps(
            {"username": "ivy", "password": PASSWORD, "roles": ["scanner"]}).encode())
        self.assertStatus(r, 201)
        self.wait_index(a, r.json["index"])
        r = a.request("POST", "/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "ivy", "password": PASSWORD}).encode())
        self.assertStatus(r, 200)
        token = {"Authorization": "Bearer " + r.json["access_token"]}
        for n in self.cluster.alive():
            self.assertStatus(self.orgs(n, token), 200, n.name)
        # Disabled through follower b (forwarded to the leader); acknowledged once
        # applied. Follower a refuses the token for a request at that index at once.
        r = b.request("PATCH", "/api/v1/users/ivy", body=b'{"disabled": true}')
        self.assertStatus(r, 200)
        index = r.json["index"]
        r = self.orgs(a, token, index)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("disabled", r.json["message"])
        # And without asking for the index, within moments on every node.
        lags = {n.name: self.refused_after(n, token, "disabled") for n in self.cluster.alive()}
        print("\ntoken refused after the acknowledgement, without X-Imgarc-Min-Index: %s"
              % ", ".join("%s %.3f s" % kv for kv in sorted(lags.items())))
        # The right password is told, on a follower too.
        r = a.request("POST", "/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "ivy", "password": PASSWORD}).encode())
        self.assertError(r, 403, 10424, "account_disabled")

    def test_a_rotated_client_secret_stops_its_tokens_on_every_node(self):
        leader = self.cluster.leader()
        a, b = self.cluster.followers()[:2]
        r = leader.request("POST", "/api/v1/clients", body=b'{"name": "ERP"}')
        self.assertStatus(r, 201)
        cid, secret = r.json["client_id"], r.json["client_secret"]
        self.wait_index(b, r.json["index"])
        r = b.request("POST", "/api/v1/auth/token", auth=False, body=json.dumps(
            {"client_id": cid, "client_secret": secret}).encode())
        self.assertStatus(r, 200)
        token = {"Authorization": "Bearer " + r.json["access_token"]}
        r = a.request("POST", "/api/v1/clients/%s/secret" % cid, body=b"")
        self.assertStatus(r, 200)
        index = r.json["index"]
        for n in self.cluster.alive():
            with self.subTest(node=n.name):
                r = self.orgs(n, token, index)
                self.assertError(r, 401, 10401, "unauthorized")
                self.assertIn("rotated", r.json["message"])


if __name__ == "__main__":
    unittest.main()
