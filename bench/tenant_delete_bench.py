#!/usr/bin/env python3
"""The cost of deleting a tenant (docs/retention.md, "Deleting a tenant"): one
DeleteTenant command, applied on the loop thread of every node in one RocksDB batch.

One node; for each size asked (default 1000 and 10000, the most one deletion takes), a
licensed tenant whose retention period is 0 years gets that many bills of one 1 KiB
file each (imgarc-bench's upload phase), then DELETE /api/v1/tenants/{id}. It prints
the time to the answer (the raft commit and the apply) and the time of a /healthz sent
right after, which waits behind anything still holding the loop.

    python3 bench/tenant_delete_bench.py
    python3 bench/tenant_delete_bench.py --bills 2000 --bills 10000
"""

import argparse
import json
import os
import subprocess
import tempfile
import time

import benchlib
from benchlib import progress


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    benchlib.add_common_args(p, os.path.join(tempfile.gettempdir(), "imgarc-tenant-bench"))
    p.add_argument("--bills", type=int, action="append", default=[],
                   help="bills of a tenant (repeat; default 1000 and 10000)")
    args = p.parse_args()
    _, node_mod = benchlib.setup_env(args)
    build = os.path.abspath(args.build)
    cli, bench = os.path.join(build, "imgarc"), os.path.join(build, "imgarc-bench")
    keys = os.path.join(args.dir, "keys")
    subprocess.run([cli, "license", "keygen", "--out", keys], check=True, capture_output=True)
    node = node_mod.Node("tenant-bench", args=["--license-pubkey",
                                               os.path.join(keys, "license.pub")] +
                         args.node_arg)
    try:
        node.start()
        for bills in args.bills or [1000, 10000]:
            tenant = "bench%d" % bills
            r = node.post("/api/v1/tenants", json.dumps({"id": tenant}).encode())
            assert r.status == 201, r
            doc = subprocess.run([cli, "license", "sign", "--key",
                                  os.path.join(keys, "license.key"), "--tenant", tenant,
                                  "--expires", "2099-01-01T00:00:00Z", "--quota-bytes", "100G",
                                  "--modes", "basic,sync,match"], check=True,
                                 capture_output=True).stdout
            assert node.post("/api/v1/licenses", doc,
                             headers={"Content-Type": "application/json"}).status == 201
            assert node.request("PUT", "/api/v1/retention?tenant=" + tenant,
                                body=b'{"years":0}').status == 200
            progress("filling %s with %d bills" % (tenant, bills))
            subprocess.run([bench, "--server", node.url, "--token", node.token, "--tenant",
                            tenant, "--clients", "8", "--size", "1K", "--files", str(bills),
                            "--bills", str(bills), "--phases", "upload"], check=True,
                           capture_output=True)
            usage = node.get("/api/v1/tenants/%s/usage" % tenant).json
            t0 = time.monotonic()
            r = node.request("DELETE", "/api/v1/tenants/" + tenant,
                             body=json.dumps({"confirm": tenant}).encode())
            deleted = time.monotonic() - t0
            t0 = time.monotonic()
            node.get("/healthz", auth=False)
            probe = time.monotonic() - t0
            print("%6d bills, %6d files: DELETE %d in %.3f s; /healthz right after %.3f s"
                  % (usage["bills"], usage["files"], r.status, deleted, probe))
    finally:
        node.cleanup(remove_data=not args.keep)


if __name__ == "__main__":
    main()
