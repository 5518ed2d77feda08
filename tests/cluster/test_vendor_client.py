"""An ERP connector that knows only the incumbent vendor's API (VENDOR-API.md,
tests/integration/vendor_client.py) works against a three-node cluster, through the
leader and through a follower: app token, login, pool push, three files collected as
base64, submit, status, cover query; the native API then shows the same bill, on
another node, with byte-identical files.

Only the set-up (a business-system client and a user for it) and the checks use the
native API: the connector's side is the vendor's field names and nothing else."""

import hashlib
import json
import os
import sys
import unittest

from imgarc_cluster import ClusterTestCase, wait_for
from imgarc_node import make_jpg, make_pdf, make_xml_invoice

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from vendor_client import VendorClient, VendorError  # noqa: E402

# The image status numbers the vendor's documentation lists (without meanings).
DOCUMENTED_STATUSES = {0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}
CATEGORY = {"cover": "cover", "invoice": "invoice", "attach": "attachment"}


class VendorClientClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("vendor", 3)
        leader = cls.cluster.leader()
        r = leader.post("/api/v1/clients", body=json.dumps({"name": "eas"}).encode())
        assert r.status == 201, r
        cls.app_id, cls.app_secret = r.json["client_id"], r.json["client_secret"]
        r = leader.post("/api/v1/users", body=json.dumps(
            {"username": "eas-bot", "password": "correct horse battery", "roles": ["scanner"]}
        ).encode())
        assert r.status == 201, r
        r = leader.request("PUT", "/api/v1/users/eas-bot/grants",
                           body=json.dumps({"grants": [{"org": "*"}]}).encode())
        assert r.status == 200, r

    def connector(self, node):
        # Every node must know the client, the user and its grants before the connector
        # starts there.
        self.cluster.wait_converged()
        c = VendorClient(node.host, node.http_port)
        app = c.app_token(self.app_id, self.app_secret, "default", account_id="dc-1")
        c.login("eas-bot", app, "default", account_id="dc-1")
        return c

    def scenario(self, node, other, image_no, fbill_id):
        c = self.connector(node)
        c.erp_bill_push(image_no, fbill_id, "FYBX", "EAS", billNo="BX-" + image_no,
                        fapplyUserName="Zhang San", fapplyOrganizationCode="ORG-01",
                        fbillTypeDes="expense claim")
        before, _ = c.query_bill_status(image_no, "EAS", operate_id="op-" + image_no)
        self.assertIn(int(before), DOCUMENTED_STATUSES)
        sent = {
            "cover": make_pdf(pages=1, text="cover " + image_no),
            "invoice": make_xml_invoice(number="0440" + image_no[-4:], amount="88.00"),
            "attach": make_jpg(n=300000, seed=len(image_no)),
        }
        suffix = {"cover": "pdf", "invoice": "xml", "attach": "jpg"}
        collected = []
        for kind in ("cover", "invoice", "attach"):
            file_no, src_path = c.file_collect(sent[kind], suffix[kind], kind, image_no,
                                               "FYBX", "EAS")
            self.assertTrue(file_no)
            collected.append((file_no, src_path))
        c.scan_bill_submit(image_no, "EAS", "FYBX", collected, model_type=0,
                           save_type="upload", submit_erp=0)
        after, bill_type = c.query_bill_status(image_no, "EAS", operate_id="op2-" + image_no)
        self.assertIn(int(after), DOCUMENTED_STATUSES)
        self.assertNotEqual(int(before), int(after), "submitting files changes the status")
        self.assertEqual(bill_type if isinstance(bill_type, str)
                         else bill_type.get("number", bill_type.get("code")), "FYBX")

        # The cover query: URLs that open without any header, byte-identical.
        cover = c.query_cover("FYBX", fbill_id)
        self.assertEqual(len(cover["cover"]), 1)
        status, body = c.fetch(cover["cover"][0]["localUrl"])
        self.assertEqual(status, 200)
        self.assertEqual(body, sent["cover"])
        self.assertEqual(len(cover["attachment"]), 1)
        status, body = c.fetch(cover["attachment"][0]["localUrl"])
        self.assertEqual((status, body), (200, sent["attach"]))
        self.assertEqual(len(cover["invoice"]), 1)

        # The native API on another node: the same bill, the same bytes.
        def native_bill():
            r = other.get("/api/v1/bills/" + image_no)
            return r.json if r.status == 200 and len(r.json.get("files", [])) == 3 else None
        bill = wait_for(native_bill, 60, "the bill on %s" % other.name)
        self.assertEqual(bill.get("fbill_id"), fbill_id)
        self.assertEqual(bill["bill_no"], "BX-" + image_no)
        got = [(f["category"], f["file_id"]) for f in bill["files"]]
        self.assertEqual([g[0] for g in got], [CATEGORY[k] for k in ("cover", "invoice",
                                                                      "attach")])
        for (category, file_id), kind in zip(got, ("cover", "invoice", "attach")):
            r = other.content(file_id)
            self.assertStatus(r, 200)
            self.assertEqual(hashlib.sha256(r.body).hexdigest(),
                             hashlib.sha256(sent[kind]).hexdigest(), kind)
        # A wrong token is refused in the vendor's envelope.
        c.access_token = c.access_token[:-4] + "AAAA"
        with self.assertRaises(VendorError) as e:
            c.query_bill_status(image_no, "EAS")
        self.assertEqual(e.exception.status, 401)
        self.assertNotEqual(e.exception.code, "0000")
        self.assertTrue(e.exception.message)

    def test_through_the_leader(self):
        leader = self.cluster.leader()
        self.scenario(leader, self.cluster.followers()[0], "VC-LEAD-0001", "EAS-LEAD-1")

    def test_through_a_follower(self):
        a, b = self.cluster.followers()[:2]
        self.scenario(a, b, "VC-FOLL-0002", "EAS-FOLL-2")


if __name__ == "__main__":
    unittest.main()
