/* Fuzz target: sealed texts (api/links.c): signed links, event codes and vendor app
 * tokens, "<prefix><base64url JSON>.<base64url HMAC-SHA-256>".
 *
 * Byte 0 picks the mode and the prefix. Mode 0: the rest is a text as it arrives in a
 * URL or a body, opened with api_unseal_key() under the harness's key for the chosen
 * prefix; whatever opens must be an object with an integer "e" and seal back into a
 * text that opens to the same payload. Mode 1: the rest is a payload the harness seals
 * (when it is a JSON object with an integer "e"), so the opener runs on genuine texts:
 * it must open to the same payload, never under another prefix or another key, and
 * never once any one byte of the text is changed (the byte and its new value come from
 * the payload's length and first byte). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api_int.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const PREFIXES[] = {"imglnk1.", "imgevt1.", "imgapp1."};
static const uint8_t KEY[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t OTHER_KEY[32] = {9, 8, 7};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_init();
    return 0;
}

static void reseal(const char *prefix, json_t *payload)
{
    char *again = api_seal_key(KEY, prefix, payload);
    json_t *back = api_unseal_key(KEY, prefix, again);
    if (strlen(again) <= API_SEALED_MAX && (back == NULL || !json_equal(back, payload))) {
        abort(); /* what opened must seal back to the same payload */
    }
    json_decref(back);
    free(again);
}

static void genuine(const char *prefix, const char *other, json_t *payload, size_t at,
                    uint8_t flip)
{
    char *text = api_seal_key(KEY, prefix, payload);
    size_t n = strlen(text);
    json_t *o;
    if (n > API_SEALED_MAX) {
        if (api_unseal_key(KEY, prefix, text) != NULL) {
            abort(); /* too long is refused, whatever it holds */
        }
        free(text);
        return;
    }
    o = api_unseal_key(KEY, prefix, text);
    if (o == NULL || !json_equal(o, payload) || api_unseal_key(KEY, other, text) != NULL ||
        api_unseal_key(OTHER_KEY, prefix, text) != NULL) {
        abort();
    }
    json_decref(o);
    text[at % n] = (char)(text[at % n] ^ (flip | 1));
    if (text[at % n] != '\0' && (o = api_unseal_key(KEY, prefix, text)) != NULL) {
        abort(); /* a changed byte never opens */
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *prefix, *other;
    char *text;
    json_t *o;
    if (size < 1) {
        return 0;
    }
    prefix = PREFIXES[(data[0] >> 1) % 3];
    other = PREFIXES[((data[0] >> 1) + 1) % 3];
    text = xmalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if ((data[0] & 1) == 0) {
        o = api_unseal_key(KEY, prefix, text);
        if (o != NULL) {
            if (!json_is_object(o) || !json_is_integer(json_object_get(o, "e"))) {
                abort();
            }
            reseal(prefix, o);
            json_decref(o);
        }
    } else {
        o = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        if (json_is_object(o) && json_is_integer(json_object_get(o, "e"))) {
            genuine(prefix, other, o, size, size > 1 ? data[1] : 0);
        }
        json_decref(o);
    }
    free(text);
    return 0;
}
