/* The operations endpoints: version, health, readiness and metrics. Loop thread only.
 *
 * /metrics is a table of rows {name, type, help, getter}, written in its order: a row
 * with a getter is one sample; a row with a labelled writer is its samples, one per
 * label value. The state the getters read is taken once per scrape (struct scrape). */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "migrate/runner.h"
#include "net/http_tls.h"
#include "replication/repl.h"
#include "storage/rocks.h"
#include "version.h"

void api_handle_version(struct api_call *call)
{
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:s, s:o, s:s}", "version", IMGARC_VERSION, "git_commit",
                               IMGARC_GIT_COMMIT, "node_id",
                               api_node_id_json(call->api->config.node_id),
                               "build_time", __DATE__ " " __TIME__));
}

void api_handle_healthz(struct api_call *call)
{
    api_respond_json(call->api, call->req, 200, json_pack("{s:s}", "status", "ok"));
}

void api_handle_readyz(struct api_call *call)
{
    struct repl_status st;
    call->req->log_quiet = true; /* polled: its 503s at INFO would flood the log */
    repl_get_status(call->api->repl, &st);
    if (st.removed) {
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                          "this node was removed from the cluster");
        return;
    }
    if (st.catching_up) {
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                          "catching up: fetching the metadata store at index %llu or later "
                          "from another member (%llu entries spooled meanwhile%s%s)",
                          (unsigned long long)st.catchup_target,
                          (unsigned long long)st.catchup_spooled,
                          st.catchup_why[0] != '\0' ? "; last failure: " : "",
                          st.catchup_why);
        return;
    }
    if (st.leader_id != 0 && !archive_cluster_initialized(call->api->archive)) {
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                          "the cluster is being initialised (default tenant); retry shortly");
        return;
    }
    if (st.leader_id == 0) {
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                          "no raft leader known yet (raft state %s); wait for the election",
                          st.state);
        return;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:s, s:o}", "status", "ready", "raft_state", st.state,
                               "leader", api_node_id_json(st.leader_id)));
}

struct metrics {
    char *buf;
    size_t len;
    size_t cap;
};

static void append(struct metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void append(struct metrics *m, const char *fmt, ...)
{
    int n;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < m->cap - m->len) {
            break;
        }
        m->cap *= 2;
        m->buf = xrealloc(m->buf, m->cap);
    }
    m->len += (size_t)n;
}

/* What one scrape reads: the counters of the server, raft, the outbox and the keeper,
 * taken once before the rows are written. */
struct scrape {
    struct api *api;
    struct http_server_stats hs;
    struct repl_status rs;
    struct outbox_stats os; /* when api->config.outbox */
    struct recognizer_stats rg; /* when api->config.recognizer */
    struct keeper_stats ks; /* when api->config.keeper */
    struct migrate_stats mg; /* when api->migrator */
    struct rocks_memory rm;  /* where memory goes: RocksDB, the heap, the process */
    struct mallinfo2 heap;
    double rss_bytes;
    struct metrics *m;
};

/* Which rows a scrape writes: every node's, or only where the part they describe runs,
 * or only for a caller allowed to see the tenant-labelled series. */
enum metric_when { WHEN_ALWAYS, WHEN_OUTBOX, WHEN_KEEPER, WHEN_TENANTS, WHEN_RECOGNIZER,
                   WHEN_MIGRATOR, WHEN_TLS };

struct metric_row {
    const char *name;
    const char *type; /* "counter" or "gauge" */
    const char *help;
    double (*get)(const struct scrape *s);          /* one sample without labels, or */
    void (*labelled)(struct scrape *s, const char *name); /* the samples with labels */
    enum metric_when when;
};

struct tenant_metrics {
    struct metrics *m;
    struct api *api;
    uint64_t now_ms;
    bool usage; /* second pass: quota use */
};

/* One labelled sample per tenant: seconds to license expiry (negative once expired;
 * absent without a license), or the share of the byte quota in use. */
static void tenant_metric(const TenantRecord *t, void *arg)
{
    struct tenant_metrics *tm = arg;
    struct base_err err;
    UsageRecord *u;
    if (t->license == NULL) {
        return;
    }
    if (!tm->usage) {
        append(tm->m, "imgarc_license_expiry_seconds{tenant=\"%s\"} %.3f\n", t->id,
               ((double)t->license->expires_ms - (double)tm->now_ms) / 1000.0);
    } else {
        int rv = archive_get_usage(tm->api->archive, t->id, &u, &err);
        double used = rv == 0 ? (double)u->bytes : 0;
        if (rv == 0 || rv == BASE_ENOTFOUND) {
            append(tm->m, "imgarc_tenant_quota_used_ratio{tenant=\"%s\"} %.6f\n", t->id,
                   t->license->quota_bytes > 0 ? used / (double)t->license->quota_bytes : 1.0);
        }
        if (rv == 0) {
            archive_free_usage(u);
        }
    }
}

