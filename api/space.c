/* The disk guard: whether this node's data file system has room for new files and
 * copies. See api_int.h (struct api_space).
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
#include "api/api_int.h"

#include <string.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

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

static uint64_t margin(const struct api_space *s)
{
    return s->floor_bytes / 8 > SPACE_MARGIN_MIN ? s->floor_bytes / 8 : SPACE_MARGIN_MIN;
}

static void set_full(struct api *api, bool full, const char *why)
{
    struct api_space *s = &api->space;
    if (full == s->full) {
        return;
    }
    s->full = full;
    repl_set_disk_full(api->repl, full);
    if (full) {
        s->full_total++;
        LOG_WARN("space", "disk full: %llu MB free on %s (%s); refusing new files and copies "
                 "until space is freed",
                 MB(s->free_bytes), api->blobs->root, why);
    } else {
        LOG_INFO("space", "disk has space again: %llu MB free on %s; taking new files and "
                 "copies",
                 MB(s->free_bytes), api->blobs->root);
    }
}

/* On the pool: the free space, and the reserve given back or made again. */
static void measure_work(uv_work_t *w)
{
    struct api *api = w->data;
    struct api_space *s = &api->space;
    uint64_t want = s->floor_bytes / 2;
    uint64_t have = blob_store_reserve_bytes(api->blobs);
    s->measured = blob_store_free_bytes(api->blobs);
    s->event = SPACE_EVENT_NONE;
    if (have > 0 && want == 0) { /* --min-free-mb 0: no reserve */
        if (blob_store_release_reserve(api->blobs, &s->err) != 0) {
            s->event = SPACE_EVENT_FAILED;
        }
        s->measured = blob_store_free_bytes(api->blobs);
    } else if (have > 0 && s->measured < s->floor_bytes / 2) {
        s->event = blob_store_release_reserve(api->blobs, &s->err) == 0
                       ? SPACE_EVENT_RELEASED
                       : SPACE_EVENT_FAILED;
        s->measured = blob_store_free_bytes(api->blobs);
    } else if (want > 0 && have < want && s->measured >= s->floor_bytes + want + margin(s)) {
        s->event = blob_store_reserve(api->blobs, want, &s->err) == 0 ? SPACE_EVENT_RESERVED
                                                                      : SPACE_EVENT_FAILED;
        s->measured = blob_store_free_bytes(api->blobs);
    }
}

static void measured(uv_work_t *w, int status)
{
    struct api *api = w->data;
    struct api_space *s = &api->space;
    s->busy = false;
    if (status != 0 || api->stopping) {
        api_maybe_free(api); /* api_stop waits for this job */
        return;
    }
    s->free_bytes = s->measured;
    switch (s->event) {
    case SPACE_EVENT_RELEASED:
        LOG_WARN("space", "disk nearly full: gave back the %llu MB reserve in %s so raft and "
                 "the metadata store can still write (%llu MB free now); free space there",
                 MB(s->floor_bytes / 2), api->blobs->root, MB(s->free_bytes));
        break;
    case SPACE_EVENT_RESERVED:
        LOG_INFO("space", "kept a reserve of %llu MB in %s for when the disk fills",
                 MB(s->floor_bytes / 2), api->blobs->root);
        break;
    case SPACE_EVENT_FAILED:
        if (!s->reserve_warned) {
            s->reserve_warned = true;
            LOG_WARN("space", "the reserve: %s", s->err.msg);
        }
        break;
    default:
        break;
    }
    if (!s->full && s->free_bytes < s->floor_bytes) {
        set_full(api, true, "below the floor of --min-free-mb");
    } else if (s->full && s->free_bytes >= s->floor_bytes + margin(s) &&
               now_ms() >= s->hold_until_ms) {
        set_full(api, false, NULL);
    }
}

static void tick(uv_timer_t *t)
{
    struct api *api = t->data;
    struct api_space *s = &api->space;
    if (s->busy || api->stopping) {
        return;
    }
    s->busy = true;
    s->work.data = api;
    ASSERT(uv_queue_work(api->loop, &s->work, measure_work, measured) == 0);
}

void api_space_start(struct api *api)
{
    struct api_space *s = &api->space;
    s->floor_bytes = api->config.min_free_bytes;
    s->free_bytes = blob_store_free_bytes(api->blobs);
    uv_timer_init(api->loop, &s->timer);
    s->timer.data = api;
    uv_timer_start(&s->timer, tick, 0, SPACE_CHECK_MS);
}

static void timer_closed(uv_handle_t *h)
{
    struct api *api = h->data;
    api->space.timer_closed = true;
    api_maybe_free(api);
}

void api_space_stop(struct api *api)
{
    uv_close((uv_handle_t *)&api->space.timer, timer_closed);
}

bool api_space_idle(const struct api *api)
{
    return api->space.timer_closed && !api->space.busy;
}

void api_space_no_space(struct api *api)
{
    api->space.free_bytes = blob_store_free_bytes(api->blobs); /* statfs: quick */
    api->space.hold_until_ms = now_ms() + SPACE_HOLD_MS;
    set_full(api, true, "a write failed: no space left on the device");
}

bool api_space_refuse(struct api *api, struct http_request *req, const char *what)
{
    struct api_space *s = &api->space;
    if (!s->full) {
        return false;
    }
    s->refused_total++;
    api_respond_error(api, req, 507, API_E_INSUFFICIENT_STORAGE,
                      "node %llu's disk is full (%llu MB free, it keeps %llu MB free): it "
                      "stores no new %s until space is freed on it; %s",
                      (unsigned long long)api->config.node_id, MB(s->free_bytes),
                      MB(s->floor_bytes), what,
                      strcmp(what, "copies") == 0 ? "its peers retry later"
                                                  : "capture through another node");
    return true;
}
