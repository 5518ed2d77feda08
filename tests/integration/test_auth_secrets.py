"""Authentication and secrets against a real node: who reads the tenant series of
/metrics, the modes of the data dir and of every file holding a secret, login answers
that do not tell which usernames exist, throttling that does not let a stranger lock
an account, locking that revokes tokens, operator token rules, and usage limited to a
user's grants."""

import http.client
import json
import os
import re
import stat
import subprocess

from imgarc_node import (IMGARCD, TOKEN, Node, NodeTestCase, _from_httpclient,
                         random_bytes)

PASSWORD = "correct horse battery"


def run_imgarcd(*args, timeout=20):
    return subprocess.run([IMGARCD] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def write_secret(path, text, mode):
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, mode)


class UserNodeMixin:
    """Users and logins on self.node, from any loopback source address."""

    def post_json(self, path, obj, headers=None, auth=True, source="127.0.0.1"):
        hs = {"Content-Type": "application/json"}
        if auth is True:
            hs.update(self.node.auth_headers())
        hs.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.node.http_port, timeout=60,
                                          source_address=(source, 0))
        try:
            conn.request("POST", path, body=json.dumps(obj).encode(), headers=hs)
            return _from_httpclient(conn.getresponse())
        finally:
            conn.close()

    def make_user(self, username, roles=("scanner",), password=PASSWORD):
        r = self.post_json("/api/v1/users", {"username": username, "password": password,
                                             "roles": list(roles)})
        self.assertStatus(r, 201)
        return password

    def login(self, username, password, source="127.0.0.1"):
        return self.post_json("/api/v1/auth/login", {"username": username,
                                                     "password": password},
                              auth=False, source=source)

    def bearer(self, username, password=PASSWORD, source="127.0.0.1"):
        r = self.login(username, password, source)
        self.assertStatus(r, 200)
        return {"Authorization": "Bearer " + r.json["access_token"]}

    def users(self):
        return {u["username"]: u for u in self.node.get("/api/v1/users").json["users"]}


class MetricsTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        d = Node("metrics-tok").data
        os.makedirs(d, exist_ok=True)
        cls.metrics_token = "scrape-token-0123456789abcdef"
        cls.token_file = os.path.join(d, "..", os.path.basename(d) + "-metrics-token")
        write_secret(cls.token_file, cls.metrics_token, 0o600)
        cls.node = cls.start_class_node("metrics", args=["--metrics-token-file",
                                                         cls.token_file])
        cls.addClassCleanup(os.unlink, cls.token_file)

    def test_tenant_series_need_a_token(self):
        anon = self.node.get("/metrics", auth=False)
        self.assertStatus(anon, 200)
        text = anon.body.decode()
        self.assertIn("imgarc_http_requests_total", text)
        self.assertNotIn("tenant=", text)
        self.assertNotIn("imgarc_license_expiry_seconds", text)
        self.assertNotIn("imgarc_tenant_quota_used_ratio", text)
        for token in (TOKEN, self.metrics_token):
            with self.subTest(token=token[:6]):
                r = self.node.get("/metrics", auth="Bearer " + token)
                self.assertStatus(r, 200)
                self.assertIn('imgarc_license_expiry_seconds{tenant="default"}', r.body.decode())
                self.assertIn('imgarc_tenant_quota_used_ratio{tenant="default"}',
                              r.body.decode())
        # A wrong token is told, not served the node series silently.
        r = self.node.get("/metrics", auth="Bearer " + "x" * 30)
        self.assertError(r, 401, 10401, "unauthorized")
        # The scrape token is for /metrics only.
        r = self.node.get("/api/v1/bills", auth="Bearer " + self.metrics_token)
        self.assertError(r, 401, 10401, "unauthorized")


