#include "replication/peer_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

#define CONTEXT "imgarc-internal-v2\n"
#define CLOCK_CONTEXT "imgarc-internal-clock-v1\n"

/* One secret file into @key. */
static int load_key(const char *path, uint8_t key[PEER_AUTH_KEY_BYTES], struct base_err *err)
{
    char buf[PEER_AUTH_SECRET_MAX + 2];
    FILE *f = fopen(path, "r");
    size_t n, start = 0;
    if (f == NULL) {
        base_err_set(err, "cluster secret file %s: %s", path, strerror(errno));
        return BASE_EINVAL;
    }
    /* imgarcd refuses a secret file others can read before it gets here
     * (node/main.c check_private_file, shared with the metrics token file). */
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && strchr(" \t\r\n", buf[n - 1]) != NULL) {
        n--;
    }
    while (start < n && strchr(" \t\r\n", buf[start]) != NULL) {
        start++;
    }
    if (n - start < PEER_AUTH_SECRET_MIN || n > PEER_AUTH_SECRET_MAX) {
        sodium_memzero(buf, sizeof buf);
        base_err_set(err, "cluster secret file %s must hold %d to %d characters (e.g. 64 hex "
                          "digits from 'openssl rand -hex 32'), not %zu",
                     path, PEER_AUTH_SECRET_MIN, PEER_AUTH_SECRET_MAX, n - start);
        return BASE_EINVAL;
    }
    crypto_hash_sha256(key, (const uint8_t *)buf + start, n - start);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

int peer_auth_load(struct peer_auth *a, const char *path, const char *previous_path,
                   struct base_err *err)
{
    int rv;
    peer_auth_wipe(a);
    if ((rv = load_key(path, a->keys[0], err)) != 0) {
        peer_auth_wipe(a);
        return rv;
    }
    a->n_keys = 1;
    if (previous_path == NULL) {
        return 0;
    }
    if ((rv = load_key(previous_path, a->keys[1], err)) != 0) {
        peer_auth_wipe(a);
        return rv;
    }
    if (sodium_memcmp(a->keys[0], a->keys[1], PEER_AUTH_KEY_BYTES) == 0) {
        LOG_WARN("peer_auth", "the previous cluster secret (%s) is the current one (%s): "
                              "nothing is being rotated", previous_path, path);
        return 0;
    }
    a->n_keys = 2;
    return 0;
}

void peer_auth_wipe(struct peer_auth *a)
{
    sodium_memzero(a->keys, sizeof a->keys);
    a->n_keys = 0;
    a->clock = NULL;
}

unsigned peer_auth_key_count(const struct peer_auth *a)
{
    return a->n_keys;
}

const uint8_t *peer_auth_key(const struct peer_auth *a, unsigned i)
{
    return i < a->n_keys ? a->keys[i] : NULL;
}

void peer_body_sha256(const void *body, size_t len, char out[PEER_AUTH_HEX_BYTES])
{
    uint8_t digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, body != NULL ? body : (const void *)"", len);
    hex_encode(digest, sizeof digest, out);
}

bool peer_body_matches(const char *hex, const void *body, size_t len)
{
    char want[PEER_AUTH_HEX_BYTES];
    if (hex == NULL || strlen(hex) != PEER_AUTH_HEX_BYTES - 1) {
        return false;
    }
    peer_body_sha256(body, len, want);
    return strcasecmp(hex, want) == 0;
}

static void update(crypto_auth_hmacsha256_state *st, const char *s, bool newline)
{
    crypto_auth_hmacsha256_update(st, (const uint8_t *)s, strlen(s));
    if (newline) {
        crypto_auth_hmacsha256_update(st, (const uint8_t *)"\n", 1);
    }
}

static void mac(const uint8_t key[PEER_AUTH_KEY_BYTES], const struct peer_request *req,
                const char *time_text, uint8_t out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    char length[24];
    snprintf(length, sizeof length, "%llu", (unsigned long long)req->content_length);
    crypto_auth_hmacsha256_init(&st, key, PEER_AUTH_KEY_BYTES);
    update(&st, CONTEXT, false);
    update(&st, req->method, true);
    update(&st, req->target, true);
    update(&st, time_text, true);
    update(&st, length, true);
    update(&st, req->body_sha256 != NULL ? req->body_sha256 : "", false);
    crypto_auth_hmacsha256_final(&st, out);
}

