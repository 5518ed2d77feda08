"""What a captured document is, read from its content by a real node: a PDF's pages
from the PDF library (archive/document.c, qpdf, run in a limited child process of the
node), wherever its page objects sit, and the format from the magic number before the
file name. A PDF that needs more than the child's limits (a decompression bomb, a
deadline) keeps the byte scan's estimate, and the node does not feel it.

The PDFs are tests/fixtures/pdf/ (its README says how each was made)."""

import os
import re
import threading
import unittest

from imgarc_node import NodeTestCase, make_jpg, make_pdf, random_bytes

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pdf")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


def sanitized_build():
    """True in an ASan build, where the child's memory limit is ASan's RSS limit (it
    kills) rather than RLIMIT_AS (qpdf's allocation fails): base/child.c."""
    cache = os.path.join(os.environ.get("IMGARC_BIN_DIR", ""), "CMakeCache.txt")
    try:
        with open(cache) as f:
            return "IMGARC_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def peak_rss_kib(pid):
    """The process's peak resident set (VmHWM), KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def children_of(pid):
    """Pids whose parent is @pid, zombies included."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after its ')'.
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            kids.append(int(entry))
    return kids


def limit_warnings(log, file_id):
    """The node's WARN lines saying @file_id's page count hit the child's limits."""
    return [line for line in log.splitlines()
            if "WARN" in line and "file_id=%s" % file_id in line
            and "the PDF page counter gave no count" in line]


