/* The cluster secret: how nodes authenticate their calls to each other's /internal/
 * endpoints.
 *
 * Every node of a cluster reads the same secret from --cluster-secret-file, and during
 * a rotation also the one before it from --cluster-secret-previous-file. Each secret
 * gives a 32-byte key, SHA-256(secret). A request carries X-Imgarc-Time (the sender's
 * wall clock, Unix milliseconds), X-Imgarc-Body-Sha256 when it has a body (the hex
 * SHA-256 of the body; left out of a blob copy, whose body is named by its hash in the
 * target) and
 * X-Imgarc-Signature, the hex HMAC-SHA-256 keyed with the current key of
 *
 *     "imgarc-internal-v2\n" METHOD "\n" TARGET "\n" TIME "\n" LENGTH "\n" DIGEST
 *
 * where TARGET is the path and query as sent, LENGTH the decimal Content-Length (0
 * without a body) and DIGEST the X-Imgarc-Body-Sha256 value ("" when absent). Every
 * part is in the request head, so the receiver checks the signature before it reads
 * a byte of the body, then checks the body against the signed digest (or the blob
 * hash) before acting on it. It accepts a signature made with either key and a time
 * within PEER_AUTH_SKEW_MS of its own clock, so a captured request stops working
 * after that window (within it, a replay is possible: keep the network private;
 * docs/replication.md). Pure functions, any thread; the keys are wiped by
 * peer_auth_wipe(). */
#ifndef IMGARC_REPLICATION_PEER_AUTH_H
#define IMGARC_REPLICATION_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PEER_AUTH_TIME_HEADER "X-Imgarc-Time"
#define PEER_AUTH_SIGNATURE_HEADER "X-Imgarc-Signature"
#define PEER_AUTH_DIGEST_HEADER "X-Imgarc-Body-Sha256"
#define PEER_AUTH_SKEW_MS 60000
#define PEER_AUTH_SECRET_MIN 32   /* characters in the secret file */
#define PEER_AUTH_SECRET_MAX 4096
#define PEER_AUTH_HEX_BYTES 65    /* a signature or digest in hex, with its NUL */
#define PEER_AUTH_KEY_BYTES 32
#define PEER_AUTH_KEYS_MAX 2      /* the current key, and the previous one in a rotation */

struct peer_auth {
    uint8_t keys[PEER_AUTH_KEYS_MAX][PEER_AUTH_KEY_BYTES]; /* [0] signs; all verify */
    unsigned n_keys;
};

/* Reads the current secret from @path and, when @previous_path is not NULL, the one
 * it replaces: surrounding whitespace is ignored, at least PEER_AUTH_SECRET_MIN
 * characters must remain. Warns when others may read a file. On error @a is left
 * wiped. */
int peer_auth_load(struct peer_auth *a, const char *path, const char *previous_path,
                   struct base_err *err) WARN_UNUSED;
void peer_auth_wipe(struct peer_auth *a);

/* The keys, for other authenticated channels of the cluster (the raft transport): the
 * number held (1, or 2 during a rotation), and the @i-th 32-byte key (0 is the current
 * one, the one to sign or offer with; NULL when @i >= the count). Valid until
 * peer_auth_wipe(). Derive per-purpose subkeys from them (e.g. crypto_kdf or an HMAC
 * with a context string) rather than using them as they are. */
unsigned peer_auth_key_count(const struct peer_auth *a);
const uint8_t *peer_auth_key(const struct peer_auth *a, unsigned i);

/* What a signature covers: all of it from the request head. */
struct peer_request {
    const char *method;
    const char *target;         /* path and query as sent */
    uint64_t content_length;    /* 0 without a body */
    const char *body_sha256;    /* the X-Imgarc-Body-Sha256 value, or NULL */
};

/* The hex SHA-256 of @len bytes of @body into @out. */
void peer_body_sha256(const void *body, size_t len, char out[PEER_AUTH_HEX_BYTES]);
/* Whether @body hashes to the hex digest @hex (NULL: false). */
bool peer_body_matches(const char *hex, const void *body, size_t len);

/* The signature of @req at @time_ms with the current key, into @out. */
void peer_auth_sign(const struct peer_auth *a, const struct peer_request *req, uint64_t time_ms,
                    char out[PEER_AUTH_HEX_BYTES]);

/* The authentication headers of a node-to-node request ("Name: value" lines). @digest
 * is "" when the request has none (no body, or a blob copy). */
struct peer_headers {
    char time[64];
    char signature[128];
    char digest[128];
};
/* Signs a request of @len body bytes now (@a NULL: an empty signature, which receivers
 * refuse). The body digest is computed from @body when @len > 0; @body NULL with @len
 * > 0 is a blob copy of @len bytes, named by the hash in @target, sent without one. */
void peer_headers_sign(const struct peer_auth *a, const char *method, const char *target,
                       const void *body, size_t len, struct peer_headers *out);

/* Checks a request's head (@time_header and @signature_header may be NULL when absent)
 * at @now_ms against every key: true when authentic and fresh; otherwise false with
 * the reason, for the 401 answer, in @why. The body is not looked at: check it
 * against req->body_sha256 (peer_body_matches) or its name once it is read. */
bool peer_auth_check(const struct peer_auth *a, const struct peer_request *req,
                     const char *time_header, const char *signature_header, uint64_t now_ms,
                     char *why, size_t why_size);

#endif
