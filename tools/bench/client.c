/* One client: its curl handle or raw connection, its counters and latencies, the
 * request of operation n of the phase, and its thread, which runs operations until
 * the phase's limit or deadline. The curl engine lives here; raw.c is the other. */
#include "tools/bench/bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/mem.h"

/* ---- one client ---- */

void keep_resp(struct client *c, const char *data, size_t len)
{
    if (c->resp_len < sizeof c->resp - 1) {
        size_t keep = sizeof c->resp - 1 - c->resp_len;
        keep = len < keep ? len : keep;
        memcpy(c->resp + c->resp_len, data, keep);
        c->resp_len += keep;
    }
    c->resp_bytes += len;
}

static size_t client_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    keep_resp(userdata, data, size * nmemb);
    return size * nmemb;
}

/* The upload body: the client's prefix, then the shared body from PREFIX_BYTES on. */
static size_t client_read_cb(char *buf, size_t size, size_t nmemb, void *userdata)
{
    struct client *c = userdata;
    uint64_t total = c->b->o.size;
    size_t room = size * nmemb, done = 0;
    while (done < room && c->send_off < total) {
        bool in_prefix = c->send_off < PREFIX_BYTES;
        const unsigned char *src = in_prefix ? c->prefix : c->b->body;
        uint64_t avail = (in_prefix ? PREFIX_BYTES : total) - c->send_off;
        size_t n = avail < room - done ? (size_t)avail : room - done;
        memcpy(buf + done, src + c->send_off, n);
        done += n;
        c->send_off += n;
    }
    return done;
}

/* curl rewinds when it resends on a new connection (the kept-alive one was closed). */
static int client_seek_cb(void *userdata, curl_off_t offset, int origin)
{
    struct client *c = userdata;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->b->o.size) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    c->send_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Client @i talks to URL i mod n of --server. */
void client_init(struct client *c, struct bench *b, unsigned i)
{
    *c = (struct client){.b = b, .fd = -1, .tgt = &b->targets[i % b->ntargets]};
    c->url_size = strlen(c->tgt->base) + strlen(b->tenant_q) + 256 +
                  TEMPLATE_GROWTH * TEMPLATE_MAX; /* an http phase's expanded --path */
    c->url = xmalloc(c->url_size);
    if (b->o.engine == ENGINE_RAW) {
        c->rbuf = xmalloc(RAW_BUFFER_BYTES);
        /* the head, and for a push the JSON body after it */
        c->head_size = c->url_size + strlen(c->tgt->host_hdr) + strlen(b->auth_hdr) + 256 +
                       PUSH_BODY_MAX;
        c->head = xmalloc(c->head_size);
        return;
    }
    c->curl = curl_easy_init();
    ASSERT(c->curl != NULL);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    if (c->b->o.cacert != NULL) {
        curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->b->o.cacert);
    }
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, client_read_cb);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_SEEKFUNCTION, client_seek_cb);
    curl_easy_setopt(c->curl, CURLOPT_SEEKDATA, c);
    /* Large buffers: fewer recv/send calls and callbacks per 200 KB body. */
    curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
    curl_easy_setopt(c->curl, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER_BYTES);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, IO_TIMEOUT_S);
}

void client_close(struct client *c)
{
    raw_close(c);
    curl_easy_cleanup(c->curl);
    free(c->rbuf);
    free(c->head);
    free(c->url);
    free(c->lat_ns);
    free(c->files);
}

/* Resets the counters and sets what stays the same for every request of the phase.
 * @expect_ops sizes the latency array so that the request path does not allocate. */
void client_phase_begin(struct client *c, enum phase_kind kind, size_t expect_ops)
{
    memset(&c->t, 0, sizeof c->t);
    c->lat_len = 0;
    if (c->lat_cap < expect_ops) {
        c->lat_cap = expect_ops;
        c->lat_ns = xrealloc(c->lat_ns, c->lat_cap * sizeof *c->lat_ns);
    }
    c->files_len = 0;
    if (phase_is_upload(kind)) {
        if (c->files_cap < expect_ops) {
            c->files_cap = expect_ops;
            c->files = xrealloc(c->files, c->files_cap * sizeof *c->files);
        }
    }
    if (c->curl == NULL) {
        return;
    }
    if (phase_is_upload(kind)) {
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->b->o.size);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->post_headers);
    } else if (kind == PHASE_PUSH) {
        /* the body is c->push_body, set per operation (curl_perform) */
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->push_body);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->json_headers);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->get_headers);
    }
}

