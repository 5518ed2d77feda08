"""The layer fence's own test: it passes on a copy of the tree and fails on the same copy
with one upward include, one sibling include or one adapter header out of its place."""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHECK = os.path.join(HERE, "check_layering.py")
FOLDERS = ("base", "net", "storage", "archive", "replication", "api", "node")


def run(root):
    p = subprocess.run([sys.executable, CHECK, "--root", root], capture_output=True,
                       text=True)
    return p.returncode, p.stdout + p.stderr


class LayeringTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="imgarc-layering-")
        for f in FOLDERS:
            shutil.copytree(os.path.join(ROOT, f), os.path.join(self.tmp, f))

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def append(self, rel, line):
        with open(os.path.join(self.tmp, rel), "a") as f:
            f.write(line + "\n")

    def test_the_tree_passes(self):
        rc, out = run(self.tmp)
        self.assertEqual(rc, 0, out)
        self.assertIn("every include follows the layer order", out)

    def test_an_upward_include_fails(self):
        self.append("storage/rocks.c", '#include "api/api.h"')
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn('storage/rocks.c:', out)
        self.assertIn('"api/api.h": storage/ (layer 1) includes api/ (layer 5)', out)

    def test_replication_including_api_fails(self):
        self.append("replication/placement.c", '#include "api/api_int.h"')
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn("replication/placement.c:", out)

    def test_api_reaches_replication_through_its_contract_only(self):
        self.append("api/cluster.c", '#include "replication/repl_int.h"')
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn("through replication/repl.h only", out)

    def test_siblings_do_not_include_each_other(self):
        self.append("net/http_client.c", '#include "storage/rocks.h"')
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn("share layer 1", out)

    def test_an_adapter_header_stays_in_its_adapter(self):
        self.append("archive/query.c", "#include <rocksdb/c.h>")
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn("<rocksdb/c.h> belongs to storage/rocks.c only", out)

    def test_qpdf_stays_in_the_document_module(self):
        self.append("api/capture.c", "#include <qpdf/qpdf-c.h>")
        rc, out = run(self.tmp)
        self.assertEqual(rc, 1, out)
        self.assertIn("<qpdf/qpdf-c.h> belongs to archive/document.c only", out)
        self.assertNotIn("archive/document.c:", out)

    def test_a_downward_include_passes(self):
        self.append("api/router.c", '#include "base/log.h"')
        self.append("node/main.c", '#include "api/api.h"')
        rc, out = run(self.tmp)
        self.assertEqual(rc, 0, out)

    def test_an_empty_root_is_an_error(self):
        empty = tempfile.mkdtemp(prefix="imgarc-layering-empty-")
        try:
            rc, out = run(empty)
            self.assertEqual(rc, 2, out)
        finally:
            shutil.rmtree(empty)


if __name__ == "__main__":
    unittest.main()
