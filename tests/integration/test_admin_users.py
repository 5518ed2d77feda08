"""Administration of users, roles and clients (docs/API.md "Users" and "Clients"):
edit, disable, reset or change a password, delete; edit and delete roles; list,
rotate and delete clients. Every change that must stop tokens stops them at once;
every refusal is a 4xx with a message saying what to do. Against a real node."""

import json
import os
import unittest

from imgarc_node import NodeTestCase, cli_json, run_cli

PW = "correct horse battery"


class AdminUsersTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("admin-users", args=["--login-max-failures", "3",
                                                             "--login-lock-minutes", "30"])

    # ---- helpers ----

    def call(self, method, path, obj=None, headers=None, raw=None):
        body = raw if raw is not None else (json.dumps(obj).encode() if obj is not None
                                            else None)
        if method in ("POST", "PATCH", "PUT") and body is None:
            body = b""
        return self.node.request(method, path, body=body, headers=headers,
                                 auth=headers is None)

    def make_user(self, username, roles, tenant=None, password=PW):
        q = "?tenant=" + tenant if tenant else ""
        r = self.call("POST", "/api/v1/users" + q,
                      {"username": username, "password": password, "roles": roles})
        self.assertStatus(r, 201)

    def login(self, username, password=PW, tenant=None):
        body = {"username": username, "password": password}
        if tenant:
            body["tenant"] = tenant
        return self.node.request("POST", "/api/v1/auth/login", body=json.dumps(body).encode(),
                                 auth=False)

    def bearer(self, username, password=PW, tenant=None):
        r = self.login(username, password, tenant)
        self.assertStatus(r, 200)
        return {"Authorization": "Bearer " + r.json["access_token"]}

    def assertWorks(self, h):
        r = self.node.request("GET", "/api/v1/orgs", headers=h, auth=False)
        self.assertStatus(r, 200)

    def assertRefused(self, h, words):
        r = self.node.request("GET", "/api/v1/orgs", headers=h, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn(words, r.json["message"])

    def audit_actions(self, tenant=None):
        q = "?tenant=" + tenant if tenant else ""
        r = self.node.get("/api/v1/audit" + q)
        self.assertStatus(r, 200)
        return [(e["action"], e.get("detail", {})) for e in r.json["entries"]]

    # ---- users ----

    def test_get_list_and_edit_users(self):
        self.make_user("ann", ["scanner"])
        r = self.call("PUT", "/api/v1/users/ann/grants",
                      {"grants": [{"org": "*"}]})
        self.assertStatus(r, 200)
        r = self.node.get("/api/v1/users")
        self.assertStatus(r, 200)
        ann = [u for u in r.json["users"] if u["username"] == "ann"][0]
        self.assertIs(ann["disabled"], False)
        self.assertEqual(ann["grants"], [{"org": "*", "include_children": False}])
        r = self.node.get("/api/v1/users/ann")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["username"], "ann")
        self.assertEqual(r.json["roles"], ["scanner"])
        self.assertNotIn("password_hash", r.json)
        self.assertError(self.node.get("/api/v1/users/nobody"), 404, 11017, "user_not_found")
        h = self.bearer("ann")
        # A new name keeps the sessions; new roles end them.
        r = self.call("PATCH", "/api/v1/users/ann", {"name": "Ann Li"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["name"], "Ann Li")
        self.assertEqual(r.json["roles"], ["scanner"])
        self.assertIs(r.json["disabled"], False)
        self.assertGreater(r.json["index"], 0)
        self.assertWorks(h)
        r = self.call("PATCH", "/api/v1/users/ann", {"roles": ["reviewer"]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["roles"], ["reviewer"])
        self.assertEqual(r.json["name"], "Ann Li")
        self.assertRefused(h, "revoked")
        self.assertEqual(self.node.get("/api/v1/users/ann").json["roles"], ["reviewer"])
        # Refusals.
        for body, code, err, words in (
                ({}, 11005, "invalid_field", "at least one"),
                ({"roles": "scanner"}, 11005, "invalid_field", "roles"),
                ({"roles": []}, 11005, "invalid_field", "roles"),
                ({"name": ""}, 11005, "invalid_field", "name"),
                ({"disabled": "yes"}, 11005, "invalid_field", "disabled"),
                ({"nick": "x"}, 11005, "invalid_field", "unknown field 'nick'"),
                ({"roles": ["ghost"]}, 11019, "role_not_found", "ghost")):
            with self.subTest(body=body):
                r = self.call("PATCH", "/api/v1/users/ann", body)
                self.assertError(r, 400, code, err)
                self.assertIn(words, r.json["message"])
        r = self.call("PATCH", "/api/v1/users/ann", raw=b"{nope")
        self.assertError(r, 400, 11004, "invalid_json")
        r = self.call("PATCH", "/api/v1/users/nobody", {"name": "X"})
        self.assertError(r, 404, 11017, "user_not_found")
        # Only admins.
        self.make_user("sam", ["scanner"])
        sam = self.bearer("sam")
        for method, path, body in (("GET", "/api/v1/users/ann", None),
                                   ("PATCH", "/api/v1/users/ann", {"name": "x"}),
                                   ("DELETE", "/api/v1/users/ann", None),
                                   ("POST", "/api/v1/users/ann/password", {"password": PW}),
                                   ("PATCH", "/api/v1/roles/x", {"permissions": ["read"]}),
                                   ("DELETE", "/api/v1/roles/x", None),
                                   ("GET", "/api/v1/clients", None),
                                   ("POST", "/api/v1/clients", {"name": "x"}),
                                   ("POST", "/api/v1/clients/c1/secret", None),
                                   ("DELETE", "/api/v1/clients/c1", None)):
            with self.subTest(path=path, method=method):
                r = self.call(method, path, body, headers=sam)
                self.assertError(r, 403, 10403, "forbidden")
        actions = self.audit_actions()
        self.assertIn(("user_updated", {"username": "ann", "name": "Ann Li",
                                        "roles_before": ["scanner"], "roles": ["reviewer"]}),
                      actions)

    def test_disable_and_enable(self):
        self.make_user("dora", ["scanner"])
        h = self.bearer("dora")
        self.assertWorks(h)
        r = self.call("PATCH", "/api/v1/users/dora", {"disabled": True})
        self.assertStatus(r, 200)
        self.assertIs(r.json["disabled"], True)
        self.assertRefused(h, "disabled")
        # The right password is told the account is disabled; a wrong one is the uniform
        # 401, whether the user exists or not.
        r = self.login("dora")
        self.assertError(r, 403, 10424, "account_disabled")
        self.assertIn("enable", r.json["message"])
        r = self.login("dora", "wrong password")
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertEqual(r.json["message"], self.login("nobody-here", "x").json["message"])
        self.assertIs(self.node.get("/api/v1/users/dora").json["disabled"], True)
        r = self.call("PATCH", "/api/v1/users/dora", {"disabled": False})
        self.assertStatus(r, 200)
        self.assertRefused(h, "revoked")  # enabling does not bring old tokens back
        self.assertWorks(self.bearer("dora"))
        actions = [a for a, _ in self.audit_actions()]
        self.assertIn("user_disabled", actions)
        self.assertIn("user_enabled", actions)

    def test_admin_resets_a_password(self):
        self.make_user("rick", ["scanner"])
        h = self.bearer("rick")
        for _ in range(3):
            self.assertError(self.login("rick", "wrong password"), 401, 10401, "unauthorized")
        self.assertError(self.login("rick"), 403, 10423, "account_locked")
        r = self.call("POST", "/api/v1/users/rick/password", {"password": "new password 1"})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["username"], "rick")
        self.assertIs(r.json["tokens_revoked"], True)
        self.assertRefused(h, "revoked")
        self.assertError(self.login("rick"), 401, 10401, "unauthorized")  # the old one
        u = self.node.get("/api/v1/users/rick").json
        self.assertEqual(u["failures"], 1)  # the old password just now; the lock is gone
        self.assertIsNone(u["locked_until"])
        self.assertWorks(self.bearer("rick", "new password 1"))
        r = self.call("POST", "/api/v1/users/rick/password", {"password": "short"})
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.call("POST", "/api/v1/users/rick/password", {})
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.call("POST", "/api/v1/users/nobody/password", {"password": "long enough 1"})
        self.assertError(r, 404, 11017, "user_not_found")
        self.assertIn(("password_reset", {"username": "rick"}), self.audit_actions())

    def test_change_own_password(self):
        self.make_user("olga", ["scanner"])
        h = self.bearer("olga")
        other = self.bearer("olga")  # another session of hers
        r = self.call("POST", "/api/v1/auth/password", {"old": "wrong one", "new": "brand new 1"},
                      headers=h)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("old password is wrong", r.json["message"])
        for body in ({"old": PW}, {"old": PW, "new": "short"}, {"new": "brand new 1"}):
            with self.subTest(body=body):
                r = self.call("POST", "/api/v1/auth/password", body, headers=h)
                self.assertError(r, 400, 11005, "invalid_field")
        r = self.call("POST", "/api/v1/auth/password", {"old": PW, "new": "brand new 1"},
                      headers=h)
        self.assertStatus(r, 200)
        self.assertIs(r.json["tokens_revoked"], True)
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertRefused(h, "revoked")
        self.assertRefused(other, "revoked")
        # The answer carries a token under the new generation: this session goes on.
        self.assertEqual(r.json["token_type"], "Bearer")
        self.assertWorks({"Authorization": "Bearer " + r.json["access_token"]})
        self.assertError(self.login("olga"), 401, 10401, "unauthorized")
        self.assertWorks(self.bearer("olga", "brand new 1"))
        self.assertIn(("password_changed", {"username": "olga"}), self.audit_actions())
        # The operator and business systems have no password of their own.
        r = self.call("POST", "/api/v1/auth/password", {"old": PW, "new": "brand new 2"})
        self.assertError(r, 403, 10403, "forbidden")

    def test_wrong_old_passwords_lock_the_account(self):
        self.make_user("lena", ["scanner"])
        h = self.bearer("lena")
        for i in range(3):
            r = self.call("POST", "/api/v1/auth/password",
                          {"old": "guess %d" % i, "new": "brand new 1"}, headers=h)
            if i < 2:
                self.assertError(r, 403, 10403, "forbidden")
        # The third wrong one locked the account, which revoked its tokens.
        self.assertRefused(h, "revoked")
        self.assertError(self.login("lena"), 403, 10423, "account_locked")
        self.assertIn("user_locked", [a for a, _ in self.audit_actions()])

    def test_delete_a_leaver(self):
        self.make_user("dan", ["scanner"])
        h = self.bearer("dan")
        r = self.call("DELETE", "/api/v1/users/dan")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"username": "dan", "deleted": True, "index": r.json["index"]})
        self.assertRefused(h, "no longer exists")
        self.assertError(self.node.get("/api/v1/users/dan"), 404, 11017, "user_not_found")
        self.assertError(self.call("DELETE", "/api/v1/users/dan"), 404, 11017, "user_not_found")
        self.assertIn(("user_deleted", {"username": "dan", "name": "dan", "roles": ["scanner"]}),
                      self.audit_actions())
        # A new dan is another account: the old dan's token stays refused.
        self.make_user("dan", ["scanner"])
        self.assertRefused(h, "revoked")

    def test_the_last_enabled_admin_stays(self):
        r = self.node.post("/api/v1/tenants", body=b'{"id": "solo", "name": "Solo"}')
        self.assertIn(r.status, (201, 409))
        self.make_user("boss", ["tenant_admin"], tenant="solo")
        boss = self.bearer("boss", tenant="solo")
        for method, body in (("PATCH", {"disabled": True}), ("PATCH", {"roles": ["scanner"]}),
                             ("DELETE", None)):
            with self.subTest(method=method, body=body):
                r = self.call(method, "/api/v1/users/boss", body, headers=boss)
                self.assertError(r, 409, 11031, "last_admin")
                self.assertIn("without an enabled admin", r.json["message"])
        self.assertWorks(boss)
        self.make_user("deputy", ["tenant_admin"], tenant="solo")
        r = self.call("PATCH", "/api/v1/users/boss", {"roles": ["scanner"]}, headers=boss)
        self.assertStatus(r, 200)
        self.assertRefused(boss, "revoked")
        deputy = self.bearer("deputy", tenant="solo")
        r = self.call("DELETE", "/api/v1/users/deputy", headers=deputy)
        self.assertError(r, 409, 11031, "last_admin")

    # ---- roles ----

    def test_edit_and_delete_roles(self):
        r = self.call("POST", "/api/v1/roles", {"name": "auditor", "permissions": ["read"]})
        self.assertStatus(r, 201)
        r = self.call("PATCH", "/api/v1/roles/auditor", {"permissions": ["read", "review"]})
        self.assertStatus(r, 200)
        self.assertEqual(r.json["name"], "auditor")
        self.assertEqual(r.json["permissions"], ["read", "review"])
        roles = {x["name"]: x for x in self.node.get("/api/v1/roles").json["roles"]}
        self.assertEqual(roles["auditor"]["permissions"], ["read", "review"])
        for path, body, status, code, err in (
                ("/api/v1/roles/scanner", {"permissions": ["read"]}, 400, 10400, "bad_request"),
                ("/api/v1/roles/ghost", {"permissions": ["read"]}, 404, 11019,
                 "role_not_found"),
                ("/api/v1/roles/auditor", {"permissions": ["fly"]}, 400, 11005,
                 "invalid_field"),
                ("/api/v1/roles/auditor", {"permissions": []}, 400, 11005, "invalid_field"),
                ("/api/v1/roles/auditor", {"name": "x", "permissions": ["read"]}, 400, 11005,
                 "invalid_field")):
            with self.subTest(path=path, body=body):
                self.assertError(self.call("PATCH", path, body), status, code, err)
        self.make_user("audrey", ["auditor"])
        r = self.call("DELETE", "/api/v1/roles/auditor")
        self.assertError(r, 409, 11027, "role_in_use")
        self.assertIn("audrey", r.json["message"])
        self.assertStatus(self.call("PATCH", "/api/v1/users/audrey", {"roles": ["reviewer"]}),
                          200)
        r = self.call("DELETE", "/api/v1/roles/auditor")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["deleted"], True)
        self.assertError(self.call("DELETE", "/api/v1/roles/auditor"), 404, 11019,
                         "role_not_found")
        self.assertError(self.call("DELETE", "/api/v1/roles/tenant_admin"), 400, 10400,
                         "bad_request")
        actions = [a for a, _ in self.audit_actions()]
        self.assertIn("role_updated", actions)
        self.assertIn("role_deleted", actions)

    # ---- clients ----

    def vendor(self, path, obj):
        return self.node.request("POST", path, body=json.dumps(obj).encode(),
                                 headers={"Content-Type": "application/json"}, auth=False)

    def client_token(self, cid, secret):
        return self.node.request("POST", "/api/v1/auth/token", auth=False,
                                 body=json.dumps({"client_id": cid,
                                                  "client_secret": secret}).encode())

    def test_clients_list_rotate_delete(self):
        r = self.node.post("/api/v1/tenants", body=b'{"id": "acme", "name": "Acme"}')
        self.assertIn(r.status, (201, 409))
        self.make_user("ada", ["tenant_admin"], tenant="acme")
        self.make_user("clerk", ["scanner"], tenant="acme")
        ada = self.bearer("ada", tenant="acme")
        # A tenant admin creates clients of its own tenant.
        r = self.call("POST", "/api/v1/clients", {"name": "ERP"}, headers=ada)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["tenant"], "acme")
        cid, secret = r.json["client_id"], r.json["client_secret"]
        r = self.call("POST", "/api/v1/clients", {"name": "ERP", "tenant": "default"},
                      headers=ada)
        self.assertError(r, 403, 10403, "forbidden")
        # A tenant admin administers its own tenant only.
        for method, path, body in (("GET", "/api/v1/clients?tenant=default", None),
                                   ("PATCH", "/api/v1/users/ann?tenant=default",
                                    {"disabled": True}),
                                   ("DELETE", "/api/v1/users/ann?tenant=default", None)):
            with self.subTest(method=method, path=path):
                r = self.call(method, path, body, headers=ada)
                self.assertError(r, 403, 10403, "forbidden")
                self.assertIn("acme", r.json["message"])
        r = self.call("GET", "/api/v1/clients", headers=ada)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["tenant"], "acme")
        self.assertEqual([c["client_id"] for c in r.json["clients"]], [cid])
        self.assertEqual(set(r.json["clients"][0]), {"client_id", "name", "created"})
        self.assertNotIn(secret.encode(), r.body)
        op = self.node.get("/api/v1/clients?tenant=acme")
        self.assertStatus(op, 200)
        self.assertEqual(op.json["clients"], r.json["clients"])
        self.assertNotIn(cid, [c["client_id"] for c in self.node.get("/api/v1/clients")
                               .json["clients"]])
        clerk = self.bearer("clerk", tenant="acme")
        self.assertError(self.call("GET", "/api/v1/clients", headers=clerk), 403, 10403,
                         "forbidden")
        tok = self.client_token(cid, secret)
        self.assertStatus(tok, 200)
        ch = {"Authorization": "Bearer " + tok.json["access_token"]}
        self.assertWorks(ch)
        self.assertError(self.call("GET", "/api/v1/clients", headers=ch), 403, 10403,
                         "forbidden")
        app = self.vendor("/api/getAppToken.do", {"appId": cid, "appSecret": secret,
                                                  "tenantid": "acme"})
        self.assertStatus(app, 200)
        app_token = app.json["data"]["app_token"]
        r = self.vendor("/api/login.do", {"user": "clerk", "apptoken": app_token,
                                          "tenantid": "acme", "usertype": "UserName"})
        self.assertStatus(r, 200)
        vh = {"Authorization": "Bearer " + r.json["data"]["access_token"]}
        self.assertWorks(vh)
        # A disabled user is not logged in through the vendor surface either.
        self.assertStatus(self.call("PATCH", "/api/v1/users/clerk?tenant=acme",
                                    {"disabled": True}), 200)
        r = self.vendor("/api/login.do", {"user": "clerk", "apptoken": app_token,
                                          "tenantid": "acme", "usertype": "UserName"})
        self.assertEqual(r.status, 403, r.body)
        self.assertEqual(r.json["errorCode"], "10424")
        self.assertStatus(self.call("PATCH", "/api/v1/users/clerk?tenant=acme",
                                    {"disabled": False}), 200)
        r = self.vendor("/api/login.do", {"user": "clerk", "apptoken": app_token,
                                          "tenantid": "acme", "usertype": "UserName"})
        self.assertStatus(r, 200)
        vh = {"Authorization": "Bearer " + r.json["data"]["access_token"]}
        # Rotation: the new secret once; the old one, its tokens and app tokens stop.
        r = self.call("POST", "/api/v1/clients/%s/secret" % cid, headers=ada)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["client_id"], cid)
        new_secret = r.json["client_secret"]
        self.assertNotEqual(new_secret, secret)
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertRefused(ch, "rotated")
        self.assertError(self.client_token(cid, secret), 401, 10401, "unauthorized")
        r = self.vendor("/api/login.do", {"user": "clerk", "apptoken": app_token,
                                          "tenantid": "acme", "usertype": "UserName"})
        self.assertEqual(r.status, 401, r.body)
        self.assertIn("rotated", r.json["message"])
        # The user sessions opened through the client with the old secret stop too.
        self.assertRefused(vh, "rotated")
        tok = self.client_token(cid, new_secret)
        self.assertStatus(tok, 200)
        ch = {"Authorization": "Bearer " + tok.json["access_token"]}
        self.assertWorks(ch)
        # Not found: unknown, or another tenant's.
        for method, path in (("POST", "/api/v1/clients/c00/secret"),
                             ("DELETE", "/api/v1/clients/c00"),
                             ("POST", "/api/v1/clients/%s/secret?tenant=default" % cid),
                             ("DELETE", "/api/v1/clients/%s?tenant=default" % cid)):
            with self.subTest(method=method, path=path):
                self.assertError(self.call(method, path), 404, 11028, "client_not_found")
        r = self.call("DELETE", "/api/v1/clients/%s" % cid, headers=ada)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["deleted"], True)
        self.assertRefused(ch, "no longer exists")
        self.assertError(self.client_token(cid, new_secret), 401, 10401, "unauthorized")
        self.assertError(self.call("DELETE", "/api/v1/clients/%s" % cid, headers=ada), 404,
                         11028, "client_not_found")
        actions = [a for a, _ in self.audit_actions("acme")]
        self.assertIn("client_secret_rotated", actions)
        self.assertIn("client_deleted", actions)

    # ---- the CLI ----

    def test_cli(self):
        d = self.scratch("cli-admin")
        pw, pw2, own = (os.path.join(d, n) for n in ("pw", "pw2", "own"))
        for path, text in ((pw, "cli password 1\n"), (pw2, "cli password 2\n"),
                           (own, "cli password 2\ncli password 3\n")):
            with open(path, "w") as f:
                f.write(text)

        def cli(*args, token=None, code=0):
            p = run_cli(self.node, *args, token=token)
            self.assertEqual(p.returncode, code, "imgarc %s: %s %s" % (args, p.stdout, p.stderr))
            return p

        cli("user", "create", "cora", "--role", "scanner", "--password-file", pw)
        out = cli("user", "update", "cora", "--name", "Cora M", "--role", "reviewer").stdout
        self.assertIn("cora: name Cora M, roles reviewer, enabled", out)
        show = cli("user", "show", "cora").stdout
        self.assertIn("Cora M", show)
        self.assertIn("reviewer", show)
        self.assertIs(cli_json(cli("user", "show", "cora", "--json"))["disabled"], False)
        self.assertIn("disabled", cli("user", "disable", "cora").stdout)
        line = [l for l in cli("user", "list").stdout.splitlines() if l.startswith("cora ")]
        self.assertTrue(line[0].endswith("Cora M  (disabled)"), line)
        p = cli("login", "cora", "--password-file", pw, code=1)
        self.assertIn("10424", p.stderr)
        self.assertIn("enabled", cli("user", "enable", "cora").stdout)
        out = cli("user", "passwd", "cora", "--password-file", pw2).stdout
        self.assertIn("password reset", out)
        cli("login", "cora", "--password-file", pw, code=1)
        token = cli("login", "cora", "--password-file", pw2).stdout.strip().split("=", 1)[1]
        p = cli("user", "passwd", "--own", "--password-file", own, token=token)
        self.assertIn("password changed", p.stderr)
        self.assertTrue(p.stdout.startswith("export IMGARC_TOKEN="), p.stdout)
        new_token = p.stdout.strip().split("=", 1)[1]
        self.assertNotEqual(new_token, token)
        p = cli("user", "list", token=token, code=1)  # that token stopped
        self.assertIn("revoked", p.stderr)
        p = cli("user", "list", token=new_token, code=1)  # the new one works: no admin
        self.assertIn("10403", p.stderr)
        cli("login", "cora", "--password-file", pw2, code=1)
        cli("login", "cora", "--password-file", own, code=1)  # two lines: not a password
        with open(pw, "w") as f:
            f.write("cli password 3\n")
        cli("login", "cora", "--password-file", pw)
        cli("user", "passwd", "--own", "cora", code=2)  # no USERNAME with --own
        cli("user", "update", "cora", code=2)  # nothing to change
        # Roles.
        cli("role", "create", "clerk", "--permission", "read")
        self.assertIn("permissions now read,capture",
                      cli("role", "update", "clerk", "--permission", "read", "--permission",
                          "capture").stdout)
        cli("user", "update", "cora", "--role", "clerk")
        p = cli("role", "delete", "clerk", code=1)
        self.assertIn("11027", p.stderr)
        self.assertIn("cora", p.stderr)
        self.assertIn("deleted", cli("user", "delete", "cora").stdout)
        self.assertIn("role deleted", cli("role", "delete", "clerk").stdout)
        cli("user", "show", "cora", code=1)
        # Clients.
        created = cli_json(cli("client", "create", "Ledger", "--json"))
        cid = created["client_id"]
        listed = cli("client", "list").stdout
        self.assertIn(cid, listed)
        self.assertIn("Ledger", listed)
        self.assertNotIn(created["client_secret"], listed)
        p = cli("client", "rotate", cid)
        self.assertIn("client_secret", p.stdout)
        self.assertIn("shown only this once", p.stderr)
        self.assertNotIn(created["client_secret"], p.stdout)
        self.assertIn("client deleted", cli("client", "delete", cid).stdout)
        p = cli("client", "delete", cid, code=1)
        self.assertIn("11028", p.stderr)
        self.assertIn("rotate", cli("client", "--help").stdout)


