/* The blob keeper: capture copies, repair and rebalance, garbage collection and
 * scrubbing. See keeper.h.
 *
 * Threads: the loop (keeper_copy, proposals, the timer), the pushers (transfers of
 * capture copies first, then the reconciler's), the reconciler (passes over the blob
 * records, local garbage) and the scrubber. They share the queues below under one
 * mutex; the loop hears from the threads through an async handle. */
#include "replication/keeper.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/blob_push.h"
#include "replication/placement.h"
#include "storage/rocks.h"

#define TIMER_MS 500
/* A pass runs this often even when nothing changed, and at least this far apart (or
 * five times its own duration, whichever is longer). */
#define PASS_EVERY_MS 30000
#define PASS_GAP_MIN_MS 1000
/* Holder changes and purges proposed per command. */
#define CHANGES_PER_COMMAND 128
/* Copies the reconciler hands to the pushers before it waits for them. */
#define REPAIR_BATCH 64
/* A transfer may take this long plus one millisecond per 10 KB. */
#define TRANSFER_BYTES_PER_MS 10000
#define SUSPECTS_MAX 64
/* A node that answers "disk full" (507) gets no repair copy for this long, doubling
 * at each refusal up to the cap, and no capture copy until a copy to it succeeds. */
#define FULL_BACKOFF_MIN_MS 1000
#define FULL_BACKOFF_MAX_MS 60000
#define FULL_MAX 64
/* A transfer during which nothing moves may last this stall bound plus one millisecond
 * per 20 KB: the receiver syncs the file before it answers. */
#define SYNC_BYTES_PER_MS 20000
/* Copies made after their capture was answered, waiting to be recorded. */
#define LATE_MAX 4096

/* The copies of one capture, owned by the keeper (loop only). RUN_COPYING: the
 * capture's keeper_copies (owner) waits for its answer. RUN_DETACHED: it was answered
 * and may be gone; the pushes still in flight go on, and the run is freed when the
 * last one has ended. Allowed: COPYING -> DETACHED, DETACHED -> freed. */
enum run_state { RUN_COPYING, RUN_DETACHED };
struct copy_run {
    enum run_state state;
    struct keeper_copies *owner; /* RUN_COPYING only */
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t size;
    uint64_t holders[KEEPER_MAX_COPIES]; /* made before the answer: this node first */
    size_t n_holders;
    unsigned copies; /* live copies, the record's and the new ones */
    unsigned quorum, replicas;
    uint64_t candidates[KEEPER_MAX_COPIES * 2];
    size_t n_candidates;
    size_t next_candidate;
    unsigned in_flight;
    char last_failure[256];
};

/* A copy that succeeded after its capture was answered: the receiver holds it durably
 * but no record says so yet. The loop proposes SetHolders(add) once the blob's record
 * exists here (the capture's AddFile may not be applied yet), until the deadline: past
 * it the receiver's garbage sweep may delete the unlisted file (it waits the whole
 * grace), so a holder recorded later could be one without the copy. */
struct late_copy {
    struct keeper *keeper;
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t target;
    uint64_t deadline_ms;
    bool proposing;
    struct repl_propose prop;
    struct late_copy *next;
};

/* One transfer: a capture copy (run set) or a repair copy (batch set). */
struct repair_batch;
struct job {
    struct blob_push push;
    int status;
    struct copy_run *run;
    struct repair_batch *batch;
    bool skipped;          /* not tried: its node failed a transfer just before */
    uint64_t other_holder; /* repair: a live holder besides this node, or 0 */
    struct job *next;
};

struct repair_batch {
    unsigned left; /* transfers not finished yet (under the mutex) */
};

/* A node that refused a copy because its disk is full. */
struct full_target {
    uint64_t id;
    uint64_t backoff_ms;
    uint64_t retry_ms; /* no repair copy to it before this (monotonic) */
};

/* A command a thread asks the loop to propose. */
struct thread_prop {
    struct keeper *keeper;
    const Command *cmd; /* valid until taken */
    struct repl_propose prop;
    int status;
    struct archive_result res;
    bool done;
    bool abandoned; /* the thread gave up (stop): whoever finishes frees it */
    struct thread_prop *next;
};

struct keeper {
    uv_loop_t *loop;
    struct keeper_config cfg;
    struct archive *archive;
    struct repl *repl;
    struct blob_store *blobs;
    const struct peer_auth *auth;

    uv_async_t async;
    uv_timer_t timer;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    atomic_bool stop;

    /* Under mu. */
    struct job *capture_head, *capture_tail; /* waiting for a pusher */
    struct job *repair_head, *repair_tail;
    struct job *finished;                    /* capture copies done, for the loop */
    struct thread_prop *props;               /* for the loop to propose */
    /* Per target node: transfers in flight, and until when it is skipped after a
     * transfer to it got no answer (connect failure, stall, timeout). */
    struct target {
        uint64_t id;
        unsigned busy;
        uint64_t failing_until_ms;
    } targets[2 * PLACEMENT_MAX_NODES]; /* more than members plus pushers */
    size_t n_targets;
    /* Transfers to one node at once: half the pushers (at least 2). A node that stopped
     * answering holds that many at most, and the others go on copying elsewhere. */
    unsigned per_target;
    /* Loop only. */
    struct late_copy *late; /* copies made after their capture's answer, to record */
    size_t n_late;
    bool kicked;                             /* the metadata changed: a pass is due */
    uint8_t suspects[SUSPECTS_MAX][BLOB_HASH_BYTES];
    unsigned n_suspects;
    struct full_target full[FULL_MAX]; /* nodes refusing copies: disk full */
    size_t n_full;
    uint64_t full_version; /* bumped when that list changes */

    pthread_t *pushers;
    unsigned n_pushers;
    pthread_t reconciler, scrubber;
    bool reconciler_started, scrubber_started;

    /* Loop-side view, refreshed by the timer. */
    struct placement *placement;
    uint64_t placement_index;
    uint64_t placement_full_version; /* of the list the placement leaves out */
    /* For the threads. */
    atomic_bool leader;
    atomic_bool fresh; /* applied everything the leader committed, as far as known */

