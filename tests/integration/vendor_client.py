"""An ERP connector written from ../shared/VENDOR-API.md only: the incumbent imaging
product's paths, field names and envelope, and nothing of imgarc's own API.

The tests use it as a connector would (tests/cluster/test_vendor_client.py): if it
needs to know anything imgarc-specific to work, the compatibility surface is wrong.
Only the Python standard library is used.
"""

import base64
import http.client
import json
import urllib.parse


class VendorError(Exception):
    """A call answered with success false: its errorCode and message."""

    def __init__(self, path, status, envelope):
        self.path = path
        self.status = status
        self.envelope = envelope
        self.code = envelope.get("errorCode") if isinstance(envelope, dict) else None
        self.message = envelope.get("message") if isinstance(envelope, dict) else None
        super().__init__("%s answered HTTP %s: %r" % (path, status, envelope))


def _truthy(v):
    # The documentation types success as a boolean in most calls and as the string
    # "true"/"false" in the status query: clients compare it loosely.
    return v is True or (isinstance(v, str) and v.lower() == "true")


class VendorClient:
    def __init__(self, host, port, timeout=60):
        self.host = host
        self.port = port
        self.timeout = timeout
        self.access_token = None

    def call(self, path, body, token=True):
        """POSTs @body as JSON to @path (with ?access_token= after login); returns the
        envelope's data, or raises VendorError when success is not true."""
        target = path
        if token and self.access_token is not None:
            target += "?access_token=" + urllib.parse.quote(self.access_token, safe="")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("POST", target, body=json.dumps(body).encode(),
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            status, raw = r.status, r.read()
        finally:
            conn.close()
        try:
            env = json.loads(raw)
        except ValueError:
            raise VendorError(path, status, {"raw": raw[:200]})
        if not isinstance(env, dict) or not _truthy(env.get("success")) \
                or env.get("errorCode") != "0000":
            raise VendorError(path, status, env)
        return env.get("data"), env

    # ---- Authentication ----

    def app_token(self, app_id, app_secret, tenant_id, account_id="", language="zh_CN"):
        data, env = self.call("/api/getAppToken.do",
                              {"appId": app_id, "appSecret": app_secret,
                               "tenantid": tenant_id, "accountId": account_id,
                               "language": language}, token=False)
        return data["app_token"]

    def login(self, user, app_token, tenant_id, account_id="", usertype="UserName"):
        data, env = self.call("/api/login.do",
                              {"user": user, "apptoken": app_token, "tenantid": tenant_id,
                               "accountId": account_id, "usertype": usertype}, token=False)
        self.access_token = data["access_token"]
        return self.access_token

    # ---- Imaging ----

    def erp_bill_push(self, scan_bill_no, fbill_id, bill_type, resource, **optional):
        body = {"fscanBillNo": scan_bill_no, "fbillId": fbill_id,
                "fbillTypeCode": bill_type, "resource": resource}
        body.update(optional)
        return self.call("/kapi/app/bds/erpBillPush", body)[0]

    def file_collect(self, content, suffix, file_type, scan_bill_no, bill_type, resource):
        data, env = self.call("/kapi/app/bds/fileCollect",
                              {"base64": base64.b64encode(content).decode(),
                               "fileSuffix": suffix, "fileType": file_type,
                               "scanBillNo": scan_bill_no, "billType": bill_type,
                               "resource": resource})
        return data["fileNo"], data["srcPath"]

    def scan_bill_submit(self, scan_bill_no, resource, bill_type, files, model_type=0,
                         save_type="upload", submit_erp=0):
        return self.call("/kapi/app/bds/scanBillSubmit",
                         {"scanBillNo": scan_bill_no, "resource": resource,
                          "billType": bill_type, "modelType": model_type,
                          "saveType": save_type, "isSubmitErp": submit_erp,
                          "fileList": [{"fileNo": n, "srcPath": p} for n, p in files]})[0]

    def query_bill_status(self, scan_bill_no, resource, operate_id="op-1"):
        data, env = self.call("/kapi/app/bds/operate",
                              {"operateType": "queryBillStatus", "operateId": operate_id,
                               "data": {"scanBillNo": scan_bill_no, "resource": resource}})
        return data["imageStatus"], data["billType"]

    def query_cover(self, bill_type, bill_id):
        return self.call("/kapi/app/rim/queryCover", {"billType": bill_type,
                                                      "billId": bill_id})[0]

    def fetch(self, url):
        """GETs a URL an answer returned (it opens without any header)."""
        u = urllib.parse.urlsplit(url)
        host = u.hostname or self.host
        port = u.port or (self.port if not u.hostname else 80)
        target = u.path + ("?" + u.query if u.query else "")
        conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request("GET", target)
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()