/* The resident set now, from /proc/self/statm (a procfs read: no disk). */
static double rss_bytes(void)
{
    unsigned long size, resident;
    FILE *f = fopen("/proc/self/statm", "r");
    int n = f != NULL ? fscanf(f, "%lu %lu", &size, &resident) : 0;
    if (f != NULL) {
        fclose(f);
    }
    return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double peak_rss_bytes(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0;
    }
    return (double)ru.ru_maxrss * 1024.0; /* Linux reports kilobytes */
}

/* Who may read the tenant-labelled series (license expiry, quota use: which tenants a
 * node serves and how they stand is nobody else's business): the operator token or the
 * --metrics-token-file token. No Authorization header: node series only; a wrong one:
 * 401, so that a misconfigured scraper is noticed. False after answering. */
static bool metrics_caller(struct api_call *call, bool *tenants)
{
    const char *h = http_request_header(call->req, "authorization");
    const char *mt = call->api->config.metrics_token;
    const char *why;
    *tenants = false;
    if (h == NULL) {
        return true;
    }
    if (strncasecmp(h, "Bearer ", 7) == 0 && mt != NULL && strlen(h + 7) == strlen(mt) &&
        sodium_memcmp(h + 7, mt, strlen(mt)) == 0) {
        *tenants = true;
        return true;
    }
    if (api_authenticate(call, &why) == API_OPERATOR) {
        *tenants = true;
        return true;
    }
    http_request_add_header(call->req, "WWW-Authenticate", "Bearer");
    api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                      "/metrics takes the operator token or the --metrics-token-file token "
                      "(or no Authorization header, for the node series only)");
    return false;
}


#define GETTER(fn, expr)                                                                 \
    static double fn(const struct scrape *s)                                             \
    {                                                                                    \
        return (double)(expr);                                                           \
    }

