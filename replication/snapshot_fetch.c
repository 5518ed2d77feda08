/* Fetching a whole store from another member into the staging store (see
 * snapshot_fetch.h).
 *
 * One attempt per member: a signed GET; the body gathered on the loop into a piece,
 * written by a worker job while the transfer is paused; after the body, a worker job
 * that finishes (trailer, index, close, READY), or, when the attempt failed, one that
 * closes and discards the staging store before the next member is asked. Worker jobs
 * touch only the fetch's store, writer and the piece handed to them; the loop touches
 * the rest. */
#include "replication/snapshot_fetch.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "archive/blobs.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"
#include "replication/repl_int.h"
#include "replication/snapshot_send.h"
#include "replication/peer_tls.h"
#include "storage/snapshot.h"
#include "storage/store_swap.h"

#define PATH_BYTES 4096
#define ERROR_BODY_MAX 512

enum job { JOB_NONE, JOB_DISCARD, JOB_WRITE, JOB_FINISH };

struct member {
    uint64_t id;
    char http[ARCHIVE_ADDRESS_MAX + 1];
};

struct snapshot_fetch {
    struct repl *repl;
    snapshot_fetch_cb cb;
    void *data;
    uint64_t min_index;
    char data_dir[PATH_BYTES];
    struct member *members;
    size_t n_members, next;

    /* The attempt in progress: the member asked and its transfer. */
    const struct member *member;
    struct http_client_req req;
    bool req_in_flight;
    char url[ARCHIVE_ADDRESS_MAX + 96];
    char target[80];
    struct peer_headers auth;
    struct peer_answer answer;
    unsigned resent;
    const char *headers[4];
    long status;                   /* the answer's status, once known */
    char error_body[ERROR_BODY_MAX + 1]; /* an error answer's body, cut */
    size_t error_len;
    uint64_t received;
    uint8_t tail[32]; /* the stream's last 32 bytes: its trailer's hash, at the end */
    char *buf;        /* gathered on the loop */
    size_t len, cap;
    bool http_done;
    bool http_ok; /* the whole body arrived (200, complete) */
    char http_why[320];

    /* Worker jobs: one at a time. The store and the writer are the workers'. */
    enum job job;
    bool working;
    char *wbuf;
    size_t wlen;
    struct rocks *db;
    struct snapshot_writer *writer;
    int wstatus;
    struct base_err werr;
    uint64_t index;
    uv_work_t work;

    /* The stall watch: a member that sends nothing for SNAPSHOT_FETCH_STALL_MS while
     * nothing here holds the transfer is given up. */
    uv_timer_t stall;
    uint64_t stall_received; /* received at the last look */
    unsigned stall_ms;       /* how long it has not moved */

    bool canceled;
    bool holds_repl;     /* repl_stop() waits for this fetch (repl_snapshot_fetch_stop) */
    bool attempt_failed; /* the discard job ends an attempt that failed */
    int last_status;
    bool disk_full;
    char why[1024]; /* every member's failure, in order */
};

static void queue_job(struct snapshot_fetch *f, enum job job);
static void attempt_start(struct snapshot_fetch *f);

/* ---- worker side ---- */

static bool is_disk_full(int status, const struct base_err *err)
{
    return status == BASE_ENOSPACE || strstr(err->msg, "No space left") != NULL ||
           strstr(err->msg, "ENOSPC") != NULL;
}

static void close_store(struct snapshot_fetch *f)
{
    storage_snapshot_writer_free(f->writer);
    f->writer = NULL;
    if (f->db != NULL) {
        rocks_close(f->db);
        f->db = NULL;
    }
}

/* Room on the data dir's file system for the next piece, checked before RocksDB
 * sees it: the piece goes to the write-ahead log, then to a table when the memtable
 * is flushed, and RocksDB stops the process on some failed writes (an assertion in
 * its log writer) rather than failing them. So a piece is written only while twice
 * its size and a memtable's worth (SNAPSHOT_FETCH_FREE_MIN) are free; otherwise the
 * fetch fails "disk full" and is tried again later. */
static int room_for(struct snapshot_fetch *f)
{
    struct statvfs st;
    uint64_t free_bytes, need = 2 * (uint64_t)f->wlen + SNAPSHOT_FETCH_FREE_MIN;
    if (statvfs(f->data_dir, &st) != 0) {
        return 0; /* cannot tell: RocksDB will */
    }
    free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    if (free_bytes < need) {
        base_err_set(&f->werr, "%" PRIu64 " bytes free in %s, the staging store needs %"
                     PRIu64 " free to go on; free space (or add disk) and the fetch is "
                     "tried again", free_bytes, f->data_dir, need);
        return BASE_ENOSPACE;
    }
    return 0;
}

