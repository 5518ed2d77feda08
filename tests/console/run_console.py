#!/usr/bin/env python3
"""Runs one Playwright spec of the web console against a real imgarcd.

    run_console.py --spec login [--keep]

1. Starts a node through tests/integration/imgarc_node.py (free loopback ports, a
   fresh data dir under IMGARC_TEST_TMP, its log in DATA/imgarcd.log, stopped by its
   own pid whatever happens), with the spec's flags (SPECS below); for the specs in
   CLUSTER_SPECS a cluster of nodes instead (tests/cluster/imgarc_cluster.py), whose
   URLs and pids the spec gets in IMGARC_URLS and IMGARC_PIDS.
2. Seeds through the API, with the operator token, what the spec needs: users with a
   password and roles, bills with files (a JPEG, a two-page PDF with text, an e-invoice
   XML), a submitted bill, a merged document.
3. Runs `npx --no-install playwright test tests/<spec>.spec.mjs` in console/ with
   IMGARC_URL, IMGARC_SHOTS (screenshots; default <build>/console-shots) and the seed
   data's names (IMGARC_SEED_*) in its environment. Playwright uses /usr/bin/chromium
   (console/playwright.config.mjs) and downloads no browser.
4. Stops the node (a node that did not exit 0, or whose log holds a sanitizer report,
   fails the run) and exits with Playwright's exit code.

Environment: IMGARC_BIN_DIR (the build dir with imgarcd; CTest sets it),
IMGARC_TEST_TMP, IMGARC_SHOTS, CHROMIUM (another browser binary).
"""

import argparse
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CONSOLE = os.path.join(ROOT, "console")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))

import imgarc_node  # noqa: E402  (the path above)
from imgarc_node import Node, quote  # noqa: E402

PASSWORD = "console-Passw0rd!"
LOCK_FAILURES = 3
SOURCE_FAILURES = 5

# Per spec: the node's extra flags. The login spec locks an account after
# LOCK_FAILURES wrong passwords, and meets the per-address brake (429) after
# SOURCE_FAILURES for a user name that does not exist (so it never locks).
SPECS = {
    "login": ["--login-max-failures", str(LOCK_FAILURES),
              "--login-source-failures", str(SOURCE_FAILURES)],
    "bills": [],
    "capture": [],
    "submit": [],
    # Administration: a failed webhook delivery after one attempt (for Retry), and an
    # account locked after LOCK_FAILURES wrong passwords (for Unlock).
    "admin": ["--webhook-attempts", "1", "--login-max-failures", str(LOCK_FAILURES)],
    # The operator's cluster view, on a node whose id is above 2^53 (shown digit for
    # digit: node ids are strings).
    "cluster": ["--node-id", "9007199254740993"],
    # When a node goes down: three nodes (CLUSTER_SPECS), the spec kills the first.
    "nodes": [],
    # Migration: a second node (the source, seed_migration) holds the bills; this node
    # reaches it on loopback (imgarc_node's --outbound-allow 127.0.0.1).
    "migration": [],
}
# Nodes a seed step started besides the node under test (the migration spec's source);
# stopped by their pids at the end like the others.
EXTRA_NODES = []
# Specs that run against a cluster of that many nodes (tests/cluster/imgarc_cluster.py)
# instead of one node. The spec gets every node's URL and pid (IMGARC_URLS,
# IMGARC_PIDS, comma-separated, node 1 first; IMGARC_URL is node 1) and may kill a node
# itself; every node is stopped by its pid at the end whatever happened.
CLUSTER_SPECS = {"nodes": 3}


