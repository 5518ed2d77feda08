#include "recognizer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/blob_fetch.h"
#include "replication/dispatch.h"

#define IDLE_CHECK_MS 5000 /* a leader without a URL counts what waits this often */

/* One attempt on one file: read its content, POST it, propose the outcome. */
struct job {
    struct recognizer *r;
    uv_work_t work;
    struct blob_fetch *fetch;
    struct dispatch_job dj; /* the request and proposal; keyed by tenant and file id */
    char tenant[ARCHIVE_ID_MAX + 1];
    char file_id[ARCHIVE_ID_MAX + 1];
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    char format[16];
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t size;
    uint64_t check;   /* XXH3 of the content; 0: unknown */
    uint32_t attempt; /* this attempt's number, 1 for the first */
    /* The content, read whole (at most file_bytes_max). */
    char *content;
    size_t len;
    bool fetched;     /* came from another node (else read here) */
    /* Set by the worker. */
    int read_rv;
    char read_err[256];
    char timestamp[24];
    char mac[65];     /* hex HMAC, "" when unsigned */
};

struct recognizer {
    uv_loop_t *loop;
    struct recognizer_config c;
    char *url;
    char *secret;
    struct archive *a;
    struct repl *repl;
    struct dispatch d; /* the timer, the jobs, when to scan (archive->recognition_added) */
    char cursor_tenant[ARCHIVE_ID_MAX + 1]; /* where an unfinished pass goes on */
    char cursor_file[ARCHIVE_ID_MAX + 1];
    uint64_t idle_checked_ms;
    bool warned_no_url;
    struct recognizer_stats stats;
    uint64_t pass_pending;
};

static void job_free(struct job *j)
{
    dispatch_remove(&j->r->d, &j->dj);
    free(j->content);
    free(j);
}

static struct job *job_new(struct recognizer *r, const char *tenant, const char *file_id)
{
    struct job *j = xcalloc(1, sizeof *j);
    j->r = r;
    snprintf(j->tenant, sizeof j->tenant, "%s", tenant);
    snprintf(j->file_id, sizeof j->file_id, "%s", file_id);
    j->attempt = 1;
    j->work.data = j;
    dispatch_add(&r->d, &j->dj, j);
    return j;
}

/* A queued file: the key of its job. */
struct file_key {
    const char *tenant;
    const char *file_id;
};

static bool same_file(const struct dispatch_job *dj, const void *key)
{
    const struct job *j = container_of(dj, struct job, dj);
    const struct file_key *k = key;
    return strcmp(j->file_id, k->file_id) == 0 && strcmp(j->tenant, k->tenant) == 0;
}

/* ---- The outcome ---- */

static void result_applied(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    struct job *j = prop->data;
    struct recognizer *r = j->r;
    if (status == 0 && res->status == ARCHIVE_OK && !res->replayed) {
        if (strcmp(res->state, "failed") == 0) {
            r->stats.failed++;
            LOG_WARN("recognizer", "file %s of bill %s (tenant %s): recognition failed after "
                     "%u attempts", j->file_id, j->image_no, j->tenant, j->attempt);
        } else if (strcmp(res->state, "done") == 0 || strcmp(res->state, "superseded") == 0) {
            r->stats.done++;
        }
    } else if (status == 0 && res->status != ARCHIVE_OK) {
        LOG_ERROR("recognizer", "file %s: the result was refused: %s", j->file_id,
                  res->message);
    }
    job_free(j);
}

/* Proposes @res as the outcome of the job's attempt; the job ends once it is applied. */
static void report(struct job *j, RecognitionResult *res)
{
    struct recognizer *r = j->r;
    Command cmd = COMMAND__INIT;
    char request_id[96];
    snprintf(request_id, sizeof request_id, "recognition-%s-%u", j->file_id, j->attempt);
    res->image_no = j->image_no;
    res->file_id = j->file_id;
    res->attempt = j->attempt;
    cmd.body_case = COMMAND__BODY_RECOGNITION_RESULT;
    cmd.recognition_result = res;
    if (dispatch_propose(&r->d, &j->dj, &cmd, j->tenant, request_id, "recognition",
                         result_applied) != 0) {
        job_free(j); /* no longer the leader (or stopping): the next leader tries again */
    }
}