static int write_piece(struct snapshot_fetch *f)
{
    char dir[PATH_BYTES + 16], staged[PATH_BYTES + 16];
    int rv;
    if ((rv = room_for(f)) != 0) { /* before RocksDB creates or writes a file */
        return rv;
    }
    if (f->db == NULL) {
        snprintf(dir, sizeof dir, "%s/catchup", f->data_dir);
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            base_err_set(&f->werr, "create %s: %s", dir, strerror(e));
            return base_err_from_errno(e);
        }
        storage_staged_path(f->data_dir, staged, sizeof staged);
        if ((rv = archive_store_open(&f->db, staged, &f->werr)) != 0) {
            base_err_wrap(&f->werr, "open the staging store %s", staged);
            return rv;
        }
        f->writer = storage_snapshot_writer_new(f->db);
    }
    if (f->wlen == 0) {
        return 0;
    }
    return storage_snapshot_write(f->writer, f->wbuf, f->wlen, &f->werr);
}

static int finish(struct snapshot_fetch *f)
{
    int rv = write_piece(f);
    if (rv != 0) {
        return rv;
    }
    if ((rv = storage_snapshot_writer_finish(f->writer, &f->index, &f->werr)) != 0) {
        base_err_wrap(&f->werr, "the stream is not a whole snapshot (cut short by the "
                      "member, or corrupt)");
        return rv;
    }
    if (f->index < f->min_index) {
        base_err_set(&f->werr, "the store is at index %" PRIu64 ", below the %" PRIu64
                     " asked for", f->index, f->min_index);
        return BASE_ECONFLICT;
    }
    close_store(f); /* the writer's finish made it durable */
    return storage_staged_mark_ready(f->data_dir, f->index, f->tail, &f->werr);
}

static void job_work(uv_work_t *work)
{
    struct snapshot_fetch *f = work->data;
    switch (f->job) {
    case JOB_WRITE:
        f->wstatus = write_piece(f);
        break;
    case JOB_FINISH:
        f->wstatus = finish(f);
        break;
    case JOB_DISCARD:
        close_store(f);
        f->wstatus = storage_staged_discard(f->data_dir, &f->werr);
        break;
    case JOB_NONE:
        break;
    }
}

/* ---- loop side ---- */

static void fetch_closed(uv_handle_t *h)
{
    struct snapshot_fetch *f = h->data;
    struct repl *r = f->repl;
    bool hold = f->holds_repl;
    free(f->buf);
    free(f->wbuf);
    free(f->members);
    free(f);
    if (hold) {
        repl_closed_one(r);
    }
}

static void fetch_end(struct snapshot_fetch *f, int status, const char *why)
{
    struct repl *r = f->repl;
    if (status != 0) {
        r->snap.fetch_failures++;
        LOG_WARN("snapshot", "fetching a store at index >= %" PRIu64 " failed: %s",
                 f->min_index, why);
    } else {
        LOG_INFO("snapshot", "fetched a store at index %" PRIu64 " from node %" PRIu64
                 " (%" PRIu64 " bytes): staged and READY", f->index, f->member->id,
                 f->received);
    }
    if (r->snap.fetch == f) {
        r->snap.fetch = NULL;
    }
    f->cb(f, status, status == 0 ? f->index : 0, why, f->data);
    uv_close((uv_handle_t *)&f->stall, fetch_closed); /* then freed */
}

static void note_failure(struct snapshot_fetch *f, int status, const char *what)
{
    size_t used = strlen(f->why);
    LOG_WARN("snapshot", "fetching a store from node %" PRIu64 " (%s): %s", f->member->id,
             f->member->http, what);
    snprintf(f->why + used, sizeof f->why - used, "%snode %" PRIu64 ": %s",
             used > 0 ? "; " : "", f->member->id, what);
    f->last_status = status;
    f->disk_full |= status == BASE_ENOSPACE;
}

/* The attempt is over (its transfer and its jobs): the next member, or the end. */
static void attempt_over(struct snapshot_fetch *f)
{
    if (f->canceled) {
        fetch_end(f, BASE_ECANCELED, "canceled");
        return;
    }
    if (f->next < f->n_members && !f->repl->stopping) {
        attempt_start(f);
        return;
    }
    if (f->repl->stopping) {
        fetch_end(f, BASE_ESHUTDOWN, "the node is stopping");
        return;
    }
    fetch_end(f, f->disk_full ? BASE_ENOSPACE : f->last_status != 0 ? f->last_status : BASE_EIO,
              f->why);
}

