"""Crash and restart: nothing acknowledged is lost, nothing half-written is visible.

kill -9 in the middle of a stream of uploads from several client threads, restart on
the same data dir, and check every acknowledged upload and every listed file byte for
byte; then clean restarts (SIGTERM) and repeated restarts give the same state."""

import hashlib
import shutil
import http.client
import os
import random
import threading
import time
import unittest

from imgarc_node import HEX64, NodeTestCase, blake2b_hex, make_pdf, random_bytes

THREADS = 4
MIN_ACKED = 24          # uploads acknowledged before the kill
MAX_WAIT = 60           # seconds to reach MIN_ACKED


def attempt_content(key, size):
    """Distinct content for each attempt: its key, then seeded random bytes."""
    head = ("imgarc crash test %s\n" % key).encode()
    return head + random.Random(key).randbytes(max(0, size - len(head)))


def walk_blobs(data_dir):
    """(path, name) of every file under DATA/blobs."""
    out = []
    for root, _, files in os.walk(os.path.join(data_dir, "blobs")):
        for f in files:
            out.append((os.path.join(root, f), f))
    return out


def file_hash(path):
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class CrashRecoveryTest(NodeTestCase):

    def assertBlobStoreSound(self, node):
        """Every blob on disk is complete: its content hashes to its name, and it sits
        at blobs/<2 hex>/<2 hex>/<hash>. DATA/tmp is empty."""
        for path, name in walk_blobs(node.data):
            self.assertRegex(name, HEX64, "stray file in blobs/: %s" % path)
            rel = os.path.relpath(path, os.path.join(node.data, "blobs"))
            self.assertEqual(rel, os.path.join(name[:2], name[2:4], name))
            self.assertEqual(file_hash(path), name, "torn or corrupt blob %s" % path)
        tmp = os.path.join(node.data, "tmp")
        self.assertEqual(os.listdir(tmp), [], "DATA/tmp not emptied at start")

    def state(self, node):
        """Everything a client can see: bills, files (with content hashes), status,
        audit logs."""
        out = {}
        for b in node.all_bills():
            image_no = b["image_no"]
            bill = node.bill(image_no)
            self.assertStatus(bill, 200)
            status = node.status(image_no)
            self.assertStatus(status, 200)
            log = node.audit_log(image_no)
            self.assertStatus(log, 200)
            contents = []
            for f in bill.json["files"]:
                r = node.content(f["file_id"])
                self.assertStatus(r, 200, "content of %s" % f["file_id"])
                self.assertEqual(len(r.body), f["size"])
                self.assertEqual(blake2b_hex(r.body), f["blob"])
                contents.append(f["blob"])
            st = dict(status.json)
            out[image_no] = {"listed": b, "bill": bill.json, "status": st,
                             "log": log.json, "contents": contents}
        return out

    # -----------------------------------------------------------------------------

    def test_kill9_during_uploads(self):
        node = self.start_node("crash-kill9")
        lock = threading.Lock()
        attempts = {}   # key -> (image_no, name, data)
        acked = {}      # key -> the 201 answer
        refused = []    # answers other than 201 before the kill
        stop = threading.Event()
        killed = threading.Event()

        def worker(t):
            rng = random.Random(t)
            i = 0
            while not stop.is_set():
                key = "crash-%d-%03d" % (t, i)
                image_no = "CR-%d-%d" % (t, i % 3)
                name = key + (".pdf" if i % 4 == 0 else ".bin")
                data = attempt_content(key, rng.choice((2000, 30000, 150000, 400000)))
                with lock:
                    attempts[key] = (image_no, name, data)
                try:
                    r = node.upload(image_no, data, name=name, key=key, timeout=30)
                except (OSError, http.client.HTTPException):
                    if not killed.is_set():
                        with lock:
                            refused.append((key, "transport error before the kill"))
                    return
                with lock:
                    if r.status == 201:
                        acked[key] = r.json
                    elif not killed.is_set():
                        refused.append((key, r.status, r.body[:300]))
                i += 1

        threads = [threading.Thread(target=worker, args=(t,), daemon=True)
                   for t in range(THREADS)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + MAX_WAIT
        while time.monotonic() < deadline:
            with lock:
                if len(acked) >= MIN_ACKED or refused:
                    break
            time.sleep(0.01)
        killed.set()
        node.kill9()
        stop.set()
        for t in threads:
            t.join(60)
        self.assertEqual(refused, [], "uploads refused before the kill")
        self.assertGreaterEqual(len(acked), MIN_ACKED, "too few uploads before the kill")
        in_flight = sorted(set(attempts) - set(acked))

        # Leftovers of a crash in tmp/ are removed at start.
        with open(os.path.join(node.data, "tmp", "upload-leftover"), "wb") as f:
            f.write(b"half an upload")
        node.start()
        self.assertBlobStoreSound(node)

        # Every acknowledged upload is there, byte for byte.
        for key, ans in sorted(acked.items()):
            image_no, name, data = attempts[key]
            with self.subTest(acked=key):
                files = node.bill(image_no).json["files"]
                mine = [f for f in files if f["file_id"] == ans["file_id"]]
                self.assertEqual(len(mine), 1, "acknowledged upload %s lost" % key)
                self.assertEqual(mine[0]["name"], name)
                self.assertEqual(mine[0]["blob"], blake2b_hex(data))
                r = node.content(ans["file_id"])
                self.assertStatus(r, 200)
                self.assertTrue(r.body == data, "content of %s differs" % key)

        # Every listed file is one of ours, complete, listed once.
        state = self.state(node)
        listed_names = {}
        for image_no, s in state.items():
            names = [f["name"] for f in s["bill"]["files"]]
            self.assertEqual(len(names), len(set(names)), "a file listed twice in %s" % image_no)
            self.assertEqual([f["position"] for f in s["bill"]["files"]],
                             list(range(1, len(names) + 1)))
            added = [e for e in s["log"]["entries"] if e["action"] == "file_added"]
            self.assertEqual(len(added), len(names), "audit log of %s" % image_no)
            self.assertEqual(s["status"]["files"], len(names))
            for f in s["bill"]["files"]:
                key = f["name"].rsplit(".", 1)[0]
                self.assertIn(key, attempts, "unknown file %s listed" % f["name"])
                self.assertEqual(attempts[key][0], image_no)
                self.assertEqual(f["blob"], blake2b_hex(attempts[key][2]))
                listed_names[key] = f["file_id"]

        # Retrying the uploads that got no answer, with their Idempotency-Key, leaves
        # each exactly once: replayed when it had committed, new otherwise.
        for key in in_flight:
            image_no, name, data = attempts[key]
            with self.subTest(retry=key):
                r = node.upload(image_no, data, name=name, key=key)
                self.assertStatus(r, 201)
                self.assertEqual(r.json["blob"], blake2b_hex(data))
                if key in listed_names:
                    self.assertIs(r.json["replayed"], True)
                    self.assertEqual(r.json["file_id"], listed_names[key])
                else:
                    self.assertIs(r.json["replayed"], False)
        total = sum(len(node.bill(b).json["files"])
                    for b in sorted({a[0] for a in attempts.values()}))
        self.assertEqual(total, len(attempts), "every attempt stored exactly once")
        self.assertEqual(node.stop(), 0, "clean exit after recovery; log:\n" + node.log_tail())

    def test_restarts_keep_state(self):
        # Small snapshot settings, so restarts go through snapshot + log replay.
        node = self.start_node("crash-restart", args=["--snapshot-threshold", "16",
                                                      "--snapshot-trailing", "16"])
        first_upload = None
        for b in range(5):
            image_no = "RS-%d" % b
            r = node.pool_push({"image_no": image_no, "bill_no": "ER-%d" % b,
                                "amount": "%d.00" % b, "invoices": [{"number": str(b)}]})
            self.assertStatus(r, 201)
            for i in range(6):
                data = make_pdf(1 + i % 3, seed=b * 10 + i) if i % 2 else \
                    random_bytes(5000 + i, seed=b * 10 + i)
                r = node.upload(image_no, data, name="f%d.pdf" % i, key="rs-%d-%d" % (b, i))
                self.assertStatus(r, 201)
                if first_upload is None:
                    first_upload = (image_no, data, r.json)
            if b % 2 == 0:
                self.assertStatus(node.submit(image_no), 200)
        # A second push of the same pool bill.
        self.assertStatus(node.pool_push({"image_no": "RS-0", "bill_no": "ER-0b"}), 200)
        before = self.state(node)
        self.assertEqual(len(before), 5)
        applied = node.metrics()["imgarc_raft_applied_index"]

        t0 = time.monotonic()
        self.assertEqual(node.stop(), 0, "SIGTERM exit status; log:\n" + node.log_tail())
        self.assertLess(time.monotonic() - t0, 15, "idle node took too long to stop")
        node.start()
        self.assertBlobStoreSound(node)
        self.assertEqual(self.state(node), before, "state after a clean restart")
        self.assertGreaterEqual(node.metrics()["imgarc_raft_applied_index"], applied)

        # Again after kill -9 (log replay over a store that may be behind), and again
        # after SIGTERM: each restart gives the same state, nothing applied twice.
        node.kill9()
        node.start()
        self.assertEqual(self.state(node), before, "state after kill -9 and restart")
        self.assertEqual(node.stop(), 0)
        node.start()
        self.assertEqual(self.state(node), before, "state after a second clean restart")

        # Idempotency keys survive restarts; new writes continue after the old ones.
        image_no, data, ans = first_upload
        r = node.upload(image_no, data, name="f0.pdf", key="rs-0-0")
        self.assertStatus(r, 201)
        self.assertIs(r.json["replayed"], True)
        self.assertEqual(r.json["file_id"], ans["file_id"])
        r = node.upload("RS-1", b"after restarts", name="late.txt")
        self.assertStatus(r, 201)
        last_index = max(e["index"] for s in before.values() for e in s["log"]["entries"])
        self.assertGreater(r.json["index"], last_index)
        self.assertEqual(len(node.bill("RS-1").json["files"]), 7)
        self.assertEqual(node.stop(), 0)

    def push_bills(self, node, n, prefix):
        for b in range(n):
            r = node.pool_push({"image_no": "%s-%03d" % (prefix, b), "bill_no": "ER-%d" % b,
                                "amount": "%d.00" % b,
                                "invoices": [{"number": "%08d" % b}]})
            self.assertStatus(r, 201)

    def test_raft_log_bounded_by_bytes(self):
        """The in-memory raft log is bounded by --snapshot-threshold-bytes and
        --snapshot-trailing-bytes, whatever the entry counts (log_budget.h); what is in
        it and where the rest of the memory goes is on /metrics."""
        budget = 16384
        counts = ["--snapshot-threshold", "100000", "--snapshot-trailing", "100000"]
        node = self.start_node("log-bytes", args=counts + [
            "--snapshot-threshold-bytes", str(budget),
            "--snapshot-trailing-bytes", str(budget)])
        self.push_bills(node, 400, "LB")
        m = node.metrics()
        self.assertGreaterEqual(m["imgarc_raft_snapshots_total"], 2, m)
        self.assertGreater(m["imgarc_raft_snapshot_bytes"], 0)
        # Both bounds together, plus the one entry that crossed the threshold.
        self.assertLessEqual(m["imgarc_memory_raft_log_bytes"], 2 * budget + 2048, m)
        self.assertGreaterEqual(m["imgarc_raft_log_entries"], 64)  # the trailing minimum
        for name in ("imgarc_process_rss_bytes", "imgarc_memory_rocksdb_memtables_bytes"):
            self.assertGreater(m[name], 0, name)
        # malloc's own counts (0 under AddressSanitizer, whose allocator is not malloc's).
        self.assertGreaterEqual(m["imgarc_memory_heap_in_use_bytes"], 0)
        self.assertGreaterEqual(m["imgarc_memory_heap_free_bytes"], 0)
        self.assertEqual(m["imgarc_memory_rocksdb_block_cache_budget_bytes"], 32 << 20)
        self.assertLessEqual(m["imgarc_memory_rocksdb_block_cache_bytes"], 32 << 20)
        before = self.state(node)
        # A store restarted from a snapshot taken by bytes and the log after it.
        node.kill9()
        node.start()
        self.assertEqual(self.state(node), before, "state after kill -9 and restart")
        self.push_bills(node, 1, "LB-after")
        self.assertEqual(node.stop(), 0)

        # The same load with the byte bounds off: the counts alone take no snapshot.
        node = self.start_node("log-counts", args=counts + [
            "--snapshot-threshold-bytes", "0", "--snapshot-trailing-bytes", "0"])
        self.push_bills(node, 400, "LC")
        m = node.metrics()
        self.assertEqual(m["imgarc_raft_snapshots_total"], 0, m)
        self.assertGreater(m["imgarc_memory_raft_log_bytes"], 2 * budget + 2048, m)
        self.assertEqual(node.stop(), 0)

    def test_store_rebuilt_from_raft(self):
        """docs/snapshots.md: with --snapshot-format inline, raft's snapshot holds the
        whole store, so the raft log and its snapshots are the durable record: a
        metadata store that lost writes (here: all of them) is rebuilt on restart."""
        node = self.start_node("crash-rebuild", args=["--snapshot-threshold", "16",
                                                      "--snapshot-trailing", "16",
                                                      "--snapshot-format", "inline"])
        for b in range(3):
            image_no = "RB-%d" % b
            self.assertStatus(node.pool_push({"image_no": image_no, "org": "O%d" % b}), 201)
            for i in range(8):
                r = node.upload(image_no, random_bytes(3000, seed=b * 100 + i),
                                name="p%d.png" % i, key="rb-%d-%d" % (b, i))
                self.assertStatus(r, 201)
            self.assertStatus(node.submit(image_no), 200)
        before = self.state(node)
        node.kill9()

        shutil.rmtree(os.path.join(node.data, "meta"))
        node.start()
        self.assertEqual(self.state(node), before, "state rebuilt from the raft log")
        r = node.upload("RB-0", random_bytes(3000, seed=0), name="p0.png", key="rb-0-0")
        self.assertStatus(r, 201)
        self.assertIs(r.json["replayed"], True)
        self.assertEqual(node.stop(), 0)

    def test_lost_store_of_a_single_node_in_the_store_format(self):
        """docs/snapshots.md: in the store format (the default) a raft snapshot names the
        store, which is durable at every snapshot. A single node that lost its store
        has no member to fetch one from: it does not crash, refuses requests with 503
        and says why in /readyz, and serves again once the store is put back."""
        node = self.start_node("crash-lost-store", args=["--snapshot-threshold", "16",
                                                         "--snapshot-trailing", "16"])
        for b in range(40):
            self.assertStatus(node.pool_push({"image_no": "LS-%d" % b}), 201)
        self.assertGreater(node.metrics()["imgarc_raft_snapshots_total"], 0)
        node.stop()
        meta = os.path.join(node.data, "meta")
        shutil.move(meta, meta + ".saved")
        node.start(wait=False)

        deadline = time.monotonic() + 60
        while True:
            try:
                r = node.get("/readyz", auth=False, timeout=5)
                if r.status == 503 and "last failure" in r.json["message"]:
                    break
            except OSError as e:  # not listening yet
                r = e
            self.assertLess(time.monotonic(), deadline, "/readyz to say why: %r" % r)
            time.sleep(0.1)
        self.assertIn("catching up", r.json["message"])
        self.assertIn("cluster secret", r.json["message"])
        r = node.bill("LS-1")
        self.assertError(r, 503, 10503, "unavailable", index=False)
        self.assertIn("catching up", r.json["message"])
        m = node.metrics()
        self.assertEqual(m["imgarc_catchup_active"], 1)
        last = m["imgarc_raft_last_index"]
        time.sleep(1.5)
        self.assertEqual(node.metrics()["imgarc_raft_last_index"], last,
                         "a catching-up leader proposes nothing")
        node.stop()
        shutil.rmtree(meta)
        shutil.move(meta + ".saved", meta)
        node.start()
        self.assertStatus(node.bill("LS-39"), 200)
        self.assertEqual(node.stop(), 0)


if __name__ == "__main__":
    unittest.main()