/* A failed attempt: retried later, or given up with @give_up or after the last one. */
static void report_failure(struct job *j, bool give_up, long http_status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void report_failure(struct job *j, bool give_up, long http_status, const char *fmt, ...)
{
    RecognitionResult res = RECOGNITION_RESULT__INIT;
    char error[ARCHIVE_RECOGNITION_ERROR_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error, sizeof error, fmt, ap);
    va_end(ap);
    j->r->stats.attempts_failed++;
    res.error = error;
    res.http_status = (int32_t)http_status;
    res.give_up = give_up || j->attempt >= j->r->c.attempts;
    res.next_ms = clock_wall_ms() +
                  dispatch_backoff_ms(j->r->c.retry_ms, j->r->c.retry_max_ms, j->attempt);
    report(j, &res);
}

static void attempt_done(struct http_client_req *req)
{
    struct job *j = req->data;
    struct recognizer *r = j->r;
    char excerpt[OUTBOX_EXCERPT_MAX + 1] = "";
    char why[200];
    if (r->d.timer.stopping) {
        job_free(j);
        return;
    }
    free(j->content); /* sent: the memory goes back at once */
    j->content = NULL;
    if (req->status != 0 && req->response != NULL) {
        outbox_excerpt(req->response, req->response_len, excerpt);
    }
    if (req->status >= 200 && req->status < 300) {
        RecognitionResult res = RECOGNITION_RESULT__INIT;
        Invoice inv = INVOICE__INIT;
        if (req->truncated) {
            report_failure(j, true, req->status, "the recognition service's answer is longer "
                           "than %u bytes", RECOGNIZER_ANSWER_MAX);
            return;
        }
        if (archive_recognition_answer(req->response != NULL ? req->response : "",
                                       req->response_len, &inv, why, sizeof why) != 0) {
            report_failure(j, true, req->status, "the recognition service's answer is not "
                           "usable: %s", why);
            return;
        }
        r->stats.attempts_ok++;
        res.ok = true;
        res.invoice = &inv;
        res.http_status = (int32_t)req->status;
        res.error = (char *)"";
        report(j, &res);
        archive_recognition_invoice_clear(&inv);
    } else if (req->status >= 400 && req->status < 500 && req->status != 408 &&
               req->status != 429) {
        /* The service says no: not an invoice, unreadable, refused. No retry. */
        report_failure(j, true, req->status, "HTTP %ld from the recognition service%s%s",
                       req->status, excerpt[0] != '\0' ? ": " : "", excerpt);
    } else if (req->status >= 300 && req->status < 400) {
        report_failure(j, false, req->status, "HTTP %ld from the recognition service "
                       "(redirects are not followed)", req->status);
    } else if (req->status != 0) {
        report_failure(j, false, req->status, "HTTP %ld from the recognition service%s%s",
                       req->status, excerpt[0] != '\0' ? ": " : "", excerpt);
    } else {
        report_failure(j, false, 0, "recognition service: %s", req->error);
    }
}

/* ---- Sending ---- */

static void send_content(struct job *j)
{
    struct recognizer *r = j->r;
    struct dispatch_job *dj = &j->dj;
    dispatch_header(dj, xstrdup("Content-Type: application/octet-stream"));
    dispatch_header(dj, xasprintf("X-Imgarc-Tenant: %s", j->tenant));
    dispatch_header(dj, xasprintf("X-Imgarc-Image-No: %s", j->image_no));
    dispatch_header(dj, xasprintf("X-Imgarc-File-Id: %s", j->file_id));
    dispatch_header(dj, xasprintf("X-Imgarc-Format: %s", j->format));
    dispatch_header(dj, xasprintf("X-Imgarc-Attempt: %u", j->attempt));
    dispatch_header(dj, xasprintf("X-Imgarc-Timestamp: %s", j->timestamp));
    if (j->mac[0] != '\0') {
        dispatch_header(dj, xasprintf("X-Imgarc-Signature: sha256=%s", j->mac));
    }
    dj->req.url = r->url;
    dj->req.body = j->content;
    dj->req.body_len = j->len;
    dj->req.timeout_ms = r->c.timeout_ms;
    dj->req.response_max = RECOGNIZER_ANSWER_MAX;
    dispatch_post(&r->d, dj, attempt_done);
}

/* Worker: reads the content here unless it was fetched, checks it against its
 * checksum, and signs it. Touches only the job (and the store, read-only). */
static void prepare_work(uv_work_t *w)
{
    struct job *j = w->data;
    struct recognizer *r = j->r;
    struct base_err err = {{0}};
    uint64_t size = 0;
    int fd = -1;
    j->read_rv = 0;
    if (!j->fetched) {
        j->read_rv = blob_open(r->c.blobs, j->hash, &fd, &size, &err);
        if (j->read_rv != 0) {
            snprintf(j->read_err, sizeof j->read_err, "%s", err.msg);
            return;
        }
        if (size != j->size) {
            j->read_rv = BASE_ECORRUPT;
            snprintf(j->read_err, sizeof j->read_err, "this node's copy has %llu bytes, the "
                     "file %llu", (unsigned long long)size, (unsigned long long)j->size);
            close(fd);
            return;
        }
        j->content = xmalloc(j->size);
        j->len = 0;
        while (j->len < j->size) {
            ssize_t got = pread(fd, j->content + j->len, j->size - j->len, (off_t)j->len);
            if (got <= 0) {
                j->read_rv = BASE_EIO;
                snprintf(j->read_err, sizeof j->read_err, "read: %s",
                         got < 0 ? strerror(errno) : "the copy is shorter than its size");
                break;
            }
            j->len += (size_t)got;
        }
        close(fd);
        if (j->read_rv != 0) {
            return;
        }
    }
    if (j->check != 0) {
        struct blob_check c;
        blob_check_init(&c);
        blob_check_update(&c, j->content, j->len);
        if (blob_check_final(&c) != j->check) {
            j->read_rv = BASE_ECORRUPT;
            snprintf(j->read_err, sizeof j->read_err, "the %s copy does not match the file's "
                     "checksum", j->fetched ? "fetched" : "local");
            return;
        }
    }
    snprintf(j->timestamp, sizeof j->timestamp, "%llu",
             (unsigned long long)(clock_wall_ms() / 1000));
    j->mac[0] = '\0';
    if (r->secret != NULL) {
        /* HMAC-SHA-256 under the secret of "<timestamp>.<file id>.<body>". */
        crypto_auth_hmacsha256_state st;
        uint8_t mac[crypto_auth_hmacsha256_BYTES];
        crypto_auth_hmacsha256_init(&st, (const uint8_t *)r->secret, strlen(r->secret));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)j->timestamp, strlen(j->timestamp));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)j->file_id, strlen(j->file_id));
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)".", 1);
        crypto_auth_hmacsha256_update(&st, (const uint8_t *)j->content, j->len);
        crypto_auth_hmacsha256_final(&st, mac);
        hex_encode(mac, sizeof mac, j->mac);
    }
}

