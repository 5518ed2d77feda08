"""Certificates for the TLS tests, made with the openssl command (Debian's openssl): a
CA, and certificates it signs for 127.0.0.1 (nodes; usable as clients too) or for a
client name. EC P-256 keys; files in a directory the test owns."""

import os
import ssl
import subprocess


def _run(*args, cwd):
    p = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True)
    if p.returncode != 0:
        raise AssertionError("openssl %s: %s" % (" ".join(args), p.stderr))


class TestCA:
    def __init__(self, directory, name="imgarc test CA"):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.cert = os.path.join(directory, "ca.pem")
        self.key = os.path.join(directory, "ca.key")
        _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "30",
             "-subj", "/CN=" + name, cwd=directory)

    def issue(self, stem, cn, ip="127.0.0.1", days=30):
        """(cert, key) paths of a certificate for @cn (and IP SAN @ip, None: none),
        for both server and client use."""
        cert = os.path.join(self.dir, stem + ".pem")
        key = os.path.join(self.dir, stem + ".key")
        csr = os.path.join(self.dir, stem + ".csr")
        ext = os.path.join(self.dir, stem + ".ext")
        with open(ext, "w") as f:
            if ip:
                f.write("subjectAltName=IP:%s\n" % ip)
            f.write("extendedKeyUsage=serverAuth,clientAuth\n")
        _run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + cn, cwd=self.dir)
        _run("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
             "-CAcreateserial", "-out", cert, "-days", str(days), "-extfile", ext,
             cwd=self.dir)
        os.chmod(key, 0o600)
        return cert, key

    def context(self, client=None):
        """An ssl client context trusting this CA; @client: (cert, key) to present."""
        ctx = ssl.create_default_context(cafile=self.cert)
        if client is not None:
            ctx.load_cert_chain(client[0], client[1])
        return ctx
