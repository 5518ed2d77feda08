/* The scrubber thread: every local blob re-hashed at a bounded rate, suspects first;
 * a corrupt copy goes to quarantine and this node stops being its holder. See keeper.h. */
#include "replication/keeper.h"

#include <string.h>

#include "base/hex.h"
#include "base/log.h"
#include "replication/keeper_int.h"

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
        rv = keeper_propose_and_wait(k, &cmd, NULL);
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

void *keeper_scrubber_main(void *arg)
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
