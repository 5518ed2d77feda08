/* The cluster secret: how nodes authenticate their calls to each other's /internal/
 * endpoints.
 *
 * Every node of a cluster reads the same secret from --cluster-secret-file. A request
 * carries X-Imgarc-Time (the sender's wall clock, Unix milliseconds) and
 * X-Imgarc-Signature, the hex HMAC-SHA-256 keyed with SHA-256(secret) of
 *
 *     "imgarc-internal-v1\n" METHOD "\n" TARGET "\n" TIME "\n" hex(SHA-256(body))
 *
 * where TARGET is the path and query as sent. The receiver recomputes it and accepts
 * a time within PEER_AUTH_SKEW_MS of its own clock, so a captured request stops
 * working after that window (within it, a replay is possible: keep the network
 * private; docs/replication.md). Pure functions, any thread; the key is wiped by
 * peer_auth_wipe(). */
#ifndef IMGARC_REPLICATION_PEER_AUTH_H
#define IMGARC_REPLICATION_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define PEER_AUTH_TIME_HEADER "X-Imgarc-Time"
#define PEER_AUTH_SIGNATURE_HEADER "X-Imgarc-Signature"
#define PEER_AUTH_SKEW_MS 60000
#define PEER_AUTH_SECRET_MIN 32   /* characters in the secret file */
#define PEER_AUTH_SECRET_MAX 4096
#define PEER_AUTH_HEX_BYTES 65    /* a signature in hex, with its NUL */

struct peer_auth {
    uint8_t key[32];
};

/* Reads the secret from @path: surrounding whitespace is ignored, at least
 * PEER_AUTH_SECRET_MIN characters must remain. Warns when others may read the file. */
int peer_auth_load(struct peer_auth *a, const char *path, struct base_err *err) WARN_UNUSED;
void peer_auth_wipe(struct peer_auth *a);

/* The signature of a request into @out. */
void peer_auth_sign(const struct peer_auth *a, const char *method, const char *target,
                    uint64_t time_ms, const void *body, size_t len,
                    char out[PEER_AUTH_HEX_BYTES]);
/* The two authentication headers of a node-to-node request ("Name: value" lines). */
struct peer_headers {
    char time[64];
    char signature[128];
};
/* Signs a request now (@a NULL: an empty signature, which receivers refuse). */
void peer_headers_sign(const struct peer_auth *a, const char *method, const char *target,
                       const void *body, size_t len, struct peer_headers *out);

/* Checks a request's headers (either may be NULL when absent) against its method,
 * target and body at @now_ms: true when authentic and fresh; otherwise false with the
 * reason, for the 401 answer, in @why. */
bool peer_auth_check(const struct peer_auth *a, const char *method, const char *target,
                     const char *time_header, const char *signature_header, const void *body,
                     size_t len, uint64_t now_ms, char *why, size_t why_size);

#endif
