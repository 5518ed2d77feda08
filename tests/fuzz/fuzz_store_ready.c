/* Fuzz target: the staging store's READY marker (storage/store_swap.c), the file a
 * restart trusts to swap a fetched store in place of the live one.
 *
 * Mode byte even: the rest is a READY file as found on disk. Odd: the rest gives the
 * version, index and hash, and the harness adds the magic and a valid checksum (bit 1
 * of the mode breaks the checksum instead), so the accepting path runs on every input.
 * storage_staged_ready_parse() must accept exactly the 68-byte files whose checksum
 * holds and whose version is 1, and give back their index and hash; the same bytes
 * written as DATA/catchup/READY beside a staging store must be read the same by
 * storage_staged_ready(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "base/assert.h"
#include "storage/store_swap.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char data_dir[1024];
static char ready_path[1200];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char p[1200];
    (void)argc;
    (void)argv;
    fuzz_init();
    snprintf(data_dir, sizeof data_dir, "%s/store-ready", fuzz_tmpdir());
    mkdir(data_dir, 0700);
    snprintf(p, sizeof p, "%s/catchup", data_dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/catchup/store", data_dir);
    mkdir(p, 0700);
    snprintf(ready_path, sizeof ready_path, "%s/catchup/READY", data_dir);
    return 0;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct base_err err = {{0}};
    uint8_t buf[STORAGE_READY_BYTES], hash[32];
    const uint8_t *in;
    size_t len;
    uint64_t index = 0, index2 = 0;
    bool valid;
    int rv, rv2;
    if (size == 0) {
        return 0;
    }
    if (data[0] & 1) {
        /* version 4, index 8, hash 32 from the input (zeros past its end) */
        memset(buf, 0, sizeof buf);
        memcpy(buf, "IMGREADY", 8);
        memcpy(buf + 8, data + 1, size - 1 < 44 ? size - 1 : 44);
        crypto_generichash(buf + 52, 16, buf, 52, NULL, 0);
        if (data[0] & 2) {
            buf[52 + data[0] % 16] ^= 0x01;
        }
        in = buf;
        len = sizeof buf;
    } else {
        in = data + 1;
        len = size - 1;
    }
    /* What the parser must decide, computed here independently. */
    valid = len == STORAGE_READY_BYTES && memcmp(in, "IMGREADY", 8) == 0 && be(in + 8, 4) == 1;
    if (valid) {
        uint8_t sum[16];
        crypto_generichash(sum, sizeof sum, in, 52, NULL, 0);
        valid = memcmp(sum, in + 52, 16) == 0;
    }
    rv = storage_staged_ready_parse(in, len, &index, hash, &err);
    if (valid) {
        ASSERT(rv == 0);
        ASSERT(index == be(in + 12, 8));
        ASSERT(memcmp(hash, in + 20, 32) == 0);
    } else {
        ASSERT(rv == BASE_ECORRUPT);
        ASSERT(index == 0);
        ASSERT(err.msg[0] != '\0');
    }
    /* The same bytes from the file. */
    fuzz_write_file(ready_path, in, len);
    rv2 = storage_staged_ready(data_dir, &index2, &err);
    ASSERT(rv2 == rv);
    ASSERT(index2 == index);
    return 0;
}
