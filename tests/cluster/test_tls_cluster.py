"""A 3-node cluster on mutual TLS (docs/tls.md): every node serves https with its own
certificate from one CA, trusts that CA for the others (--tls-ca) and asks every
client for a certificate of it (--tls-client-ca), so members present theirs to each
other. Joining, forwarded writes, blob copies, remote reads and the members' links all
go over https: a capture through a follower reaches all three nodes and reads back
equal from each; a client without a certificate gets nothing from any node."""

import hashlib
import os
import socket
import ssl
import unittest

from imgarc_cluster import ClusterTestCase, SLOW
from imgarc_node import random_bytes, run_cli, scratch_dir
from tls_certs import TestCA

SETTLE = 240.0 if SLOW else 120.0


class TlsClusterTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = TestCA(scratch_dir("tls-cluster-ca"))
        cls.start_cluster("tlsc", 3, tls=cls.ca, mutual_tls=True)

    def test_01_members_joined_over_https(self):
        c = self.cluster
        view = c.view(c.nodes[0])
        self.assertEqual(len(view["nodes"]), 3, view)
        self.assertTrue(all(n["health"] == "ok" for n in view["nodes"]), view)
        r = c.nodes[2].get("/api/v1/nodes")
        self.assertEqual(r.status, 200, r)
        urls = [n["url"] for n in r.json["nodes"]]
        self.assertTrue(all(u.startswith("https://127.0.0.1:") for u in urls), urls)

    def test_02_a_capture_reaches_every_node_and_reads_back(self):
        c = self.cluster
        data = random_bytes(256 * 1024, seed=7)
        h = hashlib.blake2b(data, digest_size=32).hexdigest()
        follower = [n for n in c.nodes if c.view(n)["leader"] != c.node_id(n)][0]
        r = follower.upload("TLSC-1", data, name="scan.pdf")
        self.assertEqual(r.status, 201, r)
        fid = r.json["file_id"]
        self.assertEqual(r.json["blob"], h)

        def everywhere():
            return all(n.blob_file(h) == data for n in c.nodes)
        self.wait_for(everywhere, SETTLE, "the content on all three nodes")
        for n in c.nodes:
            r = n.content(fid)
            self.assertEqual(r.status, 200, (n.name, r))
            self.assertTrue(r.body == data, n.name)
        p = run_cli(c.nodes[1], "status", "TLSC-1",
                    env={"IMGARC_CERT": os.path.join(self.ca.dir, "tlsc-n2.pem"),
                         "IMGARC_KEY": os.path.join(self.ca.dir, "tlsc-n2.key")})
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_03_no_certificate_no_answer(self):
        for n in self.cluster.nodes:
            with self.assertRaises((ssl.SSLError, ConnectionError, OSError)):
                with socket.create_connection(("127.0.0.1", n.http_port), timeout=10) as raw:
                    with self.ca.context().wrap_socket(raw, server_hostname="127.0.0.1") as s:
                        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                        if not s.recv(100):
                            raise ConnectionError("closed")


if __name__ == "__main__":
    unittest.main()
