/* Catching up from a store fetched from another member: the receiving side of the
 * "store" snapshot format (docs/snapshots.md, steps 4 and 6).
 *
 * A snapshot of that format is a descriptor (entry.h): the index I the taking node's
 * store was durable at, and where to fetch it. When raft installs one this node's store
 * is behind (at A < I), so the node catches up:
 *  - raft goes on: every entry it hands the state machine is appended to a spool file
 *    (DATA/catchup-spool: index, length, the entry) instead of being applied, written
 *    by the thread pool at offsets given here, in order;
 *  - snapshot_fetch.c fetches a store at J >= I from another member into
 *    DATA/catchup/store and marks it READY; a failed fetch is tried again with
 *    back-off, for as long as it takes;
 *  - the swap: once the spool's writes are done and no thread uses the live store,
 *    rocks_reopen() closes it, storage_staged_swap() puts the staged copy in its place
 *    and the store is opened again; the archive reads J. Then the spool is applied in
 *    order: entries at or below J are skipped by archive_apply() (the sender had
 *    applied them), the rest are applied, and the node serves again.
 * Meanwhile the API answers 503 (api/router.c), the keeper makes no pass, raft's own
 * snapshots are refused (RAFT_BUSY: raft tries later) and a leader hands its
 * leadership on. A crash at any step is settled at the next start: a READY store is
 * swapped in before the store opens (storage_staged_recover()), anything else is
 * discarded, and raft installs the descriptor again and delivers the entries after it
 * from its log.
 *
 * Loop thread only. The spool is read back on the loop when the swap happens (bounded:
 * the entries committed while the store was fetched), like the store's close and open. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/entry.h"
#include "replication/repl_int.h"
#include "replication/snapshot_fetch.h"
#include "storage/rocks.h"
#include "storage/store_swap.h"

#define RETRY_MIN_MS 500
#define RETRY_MAX_MS 30000
#define SWAP_RETRY_MS 50
#define SPOOL_HEAD 12 /* index (be64), length (be32) */
#define SPOOL_READ (1u << 20)

struct spool_write {
    uv_fs_t req;
    struct repl *r;
    uv_buf_t buf;
    uint8_t data[];
};

static void schedule(struct repl *r, uint64_t ms);
static void maybe_closed(struct repl *r);

static void spool_path(struct repl *r, char *out, size_t size)
{
    snprintf(out, size, "%s/catchup-spool", r->conf.data_dir);
}

bool repl_catching_up(const struct repl *r)
{
    return r->catchup.active;
}

/* ---- The spool ---- */

static int spool_open(struct repl *r)
{
    char path[4096];
    spool_path(r, path, sizeof path);
    r->catchup.spool_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (r->catchup.spool_fd < 0) {
        LOG_ERROR("raft", "catch-up: cannot create %s: %s; stopping the node (a restart "
                  "catches up again)", path, strerror(errno));
        abort();
    }
    r->catchup.spool_off = 0;
    r->catchup.spooled = 0;
    return 0;
}

static void spool_written(uv_fs_t *req)
{
    struct spool_write *w = req->data;
    struct repl *r = w->r;
    ssize_t res = req->result;
    size_t len = w->buf.len;
    uv_fs_req_cleanup(req);
    free(w);
    r->catchup.spool_writes--;
    if (r->stopping) {
        maybe_closed(r); /* a write cut short by the stop is replayed from raft's log */
        return;
    }
    if (res < 0 || (size_t)res != len) {
        /* The spool is the only copy of these entries here until the store is in:
         * without it the swap cannot be finished. A restart starts the catch-up again
         * and raft hands the entries over again from its log. */
        LOG_ERROR("raft", "catch-up: writing the spool failed: %s; stopping the node (a "
                  "restart catches up again)", res < 0 ? uv_strerror((int)res) : "short write");
        abort();
    }
}

