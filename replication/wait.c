/* Waits for this node's applied index: read-your-writes (X-Imgarc-Min-Index, a
 * forwarded proposal answering once its entry is applied here, consistent reads).
 *
 * The waits are an unsorted list: one entry per request in flight, so bounded by the
 * connection limit, and scanned when an apply may have satisfied some (from the next
 * loop iteration, never inside raft's apply callback) and every WAIT_SWEEP_MS for the
 * deadlines. */
#include <stdlib.h>

#include "base/mem.h"
#include "replication/repl_int.h"

#define WAIT_SWEEP_MS 50

static void unlink_wait(struct repl *r, struct repl_wait *w)
{
    if (w->prev != NULL) {
        w->prev->next = w->next;
    } else {
        r->waits.list = w->next;
    }
    if (w->next != NULL) {
        w->next->prev = w->prev;
    }
    w->next = w->prev = NULL;
}

/* Ends the satisfied and the expired waits. A callback may add or end waits, so the
 * scan starts over after each one. */
static void sweep(uv_timer_t *t)
{
    struct repl *r = t->data;
    uint64_t now = uv_now(r->loop);
    bool again = true;
    while (again) {
        again = false;
        for (struct repl_wait *w = r->waits.list; w != NULL; w = w->next) {
            int status;
            if (r->archive->applied_index >= w->index) {
                status = 0;
            } else if (now >= w->deadline_ms) {
                status = BASE_ERETRY;
            } else {
                continue;
            }
            unlink_wait(r, w);
            w->cb(w, status);
            again = true;
            break;
        }
    }
    if (r->waits.list != NULL && !r->stopping) {
        uv_timer_start(&r->waits.timer, sweep, WAIT_SWEEP_MS, 0);
    }
}

void repl_waits_init(struct repl *r)
{
    uv_timer_init(r->loop, &r->waits.timer);
    r->waits.timer.data = r;
}

void repl_waits_kick(struct repl *r)
{
    if (r->waits.list != NULL && !r->stopping) {
        uv_timer_start(&r->waits.timer, sweep, 0, 0);
    }
}

void repl_wait_applied(struct repl *r, struct repl_wait *w, uint64_t index, uint64_t timeout_ms,
                       repl_wait_cb cb)
{
    w->repl = r;
    w->index = index;
    w->deadline_ms = uv_now(r->loop) + timeout_ms;
    w->cb = cb;
    if (r->stopping) {
        /* The timer is closed: nothing could end the wait later. */
        cb(w, BASE_ESHUTDOWN);
        return;
    }
    w->prev = NULL;
    w->next = r->waits.list;
    if (r->waits.list != NULL) {
        r->waits.list->prev = w;
    }
    r->waits.list = w;
    /* Never from inside this call: the next iteration ends it if already satisfied. */
    uv_timer_start(&r->waits.timer, sweep, 0, 0);
}

static void timer_closed(uv_handle_t *h)
{
    repl_closed_one(h->data);
}

void repl_waits_stop(struct repl *r)
{
    while (r->waits.list != NULL) {
        struct repl_wait *w = r->waits.list;
        unlink_wait(r, w);
        w->cb(w, BASE_ESHUTDOWN);
    }
    uv_close((uv_handle_t *)&r->waits.timer, timer_closed);
}