/* The transfer ended and no job runs: finish, or discard after a failure. */
static void after_transfer(struct snapshot_fetch *f)
{
    if (f->canceled || !f->http_ok) {
        if (!f->canceled) {
            note_failure(f, f->status != 0 && f->status != 200 ? BASE_EREFUSED : BASE_EIO,
                         f->http_why);
        }
        f->attempt_failed = true;
        queue_job(f, JOB_DISCARD);
        return;
    }
    free(f->wbuf);
    f->wbuf = f->buf; /* what is left */
    f->wlen = f->len;
    f->buf = NULL;
    f->len = f->cap = 0;
    queue_job(f, JOB_FINISH);
}

static void job_done(uv_work_t *work, int status)
{
    struct snapshot_fetch *f = work->data;
    enum job job = f->job;
    char what[BASE_ERR_MSG_SIZE + 64];
    (void)status; /* never canceled: the jobs are not uv_cancel()ed */
    f->working = false;
    f->job = JOB_NONE;
    free(f->wbuf);
    f->wbuf = NULL;
    f->wlen = 0;
    if (job == JOB_DISCARD) {
        if (f->wstatus != 0) {
            LOG_WARN("snapshot", "discarding the staging store: %s", f->werr.msg);
        }
        if (f->attempt_failed || f->member == NULL) {
            f->attempt_failed = false;
            attempt_over(f);
        }
        return;
    }
    if (f->wstatus != 0) {
        bool full = is_disk_full(f->wstatus, &f->werr);
        snprintf(what, sizeof what, "%s%s", full ? "disk full: " : "", f->werr.msg);
        note_failure(f, full ? BASE_ENOSPACE : f->wstatus, what);
        f->attempt_failed = true;
        if (f->req_in_flight && !f->http_done) {
            http_client_cancel(&f->req, "the staging store failed");
            /* fetch_done runs at once; it sees the failure and does not queue again */
            return;
        }
        queue_job(f, JOB_DISCARD);
        return;
    }
    if (job == JOB_FINISH && f->canceled) {
        f->attempt_failed = true; /* canceled is canceled: no READY store is left */
        queue_job(f, JOB_DISCARD);
        return;
    }
    if (job == JOB_FINISH) {
        fetch_end(f, 0, NULL);
        return;
    }
    /* A piece written. */
    if (f->canceled) {
        if (f->req_in_flight && !f->http_done) {
            http_client_cancel(&f->req, "canceled");
            return;
        }
        after_transfer(f);
        return;
    }
    if (f->http_done) {
        after_transfer(f);
    } else {
        http_client_resume(&f->req);
    }
}

static void queue_job(struct snapshot_fetch *f, enum job job)
{
    ASSERT(!f->working);
    f->job = job;
    f->working = true;
    f->werr.msg[0] = '\0';
    f->work.data = f;
    ASSERT(uv_queue_work(f->repl->loop, &f->work, job_work, job_done) == 0);
}

static void keep_tail(struct snapshot_fetch *f, const char *data, size_t n)
{
    if (n >= 32) {
        memcpy(f->tail, data + n - 32, 32);
    } else {
        memmove(f->tail, f->tail + n, 32 - n);
        memcpy(f->tail + 32 - n, data, n);
    }
}

static size_t fetch_data(struct http_client_req *req, const char *data, size_t n)
{
    struct snapshot_fetch *f = req->data;
    long status = http_client_status(req);
    f->status = status;
    if (status != 200) {
        /* An error answer: keep the start of its body for the message. */
        size_t k = n < ERROR_BODY_MAX - f->error_len ? n : ERROR_BODY_MAX - f->error_len;
        memcpy(f->error_body + f->error_len, data, k);
        f->error_len += k;
        f->error_body[f->error_len] = '\0';
        return n;
    }
    if (f->canceled || f->attempt_failed) {
        return 0;
    }
    if (f->working) {
        return HTTP_CLIENT_PAUSE; /* the worker writes a piece: this one comes again */
    }
    if (f->len + n > f->cap) {
        f->cap = f->len + n > SNAPSHOT_FETCH_PIECE ? f->len + n : SNAPSHOT_FETCH_PIECE;
        f->buf = xrealloc(f->buf, f->cap);
    }
    memcpy(f->buf + f->len, data, n);
    f->len += n;
    f->received += n;
    f->repl->snap.fetch_bytes += n;
    keep_tail(f, data, n);
    if (f->len >= SNAPSHOT_FETCH_PIECE) {
        f->wbuf = f->buf;
        f->wlen = f->len;
        f->buf = NULL;
        f->len = f->cap = 0;
        queue_job(f, JOB_WRITE);
    }
    return n;
}

