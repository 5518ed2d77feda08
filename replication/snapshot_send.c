/* GET /internal/v1/snapshot (see snapshot_send.h). */
#include "replication/snapshot_send.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"
#include "storage/snapshot.h"

struct snapshot_send {
    struct repl *repl;
    struct http_request *req;
    struct snapshot_reader *reader;
    uint64_t index;
    uint64_t sent;
    bool started; /* the head is out */
    char *piece;  /* read by the worker, handed to the server */
    size_t len;
    int status;
    struct base_err err;
    uv_work_t work;
    uint64_t start_ms;
    uv_timer_t *pace; /* holds the next piece back under --snapshot-send-bytes-per-s */
};

static void send_free(struct snapshot_send *s, bool ok)
{
    struct repl *r = s->repl;
    ASSERT(r->snap.sends_in_flight > 0);
    r->snap.sends_in_flight--;
    if (!ok) {
        r->snap.sends_failed++;
    }
    storage_snapshot_reader_free(s->reader);
    free(s->piece);
    if (s->pace != NULL) {
        uv_close((uv_handle_t *)s->pace, (uv_close_cb)free);
    }
    free(s);
}

static void read_work(uv_work_t *work)
{
    struct snapshot_send *s = work->data;
    /* Under a bandwidth limit, pieces of an eighth of a second's worth keep the
     * stream even. */
    uint64_t rate = s->repl->conf.snapshot_send_rate;
    size_t cap = rate == 0 || rate / 8 >= SNAPSHOT_SEND_PIECE ? SNAPSHOT_SEND_PIECE
                 : rate / 8 < (16u << 10)                      ? (16u << 10)
                                                               : (size_t)(rate / 8);
    s->piece = xmalloc(cap);
    s->status = storage_snapshot_read(s->reader, s->piece, cap, &s->len,
                                      &s->err);
}

static void after_read(uv_work_t *work, int status);

static void next_read(struct snapshot_send *s)
{
    s->work.data = s;
    ASSERT(uv_queue_work(s->repl->loop, &s->work, read_work, after_read) == 0);
}

static void paced(uv_timer_t *t)
{
    next_read(t->data);
}

static void written(struct http_request *req, int status)
{
    struct snapshot_send *s = req->data;
    uint64_t rate = s->repl->conf.snapshot_send_rate;
    if (status != 0) {
        LOG_WARN("snapshot", "request_id=%s peer=%s: snapshot send at index %" PRIu64
                 " ended after %" PRIu64 " bytes: the receiver went away", req->request_id,
                 req->peer, s->index, s->sent);
        http_respond_end(req);
        send_free(s, false);
        return;
    }
    if (rate > 0) {
        /* The bytes sent so far may have taken sent/rate seconds: wait out the rest. */
        uint64_t due = s->start_ms + s->sent * 1000 / rate, now = uv_now(s->repl->loop);
        if (due > now) {
            if (s->pace == NULL) {
                s->pace = xmalloc(sizeof *s->pace);
                uv_timer_init(s->repl->loop, s->pace);
                s->pace->data = s;
            }
            uv_timer_start(s->pace, paced, due - now, 0);
            return;
        }
    }
    next_read(s);
}