void repl_catchup_spool(struct repl *r, uint64_t index, const struct raft_buffer *buf)
{
    struct spool_write *w = xmalloc(sizeof *w + SPOOL_HEAD + buf->len);
    uint8_t *p = w->data;
    int rv;
    rocks_put_be64(p, index);
    p[8] = (uint8_t)(buf->len >> 24);
    p[9] = (uint8_t)(buf->len >> 16);
    p[10] = (uint8_t)(buf->len >> 8);
    p[11] = (uint8_t)buf->len;
    memcpy(p + SPOOL_HEAD, buf->base, buf->len);
    w->r = r;
    w->buf = uv_buf_init((char *)p, (unsigned)(SPOOL_HEAD + buf->len));
    w->req.data = w;
    rv = uv_fs_write(r->loop, &w->req, r->catchup.spool_fd, &w->buf, 1,
                     (int64_t)r->catchup.spool_off, spool_written);
    if (rv != 0) {
        LOG_ERROR("raft", "catch-up: cannot queue a spool write: %s; stopping the node",
                  uv_strerror(rv));
        abort();
    }
    r->catchup.spool_off += SPOOL_HEAD + buf->len;
    r->catchup.spool_writes++;
    r->catchup.spooled++;
}

static bool read_full(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Applies the spooled entries above the store's index, in order. */
static int spool_replay(struct repl *r, uint64_t *applied, struct base_err *err)
{
    char path[4096];
    uint64_t read_off = 0;
    int fd;
    *applied = 0;
    spool_path(r, path, sizeof path);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        base_err_set(err, "open %s: %s", path, strerror(errno));
        return BASE_EIO;
    }
    while (read_off < r->catchup.spool_off) {
        uint8_t head[SPOOL_HEAD];
        struct raft_buffer buf;
        uint64_t index;
        size_t len;
        int rv;
        if (!read_full(fd, head, sizeof head)) {
            close(fd);
            base_err_set(err, "the spool %s is cut short at byte %" PRIu64, path, read_off);
            return BASE_ECORRUPT;
        }
        index = rocks_get_be64(head);
        len = (size_t)head[8] << 24 | (size_t)head[9] << 16 | (size_t)head[10] << 8 | head[11];
        buf.len = len;
        buf.base = xmalloc(len > 0 ? len : 1);
        if (!read_full(fd, buf.base, len)) {
            free(buf.base);
            close(fd);
            base_err_set(err, "the spool %s is cut short at byte %" PRIu64, path, read_off);
            return BASE_ECORRUPT;
        }
        read_off += SPOOL_HEAD + len;
        if (index > r->archive->applied_index) {
            rv = repl_apply_buffer(r, index, &buf, err);
            if (rv != 0) {
                free(buf.base);
                close(fd);
                return rv;
            }
            (*applied)++;
        }
        free(buf.base);
    }
    close(fd);
    return 0;
}

static void spool_remove(struct repl *r)
{
    char path[4096];
    if (r->catchup.spool_fd >= 0 && r->catchup.spool_writes == 0) {
        close(r->catchup.spool_fd);
        r->catchup.spool_fd = -1;
    }
    spool_path(r, path, sizeof path);
    unlink(path);
}

/* ---- The fetch and the swap ---- */

static int swap_between(void *arg, struct base_err *err)
{
    struct repl *r = arg;
    return storage_staged_swap(r->conf.data_dir, err);
}

static void finish(struct repl *r)
{
    struct base_err err = {{0}};
    uint64_t replayed = 0;
    int rv;
    if (r->catchup.spool_writes > 0) {
        schedule(r, SWAP_RETRY_MS); /* the spool's last writes first */
        return;
    }
    rv = rocks_reopen(r->archive->db, swap_between, r, &err);
    if (rv == BASE_ERETRY) {
        /* A thread still reads the store: a keeper pass ends, a digest is done. */
        if (++r->catchup.swap_waits % (5000 / SWAP_RETRY_MS) == 0) {
            LOG_WARN("raft", "catch-up: the fetched store waits to be swapped in: %s",
                     err.msg);
        }
        schedule(r, SWAP_RETRY_MS);
        return;
    }
    if (rv == 0) {
        rv = archive_open(r->archive, r->archive->db, &err);
    }
    if (rv != 0) {
        LOG_ERROR("raft", "catch-up: swapping the fetched store in failed: %s; stopping the "
                  "node (the next start finishes or undoes the swap)", err.msg);
        abort();
    }
    if ((rv = spool_replay(r, &replayed, &err)) != 0) {
        LOG_ERROR("raft", "catch-up: applying the spool failed: %s; stopping the node (a "
                  "restart applies raft's log again)", err.msg);
        abort();
    }
    LOG_INFO("raft", "caught up: the store fetched at index %" PRIu64 " is in, %" PRIu64
             " spooled entries applied after it; applied_index=%" PRIu64 " (%.1f s)",
             r->catchup.staged, replayed, r->archive->applied_index,
             (double)(uv_now(r->loop) - r->catchup.started_ms) / 1000.0);
    spool_remove(r);
    r->catchup.active = false;
    r->catchup.total++;
    r->catchup.staged = 0;
    repl_waits_kick(r);
}

