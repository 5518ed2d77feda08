"""The raft port takes nothing from outsiders (replication/transport.c).

Against the transport libraft ships, the bytes below were enough to write into the
archive (an AppendEntries carrying a command), to depose the leader (a RequestVote of a
higher term) or to abort the node (an AppendEntries with a mismatched previous term).
Now each connection must first prove the cluster secret and membership; these tests
send exactly those bytes, and a client of our own protocol with a wrong secret, a
non-member id and a stalled handshake, and check each is closed, counted and logged
once, while the cluster goes on with the same leader and term."""

import hashlib
import os
import re
import socket
import struct
import time
import unittest

from imgarc_cluster import ClusterTestCase, wait_for
from imgarc_node import Node, parse_metrics, scratch_dir


def raft_tcp_handshake(node_id, address):
    """What libraft's raft_uv_tcp transport sends first: protocol 1, id, address."""
    addr = address.encode() + b"\0"
    padded = addr + b"\0" * ((8 - len(addr) % 8) % 8)
    return struct.pack("<QQQ", 1, node_id, len(padded)) + padded


def raft_message(mtype, body, payload=b""):
    return struct.pack("<BBBBIQ", mtype, 0, 0, 0, 0, len(body) + len(payload)) + body + payload


def append_entries(term, prev_index, prev_term, entry):
    padded = entry + b"\0" * ((8 - len(entry) % 8) % 8)
    body = struct.pack("<QQQQ", term, prev_index, prev_term, prev_index + 1)
    body += struct.pack("<Q", 1) + struct.pack("<QBBBBI", term, 1, 0, 0, 0, len(entry))
    body += struct.pack("<Q", 0)
    return raft_message(1, body, padded)


def request_vote(term, candidate):
    return raft_message(3, struct.pack("<QQQQQ", term, candidate, 1 << 40, term, 1))


class OurClient:
    """The client side of replication/handshake.h, for tests."""

    def __init__(self, secret_text, client_id, server_id, address="127.0.0.1:1"):
        peer_key = hashlib.sha256(secret_text.strip().encode()).digest()
        self.key = hashlib.blake2b(b"imgarc raft transport v1", digest_size=32,
                                   key=peer_key).digest()
        self.hello = (b"IMGRAFT1" + struct.pack(">QQ", client_id, server_id) +
                      os.urandom(32) + bytes([len(address)]) + address.encode())

    def proof(self, server_hello):
        t = hashlib.blake2b(self.hello + server_hello, digest_size=32).digest()
        return b"\x01" + hashlib.blake2b(b"client\0" + t, digest_size=32,
                                         key=self.key).digest()


