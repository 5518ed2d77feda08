/* The keeper's pushers: threads that make the transfers, capture copies first, at most
 * per_target at once to one node, skipping a node that just failed to answer, and
 * backing off from nodes whose disk is full. See keeper_int.h. */
#include "replication/keeper_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"

/* ---- Nodes whose disk is full (under mu) ---- */

struct full_target *keeper_full_find(struct keeper *k, uint64_t id)
{
    for (size_t i = 0; i < k->n_full; i++) {
        if (k->full[i].id == id) {
            return &k->full[i];
        }
    }
    return NULL;
}

/* Whether a repair copy to @id waits (its disk was full at the last try). */
bool keeper_full_paused(struct keeper *k, uint64_t id, uint64_t now)
{
    struct full_target *f = keeper_full_find(k, id);
    return f != NULL && now < f->retry_ms;
}

void keeper_full_from_records(struct keeper *k, const struct placement *pl, uint64_t now)
{
    for (size_t i = 0; i < k->n_full; i++) {
        struct full_target *f = &k->full[i];
        const struct placement_node *n = placement_node(pl, f->id);
        if (n == NULL) {
            continue;
        }
        if (n->full) {
            f->record_full = true;
        } else if (f->record_full) {
            f->record_full = false;
            f->backoff_ms = FULL_BACKOFF_MIN_MS;
            f->retry_ms = now;
            LOG_INFO("keeper", "node %llu reports room on its disk again: trying copies to "
                     "it now", (unsigned long long)f->id);
        }
    }
}

/* Takes a transfer's outcome into the list: a refusal starts or lengthens the pause
 * of its target, a copy made ends it; each change is logged once. True when the list
 * changed (the loop then leaves the node out of, or takes it back into, placement). */
static bool full_outcome(struct keeper *k, const struct job *j)
{
    struct full_target *f = keeper_full_find(k, j->push.target);
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
            f->record_full = false;
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

/* ---- The pushers ---- */


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
    ASSERT(t->busy > 0);
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

void *keeper_pusher_main(void *arg)
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
                keeper_enqueue(k, j);
            }
            pthread_mutex_unlock(&k->mu);
            break;
        }
        if (j->run == NULL && keeper_full_find(k, j->push.target) != NULL) {
            /* One repair copy probes a full node per pause; the rest wait. */
            if (keeper_full_paused(k, j->push.target, mono_ms())) {
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
            keeper_full_find(k, j->push.target)->retry_ms = mono_ms() + FULL_BACKOFF_MAX_MS;
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

void keeper_enqueue(struct keeper *k, struct job *j)
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

struct job *keeper_job_new(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES],
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

