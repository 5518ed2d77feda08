"""After a scenario's faults are healed: does the cluster hold every acknowledged write?

settle()  waits until one leader is agreed by every node, every voter is healthy in
          every node's view and under_replicated is 0 everywhere; returns how long it
          took (a scenario fails past its bound).
check()   collects every problem it finds (it does not stop at the first):
          - metadata digests equal at one applied index on every node;
          - on every node, every acknowledged capture is listed in its bill with its
            blob and size, no file id or blob is listed twice across the workload's
            bills, every acknowledged pool push and submit is there and was applied
            once (the bill's audit log);
          - every acknowledged capture reads back from every node with its exact
            BLAKE2b-256, and a random range of it with its exact bytes (a read cut
            short or refused is tried again for a while; a read that completes with
            other bytes is a failure at once: the node served what it had not
            verified);
finish()  stops the nodes (each must exit 0 on SIGTERM), runs imgarc-verify
          --metadata on every data dir and looks for crashes and failed assertions in
          the logs.
"""

import hashlib
import http.client
import os
import random
import subprocess
import time
import urllib.parse

from imgarc_node import BIN_DIR

from workload import content

VERIFY = os.path.join(BIN_DIR, "imgarc-verify")
CRASH_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
               "assertion failed", "Assertion `", "Segmentation fault", "SIGSEGV",
               "SIGABRT", "core dumped", "stack smashing")