/* Prints a failed operation (the first few of each phase only) and counts it. */
static void client_error(struct client *c, unsigned slot, long status, const char *detail)
{
    struct bench *b = c->b;
    c->t.errors[slot]++;
    if (atomic_fetch_add(&b->errors_shown, 1) >= ERROR_BODIES_SHOWN) {
        return;
    }
    pthread_mutex_lock(&b->print_lock);
    /* the path: an http phase's target follows the origin, not the whole --server URL */
    fprintf(stderr, "imgarc-bench: %s error: %s", phase_names[b->kind],
            c->url + (b->kind == PHASE_HTTP ? c->tgt->origin_len : strlen(c->tgt->base)));
    if (c->push_len > 0 && (b->kind == PHASE_PUSH || b->kind == PHASE_HTTP)) {
        fprintf(stderr, " %.*s", (int)c->push_len, c->push_body);
    }
    if (b->ntargets > 1) {
        fprintf(stderr, " (node %s)", c->tgt->base);
    }
    if (status != 0) {
        fprintf(stderr, " -> HTTP %ld", status);
    }
    fprintf(stderr, ": ");
    for (const char *p = detail; *p != '\0' && p - detail < 400; p++) {
        fputc(*p >= 0x20 && *p < 0x7f ? *p : '.', stderr);
    }
    fputc('\n', stderr);
    pthread_mutex_unlock(&b->print_lock);
}

/* Writes @tmpl with {n} replaced by operation @n (modulo --keys when given) in
 * TEMPLATE_NUM_DIGITS zero-padded digits and {r} by the run id; returns the length. The
 * options cap a template at TEMPLATE_MAX bytes, so @size of TEMPLATE_GROWTH *
 * TEMPLATE_MAX + 1 is always enough. */
static size_t expand_template(const struct bench *b, const char *tmpl, uint64_t n, char *out,
                              size_t size)
{
    size_t len = 0;
    uint64_t v = b->o.keys != 0 ? n % b->o.keys : n;
    for (const char *p = tmpl; *p != '\0';) {
        int w = 0;
        if (strncmp(p, "{n}", 3) == 0) {
            w = snprintf(out + len, size - len, "%0*" PRIu64, TEMPLATE_NUM_DIGITS, v);
            p += 3;
        } else if (strncmp(p, "{r}", 3) == 0) {
            w = snprintf(out + len, size - len, "%s", b->run_id);
            p += 3;
        } else {
            w = snprintf(out + len, size - len, "%c", *p);
            p++;
        }
        ASSERT(w > 0 && (size_t)w < size - len);
        len += (size_t)w;
    }
    return len;
}

/* Builds the URL (and for a push the JSON body) of operation @n of the phase. */
static void client_prepare(struct client *c, uint64_t n)
{
    struct bench *b = c->b;
    const char *base = c->tgt->base;
    const char *query = b->tenant_q[0] != '\0' ? "?" : ""; /* "?tenant=..." on GETs */
    int len;
    c->resp_len = 0;
    c->resp_bytes = 0;
    c->errbuf[0] = '\0';
    switch (b->kind) {
    case PHASE_UPLOAD:
    case PHASE_SEED:
        memcpy(c->prefix, b->run_id, 8);
        memcpy(c->prefix + 8, &n, 8);
        c->send_off = 0;
        snprintf(c->url, c->url_size,
                 "%s/api/v1/bills/BENCH-%s-%" PRIu64 "/files?name=bench-%" PRIu64 ".bin%s", base,
                 b->run_id, n % b->o.bills, n, b->tenant_q);
        break;
    case PHASE_READ:
        snprintf(c->url, c->url_size, "%s/api/v1/files/%s/content%s%s", base,
                 b->files[n % b->nfiles].id, query, b->tenant_q + (query[0] != '\0'));
        break;
    case PHASE_STATUS:
        snprintf(c->url, c->url_size, "%s/api/v1/bills/BENCH-%s-%" PRIu32 "/status%s%s", base,
                 b->run_id, b->live_bills[n % b->nlive], query, b->tenant_q + (query[0] != '\0'));
        break;
    case PHASE_PUSH:
        /* A new image number per operation: each push creates a pool bill (201). The
         * fields are what an ERP sends on save: bill number, submitter, amount. */
        snprintf(c->url, c->url_size, "%s/api/v1/pool%s%s", base, query,
                 b->tenant_q + (query[0] != '\0'));
        len = snprintf(c->push_body, sizeof c->push_body,
                       "{\"image_no\":\"BENCH-%s-P%" PRIu64 "\",\"bill_no\":\"ER-%s-%" PRIu64
                       "\",\"submitter\":\"bench\",\"amount\":\"%" PRIu64 ".%02u\","
                       "\"currency\":\"CNY\"}",
                       b->run_id, n, b->run_id, n, 10 + n % 100000, (unsigned)(n % 100));
        ASSERT(len > 0 && (size_t)len < sizeof c->push_body);
        c->push_len = (size_t)len;
        break;
    case PHASE_HTTP:
        len = snprintf(c->url, c->url_size, "%.*s", (int)c->tgt->origin_len, base);
        ASSERT(len > 0 && (size_t)len < c->url_size);
        expand_template(b, b->o.path, n, c->url + len, c->url_size - (size_t)len);
        c->push_len = 0;
        if (b->o.body_tmpl != NULL) {
            c->push_len = expand_template(b, b->o.body_tmpl, n, c->push_body, sizeof c->push_body);
        }
        memcpy(c->prefix, b->run_id, 8);
        memcpy(c->prefix + 8, &n, 8);
        break;
    }
}

