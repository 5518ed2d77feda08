#include "license.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "archive/archive.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"

static const char *const mode_names[] = {"basic", "sync", "match"};

void license_keygen(uint8_t pk[LICENSE_PUBLIC_KEY_BYTES], uint8_t sk[LICENSE_SECRET_KEY_BYTES])
{
    ASSERT(sodium_init() >= 0); /* idempotent; keys need the random source ready */
    crypto_sign_keypair(pk, sk);
}

unsigned license_mode_bit(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

int license_modes_parse(const char *csv, unsigned *out)
{
    unsigned modes = 0;
    char *copy = xstrdup(csv);
    char *save = NULL;
    int rv = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned bit = license_mode_bit(tok);
        if (bit == 0) {
            rv = -1;
            break;
        }
        modes |= bit;
    }
    free(copy);
    if (rv != 0 || modes == 0) {
        return -1;
    }
    *out = modes;
    return 0;
}

void license_modes_format(unsigned modes, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
        if (modes & (1u << i)) {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n > 0 ? "," : "",
                                  mode_names[i]);
        }
    }
}

static json_t *modes_json(unsigned modes)
{
    json_t *a = json_array();
    for (size_t i = 0; i < ARRAY_SIZE(mode_names); i++) {
        if (modes & (1u << i)) {
            json_array_append_new(a, json_string(mode_names[i]));
        }
    }
    return a;
}

char *license_sign(const struct license *l, const uint8_t sk[LICENSE_SECRET_KEY_BYTES])
{
    char issued[40], expires[40];
    uint8_t sig[crypto_sign_BYTES];
    char sig64[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
    json_t *payload, *doc;
    char *text, *out;
    clock_format_rfc3339(l->issued_ms, issued, sizeof issued);
    clock_format_rfc3339(l->expires_ms, expires, sizeof expires);
    payload = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:I}", "license_id", l->license_id,
                        "tenant", l->tenant, "issued", issued, "expires", expires,
                        "quota_bytes", (json_int_t)l->quota_bytes, "modes",
                        modes_json(l->modes), "max_files", (json_int_t)l->max_files);
    ASSERT(payload != NULL);
    text = json_dumps(payload, JSON_COMPACT);
    json_decref(payload);
    crypto_sign_detached(sig, NULL, (const uint8_t *)text, strlen(text), sk);
    sodium_bin2base64(sig64, sizeof sig64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
    doc = json_pack("{s:s, s:s}", "payload", text, "signature", sig64);
    out = json_dumps(doc, JSON_INDENT(2));
    json_decref(doc);
    free(text);
    return out;
}

/* The signature of @payload by one of @keys; false (with a message) otherwise. */
static bool signed_by_trusted(const char *payload, const char *sig64,
                              const uint8_t (*keys)[LICENSE_PUBLIC_KEY_BYTES], size_t n_keys,
                              struct base_err *err)
{
    uint8_t sig[crypto_sign_BYTES];
    size_t sig_len = 0;
    if (sodium_base642bin(sig, sizeof sig, sig64, strlen(sig64), NULL, &sig_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sig_len != sizeof sig) {
        base_err_set(err, "'signature' is not a base64 Ed25519 signature");
        return false;
    }
    for (size_t i = 0; i < n_keys; i++) {
        if (crypto_sign_verify_detached(sig, (const uint8_t *)payload, strlen(payload),
                                        keys[i]) == 0) {
            return true;
        }
    }
    base_err_set(err, n_keys == 0 ? "this node trusts no license key: start it with "
                                    "--license-pubkey FILE"
                                  : "the signature does not match the payload under any "
                                    "trusted key (a node's --license-pubkey): the document "
                                    "was changed, or signed with another key");
    return false;
}

static int time_field(json_t *o, const char *name, uint64_t *out, struct base_err *err)
{
    const char *s = json_string_value(json_object_get(o, name));
    int64_t ms = s != NULL ? clock_parse_rfc3339(s) : -1;
    if (ms < 0) {
        base_err_set(err, "'%s' must be an RFC 3339 time such as 2027-12-31T00:00:00Z", name);
        return BASE_EINVAL;
    }
    *out = (uint64_t)ms;
    return 0;
}

static int modes_field(json_t *o, unsigned *out, struct base_err *err)
{
    json_t *a = json_object_get(o, "modes");
    size_t i;
    json_t *v;
    unsigned modes = 0;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        base_err_set(err, "'modes' must be a non-empty list of basic, sync, match");
        return BASE_EINVAL;
    }
    json_array_foreach(a, i, v)
    {
        unsigned bit = json_is_string(v) ? license_mode_bit(json_string_value(v)) : 0;
        if (bit == 0) {
            base_err_set(err, "'modes' may hold only basic, sync and match");
            return BASE_EINVAL;
        }
        modes |= bit;
    }
    *out = modes;
    return 0;
}

