/* What a document is, read from its content. See document.h. */
#include "archive/document.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/* Whether qpdf ran out of memory on the way: an allocation that failed inside qpdf is
 * a std::bad_alloc it turns into an error or, while it repairs a file, a warning (and
 * a count made after that may miss the pages it could not load). */
static bool ran_out_of_memory(qpdf_data q)
{
    bool out = false;
    while (qpdf_more_warnings(q)) {
        if (strstr(qpdf_get_error_full_text(q, qpdf_next_warning(q)), "bad_alloc") != NULL) {
            out = true;
        }
    }
    return out;
}

/* Counts the pages of the file @q has read (@read_rc: what the read answered). Counting
 * walks the page tree (getAllPages): it loads the objects on the way, pages'
 * dictionaries included, and never a page's content. */
static int count(qpdf_data q, QPDF_ERROR_CODE read_rc, uint32_t *pages, struct base_err *err)
{
    int n = -1;
    if ((read_rc & QPDF_ERRORS) == 0) {
        n = qpdf_get_num_pages(q);
    }
    if (n < 0) {
        qpdf_error e = qpdf_get_error(q);
        base_err_set(err, "qpdf: %s",
                     e != NULL ? qpdf_get_error_full_text(q, e) : "the file cannot be read");
        return BASE_ECORRUPT;
    }
    *pages = (uint32_t)n;
    return 0;
}

static int count_and_close(qpdf_data q, QPDF_ERROR_CODE read_rc, uint32_t *pages,
                           struct base_err *err)
{
    int rv = count(q, read_rc, pages, err);
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

/* ---- qpdf in a child process ---- */

/* What the child writes on its stdout, one line: "pages N", "unreadable <qpdf's
 * message>" or "memory <qpdf's message>" (an allocation failed under the limit). */
#define ANSWER_BYTES 1024

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') {
        return false;
    }
    *out = v;
    return true;
}

int document_pdf_child_main(int argc, char **argv)
{
    struct base_err err = {{0}};
    uint32_t pages = 0;
    qpdf_data q;
    int rv;
    if (argc != 2 || strcmp(argv[1], DOCUMENT_PDF_CHILD_FLAG) != 0) {
        printf("error usage: %s " DOCUMENT_PDF_CHILD_FLAG " < file.pdf\n", argv[0]);
        return 2;
    }
    /* The limits are the parent's, set before this program started (base/child.h).
     * The file is fd 0: qpdf opens it by a name that means that descriptor. */
    q = quiet_qpdf();
    rv = count(q, qpdf_read(q, "/proc/self/fd/0", NULL), &pages, &err);
    if (ran_out_of_memory(q)) {
        printf("memory %s\n", rv != 0 ? err.msg : "qpdf: an allocation failed (std::bad_alloc)");
    } else if (rv != 0) {
        printf("unreadable %s\n", err.msg);
    } else {
        printf("pages %u\n", pages);
    }
    qpdf_cleanup(&q);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* What the child's answer says, when it exited and answered. */
static int read_answer(char *answer, const struct child_limits *lim, uint32_t *pages,
                       struct base_err *err)
{
    uint64_t n;
    char *nl = strchr(answer, '\n');
    if (nl != NULL) {
        *nl = '\0';
    }
    if (strncmp(answer, "pages ", 6) == 0 && parse_u64(answer + 6, &n) && n <= UINT32_MAX) {
        *pages = (uint32_t)n;
        return 0;
    }
    if (strncmp(answer, "unreadable ", 11) == 0) {
        base_err_set(err, "%s", answer + 11);
        return BASE_ECORRUPT;
    }
    if (strncmp(answer, "memory ", 7) == 0) {
        base_err_set(err, "over the %llu MiB memory limit: %s",
                     (unsigned long long)(lim->address_space_bytes >> 20), answer + 7);
        return BASE_ETOOBIG;
    }
    base_err_set(err, "the child answered '%.64s'", answer);
    return BASE_EIO;
}

int document_pdf_pages_isolated(const char *exe, const char *path,
                                const struct child_limits *lim, uint32_t *pages,
                                struct child_result *res, struct base_err *err)
{
    char answer[ANSWER_BYTES], how[160];
    /* argv[0] names the job in ps and top. */
    char *argv[] = {"imgarcd-pdf-pages", DOCUMENT_PDF_CHILD_FLAG, NULL};
    int fd, rv;
    memset(res, 0, sizeof *res);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_err_set(err, "open: %s", strerror(errno));
        return BASE_EIO;
    }
    rv = child_run(exe, argv, NULL, fd, lim, answer, sizeof answer, res, err);
    close(fd);
    if (rv != 0) {
        return rv;
    }
    if (res->end == CHILD_EXITED && res->code == 0) {
        return read_answer(answer, lim, pages, err);
    }
    child_describe(res, how, sizeof how);
    if (res->end == CHILD_TIMED_OUT) {
        base_err_set(err, "past the %llu ms deadline: %s", (unsigned long long)lim->wall_ms,
                     how);
        return BASE_ETOOBIG;
    }
    if (res->end == CHILD_SIGNALED && (res->code == SIGKILL || res->code == SIGXCPU)) {
        /* Nobody else kills it: the kernel, at the CPU limit (or its OOM killer). */
        base_err_set(err, "killed by the kernel (the CPU limit is %llu s): %s",
                     (unsigned long long)lim->cpu_s, how);
        return BASE_ETOOBIG;
    }
    base_err_set(err, "%s", how);
    return BASE_EIO;
}