void peer_auth_sign(const struct peer_auth *a, const struct peer_request *req, uint64_t time_ms,
                    char out[PEER_AUTH_HEX_BYTES])
{
    uint8_t m[crypto_auth_hmacsha256_BYTES];
    char time_text[24];
    ASSERT(a->n_keys > 0);
    snprintf(time_text, sizeof time_text, "%llu", (unsigned long long)time_ms);
    mac(a->keys[0], req, time_text, m);
    hex_encode(m, sizeof m, out);
}

/* The time header as milliseconds; false unless it is 1-19 digits. */
static bool parse_time(const char *s, uint64_t *out)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 19 || strspn(s, "0123456789") != n) {
        return false;
    }
    *out = strtoull(s, NULL, 10);
    return true;
}

/* The index of the key that signed @req at @time_text into @got, or -1. */
static int matching_key(const struct peer_auth *a, const struct peer_request *req,
                        const char *time_text, const uint8_t got[crypto_auth_hmacsha256_BYTES])
{
    uint8_t want[crypto_auth_hmacsha256_BYTES];
    for (unsigned i = 0; i < a->n_keys; i++) {
        mac(a->keys[i], req, time_text, want);
        if (sodium_memcmp(want, got, sizeof want) == 0) {
            return (int)i;
        }
    }
    return -1;
}

bool peer_auth_check(const struct peer_auth *a, const struct peer_request *req,
                     const char *time_header, const char *signature_header, uint64_t now_ms,
                     char *why, size_t why_size)
{
    uint8_t got[crypto_auth_hmacsha256_BYTES];
    uint64_t t;
    if (time_header == NULL || signature_header == NULL) {
        snprintf(why, why_size, "/internal calls need the %s and %s headers (signed with the "
                 "cluster secret)", PEER_AUTH_TIME_HEADER, PEER_AUTH_SIGNATURE_HEADER);
        return false;
    }
    if (!parse_time(time_header, &t)) {
        snprintf(why, why_size, "%s must be Unix milliseconds", PEER_AUTH_TIME_HEADER);
        return false;
    }
    if (strlen(signature_header) != 2 * sizeof got ||
        !hex_decode(signature_header, got, sizeof got)) {
        snprintf(why, why_size, "%s must be %zu hex digits", PEER_AUTH_SIGNATURE_HEADER,
                 2 * sizeof got);
        return false;
    }
    /* The signature first: a wrong secret is named as such whatever the time, and a
     * refusal for the window is only ever given to a holder of the secret. */
    if (matching_key(a, req, time_header, got) < 0) {
        snprintf(why, why_size, "wrong signature: the nodes do not share the same cluster "
                 "secret (--cluster-secret-file, or --cluster-secret-previous-file during a "
                 "rotation), or the request was altered");
        return false;
    }
    if (t + PEER_AUTH_SKEW_MS < now_ms || t > now_ms + PEER_AUTH_SKEW_MS) {
        snprintf(why, why_size, "request time is %.1f s away from this node's clock (at most "
                 "%d s allowed; callers adjust to the clock this answer carries): check the "
                 "clocks (NTP) of both nodes",
                 ((double)t - (double)now_ms) / 1000.0, PEER_AUTH_SKEW_MS / 1000);
        return false;
    }
    return true;
}

/* The MAC of an answer's time over the request's signature @request_mac. */
static void clock_mac(const uint8_t key[PEER_AUTH_KEY_BYTES],
                      const uint8_t request_mac[crypto_auth_hmacsha256_BYTES],
                      const char *time_text, uint8_t out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, PEER_AUTH_KEY_BYTES);
    update(&st, CLOCK_CONTEXT, false);
    crypto_auth_hmacsha256_update(&st, request_mac, crypto_auth_hmacsha256_BYTES);
    update(&st, "\n", false);
    update(&st, time_text, false);
    crypto_auth_hmacsha256_final(&st, out);
}

bool peer_auth_answer_sign(const struct peer_auth *a, const struct peer_request *req,
                           const char *time_header, const char *signature_header,
                           const char *time_text, char out[PEER_AUTH_HEX_BYTES])
{
    uint8_t got[crypto_auth_hmacsha256_BYTES];
    uint8_t m[crypto_auth_hmacsha256_BYTES];
    uint64_t t;
    int key;
    if (a == NULL || time_header == NULL || signature_header == NULL ||
        !parse_time(time_header, &t) || strlen(signature_header) != 2 * sizeof got ||
        !hex_decode(signature_header, got, sizeof got) ||
        (key = matching_key(a, req, time_header, got)) < 0) {
        return false;
    }
    clock_mac(a->keys[key], got, time_text, m);
    hex_encode(m, sizeof m, out);
    return true;
}

