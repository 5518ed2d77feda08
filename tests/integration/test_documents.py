"""What a captured document is, read from its content by a real node: a PDF's pages
from the PDF library (archive/document.c, qpdf), wherever its page objects sit, and the
format from the magic number before the file name.

The PDFs are tests/fixtures/pdf/ (its README says how each was made)."""

import os
import unittest

from imgarc_node import NodeTestCase, make_jpg, make_pdf, random_bytes

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "pdf")


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


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


if __name__ == "__main__":
    unittest.main()
