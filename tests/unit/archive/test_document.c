/* What a document is: formats from content before names, and a PDF's pages from qpdf
 * on the fixtures of tests/fixtures/pdf/ (README.md there says how each was made), in
 * this process and in a limited child (this test binary in the counter's mode, as the
 * node runs itself). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "archive/document.h"
#include "base/mem.h"
#include "tests/unit/archive/archive_fixture.h"

/* The page count of fixture @name from its file and from memory (they must agree):
 * 0 and *@pages, or the error (and *@pages untouched). */
static int pages_of(const char *name, uint32_t *pages)
{
    char *path = fx_fixture_path("pdf", name);
    struct base_err err = {{0}}, err_mem = {{0}};
    uint32_t from_file = 777, from_mem = 777;
    size_t len;
    char *data = fx_slurp(path, &len);
    int rv = document_pdf_pages(path, &from_file, &err);
    int rv_mem = document_pdf_pages_mem(data, len, &from_mem, &err_mem);
    assert_int_equal(rv, rv_mem);
    assert_int_equal(from_file, from_mem);
    if (rv != 0) {
        assert_int_equal(rv, BASE_ECORRUPT);
        assert_int_equal(from_file, 777);
        assert_non_null(strstr(err.msg, "qpdf: "));
        assert_non_null(strstr(err_mem.msg, "qpdf: "));
    } else {
        *pages = from_file;
    }
    free(data);
    free(path);
    return rv;
}

static void format_comes_from_the_content_first(void **state)
{
    static const uint8_t jpg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F'};
    static const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    static const uint8_t tiff[] = {'I', 'I', '*', 0, 8, 0, 0, 0};
    const uint8_t *pdf = (const uint8_t *)"%PDF-1.7";
    const uint8_t *xml = (const uint8_t *)"<?xml ve";
    const uint8_t *zip = (const uint8_t *)"PK\3\4\24\0\0\0";
    (void)state;
    assert_string_equal(document_format(jpg, sizeof jpg, "invoice.pdf"), "jpg");
    assert_string_equal(document_format(pdf, 8, "photo.jpg"), "pdf");
    assert_string_equal(document_format(png, sizeof png, "scan.tiff"), "png");
    assert_string_equal(document_format(tiff, sizeof tiff, "x.PNG"), "tiff");
    assert_string_equal(document_format(xml, 8, "einvoice.ofd"), "xml");
    assert_string_equal(document_format(jpg, sizeof jpg, "noext"), "jpg");
    /* Content that names nothing we know: the name decides. */
    assert_string_equal(document_format(zip, 8, "einvoice.ofd"), "ofd");
    assert_string_equal(document_format(zip, 8, "sheet.XLSX"), "xlsx");
    assert_string_equal(document_format(zip, 8, "archive.zip"), "bin");
    assert_string_equal(document_format(zip, 8, "noext"), "bin");
    assert_string_equal(document_format(zip, 8, "photo.JPEG"), "jpg");
    /* Too few bytes to tell: the name decides. */
    assert_string_equal(document_format(png, 4, "a.png"), "png");
    assert_string_equal(document_format(pdf, 3, "a.txt"), "txt");
    assert_string_equal(document_format(pdf, 0, "a.pdf"), "pdf");
    assert_null(document_format_from_magic(zip, 8));
}

static void the_scan_counts_page_markers_not_pages_nodes(void **state)
{
    const char *s = "<< /Type /Pages /Kids [3 0 R] >> << /Type /Page >> << /Type\r\n/Page"
                    "/Parent 2 0 R >> /Type /Catalog /Type /Page";
    (void)state;
    assert_int_equal(document_pdf_scan_pages(s, strlen(s)), 3);
    assert_int_equal(document_pdf_scan_pages(s, 0), 0);
    assert_int_equal(document_pdf_scan_pages("/Type /Pag", 10), 0);
}

static void pages_of_a_nested_page_tree(void **state)
{
    uint32_t pages = 0;
    (void)state;
    assert_int_equal(pages_of("nested-5.pdf", &pages), 0);
    assert_int_equal(pages, 5);
}

