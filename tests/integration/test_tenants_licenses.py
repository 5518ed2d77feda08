"""Tenants, signed licenses and quotas, through real HTTP on a real node.

A fresh cluster's `default` tenant runs on an evaluation license; a new tenant has no
license and cannot capture until an operator installs one signed with a key the node
trusts (--license-pubkey, repeatable). Licenses expire by the clock, cover image
modes, and carry a storage quota and a file count limit that the node enforces before
it reads an upload's body and again when it applies the capture. Every tenant-scoped
endpoint sees only the tenant named by ?tenant=. Licenses, tenants and usage survive a
restart.

Licenses are signed with the CLI (`imgarc license keygen` / `imgarc license sign`).
Documents the CLI cannot make (a payload with a field missing...) are signed here with
a small pure-Python Ed25519 (RFC 8032), checked against the CLI's own signatures."""

import base64
import calendar
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import unittest

from imgarc_node import (NodeTestCase, Response, ResponseReader, build_request, quote,
                         random_bytes, run_cli, scratch_dir)

DAY_MS = 24 * 3600 * 1000
EVAL_QUOTA = 10 * 1024 ** 3
LICENSE_KEYS = {"license_id", "tenant", "issued", "expires", "quota_bytes", "max_files",
                "modes", "installed", "expires_in_days", "warning"}
USAGE_KEYS = {"tenant", "bytes", "files", "bills", "quota_bytes", "max_files",
              "physical_bytes", "by_org", "license", "warnings"}


# ---------------------------------------------------------------------------
# Time
# ---------------------------------------------------------------------------

def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    """The node's spelling of a time: 2026-01-02T03:04:05.678Z."""
    ms = int(ms)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + \
        ".%03dZ" % (ms % 1000)


def parse_rfc3339(s):
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,3}))?Z$", s)
    if m is None:
        raise AssertionError("not an RFC 3339 UTC time: %r" % s)
    secs = calendar.timegm(tuple(int(x) for x in m.groups()[:6]))
    return secs * 1000 + int((m.group(7) or "0").ljust(3, "0"))


# ---------------------------------------------------------------------------
# Ed25519 (RFC 8032), for documents the CLI does not make
# ---------------------------------------------------------------------------

_P = 2 ** 255 - 19
_L = 2 ** 252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P


def _ed_add(a, b):
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    pa = (y1 - x1) * (y2 - x2) % _P
    pb = (y1 + x1) * (y2 + x2) % _P
    pc = 2 * t1 * t2 * _D % _P
    pd = 2 * z1 * z2 % _P
    e, f, g, h = pb - pa, pd - pc, pd + pc, pb + pa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _ed_mul(s, p):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _ed_add(q, p)
        p = _ed_add(p, p)
        s >>= 1
    return q


def _ed_encode(p):
    x, y, z, _ = p
    zi = pow(z, _P - 2, _P)
    x, y = x * zi % _P, y * zi % _P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _ed_base():
    y = 4 * pow(5, _P - 2, _P) % _P
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * pow(2, (_P - 1) // 4, _P) % _P
    if x & 1:
        x = _P - x
    return (x, y, 1, x * y % _P)


_B = _ed_base()


def _sha512_int(*parts):
    return int.from_bytes(hashlib.sha512(b"".join(parts)).digest(), "little")


def ed25519_sign(seed, msg):
    """(signature, public key) of @msg under the 32-byte secret @seed."""
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    pub = _ed_encode(_ed_mul(a, _B))
    r = _sha512_int(h[32:], msg) % _L
    big_r = _ed_encode(_ed_mul(r, _B))
    k = _sha512_int(big_r, pub, msg) % _L
    return big_r + int.to_bytes((r + k * a) % _L, 32, "little"), pub


# ---------------------------------------------------------------------------
# Keys and documents
# ---------------------------------------------------------------------------

class Key:
    """A key pair made by `imgarc license keygen`."""

    def __init__(self, directory):
        p = run_cli(None, "license", "keygen", "--out", directory)
        if p.returncode != 0:
            raise AssertionError("imgarc license keygen exited %d: %s %s"
                                 % (p.returncode, p.stdout, p.stderr))
        self.secret = os.path.join(directory, "license.key")
        self.public = os.path.join(directory, "license.pub")
        with open(self.secret) as f:
            self.seed = bytes.fromhex(f.read().strip())[:32]
        with open(self.public) as f:
            self.public_hex = f.read().strip()

    def sign(self, tenant, expires_ms, quota, modes="basic,sync,match", max_files=None,
             issued_ms=None, license_id=None):
        """The document `imgarc license sign` prints (bytes, posted as is)."""
        args = ["license", "sign", "--key", self.secret, "--tenant", tenant,
                "--expires", rfc3339(expires_ms), "--quota-bytes", str(quota),
                "--modes", modes]
        if max_files is not None:
            args += ["--max-files", str(max_files)]
        if issued_ms is not None:
            args += ["--issued", rfc3339(issued_ms)]
        if license_id is not None:
            args += ["--id", license_id]
        p = run_cli(None, *args)
        if p.returncode != 0:
            raise AssertionError("imgarc %s exited %d: %s %s"
                                 % (" ".join(args), p.returncode, p.stdout, p.stderr))
        doc = json.loads(p.stdout)
        if set(doc) != {"payload", "signature"}:
            raise AssertionError("license sign printed %r" % p.stdout)
        return p.stdout.encode()

    def sign_payload(self, payload):
        """A document for an arbitrary payload text, signed in Python."""
        sig, _ = ed25519_sign(self.seed, payload.encode())
        return json.dumps({"payload": payload,
                           "signature": base64.b64encode(sig).decode()}).encode()


def payload_of(doc):
    return json.loads(json.loads(doc)["payload"])


def tampered(doc, old, new):
    """@doc with @old replaced by @new in its payload, the signature kept."""
    d = json.loads(doc)
    if old not in d["payload"]:
        raise AssertionError("%r not in payload %r" % (old, d["payload"]))
    d["payload"] = d["payload"].replace(old, new, 1)
    return json.dumps(d).encode()


# ---------------------------------------------------------------------------
# One tenant's view of the node
# ---------------------------------------------------------------------------

class Tenant:
    """Requests of one tenant (?tenant=ID on every tenant-scoped endpoint)."""

    def __init__(self, node, tenant):
        self.node = node
        self.id = tenant

    def q(self, path):
        return path + ("&" if "?" in path else "?") + "tenant=" + quote(self.id)

    def push(self, image_no, key=None, **fields):
        fields["image_no"] = image_no
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.node.post(self.q("/api/v1/pool"), json.dumps(fields).encode(),
                              headers=headers)

    def upload_chunked(self, image_no, data):
        """An upload without Content-Length: the size is known only after the body."""
        conn = self.node.connection()
        try:
            conn.putrequest("POST", self.q("/api/v1/bills/%s/files" % quote(image_no)),
                            skip_accept_encoding=True)
            for k, v in self.node.auth_headers().items():
                conn.putheader(k, v)
            conn.putheader("Content-Type", "application/octet-stream")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(data), 4096):
                part = data[i:i + 4096]
                conn.send(b"%x\r\n%s\r\n" % (len(part), part))
            conn.send(b"0\r\n\r\n")
            r = conn.getresponse()
            body = r.read()
            return Response(r.status, r.reason, [(k.lower(), v) for k, v in r.getheaders()],
                            body)
        finally:
            conn.close()

    def upload(self, image_no, data, name=None, **kw):
        return self.node.upload(image_no, data, name=name, query="tenant=" + quote(self.id),
                                **kw)

    def submit(self, image_no):
        return self.node.post(self.q("/api/v1/bills/%s/submit" % quote(image_no)), b"")

    def bill(self, image_no):
        return self.node.get(self.q("/api/v1/bills/%s" % quote(image_no)))

    def status(self, image_no):
        return self.node.get(self.q("/api/v1/bills/%s/status" % quote(image_no)))

    def log(self, image_no):
        return self.node.get(self.q("/api/v1/bills/%s/log" % quote(image_no)))

    def content(self, file_id):
        return self.node.get(self.q("/api/v1/files/%s/content" % quote(file_id)))

    def head_content(self, file_id):
        return self.node.head(self.q("/api/v1/files/%s/content" % quote(file_id)))

    def list(self):
        return self.node.get(self.q("/api/v1/bills?limit=1000"))

    def license(self):
        return self.node.get(self.q("/api/v1/licenses"))

    def install(self, doc, with_tenant=False):
        path = self.q("/api/v1/licenses") if with_tenant else "/api/v1/licenses"
        return self.node.post(path, doc, headers={"Content-Type": "application/json"})

    def usage(self):
        return self.node.get("/api/v1/tenants/%s/usage" % quote(self.id))


