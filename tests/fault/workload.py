"""The fault suite's workload: clients capturing, pushing pool bills and submitting.

Each client is a thread working through bills of its own, one after another: an
optional pool push, one to three captures of a file of random size (log-uniform from
1 KB to a few MB), then, usually, a submit. Every write carries an Idempotency-Key of its
own and goes to a node picked at random; on a transport error, a timeout, a 5xx, 408
or 429 it is retried with the same key, at another random node, until it is
acknowledged or its deadline passes (then its outcome is unknown and the client leaves
that bill). Any other answer is recorded as an error: the checker fails on it.

The content of a capture is a function of its key (a PRNG seeded with it), so the
checker can regenerate any byte without the workload keeping files in memory; its
BLAKE2b-256 is the blob name the node must answer with. Every acknowledged write is
recorded in the Ledger with the time of its acknowledgement.
"""

import hashlib
import http.client
import json
import math
import random
import threading
import time
import urllib.parse

RETRY_STATUSES = (408, 429)


def content(key, size):
    """The bytes of the capture with @key."""
    return random.Random("imgarc-fault/" + key).randbytes(size)


def blob_of(data):
    return hashlib.blake2b(data, digest_size=32).hexdigest()


class Ledger:
    """What the clients did: every operation started, acknowledged, left unknown or
    refused, with monotonic times."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = 0
        self.attempts = 0
        self.acks = []      # dicts: kind, image_no, key, t, node, and per kind more
        self.unknown = []   # dicts: kind, image_no, key, last
        self.errors = []    # strings: answers no retry can change
        self.slow = []      # (seconds, start, what) of attempts that took 1 s or more
        self.slowest_answer = (0.0, 0.0, "")  # the longest attempt that got an answer
        self.t_start = None
        self.t_end = None

    def add(self, what, item):
        with self.lock:
            getattr(self, what).append(item)

    def count(self, what, n=1):
        with self.lock:
            setattr(self, what, getattr(self, what) + n)

    def captures(self):
        return [a for a in self.acks if a["kind"] == "capture"]

    def bills(self):
        """Every image number the workload wrote to (acknowledged or not)."""
        return sorted({a["image_no"] for a in self.acks} |
                      {u["image_no"] for u in self.unknown})

    def longest_gap(self, t0=None, t1=None):
        """The longest time without an acknowledgement between @t0 and @t1 (default:
        the workload's start and end), and when it began (seconds after @t0)."""
        t0 = self.t_start if t0 is None else t0
        t1 = self.t_end if t1 is None else t1
        times = sorted(a["t"] for a in self.acks if t0 <= a["t"] <= t1)
        best, at, prev = 0.0, 0.0, t0
        for t in times + [t1]:
            if t - prev > best:
                best, at = t - prev, prev - t0
            prev = t
        return best, at

    def acked_between(self, t0, t1):
        return sum(1 for a in self.acks if t0 <= a["t"] < t1)


class Workload:
    def __init__(self, nodes, token, prefix, clients=4, seed=1, max_size=3 << 20,
                 attempt_timeout=10.0, op_deadline=60.0, submit_ratio=0.7, pool_ratio=0.4,
                 think_s=0.1, avoid_s=5.0):
        self.nodes = list(nodes)
        self.token = token
        self.prefix = prefix
        self.n_clients = clients
        self.seed = seed
        self.max_size = max_size
        self.attempt_timeout = attempt_timeout
        self.op_deadline = op_deadline
        self.submit_ratio = submit_ratio
        self.pool_ratio = pool_ratio
        self.think_s = think_s
        self.avoid_s = avoid_s
        self.local = threading.local()
        self.ledger = Ledger()
        self.stopping = threading.Event()
        self.aborted = threading.Event()
        self.threads = []

    # -- one write -------------------------------------------------------------

    def _attempt(self, node, method, path, body, headers):
        conn = http.client.HTTPConnection(node.ip, node.http_port, timeout=self.attempt_timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, data
        finally:
            conn.close()

    def write(self, rng, kind, image_no, key, method, path, body, headers, ok):
        """Sends one write until it is acknowledged (an answer with a status in @ok:
        returns (status, json, node)), refused (None, recorded in errors) or its
        deadline passes (None, recorded in unknown)."""
        if self.think_s:
            # A client of a person or an ERP, not a load generator: the suite is about
            # what is kept, and a bounded volume keeps the checks short.
            time.sleep(self.think_s * (0.5 + rng.random()))
        hs = {"Authorization": "Bearer %s" % self.token, "Idempotency-Key": key}
        hs.update(headers)
        deadline = time.monotonic() + self.op_deadline
        self.ledger.count("ops")
        last = None
        pause = 0.05
        while True:
            node = self._pick(rng)
            self.ledger.count("attempts")
            t0 = time.monotonic()
            try:
                status, data = self._attempt(node, method, path, body, hs)
            except (OSError, http.client.HTTPException) as e:
                last = "%s: %r" % (node.name, e)
                self._avoid(node)
                self._slow(t0, "%s %s (%d bytes): %s" % (method, path.split("?")[0],
                                                         len(body), last))
            else:
                what = "%s %s (%d bytes) on %s: %d" % (method, path.split("?")[0], len(body),
                                                       node.name, status)
                self._slow(t0, what)
                took = time.monotonic() - t0
                with self.ledger.lock:
                    if took > self.ledger.slowest_answer[0]:
                        self.ledger.slowest_answer = (took, t0 - self.ledger.t_start, what)
                if status in ok:
                    try:
                        doc = json.loads(data)
                    except ValueError:
                        self.ledger.add("errors", "%s %s on %s: %d with a body that is not "
                                        "JSON: %r" % (method, path, node.name, status, data[:200]))
                        return None
                    return status, doc, node
                last = "%s: %d %s" % (node.name, status, data[:300].decode("utf-8", "replace"))
                if status < 500 and status not in RETRY_STATUSES:
                    self.ledger.add("errors", "%s %s (key %s) refused: %s" % (method, path,
                                                                            key, last))
                    return None
            if time.monotonic() + pause > deadline or self.aborted.is_set():
                self.ledger.add("unknown", {"kind": kind, "image_no": image_no, "key": key,
                                            "last": last})
                return None
            time.sleep(pause * (0.5 + rng.random()))
            pause = min(pause * 2, 1.0)

    def _slow(self, t0, what):
        took = time.monotonic() - t0
        if took >= 1.0:
            self.ledger.add("slow", (took, t0 - self.ledger.t_start, what))

    def _pick(self, rng):
        """A random node, leaving out those this client's last attempts found silent
        (as a load balancer's passive health check would), unless all are."""
        avoid = self.local.__dict__.setdefault("avoid", {})
        now = time.monotonic()
        ok = [n for n in self.nodes if avoid.get(n.name, 0) <= now]
        return rng.choice(ok or self.nodes)

    def _avoid(self, node):
        self.local.__dict__.setdefault("avoid", {})[node.name] = time.monotonic() + self.avoid_s

    # -- the clients -----------------------------------------------------------

    def _size(self, rng):
        return int(math.exp(rng.uniform(math.log(1024), math.log(self.max_size))))

    def _bill(self, rng, image_no):
        q = urllib.parse.quote
        if rng.random() < self.pool_ratio:
            key = "pp-" + image_no
            fields = {"image_no": image_no, "bill_no": "ER-" + image_no,
                      "amount": "%d.%02d" % (rng.randrange(1, 10000), rng.randrange(100))}
            got = self.write(rng, "pool", image_no, key, "POST", "/api/v1/pool",
                             json.dumps(fields).encode(), {"Content-Type": "application/json"},
                             (200, 201))
            if got is None:
                return
            self.ledger.add("acks", {"kind": "pool", "image_no": image_no, "key": key,
                                     "t": time.monotonic(), "node": got[2].name})
        for j in range(rng.randint(1, 3)):
            key = "up-%s-%d" % (image_no, j)
            size = self._size(rng)
            data = content(key, size)
            blob = blob_of(data)
            t0 = time.monotonic()
            got = self.write(rng, "capture", image_no, key, "POST",
                             "/api/v1/bills/%s/files?name=%s" % (q(image_no), q(key + ".bin")),
                             data, {"Content-Type": "application/octet-stream"}, (201,))
            if got is None:
                return
            doc = got[1]
            if doc.get("blob") != blob or doc.get("size") != size:
                self.ledger.add("errors", "capture %s acknowledged with blob %s size %s; "
                                "sent %s size %d" % (key, doc.get("blob"), doc.get("size"),
                                                     blob, size))
            self.ledger.add("acks", {"kind": "capture", "image_no": image_no, "key": key,
                                     "t": time.monotonic(), "latency": time.monotonic() - t0,
                                     "node": got[2].name, "file_id": doc.get("file_id"),
                                     "blob": blob, "size": size,
                                     "copies": doc.get("copies")})
        if rng.random() < self.submit_ratio:
            key = "sb-" + image_no
            got = self.write(rng, "submit", image_no, key, "POST",
                             "/api/v1/bills/%s/submit" % q(image_no), b"", {}, (200,))
            if got is not None:
                self.ledger.add("acks", {"kind": "submit", "image_no": image_no, "key": key,
                                         "t": time.monotonic(), "node": got[2].name,
                                         "state": got[1].get("state")})

    def _client(self, idx):
        rng = random.Random("%s/%d/%d" % (self.prefix, self.seed, idx))
        n = 0
        while not self.stopping.is_set():
            n += 1
            self._bill(rng, "%s-c%d-%04d" % (self.prefix, idx, n))

    def start(self):
        self.ledger.t_start = time.monotonic()
        for i in range(self.n_clients):
            t = threading.Thread(target=self._client, args=(i + 1,), daemon=True,
                                 name="client-%d" % (i + 1))
            t.start()
            self.threads.append(t)

    def stop(self):
        """Lets every client finish the bill it is on (its writes still retried until
        acknowledged or past their deadline), then returns."""
        self.stopping.set()
        for t in self.threads:
            t.join()
        self.ledger.t_end = time.monotonic()

    def abort(self):
        """Stops every client at its next attempt (a scenario that failed: its clients
        must not write into the next one)."""
        self.aborted.set()
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=self.attempt_timeout + 5)