bool peer_auth_answer_check(const struct peer_auth *a, const char *request_mac,
                            const char *time_text, const char *time_signature,
                            uint64_t *time_ms)
{
    uint8_t sent[crypto_auth_hmacsha256_BYTES];
    uint8_t got[crypto_auth_hmacsha256_BYTES];
    uint8_t want[crypto_auth_hmacsha256_BYTES];
    uint64_t t;
    if (a == NULL || request_mac == NULL || time_signature == NULL ||
        !parse_time(time_text, &t) || strlen(request_mac) != 2 * sizeof sent ||
        !hex_decode(request_mac, sent, sizeof sent) ||
        strlen(time_signature) != 2 * sizeof got ||
        !hex_decode(time_signature, got, sizeof got)) {
        return false;
    }
    /* The receiver answers with the key that verified the call; the caller signed with
     * its current key, which the receiver may hold as its previous one. */
    for (unsigned i = 0; i < a->n_keys; i++) {
        clock_mac(a->keys[i], sent, time_text, want);
        if (sodium_memcmp(want, got, sizeof want) == 0) {
            *time_ms = t;
            return true;
        }
    }
    return false;
}

void peer_answer_reset(struct peer_answer *ans)
{
    memset(ans, 0, sizeof *ans);
}

/* Copies the value of the header line @line (@n bytes) named @name into @out when it
 * is that header and its value fits; true when it did. */
static bool header_value(const char *line, size_t n, const char *name, char *out,
                         size_t size)
{
    size_t len = strlen(name), start, end;
    if (n <= len || line[len] != ':' || strncasecmp(line, name, len) != 0) {
        return false;
    }
    start = len + 1;
    end = n;
    while (start < end && (line[start] == ' ' || line[start] == '\t')) {
        start++;
    }
    while (end > start && strchr(" \t\r\n", line[end - 1]) != NULL) {
        end--;
    }
    if (end - start >= size) {
        return false;
    }
    memcpy(out, line + start, end - start);
    out[end - start] = '\0';
    return true;
}

void peer_answer_line(struct peer_answer *ans, const char *line, size_t n)
{
    if (header_value(line, n, PEER_AUTH_TIME_HEADER, ans->time, sizeof ans->time)) {
        ans->local_ms = clock_wall_ms();
    } else {
        (void)header_value(line, n, PEER_AUTH_ANSWER_SIGNATURE_HEADER, ans->signature,
                           sizeof ans->signature);
    }
}

bool peer_headers_learn(const struct peer_auth *a, const char *peer,
                        const struct peer_headers *sent, const struct peer_answer *ans,
                        int64_t *offset_ms)
{
    uint64_t t;
    int64_t offset;
    if (a == NULL || ans->time[0] == '\0' || ans->signature[0] == '\0' ||
        !peer_auth_answer_check(a, sent->mac, ans->time, ans->signature, &t)) {
        return false;
    }
    offset = (int64_t)(t - ans->local_ms);
    if (a->clock != NULL && peer != NULL) {
        peer_clock_learn(a->clock, peer, offset);
    }
    if (offset_ms != NULL) {
        *offset_ms = offset;
    }
    return true;
}

bool peer_auth_should_resign(long status, bool learn_ok, const struct peer_headers *sent,
                             int64_t offset_ms)
{
    return status == 401 && learn_ok && offset_ms != sent->offset_ms;
}

void peer_headers_sign(const struct peer_auth *a, const char *peer, const char *method,
                       const char *target, const void *body, size_t len,
                       struct peer_headers *out)
{
    char signature[PEER_AUTH_HEX_BYTES];
    char digest[PEER_AUTH_HEX_BYTES] = "";
    struct peer_request req = {.method = method, .target = target, .content_length = len};
    int64_t offset = a != NULL ? peer_clock_offset_ms(a->clock, peer) : 0;
    uint64_t now = clock_wall_ms() + (uint64_t)offset;
    out->offset_ms = offset;
    signature[0] = '\0';
    if (body != NULL && len > 0) {
        peer_body_sha256(body, len, digest);
        req.body_sha256 = digest;
    }
    if (a != NULL && a->n_keys > 0) {
        peer_auth_sign(a, &req, now, signature);
    }
    snprintf(out->time, sizeof out->time, "%s: %llu", PEER_AUTH_TIME_HEADER,
             (unsigned long long)now);
    snprintf(out->signature, sizeof out->signature, "%s: %s", PEER_AUTH_SIGNATURE_HEADER,
             signature);
    snprintf(out->mac, sizeof out->mac, "%s", signature);
    out->digest[0] = '\0';
    if (req.body_sha256 != NULL) {
        snprintf(out->digest, sizeof out->digest, "%s: %s", PEER_AUTH_DIGEST_HEADER, digest);
    }
}
