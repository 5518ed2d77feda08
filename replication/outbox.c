#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"

#define TICK_MS 200
#define LICENSE_CHECK_MS 2000
#define SCAN_BATCH 4096 /* outbox entries looked at per tick: bounds the loop's work */
#define N_HEADERS 5

/* One attempt: the HTTP request, then the proposal of its outcome. */
struct job {
    struct outbox *o;
    struct http_client_req req;
    struct repl_propose prop;
    uint64_t id;
    uint32_t attempts; /* made before this one */
    bool once;         /* an ERP submission: one attempt, a failure is the bill's */
    char *tenant;
    char *url;
    char *body;
    char *headers[N_HEADERS];
    const char *header_ptrs[N_HEADERS + 1];
    struct job *next, *prev;
};

struct outbox {
    uv_loop_t *loop;
    struct outbox_config c;
    struct archive *a;
    struct repl *repl;
    struct http_client *http;
    uv_timer_t timer;
    bool stopping;
    struct job *jobs;
    unsigned n_jobs;
    /* When to look at the outbox again. */
    uint64_t seen_added; /* archive->outbox_added at the last full pass */
    uint64_t next_due_ms; /* earliest future attempt seen; 0: none */
    uint64_t cursor;      /* where an unfinished pass goes on */
    bool rescan;
    uint64_t license_checked_ms;
    struct repl_propose warn_prop;
    bool warn_in_flight;
    struct outbox_stats stats;
};

static void job_free(struct job *j)
{
    struct outbox *o = j->o;
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        o->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    o->n_jobs--;
    o->rescan = true;
    for (int i = 0; i < N_HEADERS; i++) {
        free(j->headers[i]);
    }
    free(j->req.response);
    free(j->tenant);
    free(j->url);
    free(j->body);
    free(j);
}

static struct job *job_new(struct outbox *o, const DeliveryRecord *d)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->o = o;
    j->id = d->id;
    j->attempts = d->attempts;
    j->tenant = xstrdup(d->tenant);
    j->once = strcmp(d->event, "erp_submit") == 0;
    j->prop.data = j;
    j->req.data = j;
    j->next = o->jobs;
    if (o->jobs != NULL) {
        o->jobs->prev = j;
    }
    o->jobs = j;
    o->n_jobs++;
    return j;
}

static bool in_flight(const struct outbox *o, uint64_t id)
{
    for (const struct job *j = o->jobs; j != NULL; j = j->next) {
        if (j->id == id) {
            return true;
        }
    }
    return false;
}

/* Delay before attempt @made + 1: retry_ms doubled per attempt made, capped, plus up to
 * a tenth of jitter so a receiver coming back is not hit by every retry at once. */
static uint64_t backoff_ms(const struct outbox_config *c, uint32_t made)
{
    uint64_t delay = c->retry_ms;
    for (uint32_t i = 1; i < made && delay < c->retry_max_ms; i++) {
        delay *= 2;
    }
    if (delay > c->retry_max_ms) {
        delay = c->retry_max_ms;
    }
    return delay + randombytes_uniform((uint32_t)(delay / 10 + 1));
}

static void result_applied(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    struct job *j = prop->data;
    if (status == 0 && res->status == ARCHIVE_OK && strcmp(res->state, "failed") == 0) {
        j->o->stats.given_up++;
        LOG_WARN("outbox", "delivery %llu failed after %u attempts; retry it with POST "
                 "/api/v1/deliveries/%llu/retry", (unsigned long long)j->id, j->attempts + 1,
                 (unsigned long long)j->id);
    }
    job_free(j);
}

/* Proposes the outcome of the attempt; the job ends when it is applied. */
static void report(struct job *j, DeliveryResult *r)
{
    struct outbox *o = j->o;
    Command cmd = COMMAND__INIT;
    char request_id[48];
    int rv;
    snprintf(request_id, sizeof request_id, "outbox-%llu-%u", (unsigned long long)j->id,
             j->attempts + 1);
    r->delivery = j->id;
    cmd.tenant = j->tenant;
    cmd.request_id = request_id;
    cmd.operator_ = (char *)"outbox";
    cmd.time_ms = clock_wall_ms();
    cmd.body_case = COMMAND__BODY_DELIVERY_RESULT;
    cmd.delivery_result = r;
    rv = repl_propose(o->repl, &j->prop, &cmd, result_applied);
    if (rv != 0) {
        /* No longer the leader (or stopping): the next leader attempts it again. */
        job_free(j);
    }
}

