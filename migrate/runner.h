/* The migration runner: on the leader only, it works through the running migration
 * batches (family migration_run) and moves their bills in from the data source.
 *
 * A batch runs in three phases, each recorded in replicated state as it goes, so a new
 * leader resumes where the last one stopped and nothing is done twice:
 *  1. listing: the source's bill list in the batch's time range, page by page
 *     (MigrationListed: the bills in scope join the batch, the cursor moves on);
 *  2. checking: each bill read from the source and checked (MigrationChecked: its
 *     manifest of files, sizes and hashes, or why it cannot come); at the end, the
 *     batch's bytes against the quota, before anything moves;
 *  3. moving: up to `lanes` bills at once, each read again, every file's content
 *     streamed into the blob store and verified against the hash the source gave (a
 *     content this archive holds already is not fetched: content addressing), copied
 *     to the write quorum, then the bill proposed whole (ImportBill) with its files,
 *     order, invoice data and history; a bill that cannot come is recorded failed with
 *     the reason (MigrationBillFailed).
 * Downloads share a byte budget (`bytes_per_s`), so captures keep their latency while a
 * migration runs. A source that does not answer backs the batch off (doubling, up to a
 * minute); after MIGRATE_TRANSIENT_MAX failures in a row on one bill it is recorded
 * failed, so a batch always ends.
 *
 * Loop thread only. */
#ifndef IMGARC_MIGRATE_RUNNER_H
#define IMGARC_MIGRATE_RUNNER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_client.h"
#include "replication/repl.h"

#define MIGRATE_LANES_DEFAULT 4
#define MIGRATE_TRANSIENT_MAX 6

struct migrate_config {
    uint64_t node_id;
    unsigned lanes;            /* bills moved at once (0: MIGRATE_LANES_DEFAULT) */
    uint64_t bytes_per_s;      /* download budget of all lanes together (0: none) */
    uint64_t file_bytes_max;   /* the largest file taken (--body-max) */
    struct http_client *http;  /* borrowed */
    struct outbound *guard;    /* borrowed */
    struct blob_path *blobs;   /* borrowed: where contents go */
    struct keeper *keeper;     /* borrowed; NULL: this node's copy only */
};

/* Counters for /metrics. */
struct migrate_stats {
    uint64_t bills_moved_total;
    uint64_t bills_failed_total;
    uint64_t files_fetched_total;
    uint64_t files_deduplicated_total;
    uint64_t bytes_fetched_total;
    uint64_t source_errors_total;
};

struct migrate_runner;

int migrate_runner_start(struct migrate_runner **out, uv_loop_t *loop,
                         const struct migrate_config *config, struct archive *archive,
                         struct repl *repl, struct base_err *err) WARN_UNUSED;
/* Stops looking at batches and cancels the downloads in flight; work in flight ends on
 * its own. */
void migrate_runner_stop(struct migrate_runner *r);
/* Frees the runner once the loop has run out (nothing may be in flight). */
void migrate_runner_free(struct migrate_runner *r);
const struct migrate_stats *migrate_runner_stats(const struct migrate_runner *r);

#endif
