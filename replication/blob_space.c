/* The disk guard: whether this node's data file system has room for new files and
 * copies (struct blob_space in blob_path.h), and the blob path's start and stop (the
 * guard's timer is the only handle it has).
 *
 * A timer on the loop measures the free space on the thread pool once a second. Below
 * the floor (--min-free-mb), or after a write failed with "no space left", the node is
 * full: captures and pushed copies are refused at once with 507, before a byte of
 * their body is stored, so a full disk costs one log line, not one per request. It
 * has space again once the free space is back above the floor plus a margin (and,
 * after a failed write, some seconds have passed), so the state does not flap.
 *
 * Raft and the metadata store (RocksDB) must never find the disk full: a write the
 * state machine cannot make stops the node. Content stops at the floor, but something
 * else may fill the file system; so the node keeps a reserve file of half the floor
 * (DATA/reserve) and gives it back when the free space falls below half the floor,
 * and makes it again once there is room. */
#include "replication/blob_path.h"

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"

#define SPACE_CHECK_MS 1000
/* Room above the floor the node needs to take files again. */
#define SPACE_MARGIN_MIN (8ull << 20)
/* After a failed write, the node stays full at least this long. */
#define SPACE_HOLD_MS 10000

#define MB(b) ((unsigned long long)((b) >> 20))

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* The stop's callback, once the timer is closed and no measurement runs. */
static void maybe_stopped(struct blob_path *bp)
{
    if (bp->stopping && bp->space.timer_closed && !bp->space.busy && bp->stop_cb != NULL) {
        void (*cb)(void *) = bp->stop_cb;
        bp->stop_cb = NULL;
        cb(bp->stop_arg);
    }
}

static uint64_t margin(const struct blob_space *s)
{
    return s->floor_bytes / 8 > SPACE_MARGIN_MIN ? s->floor_bytes / 8 : SPACE_MARGIN_MIN;
}

static void set_full(struct blob_path *bp, bool full, const char *why)
{
    struct blob_space *s = &bp->space;
    if (full == s->full) {
        return;
    }
    s->full = full;
    repl_set_disk_full(bp->repl, full);
    if (full) {
        s->full_total++;
        LOG_WARN("space", "disk full: %llu MB free on %s (%s); refusing new files and copies "
                 "until space is freed",
                 MB(s->free_bytes), bp->blobs->root, why);
    } else {
        LOG_INFO("space", "disk has space again: %llu MB free on %s; taking new files and "
                 "copies",
                 MB(s->free_bytes), bp->blobs->root);
    }
}

/* On the pool: the free space, and the reserve given back or made again. */
static void measure_work(uv_work_t *w)
{
    struct blob_path *bp = w->data;
    struct blob_space *s = &bp->space;
    uint64_t want = s->floor_bytes / 2;
    uint64_t have = blob_store_reserve_bytes(bp->blobs);
    s->measured = blob_store_free_bytes(bp->blobs);
    s->measured_total = blob_store_total_bytes(bp->blobs);
    s->event = BLOB_SPACE_EVENT_NONE;
    if (have > 0 && want == 0) { /* --min-free-mb 0: no reserve */
        if (blob_store_release_reserve(bp->blobs, &s->err) != 0) {
            s->event = BLOB_SPACE_EVENT_FAILED;
        }
        s->measured = blob_store_free_bytes(bp->blobs);
    } else if (have > 0 && s->measured < s->floor_bytes / 2) {
        s->event = blob_store_release_reserve(bp->blobs, &s->err) == 0
                       ? BLOB_SPACE_EVENT_RELEASED
                       : BLOB_SPACE_EVENT_FAILED;
        s->measured = blob_store_free_bytes(bp->blobs);
    } else if (want > 0 && have < want && s->measured >= s->floor_bytes + want + margin(s)) {
        s->event = blob_store_reserve(bp->blobs, want, &s->err) == 0
                       ? BLOB_SPACE_EVENT_RESERVED
                       : BLOB_SPACE_EVENT_FAILED;
        s->measured = blob_store_free_bytes(bp->blobs);
    }
}

