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
 * Bounded by a child process. qpdf 11.3 has no limit on what it inflates: it inflates a
 * cross-reference or object stream whole in memory, stacked filters in turn (a 7 KB
 * file with two Flate filters asks for 4 GiB; a 204 KB one cost 418 MB of RSS), and it
 * has no deadline. So a node never runs qpdf in its own process:
 * document_pdf_pages_isolated() runs it in a child (the node's own binary through
 * /proc/self/exe, so /proc must be mounted, in the mode document_pdf_child_main()
 * implements) under base/child.h's limits, set before it starts: an address space
 * (RLIMIT_AS, 512 MiB by default), CPU seconds, a wall-clock deadline the parent
 * enforces, no core file, no environment, no descriptor but the file, the answer pipe
 * and /dev/null. A file that needs more is an error the caller handles
 * (the capture keeps document_pdf_scan_pages()'s estimate); the node itself never
 * holds more than the answer line. Measured (RelWithDebInfo, 2 shared cores): the 7 KB
 * bomb (tests/fixtures/pdf/bomb-4g.pdf) fails in the child at the 512 MiB limit after
 * about 1.3 s with a peak child RSS of 270-280 MB, the node's own peak RSS unmoved (27
 * MB); a small PDF costs a child of about 20 MB for 30-70 ms; qpdf needs about 3 KB per
 * page (20,000 pages: 80 MB, 0.8-1.4 s; 100,000 pages: 315 MB, 3.3-4.7 s; 200,000
 * pages exceed 512 MiB), so everyday documents fit the default many times over.
 * The in-process functions (document_pdf_pages(), document_pdf_pages_mem()) stay for
 * callers that bound the process themselves: the child, and the fuzz target (its own
 * -rss_limit_mb).
 *
 * Threads: the format and scan functions only look at the memory they are given and
 * run anywhere, the loop included. document_pdf_pages(), document_pdf_pages_mem() and
 * document_pdf_pages_isolated() block (disk and CPU: about a millisecond of qpdf for a
 * small PDF, plus the child's start; more for a large page tree): worker threads only,
 * never the loop. Each call has its own qpdf object and shares nothing. */
#ifndef IMGARC_ARCHIVE_DOCUMENT_H
#define IMGARC_ARCHIVE_DOCUMENT_H

#include <stddef.h>
#include <stdint.h>

#include "base/child.h"
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

/* The option that makes imgarcd the page counter (argv[1]), and the child's main:
 * node/main.c calls it first thing when argv[1] is DOCUMENT_PDF_CHILD_FLAG
 * (`imgarcd --pdf-pages`, nothing else). The child, already under the limits its
 * parent set before exec, reads the PDF from fd 0 and writes one answer line on fd 1.
 * Returns the exit status. Not for people: the flag is not in --help. */
#define DOCUMENT_PDF_CHILD_FLAG "--pdf-pages"
int document_pdf_child_main(int argc, char **argv);

/* The page count of the PDF at @path made by a child process: @exe (an executable whose
 * argv[1] == DOCUMENT_PDF_CHILD_FLAG calls document_pdf_child_main(); the node passes
 * "/proc/self/exe") run under @lim. Returns 0 with *@pages, or, with why in @err (and
 * *@pages untouched):
 *   BASE_ECORRUPT  qpdf cannot read the file (its message), as document_pdf_pages();
 *   BASE_ETOOBIG   the file needs more than @lim allows: qpdf ran out of memory, the CPU
 *                  limit killed the child, or the deadline passed;
 *   BASE_EIO       the child could not be started, crashed or answered nonsense.
 * @res says how the child ended (its time and peak RSS included) whenever one ran.
 * Blocks up to @lim->wall_ms and a little more: worker threads only. */
int document_pdf_pages_isolated(const char *exe, const char *path,
                                const struct child_limits *lim, uint32_t *pages,
                                struct child_result *res, struct base_err *err) WARN_UNUSED;

#endif
