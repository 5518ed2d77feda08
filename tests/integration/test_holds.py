"""Legal holds on a bill (docs/retention.md, docs/API.md "Legal holds"), against a real
node: POST /api/v1/bills/{image_no}/holds places one with a reason, DELETE
/api/v1/bills/{image_no}/holds/{hold_id} lifts it; while one is in force no file of
the bill may be deleted or replaced, by anyone, the operator included; every step is in
the bill's audit log; the hold permission is its own (tenant_admin and custom roles
that name it have it, scanners and business-system clients do not); holds survive a
restart; the CLI's `imgarc hold` places, lists and lifts them."""

import json
import re
import unittest

from imgarc_node import NodeTestCase, random_bytes, run_cli, cli_json

HOLD_ID = re.compile(r"^h[0-9a-f]{16}$")


class HoldTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("holds")

    def post_json(self, path, obj, headers=None, auth=True):
        return self.node.request("POST", path, body=json.dumps(obj).encode(),
                                 headers=headers, auth=auth)

    def bill_with_files(self, image_no, n=2):
        ids = []
        for i in range(n):
            r = self.node.upload(image_no, random_bytes(3000 + i, seed=hash(image_no) + i),
                                 name="f%d.pdf" % i)
            self.assertStatus(r, 201)
            ids.append(r.json["file_id"])
        return ids

    def place(self, image_no, reason, headers=None, auth=True):
        return self.post_json("/api/v1/bills/%s/holds" % image_no, {"reason": reason},
                              headers=headers, auth=auth)

    def lift(self, image_no, hold_id, reason=None, headers=None, auth=True):
        body = json.dumps({"reason": reason}).encode() if reason is not None else b""
        return self.node.request("DELETE", "/api/v1/bills/%s/holds/%s" % (image_no, hold_id),
                                 body=body, headers=headers, auth=auth)

    def log_actions(self, image_no):
        r = self.node.audit_log(image_no)
        self.assertStatus(r, 200)
        return r.json["entries"]

    def test_a_hold_stops_deletion_and_replacement_until_lifted(self):
        ids = self.bill_with_files("HD-1", 3)
        r = self.place("HD-1", "tax audit 2026-04: keep every scan")
        self.assertStatus(r, 201)
        hold = r.json
        self.assertRegex(hold["hold_id"], HOLD_ID)
        self.assertEqual(hold["image_no"], "HD-1")
        self.assertEqual(hold["reason"], "tax audit 2026-04: keep every scan")
        self.assertEqual(hold["placed_by"], "operator")
        self.assertRegex(hold["placed"], r"^\d{4}-\d\d-\d\dT")
        self.assertEqual([h["hold_id"] for h in hold["holds"]], [hold["hold_id"]])
        bill = self.node.bill("HD-1").json
        self.assertEqual([h["hold_id"] for h in bill["holds"]], [hold["hold_id"]])

        # Deleting (one file, several) and replacing are refused for everyone.
        r = self.node.request("DELETE", "/api/v1/bills/HD-1/files/%s" % ids[0])
        body = self.assertError(r, 409, 11032, "bill_held")
        self.assertIn(hold["hold_id"], body["message"])
        r = self.post_json("/api/v1/bills/HD-1/delete", {"file_ids": ids[:2]})
        self.assertError(r, 409, 11032, "bill_held")
        r = self.node.upload("HD-1", random_bytes(2000, seed=77), name="new.pdf",
                             query="replace=" + ids[1])
        self.assertError(r, 409, 11032, "bill_held")
        self.assertEqual([f["file_id"] for f in self.node.bill("HD-1").json["files"]], ids)
        # What does not delete content goes on: a new file, a rotation, a category.
        r = self.node.upload("HD-1", random_bytes(1500, seed=78), name="more.pdf")
        self.assertStatus(r, 201)
        ids.append(r.json["file_id"])
        r = self.post_json("/api/v1/bills/HD-1/rotate", {"file_ids": [ids[0]], "degrees": 90})
        self.assertStatus(r, 200)

        # A second hold; lifting one leaves the other in force.
        r2 = self.place("HD-1", "litigation hold, case 17")
        self.assertStatus(r2, 201)
        self.assertEqual(len(r2.json["holds"]), 2)
        r = self.lift("HD-1", hold["hold_id"], reason="audit closed")
        self.assertStatus(r, 200)
        self.assertEqual([h["hold_id"] for h in r.json["holds"]], [r2.json["hold_id"]])
        r = self.node.request("DELETE", "/api/v1/bills/HD-1/files/%s" % ids[0])
        self.assertError(r, 409, 11032, "bill_held")
        r = self.lift("HD-1", r2.json["hold_id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.json["holds"], [])

        # Lifted: deletion works again.
        r = self.node.request("DELETE", "/api/v1/bills/HD-1/files/%s" % ids[0])
        self.assertStatus(r, 200)
        self.assertNotIn(ids[0], [f["file_id"] for f in self.node.bill("HD-1").json["files"]])

        entries = self.log_actions("HD-1")
        actions = [e["action"] for e in entries]
        self.assertEqual(actions.count("hold_placed"), 2, actions)
        self.assertEqual(actions.count("hold_lifted"), 2, actions)
        placed = [e for e in entries if e["action"] == "hold_placed"][0]
        self.assertEqual(placed["detail"]["hold_id"], hold["hold_id"])
        self.assertEqual(placed["detail"]["reason"], "tax audit 2026-04: keep every scan")
        self.assertEqual(placed["operator"], "operator")
        lifted = [e for e in entries if e["action"] == "hold_lifted"][0]
        self.assertEqual(lifted["detail"]["reason"], "audit closed")
        self.assertEqual(lifted["detail"]["placed_reason"], "tax audit 2026-04: keep every scan")

    def test_bad_requests_say_what_to_fix(self):
        self.bill_with_files("HD-2", 1)
        for body in ({}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 1025}):
            r = self.post_json("/api/v1/bills/HD-2/holds", body)
            e = self.assertError(r, 400, 11005, "invalid_field", msg=repr(body)[:40])
            self.assertIn("reason", e["message"])
        r = self.node.request("POST", "/api/v1/bills/HD-2/holds", body=b"not json")
        self.assertError(r, 400, 11004, "invalid_json")
        r = self.place("HD-NONE", "kept")
        self.assertError(r, 404, 11002, "bill_not_found")
        r = self.place("bad/no", "kept")
        self.assertEqual(r.status, 404, r.body)  # not a route: a '/' in the image number
        for hid in ("h0000000000000000", "bogus", "H0000000000000000"):
            r = self.lift("HD-2", hid)
            e = self.assertError(r, 404, 11033, "hold_not_found", msg=hid)
            self.assertIn("GET /api/v1/bills/HD-2", e["message"])
        r = self.place("HD-2", "kept")
        self.assertStatus(r, 201)
        r = self.lift("HD-2", r.json["hold_id"], reason="y" * 1025)
        self.assertError(r, 400, 11005, "invalid_field")
        r = self.lift("HD-2", "h1")
        self.assertError(r, 404, 11033, "hold_not_found")
        self.assertEqual(len(self.node.bill("HD-2").json["holds"]), 1)

    def test_at_most_32_holds(self):
        self.bill_with_files("HD-3", 1)
        for i in range(32):
            self.assertStatus(self.place("HD-3", "hold %d" % i), 201)
        r = self.place("HD-3", "one too many")
        e = self.assertError(r, 409, 11007, "invalid_state")
        self.assertIn("32", e["message"])
        self.assertEqual(len(self.node.bill("HD-3").json["holds"]), 32)

    def test_a_retry_with_its_idempotency_key_places_one_hold(self):
        self.bill_with_files("HD-IDEM", 1)
        key = {"Idempotency-Key": "hold-retry-1"}
        first = self.place("HD-IDEM", "case 12", headers=key)
        self.assertStatus(first, 201)
        self.assertFalse(first.json["replayed"])
        again = self.place("HD-IDEM", "case 12", headers=key)
        self.assertStatus(again, 201)
        self.assertTrue(again.json["replayed"])
        self.assertEqual(again.json["hold_id"], first.json["hold_id"])
        self.assertEqual(again.json["index"], first.json["index"])
        self.assertEqual([h["hold_id"] for h in self.node.bill("HD-IDEM").json["holds"]],
                         [first.json["hold_id"]])
        self.assertError(self.place("HD-IDEM", "another case", headers=key), 409, 10409,
                         "idempotency_conflict")
        self.assertError(self.place("HD-IDEM", "case 12",
                                    headers={"Idempotency-Key": "not a key"}),
                         400, 11005, "invalid_field")
        # Without a key, each request is a hold of its own.
        self.assertStatus(self.place("HD-IDEM", "case 12"), 201)
        self.assertEqual(len(self.node.bill("HD-IDEM").json["holds"]), 2)

    def test_the_hold_permission_is_its_own(self):
        self.bill_with_files("HD-4", 1)
        pw = "correct horse battery"
        r = self.post_json("/api/v1/roles", {"name": "legal", "permissions": ["read", "hold"]})
        self.assertStatus(r, 201)
        for user, roles in (("hsam", ["scanner"]), ("hlee", ["legal"]),
                            ("hada", ["tenant_admin"])):
            r = self.post_json("/api/v1/users", {"username": user, "password": pw,
                                                 "roles": roles})
            self.assertStatus(r, 201)
            r = self.node.request("PUT", "/api/v1/users/%s/grants" % user,
                                  body=b'{"grants": [{"org": "*"}]}')
            self.assertStatus(r, 200)

        def bearer(user):
            r = self.post_json("/api/v1/auth/login", {"username": user, "password": pw},
                               auth=False)
            self.assertStatus(r, 200)
            return {"Authorization": "Bearer " + r.json["access_token"]}

        r = self.place("HD-4", "kept", headers=bearer("hsam"), auth=False)
        e = self.assertError(r, 403, 10403, "forbidden")
        self.assertIn("hold", e["message"])
        r = self.place("HD-4", "kept for legal", headers=bearer("hlee"), auth=False)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["placed_by"], "user:hlee")
        hid = r.json["hold_id"]
        # A business-system client never has it.
        r = self.post_json("/api/v1/clients", {"tenant": "default", "name": "erp-holds"})
        self.assertStatus(r, 201)
        tok = self.post_json("/api/v1/auth/token", {"client_id": r.json["client_id"],
                                                   "client_secret": r.json["client_secret"]},
                             auth=False)
        self.assertStatus(tok, 200)
        client = {"Authorization": "Bearer " + tok.json["access_token"]}
        r = self.lift("HD-4", hid, headers=client, auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        r = self.place("HD-4", "erp", headers=client, auth=False)
        self.assertError(r, 403, 10403, "forbidden")
        # The tenant admin lifts it; a user who may delete still may not while held.
        r = self.lift("HD-4", hid, headers=bearer("hada"), auth=False)
        self.assertStatus(r, 200)
        self.assertEqual(r.json["holds"], [])
        roles = self.node.get("/api/v1/roles").json["roles"]
        admin = [x for x in roles if x["name"] == "tenant_admin"][0]
        self.assertIn("hold", admin["permissions"])

    def test_holds_survive_a_restart_and_the_cli_drives_them(self):
        ids = self.bill_with_files("HD-5", 2)
        p = run_cli(self.node, "hold", "place", "HD-5", "--reason", "board order 9")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = re.search(r"hold (h[0-9a-f]{16}) placed on bill HD-5", p.stdout)
        self.assertIsNotNone(m, p.stdout)
        hid = m.group(1)
        self.node.restart()
        p = run_cli(self.node, "hold", "list", "HD-5")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(hid, p.stdout)
        self.assertIn("board order 9", p.stdout)
        p = run_cli(self.node, "delete-files", "HD-5", ids[0])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("bill_held", p.stderr + p.stdout)
        p = run_cli(self.node, "hold", "place", "HD-5")
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--reason", p.stderr)
        p = run_cli(self.node, "hold", "lift", "HD-5", hid, "--reason", "order revoked",
                    "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(cli_json(p)["holds"], [])
        p = run_cli(self.node, "hold", "list", "HD-5")
        self.assertIn("none", p.stdout)
        p = run_cli(self.node, "delete-files", "HD-5", ids[0])
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