static void measured(uv_work_t *w, int status)
{
    struct blob_path *bp = w->data;
    struct blob_space *s = &bp->space;
    s->busy = false;
    if (status != 0 || bp->stopping) {
        maybe_stopped(bp); /* blob_path_stop waits for this job */
        return;
    }
    s->free_bytes = s->measured;
    if (s->measured_total != s->total_bytes) {
        s->total_bytes = s->measured_total;
        if (bp->repl != NULL) { /* none in the blob path's own tests */
            repl_set_disk_capacity(bp->repl, s->total_bytes); /* reported with hysteresis */
        }
    }
    switch (s->event) {
    case BLOB_SPACE_EVENT_RELEASED:
        LOG_WARN("space", "disk nearly full: gave back the %llu MB reserve in %s so raft and "
                 "the metadata store can still write (%llu MB free now); free space there",
                 MB(s->floor_bytes / 2), bp->blobs->root, MB(s->free_bytes));
        break;
    case BLOB_SPACE_EVENT_RESERVED:
        LOG_INFO("space", "kept a reserve of %llu MB in %s for when the disk fills",
                 MB(s->floor_bytes / 2), bp->blobs->root);
        break;
    case BLOB_SPACE_EVENT_FAILED:
        if (!s->reserve_warned) {
            s->reserve_warned = true;
            LOG_WARN("space", "the reserve: %s", s->err.msg);
        }
        break;
    default:
        break;
    }
    if (!s->full && s->free_bytes < s->floor_bytes) {
        set_full(bp, true, "below the floor of --min-free-mb");
    } else if (s->full && s->free_bytes >= s->floor_bytes + margin(s) &&
               now_ms() >= s->hold_until_ms) {
        set_full(bp, false, NULL);
    }
}

static void tick(uv_timer_t *t)
{
    struct blob_path *bp = t->data;
    struct blob_space *s = &bp->space;
    blob_hot_expire(bp, bp->stopping);
    if (s->busy || bp->stopping) {
        return;
    }
    s->busy = true;
    s->work.data = bp;
    ASSERT(uv_queue_work(bp->loop, &s->work, measure_work, measured) == 0);
}

void blob_path_init(struct blob_path *bp, uv_loop_t *loop, const struct blob_path_config *config,
                    struct archive *archive, struct repl *repl, struct blob_store *blobs)
{
    struct blob_space *s = &bp->space;
    *bp = (struct blob_path){
        .loop = loop, .config = *config, .archive = archive, .repl = repl, .blobs = blobs};
    bp->commit = blob_commit_new(bp);
    blob_hot_init(bp);
    s->floor_bytes = bp->config.min_free_bytes;
    s->free_bytes = blob_store_free_bytes(bp->blobs);
    uv_timer_init(bp->loop, &s->timer);
    s->timer.data = bp;
    uv_timer_start(&s->timer, tick, 0, SPACE_CHECK_MS);
}

static void timer_closed(uv_handle_t *h)
{
    struct blob_path *bp = h->data;
    bp->space.timer_closed = true;
    maybe_stopped(bp);
}

void blob_path_stop(struct blob_path *bp, void (*cb)(void *arg), void *arg)
{
    ASSERT(!bp->stopping);
    bp->stopping = true;
    bp->stop_cb = cb;
    bp->stop_arg = arg;
    blob_hot_expire(bp, true);
    uv_close((uv_handle_t *)&bp->space.timer, timer_closed);
}

void blob_path_close(struct blob_path *bp)
{
    ASSERT(bp->stopping && bp->space.timer_closed && !bp->space.busy);
    blob_hot_free(bp); /* and what reads that ended after the stop kept */
    blob_commit_free(bp->commit);
    bp->commit = NULL;
}

void blob_space_no_space(struct blob_path *bp)
{
    bp->space.free_bytes = blob_store_free_bytes(bp->blobs); /* statfs: quick */
    bp->space.hold_until_ms = now_ms() + SPACE_HOLD_MS;
    set_full(bp, true, "a write failed: no space left on the device");
}

bool blob_space_refuse(struct blob_path *bp, struct http_request *req, const char *what)
{
    struct blob_space *s = &bp->space;
    if (!s->full) {
        return false;
    }
    s->refused_total++;
    peer_respond_error(req, 507, PEER_E_INSUFFICIENT_STORAGE,
                       "node %llu's disk is full (%llu MB free, it keeps %llu MB free): it "
                       "stores no new %s until space is freed on it; %s",
                       (unsigned long long)bp->config.node_id, MB(s->free_bytes),
                       MB(s->floor_bytes), what,
                       strcmp(what, "copies") == 0 ? "its peers retry later"
                                                   : "capture through another node");
    return true;
}
