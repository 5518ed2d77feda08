"""GET /api/v1/nodes: the cluster's members with each one's console address, for any
token (the console's banner when its node stops answering), against a real node."""

import json

from imgarc_node import NodeTestCase


class NodesTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("nodes", args=["--node-id", "9007199254740993"])

    def post_json(self, path, obj, auth=True):
        return self.node.request("POST", path, body=json.dumps(obj).encode(), auth=auth)

    def check_list(self, auth):
        r = self.node.get("/api/v1/nodes", auth=auth)
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"nodes"})
        self.assertEqual(len(r.json["nodes"]), 1, r.json)
        n = r.json["nodes"][0]
        self.assertEqual(set(n), {"id", "url", "zone", "health", "leader"})
        # The id as a string, digit for digit (2^53 + 1 is not a JavaScript number).
        self.assertEqual(n["id"], "9007199254740993")
        self.assertEqual(n["url"], self.node.url)
        self.assertEqual(n["health"], "ok")
        self.assertIs(n["leader"], True)
        self.assertIsInstance(n["zone"], str)
        return r

    def test_the_operator_sees_this_node(self):
        self.check_list(True)

    def test_a_user_without_read_and_a_client_see_it_too(self):
        r = self.post_json("/api/v1/roles", {"name": "capture-only",
                                             "permissions": ["capture"]})
        self.assertStatus(r, 201)
        r = self.post_json("/api/v1/users", {"username": "nina", "password": "a long password",
                                             "roles": ["capture-only"]})
        self.assertStatus(r, 201)
        r = self.post_json("/api/v1/auth/login", {"username": "nina",
                                                  "password": "a long password"}, auth=False)
        self.assertStatus(r, 200)
        user = "Bearer " + r.json["access_token"]
        # Not allowed to read bills, still allowed to know the other consoles.
        self.assertStatus(self.node.get("/api/v1/bills", auth=user), 403)
        self.check_list(user)
        r = self.post_json("/api/v1/clients", {"tenant": "default", "name": "erp"})
        self.assertStatus(r, 201)
        r = self.post_json("/api/v1/auth/token", {"client_id": r.json["client_id"],
                                                  "client_secret": r.json["client_secret"]},
                           auth=False)
        self.assertStatus(r, 200)
        self.check_list("Bearer " + r.json["access_token"])

    def test_the_answer_is_cached_and_repeats(self):
        a = self.check_list(True).json
        b = self.check_list(True).json
        self.assertEqual(a, b)

    def test_no_token_or_a_bad_one_is_refused(self):
        self.assertStatus(self.node.get("/api/v1/nodes", auth=False), 401)
        self.assertStatus(self.node.get("/api/v1/nodes", auth="Bearer imgarc1.nope"), 401)
        self.assertStatus(self.node.request("POST", "/api/v1/nodes", body=b"{}"), 405)