def make_pdf(pages, title):
    """A PDF with @pages A4 pages, each saying @title and its page number in Helvetica
    (a standard font the PDF does not embed: pdf.js draws it from its font data)."""
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
            3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"}
    kids = []
    for i in range(pages):
        page_id, content_id = 4 + 2 * i, 5 + 2 * i
        kids.append("%d 0 R" % page_id)
        text = ("BT /F1 28 Tf 84 720 Td (%s) Tj ET\n"
                "BT /F1 18 Tf 84 684 Td (Page %d of %d) Tj ET\n"
                "0.12 0.37 0.75 RG 6 w 60 60 475 722 re S\n"
                "0.9 0.93 0.97 rg 84 540 427 110 re f\n"
                "BT /F1 14 Tf 0 0 0 rg 96 600 Td "
                "(Amount: CNY 1,280.00   Seller: Example Ltd.) Tj ET\n"
                % (title, i + 1, pages)).encode()
        stream = zlib.compress(text)
        objs[content_id] = (b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream)
                            + stream + b"\nendstream")
        objs[page_id] = ("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                         "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>"
                         % content_id).encode()
    objs[2] = ("<< /Type /Pages /Kids [%s] /Count %d >>" % (" ".join(kids), pages)).encode()
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offsets = {}
    for n in sorted(objs):
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + objs[n] + b"\nendobj\n"
    xref = len(out)
    size = max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for n in range(1, size):
        out += b"%010d 00000 n \n" % offsets[n]
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    return out


def make_tiff(pages, width=240, height=160):
    """A TIFF with @pages pages (image file directories), 8-bit grey, uncompressed, as a
    scanner writes a multi-page scan: page n has n black bars on white."""
    import struct
    out = bytearray(b"II*\x00" + struct.pack("<I", 0))
    prev_link = 4  # where the offset of the next IFD is written
    for n in range(1, pages + 1):
        pixels = bytearray(b"\xff" * (width * height))
        for bar in range(n):
            x0 = 20 + bar * 40
            for y in range(30, height - 30):
                pixels[y * width + x0:y * width + x0 + 24] = b"\x00" * 24
        data_at = len(out)
        out += pixels
        if len(out) % 2:
            out += b"\x00"
        tags = [(256, 3, 1, width), (257, 3, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
                (262, 3, 1, 1), (273, 4, 1, data_at), (277, 3, 1, 1), (278, 3, 1, height),
                (279, 4, 1, len(pixels))]
        ifd_at = len(out)
        struct.pack_into("<I", out, prev_link, ifd_at)
        out += struct.pack("<H", len(tags))
        for tag, typ, count, value in tags:
            out += struct.pack("<HHI", tag, typ, count)
            out += struct.pack("<HH", value, 0) if typ == 3 else struct.pack("<I", value)
        prev_link = len(out)
        out += struct.pack("<I", 0)
    return bytes(out)


def make_xml(number, total):
    """A fully digitalised e-invoice (数电票) XML, read by the node as an invoice."""
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<EInvoice><Header><EIid>%s</EIid></Header>"
            "<TaxSupervisionInfo><InvoiceNumber>%s</InvoiceNumber>"
            "<IssueTime>2026-12-01</IssueTime></TaxSupervisionInfo>"
            "<BasicInformation><TotalAmWithoutTax>%s</TotalAmWithoutTax>"
            "<TotalTaxAm>0.00</TotalTaxAm><TotalTax-includedAmount>%s"
            "</TotalTax-includedAmount></BasicInformation>"
            "<SellerInformation><SellerIdNum>91310000MA1FL0000X</SellerIdNum>"
            "</SellerInformation></EInvoice>\n" % (number, number, total, total)).encode()


def check(resp, status, what):
    if resp.status != status:
        raise SystemExit("seeding: %s: expected HTTP %d, got %d: %r"
                         % (what, status, resp.status, resp.body[:500]))
    return resp.json if resp.body else None


