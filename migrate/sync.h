/* The invoice-data sync runner: on the leader only, it schedules each tenant's daily
 * run and works through the runs pending or running (family sync_queue), reading the
 * face data of the source's bills and proposing it in steps (archive/sync.h).
 *
 * Daily: once the UTC time of day passes a tenant's `daily_at`, it proposes run
 * "daily-YYYY-MM-DD[-org]" for each organisation of the settings (one for all when
 * none) unless it exists: apply refuses an existing id, so a new leader, or a node
 * restarted, never runs a day twice. The run covers the bills changed in the 24 hours
 * before that day's `daily_at`. A daily run that failed as a whole (the source did not
 * answer, credentials refused) is tried again on each of the next days' looks, up to
 * SYNC_ATTEMPTS_MAX attempts.
 *
 * A run: first the retry pass (the organisation's records that failed before and are
 * still retrying, read again from the source), then the source's bills changed in the
 * run's time range page by page (a bill run: that bill alone). For each bill here with
 * the source's image number, each source file with invoice data becomes a record for
 * the local file its id maps to (migrate/import.h: import_file_id()). Each step is one SyncInvoices
 * proposal recording where the run stands, so a new leader goes on from the next step.
 * A source that does not answer backs the run off (doubling, up to a minute); after
 * SYNC_TRANSIENT_MAX failures in a row the run fails with the message for a person.
 *
 * Loop thread only. */
#ifndef IMGARC_MIGRATE_SYNC_H
#define IMGARC_MIGRATE_SYNC_H

#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_client.h"
#include "replication/repl.h"

#define SYNC_TICK_MS_DEFAULT 1000
#define SYNC_TRANSIENT_MAX 6
#define SYNC_JOBS_MAX 4 /* runs worked on at once */

struct sync_config {
    uint64_t tick_ms;         /* how often the runner looks (0: SYNC_TICK_MS_DEFAULT) */
    struct http_client *http; /* borrowed */
    struct outbound *guard;   /* borrowed */
};

struct sync_runner;

int sync_runner_start(struct sync_runner **out, uv_loop_t *loop, const struct sync_config *config,
                      struct archive *archive, struct repl *repl,
                      struct base_err *err) WARN_UNUSED;
/* Stops looking; calls in flight end on their own. */
void sync_runner_stop(struct sync_runner *r);
/* Frees the runner once the loop has run out (nothing may be in flight). */
void sync_runner_free(struct sync_runner *r);

#endif
