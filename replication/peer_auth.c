#include "replication/peer_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"

#define CONTEXT "imgarc-internal-v1\n"

int peer_auth_load(struct peer_auth *a, const char *path, struct base_err *err)
{
    char buf[PEER_AUTH_SECRET_MAX + 2];
    FILE *f = fopen(path, "r");
    struct stat st;
    size_t n, start = 0;
    if (f == NULL) {
        base_err_set(err, "cluster secret file %s: %s", path, strerror(errno));
        return BASE_EINVAL;
    }
    n = fread(buf, 1, sizeof buf, f);
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
        LOG_WARN("peer_auth", "cluster secret file %s can be read by other users (mode %o); "
                              "chmod 600 it", path, (unsigned)(st.st_mode & 0777));
    }
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
    crypto_hash_sha256(a->key, (const uint8_t *)buf + start, n - start);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

void peer_auth_wipe(struct peer_auth *a)
{
    sodium_memzero(a->key, sizeof a->key);
}

static void mac(const struct peer_auth *a, const char *method, const char *target,
                const char *time_text, const void *body, size_t len,
                uint8_t out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    uint8_t digest[crypto_hash_sha256_BYTES];
    char digest_hex[2 * crypto_hash_sha256_BYTES + 1];
    crypto_hash_sha256(digest, body != NULL ? body : (const void *)"", len);
    hex_encode(digest, sizeof digest, digest_hex);
    crypto_auth_hmacsha256_init(&st, a->key, sizeof a->key);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)CONTEXT, strlen(CONTEXT));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)method, strlen(method));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)target, strlen(target));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)time_text, strlen(time_text));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)"\n", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)digest_hex, strlen(digest_hex));
    crypto_auth_hmacsha256_final(&st, out);
}

void peer_auth_sign(const struct peer_auth *a, const char *method, const char *target,
                    uint64_t time_ms, const void *body, size_t len,
                    char out[PEER_AUTH_HEX_BYTES])
{
    uint8_t m[crypto_auth_hmacsha256_BYTES];
    char time_text[24];
    snprintf(time_text, sizeof time_text, "%llu", (unsigned long long)time_ms);
    mac(a, method, target, time_text, body, len, m);
    hex_encode(m, sizeof m, out);
}

/* The time header as milliseconds; false unless it is 1-20 digits. */
static bool parse_time(const char *s, uint64_t *out)
{
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > 19 || strspn(s, "0123456789") != n) {
        return false;
    }
    *out = strtoull(s, NULL, 10);
    return true;
}

bool peer_auth_check(const struct peer_auth *a, const char *method, const char *target,
                     const char *time_header, const char *signature_header, const void *body,
                     size_t len, uint64_t now_ms, char *why, size_t why_size)
{
    uint8_t want[crypto_auth_hmacsha256_BYTES];
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
    if (t + PEER_AUTH_SKEW_MS < now_ms || t > now_ms + PEER_AUTH_SKEW_MS) {
        snprintf(why, why_size, "request time is %.0f s away from this node's clock (at most "
                 "%d s allowed): check the clocks (NTP) of both nodes",
                 ((double)t - (double)now_ms) / 1000.0, PEER_AUTH_SKEW_MS / 1000);
        return false;
    }
    if (strlen(signature_header) != 2 * sizeof got ||
        !hex_decode(signature_header, got, sizeof got)) {
        snprintf(why, why_size, "%s must be %zu hex digits", PEER_AUTH_SIGNATURE_HEADER,
                 2 * sizeof got);
        return false;
    }
    mac(a, method, target, time_header, body, len, want);
    if (sodium_memcmp(want, got, sizeof want) != 0) {
        snprintf(why, why_size, "wrong signature: the nodes do not share the same cluster "
                 "secret (--cluster-secret-file), or the request was altered");
        return false;
    }
    return true;
}

void peer_headers_sign(const struct peer_auth *a, const char *method, const char *target,
                       const void *body, size_t len, struct peer_headers *out)
{
    char signature[PEER_AUTH_HEX_BYTES];
    uint64_t now = clock_wall_ms();
    signature[0] = '\0';
    if (a != NULL) {
        peer_auth_sign(a, method, target, now, body, len, signature);
    }
    snprintf(out->time, sizeof out->time, "%s: %llu", PEER_AUTH_TIME_HEADER,
             (unsigned long long)now);
    snprintf(out->signature, sizeof out->signature, "%s: %s", PEER_AUTH_SIGNATURE_HEADER,
             signature);
}