static void start_fetch(struct job *j);

static void prepare_done(uv_work_t *w, int status)
{
    struct job *j = w->data;
    if (j->r->d.timer.stopping || status != 0) {
        job_free(j);
        return;
    }
    if (j->read_rv != 0 && !j->fetched) {
        free(j->content);
        j->content = NULL;
        j->len = 0;
        start_fetch(j); /* no good copy here: from a node that has one */
        return;
    }
    if (j->read_rv != 0) {
        report_failure(j, false, 0, "could not read the file: %s", j->read_err);
        return;
    }
    send_content(j);
}

static size_t fetch_data(struct blob_fetch *f, const char *data, size_t n)
{
    struct job *j = f->data;
    if (n > j->size - j->len) {
        return 0; /* more than the file's size: stop */
    }
    memcpy(j->content + j->len, data, n);
    j->len += n;
    return n;
}

static void fetch_done(struct blob_fetch *f, bool ok, const char *why)
{
    struct job *j = f->data;
    j->fetch = NULL;
    if (j->r->d.timer.stopping) {
        job_free(j);
        return;
    }
    if (!ok || j->len != j->size) {
        report_failure(j, false, 0, "could not read the file from another node: %s",
                       why != NULL ? why : "short read");
        return;
    }
    uv_queue_work(j->r->loop, &j->work, prepare_work, prepare_done);
}