GETTER(http_requests_total, s->hs.requests_total)
GETTER(http_requests_in_flight, s->hs.requests_in_flight)
GETTER(http_connections_open, s->hs.connections_open)
GETTER(http_responses_4xx, s->hs.responses_4xx)
GETTER(http_responses_5xx, s->hs.responses_5xx)
GETTER(http_bytes_in, s->hs.bytes_in)
GETTER(http_bytes_out, s->hs.bytes_out)
GETTER(http_buffered_bytes, s->hs.buffered_bytes)
GETTER(http_bodies_refused_busy, s->hs.bodies_refused_busy)
GETTER(http_tls_failures, s->hs.tls_failures)
GETTER(tls_not_after, http_tls_not_after(s->api->config.tls))
GETTER(held_requests, s->api->held_requests)
GETTER(captures_total, s->api->captures_total)
GETTER(capture_bytes_total, s->api->capture_bytes_total)
GETTER(captures_failed, s->api->captures_failed)
GETTER(uploads_open, api_uploads_open(s->api, &(uint64_t){0}))
static double uploads_staged_bytes(const struct scrape *s)
{
    uint64_t bytes = 0;
    api_uploads_open(s->api, &bytes);
    return (double)bytes;
}
GETTER(downloads_total, s->api->blob_path.stats.downloads_total)
GETTER(download_bytes_total, s->api->blob_path.stats.download_bytes_total)
GETTER(sendfile_bytes_total, s->api->blob_path.stats.sendfile_bytes_total)
GETTER(loop_reads_total, s->api->blob_path.stats.loop_reads_total)
GETTER(corrupt_reads_total, s->api->blob_path.stats.corrupt_reads_total)
GETTER(group_commits_total, s->api->blob_path.stats.group_commits_total)
GETTER(group_commit_files_total, s->api->blob_path.stats.group_commit_files_total)
GETTER(peak_rss, peak_rss_bytes())
GETTER(rss, s->rss_bytes)
GETTER(heap_in_use, s->heap.uordblks + s->heap.hblkhd)
GETTER(heap_free, s->heap.fordblks)
GETTER(rocks_memtables, s->rm.memtables)
GETTER(rocks_memtable_budget, s->rm.memtable_budget)
GETTER(rocks_block_cache, s->rm.block_cache)
GETTER(rocks_block_cache_pinned, s->rm.block_cache_pinned)
GETTER(rocks_block_cache_budget, s->rm.block_cache_budget)
GETTER(rocks_table_readers, s->rm.table_readers)
GETTER(raft_log_entries, s->rs.log_entries)
GETTER(raft_log_bytes, s->rs.log_bytes)
GETTER(raft_snapshots, s->rs.snapshots_taken)
GETTER(catchup_active, s->rs.catching_up ? 1 : 0)
GETTER(catchup_spooled, s->rs.catchup_spooled)
GETTER(catchups_total, s->rs.catchups_total)
GETTER(raft_snapshot_bytes, s->rs.snapshot_bytes)
GETTER(snapshot_sends_total, s->rs.snapshot_sends_total)
GETTER(snapshot_sends_failed, s->rs.snapshot_sends_failed)
GETTER(snapshot_send_bytes, s->rs.snapshot_send_bytes)
GETTER(snapshot_fetches_total, s->rs.snapshot_fetches_total)
GETTER(snapshot_fetch_failures, s->rs.snapshot_fetch_failures)
GETTER(snapshot_fetch_bytes, s->rs.snapshot_fetch_bytes)
GETTER(raft_term, s->rs.term)
GETTER(raft_last_index, s->rs.last_index)
GETTER(raft_commit_index, s->rs.commit_index)
GETTER(raft_applied_index, s->rs.applied_index)
GETTER(raft_is_leader, repl_is_leader(s->api->repl) ? 1 : 0)
GETTER(raft_leader_changes, s->rs.leader_changes)
GETTER(cluster_members, s->rs.members)
GETTER(cluster_members_down, s->rs.members_down)
GETTER(raft_forwards_total, s->rs.forwards_total)
GETTER(raft_forwards_failed, s->rs.forwards_failed)
GETTER(raft_commit_notices, s->rs.commit_notices)
GETTER(raft_proposals_total, s->rs.proposals_total)
GETTER(raft_proposals_failed, s->rs.proposals_failed)
GETTER(raft_entries_proposed, s->rs.entries_proposed)
GETTER(raft_proposals_requeued, s->rs.proposals_requeued)
GETTER(raft_peer_open, s->rs.raft_open)
GETTER(raft_dial_failed, s->rs.raft_dial_failed)
GETTER(webhook_attempts_ok, s->os.attempts_ok)
GETTER(webhook_attempts_failed, s->os.attempts_failed)
GETTER(webhook_given_up, s->os.given_up)
GETTER(webhook_in_flight, s->os.in_flight)
GETTER(outbox_pending, repl_is_leader(s->api->repl) ? s->os.pending : 0)
GETTER(license_warnings, s->os.license_warnings)
GETTER(recognition_pending, repl_is_leader(s->api->repl) ? s->rg.pending : 0)
GETTER(recognition_configured, s->rg.configured ? 1 : 0)
GETTER(recognition_attempts_ok, s->rg.attempts_ok)
GETTER(recognition_attempts_failed, s->rg.attempts_failed)
GETTER(recognition_failed, s->rg.failed)
GETTER(recognition_in_flight, s->rg.in_flight)
GETTER(migration_bills_moved, s->mg.bills_moved_total)
GETTER(migration_bills_failed, s->mg.bills_failed_total)
GETTER(migration_files_fetched, s->mg.files_fetched_total)
GETTER(migration_files_deduplicated, s->mg.files_deduplicated_total)
GETTER(migration_bytes_fetched, s->mg.bytes_fetched_total)
GETTER(migration_source_errors, s->mg.source_errors_total)
GETTER(blobs_under_replicated, s->ks.under_replicated)
GETTER(blobs_lost, s->ks.lost)
GETTER(disk_full, s->api->blob_path.space.full ? 1.0 : 0.0)
GETTER(disk_full_refused, s->api->blob_path.space.refused_total)
GETTER(data_free_bytes, s->ks.free_bytes)
GETTER(data_capacity_bytes, s->api->blob_path.space.total_bytes)
GETTER(blobs_on_draining, s->ks.on_draining)
GETTER(replica_pushes, s->ks.pushes)
GETTER(replica_pushes_failed, s->ks.pushes_failed)
GETTER(replica_pushes_late, s->ks.pushes_late)
GETTER(replicas_received, s->api->blob_path.stats.replicas_received_total)
GETTER(repair_copies, s->ks.repair_copies)
GETTER(repair_bytes, s->ks.repair_bytes)
GETTER(repair_failed, s->ks.repair_failed)
GETTER(copies_refused_full, s->ks.refused_full)
GETTER(holders_dropped, s->ks.holders_dropped)
GETTER(keeper_passes, s->ks.passes)
GETTER(keeper_last_pass, (double)s->ks.last_pass_ms / 1000.0)
GETTER(keeper_full_passes, s->ks.full_passes)
GETTER(keeper_last_pass_records, s->ks.last_pass_records)
GETTER(keeper_last_pass_full, s->ks.last_pass_full ? 1.0 : 0.0)
GETTER(scrub_bytes, s->ks.scrub_bytes)
GETTER(scrub_blobs, s->ks.scrub_blobs)
GETTER(scrub_corrupt, s->ks.scrub_corrupt)
GETTER(scrub_cycles, s->ks.scrub_cycles)
GETTER(gc_deleted, s->ks.gc_deleted)
GETTER(gc_purged, s->ks.gc_purged)
GETTER(blob_bytes, blob_store_bytes(s->api->blobs))
GETTER(blob_count, blob_store_count(s->api->blobs))

#undef GETTER

static void raft_connections(struct scrape *s, const char *name)
{
    append(s->m, "%s{direction=\"inbound\"} %llu\n%s{direction=\"outbound\"} %llu\n", name,
           (unsigned long long)s->rs.raft_inbound, name,
           (unsigned long long)s->rs.raft_outbound);
}

