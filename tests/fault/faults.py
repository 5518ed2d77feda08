"""The faults: each one is injected into a running scenario and healed after a bounded
time. inject(ctx) returns the function that heals it.

ctx is the running scenario (run_faults.Scenario): ctx.cluster (FaultCluster), ctx.lab
(NetLab), ctx.rng, ctx.log(msg), ctx.ledger, and ctx.fault_s, how long a fault lasts.
Nodes are picked when the fault starts (the leader is whoever leads then).
"""

import errno
import os
import signal
import threading
import time

from workload import blob_of


def _leader(ctx):
    return ctx.cluster.leader(timeout=60)


def _follower(ctx):
    leader = _leader(ctx)
    return ctx.rng.choice([n for n in ctx.cluster.nodes if n is not leader]), leader


def kill_leader(ctx):
    node = _leader(ctx)
    ctx.log("kill -9 the leader %s" % node.name)
    node.kill9()
    return lambda: node.start(wait=False)


def kill_follower(ctx):
    node, _ = _follower(ctx)
    ctx.log("kill -9 the follower %s" % node.name)
    node.kill9()
    return lambda: node.start(wait=False)


def kill_all(ctx):
    ctx.log("kill -9 every node")
    for n in ctx.cluster.nodes:
        n.kill9()

    def heal():
        for n in ctx.cluster.nodes:
            n.start(wait=False)
    return heal


def _stop(ctx, node, what):
    ctx.log("SIGSTOP the %s %s" % (what, node.name))
    node.signal(signal.SIGSTOP)
    return lambda: node.signal(signal.SIGCONT)


def stop_leader(ctx):
    return _stop(ctx, _leader(ctx), "leader")


def stop_follower(ctx):
    node, _ = _follower(ctx)
    return _stop(ctx, node, "follower")


def partition_leader(ctx):
    leader = _leader(ctx)
    others = [n.k for n in ctx.cluster.nodes if n is not leader]
    ctx.log("partition the leader %s from the followers, both ways" % leader.name)
    ctx.lab.partition([leader.k], others)
    return ctx.lab.heal


def partition_leader_oneway(ctx):
    leader = _leader(ctx)
    ctx.log("drop what the leader %s sends to the followers (one way)" % leader.name)
    for n in ctx.cluster.nodes:
        if n is not leader:
            ctx.lab.block(leader.k, n.k)
    return ctx.lab.heal


def split_follower(ctx):
    """A minority/majority split: one follower alone, the leader and the other
    follower together."""
    node, _ = _follower(ctx)
    others = [n.k for n in ctx.cluster.nodes if n is not node]
    ctx.log("split: %s alone, the other two together" % node.name)
    ctx.lab.partition([node.k], others)
    return ctx.lab.heal


def split_bridge(ctx):
    """A split that is not transitive: the leader and one follower cannot reach each
    other, and both reach the third node."""
    node, leader = _follower(ctx)
    ctx.log("bridge: %s and %s cut from each other, both reach the third"
            % (leader.name, node.name))
    ctx.lab.partition([leader.k], [node.k])
    return ctx.lab.heal


def bitrot(ctx):
    """Flips one bit in up to 8 stored copies of acknowledged captures on one node (the
    file is rewritten in place, as a failing disk would leave it)."""
    node = ctx.rng.choice(ctx.cluster.nodes)
    blobs = sorted({a["blob"] for a in ctx.ledger.captures()})
    ctx.rng.shuffle(blobs)
    flipped = []
    for blob in blobs:
        if len(flipped) >= 8:
            break
        path = os.path.join(node.data, "blobs", blob[:2], blob[2:4], blob)
        try:
            with open(path, "r+b") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    continue
                at = ctx.rng.randrange(size)
                f.seek(at)
                b = f.read(1)
                f.seek(at)
                f.write(bytes([b[0] ^ (1 << ctx.rng.randrange(8))]))
        except FileNotFoundError:
            continue
        flipped.append(path)
    ctx.log("flipped a bit in %d stored copies on %s" % (len(flipped), node.name))
    ctx.rotted.extend(flipped)
    return lambda: None


def _fill(node, f, keep):
    """Grows @f until @node's file system has at most @keep bytes free (the node keeps
    writing meanwhile: steps, smaller ones as the space runs out)."""
    size = os.fstat(f.fileno()).st_size
    step = 256 << 20
    while step >= (64 << 10):
        want = node.free_bytes() - keep
        if want <= 0:
            break
        n = min(step, want)
        try:
            os.posix_fallocate(f.fileno(), size, n)
            size += n
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
            step //= 4


def disk_full(ctx):
    """Fills the data file system of the node on a small file system of its own to its
    last 3 MB, and keeps it there while the fault lasts (a node that frees space, e.g.
    its reserve, finds it taken again)."""
    node = ctx.cluster.nodes[ctx.disk_node]
    filler = os.path.join(node.data, "fault-filler")
    keep = 3 << 20
    f = open(filler, "wb")
    _fill(node, f, keep)
    ctx.log("filled %s's file system: %.1f MB free" % (node.name, node.free_bytes() / 1e6))
    done = threading.Event()

    def top_up():
        while not done.wait(0.5):
            if node.free_bytes() > keep + (1 << 20):
                _fill(node, f, keep)

    t = threading.Thread(target=top_up, daemon=True)
    t.start()

    def heal():
        done.set()
        t.join()
        f.close()
        os.unlink(filler)
    return heal


def clock_jump(ctx):
    """The leader's wall clock jumps 120 s ahead, then half-way to 120 s behind; healed
    back to the real time."""
    leader = _leader(ctx)
    ctx.log("the leader %s's wall clock jumps +120 s" % leader.name)
    leader.set_clock_offset(120)
    time.sleep(ctx.fault_s / 2)
    ctx.log("%s's wall clock jumps back to -120 s" % leader.name)
    leader.set_clock_offset(-120)
    return lambda: leader.set_clock_offset(0)


FAULTS = {f.__name__: f for f in (
    kill_leader, kill_follower, kill_all, stop_leader, stop_follower, partition_leader,
    partition_leader_oneway, split_follower, split_bridge, bitrot, disk_full, clock_jump)}

# What a fault needs from the cluster it runs on.
NEEDS_FAKETIME = {"clock_jump"}
NEEDS_SMALL_DISK = {"disk_full"}


def check_rot_repaired(ctx, bound):
    """Every rotted copy is replaced by a good one (or deleted) within @bound seconds:
    the product must find and repair what a disk did to it."""
    deadline = time.monotonic() + bound
    pending = list(ctx.rotted)
    while pending and time.monotonic() < deadline:
        left = []
        for path in pending:
            try:
                with open(path, "rb") as f:
                    good = blob_of(f.read()) == os.path.basename(path)
            except FileNotFoundError:
                good = True
            if not good:
                left.append(path)
        pending = left
        if pending:
            time.sleep(1)
    return pending