static void start_fetch(struct repl *r);

static void fetched(struct snapshot_fetch *f, int status, uint64_t index, const char *why,
                    void *data)
{
    struct repl *r = data;
    uint64_t delay;
    if (f != NULL) {
        r->catchup.fetching--;
    }
    if (r->catchup.fetch == f) {
        r->catchup.fetch = NULL;
    }
    if (r->stopping) {
        maybe_closed(r);
        return;
    }
    if (!r->catchup.active) {
        return;
    }
    if (status == BASE_ECANCELED) {
        /* Cancelled for a newer descriptor: fetch for that one now. */
        if (r->catchup.fetch == NULL && r->catchup.staged == 0) {
            schedule(r, 0);
        }
        return;
    }
    if (status == 0 && index >= r->catchup.target) {
        r->catchup.staged = index;
        r->catchup.bytes_fetched_last = 0;
        LOG_INFO("raft", "catch-up: store at index %" PRIu64 " fetched and verified; "
                 "swapping it in", index);
        finish(r);
        return;
    }
    if (status == 0) {
        /* A newer descriptor arrived while this one was fetched: fetch again. */
        start_fetch(r);
        return;
    }
    r->catchup.failures++;
    delay = RETRY_MIN_MS << (r->catchup.failures < 7 ? r->catchup.failures - 1 : 6);
    delay = delay > RETRY_MAX_MS ? RETRY_MAX_MS : delay;
    LOG_WARN("raft", "catch-up: fetching the store at index %" PRIu64 " failed (%s); "
             "trying again in %" PRIu64 " ms", r->catchup.target, why != NULL ? why : "?", delay);
    snprintf(r->catchup.why, sizeof r->catchup.why, "%s", why != NULL ? why : "");
    schedule(r, delay);
}

static void start_fetch(struct repl *r)
{
    char why[256];
    struct snapshot_fetch *f = repl_snapshot_fetch(r, r->catchup.target, &r->catchup.hint,
                                                   fetched, r, why, sizeof why);
    r->catchup.attempts++;
    if (f == NULL) {
        fetched(NULL, BASE_EREFUSED, 0, why, r);
        return;
    }
    r->catchup.fetch = f;
    r->catchup.fetching++;
}

static void timer_cb(uv_timer_t *t)
{
    struct repl *r = t->data;
    if (r->stopping || !r->catchup.active) {
        return;
    }
    if (r->catchup.staged != 0) {
        finish(r);
    } else if (r->catchup.fetching == 0) {
        start_fetch(r);
    } /* else a cancelled fetch ends first; its callback asks again */
}

static void schedule(struct repl *r, uint64_t ms)
{
    uv_timer_start(&r->catchup.timer, timer_cb, ms, 0);
}

