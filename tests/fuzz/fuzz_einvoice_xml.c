/* Fuzz target: an e-invoice XML as the capture reads it (archive/einvoice.c): libxml2
 * parsing with no network and no DTD, then the 数电票 (<EInvoice>) or earlier
 * (<eInvoice>) paths into the invoice fields.
 *
 * The input is the whole file, read from memory (einvoice_parse_xml()); one input in
 * eight (by its length, so a saved input replays the same way) is also written to a
 * file and read as the capture reads it (einvoice_read_file()), and both must agree.
 * Properties: success means an invoice number, every field terminated, at most 64
 * bytes, without control characters, amounts that archive_amount_cents() reads and a
 * known layout; a failure is BASE_ECORRUPT or BASE_ETOOBIG with a message and leaves
 * the output untouched. libxml2 is Debian's library, not built with coverage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/einvoice.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"
#include "tests/fuzz/fuzz_einvoice.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *file_path;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    file_path = xasprintf("%s/einvoice.xml", fuzz_tmpdir());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct einvoice e, f;
    struct base_err err = {{0}}, err_file = {{0}};
    int rv, rv_file;
    memset(&e, FUZZ_EINVOICE_UNTOUCHED, sizeof e);
    rv = einvoice_parse_xml(data, size, &e, &err);
    fuzz_einvoice_check("einvoice_xml", rv, &e, &err);
    if (size % 8 != 0) {
        return 0;
    }
    fuzz_write_file(file_path, data, size);
    memset(&f, FUZZ_EINVOICE_UNTOUCHED, sizeof f);
    rv_file = einvoice_read_file(file_path, "xml", &f, &err_file);
    fuzz_einvoice_check("einvoice_xml (file)", rv_file, &f, &err_file);
    if (rv_file != rv || memcmp(&e, &f, sizeof e) != 0) {
        fprintf(stderr, "einvoice_xml: memory rv=%d, file rv=%d, or other fields\n", rv,
                rv_file);
        abort();
    }
    return 0;
}
