"""The web console as imgarcd serves it (api/console.c): the page and every file of the
build's manifest byte for byte, the security headers, ETag and 304, gzip by
Accept-Encoding, refusals (unknown file, traversal forms, wrong method), the headers
every answer carries (nosniff; no-store on JSON), and GET /api/v1/auth/me for each kind
of token."""

import datetime
import gzip
import json
import os
import unittest

from imgarc_node import BIN_DIR, NodeTestCase

CSP = ("default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
       "img-src 'self' blob: data:; font-src 'self'; connect-src 'self'; worker-src 'self'; "
       "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
PERMISSIONS = "camera=(), microphone=(), geolocation=(), fullscreen=(self)"
DIST = os.path.join(BIN_DIR, "console-dist")
ALL_PERMS = ["read", "capture", "edit", "delete", "amend", "submit", "match", "review",
             "admin", "hold"]


def load_manifest():
    with open(os.path.join(DIST, "manifest.json"), encoding="utf-8") as f:
        return json.load(f)


@unittest.skipUnless(os.path.exists(os.path.join(DIST, "manifest.json")),
                     "built with -DIMGARC_CONSOLE=OFF (no console-dist)")
class ConsoleServingTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("console")
        cls.manifest = load_manifest()

    def get(self, path, method="GET", **headers):
        return self.node.request(method, path, headers=headers, auth=False)

    def file_bytes(self, entry):
        with open(os.path.join(DIST, entry["file"]), "rb") as f:
            return f.read()

    def page_entry(self):
        return next(e for e in self.manifest["files"] if e["path"] == "/")

    def assertPageHeaders(self, r):
        self.assertEqual(r.header("content-security-policy"), CSP)
        self.assertEqual(r.header("x-frame-options"), "DENY")
        self.assertEqual(r.header("x-content-type-options"), "nosniff")
        self.assertEqual(r.header("referrer-policy"), "same-origin")
        self.assertEqual(r.header("cross-origin-opener-policy"), "same-origin")
        self.assertEqual(r.header("permissions-policy"), PERMISSIONS)

    def test_page(self):
        want = self.file_bytes(self.page_entry())
        r = self.get("/")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, want)
        self.assertEqual(r.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual(r.header("cache-control"), "no-cache")
        self.assertRegex(r.header("etag"), r'^"[0-9a-f]{32}"$')
        self.assertEqual(len(r.header_all("content-security-policy")), 1)
        self.assertEqual(len(r.header_all("x-content-type-options")), 1)
        self.assertPageHeaders(r)
        self.assertCommonHeaders(r)
        self.assertIn(b"<script type=\"module\"", r.body)
        # The page names the hashed entry points, each one in the manifest.
        paths = {e["path"] for e in self.manifest["files"]}
        for line in r.body.decode().split('"'):
            if line.startswith("/assets/") and not line.endswith("/"):
                self.assertIn(line, paths)

    def test_head(self):
        r = self.get("/", method="HEAD")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, b"")
        self.assertEqual(int(r.header("content-length")), len(self.file_bytes(self.page_entry())))
        self.assertPageHeaders(r)
        g = self.get("/", method="HEAD", **{"Accept-Encoding": "gzip"})
        self.assertStatus(g, 200)
        self.assertEqual(g.header("content-encoding"), "gzip")
        self.assertEqual(g.body, b"")

    def test_etag_gives_304(self):
        for entry in (self.page_entry(), self.manifest["files"][0]):
            r = self.get(entry["path"])
            self.assertStatus(r, 200)
            etag = r.header("etag")
            for inm in (etag, "W/" + etag, '"nope", ' + etag, "*", ' "x" ,W/%s ' % etag):
                n = self.get(entry["path"], **{"If-None-Match": inm})
                self.assertStatus(n, 304, inm)
                self.assertEqual(n.body, b"")
                self.assertEqual(n.header("etag"), etag)
                self.assertIsNone(n.header("content-length"))
            for inm in ('"nope"', etag[:-2] + '"', "", "W/"):
                n = self.get(entry["path"], **{"If-None-Match": inm})
                self.assertStatus(n, 200, inm)
                self.assertEqual(n.body, self.file_bytes(entry))
        # A conditional HEAD too.
        n = self.get("/", method="HEAD", **{"If-None-Match": self.get("/").header("etag")})
        self.assertStatus(n, 304)

    def test_gzip_by_accept_encoding(self):
        js = max((e for e in self.manifest["files"] if e["path"].endswith(".mjs")),
                 key=lambda e: len(self.file_bytes(e)))  # the pdf.js worker, large
        want = self.file_bytes(js)
        plain = self.get(js["path"])
        self.assertStatus(plain, 200)
        self.assertIsNone(plain.header("content-encoding"))
        self.assertEqual(plain.header("vary"), "Accept-Encoding")
        self.assertEqual(plain.body, want)
        for ae in ("gzip", "gzip, deflate, br", "br;q=1.0, GZIP;q=0.5", "*", "x-gzip",
                   "identity;q=1, *;q=0.1", " gzip ; q=1 "):
            r = self.get(js["path"], **{"Accept-Encoding": ae})
            self.assertStatus(r, 200)
            self.assertEqual(r.header("content-encoding"), "gzip", ae)
            self.assertEqual(r.header("vary"), "Accept-Encoding")
            self.assertEqual(int(r.header("content-length")), len(r.body))
            self.assertLess(len(r.body), len(want) * 0.9)
            self.assertEqual(gzip.decompress(r.body), want, ae)
            self.assertEqual(r.header("etag"), plain.header("etag"))
        for ae in ("identity", "gzip;q=0", "gzip;q=0.000, *", "*;q=0", "br, deflate",
                   "gzip;q=2", "gzip;q=x", "gzips", ""):
            r = self.get(js["path"], **{"Accept-Encoding": ae})
            self.assertStatus(r, 200)
            self.assertIsNone(r.header("content-encoding"), ae)
            self.assertEqual(r.body, want, ae)

    def test_every_manifest_file(self):
        files = self.manifest["files"]
        self.assertGreater(len(files), 10)
        for entry in files:
            want = self.file_bytes(entry)
            r = self.get(entry["path"], **{"Accept-Encoding": "gzip"})
            self.assertStatus(r, 200, entry["path"])
            self.assertEqual(r.header("content-type"), entry["type"], entry["path"])
            body = r.body
            if r.header("content-encoding") == "gzip":
                body = gzip.decompress(body)
                self.assertLessEqual(len(r.body), len(want) * 0.9, entry["path"])
            else:
                self.assertIsNone(r.header("content-encoding"))
            self.assertEqual(body, want, entry["path"])
            self.assertEqual(r.header("x-content-type-options"), "nosniff")
            if entry["immutable"]:
                self.assertEqual(r.header("cache-control"),
                                 "public, max-age=31536000, immutable", entry["path"])
            else:
                self.assertEqual(r.header("cache-control"), "no-cache", entry["path"])
            if entry["path"].endswith((".js", ".mjs")):
                self.assertEqual(r.header("content-security-policy"), CSP, entry["path"])
            elif entry["path"] != "/":
                self.assertIsNone(r.header("content-security-policy"), entry["path"])

    def test_refusals(self):
        asset = self.manifest["files"][0]["path"]
        for path in ("/assets/nope.js", "/assets/", asset + "x", asset.upper(),
                     "/assets/..%2f..%2fetc%2fpasswd", "/assets/%2e%2e/%2e%2e/etc/passwd",
                     "/assets/../../etc/passwd", "/assets//" + asset[8:],
                     "/assets/." + asset[7:], asset.replace("/", "%2f")[0:] + "",
                     "/assets/x%00.js", "/assets/%252e%252e%252fetc"):
            r = self.get(path)
            self.assertIn(r.status, (400, 404), path)
            self.assertTrue(r.header("content-type", "").startswith("application/json"), path)
            self.assertNotIn(b"root:", r.body)
            self.assertEqual(r.header("x-content-type-options"), "nosniff", path)
        self.assertError(self.get("/assets/nope.js"), 404, 10404, "not_found")
        r = self.node.request("POST", "/", body=b"x", auth=False)
        self.assertError(r, 405, 10405, "method_not_allowed")
        self.assertEqual(r.header("allow"), "GET, HEAD")
        r = self.node.request("DELETE", asset, auth=False)
        self.assertError(r, 405, 10405, "method_not_allowed")
        # The vendor's event page keeps its own path.
        self.assertNotEqual(self.get("/index.html").header("content-type"),
                            "text/html; charset=utf-8")

    def test_json_answers_carry_nosniff_and_no_store(self):
        for r in (self.get("/api/v1/version"), self.get("/assets/nope.js"),
                  self.node.get("/api/v1/bills"), self.get("/api/v1/bills")):
            self.assertTrue(r.header("content-type").startswith("application/json"))
            self.assertEqual(r.header_all("x-content-type-options"), ["nosniff"])
            self.assertEqual(r.header_all("cache-control"), ["no-store"])
        m = self.get("/metrics")
        self.assertEqual(m.header("x-content-type-options"), "nosniff")
        self.assertIsNone(m.header("cache-control"))


