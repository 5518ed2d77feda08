/* The recognition dispatcher: sends files queued for recognition to the operator's
 * recognition service (--recognition-url), on the leader only.
 *
 * Files are queued by the state machine (archive/apply_recognition.c) in replicated
 * state, so the queue survives any node. The leader's dispatcher reads each due file's
 * content (from its own blob store, or from a node holding a copy), POSTs it to the
 * service with headers naming the tenant, image number, file id and format (signed with
 * --recognition-secret-file when one is configured, like webhooks), and proposes the
 * outcome (RecognitionResult): the invoice data on a 2xx with a usable answer; failed
 * at once on a 4xx (not an invoice, unreadable) or an unusable answer; else the next
 * attempt time with exponential back-off, or failed after the last attempt. A new
 * leader picks up whatever is still pending, so a file may be sent more than once (at
 * least once): the service should be idempotent per file id.
 *
 * A leader without a URL sends nothing: the files stay pending, counted in /metrics,
 * and the first such look is logged. Every node of a cluster should carry the same URL
 * (docs/recognition.md). Runs on the loop thread; local blob reads on the thread pool. */
#ifndef IMGARC_REPLICATION_RECOGNIZER_H
#define IMGARC_REPLICATION_RECOGNIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "replication/repl.h"
#include "storage/blobstore.h"

/* Bytes of a service's answer read at most; a longer one is an unusable answer. */
#define RECOGNIZER_ANSWER_MAX (64u << 10)

struct recognizer_config {
    const char *url;        /* the service; NULL or "": none (copied) */
    const char *secret;     /* signs requests (HMAC-SHA-256); NULL: unsigned (copied) */
    unsigned timeout_ms;    /* per attempt */
    unsigned attempts;      /* attempts before a file's recognition fails */
    unsigned retry_ms;      /* delay before the second attempt; doubles each time */
    unsigned retry_max_ms;  /* longest delay between attempts */
    unsigned concurrency;   /* attempts in flight at once (each holds its file in memory) */
    uint64_t file_bytes_max; /* larger files fail at once */
    struct outbound *guard; /* checks every connection to the service (borrowed) */
    struct blob_store *blobs; /* this node's copies (borrowed) */
};

struct recognizer_stats {
    uint64_t attempts_ok;     /* answered with usable invoice data */
    uint64_t attempts_failed; /* any other outcome */
    uint64_t done;            /* files whose recognition this node finished as leader */
    uint64_t failed;          /* ... and those it gave up */
    unsigned in_flight;
    uint64_t pending;         /* files waiting at the last look (leader only) */
    bool configured;          /* this node has a URL */
};

struct recognizer;

int recognizer_start(struct recognizer **out, uv_loop_t *loop,
                     const struct recognizer_config *config, struct archive *archive,
                     struct repl *repl, struct http_client *http,
                     struct base_err *err) WARN_UNUSED;
void recognizer_get_stats(const struct recognizer *r, struct recognizer_stats *out);
/* Whether this node has a recognition service configured. */
bool recognizer_configured(const struct recognizer *r);
/* Stops dispatching. Attempts in flight end when the HTTP client and raft stop; free
 * it with recognizer_free() once the loop has run out. */
void recognizer_stop(struct recognizer *r);
void recognizer_free(struct recognizer *r);

#endif