/* The length of the UTF-8 sequence at @p (@left bytes there), 0 when it is not valid
 * UTF-8; *@printable says whether it shows as itself. */
static size_t sequence_at(const unsigned char *p, size_t left, bool *printable)
{
    size_t n = p[0] < 0x80 ? 1 : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
               : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
    uint32_t cp;
    if (n == 0 || n > left || !utf8_valid((const char *)p, n)) {
        return 0;
    }
    cp = n == 1 ? p[0] : n == 2 ? (p[0] & 0x1fu) : n == 3 ? (p[0] & 0x0fu) : (p[0] & 0x07u);
    for (size_t k = 1; k < n; k++) {
        cp = cp << 6 | (p[k] & 0x3fu);
    }
    /* Not controls, format and bidirectional marks, or tags. */
    *printable = !(cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0xad ||
                   (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
                   (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
                   (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f));
    return n;
}

void outbox_excerpt(const char *body, size_t n, char *out)
{
    const unsigned char *p = (const unsigned char *)body;
    size_t i = 0, o = 0;
    while (i < n && o < OUTBOX_EXCERPT_MAX) {
        bool printable = false;
        size_t len = sequence_at(p + i, n - i, &printable);
        if (!printable) {
            out[o++] = '?'; /* one for a character, one per byte of invalid UTF-8 */
            i += len > 0 ? len : 1;
            continue;
        }
        if (o + len > OUTBOX_EXCERPT_MAX) {
            break;
        }
        memcpy(out + o, p + i, len);
        o += len;
        i += len;
    }
    out[o] = '\0';
}

static void attempt_done(struct http_client_req *req)
{
    struct job *j = req->data;
    struct outbox *o = j->o;
    DeliveryResult r = DELIVERY_RESULT__INIT;
    char error[300];
    char excerpt[OUTBOX_EXCERPT_MAX + 1] = "";
    if (o->stopping) {
        job_free(j);
        return;
    }
    r.ok = req->status >= 200 && req->status < 300;
    r.http_status = (int32_t)req->status;
    r.ms = (uint32_t)(req->seconds * 1000);
    if (req->status != 0 && req->response != NULL) {
        outbox_excerpt(req->response, req->response_len, excerpt);
    }
    r.excerpt = excerpt;
    if (r.ok) {
        error[0] = '\0';
        o->stats.attempts_ok++;
    } else {
        /* Never the receiver's words: they reach bill statuses (erp_submit). */
        if (req->status >= 300 && req->status < 400) {
            snprintf(error, sizeof error, "HTTP %ld from the receiver (redirects are not "
                     "followed)", req->status);
        } else if (req->status != 0) {
            snprintf(error, sizeof error, "HTTP %ld from the receiver", req->status);
        } else {
            snprintf(error, sizeof error, "%s", req->error);
        }
        o->stats.attempts_failed++;
        r.give_up = j->once || j->attempts + 1 >= o->c.attempts;
        r.next_ms = clock_wall_ms() + backoff_ms(&o->c, j->attempts + 1);
    }
    r.error = error;
    report(j, &r);
}

/* X-Imgarc-Signature: HMAC-SHA-256 under the webhook's secret of "<timestamp>.<body>". */
static void sign(const char *secret, const char *timestamp, const char *body, char out[65])
{
    crypto_auth_hmacsha256_state st;
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_init(&st, (const uint8_t *)secret, strlen(secret));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)timestamp, strlen(timestamp));
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)body, strlen(body));
    crypto_auth_hmacsha256_final(&st, mac);
    hex_encode(mac, sizeof mac, out);
}