class StartupTest(NodeTestCase):
    """What a node refuses at start, and what it creates."""

    def test_data_dir_and_secret_files_are_private(self):
        old = os.umask(0o022)
        try:
            node = Node("modes")
            os.makedirs(node.data, exist_ok=True)
            os.chmod(node.data, 0o777)
            self.addCleanup(node.cleanup)
            node.start()
        finally:
            os.umask(old)
        # Something in every store: a user (password hash), a webhook (its secret),
        # a client (secret hash), a file (a blob).
        self.assertStatus(node.request("POST", "/api/v1/users", body=json.dumps(
            {"username": "mo", "password": PASSWORD, "roles": ["scanner"]}).encode()), 201)
        self.assertStatus(node.request("POST", "/api/v1/clients", body=b'{"name": "erp"}'), 201)
        self.assertStatus(node.upload("MODE-1", random_bytes(3000, seed=3), name="a.pdf"), 201)
        node.stop()
        self.assertEqual(stat.S_IMODE(os.stat(node.data).st_mode), 0o700)
        self.assertIn("had mode 777", node.log_text(whole=True))
        checked = 0
        for root, dirs, files in os.walk(node.data):
            for name in dirs + files:
                path = os.path.join(root, name)
                if path == node.log_path:
                    continue  # written by the test harness, not the node
                mode = stat.S_IMODE(os.lstat(path).st_mode)
                with self.subTest(path=os.path.relpath(path, node.data)):
                    self.assertEqual(mode & 0o077, 0, "%s has mode %o" % (path, mode))
                checked += 1
        self.assertGreater(checked, 10)

    def test_secret_files_readable_by_others_are_refused(self):
        d = self.scratch("secret-modes")
        secret = os.path.join(d, "cluster-secret")
        write_secret(secret, "s" * 40, 0o644)
        p = run_imgarcd("--data", os.path.join(d, "data"), "--cluster-secret-file", secret,
                        "--bootstrap-token", TOKEN)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("chmod 600", p.stderr)
        self.assertIn(secret, p.stderr)
        mt = os.path.join(d, "metrics-token")
        write_secret(mt, "m" * 40, 0o640)
        p = run_imgarcd("--data", os.path.join(d, "data"), "--metrics-token-file", mt,
                        "--bootstrap-token", TOKEN)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("chmod 600", p.stderr)
        os.chmod(mt, 0o600)
        write_secret(mt, "short", 0o600)
        p = run_imgarcd("--data", os.path.join(d, "data"), "--metrics-token-file", mt,
                        "--bootstrap-token", TOKEN)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("at least 16", p.stderr)

    def test_short_operator_tokens_are_refused(self):
        d = self.scratch("short-token")
        p = run_imgarcd("--data", os.path.join(d, "data"), "--bootstrap-token", "abc")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--bootstrap-token has 3 bytes", p.stderr)
        self.assertIn("at least 16", p.stderr)
        self.assertNotIn("abc", p.stdout)
        # A short token left in the data dir's token file is refused too.
        os.makedirs(os.path.join(d, "data2"), mode=0o700)
        write_secret(os.path.join(d, "data2", "bootstrap-token"), "tiny", 0o600)
        p = run_imgarcd("--data", os.path.join(d, "data2"))
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("bootstrap-token holds a token of 4 bytes", p.stderr)

    def test_generated_token_is_shown_once(self):
        node = Node("gen-token", token=None)
        self.addCleanup(node.cleanup)
        node.start()
        with open(os.path.join(node.data, "bootstrap-token")) as f:
            token = f.read().strip()
        self.assertGreaterEqual(len(token), 32)
        first = node.log_text()
        self.assertEqual(first.count(token), 2, "the first banner shows it (token, export)")
        self.assertStatus(node.get("/api/v1/bills", auth="Bearer " + token), 200)
        node.stop()
        node.start()
        second = node.log_text()
        self.assertNotIn(token, second)
        self.assertIn("the operator token is in %s/bootstrap-token" % node.data, second)
        self.assertStatus(node.get("/api/v1/bills", auth="Bearer " + token), 200)
        node.stop()
        # A token given by flag is never printed.
        node2 = Node("flag-token")
        self.addCleanup(node2.cleanup)
        node2.start()
        printed = [line for line in node2.log_text().splitlines()
                   if not line.startswith("==== test harness")]
        self.assertNotIn(TOKEN, "\n".join(printed))
        self.assertIn("given by --bootstrap-token", "\n".join(printed))