static int count_field(json_t *o, const char *name, bool required, uint64_t *out,
                       struct base_err *err)
{
    json_t *v = json_object_get(o, name);
    if (v == NULL && !required) {
        *out = 0;
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        base_err_set(err, "'%s' must be a whole number of at least 0", name);
        return BASE_EINVAL;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_payload(const char *text, struct license *l, struct base_err *err)
{
    json_error_t je;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    const char *id, *tenant;
    int rv = BASE_EINVAL;
    if (!json_is_object(o)) {
        base_err_set(err, "the payload is not a JSON object");
        goto out;
    }
    id = json_string_value(json_object_get(o, "license_id"));
    tenant = json_string_value(json_object_get(o, "tenant"));
    if (id == NULL || !archive_valid_tenant(id) || tenant == NULL || !archive_valid_tenant(tenant)) {
        base_err_set(err, "'license_id' and 'tenant' must be 1-64 characters of A-Z a-z 0-9 . _ -");
        goto out;
    }
    snprintf(l->license_id, sizeof l->license_id, "%s", id);
    snprintf(l->tenant, sizeof l->tenant, "%s", tenant);
    if ((rv = time_field(o, "issued", &l->issued_ms, err)) != 0 ||
        (rv = time_field(o, "expires", &l->expires_ms, err)) != 0 ||
        (rv = count_field(o, "quota_bytes", true, &l->quota_bytes, err)) != 0 ||
        (rv = count_field(o, "max_files", false, &l->max_files, err)) != 0 ||
        (rv = modes_field(o, &l->modes, err)) != 0) {
        goto out;
    }
    if (l->expires_ms <= l->issued_ms) {
        base_err_set(err, "'expires' must be later than 'issued'");
        rv = BASE_EINVAL;
    }
out:
    json_decref(o);
    return rv;
}

int license_verify(const char *doc, size_t len, const uint8_t (*keys)[LICENSE_PUBLIC_KEY_BYTES],
                   size_t n_keys, struct license *out, struct base_err *err)
{
    json_error_t je;
    json_t *o;
    const char *payload, *sig;
    struct license l;
    int rv = BASE_EINVAL;
    if (len > LICENSE_DOC_MAX) {
        base_err_set(err, "a license document is at most %u bytes", LICENSE_DOC_MAX);
        return BASE_EINVAL;
    }
    o = json_loadb(doc, len, JSON_REJECT_DUPLICATES, &je);
    payload = json_string_value(json_object_get(o, "payload"));
    sig = json_string_value(json_object_get(o, "signature"));
    memset(&l, 0, sizeof l);
    if (payload == NULL || sig == NULL) {
        base_err_set(err, "not a license document: expected {\"payload\": \"...\", "
                          "\"signature\": \"...\"} as printed by 'imgarc license sign'");
    } else if (signed_by_trusted(payload, sig, keys, n_keys, err)) {
        rv = parse_payload(payload, &l, err);
    }
    json_decref(o);
    if (rv == 0) {
        *out = l;
    }
    return rv;
}

int license_read_key(const char *path, uint8_t *key, size_t bytes, struct base_err *err)
{
    char buf[2 * LICENSE_SECRET_KEY_BYTES + 8];
    FILE *f = fopen(path, "r");
    size_t n;
    if (f == NULL) {
        base_err_set(err, "%s: %s", path, strerror(errno));
        return BASE_EIO;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) {
        buf[--n] = '\0';
    }
    if (!hex_decode(buf, key, bytes)) {
        sodium_memzero(buf, sizeof buf);
        base_err_set(err, "%s: expected %zu hex digits (a %s key from 'imgarc license "
                          "keygen')", path, 2 * bytes, bytes == LICENSE_PUBLIC_KEY_BYTES
                                                               ? "public" : "secret");
        return BASE_EINVAL;
    }
    sodium_memzero(buf, sizeof buf);
    return 0;
}

int license_write_key(const char *path, const uint8_t *key, size_t bytes, unsigned mode,
                      struct base_err *err)
{
    char hex[2 * LICENSE_SECRET_KEY_BYTES + 2];
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    size_t n;
    if (fd < 0) {
        base_err_set(err, "%s: %s", path, strerror(errno));
        return errno == EEXIST ? BASE_EEXISTS : BASE_EIO;
    }
    hex_encode(key, bytes, hex);
    n = strlen(hex);
    hex[n++] = '\n';
    /* The mode exactly as asked, whatever the umask. */
    if (fchmod(fd, (mode_t)mode) != 0 || write(fd, hex, n) != (ssize_t)n || fsync(fd) != 0) {
        base_err_set(err, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(path); /* no partial key file left behind */
        sodium_memzero(hex, sizeof hex);
        return BASE_EIO;
    }
    sodium_memzero(hex, sizeof hex);
    if (close(fd) != 0) {
        base_err_set(err, "%s: close: %s", path, strerror(errno));
        unlink(path);
        return BASE_EIO;
    }
    return 0;
}
