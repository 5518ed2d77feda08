/* What a document is, read from its content: its format (the magic number first, the
 * file name's extension when the content says nothing) and, for a PDF, its pages.
 *
 * The page count comes from qpdf (Debian's libqpdf, through its C API); this is the
 * only file of the project that includes <qpdf/...>. qpdf reads the cross-reference
 * data and walks the page tree, nothing more: no content stream is decoded, but the
 * object streams that hold the page objects of many PDFs are. A damaged file is
 * repaired where qpdf can (recovery on, its warnings kept quiet); one it cannot read
 * is an error, and the caller keeps its own estimate (document_pdf_scan_pages()).
 *
 * Not bounded yet: qpdf 11.3 has no limit on what it inflates, and it inflates a
 * cross-reference or object stream whole in memory, with stacked filters applied in
 * turn. A 204 KB file whose cross-reference stream inflates to 200 MB cost 418 MB of
 * peak RSS and 0.8 s; a 2.9 KB one with two Flate filters reached a 2.5 GB address
 * space limit in 3.5 s. The fix (a child process under RLIMIT_AS and a deadline, or a
 * qpdf with limits) is not done; ordinary PDFs cost little (a 2,000-page file with
 * object streams: 15 ms, 14 MB peak RSS for the whole test process).
 *
 * Threads: the format and scan functions only look at the memory they are given and
 * run anywhere, the loop included. document_pdf_pages() and document_pdf_pages_mem()
 * block (disk and CPU: about a millisecond for a small PDF, more for a large page
 * tree): worker threads only, never the loop. Each call has its own qpdf object and
 * shares nothing. */
#ifndef IMGARC_ARCHIVE_DOCUMENT_H
#define IMGARC_ARCHIVE_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* The leading bytes document_format() needs to know every format it knows by magic. */
#define DOCUMENT_HEAD_BYTES 8

/* The format a file's first bytes name ("pdf", "jpg", "png", "tiff", "xml"), or NULL
 * when they name none of these. @n may be shorter than DOCUMENT_HEAD_BYTES. */
const char *document_format_from_magic(const uint8_t *head, size_t n);

/* The format a file name's extension names ("pdf", "ofd", "xml", "jpg" for .jpg and
 * .jpeg, "tiff" for .tif and .tiff, office formats, "txt"), case-insensitively; "bin"
 * when there is none or it is unknown. */
const char *document_format_from_name(const char *name);

/* A file's format: what its content says (a JPEG named x.pdf is "jpg"), else what its
 * name says (an OFD or an office file, zips whose magic does not tell them apart),
 * else "bin". Static strings. */
const char *document_format(const uint8_t *head, size_t n, const char *name);

/* The cheap estimate: the "/Type /Page" (not "/Pages") markers in @n bytes of a PDF,
 * summed over its pieces. It misses pages whose objects sit in compressed object
 * streams, and counts markers in comments or strings; the capture keeps it only for a
 * PDF qpdf cannot read. */
uint32_t document_pdf_scan_pages(const char *p, size_t n);

/* The page count of the PDF at @path (the whole, complete file), in *@pages (0 for a
 * PDF with an empty page tree). Returns 0, or BASE_ECORRUPT when qpdf cannot read it
 * (not a PDF, truncated beyond repair, encrypted with a user password, a broken page
 * tree), with qpdf's message in @err; *@pages is untouched then. Blocks. */
int document_pdf_pages(const char *path, uint32_t *pages, struct base_err *err) WARN_UNUSED;

/* The same for a PDF held in memory (@data is only read, for the call). */
int document_pdf_pages_mem(const void *data, size_t len, uint32_t *pages,
                           struct base_err *err) WARN_UNUSED;

#endif
