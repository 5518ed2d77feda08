"""A small network of its own for the fault suite: one network namespace per node.

Each node of a scenario runs in its own namespace, with a veth pair whose other end is
on a bridge in the test's namespace; the bridge has the first address of a /24 and the
nodes the next ones. The workload and the checker talk to the nodes from the test's
namespace across the bridge, so a partition between nodes never cuts them off.

Partitions are nftables rules inside the nodes' namespaces, in a table of the suite's
own (`inet imgarc_fault`): a node drops what it receives from, and/or sends to, the
addresses it is cut off from. Nothing outside the namespaces the lab created is
touched; close() deletes them and the bridge (the tables go with the namespaces).

Needs root (CAP_NET_ADMIN), iproute2 and nftables (scripts/install-deps.sh --test).
Only the Python standard library is used.
"""

import fcntl
import os
import re
import subprocess

PREFIX = "imgarc-fault-"
NFT_TABLE = "imgarc_fault"
SUBNET_BASE = "10.231"
LOCK_PATH = "/run/imgarc-fault-net.lock"


class LabError(AssertionError):
    pass


def run(cmd, input=None, check=True):
    """Runs @cmd (a list); raises LabError with its stderr when it fails and @check."""
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and p.returncode != 0:
        raise LabError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                            (p.stderr or p.stdout).strip()))
    return p


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale():
    """Cleans up after labs whose process is gone (a run killed before its cleanup):
    kills what still runs in their namespaces, unmounts their small file systems and
    deletes the namespaces and bridges. A lab's names carry its owner's pid."""
    p = run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(r"^%s(\d+)-n\d+$" % re.escape(PREFIX), name)
        if m and not _pid_alive(int(m.group(1))):
            for pid in run(["ip", "netns", "pids", name], check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", name], check=False)
    with open("/proc/mounts") as f:
        for line in f:
            fields = line.split()
            m = re.match(r"^imgarc-fault-(\d+)$", fields[0])
            if m and not _pid_alive(int(m.group(1))):
                run(["umount", "-l", fields[1]], check=False)
    p = run(["ip", "-o", "link", "show", "type", "bridge"], check=False)
    for line in p.stdout.splitlines():
        m = re.match(r"^\d+: (imfb(\d+))[:@]", line)
        if m and not _pid_alive(int(m.group(2))):
            run(["ip", "link", "del", m.group(1)], check=False)


class NetLab:
    """@n namespaces on a bridge. Use as a context manager, or call close()."""

    def __init__(self, n):
        if os.geteuid() != 0:
            raise LabError("the fault suite needs root: it creates network namespaces "
                           "and nftables rules (run the suite as root, as CI does)")
        for tool in ("ip", "nft"):
            if run(["sh", "-c", "command -v %s" % tool], check=False).returncode != 0:
                raise LabError("%s is missing: run scripts/install-deps.sh --test" % tool)
        self.pid = os.getpid()
        self.n = n
        self.bridge = "imfb%d" % self.pid
        self.namespaces = ["%s%d-n%d" % (PREFIX, self.pid, k) for k in range(1, n + 1)]
        self.closed = False
        self.cut = {}  # namespace index -> (drop_in set, drop_out set)
        with open(LOCK_PATH, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            remove_stale()
            self.subnet = self._free_subnet()
            try:
                self._create()
            except BaseException:
                self.close()
                raise

    def _free_subnet(self):
        used = run(["ip", "-o", "-4", "addr", "show"]).stdout
        for x in range(1, 255):
            prefix = "%s.%d." % (SUBNET_BASE, x)
            if (" %s" % prefix) not in used:
                return prefix
        raise LabError("no free %s.X.0/24 subnet for a fault lab" % SUBNET_BASE)

    def ip(self, k):
        """The address of node @k (0-based)."""
        return "%s%d" % (self.subnet, 10 + k)

    @property
    def gateway(self):
        return self.subnet + "1"

    def _create(self):
        run(["ip", "link", "add", self.bridge, "type", "bridge"])
        run(["ip", "addr", "add", self.gateway + "/24", "dev", self.bridge])
        run(["ip", "link", "set", self.bridge, "up"])
        for k, ns in enumerate(self.namespaces):
            outer, inner = "imfv%d%d" % (self.pid, k), "imfp%d%d" % (self.pid, k)
            run(["ip", "netns", "add", ns])
            run(["ip", "link", "add", outer, "type", "veth", "peer", "name", inner])
            run(["ip", "link", "set", inner, "netns", ns])
            run(["ip", "link", "set", outer, "master", self.bridge])
            run(["ip", "link", "set", outer, "up"])
            run(["ip", "-n", ns, "link", "set", inner, "name", "eth0"])
            run(["ip", "-n", ns, "addr", "add", self.ip(k) + "/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def exec_prefix(self, k):
        """The command prefix that runs a program in node @k's namespace; `ip netns
        exec` execs it, so the pid the caller gets is the program's own."""
        return ["ip", "netns", "exec", self.namespaces[k]]

    # -- partitions ------------------------------------------------------------

    def _apply(self, k):
        ns = self.namespaces[k]
        run(["ip", "netns", "exec", ns, "nft", "delete", "table", "inet", NFT_TABLE],
            check=False)
        drop_in, drop_out = self.cut.get(k, (set(), set()))
        if not drop_in and not drop_out:
            return
        rules = ["table inet %s {" % NFT_TABLE,
                 "  chain input { type filter hook input priority 0; policy accept;"]
        if drop_in:
            rules.append("    ip saddr { %s } drop" % ", ".join(sorted(drop_in)))
        rules += ["  }",
                  "  chain output { type filter hook output priority 0; policy accept;"]
        if drop_out:
            rules.append("    ip daddr { %s } drop" % ", ".join(sorted(drop_out)))
        rules += ["  }", "}"]
        run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input="\n".join(rules) + "\n")

    def block(self, src, dst):
        """Drops every packet node @src sends to node @dst (one way: @dst's packets
        still reach @src; TCP between them fails either way, but differently)."""
        self.cut.setdefault(src, (set(), set()))[1].add(self.ip(dst))
        self.cut.setdefault(dst, (set(), set()))[0].add(self.ip(src))
        self._apply(src)
        self._apply(dst)

    def partition(self, *groups):
        """Cuts every link between nodes of different @groups (lists of indexes), both
        ways. Nodes not named in any group stay connected to everyone."""
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                for x in a:
                    for y in b:
                        self.block(x, y)
                        self.block(y, x)

    def heal(self):
        """Removes every rule: the nodes reach each other again."""
        touched = list(self.cut)
        self.cut = {}
        for k in touched:
            self._apply(k)

    def rules(self, k):
        """The suite's nftables table in node @k's namespace, as nft lists it ('' when
        none)."""
        p = run(["ip", "netns", "exec", self.namespaces[k], "nft", "list", "table", "inet",
                 NFT_TABLE], check=False)
        return p.stdout if p.returncode == 0 else ""

    def close(self):
        if self.closed:
            return
        self.closed = True
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns], check=False)
        run(["ip", "link", "del", self.bridge], check=False)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
