"""Deleting a tenant (DELETE /api/v1/tenants/{id}, imgarc tenant delete; docs/retention.md
"Deleting a tenant"), against a real node: refused without the confirmation, for the
default tenant, while a bill is held or in its retention period; otherwise the tenant
goes with its bills, files, users, clients, webhooks and settings; its tokens answer
401 at once; content no other tenant references leaves the disk after the grace
period while shared content stays; a summary stays in the default tenant's audit log;
the id can be used again for a new, empty tenant."""

import json
import time
import unittest
from urllib.parse import quote

from imgarc_node import random_bytes, run_cli
from test_tenants_licenses import LicenseTestCase

GRACE_MS = 1000


class TenantDeleteTest(LicenseTestCase):

    @classmethod
    def setUpClass(cls):
        cls.make_keys()
        cls.node = cls.start_class_node(
            "tenant-delete", args=["--license-pubkey", cls.key.public,
                                   "--gc-grace-ms", str(GRACE_MS)])

    def delete(self, tenant, body, **kw):
        data = json.dumps(body).encode() if body is not None else b""
        return self.node.request("DELETE", "/api/v1/tenants/" + quote(tenant), body=data, **kw)

    def post_json(self, path, obj, **kw):
        return self.node.post(path, json.dumps(obj).encode(),
                              headers={"Content-Type": "application/json"}, **kw)

    def retention(self, tenant, years):
        r = self.node.request("PUT", "/api/v1/retention?tenant=" + tenant,
                              body=json.dumps({"years": years}).encode())
        self.assertStatus(r, 200)

    def test_a_a_tenant_goes_with_everything_it_has(self):
        t = self.licensed_tenant("gone")
        self.retention("gone", 0)  # its bills may be deleted from the start
        shared = random_bytes(6000, seed=31)
        own = {}
        for i in range(3):
            for j in range(2):
                data = random_bytes(5000 + 100 * i + j, seed=40 + 2 * i + j)
                r = t.upload("G-%d" % i, data, name="f%d.pdf" % j)
                self.assertStatus(r, 201)
                own[r.json["blob"]] = data
        r = t.upload("G-0", shared, name="shared.pdf")
        self.assertStatus(r, 201)
        r = self.node.upload("KEEP-1", shared, name="shared.pdf")  # the default tenant's
        self.assertStatus(r, 201)
        keep_file = r.json["file_id"]
        # Users, clients, a webhook, an organisation, a bill type.
        self.assertStatus(self.post_json("/api/v1/users?tenant=gone",
                                         {"username": "ann", "password": "correct horse 1",
                                          "roles": ["scanner"]}), 201)
        r = self.post_json("/api/v1/clients", {"tenant": "gone", "name": "erp"})
        self.assertStatus(r, 201)
        client = (r.json["client_id"], r.json["client_secret"])
        r = self.post_json("/api/v1/auth/token", {"client_id": client[0],
                                                  "client_secret": client[1]}, auth=False)
        self.assertStatus(r, 200)
        client_token = {"Authorization": "Bearer " + r.json["access_token"]}
        self.assertStatus(self.node.get("/api/v1/bills?limit=10", headers=client_token,
                                        auth=False), 200)
        r = self.post_json("/api/v1/auth/login", {"username": "ann",
                                                  "password": "correct horse 1",
                                                  "tenant": "gone"}, auth=False)
        self.assertStatus(r, 200)
        user_token = {"Authorization": "Bearer " + r.json["access_token"]}
        self.assertStatus(self.post_json("/api/v1/orgs?tenant=gone",
                                         {"id": "o1", "name": "Org 1"}), 201)
        self.assertStatus(self.post_json("/api/v1/bill-types?tenant=gone",
                                         {"code": "T1", "name": "T1", "mode": "basic"}), 201)

        # Refusals that leave everything in place.
        for body in (None, {}, {"confirm": "gon"}, {"confirm": "gone", "extra": 1},
                     {"confirm": "gone", "reason": 5}):
            e = self.assertError(self.delete("gone", body), 400, 11005, "invalid_field",
                                 msg=repr(body))
            self.assertIn("confirm", e["message"])
        self.assertError(self.delete("nobody", {"confirm": "nobody"}), 404, 11014,
                         "tenant_not_found")
        e = self.assertError(self.delete("default", {"confirm": "default"}), 400, 10400,
                             "bad_request")
        self.assertIn("default tenant", e["message"])
        r = self.delete("gone", {"confirm": "gone"}, headers=client_token, auth=False)
        self.assertIn(r.status, (401, 403), r)
        r = self.post_json("/api/v1/bills/G-1/holds?tenant=gone", {"reason": "audit"})
        self.assertStatus(r, 201)
        hold = r.json["hold_id"]
        e = self.assertError(self.delete("gone", {"confirm": "gone"}), 409, 11032, "bill_held")
        self.assertIn("G-1", e["message"])
        self.assertStatus(self.node.request(
            "DELETE", "/api/v1/bills/G-1/holds/%s?tenant=gone" % hold), 200)
        self.retention("gone", 30)  # a longer period counts at once
        e = self.assertError(self.delete("gone", {"confirm": "gone"}), 409, 11034,
                             "bill_retained")
        self.assertIn("retention period", e["message"])
        self.retention("gone", 0)
        self.assertStatus(t.bill("G-2"), 200)

        r = self.delete("gone", {"confirm": "gone", "reason": "contract ended"})
        self.assertStatus(r, 200)
        self.assertEqual((r.json["id"], r.json["deleted"]), ("gone", True))

        # Gone: the tenant, its bills, its tokens.
        ids = [x["id"] for x in self.node.get("/api/v1/tenants").json["tenants"]]
        self.assertNotIn("gone", ids)
        self.assertEqual(t.bill("G-2").status, 404)
        self.assertEqual(t.usage().status, 404)
        for token in (client_token, user_token):
            r = self.node.get("/api/v1/bills?limit=10", headers=token, auth=False)
            self.assertEqual(r.status, 401, r)
        # The summary stays with the operator.
        entries = self.node.get("/api/v1/audit?limit=10000").json["entries"]
        summary = [x for x in entries if x["action"] == "tenant_deleted"][-1]["detail"]
        self.assertEqual((summary["tenant"], summary["reason"], summary["bills"],
                          summary["files"], summary["clients"]),
                         ("gone", "contract ended", 3, 7, 1))
        self.assertEqual(summary["bytes"], sum(len(d) for d in own.values()) + len(shared))
        # Its own content leaves the disk after the grace period; shared content stays.
        deadline = time.time() + 120
        while any(self.node.blob_file(b) is not None for b in own) and time.time() < deadline:
            time.sleep(0.5)
        self.assertEqual([b for b in own if self.node.blob_file(b) is not None], [])
        r = self.node.content(keep_file)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, shared)

        # The id starts a new, empty tenant.
        t2 = self.create_tenant("gone")
        self.assertEqual(t2.bill("G-2").status, 404)
        users = self.node.get("/api/v1/users?tenant=gone").json
        self.assertEqual([u["username"] for u in users["users"]], [])

    def test_b_the_cli_asks_for_the_confirmation(self):
        self.create_tenant("cli-gone")
        p = run_cli(self.node, "tenant", "delete", "cli-gone")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--confirm cli-gone", p.stderr)
        p = run_cli(self.node, "tenant", "delete", "cli-gone", "--confirm", "cli-gone",
                    "--reason", "a test")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("cli-gone: tenant deleted", p.stdout)
        p = run_cli(self.node, "tenant", "delete", "cli-gone", "--confirm", "cli-gone")
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("tenant_not_found", p.stderr)


if __name__ == "__main__":
    unittest.main()
