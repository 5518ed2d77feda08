/* Fuzz target: an export zip as `imgarc export-verify` reads it (tools/cli/export_zip.c,
 * export_zip_verify()): a file an auditor was handed, so anyone's bytes.
 *
 * Mode byte even: the rest is the zip file as it is. Odd: the rest is parts split at
 * "\xff\xfe" that the harness zips itself with libzip (manifest.json, manifest.csv,
 * B/bill.json, B/log.json, then B/files/001, 002, ...), so the manifest's JSON and
 * the checks behind it are reached. The verifier must answer (0 with a count of
 * problems, or CLI_ELOCAL for what is no zip), never crash or leak, and answer the same
 * twice. Its messages go to /dev/null (IMGARC_FUZZ_VERBOSE=1 shows them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "base/assert.h"
#include "tests/fuzz/fuzz_common.h"
#include "tools/cli/export_zip.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(path, sizeof path, "%s/export.zip", fuzz_tmpdir());
    return 0;
}

static void write_raw(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ASSERT(f != NULL);
    ASSERT(fwrite(data, 1, size, f) == size);
    fclose(f);
}

/* The parts of @data as entries of a zip written to path. */
static void write_parts(const uint8_t *data, size_t size)
{
    static const char *const fixed[] = {"manifest.json", "manifest.csv", "B/bill.json",
                                        "B/log.json"};
    int err = 0;
    zip_t *z;
    size_t start = 0, n = 0;
    unlink(path);
    z = zip_open(path, ZIP_CREATE | ZIP_EXCL, &err);
    ASSERT(z != NULL);
    for (size_t i = 0; i <= size && n < 64; i++) {
        bool cut = i == size || (i + 1 < size && data[i] == 0xff && data[i + 1] == 0xfe);
        char name[32];
        zip_source_t *src;
        if (!cut) {
            continue;
        }
        if (n < 4) {
            snprintf(name, sizeof name, "%s", fixed[n]);
        } else {
            snprintf(name, sizeof name, "B/files/%03zu", n - 3);
        }
        src = zip_source_buffer(z, data + start, i - start, 0);
        ASSERT(src != NULL);
        ASSERT(zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8) >= 0);
        n++;
        start = i + 2;
        i++;
    }
    ASSERT(zip_close(z) == 0);
}

static int verify(struct export_totals *t, unsigned *problems)
{
    int rv;
    fuzz_quiet_begin();
    rv = export_zip_verify(path, t, problems);
    fuzz_quiet_end();
    return rv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct export_totals t1, t2;
    unsigned p1 = 0, p2 = 0;
    int rv1, rv2;
    if (size == 0) {
        return 0;
    }
    if (data[0] % 2 == 0) {
        write_raw(data + 1, size - 1);
    } else {
        write_parts(data + 1, size - 1);
    }
    rv1 = verify(&t1, &p1);
    ASSERT(rv1 == 0 || rv1 == CLI_ELOCAL);
    rv2 = verify(&t2, &p2);
    ASSERT(rv1 == rv2 && p1 == p2);
    if (rv1 == 0) {
        ASSERT(memcmp(&t1, &t2, sizeof t1) == 0);
    }
    return 0;
}
