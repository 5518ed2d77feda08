/* The raft adapter: canonical raft (libraft) over raft_uv and its TCP transport,
 * driving the archive's state machine.
 *
 * Runs on the loop thread; the only module that includes <raft.h>. It owns the raft
 * instance, its I/O backend and the FSM glue. Every write of the archive is a
 * proposal: the command is encoded, appended to the raft log (fsynced by raft_uv,
 * which batches the appends of one loop iteration into one write), applied by
 * archive_apply() once committed, and the proposer's callback gets the result.
 * A node started with an empty raft directory bootstraps a one-voter cluster. */
#ifndef IMGARC_REPLICATION_RAFT_NODE_H
#define IMGARC_REPLICATION_RAFT_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "base/err.h"

struct repl_config {
    uint64_t node_id;
    const char *raft_address; /* IPv4 "a.b.c.d:port" */
    const char *raft_dir;     /* must exist */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
};

struct repl;
struct repl_propose;

/* @status 0: applied; @res holds the outcome (which may be a refusal).
 * BASE_ERETRY: leadership was lost before commit, the outcome is unknown (retry with
 * the same idempotency key). BASE_ESHUTDOWN: the node is stopping. */
typedef void (*repl_propose_cb)(struct repl_propose *req, int status,
                                const struct archive_result *res);

struct repl_propose {
    void *data; /* for the caller */
    /* Private. */
    struct repl *repl;
    repl_propose_cb cb;
    uint64_t index;
    struct archive_result result;
    bool has_result;
    struct repl_propose *next, *prev;
    void *raft_req;
};

struct repl_status {
    const char *state; /* "leader", "follower", "candidate", "unavailable" */
    uint64_t term;
    uint64_t leader_id;
    uint64_t last_index;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t proposals_total;
    uint64_t proposals_failed;
};

int repl_start(struct repl **out, uv_loop_t *loop, const struct repl_config *config,
               struct archive *archive, struct base_err *err) WARN_UNUSED;
/* Proposes @cmd. On success @cb runs exactly once; on error (BASE_ENOTLEADER,
 * BASE_ESHUTDOWN...) it never runs. @req must stay valid until @cb. */
int repl_propose(struct repl *r, struct repl_propose *req, const Command *cmd,
                 repl_propose_cb cb) WARN_UNUSED;
bool repl_is_leader(struct repl *r);
/* The index this node has applied: every response reports it. */
uint64_t repl_applied_index(struct repl *r);
void repl_get_status(struct repl *r, struct repl_status *out);
/* Stops raft; pending proposals get BASE_ESHUTDOWN. @cb runs when everything is
 * closed and the memory is freed. */
void repl_stop(struct repl *r, void (*cb)(void *arg), void *arg);

#endif
