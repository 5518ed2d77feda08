/* Starting and stopping the API, and the operations endpoints: version, health,
 * readiness and metrics. */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/repl.h"
#include "version.h"

void api_route(struct api *api, struct http_request *req);

static void on_request(struct http_request *req)
{
    struct api *api = http_request_server_data(req);
    if (api->stopping) {
        api_respond_error(api, req, 503, API_E_UNAVAILABLE, "the node is shutting down");
        return;
    }
    api_route(api, req);
}


static void init_proposed(struct repl_propose *prop, int status,
                          const struct archive_result *res)
{
    struct api *api = prop->data;
    api->init_in_flight = false;
    if (status != 0 && status != BASE_ESHUTDOWN) {
        LOG_WARN("api", "initialising the cluster: %s; trying again", base_strerror(status));
    } else if (status == 0 && res->status != ARCHIVE_OK) {
        LOG_ERROR("api", "initialising the cluster refused: %s", res->message);
    }
    if (api->stopping) {
        api_maybe_free(api);
    }
}

/* A new cluster's first leader records the cluster's creation and the default tenant
 * with its evaluation license (the InitCluster command; a no-op when applied twice). */
static void init_tick(uv_timer_t *timer)
{
    struct api *api = timer->data;
    Command cmd = COMMAND__INIT;
    InitCluster ic = INIT_CLUSTER__INIT;
    uint8_t key[32];
    if (archive_cluster_initialized(api->archive)) {
        uv_timer_stop(timer);
        return;
    }
    if (api->init_in_flight || !repl_is_leader(api->repl)) {
        return;
    }
    repl_stamp_node_command(&cmd, "init-cluster");
    randombytes_buf(key, sizeof key);
    ic.token_key.data = key;
    ic.token_key.len = sizeof key;
    cmd.body_case = COMMAND__BODY_INIT_CLUSTER;
    cmd.init_cluster = &ic;
    api->init_prop.data = api;
    if (repl_propose(api->repl, &api->init_prop, &cmd, init_proposed) == 0) {
        api->init_in_flight = true;
    }
    sodium_memzero(key, sizeof key);
}

int api_start(struct api **out, uv_loop_t *loop, const struct api_config *config,
              struct archive *archive, struct repl *repl, struct blob_store *blobs,
              struct base_err *err)
{
    struct api *api = xcalloc(1, sizeof *api);
    struct http_server_config hc = {
        .host = config->listen_host,
        .port = config->listen_port,
        .header_bytes_max = config->header_bytes_max,
        .body_bytes_max = config->body_bytes_max,
        .idle_timeout_ms = config->idle_timeout_ms,
        .header_timeout_ms = config->header_timeout_ms,
        .body_timeout_ms = config->body_timeout_ms,
        .buffered_bytes_max = config->buffered_bytes_max,
        .connections_max = config->connections_max,
        .request_cb = on_request,
        .answer_cb = api_add_common_headers,
        .data = api,
    };
    char msg[256] = "";
    int rv;
    api->loop = loop;
    api->config = *config;
    api->archive = archive;
    api->repl = repl;
    api->blobs = blobs;
    api->durable = durable_new(api);
    rv = http_server_start(&api->http, loop, &hc, msg, sizeof msg);
    if (rv != 0) {
        base_err_set(err, "listen on %s:%d: %s", config->listen_host, config->listen_port, msg);
        durable_free(api->durable);
        free(api);
        return rv;
    }
    uv_timer_init(loop, &api->init_timer);
    api->init_timer.data = api;
    uv_timer_start(&api->init_timer, init_tick, 0, 100);
    api_space_start(api);
    *out = api;
    return 0;
}

int api_port(const struct api *api)
{
    return http_server_port(api->http);
}

void api_maybe_free(struct api *api)
{
    void (*cb)(void *) = api->stop_cb;
    void *arg = api->stop_arg;
    if (!api->http_stopped || !api->timer_closed || api->init_in_flight ||
        !api_space_idle(api)) {
        return;
    }
    durable_free(api->durable);
    free(api);
    if (cb != NULL) {
        cb(arg);
    }
}

static void http_stopped(struct http_server *server)
{
    struct api *api = http_server_data(server);
    api->http_stopped = true;
    api_maybe_free(api);
}

static void timer_closed(uv_handle_t *h)
{
    struct api *api = h->data;
    api->timer_closed = true;
    api_maybe_free(api);
}

void api_stop(struct api *api, uint64_t grace_ms, void (*cb)(void *arg), void *arg)
{
    api->stopping = true;
    api->stop_cb = cb;
    api->stop_arg = arg;
    uv_close((uv_handle_t *)&api->init_timer, timer_closed);
    api_space_stop(api);
    http_server_stop(api->http, grace_ms, http_stopped);
}