class LicenseTestCase(NodeTestCase):
    """Shared set-up: keys, tenant creation, license checks."""

    @classmethod
    def make_keys(cls):
        d = scratch_dir("license-keys")
        cls.addClassCleanup(shutil.rmtree, d, True)
        cls.key = Key(os.path.join(d, "a"))
        cls.key2 = Key(os.path.join(d, "b"))      # trusted too (the flag repeats)
        cls.rogue = Key(os.path.join(d, "rogue"))  # never given to a node

    def create_tenant(self, tenant_id, name=None):
        body = {"id": tenant_id}
        if name is not None:
            body["name"] = name
        r = self.node.post("/api/v1/tenants", json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertStatus(r, 201, "create tenant %s" % tenant_id)
        self.assertEqual(set(r.json), {"id", "name", "created", "index"}, r.json)
        self.assertEqual(r.json["id"], tenant_id)
        return Tenant(self.node, tenant_id)

    def licensed_tenant(self, tenant_id, quota=10 ** 9, modes="basic,sync,match",
                        max_files=None, days=365, issued_ms=None, license_id=None):
        t = self.create_tenant(tenant_id)
        doc = self.key.sign(tenant_id, now_ms() + int(days * DAY_MS), quota, modes=modes,
                            max_files=max_files, issued_ms=issued_ms, license_id=license_id)
        r = t.install(doc)
        self.assertStatus(r, 201, "install license for %s" % tenant_id)
        return t

    def assertLicense(self, lic, doc=None, **want):
        """@lic is a license object of the API; its fields those of @doc's payload."""
        self.assertIsInstance(lic, dict, "license: %r" % (lic,))
        self.assertEqual(set(lic), LICENSE_KEYS, "license keys: %r" % lic)
        if doc is not None:
            p = payload_of(doc)
            self.assertEqual(lic["license_id"], p["license_id"])
            self.assertEqual(lic["tenant"], p["tenant"])
            self.assertEqual(parse_rfc3339(lic["issued"]), parse_rfc3339(p["issued"]))
            self.assertEqual(parse_rfc3339(lic["expires"]), parse_rfc3339(p["expires"]))
            self.assertEqual(lic["quota_bytes"], p["quota_bytes"])
            self.assertEqual(lic["max_files"], p["max_files"])
            self.assertEqual(lic["modes"], p["modes"])
        parse_rfc3339(lic["installed"])
        self.assertIsInstance(lic["expires_in_days"], int)
        self.assertTrue(lic["warning"] is None or isinstance(lic["warning"], str))
        for k, v in want.items():
            self.assertEqual(lic[k], v, "license %s: %r" % (k, lic))
        return lic

    def assertRefusedNoLicense(self, r, what):
        body = self.assertError(r, 403, 10888, "license_expired", msg=what)
        self.assertIn("no license", body["message"], what)
        return body


# ---------------------------------------------------------------------------
# Tenants and licenses on one node that trusts two keys
# ---------------------------------------------------------------------------

class TenantLicenseTest(LicenseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.node = cls.start_class_node(
            "tenants-licenses",
            args=["--license-pubkey", cls.key.public, "--license-pubkey", cls.key2.public])
        cls.started_ms = now_ms()

    # -- the signer of this file -----------------------------------------------

    def test_python_signer_matches_cli(self):
        doc = self.key.sign("anyone", now_ms() + DAY_MS, 1000)
        d = json.loads(doc)
        sig, pub = ed25519_sign(self.key.seed, d["payload"].encode())
        self.assertEqual(pub.hex(), self.key.public_hex)
        self.assertEqual(base64.b64encode(sig).decode(), d["signature"])

    # -- the evaluation license ------------------------------------------------

    def test_default_tenant_has_evaluation_license(self):
        r = self.node.get("/api/v1/licenses")
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        body = r.json
        self.assertEqual(set(body), {"tenant", "license", "history"})
        self.assertEqual(body["tenant"], "default")
        lic = self.assertLicense(body["license"], license_id="evaluation", tenant="default",
                                 quota_bytes=EVAL_QUOTA, max_files=0,
                                 modes=["basic", "sync", "match"])
        issued = parse_rfc3339(lic["issued"])
        expires = parse_rfc3339(lic["expires"])
        self.assertLess(abs(issued - self.started_ms), 120 * 1000,
                        "evaluation issued at cluster creation: %r" % lic)
        self.assertEqual(expires - issued, 30 * DAY_MS, "30 days of evaluation: %r" % lic)
        self.assertEqual(parse_rfc3339(lic["installed"]), issued)
        self.assertIn(lic["expires_in_days"], (29, 30))
        # 30 days left is within the 30-day warning mark.
        self.assertIsInstance(lic["warning"], str)
        self.assertIn("evaluation", lic["warning"])
        self.assertEqual(len(body["history"]), 1, body)
        self.assertEqual(body["history"][0]["license_id"], "evaluation")
        r = self.node.get("/api/v1/licenses?tenant=default")
        self.assertEqual(r.json["license"]["expires"], lic["expires"])

        # Captures work at once.
        d = Tenant(self.node, "default")
        self.assertStatus(self.node.pool_push({"image_no": "EVAL-1", "bill_no": "E1"}), 201)
        data = random_bytes(3000, seed=1)
        self.assertUploaded(self.node.upload("EVAL-1", data, name="a.bin"), "EVAL-1", data)
        self.assertStatus(self.node.submit("EVAL-1"), 200)
        u = d.usage()
        self.assertStatus(u, 200)
        self.assertEqual(u.json["quota_bytes"], EVAL_QUOTA)
        self.assertIsNone(u.json["max_files"], "no file limit: null")
        self.assertGreaterEqual(u.json["bytes"], 3000)

        listed = {t["id"]: t for t in self.node.get("/api/v1/tenants").json["tenants"]}
        self.assertEqual(listed["default"]["license"]["license_id"], "evaluation")
        self.assertEqual(listed["default"]["name"], "Default tenant")

    # -- tenants ----------------------------------------------------------------

    def test_create_and_list_tenants(self):
        before = now_ms()
        r = self.node.post("/api/v1/tenants",
                           json.dumps({"id": "acme-1", "name": "Acme Ltd"}).encode(),
                           headers={"Content-Type": "application/json"})
        self.assertStatus(r, 201)
        self.assertCommonHeaders(r)
        body = r.json
        self.assertEqual(set(body), {"id", "name", "created", "index"})
        self.assertEqual(body["id"], "acme-1")
        self.assertEqual(body["name"], "Acme Ltd")
        self.assertIsInstance(body["index"], int)
        self.assertLessEqual(body["index"], int(r.header("x-imgarc-index")))
        created = parse_rfc3339(body["created"])
        self.assertLessEqual(before - 1000, created)
        self.assertLessEqual(created, now_ms() + 1000)

        # Again: exists, whatever the name.
        for again in ({"id": "acme-1", "name": "Acme Ltd"}, {"id": "acme-1", "name": "Other"},
                      {"id": "acme-1"}):
            r = self.node.post("/api/v1/tenants", json.dumps(again).encode(),
                               headers={"Content-Type": "application/json"})
            self.assertError(r, 409, 11015, "tenant_exists", msg=repr(again))

        # Without a name, the name is the id.
        r = self.node.post("/api/v1/tenants", b'{"id": "acme.2_X"}',
                           headers={"Content-Type": "application/json"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["name"], "acme.2_X")

        for bad in ({"id": ""}, {"id": "has space"}, {"id": "a" * 65}, {"id": "a/b"},
                    {"id": "caf\u00e9"}, {"id": 42}, {"id": None}, {"name": "no id"},
                    {"id": "ok-id-x", "name": 7}, {"id": "ok-id-y", "name": "n" * 257}):
            with self.subTest(body=bad):
                r = self.node.post("/api/v1/tenants", json.dumps(bad).encode(),
                                   headers={"Content-Type": "application/json"})
                self.assertError(r, 400, 11005, "invalid_field")
        for bad in (b"not json", b"[]", b'"acme"', b""):
            with self.subTest(body=bad):
                r = self.node.post("/api/v1/tenants", bad,
                                   headers={"Content-Type": "application/json"})
                self.assertError(r, 400, 11004, "invalid_json")
        # 64 characters is the longest id.
        self.create_tenant("b" * 64)

        r = self.node.post("/api/v1/tenants", b'{"id": "noauth"}', auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        r = self.node.get("/api/v1/tenants", auth=False)
        self.assertError(r, 401, 10401, "unauthorized")

        r = self.node.get("/api/v1/tenants")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"tenants"})
        listed = {t["id"]: t for t in r.json["tenants"]}
        for tid in ("default", "acme-1", "acme.2_X", "b" * 64):
            self.assertIn(tid, listed)
            self.assertEqual(set(listed[tid]), {"id", "name", "created", "license"})
        for bad in ("ok-id-x", "ok-id-y", "noauth"):
            self.assertNotIn(bad, listed)
        self.assertEqual(listed["acme-1"]["name"], "Acme Ltd")
        self.assertEqual(listed["acme-1"]["created"], body["created"])
        self.assertIsNone(listed["acme-1"]["license"])
        self.assertLicense(listed["default"]["license"], license_id="evaluation")

    # -- no license ------------------------------------------------------------

    def test_new_tenant_without_license(self):
        t = self.create_tenant("nolic", "No license yet")
        r = t.license()
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"tenant": "nolic", "license": None, "history": []})

        self.assertRefusedNoLicense(t.push("NL-1", bill_no="B1"), "pool push")
        self.assertRefusedNoLicense(t.upload("NL-1", b"some bytes", name="x.pdf"), "upload")
        self.assertRefusedNoLicense(t.submit("NL-1"), "submit")
        # Refused on the headers: the node answers without waiting for the body.
        s = self.node.socket(timeout=10)
        try:
            s.sendall(build_request(
                "POST", t.q("/api/v1/bills/NL-2/files"),
                headers=dict(self.node.auth_headers(),
                             **{"Content-Type": "application/octet-stream",
                                "Content-Length": str(50 << 20)})))
            r = ResponseReader(s).read("POST")
        finally:
            s.close()
        self.assertRefusedNoLicense(r, "upload refused on its headers")

        # Reads keep working: nothing exists, so 404 of the kind asked for.
        self.assertError(t.bill("NL-1"), 404, 11002, "bill_not_found")
        self.assertError(t.status("NL-1"), 404, 11002, "bill_not_found")
        self.assertError(t.log("NL-1"), 404, 11002, "bill_not_found")
        self.assertError(t.content("f" + "0" * 31), 404, 11003, "file_not_found")
        r = t.list()
        self.assertStatus(r, 200)
        self.assertEqual(r.json["bills"], [])

        u = t.usage()
        self.assertStatus(u, 200)
        self.assertEqual(set(u.json), USAGE_KEYS)
        self.assertEqual((u.json["bytes"], u.json["files"], u.json["bills"],
                          u.json["physical_bytes"]), (0, 0, 0, 0))
        self.assertIsNone(u.json["license"])
        self.assertIsNone(u.json["quota_bytes"])
        self.assertEqual(u.json["by_org"], {})
        self.assertTrue(any("no license" in w for w in u.json["warnings"]), u.json)
        self.assertServing(self.node)

    # -- installing ------------------------------------------------------------

    def test_install_license_then_capture(self):
        t = self.create_tenant("inst")
        issued = now_ms() - 60 * 1000
        doc = self.key.sign("inst", issued + 200 * DAY_MS + 12 * 3600 * 1000, 5 << 20,
                            modes="basic,match", max_files=100, issued_ms=issued,
                            license_id="inst-2024-1")
        r = t.install(doc)
        self.assertStatus(r, 201)
        self.assertCommonHeaders(r)
        self.assertEqual(set(r.json), LICENSE_KEYS | {"index"})
        self.assertIsInstance(r.json["index"], int)
        lic = dict(r.json)
        del lic["index"]
        self.assertLicense(lic, doc, license_id="inst-2024-1", tenant="inst",
                           quota_bytes=5 << 20, max_files=100, modes=["basic", "match"],
                           expires_in_days=200, warning=None)
        self.assertEqual(parse_rfc3339(lic["issued"]), issued)
        installed = parse_rfc3339(lic["installed"])
        self.assertLess(abs(installed - now_ms()), 60 * 1000)

        shown = t.license()
        self.assertStatus(shown, 200)
        self.assertEqual(shown.json["tenant"], "inst")
        self.assertEqual(shown.json["license"], lic)
        self.assertEqual(shown.json["history"], [lic])
        listed = {x["id"]: x for x in self.node.get("/api/v1/tenants").json["tenants"]}
        self.assertEqual(listed["inst"]["license"], lic)

        # Captures work now.
        r = t.push("INST-1", bill_no="B-1", amount="1.00")
        self.assertStatus(r, 201)
        data = random_bytes(5000, seed=2)
        up = self.assertUploaded(t.upload("INST-1", data, name="scan.pdf"), "INST-1", data)
        r = t.submit("INST-1")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "ready")
        r = t.content(up["file_id"])
        self.assertStatus(r, 200)
        self.assertTrue(r.body == data)

        # The same document again: nothing changes, 200; with ?tenant= its own tenant too.
        r = t.install(doc)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["license_id"], "inst-2024-1")
        self.assertIn("index", r.json)
        r = t.install(doc, with_tenant=True)
        self.assertStatus(r, 200)
        self.assertEqual(t.license().json["history"], [lic], "no second history entry")
        self.assertEqual(parse_rfc3339(t.license().json["license"]["installed"]), installed)

        # Posted for another tenant (existing or not): refused.
        other = self.create_tenant("inst-other")
        r = other.install(doc, with_tenant=True)
        body = self.assertError(r, 400, 10893, "license_invalid")
        self.assertIn("inst", body["message"])
        r = Tenant(self.node, "inst-missing").install(doc, with_tenant=True)
        self.assertError(r, 400, 10893, "license_invalid")
        self.assertIsNone(other.license().json["license"])

        # A license for a tenant that does not exist.
        r = Tenant(self.node, "ghost").install(self.key.sign("ghost", now_ms() + DAY_MS, 10))
        self.assertError(r, 404, 11014, "tenant_not_found")

        r = self.node.post("/api/v1/licenses", doc, auth=False)
        self.assertError(r, 401, 10401, "unauthorized")
        r = self.node.get("/api/v1/licenses?tenant=ghost")
        self.assertError(r, 404, 11014, "tenant_not_found")

    def test_invalid_documents(self):
        t = self.create_tenant("bad-docs")
        exp = now_ms() + 100 * DAY_MS
        good = self.key.sign("bad-docs", exp, 1000, license_id="good-1")
        iss = rfc3339(now_ms() - 1000)

        def payload(**fields):
            p = {"license_id": "py-1", "tenant": "bad-docs", "issued": iss,
                 "expires": rfc3339(exp), "quota_bytes": 1000, "modes": ["basic"],
                 "max_files": 0}
            for k, v in fields.items():
                if v is None:
                    p.pop(k)
                else:
                    p[k] = v
            return json.dumps(p)

        # The Python signer makes documents the node takes: the checks below are of the
        # field, not of the signer.
        ok = self.key.sign_payload(payload(license_id="py-ok"))
        cases = [
            ("tampered quota", tampered(good, '"quota_bytes":1000', '"quota_bytes":9000')),
            ("tampered tenant", tampered(good, '"tenant":"bad-docs"', '"tenant":"bad-doct"')),
            ("untrusted key", self.rogue.sign("bad-docs", exp, 1000)),
            ("untrusted key, python", self.rogue.sign_payload(payload())),
            ("not JSON", b"this is not a license"),
            ("truncated", good[:len(good) // 2]),
            ("empty", b""),
            ("array", b"[]"),
            ("no signature", json.dumps({"payload": json.loads(good)["payload"]}).encode()),
            ("no payload", json.dumps({"signature": json.loads(good)["signature"]}).encode()),
            ("signature not base64", json.dumps({"payload": json.loads(good)["payload"],
                                                 "signature": "!!!not base64!!!"}).encode()),
            ("payload not JSON", self.key.sign_payload("quota: lots")),
            ("payload an array", self.key.sign_payload("[1, 2]")),
            ("no quota_bytes", self.key.sign_payload(payload(quota_bytes=None))),
            ("no expires", self.key.sign_payload(payload(expires=None))),
            ("no issued", self.key.sign_payload(payload(issued=None))),
            ("no modes", self.key.sign_payload(payload(modes=None))),
            ("no tenant", self.key.sign_payload(payload(tenant=None))),
            ("no license_id", self.key.sign_payload(payload(license_id=None))),
            ("empty modes", self.key.sign_payload(payload(modes=[]))),
            ("unknown mode", self.key.sign_payload(payload(modes=["basic", "turbo"]))),
            ("negative quota", self.key.sign_payload(payload(quota_bytes=-1))),
            ("quota as string", self.key.sign_payload(payload(quota_bytes="1000"))),
            ("bad time", self.key.sign_payload(payload(expires="next year"))),
            ("expires before issued", self.key.sign_payload(
                payload(issued=rfc3339(exp), expires=iss))),
            ("bad license id", self.key.sign_payload(payload(license_id="a b"))),
        ]
        for what, doc in cases:
            with self.subTest(document=what):
                r = t.install(doc)
                body = self.assertError(r, 400, 10893, "license_invalid", msg=what)
                self.assertIn("license", body["message"].lower())
        r = t.license()
        self.assertEqual(r.json["license"], None, "no refused document was installed")
        self.assertEqual(r.json["history"], [])
        self.assertRefusedNoLicense(t.upload("BD-1", b"x" * 10), "upload after refusals")
        # Over 16 KiB.
        big = json.dumps({"payload": payload(), "signature": "A" * 20000}).encode()
        self.assertError(t.install(big), 413, 10413, "body_too_large")

        r = t.install(ok)
        self.assertStatus(r, 201, "a well-formed document signed in Python")
        self.assertEqual(r.json["license_id"], "py-ok")
        self.assertEqual(r.json["modes"], ["basic"])
        self.assertEqual(r.json["max_files"], 0)

    def test_untrusted_key_message(self):
        t = self.create_tenant("rogue-target")
        r = t.install(self.rogue.sign("rogue-target", now_ms() + DAY_MS, 1000))
        body = self.assertError(r, 400, 10893, "license_invalid")
        self.assertIn("signature", body["message"])
        r = t.install(tampered(self.key.sign("rogue-target", now_ms() + DAY_MS, 1000),
                               '"quota_bytes":1000', '"quota_bytes":1001'))
        body = self.assertError(r, 400, 10893, "license_invalid")
        self.assertIn("signature", body["message"])

    def test_expired_and_future_licenses(self):
        t = self.create_tenant("timing")
        now = now_ms()
        expired_at = now - DAY_MS
        doc = self.key.sign("timing", expired_at, 1000, issued_ms=now - 3 * DAY_MS)
        r = t.install(doc)
        body = self.assertError(r, 403, 10888, "license_expired")
        self.assertIn(rfc3339(expired_at), body["message"], "the message names the expiry")
        self.assertIsNone(t.license().json["license"])

        # Expiring a second ago.
        r = t.install(self.key.sign("timing", now - 1000, 1000, issued_ms=now - 60000))
        self.assertError(r, 403, 10888, "license_expired")

        # Issued more than 5 minutes ahead: not valid yet.
        future = now_ms() + 10 * 60 * 1000
        r = t.install(self.key.sign("timing", future + DAY_MS, 1000, issued_ms=future))
        body = self.assertError(r, 400, 10893, "license_invalid")
        self.assertIn("not valid yet", body["message"])
        self.assertIsNone(t.license().json["license"])

        # A minute ahead is within the allowed clock skew.
        soon = now_ms() + 60 * 1000
        doc = self.key.sign("timing", soon + DAY_MS, 1000, issued_ms=soon, license_id="soon")
        r = t.install(doc)
        self.assertStatus(r, 201)
        self.assertEqual(t.license().json["license"]["license_id"], "soon")
        data = b"x" * 100
        self.assertUploaded(t.upload("TM-1", data), "TM-1", data)

    def test_superseded_and_renewal(self):
        t = self.create_tenant("renew")
        now = now_ms()
        l1 = self.key.sign("renew", now + 100 * DAY_MS, 1000, issued_ms=now - 3600 * 1000,
                           license_id="L1")
        self.assertStatus(t.install(l1), 201)
        a = random_bytes(600, seed=3)
        self.assertUploaded(t.upload("RN-1", a), "RN-1", a)
        b = random_bytes(500, seed=4)
        r = t.upload("RN-1", b)
        self.assertError(r, 413, 10890, "quota_exceeded")

        # Issued earlier than the one in force (or at the same time): superseded.
        for what, issued, lid in (("earlier", now - 2 * 3600 * 1000, "L0"),
                                  ("same time", now - 3600 * 1000, "L1b")):
            with self.subTest(what):
                doc = self.key.sign("renew", now + 300 * DAY_MS, 10 ** 6, issued_ms=issued,
                                    license_id=lid)
                body = self.assertError(t.install(doc), 409, 10892, "license_superseded")
                self.assertIn("L1", body["message"])
        self.assertEqual(t.license().json["license"]["license_id"], "L1")
        self.assertError(t.upload("RN-1", b), 413, 10890, "quota_exceeded")
        # Another document with the id and issue time of the one in force but other
        # terms is not "the license in force again": it must not be answered 200 while
        # the old terms stay in force.
        with self.subTest("same id and issue time, larger quota"):
            forged = self.key.sign("renew", now + 100 * DAY_MS, 10 ** 6,
                                   issued_ms=now - 3600 * 1000, license_id="L1")
            r = t.install(forged)
            self.assertError(r, 409, 10892, "license_superseded")
        self.assertEqual(t.license().json["license"]["quota_bytes"], 1000)
        self.assertEqual(len(t.license().json["history"]), 1)

        # The renewal (signed with the second trusted key) takes effect at once.
        l2 = self.key2.sign("renew", now + 200 * DAY_MS, 2000, issued_ms=now - 1800 * 1000,
                            license_id="L2")
        r = t.install(l2)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["license_id"], "L2")
        self.assertEqual(r.json["quota_bytes"], 2000)
        self.assertUploaded(t.upload("RN-1", b), "RN-1", b)
        shown = t.license().json
        self.assertLicense(shown["license"], l2)
        self.assertEqual([h["license_id"] for h in shown["history"]], ["L1", "L2"],
                         "history, oldest first")
        self.assertEqual(t.usage().json["quota_bytes"], 2000)

        # The former license is now earlier than the one in force.
        self.assertError(t.install(l1), 409, 10892, "license_superseded")
        # A renewal with a smaller quota than what is used: in force, captures refused.
        l3 = self.key.sign("renew", now + 400 * DAY_MS, 800, issued_ms=now - 600 * 1000,
                           license_id="L3")
        self.assertStatus(t.install(l3), 201)
        self.assertError(t.upload("RN-1", b"z"), 413, 10890, "quota_exceeded")
        u = t.usage().json
        self.assertEqual(u["bytes"], 1100)
        self.assertTrue(any("% of the storage quota" in w for w in u["warnings"]), u)

    def test_node_without_trusted_key(self):
        node = self.start_node("no-license-key")
        r = node.post("/api/v1/tenants", b'{"id": "x1"}')
        self.assertStatus(r, 201)
        for tenant, doc in (("x1", self.key.sign("x1", now_ms() + DAY_MS, 1000)),
                            ("default", self.key.sign("default", now_ms() + DAY_MS, 1000)),
                            ("x1", self.rogue.sign("x1", now_ms() + DAY_MS, 1000))):
            r = node.post("/api/v1/licenses", doc)
            body = self.assertError(r, 400, 10893, "license_invalid")
            self.assertIn("trusts no", body["message"])
        # The evaluation license is still there and works.
        r = node.get("/api/v1/licenses")
        self.assertEqual(r.json["license"]["license_id"], "evaluation")
        self.assertStatus(node.upload("NK-1", b"abc"), 201)
        r = node.upload("NK-1", b"abc", query="tenant=x1")
        self.assertError(r, 403, 10888, "license_expired")

    # -- expiry by the clock, modes --------------------------------------------

    def test_license_expires_by_time(self):
        t = self.create_tenant("short")
        issued = now_ms()
        expires = issued + 4500
        doc = self.key.sign("short", expires, 10 ** 6, issued_ms=issued, license_id="short-1")
        self.assertStatus(t.install(doc), 201)
        self.assertStatus(t.push("SH-1", bill_no="S1", key="push-early"), 201)
        data = random_bytes(2000, seed=5)
        up = self.assertUploaded(t.upload("SH-1", data, name="early.pdf", key="up-early"),
                                 "SH-1", data)
        lic = t.license().json["license"]
        if now_ms() >= expires - 200:
            self.skipTest("the node was too slow to capture within 4.5 s")
        self.assertEqual(lic["expires_in_days"], 0)
        self.assertIn("within 1 day", lic["warning"])

        time.sleep(max(0.0, (expires - now_ms()) / 1000.0) + 0.3)
        when = rfc3339(expires)
        for what, r in (("upload", t.upload("SH-1", b"late bytes", name="late.pdf")),
                        ("pool push", t.push("SH-2", bill_no="S2")),
                        ("submit", t.submit("SH-1"))):
            body = self.assertError(r, 403, 10888, "license_expired", msg=what)
            self.assertIn(when, body["message"], "%s: the message names the expiry" % what)
        # Reads and downloads keep working.
        r = t.content(up["file_id"])
        self.assertStatus(r, 200)
        self.assertTrue(r.body == data)
        self.assertStatus(t.head_content(up["file_id"]), 200)
        r = t.status("SH-1")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["state"], "captured")
        self.assertStatus(t.bill("SH-1"), 200)
        self.assertStatus(t.log("SH-1"), 200)
        self.assertEqual([b["image_no"] for b in t.list().json["bills"]], ["SH-1"])
        lic = t.license().json["license"]
        self.assertIn("expired", lic["warning"])
        u = t.usage().json
        self.assertEqual(u["files"], 1)
        self.assertTrue(any("expired" in w for w in u["warnings"]), u)

        # Idempotent retries of writes made before expiry get their first answer
        # (docs/licenses.md: replays are answered before the license is looked at).
        with self.subTest("retry of a pool push made before expiry"):
            r = t.push("SH-1", bill_no="S1", key="push-early")
            self.assertStatus(r, 201)
            self.assertIs(r.json["created"], True)
        with self.subTest("retry of an upload made before expiry"):
            r = t.upload("SH-1", data, name="early.pdf", key="up-early")
            self.assertStatus(r, 201)
            self.assertEqual(r.json["file_id"], up["file_id"])
            self.assertIs(r.json["replayed"], True)
        self.assertEqual(len(t.bill("SH-1").json["files"]), 1)

        # A renewal makes captures work again, without a restart.
        renewal = self.key.sign("short", now_ms() + 10 * DAY_MS, 10 ** 6, license_id="short-2")
        self.assertStatus(t.install(renewal), 201)
        self.assertStatus(t.upload("SH-1", b"late bytes", name="late.pdf"), 201)
        self.assertStatus(t.submit("SH-1"), 200)

    def test_license_modes(self):
        t = self.licensed_tenant("nobasic", modes="sync,match")
        self.assertEqual(t.license().json["license"]["modes"], ["sync", "match"])
        for what, r in (("upload", t.upload("NB-1", b"bytes")),
                        ("pool push", t.push("NB-1", bill_no="N1")),
                        ("submit", t.submit("NB-1"))):
            body = self.assertError(r, 403, 10888, "license_expired", msg=what)
            self.assertIn("mode", body["message"], what)
        self.assertError(t.bill("NB-1"), 404, 11002, "bill_not_found")
        doc = self.key.sign("nobasic", now_ms() + 30 * DAY_MS, 10 ** 6, modes="basic")
        self.assertStatus(t.install(doc), 201)
        self.assertStatus(t.upload("NB-1", b"bytes"), 201)

    # -- quotas -------------------------------------------------------------------

    def test_storage_quota_exact(self):
        t = self.licensed_tenant("exact", quota=3000)
        sizes = [1000, 1500, 500]
        for i, n in enumerate(sizes):
            data = random_bytes(n, seed=10 + i)
            self.assertUploaded(t.upload("EX-1", data), "EX-1", data)
        u = t.usage().json
        self.assertEqual(u["bytes"], 3000)
        self.assertEqual(u["quota_bytes"], 3000)
        r = t.upload("EX-1", b"1")
        body = self.assertError(r, 413, 10890, "quota_exceeded")
        self.assertIn("quota", body["message"])
        r = t.upload("EX-2", b"1")
        self.assertError(r, 413, 10890, "quota_exceeded")
        # Without Content-Length the size is known only at the end: the state machine
        # refuses it then.
        r = t.upload_chunked("EX-2", random_bytes(10000, seed=15))
        self.assertError(r, 413, 10890, "quota_exceeded")
        self.assertEqual(t.usage().json["bytes"], 3000)
        self.assertEqual(t.usage().json["files"], 3)
        self.assertError(t.bill("EX-2"), 404, 11002, "bill_not_found")
        # Metadata writes that store no bytes still work.
        self.assertStatus(t.push("EX-1", bill_no="X"), 200)
        self.assertStatus(t.submit("EX-1"), 200)

    def test_quota_refused_before_the_body(self):
        t = self.licensed_tenant("early", quota=1 << 20)
        first = random_bytes((1 << 20) - 1000, seed=20)
        self.assertUploaded(t.upload("EA-1", first), "EA-1", first)

        def headers_only(length, extra=None):
            hs = dict(self.node.auth_headers())
            hs["Content-Type"] = "application/octet-stream"
            hs["Content-Length"] = str(length)
            hs.update(extra or {})
            s = self.node.socket(timeout=10)
            try:
                s.sendall(build_request("POST", t.q("/api/v1/bills/EA-2/files"), headers=hs))
                reader = ResponseReader(s)
                try:
                    r = reader.read("POST")
                except socket.timeout:
                    self.fail("no answer within 10 s to an upload of %d bytes whose body "
                              "was not sent" % length)
                closed = None
                if length > (2 << 20):
                    closed = reader.at_eof(10)
                return r, closed
            finally:
                s.close()

        # Far over the quota (100 MiB): refused, and the connection closed since the
        # node will not read that body.
        r, closed = headers_only(100 << 20)
        body = self.assertError(r, 413, 10890, "quota_exceeded")
        self.assertIn("quota", body["message"])
        self.assertTrue(closed, "connection closed after refusing a 100 MiB body")
        # One byte more than what is left.
        r, _ = headers_only(1001)
        self.assertError(r, 413, 10890, "quota_exceeded")
        # A client that waits for 100 Continue gets the refusal instead.
        r, _ = headers_only(5000, {"Expect": "100-continue"})
        self.assertError(r, 413, 10890, "quota_exceeded")
        # Exactly what is left fits.
        last = random_bytes(1000, seed=21)
        self.assertUploaded(t.upload("EA-2", last), "EA-2", last)
        self.assertEqual(t.usage().json["bytes"], 1 << 20)
        self.assertServing(self.node)

    def test_chunked_upload_counts_against_quota(self):
        t = self.licensed_tenant("chunky", quota=10000)
        data = random_bytes(6000, seed=16)
        r = t.upload_chunked("CH-1", data)
        self.assertUploaded(r, "CH-1", data)
        self.assertEqual(t.usage().json["bytes"], 6000)
        r = t.upload_chunked("CH-1", random_bytes(4001, seed=17))
        self.assertError(r, 413, 10890, "quota_exceeded")
        last = random_bytes(4000, seed=18)
        self.assertUploaded(t.upload_chunked("CH-1", last), "CH-1", last)
        u = t.usage().json
        self.assertEqual((u["bytes"], u["files"]), (10000, 2))

    def test_idempotent_retry_when_quota_is_full(self):
        # The upload that fills the quota exactly, retried with its Idempotency-Key (its
        # answer was lost): the first answer again, not a refusal (docs/API.md).
        t = self.licensed_tenant("retry-bytes", quota=5000)
        data = random_bytes(5000, seed=19)
        first = self.assertUploaded(t.upload("RT-1", data, key="fill-1"), "RT-1", data)
        r = t.upload("RT-1", data, key="fill-1")
        self.assertStatus(r, 201, "retry of the upload that filled the byte quota")
        self.assertEqual(r.json["file_id"], first["file_id"])
        self.assertIs(r.json["replayed"], True)
        self.assertEqual(t.usage().json["files"], 1)

        t = self.licensed_tenant("retry-files", max_files=1)
        data = random_bytes(100, seed=20)
        first = self.assertUploaded(t.upload("RT-2", data, key="last-file"), "RT-2", data)
        r = t.upload("RT-2", data, key="last-file")
        self.assertStatus(r, 201, "retry of the upload that reached max_files")
        self.assertEqual(r.json["file_id"], first["file_id"])
        self.assertIs(r.json["replayed"], True)

    def test_file_quota(self):
        t = self.licensed_tenant("files3", max_files=3)
        self.assertEqual(t.license().json["license"]["max_files"], 3)
        for i in range(3):
            data = random_bytes(100, seed=30 + i)
            self.assertUploaded(t.upload("FQ-%d" % (i % 2), data), "FQ-%d" % (i % 2), data)
        r = t.upload("FQ-0", random_bytes(100, seed=40))
        body = self.assertError(r, 403, 10891, "file_quota_exceeded")
        self.assertIn("3", body["message"])
        r = t.upload("FQ-9", random_bytes(100, seed=41))
        self.assertError(r, 403, 10891, "file_quota_exceeded")
        u = t.usage().json
        self.assertEqual((u["files"], u["max_files"], u["bytes"]), (3, 3, 300))
        self.assertEqual(len(t.bill("FQ-0").json["files"]), 2)

    def test_renewal_while_captures_run(self):
        """Installing a renewal does not disturb captures in flight: every upload of
        several clients succeeds, before, during and after the install."""
        t = self.licensed_tenant("renew-live", quota=10 ** 8, days=2,
                                 issued_ms=now_ms() - 60000)
        results, stop = [], threading.Event()

        def client(i):
            n = 0
            while not stop.is_set() and n < 60:
                r = t.upload("RL-%d" % i, random_bytes(2000, seed=1000 * i + n),
                             name="f%d.bin" % n)
                results.append(r.status)
                n += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        time.sleep(0.3)
        r = t.install(self.key.sign("renew-live", now_ms() + 400 * DAY_MS, 2 * 10 ** 8))
        self.assertStatus(r, 201)
        time.sleep(0.3)
        stop.set()
        for th in threads:
            th.join(60)
        self.assertGreater(len(results), 8)
        self.assertEqual(set(results), {201}, "a capture failed around the renewal")
        lic = t.license().json["license"]
        self.assertEqual(lic["quota_bytes"], 2 * 10 ** 8)
        self.assertGreater(lic["expires_in_days"], 300)
        self.assertEqual(t.usage().json["files"], len(results))

    def test_racing_uploads_never_exceed_quota(self):
        quota = 100000
        t = self.licensed_tenant("race", quota=quota)
        base = random_bytes(60000, seed=50)
        self.assertUploaded(t.upload("RC-0", base), "RC-0", base)
        sizes = [7000 + 577 * i for i in range(14)]  # 7000 .. 14501, 143 KB in all
        results = [None] * len(sizes)
        barrier = threading.Barrier(len(sizes))

        def one(i):
            data = random_bytes(sizes[i], seed=60 + i)
            try:
                barrier.wait(30)
                results[i] = t.upload("RC-%d" % (i % 3 + 1), data, name="r%d.bin" % i)
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(sizes))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        accepted = []
        refused = []
        for i, r in enumerate(results):
            self.assertNotIsInstance(r, Exception, "upload %d: %r" % (i, r))
            self.assertIsNotNone(r, "upload %d did not finish" % i)
            if r.status == 201:
                self.assertEqual(r.json["size"], sizes[i])
                accepted.append(sizes[i])
            else:
                self.assertError(r, 413, 10890, "quota_exceeded", msg="upload %d" % i)
                refused.append(sizes[i])
        self.assertTrue(accepted, "the first to be applied fits")
        self.assertTrue(refused, "they cannot all fit")
        u = t.usage().json
        self.assertLessEqual(u["bytes"], quota, "usage over the quota: %r" % u)
        self.assertEqual(u["bytes"], 60000 + sum(accepted), "usage is the accepted sizes")
        self.assertEqual(u["files"], 1 + len(accepted))
        # Usage only grows, so every refused upload was refused for want of room.
        for n in refused:
            self.assertGreater(u["bytes"] + n, quota, "an upload of %d bytes was refused "
                               "though it fits (usage %d)" % (n, u["bytes"]))
        stored = 0
        for k in (1, 2, 3):
            r = t.bill("RC-%d" % k)
            if r.status == 200:
                stored += len(r.json["files"])
            else:
                self.assertError(r, 404, 11002, "bill_not_found")
        self.assertEqual(stored, len(accepted), "every accepted upload is a file of a bill")
        self.assertServing(self.node)

    def test_racing_uploads_never_exceed_max_files(self):
        t = self.licensed_tenant("race-files", max_files=3)
        n = 8
        results = [None] * n
        barrier = threading.Barrier(n)

        def one(i):
            try:
                barrier.wait(30)
                results[i] = t.upload("RF-1", random_bytes(3000, seed=200 + i))
            except Exception as e:  # reported below
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        ok = 0
        for i, r in enumerate(results):
            self.assertNotIsInstance(r, Exception, "upload %d: %r" % (i, r))
            self.assertIsNotNone(r, "upload %d did not finish" % i)
            if r.status == 201:
                ok += 1
            else:
                self.assertError(r, 403, 10891, "file_quota_exceeded", msg="upload %d" % i)
        self.assertEqual(ok, 3, "exactly max_files uploads are accepted")
        u = t.usage().json
        self.assertEqual((u["files"], u["bytes"]), (3, 9000))
        self.assertEqual(len(t.bill("RF-1").json["files"]), 3)

    # -- usage ---------------------------------------------------------------------

    def test_usage_counters_and_organisations(self):
        t = self.licensed_tenant("counted", quota=10 ** 7)
        r = t.usage()
        self.assertStatus(r, 200)
        self.assertCommonHeaders(r)
        u = r.json
        self.assertEqual(set(u), USAGE_KEYS)
        self.assertEqual(u["tenant"], "counted")
        self.assertEqual((u["bytes"], u["files"], u["bills"], u["physical_bytes"]),
                         (0, 0, 0, 0))
        self.assertEqual(u["quota_bytes"], 10 ** 7)
        self.assertIsNone(u["max_files"])
        self.assertEqual(u["license"], t.license().json["license"])
        self.assertEqual(u["warnings"], [])

        a = random_bytes(4000, seed=70)
        b = random_bytes(2500, seed=71)
        c = random_bytes(1200, seed=72)
        self.assertStatus(t.push("US-1", bill_no="U1"), 201)
        self.assertStatus(t.upload("US-1", a, name="a.pdf"), 201)
        self.assertStatus(t.upload("US-1", b, name="b.pdf"), 201)
        # The same content again, in a bill the upload creates.
        self.assertStatus(t.upload("US-2", a, name="a-again.pdf"), 201)

        u = t.usage().json
        self.assertEqual(u["bytes"], 2 * len(a) + len(b), "a duplicate counts twice")
        self.assertEqual(u["physical_bytes"], len(a) + len(b), "and is stored once")
        self.assertEqual(u["files"], 3)
        self.assertEqual(u["bills"], 2)
        self.assertEqual(u["by_org"], {"": {"bytes": 2 * len(a) + len(b), "files": 3,
                                            "bills": 2}})

        # A pool push naming an organisation moves the bill's files and bytes there.
        self.assertStatus(t.push("US-1", bill_no="U1", org="ORG-EAST"), 200)
        u = t.usage().json
        self.assertEqual(u["by_org"].get("ORG-EAST"),
                         {"bytes": len(a) + len(b), "files": 2, "bills": 1}, u)
        self.assertEqual(u["by_org"].get(""), {"bytes": len(a), "files": 1, "bills": 1}, u)
        self.assertEqual((u["bytes"], u["files"], u["bills"], u["physical_bytes"]),
                         (2 * len(a) + len(b), 3, 2, len(a) + len(b)), "totals unchanged")

        # A new pool bill of that organisation, without files.
        self.assertStatus(t.push("US-3", bill_no="U3", org="ORG-EAST"), 201)
        # Moving on to another organisation.
        self.assertStatus(t.push("US-1", bill_no="U1", org="ORG-WEST"), 200)
        self.assertStatus(t.upload("US-1", c, name="c.pdf"), 201)
        u = t.usage().json
        self.assertEqual(u["by_org"].get("ORG-WEST"),
                         {"bytes": len(a) + len(b) + len(c), "files": 3, "bills": 1}, u)
        self.assertEqual(u["by_org"].get("ORG-EAST"), {"bytes": 0, "files": 0, "bills": 1}, u)
        self.assertEqual(u["by_org"].get(""), {"bytes": len(a), "files": 1, "bills": 1}, u)
        self.assertEqual(u["bills"], 3)
        self.assertEqual(u["files"], 4)
        self.assertEqual(u["bytes"], 2 * len(a) + len(b) + len(c))
        for field in ("bytes", "files", "bills"):
            self.assertEqual(sum(o[field] for o in u["by_org"].values()), u[field],
                             "organisations add up to the tenant: %s" % field)
        self.assertEqual(u["warnings"], [])

        # Unknown tenants.
        for tid in ("nobody", "has%20space"):
            r = self.node.get("/api/v1/tenants/%s/usage" % tid)
            self.assertError(r, 404, 11014, "tenant_not_found", msg=tid)
        r = self.node.get("/api/v1/tenants/counted/usage", auth=False)
        self.assertError(r, 401, 10401, "unauthorized")

    def test_usage_warnings(self):
        # Over 80% of the quota.
        t = self.licensed_tenant("full85", quota=10000)
        self.assertStatus(t.upload("W-1", random_bytes(7900, seed=80)), 201)
        self.assertEqual(t.usage().json["warnings"], [], "79%: no warning yet")
        self.assertStatus(t.upload("W-1", random_bytes(600, seed=81)), 201)
        w = t.usage().json["warnings"]
        self.assertEqual(len(w), 1, w)
        self.assertIn("85%", w[0])
        self.assertIn("quota", w[0])

        # A license that expires within a day.
        t = self.licensed_tenant("soon", quota=10 ** 6, days=0.5)
        u = t.usage().json
        self.assertEqual(len(u["warnings"]), 1, u)
        self.assertIn("within 1 day", u["warnings"][0])
        self.assertIn(u["license"]["license_id"], u["warnings"][0])
        self.assertEqual(u["license"]["warning"], u["warnings"][0])
        self.assertEqual(u["license"]["expires_in_days"], 0)
        # Within a week.
        t = self.licensed_tenant("week", quota=10 ** 6, days=5.5)
        u = t.usage().json
        self.assertEqual(len(u["warnings"]), 1, u)
        self.assertIn("within 7 days", u["warnings"][0])
        self.assertEqual(u["license"]["expires_in_days"], 5)

    # -- isolation ---------------------------------------------------------------

    def test_cross_tenant_isolation(self):
        a = self.licensed_tenant("iso-a")
        b = self.licensed_tenant("iso-b")
        img = "ISO-1"
        self.assertStatus(a.push(img, bill_no="A-BILL", org="A-ORG"), 201)
        data = random_bytes(3000, seed=90)
        fa = self.assertUploaded(a.upload(img, data, name="a.pdf", key="same-key"), img, data)
        ua = a.usage().json

        # Nothing of A through B.
        self.assertError(b.bill(img), 404, 11002, "bill_not_found")
        self.assertError(b.status(img), 404, 11002, "bill_not_found")
        self.assertError(b.log(img), 404, 11002, "bill_not_found")
        self.assertError(b.content(fa["file_id"]), 404, 11003, "file_not_found")
        r = b.head_content(fa["file_id"])
        self.assertEqual(r.status, 404)
        self.assertEqual(r.body, b"")
        self.assertNotIn(img, [x["image_no"] for x in b.list().json["bills"]])
        self.assertError(b.submit(img), 404, 11002, "bill_not_found")
        # Nor through the default tenant.
        d = Tenant(self.node, "default")
        self.assertError(self.node.bill(img), 404, 11002, "bill_not_found")
        self.assertError(self.node.content(fa["file_id"]), 404, 11003, "file_not_found")
        self.assertNotIn(img, [x["image_no"] for x in d.list().json["bills"]])

        # An upload to A's image number through B makes B's own bill; the same
        # Idempotency-Key is B's own too.
        other = random_bytes(2000, seed=91)
        fb = self.assertUploaded(b.upload(img, other, name="b.pdf", key="same-key"), img,
                                 other)
        self.assertEqual(fb["position"], 1)
        self.assertNotEqual(fb["file_id"], fa["file_id"])
        bill_b = b.bill(img).json
        self.assertEqual([f["file_id"] for f in bill_b["files"]], [fb["file_id"]])
        self.assertIs(bill_b["in_pool"], False)
        self.assertEqual(bill_b["bill_no"], "")
        bill_a = a.bill(img).json
        self.assertEqual([f["file_id"] for f in bill_a["files"]], [fa["file_id"]])
        self.assertEqual(bill_a["bill_no"], "A-BILL")
        self.assertError(a.content(fb["file_id"]), 404, 11003, "file_not_found")
        self.assertEqual(a.content(fa["file_id"]).body, data)
        self.assertEqual(b.content(fb["file_id"]).body, other)
        log_b = b.log(img).json["entries"]
        self.assertNotIn("pool_created", [e["action"] for e in log_b])
        self.assertEqual([e["detail"]["file_id"] for e in log_b
                          if e["action"] == "file_added"], [fb["file_id"]])
        self.assertEqual(a.usage().json, ua, "B's capture did not count for A")
        ub = b.usage().json
        self.assertEqual((ub["bytes"], ub["files"], ub["bills"]), (2000, 1, 1))
        self.assertNotIn("A-ORG", ub["by_org"])
        # The same content in B is B's physical bytes too.
        self.assertStatus(b.upload("ISO-2", data), 201)
        self.assertEqual(b.usage().json["physical_bytes"], 2000 + len(data))
        # Submitting through B touches B's bill only.
        self.assertStatus(b.submit(img), 200)
        self.assertEqual(a.status(img).json["state"], "captured")
        self.assertEqual(b.status(img).json["state"], "ready")

        # A tenant that does not exist: 404 11014 everywhere.
        ghost = Tenant(self.node, "iso-ghost")
        calls = [
            ("GET bill", lambda: ghost.bill(img)),
            ("GET status", lambda: ghost.status(img)),
            ("GET log", lambda: ghost.log(img)),
            ("GET content", lambda: ghost.content(fa["file_id"])),
            ("GET list", lambda: ghost.list()),
            ("POST submit", lambda: ghost.submit(img)),
            ("POST upload", lambda: ghost.upload(img, b"bytes")),
            ("POST pool", lambda: ghost.push(img, bill_no="G")),
            ("GET licenses", lambda: ghost.license()),
            ("GET usage", lambda: ghost.usage()),
        ]
        for what, call in calls:
            with self.subTest(endpoint=what):
                self.assertError(call(), 404, 11014, "tenant_not_found", msg=what)
        r = ghost.head_content(fa["file_id"])
        self.assertEqual(r.status, 404)
        # A tenant id that is not an id at all.
        bad = Tenant(self.node, "a b")
        for what, call in (("GET bill", lambda: bad.bill(img)),
                           ("POST upload", lambda: bad.upload(img, b"x")),
                           ("GET list", lambda: bad.list())):
            with self.subTest(bad_tenant=what):
                self.assertError(call(), 400, 11011, "invalid_query", msg=what)
        self.assertNotIn("iso-ghost", [x["id"] for x in
                                       self.node.get("/api/v1/tenants").json["tenants"]])