static void raft_refused(struct scrape *s, const char *name)
{
    for (int i = 1; i < HANDSHAKE_R_COUNT; i++) {
        if (i != HANDSHAKE_R_PEER_CLOSED) {
            append(s->m, "%s{reason=\"%s\"} %llu\n", name, handshake_refusal_name(i),
                   (unsigned long long)s->rs.raft_refused[i]);
        }
    }
}

static void raft_sealed_bytes(struct scrape *s, const char *name)
{
    append(s->m, "%s{direction=\"sent\"} %llu\n%s{direction=\"received\"} %llu\n", name,
           (unsigned long long)s->rs.raft_bytes_sent, name,
           (unsigned long long)s->rs.raft_bytes_received);
}

static void clock_offset_metric(const char *peer, int64_t offset_ms, void *arg)
{
    append(arg, "imgarc_peer_clock_offset_seconds{peer=\"%s\"} %.3f\n", peer,
           (double)offset_ms / 1000.0);
}

static void peer_clock_offsets(struct scrape *s, const char *name)
{
    (void)name;
    if (s->api->config.auth != NULL) {
        peer_clock_each(s->api->config.auth->clock, clock_offset_metric, s->m);
    }
}


static void tenants_each(struct scrape *s, bool usage)
{
    struct tenant_metrics tm = {.m = s->m, .api = s->api, .now_ms = clock_wall_ms(),
                                .usage = usage};
    struct base_err err;
    if (archive_list_tenants(s->api->archive, tenant_metric, &tm, &err) != 0) {
        LOG_WARN("metrics", "tenants: %s", err.msg);
    }
}

static void license_expiry(struct scrape *s, const char *name)
{
    (void)name;
    tenants_each(s, false);
}

static void quota_used(struct scrape *s, const char *name)
{
    (void)name;
    tenants_each(s, true);
}

