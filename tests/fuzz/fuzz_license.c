/* Fuzz target: license documents (archive/license.c).
 *
 * Mode byte 0: the rest of the input is a license document, verified against the
 * node's trusted keys (one of which the harness holds). Otherwise the rest is a
 * payload the harness signs with that key, so the payload parser runs on every input:
 * what it accepts must satisfy the documented rules and sign back into a document that
 * verifies to the same license. The mode list parser gets the same bytes. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "archive/archive.h"
#include "archive/license.h"
#include "base/mem.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t keys[2][LICENSE_PUBLIC_KEY_BYTES];
static uint8_t sk[LICENSE_SECRET_KEY_BYTES];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    uint8_t seed[crypto_sign_SEEDBYTES] = {9};
    uint8_t other_sk[LICENSE_SECRET_KEY_BYTES];
    (void)argc;
    (void)argv;
    fuzz_init();
    /* Fixed keys, so a saved input reproduces: another key first, then the harness's. */
    crypto_sign_seed_keypair(keys[0], other_sk, seed);
    fuzz_license_key(keys[1], sk);
    return 0;
}

/* {"payload": @text, "signature": base64(sign(@text))}, as license_sign() writes. */
static char *sign_payload(const char *text)
{
    uint8_t sig[crypto_sign_BYTES];
    char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    json_t *doc;
    char *out;
    crypto_sign_detached(sig, NULL, (const uint8_t *)text, strlen(text), sk);
    sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    doc = json_pack("{s:s, s:s}", "payload", text, "signature", sig64);
    if (doc == NULL) {
        return NULL; /* not UTF-8: jansson refuses the string */
    }
    out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

static void check_accepted(const struct license *l)
{
    struct license again;
    struct base_err err = {{0}};
    char *doc;
    ASSERT(archive_valid_tenant(l->license_id) && archive_valid_tenant(l->tenant));
    ASSERT(l->expires_ms > l->issued_ms);
    ASSERT(l->modes != 0 && (l->modes & ~(unsigned)LICENSE_MODES_ALL) == 0);
    /* Times are kept to the second in documents; a signed copy verifies alike. */
    doc = license_sign(l, sk);
    if (l->quota_bytes <= INT64_MAX && l->max_files <= INT64_MAX) {
        int rv = license_verify(doc, strlen(doc), (const uint8_t(*)[32])keys, 2, &again, &err);
        ASSERT(rv == 0 || l->expires_ms / 1000 <= l->issued_ms / 1000);
        if (rv == 0) {
            ASSERT(strcmp(again.license_id, l->license_id) == 0);
            ASSERT(strcmp(again.tenant, l->tenant) == 0);
            ASSERT(again.quota_bytes == l->quota_bytes && again.max_files == l->max_files);
            ASSERT(again.modes == l->modes);
        }
    }
    free(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    struct license l;
    struct base_err err = {{0}};
    unsigned modes;
    bool signable = true;
    int rv;
    if (size < 1) {
        return 0;
    }
    text = xmalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (data[0] == 0) {
        rv = license_verify(text, size - 1, (const uint8_t(*)[32])keys, 2, &l, &err);
    } else {
        char *doc = sign_payload(text);
        signable = doc != NULL;
        rv = signable ? license_verify(doc, strlen(doc), (const uint8_t(*)[32])keys, 2, &l, &err)
                      : BASE_EINVAL;
        free(doc);
    }
    if (rv == 0) {
        check_accepted(&l);
    } else if (signable) {
        ASSERT(err.msg[0] != '\0');
    }
    if (license_modes_parse(text, &modes) == 0) {
        char buf[32];
        unsigned back;
        ASSERT(modes != 0 && (modes & ~(unsigned)LICENSE_MODES_ALL) == 0);
        license_modes_format(modes, buf, sizeof buf);
        ASSERT(license_modes_parse(buf, &back) == 0 && back == modes);
    }
    free(text);
    return 0;
}
