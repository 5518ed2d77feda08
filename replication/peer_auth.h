/* The cluster secret: how nodes authenticate their calls to each other's /internal/
 * endpoints.
 *
 * Every node of a cluster reads the same secret from --cluster-secret-file, and during
 * a rotation also the one before it from --cluster-secret-previous-file. Each secret
 * gives a 32-byte key, SHA-256(secret). A request carries X-Imgarc-Time (Unix
 * milliseconds: the sender's wall clock plus what it learned of the receiver's, below),
 * X-Imgarc-Body-Sha256 when it has a body (the hex
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
 * docs/replication.md).
 *
 * Clocks need not agree. Every answer to an /internal call carries the receiver's
 * clock in X-Imgarc-Time and, when the request's signature was authentic (whatever
 * its time), X-Imgarc-Time-Signature, the hex HMAC-SHA-256 keyed with the key that
 * verified the request of
 *
 *     "imgarc-internal-clock-v1\n" SIGNATURE "\n" TIME
 *
 * where SIGNATURE is the request's 32-byte signature (raw) and TIME the answer's
 * X-Imgarc-Time. The caller checks it against the signature it sent, so a time cannot
 * be forged without the secret nor replayed from another call, and keeps the
 * receiver's offset (replication/peer_clock.h, attached to the keys); it signs its
 * next calls to that node with its own clock plus the offset, and a call refused 401
 * with an authentic time (the window) is signed again at once with the offset just
 * learned and sent again (at most PEER_AUTH_RESENDS_MAX times, each only while the
 * offset moved: a clock that steps while a call is on its way). The receiver's check is unchanged: a time within the
 * window of its own clock. The keys and the clock table are the only state; the rest
 * are pure functions, any thread; the keys are wiped by peer_auth_wipe(). */
#ifndef IMGARC_REPLICATION_PEER_AUTH_H
#define IMGARC_REPLICATION_PEER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "replication/peer_clock.h"

#define PEER_AUTH_TIME_HEADER "X-Imgarc-Time"
#define PEER_AUTH_ANSWER_SIGNATURE_HEADER "X-Imgarc-Time-Signature" /* on answers */
#define PEER_AUTH_SIGNATURE_HEADER "X-Imgarc-Signature"
#define PEER_AUTH_DIGEST_HEADER "X-Imgarc-Body-Sha256"
#define PEER_AUTH_SKEW_MS 60000
#define PEER_AUTH_SECRET_MIN 32   /* characters in the secret file */
#define PEER_AUTH_SECRET_MAX 4096
#define PEER_AUTH_HEX_BYTES 65    /* a signature or digest in hex, with its NUL */
#define PEER_AUTH_KEY_BYTES 32
#define PEER_AUTH_KEYS_MAX 2
/* A call refused for the time window is signed again with the offset its answer
 * carried; again only while that offset keeps moving (a clock stepped meanwhile). */
#define PEER_AUTH_RESENDS_MAX 2      /* the current key, and the previous one in a rotation */

struct peer_auth {
    uint8_t keys[PEER_AUTH_KEYS_MAX][PEER_AUTH_KEY_BYTES]; /* [0] signs; all verify */
    unsigned n_keys;
    /* The other nodes' clock offsets, learned from their answers and used to sign
     * calls to them; NULL: calls are signed with this node's clock and nothing is
     * learned. Not owned (the caller attaches it after peer_auth_load()); internally
     * locked, so signers holding a const struct peer_auth may update it. */
    struct peer_clock *clock;
};

/* Reads the current secret from @path and, when @previous_path is not NULL, the one
 * it replaces: surrounding whitespace is ignored, at least PEER_AUTH_SECRET_MIN
 * characters must remain. No clock table is attached. On error @a is left wiped. */
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
    char mac[PEER_AUTH_HEX_BYTES]; /* the signature alone, to check the answer's time */
    int64_t offset_ms;             /* added to this node's clock to sign */
};
/* Signs a request of @len body bytes to the node at @peer (its HTTP HOST:PORT; NULL:
 * no clock offset) now, in that node's time as far as a->clock knows it (@a NULL: an
 * empty signature, which receivers refuse). The body digest is computed from @body
 * when @len > 0; @body NULL with @len > 0 is a blob copy of @len bytes, named by the
 * hash in @target, sent without one. */
void peer_headers_sign(const struct peer_auth *a, const char *peer, const char *method,
                       const char *target, const void *body, size_t len,
                       struct peer_headers *out);

/* ---- Answers: the receiver's clock ---- */

/* The receiver's side: the value of X-Imgarc-Time-Signature for an answer stamped
 * @time_text to a request whose head is @req, @time_header and @signature_header. True
 * with @out set when the request's signature is authentic under one of the keys
 * (whatever its time: a refusal for the window is signed too); false otherwise (then
 * the answer carries no signed time, and this node signs nothing an outsider chose). */
bool peer_auth_answer_sign(const struct peer_auth *a, const struct peer_request *req,
                           const char *time_header, const char *signature_header,
                           const char *time_text, char out[PEER_AUTH_HEX_BYTES]);

/* The caller's side: whether @time_text and @time_signature (an answer's headers, may
 * be NULL) are authentic for the call signed with @request_mac (the hex signature it
 * sent); then the time into @time_ms. */
bool peer_auth_answer_check(const struct peer_auth *a, const char *request_mac,
                            const char *time_text, const char *time_signature,
                            uint64_t *time_ms);

/* An answer's clock headers, taken from its head one line at a time. */
struct peer_answer {
    char time[24];
    char signature[PEER_AUTH_HEX_BYTES];
    uint64_t local_ms; /* this node's clock when the time header arrived */
};
void peer_answer_reset(struct peer_answer *ans);
/* One header line of an answer as received ("Name: value\r\n", @n bytes, not
 * NUL-terminated); keeps X-Imgarc-Time and X-Imgarc-Time-Signature. */
void peer_answer_line(struct peer_answer *ans, const char *line, size_t n);

/* After an answer from @peer to the call signed into @sent: when its time is authentic,
 * learns @peer's clock offset into a->clock and returns true (with the offset in
 * @offset_ms when not NULL). False when the answer carried no authentic time. */
bool peer_headers_learn(const struct peer_auth *a, const char *peer,
                        const struct peer_headers *sent, const struct peer_answer *ans,
                        int64_t *offset_ms);
/* Whether a call refused with @status whose answer @learn_ok (peer_headers_learn)
 * should be signed again and sent again: a 401 with an authentic time that moved
 * the offset, i.e. a refusal for the time window. */
bool peer_auth_should_resign(long status, bool learn_ok, const struct peer_headers *sent,
                             int64_t offset_ms);

/* Checks a request's head (@time_header and @signature_header may be NULL when absent)
 * at @now_ms against every key: true when authentic and fresh; otherwise false with
 * the reason, for the 401 answer, in @why. The body is not looked at: check it
 * against req->body_sha256 (peer_body_matches) or its name once it is read. */
bool peer_auth_check(const struct peer_auth *a, const struct peer_request *req,
                     const char *time_header, const char *signature_header, uint64_t now_ms,
                     char *why, size_t why_size);

#endif