class Checker:
    def __init__(self, cluster, ledger, read_retry_s=60.0):
        self.cluster = cluster
        self.ledger = ledger
        self.read_retry_s = read_retry_s
        self.problems = []
        self.lost = set()        # keys of acknowledged writes found missing or wrong
        self.reads = 0
        self.read_retries = 0

    def fail(self, msg, key=None):
        self.problems.append(msg)
        if key is not None:
            self.lost.add(key)

    # -- settle ----------------------------------------------------------------

    def _settled(self):
        nodes = self.cluster.nodes
        leaders = set()
        for n in nodes:
            r = n.get("/readyz", auth=False, timeout=5)
            if r.status != 200:
                return "%s /readyz %d" % (n.name, r.status)
            leaders.add(r.json["leader"])
        if len(leaders) != 1:
            return "leaders %r" % leaders
        for n in nodes:
            v = self.cluster.view(n)
            bad = [(m["id"], m["health"], m["role"]) for m in v["nodes"]
                   if m["role"] == "voter" and m["health"] != "ok"]
            if bad or v["leader"] not in leaders:
                return "%s sees %r leader %r" % (n.name, bad, v["leader"])
            if v["under_replicated"] != 0:
                return "%s: under_replicated %d" % (n.name, v["under_replicated"])
        return None

    def settle(self, bound, since=None):
        """Seconds from @since (default: now) until the cluster is settled, or None
        (a problem) when it is not within @bound seconds."""
        t0 = time.monotonic()
        since = t0 if since is None else since
        last = None
        while time.monotonic() - t0 < bound:
            try:
                last = self._settled()
            except (OSError, http.client.HTTPException, KeyError, ValueError,
                    AssertionError) as e:
                last = repr(e)
            if last is None:
                return time.monotonic() - since
            time.sleep(0.25)
        self.fail("the cluster did not settle within %.0f s after healing (last: %s)"
                  % (bound, last))
        return None

    # -- metadata ----------------------------------------------------------------

    def check_digests(self, timeout):
        try:
            self.cluster.wait_converged(self.cluster.nodes, timeout=timeout)
        except AssertionError as e:
            self.fail("metadata: %s" % e)

    def check_bills(self):
        acks = self.ledger.acks
        by_bill = {}
        for a in acks:
            by_bill.setdefault(a["image_no"], []).append(a)
        for node in self.cluster.nodes:
            blobs_seen = {}
            ids_seen = {}
            for image_no in self.ledger.bills():
                r = node.bill(image_no, timeout=30)
                mine = by_bill.get(image_no, [])
                if r.status == 404:
                    for a in mine:
                        self.fail("%s: bill %s is missing, acknowledged %s %s"
                                  % (node.name, image_no, a["kind"], a["key"]), a["key"])
                    continue
                if r.status != 200:
                    self.fail("%s: GET bill %s: %d %r" % (node.name, image_no, r.status,
                                                          r.body[:200]))
                    continue
                files = r.json["files"]
                for f in files:
                    if f["file_id"] in ids_seen:
                        self.fail("%s: file %s listed twice (%s and %s)"
                                  % (node.name, f["file_id"], ids_seen[f["file_id"]], image_no))
                    ids_seen[f["file_id"]] = image_no
                    if f["blob"] in blobs_seen:
                        self.fail("%s: content %s listed twice (bills %s and %s): a capture "
                                  "applied twice" % (node.name, f["blob"][:16],
                                                     blobs_seen[f["blob"]], image_no))
                    blobs_seen[f["blob"]] = image_no
                listed = {f["file_id"]: f for f in files}
                log = node.audit_log(image_no, timeout=30)
                entries = log.json["entries"] if log.status == 200 else []
                if log.status != 200:
                    self.fail("%s: GET log of %s: %d" % (node.name, image_no, log.status))
                for a in mine:
                    if a["kind"] == "capture":
                        f = listed.get(a["file_id"])
                        if f is None:
                            self.fail("%s: acknowledged capture %s (file %s) is not listed in "
                                      "bill %s" % (node.name, a["key"], a["file_id"], image_no),
                                      a["key"])
                        elif f["blob"] != a["blob"] or f["size"] != a["size"]:
                            self.fail("%s: file %s lists blob %s size %d, acknowledged %s "
                                      "size %d" % (node.name, a["file_id"], f["blob"], f["size"],
                                                   a["blob"], a["size"]), a["key"])
                    elif a["kind"] == "pool":
                        created = [e for e in entries if e["action"] == "pool_created"]
                        updated = [e for e in entries if e["action"] == "pool_updated"]
                        if len(created) != 1 or updated:
                            self.fail("%s: pool push %s applied %d times (%d updates)"
                                      % (node.name, a["key"], len(created), len(updated)),
                                      a["key"])
                    elif a["kind"] == "submit":
                        subs = [e for e in entries if e["action"] == "state_changed" and
                                e["detail"].get("after") == "submitted"]
                        if len(subs) != 1:
                            self.fail("%s: submit %s applied %d times"
                                      % (node.name, a["key"], len(subs)), a["key"])
                        if r.json["state"] in ("captured", "pending_upload"):
                            self.fail("%s: bill %s is %s after an acknowledged submit"
                                      % (node.name, image_no, r.json["state"]), a["key"])

    # -- content ------------------------------------------------------------------

    def _read(self, node, file_id, headers=None):
        """(status, BLAKE2b of the body, body length, body when short) of one read;
        raises OSError/HTTPException when cut."""
        conn = node.connection(timeout=60)
        try:
            hs = {"Authorization": "Bearer %s" % node.token}
            hs.update(headers or {})
            conn.request("GET", "/api/v1/files/%s/content" % urllib.parse.quote(file_id),
                         headers=hs)
            r = conn.getresponse()
            h = hashlib.blake2b(digest_size=32)
            n = 0
            keep = bytearray()
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
                if len(keep) < (8 << 20):
                    keep += chunk
            declared = r.getheader("Content-Length")
            if declared is not None and int(declared) != n:
                raise http.client.IncompleteRead(b"", int(declared) - n)
            return r.status, h.hexdigest(), n, bytes(keep)
        finally:
            conn.close()

    def _read_until(self, node, a, headers, want):
        """Reads until the answer is complete and 200/206; checks it with @want(status,
        digest, n, body) -> None or a problem. A complete answer with wrong bytes is a
        failure at once; cut or refused ones are retried for read_retry_s."""
        deadline = time.monotonic() + self.read_retry_s
        last = None
        while True:
            self.reads += 1
            try:
                status, digest, n, body = self._read(node, a["file_id"], headers)
                if status in (200, 206):
                    bad = want(status, digest, n, body)
                    if bad:
                        self.fail("%s served wrong bytes for %s (%s): %s"
                                  % (node.name, a["key"], headers or "whole", bad), a["key"])
                    return
                last = "%d" % status
                if status < 500:
                    self.fail("%s: read of %s (%s) answered %d" % (node.name, a["key"],
                                                                  headers, status), a["key"])
                    return
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                self.fail("%s: %s could not be read back (%s) within %.0f s: %s"
                          % (node.name, a["key"], headers or "whole", self.read_retry_s, last),
                          a["key"])
                return
            self.read_retries += 1
            time.sleep(0.5)

    def check_content(self, seed=0):
        rng = random.Random(seed)
        for a in self.ledger.captures():
            size = a["size"]
            lo = rng.randrange(size)
            hi = min(size - 1, lo + rng.randrange(1, 256 << 10))
            expect = None
            for node in self.cluster.nodes:
                def whole(status, digest, n, body, a=a):
                    if status != 200 or n != a["size"] or digest != a["blob"]:
                        return "%d, %d bytes, blake2b %s" % (status, n, digest[:16])
                    return None

                def part(status, digest, n, body, a=a, lo=lo, hi=hi):
                    nonlocal expect
                    if expect is None:
                        expect = content(a["key"], a["size"])[lo:hi + 1]
                    if status != 206 or body != expect:
                        return "%d, %d bytes (wanted 206 with %d)" % (status, n, hi - lo + 1)
                    return None
                self._read_until(node, a, None, whole)
                self._read_until(node, a, {"Range": "bytes=%d-%d" % (lo, hi)}, part)

    # -- copies on disk ------------------------------------------------------------

    def check_copies(self):
        """Every node the cluster lists as holding an acknowledged capture's content has
        it on disk with its exact BLAKE2b-256, and the content has its replicas. A copy
        acknowledged but not kept would not show in reads (a node without a copy reads
        from another), so the files are looked at directly."""
        ids = {self.cluster.node_id(n): n for n in self.cluster.nodes}
        self.missing_copies = 0
        asker = self.cluster.nodes[0]
        for blob in sorted({a["blob"] for a in self.ledger.captures()}):
            key = next(a["key"] for a in self.ledger.captures() if a["blob"] == blob)
            r = asker.get("/api/v1/cluster/blobs/%s" % blob, timeout=30)
            if r.status != 200:
                self.fail("GET cluster/blobs/%s on %s: %d" % (blob[:16], asker.name, r.status),
                          key)
                continue
            doc = r.json
            if len(doc["live_holders"]) < doc["replicas"]:
                self.fail("%s has %d live copies, %d wanted" % (key, len(doc["live_holders"]),
                                                               doc["replicas"]))
            for hid in doc["holders"]:
                node = ids.get(hid)
                if node is None:
                    self.fail("%s: holder %s is not a node of the cluster" % (key, hid), key)
                    continue
                path = os.path.join(node.data, "blobs", blob[:2], blob[2:4], blob)
                h = hashlib.blake2b(digest_size=32)
                try:
                    with open(path, "rb") as f:
                        for chunk in iter(lambda: f.read(1 << 20), b""):
                            h.update(chunk)
                except FileNotFoundError:
                    self.missing_copies += 1
                    self.fail("%s is listed as held by %s, which has no copy (%s)"
                              % (key, node.name, path))
                    continue
                if h.hexdigest() != blob:
                    self.missing_copies += 1
                    self.fail("%s: %s's copy does not hash to its name" % (key, node.name))

    # -- the end -------------------------------------------------------------------

    def finish(self):
        """Stops every node (exit 0 on SIGTERM), then imgarc-verify and the logs."""
        for node in self.cluster.nodes:
            was = node.alive()
            code = node.stop(timeout=60)
            if was and code != 0:
                self.fail("%s did not exit 0 on SIGTERM: %s" % (node.name, code))
        for node in self.cluster.nodes:
            p = subprocess.run([VERIFY, "--data", node.data, "--metadata"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=600)
            if p.returncode != 0:
                self.fail("imgarc-verify --metadata on %s: exit %d:\n%s"
                          % (node.name, p.returncode, p.stdout[-2000:]))
        self.log_lines = {}
        for node in self.cluster.nodes:
            text = node.log_text(whole=True)
            lines = text.splitlines()
            self.log_lines[node.name] = (sum(1 for x in lines if " WARN " in x),
                                         sum(1 for x in lines if " ERROR " in x))
            for line in lines:
                if any(m in line for m in CRASH_MARKS):
                    self.fail("%s's log: %s" % (node.name, line.strip()[:300]))
                    break