void repl_catchup_begin(struct repl *r, const struct repl_descriptor *d)
{
    if (r->catchup.active && d->index <= r->catchup.target) {
        /* libraft sends a snapshot again while the last one is being installed: the
         * fetch under way serves it. */
        return;
    }
    if (r->catchup.fetch != NULL) {
        struct snapshot_fetch *f = r->catchup.fetch;
        r->catchup.fetch = NULL;
        repl_snapshot_fetch_cancel(f);
    }
    if (!r->catchup.active) {
        spool_open(r);
        r->catchup.started_ms = uv_now(r->loop);
        r->catchup.failures = 0;
        r->catchup.why[0] = '\0';
    }
    /* Entries spooled for an older descriptor stay: those at or below the new one are
     * skipped when the spool is applied (the fetched store has them). */
    r->catchup.active = true;
    r->catchup.target = d->index;
    r->catchup.staged = 0;
    r->catchup.hint = *d;
    LOG_INFO("raft", "catching up: raft installed a snapshot at index %" PRIu64 " (store "
             "of node %" PRIu64 " at %s) and this store is at %" PRIu64 "; fetching it, "
             "requests are refused meanwhile", d->index, d->node_id,
             d->http[0] != '\0' ? d->http : "?", r->archive->applied_index);
    if (r->catchup.timer_ready) {
        schedule(r, 0);
    } /* else repl_start() starts it once the node is up */
}

void repl_catchup_abandon(struct repl *r)
{
    struct base_err err = {{0}};
    if (!r->catchup.active) {
        return;
    }
    if (r->catchup.fetch != NULL) {
        struct snapshot_fetch *f = r->catchup.fetch;
        r->catchup.fetch = NULL;
        repl_snapshot_fetch_cancel(f);
    }
    uv_timer_stop(&r->catchup.timer);
    spool_remove(r); /* writes still in flight end in the removed file */
    if (storage_staged_discard(r->conf.data_dir, &err) != 0) {
        LOG_WARN("raft", "catch-up: removing the staged store: %s", err.msg);
    }
    r->catchup.active = false;
    r->catchup.staged = 0;
}

void repl_catchup_init(struct repl *r)
{
    char path[4096];
    /* A spool a crash left is stale: raft hands its entries over again if a catch-up
     * begins, and nothing reads it otherwise. */
    spool_path(r, path, sizeof path);
    if (unlink(path) == 0) {
        LOG_INFO("raft", "removed the spool of a catch-up a stop interrupted (%s)", path);
    }
    r->catchup.spool_fd = -1;
    uv_timer_init(r->loop, &r->catchup.timer);
    r->catchup.timer.data = r;
}

void repl_catchup_started(struct repl *r)
{
    r->catchup.timer_ready = true;
    if (r->catchup.active && r->catchup.fetch == NULL) {
        schedule(r, 0);
    }
}

/* A catching-up leader would hold every write until its store is in: it hands over. */
static void transferred(struct raft_transfer *req)
{
    struct repl *r = req->data;
    r->catchup.handing_over = false;
}

void repl_catchup_check_leader(struct repl *r)
{
    int rv;
    if (!r->catchup.active || r->catchup.handing_over || r->stopping ||
        raft_state(&r->raft) != RAFT_LEADER) {
        return;
    }
    r->catchup.transfer.data = r;
    rv = raft_transfer(&r->raft, &r->catchup.transfer, 0, transferred);
    if (rv == 0) {
        r->catchup.handing_over = true;
        LOG_INFO("raft", "catching up: handing the leadership over until the store is in");
    }
}

/* The timer is closed and no spool write is in flight: the last step of stopping. */
static void maybe_closed(struct repl *r)
{
    uv_close_cb closed = r->catchup.closed;
    if (closed == NULL || !r->catchup.timer_closed || r->catchup.spool_writes > 0 ||
        r->catchup.fetching > 0) {
        return;
    }
    r->catchup.closed = NULL;
    if (r->catchup.spool_fd >= 0) {
        close(r->catchup.spool_fd);
        r->catchup.spool_fd = -1;
    }
    closed((uv_handle_t *)&r->catchup.timer);
}

static void timer_closed(uv_handle_t *h)
{
    struct repl *r = h->data;
    r->catchup.timer_closed = true;
    maybe_closed(r);
}

void repl_catchup_stop(struct repl *r, uv_close_cb closed)
{
    if (r->catchup.fetch != NULL) {
        struct snapshot_fetch *f = r->catchup.fetch;
        r->catchup.fetch = NULL;
        repl_snapshot_fetch_cancel(f);
    }
    r->catchup.closed = closed;
    uv_close((uv_handle_t *)&r->catchup.timer, timer_closed);
}