void api_handle_version(struct api_call *call)
{
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:s, s:I, s:s}", "version", IMGARC_VERSION, "git_commit",
                               IMGARC_GIT_COMMIT, "node_id", (json_int_t)call->api->config.node_id,
                               "build_time", __DATE__ " " __TIME__));
}

void api_handle_healthz(struct api_call *call)
{
    api_respond_json(call->api, call->req, 200, json_pack("{s:s}", "status", "ok"));
}

void api_handle_readyz(struct api_call *call)
{
    struct repl_status st;
    repl_get_status(call->api->repl, &st);
    if (st.removed) {
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                          "this node was removed from the cluster");
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
                     json_pack("{s:s, s:s, s:I}", "status", "ready", "raft_state", st.state,
                               "leader", (json_int_t)st.leader_id));
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

static void metric(struct metrics *m, const char *name, const char *type, const char *help,
                   double value)
{
    append(m, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

static void clock_offset_metric(const char *peer, int64_t offset_ms, void *arg)
{
    append(arg, "imgarc_peer_clock_offset_seconds{peer=\"%s\"} %.3f\n", peer,
           (double)offset_ms / 1000.0);
}

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

static void tenant_metrics(struct metrics *m, struct api *api)
{
    struct tenant_metrics tm = {.m = m, .api = api, .now_ms = clock_wall_ms()};
    struct base_err err;
    append(m, "# HELP imgarc_license_expiry_seconds seconds until the tenant's license "
              "expires (alert at 30, 7 and 1 days)\n# TYPE imgarc_license_expiry_seconds "
              "gauge\n");
    if (archive_list_tenants(api->archive, tenant_metric, &tm, &err) != 0) {
        LOG_WARN("metrics", "tenants: %s", err.msg);
    }
    append(m, "# HELP imgarc_tenant_quota_used_ratio share of the licensed bytes in use "
              "(warn at 0.8 and 0.95)\n# TYPE imgarc_tenant_quota_used_ratio gauge\n");
    tm.usage = true;
    if (archive_list_tenants(api->archive, tenant_metric, &tm, &err) != 0) {
        LOG_WARN("metrics", "tenants: %s", err.msg);
    }
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

void api_handle_metrics(struct api_call *call)
{
    struct api *api = call->api;
    struct metrics m;
    struct http_server_stats hs;
    struct repl_status rs;
    bool tenants;
    if (!metrics_caller(call, &tenants)) {
        return;
    }
    m = (struct metrics){.buf = xmalloc(4096), .cap = 4096};
    http_server_get_stats(api->http, &hs);
    repl_get_status(api->repl, &rs);
    metric(&m, "imgarc_http_requests_total", "counter", "HTTP requests received",
           (double)hs.requests_total);
    metric(&m, "imgarc_http_requests_in_flight", "gauge", "HTTP requests being handled",
           (double)hs.requests_in_flight);
    metric(&m, "imgarc_http_connections_open", "gauge", "open client connections",
           (double)hs.connections_open);
    metric(&m, "imgarc_http_responses_4xx_total", "counter", "responses with a 4xx status",
           (double)hs.responses_4xx);
    metric(&m, "imgarc_http_responses_5xx_total", "counter", "responses with a 5xx status",
           (double)hs.responses_5xx);
    metric(&m, "imgarc_http_bytes_in_total", "counter", "bytes received", (double)hs.bytes_in);
    metric(&m, "imgarc_http_bytes_out_total", "counter", "bytes sent", (double)hs.bytes_out);
    metric(&m, "imgarc_http_buffered_bytes", "gauge",
           "bytes of request bodies held in memory (--buffered-bytes-max)",
           (double)hs.buffered_bytes);
    metric(&m, "imgarc_http_bodies_refused_busy_total", "counter",
           "requests refused 503 because --buffered-bytes-max was reached",
           (double)hs.bodies_refused_busy);
    metric(&m, "imgarc_http_requests_waiting_for_index", "gauge",
           "requests held for X-Imgarc-Min-Index or ?consistent=true",
           (double)call->api->held_requests);
    metric(&m, "imgarc_captures_total", "counter", "files captured", (double)api->captures_total);
    metric(&m, "imgarc_capture_bytes_total", "counter", "bytes captured",
           (double)api->capture_bytes_total);
    metric(&m, "imgarc_captures_failed_total", "counter", "captures that failed",
           (double)api->captures_failed);
    metric(&m, "imgarc_downloads_total", "counter", "file contents served",
           (double)api->downloads_total);
    metric(&m, "imgarc_download_bytes_total", "counter", "content bytes served",
           (double)api->download_bytes_total);
    metric(&m, "imgarc_corrupt_reads_total", "counter",
           "reads that found content not matching its hash", (double)api->corrupt_reads_total);
    metric(&m, "imgarc_group_commits_total", "counter", "blob group commits (syncs)",
           (double)api->group_commits_total);
    metric(&m, "imgarc_group_commit_files_total", "counter", "blobs made durable by group commits",
           (double)api->group_commit_files_total);
    metric(&m, "imgarc_process_peak_rss_bytes", "gauge",
           "largest resident set size of the process so far", peak_rss_bytes());
    metric(&m, "imgarc_raft_term", "gauge", "current raft term", (double)rs.term);
    metric(&m, "imgarc_raft_last_index", "gauge", "last raft log index", (double)rs.last_index);
    metric(&m, "imgarc_raft_commit_index", "gauge", "raft commit index", (double)rs.commit_index);
    metric(&m, "imgarc_raft_applied_index", "gauge", "index applied to the archive",
           (double)rs.applied_index);
    metric(&m, "imgarc_raft_is_leader", "gauge", "1 when this node is the raft leader",
           repl_is_leader(api->repl) ? 1 : 0);
    metric(&m, "imgarc_raft_leader_changes_total", "counter",
           "times this node saw the leader change to another node", (double)rs.leader_changes);
    metric(&m, "imgarc_raft_forwards_total", "counter",
           "proposals forwarded to the leader", (double)rs.forwards_total);
    metric(&m, "imgarc_raft_forwards_failed_total", "counter",
           "forwarded proposals whose outcome the leader did not confirm",
           (double)rs.forwards_failed);
    metric(&m, "imgarc_raft_proposals_total", "counter", "commands proposed",
           (double)rs.proposals_total);
    metric(&m, "imgarc_raft_proposals_failed_total", "counter", "proposals that did not apply",
           (double)rs.proposals_failed);
    append(&m, "# HELP imgarc_raft_peer_connections_total raft connections authenticated\n"
               "# TYPE imgarc_raft_peer_connections_total counter\n"
               "imgarc_raft_peer_connections_total{direction=\"inbound\"} %llu\n"
               "imgarc_raft_peer_connections_total{direction=\"outbound\"} %llu\n",
           (unsigned long long)rs.raft_inbound, (unsigned long long)rs.raft_outbound);
    metric(&m, "imgarc_raft_peer_connections_open", "gauge",
           "authenticated raft connections open now", (double)rs.raft_open);
    metric(&m, "imgarc_raft_dial_failures_total", "counter",
           "raft connections this node dialled that failed or were refused",
           (double)rs.raft_dial_failed);
    append(&m, "# HELP imgarc_raft_refused_total inbound raft connections closed, by reason\n"
               "# TYPE imgarc_raft_refused_total counter\n");
    for (int i = 1; i < HANDSHAKE_R_COUNT; i++) {
        if (i != HANDSHAKE_R_PEER_CLOSED) {
            append(&m, "imgarc_raft_refused_total{reason=\"%s\"} %llu\n",
                   handshake_refusal_name(i), (unsigned long long)rs.raft_refused[i]);
        }
    }
    append(&m, "# HELP imgarc_raft_sealed_bytes_total raft bytes carried in sealed frames\n"
               "# TYPE imgarc_raft_sealed_bytes_total counter\n"
               "imgarc_raft_sealed_bytes_total{direction=\"sent\"} %llu\n"
               "imgarc_raft_sealed_bytes_total{direction=\"received\"} %llu\n",
           (unsigned long long)rs.raft_bytes_sent, (unsigned long long)rs.raft_bytes_received);
    append(&m, "# HELP imgarc_peer_clock_offset_seconds how far each node this node calls "
               "is ahead of its wall clock (negative: behind), learned from its signed "
               "answers; node-to-node calls adjust for it\n"
               "# TYPE imgarc_peer_clock_offset_seconds gauge\n");
    if (api->config.auth != NULL) {
        peer_clock_each(api->config.auth->clock, clock_offset_metric, &m);
    }
    if (api->config.outbox != NULL) {
        struct outbox_stats os;
        outbox_get_stats(api->config.outbox, &os);
        metric(&m, "imgarc_webhook_attempts_ok_total", "counter",
               "webhook delivery attempts answered with a 2xx (on this node as leader)",
               (double)os.attempts_ok);
        metric(&m, "imgarc_webhook_attempts_failed_total", "counter",
               "webhook delivery attempts that failed (to be retried or given up)",
               (double)os.attempts_failed);
        metric(&m, "imgarc_webhook_deliveries_failed_total", "counter",
               "webhook deliveries given up after their last attempt", (double)os.given_up);
        metric(&m, "imgarc_webhook_attempts_in_flight", "gauge",
               "webhook delivery attempts in flight", (double)os.in_flight);
        metric(&m, "imgarc_outbox_pending", "gauge",
               "deliveries waiting in the outbox at the leader's last look (0 on followers)",
               (double)(repl_is_leader(api->repl) ? os.pending : 0));
        metric(&m, "imgarc_license_warnings_total", "counter",
               "license expiry warnings announced (30, 7, 1 days, expired)",
               (double)os.license_warnings);
    }
    if (api->config.keeper != NULL) {
        struct keeper_stats ks;
        keeper_get_stats(api->config.keeper, &ks);
        metric(&m, "imgarc_blobs_under_replicated", "gauge",
               "referenced blobs with fewer live copies than wanted (last pass)",
               (double)ks.under_replicated);
        metric(&m, "imgarc_blobs_lost", "gauge",
               "referenced blobs without any live copy (last pass)", (double)ks.lost);
        metric(&m, "imgarc_disk_full", "gauge",
               "1 while this node refuses new files and copies: its data dir's file system "
               "is below --min-free-mb or a write found no space left",
               api->space.full ? 1.0 : 0.0);
        metric(&m, "imgarc_disk_full_refused_total", "counter",
               "captures and pushed copies this node refused (507) because its disk was full",
               (double)api->space.refused_total);
        metric(&m, "imgarc_data_free_bytes", "gauge",
               "free space of the data dir's file system (at the keeper's last pass)",
               (double)ks.free_bytes);
        metric(&m, "imgarc_blobs_on_draining_nodes", "gauge",
               "referenced blobs with a copy still on a draining node (last pass)",
               (double)ks.on_draining);
        metric(&m, "imgarc_replica_pushes_total", "counter",
               "capture copies this node made on other nodes", (double)ks.pushes);
        metric(&m, "imgarc_replica_pushes_failed_total", "counter",
               "capture copies to other nodes that failed", (double)ks.pushes_failed);
        metric(&m, "imgarc_replica_pushes_late_total", "counter",
               "capture copies that succeeded after their capture was acknowledged (recorded "
               "as holders then)", (double)ks.pushes_late);
        metric(&m, "imgarc_replicas_received_total", "counter",
               "copies other nodes pushed to this node", (double)api->replicas_received_total);
        metric(&m, "imgarc_repair_copies_total", "counter",
               "copies made by repair, rebalancing and draining from this node",
               (double)ks.repair_copies);
        metric(&m, "imgarc_repair_bytes_total", "counter", "bytes sent by those copies",
               (double)ks.repair_bytes);
        metric(&m, "imgarc_repair_failed_total", "counter",
               "repair copies that failed (retried by the next pass)", (double)ks.repair_failed);
        metric(&m, "imgarc_copies_refused_disk_full_total", "counter",
               "copies to other nodes they refused because their disk was full (507); "
               "repairs to such a node pause, doubling from 1 s to 60 s",
               (double)ks.refused_full);
        metric(&m, "imgarc_holders_dropped_total", "counter",
               "copies no longer wanted taken out of the records by this node",
               (double)ks.holders_dropped);
        metric(&m, "imgarc_keeper_passes_total", "counter",
               "passes over the blob records", (double)ks.passes);
        metric(&m, "imgarc_keeper_last_pass_seconds", "gauge",
               "duration of the last pass", (double)ks.last_pass_ms / 1000.0);
        metric(&m, "imgarc_scrub_bytes_total", "counter", "bytes re-hashed by the scrubber",
               (double)ks.scrub_bytes);
        metric(&m, "imgarc_scrub_blobs_total", "counter", "blobs re-hashed by the scrubber",
               (double)ks.scrub_blobs);
        metric(&m, "imgarc_scrub_corrupt_total", "counter",
               "corrupt copies found (and quarantined) on this node", (double)ks.scrub_corrupt);
        metric(&m, "imgarc_scrub_cycles_total", "counter", "full scrubs of this node",
               (double)ks.scrub_cycles);
        metric(&m, "imgarc_gc_blobs_deleted_total", "counter",
               "local copies deleted (unreferenced or no longer wanted here)",
               (double)ks.gc_deleted);
        metric(&m, "imgarc_gc_records_purged_total", "counter",
               "unreferenced blob records purged by this node's proposals",
               (double)ks.gc_purged);
    }
    metric(&m, "imgarc_blob_bytes", "gauge", "bytes of the blobs stored on this node",
           (double)blob_store_bytes(api->blobs));
    metric(&m, "imgarc_blob_count", "gauge", "blobs stored on this node",
           (double)blob_store_count(api->blobs));
    if (tenants) {
        tenant_metrics(&m, api);
    }
    http_respond(call->req, 200, "text/plain; version=0.0.4", m.buf, m.len);
    free(m.buf);
}
