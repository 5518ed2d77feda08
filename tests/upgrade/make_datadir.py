#!/usr/bin/env python3
"""Writes the data-dir fixture of tests/upgrade/test_upgrade_datadir.py with an older
build of imgarcd, so that a newer build can be shown to open and serve it.

    IMGARC_BIN_DIR=/path/to/old/build python3 make_datadir.py OUT_PREFIX

The old build is run as one node on loopback; the script fills a tenant with what an
archive holds after some use (users, roles, organisations and grants, a client, bill
types and a scheme, a webhook, bills in several states with covers, invoices with
invoice data, attachments, a rotation, a merge, a replaced and a deleted file, a
returned bill), then records every answer the test compares (bills, status, logs,
match results, users, orgs, usage, audit) and the hash of every file's content in
OUT_PREFIX.json, stops the node gracefully and writes its data dir (without the log)
as OUT_PREFIX.tar.gz. The license key pair goes into the archive too (keys/), so the
test's node trusts the tenant's license.

The fixture committed beside this script was written by 182740d (see its .json's
"written_by"). Only the Python standard library is used."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                "integration"))
from imgarc_node import (IMGARC, Node, blake2b_hex, make_jpg, make_pdf,  # noqa: E402
                         make_xml_invoice, quote, random_bytes)

TENANT = "acme"
PASSWORD = "upgrade-fixture-password-1"


def ok(resp, *codes):
    codes = codes or (200, 201)
    if resp.status not in codes:
        raise SystemExit("unexpected answer %d: %s" % (resp.status, resp.body[:500]))
    return resp.json if resp.body else None


def main():
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    out = os.path.abspath(sys.argv[1])
    keys = out + "-keys"
    subprocess.run([IMGARC, "license", "keygen", "--out", keys], check=True)
    node = Node("upgrade-fixture", outbound_allow=(),
                args=["--license-pubkey", os.path.join(keys, "license.pub")])
    node.start()
    try:
        manifest = fill(node, keys)
    finally:
        node.stop()
    manifest["written_by"] = subprocess.run(
        [os.path.join(os.path.dirname(IMGARC), "imgarcd"), "--version"],
        capture_output=True, text=True).stdout.strip()
    with open(out + ".json", "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
    with tarfile.open(out + ".tar.gz", "w:gz") as tar:
        for name in sorted(os.listdir(node.data)):
            if name in ("imgarcd.log", "tmp"):
                continue
            tar.add(os.path.join(node.data, name), arcname="data/" + name)
        tar.add(os.path.join(keys, "license.pub"), arcname="keys/license.pub")
    print("wrote %s.tar.gz and %s.json" % (out, out))


def fill(node, keys):
    t = "?tenant=" + TENANT
    ok(node.post("/api/v1/tenants", json.dumps({"id": TENANT, "name": "Acme Trading"})))
    lic = subprocess.run([IMGARC, "license", "sign", "--key",
                          os.path.join(keys, "license.key"), "--tenant", TENANT,
                          "--expires", "2099-12-31T00:00:00Z", "--quota-bytes", "10G",
                          "--modes", "basic,sync,match"],
                         check=True, capture_output=True).stdout
    ok(node.post("/api/v1/licenses", lic))
    ok(node.post("/api/v1/orgs" + t, json.dumps({"id": "hq", "name": "Head office"})))
    ok(node.post("/api/v1/orgs" + t, json.dumps({"id": "sh", "name": "Shanghai",
                                                  "parent": "hq"})))
    ok(node.post("/api/v1/roles" + t, json.dumps({"name": "clerk",
                                                   "permissions": ["read", "capture",
                                                                   "edit", "submit"]})))
    ok(node.post("/api/v1/users" + t, json.dumps({"username": "li.wei", "name": "Li Wei",
                                                   "password": PASSWORD,
                                                   "roles": ["clerk"]})))
    ok(node.request("PUT", "/api/v1/users/li.wei/grants" + t,
                    json.dumps({"grants": [{"org": "hq", "include_children": True}]})))
    client = ok(node.post("/api/v1/clients", json.dumps({"tenant": TENANT, "name": "erp"})))
    ok(node.post("/api/v1/bill-types" + t, json.dumps({"code": "ER_Travel",
                                                        "name": "Travel", "mode": "match"})))
    ok(node.post("/api/v1/bill-types" + t, json.dumps({"code": "AP_Invoice",
                                                        "name": "Payables", "mode": "basic"})))
    ok(node.post("/api/v1/schemes" + t, json.dumps({"bill_type": "ER_Travel",
                                                     "match": "normal",
                                                     "submit": "manual"})))
    ok(node.post("/api/v1/webhooks" + t, json.dumps({"url": "http://127.0.0.1:9/hook",
                                                      "events": ["ready", "returned"]})), 201)

    def push(no, **fields):
        body = dict(fields, image_no=no)
        return ok(node.pool_push(body, query="tenant=" + TENANT) if False else
                  node.post("/api/v1/pool" + t, json.dumps(body)))

    def up(no, data, name, category=None, extra=""):
        q = "tenant=%s&name=%s" % (TENANT, quote(name))
        if category:
            q += "&category=" + category
        if extra:
            q += "&" + extra
        return ok(node.post("/api/v1/bills/%s/files?%s" % (quote(no), q), data,
                            headers={"Content-Type": "application/octet-stream"}))

    def op(no, what, body):
        return ok(node.post("/api/v1/bills/%s/%s%s" % (quote(no), what, t),
                            json.dumps(body)))

    # A match-mode bill, captured, matched, ready.
    push("UP-0001", bill_no="ER-2026-001", bill_type="ER_Travel", org="sh",
         amount="112.50", submitter="li.wei",
         invoices=[{"number": "04400000000112345678", "total": "112.50"}])
    up("UP-0001", make_pdf(pages=1, text="cover UP-0001", seed=1), "cover.pdf", "cover")
    inv = up("UP-0001", make_xml_invoice("04400000000112345678", "112.50"), "inv.xml",
             "invoice")
    node.request("PATCH", "/api/v1/bills/UP-0001/files/%s%s" % (inv["file_id"], t),
                 json.dumps({"invoice": {"number": "04400000000112345678",
                                         "total": "112.50"}}))
    a1 = up("UP-0001", make_jpg(30000, seed=2), "taxi.jpg")
    a2 = up("UP-0001", make_jpg(20000, seed=3), "hotel-1.jpg")
    a3 = up("UP-0001", make_jpg(20000, seed=4), "hotel-2.jpg")
    op("UP-0001", "rotate", {"file_ids": [a1["file_id"]], "degrees": 90})
    op("UP-0001", "merge", {"file_ids": [a2["file_id"], a3["file_id"]]})
    ok(node.post("/api/v1/bills/UP-0001/submit" + t, b""))

    # A basic bill, captured, with a replaced and a deleted file, not submitted.
    push("UP-0002", bill_no="AP-2026-77", bill_type="AP_Invoice", org="hq", amount="80.00")
    b1 = up("UP-0002", make_pdf(pages=3, text="statement", seed=5), "statement.pdf")
    up("UP-0002", random_bytes(60000, seed=6), "ledger.bin", extra="replace=" + b1["file_id"])
    b3 = up("UP-0002", make_jpg(15000, seed=7), "wrong.jpg")
    ok(node.request("DELETE", "/api/v1/bills/UP-0002/files/%s%s" % (b3["file_id"], t)))
    up("UP-0002", make_jpg(15000, seed=8), "receipt.jpg")

    # A bill submitted, then returned for rescanning.
    push("UP-0003", bill_no="AP-2026-78", bill_type="AP_Invoice", org="sh", amount="9.90")
    up("UP-0003", make_pdf(pages=1, text="blurred", seed=9), "blurred.pdf")
    ok(node.post("/api/v1/bills/UP-0003/submit" + t, b""))
    op("UP-0003", "return", {"reason": "page 1 is blurred"})

    # The default tenant's own bill, as a first install would have it.
    ok(node.pool_push({"image_no": "DF-0001", "bill_no": "D-1"}))
    ok(node.upload("DF-0001", make_pdf(pages=2, seed=10), name="scan.pdf"))
    ok(node.submit("DF-0001"))

    reads = {}
    for path in ["/api/v1/tenants", "/api/v1/users" + t, "/api/v1/roles" + t,
                 "/api/v1/orgs" + t, "/api/v1/bill-types" + t, "/api/v1/schemes" + t,
                 "/api/v1/webhooks" + t, "/api/v1/tenants/%s/usage" % TENANT,
                 "/api/v1/bills" + t, "/api/v1/bills?tenant=default",
                 "/api/v1/audit" + t, "/api/v1/licenses" + t]:
        reads[path] = ok(node.get(path), 200)
    files = {}
    for no, tenant in (("UP-0001", TENANT), ("UP-0002", TENANT), ("UP-0003", TENANT),
                       ("DF-0001", "default")):
        q = "?tenant=" + tenant
        for what in ("", "/status", "/log", "/match"):
            path = "/api/v1/bills/%s%s%s" % (no, what, q)
            r = node.get(path)
            if what == "/match" and r.status != 200:
                continue
            reads[path] = ok(r, 200)
        for f in reads["/api/v1/bills/%s%s" % (no, q)]["files"]:
            body = ok_bytes(node.get("/api/v1/files/%s/content%s" % (f["file_id"], q)))
            files[f["file_id"]] = {"tenant": tenant, "size": len(body),
                                   "blake2b": blake2b_hex(body),
                                   "sha256": hashlib.sha256(body).hexdigest()}
    return {"tenant": TENANT, "user": "li.wei", "password": PASSWORD,
            "client_id": client["client_id"], "client_secret": client["client_secret"],
            "reads": reads, "files": files}


def ok_bytes(resp):
    if resp.status != 200:
        raise SystemExit("content read failed: %d %s" % (resp.status, resp.body[:300]))
    return resp.body


if __name__ == "__main__":
    main()
