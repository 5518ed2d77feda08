/* Repair, rebalance and drain: the reconciler's pass over the blob records (every one,
 * or only those the blob index names: archive/blobs.h), the copies it hands the
 * pushers, the holder changes it proposes and the leader's purges of records
 * unreferenced for the grace period. See keeper.h and keeper_int.h. */
#include "replication/keeper_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"

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
    rv = keeper_propose_and_wait(k, &cmd, &res);
    if (rv != 0 && rv != BASE_ESHUTDOWN) {
        LOG_WARN("keeper", "recording %zu holder changes failed: %s; the next pass retries",
                 c->n, base_strerror(rv));
    }
    c->n = 0;
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
    /* A pass over the index's candidates (not every record): the holders whose copies
     * may have to move (not active members), ascending, and the one whose blobs are
     * being walked (its place in that list; n_unsettled for this node's own). */
    uint64_t unsettled[PLACEMENT_MAX_NODES * 2];
    size_t n_unsettled;
    size_t walking;
    uint64_t visited; /* records visited */
    bool rechecking;  /* visiting keeper_recheck()'s blobs */
    /* Members the leader sees down (keeper.down, at the pass's start): their copies
     * are live for placement until they are marked out, but not in p->under. */
    uint64_t down[PLACEMENT_MAX_NODES];
    size_t n_down;
};