    struct {
        _Atomic uint64_t pushes, pushes_failed, pushes_late, repair_copies, repair_bytes,
            repair_failed, holders_dropped, under_replicated, lost, on_draining, free_bytes, passes, last_pass_ms, scrub_bytes,
            scrub_blobs, scrub_corrupt, scrub_cycles, gc_deleted, gc_purged, refused_full;
    } st;
    bool stopped;
    uint64_t drain_warned_ms; /* the reconciler's last warning about a stuck drain */
};

static uint64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Waits on the keeper's condition for at most @ms (mu held). */
static void timed_wait(struct keeper *k, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&k->cond, &k->mu, &ts);
}

/* ---- Nodes whose disk is full (under mu) ---- */

static struct full_target *full_find(struct keeper *k, uint64_t id)
{
    for (size_t i = 0; i < k->n_full; i++) {
        if (k->full[i].id == id) {
            return &k->full[i];
        }
    }
    return NULL;
}

/* Whether a repair copy to @id waits (its disk was full at the last try). */
static bool full_paused(struct keeper *k, uint64_t id, uint64_t now)
{
    struct full_target *f = full_find(k, id);
    return f != NULL && now < f->retry_ms;
}

/* Takes a transfer's outcome into the list: a refusal starts or lengthens the pause
 * of its target, a copy made ends it; each change is logged once. True when the list
 * changed (the loop then leaves the node out of, or takes it back into, placement). */
static bool full_outcome(struct keeper *k, const struct job *j)
{
    struct full_target *f = full_find(k, j->push.target);
    if (j->status == BASE_ENOSPACE) {
        bool added = f == NULL;
        atomic_fetch_add(&k->st.refused_full, 1);
        if (added) {
            if (k->n_full == FULL_MAX) {
                return false;
            }
            f = &k->full[k->n_full++];
            f->id = j->push.target;
            f->backoff_ms = FULL_BACKOFF_MIN_MS;
            k->full_version++;
            LOG_WARN("keeper", "node %llu refuses copies: disk full; repairs to it paused, "
                     "new copies go to other nodes",
                     (unsigned long long)f->id);
        } else if (f->backoff_ms < FULL_BACKOFF_MAX_MS) {
            f->backoff_ms = f->backoff_ms * 2 < FULL_BACKOFF_MAX_MS ? f->backoff_ms * 2
                                                                    : FULL_BACKOFF_MAX_MS;
        }
        f->retry_ms = mono_ms() + f->backoff_ms;
        return added;
    }
    if (j->status == 0 && f != NULL) {
        LOG_INFO("keeper", "node %llu takes copies again: repairs to it resumed",
                 (unsigned long long)f->id);
        *f = k->full[--k->n_full];
        k->full_version++;
        return true;
    }
    return false;
}

static unsigned transfer_timeout(const struct keeper *k, uint64_t size)
{
    uint64_t ms = k->cfg.push_timeout_ms + size / TRANSFER_BYTES_PER_MS;
    return ms > 3600000 ? 3600000 : (unsigned)ms;
}

static unsigned stall_bound(const struct keeper *k, uint64_t size)
{
    uint64_t ms;
    if (k->cfg.push_stall_ms == 0) {
        return 0;
    }
    ms = k->cfg.push_stall_ms + size / SYNC_BYTES_PER_MS;
    return ms > 3600000 ? 3600000 : (unsigned)ms;
}

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
static int propose_and_wait(struct keeper *k, const Command *cmd, struct archive_result *res)
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

/* ---- Holder changes, collected and proposed in batches ---- */

struct changes {
    HolderChange items[CHANGES_PER_COMMAND];
    HolderChange *ptrs[CHANGES_PER_COMMAND];
    uint8_t hashes[CHANGES_PER_COMMAND][BLOB_HASH_BYTES];
    uint64_t ids[CHANGES_PER_COMMAND][3][KEEPER_MAX_COPIES]; /* add, remove, require */
    size_t n;
};

static HolderChange *change_new(struct changes *c, const uint8_t hash[BLOB_HASH_BYTES])
{
    HolderChange *hc = &c->items[c->n];
    holder_change__init(hc);
    memcpy(c->hashes[c->n], hash, BLOB_HASH_BYTES);
    hc->blob.data = c->hashes[c->n];
    hc->blob.len = BLOB_HASH_BYTES;
    hc->add = c->ids[c->n][0];
    hc->remove = c->ids[c->n][1];
    hc->require = c->ids[c->n][2];
    c->ptrs[c->n] = hc;
    c->n++;
    return hc;
}

static void flush_changes(struct keeper *k, struct changes *c)
{
    Command cmd = COMMAND__INIT;
    SetHolders sh = SET_HOLDERS__INIT;
    struct archive_result res;
    int rv;
    if (c->n == 0) {
        return;
    }
    repl_stamp_node_command(&cmd, "set-holders");
    sh.changes = c->ptrs;
    sh.n_changes = c->n;
    cmd.body_case = COMMAND__BODY_SET_HOLDERS;
    cmd.set_holders = &sh;
    rv = propose_and_wait(k, &cmd, &res);
    if (rv != 0 && rv != BASE_ESHUTDOWN) {
        LOG_WARN("keeper", "recording %zu holder changes failed: %s; the next pass retries",
                 c->n, base_strerror(rv));
    }
    c->n = 0;
}

/* ---- The pushers ---- */

static void enqueue(struct keeper *k, struct job *j);

/* The state of node @id (mu held); created when new. The table holds every member
 * (PLACEMENT_MAX_NODES at most); when full, a node with no transfer in flight is
 * forgotten (its skip window with it). */
static struct target *target_get(struct keeper *k, uint64_t id)
{
    for (size_t i = 0; i < k->n_targets; i++) {
        if (k->targets[i].id == id) {
            return &k->targets[i];
        }
    }
    if (k->n_targets == ARRAY_SIZE(k->targets)) {
        for (size_t i = 0; i < k->n_targets; i++) {
            if (k->targets[i].busy == 0) {
                k->targets[i] = k->targets[--k->n_targets];
                break;
            }
        }
        ASSERT(k->n_targets < ARRAY_SIZE(k->targets)); /* busy ones <= pushers <= 256 */
    }
    k->targets[k->n_targets] = (struct target){.id = id};
    return &k->targets[k->n_targets++];
}

/* Takes the first job of a queue whose node is not at its limit of transfers, or whose
 * node is being skipped (mu held); NULL when none. */