class LoginTest(UserNodeMixin, NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("logins", args=["--login-max-failures", "3"])

    def test_failures_look_the_same_whatever_the_cause(self):
        self.make_user("lena")
        unknown = self.login("nobody-here", "wrong password")
        self.assertError(unknown, 401, 10401, "unauthorized")
        wrong = self.login("lena", "wrong password")
        self.assertError(wrong, 401, 10401, "unauthorized")
        self.login("lena", "wrong password")
        self.login("lena", "wrong password")
        self.assertIsNotNone(self.users()["lena"]["locked_until"], "3 failures lock")
        locked = self.login("lena", "wrong password")
        for r in (wrong, locked):
            self.assertEqual(r.status, unknown.status)
            self.assertEqual({k: r.json[k] for k in ("code", "error", "message")},
                             {k: unknown.json[k] for k in ("code", "error", "message")})
        # Whoever knows the password learns why it does not work.
        self.assertError(self.login("lena", PASSWORD), 403, 10423, "account_locked")
        # Failures while locked neither count nor extend the lock.
        until = self.users()["lena"]["locked_until"]
        self.login("lena", "wrong again", source="127.0.0.3")
        self.assertEqual(self.users()["lena"]["locked_until"], until)

    def test_locking_revokes_the_users_tokens(self):
        self.make_user("tom")
        tom = self.bearer("tom")
        self.assertStatus(self.node.request("GET", "/api/v1/bills", headers=tom, auth=False),
                          200)
        for _ in range(3):
            self.login("tom", "not his password", source="127.0.0.4")
        r = self.node.request("GET", "/api/v1/bills", headers=tom, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertIn("revoked", r.json["message"])
        # An admin unlocks: the old token stays dead, a new login works.
        self.assertStatus(self.node.post("/api/v1/users/tom/unlock", body=b""), 200)
        r = self.node.request("GET", "/api/v1/bills", headers=tom, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        tom2 = self.bearer("tom")
        self.assertStatus(self.node.request("GET", "/api/v1/bills", headers=tom2,
                                            auth=False), 200)
        # The revocation is state: it survives a restart.
        self.node.restart()
        r = self.node.request("GET", "/api/v1/bills", headers=tom, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertStatus(self.node.request("GET", "/api/v1/bills", headers=tom2,
                                            auth=False), 200)


class ThrottleTest(UserNodeMixin, NodeTestCase):
    """Default limits: one source is slowed down; it cannot lock the account."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("throttle")

    def test_one_source_cannot_lock_an_account(self):
        self.make_user("vic")
        for i in range(5):
            self.assertError(self.login("vic", "guess-%d" % i), 401, 10401, "unauthorized")
        # The guessing source must wait, even with the right password...
        r = self.login("vic", PASSWORD)
        self.assertError(r, 429, 10429, "too_many_requests")
        self.assertGreaterEqual(int(r.header("retry-after")), 1)
        # ... but the account is not locked: its owner logs in from elsewhere.
        self.assertIsNone(self.users()["vic"]["locked_until"])
        self.assertStatus(self.login("vic", PASSWORD, source="127.0.0.2"), 200)

    def test_unknown_usernames_are_throttled_alike(self):
        for i in range(5):
            self.assertError(self.login("ghost-user", "guess-%d" % i), 401, 10401,
                             "unauthorized")
        self.assertError(self.login("ghost-user", "guess"), 429, 10429, "too_many_requests")


class UsageGrantsTest(UserNodeMixin, NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("usage-grants")

    def test_restricted_user_sees_its_organisations_usage_only(self):
        for o in ("north", "south"):
            self.assertStatus(self.post_json("/api/v1/orgs", {"id": o, "name": o}), 201)
        for image_no, o in (("UG-N", "north"), ("UG-S", "south")):
            r = self.post_json("/api/v1/pool", {"image_no": image_no, "org": o})
            self.assertIn(r.status, (200, 201))
            self.assertStatus(self.node.upload(image_no, random_bytes(100, seed=7),
                                               name="x.txt"), 201)
        self.make_user("nina")
        r = self.node.request("PUT", "/api/v1/users/nina/grants",
                              body=b'{"grants": [{"org": "north"}]}')
        self.assertStatus(r, 200)
        nina = self.bearer("nina")
        full = self.node.get("/api/v1/tenants/default/usage").json
        self.assertEqual(set(full["by_org"]) & {"north", "south"}, {"north", "south"})
        mine = self.node.request("GET", "/api/v1/tenants/default/usage", headers=nina,
                                 auth=False)
        self.assertStatus(mine, 200)
        self.assertEqual(sorted(mine.json["by_org"]), ["north"])
        self.assertEqual(mine.json["by_org"]["north"], full["by_org"]["north"])
        # The tenant's license and totals stay visible (the quota is shared).
        self.assertEqual(mine.json["quota_bytes"], full["quota_bytes"])


if __name__ == "__main__":
    import unittest
    unittest.main()
