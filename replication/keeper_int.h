/* Folder-private to the keeper's files (keeper.c, keeper_push.c, keeper_copy.c,
 * keeper_repair.c, keeper_gc.c, keeper_scrub.c): struct keeper, the jobs its threads
 * share, and the functions they call in each other. Only these files include it.
 *
 * Threads: the loop (keeper_copy, proposals, the timer), the pushers (transfers of
 * capture copies first, then the reconciler's), the reconciler (passes over the blob
 * records, local garbage) and the scrubber. They share the queues below under one
 * mutex; the loop hears from the threads through an async handle.
 *
 * Who writes what: keeper.c starts and stops the threads and owns the async handle,
 * the timer, the thread proposals (props), kicked, leader and fresh; keeper_push.c the
 * targets and the full list, and queues jobs (keeper_enqueue) for keeper_copy.c and
 * keeper_repair.c, which take back their own unstarted jobs at stop (as keeper_stop()
 * does with capture jobs); keeper_copy.c the capture runs, late copies and the loop's
 * placement; keeper_repair.c the pass statistics and drain_warned_ms; keeper_scrub.c
 * takes the suspects keeper_suspect() adds. The statistics (st) are atomics each file
 * adds to. */
#ifndef IMGARC_REPLICATION_KEEPER_INT_H
#define IMGARC_REPLICATION_KEEPER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "base/clock.h"
#include "replication/blob_push.h"
#include "replication/keeper.h"
#include "replication/placement.h"
#include "replication/repl.h"

#define TIMER_MS 500
/* A pass runs this often even when nothing changed, and at least this far apart (or
 * five times its own duration, whichever is longer). */
#define PASS_EVERY_MS 30000
#define PASS_GAP_MIN_MS 1000
/* A pass reads every blob record this often (and when the placement's choice of nodes
 * changed); the others read only what the blob index names (keeper_repair.c). */
#define PASS_FULL_EVERY_MS (6 * 3600 * 1000ULL)
/* Holder changes and purges proposed per command. */
#define CHANGES_PER_COMMAND 128
/* Copies the reconciler hands to the pushers before it waits for them. */
#define REPAIR_BATCH 64
/* A transfer may take this long plus one millisecond per 10 KB. */
#define TRANSFER_BYTES_PER_MS 10000
#define SUSPECTS_MAX 64
/* Captures whose copies are not where placement wants them, for the next pass. */
#define RECHECKS_MAX 4096
#define RECHECK_WAIT_MS 120000 /* how long a recheck waits for its blob's record */
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
    bool record_full;  /* its node record said full since the refusal */
};

/* A node copies could be placed on at the last full pass, as it was then. */
struct keeper_candidate {
    uint64_t id;
    uint64_t weight;
    uint64_t storage_ms; /* a drain and undrain since then shows here */
    char zone[ARCHIVE_ZONE_MAX + 1];
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
    /* Blobs a capture left off its placement (the capturing node not among the nodes
     * placement wants, yet counted as a copy): the blob index has no class for them,
     * so the next pass reads them by name (keeper_recheck). Under mu. */
    struct recheck {
        uint8_t hash[BLOB_HASH_BYTES];
        uint64_t until_ms; /* dropped if its record has not appeared by then */
    } rechecks[RECHECKS_MAX];
    size_t n_rechecks;
    bool rechecks_overflow; /* some were not kept: the next pass checks this node's own */
    /* Members the leader sees down (repl_members_down()), not marked out yet: their
     * copies do not count as live in the under-replicated figure. Under mu. */
    uint64_t down[PLACEMENT_MAX_NODES];
    size_t n_down;
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
    atomic_bool catching_up; /* the store is being replaced (catchup.c): no passes */

    struct {
        _Atomic uint64_t pushes, pushes_failed, pushes_late, repair_copies, repair_bytes,
            repair_failed, holders_dropped, under_replicated, lost, on_draining, free_bytes,
            passes, last_pass_ms, scrub_bytes, scrub_blobs, scrub_corrupt, scrub_cycles,
            gc_deleted, gc_purged, refused_full, full_passes, last_pass_records;
        atomic_bool last_pass_full;
    } st;
    bool stopped;
    uint64_t drain_warned_ms; /* the reconciler's last warning about a stuck drain */
    /* The reconciler's: the last full pass and the nodes it placed copies among. */
    bool full_done;
    uint64_t full_pass_ms;
    struct keeper_candidate candidates[PLACEMENT_MAX_NODES];
    size_t n_candidates;
};

static inline uint64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Waits on the keeper's condition for at most @ms (mu held). */
static inline void timed_wait(struct keeper *k, uint64_t ms)
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

/* keeper.c */
/* Proposes @cmd through the loop and waits for the outcome (a thread, never the loop):
 * 0 with @res, or the proposal's error, or BASE_ESHUTDOWN. */
int keeper_propose_and_wait(struct keeper *k, const Command *cmd, struct archive_result *res);

/* keeper_push.c: the pushers and the nodes they copy to */
struct full_target *keeper_full_find(struct keeper *k, uint64_t id);
/* Whether a repair copy to @id waits (its disk was full at the last try). */
bool keeper_full_paused(struct keeper *k, uint64_t id, uint64_t now);
/* Under mu: a paused node whose record said full and now says it has room again
 * (ReportNodeSpace) is tried at once instead of at the end of its back-off. */
void keeper_full_from_records(struct keeper *k, const struct placement *pl, uint64_t now);
/* A transfer of blob @hash (@size bytes) to @target, not queued yet. */
struct job *keeper_job_new(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES],
                           const struct placement_node *target, uint64_t size);
/* Queues @j for the pushers (mu held). */
void keeper_enqueue(struct keeper *k, struct job *j);
void *keeper_pusher_main(void *arg);

/* keeper_copy.c: capture copies (loop) */
/* A capture copy's transfer ended (the loop, from the async handle). */
void keeper_copy_finished(struct keeper *k, struct job *j);
/* Reloads the loop's placement when the members or the full list changed. */
void keeper_refresh_placement(struct keeper *k);
/* Proposes SetHolders for each late copy whose blob record exists here, drops those
 * past their deadline (loop: the timer's tick, and when a late copy arrives). */
void keeper_late_copies_record(struct keeper *k);

/* keeper_repair.c: the reconciler's passes */
/* One pass; true when it made copies or proposed changes (the next pass then comes
 * soon, to count what they changed and to take the next step). */
bool keeper_pass_run(struct keeper *k, bool check_own);
/* Asks the next pass to look at @hash by name (keeper_repair.c). Any thread. */
void keeper_recheck(struct keeper *k, const uint8_t hash[BLOB_HASH_BYTES]);

/* keeper_gc.c: local garbage */
/* Deletes the local files no record lists this node for, past the grace (the
 * reconciler thread, only when this node is fresh). */
void keeper_sweep_run(struct keeper *k);

/* keeper_scrub.c */
void *keeper_scrubber_main(void *arg);

#endif