static struct job *take_job(struct keeper *k, struct job **head, struct job **tail)
{
    uint64_t now = mono_ms();
    struct job *prev = NULL;
    for (struct job *j = *head; j != NULL; prev = j, j = j->next) {
        struct target *t = target_get(k, j->push.target);
        j->skipped = now < t->failing_until_ms;
        if (!j->skipped && t->busy >= k->per_target) {
            continue;
        }
        if (prev != NULL) {
            prev->next = j->next;
        } else {
            *head = j->next;
        }
        if (*tail == j) {
            *tail = prev;
        }
        t->busy += !j->skipped;
        return j;
    }
    return NULL;
}

static void push_run(struct keeper *k, void *handle, struct job *j)
{
    struct target *t;
    if (j->skipped) {
        j->status = BASE_EIO;
        j->push.http_status = 0;
        snprintf(j->push.why, sizeof j->push.why,
                 "node %llu at %.128s did not answer a copy just before; not tried",
                 (unsigned long long)j->push.target, j->push.http);
        return;
    }
    j->status = blob_push(handle, k->blobs, k->auth, &j->push);
    pthread_mutex_lock(&k->mu);
    t = target_get(k, j->push.target);
    t->busy--;
    if (j->status == BASE_EIO && j->push.http_status == 0) {
        /* No answer at all: the node is down, stopped or cut off. Copies to it are not
         * tried for a while (repair makes them), so that captures do not queue behind
         * transfers that will stall too. */
        t->failing_until_ms = mono_ms() + k->cfg.push_stall_ms;
    }
    pthread_cond_broadcast(&k->cond); /* a pusher may wait for this node's slot */
    pthread_mutex_unlock(&k->mu);
}

static void *pusher_main(void *arg)
{
    struct keeper *k = arg;
    void *handle = blob_push_handle_new();
    for (;;) {
        struct job *j = NULL;
        pthread_mutex_lock(&k->mu);
        while (!atomic_load(&k->stop)) {
            j = take_job(k, &k->capture_head, &k->capture_tail);
            if (j == NULL) {
                j = take_job(k, &k->repair_head, &k->repair_tail);
            }
            if (j != NULL) {
                break;
            }
            timed_wait(k, 1000);
        }
        if (atomic_load(&k->stop)) {
            if (j != NULL) { /* back to its queue: keeper_stop or the batch takes it */
                if (!j->skipped) {
                    target_get(k, j->push.target)->busy--;
                }
                enqueue(k, j);
            }
            pthread_mutex_unlock(&k->mu);
            break;
        }
        if (j->run == NULL && full_find(k, j->push.target) != NULL) {
            /* One repair copy probes a full node per pause; the rest wait. */
            if (full_paused(k, j->push.target, mono_ms())) {
                if (!j->skipped) {
                    target_get(k, j->push.target)->busy--;
                }
                j->status = BASE_ENOSPACE;
                snprintf(j->push.why, sizeof j->push.why, "node %llu: disk full, paused",
                         (unsigned long long)j->push.target);
                j->batch->left--;
                pthread_cond_broadcast(&k->cond);
                pthread_mutex_unlock(&k->mu);
                continue;
            }
            full_find(k, j->push.target)->retry_ms = mono_ms() + FULL_BACKOFF_MAX_MS;
        }
        pthread_mutex_unlock(&k->mu);

        push_run(k, handle, j);

        pthread_mutex_lock(&k->mu);
        if (full_outcome(k, j) && j->run == NULL) {
            uv_async_send(&k->async); /* the placement leaves the node out, or back in */
        }
        if (j->run != NULL) {
            j->next = k->finished;
            k->finished = j;
            pthread_mutex_unlock(&k->mu);
            uv_async_send(&k->async);
        } else {
            j->batch->left--;
            pthread_cond_broadcast(&k->cond);
            pthread_mutex_unlock(&k->mu);
        }
    }
    blob_push_handle_free(handle);
    return NULL;
}

static void enqueue(struct keeper *k, struct job *j)
{
    struct job **head = j->run != NULL ? &k->capture_head : &k->repair_head;
    struct job **tail = j->run != NULL ? &k->capture_tail : &k->repair_tail;
    j->next = NULL;
    if (*tail != NULL) {
        (*tail)->next = j;
    } else {
        *head = j;
    }
    *tail = j;
    pthread_cond_broadcast(&k->cond);
}

/* ---- Capture copies (loop) ---- */

static struct job *job_new(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES],
                           const struct placement_node *target, uint64_t size)
{
    struct job *j = xcalloc(1, sizeof *j);
    memcpy(j->push.hash, hash, BLOB_HASH_BYTES);
    j->push.target = target->id;
    snprintf(j->push.http, sizeof j->push.http, "%s", target->http);
    j->push.timeout_ms = transfer_timeout(k, size);
    j->push.stall_ms = stall_bound(k, size);
    j->push.stop = &k->stop;
    return j;
}

/* Starts the copy to the next candidate; false when none is left. */
static bool copy_next(struct keeper *k, struct copy_run *r)
{
    while (r->next_candidate < r->n_candidates) {
        const struct placement_node *n =
            placement_node(k->placement, r->candidates[r->next_candidate++]);
        struct job *j;
        if (n == NULL) {
            continue;
        }
        j = job_new(k, r->hash, n, r->size);
        j->run = r;
        r->in_flight++;
        pthread_mutex_lock(&k->mu);
        enqueue(k, j);
        pthread_mutex_unlock(&k->mu);
        return true;
    }
    return false;
}

/* The out fields of the capture's answer, as they are now. */
static void copies_report(const struct copy_run *r, struct keeper_copies *c)
{
    memcpy(c->holders, r->holders, r->n_holders * sizeof *r->holders);
    c->n_holders = r->n_holders;
    c->copies = r->copies;
    c->quorum = r->quorum;
    c->replicas = r->replicas;
}

static int copies_outcome(const struct copy_run *r, struct keeper_copies *c)
{
    if (r->copies >= r->quorum) {
        return 0;
    }
    snprintf(c->message, sizeof c->message,
             "only %u durable %s of the file could be made and the write quorum is %u%s%.250s; "
             "retry when the cluster's nodes are up",
             r->copies, r->copies == 1 ? "copy" : "copies", r->quorum,
             r->last_failure[0] != '\0' ? ": " : "", r->last_failure);
    return BASE_ERETRY;
}