static void after_read(uv_work_t *work, int status)
{
    struct snapshot_send *s = work->data;
    struct http_request *req = s->req;
    if (status != 0 || s->status != 0) {
        LOG_ERROR("snapshot", "request_id=%s: reading the store for a snapshot at index %"
                  PRIu64 ": %s", req->request_id, s->index,
                  status != 0 ? "canceled" : s->err.msg);
        if (!s->started) {
            peer_respond_error(req, 500, PEER_E_INTERNAL,
                               "this node could not read its store for a snapshot (%s); "
                               "ask another member", status != 0 ? "canceled" : s->err.msg);
        } else {
            /* Cut short: the stream lacks its trailer, which the receiver checks. */
            http_respond_end(req);
        }
        send_free(s, false);
        return;
    }
    if (!s->started) {
        char index[24];
        s->started = true;
        s->repl->snap.sends_total++;
        snprintf(index, sizeof index, "%" PRIu64, s->index);
        http_request_add_header(req, SNAPSHOT_INDEX_HEADER, index);
        http_respond_start(req, 200, "application/octet-stream", -1);
    }
    if (s->len == 0) {
        LOG_INFO("snapshot", "request_id=%s peer=%s: snapshot at index %" PRIu64 " sent (%"
                 PRIu64 " bytes)", req->request_id, req->peer, s->index, s->sent);
        http_respond_end(req);
        send_free(s, true);
        return;
    }
    s->sent += s->len;
    s->repl->snap.send_bytes += s->len;
    http_respond_write(req, s->piece, s->len, written);
    s->piece = NULL;
}

/* min_index: absent is 0; otherwise 1 to 20 decimal digits that fit in 64 bits. */
static bool parse_min_index(const char *v, uint64_t *out)
{
    uint64_t n = 0;
    if (v == NULL) {
        *out = 0;
        return true;
    }
    if (v[0] == '\0' || strlen(v) > 20) {
        return false;
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || n > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
            return false;
        }
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *out = n;
    return true;
}

void repl_snapshot_serve(struct repl *r, struct http_request *req)
{
    char *v = http_request_query(req, "min_index");
    uint64_t min_index;
    char buf[24];
    bool ok = parse_min_index(v, &min_index);
    if (!ok) {
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST,
                           "min_index must be a decimal index (0 to 2^64-1), not \"%.64s\"", v);
        free(v);
        return;
    }
    free(v);
    switch (repl_snapshot_stream(r, req, min_index)) {
    case 0:
        return;
    case BASE_EREFUSED:
        snprintf(buf, sizeof buf, "%d", SNAPSHOT_SEND_RETRY_AFTER_S);
        http_request_add_header(req, "Retry-After", buf);
        peer_respond_error(req, 503, PEER_E_UNAVAILABLE,
                           "this node is catching up itself (its store is being replaced); "
                           "ask another member");
        return;
    case BASE_ECONFLICT:
        snprintf(buf, sizeof buf, "%d", SNAPSHOT_SEND_RETRY_AFTER_S);
        http_request_add_header(req, "Retry-After", buf);
        peer_respond_error(req, 503, PEER_E_UNAVAILABLE,
                           "this node is sending %u snapshot(s) already; retry later or ask "
                           "another member", r->snap.sends_in_flight);
        return;
    default:
        peer_respond_error(req, 409, PEER_E_INDEX_NOT_REACHED,
                           "this node has applied only up to %" PRIu64 " (min_index %" PRIu64
                           "); ask another member", r->archive->applied_index, min_index);
        return;
    }
}

int repl_snapshot_stream(struct repl *r, struct http_request *req, uint64_t min_index)
{
    struct snapshot_send *s;
    uint64_t applied = r->archive->applied_index;
    if (repl_catching_up(r)) {
        return BASE_EREFUSED;
    }
    if (applied < min_index) {
        return BASE_ERETRY;
    }
    if (r->snap.sends_in_flight >= SNAPSHOT_SENDS_MAX) {
        return BASE_ECONFLICT;
    }
    s = xcalloc(1, sizeof *s);
    s->repl = r;
    s->req = req;
    /* The pinned snapshot and the index, both now, on the loop: they agree. */
    s->index = applied;
    s->start_ms = uv_now(r->loop);
    s->reader = storage_snapshot_reader_new(r->archive->db, applied);
    r->snap.sends_in_flight++;
    req->data = s;
    LOG_INFO("snapshot", "request_id=%s peer=%s: sending a snapshot at index %" PRIu64,
             req->request_id, req->peer, applied);
    next_read(s);
    return 0;
}