static void attempt(struct outbox *o, const DeliveryRecord *d, const WebhookRecord *w)
{
    struct job *j = job_new(o, d);
    char timestamp[24], mac[65];
    snprintf(timestamp, sizeof timestamp, "%llu", (unsigned long long)(clock_wall_ms() / 1000));
    sign(w->secret, timestamp, d->body, mac);
    j->url = xstrdup(w->url);
    j->body = xstrdup(d->body);
    j->headers[0] = xstrdup("Content-Type: application/json");
    j->headers[1] = xasprintf("X-Imgarc-Event: %s", d->event);
    j->headers[2] = xasprintf("X-Imgarc-Delivery: %llu", (unsigned long long)d->id);
    j->headers[3] = xasprintf("X-Imgarc-Timestamp: %s", timestamp);
    j->headers[4] = xasprintf("X-Imgarc-Signature: sha256=%s", mac);
    for (int i = 0; i < N_HEADERS; i++) {
        j->header_ptrs[i] = j->headers[i];
    }
    j->req.url = j->url;
    j->req.method = "POST";
    j->req.headers = j->header_ptrs;
    j->req.body = j->body;
    j->req.body_len = strlen(j->body);
    j->req.timeout_ms = o->c.timeout_ms;
    j->req.response_max = OUTBOX_EXCERPT_MAX * 4; /* enough for the excerpt */
    j->req.guard = o->c.guard;
    j->req.permits = outbound_check;
    http_client_send(o->http, &j->req, attempt_done);
}

/* Starts an attempt of delivery @id, or cancels it when its webhook is gone. */
static void start(struct outbox *o, uint64_t id)
{
    struct base_err err = {{0}};
    DeliveryRecord *d;
    WebhookRecord *w;
    int rv = archive_get_delivery(o->a, id, &d, &err);
    if (rv != 0) {
        LOG_ERROR("outbox", "delivery %llu: %s", (unsigned long long)id,
                  rv == BASE_ENOTFOUND ? "queued but not found" : err.msg);
        return;
    }
    rv = archive_get_webhook(o->a, d->tenant, d->webhook, &w, &err);
    if (rv == BASE_ENOTFOUND) {
        DeliveryResult r = DELIVERY_RESULT__INIT;
        r.cancel = true;
        r.error = (char *)"the webhook was deleted";
        report(job_new(o, d), &r);
    } else if (rv != 0) {
        LOG_ERROR("outbox", "webhook %s of delivery %llu: %s", d->webhook,
                  (unsigned long long)id, err.msg);
    } else {
        attempt(o, d, w);
        archive_free_webhook(w);
    }
    archive_free_delivery(d);
}

struct scan {
    struct outbox *o;
    uint64_t now;
    unsigned seen;
    uint64_t last;
};

static bool scan_cb(uint64_t id, uint64_t due_ms, void *arg)
{
    struct scan *s = arg;
    struct outbox *o = s->o;
    if (s->seen == SCAN_BATCH) {
        return false;
    }
    s->seen++;
    s->last = id;
    o->stats.pending++;
    if (in_flight(o, id)) {
        return true;
    }
    if (due_ms > s->now) {
        if (o->next_due_ms == 0 || due_ms < o->next_due_ms) {
            o->next_due_ms = due_ms;
        }
        return true;
    }
    if (o->n_jobs < o->c.concurrency) {
        start(o, id);
    } else {
        o->next_due_ms = s->now; /* due now, but no free slot: look again */
    }
    return true;
}

static void scan(struct outbox *o, uint64_t now)
{
    struct base_err err = {{0}};
    struct scan s = {o, now, 0, 0};
    if (o->cursor == 0) {
        o->seen_added = o->a->outbox_added;
        o->next_due_ms = 0;
        o->stats.pending = 0;
    }
    o->rescan = false;
    if (archive_scan_outbox(o->a, o->cursor, scan_cb, &s, &err) != 0) {
        LOG_ERROR("outbox", "scan: %s", err.msg);
        return;
    }
    if (s.seen == SCAN_BATCH) {
        o->cursor = s.last; /* go on from here at the next tick */
        o->rescan = true;
    } else {
        o->cursor = 0;
    }
}