/* Answers the capture and detaches it: from here on the run never touches it. */
static void copies_answer(struct keeper *k, struct copy_run *r)
{
    struct keeper_copies *c = r->owner;
    int status;
    ASSERT(r->state == RUN_COPYING);
    copies_report(r, c);
    if (r->copies < r->quorum && atomic_load(&k->stop)) {
        status = BASE_ESHUTDOWN;
    } else {
        status = copies_outcome(r, c);
    }
    r->state = RUN_DETACHED;
    r->owner = NULL;
    c->run = NULL;
    c->cb(c, status);
}

static void late_copy_add(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES], uint64_t target)
{
    struct late_copy *l;
    char hex[BLOB_HEX_BYTES];
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    if (k->n_late >= LATE_MAX) {
        LOG_WARN("keeper", "blob %s: the copy on node %llu was made after the capture's "
                 "answer and %d others wait to be recorded; left to repair",
                 hex, (unsigned long long)target, LATE_MAX);
        return;
    }
    l = xcalloc(1, sizeof *l);
    l->keeper = k;
    memcpy(l->hash, hash, BLOB_HASH_BYTES);
    l->target = target;
    l->deadline_ms = mono_ms() + k->cfg.gc_grace_ms / 2;
    l->next = k->late;
    k->late = l;
    k->n_late++;
    LOG_DEBUG("keeper", "blob %s: copy on node %llu made after the capture's answer",
              hex, (unsigned long long)target);
}

static void late_copies_record(struct keeper *k);

static void copy_finished(struct keeper *k, struct job *j)
{
    struct copy_run *r = j->run;
    r->in_flight--;
    if (j->status == 0) {
        atomic_fetch_add(&k->st.pushes, 1);
        r->copies++;
        if (r->state == RUN_DETACHED) {
            atomic_fetch_add(&k->st.pushes_late, 1);
            late_copy_add(k, r->hash, j->push.target);
            if (!k->stopped) {
                late_copies_record(k); /* at once when the record is here already */
            }
        } else if (r->n_holders < KEEPER_MAX_COPIES) {
            r->holders[r->n_holders++] = j->push.target;
        }
    } else {
        atomic_fetch_add(&k->st.pushes_failed, 1);
        snprintf(r->last_failure, sizeof r->last_failure, "%.200s", j->push.why);
        if (j->status != BASE_ESHUTDOWN && !atomic_load(&k->stop)) {
            bool next = r->copies + r->in_flight < r->replicas && copy_next(k, r);
            if (!j->skipped) { /* the failure that made it skipped was logged */
                LOG_WARN("keeper", "copy to node %llu failed: %s; %s",
                         (unsigned long long)j->push.target, j->push.why,
                         next ? "trying another node" : "repair makes the copy later");
            }
        }
    }
    free(j);
    if (r->state == RUN_COPYING && (r->copies >= r->quorum || r->in_flight == 0)) {
        copies_answer(k, r);
    }
    if (r->state == RUN_DETACHED && r->in_flight == 0) {
        free(r);
    }
}

static void late_copy_unlink(struct keeper *k, struct late_copy *l)
{
    struct late_copy **lp = &k->late;
    while (*lp != l) {
        lp = &(*lp)->next;
    }
    *lp = l->next;
    k->n_late--;
    free(l);
}

static void late_copy_recorded(struct repl_propose *prop, int status,
                               const struct archive_result *res)
{
    struct late_copy *l = prop->data;
    struct keeper *k = l->keeper;
    l->proposing = false;
    if (k->stopped) {
        late_copy_unlink(k, l);
        return;
    }
    if (status == 0 && res->status == ARCHIVE_OK) {
        /* Applied (or skipped: the record was purged meanwhile, the copy is garbage). */
        late_copy_unlink(k, l);
    } /* else the next tick tries again, until the deadline */
}

/* Proposes SetHolders for each late copy whose blob record exists here, drops those
 * past their deadline (loop: the timer's tick, and when a late copy arrives). */
static void late_copies_record(struct keeper *k)
{
    uint64_t now = mono_ms();
    struct late_copy *l = k->late;
    while (l != NULL) {
        struct late_copy *next = l->next;
        BlobRecord *rec = NULL;
        struct base_err err;
        char hex[BLOB_HEX_BYTES];
        bool listed = false;
        int rv;
        if (l->proposing) {
            l = next;
            continue;
        }
        hex_encode(l->hash, BLOB_HASH_BYTES, hex);
        if (now >= l->deadline_ms) {
            LOG_WARN("keeper", "blob %s: the copy on node %llu made after the capture's "
                     "answer was not recorded within half the GC grace; left to repair",
                     hex, (unsigned long long)l->target);
            late_copy_unlink(k, l);
            l = next;
            continue;
        }
        rv = archive_get_blob(k->archive, l->hash, &rec, &err);
        if (rv != 0) {
            l = next; /* the capture's AddFile is not applied yet (or failed) */
            continue;
        }
        for (size_t i = 0; i < rec->n_holders && !listed; i++) {
            listed = rec->holders[i] == l->target;
        }
        archive_free_blob(rec);
        if (listed) { /* repair was quicker */
            late_copy_unlink(k, l);
            l = next;
            continue;
        }
        {
            Command cmd = COMMAND__INIT;
            SetHolders sh = SET_HOLDERS__INIT;
            HolderChange hc = HOLDER_CHANGE__INIT;
            HolderChange *list[1] = {&hc};
            hc.blob.data = l->hash;
            hc.blob.len = BLOB_HASH_BYTES;
            hc.add = &l->target;
            hc.n_add = 1;
            sh.changes = list;
            sh.n_changes = 1;
            repl_stamp_node_command(&cmd, "late-copy");
            cmd.body_case = COMMAND__BODY_SET_HOLDERS;
            cmd.set_holders = &sh;
            l->prop.data = l;
            l->proposing = true;
            if (repl_propose(k->repl, &l->prop, &cmd, late_copy_recorded) != 0) {
                l->proposing = false; /* the next tick tries again */
            }
        }
        l = next;
    }
}

/* Leaves the nodes refusing copies (disk full) out of @pl's targets (mu held). */
static void placement_skip_full(struct keeper *k, struct placement *pl)
{
    for (size_t i = 0; i < pl->n; i++) {
        if (full_find(k, pl->nodes[i].id) != NULL) {
            pl->nodes[i].active = false;
        }
    }
}

