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
#include "replication/dispatch.h"

#define LICENSE_CHECK_MS 2000

/* One attempt: the HTTP request, then the proposal of its outcome. */
struct job {
    struct outbox *o;
    struct dispatch_job dj; /* the request and proposal; keyed by the delivery id */
    uint64_t id;
    uint32_t attempts; /* made before this one */
    bool once;         /* an ERP submission: one attempt, a failure is the bill's */
    char *tenant;
    char *url;
    char *body;
};

struct outbox {
    struct outbox_config c;
    struct archive *a;
    struct repl *repl;
    struct dispatch d; /* the timer, the jobs, when to scan (archive->outbox_added) */
    uint64_t cursor;   /* where an unfinished pass goes on */
    uint64_t license_checked_ms;
    struct repl_propose warn_prop;
    bool warn_in_flight;
    struct outbox_stats stats;
};

static void job_free(struct job *j)
{
    dispatch_remove(&j->o->d, &j->dj);
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
    dispatch_add(&o->d, &j->dj, j);
    return j;
}

static bool same_delivery(const struct dispatch_job *dj, const void *key)
{
    return container_of(dj, struct job, dj)->id == *(const uint64_t *)key;
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
    cmd.body_case = COMMAND__BODY_DELIVERY_RESULT;
    cmd.delivery_result = r;
    rv = dispatch_propose(&o->d, &j->dj, &cmd, j->tenant, request_id, "outbox", result_applied);
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
    if (o->d.timer.stopping) {
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
        r.next_ms = clock_wall_ms() +
                    dispatch_backoff_ms(o->c.retry_ms, o->c.retry_max_ms, j->attempts + 1);
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
    dispatch_header(&j->dj, xstrdup("Content-Type: application/json"));
    dispatch_header(&j->dj, xasprintf("X-Imgarc-Event: %s", d->event));
    dispatch_header(&j->dj, xasprintf("X-Imgarc-Delivery: %llu", (unsigned long long)d->id));
    dispatch_header(&j->dj, xasprintf("X-Imgarc-Timestamp: %s", timestamp));
    dispatch_header(&j->dj, xasprintf("X-Imgarc-Signature: sha256=%s", mac));
    j->dj.req.url = j->url;
    j->dj.req.body = j->body;
    j->dj.req.body_len = strlen(j->body);
    j->dj.req.timeout_ms = o->c.timeout_ms;
    j->dj.req.response_max = OUTBOX_EXCERPT_MAX * 4; /* enough for the excerpt */
    dispatch_post(&o->d, &j->dj, attempt_done);
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
    struct dispatch_pass pass;
    uint64_t last;
};

static bool scan_cb(uint64_t id, uint64_t due_ms, void *arg)
{
    struct scan *s = arg;
    struct outbox *o = s->o;
    if (!dispatch_scan_next(&s->pass)) {
        return false;
    }
    s->last = id;
    o->stats.pending++;
    if (!dispatch_in_flight(&o->d, &id, same_delivery) && dispatch_scan_due(&s->pass, due_ms)) {
        start(o, id);
    }
    return true;
}

static void scan(struct outbox *o, uint64_t now)
{
    struct base_err err = {{0}};
    struct scan s = {.o = o};
    if (o->cursor == 0) {
        o->stats.pending = 0;
    }
    dispatch_scan_begin(&o->d, &s.pass, o->cursor == 0, o->a->outbox_added, now);
    if (archive_scan_outbox(o->a, o->cursor, scan_cb, &s, &err) != 0) {
        LOG_ERROR("outbox", "scan: %s", err.msg);
        return;
    }
    /* At the batch's end, go on from the last entry at the next tick. */
    o->cursor = dispatch_scan_end(&s.pass) ? s.last : 0;
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

static void tick(struct dispatch_timer *t, bool leading)
{
    struct outbox *o = t->data;
    uint64_t now;
    if (!leading) {
        return;
    }
    now = clock_wall_ms();
    if (now - o->license_checked_ms >= LICENSE_CHECK_MS) {
        check_licenses(o, now);
    }
    if (dispatch_scan_wanted(&o->d, o->a->outbox_added, now)) {
        scan(o, now);
    }
}

int outbox_start(struct outbox **out, uv_loop_t *loop, const struct outbox_config *config,
                 struct archive *archive, struct repl *repl, struct http_client *http,
                 struct base_err *err)
{
    struct outbox *o;
    struct dispatch_config dc = {config->concurrency, http, config->guard, NULL};
    if (config->attempts == 0 || config->concurrency == 0 || config->retry_ms == 0 ||
        config->retry_max_ms < config->retry_ms) {
        base_err_set(err, "outbox: attempts, concurrency and retry delays must be positive, "
                          "and the longest delay at least the first");
        return BASE_EINVAL;
    }
    o = xcalloc(1, sizeof *o);
    o->c = *config;
    o->a = archive;
    o->repl = repl;
    o->warn_prop.data = o;
    dc.data = o;
    dispatch_start(&o->d, loop, &dc, archive, repl, tick);
    *out = o;
    return 0;
}

void outbox_get_stats(const struct outbox *o, struct outbox_stats *out)
{
    *out = o->stats;
    out->in_flight = o->d.n_jobs;
}

void outbox_stop(struct outbox *o)
{
    dispatch_stop(&o->d);
}

void outbox_free(struct outbox *o)
{
    dispatch_close(&o->d);
    free(o);
}