static void fetch_header(struct http_client_req *req, const char *line, size_t n)
{
    struct snapshot_fetch *f = req->data;
    peer_answer_line(&f->answer, line, n);
}

static void fetch_send(struct snapshot_fetch *f);

static void fetch_done(struct http_client_req *req)
{
    struct snapshot_fetch *f = req->data;
    int64_t offset = 0;
    long status = req->status != 0 ? req->status : f->status;
    bool learned = peer_headers_learn(f->repl->auth, f->member->http, &f->auth, &f->answer,
                                      &offset);
    f->req_in_flight = false;
    if (!f->canceled && !f->attempt_failed && status == 401 && f->received == 0 &&
        f->resent < PEER_AUTH_RESENDS_MAX && !f->repl->stopping &&
        peer_auth_should_resign(status, learned, &f->auth, offset)) {
        /* Refused for the time window: sign again with the member's clock. */
        f->resent++;
        free(req->response);
        fetch_send(f);
        return;
    }
    f->http_done = true;
    f->http_ok = req->status == 200 && req->error[0] == '\0';
    if (!f->http_ok) {
        if (status != 0 && status != 200) {
            snprintf(f->http_why, sizeof f->http_why, "answered HTTP %ld: %.200s", status,
                     f->error_body[0] != '\0' ? f->error_body : "(no body)");
        } else {
            snprintf(f->http_why, sizeof f->http_why, "%s after %" PRIu64 " bytes",
                     req->error[0] != '\0' ? req->error : "transfer failed", f->received);
        }
    }
    free(req->response);
    req->response = NULL;
    if (f->working) {
        return; /* job_done goes on */
    }
    if (f->attempt_failed) {
        queue_job(f, JOB_DISCARD); /* the store failed: note_failure() said so */
        return;
    }
    after_transfer(f);
}

static void stall_tick(uv_timer_t *t)
{
    struct snapshot_fetch *f = t->data;
    if (!f->req_in_flight || f->http_done || f->working || f->received != f->stall_received) {
        f->stall_received = f->received;
        f->stall_ms = 0;
        return;
    }
    f->stall_ms += SNAPSHOT_FETCH_STALL_CHECK_MS;
    if (f->stall_ms >= SNAPSHOT_FETCH_STALL_MS) {
        char why[96];
        snprintf(why, sizeof why, "no bytes from the member for %u s",
                 SNAPSHOT_FETCH_STALL_MS / 1000);
        f->stall_ms = 0;
        http_client_cancel(&f->req, why);
    }
}

static void fetch_send(struct snapshot_fetch *f)
{
    memset(&f->req, 0, sizeof f->req);
    f->status = 0;
    f->error_len = 0;
    f->error_body[0] = '\0';
    peer_answer_reset(&f->answer);
    f->req.data = f;
    peer_get_prepare(f->repl, &f->req, &f->auth, f->headers, f->member->http, f->url,
                     f->target, NULL, fetch_data, fetch_header);
    f->req.timeout_ms = SNAPSHOT_FETCH_TIMEOUT_MS;
    f->req.connect_timeout_ms = 2000;
    f->req_in_flight = true;
    http_client_send(f->repl->http, &f->req, fetch_done);
}

/* Asks the next member (the staging store is empty: discarded before). */
static void attempt_start(struct snapshot_fetch *f)
{
    f->member = &f->members[f->next++];
    f->resent = 0;
    f->received = 0;
    f->len = 0;
    f->http_done = f->http_ok = false;
    f->attempt_failed = false;
    f->http_why[0] = '\0';
    memset(f->tail, 0, sizeof f->tail);
    snprintf(f->target, sizeof f->target, "%s?min_index=%" PRIu64, PEER_PATH_SNAPSHOT,
             f->min_index);
    snprintf(f->url, sizeof f->url, "%s://%s%s", peer_scheme(), f->member->http, f->target);
    LOG_INFO("snapshot", "fetching a store at index >= %" PRIu64 " from node %" PRIu64
             " (%s)", f->min_index, f->member->id, f->member->http);
    fetch_send(f);
}

