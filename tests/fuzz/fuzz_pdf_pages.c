/* Fuzz target: a captured file's bytes as the page counter reads them
 * (archive/document.c): qpdf opening them as a PDF, repairing what it can, and walking
 * the page tree.
 *
 * The input is the whole file. It is counted from memory (document_pdf_pages_mem());
 * one input in eight (by its length, so a saved input replays the same way) is also
 * written to a file and counted as the capture counts it (document_pdf_pages()), and
 * both must agree. Properties: the answer is a count or BASE_ECORRUPT with qpdf's
 * message, and on error the count is untouched; the byte scan and the format guess run
 * over the same bytes. qpdf is not built with the fuzzer's coverage (it is Debian's
 * library): this target finds crashes, leaks and hangs at the edge, not paths inside
 * qpdf. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/document.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define UNTOUCHED 0xFEEDu

static char *file_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    file_path = xasprintf("%s/pdf_pages.pdf", fuzz_tmpdir());
    return 0;
}

/* Checks one answer of the counter. */
static void check(int rv, uint32_t pages, const struct base_err *err)
{
    if (rv == 0) {
        return;
    }
    if (rv != BASE_ECORRUPT || pages != UNTOUCHED || strncmp(err->msg, "qpdf: ", 6) != 0) {
        fprintf(stderr, "pdf_pages: rv=%d pages=%u err=%s\n", rv, pages, err->msg);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct base_err err = {{0}};
    uint32_t pages = UNTOUCHED;
    int rv = document_pdf_pages_mem(data, size, &pages, &err);
    const char *format = document_format(data, size, "upload.pdf");
    check(rv, pages, &err);
    (void)document_pdf_scan_pages((const char *)data, size);
    if (strcmp(format, "pdf") != 0 && size >= 4 && memcmp(data, "%PDF", 4) == 0) {
        abort(); /* a PDF's magic number is always read as a PDF */
    }
    if (size % 8 == 0) {
        struct base_err err_file = {{0}};
        uint32_t pages_file = UNTOUCHED;
        int rv_file;
        fuzz_write_file(file_path, data, size);
        rv_file = document_pdf_pages(file_path, &pages_file, &err_file);
        check(rv_file, pages_file, &err_file);
        if (rv_file != rv || pages_file != pages) {
            fprintf(stderr, "pdf_pages: memory rv=%d pages=%u, file rv=%d pages=%u\n", rv,
                    pages, rv_file, pages_file);
            abort();
        }
    }
    return 0;
}