static void refresh_placement(struct keeper *k)
{
    struct base_err err;
    uint64_t applied = repl_applied_index(k->repl);
    uint64_t full_version;
    pthread_mutex_lock(&k->mu);
    full_version = k->full_version;
    pthread_mutex_unlock(&k->mu);
    if (k->placement_index == applied && k->placement->n > 0 &&
        k->placement_full_version == full_version) {
        return;
    }
    if (placement_load(k->placement, k->archive, k->cfg.replicas, k->cfg.write_quorum,
                       &err) != 0) {
        LOG_WARN("keeper", "reading the members: %s", err.msg);
        return;
    }
    pthread_mutex_lock(&k->mu);
    placement_skip_full(k, k->placement);
    k->placement_full_version = k->full_version;
    pthread_mutex_unlock(&k->mu);
    k->placement_index = applied;
}

int keeper_copy(struct keeper *k, struct keeper_copies *c, keeper_copies_cb cb)
{
    uint64_t ranked[PLACEMENT_MAX_NODES];
    BlobRecord *rec = NULL;
    struct base_err err;
    struct copy_run *r;
    size_t n;
    unsigned need;

    if (k->stopped) {
        return BASE_ESHUTDOWN;
    }
    r = xcalloc(1, sizeof *r);
    r->state = RUN_COPYING;
    r->owner = c;
    memcpy(r->hash, c->hash, BLOB_HASH_BYTES);
    r->size = c->size;
    r->holders[0] = k->cfg.node_id;
    r->n_holders = 1;
    r->copies = 1;
    c->cb = cb;
    c->run = r;
    c->message[0] = '\0';
    if (k->placement->n == 0) {
        refresh_placement(k); /* else the timer keeps it current (holders are the truth) */
    }
    r->replicas = placement_replicas(k->placement);
    r->quorum = placement_write_quorum(k->placement);
    /* Copies the record lists already count (content captured before). */
    if (archive_get_blob(k->archive, c->hash, &rec, &err) == 0) {
        for (size_t i = 0; i < rec->n_holders; i++) {
            if (rec->holders[i] != k->cfg.node_id &&
                placement_live(k->placement, rec->holders[i])) {
                r->copies++;
            }
        }
    }
    n = placement_rank(k->placement, c->hash, ranked, PLACEMENT_MAX_NODES);
    for (size_t i = 0; i < n && r->n_candidates < ARRAY_SIZE(r->candidates); i++) {
        bool held = ranked[i] == k->cfg.node_id;
        for (size_t j = 0; rec != NULL && j < rec->n_holders && !held; j++) {
            held = rec->holders[j] == ranked[i] && placement_live(k->placement, ranked[i]);
        }
        if (!held) {
            r->candidates[r->n_candidates++] = ranked[i];
        }
    }
    archive_free_blob(rec);
    if (k->auth == NULL) {
        r->n_candidates = 0; /* a single node: nobody to copy to */
    }
    need = r->replicas > r->copies ? r->replicas - r->copies : 0;
    for (unsigned i = 0; i < need && copy_next(k, r); i++) {
    }
    if (r->in_flight > 0 && r->copies < r->quorum) {
        return 0; /* copy_finished answers */
    }
    /* Answered now: the quorum is met already (copies still wanted go on, detached),
     * or it cannot be met. */
    copies_report(r, c);
    c->run = NULL;
    if (copies_outcome(r, c) != 0) {
        free(r);
        return BASE_ERETRY;
    }
    r->state = RUN_DETACHED;
    r->owner = NULL;
    if (r->in_flight == 0) {
        free(r);
    }
    return 1;
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
        refresh_placement(k); /* a node refused copies: capture copies go elsewhere now */
    }
    while (done != NULL) {
        struct job *next = done->next;
        copy_finished(k, done);
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

static void timer_cb(uv_timer_t *t)
{
    struct keeper *k = t->data;
    struct repl_status rs;
    bool full_changed;
    repl_get_status(k->repl, &rs);
    atomic_store(&k->leader, repl_is_leader(k->repl));
    /* Raft's applied index, not the archive's: configuration entries count too. */
    atomic_store(&k->fresh, rs.leader_id != 0 && rs.raft_applied_index >= rs.commit_index);
    if (k->late != NULL) {
        late_copies_record(k);
    }
    pthread_mutex_lock(&k->mu);
    full_changed = k->full_version != k->placement_full_version;
    pthread_mutex_unlock(&k->mu);
    if (rs.applied_index != k->placement_index || full_changed) {
        refresh_placement(k);
        pthread_mutex_lock(&k->mu);
        k->kicked = true;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->mu);
    }
}

/* ---- The reconciler ---- */

struct pass {
    struct keeper *k;
    struct placement *pl;
    struct changes *changes;
    struct job *jobs[REPAIR_BATCH];
    size_t n_jobs;
    uint8_t purge[CHANGES_PER_COMMAND][BLOB_HASH_BYTES];
    ProtobufCBinaryData purge_items[CHANGES_PER_COMMAND];
    size_t n_purge;
    uint64_t under, lost;
    uint64_t on_draining; /* referenced blobs with a copy on a draining node */
    uint64_t now_wall;
    bool leader;
    bool check_own; /* also check that the copies records say this node has exist */
    bool acted;     /* copies made or holder changes proposed */
    uint64_t paused[FULL_MAX]; /* nodes refusing copies (disk full), in their pause */
    size_t n_paused;
};

static bool pass_paused(const struct pass *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_paused; i++) {
        if (p->paused[i] == id) {
            return true;
        }
    }
    return false;
}

static void add_change(struct pass *p, const uint8_t hash[BLOB_HASH_BYTES], uint64_t add,
                       uint64_t remove, const uint64_t *require, size_t n_require)
{
    HolderChange *hc;
    p->acted = true;
    if (p->changes->n == CHANGES_PER_COMMAND) {
        flush_changes(p->k, p->changes);
    }
    hc = change_new(p->changes, hash);
    if (add != 0) {
        hc->add[hc->n_add++] = add;
    }
    if (remove != 0) {
        hc->remove[hc->n_remove++] = remove;
    }
    for (size_t i = 0; i < n_require && i < KEEPER_MAX_COPIES; i++) {
        hc->require[hc->n_require++] = require[i];
    }
}