def labelled(node, name):
    """{label value: sample} of a metric with one label."""
    out = {}
    for line in node.get("/metrics").body.decode().splitlines():
        m = re.match(r'^%s\{[a-z_]+="([^"]*)"\} ([0-9.e+]+)$' % name, line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def recv_until_closed(sock, timeout):
    """Everything the server sends before it closes; None if it stays open."""
    sock.settimeout(timeout)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return None
        except ConnectionResetError:
            return got
        if not chunk:
            return got
        got += chunk
    return None


class RaftPortTest(ClusterTestCase):

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("rp", 3)

    def refused(self, node):
        return labelled(node, "imgarc_raft_refused_total")

    def term(self, node):
        return int(parse_metrics(node.get("/metrics").body.decode())["imgarc_raft_term"])

    def connect(self, node):
        return socket.create_connection(("127.0.0.1", node.raft_port), timeout=5)

    def test_libraft_wire_bytes_change_nothing(self):
        leader = self.cluster.leader()
        lid = int(self.cluster.node_id(leader))
        follower = self.cluster.followers()[0]
        fid = int(self.cluster.node_id(follower))
        self.assertStatus(leader.pool_push({"image_no": "RP-1"}), 201)
        term = self.term(leader)
        before = self.refused(leader).get("malformed", 0)
        attacks = [
            # A write: an entry in the leader's name (the follower's own log).
            (follower, raft_tcp_handshake(lid, "127.0.0.1:%d" % leader.raft_port) +
             append_entries(term, 1 << 20, term + 7, b"\x0a\x07default" * 8)),
            # An abort in libraft 0.22.1: a mismatched previous term.
            (follower, raft_tcp_handshake(lid, "127.0.0.1:%d" % leader.raft_port) +
             append_entries(term, 2, term + 1, b"x" * 40)),
            # Deposing the leader: a vote request of a higher term.
            (leader, raft_tcp_handshake(fid, "127.0.0.1:%d" % follower.raft_port) +
             request_vote(term + 100, fid)),
        ]
        for target, data in attacks:
            with self.connect(target) as s:
                s.sendall(data)
                self.assertEqual(recv_until_closed(s, 10), b"",
                                 "the raft port answered or kept an outsider's connection")
        for node in self.cluster.nodes:
            self.assertTrue(node.alive(), node.log_tail())
        self.assertIs(self.cluster.leader(), leader)
        self.assertEqual(self.term(leader), term)
        self.assertGreaterEqual(self.refused(leader).get("malformed", 0), before + 1)
        self.assertGreaterEqual(self.refused(follower).get("malformed", 0), 2)
        # Logged once per source and reason, however many times it comes.
        self.assertEqual(len(re.findall(r"refused a raft connection from 127\.0\.0\.1:[0-9]+: "
                                        r"malformed", follower.log_text(whole=True))), 1)
        # The cluster still writes, and every node has the write.
        self.assertStatus(follower.pool_push({"image_no": "RP-2"}), 201)
        self.cluster.wait_converged()
        for node in self.cluster.nodes:
            self.assertStatus(node.bill("RP-2"), 200)

    def test_our_protocol_without_the_secret_or_membership_is_refused(self):
        leader = self.cluster.leader()
        lid = int(self.cluster.node_id(leader))
        before = self.refused(leader)
        cases = [
            ("bad_proof", OurClient("x" * 64, 4242, lid)),
            ("not_member", OurClient(self.cluster.secret, 4242, lid)),
            ("wrong_node", OurClient(self.cluster.secret, 4242, lid + 1)),
        ]
        for reason, client in cases:
            with self.connect(leader) as s:
                s.sendall(client.hello)
                if reason == "wrong_node":
                    self.assertEqual(recv_until_closed(s, 10), b"", reason)
                    continue
                s.settimeout(10)
                server_hello = b""
                while len(server_hello) < 48:
                    chunk = s.recv(48 - len(server_hello))
                    self.assertTrue(chunk, "closed before the server's hello")
                    server_hello += chunk
                self.assertEqual(server_hello[:8], b"IMGRAFT1")
                self.assertEqual(struct.unpack(">Q", server_hello[8:16])[0], lid)
                s.sendall(client.proof(server_hello))
                self.assertEqual(recv_until_closed(s, 10), b"", reason)
        after = self.refused(leader)
        for reason, _ in cases:
            self.assertEqual(after[reason], before.get(reason, 0) + 1, reason)

    def test_a_stalled_handshake_is_closed(self):
        follower = self.cluster.followers()[0]
        before = self.refused(follower).get("timeout", 0)
        with self.connect(follower) as s:
            s.sendall(b"IMGRAFT1")  # and nothing more
            start = time.monotonic()
            self.assertEqual(recv_until_closed(s, 15), b"")
            self.assertLess(time.monotonic() - start, 12)
        self.assertEqual(self.refused(follower)["timeout"], before + 1)

    def test_handshakes_at_once_are_bounded(self):
        follower = self.cluster.followers()[0]
        before = self.refused(follower).get("busy", 0)
        held = [self.connect(follower) for _ in range(64)]  # each stalls in its handshake
        try:
            extra = [self.connect(follower) for _ in range(3)]
            for s in extra:
                self.assertEqual(recv_until_closed(s, 4), b"", "a 65th handshake was kept")
                s.close()
            self.assertEqual(self.refused(follower)["busy"], before + 3)
        finally:
            for s in held:
                s.close()
        self.assertStatus(self.cluster.leader().pool_push({"image_no": "RP-BUSY"}), 201)

    def test_members_traffic_is_sealed(self):
        self.assertStatus(self.cluster.leader().pool_push({"image_no": "RP-3"}), 201)
        self.cluster.wait_converged()
        for node in self.cluster.nodes:
            sealed = labelled(node, "imgarc_raft_sealed_bytes_total")
            self.assertGreater(sealed["sent"], 0, node.name)
            self.assertGreater(sealed["received"], 0, node.name)
            m = parse_metrics(node.get("/metrics").body.decode())
            self.assertGreater(m["imgarc_raft_peer_connections_open"], 0, node.name)


class RotationTest(ClusterTestCase):
    """The cluster secret is rotated in three rolling rounds (docs/security.md) while
    the cluster keeps taking writes through every node; a node left with the old
    secret alone is then refused on the raft port."""

    @classmethod
    def setUpClass(cls):
        cls.start_cluster("rot", 3)

    def secrets(self, node, current, previous):
        args = node.args
        i = args.index("--cluster-secret-file")
        del args[i:i + 2]
        if "--cluster-secret-previous-file" in args:
            j = args.index("--cluster-secret-previous-file")
            del args[j:j + 2]
        args += ["--cluster-secret-file", current]
        if previous is not None:
            args += ["--cluster-secret-previous-file", previous]

    def test_rolling_rotation_keeps_the_cluster_writing(self):
        old = self.cluster.secret_path
        new = os.path.join(self.cluster.dir, "secret-new")
        with open(new, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.chmod(new, 0o600)
        n = 0
        for current, previous in [(old, new), (new, old), (new, None)]:
            for node in self.cluster.nodes:
                self.secrets(node, current, previous)
                node.restart()
                self.cluster.leader(timeout=60)
                for writer in self.cluster.nodes:
                    n += 1
                    self.assertStatus(writer.pool_push({"image_no": "ROT-%d" % n}), 201)
        self.cluster.wait_converged()
        for node in self.cluster.nodes:
            self.assertStatus(node.bill("ROT-%d" % n), 200)
            self.assertEqual(self.refused_total(node, "bad_proof"), 0, node.name)
        # A node that kept only the old secret is refused by all the others.
        straggler = self.cluster.nodes[2]
        self.secrets(straggler, old, None)
        straggler.restart(wait=False)
        others = self.cluster.nodes[:2]
        wait_for(lambda: sum(self.refused_total(o, "bad_proof") for o in others) > 0, 60,
                 "the others to refuse the straggler's raft connections")
        self.assertStatus(others[0].pool_push({"image_no": "ROT-END"}), 201)

    def refused_total(self, node, reason):
        return labelled(node, "imgarc_raft_refused_total").get(reason, 0)


class NoSecretTest(unittest.TestCase):
    """A node without a cluster secret keeps raft on loopback and takes no peers."""

    def test_raft_binds_loopback_and_refuses_everyone(self):
        node = Node("nosecret", data_dir=os.path.join(scratch_dir("nosecret"), "d"))
        port = node.raft_port
        base = node.command
        # Ask for every address: it must bind the loopback one only.
        node.command = lambda: ["0.0.0.0:%d" % port if a == "127.0.0.1:%d" % port else a
                                for a in base()]
        try:
            node.start()
            self.assertIn("raft listens on 127.0.0.1:%d only" % port, node.log_text(whole=True))
            with open("/proc/net/tcp") as f:
                rows = [line.split() for line in f.readlines()[1:]]
            listening = [r[1] for r in rows if r[3] == "0A" and
                         int(r[1].split(":")[1], 16) == port]
            self.assertEqual(listening, ["0100007F:%04X" % port])
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"IMGRAFT1" + b"\0" * 60)
                self.assertEqual(recv_until_closed(s, 10), b"")
            self.assertEqual(labelled(node, "imgarc_raft_refused_total")["no_secret"], 1)
        finally:
            node.cleanup()


if __name__ == "__main__":
    unittest.main()
