"""The Debian package (deploy/debian/, docs/operations.md "Installing from the
package"), built by CPack from this build tree, as an operator meets it:

- lintian reports nothing but the tags deploy/debian/lintian-overrides explains;
- Depends names the package of every shared library the programs load, the patched
  libraft among them; the config is a conffile; the maintainer scripts parse;
- installed with dpkg into a throw-away root (an overlay over this machine's root, on
  a tmpfs this test mounts: root is needed), it creates the imgarc user and its
  /var/lib/imgarc (mode 0700), a config only root and that user read, and a unit
  systemd-analyze accepts; a node started as the unit starts it (its ExecStart, as the
  imgarc user, UMask 0077) serves a capture through the packaged CLI;
- removed and purged, the programs and the config go, and the archive's data and the
  user stay; installed again, the node opens that data and serves the same bill.

The throw-away root has this machine's libraries (the build's), so the install proves
what dpkg does with the package, and the Depends check proves the package asks for
what it needs. There is no systemd in the root: the unit is started by hand as systemd
would.
"""

import glob
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from imgarc_node import BIN_DIR, Node, make_pdf, scratch_dir  # noqa: E402

SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                       stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s exited %d:\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                       r.stdout[-4000:], r.stderr[-4000:]))
    return r


class InstalledNode(Node):
    """imgarcd from the package, in the throw-away root, started as its unit says."""

    def __init__(self, root, exec_start, uid, gid):
        super().__init__("pkg-node", token=None, data_dir=os.path.join(root, "var/lib/imgarc"),
                         base_args=False, outbound_allow=())
        self.root = root
        self.exec_start = exec_start
        self.uid, self.gid = uid, gid
        self.log_path = os.path.join(os.path.dirname(root), "imgarcd.log")

    def command(self):
        # chroot with numeric ids: the user exists only in the root's /etc/passwd.
        return (["chroot", "--userspec=%d:%d" % (self.uid, self.gid), "--groups=%d" % self.gid,
                 self.root] + self.exec_start +
                ["--listen", "127.0.0.1:%d" % self.http_port,
                 "--raft-listen", "127.0.0.1:%d" % self.raft_port])

    def _spawn(self):
        old = os.umask(0o077)  # UMask=0077, as the unit says
        try:
            super()._spawn()
        finally:
            os.umask(old)

    def read_token(self):
        with open(os.path.join(self.data, "bootstrap-token")) as f:
            self.token = f.read().strip()


class PackageTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise AssertionError("the package test mounts an overlay root: run it as root")
        cls.dir = scratch_dir("package")
        if os.environ.get("IMGARC_TEST_KEEP") is None:
            cls.addClassCleanup(shutil.rmtree, cls.dir, True)
        out = os.path.join(cls.dir, "cpack")
        run(["cpack", "-G", "DEB", "-B", out, "--config",
             os.path.join(BIN_DIR, "CPackConfig.cmake")], cwd=BIN_DIR)
        debs = glob.glob(os.path.join(out, "imgarc_*.deb"))
        if len(debs) != 1:
            raise AssertionError("cpack made %r" % debs)
        cls.deb = debs[0]
        cls.control = {}
        text = run(["dpkg-deb", "-f", cls.deb]).stdout
        for m in re.finditer(r"^(\S+): (.*(?:\n .*)*)", text, re.M):
            cls.control[m.group(1)] = m.group(2)

    # -- the package file ----------------------------------------------------

    def test_01_lintian_is_clean(self):
        r = run(["lintian", "--fail-on", "error,warning", self.deb], check=False)
        tags = [l for l in r.stdout.splitlines() if re.match(r"[EWI]: ", l)]
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(tags, [], "lintian tags not explained in "
                         "deploy/debian/lintian-overrides")
        # Each override still matches a tag (an override left behind hides nothing).
        r = run(["lintian", "--show-overrides", self.deb], check=False)
        overridden = [l for l in r.stdout.splitlines() if l.startswith("O: ")]
        with open(os.path.join(SOURCE, "deploy/debian/lintian-overrides")) as f:
            listed = [l for l in f.read().splitlines() if l and not l.startswith("#")]
        self.assertEqual(len(overridden), len(listed), r.stdout)

    def test_02_depends_names_every_library_loaded(self):
        depends = self.control["Depends"]
        names = {re.match(r"\s*([a-z0-9.+-]+)", d).group(1)
                 for alt in depends.split(",") for d in alt.split("|")}
        self.assertRegex(depends, r"libraft0 \(>= 0\.22\.1-1~bpo12\+1imgarc1\)",
                         "the patched libraft (deploy/libraft)")
        self.assertIn("adduser", names)
        tree = os.path.join(self.dir, "tree")
        run(["dpkg-deb", "-x", self.deb, tree])
        for prog in ("usr/bin/imgarcd", "usr/bin/imgarc", "usr/bin/imgarc-verify"):
            path = os.path.join(tree, prog)
            self.assertTrue(os.access(path, os.X_OK), prog)
            # The libraries it names itself (what the libraries load in turn is their
            # packages' to declare), where the loader finds them.
            needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(\S+)\]",
                                run(["readelf", "-d", path]).stdout)
            found = dict(re.findall(r"^\s*(\S+) => (/\S+)", run(["ldd", path]).stdout, re.M))
            self.assertGreater(len(needed), 3, prog)
            for soname in needed:
                self.assertIn(soname, found, "%s: %s not found by the loader" % (prog, soname))
                lib = found[soname]
                owner = self.owner(lib)
                self.assertIn(owner, names, "%s loads %s of package %s, not in Depends: %s"
                              % (prog, lib, owner, depends))
            # Stripped, and built with the hardening the package promises.
            self.assertNotIn(".debug_info", run(["readelf", "-S", path]).stdout, prog)
            dyn = run(["readelf", "-d", path]).stdout
            self.assertRegex(dyn, r"FLAGS.*BIND_NOW|FLAGS_1.*NOW", prog)
            syms = run(["readelf", "-W", "--dyn-syms", path]).stdout
            self.assertTrue("__stack_chk_fail" in syms, "%s: no stack protector" % prog)
            self.assertTrue(re.search(r"__\w+_chk@", syms), "%s: no _FORTIFY_SOURCE" % prog)

    @staticmethod
    def owner(lib):
        """The Debian package that holds @lib (any of its names under merged /usr)."""
        real = os.path.realpath(lib)
        for cand in (lib, real, "/usr" + lib if not lib.startswith("/usr") else lib[4:],
                     "/usr" + real if not real.startswith("/usr") else real[4:]):
            r = run(["dpkg", "-S", cand], check=False)
            if r.returncode == 0:
                return r.stdout.split(":")[0].strip()
        raise AssertionError("no package holds %s" % lib)

    def test_03_control_files(self):
        tree = os.path.join(self.dir, "control")
        run(["dpkg-deb", "-e", self.deb, tree])
        with open(os.path.join(tree, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/imgarc/imgarcd.conf"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(tree, script)
            self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o755, script)
            run(["sh", "-n", path])
        self.assertEqual(self.control["Package"], "imgarc")
        self.assertEqual(self.control["Architecture"], "amd64")

    # -- installed, run, removed ---------------------------------------------

    def mount_root(self):
        """A root to install into: this machine's root under an overlay whose writes
        land on a tmpfs, with /proc and /dev; unmounted at the test's end."""
        base = tempfile.mkdtemp(prefix="imgarc-pkgroot-", dir="/tmp")
        self.addCleanup(shutil.rmtree, base, True)
        upper = os.path.join(base, "upper")
        root = os.path.join(base, "root")
        os.makedirs(upper)
        os.makedirs(root)
        run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "tmpfs", upper])
        self.addCleanup(run, ["umount", upper], check=False)
        os.makedirs(os.path.join(upper, "u"))
        os.makedirs(os.path.join(upper, "w"))
        run(["mount", "-t", "overlay", "overlay", "-o",
             "lowerdir=/,upperdir=%s/u,workdir=%s/w" % (upper, upper), root])
        self.addCleanup(run, ["umount", "-l", root], check=False)
        run(["mount", "-t", "proc", "proc", os.path.join(root, "proc")])
        self.addCleanup(run, ["umount", os.path.join(root, "proc")], check=False)
        run(["mount", "--bind", "/dev", os.path.join(root, "dev")])
        self.addCleanup(run, ["umount", os.path.join(root, "dev")], check=False)
        # This machine may have an imgarc user or an earlier install: the root starts
        # without them, as a fresh host would.
        for f in ("etc/passwd", "etc/group", "etc/shadow", "etc/gshadow"):
            path = os.path.join(root, f)
            if os.path.exists(path):
                with open(path) as fh:
                    lines = [l for l in fh if not l.startswith("imgarc:")]
                with open(path, "w") as fh:
                    fh.writelines(lines)
        for p in ("var/lib/imgarc", "etc/imgarc"):
            shutil.rmtree(os.path.join(root, p), ignore_errors=True)
        run(["chroot", root, "dpkg", "--purge", "imgarc"], check=False)
        shutil.copy(self.deb, os.path.join(root, "tmp", "imgarc.deb"))
        return root

    def chroot(self, root, *cmd, env=None, check=True):
        e = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        e.update(env or {})
        return run(["chroot", root] + list(cmd), env=e, check=check)

    def exec_start(self, root):
        with open(os.path.join(root, "lib/systemd/system/imgarcd.service")) as f:
            unit = f.read()
        line = re.search(r"^ExecStart=(.*)$", unit, re.M).group(1)
        return line.split()

    def start_node(self, root):
        uid = gid = None
        with open(os.path.join(root, "etc/passwd")) as f:
            for line in f:
                fields = line.split(":")
                if fields[0] == "imgarc":
                    uid, gid = int(fields[2]), int(fields[3])
        self.assertIsNotNone(uid, "the package made no imgarc user")
        node = InstalledNode(root, self.exec_start(root), uid, gid)
        self.addCleanup(node.cleanup, remove_data=False)
        node.start()
        node.read_token()
        return node

    def cli(self, root, node, *args, check=True):
        return self.chroot(root, "/usr/bin/imgarc", *args, check=check,
                           env={"IMGARC_SERVER": node.url, "IMGARC_TOKEN": node.token})

    def test_04_install_run_remove_purge_reinstall(self):
        root = self.mount_root()
        r = self.chroot(root, "dpkg", "-i", "/tmp/imgarc.deb")
        self.assertIn("Setting up imgarc", r.stdout)
        self.assertEqual(self.chroot(root, "dpkg-query", "-W", "-f=${Status}",
                                     "imgarc").stdout, "install ok installed")

        # The user, the data dir, the config, the unit.
        entry = self.chroot(root, "getent", "passwd", "imgarc").stdout.strip().split(":")
        uid, gid = int(entry[2]), int(entry[3])
        self.assertLess(uid, 1000, "a system user")
        self.assertEqual(entry[5:], ["/var/lib/imgarc", "/usr/sbin/nologin"])
        st = os.stat(os.path.join(root, "var/lib/imgarc"))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (uid, gid, 0o700))
        st = os.stat(os.path.join(root, "etc/imgarc/imgarcd.conf"))
        self.assertEqual((st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)), (0, gid, 0o640))
        self.assertEqual(self.exec_start(root),
                         ["/usr/bin/imgarcd", "--config", "/etc/imgarc/imgarcd.conf"])
        r = self.chroot(root, "systemd-analyze", "verify", "--man=no",
                        "/lib/systemd/system/imgarcd.service", check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(os.readlink(os.path.join(
            root, "etc/systemd/system/multi-user.target.wants/imgarcd.service")),
            "/lib/systemd/system/imgarcd.service", "the service is enabled")
        self.assertNotIn("adduser: Warning", r.stderr)

        # A node as the unit starts it; a capture through the packaged CLI.
        node = self.start_node(root)
        self.assertIn("INFO config data=/var/lib/imgarc\n", node.log_text(),
                      "the data dir named by /etc/imgarc/imgarcd.conf")
        pdf = make_pdf(pages=1, text="package test")
        with open(os.path.join(root, "tmp", "cover.pdf"), "wb") as f:
            f.write(pdf)
        self.cli(root, node, "pool", "push", "PKG-0001", "--bill-no", "ER-PKG-1",
                 "--amount", "12.50")
        self.cli(root, node, "upload", "PKG-0001", "/tmp/cover.pdf")
        bill = json.loads(self.cli(root, node, "get", "PKG-0001", "--json").stdout)
        file_id = bill["files"][0]["file_id"]
        self.cli(root, node, "download", file_id, "-o", "/tmp/copy.pdf")
        with open(os.path.join(root, "tmp", "copy.pdf"), "rb") as f:
            self.assertEqual(f.read(), pdf)
        # Everything the node wrote is the imgarc user's.
        for dirpath, dirs, files in os.walk(node.data):
            for name in dirs + files:
                st = os.lstat(os.path.join(dirpath, name))
                self.assertEqual(st.st_uid, uid, os.path.join(dirpath, name))
        self.assertEqual(node.stop(), 0, node.log_tail())

        # Removed: the programs go, the config (a conffile) stays until purge.
        self.chroot(root, "dpkg", "-r", "imgarc")
        self.assertFalse(os.path.exists(os.path.join(root, "usr/bin/imgarcd")))
        self.assertTrue(os.path.exists(os.path.join(root, "etc/imgarc/imgarcd.conf")))
        r = self.chroot(root, "dpkg", "--purge", "imgarc")
        self.assertIn("/var/lib/imgarc is kept", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(root, "etc/imgarc/imgarcd.conf")))
        self.assertFalse(os.path.exists(os.path.join(root, "lib/systemd/system/imgarcd.service")))
        # The archive and its user stay.
        self.assertTrue(os.path.isdir(os.path.join(root, "var/lib/imgarc/blobs")))
        self.assertEqual(self.chroot(root, "getent", "passwd", "imgarc").returncode, 0)

        # Installed again: the same user, the same archive.
        self.chroot(root, "dpkg", "-i", "/tmp/imgarc.deb")
        self.assertEqual(int(self.chroot(root, "id", "-u", "imgarc").stdout), uid)
        node = self.start_node(root)
        r = node.bill("PKG-0001")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json["files"][0]["file_id"], file_id)
        self.assertEqual(node.stop(), 0, node.log_tail())


if __name__ == "__main__":
    unittest.main()