/* The case the byte scan got wrong: it finds no page marker at all. */
static void pages_inside_object_streams(void **state)
{
    uint32_t pages = 0;
    char *path = fx_fixture_path("pdf", "objstm-17.pdf");
    size_t len;
    char *data = fx_slurp(path, &len);
    (void)state;
    assert_int_equal(document_pdf_scan_pages(data, len), 0);
    assert_int_equal(pages_of("objstm-17.pdf", &pages), 0);
    assert_int_equal(pages, 17);
    free(data);
    free(path);
}

static void a_broken_cross_reference_table_is_rebuilt(void **state)
{
    uint32_t pages = 0;
    (void)state;
    assert_int_equal(pages_of("bad-xref-5.pdf", &pages), 0);
    assert_int_equal(pages, 5);
}

static void an_owner_password_only_does_not_stop_the_count(void **state)
{
    uint32_t pages = 0;
    (void)state;
    assert_int_equal(pages_of("encrypted-owner-5.pdf", &pages), 0);
    assert_int_equal(pages, 5);
}

static void unreadable_pdfs_are_errors(void **state)
{
    uint32_t pages = 0;
    (void)state;
    assert_int_equal(pages_of("encrypted-user-5.pdf", &pages), BASE_ECORRUPT);
    assert_int_equal(pages_of("truncated-17.pdf", &pages), BASE_ECORRUPT);
    assert_int_equal(pages_of("garbage.pdf", &pages), BASE_ECORRUPT);
    assert_int_equal(pages, 0);
}

static void no_file_and_no_bytes_are_errors(void **state)
{
    struct base_err err = {{0}};
    uint32_t pages = 777;
    char *path = fx_fixture_path("pdf", "no-such-file.pdf");
    (void)state;
    assert_int_equal(document_pdf_pages(path, &pages, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "no-such-file.pdf"));
    assert_int_equal(document_pdf_pages_mem("", 0, &pages, &err), BASE_ECORRUPT);
    assert_int_equal(document_pdf_pages_mem("%PDF-1.4\n", 9, &pages, &err), BASE_ECORRUPT);
    assert_int_equal(pages, 777);
    free(path);
}

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define ASAN 1 /* RLIMIT_AS becomes ASan's RSS limit: see base/child.c */
#else
#define ASAN 0
#endif

/* The count of fixture @name made by a child (this binary) under @lim. */
static int isolated(const char *name, const struct child_limits *lim, uint32_t *pages,
                    struct child_result *res, struct base_err *err)
{
    char *path = fx_fixture_path("pdf", name);
    int rv = document_pdf_pages_isolated("/proc/self/exe", path, lim, pages, res, err);
    free(path);
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1); /* the child is reaped */
    assert_int_equal(errno, ECHILD);
    return rv;
}

static const struct child_limits default_limits = {
    .address_space_bytes = 512 << 20, .cpu_s = 10, .wall_ms = 30000};

static void a_child_counts_as_this_process_does(void **state)
{
    struct child_result res;
    struct base_err err = {{0}};
    uint32_t pages = 777;
    (void)state;
    assert_int_equal(isolated("objstm-17.pdf", &default_limits, &pages, &res, &err), 0);
    assert_int_equal(pages, 17);
    assert_int_equal(res.end, CHILD_EXITED);
    assert_int_equal(isolated("nested-5.pdf", &default_limits, &pages, &res, &err), 0);
    assert_int_equal(pages, 5);
    assert_int_equal(isolated("bad-xref-5.pdf", &default_limits, &pages, &res, &err), 0);
    assert_int_equal(pages, 5);
    pages = 777;
    assert_int_equal(isolated("garbage.pdf", &default_limits, &pages, &res, &err),
                     BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "qpdf: "));
    assert_int_equal(isolated("encrypted-user-5.pdf", &default_limits, &pages, &res, &err),
                     BASE_ECORRUPT);
    assert_int_equal(pages, 777);
}