/* Keeps the file id of a successful upload; returns false when the answer has none. */
static bool client_keep_file(struct client *c, uint64_t n)
{
    json_t *root = json_loadb(c->resp, c->resp_len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "file_id"));
    bool ok = id != NULL && strlen(id) < FILE_ID_MAX;
    if (ok) {
        if (c->files_len == c->files_cap) {
            c->files_cap = c->files_cap * 2 + 16;
            c->files = xrealloc(c->files, c->files_cap * sizeof *c->files);
        }
        c->files[c->files_len].op = n;
        snprintf(c->files[c->files_len].id, FILE_ID_MAX, "%s", id);
        c->files_len++;
    }
    json_decref(root);
    return ok;
}

/* ---- the request path ---- */

static int curl_perform(struct client *c, long *status)
{
    long connects = 0;
    CURLcode rc;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    if (c->b->kind == PHASE_PUSH) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)c->push_len);
    }
    c->send_off = 0;
    rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    c->t.connects += (uint64_t)connects;
    if (rc != CURLE_OK) {
        if (c->errbuf[0] == '\0') {
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_easy_strerror(rc));
        }
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static void client_run_op(struct client *c, uint64_t n)
{
    struct bench *b = c->b;
    long status = 0;
    uint64_t t0, dt;
    int rc;
    client_prepare(c, n);
    t0 = clock_mono_ns();
    rc = c->curl != NULL ? curl_perform(c, &status) : raw_perform(c, &status);
    dt = clock_mono_ns() - t0;
    if (c->lat_len == c->lat_cap) {
        c->lat_cap = c->lat_cap * 2 + 16;
        c->lat_ns = xrealloc(c->lat_ns, c->lat_cap * sizeof *c->lat_ns);
    }
    c->lat_ns[c->lat_len++] = dt;
    c->t.ops++;
    c->resp[c->resp_len] = '\0';
    if (rc != 0) {
        client_error(c, ERR_TRANSPORT, 0, c->errbuf);
        return;
    }
    if (status < 200 || status > 299) {
        client_error(c, status >= 100 && status < ERR_SLOTS ? (unsigned)status : ERR_STATUS_ODD,
                     status, c->resp);
        return;
    }
    if (phase_is_upload(b->kind) && !client_keep_file(c, n)) {
        client_error(c, ERR_BAD_BODY, status, "no file_id in the answer");
        return;
    }
    /* Each push names a new image number, so the node must have created a bill. */
    if (b->kind == PHASE_PUSH && memmem(c->resp, c->resp_len, "\"created\":true", 14) == NULL) {
        client_error(c, ERR_BAD_BODY, status, "no \"created\":true in the answer");
        return;
    }
    if (b->kind == PHASE_READ && c->resp_bytes != b->o.size) {
        client_error(c, ERR_BAD_BODY, status, "content is not --size bytes long");
        return;
    }
    c->t.ok++;
    if (b->kind == PHASE_HTTP) { /* what was sent, or for a GET what came back */
        c->t.bytes += c->push_len != 0                  ? c->push_len
                      : strcmp(b->o.method, "GET") != 0 ? b->o.size
                                                        : c->resp_bytes;
        return;
    }
    c->t.bytes += phase_is_upload(b->kind) ? b->o.size
                  : b->kind == PHASE_PUSH     ? c->push_len
                                              : c->resp_bytes;
}

void *client_main(void *arg)
{
    struct client *c = arg;
    struct bench *b = c->b;
    pthread_barrier_wait(&b->start);
    for (;;) {
        uint64_t n = atomic_fetch_add_explicit(&b->next_op, 1, memory_order_relaxed);
        if (n >= b->op_limit || (b->deadline_ns != 0 && clock_mono_ns() >= b->deadline_ns)) {
            break;
        }
        client_run_op(c, n);
    }
    return NULL;
}