static bool pass_down(const struct pass *p, uint64_t id)
{
    for (size_t i = 0; i < p->n_down; i++) {
        if (p->down[i] == id) {
            return true;
        }
    }
    return false;
}

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
        keeper_enqueue(k, p->jobs[i]);
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
            /* The target's disk is full: logged once by full_outcome() (keeper_push.c); retried
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
    if (keeper_propose_and_wait(p->k, &cmd, &res) == 0 && res.status == ARCHIVE_OK) {
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
    size_t n_live = 0, n_up = 0, n_wanted, missing = 0;
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
            n_up += !pass_down(p, rec->holders[i]);
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
    if (n_up < r) {
        /* A copy on a member that stopped answering is not counted as one, though it
         * stays where it is until the member is marked out (placement and repair go
         * by the records, so that a restart does not move copies). */
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
    /* The owner acts; on a recheck, this node does (it holds a copy placement does not
     * want, and the owner has no reason to look at a record of R holders). */
    if (owner != self && !(p->rechecking && rec_lists(rec, self))) {
        return;
    }
    /* A full node keeps the copies it has (they are wanted where they are) and is
     * sent none. */
    n_wanted = placement_rank_held(p->pl, hash, live, n_live, wanted,
                                   r < KEEPER_MAX_COPIES ? r : KEEPER_MAX_COPIES);
    for (size_t i = 0; i < n_wanted; i++) {
        bool held = false;
        for (size_t j = 0; j < n_live && !held; j++) {
            held = live[j] == wanted[i];
        }
        if (!held && pass_paused(p, wanted[i])) {
            missing++; /* its disk is full: no copy now, and no extra dropped */
        } else if (!held) {
            const struct placement_node *t = placement_node(p->pl, wanted[i]);
            struct job *j = keeper_job_new(k, hash, t, rec->size);
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

/* The walk's step: stops when the keeper does. */
static bool pass_visit(const uint8_t hash[BLOB_HASH_BYTES], const BlobRecord *rec, void *arg)
{
    struct pass *p = arg;
    if (atomic_load(&p->k->stop)) {
        return false;
    }
    p->visited++;
    visit(p, hash, rec);
    return true;
}

/* The step of a walk over the blobs of one holder: a blob the pass visits in another
 * walk is left to it (unsettled class, or a holder walked before this one), so each
 * is visited once and counted once. */
static bool pass_visit_held(const uint8_t hash[BLOB_HASH_BYTES], const BlobRecord *rec,
                            void *arg)
{
    struct pass *p = arg;
    if (archive_blob_class(rec) != placement_replicas(p->pl)) {
        return !atomic_load(&p->k->stop);
    }
    for (size_t i = 0; i < rec->n_holders; i++) {
        for (size_t j = 0; j < p->walking; j++) {
            if (p->unsettled[j] == rec->holders[i]) {
                return !atomic_load(&p->k->stop);
            }
        }
    }
    return pass_visit(hash, rec, arg);
}

/* Whether copies on @id may have to move: it is not an active member (draining, out,
 * removed, or unknown). A full node keeps its copies. */
static bool holder_settled(const struct placement *pl, uint64_t id)
{
    const struct placement_node *n = placement_node(pl, id);
    return n != NULL && n->live && n->active;
}

/* A pass over what the blob index says may need work, not over every record: the
 * records whose holder count is not R (under-replicated, extra copies, unreferenced
 * ones for the leader to purge), then those with a copy on a node that is not an
 * active member, then (check_own) those listing this node. Every blob a full pass
 * would act on is among them while the placement's choice of nodes is unchanged
 * (keeper_full_pass_due decides when it is not). */
static int pass_indexed(struct pass *p, struct base_err *err)
{
    struct keeper *k = p->k;
    uint64_t *ids = xmalloc(sizeof(uint64_t) * PLACEMENT_MAX_NODES * 2);
    size_t n_ids = 0;
    int rv = archive_each_blob_unsettled(k->archive, placement_replicas(p->pl), p->leader,
                                         pass_visit, p, err);
    if (rv == 0) {
        rv = archive_blob_holder_ids(k->archive, ids, PLACEMENT_MAX_NODES * 2, &n_ids, err);
    }
    for (size_t i = 0; rv == 0 && i < n_ids; i++) {
        if (!holder_settled(p->pl, ids[i]) || pass_down(p, ids[i])) {
            p->unsettled[p->n_unsettled++] = ids[i]; /* a down member's: to count them */
        }
    }
    for (size_t i = 0; rv == 0 && i < p->n_unsettled && !atomic_load(&k->stop); i++) {
        p->walking = i;
        rv = archive_each_blob_held(k->archive, p->unsettled[i], pass_visit_held, p, err);
    }
    if (rv == 0 && p->check_own && !atomic_load(&k->stop)) {
        p->walking = p->n_unsettled;
        rv = archive_each_blob_held(k->archive, k->cfg.node_id, pass_visit_held, p, err);
    }
    free(ids);
    return rv;
}

void keeper_recheck(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES])
{
    pthread_mutex_lock(&k->mu);
    if (k->n_rechecks < RECHECKS_MAX) {
        struct recheck *c = &k->rechecks[k->n_rechecks++];
        memcpy(c->hash, hash, BLOB_HASH_BYTES);
        c->until_ms = mono_ms() + RECHECK_WAIT_MS;
    } else {
        k->rechecks_overflow = true;
    }
    pthread_mutex_unlock(&k->mu);
}

static int recheck_cmp(const void *a, const void *b)
{
    return memcmp(((const struct recheck *)a)->hash, ((const struct recheck *)b)->hash,
                  BLOB_HASH_BYTES);
}

/* Whether an earlier walk of this indexed pass visited @rec already. */
static bool walked(const struct pass *p, const BlobRecord *rec)
{
    if (archive_blob_class(rec) != placement_replicas(p->pl)) {
        return true;
    }
    for (size_t i = 0; i < rec->n_holders; i++) {
        for (size_t j = 0; j < p->n_unsettled; j++) {
            if (p->unsettled[j] == rec->holders[i]) {
                return true;
            }
        }
        if (p->check_own && rec->holders[i] == p->k->cfg.node_id) {
            return true;
        }
    }
    return false;
}

/* The rechecks keeper_recheck() queued: each blob read by name and visited, unless a
 * walk of this pass did already (@full: every record was). One whose record is not
 * there yet (its capture is still being committed) waits for the next pass, until its
 * time is up. */
static int pass_rechecks(struct pass *p, bool full, struct base_err *err)
{
    struct keeper *k = p->k;
    struct recheck *list;
    size_t n, kept = 0;
    uint64_t now = mono_ms();
    int rv = 0;
    pthread_mutex_lock(&k->mu);
    n = k->n_rechecks;
    list = xmalloc((n > 0 ? n : 1) * sizeof *list);
    memcpy(list, k->rechecks, n * sizeof *list);
    k->n_rechecks = 0;
    pthread_mutex_unlock(&k->mu);
    qsort(list, n, sizeof *list, recheck_cmp);
    for (size_t i = 0; i < n && rv == 0 && !atomic_load(&k->stop); i++) {
        BlobRecord *rec = NULL;
        if (i > 0 && memcmp(list[i].hash, list[i - 1].hash, BLOB_HASH_BYTES) == 0) {
            continue;
        }
        rv = archive_read_blob(k->archive, list[i].hash, &rec, err);
        if (rv == BASE_ENOTFOUND) {
            rv = 0;
            if (now < list[i].until_ms) {
                list[kept++] = list[i];
            }
            continue;
        }
        if (rv == 0 && (!full || rec_lists(rec, k->cfg.node_id)) && !walked(p, rec)) {
            p->rechecking = true;
            pass_visit(list[i].hash, rec, p);
            p->rechecking = false;
        }
        archive_free_blob(rec);
    }
    pthread_mutex_lock(&k->mu);
    for (size_t i = 0; i < kept && k->n_rechecks < RECHECKS_MAX; i++) {
        k->rechecks[k->n_rechecks++] = list[i];
    }
    pthread_mutex_unlock(&k->mu);
    free(list);
    return rv;
}

/* Whether the next pass must read every record: the first one, one every
 * PASS_FULL_EVERY_MS, and one whenever a node may now be chosen that was not a
 * candidate at the last full pass, or was one otherwise (its weight, zone or the time
 * of its last storage change differ): a node added, undrained, back from out or with
 * room again, a weight or zone changed. Those move blobs that no index names. The
 * time of the storage change catches a drain and undrain both made between two passes
 * of this node (another node may have moved copies off meanwhile, and this one may now
 * own them). A node that stops being a candidate needs no full pass: only the blobs
 * it holds move, and the index names them. */
static bool full_pass_due(struct keeper *k, const struct placement *pl, uint64_t now)
{
    if (!k->full_done || now >= k->full_pass_ms + PASS_FULL_EVERY_MS) {
        return true;
    }
    for (size_t i = 0; i < pl->n; i++) {
        const struct placement_node *n = &pl->nodes[i];
        bool known = false;
        if (!n->active || !n->live || n->full) {
            continue;
        }
        for (size_t j = 0; j < k->n_candidates && !known; j++) {
            const struct keeper_candidate *c = &k->candidates[j];
            known = c->id == n->id && c->weight == n->weight &&
                    c->storage_ms == n->storage_ms && strcmp(c->zone, n->zone) == 0;
        }
        if (!known) {
            return true;
        }
    }
    return false;
}

/* Remembers the nodes a full pass placed copies among. */
static void full_pass_done(struct keeper *k, const struct placement *pl, uint64_t now)
{
    k->n_candidates = 0;
    for (size_t i = 0; i < pl->n; i++) {
        const struct placement_node *n = &pl->nodes[i];
        if (n->active && n->live && !n->full) {
            struct keeper_candidate *c = &k->candidates[k->n_candidates++];
            c->id = n->id;
            c->weight = n->weight;
            c->storage_ms = n->storage_ms;
            snprintf(c->zone, sizeof c->zone, "%s", n->zone);
        }
    }
    k->full_done = true;
    k->full_pass_ms = now;
}

/* One pass; true when it made copies or proposed changes (the next pass then comes
 * soon, to count what they changed and to take the next step). */
bool keeper_pass_run(struct keeper *k, bool check_own)
{
    struct pass *p = xcalloc(1, sizeof *p);
    struct base_err err;
    uint64_t started = mono_ms();
    bool acted, full = false;
    int rv;
    p->k = k;
    p->pl = xmalloc(sizeof *p->pl);
    p->changes = xcalloc(1, sizeof *p->changes);
    p->now_wall = clock_wall_ms();
    p->leader = atomic_load(&k->leader);
    p->check_own = check_own;
    if (placement_load(p->pl, k->archive, k->cfg.replicas, k->cfg.write_quorum, &err) != 0) {
        LOG_WARN("keeper", "pass: reading the members: %s", err.msg);
        goto out;
    }
    pthread_mutex_lock(&k->mu);
    memcpy(p->down, k->down, k->n_down * sizeof k->down[0]);
    p->n_down = k->n_down;
    keeper_full_from_records(k, p->pl, started);
    for (size_t i = 0; i < k->n_full; i++) {
        if (keeper_full_paused(k, k->full[i].id, started)) {
            p->paused[p->n_paused++] = k->full[i].id;
        }
    }
    pthread_mutex_unlock(&k->mu);
    full = full_pass_due(k, p->pl, started);
    pthread_mutex_lock(&k->mu);
    if (k->rechecks_overflow) {
        p->check_own = true; /* the rechecks not kept were of blobs this node holds */
        k->rechecks_overflow = false;
    }
    pthread_mutex_unlock(&k->mu);
    rv = full ? archive_each_blob(k->archive, pass_visit, p, &err) : pass_indexed(p, &err);
    if (rv == 0) {
        rv = pass_rechecks(p, full, &err);
    }
    if (rv != 0) {
        LOG_WARN("keeper", "pass: %s", err.msg);
    } else if (full && !atomic_load(&k->stop)) {
        full_pass_done(k, p->pl, started);
        atomic_fetch_add(&k->st.full_passes, 1);
    }
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
    atomic_store(&k->st.last_pass_records, p->visited);
    atomic_store(&k->st.last_pass_full, full);
    free(p->changes);
    free(p->pl);
    acted = p->acted;
    free(p);
    return acted;
}
