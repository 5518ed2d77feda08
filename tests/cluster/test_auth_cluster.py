"""Locking an account revokes its tokens on every node: the revocation is a replicated
fact (the user record's token generation, bumped by the state machine), not one
node's memory."""

import json
import unittest

from imgarc_cluster import ClusterTestCase

PASSWORD = "correct horse battery"


class AuthClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("authc", 3, extra_args=["--login-max-failures", "3"])

    def login(self, node, password):
        body = json.dumps({"username": "ida", "password": password}).encode()
        return node.request("POST", "/api/v1/auth/login", body=body, auth=False)

    def test_a_lock_on_one_node_revokes_the_token_on_every_node(self):
        leader = self.cluster.leader()
        a, b = self.cluster.followers()[:2]
        r = leader.request("POST", "/api/v1/users", body=json.dumps(
            {"username": "ida", "password": PASSWORD, "roles": ["scanner"]}).encode())
        self.assertStatus(r, 201)
        created = str(r.json["index"])
        # Login is public and so ignores X-Imgarc-Min-Index (an anonymous caller must not
        # hold a request): wait with the operator's token for node a to have the user.
        self.assertStatus(a.request("GET", "/api/v1/bills",
                                    headers={"X-Imgarc-Min-Index": created}), 200)
        r = a.request("POST", "/api/v1/auth/login",
                      body=json.dumps({"username": "ida", "password": PASSWORD}).encode(),
                      auth=False)
        self.assertStatus(r, 200)
        token = {"Authorization": "Bearer " + r.json["access_token"]}
        for n in self.cluster.alive():
            r = n.request("GET", "/api/v1/bills", headers=dict(token, **{
                "X-Imgarc-Min-Index": created}), auth=False)
            self.assertStatus(r, 200, n.name)
        # Three wrong passwords through another node lock the account.
        for i in range(3):
            r = self.login(b, "wrong-%d" % i)
            self.assertIn(r.status, (401, 403), r.body)  # 401 only: test_auth_secrets
        locked_at = r.header("x-imgarc-index")
        for n in self.cluster.alive():
            with self.subTest(node=n.name):
                r = n.request("GET", "/api/v1/bills", headers=dict(token, **{
                    "X-Imgarc-Min-Index": locked_at}), auth=False)
                self.assertError(r, 401, 10401, "unauthorized")
                self.assertIn("revoked", r.json["message"])


if __name__ == "__main__":
    unittest.main()