static void start_fetch(struct job *j)
{
    char why[256];
    j->fetched = true;
    j->content = xmalloc(j->size);
    j->len = 0;
    j->fetch = repl_blob_fetch(j->r->repl, j->hash, 0, j->size - 1, fetch_data, fetch_done, j,
                               why, sizeof why);
    if (j->fetch == NULL) {
        report_failure(j, false, 0, "this node holds no good copy of the file (%s) and "
                       "none could be fetched: %s", j->read_err, why);
    }
}

/* The format header's value: the record's format when it is a plain word. */
static void safe_format(const char *format, char *out, size_t size)
{
    size_t n = strlen(format);
    bool ok = n > 0 && n < size;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = format[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
    }
    snprintf(out, size, "%s", ok ? format : "bin");
}

/* Starts an attempt on a queued file, or reports why there is nothing to send. */
static void start(struct recognizer *r, const char *tenant, const char *file_id)
{
    struct base_err err = {{0}};
    FileRecord *f;
    struct job *j;
    int rv = archive_get_file(r->a, tenant, file_id, &f, &err);
    if (rv != 0 && rv != BASE_ENOTFOUND) {
        LOG_ERROR("recognizer", "file %s: %s", file_id, err.msg);
        return;
    }
    j = job_new(r, tenant, file_id);
    if (rv == BASE_ENOTFOUND || f->recognition == NULL ||
        strcmp(f->recognition->state, "pending") != 0) {
        /* Deleted meanwhile (or not waiting): the result takes it out of the queue. */
        if (rv == 0) {
            snprintf(j->image_no, sizeof j->image_no, "%s", f->image_no);
            archive_free_file(f);
        }
        report_failure(j, true, 0, "the file was deleted before it was recognised");
        return;
    }
    snprintf(j->image_no, sizeof j->image_no, "%s", f->image_no);
    safe_format(f->format, j->format, sizeof j->format);
    j->attempt = f->recognition->attempts + 1;
    j->size = f->size;
    j->check = f->check;
    if (f->blob.len == BLOB_HASH_BYTES) {
        memcpy(j->hash, f->blob.data, BLOB_HASH_BYTES);
    }
    archive_free_file(f);
    if (j->size == 0 || j->size > r->c.file_bytes_max) {
        report_failure(j, true, 0, j->size == 0 ? "the file is empty"
                                                : "the file is larger than "
                                                  "--recognition-max-bytes");
        return;
    }
    uv_queue_work(r->loop, &j->work, prepare_work, prepare_done);
}

/* ---- The queue ---- */

struct scan {
    struct recognizer *r;
    struct dispatch_pass pass;
    bool count_only;
};

static bool scan_cb(const char *tenant, const char *file_id, uint64_t due_ms, void *arg)
{
    struct scan *s = arg;
    struct recognizer *r = s->r;
    struct file_key key = {tenant, file_id};
    if (!dispatch_scan_next(&s->pass)) {
        return false;
    }
    snprintf(r->cursor_tenant, sizeof r->cursor_tenant, "%s", tenant);
    snprintf(r->cursor_file, sizeof r->cursor_file, "%s", file_id);
    r->pass_pending++;
    if (!s->count_only && !dispatch_in_flight(&r->d, &key, same_file) &&
        dispatch_scan_due(&s->pass, due_ms)) {
        start(r, tenant, file_id);
    }
    return true;
}

