/* Fuzz target: the fileCollect body path without the node: net/json_stream.c scanning a
 * JSON object and base/base64_stream.c decoding the streamed "base64" member, as
 * api/vendor_collect.c chains them.
 *
 * Input: one byte that sets the piece size (1-256), then the body. The body is fed in
 * pieces of that size and again whole; both scans must agree (result, collected fields,
 * decoded bytes). When the scan accepts and base64 decodes, and jansson accepts the
 * same body with a string "base64", the decoded bytes must equal libsodium's decoding of
 * that string (whitespace removed). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "base/base64_stream.h"
#include "base/mem.h"
#include "net/json_stream.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct base64_stream b64;
    int b64_status;
    uint8_t *decoded;
    size_t decoded_len;
    size_t decoded_cap;
    char fields[8192];
    size_t fields_len;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static enum json_stream_mode member(void *arg, const char *key)
{
    (void)arg;
    if (strcmp(key, "base64") == 0) {
        return JSON_STREAM_STREAM;
    }
    return key[0] == 's' ? JSON_STREAM_SKIP : JSON_STREAM_COLLECT;
}

static int value(void *arg, const char *key, enum json_stream_kind kind, const char *text,
                 size_t len)
{
    struct run *r = arg;
    size_t need = strlen(key) + len + 4;
    if (r->fields_len + need < sizeof r->fields) {
        r->fields_len += (size_t)snprintf(r->fields + r->fields_len,
                                          sizeof r->fields - r->fields_len, "%s%c%d", key, 0,
                                          (int)kind);
        memcpy(r->fields + r->fields_len, text, len);
        r->fields_len += len;
    }
    ASSERT(text[len] == '\0');
    return 0;
}

static int chunk(void *arg, const char *key, const char *data, size_t len, bool end)
{
    struct run *r = arg;
    struct base_err err;
    uint8_t out[BASE64_STREAM_OUT_MAX(1024) + 3];
    size_t n = 0;
    ASSERT(strcmp(key, "base64") == 0 && len <= 1024);
    if (r->b64_status != 0) {
        return 0;
    }
    r->b64_status = end ? base64_stream_finish(&r->b64, out, &n, &err)
                        : base64_stream_feed(&r->b64, data, len, out, &n, &err);
    ASSERT(n <= BASE64_STREAM_OUT_MAX(len) + 3);
    if (n == 0) {
        return 0;
    }
    if (r->decoded_len + n > r->decoded_cap) {
        r->decoded_cap = (r->decoded_len + n) * 2;
        r->decoded = xrealloc(r->decoded, r->decoded_cap);
    }
    memcpy(r->decoded + r->decoded_len, out, n);
    r->decoded_len += n;
    return 0;
}

static int scan(const char *body, size_t len, size_t step, struct run *r)
{
    struct json_stream_cbs cbs = {member, value, chunk, r};
    struct json_stream js;
    struct base_err err;
    int rv = 0;
    memset(r, 0, sizeof *r);
    base64_stream_init(&r->b64);
    json_stream_init(&js, &cbs);
    for (size_t i = 0; i < len && rv == 0; i += step) {
        rv = json_stream_feed(&js, body + i, len - i < step ? len - i : step, &err);
    }
    if (rv == 0) {
        rv = json_stream_finish(&js, &err);
    }
    ASSERT(rv == 0 || rv == BASE_EINVAL || rv == BASE_ETOOBIG);
    return rv;
}

/* libsodium's decoding of @s (whitespace dropped), if it decodes. */
static void compare_with_sodium(const char *s, size_t len, const struct run *r)
{
    char *clean = xmalloc(len + 1);
    uint8_t *bin = xmalloc(len + 1);
    size_t n = 0, bin_len;
    const char *end;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t') {
            clean[n++] = s[i];
        }
    }
    clean[n] = '\0';
    if (sodium_base642bin(bin, len + 1, clean, n, NULL, &bin_len, &end,
                          sodium_base64_VARIANT_ORIGINAL) == 0 &&
        end == clean + n) {
        ASSERT(bin_len == r->decoded_len &&
               (bin_len == 0 || memcmp(bin, r->decoded, bin_len) == 0));
    }
    free(clean);
    free(bin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct run *a, *b;
    const char *body;
    size_t len, step;
    int ra, rb;
    if (size < 1) {
        return 0;
    }
    step = (size_t)data[0] + 1;
    body = (const char *)data + 1;
    len = size - 1;
    a = xcalloc(1, sizeof *a);
    b = xcalloc(1, sizeof *b);
    ra = scan(body, len, step, a);
    rb = scan(body, len, len > 0 ? len : 1, b);
    ASSERT(ra == rb);
    if (ra == 0) {
        ASSERT(a->b64_status == b->b64_status);
        ASSERT(a->fields_len == b->fields_len && memcmp(a->fields, b->fields, a->fields_len) == 0);
        ASSERT(a->decoded_len == b->decoded_len &&
               (a->decoded_len == 0 || memcmp(a->decoded, b->decoded, a->decoded_len) == 0));
        if (a->b64_status == 0) {
            json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
            json_t *v = json_object_get(root, "base64");
            if (json_is_string(v) && strchr(json_string_value(v), '-') == NULL &&
                strchr(json_string_value(v), '_') == NULL) {
                compare_with_sodium(json_string_value(v), json_string_length(v), a);
            }
            json_decref(root);
        }
    }
    free(a->decoded);
    free(b->decoded);
    free(a);
    free(b);
    return 0;
}