/* The series of /metrics, in the order they are written. */
static const struct metric_row rows[] = {
    {"imgarc_http_requests_total", "counter",
     "HTTP requests received",
     http_requests_total, NULL, WHEN_ALWAYS},
    {"imgarc_http_requests_in_flight", "gauge",
     "HTTP requests being handled",
     http_requests_in_flight, NULL, WHEN_ALWAYS},
    {"imgarc_http_connections_open", "gauge",
     "open client connections",
     http_connections_open, NULL, WHEN_ALWAYS},
    {"imgarc_http_responses_4xx_total", "counter",
     "responses with a 4xx status",
     http_responses_4xx, NULL, WHEN_ALWAYS},
    {"imgarc_http_responses_5xx_total", "counter",
     "responses with a 5xx status",
     http_responses_5xx, NULL, WHEN_ALWAYS},
    {"imgarc_http_bytes_in_total", "counter",
     "bytes received",
     http_bytes_in, NULL, WHEN_ALWAYS},
    {"imgarc_http_bytes_out_total", "counter",
     "bytes sent",
     http_bytes_out, NULL, WHEN_ALWAYS},
    {"imgarc_http_buffered_bytes", "gauge",
     "bytes of request bodies held in memory (--buffered-bytes-max)",
     http_buffered_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_http_bodies_refused_busy_total", "counter",
     "requests refused 503 because --buffered-bytes-max was reached",
     http_bodies_refused_busy, NULL, WHEN_ALWAYS},
    {"imgarc_http_tls_failures_total", "counter",
     "TLS connections closed on a failed handshake or a bad record (untrusted or "
     "certificate-less clients, plain HTTP to the TLS port, scanners)",
     http_tls_failures, NULL, WHEN_ALWAYS},
    {"imgarc_tls_certificate_expiry_timestamp_seconds", "gauge",
     "when the HTTP port's certificate expires (Unix seconds; reloaded with it on SIGHUP); "
     "only with --tls-cert",
     tls_not_after, NULL, WHEN_TLS},
    {"imgarc_http_requests_waiting_for_index", "gauge",
     "requests held for X-Imgarc-Min-Index or ?consistent=true",
     held_requests, NULL, WHEN_ALWAYS},
    {"imgarc_captures_total", "counter",
     "files captured",
     captures_total, NULL, WHEN_ALWAYS},
    {"imgarc_capture_bytes_total", "counter",
     "bytes captured",
     capture_bytes_total, NULL, WHEN_ALWAYS},
    {"imgarc_captures_failed_total", "counter",
     "captures that failed",
     captures_failed, NULL, WHEN_ALWAYS},
    {"imgarc_uploads_open", "gauge",
     "resumable uploads on this node not captured yet",
     uploads_open, NULL, WHEN_ALWAYS},
    {"imgarc_upload_staged_bytes", "gauge",
     "bytes the unfinished resumable uploads on this node hold (DATA/uploads)",
     uploads_staged_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_downloads_total", "counter",
     "file contents served",
     downloads_total, NULL, WHEN_ALWAYS},
    {"imgarc_download_bytes_total", "counter",
     "content bytes served",
     download_bytes_total, NULL, WHEN_ALWAYS},
    {"imgarc_download_sendfile_bytes_total", "counter",
     "of those, bytes of copies verified recently sent by sendfile without a new check",
     sendfile_bytes_total, NULL, WHEN_ALWAYS},
    {"imgarc_download_loop_reads_total", "counter",
     "reads of a copy verified recently, open and in the page cache, sent on the event loop "
     "without a trip to the thread pool",
     loop_reads_total, NULL, WHEN_ALWAYS},
    {"imgarc_corrupt_reads_total", "counter",
     "reads that found content not matching its hash",
     corrupt_reads_total, NULL, WHEN_ALWAYS},
    {"imgarc_group_commits_total", "counter",
     "blob group commits (syncs)",
     group_commits_total, NULL, WHEN_ALWAYS},
    {"imgarc_group_commit_files_total", "counter",
     "blobs made durable by group commits",
     group_commit_files_total, NULL, WHEN_ALWAYS},
    {"imgarc_process_peak_rss_bytes", "gauge",
     "largest resident set size of the process so far",
     peak_rss, NULL, WHEN_ALWAYS},
    {"imgarc_process_rss_bytes", "gauge",
     "resident set size of the process now",
     rss, NULL, WHEN_ALWAYS},
    {"imgarc_memory_heap_in_use_bytes", "gauge",
     "bytes allocated with malloc and not freed (mallinfo2; imgarcd runs one arena for "
     "every thread; 0 under a sanitizer's allocator)",
     heap_in_use, NULL, WHEN_ALWAYS},
    {"imgarc_memory_heap_free_bytes", "gauge",
     "bytes malloc holds free for reuse, not returned to the system",
     heap_free, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_memtables_bytes", "gauge",
     "RocksDB memtables, active and immutable, every column family",
     rocks_memtables, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_memtables_budget_bytes", "gauge",
     "the memtable ceiling RocksDB is configured with",
     rocks_memtable_budget, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_block_cache_bytes", "gauge",
     "RocksDB block cache in use",
     rocks_block_cache, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_block_cache_pinned_bytes", "gauge",
     "RocksDB block cache pinned by readers",
     rocks_block_cache_pinned, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_block_cache_budget_bytes", "gauge",
     "the block cache capacity",
     rocks_block_cache_budget, NULL, WHEN_ALWAYS},
    {"imgarc_memory_rocksdb_table_readers_bytes", "gauge",
     "RocksDB index and filter blocks of open tables (outside the block cache)",
     rocks_table_readers, NULL, WHEN_ALWAYS},
    {"imgarc_memory_raft_log_bytes", "gauge",
     "bytes of the raft entries held in memory (--snapshot-threshold-bytes and "
     "--snapshot-trailing-bytes bound it)",
     raft_log_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_raft_log_entries", "gauge",
     "raft entries held in memory",
     raft_log_entries, NULL, WHEN_ALWAYS},
    {"imgarc_raft_snapshots_total", "counter",
     "raft snapshots this node took since it started",
     raft_snapshots, NULL, WHEN_ALWAYS},
    {"imgarc_raft_snapshot_bytes", "gauge",
     "size of the last raft snapshot this node took (a descriptor of a few dozen bytes "
     "in the store format, the whole store inline: docs/snapshots.md)",
     raft_snapshot_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_sends_total", "counter",
     "whole-store snapshot streams this node began sending to another node",
     snapshot_sends_total, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_sends_failed_total", "counter",
     "snapshot streams that did not reach their end (the receiver went away, a read failed)",
     snapshot_sends_failed, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_send_bytes_total", "counter",
     "bytes of snapshot streams sent",
     snapshot_send_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_fetches_total", "counter",
     "whole-store fetches from other members this node started",
     snapshot_fetches_total, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_fetch_failures_total", "counter",
     "whole-store fetches that ended without a verified staged store (every member failed)",
     snapshot_fetch_failures, NULL, WHEN_ALWAYS},
    {"imgarc_snapshot_fetch_bytes_total", "counter",
     "bytes of snapshot streams received",
     snapshot_fetch_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_catchup_active", "gauge",
     "1 while this node catches up: it fetches the metadata store from another member "
     "and refuses requests",
     catchup_active, NULL, WHEN_ALWAYS},
    {"imgarc_catchup_spooled_entries", "gauge",
     "raft entries spooled while catching up, applied once the fetched store is in",
     catchup_spooled, NULL, WHEN_ALWAYS},
    {"imgarc_catchups_total", "counter",
     "catch-ups finished: a fetched store swapped in",
     catchups_total, NULL, WHEN_ALWAYS},
    {"imgarc_raft_term", "gauge",
     "current raft term",
     raft_term, NULL, WHEN_ALWAYS},
    {"imgarc_raft_last_index", "gauge",
     "last raft log index",
     raft_last_index, NULL, WHEN_ALWAYS},
    {"imgarc_raft_commit_index", "gauge",
     "raft commit index",
     raft_commit_index, NULL, WHEN_ALWAYS},
    {"imgarc_raft_applied_index", "gauge",
     "index applied to the archive",
     raft_applied_index, NULL, WHEN_ALWAYS},
    {"imgarc_raft_is_leader", "gauge",
     "1 when this node is the raft leader",
     raft_is_leader, NULL, WHEN_ALWAYS},
    {"imgarc_cluster_members", "gauge",
     "members of the raft configuration, on the leader (0 on the other nodes)",
     cluster_members, NULL, WHEN_ALWAYS},
    {"imgarc_cluster_members_down", "gauge",
     "members that stopped answering the leader's status calls, on the leader (0 on the "
     "other nodes): alert on the cluster's max",
     cluster_members_down, NULL, WHEN_ALWAYS},
    {"imgarc_raft_leader_changes_total", "counter",
     "times this node saw the leader change to another node",
     raft_leader_changes, NULL, WHEN_ALWAYS},
    {"imgarc_raft_forwards_total", "counter",
     "proposals forwarded to the leader",
     raft_forwards_total, NULL, WHEN_ALWAYS},
    {"imgarc_raft_forwards_failed_total", "counter",
     "forwarded proposals whose outcome the leader did not confirm",
     raft_forwards_failed, NULL, WHEN_ALWAYS},
    {"imgarc_raft_commit_notices_total", "counter",
     "raft barriers the leader appended so followers learn a commit they wait for at once",
     raft_commit_notices, NULL, WHEN_ALWAYS},
    {"imgarc_raft_proposals_total", "counter",
     "commands proposed",
     raft_proposals_total, NULL, WHEN_ALWAYS},
    {"imgarc_raft_proposals_failed_total", "counter",
     "proposals that did not apply",
     raft_proposals_failed, NULL, WHEN_ALWAYS},
    {"imgarc_raft_entries_proposed_total", "counter",
     "raft entries this node proposed as leader (pool pushes, captures and submits "
     "proposed together share one: proposals per entry is the batching)",
     raft_entries_proposed, NULL, WHEN_ALWAYS},
    {"imgarc_raft_proposals_requeued_total", "counter",
     "proposals proposed again in an entry of their own (a shared entry had no webhook "
     "delivery ids left for them)",
     raft_proposals_requeued, NULL, WHEN_ALWAYS},
    {"imgarc_raft_peer_connections_total", "counter",
     "raft connections authenticated",
     NULL, raft_connections, WHEN_ALWAYS},
    {"imgarc_raft_peer_connections_open", "gauge",
     "authenticated raft connections open now",
     raft_peer_open, NULL, WHEN_ALWAYS},
    {"imgarc_raft_dial_failures_total", "counter",
     "raft connections this node dialled that failed or were refused",
     raft_dial_failed, NULL, WHEN_ALWAYS},
    {"imgarc_raft_refused_total", "counter",
     "inbound raft connections closed, by reason",
     NULL, raft_refused, WHEN_ALWAYS},
    {"imgarc_raft_sealed_bytes_total", "counter",
     "raft bytes carried in sealed frames",
     NULL, raft_sealed_bytes, WHEN_ALWAYS},
    {"imgarc_peer_clock_offset_seconds", "gauge",
     "how far each node this node calls is ahead of its wall clock (negative: behind), learned "
     "from its signed answers; node-to-node calls adjust for it",
     NULL, peer_clock_offsets, WHEN_ALWAYS},
    {"imgarc_webhook_attempts_ok_total", "counter",
     "webhook delivery attempts answered with a 2xx (on this node as leader)",
     webhook_attempts_ok, NULL, WHEN_OUTBOX},
    {"imgarc_webhook_attempts_failed_total", "counter",
     "webhook delivery attempts that failed (to be retried or given up)",
     webhook_attempts_failed, NULL, WHEN_OUTBOX},
    {"imgarc_webhook_deliveries_failed_total", "counter",
     "webhook deliveries given up after their last attempt",
     webhook_given_up, NULL, WHEN_OUTBOX},
    {"imgarc_webhook_attempts_in_flight", "gauge",
     "webhook delivery attempts in flight",
     webhook_in_flight, NULL, WHEN_OUTBOX},
    {"imgarc_outbox_pending", "gauge",
     "deliveries waiting in the outbox at the leader's last look (0 on followers)",
     outbox_pending, NULL, WHEN_OUTBOX},
    {"imgarc_license_warnings_total", "counter",
     "license expiry warnings announced (30, 7, 1 days, expired)",
     license_warnings, NULL, WHEN_OUTBOX},
    {"imgarc_recognition_pending", "gauge",
     "files waiting for the recognition service at the leader's last look (0 on followers; "
     "a leader without --recognition-url counts them too and sends nothing)",
     recognition_pending, NULL, WHEN_RECOGNIZER},
    {"imgarc_recognition_configured", "gauge",
     "1 when this node has --recognition-url (every node should)",
     recognition_configured, NULL, WHEN_RECOGNIZER},
    {"imgarc_recognition_attempts_ok_total", "counter",
     "recognition attempts answered with usable invoice data (on this node as leader)",
     recognition_attempts_ok, NULL, WHEN_RECOGNIZER},
    {"imgarc_recognition_attempts_failed_total", "counter",
     "recognition attempts that failed (to be retried or given up)",
     recognition_attempts_failed, NULL, WHEN_RECOGNIZER},
    {"imgarc_recognition_failed_total", "counter",
     "files whose recognition failed (a 4xx, an unusable answer, or the last attempt)",
     recognition_failed, NULL, WHEN_RECOGNIZER},
    {"imgarc_recognition_attempts_in_flight", "gauge",
     "recognition attempts in flight",
     recognition_in_flight, NULL, WHEN_RECOGNIZER},
    {"imgarc_migration_bills_moved_total", "counter",
     "bills a migration batch moved in (on this node as leader; docs/migration.md)",
     migration_bills_moved, NULL, WHEN_MIGRATOR},
    {"imgarc_migration_bills_failed_total", "counter",
     "bills a migration batch recorded failed (checked or moving)",
     migration_bills_failed, NULL, WHEN_MIGRATOR},
    {"imgarc_migration_files_fetched_total", "counter",
     "file contents fetched from data sources and stored",
     migration_files_fetched, NULL, WHEN_MIGRATOR},
    {"imgarc_migration_files_deduplicated_total", "counter",
     "files of migrated bills whose content this archive held already (nothing fetched)",
     migration_files_deduplicated, NULL, WHEN_MIGRATOR},
    {"imgarc_migration_bytes_fetched_total", "counter",
     "bytes fetched from data sources",
     migration_bytes_fetched, NULL, WHEN_MIGRATOR},
    {"imgarc_migration_source_errors_total", "counter",
     "calls to data sources that failed for a reason that may pass (each backs its batch off)",
     migration_source_errors, NULL, WHEN_MIGRATOR},
    {"imgarc_blobs_under_replicated", "gauge",
     "referenced blobs with fewer live copies than wanted (last pass; on the leader a copy "
     "on a member that is down does not count)",
     blobs_under_replicated, NULL, WHEN_KEEPER},
    {"imgarc_blobs_lost", "gauge",
     "referenced blobs without any live copy (last pass)",
     blobs_lost, NULL, WHEN_KEEPER},
    {"imgarc_disk_full", "gauge",
     "1 while this node refuses new files and copies: its data dir's file system is below "
     "--min-free-mb or a write found no space left",
     disk_full, NULL, WHEN_KEEPER},
    {"imgarc_disk_full_refused_total", "counter",
     "captures and pushed copies this node refused (507) because its disk was full",
     disk_full_refused, NULL, WHEN_KEEPER},
    {"imgarc_data_free_bytes", "gauge",
     "free space of the data dir's file system (at the keeper's last pass)",
     data_free_bytes, NULL, WHEN_KEEPER},
    {"imgarc_data_capacity_bytes", "gauge",
     "size of the data dir's file system (0 until first measured)",
     data_capacity_bytes, NULL, WHEN_KEEPER},
    {"imgarc_blobs_on_draining_nodes", "gauge",
     "referenced blobs with a copy still on a draining node (last pass)",
     blobs_on_draining, NULL, WHEN_KEEPER},
    {"imgarc_replica_pushes_total", "counter",
     "capture copies this node made on other nodes",
     replica_pushes, NULL, WHEN_KEEPER},
    {"imgarc_replica_pushes_failed_total", "counter",
     "capture copies to other nodes that failed",
     replica_pushes_failed, NULL, WHEN_KEEPER},
    {"imgarc_replica_pushes_late_total", "counter",
     "capture copies that succeeded after their capture was acknowledged (recorded as holders "
     "then)",
     replica_pushes_late, NULL, WHEN_KEEPER},
    {"imgarc_replicas_received_total", "counter",
     "copies other nodes pushed to this node",
     replicas_received, NULL, WHEN_KEEPER},
    {"imgarc_repair_copies_total", "counter",
     "copies made by repair, rebalancing and draining from this node",
     repair_copies, NULL, WHEN_KEEPER},
    {"imgarc_repair_bytes_total", "counter",
     "bytes sent by those copies",
     repair_bytes, NULL, WHEN_KEEPER},
    {"imgarc_repair_failed_total", "counter",
     "repair copies that failed (retried by the next pass)",
     repair_failed, NULL, WHEN_KEEPER},
    {"imgarc_copies_refused_disk_full_total", "counter",
     "copies to other nodes they refused because their disk was full (507); repairs to such a "
     "node pause, doubling from 1 s to 60 s",
     copies_refused_full, NULL, WHEN_KEEPER},
    {"imgarc_holders_dropped_total", "counter",
     "copies no longer wanted taken out of the records by this node",
     holders_dropped, NULL, WHEN_KEEPER},
    {"imgarc_keeper_passes_total", "counter",
     "passes over the blob records",
     keeper_passes, NULL, WHEN_KEEPER},
    {"imgarc_keeper_last_pass_seconds", "gauge",
     "duration of the last pass",
     keeper_last_pass, NULL, WHEN_KEEPER},
    {"imgarc_keeper_full_passes_total", "counter",
     "passes that read every blob record (the first, one every 6 h, and one after the "
     "placement's choice of nodes changed); the others read what the blob index names",
     keeper_full_passes, NULL, WHEN_KEEPER},
    {"imgarc_keeper_last_pass_records", "gauge",
     "blob records the last pass read",
     keeper_last_pass_records, NULL, WHEN_KEEPER},
    {"imgarc_keeper_last_pass_full", "gauge",
     "1 when the last pass read every blob record",
     keeper_last_pass_full, NULL, WHEN_KEEPER},
    {"imgarc_scrub_bytes_total", "counter",
     "bytes re-hashed by the scrubber",
     scrub_bytes, NULL, WHEN_KEEPER},
    {"imgarc_scrub_blobs_total", "counter",
     "blobs re-hashed by the scrubber",
     scrub_blobs, NULL, WHEN_KEEPER},
    {"imgarc_scrub_corrupt_total", "counter",
     "corrupt copies found (and quarantined) on this node",
     scrub_corrupt, NULL, WHEN_KEEPER},
    {"imgarc_scrub_cycles_total", "counter",
     "full scrubs of this node",
     scrub_cycles, NULL, WHEN_KEEPER},
    {"imgarc_gc_blobs_deleted_total", "counter",
     "local copies deleted (unreferenced or no longer wanted here)",
     gc_deleted, NULL, WHEN_KEEPER},
    {"imgarc_gc_records_purged_total", "counter",
     "unreferenced blob records purged by this node's proposals",
     gc_purged, NULL, WHEN_KEEPER},
    {"imgarc_blob_bytes", "gauge",
     "bytes of the blobs stored on this node",
     blob_bytes, NULL, WHEN_ALWAYS},
    {"imgarc_blobs_stored", "gauge",
     "blobs stored on this node",
     blob_count, NULL, WHEN_ALWAYS},
    {"imgarc_license_expiry_seconds", "gauge",
     "seconds until the tenant's license expires (alert at 30, 7 and 1 days)",
     NULL, license_expiry, WHEN_TENANTS},
    {"imgarc_tenant_quota_used_ratio", "gauge",
     "share of the licensed bytes in use (warn at 0.8 and 0.95)",
     NULL, quota_used, WHEN_TENANTS},
};

