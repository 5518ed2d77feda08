#!/usr/bin/env python3
"""The layer fence: every #include in the daemon's sources points down the layer order.

    base <- {net, storage} <- archive <- replication <- migrate <- api <- node

A file may include headers of its own folder and of folders in a lower layer; net/ and
storage/ share a layer and do not include each other. tools/ and tests/ sit on top and
may include anything. Libraries with a single adapter stay in it: <rocksdb/...> only in
storage/rocks.c, <http_parser.h> only in net/, <raft.h> and <raft/...> only in
replication/, <curl/curl.h> only in net/ and replication/blob_push.c (which streams a
file body with its own easy handle; see replication/README.md), <qpdf/...> only in
archive/document.c (a PDF's pages), <libxml/...> and <zip.h> only in archive/einvoice.c
(e-invoice XML and OFD).

A folder may name its contract: the one header the layers above it include. migrate/,
api/ and node/ include from replication/ only replication/repl.h.

Run: check_layering.py [--root DIR]; exits 1 and prints each offending line otherwise.
"""
import argparse
import os
import re
import sys

# Folder -> rank. A lower rank is a lower layer.
LAYERS = {"base": 0, "net": 1, "storage": 1, "archive": 2, "replication": 3, "migrate": 4,
          "api": 5, "node": 6}
# Headers generated into the build tree, named as the folder they belong to.
GENERATED = {"version.h": "base"}
# System headers that belong to one adapter: header prefix -> (allowed folders or files).
ADAPTERS = {
    "rocksdb/": ("storage/rocks.c",),
    "http_parser.h": ("net/",),
    "raft.h": ("replication/",),
    "raft/": ("replication/",),
    "curl/": ("net/", "replication/blob_push.c"),
    "qpdf/": ("archive/document.c",),
    "libxml/": ("archive/einvoice.c",),
    "zip.h": ("archive/einvoice.c",),
}

# Folder -> the only header files of other folders may include from it.
CONTRACTS = {"replication": "replication/repl.h"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def folder_of_include(path_in_quotes, own_folder):
    if path_in_quotes in GENERATED:
        return GENERATED[path_in_quotes]
    head = path_in_quotes.split("/", 1)
    if len(head) == 1:
        return own_folder  # "x.h": a header beside the file
    return head[0]


def check_file(root, rel, problems):
    own = rel.split("/", 1)[0]
    rank = LAYERS[own]
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.group(1), m.group(2)
            if kind == "<":
                for prefix, allowed in ADAPTERS.items():
                    if name == prefix or (prefix.endswith("/") and name.startswith(prefix)):
                        if not any(rel == a or (a.endswith("/") and rel.startswith(a))
                                   for a in allowed):
                            problems.append(f"{rel}:{lineno}: <{name}> belongs to "
                                            f"{', '.join(allowed)} only")
                continue
            target = folder_of_include(name, own)
            if target not in LAYERS:
                problems.append(f"{rel}:{lineno}: \"{name}\" is not in a daemon layer "
                                f"({', '.join(LAYERS)})")
                continue
            if target == own:
                continue
            trank = LAYERS[target]
            if trank > rank:
                problems.append(f"{rel}:{lineno}: \"{name}\": {own}/ (layer {rank}) "
                                f"includes {target}/ (layer {trank}), a layer above it")
            elif target in CONTRACTS and name != CONTRACTS[target]:
                problems.append(f"{rel}:{lineno}: \"{name}\": {own}/ includes "
                                f"{target}/ through {CONTRACTS[target]} only, its contract")
            elif trank == rank:
                problems.append(f"{rel}:{lineno}: \"{name}\": {own}/ and {target}/ share "
                                f"layer {rank} and must not include each other")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", ".."))
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    problems, files = [], 0
    for folder in LAYERS:
        d = os.path.join(root, folder)
        if not os.path.isdir(d):
            continue
        for dirpath, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    rel = os.path.relpath(os.path.join(dirpath, n), root)
                    check_file(root, rel, problems)
                    files += 1
    if files == 0:
        print(f"check_layering: no sources under {root}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    order = "base <- {net, storage} <- archive <- replication <- migrate <- api <- node"
    if problems:
        print(f"{len(problems)} include(s) against the layer order {order} "
              f"in {files} files")
        return 1
    print(f"{files} files, every include follows the layer order {order}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
