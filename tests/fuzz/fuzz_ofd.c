/* Fuzz target: an OFD invoice as the capture reads it (archive/einvoice.c): libzip
 * opening the archive (consistency checks on), the entry caps, OFD.xml's CustomDatas
 * and an attached original invoice XML.
 *
 * The first byte picks how the rest is used:
 *   - even: the rest is the file's bytes, read from memory (einvoice_parse_ofd()) and,
 *     for one input in eight (by its length), also from a file (einvoice_read_file());
 *     both must agree;
 *   - odd: the harness builds a real zip (libzip) whose parts are the rest split at
 *     each "\xff\xfe": OFD.xml, Doc_0/Attachs/original_invoice.xml, then further
 *     entries; bit 1 of the first byte stores them instead of deflating. This reaches
 *     the XML of the parts, which random zip bytes rarely do.
 * Properties: as fuzz_einvoice_xml.c (fuzz_einvoice.h). libzip and libxml2 are
 * Debian's libraries, not built with coverage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zip.h>

#include "archive/einvoice.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_einvoice.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARTS_MAX 6

static char *raw_path, *built_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    raw_path = xasprintf("%s/raw.ofd", fuzz_tmpdir());
    built_path = xasprintf("%s/built.ofd", fuzz_tmpdir());
    return 0;
}

static void raw(const uint8_t *data, size_t size)
{
    struct einvoice e, f;
    struct base_err err = {{0}}, err_file = {{0}};
    int rv, rv_file;
    memset(&e, FUZZ_EINVOICE_UNTOUCHED, sizeof e);
    rv = einvoice_parse_ofd(data, size, &e, &err);
    fuzz_einvoice_check("ofd", rv, &e, &err);
    if (size % 8 != 0) {
        return;
    }
    fuzz_write_file(raw_path, data, size);
    memset(&f, FUZZ_EINVOICE_UNTOUCHED, sizeof f);
    rv_file = einvoice_read_file(raw_path, "ofd", &f, &err_file);
    fuzz_einvoice_check("ofd (file)", rv_file, &f, &err_file);
    if (rv_file != rv || memcmp(&e, &f, sizeof e) != 0) {
        fprintf(stderr, "ofd: memory rv=%d, file rv=%d, or other fields\n", rv, rv_file);
        abort();
    }
}

static void built(const uint8_t *data, size_t size, bool store)
{
    static const char *const names[PARTS_MAX] = {
        "OFD.xml", "Doc_0/Attachs/original_invoice.xml", "Doc_0/Attachs/b.xml",
        "Doc_0/Document.xml", "Doc_0/Attach/c.xml", "original_invoice.xml"};
    struct einvoice e;
    struct base_err err = {{0}};
    int code, rv;
    size_t at = 0;
    zip_t *za = zip_open(built_path, ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (za == NULL) {
        abort();
    }
    for (int i = 0; i < PARTS_MAX && at <= size; i++) {
        const uint8_t *end = memmem(data + at, size - at, "\xff\xfe", 2);
        size_t n = end != NULL ? (size_t)(end - (data + at)) : size - at;
        zip_source_t *src = zip_source_buffer(za, data + at, n, 0);
        zip_int64_t idx;
        if (src == NULL || (idx = zip_file_add(za, names[i], src, 0)) < 0) {
            abort();
        }
        if (store && zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0) != 0) {
            abort();
        }
        at += n + 2;
    }
    if (zip_close(za) != 0) {
        abort();
    }
    memset(&e, FUZZ_EINVOICE_UNTOUCHED, sizeof e);
    rv = einvoice_read_file(built_path, "ofd", &e, &err);
    fuzz_einvoice_check("ofd (built)", rv, &e, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] % 2 == 0) {
        raw(data + 1, size - 1);
    } else {
        built(data + 1, size - 1, (data[0] & 2) != 0);
    }
    return 0;
}