static bool row_wanted(const struct scrape *s, const struct metric_row *row, bool tenants)
{
    switch (row->when) {
    case WHEN_ALWAYS: return true;
    case WHEN_OUTBOX: return s->api->config.outbox != NULL;
    case WHEN_KEEPER: return s->api->config.keeper != NULL;
    case WHEN_TENANTS: return tenants;
    case WHEN_RECOGNIZER: return s->api->config.recognizer != NULL;
    case WHEN_MIGRATOR: return s->api->migrator != NULL;
    case WHEN_TLS: return s->api->config.tls != NULL && http_tls_not_after(s->api->config.tls) > 0;
    }
    return false;
}

void api_handle_metrics(struct api_call *call)
{
    struct api *api = call->api;
    struct metrics m;
    struct scrape s = {.api = api, .m = &m};
    bool tenants;
    if (!metrics_caller(call, &tenants)) {
        return;
    }
    m = (struct metrics){.buf = xmalloc(4096), .cap = 4096};
    http_server_get_stats(api->http, &s.hs);
    repl_get_status(api->repl, &s.rs);
    rocks_get_memory(api->archive->db, &s.rm);
    s.heap = mallinfo2();
    s.rss_bytes = rss_bytes();
    if (api->config.outbox != NULL) {
        outbox_get_stats(api->config.outbox, &s.os);
    }
    if (api->config.keeper != NULL) {
        keeper_get_stats(api->config.keeper, &s.ks);
    }
    if (api->config.recognizer != NULL) {
        recognizer_get_stats(api->config.recognizer, &s.rg);
    }
    if (api->migrator != NULL) {
        s.mg = *migrate_runner_stats(api->migrator);
    }
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct metric_row *row = &rows[i];
        if (!row_wanted(&s, row, tenants)) {
            continue;
        }
        ASSERT((row->get == NULL) != (row->labelled == NULL));
        append(&m, "# HELP %s %s\n# TYPE %s %s\n", row->name, row->help, row->name, row->type);
        if (row->get != NULL) {
            append(&m, "%s %.17g\n", row->name, row->get(&s));
        } else {
            row->labelled(&s, row->name);
        }
    }
    http_respond(call->req, 200, "text/plain; version=0.0.4", m.buf, m.len);
    free(m.buf);
}
