/* The blob keeper: every copy of every blob where placement wants it, intact.
 *
 * - Capture copies (keeper_copy): before a capture is acknowledged, the node that
 *   received it pushes copies to the nodes placement ranks first, until the blob has
 *   R copies or the candidates run out; the capture proceeds as soon as W durable
 *   copies exist, and copies that finish later are recorded then. A node that does not
 *   answer holds half the pushers at most, and gets no copies for a few seconds after
 *   a transfer to it got no answer (repair makes those).
 * - Repair, rebalance and drain (the reconciler thread): a pass over the blob records
 *   finds blobs whose live holders are not the nodes placement wants. The first live
 *   holder by score (every node agrees who that is) copies the blob to each wanted
 *   node that lacks it and records the new holders (SetHolders); once every wanted
 *   node holds it, holders that are not wanted are dropped, and they delete their file
 *   after the grace period. Copies never drop below R on the way.
 * - Garbage: the leader purges records unreferenced for the grace period
 *   (PurgeBlobs); every node deletes local files no record lists it for, once they
 *   are older than the grace period and its metadata has caught up with the leader.
 * - Scrubbing (the scrubber thread): every local blob is re-hashed at a bounded rate;
 *   a corrupt copy goes to quarantine/, the node stops being its holder, and repair
 *   brings a good copy back.
 *
 * Transfers block their thread: they run on the keeper's own threads, never on the
 * loop or libuv's pool. Commands are proposed through the loop. */
#ifndef IMGARC_REPLICATION_KEEPER_H
#define IMGARC_REPLICATION_KEEPER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "replication/peer_auth.h"
#include "storage/blobstore.h"

#define KEEPER_MAX_COPIES 16

struct repl; /* replication/repl.h */

struct keeper_config {
    uint64_t node_id;
    unsigned replicas;        /* R */
    unsigned write_quorum;    /* W */
    unsigned push_threads;    /* capture copies in flight at once */
    unsigned push_timeout_ms; /* one copy, plus 1 ms per 10 KB */
    unsigned push_stall_ms;   /* a copy during which nothing moves this long fails, plus
                                 1 ms per 20 KB (the receiver syncs before it answers) */
    uint64_t repair_bytes_per_s; /* per transfer of the reconciler; 0: unlimited */
    uint64_t scrub_bytes_per_s;  /* 0: no scrubbing */
    uint64_t scrub_pause_ms;     /* between two scrub cycles */
    uint64_t gc_grace_ms;
};

struct keeper_stats {
    uint64_t pushes;        /* capture copies made on other nodes */
    uint64_t pushes_failed;
    uint64_t pushes_late;   /* capture copies that succeeded after their capture's answer */
    uint64_t repair_copies; /* copies made by the reconciler */
    uint64_t repair_bytes;
    uint64_t repair_failed;
    uint64_t holders_dropped; /* copies no longer wanted, taken out of the records */
    uint64_t under_replicated; /* referenced blobs with fewer live copies than R, last pass */
    uint64_t lost;             /* referenced blobs with no live copy, last pass */
    uint64_t on_draining;      /* referenced blobs with a copy on a draining node */
    uint64_t free_bytes;       /* free space of the data dir's file system, last pass */
    uint64_t passes;
    uint64_t last_pass_ms;     /* duration of the last pass */
    uint64_t full_passes;      /* passes that read every blob record */
    uint64_t last_pass_records; /* blob records the last pass read */
    bool last_pass_full;       /* it read every one (else what the blob index named) */
    uint64_t scrub_bytes;
    uint64_t scrub_blobs;
    uint64_t scrub_corrupt;
    uint64_t scrub_cycles;
    uint64_t gc_deleted;       /* local files deleted */
    uint64_t gc_purged;        /* records purged by this node's proposals */
    uint64_t refused_full;     /* copies other nodes refused: their disk was full (507) */
};

struct keeper;

int keeper_start(struct keeper **out, uv_loop_t *loop, const struct keeper_config *config,
                 struct archive *archive, struct repl *repl, struct blob_store *blobs,
                 const struct peer_auth *auth, struct base_err *err) WARN_UNUSED;
void keeper_get_stats(struct keeper *k, struct keeper_stats *out);
/* Stops the threads (transfers in flight are cut short) and closes the loop handles;
 * capture copies in flight end with BASE_ESHUTDOWN. Free with keeper_free() once the
 * loop has run out. */
void keeper_stop(struct keeper *k);
void keeper_free(struct keeper *k);
/* A read found this node's copy of @hash corrupt: the scrubber checks it next. */
void keeper_suspect(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES]);

/* Copies of a blob just made durable here, before its capture is acknowledged. */
struct keeper_copies;
/* @status 0: at least the write quorum of live copies exists now; BASE_ERETRY: fewer
 * (c->message says how many and why); BASE_ESHUTDOWN. */
typedef void (*keeper_copies_cb)(struct keeper_copies *c, int status);
struct keeper_copies {
    void *data; /* for the caller */
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t size;
    /* Out, set when answered. */
    uint64_t holders[KEEPER_MAX_COPIES]; /* nodes with a new copy: this node first */
    size_t n_holders;
    unsigned copies; /* live copies now: new ones and those the record listed */
    unsigned quorum;   /* the write quorum that applied */
    unsigned replicas; /* the copies wanted */
    char message[512];
    /* Private. */
    keeper_copies_cb cb;
    struct copy_run *run; /* the keeper's record of the pushes, until answered */
};
/* Starts the copies of a blob this node holds durably, to the nodes placement ranks
 * first, until the blob has R live copies. The caller is answered as soon as the write
 * quorum W is met (or cannot be), not when every push has ended: @c is not touched
 * after its answer and may be freed then. Pushes still in flight go on in the keeper;
 * a copy that succeeds after the answer is recorded as a holder (SetHolders) once the
 * blob's record exists on this node, within half the GC grace; one that fails is left
 * to repair.
 *
 * Returns 0 when @cb will be called (never from inside this call); 1 when the quorum
 * is met already (the out fields are set, @cb is not called; copies still wanted go on
 * as above); BASE_ERETRY when the quorum cannot be met (c->message says why) or
 * BASE_ESHUTDOWN, without a call either. */
int keeper_copy(struct keeper *k, struct keeper_copies *c, keeper_copies_cb cb) WARN_UNUSED;

#endif