def console_built():
    """Whether this build has the console (CMakeCache.txt's IMGARC_CONSOLE)."""
    try:
        with open(os.path.join(BIN_DIR, "CMakeCache.txt"), encoding="utf-8") as f:
            return "IMGARC_CONSOLE:BOOL=OFF" not in f.read()
    except OSError:
        return True


@unittest.skipIf(console_built(), "built with the console (-DIMGARC_CONSOLE=ON)")
class ConsoleOffTest(NodeTestCase):
    def test_console_missing_says_why(self):
        node = self.start_node("console-off")
        for path in ("/", "/assets/app.js"):
            r = node.request("GET", path, auth=False)
            body = self.assertError(r, 404, 10404, "not_found")
            self.assertIn("-DIMGARC_CONSOLE=OFF", body["message"])


class AuthMeTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("authme", args=["--token-ttl-s", "600"])

    def post_json(self, path, obj, **kw):
        return self.node.request("POST", path, body=json.dumps(obj).encode(), **kw)

    def me(self, auth):
        return self.node.request("GET", "/api/v1/auth/me", auth=auth)

    def assertExpiresIn(self, text, seconds):
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        left = (t - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        self.assertGreater(left, seconds - 60)
        self.assertLessEqual(left, seconds + 5)

    def test_user(self):
        self.assertStatus(self.post_json("/api/v1/orgs", {"id": "hq", "name": "HQ"}), 201)
        self.assertStatus(self.post_json("/api/v1/orgs", {"id": "east", "name": "East",
                                                          "parent": "hq"}), 201)
        self.assertStatus(self.post_json("/api/v1/roles", {"name": "matcher",
                                                           "permissions": ["match", "edit"]}),
                          201)
        self.assertStatus(self.post_json("/api/v1/users", {
            "username": "amy", "password": "correct horse battery", "name": "Amy Li",
            "roles": ["scanner", "matcher"]}), 201)
        r = self.node.request("PUT", "/api/v1/users/amy/grants", body=json.dumps(
            {"grants": [{"org": "hq", "include_children": True}, {"org": "west"}]}).encode())
        self.assertIn(r.status, (200, 400))
        if r.status == 400:  # an unknown organisation is refused: grant known ones only
            r = self.node.request("PUT", "/api/v1/users/amy/grants", body=json.dumps(
                {"grants": [{"org": "hq", "include_children": True},
                            {"org": "east"}]}).encode())
        self.assertStatus(r, 200)
        login = self.post_json("/api/v1/auth/login", {"username": "amy",
                                                      "password": "correct horse battery"},
                               auth=False)
        self.assertStatus(login, 200)
        r = self.me("Bearer " + login.json["access_token"])
        self.assertStatus(r, 200)
        me = r.json
        self.assertEqual(set(me), {"kind", "tenant", "username", "name", "roles",
                                   "permissions", "grants", "admin", "expires"})
        self.assertEqual(me["kind"], "user")
        self.assertEqual(me["tenant"], "default")
        self.assertEqual(me["username"], "amy")
        self.assertEqual(me["name"], "Amy Li")
        self.assertEqual(me["roles"], ["scanner", "matcher"])
        self.assertEqual(me["permissions"], ["read", "capture", "edit", "submit", "match"])
        self.assertEqual(me["grants"][0], {"org": "hq", "include_children": True})
        self.assertEqual(me["grants"][1]["include_children"], False)
        self.assertEqual(len(me["grants"]), 2)
        self.assertIs(me["admin"], False)
        self.assertExpiresIn(me["expires"], 600)
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertEqual(r.header("x-content-type-options"), "nosniff")
        # Another tenant's view is refused, as for any route.
        r = self.node.request("GET", "/api/v1/auth/me?tenant=other",
                              auth="Bearer " + login.json["access_token"])
        self.assertError(r, 403, 10403, "forbidden")

    def test_tenant_admin(self):
        self.assertStatus(self.post_json("/api/v1/users", {
            "username": "boss", "password": "correct horse battery",
            "roles": ["tenant_admin"]}), 201)
        login = self.post_json("/api/v1/auth/login", {"username": "boss",
                                                      "password": "correct horse battery"},
                               auth=False)
        me = self.me("Bearer " + login.json["access_token"]).json
        self.assertEqual(me["permissions"], ALL_PERMS)
        self.assertIs(me["admin"], True)
        self.assertEqual(me["grants"], [{"org": "*", "include_children": True}])

    def test_client(self):
        r = self.post_json("/api/v1/clients", {"name": "The ERP"})
        self.assertStatus(r, 201)
        tok = self.post_json("/api/v1/auth/token", {"client_id": r.json["client_id"],
                                                    "client_secret": r.json["client_secret"]},
                             auth=False)
        self.assertStatus(tok, 200)
        r = self.me("Bearer " + tok.json["access_token"])
        self.assertStatus(r, 200)
        me = r.json
        self.assertEqual(me["kind"], "client")
        self.assertEqual(me["tenant"], "default")
        self.assertIsNone(me["username"])
        self.assertEqual(me["name"], "The ERP")
        self.assertEqual(me["roles"], [])
        self.assertEqual(me["permissions"], ALL_PERMS[:-2])  # neither admin nor hold
        self.assertIs(me["admin"], False)
        self.assertEqual(me["grants"], [{"org": "*", "include_children": True}])
        self.assertExpiresIn(me["expires"], 600)

    def test_operator(self):
        r = self.me(True)
        self.assertStatus(r, 200)
        me = r.json
        self.assertEqual(me["kind"], "operator")
        self.assertEqual(me["tenant"], "default")
        self.assertIsNone(me["username"])
        self.assertEqual(me["name"], "operator")
        self.assertEqual(me["permissions"], ALL_PERMS)
        self.assertIs(me["admin"], True)
        self.assertIsNone(me["expires"])
        # The operator's ?tenant= need not exist yet.
        r = self.node.request("GET", "/api/v1/auth/me?tenant=not-yet", auth=True)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["tenant"], "not-yet")

    def test_without_or_with_a_bad_token(self):
        r = self.me(False)
        self.assertError(r, 401, 10401, "unauthorized")
        self.assertEqual(r.header("www-authenticate"), "Bearer")
        self.assertEqual(r.header("cache-control"), "no-store")
        r = self.me("Bearer imgarc1.eyJ0IjoiZGVmYXVsdCJ9.AAAA")
        self.assertError(r, 401, 10401, "unauthorized")
        r = self.node.request("POST", "/api/v1/auth/me", auth=True)
        self.assertError(r, 405, 10405, "method_not_allowed")


if __name__ == "__main__":
    unittest.main()
