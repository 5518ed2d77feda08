/* The outbox dispatcher: delivers queued webhook events, on the leader only.
 *
 * Events are queued by the state machine (archive/txn.c) in the replicated outbox, so
 * they survive any node. The leader's dispatcher POSTs each due delivery to its
 * webhook, signed with the webhook's secret, and proposes the outcome
 * (DeliveryResult): delivered on a 2xx, else the next attempt time with exponential
 * back-off, or failed after the last attempt. A new leader picks up whatever is still
 * pending, so delivery is at least once: receivers deduplicate by the delivery id.
 *
 * The dispatcher also notices licenses reaching a warning stage (30, 7 and 1 days
 * before expiry, and expiry) and proposes LicenseWarning, which queues the
 * license_expiring / license_expired events. Runs on the loop thread. */
#ifndef IMGARC_REPLICATION_OUTBOX_H
#define IMGARC_REPLICATION_OUTBOX_H

#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "replication/repl.h"

struct outbox_config {
    unsigned retry_ms;      /* delay before the second attempt; doubles each time */
    unsigned retry_max_ms;  /* longest delay between attempts */
    unsigned attempts;      /* attempts before a delivery is failed */
    unsigned timeout_ms;    /* per attempt */
    unsigned concurrency;   /* attempts in flight at once */
    struct outbound *guard; /* checks every connection to a receiver (borrowed) */
};

struct outbox_stats {
    uint64_t attempts_ok;
    uint64_t attempts_failed;
    uint64_t given_up;
    unsigned in_flight;
    uint64_t pending; /* deliveries in the outbox at the last scan */
    uint64_t license_warnings;
};

struct outbox;

/* At most OUTBOX_EXCERPT_MAX bytes of a receiver's answer: the start of @body (@n
 * bytes) as valid UTF-8 with every control character, non-printable character and
 * invalid byte replaced by '?'. Receivers are not trusted: the excerpt is kept in the
 * delivery history for tenant admins and never in a bill's status. @out holds at least
 * OUTBOX_EXCERPT_MAX + 1 bytes. */
#define OUTBOX_EXCERPT_MAX 200
void outbox_excerpt(const char *body, size_t n, char *out);

int outbox_start(struct outbox **out, uv_loop_t *loop, const struct outbox_config *config,
                 struct archive *archive, struct repl *repl, struct http_client *http,
                 struct base_err *err) WARN_UNUSED;
void outbox_get_stats(const struct outbox *o, struct outbox_stats *out);
/* Stops dispatching. Attempts in flight end when the HTTP client and raft stop; free
 * the dispatcher with outbox_free() once the loop has run out. */
void outbox_stop(struct outbox *o);
void outbox_free(struct outbox *o);

#endif