/* Hands the batch of copies to the pushers, waits for them and records the outcome. */
static void run_repairs(struct pass *p)
{
    struct keeper *k = p->k;
    struct repair_batch batch = {.left = (unsigned)p->n_jobs};
    if (p->n_jobs == 0) {
        return;
    }
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < p->n_jobs; i++) {
        p->jobs[i]->batch = &batch;
        enqueue(k, p->jobs[i]);
    }
    while (batch.left > 0) {
        if (atomic_load(&k->stop)) {
            /* The pushers are leaving: take back what they did not start. */
            struct job **jp = &k->repair_head;
            k->repair_tail = NULL;
            while (*jp != NULL) {
                if ((*jp)->batch == &batch) {
                    (*jp)->status = BASE_ESHUTDOWN;
                    *jp = (*jp)->next;
                    batch.left--;
                } else {
                    k->repair_tail = *jp;
                    jp = &(*jp)->next;
                }
            }
            if (batch.left == 0) {
                break;
            }
        }
        timed_wait(k, 200);
    }
    pthread_mutex_unlock(&k->mu);
    for (size_t i = 0; i < p->n_jobs; i++) {
        struct job *j = p->jobs[i];
        if (j->status == 0) {
            atomic_fetch_add(&k->st.repair_copies, 1);
            atomic_fetch_add(&k->st.repair_bytes, j->push.bytes);
            add_change(p, j->push.hash, j->push.target, 0, NULL, 0);
        } else if (j->status == BASE_ECORRUPT || j->status == BASE_ENOTFOUND) {
            char hex[BLOB_HEX_BYTES];
            struct base_err err;
            hex_encode(j->push.hash, BLOB_HASH_BYTES, hex);
            LOG_WARN("keeper", "blob %s: %s", hex, j->push.why);
            if (j->status == BASE_ECORRUPT &&
                blob_quarantine(k->blobs, j->push.hash, clock_wall_ms(), &err) == 0) {
                atomic_fetch_add(&k->st.scrub_corrupt, 1);
            }
            /* This node stops being a holder while another remains, which repairs. */
            if (j->other_holder != 0) {
                add_change(p, j->push.hash, 0, k->cfg.node_id, &j->other_holder, 1);
            }
        } else if (j->status == BASE_ENOSPACE) {
            /* The target's disk is full: logged once by full_outcome(); retried
             * after its pause. */
        } else if (j->status != BASE_ESHUTDOWN) {
            atomic_fetch_add(&k->st.repair_failed, 1);
            if (!j->skipped) {
                LOG_WARN("keeper", "repair copy failed: %s; the next pass retries", j->push.why);
            }
        }
        free(j);
    }
    p->n_jobs = 0;
    flush_changes(k, p->changes);
}

static void flush_purge(struct pass *p)
{
    Command cmd = COMMAND__INIT;
    PurgeBlobs pb = PURGE_BLOBS__INIT;
    struct archive_result res;
    if (p->n_purge == 0) {
        return;
    }
    repl_stamp_node_command(&cmd, "purge-blobs");
    for (size_t i = 0; i < p->n_purge; i++) {
        p->purge_items[i].data = p->purge[i];
        p->purge_items[i].len = BLOB_HASH_BYTES;
    }
    pb.blobs = p->purge_items;
    pb.n_blobs = p->n_purge;
    pb.grace_ms = p->k->cfg.gc_grace_ms;
    cmd.body_case = COMMAND__BODY_PURGE_BLOBS;
    cmd.purge_blobs = &pb;
    if (propose_and_wait(p->k, &cmd, &res) == 0 && res.status == ARCHIVE_OK) {
        atomic_fetch_add(&p->k->st.gc_purged, res.position);
    }
    p->n_purge = 0;
}

static bool rec_lists(const BlobRecord *rec, uint64_t id)
{
    for (size_t i = 0; i < rec->n_holders; i++) {
        if (rec->holders[i] == id) {
            return true;
        }
    }
    return false;
}

/* One blob record: count it, and act if this node is the one to. */
static void visit(struct pass *p, const uint8_t hash[BLOB_HASH_BYTES], const BlobRecord *rec)
{
    struct keeper *k = p->k;
    uint64_t self = k->cfg.node_id;
    uint64_t live[KEEPER_MAX_COPIES], wanted[KEEPER_MAX_COPIES];
    size_t n_live = 0, n_wanted, missing = 0;
    unsigned r = placement_replicas(p->pl);
    uint64_t owner = 0, best = 0;

    if (rec->refs == 0) {
        if (p->leader && rec->released_ms + k->cfg.gc_grace_ms <= p->now_wall) {
            memcpy(p->purge[p->n_purge++], hash, BLOB_HASH_BYTES);
            if (p->n_purge == CHANGES_PER_COMMAND) {
                flush_purge(p);
            }
        }
        return;
    }
    for (size_t i = 0; i < rec->n_holders && n_live < KEEPER_MAX_COPIES; i++) {
        const struct placement_node *hn = placement_node(p->pl, rec->holders[i]);
        if (hn != NULL && hn->live && !hn->active) {
            p->on_draining++;
        }
        if (placement_live(p->pl, rec->holders[i])) {
            uint64_t s = placement_score(hash, rec->holders[i]);
            live[n_live++] = rec->holders[i];
            if (owner == 0 || s > best) {
                owner = rec->holders[i];
                best = s;
            }
        }
    }
    if (rec->n_holders == 0 && blob_exists(k->blobs, hash)) {
        /* Captured before holders were recorded (an older version): this node's copy
         * becomes known, and the next pass copies it where it belongs. */
        add_change(p, hash, self, 0, NULL, 0);
        return;
    }
    if (n_live < r) {
        p->under++;
        /* Shown as it rises (the pass itself makes the copies, which takes a while);
         * the final count replaces it at the end of the pass. */
        if (p->under > atomic_load(&k->st.under_replicated)) {
            atomic_store(&k->st.under_replicated, p->under);
        }
    }
    if (n_live == 0) {
        p->lost++;
        return;
    }
    if (p->check_own && n_live > 1 && rec_lists(rec, self) && !blob_exists(k->blobs, hash)) {
        /* Listed but gone (e.g. the disk lost it): stop counting it; repair brings a
         * copy back from another live holder. */
        for (size_t i = 0; i < n_live; i++) {
            if (live[i] != self) {
                char hex[BLOB_HEX_BYTES];
                hex_encode(hash, BLOB_HASH_BYTES, hex);
                LOG_WARN("keeper", "blob %s: the records list this node but it has no copy; "
                         "dropping it as a holder", hex);
                add_change(p, hash, 0, self, &live[i], 1);
                return;
            }
        }
    }
    if (owner != self) {
        return;
    }
    n_wanted = placement_rank(p->pl, hash, wanted, r < KEEPER_MAX_COPIES ? r : KEEPER_MAX_COPIES);
    for (size_t i = 0; i < n_wanted; i++) {
        bool held = false;
        for (size_t j = 0; j < n_live && !held; j++) {
            held = live[j] == wanted[i];
        }
        if (!held && pass_paused(p, wanted[i])) {
            missing++; /* its disk is full: no copy now, and no extra dropped */
        } else if (!held) {
            const struct placement_node *t = placement_node(p->pl, wanted[i]);
            struct job *j = job_new(k, hash, t, rec->size);
            j->push.bytes_per_s =
                k->cfg.repair_bytes_per_s / (k->n_pushers > 0 ? k->n_pushers : 1);
            for (size_t h = 0; h < n_live && j->other_holder == 0; h++) {
                j->other_holder = live[h] != self ? live[h] : 0;
            }
            p->jobs[p->n_jobs++] = j;
            p->acted = true;
            missing++;
            if (p->n_jobs == REPAIR_BATCH) {
                run_repairs(p);
            }
        }
    }
    if (missing > 0 || n_wanted < r) {
        return; /* copies first; extras are dropped once every wanted node holds one */
    }
    for (size_t i = 0; i < rec->n_holders; i++) {
        bool is_wanted = false;
        for (size_t j = 0; j < n_wanted && !is_wanted; j++) {
            is_wanted = wanted[j] == rec->holders[i];
        }
        if (!is_wanted) {
            add_change(p, hash, 0, rec->holders[i], wanted, n_wanted);
            atomic_fetch_add(&k->st.holders_dropped, 1);
        }
    }
}

