/* What a document is, read from its content. See document.h. */
#include "archive/document.h"

#include <string.h>
#include <strings.h>

#include <qpdf/qpdf-c.h>

#include "base/mem.h"

const char *document_format_from_magic(const uint8_t *h, size_t n)
{
    if (n >= 4 && memcmp(h, "%PDF", 4) == 0)
        return "pdf";
    if (n >= 3 && h[0] == 0xFF && h[1] == 0xD8 && h[2] == 0xFF)
        return "jpg";
    if (n >= 8 && memcmp(h, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "png";
    if (n >= 4 && (memcmp(h, "II*\0", 4) == 0 || memcmp(h, "MM\0*", 4) == 0))
        return "tiff";
    if (n >= 5 && memcmp(h, "<?xml", 5) == 0)
        return "xml";
    return NULL;
}

const char *document_format_from_name(const char *name)
{
    static const char *const known[][2] = {
        {"pdf", "pdf"},   {"ofd", "ofd"},   {"xml", "xml"},   {"png", "png"},  {"jpg", "jpg"},
        {"jpeg", "jpg"},  {"tif", "tiff"},  {"tiff", "tiff"}, {"doc", "doc"},  {"docx", "docx"},
        {"xls", "xls"},   {"xlsx", "xlsx"}, {"ppt", "ppt"},   {"pptx", "pptx"}, {"txt", "txt"},
    };
    const char *dot = strrchr(name, '.');
    if (dot == NULL) {
        return "bin";
    }
    for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
        if (strcasecmp(dot + 1, known[i][0]) == 0) {
            return known[i][1];
        }
    }
    return "bin";
}

const char *document_format(const uint8_t *head, size_t n, const char *name)
{
    const char *magic = document_format_from_magic(head, n);
    return magic != NULL ? magic : document_format_from_name(name);
}

/* memmem jumps between candidates, so a piece costs about a memchr pass. */
uint32_t document_pdf_scan_pages(const char *p, size_t n)
{
    uint32_t pages = 0;
    const char *end = p + n;
    const char *at = p;
    while ((at = memmem(at, (size_t)(end - at), "/Type", 5)) != NULL) {
        const char *q = at + 5;
        while (q < end && (*q == ' ' || *q == '\r' || *q == '\n')) {
            q++;
        }
        if (end - q >= 5 && memcmp(q, "/Page", 5) == 0 && (end - q == 5 || q[5] != 's')) {
            pages++;
        }
        at += 5;
    }
    return pages;
}

/* ---- qpdf ---- */

/* A qpdf object that reads as little as it can and says nothing: its warnings (a
 * damaged file being repaired) stay in the object, and the errors of calls that
 * return no code are left for qpdf_get_error(). */
static qpdf_data quiet_qpdf(void)
{
    qpdf_data q = qpdf_init(); /* allocation failure aborts, as everywhere */
    qpdf_silence_errors(q);
    qpdf_set_suppress_warnings(q, QPDF_TRUE);
    qpdf_set_attempt_recovery(q, QPDF_TRUE);
    return q;
}

/* Counts the pages of the file @q has read (@read_rc: what the read answered), then
 * releases @q. Counting walks the page tree (getAllPages): it loads the objects on the
 * way, pages' dictionaries included, and never a page's content. */
static int count_and_close(qpdf_data q, QPDF_ERROR_CODE read_rc, uint32_t *pages,
                           struct base_err *err)
{
    int n = -1;
    int rv = 0;
    if ((read_rc & QPDF_ERRORS) == 0) {
        n = qpdf_get_num_pages(q);
    }
    if (n < 0) {
        qpdf_error e = qpdf_get_error(q);
        base_err_set(err, "qpdf: %s",
                     e != NULL ? qpdf_get_error_full_text(q, e) : "the file cannot be read");
        rv = BASE_ECORRUPT;
    } else {
        *pages = (uint32_t)n;
    }
    qpdf_cleanup(&q);
    return rv;
}

int document_pdf_pages(const char *path, uint32_t *pages, struct base_err *err)
{
    qpdf_data q = quiet_qpdf();
    return count_and_close(q, qpdf_read(q, path, NULL), pages, err);
}

int document_pdf_pages_mem(const void *data, size_t len, uint32_t *pages, struct base_err *err)
{
    qpdf_data q = quiet_qpdf();
    return count_and_close(q, qpdf_read_memory(q, "memory", data, len, NULL), pages, err);
}
