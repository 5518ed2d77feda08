/* The leader's dispatch loop shared by the dispatchers. See dispatch.h. */
#include "replication/dispatch.h"

#include <stddef.h>
#include <stdlib.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/clock.h"

uint64_t dispatch_backoff_ms(unsigned retry_ms, unsigned retry_max_ms, uint32_t made)
{
    uint64_t delay = retry_ms;
    for (uint32_t i = 1; i < made && delay < retry_max_ms; i++) {
        delay *= 2;
    }
    if (delay > retry_max_ms) {
        delay = retry_max_ms;
    }
    return delay + randombytes_uniform((uint32_t)(delay / 10 + 1));
}

/* ---- The leader-only timer ---- */

static void timer_cb(uv_timer_t *uv)
{
    struct dispatch_timer *t = uv->data;
    t->tick_cb(t, !t->stopping && repl_is_leader(t->repl) && archive_cluster_initialized(t->a));
}

void dispatch_timer_start(struct dispatch_timer *t, uv_loop_t *loop, uint64_t every_ms,
                          struct archive *archive, struct repl *repl, dispatch_tick_cb tick_cb)
{
    t->stopping = false;
    t->a = archive;
    t->repl = repl;
    t->tick_cb = tick_cb;
    uv_timer_init(loop, &t->uv);
    t->uv.data = t;
    uv_timer_start(&t->uv, timer_cb, every_ms, every_ms);
}

void dispatch_timer_stop(struct dispatch_timer *t)
{
    t->stopping = true;
    uv_close((uv_handle_t *)&t->uv, NULL);
}

/* ---- Jobs in flight ---- */

void dispatch_start(struct dispatch *d, uv_loop_t *loop, const struct dispatch_config *config,
                    struct archive *archive, struct repl *repl, dispatch_tick_cb tick_cb)
{
    d->concurrency = config->concurrency;
    d->http = config->http;
    d->guard = config->guard;
    d->jobs = NULL;
    d->n_jobs = 0;
    d->seen_added = 0;
    d->next_due_ms = 0;
    d->rescan = true;
    dispatch_timer_start(&d->timer, loop, DISPATCH_TICK_MS, archive, repl, tick_cb);
    d->timer.data = config->data;
}

void dispatch_stop(struct dispatch *d)
{
    dispatch_timer_stop(&d->timer);
}

void dispatch_close(struct dispatch *d)
{
    ASSERT(d->n_jobs == 0);
}

void dispatch_add(struct dispatch *d, struct dispatch_job *j, void *data)
{
    j->req.data = data;
    j->prop.data = data;
    j->prev = NULL;
    j->next = d->jobs;
    if (d->jobs != NULL) {
        d->jobs->prev = j;
    }
    d->jobs = j;
    d->n_jobs++;
}

void dispatch_remove(struct dispatch *d, struct dispatch_job *j)
{
    if (j->prev != NULL) {
        j->prev->next = j->next;
    } else {
        d->jobs = j->next;
    }
    if (j->next != NULL) {
        j->next->prev = j->prev;
    }
    j->next = j->prev = NULL;
    d->n_jobs--;
    d->rescan = true;
    for (unsigned i = 0; i < j->n_headers; i++) {
        free(j->headers[i]);
    }
    j->n_headers = 0;
    free(j->req.response);
    j->req.response = NULL;
}

bool dispatch_in_flight(const struct dispatch *d, const void *key, dispatch_same_cb same_cb)
{
    for (const struct dispatch_job *j = d->jobs; j != NULL; j = j->next) {
        if (same_cb(j, key)) {
            return true;
        }
    }
    return false;
}

void dispatch_header(struct dispatch_job *j, char *header)
{
    ASSERT(j->n_headers < DISPATCH_HEADERS_MAX);
    j->headers[j->n_headers] = header;
    j->header_ptrs[j->n_headers] = header;
    j->n_headers++;
}

void dispatch_post(struct dispatch *d, struct dispatch_job *j, http_client_cb done_cb)
{
    j->header_ptrs[j->n_headers] = NULL;
    j->req.method = "POST";
    j->req.headers = j->header_ptrs;
    j->req.guard = d->guard;
    j->req.permits = outbound_check;
    http_client_send(d->http, &j->req, done_cb);
}

int dispatch_propose(struct dispatch *d, struct dispatch_job *j, Command *cmd,
                     const char *tenant, const char *request_id, const char *operator_,
                     repl_propose_cb applied_cb)
{
    cmd->tenant = (char *)tenant;
    cmd->request_id = (char *)request_id;
    cmd->operator_ = (char *)operator_;
    cmd->time_ms = clock_wall_ms();
    return repl_propose(d->timer.repl, &j->prop, cmd, applied_cb);
}

/* ---- The look at the queue ---- */

bool dispatch_scan_wanted(const struct dispatch *d, uint64_t added, uint64_t now)
{
    return d->n_jobs < d->concurrency &&
           (d->rescan || added != d->seen_added || (d->next_due_ms != 0 && now >= d->next_due_ms));
}

void dispatch_scan_begin(struct dispatch *d, struct dispatch_pass *p, bool from_start,
                         uint64_t added, uint64_t now)
{
    if (from_start) {
        d->seen_added = added;
        d->next_due_ms = 0;
    }
    d->rescan = false;
    p->d = d;
    p->now = now;
    p->seen = 0;
}

bool dispatch_scan_next(struct dispatch_pass *p)
{
    if (p->seen == DISPATCH_SCAN_BATCH) {
        return false;
    }
    p->seen++;
    return true;
}

bool dispatch_scan_due(struct dispatch_pass *p, uint64_t due_ms)
{
    struct dispatch *d = p->d;
    if (due_ms > p->now) {
        if (d->next_due_ms == 0 || due_ms < d->next_due_ms) {
            d->next_due_ms = due_ms;
        }
        return false;
    }
    if (d->n_jobs < d->concurrency) {
        return true;
    }
    d->next_due_ms = p->now; /* due now, but no free slot: look again */
    return false;
}

bool dispatch_scan_end(struct dispatch_pass *p)
{
    if (p->seen == DISPATCH_SCAN_BATCH) {
        p->d->rescan = true; /* go on from the caller's cursor at the next tick */
        return true;
    }
    return false;
}