class OwnPasswordBrakeTest(NodeTestCase):
    """Wrong current passwords on POST /api/v1/auth/password meet the per-source brake
    of login before the account lock."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("admin-brake", args=["--login-source-failures", "2"])

    def test_wrong_old_passwords_are_braked(self):
        r = self.node.post("/api/v1/users", body=json.dumps(
            {"username": "bea", "password": PW, "roles": ["scanner"]}).encode())
        self.assertStatus(r, 201)
        r = self.node.request("POST", "/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "bea", "password": PW}).encode())
        self.assertStatus(r, 200)
        h = {"Authorization": "Bearer " + r.json["access_token"]}
        body = json.dumps({"old": "not it", "new": "brand new 1"}).encode()
        for _ in range(2):
            r = self.node.request("POST", "/api/v1/auth/password", body=body, headers=h,
                                  auth=False)
            self.assertError(r, 403, 10403, "forbidden")
        # Even the right one waits now: the brake does not tell passwords apart.
        r = self.node.request("POST", "/api/v1/auth/password", headers=h, auth=False,
                              body=json.dumps({"old": PW, "new": "brand new 1"}).encode())
        self.assertError(r, 429, 10429, "too_many_requests")
        self.assertGreater(int(r.header("retry-after")), 0)
        # Login of that username from this address is braked the same way.
        r = self.node.request("POST", "/api/v1/auth/login", auth=False, body=json.dumps(
            {"username": "bea", "password": PW}).encode())
        self.assertError(r, 429, 10429, "too_many_requests")
        self.assertEqual(self.node.get("/api/v1/users/bea").json["failures"], 2)


if __name__ == "__main__":
    unittest.main()