class DocumentTest(NodeTestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("documents")

    def capture(self, image_no, data, name):
        r = self.node.upload(image_no, data, name=name)
        return self.assertUploaded(r, image_no, data)

    def stored(self, image_no):
        """The bill's files as GET /api/v1/bills/{image_no} lists them, by file id."""
        r = self.node.get("/api/v1/bills/%s" % image_no)
        self.assertStatus(r, 200)
        return {f["file_id"]: f for f in r.json["files"]}

    def test_pages_inside_object_streams(self):
        """Every page object of this file is in a compressed object stream: the byte
        scan the node used before found no page marker and answered 1."""
        data = fixture("objstm-17.pdf")
        self.assertNotIn(b"/Type /Page", data)
        a = self.capture("BX-DOC-1", data, "statement.pdf")
        self.assertEqual((a["format"], a["pages"]), ("pdf", 17))
        self.assertEqual(self.stored("BX-DOC-1")[a["file_id"]]["pages"], 17)

    def test_pages_of_classic_pdfs(self):
        cases = [  # (name, data, pages)
            ("nested.pdf", fixture("nested-5.pdf"), 5),
            ("bad-xref.pdf", fixture("bad-xref-5.pdf"), 5),  # repaired by qpdf
            ("owner.pdf", fixture("encrypted-owner-5.pdf"), 5),  # opens without a password
            ("four.pdf", make_pdf(pages=4, seed=31), 4),
            # Three chunks of the upload path (256 KiB each): the count is made on the
            # whole file once it is written.
            ("big.pdf", make_pdf(pages=9, text="x" * 600000, seed=32), 9),
        ]
        ids = {}
        for name, data, pages in cases:
            with self.subTest(name=name):
                a = self.capture("BX-DOC-2", data, name)
                self.assertEqual((a["format"], a["pages"]), ("pdf", pages))
                ids[a["file_id"]] = pages
        stored = self.stored("BX-DOC-2")
        for file_id, pages in ids.items():
            self.assertEqual(stored[file_id]["pages"], pages)

    def test_an_unreadable_pdf_is_still_captured(self):
        """A PDF the library cannot read keeps the byte scan's count (1 when it finds no
        page marker), and the node says so in its log; the capture succeeds."""
        cases = [("truncated.pdf", fixture("truncated-17.pdf"), 1),
                 ("garbage.pdf", fixture("garbage.pdf"), 1),
                 ("named.pdf", random_bytes(2000, seed=33), 1),  # a PDF by its name only
                 # A user password: the page dictionaries are not encrypted, the scan
                 # finds them.
                 ("locked.pdf", fixture("encrypted-user-5.pdf"), 5)]
        for name, data, pages in cases:
            with self.subTest(name=name):
                a = self.capture("BX-DOC-3", data, name)
                self.assertEqual((a["format"], a["pages"]), ("pdf", pages))
                self.assertEqual(self.stored("BX-DOC-3")[a["file_id"]]["pages"], pages)
        log = self.node.log_text()
        self.assertIn("from the byte scan, the PDF library cannot read the file", log)
        self.assertIn("qpdf: ", log)

    def test_a_decompression_bomb_is_contained(self):
        """7 KB that qpdf inflates toward 4 GiB: the child counting its pages fails at its
        512 MiB limit, the capture answers 201 with the byte scan's 1 page, one WARN says
        so, and the node's own memory does not move; it goes on counting."""
        pid = self.node.pid
        before = peak_rss_kib(pid)
        a = self.capture("BX-DOC-6", fixture("bomb-4g.pdf"), "bomb.pdf")
        self.assertEqual((a["format"], a["pages"]), ("pdf", 1))
        after = peak_rss_kib(pid)
        warnings = limit_warnings(self.node.log_text(whole=True), a["file_id"])
        self.assertEqual(len(warnings), 1, warnings)
        if not sanitized_build():
            self.assertIn("512 MiB memory limit", warnings[0])
        child_kib = int(re.search(r"peak RSS (\d+) KiB", warnings[0]).group(1))
        print("bomb: node peak RSS %d -> %d KiB, child peak RSS %d KiB"
              % (before, after, child_kib))
        # qpdf in the node itself would have taken it past 512 MiB (or down).
        self.assertLess(after - before, 64 * 1024)
        self.assertGreater(child_kib, 64 * 1024)  # the child did inflate, and stopped
        self.assertEqual(children_of(pid), [])  # reaped: no zombie
        # Still up, still counting.
        b = self.capture("BX-DOC-6", fixture("objstm-17.pdf"), "after.pdf")
        self.assertEqual(b["pages"], 17)
        self.assertEqual(self.stored("BX-DOC-6")[a["file_id"]]["pages"], 1)
        self.assertNotIn("bomb", warnings[0])  # the file id, not the name or content

    def test_concurrent_pdfs_wait_their_turn(self):
        """More PDFs at once than counting children (2): up to twice as many again
        wait for a turn, and every count is right."""
        results = [None] * 6

        def upload(i):
            results[i] = self.node.upload("BX-DOC-7", fixture("objstm-17.pdf"),
                                          name="turn-%d.pdf" % i)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for r in results:
            self.assertStatus(r, 201)
            self.assertEqual(r.json["pages"], 17)
        self.assertEqual(children_of(self.node.pid), [])

    def test_format_comes_from_the_content(self):
        jpg = make_jpg(4000, seed=34)
        pdf = make_pdf(pages=3, seed=35)
        cases = [  # (name, data, format, pages)
            ("invoice.pdf", jpg, "jpg", 1),  # a JPEG named .pdf is a JPEG
            ("photo.jpg", pdf, "pdf", 3),    # and a PDF named .jpg a PDF, pages counted
            ("scan.png", jpg, "jpg", 1),
            ("einvoice.ofd", random_bytes(500, seed=36), "ofd", 1),  # no magic: the name
        ]
        for name, data, fmt, pages in cases:
            with self.subTest(name=name):
                a = self.capture("BX-DOC-4", data, name)
                self.assertEqual((a["format"], a["pages"]), (fmt, pages))
                self.assertEqual(self.stored("BX-DOC-4")[a["file_id"]]["format"], fmt)
        # Served as what it is.
        a = self.capture("BX-DOC-5", jpg, "cheque.pdf")
        r = self.node.get("/api/v1/files/%s/content" % a["file_id"])
        self.assertStatus(r, 200)
        self.assertEqual(r.header("content-type"), "image/jpeg")
        self.assertTrue(r.body == jpg)


class DocumentDeadlineTest(NodeTestCase):
    """--pdf-child-timeout-ms 1: no child can even start in time, so every PDF keeps the
    byte scan's estimate, with a WARN each, and nothing is left behind."""

    @classmethod
    def setUpClass(cls):
        cls.node = cls.start_class_node("documents-deadline",
                                        args=["--pdf-child-timeout-ms", "1"])

    def test_past_the_deadline_the_scan_stands(self):
        data = fixture("objstm-17.pdf")
        r = self.node.upload("BX-DOC-8", data, name="slow.pdf")
        a = self.assertUploaded(r, "BX-DOC-8", data)
        # No page marker outside the object streams: the scan finds none, the answer is 1.
        self.assertEqual((a["format"], a["pages"]), ("pdf", 1))
        warnings = limit_warnings(self.node.log_text(whole=True), a["file_id"])
        self.assertEqual(len(warnings), 1, warnings)
        self.assertIn("past the 1 ms deadline", warnings[0])
        self.assertEqual(children_of(self.node.pid), [])
        # Not PDFs: no child, no warning.
        jpg = make_jpg(3000, seed=37)
        b = self.assertUploaded(self.node.upload("BX-DOC-8", jpg, name="x.jpg"), "BX-DOC-8", jpg)
        self.assertEqual(limit_warnings(self.node.log_text(whole=True), b["file_id"]), [])


if __name__ == "__main__":
    unittest.main()
