/* Fuzz target: the Upload-Metadata header of a resumable upload's creation (tus 1.0;
 * api/upload_record.c), which any caller with the capture permission sends.
 *
 * The first input byte picks a mode. Raw (even): the rest is the header;
 * upload_metadata_get() must answer 1, 0 or BASE_EINVAL (with a message) and, when it
 * finds the key, give a NUL-terminated value shorter than the buffer. Built (odd): the
 * rest is cut into up to 8 values that are base64-encoded under keys k0..k7 into a
 * valid header; asking for each key must give back exactly its value (or BASE_EINVAL
 * when the value holds a NUL or does not fit), and a key not in it must not be found. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/uploads.h"
#include "base/assert.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VALUE_MAX 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void raw(const uint8_t *data, size_t size)
{
    char *header = malloc(size + 1);
    char out[VALUE_MAX];
    struct base_err err = {{0}};
    int rv;
    memcpy(header, data, size);
    header[size] = '\0';
    rv = upload_metadata_get(header, "filename", out, sizeof out, &err);
    ASSERT(rv == 0 || rv == 1 || rv == BASE_EINVAL);
    if (rv == BASE_EINVAL) {
        ASSERT(err.msg[0] != '\0');
    } else {
        ASSERT(strlen(out) < sizeof out);
        ASSERT(rv == 1 || out[0] == '\0');
    }
    free(header);
}

static void built(const uint8_t *data, size_t size)
{
    const uint8_t *val[8];
    size_t len[8], n = 0, off = 0;
    char *header = malloc(8 * (sodium_base64_ENCODED_LEN(size, sodium_base64_VARIANT_ORIGINAL) + 8) + 1);
    size_t hl = 0;
    /* Values are cut at each 0xff byte (which is dropped). */
    while (n < 8 && off <= size) {
        const uint8_t *end = memchr(data + off, 0xff, size - off);
        size_t l = end != NULL ? (size_t)(end - (data + off)) : size - off;
        val[n] = data + off;
        len[n] = l;
        n++;
        off += l + 1;
        if (end == NULL) {
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        hl += (size_t)sprintf(header + hl, "%sk%zu", i > 0 ? "," : "", i);
        if (len[i] > 0) {
            header[hl++] = ' ';
            sodium_bin2base64(header + hl, sodium_base64_ENCODED_LEN(len[i], sodium_base64_VARIANT_ORIGINAL),
                              val[i], len[i], sodium_base64_VARIANT_ORIGINAL);
            hl += strlen(header + hl);
        }
    }
    header[hl] = '\0';
    for (size_t i = 0; i < n; i++) {
        char key[8], out[VALUE_MAX];
        struct base_err err = {{0}};
        bool fits = len[i] < sizeof out && memchr(val[i], '\0', len[i]) == NULL;
        int rv;
        snprintf(key, sizeof key, "k%zu", i);
        rv = upload_metadata_get(header, key, out, sizeof out, &err);
        if (fits) {
            ASSERT(rv == 1);
            ASSERT(strlen(out) == len[i] && memcmp(out, val[i], len[i]) == 0);
        } else {
            ASSERT(rv == BASE_EINVAL);
        }
    }
    {
        char out[VALUE_MAX];
        struct base_err err = {{0}};
        int rv = upload_metadata_get(header, "k9", out, sizeof out, &err);
        ASSERT(rv == 0);
    }
    free(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    if (data[0] % 2 == 0) {
        raw(data + 1, size - 1);
    } else {
        built(data + 1, size - 1);
    }
    return 0;
}