/* One pass; true when it made copies or proposed changes (the next pass then comes
 * soon, to count what they changed and to take the next step). */
static bool pass_run(struct keeper *k, bool check_own)
{
    struct pass *p = xcalloc(1, sizeof *p);
    struct base_err err;
    struct rocks_iter *it;
    uint64_t started = mono_ms();
    bool acted;
    p->k = k;
    p->pl = xmalloc(sizeof *p->pl);
    p->changes = xcalloc(1, sizeof *p->changes);
    p->now_wall = clock_wall_ms();
    p->leader = atomic_load(&k->leader);
    p->check_own = check_own;
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < k->n_full; i++) {
        if (full_paused(k, k->full[i].id, started)) {
            p->paused[p->n_paused++] = k->full[i].id;
        }
    }
    pthread_mutex_unlock(&k->mu);
    if (placement_load(p->pl, k->archive, k->cfg.replicas, k->cfg.write_quorum, &err) != 0) {
        LOG_WARN("keeper", "pass: reading the members: %s", err.msg);
        goto out;
    }
    it = rocks_iter_new(k->archive->db, ROCKS_CF_BLOBS, NULL, 0);
    for (rocks_iter_first(it); rocks_iter_valid(it) && !atomic_load(&k->stop);
         rocks_iter_next(it)) {
        size_t klen, vlen;
        const char *key = rocks_iter_key(it, &klen);
        const char *val = rocks_iter_value(it, &vlen);
        BlobRecord *rec;
        uint8_t hash[BLOB_HASH_BYTES];
        if (klen != BLOB_HASH_BYTES) {
            continue;
        }
        rec = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
        if (rec == NULL) {
            continue;
        }
        memcpy(hash, key, BLOB_HASH_BYTES);
        visit(p, hash, rec);
        blob_record__free_unpacked(rec, NULL);
    }
    if (rocks_iter_status(it, &err) != 0) {
        LOG_WARN("keeper", "pass: %s", err.msg);
    }
    rocks_iter_free(it);
    run_repairs(p);
    flush_changes(k, p->changes);
    flush_purge(p);
    if (!atomic_load(&k->stop)) {
        size_t active = 0;
        atomic_store(&k->st.under_replicated, p->under);
        atomic_store(&k->st.lost, p->lost);
        atomic_store(&k->st.on_draining, p->on_draining);
        for (size_t i = 0; i < p->pl->n; i++) {
            active += p->pl->nodes[i].active;
        }
        if (p->on_draining > 0 && active < placement_replicas(p->pl) &&
            mono_ms() >= k->drain_warned_ms + 60000) {
            k->drain_warned_ms = mono_ms();
            LOG_WARN("keeper", "%llu blobs have copies on draining nodes that cannot move: "
                     "%zu active nodes for %u copies; add a node or undrain",
                     (unsigned long long)p->on_draining, active, placement_replicas(p->pl));
        }
    }
out:
    atomic_fetch_add(&k->st.passes, 1);
    atomic_store(&k->st.last_pass_ms, mono_ms() - started);
    free(p->changes);
    free(p->pl);
    acted = p->acted;
    free(p);
    return acted;
}

/* ---- Local garbage: files no record lists this node for ---- */

struct sweep {
    struct keeper *k;
    uint64_t now_wall;
};

static bool sweep_one(void *arg, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                      uint64_t mtime_ms)
{
    struct sweep *s = arg;
    struct keeper *k = s->k;
    struct base_err err;
    char *val;
    size_t vlen;
    bool listed = false;
    int rv;
    (void)size;
    if (atomic_load(&k->stop)) {
        return false;
    }
    if (mtime_ms + k->cfg.gc_grace_ms > s->now_wall) {
        return true; /* too young: a copy whose record may be on its way */
    }
    rv = rocks_get(k->archive->db, ROCKS_CF_BLOBS, hash, BLOB_HASH_BYTES, &val, &vlen, &err);
    if (rv == 0) {
        BlobRecord *rec = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
        free(val);
        if (rec == NULL) {
            return true; /* never delete on a record that cannot be read */
        }
        for (size_t i = 0; i < rec->n_holders && !listed; i++) {
            listed = rec->holders[i] == k->cfg.node_id;
        }
        blob_record__free_unpacked(rec, NULL);
    } else if (rv != BASE_ENOTFOUND) {
        return true;
    }
    if (!listed && atomic_load(&k->fresh) &&
        blob_remove(k->blobs, hash, k->cfg.gc_grace_ms, clock_wall_ms(), &err) == 0) {
        atomic_fetch_add(&k->st.gc_deleted, 1);
    }
    return true;
}

