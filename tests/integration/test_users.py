"""Users with Argon2id passwords, built-in and custom roles, login throttling and
unlock, against a real node."""

import json
import unittest

import os

from imgarc_node import NodeTestCase, random_bytes, run_cli


class UserTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("users", args=["--login-max-failures", "3",
                                                       "--login-lock-minutes", "30"])

    def post_json(self, path, obj, headers=None, auth=True):
        return self.node.request("POST", path, body=json.dumps(obj).encode(),
                                 headers=headers, auth=auth)

    def make_user(self, username, roles, password="correct horse battery", tenant=None):
        path = "/api/v1/users" + ("?tenant=" + tenant if tenant else "")
        r = self.post_json(path, {"username": username, "password": password, "roles": roles})
        self.assertStatus(r, 201)
        return password

    def login(self, username, password, tenant=None):
        body = {"username": username, "password": password}
        if tenant:
            body["tenant"] = tenant
        return self.post_json("/api/v1/auth/login", body, auth=False)

    def bearer(self, username, password, tenant=None):
        r = self.login(username, password, tenant)
        self.assertStatus(r, 200)
        return {"Authorization": "Bearer " + r.json["access_token"]}

    def test_roles_decide_what_a_user_may_do(self):
        pw = self.make_user("sam", ["scanner"])
        self.make_user("rita", ["reviewer"])
        r = self.post_json("/api/v1/roles", {"name": "submitter", "permissions": ["submit",
                                                                                   "read"]})
        self.assertStatus(r, 201)
        self.make_user("sue", ["submitter"])
        for u in ("sam", "rita", "sue"):  # every organisation's bills (grants: test_grants)
            r = self.node.request("PUT", "/api/v1/users/%s/grants" % u,
                                  body=b'{"grants": [{"org": "*"}]}')
            self.assertStatus(r, 200)
        sam, rita, sue = (self.bearer(u, pw) for u in ("sam", "rita", "sue"))
        up = self.node.request("POST", "/api/v1/bills/US-1/files?name=a.pdf",
                               body=random_bytes(500, seed=1), headers=sam, auth=False)
        self.assertStatus(up, 201)
        log = self.node.request("GET", "/api/v1/bills/US-1/log", headers=rita, auth=False)
        self.assertStatus(log, 200)
        self.assertEqual(log.json["entries"][-1]["operator"], "user:sam")
        r = self.node.request("POST", "/api/v1/bills/US-1/files?name=b.pdf", body=b"x",
                              headers=rita, auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("capture", r.json["message"])
        r = self.node.request("POST", "/api/v1/bills/US-1/submit", body=b"", headers=sue,
                              auth=False)
        self.assertStatus(r, 200)
        for h in (sam, rita, sue):
            r = self.node.request("GET", "/api/v1/users", headers=h, auth=False)
            self.assertError(r, 403, 10403, "forbidden")
        # Unknown roles and bad passwords are refused when the user is made.
        r = self.post_json("/api/v1/users", {"username": "x", "password": "12345678",
                                             "roles": ["root"]})
        self.assertError(r, 400, 11019, "role_not_found")
        r = self.post_json("/api/v1/users", {"username": "x", "password": "short",
                                             "roles": ["scanner"]})
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.post_json("/api/v1/users", {"username": "sam", "password": "12345678",
                                             "roles": ["scanner"]})
        self.assertError(r, 409, 11016, "user_exists")

    def test_tenant_admin_manages_its_own_tenant_only(self):
        r = self.node.post("/api/v1/tenants", body=b'{"id": "other-users"}')
        self.assertIn(r.status, (201, 409))
        pw = self.make_user("ada", ["tenant_admin"])
        ada = self.bearer("ada", pw)
        r = self.post_json("/api/v1/users", {"username": "new1", "password": "12345678",
                                             "roles": ["reviewer"]}, headers=ada, auth=False)
        self.assertStatus(r, 201)
        r = self.node.request("GET", "/api/v1/users", headers=ada, auth=False)
        self.assertIn("new1", [u["username"] for u in r.json["users"]])
        r = self.node.request("GET", "/api/v1/users?tenant=other-users", headers=ada,
                              auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        r = self.node.request("POST", "/api/v1/tenants", body=b'{"id": "mine"}', headers=ada,
                              auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        # A user of one tenant does not exist in another.
        r = self.login("ada", pw, tenant="other-users")
        self.assertError(r, 401, 10401, "unauthorized")

    def test_wrong_passwords_lock_and_an_admin_unlocks(self):
        pw = self.make_user("lou", ["scanner"])
        ghost = self.login("nobody-at-all", "wrong-0")
        self.assertError(ghost, 401, 10401, "unauthorized")
        r = self.login("lou", "wrong-1")
        self.assertError(r, 401, 10401, "unauthorized")
        # Nothing in a failure tells whether the user exists (or how close it is to a lock).
        self.assertEqual(r.json["message"], ghost.json["message"])
        self.assertError(self.login("lou", "wrong-2"), 401, 10401, "unauthorized")
        r = self.login("lou", "wrong-3")
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertEqual(r.json["message"], ghost.json["message"])
        # The right password is refused while locked, and says until when.
        r = self.login("lou", pw)
        self.assertError(r, 403, 10423, "account_locked")
        self.assertIn("locked until", r.json["message"])
        users = {u["username"]: u for u in self.node.get("/api/v1/users").json["users"]}
        self.assertIsNotNone(users["lou"]["locked_until"])
        r = self.node.post("/api/v1/users/lou/unlock", body=b"")
        self.assertStatus(r, 200)
        self.assertStatus(self.login("lou", pw), 200)
        r = self.node.post("/api/v1/users/nobody/unlock", body=b"")
        self.assertError(r, 404, 11017, "user_not_found")
        actions = [e["action"] for e in self.node.get("/api/v1/audit").json["entries"]]
        self.assertIn("user_locked", actions)
        self.assertIn("user_unlocked", actions)
        # A right password after wrong ones resets the count.
        self.assertError(self.login("lou", "wrong-4"), 401, 10401, "unauthorized")
        self.assertStatus(self.login("lou", pw), 200)
        self.assertError(self.login("lou", "wrong-5"), 401, 10401, "unauthorized")
        users = {u["username"]: u for u in self.node.get("/api/v1/users").json["users"]}
        self.assertEqual(users["lou"]["failures"], 1)
        self.assertIsNone(users["lou"]["locked_until"])

    def test_unknown_user_and_malformed_login(self):
        r = self.login("ghost", "whatever")
        self.assertError(r, 401, 10401, "unauthorized")
        r = self.node.request("POST", "/api/v1/auth/login", body=b"[]", auth=False)
        self.assertError(r, 400, 11004, "invalid_json")
        r = self.post_json("/api/v1/auth/login", {"username": "ghost"}, auth=False)
        self.assertError(r, 400, 11005, "invalid_field")

    def test_grants_limit_bills_to_organisations(self):
        """Organisations form a tree; a non-admin sees only bills of granted ones."""
        org = lambda body: self.post_json("/api/v1/orgs", body)
        self.assertStatus(org({"id": "hq", "name": "Head office"}), 201)
        self.assertStatus(org({"id": "east", "name": "East", "parent": "hq"}), 201)
        self.assertStatus(org({"id": "east-1", "name": "Branch 1", "parent": "east"}), 201)
        self.assertStatus(org({"id": "west", "name": "West", "parent": "hq"}), 201)
        # Names are unique among siblings only.
        self.assertError(org({"id": "east2", "name": "East", "parent": "hq"}), 409, 11020,
                         "org_exists")
        self.assertStatus(org({"id": "east-x", "name": "East", "parent": "west"}), 201)
        self.assertError(org({"id": "lost", "name": "L", "parent": "nowhere"}), 404, 11021,
                         "org_not_found")
        # Every bill in its organisation, pushed by the operator.
        for image_no, o in (("G-HQ", "hq"), ("G-E", "east"), ("G-E1", "east-1"),
                            ("G-W", "west"), ("G-NONE", "")):
            r = self.post_json("/api/v1/pool", {"image_no": image_no, "org": o})
            self.assertIn(r.status, (200, 201))
            up = self.node.upload(image_no, random_bytes(50, seed=len(image_no)),
                                  name="x.txt")
            self.assertStatus(up, 201)
        pw = self.make_user("gus", ["scanner"])
        r = self.node.request("PUT", "/api/v1/users/gus/grants",
                              body=b'{"grants": [{"org": "east", "include_children": true}]}')
        self.assertStatus(r, 200)
        gus = self.bearer("gus", pw)
        listed = self.node.request("GET", "/api/v1/bills?limit=1000", headers=gus, auth=False)
        seen = sorted(b["image_no"] for b in listed.json["bills"] if b["image_no"].startswith("G-"))
        self.assertEqual(seen, ["G-E", "G-E1"])
        for image_no, visible in (("G-E", True), ("G-E1", True), ("G-HQ", False),
                                  ("G-W", False), ("G-NONE", False)):
            with self.subTest(bill=image_no):
                r = self.node.request("GET", "/api/v1/bills/" + image_no, headers=gus,
                                      auth=False)
                if visible:
                    self.assertStatus(r, 200)
                    fid = r.json["files"][0]["file_id"]
                    c = self.node.request("GET", "/api/v1/files/%s/content" % fid, headers=gus,
                                          auth=False)
                    self.assertStatus(c, 200)
                else:
                    self.assertError(r, 404, 11002, "bill_not_found")
                    r = self.node.request("POST", "/api/v1/bills/%s/files?name=y" % image_no,
                                          body=b"y", headers=gus, auth=False)
                    self.assertError(r, 404, 11002, "bill_not_found")
        fid = self.node.bill("G-W").json["files"][0]["file_id"]
        r = self.node.request("GET", "/api/v1/files/%s/content" % fid, headers=gus, auth=False)
        self.assertError(r, 404, 11003, "file_not_found")
        # Without include_children only the organisation itself.
        self.node.request("PUT", "/api/v1/users/gus/grants",
                          body=b'{"grants": [{"org": "east"}]}')
        r = self.node.request("GET", "/api/v1/bills/G-E1", headers=gus, auth=False)
        self.assertError(r, 404, 11002, "bill_not_found")
        # Moving a branch under a granted organisation brings its bills into view; the
        # top organisation can be renamed; a cycle is refused.
        self.node.request("PUT", "/api/v1/users/gus/grants",
                          body=b'{"grants": [{"org": "east", "include_children": true}]}')
        r = self.node.request("PATCH", "/api/v1/orgs/west", body=b'{"parent": "east"}')
        self.assertStatus(r, 200)
        r = self.node.request("GET", "/api/v1/bills/G-W", headers=gus, auth=False)
        self.assertStatus(r, 200)
        r = self.node.request("PATCH", "/api/v1/orgs/hq", body=b'{"name": "Group HQ"}')
        self.assertStatus(r, 200)
        r = self.node.request("PATCH", "/api/v1/orgs/hq", body=b'{"parent": "east-1"}')
        self.assertError(r, 409, 11022, "org_cycle")
        names = {o["id"]: (o["name"], o["parent"]) for o in
                 self.node.get("/api/v1/orgs").json["orgs"]}
        self.assertEqual(names["hq"], ("Group HQ", None))
        self.assertEqual(names["west"], ("West", "east"))
        # Pushing a bill into an organisation outside the grants is refused.
        r = self.node.request("POST", "/api/v1/pool", headers=gus, auth=False,
                              body=b'{"image_no": "G-NEW", "org": "hq"}')
        self.assertEqual(r.status, 403)

    def test_deleting_an_organisation(self):
        """Refused while bills or organisations belong to it; grants naming it and its
        schemes go with it; the admin audit log says whose grants changed."""
        org = lambda body: self.post_json("/api/v1/orgs", body)
        self.assertStatus(org({"id": "del-top", "name": "Del top"}), 201)
        self.assertStatus(org({"id": "del-sub", "name": "Del sub", "parent": "del-top"}), 201)
        self.assertStatus(org({"id": "del-busy", "name": "Del busy"}), 201)
        r = self.post_json("/api/v1/pool", {"image_no": "DEL-B1", "org": "del-busy"})
        self.assertIn(r.status, (200, 201))
        self.make_user("dora", ["scanner"])
        r = self.node.request("PUT", "/api/v1/users/dora/grants", body=json.dumps(
            {"grants": [{"org": "del-sub"}, {"org": "del-busy"}]}).encode())
        self.assertStatus(r, 200)
        self.assertStatus(self.post_json("/api/v1/bill-types",
                                         {"code": "DELT", "name": "D", "mode": "basic"}), 201)
        self.assertStatus(self.post_json("/api/v1/schemes", {"bill_type": "DELT",
                                                             "org": "del-sub"}), 201)
        # In use: organisations under it, bills in it.
        e = self.assertError(self.node.request("DELETE", "/api/v1/orgs/del-top"), 409, 11035,
                             "org_in_use")
        self.assertIn("del-sub", e["message"])
        e = self.assertError(self.node.request("DELETE", "/api/v1/orgs/del-busy"), 409, 11035,
                             "org_in_use")
        self.assertIn("1 bill", e["message"])
        self.assertError(self.node.request("DELETE", "/api/v1/orgs/nowhere"), 404, 11021,
                         "org_not_found")
        # A leaf without bills goes, and its grant and scheme with it.
        r = self.node.request("DELETE", "/api/v1/orgs/del-sub")
        self.assertStatus(r, 200)
        self.assertEqual((r.json["id"], r.json["deleted"]), ("del-sub", True))
        ids = [o["id"] for o in self.node.get("/api/v1/orgs").json["orgs"]]
        self.assertNotIn("del-sub", ids)
        users = {u["username"]: u for u in self.node.get("/api/v1/users").json["users"]}
        self.assertEqual([g["org"] for g in users["dora"]["grants"]], ["del-busy"])
        schemes = self.node.get("/api/v1/schemes").json["schemes"]
        self.assertFalse([s for s in schemes if s["org"] == "del-sub"], schemes)
        audit = [x for x in self.node.get("/api/v1/audit?limit=10000").json["entries"]
                 if x["action"] == "org_deleted"]
        self.assertEqual(audit[-1]["detail"]["grants_removed_from"], ["dora"])
        self.assertEqual(audit[-1]["detail"]["schemes_removed"], ["DELT"])
        # Then its parent may go; the CLI deletes too.
        self.assertStatus(self.node.request("DELETE", "/api/v1/orgs/del-top"), 200)
        self.assertStatus(org({"id": "del-cli", "name": "Del cli"}), 201)
        p = run_cli(self.node, "org", "delete", "del-cli")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("del-cli: deleted", p.stdout)
        p = run_cli(self.node, "org", "delete", "del-busy")
        self.assertEqual(p.returncode, 1)
        self.assertIn("org_in_use", p.stderr)

    def test_cli_users_orgs_and_login(self):
        """The same through the CLI: a user, an organisation tree, grants, a login whose
        token works, and the admin audit log as CSV."""
        pwfile = os.path.join(self.scratch("cli-users"), "pw")
        with open(pwfile, "w") as f:
            f.write("cli password 1\n")

        def cli(*args, token=None):
            p = run_cli(self.node, *args, token=token)
            self.assertEqual(p.returncode, 0, "imgarc %s: %s %s" % (args, p.stdout, p.stderr))
            return p.stdout

        cli("user", "create", "cleo", "--role", "scanner", "--password-file", pwfile)
        cli("org", "create", "north", "--name", "North")
        cli("org", "create", "north-2", "--name", "North 2", "--parent", "north")
        tree = cli("org", "list")
        self.assertLess(tree.index("North  (north)"), tree.index("North 2"))
        cli("user", "grants", "cleo", "--org", "north:children")
        out = cli("login", "cleo", "--password-file", pwfile)
        self.assertTrue(out.startswith("export IMGARC_TOKEN="), out)
        token = out.strip().split("=", 1)[1]
        self.assertIn("cleo", cli("user", "list"))
        # The user's token works for what its role and grants allow.
        p = run_cli(self.node, "pool", "push", "CLI-N2", "--org", "north-2", token=token)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = run_cli(self.node, "pool", "push", "CLI-X", "--org", "elsewhere", token=token)
        self.assertEqual(p.returncode, 1, p.stderr)
        p = run_cli(self.node, "user", "list", token=token)
        self.assertEqual(p.returncode, 1)
        self.assertIn("10403", p.stderr)
        csv_text = cli("audit", "--format", "csv", "--all")
        self.assertTrue(csv_text.startswith("index,time,action,operator,request_id,detail"))
        self.assertIn("grants_set", csv_text)


if __name__ == "__main__":
    unittest.main()