def post_json(node, path, body, status, what):
    return check(node.post(path, json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"}), status, what)


def upload(node, image_no, data, name, category=None):
    return check(node.upload(image_no, data, name=name, category=category), 201,
                 "upload %s to %s" % (name, image_no))


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on loopback: 200 {"ok":true} to every POST."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start_receiver():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def seed(node, spec, receiver=None):
    """Creates the spec's data; answers the IMGARC_SEED_* variables."""
    env = {"IMGARC_SEED_TENANT": "default", "IMGARC_SEED_PASSWORD": PASSWORD}
    post_json(node, "/api/v1/users", {"username": "clerk", "password": PASSWORD,
                                      "roles": ["scanner"], "name": "Li Clerk"},
              201, "create user clerk")
    # A user without the admin permission sees only the bills of the organisations
    # granted to it; "*" is every bill.
    check(node.request("PUT", "/api/v1/users/clerk/grants",
                       json.dumps({"grants": [{"org": "*", "include_children": True}]}).encode(),
                       headers={"Content-Type": "application/json"}), 200, "grants of clerk")
    env["IMGARC_SEED_USER"] = "clerk"
    env["IMGARC_SEED_USER_NAME"] = "Li Clerk"
    if spec in ("admin", "cluster"):
        return seed_admin(node, spec, env, receiver)
    if spec == "login":
        post_json(node, "/api/v1/users", {"username": "lockme", "password": PASSWORD,
                                          "roles": ["reviewer"]}, 201, "create user lockme")
        env["IMGARC_SEED_LOCK_USER"] = "lockme"
        env["IMGARC_SEED_LOCK_FAILURES"] = str(LOCK_FAILURES)
        env["IMGARC_SEED_SOURCE_FAILURES"] = str(SOURCE_FAILURES)
        # A user whose only role lacks "read": the console says what is missing.
        post_json(node, "/api/v1/roles", {"name": "uploader", "permissions": ["capture"]},
                  201, "create role uploader")
        post_json(node, "/api/v1/users", {"username": "upl", "password": PASSWORD,
                                          "roles": ["uploader"]}, 201, "create user upl")
        env["IMGARC_SEED_NOREAD_USER"] = "upl"
        return env
    if spec == "capture":
        env.update(seed_capture(node))
        return env
    if spec == "submit":
        return seed_submit(node, env, receiver)
    if spec == "nodes":
        return seed_nodes(node, env)
    if spec == "migration":
        return seed_migration(node, env)
    jpg = open(os.path.join(CONSOLE, "tests", "files", "receipt.jpg"), "rb").read()
    # A captured bill with a cover, an invoice XML, a JPEG and a two-page PDF.
    main = "BX-CONSOLE-1"
    post_json(node, "/api/v1/pool", {"image_no": main, "bill_no": "ER-2026-0001",
                                     "bill_type": "travel", "org": "sh",
                                     "org_name": "Shanghai branch", "submitter": "li.clerk",
                                     "amount": "1366.00", "currency": "CNY"},
              201, "pool push " + main)
    upload(node, main, make_pdf(1, "Cover " + main), "cover.pdf", "cover")
    upload(node, main, make_xml("26312000000000000001", "1280.00"), "invoice-0001.xml")
    receipt = upload(node, main, jpg, "taxi-receipt.jpg")
    upload(node, main, make_pdf(2, "Hotel invoice"), "hotel-2-pages.pdf")
    upload(node, main, make_tiff(2), "scan-2-pages.tif")
    # Markup in a name and in a text file is shown as text, never run.
    upload(node, main, b"<script>window.pwned = 1</script>\n"
           b"<img src=x onerror=\"window.pwned=2\">\nNotes of the trip: taxi and hotel.\n",
           "<img src=x onerror=alert(1)>notes.txt")
    post_json(node, "/api/v1/bills/%s/rotate" % quote(main),
              {"file_ids": [receipt["file_id"]], "degrees": 90}, 200, "rotate the receipt")
    # A bill submitted (basic mode: ready at once) with one PDF; its "ready" goes to a
    # webhook receiver.
    post_json(node, "/api/v1/webhooks",
              {"url": "http://127.0.0.1:%d/hook" % receiver.server_address[1],
               "events": ["ready"]}, 201, "webhook")
    ready = "BX-CONSOLE-2"
    post_json(node, "/api/v1/pool", {"image_no": ready, "bill_no": "ER-2026-0002",
                                     "bill_type": "purchase", "org": "bj"},
              201, "pool push " + ready)
    upload(node, ready, make_pdf(1, "Purchase order"), "order.pdf")
    check(node.submit(ready), 200, "submit " + ready)
    deadline = time.monotonic() + 30
    while True:
        d = check(node.get("/api/v1/bills/%s/deliveries" % ready), 200, "deliveries")
        if [x["state"] for x in d["deliveries"]] == ["delivered"]:
            break
        if time.monotonic() > deadline:
            raise SystemExit("seeding: the ready webhook of %s was not delivered: %r" % (ready, d))
        time.sleep(0.2)
    # A bill with a merged document: a JPEG followed by a two-page PDF.
    merged = "BX-CONSOLE-3"
    a = upload(node, merged, jpg, "scan-part-1.jpg")
    b = upload(node, merged, make_pdf(2, "Scan part 2"), "scan-part-2.pdf")
    post_json(node, "/api/v1/bills/%s/merge" % quote(merged),
              {"file_ids": [a["file_id"], b["file_id"]]}, 200, "merge in " + merged)
    # Each part keeps its own rotation: the PDF part lies on its side.
    post_json(node, "/api/v1/bills/%s/rotate" % quote(merged),
              {"file_ids": [b["file_id"]], "degrees": 90}, 200, "rotate in " + merged)
    # The merged bill is under a legal hold, placed by the operator.
    post_json(node, "/api/v1/bills/%s/holds" % quote(merged),
              {"reason": "litigation hold: case 17"}, 201, "hold on " + merged)
    # A pool bill still waiting for its files.
    check(node.pool_push({"image_no": "BX-CONSOLE-4", "bill_no": "ER-2026-0004"}), 201,
          "pool push BX-CONSOLE-4")
    env.update({"IMGARC_SEED_BILL": main, "IMGARC_SEED_BILL_READY": ready,
                "IMGARC_SEED_BILL_MERGED": merged, "IMGARC_SEED_BILL_POOL": "BX-CONSOLE-4",
                "IMGARC_SEED_EVENT_CODE": event_code(node, [main, ready])})
    return env


def vendor(node, path, body, what):
    """A vendor-surface call (docs/integrators.md); answers its data."""
    r = check(node.request("POST", path, json.dumps(body).encode(), auth=False,
                           headers={"Content-Type": "application/json"}), 200, what)
    if r.get("errorCode") != "0000":
        raise SystemExit("seeding: %s: %r" % (what, r))
    return r["data"]


def event_code(node, image_nos):
    """An event code for @image_nos, as an ERP connector gets one: a business-system
    client's app token, login.do as the clerk, getEventCode."""
    c = post_json(node, "/api/v1/clients", {"name": "erp"}, 201, "create client erp")
    app = vendor(node, "/api/getAppToken.do", {"appId": c["client_id"],
                                               "appSecret": c["client_secret"],
                                               "tenantid": "default"}, "getAppToken.do")
    user = vendor(node, "/api/login.do", {"user": "clerk", "apptoken": app["app_token"],
                                          "tenantid": "default", "usertype": "UserName"},
                  "login.do")
    d = vendor(node, "/kapi/app/bds/getEventCode?access_token=" + user["access_token"],
               {"scanBillNo": ", ".join(image_nos), "resource": "EAS"},
               "getEventCode")
    return d["eventCode"]


def seed_capture(node):
    """The capture spec: a user whose roles capture, edit, delete and submit; two custom
    attachment categories; the files it imports, written to a folder (the two e-invoice
    XMLs, a cover PDF whose name carries the image number, a JPEG, a two-page PDF, a
    two-page TIFF, and the files of the later edits); a submitted bill with a cover for
    the supplementary-scan banner."""
    post_json(node, "/api/v1/roles", {"name": "capturer",
                                      "permissions": ["read", "capture", "edit", "delete",
                                                      "amend", "submit"]},
              201, "create role capturer")
    post_json(node, "/api/v1/users", {"username": "capt", "password": PASSWORD,
                                      "roles": ["scanner", "capturer"], "name": "Wang Capture"},
              201, "create user capt")
    check(node.request("PUT", "/api/v1/users/capt/grants",
                       json.dumps({"grants": [{"org": "*", "include_children": True}]}).encode(),
                       headers={"Content-Type": "application/json"}), 200, "grants of capt")
    for code, name in (("travel", "Travel documents"), ("contract", "Contracts")):
        post_json(node, "/api/v1/categories", {"code": code, "name": name}, 201,
                  "category " + code)
    no = "BX-CAP-1"
    files = os.path.join(node.data, "capture-files")
    os.makedirs(files, exist_ok=True)
    jpg = open(os.path.join(CONSOLE, "tests", "files", "receipt.jpg"), "rb").read()
    for name, data in (("cover-%s.pdf" % no, make_pdf(1, "Cover " + no)),
                       ("invoice-0001.xml", make_xml("26312000000000000011", "880.00")),
                       ("invoice-0002.xml", make_xml("26312000000000000012", "120.50")),
                       ("taxi-receipt.jpg", jpg),
                       ("contract-2-pages.pdf", make_pdf(2, "Contract")),
                       ("scan-2-pages.tif", make_tiff(2)),
                       ("rescan-receipt.pdf", make_pdf(1, "Rescanned receipt")),
                       ("cover-new-%s.pdf" % no, make_pdf(1, "New cover " + no)),
                       ("insert-a.txt", b"Inserted page A\n"),
                       ("insert-b.txt", b"Inserted page B\n"),
                       ("big-scan.txt", b"imgarc large upload test line\n" * 150000),
                       ("readings.dat", b"\x00\x01\x02 instrument readings\n")):
        with open(os.path.join(files, name), "wb") as fh:
            fh.write(data)
    # A submitted (basic mode: ready) bill with a cover: a supplementary scan adds only.
    sub = "BX-CAP-SUB"
    upload(node, sub, make_pdf(1, "Cover " + sub), "cover.pdf", "cover")
    upload(node, sub, jpg, "receipt.jpg")
    check(node.submit(sub), 200, "submit " + sub)
    # A ready bill of sync mode (paper invoices, no matching): an amend adds, replaces and
    # deletes; the cover is never deleted.
    post_json(node, "/api/v1/bill-types", {"code": "paper", "name": "Paper invoices",
                                           "mode": "sync"}, 201, "bill type paper")
    post_json(node, "/api/v1/schemes", {"bill_type": "paper", "match": "normal",
                                        "submit": "manual"}, 201, "scheme paper")
    amend = "BX-CAP-AMEND"
    post_json(node, "/api/v1/pool", {"image_no": amend, "bill_no": "ER-2026-0100",
                                     "bill_type": "paper", "org": "sh"}, 201, "pool push " + amend)
    upload(node, amend, make_pdf(1, "Cover " + amend), "cover.pdf", "cover")
    upload(node, amend, jpg, "receipt.jpg")
    upload(node, amend, make_pdf(1, "Wrong page"), "wrong-page.pdf")
    ans = check(node.submit(amend), 200, "submit " + amend)
    if ans.get("state") != "ready":
        raise SystemExit("seeding: %s is %r after submit, not ready" % (amend, ans))
    return {"IMGARC_SEED_BILL_AMEND": amend,
            "IMGARC_SEED_USER": "capt", "IMGARC_SEED_USER_NAME": "Wang Capture",
            "IMGARC_SEED_BILL": no, "IMGARC_SEED_BILL_READY": sub,
            "IMGARC_SEED_FILES": files}
SUBMIT_INVOICES = [
    {"number": "04400001", "code": "044001", "date": "2026-11-01", "amount": "100.00",
     "tax": "13.00"},
    {"number": "04400002", "code": "044001", "date": "2026-11-02", "amount": "50.00",
     "tax": "6.50"},
    {"number": "04400003", "code": "044001", "date": "2026-11-03", "amount": "20.00",
     "tax": "2.60"},
]


def seed_submit(node, env, receiver):
    """The submit spec: a user who captures, submits, matches and reviews; a match-mode
    bill type under a manual scheme and one under an auto scheme; the ERP's erp_submit
    webhook on the receiver; captured bills for the three situations (SB-3's second
    invoice file has a wrong total, its third one no matching data), a returned bill
    and one waiting for upload."""
    post_json(node, "/api/v1/roles", {"name": "signer", "permissions": [
        "read", "capture", "edit", "submit", "match", "review"]}, 201, "create role signer")
    post_json(node, "/api/v1/users", {"username": "signer", "password": PASSWORD,
                                      "roles": ["signer"], "name": "Wang Signer"},
              201, "create user signer")
    check(node.request("PUT", "/api/v1/users/signer/grants",
                       json.dumps({"grants": [{"org": "*", "include_children": True}]}).encode(),
                       headers={"Content-Type": "application/json"}), 200, "grants of signer")
    for code, submit in (("SUB_MAN", "manual"), ("SUB_AUTO", "auto")):
        post_json(node, "/api/v1/bill-types", {"code": code, "name": "Expenses " + submit,
                                               "mode": "match"}, 201, "bill type " + code)
        post_json(node, "/api/v1/schemes", {"bill_type": code, "match": "normal",
                                            "submit": submit}, 201, "scheme " + code)
    post_json(node, "/api/v1/webhooks",
              {"url": "http://127.0.0.1:%d/erp" % receiver.server_address[1],
               "events": ["erp_submit"]}, 201, "the ERP webhook")

    def bill(image_no, bill_type, scanned, batch=None):
        post_json(node, "/api/v1/pool", {
            "image_no": image_no, "bill_no": "ER-" + image_no, "bill_type": bill_type,
            "submitter": "wang.signer", "amount": "192.10", "currency": "CNY",
            "invoices": SUBMIT_INVOICES[:len(scanned)]}, 201, "pool push " + image_no)
        upload(node, image_no, make_pdf(1, "Cover " + image_no), "cover.pdf", "cover")
        for i, data in enumerate(scanned):
            f = check(node.upload(image_no, make_pdf(1, "Invoice %d of %s" % (i + 1, image_no)),
                                  name="invoice-%d.pdf" % (i + 1), category="invoice",
                                  query="batch=" + batch if batch else None), 201,
                      "upload an invoice to " + image_no)
            check(node.request("PATCH", "/api/v1/bills/%s/files/%s" % (
                quote(image_no), quote(f["file_id"])),
                json.dumps({"invoice": data}).encode(),
                headers={"Content-Type": "application/json"}), 200, "invoice data")

    def scanned(i, **change):
        inv = dict(SUBMIT_INVOICES[i])
        inv.update(change)
        return inv
    # SB-1's invoice is captured in a batch, as the capture page names its sessions.
    bill("SB-1", "SUB_AUTO", [scanned(0)], batch="web-signer-20261206-ab12")
    bill("SB-2", "SUB_MAN", [scanned(0), scanned(1)])
    bill("SB-3", "SUB_MAN", [scanned(0), scanned(1, total="57.00"),
                             scanned(2, number="04400009")])
    # A bill a reviewer sends back from its page, one returned already, one waiting.
    bill("SB-4", "", [])
    check(node.submit("SB-4"), 200, "submit SB-4")
    bill("SB-5", "", [])
    check(node.submit("SB-5"), 200, "submit SB-5")
    post_json(node, "/api/v1/bills/SB-5/return", {"reason": "the cover page is blurred"},
              200, "return SB-5")
    check(node.pool_push({"image_no": "SB-6", "bill_no": "ER-SB-6"}), 201, "pool push SB-6")
    env.update({"IMGARC_SEED_SIGNER": "signer",
                "IMGARC_SEED_BATCH": "web-signer-20261206-ab12"})
    return env


def seed_nodes(node, env):
    """The nodes spec: one bill with a JPEG and a one-page PDF, seen from every node."""
    no = "BX-NODES-1"
    post_json(node, "/api/v1/pool", {"image_no": no, "bill_no": "ER-2026-0500",
                                     "bill_type": "travel", "org": "sh", "amount": "88.00",
                                     "currency": "CNY"}, 201, "pool push " + no)
    jpg = open(os.path.join(CONSOLE, "tests", "files", "receipt.jpg"), "rb").read()
    upload(node, no, jpg, "taxi-receipt.jpg")
    upload(node, no, make_pdf(1, "Hotel invoice"), "hotel.pdf")
    env["IMGARC_SEED_BILL"] = no
    return env


def seed_migration(node, env):
    """The migration spec: a tenant admin here; a second node (the source) with three
    bills and a business-system client whose credentials the spec types into the data
    source form; a data source "wrong" with a wrong secret (for a failed test)."""
    post_json(node, "/api/v1/users", {"username": "boss", "password": PASSWORD,
                                      "roles": ["tenant_admin"], "name": "Wang Boss"},
              201, "create user boss")
    src = Node("console-migration-source")
    EXTRA_NODES.append(src)
    src.start()
    c = post_json(src, "/api/v1/clients", {"name": "migration"}, 201, "client at the source")
    jpg = open(os.path.join(CONSOLE, "tests", "files", "receipt.jpg"), "rb").read()
    for i, org in ((1, "sh"), (2, "sh"), (3, "bj")):
        no = "MIG-UI-%d" % i
        post_json(src, "/api/v1/pool", {"image_no": no, "bill_no": "ER-MIG-%d" % i,
                                        "bill_type": "travel", "org": org,
                                        "amount": "%d.00" % (100 * i), "currency": "CNY"},
                  201, "pool push %s at the source" % no)
        upload(src, no, make_pdf(1, "Cover " + no), "cover.pdf", "cover")
        upload(src, no, jpg, "receipt.jpg")
    upload(src, "MIG-UI-2", make_xml("26312000000000000099", "200.00"), "invoice.xml")
    post_json(node, "/api/v1/datasources",
              {"name": "wrong", "kind": "imgarc", "url": src.url, "tenant": "default",
               "client_id": c["client_id"], "client_secret": "not-the-secret"},
              201, "data source wrong")
    env.update({"IMGARC_SEED_ADMIN": "boss", "IMGARC_SEED_SRC_URL": src.url,
                "IMGARC_SEED_SRC_CLIENT": c["client_id"],
                "IMGARC_SEED_SRC_SECRET": c["client_secret"],
                "IMGARC_SEED_SRC_BILLS": "MIG-UI-1,MIG-UI-2,MIG-UI-3"})
    return env


def start_cluster(spec):
    """The spec's cluster, started and settled, its data applied on every node later."""
    from imgarc_cluster import Cluster
    cluster = Cluster("console-" + spec)
    try:
        cluster.start(CLUSTER_SPECS[spec])
    except BaseException:
        stop_all(cluster.nodes, False)
        raise
    return cluster


def stop_all(nodes, keep):
    """Stops every node by its pid (a node the spec killed is only reaped); answers
    the problems found (a node running until now that did not exit 0, a sanitizer
    report in a log)."""
    found = []
    for n in nodes:
        try:
            n.cleanup(remove_data=not keep)
        except imgarc_node.NodeError as e:
            found.append(str(e))
    return found


def seed_admin(node, spec, env, receiver):
    """The admin spec: a tenant admin, bills in organisations org-a and org-b (which the
    spec creates), a webhook delivery that failed; the cluster spec: the operator token."""
    env["IMGARC_SEED_OPERATOR_TOKEN"] = node.token
    if spec == "cluster":
        return env
    post_json(node, "/api/v1/users", {"username": "boss", "password": PASSWORD,
                                      "roles": ["tenant_admin"], "name": "Wang Boss"},
              201, "create user boss")
    for image_no, org in (("BX-ADM-A", "org-a"), ("BX-ADM-B", "org-b")):
        post_json(node, "/api/v1/pool", {"image_no": image_no, "bill_no": "ER-" + image_no,
                                         "org": org, "amount": "10.00"},
                  201, "pool push " + image_no)
    # A webhook whose receiver refuses connections: its one attempt fails.
    post_json(node, "/api/v1/webhooks", {"url": "http://127.0.0.1:9/refused",
                                                "events": ["captured"]}, 201, "webhook")
    upload(node, "BX-ADM-A", b"a scan\n", "scan.txt")
    deadline = time.monotonic() + 30
    while True:
        d = check(node.get("/api/v1/deliveries?state=failed"), 200, "deliveries")
        if d["deliveries"]:
            break
        if time.monotonic() > deadline:
            raise SystemExit("seeding: the delivery to a refused port did not fail: %r" % d)
        time.sleep(0.2)
    env.update({"IMGARC_SEED_ADMIN": "boss", "IMGARC_SEED_BILL_A": "BX-ADM-A",
                "IMGARC_SEED_BILL_B": "BX-ADM-B",
                "IMGARC_SEED_HOOK_URL": "http://127.0.0.1:%d/hook" % receiver.server_address[1],
                "IMGARC_SEED_LOCK_FAILURES": str(LOCK_FAILURES)})
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", required=True, choices=sorted(SPECS))
    ap.add_argument("--keep", action="store_true", help="keep the node's data dir")
    args = ap.parse_args()
    shots = os.environ.get("IMGARC_SHOTS") or os.path.join(imgarc_node.BIN_DIR,
                                                           "console-shots")
    os.makedirs(shots, exist_ok=True)
    if not os.path.isdir(os.path.join(CONSOLE, "node_modules", "@playwright", "test")):
        print("run_console.py: console/node_modules is missing: run scripts/console-deps.sh "
              "(npm ci in console/)", file=sys.stderr)
        return 2
    cluster = None
    if args.spec in CLUSTER_SPECS:
        cluster = start_cluster(args.spec)
        node = cluster.nodes[0]
    else:
        node = Node("console-" + args.spec, args=SPECS[args.spec])
    receiver = start_receiver()
    rc = 1
    try:
        if cluster is None:
            node.start()
        r = node.get("/", auth=False)
        if r.status != 200 or b"<main id=\"app\">" not in r.body:
            print("run_console.py: the node does not serve the console at / (HTTP %d): "
                  "build with -DIMGARC_CONSOLE=ON" % r.status, file=sys.stderr)
            return 1
        env = dict(os.environ)
        env.update(seed(node, args.spec, receiver))
        if cluster is not None:
            cluster.wait_converged()
            env.update({"IMGARC_URLS": ",".join(n.url for n in cluster.nodes),
                        "IMGARC_PIDS": ",".join(str(n.pid) for n in cluster.nodes)})
        env.update({"IMGARC_URL": node.url, "IMGARC_SHOTS": os.path.abspath(shots),
                    "IMGARC_SPEC": args.spec, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
                    "CI": "1"})
        cmd = ["npx", "--no-install", "playwright", "test", "tests/%s.spec.mjs" % args.spec]
        print("run_console.py: %s (node %s, pid %d, shots in %s)"
              % (" ".join(cmd), node.url, node.pid, shots), flush=True)
        rc = subprocess.run(cmd, cwd=CONSOLE, env=env, stdin=subprocess.DEVNULL).returncode
    finally:
        receiver.shutdown()
        for problem in stop_all((cluster.nodes if cluster is not None else [node]) +
                                EXTRA_NODES, args.keep):
            print("run_console.py: %s" % problem, file=sys.stderr)
            rc = rc or 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