/* ---- License warnings ---- */

struct warn {
    const uint64_t now;
    char tenant[ARCHIVE_ID_MAX + 1];
    char license_id[128];
    int stage;
};

static void warn_cb(const TenantRecord *t, void *arg)
{
    struct warn *w = arg;
    int stage;
    if (w->tenant[0] != '\0' || (stage = archive_license_warning_due(t, w->now)) < 0) {
        return;
    }
    snprintf(w->tenant, sizeof w->tenant, "%s", t->id);
    snprintf(w->license_id, sizeof w->license_id, "%s", t->license->license_id);
    w->stage = stage;
}

static void warning_applied(struct repl_propose *prop, int status,
                            const struct archive_result *res)
{
    struct outbox *o = prop->data;
    o->warn_in_flight = false;
    if (status == 0 && res->status == ARCHIVE_OK && !res->replayed) {
        o->stats.license_warnings++;
    }
}

/* Proposes the next license warning due, one at a time. */
static void check_licenses(struct outbox *o, uint64_t now)
{
    struct base_err err = {{0}};
    struct warn w = {.now = now};
    Command cmd = COMMAND__INIT;
    LicenseWarning lw = LICENSE_WARNING__INIT;
    o->license_checked_ms = now;
    if (o->warn_in_flight) {
        return;
    }
    if (archive_list_tenants(o->a, warn_cb, &w, &err) != 0) {
        LOG_ERROR("outbox", "license check: %s", err.msg);
        return;
    }
    if (w.tenant[0] == '\0') {
        return;
    }
    lw.license_id = w.license_id;
    lw.days = (uint32_t)w.stage;
    cmd.tenant = w.tenant;
    cmd.request_id = (char *)"license-check";
    cmd.operator_ = (char *)"outbox";
    cmd.time_ms = now;
    cmd.body_case = COMMAND__BODY_LICENSE_WARNING;
    cmd.license_warning = &lw;
    if (repl_propose(o->repl, &o->warn_prop, &cmd, warning_applied) == 0) {
        o->warn_in_flight = true;
        o->license_checked_ms = 0; /* the next one, if any, at the next tick */
    }
}

static void tick(uv_timer_t *t)
{
    struct outbox *o = t->data;
    uint64_t now;
    if (o->stopping || !repl_is_leader(o->repl) || !archive_cluster_initialized(o->a)) {
        return;
    }
    now = clock_wall_ms();
    if (now - o->license_checked_ms >= LICENSE_CHECK_MS) {
        check_licenses(o, now);
    }
    if (o->n_jobs < o->c.concurrency &&
        (o->rescan || o->a->outbox_added != o->seen_added ||
         (o->next_due_ms != 0 && now >= o->next_due_ms))) {
        scan(o, now);
    }
}

int outbox_start(struct outbox **out, uv_loop_t *loop, const struct outbox_config *config,
                 struct archive *archive, struct repl *repl, struct http_client *http,
                 struct base_err *err)
{
    struct outbox *o;
    if (config->attempts == 0 || config->concurrency == 0 || config->retry_ms == 0 ||
        config->retry_max_ms < config->retry_ms) {
        base_err_set(err, "outbox: attempts, concurrency and retry delays must be positive, "
                          "and the longest delay at least the first");
        return BASE_EINVAL;
    }
    o = xcalloc(1, sizeof *o);
    o->loop = loop;
    o->c = *config;
    o->a = archive;
    o->repl = repl;
    o->http = http;
    o->warn_prop.data = o;
    o->rescan = true;
    uv_timer_init(loop, &o->timer);
    o->timer.data = o;
    uv_timer_start(&o->timer, tick, TICK_MS, TICK_MS);
    *out = o;
    return 0;
}

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out)
{
    *out = o->stats;
    out->in_flight = o->n_jobs;
}

void outbox_stop(struct outbox *o)
{
    o->stopping = true;
    uv_close((uv_handle_t *)&o->timer, NULL);
}

void outbox_free(struct outbox *o)
{
    ASSERT(o->n_jobs == 0);
    free(o);
}
