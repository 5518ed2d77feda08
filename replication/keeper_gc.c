/* Local garbage: blob files no record lists this node for, deleted once older than the
 * grace period and only while this node's metadata has caught up with the leader (the
 * reconciler thread). The records' own garbage, PurgeBlobs, is proposed by the pass in
 * keeper_repair.c. See keeper.h. */
#include "replication/keeper_int.h"

#include "archive/blobs.h"

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
    BlobRecord *rec;
    bool listed = false;
    int rv;
    (void)size;
    if (atomic_load(&k->stop)) {
        return false;
    }
    if (mtime_ms + k->cfg.gc_grace_ms > s->now_wall) {
        return true; /* too young: a copy whose record may be on its way */
    }
    rv = archive_read_blob(k->archive, hash, &rec, &err);
    if (rv == 0) {
        for (size_t i = 0; i < rec->n_holders && !listed; i++) {
            listed = rec->holders[i] == k->cfg.node_id;
        }
        archive_free_blob(rec);
    } else if (rv != BASE_ENOTFOUND) {
        return true; /* never delete on a record that cannot be read */
    }
    if (!listed && atomic_load(&k->fresh) &&
        blob_remove(k->blobs, hash, k->cfg.gc_grace_ms, clock_wall_ms(), &err) == 0) {
        atomic_fetch_add(&k->st.gc_deleted, 1);
    }
    return true;
}

void keeper_sweep_run(struct keeper *k)
{
    struct sweep s = {.k = k, .now_wall = clock_wall_ms()};
    if (!atomic_load(&k->fresh)) {
        return; /* behind the leader: a record this node has not seen may list it */
    }
    blob_walk(k->blobs, sweep_one, &s);
}