struct pick {
    struct snapshot_fetch *f;
    uint64_t self, leader;
};

static void add_member(struct snapshot_fetch *f, uint64_t id, const char *http)
{
    for (size_t i = 0; i < f->n_members; i++) {
        if ((id != 0 && f->members[i].id == id) || strcmp(f->members[i].http, http) == 0) {
            return;
        }
    }
    f->members = xrealloc(f->members, (f->n_members + 1) * sizeof *f->members);
    f->members[f->n_members].id = id;
    snprintf(f->members[f->n_members].http, sizeof f->members[0].http, "%s", http);
    f->n_members++;
}

static void pick_member(const NodeRecord *node, void *arg)
{
    struct pick *p = arg;
    if (node != NULL && node->id != p->self && !node->removed && node->http != NULL &&
        node->http[0] != '\0') {
        add_member(p->f, node->id, node->http);
    }
}

struct snapshot_fetch *repl_snapshot_fetch(struct repl *r, uint64_t min_index,
                                           const struct repl_descriptor *hint,
                                           snapshot_fetch_cb cb, void *data, char *why,
                                           size_t why_size)
{
    struct base_err err = {{0}};
    struct snapshot_fetch *f;
    struct pick pick;
    char leader_http[ARCHIVE_ADDRESS_MAX + 1];
    uint64_t leader = 0;
    if (r->auth == NULL) {
        snprintf(why, why_size, "this node has no cluster secret to ask other members");
        return NULL;
    }
    if (r->stopping) {
        snprintf(why, why_size, "the node is stopping");
        return NULL;
    }
    if (r->snap.fetch != NULL) {
        snprintf(why, why_size, "a store fetch is in flight already");
        return NULL;
    }
    if (r->conf.data_dir == NULL || strlen(r->conf.data_dir) >= PATH_BYTES - 32) {
        snprintf(why, why_size, "no usable data directory");
        return NULL;
    }
    f = xcalloc(1, sizeof *f);
    f->repl = r;
    f->cb = cb;
    f->data = data;
    f->min_index = min_index;
    snprintf(f->data_dir, sizeof f->data_dir, "%s", r->conf.data_dir);
    /* The node whose snapshot it is, then the leader (it has applied the most), then
     * the members the snapshot names. */
    if (hint != NULL && hint->http[0] != '\0' && hint->node_id != r->id) {
        add_member(f, hint->node_id, hint->http);
    }
    if (repl_leader_http(r, &leader, leader_http, sizeof leader_http) && leader != r->id) {
        add_member(f, leader, leader_http);
    }
    for (size_t i = 0; hint != NULL && i < hint->n_members; i++) {
        if (hint->members[i].id != r->id && hint->members[i].http[0] != '\0') {
            add_member(f, hint->members[i].id, hint->members[i].http);
        }
    }
    pick = (struct pick){.f = f, .self = r->id, .leader = leader};
    if (archive_each_node(r->archive, pick_member, &pick, &err) != 0) {
        LOG_WARN("snapshot", "listing the members to fetch from: %s", err.msg);
    }
    if (r->conf.join[0] != '\0') {
        add_member(f, 0, r->conf.join); /* its id is not known here */
    }
    if (f->n_members == 0) {
        snprintf(why, why_size, "no other member with an HTTP address to fetch a store from");
        free(f->members);
        free(f);
        return NULL;
    }
    r->snap.fetch = f;
    r->snap.fetches_total++;
    uv_timer_init(r->loop, &f->stall);
    f->stall.data = f;
    uv_timer_start(&f->stall, stall_tick, SNAPSHOT_FETCH_STALL_CHECK_MS,
                   SNAPSHOT_FETCH_STALL_CHECK_MS);
    /* First the previous staging, whatever it was, on a worker. */
    queue_job(f, JOB_DISCARD);
    return f;
}

static void cancel(struct snapshot_fetch *f)
{
    if (f->canceled) {
        return;
    }
    f->canceled = true;
    if (f->req_in_flight && !f->http_done && !f->working) {
        http_client_cancel(&f->req, "canceled");
    }
    /* Else the job in flight sees the flag when it ends. */
}

void repl_snapshot_fetch_cancel(struct snapshot_fetch *f)
{
    ASSERT(!f->canceled || f->holds_repl);
    cancel(f);
}

unsigned repl_snapshot_fetch_stop(struct repl *r)
{
    struct snapshot_fetch *f = r->snap.fetch;
    if (f == NULL) {
        return 0;
    }
    f->holds_repl = true;
    cancel(f);
    return 1;
}
