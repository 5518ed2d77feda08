/* Capture copies (keeper_copy, the loop): the copies a capture waits for, and the
 * late ones recorded after its answer. See keeper.h and keeper_int.h. */
#include "replication/keeper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/keeper_int.h"

/* ---- Capture copies (loop) ---- */

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
        j = keeper_job_new(k, r->hash, n, r->size);
        j->run = r;
        r->in_flight++;
        pthread_mutex_lock(&k->mu);
        keeper_enqueue(k, j);
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

void keeper_copy_finished(struct keeper *k, struct job *j)
{
    struct copy_run *r = j->run;
    ASSERT(r->in_flight > 0);
    r->in_flight--;
    if (j->status == 0) {
        atomic_fetch_add(&k->st.pushes, 1);
        r->copies++;
        if (r->state == RUN_DETACHED) {
            atomic_fetch_add(&k->st.pushes_late, 1);
            late_copy_add(k, r->hash, j->push.target);
            if (!k->stopped) {
                keeper_late_copies_record(k); /* at once when the record is here already */
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
void keeper_late_copies_record(struct keeper *k)
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
        if (keeper_full_find(k, pl->nodes[i].id) != NULL) {
            pl->nodes[i].active = false;
        }
    }
}

void keeper_refresh_placement(struct keeper *k)
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
        keeper_refresh_placement(k); /* else the timer keeps it current (holders are the truth) */
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
    /* A full node ranks only where it holds a copy already (and is then skipped). */
    n = placement_rank_held(k->placement, c->hash, rec != NULL ? rec->holders : r->holders,
                            rec != NULL ? rec->n_holders : 1, ranked, PLACEMENT_MAX_NODES);
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
    } else {
        /* This node's copy counts toward R, but when placement does not want it here
         * the copies end on R nodes that are not placement's: a record with R holders,
         * which the blob index does not name for a pass. The next pass reads it. */
        bool wanted = false;
        for (size_t i = 0; i < n && i < r->replicas && !wanted; i++) {
            wanted = ranked[i] == k->cfg.node_id;
        }
        if (!wanted) {
            keeper_recheck(k, c->hash);
        }
    }
    need = r->replicas > r->copies ? r->replicas - r->copies : 0;
    for (unsigned i = 0; i < need && copy_next(k, r); i++) {
    }
    if (r->in_flight > 0 && r->copies < r->quorum) {
        return 0; /* keeper_copy_finished answers */
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

