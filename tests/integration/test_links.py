"""Signed file links (docs/API.md "Signed links"): POST /api/v1/files/{id}/link answers a
short-lived URL that opens one file without a header, inline for the types a browser
shows and as an attachment otherwise, with the normal download's bytes, ranges, ETag
and HEAD; a tampered link is 403, an expired one 410; no token rides in it; and it
opens only while the user or client it was made for still may act and still sees the
file. Against a real node."""

import base64
import json
import time

from imgarc_node import NodeTestCase, blake2b_hex, make_jpg, make_pdf, make_xml_invoice

PW = "correct horse battery"
# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def link_path(answer):
    url = answer.json["url"]
    return url[url.index("/api/v1/links/"):]


def payload(path):
    """The signed payload of a link (the part between the prefix and the MAC)."""
    token = path[len("/api/v1/links/"):]
    body = token[len("imglnk1."):token.rindex(".")]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


class LinksTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("links", args=["--link-ttl-s", "600"])

    # ---- helpers ----

    def json_call(self, method, path, obj, **kw):
        return self.node.request(method, path, body=json.dumps(obj).encode(), **kw)

    def user(self, username, roles, grants=None):
        r = self.json_call("POST", "/api/v1/users",
                           {"username": username, "password": PW, "roles": roles})
        self.assertStatus(r, 201)
        if grants is not None:
            r = self.json_call("PUT", "/api/v1/users/%s/grants" % username, {"grants": grants})
            self.assertStatus(r, 200)
        r = self.json_call("POST", "/api/v1/auth/login", {"username": username, "password": PW},
                           auth=False)
        self.assertStatus(r, 200)
        return r.json["access_token"]

    def link(self, file_id, token=None):
        auth = True if token is None else "Bearer " + token
        r = self.node.request("POST", "/api/v1/files/%s/link" % file_id, auth=auth)
        self.assertStatus(r, 200)
        return r

    def open(self, path, **kw):
        return self.node.request("GET", path, auth=False, **kw)

    def captured(self, image_no, data, name, org=None):
        if org is not None:
            r = self.node.pool_push({"image_no": image_no, "org": org})
            self.assertStatus(r, 201)
        r = self.node.upload(image_no, data, name=name)
        self.assertStatus(r, 201)
        return r.json["file_id"]

    # ---- tests ----

    def test_inline_for_what_a_browser_shows_attachment_otherwise(self):
        cases = [  # name, bytes, inline, content type, sandboxed
            ("scan.pdf", make_pdf(2), True, "application/pdf", False),
            ("photo.jpg", make_jpg(4000), True, "image/jpeg", True),
            ("pixel.png", PNG, True, "image/png", True),
            ("notes.txt", b"<script>alert(1)</script>\n", True, "text/plain", True),
            ("invoice.xml", make_xml_invoice(), False, None, True),
            ("blob.bin", bytes(range(256)) * 8, False, None, True),
        ]
        for name, data, inline, ctype, sandboxed in cases:
            with self.subTest(name=name):
                fid = self.captured("LK-TYPES", data, name)
                r = self.link(fid)
                self.assertEqual(r.json["file_id"], fid)
                self.assertEqual(r.json["expires_in"], 600)
                self.assertEqual(r.header("cache-control"), "no-store")
                got = self.open(link_path(r))
                self.assertStatus(got, 200)
                self.assertEqual(blake2b_hex(got.body), blake2b_hex(data))
                disposition = got.header("content-disposition")
                self.assertTrue(disposition.startswith("inline" if inline else "attachment"),
                                disposition)
                self.assertIn(name, disposition)
                if ctype is not None:
                    self.assertTrue(got.header("content-type").startswith(ctype),
                                    got.header("content-type"))
                self.assertEqual(got.header("x-content-type-options"), "nosniff")
                csp = got.header("content-security-policy")
                if sandboxed:
                    self.assertIn("sandbox", csp)
                    self.assertIn("default-src 'none'", csp)
                else:
                    self.assertIsNone(csp)  # the browser's PDF viewer needs its scripts
                # The header-authenticated download stays an attachment.
                native = self.node.content(fid)
                self.assertTrue(native.header("content-disposition").startswith("attachment"))

    def test_ranges_etag_and_head_as_the_download(self):
        data = make_pdf(6)
        fid = self.captured("LK-RANGE", data, "six.pdf")
        path = link_path(self.link(fid))
        full = self.open(path)
        self.assertStatus(full, 200)
        self.assertEqual(full.header("accept-ranges"), "bytes")
        self.assertEqual(full.header("etag"), self.node.content(fid).header("etag"))
        part = self.open(path, headers={"Range": "bytes=100-199"})
        self.assertStatus(part, 206)
        self.assertEqual(part.body, data[100:200])
        self.assertEqual(part.header("content-range"), "bytes 100-199/%d" % len(data))
        tail = self.open(path, headers={"Range": "bytes=-10"})
        self.assertStatus(tail, 206)
        self.assertEqual(tail.body, data[-10:])
        bad = self.open(path, headers={"Range": "bytes=%d-" % (len(data) + 10)})
        self.assertStatus(bad, 416)
        same = self.open(path, headers={"If-None-Match": full.header("etag")})
        self.assertStatus(same, 304)
        self.assertEqual(same.body, b"")
        head = self.node.request("HEAD", path, auth=False)
        self.assertStatus(head, 200)
        self.assertEqual(head.header("content-length"), str(len(data)))
        self.assertEqual(head.body, b"")

    def test_no_token_rides_in_the_url(self):
        token = self.user("lk-clerk", ["reviewer"], grants=[{"org": "*"}])
        fid = self.captured("LK-URL", make_jpg(3000), "a.jpg")
        r = self.link(fid, token)
        path = link_path(r)
        self.assertTrue(path.startswith("/api/v1/links/imglnk1."))
        self.assertNotIn(token, r.json["url"])
        self.assertNotIn(token.split(".")[-1], r.json["url"])
        p = payload(path)
        self.assertEqual(p["t"], "default")
        self.assertEqual(p["f"], fid)
        self.assertEqual(p["u"], "lk-clerk")
        self.assertNotIn("access_token", json.dumps(p))
        # The operator token never names itself in a link.
        p = payload(link_path(self.link(fid)))
        self.assertEqual(set(p), {"t", "f", "e"})

    def test_tampered_or_cut_links_are_refused(self):
        fid = self.captured("LK-TAMPER", make_jpg(2000), "t.jpg")
        path = link_path(self.link(fid))
        token = path[len("/api/v1/links/"):]
        other = self.captured("LK-TAMPER", make_jpg(2100, seed=7), "u.jpg")
        # The payload of a link to another file with the first link's MAC.
        body = token[len("imglnk1."):token.rindex(".")]
        p = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        p["f"] = other
        swapped = base64.urlsafe_b64encode(json.dumps(p, sort_keys=True,
                                                      separators=(",", ":")).encode())
        swapped = "imglnk1." + swapped.decode().rstrip("=") + token[token.rindex("."):]
        flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
        for bad in (flipped, token[:40], swapped, token.replace("imglnk1.", "imgevt1."),
                    "imgarc1.x.y"):
            with self.subTest(bad=bad[:48]):
                r = self.open("/api/v1/links/" + bad)
                self.assertError(r, 403, 10403, "forbidden")
                self.assertIn("link", r.json["message"])
        r = self.open("/api/v1/links/" + "x" * 3000)
        self.assertError(r, 400, 10400, "bad_request")
        self.assertIn("too long", r.json["message"])
        self.assertError(self.node.post("/api/v1/files/f-nothing/link"), 404, 11003,
                         "file_not_found")

    def test_a_users_link_ends_with_the_users_access(self):
        for org in ("lk-east", "lk-west"):
            self.assertStatus(self.json_call("POST", "/api/v1/orgs",
                                             {"id": org, "name": org.upper()}), 201)
        fid = self.captured("LK-EAST", make_jpg(2500), "e.jpg", org="lk-east")
        token = self.user("lk-ann", ["reviewer"], grants=[{"org": "lk-east"}])
        path = link_path(self.link(fid, token))
        self.assertStatus(self.open(path), 200)
        # Outside the user's grants: no link at all.
        west = self.captured("LK-WEST", make_jpg(2600), "w.jpg", org="lk-west")
        r = self.node.request("POST", "/api/v1/files/%s/link" % west, auth="Bearer " + token)
        self.assertError(r, 404, 11003, "file_not_found")
        # The grant taken away: the link made before shows nothing either.
        self.assertStatus(self.json_call("PUT", "/api/v1/users/lk-ann/grants",
                                         {"grants": [{"org": "lk-west"}]}), 200)
        self.assertError(self.open(path), 404, 11003, "file_not_found")
        self.assertStatus(self.json_call("PUT", "/api/v1/users/lk-ann/grants",
                                         {"grants": [{"org": "lk-east"}]}), 200)
        self.assertStatus(self.open(path), 200)
        # Disabled: every link of the user stops at once, and says why.
        self.assertStatus(self.json_call("PATCH", "/api/v1/users/lk-ann", {"disabled": True}),
                          200)
        r = self.open(path)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("no longer opens", r.json["message"])
        self.assertIn("disabled", r.json["message"])
        # Enabled again, the old token's links stay dead (the generation moved).
        self.assertStatus(self.json_call("PATCH", "/api/v1/users/lk-ann", {"disabled": False}),
                          200)
        self.assertError(self.open(path), 403, 10403, "forbidden")
        # A new sign-in gets links that work; deleting the user ends them.
        token = self.json_call("POST", "/api/v1/auth/login",
                               {"username": "lk-ann", "password": PW}, auth=False).json
        path = link_path(self.link(fid, token["access_token"]))
        self.assertStatus(self.open(path), 200)
        self.assertStatus(self.node.request("DELETE", "/api/v1/users/lk-ann"), 200)
        r = self.open(path)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("no longer exists", r.json["message"])

    def test_a_logged_out_tokens_links_end(self):
        fid = self.captured("LK-OUT", make_jpg(2200), "o.jpg")
        token = self.user("lk-bob", ["reviewer"], grants=[{"org": "*"}])
        path = link_path(self.link(fid, token))
        self.assertStatus(self.open(path), 200)
        r = self.node.request("POST", "/api/logout.do", auth=False,
                              body=json.dumps({"access_token": token}).encode(),
                              headers={"Content-Type": "application/json"})
        self.assertStatus(r, 200)
        self.assertError(self.open(path), 403, 10403, "forbidden")

    def test_a_clients_link_ends_when_its_secret_is_rotated(self):
        r = self.json_call("POST", "/api/v1/clients", {"name": "erp"})
        self.assertStatus(r, 201)
        cid, secret = r.json["client_id"], r.json["client_secret"]
        r = self.json_call("POST", "/api/v1/auth/token",
                           {"client_id": cid, "client_secret": secret}, auth=False)
        self.assertStatus(r, 200)
        fid = self.captured("LK-CLIENT", make_jpg(2300), "c.jpg")
        path = link_path(self.link(fid, r.json["access_token"]))
        self.assertEqual(payload(path)["c"], cid)
        self.assertStatus(self.open(path), 200)
        self.assertStatus(self.node.post("/api/v1/clients/%s/secret" % cid), 200)
        r = self.open(path)
        self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("rotated", r.json["message"])


class ExpiredLinksTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("links-expiry", args=["--link-ttl-s", "1"])

    def test_an_expired_link_is_gone(self):
        r = self.node.upload("LK-EXP", make_jpg(2000), name="x.jpg")
        self.assertStatus(r, 201)
        r = self.node.post("/api/v1/files/%s/link" % r.json["file_id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["expires_in"], 1)
        path = link_path(r)
        self.assertStatus(self.node.request("GET", path, auth=False), 200)
        time.sleep(1.3)
        r = self.node.request("GET", path, auth=False)
        self.assertError(r, 410, 10410, "gone")
        self.assertIn("expired", r.json["message"])
