"""The vendor-compatible surface across a 3-node cluster: an app token from one node
logs in on another, the access token pushes through a follower, a signed link issued by
one node opens on every node, and a logout through one node ends the token on all of
them (docs/integrators.md)."""

import json
import unittest

from imgarc_cluster import ClusterTestCase


class VendorClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("vendorc", 3)

    def vendor(self, node, path, obj, token=None, min_index=None):
        if token is not None:
            path += "?access_token=" + token
        headers = {"Content-Type": "application/json"}
        if min_index is not None:
            headers["X-Imgarc-Min-Index"] = str(min_index)
        return node.request("POST", path, body=json.dumps(obj).encode(), headers=headers,
                            auth=False)

    def ok(self, r):
        self.assertStatus(r, 200)
        self.assertIs(r.json["success"], True, r.json)
        self.assertEqual(r.json["errorCode"], "0000")
        return r.json["data"]

    def wait_for(self, node, index):
        r = node.request("GET", "/api/v1/bills", headers={"X-Imgarc-Min-Index": str(index)})
        self.assertStatus(r, 200, node.name)

    def test_tokens_links_and_logout_work_on_every_node(self):
        leader = self.cluster.leader()
        a, b = self.cluster.followers()[:2]
        r = leader.request("POST", "/api/v1/clients",
                           body=b'{"tenant": "default", "name": "eas"}')
        self.assertStatus(r, 201)
        cid, secret = r.json["client_id"], r.json["client_secret"]
        r = leader.request("POST", "/api/v1/users", body=json.dumps(
            {"username": "erp", "password": "correct horse battery",
             "roles": ["scanner"]}).encode())
        self.assertStatus(r, 201)
        r = leader.request("PUT", "/api/v1/users/erp/grants", body=b'{"grants":[{"org":"*"}]}')
        self.assertStatus(r, 200)
        for n in (a, b):
            self.wait_for(n, r.json["index"] if "index" in r.json else r.header("x-imgarc-index"))
        app = self.ok(self.vendor(a, "/api/getAppToken.do", {
            "appId": cid, "appSecret": secret, "tenantid": "default"}))["app_token"]
        tok = self.ok(self.vendor(b, "/api/login.do", {
            "user": "erp", "apptoken": app, "tenantid": "default",
            "usertype": "UserName"}))["access_token"]
        r = self.vendor(a, "/kapi/app/bds/erpBillPush", {
            "fscanBillNo": "VC-1", "fbillId": "F-VC-1", "fbillTypeCode": "FYBX",
            "resource": "EAS"}, tok)
        self.ok(r)
        pushed = r.header("x-imgarc-index")
        data = b"%PDF-1.4 cluster cover"
        up = leader.request("POST", "/api/v1/bills/VC-1/files?name=cover.pdf&category=cover",
                            body=data, headers={"X-Imgarc-Min-Index": pushed})
        self.assertStatus(up, 201)
        d = self.ok(self.vendor(b, "/kapi/app/rim/queryCover", {"billId": "F-VC-1"}, tok,
                                min_index=up.header("x-imgarc-index")))
        url = d["cover"][0]["localUrl"]
        path = url[url.index("/api/v1/links/"):]
        for n in self.cluster.alive():
            with self.subTest(node=n.name):
                got = n.request("GET", path, auth=False)
                self.assertStatus(got, 200)
                self.assertEqual(got.body, data)
        # A logout through one node ends the token on every node.
        r = self.vendor(a, "/api/logout.do", {"access_token": tok})
        self.ok(r)
        out = r.header("x-imgarc-index")
        for n in self.cluster.alive():
            with self.subTest(node=n.name):
                r = self.vendor(n, "/kapi/app/bds/operate", {
                    "operateType": "queryBillStatus", "data": {"scanBillNo": "VC-1"}}, tok,
                    min_index=out)
                self.assertEqual(r.status, 401, r.body)
                self.assertEqual(r.json["errorCode"], "10401")
                self.assertIn("logged out", r.json["message"])


if __name__ == "__main__":
    unittest.main()