static void sweep_run(struct keeper *k)
{
    struct sweep s = {.k = k, .now_wall = clock_wall_ms()};
    if (!atomic_load(&k->fresh)) {
        return; /* behind the leader: a record this node has not seen may list it */
    }
    blob_walk(k->blobs, sweep_one, &s);
}

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
        atomic_store(&k->st.free_bytes, blob_store_free_bytes(k->blobs));
        if (mono_ms() >= last_sweep + sweep_every) {
            acted = pass_run(k, true);
            sweep_run(k);
            last_sweep = mono_ms();
        } else {
            acted = pass_run(k, false);
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

/* ---- The scrubber ---- */

struct scrub {
    struct keeper *k;
    uint64_t started_ms;
    uint64_t bytes;
};

/* Paces the scrubber to its rate; false when the keeper stops. */
static bool scrub_paced(void *arg, size_t n)
{
    struct scrub *s = arg;
    struct keeper *k = s->k;
    uint64_t due;
    s->bytes += n;
    atomic_fetch_add(&k->st.scrub_bytes, n);
    due = s->started_ms + s->bytes * 1000 / k->cfg.scrub_bytes_per_s;
    pthread_mutex_lock(&k->mu);
    while (!atomic_load(&k->stop) && mono_ms() < due) {
        timed_wait(k, due - mono_ms());
    }
    pthread_mutex_unlock(&k->mu);
    return !atomic_load(&k->stop);
}

static void scrub_one(struct scrub *s, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct keeper *k = s->k;
    struct base_err err;
    char hex[BLOB_HEX_BYTES];
    enum blob_chunks_found chunks = BLOB_CHUNKS_GOOD;
    /* The chunk list is checked in the same pass and rewritten when missing (a blob
     * from an older version) or bad, so a data dir is upgraded by one scrub cycle. */
    int rv = blob_verify_paced(k->blobs, hash, true, scrub_paced, s, &chunks, &err);
    atomic_fetch_add(&k->st.scrub_blobs, 1);
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    if (rv == 0 && chunks == BLOB_CHUNKS_BAD) {
        LOG_WARN("keeper", "blob %s: its chunk list was damaged; written anew", hex);
    }
    if (rv != BASE_ECORRUPT) {
        return;
    }
    atomic_fetch_add(&k->st.scrub_corrupt, 1);
    if (blob_quarantine(k->blobs, hash, clock_wall_ms(), &err) != 0) {
        LOG_ERROR("keeper", "blob %s is corrupt and could not be quarantined: %s", hex, err.msg);
        return;
    }
    {
        Command cmd = COMMAND__INIT;
        SetHolders sh = SET_HOLDERS__INIT;
        HolderChange hc = HOLDER_CHANGE__INIT;
        HolderChange *list[1] = {&hc};
        uint64_t self = k->cfg.node_id;
        repl_stamp_node_command(&cmd, "scrub-corrupt");
        hc.blob.data = (uint8_t *)hash;
        hc.blob.len = BLOB_HASH_BYTES;
        hc.remove = &self;
        hc.n_remove = 1;
        sh.changes = list;
        sh.n_changes = 1;
        cmd.body_case = COMMAND__BODY_SET_HOLDERS;
        cmd.set_holders = &sh;
        rv = propose_and_wait(k, &cmd, NULL);
        LOG_WARN("keeper", "blob %s: this node's copy was corrupt; %s", hex,
                 rv == 0 ? "a good copy comes back from another holder"
                         : "recording it failed; the reconciler finds the copy missing");
    }
}

/* Takes a suspect hash, if any (mu not held). */
static bool next_suspect(struct keeper *k, uint8_t out[BLOB_HASH_BYTES])
{
    bool any;
    pthread_mutex_lock(&k->mu);
    any = k->n_suspects > 0;
    if (any) {
        memcpy(out, k->suspects[--k->n_suspects], BLOB_HASH_BYTES);
    }
    pthread_mutex_unlock(&k->mu);
    return any;
}

static bool scrub_visit(void *arg, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                        uint64_t mtime_ms)
{
    struct scrub *s = arg;
    uint8_t suspect[BLOB_HASH_BYTES];
    (void)size;
    (void)mtime_ms;
    while (next_suspect(s->k, suspect)) {
        scrub_one(s, suspect);
    }
    scrub_one(s, hash);
    return !atomic_load(&s->k->stop);
}

static void *scrubber_main(void *arg)
{
    struct keeper *k = arg;
    while (!atomic_load(&k->stop)) {
        struct scrub s = {.k = k, .started_ms = mono_ms()};
        uint8_t suspect[BLOB_HASH_BYTES];
        uint64_t until;
        blob_walk(k->blobs, scrub_visit, &s);
        atomic_fetch_add(&k->st.scrub_cycles, 1);
        until = mono_ms() + k->cfg.scrub_pause_ms;
        pthread_mutex_lock(&k->mu);
        while (!atomic_load(&k->stop) && mono_ms() < until) {
            if (k->n_suspects > 0) {
                pthread_mutex_unlock(&k->mu);
                s.started_ms = mono_ms();
                s.bytes = 0;
                while (next_suspect(k, suspect)) {
                    scrub_one(&s, suspect);
                }
                pthread_mutex_lock(&k->mu);
                continue;
            }
            timed_wait(k, until - mono_ms() < 1000 ? until - mono_ms() : 1000);
        }
        pthread_mutex_unlock(&k->mu);
    }
    return NULL;
}

void keeper_suspect(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES])
{
    pthread_mutex_lock(&k->mu);
    if (k->n_suspects < SUSPECTS_MAX) {
        memcpy(k->suspects[k->n_suspects++], hash, BLOB_HASH_BYTES);
        pthread_cond_broadcast(&k->cond);
    }
    pthread_mutex_unlock(&k->mu);
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
        if ((rv = pthread_create(&k->pushers[i], NULL, pusher_main, k)) != 0) {
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
        if ((rv = pthread_create(&k->scrubber, NULL, scrubber_main, k)) != 0) {
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