/* 4 GiB inflated from 7 KB: the child fails at its limit, this process feels nothing. */
static void a_decompression_bomb_stops_at_the_memory_limit(void **state)
{
    struct child_result res;
    struct base_err err = {{0}};
    uint32_t pages = 777;
    int rv;
    (void)state;
    rv = isolated("bomb-4g.pdf", &default_limits, &pages, &res, &err);
    print_message("bomb: rv %d, %s; child %llu ms, peak RSS %llu KiB\n", rv, err.msg,
                  (unsigned long long)res.elapsed_ms, (unsigned long long)res.peak_rss_kib);
    if (ASAN) { /* ASan's RSS limit kills the child instead */
        assert_true(rv == BASE_ETOOBIG || rv == BASE_EIO);
    } else {
        assert_int_equal(rv, BASE_ETOOBIG);
        assert_non_null(strstr(err.msg, "512 MiB memory limit"));
        assert_true(res.peak_rss_kib < 512 * 1024);
    }
    assert_int_equal(pages, 777);
}

static void the_deadline_stops_the_child(void **state)
{
    struct child_limits lim = default_limits;
    struct child_result res;
    struct base_err err = {{0}};
    uint32_t pages = 777;
    (void)state;
    lim.wall_ms = 1; /* no time to start: the deadline passes first */
    assert_int_equal(isolated("objstm-17.pdf", &lim, &pages, &res, &err), BASE_ETOOBIG);
    assert_int_equal(res.end, CHILD_TIMED_OUT);
    assert_non_null(strstr(err.msg, "1 ms deadline"));
    assert_int_equal(pages, 777);
}

static void a_counter_that_cannot_start_is_an_error(void **state)
{
    struct child_result res;
    struct base_err err = {{0}};
    uint32_t pages = 777;
    char *path = fx_fixture_path("pdf", "objstm-17.pdf");
    (void)state;
    assert_int_equal(document_pdf_pages_isolated("/nonexistent/imgarcd", path, &default_limits,
                                                 &pages, &res, &err),
                     BASE_EIO);
    assert_int_equal(document_pdf_pages_isolated("/proc/self/exe", "/nonexistent.pdf",
                                                 &default_limits, &pages, &res, &err),
                     BASE_EIO);
    /* A program that is not the counter answers nonsense. */
    assert_int_equal(document_pdf_pages_isolated("/bin/true", path, &default_limits, &pages,
                                                 &res, &err),
                     BASE_EIO);
    assert_int_equal(pages, 777);
    free(path);
}

static void the_child_mode_checks_its_arguments(void **state)
{
    char *bad[][3] = {{"x", "--pdf-pages", "12"}, {"x", "--pdf-page", NULL}};
    (void)state;
    assert_int_equal(document_pdf_child_main(3, bad[0]), 2);
    assert_int_equal(document_pdf_child_main(2, bad[1]), 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(format_comes_from_the_content_first),
    cmocka_unit_test(the_scan_counts_page_markers_not_pages_nodes),
    cmocka_unit_test(pages_of_a_nested_page_tree),
    cmocka_unit_test(pages_inside_object_streams),
    cmocka_unit_test(a_broken_cross_reference_table_is_rebuilt),
    cmocka_unit_test(an_owner_password_only_does_not_stop_the_count),
    cmocka_unit_test(unreadable_pdfs_are_errors),
    cmocka_unit_test(no_file_and_no_bytes_are_errors),
    cmocka_unit_test(a_child_counts_as_this_process_does),
    cmocka_unit_test(a_decompression_bomb_stops_at_the_memory_limit),
    cmocka_unit_test(the_deadline_stops_the_child),
    cmocka_unit_test(a_counter_that_cannot_start_is_an_error),
    cmocka_unit_test(the_child_mode_checks_its_arguments),
};

int main(int argc, char **argv)
{
    /* The page counter's mode, as imgarcd has it (node/main.c). */
    if (argc > 1 && strcmp(argv[1], DOCUMENT_PDF_CHILD_FLAG) == 0) {
        return document_pdf_child_main(argc, argv);
    }
    return testlib_run("archive/document", tests, ARRAY_SIZE(tests), argc, argv);
}
