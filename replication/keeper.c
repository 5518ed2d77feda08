/* The blob keeper: lifecycle, the loop's side (async handle, timer, proposals from
 * the threads) and the scheduling of the reconciler's passes. See keeper.h; the
 * threads and what they share are described in keeper_int.h. Pushers: keeper_push.c;
 * capture copies: keeper_copy.c; repair passes: keeper_repair.c; local garbage:
 * keeper_gc.c; scrubbing: keeper_scrub.c. */
#include "replication/keeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/keeper_int.h"

/* ---- Proposals from the threads ---- */

static void thread_prop_done(struct repl_propose *prop, int status,
                             const struct archive_result *res)
{
    struct thread_prop *p = prop->data;
    struct keeper *k = p->keeper;
    pthread_mutex_lock(&k->mu);
    if (p->abandoned) {
        pthread_mutex_unlock(&k->mu);
        free(p);
        return;
    }
    p->status = status;
    if (status == 0) {
        p->res = *res;
    }
    p->done = true;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
}

/* Proposes @cmd through the loop and waits for the outcome (a thread, never the loop):
 * 0 with @res, or the proposal's error, or BASE_ESHUTDOWN. */
int keeper_propose_and_wait(struct keeper *k, const Command *cmd, struct archive_result *res)
{
    struct thread_prop *p = xcalloc(1, sizeof *p);
    int status;
    p->keeper = k;
    p->cmd = cmd;
    pthread_mutex_lock(&k->mu);
    if (atomic_load(&k->stop)) {
        pthread_mutex_unlock(&k->mu);
        free(p);
        return BASE_ESHUTDOWN;
    }
    p->next = k->props;
    k->props = p;
    pthread_mutex_unlock(&k->mu);
    uv_async_send(&k->async);
    pthread_mutex_lock(&k->mu);
    while (!p->done && !atomic_load(&k->stop)) {
        timed_wait(k, 1000);
    }
    if (!p->done) {
        p->abandoned = true; /* freed by its callback, or by keeper_free if never taken */
        pthread_mutex_unlock(&k->mu);
        return BASE_ESHUTDOWN;
    }
    pthread_mutex_unlock(&k->mu);
    status = p->status;
    if (status == 0 && res != NULL) {
        *res = p->res;
    }
    free(p);
    return status;
}

/* ---- The loop's side: async, timer ---- */

static void async_cb(uv_async_t *a)
{
    struct keeper *k = a->data;
    struct job *done;
    struct thread_prop *props;
    bool full_changed;
    pthread_mutex_lock(&k->mu);
    done = k->finished;
    k->finished = NULL;
    props = k->props;
    k->props = NULL;
    full_changed = k->full_version != k->placement_full_version;
    pthread_mutex_unlock(&k->mu);
    if (full_changed && !k->stopped) {
        keeper_refresh_placement(k); /* a node refused copies: capture copies go elsewhere now */
    }
    while (done != NULL) {
        struct job *next = done->next;
        keeper_copy_finished(k, done);
        done = next;
    }
    while (props != NULL) {
        struct thread_prop *next = props->next;
        int rv;
        if (props->abandoned) { /* its thread left when the keeper stopped */
            free(props);
            props = next;
            continue;
        }
        props->prop.data = props;
        rv = repl_propose(k->repl, &props->prop, props->cmd, thread_prop_done);
        if (rv != 0) {
            thread_prop_done(&props->prop, rv, NULL);
        }
        props = next;
    }
}

/* The members the leader sees down, for the passes; true when the set changed. Under
 * mu. */
static bool refresh_down(struct keeper *k)
{
    uint64_t ids[PLACEMENT_MAX_NODES];
    size_t n = repl_members_down(k->repl, ids, PLACEMENT_MAX_NODES);
    bool changed = n != k->n_down || memcmp(ids, k->down, n * sizeof ids[0]) != 0;
    if (changed) {
        memcpy(k->down, ids, n * sizeof ids[0]);
        k->n_down = n;
    }
    return changed;
}

