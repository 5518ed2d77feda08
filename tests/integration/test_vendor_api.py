"""The vendor-compatible surface (docs/integrators.md): getAppToken.do -> login.do ->
erpBillPush / operate / getEventCode / queryCover on a real node over real HTTP, every
answer and refusal in the vendor's envelope, and the signed links and event codes that
open files and bills without a header."""

import json
import time
import unittest

from imgarc_node import NodeTestCase, blake2b_hex, make_jpg, make_pdf, make_xml_invoice, random_bytes


class VendorCase(NodeTestCase):
    """Helpers: clients, users, and calls the way a connector makes them."""

    def post_json(self, path, obj, headers=None, auth=True):
        return self.node.request("POST", path, body=json.dumps(obj).encode(),
                                 headers=dict({"Content-Type": "application/json"},
                                              **(headers or {})), auth=auth)

    def make_client(self, tenant):
        r = self.post_json("/api/v1/clients", {"tenant": tenant, "name": "eas"})
        self.assertStatus(r, 201)
        return r.json["client_id"], r.json["client_secret"]

    def make_user(self, username, roles, tenant="default", grants=("*",)):
        r = self.post_json("/api/v1/users?tenant=" + tenant,
                           {"username": username, "password": "correct horse battery",
                            "roles": roles})
        self.assertStatus(r, 201)
        if grants:
            r = self.node.request("PUT", "/api/v1/users/%s/grants?tenant=%s" % (username, tenant),
                                  body=json.dumps({"grants": [{"org": g} for g in grants]})
                                  .encode())
            self.assertStatus(r, 200)

    def vendor(self, path, obj, token=None, header=False, raw=None):
        """A vendor call: POST with a JSON body, the token as ?access_token= (or as the
        access_token header), never the Authorization header."""
        headers = {"Content-Type": "application/json"}
        if token is not None and header:
            headers["access_token"] = token
        elif token is not None:
            path += ("&" if "?" in path else "?") + "access_token=" + token
        body = raw if raw is not None else json.dumps(obj).encode()
        return self.node.request("POST", path, body=body, headers=headers, auth=False)

    def app_token(self, cid, secret, tenant="default"):
        return self.vendor("/api/getAppToken.do", {"appId": cid, "appSecret": secret,
                                                  "tenantid": tenant, "accountId": "dc-1",
                                                  "language": "zh_CN"})

    def login(self, app_token, user, tenant="default", **extra):
        body = {"user": user, "apptoken": app_token, "tenantid": tenant, "accountId": "dc-1",
                "usertype": "UserName"}
        body.update(extra)
        return self.vendor("/api/login.do", body)

    def access_token(self, cid, secret, user, tenant="default"):
        r = self.app_token(cid, secret, tenant)
        self.assertVendorOk(r)
        r = self.login(r.json["data"]["app_token"], user, tenant)
        self.assertVendorOk(r)
        return r.json["data"]["access_token"]

    def assertVendorOk(self, r):
        self.assertStatus(r, 200)
        self.assertIs(r.json["success"], True, r.json)
        self.assertEqual(r.json["errorCode"], "0000")
        self.assertIsInstance(r.json["message"], str)
        self.assertIsInstance(r.json["data"], dict)
        return r.json["data"]

    def assertVendorError(self, r, status, code, words=None):
        """A refusal in the vendor's envelope: success false, errorCode imgarc's numeric
        code as a string, a message, data null."""
        self.assertEqual(r.status, status, r.body[:600])
        body = r.json
        self.assertIs(body["success"], False, body)
        self.assertEqual(body["errorCode"], str(code), body)
        self.assertTrue(body["message"], body)
        self.assertIsNone(body["data"])
        self.assertNotIn("code", body)
        if words:
            self.assertIn(words, body["message"])

    def push(self, token, image_no, **fields):
        body = {"fscanBillNo": image_no, "fbillId": "ERP-%s" % image_no, "fbillTypeCode": "FYBX",
                "resource": "EAS"}
        body.update(fields)
        return self.vendor("/kapi/app/bds/erpBillPush", body, token)

    def query_status(self, token, image_no, **kw):
        return self.vendor("/kapi/app/bds/operate",
                           {"operateType": "queryBillStatus", "operateId": "op-1",
                            "data": {"scanBillNo": image_no, "resource": "EAS"}}, token, **kw)