# ---------------------------------------------------------------------------
# Restart
# ---------------------------------------------------------------------------

class RestartTest(LicenseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.node = cls.start_class_node("licenses-restart",
                                        args=["--license-pubkey", cls.key.public])

    def snapshot(self, tenants):
        out = {"tenants": self.node.get("/api/v1/tenants").json}
        for t in tenants:
            out["license " + t.id] = t.license().json
            out["usage " + t.id] = t.usage().json
        return out

    def test_restart_keeps_licenses_tenants_usage(self):
        now = now_ms()
        half_day = 12 * 3600 * 1000
        t1 = self.create_tenant("r-one", "Restart One")
        l1 = self.key.sign("r-one", now + 50 * DAY_MS + half_day, 100000, max_files=10,
                           issued_ms=now - 7200 * 1000, license_id="R1")
        self.assertStatus(t1.install(l1), 201)
        l2 = self.key.sign("r-one", now + 90 * DAY_MS + half_day, 20000, max_files=10,
                           issued_ms=now - 3600 * 1000, license_id="R2")
        self.assertStatus(t1.install(l2), 201)
        t2 = self.create_tenant("r-two")
        default = Tenant(self.node, "default")

        data = random_bytes(9000, seed=100)
        self.assertStatus(t1.push("RS-1", bill_no="R", org="ORG-R"), 201)
        f1 = self.assertUploaded(t1.upload("RS-1", data, name="one.pdf"), "RS-1", data)
        self.assertStatus(t1.upload("RS-2", data, name="dup.pdf"), 201)
        self.assertStatus(default.upload("RS-D", b"default bytes"), 201)
        self.assertStatus(t1.submit("RS-1"), 200)

        before = self.snapshot([default, t1, t2])
        self.assertEqual(before["usage r-one"]["bytes"], 18000)
        self.assertEqual(before["usage r-one"]["physical_bytes"], 9000)
        self.assertEqual([h["license_id"] for h in before["license r-one"]["history"]],
                         ["R1", "R2"])

        self.node.stop()
        self.assertEqual(self.node.returncode, 0, "exit status on SIGTERM; log:\n%s"
                         % self.node.log_tail())
        self.node.start()

        after = self.snapshot([default, t1, t2])
        self.assertEqual(after, before)
        # And they are enforced as before.
        self.assertEqual(t1.content(f1["file_id"]).body, data)
        r = t1.upload("RS-3", random_bytes(2001, seed=101))
        self.assertError(r, 413, 10890, "quota_exceeded")
        self.assertStatus(t1.upload("RS-3", random_bytes(2000, seed=102)), 201)
        self.assertRefusedNoLicense(t2.upload("RS-4", b"x"), "unlicensed after restart")
        self.assertError(t1.install(l1), 409, 10892, "license_superseded")
        self.assertStatus(t1.install(l2), 200)
        r = self.node.post("/api/v1/tenants", b'{"id": "r-two"}')
        self.assertError(r, 409, 11015, "tenant_exists")
        self.assertEqual(default.license().json["license"]["license_id"], "evaluation")


if __name__ == "__main__":
    unittest.main()