static void scan(struct recognizer *r, uint64_t now, bool count_only)
{
    struct base_err err = {{0}};
    struct scan s = {.r = r, .count_only = count_only};
    char after_tenant[ARCHIVE_ID_MAX + 1], after_file[ARCHIVE_ID_MAX + 1];
    bool from_start = r->cursor_tenant[0] == '\0';
    if (from_start) {
        r->pass_pending = 0;
    }
    dispatch_scan_begin(&r->d, &s.pass, from_start, r->a->recognition_added, now);
    snprintf(after_tenant, sizeof after_tenant, "%s", r->cursor_tenant);
    snprintf(after_file, sizeof after_file, "%s", r->cursor_file);
    if (archive_scan_recognition(r->a, after_tenant, after_file, scan_cb, &s, &err) != 0) {
        LOG_ERROR("recognizer", "scan: %s", err.msg);
        r->cursor_tenant[0] = r->cursor_file[0] = '\0';
        return;
    }
    if (dispatch_scan_end(&s.pass)) {
        return; /* stopped at the batch's end: go on from the cursor at the next tick */
    }
    r->cursor_tenant[0] = r->cursor_file[0] = '\0';
    r->stats.pending = r->pass_pending;
}

static void tick(struct dispatch_timer *t, bool leading)
{
    struct recognizer *r = t->data;
    uint64_t now;
    if (!leading) {
        r->stats.pending = 0;
        return;
    }
    now = clock_wall_ms();
    if (r->url == NULL) {
        if (now - r->idle_checked_ms < IDLE_CHECK_MS) {
            return;
        }
        r->idle_checked_ms = now;
        scan(r, now, true);
        if (r->stats.pending > 0 && !r->warned_no_url) {
            r->warned_no_url = true;
            LOG_WARN("recognizer", "%llu file(s) wait for recognition, but this node (the "
                     "leader) has no --recognition-url: they stay pending until a leader "
                     "with one takes over (give every node the same URL)",
                     (unsigned long long)r->stats.pending);
        }
        return;
    }
    if (dispatch_scan_wanted(&r->d, r->a->recognition_added, now)) {
        scan(r, now, false);
    }
}

int recognizer_start(struct recognizer **out, uv_loop_t *loop,
                     const struct recognizer_config *config, struct archive *archive,
                     struct repl *repl, struct http_client *http, struct base_err *err)
{
    struct recognizer *r;
    const char *problem;
    bool has_url = config->url != NULL && config->url[0] != '\0';
    struct dispatch_config dc = {config->concurrency, http, config->guard, NULL};
    if (config->attempts == 0 || config->concurrency == 0 || config->retry_ms == 0 ||
        config->retry_max_ms < config->retry_ms || config->file_bytes_max == 0) {
        base_err_set(err, "recognizer: attempts, concurrency, retry delays and the file size "
                          "limit must be positive, and the longest delay at least the first");
        return BASE_EINVAL;
    }
    if (has_url && (problem = archive_webhook_url_problem(config->url)) != NULL) {
        base_err_set(err, "--recognition-url: %s", problem);
        return BASE_EINVAL;
    }
    r = xcalloc(1, sizeof *r);
    r->loop = loop;
    r->c = *config;
    r->url = has_url ? xstrdup(config->url) : NULL;
    r->stats.configured = has_url;
    r->secret = config->secret != NULL && config->secret[0] != '\0' ? xstrdup(config->secret)
                                                                    : NULL;
    r->c.url = NULL;
    r->c.secret = NULL;
    r->a = archive;
    r->repl = repl;
    dc.data = r;
    dispatch_start(&r->d, loop, &dc, archive, repl, tick);
    *out = r;
    return 0;
}

void recognizer_get_stats(const struct recognizer *r, struct recognizer_stats *out)
{
    *out = r->stats;
    out->in_flight = r->d.n_jobs;
}

bool recognizer_configured(const struct recognizer *r)
{
    return r != NULL && r->url != NULL;
}

void recognizer_stop(struct recognizer *r)
{
    dispatch_stop(&r->d);
}

void recognizer_free(struct recognizer *r)
{
    dispatch_close(&r->d);
    if (r->secret != NULL) {
        sodium_memzero(r->secret, strlen(r->secret));
    }
    free(r->secret);
    free(r->url);
    free(r);
}
