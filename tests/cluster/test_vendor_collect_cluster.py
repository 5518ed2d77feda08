"""The vendor's capture calls through the followers of a 3-node cluster: a file
collected on one follower (base64 streamed into its blob writer, copied to the write
quorum), submitted on the other, reads back byte for byte from every node; a repeated
submit through the leader adds nothing."""

import base64
import hashlib
import json
import unittest

from imgarc_cluster import ClusterTestCase
from imgarc_node import make_pdf, random_bytes


class VendorCollectClusterTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("vcc", 3)

    def token(self, node):
        r = node.post("/api/v1/clients",
                      body=json.dumps({"tenant": "default", "name": "erp"}).encode())
        self.assertStatus(r, 201)
        r = node.post("/api/v1/auth/token", auth=False,
                      body=json.dumps({"client_id": r.json["client_id"],
                                       "client_secret": r.json["client_secret"]}).encode())
        self.assertStatus(r, 200)
        return r.json["access_token"]

    def vendor(self, node, path, body, token):
        return node.post("%s?access_token=%s" % (path, token), body=json.dumps(body).encode(),
                         auth=False, headers={"Content-Type": "application/json"})

    def test_collect_and_submit_through_followers(self):
        leader = self.cluster.leader()
        one, two = self.cluster.followers()[:2]
        token = self.token(one)
        files = [("cover", make_pdf(pages=2, seed=81)),
                 ("invoice", random_bytes(1 << 20, seed=82)),
                 ("attach", random_bytes(3000, seed=83))]
        nos = []
        for file_type, data in files:
            r = self.vendor(one, "/kapi/app/bds/fileCollect",
                            {"fileType": file_type, "fileSuffix": "bin",
                             "base64": base64.b64encode(data).decode()}, token)
            self.assertStatus(r, 200)
            self.assertEqual(r.json["errorCode"], "0000", r.json)
            nos.append(r.json["data"]["fileNo"])
        body = {"scanBillNo": "VCC-1", "modelType": 1, "saveType": "add",
                "fileList": [{"fileNo": n} for n in nos]}
        r = self.vendor(two, "/kapi/app/bds/scanBillSubmit", body, token)
        self.assertStatus(r, 200)
        self.assertFalse(r.json["data"]["replayed"])
        r = self.vendor(leader, "/kapi/app/bds/scanBillSubmit", body, token)
        self.assertStatus(r, 200)
        self.assertTrue(r.json["data"]["replayed"])
        self.cluster.wait_converged()
        for node in (leader, one, two):
            r = node.get("/api/v1/bills/VCC-1")
            self.assertStatus(r, 200)
            got = r.json["files"]
            self.assertEqual([f["file_id"] for f in got], nos)
            self.assertEqual([f["category"] for f in got], ["cover", "invoice", "attachment"])
            for f, (_, data) in zip(got, files):
                c = node.get("/api/v1/files/%s/content" % f["file_id"])
                self.assertStatus(c, 200)
                self.assertEqual(hashlib.sha256(c.body).hexdigest(),
                                 hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    unittest.main()
