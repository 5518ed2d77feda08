/* Fuzz target: the restore marker (archive/restore.c), the file that makes a node
 * adopt a store restored from a backup and seed raft at the index it names.
 *
 * The input is written as DATA/restored. archive_restore_marked() must accept exactly a
 * first line "imgarc-restored 1 index N\n" (at most 63 bytes with its newline) where N
 * is decimal digits of a value from 1 to 2^64-1, give back N, and refuse anything else
 * with BASE_ECORRUPT and a message; what it accepts written back by
 * archive_restore_mark() reads the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "archive/restore.h"
#include "base/assert.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAGIC "imgarc-restored 1 index "
#define LINE_MAX_BYTES 63 /* the reader's buffer, less the NUL */

static char data_dir[1024];
static char marker_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(data_dir, sizeof data_dir, "%s/restore-marker", fuzz_tmpdir());
    mkdir(data_dir, 0700);
    snprintf(marker_path, sizeof marker_path, "%s/%s", data_dir, ARCHIVE_RESTORE_MARKER);
    return 0;
}

/* What the reader must decide, computed here independently. */
static bool expected(const uint8_t *in, size_t len, uint64_t *value)
{
    size_t m = strlen(MAGIC), i;
    uint64_t v = 0;
    if (len < m + 2 || memcmp(in, MAGIC, m) != 0) {
        return false;
    }
    for (i = m; i < len && in[i] >= '0' && in[i] <= '9'; i++) {
        unsigned d = in[i] - '0';
        if (v > (UINT64_MAX - d) / 10) {
            return false;
        }
        v = v * 10 + d;
    }
    if (i == m || i >= len || in[i] != '\n' || i + 1 > LINE_MAX_BYTES || v == 0) {
        return false;
    }
    *value = v;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct base_err err = {{0}};
    uint64_t want = 0, got = 0, again = 0;
    bool valid = expected(data, size, &want);
    int rv;
    fuzz_write_file(marker_path, data, size);
    rv = archive_restore_marked(data_dir, &got, &err);
    if (valid) {
        ASSERT(rv == 0);
        ASSERT(got == want);
        ASSERT(archive_restore_mark(data_dir, got, &err) == 0);
        ASSERT(archive_restore_marked(data_dir, &again, &err) == 0);
        ASSERT(again == got);
    } else {
        ASSERT(rv == BASE_ECORRUPT);
        ASSERT(err.msg[0] != '\0');
    }
    return 0;
}