class VendorApiTest(VendorCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("vendor", args=["--login-max-failures", "2",
                                                        "--login-source-failures", "3"])
        n = cls.node
        r = n.post("/api/v1/tenants", body=b'{"id": "beta", "name": "Beta"}')
        assert r.status in (201, 409), r
        self = cls("run")
        cls.cid, cls.secret = self.make_client("default")
        cls.beta_cid, cls.beta_secret = self.make_client("beta")
        self.make_user("erp", ["scanner"])
        self.make_user("rita", ["reviewer"])
        self.make_user("nogrant", ["scanner"], grants=())
        self.make_user("lou", ["scanner"])
        self.make_user("erp", ["scanner"], tenant="beta")
        cls.token = self.access_token(cls.cid, cls.secret, "erp")

    # ---- Authentication ----

    def test_app_token_then_login_answer_the_vendor_fields(self):
        before = int(time.time() * 1000)
        r = self.app_token(self.cid, self.secret)
        data = self.assertVendorOk(r)
        self.assertEqual(r.json["state"], "success")
        self.assertIs(r.json["status"], True)
        self.assertIs(data["success"], True)
        self.assertEqual(data["error_code"], "0")
        self.assertEqual(data["error_desc"], "")
        self.assertTrue(data["app_token"].startswith("imgapp1."))
        self.assertGreaterEqual(data["expire_time"], before + 7200 * 1000 - 5000)
        self.assertEqual(r.header("cache-control"), "no-store")
        self.assertNotIn(self.secret, self.node.log_text(whole=True))
        r = self.login(data["app_token"], "erp")
        d = self.assertVendorOk(r)
        self.assertEqual(r.json["state"], "success")
        self.assertIs(d["success"], True)
        self.assertEqual(d["error_code"], "0")
        self.assertEqual(d["user"], "erp")
        self.assertEqual(d["expires_in"], 7200)
        tok = d["access_token"]
        self.assertNotIn(tok, self.node.log_text(whole=True))
        # The access token, as ?access_token=, as the access_token header, and as a
        # native bearer token (it is the user's token): the same user everywhere.
        self.assertVendorError(self.query_status(tok, "NONE-1"), 404, 11002)
        self.assertVendorError(self.query_status(tok, "NONE-1", header=True), 404, 11002)
        r = self.node.request("GET", "/api/v1/bills/NONE-1", auth="Bearer " + tok)
        self.assertError(r, 404, 11002, "bill_not_found")
        # The app token is good for login.do only.
        self.assertVendorError(self.query_status(data["app_token"], "NONE-1"), 401, 10401)
        r = self.node.request("GET", "/api/v1/bills", auth="Bearer " + data["app_token"])
        self.assertError(r, 401, 10401, "unauthorized")

    def test_logout_ends_one_token(self):
        tok = self.access_token(self.cid, self.secret, "erp")
        other = self.access_token(self.cid, self.secret, "erp")
        self.assertVendorError(self.query_status(tok, "NONE-2"), 404, 11002)
        self.assertEqual(self.assertVendorOk(self.vendor("/api/logout.do",
                                                         {"access_token": tok})), {})
        r = self.query_status(tok, "NONE-2")
        self.assertVendorError(r, 401, 10401, "logged out")
        r = self.node.request("GET", "/api/v1/bills/NONE-2", auth="Bearer " + tok)
        self.assertError(r, 401, 10401, "unauthorized")
        # The user's other token goes on; logging out again is harmless.
        self.assertVendorError(self.query_status(other, "NONE-2"), 404, 11002)
        self.assertVendorOk(self.vendor("/api/logout.do", {"access_token": tok}))
        # The token may also come as ?access_token=.
        self.assertVendorOk(self.vendor("/api/logout.do", {}, other))
        self.assertVendorError(self.query_status(other, "NONE-2"), 401, 10401, "logged out")
        log = self.node.get("/api/v1/audit").json
        self.assertIn("token_logged_out", json.dumps(log))
        # A forged token, none, or a business system's token: refused.
        self.assertVendorError(self.vendor("/api/logout.do", {"access_token": "imgarc1.x.y"}),
                               401, 10401)
        self.assertVendorError(self.vendor("/api/logout.do", {}), 400, 11005, "access_token")
        r = self.post_json("/api/v1/auth/token", {"client_id": self.cid,
                                                  "client_secret": self.secret}, auth=False)
        self.assertVendorError(self.vendor("/api/logout.do",
                                           {"access_token": r.json["access_token"]}), 401,
                               10401, "business system")

    def test_authentication_refusals_are_in_the_envelope(self):
        r = self.vendor("/api/getAppToken.do", {"appId": self.cid, "tenantid": "default"})
        self.assertVendorError(r, 400, 11005, "appSecret")
        self.assertVendorError(self.app_token(self.cid, self.secret + "x"), 401, 10401,
                               "wrong appSecret")
        self.assertVendorError(self.app_token("c-nobody", "x"), 401, 10401, "unknown appId")
        self.assertVendorError(self.app_token(self.cid, self.secret, "beta"), 401, 10401,
                               "not a client of tenant beta")
        self.assertVendorError(self.vendor("/api/getAppToken.do", None, raw=b"{nope"), 400,
                               11004)
        # tenantid may be empty (the vendor documents it so): the client's own tenant.
        r = self.vendor("/api/getAppToken.do", {"appId": self.beta_cid,
                                                "appSecret": self.beta_secret, "tenantid": "",
                                                "accountId": "1"})
        beta_app = self.assertVendorOk(r)["app_token"]
        d = self.assertVendorOk(self.vendor("/api/login.do", {"user": "erp",
                                                              "apptoken": beta_app}))
        self.assertEqual(d["tenant"], "beta")
        self.assertVendorError(self.vendor("/api/getAppToken.do", {
            "appId": self.cid, "appSecret": self.secret, "tenantid": "no/such"}), 400, 11005)
        app = self.app_token(self.cid, self.secret).json["data"]["app_token"]
        self.assertVendorError(self.login(app, "ghost"), 404, 11017, "ghost")
        self.assertVendorError(self.login(app, "erp", "beta"), 401, 10401, "tenantid")
        self.assertVendorError(self.login(app[:-2] + ("A" if app[-2] != "A" else "B") +
                                          app[-1], "erp"), 401, 10401, "not an app token")
        self.assertVendorError(self.login(app, "erp", usertype="Mobile"), 400, 11005,
                               "phone number")
        self.assertVendorError(self.login(app, "erp", usertype="Email"), 400, 11005)
        r = self.vendor("/api/login.do", {"apptoken": app, "tenantid": "default"})
        self.assertVendorError(r, 400, 11005, "user is required")
        # A locked user (two wrong passwords) cannot be logged in as.
        for _ in range(2):
            self.post_json("/api/v1/auth/login", {"username": "lou", "password": "wrong-pw"},
                           auth=False)
        self.assertVendorError(self.login(app, "lou"), 403, 10423, "locked")
        # Bad access tokens, and none.
        self.assertVendorError(self.query_status("imgarc1.e30.AAAA", "X-1"), 401, 10401)
        self.assertVendorError(self.query_status(None, "X-1"), 401, 10401, "access_token")
        # The operator token is taken from the Authorization header only.
        self.assertVendorError(self.query_status(self.node.token, "X-1"), 401, 10401,
                               "Authorization header only")
        # An unknown vendor path answers in the envelope too.
        self.assertVendorError(self.vendor("/kapi/app/bds/nothing", {}, self.token), 404,
                               10404)

    def test_guessing_app_secrets_is_throttled(self):
        codes = [self.app_token("c-guess", "s%d" % i).status for i in range(5)]
        self.assertEqual(codes[:3], [401, 401, 401])
        r = self.app_token("c-guess", "s9")
        self.assertVendorError(r, 429, 10429, "try again")
        self.assertIsNotNone(r.header("retry-after"))

    # ---- erpBillPush, operate ----

    def test_push_shows_in_the_native_api_and_status_follows(self):
        r = self.push(self.token, "VB-1", billNo="ER-0001", fapplyOrganizationCode="",
                      fapplyUserName="Wang", fbillTypeDes="expense claim",
                      fapplyUserPhone="13800000000", fapplyErpUserName="wang01",
                      fapplyOrganizationName="HQ", taxNo="91310000000000000X")
        self.assertEqual(self.assertVendorOk(r), {})
        b = self.node.bill("VB-1")
        self.assertStatus(b, 200)
        self.assertEqual((b.json["bill_no"], b.json["bill_type"], b.json["submitter"],
                          b.json["state"], b.json["in_pool"]),
                         ("ER-0001", "FYBX", "Wang", "pending_upload", True))
        self.assertEqual((b.json["fbill_id"], b.json["source"], b.json["bill_type_name"],
                          b.json["submitter_phone"], b.json["submitter_erp_name"],
                          b.json["org_name"], b.json["tax_no"]),
                         ("ERP-VB-1", "EAS", "expense claim", "13800000000", "wang01", "HQ",
                          "91310000000000000X"))
        r = self.node.list_bills("fbill_id=ERP-VB-1")
        self.assertEqual([x["image_no"] for x in r.json["bills"]], ["VB-1"])
        # The same push again is accepted; another fbillId for the bill, or this fbillId
        # for another bill, is refused.
        self.assertVendorOk(self.push(self.token, "VB-1", billNo="ER-0001"))
        self.assertVendorError(self.push(self.token, "VB-1", fbillId="ERP-OTHER"), 409, 11030)
        self.assertVendorError(self.push(self.token, "VB-1B", fbillId="ERP-VB-1"), 409, 11030)
        self.assertEqual(b.json["files"], [])
        log = self.node.audit_log("VB-1").json["entries"]
        self.assertEqual(log[-1]["operator"], "user:erp")
        d = self.assertVendorOk(self.query_status(self.token, "VB-1"))
        self.assertEqual((d["imageStatus"], d["billType"], d["state"]), (12, "FYBX",
                                                                         "pending_upload"))
        # Native capture and submit on the vendor's bill: the status follows.
        self.assertStatus(self.node.upload("VB-1", make_pdf(2), name="claim.pdf"), 201)
        self.assertEqual(self.assertVendorOk(self.query_status(self.token, "VB-1"))
                         ["imageStatus"], 0)
        self.assertStatus(self.node.submit("VB-1"), 200)
        d = self.assertVendorOk(self.query_status(self.token, "VB-1"))
        self.assertEqual((d["imageStatus"], d["state"], d["ready"]), (2, "ready", True))
        # A returned bill is 3.
        r = self.post_json("/api/v1/bills/VB-1/return", {"reason": "blurred"})
        self.assertStatus(r, 200)
        self.assertEqual(self.assertVendorOk(self.query_status(self.token, "VB-1"))
                         ["imageStatus"], 3)

    def test_match_failed_and_processing_failed(self):
        for code, mode, submit in (("BT-M", "match", "manual"), ("BT-A", "basic", "auto")):
            r = self.post_json("/api/v1/bill-types", {"code": code, "name": code, "mode": mode})
            self.assertStatus(r, 201)
            r = self.post_json("/api/v1/schemes", {"bill_type": code, "match": "normal",
                                                   "submit": submit})
            self.assertIn(r.status, (200, 201), r.body)
        # A match-mode bill whose declared invoice has no matching file: match failed.
        self.assertStatus(self.node.pool_push({"image_no": "VS-M", "bill_type": "BT-M",
                                               "invoices": [{"number": "INV-9",
                                                             "total": "10.00"}]}), 201)
        self.assertStatus(self.node.upload("VS-M", random_bytes(800, seed=4), name="a.bin",
                                           category="attachment"), 201)
        self.assertStatus(self.node.submit("VS-M"), 200)
        d = self.assertVendorOk(self.query_status(self.token, "VS-M"))
        self.assertEqual((d["imageStatus"], d["state"], d["ready"]), (4, "submitted", False))
        # Submitted to an ERP that no webhook serves: processing failed.
        self.assertVendorOk(self.push(self.token, "VS-A", fbillTypeCode="BT-A"))
        self.assertStatus(self.node.upload("VS-A", b"text", name="a.txt"), 201)
        self.assertStatus(self.node.submit("VS-A"), 200)
        d = self.assertVendorOk(self.query_status(self.token, "VS-A"))
        self.assertEqual((d["imageStatus"], d["state"]), (5, "erp_failed"))

    def test_push_refusals(self):
        r = self.vendor("/kapi/app/bds/erpBillPush", {"fbillId": "1", "fbillTypeCode": "FYBX",
                                                      "resource": "EAS"}, self.token)
        self.assertVendorError(r, 400, 11005, "fscanBillNo")
        self.assertVendorError(self.push(self.token, "VB-2", resource=""), 400, 11005,
                               "resource")
        self.assertVendorError(self.push(self.token, "bad/no"), 400, 11001)
        self.assertVendorError(self.push(self.token, "VB-2", fbillTypeCode=["x"]), 400, 11005)
        self.assertVendorError(self.vendor("/kapi/app/bds/erpBillPush", None, self.token,
                                           raw=b"[1]"), 400, 11004)
        app = self.app_token(self.cid, self.secret).json["data"]["app_token"]
        rita = self.login(app, "rita").json["data"]["access_token"]
        self.assertVendorError(self.push(rita, "VB-2"), 403, 10403, "capture")
        # An integer image number is taken as its text (the vendor types loosely).
        self.assertVendorOk(self.push(self.token, 20240001))
        self.assertStatus(self.node.bill("20240001"), 200)

    def test_operate_refusals_and_tenants(self):
        r = self.vendor("/kapi/app/bds/operate", {"operateType": "deleteBill", "data": {}},
                        self.token)
        self.assertVendorError(r, 400, 11005, "queryBillStatus")
        r = self.vendor("/kapi/app/bds/operate", {"operateType": "queryBillStatus"},
                        self.token)
        self.assertVendorError(r, 400, 11005, "data")
        r = self.vendor("/kapi/app/bds/operate", {"operateType": "queryBillStatus",
                                                  "data": {"resource": "EAS"}}, self.token)
        self.assertVendorError(r, 400, 11005, "scanBillNo")
        self.assertVendorError(self.query_status(self.token, "VB-NONE"), 404, 11002)
        # Another tenant's bill is as missing as one that does not exist.
        self.assertVendorOk(self.push(self.token, "VB-DEF"))
        beta = self.access_token(self.beta_cid, self.beta_secret, "erp", "beta")
        self.assertVendorError(self.query_status(beta, "VB-DEF"), 404, 11002)
        self.assertVendorError(self.vendor("/kapi/app/rim/queryCover", {"billId": "VB-DEF"},
                                           beta), 404, 11002)
        self.assertVendorError(self.vendor("/kapi/app/bds/operate?tenant=default",
                                           {"operateType": "queryBillStatus",
                                            "data": {"scanBillNo": "VB-DEF"}}, beta),
                               403, 10403, "tenant beta only")
        # A user without grants sees no bill of an organisation.
        self.assertStatus(self.node.request("POST", "/api/v1/orgs",
                                            body=b'{"id": "ORG-A", "name": "A"}'), 201)
        self.assertVendorOk(self.push(self.token, "VB-ORG", fapplyOrganizationCode="ORG-A"))
        nog = self.access_token(self.cid, self.secret, "nogrant")
        self.assertVendorError(self.query_status(nog, "VB-ORG"), 404, 11002)

    # ---- queryCover, signed links, event codes ----

    def capture_three(self, image_no):
        pdf, xml, att = make_pdf(3), make_xml_invoice(), random_bytes(3000, seed=7)
        self.assertVendorOk(self.push(self.token, image_no, fbillId="FB-" + image_no))
        self.assertStatus(self.node.upload(image_no, pdf, name="cover.pdf", category="cover"),
                          201)
        self.assertStatus(self.node.upload(image_no, xml, name="inv.xml", category="invoice"),
                          201)
        self.assertStatus(self.node.upload(image_no, att, name="notes.bin",
                                           category="attachment"), 201)
        return pdf, xml, att

    def test_query_cover_lists_files_with_signed_links(self):
        pdf, xml, att = self.capture_three("VC-1")
        r = self.vendor("/kapi/app/rim/queryCover", {"billType": "FYBX", "billId": "VC-1"},
                        self.token)
        d = self.assertVendorOk(r)
        self.assertEqual(len(d["cover"]), 1)
        self.assertEqual(len(d["attachment"]), 1)
        self.assertEqual(len(d["invoice"]), 1)
        cover, att_e, inv = d["cover"][0], d["attachment"][0], d["invoice"][0]
        self.assertEqual((cover["coverNo"], cover["fileType"]), ("VC-1", 1))
        self.assertEqual((att_e["attachmentName"], att_e["serialNo"], att_e["attachmentType"]),
                         ("notes.bin", 3, "attachment"))
        self.assertIn("invoiceNo", inv)
        for entry, data, disposition in ((cover, pdf, "inline"), (inv, xml, "attachment"),
                                         (att_e, att, "attachment")):
            url = entry["localUrl"]
            self.assertTrue(url.startswith("http://"), url)
            path = url[url.index("/api/v1/links/"):]
            self.assertNotIn(self.token, url)
            got = self.node.request("GET", path, auth=False)
            self.assertStatus(got, 200)
            self.assertEqual(got.body, data)
            self.assertTrue(got.header("content-disposition").startswith(disposition))
        self.assertEqual(cover["snapshotUrl"], cover["localUrl"])
        # billId is the ERP's id (fbillId) first, the image number otherwise.
        r = self.vendor("/kapi/app/rim/queryCover", {"billType": "FYBX", "billId": "FB-VC-1"},
                        self.token)
        again = self.assertVendorOk(r)
        for kind in ("cover", "attachment", "invoice"):
            self.assertEqual([e["fileId"] for e in again[kind]], [e["fileId"] for e in d[kind]])
        r = self.vendor("/kapi/app/rim/queryCover", {"billId": "VC-NONE"}, self.token)
        self.assertVendorError(r, 404, 11002)
        nog = self.access_token(self.cid, self.secret, "nogrant")
        r = self.vendor("/kapi/app/rim/queryCover", {"billId": "FB-VC-1"}, nog)
        self.assertVendorError(r, 404, 11002)
        self.assertNotIn("VC-1", r.json["message"].replace("FB-VC-1", ""))
        r = self.vendor("/kapi/app/rim/queryCover", {"billType": "FYBX"}, self.token)
        self.assertVendorError(r, 400, 11005, "billId")

    def test_native_link_range_etag_and_tampering(self):
        pdf = make_pdf(4)
        up = self.node.upload("VL-1", pdf, name="scan.pdf")
        self.assertStatus(up, 201)
        fid = up.json["file_id"]
        r = self.node.post("/api/v1/files/%s/link" % fid)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["expires_in"], 600)
        self.assertTrue(r.json["expires"].endswith("Z"))
        path = r.json["url"][r.json["url"].index("/api/v1/links/"):]
        full = self.node.request("GET", path, auth=False)
        self.assertStatus(full, 200)
        self.assertEqual(blake2b_hex(full.body), blake2b_hex(pdf))
        self.assertTrue(full.header("content-disposition").startswith("inline"))
        self.assertEqual(full.header("content-type"), "application/pdf")
        self.assertEqual(full.header("x-content-type-options"), "nosniff")
        self.assertIsNone(full.header("content-security-policy"))  # the PDF viewer works
        # An image a link opens runs and loads nothing else.
        img = self.node.upload("VL-1", make_jpg(5000), name="photo.jpg")
        self.assertStatus(img, 201)
        r = self.node.post("/api/v1/files/%s/link" % img.json["file_id"])
        shown = self.node.request("GET", r.json["url"][r.json["url"].index("/api/v1/links/"):],
                                  auth=False)
        self.assertStatus(shown, 200)
        self.assertTrue(shown.header("content-disposition").startswith("inline"))
        self.assertIn("sandbox", shown.header("content-security-policy"))
        self.assertEqual(shown.header("x-content-type-options"), "nosniff")
        part = self.node.request("GET", path, headers={"Range": "bytes=10-19"}, auth=False)
        self.assertStatus(part, 206)
        self.assertEqual(part.body, pdf[10:20])
        etag = full.header("etag")
        self.assertTrue(etag)
        same = self.node.request("GET", path, headers={"If-None-Match": etag}, auth=False)
        self.assertStatus(same, 304)
        self.assertStatus(self.node.request("HEAD", path, auth=False), 200)
        # The native download stays an attachment.
        native = self.node.content(fid)
        self.assertTrue(native.header("content-disposition").startswith("attachment"))
        # Tampered: another file id in the payload, a flipped MAC, a cut link.
        token = path[len("/api/v1/links/"):]
        for bad in (token[:-1] + ("A" if token[-1] != "A" else "B"), token[:40],
                    token.replace("imglnk1.", "imgevt1."), "imgarc1.x.y"):
            r = self.node.request("GET", "/api/v1/links/" + bad, auth=False)
            self.assertError(r, 403, 10403, "forbidden")
            self.assertIn("link", r.json["message"])
        r = self.node.post("/api/v1/files/f-nothing/link")
        self.assertError(r, 404, 11003, "file_not_found")
        # A user who may not see the bill (no grants at all) gets no link either.
        r = self.node.request("POST", "/api/v1/files/%s/link" % fid,
                              auth="Bearer " + self.access_token(self.cid, self.secret,
                                                                 "nogrant"))
        self.assertError(r, 404, 11003, "file_not_found")

    def test_event_code_opens_the_bills(self):
        self.capture_three("VE-1")
        self.assertVendorOk(self.push(self.token, "VE-2"))
        r = self.vendor("/kapi/app/bds/getEventCode", {"scanBillNo": "VE-1, VE-2",
                                                       "resource": "EAS"}, self.token)
        d = self.assertVendorOk(r)
        code = d["eventCode"]
        self.assertTrue(code.startswith("imgevt1."))
        for path in ("/api/v1/events/" + code,
                     "/index.html?formId=bds_match_list&eventCode=" + code,
                     "/mobile.html?form=bds_mobile_image_list&eventCode=" + code):
            v = self.node.request("GET", path, auth=False)
            self.assertStatus(v, 200)
            bills = v.json["bills"]
            self.assertEqual([b["image_no"] for b in bills], ["VE-1", "VE-2"])
            self.assertEqual([len(b["files"]) for b in bills], [3, 0])
            self.assertEqual(bills[1]["imageStatus"], 12)
            f = bills[0]["files"][0]
            got = self.node.request("GET", f["url"][f["url"].index("/api/v1/links/"):],
                                    auth=False)
            self.assertStatus(got, 200)
        r = self.node.request("GET", "/api/v1/events/" + code[:-3] + "xyz", auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        r = self.node.request("GET", "/index.html?formId=bds_match_list", auth=False)
        self.assertError(r, 400, 11011, "invalid_query")
        # A browser at the vendor's page path is sent on to the console's event page,
        # the code in the fragment (console/tests/bills.spec.mjs opens it).
        for page in ("/index.html?formId=bds_match_list&eventCode=",
                     "/mobile.html?form=bds_mobile_image_list&eventCode="):
            r = self.node.request("GET", page + code, auth=False,
                                  headers={"Accept": "text/html,application/xhtml+xml,*/*"})
            self.assertStatus(r, 303)
            self.assertEqual(r.header("location"), "/#/event/" + code)
            self.assertEqual(r.header("referrer-policy"), "no-referrer")
        # A forged code is refused before any redirect.
        r = self.node.request("GET", "/index.html?eventCode=" + code[:-3] + "xyz", auth=False,
                              headers={"Accept": "text/html"})
        self.assertError(r, 403, 10403, "forbidden")
        # Behind a proxy that ends TLS, links say https.
        r = self.vendor("/kapi/app/rim/queryCover", {"billId": "VE-1"}, self.token)
        self.assertTrue(r.json["data"]["cover"][0]["localUrl"].startswith("http://127.0.0.1:"))
        r = self.node.request("POST", "/kapi/app/rim/queryCover?access_token=" + self.token,
                              body=b'{"billId": "VE-1"}', auth=False,
                              headers={"X-Forwarded-Proto": "https", "Host": "img.example"})
        self.assertTrue(r.json["data"]["cover"][0]["localUrl"]
                        .startswith("https://img.example/api/v1/links/imglnk1."))
        r = self.vendor("/kapi/app/bds/getEventCode", {"scanBillNo": "VE-1,VE-NONE"},
                        self.token)
        self.assertVendorError(r, 404, 11002)
        r = self.vendor("/kapi/app/bds/getEventCode",
                        {"scanBillNo": ",".join("VE-%d" % i for i in range(11))}, self.token)
        self.assertVendorError(r, 400, 11005, "at most 10")
        r = self.vendor("/kapi/app/bds/getEventCode", {"resource": "EAS"}, self.token)
        self.assertVendorError(r, 400, 11005, "scanBillNo")

    def test_mixed_native_and_vendor_calls_on_one_bill(self):
        self.assertStatus(self.node.pool_push({"image_no": "VM-1", "bill_type": "FYBX",
                                               "bill_no": "N-1"}), 201)
        self.assertVendorOk(self.push(self.token, "VM-1", billNo="N-1"))
        data = random_bytes(5000, seed=3)
        self.assertStatus(self.node.upload("VM-1", data, name="a.png"), 201)
        self.assertEqual(self.assertVendorOk(self.query_status(self.token, "VM-1"))
                         ["imageStatus"], 0)
        d = self.assertVendorOk(self.vendor("/kapi/app/rim/queryCover", {"billId": "VM-1"},
                                            self.token))
        url = d["attachment"][0]["localUrl"]
        self.assertEqual(self.node.request("GET", url[url.index("/api/v1/links/"):],
                                           auth=False).body, data)
        ops = [e["operator"] for e in self.node.audit_log("VM-1").json["entries"]]
        self.assertIn("operator", ops)
        self.assertIn("user:erp", ops)


class VendorExpiryTest(VendorCase):
    """Short lifetimes: expired app tokens, access tokens, links and event codes."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("vendor-ttl", args=["--vendor-token-ttl-s", "2",
                                                            "--link-ttl-s", "2"])
        self = cls("run")
        cls.cid, cls.secret = self.make_client("default")
        self.make_user("erp", ["scanner"])

    def test_everything_expires(self):
        app = self.assertVendorOk(self.app_token(self.cid, self.secret))["app_token"]
        tok = self.assertVendorOk(self.login(app, "erp"))["access_token"]
        self.assertVendorOk(self.push(tok, "VX-1"))
        code = self.assertVendorOk(self.vendor("/kapi/app/bds/getEventCode",
                                               {"scanBillNo": "VX-1"}, tok))["eventCode"]
        up = self.node.upload("VX-1", b"some text", name="a.txt")
        self.assertStatus(up, 201)
        link = self.node.post("/api/v1/files/%s/link" % up.json["file_id"]).json["url"]
        time.sleep(2.3)
        self.assertVendorError(self.login(app, "erp"), 401, 10401, "expired")
        self.assertVendorError(self.query_status(tok, "VX-1"), 401, 10401, "expired")
        r = self.node.request("GET", link[link.index("/api/v1/links/"):], auth=False)
        self.assertError(r, 410, 10410, "gone")
        # Logging out an expired token has nothing left to do.
        self.assertVendorOk(self.vendor("/api/logout.do", {"access_token": tok}))
        self.assertIn("expired", r.json["message"])
        r = self.node.request("GET", "/api/v1/events/" + code, auth=False)
        self.assertError(r, 410, 10410, "gone")


if __name__ == "__main__":
    unittest.main()