static void timer_cb(uv_timer_t *t)
{
    struct keeper *k = t->data;
    struct repl_status rs;
    bool full_changed, down_changed;
    repl_get_status(k->repl, &rs);
    atomic_store(&k->leader, repl_is_leader(k->repl));
    /* Raft's applied index, not the archive's: configuration entries count too. */
    atomic_store(&k->fresh, rs.leader_id != 0 && rs.raft_applied_index >= rs.commit_index &&
                                !rs.catching_up);
    atomic_store(&k->catching_up, rs.catching_up);
    if (k->late != NULL) {
        keeper_late_copies_record(k);
    }
    pthread_mutex_lock(&k->mu);
    full_changed = k->full_version != k->placement_full_version;
    down_changed = refresh_down(k);
    pthread_mutex_unlock(&k->mu);
    if (down_changed) {
        pthread_mutex_lock(&k->mu);
        k->kicked = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
    if (rs.applied_index != k->placement_index || full_changed) {
        keeper_refresh_placement(k);
        pthread_mutex_lock(&k->mu);
        k->kicked = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
}

/* ---- The reconciler: when passes run ---- */

static void *reconciler_main(void *arg)
{
    struct keeper *k = arg;
    uint64_t last_end = 0, gap = PASS_GAP_MIN_MS, last_sweep = 0;
    uint64_t sweep_every = k->cfg.gc_grace_ms / 2;
    sweep_every = sweep_every < 1000 ? 1000 : sweep_every > 600000 ? 600000 : sweep_every;
    for (;;) {
        uint64_t now;
        bool due, acted;
        pthread_mutex_lock(&k->mu);
        for (;;) {
            now = mono_ms();
            due = (k->kicked && now >= last_end + gap) || now >= last_end + PASS_EVERY_MS;
            if (due || atomic_load(&k->stop)) {
                break;
            }
            timed_wait(k, 250);
        }
        k->kicked = false;
        pthread_mutex_unlock(&k->mu);
        if (atomic_load(&k->stop)) {
            break;
        }
        if (atomic_load(&k->catching_up)) {
            /* The store is about to be replaced, and holds the swap off while a pass
             * reads it (rocks_reopen()): look again later. */
            last_end = mono_ms();
            gap = PASS_GAP_MIN_MS;
            continue;
        }
        atomic_store(&k->st.free_bytes, blob_store_free_bytes(k->blobs));
        if (mono_ms() >= last_sweep + sweep_every) {
            acted = keeper_pass_run(k, true);
            keeper_sweep_run(k);
            last_sweep = mono_ms();
        } else {
            acted = keeper_pass_run(k, false);
        }
        last_end = mono_ms();
        /* After copies or changes the next pass comes soon: it counts what they fixed
         * and drops the copies no longer wanted. Otherwise passes keep a distance of
         * five times their duration, so they cost at most a fifth of a core. */
        gap = acted ? PASS_GAP_MIN_MS : 5 * atomic_load(&k->st.last_pass_ms);
        gap = gap < PASS_GAP_MIN_MS ? PASS_GAP_MIN_MS : gap;
    }
    return NULL;
}

/* ---- Start and stop ---- */

int keeper_start(struct keeper **out, uv_loop_t *loop, const struct keeper_config *config,
                 struct archive *archive, struct repl *repl, struct blob_store *blobs,
                 const struct peer_auth *auth, struct base_err *err)
{
    struct keeper *k = xcalloc(1, sizeof *k);
    int rv;
    k->loop = loop;
    k->cfg = *config;
    k->archive = archive;
    k->repl = repl;
    k->blobs = blobs;
    k->auth = auth;
    k->placement = xcalloc(1, sizeof *k->placement);
    pthread_mutex_init(&k->mu, NULL);
    pthread_cond_init(&k->cond, NULL);
    uv_async_init(loop, &k->async, async_cb);
    k->async.data = k;
    uv_timer_init(loop, &k->timer);
    k->timer.data = k;
    uv_timer_start(&k->timer, timer_cb, 0, TIMER_MS);
    k->n_pushers = auth != NULL ? (config->push_threads > 0 ? config->push_threads : 1) : 0;
    k->pushers = xcalloc(k->n_pushers > 0 ? k->n_pushers : 1, sizeof *k->pushers);
    k->per_target = k->n_pushers / 2 < 2 ? 2 : k->n_pushers / 2;
    for (unsigned i = 0; i < k->n_pushers; i++) {
        if ((rv = pthread_create(&k->pushers[i], NULL, keeper_pusher_main, k)) != 0) {
            base_err_set(err, "starting a pusher thread: %s", strerror(rv));
            k->n_pushers = i;
            *out = k;
            return BASE_EIO;
        }
    }
    if ((rv = pthread_create(&k->reconciler, NULL, reconciler_main, k)) != 0) {
        base_err_set(err, "starting the reconciler thread: %s", strerror(rv));
        *out = k;
        return BASE_EIO;
    }
    k->reconciler_started = true;
    if (config->scrub_bytes_per_s > 0) {
        if ((rv = pthread_create(&k->scrubber, NULL, keeper_scrubber_main, k)) != 0) {
            base_err_set(err, "starting the scrubber thread: %s", strerror(rv));
            *out = k;
            return BASE_EIO;
        }
        k->scrubber_started = true;
    }
    *out = k;
    return 0;
}

void keeper_get_stats(struct keeper *k, struct keeper_stats *o)
{
    o->pushes = atomic_load(&k->st.pushes);
    o->pushes_failed = atomic_load(&k->st.pushes_failed);
    o->pushes_late = atomic_load(&k->st.pushes_late);
    o->repair_copies = atomic_load(&k->st.repair_copies);
    o->repair_bytes = atomic_load(&k->st.repair_bytes);
    o->repair_failed = atomic_load(&k->st.repair_failed);
    o->holders_dropped = atomic_load(&k->st.holders_dropped);
    o->under_replicated = atomic_load(&k->st.under_replicated);
    o->lost = atomic_load(&k->st.lost);
    o->on_draining = atomic_load(&k->st.on_draining);
    o->free_bytes = atomic_load(&k->st.free_bytes);
    o->passes = atomic_load(&k->st.passes);
    o->last_pass_ms = atomic_load(&k->st.last_pass_ms);
    o->full_passes = atomic_load(&k->st.full_passes);
    o->last_pass_records = atomic_load(&k->st.last_pass_records);
    o->last_pass_full = atomic_load(&k->st.last_pass_full);
    o->scrub_bytes = atomic_load(&k->st.scrub_bytes);
    o->scrub_blobs = atomic_load(&k->st.scrub_blobs);
    o->scrub_corrupt = atomic_load(&k->st.scrub_corrupt);
    o->scrub_cycles = atomic_load(&k->st.scrub_cycles);
    o->gc_deleted = atomic_load(&k->st.gc_deleted);
    o->gc_purged = atomic_load(&k->st.gc_purged);
    o->refused_full = atomic_load(&k->st.refused_full);
}

void keeper_stop(struct keeper *k)
{
    struct job *left;
    pthread_mutex_lock(&k->mu);
    atomic_store(&k->stop, true);
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    /* Transfers notice the flag within about a second (curl's progress callback). */
    for (unsigned i = 0; i < k->n_pushers; i++) {
        pthread_join(k->pushers[i], NULL);
    }
    if (k->reconciler_started) {
        pthread_join(k->reconciler, NULL);
    }
    if (k->scrubber_started) {
        pthread_join(k->scrubber, NULL);
    }
    k->stopped = true;
    /* Capture copies nobody started, and those finished but not handed over yet. */
    pthread_mutex_lock(&k->mu);
    left = k->capture_head;
    k->capture_head = k->capture_tail = NULL;
    pthread_mutex_unlock(&k->mu);
    while (left != NULL) {
        struct job *next = left->next;
        left->status = BASE_ESHUTDOWN;
        snprintf(left->push.why, sizeof left->push.why, "the node is stopping");
        pthread_mutex_lock(&k->mu);
        left->next = k->finished;
        k->finished = left;
        pthread_mutex_unlock(&k->mu);
        left = next;
    }
    async_cb(&k->async);
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, NULL);
    uv_close((uv_handle_t *)&k->async, NULL);
}

void keeper_free(struct keeper *k)
{
    if (k == NULL) {
        return;
    }
    /* Late copies not recorded: the receivers' sweeps delete them after the grace, or
     * repair's next pass finds them missing from the records and copies again. */
    while (k->late != NULL) {
        struct late_copy *next = k->late->next;
        free(k->late);
        k->late = next;
    }
    /* Proposals the threads abandoned before the loop took them. */
    while (k->props != NULL) {
        struct thread_prop *next = k->props->next;
        free(k->props);
        k->props = next;
    }
    pthread_mutex_destroy(&k->mu);
    pthread_cond_destroy(&k->cond);
    free(k->pushers);
    free(k->placement);
    free(k);
}
