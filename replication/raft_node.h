/* The raft adapter: canonical raft (libraft) over raft_uv and its TCP transport,
 * driving the archive's state machine, and the ways a node waits for it.
 *
 * Runs on the loop thread; the only module that includes <raft.h>. It owns the raft
 * instance, its I/O backend, the FSM glue and the HTTP client it talks to other nodes
 * with. Every write of the archive is a proposal: on the leader the command is encoded,
 * appended to the raft log (fsynced by raft_uv, which batches the appends of one loop
 * iteration into one write), applied by archive_apply() once committed, and the
 * proposer's callback gets the result. On a follower the command is forwarded to the
 * leader (POST /internal/v1/propose, signed with the cluster secret) and the callback
 * runs once this node has applied the entry too, so a client that wrote through a node
 * reads its write there. Membership (join, roles, removal) is in membership.h.
 *
 * A node started with an empty raft directory and bootstrap set starts a one-voter
 * cluster; one started to join waits with an empty configuration to be added. */
#ifndef IMGARC_REPLICATION_RAFT_NODE_H
#define IMGARC_REPLICATION_RAFT_NODE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "base/err.h"
#include "replication/handshake.h"
#include "replication/peer_auth.h"
#include "storage/blobstore.h"

struct repl_config {
    uint64_t node_id;
    const char *raft_address; /* IPv4 "a.b.c.d:port" (copied) */
    const char *http_address; /* HOST:PORT other nodes reach this node's API at (copied) */
    const char *zone;         /* copied */
    const char *raft_dir;     /* must exist */
    const char *data_dir;     /* for the free space it reports */
    bool bootstrap;           /* may start a new cluster when the raft dir is empty */
    bool recover;             /* force a configuration of this node alone (quorum lost) */
    const char *join;         /* HOST:PORT of a member to ask to be added; NULL: none */
    const char *joining_marker; /* removed once this node is a member; NULL: none */
    const struct peer_auth *auth; /* the cluster secret; NULL: none (single node only);
                                     borrowed until stop */
    struct blob_store *blobs; /* for the bytes it reports; borrowed */
    unsigned voters;          /* voters the leader keeps: 1, 3 or 5 */
    unsigned failover_after_ms; /* a voter silent this long is replaced by a standby */
    uint64_t repair_after_ms;   /* a member silent this long is marked out (storage) */
    unsigned snapshot_threshold;
    unsigned snapshot_trailing;
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
};

struct repl;
struct repl_propose;
struct repl_wait;
struct peer_call;

/* @status 0: applied; @res holds the outcome (which may be a refusal).
 * BASE_ERETRY: the outcome is unknown: leadership changed before the entry committed,
 * or a forwarded proposal was sent and no valid answer came back (a transport failure,
 * a 5xx, a timeout); retry with the same idempotency key. BASE_EREFUSED: the leader
 * refused this node's forwarded call (an HTTP 4xx: a signature, version or body it
 * would not take), so nothing was applied and a retry through this node would most
 * likely be refused again. With either, a forwarded proposal says what happened in
 * req->why. BASE_ESHUTDOWN: the node is stopping. */
typedef void (*repl_propose_cb)(struct repl_propose *req, int status,
                                const struct archive_result *res);
/* @status 0: the index was applied; BASE_ERETRY: not within the time given;
 * BASE_ESHUTDOWN: the node is stopping. */
typedef void (*repl_wait_cb)(struct repl_wait *w, int status);

/* A wait for this node's applied index to reach an index. */
struct repl_wait {
    void *data; /* for the caller */
    /* Private. */
    struct repl *repl;
    uint64_t index;
    uint64_t deadline_ms;
    repl_wait_cb cb;
    struct repl_wait *next, *prev;
};

struct repl_propose {
    void *data; /* for the caller */
    /* Out: for a forwarded proposal ended with BASE_ERETRY or BASE_EREFUSED, what
     * happened (which leader, what it answered); "" otherwise. */
    char why[400];
    /* Private. */
    struct repl *repl;
    repl_propose_cb cb;
    uint64_t index;
    struct archive_result result;
    bool has_result;
    struct repl_propose *next, *prev;
    void *raft_req;
    struct peer_call *call; /* forwarded: the call to the leader */
    uint64_t leader;        /* forwarded: the leader it was sent to */
    uint64_t superseded_by; /* forwarded: the leader seen since, when another one */
    struct repl_wait wait;  /* forwarded: waiting to apply the leader's entry */
};

/* A consistent read: the index a read must have applied to see every write
 * acknowledged before it started. */
struct repl_read;
typedef void (*repl_read_cb)(struct repl_read *rd, int status);
struct repl_read {
    void *data;     /* for the caller */
    uint64_t index; /* out: the read index (applied by this node when status is 0) */
    /* Private. */
    struct repl *repl;
    repl_read_cb cb;
    struct repl_read *next;
    struct peer_call *call;
    struct repl_wait wait;
};

struct repl_status {
    const char *state; /* "leader", "follower", "candidate", "unavailable" */
    const char *role;  /* "voter", "standby", "spare", "" (not a member) */
    uint64_t term;
    uint64_t leader_id;
    uint64_t last_index;
    uint64_t commit_index;
    uint64_t applied_index;     /* the archive's: commands applied */
    uint64_t raft_applied_index; /* raft's: every entry, configuration changes too */
    uint64_t proposals_total;
    uint64_t proposals_failed;
    uint64_t forwards_total;
    uint64_t forwards_failed;
    uint64_t leader_changes;
    bool member;  /* in the raft configuration */
    bool removed; /* the cluster removed this node */
    /* The raft port (replication/transport.h). */
    uint64_t raft_inbound;      /* peers accepted after the handshake */
    uint64_t raft_outbound;     /* peers dialled after the handshake */
    uint64_t raft_dial_failed;  /* dials that failed or were refused */
    uint64_t raft_refused[HANDSHAKE_R_COUNT]; /* inbound connections closed, by reason */
    uint64_t raft_bytes_sent, raft_bytes_received;
    unsigned raft_open;         /* authenticated connections open */
};

int repl_start(struct repl **out, uv_loop_t *loop, const struct repl_config *config,
               struct archive *archive, struct base_err *err) WARN_UNUSED;
/* Proposes @cmd (forwarding it to the leader from a follower). On success @cb runs
 * exactly once; on error (BASE_ENOTLEADER: no leader known, BASE_ESHUTDOWN...) it
 * never runs. @req must stay valid until @cb. */
int repl_propose(struct repl *r, struct repl_propose *req, const Command *cmd,
                 repl_propose_cb cb) WARN_UNUSED;
/* The same, never forwarded: BASE_ENOTLEADER unless this node leads (the leader's side
 * of a forwarded proposal; forwarding it on could loop). */
int repl_propose_local(struct repl *r, struct repl_propose *req, const Command *cmd,
                       repl_propose_cb cb) WARN_UNUSED;
/* Calls @cb once this node has applied @index (from the next loop iteration at the
 * earliest), or with BASE_ERETRY after @timeout_ms, or BASE_ESHUTDOWN when the node
 * stops (at once when it is stopping already). @w must stay valid until @cb. */
void repl_wait_applied(struct repl *r, struct repl_wait *w, uint64_t index,
                       uint64_t timeout_ms, repl_wait_cb cb);
/* A consistent read: the leader commits a barrier (concurrent reads share one) and
 * answers its applied index; a follower asks the leader for it (POST
 * /internal/v1/read-index) and then waits to apply that index. With @local the
 * request is never forwarded (BASE_ENOTLEADER on a follower). @cb runs once:
 * 0, BASE_ERETRY (no leader, leadership lost, too slow) or BASE_ESHUTDOWN. */
void repl_read_index(struct repl *r, struct repl_read *rd, bool local, repl_read_cb cb);
bool repl_is_leader(struct repl *r);
/* Stamps a command a node proposes on its own (membership, the keeper): cluster-wide
 * (the default tenant), no idempotency key, operator "node", this node's clock. */
void repl_stamp_node_command(Command *cmd, const char *request_id);
/* The index this node has applied: every response reports it. */
uint64_t repl_applied_index(struct repl *r);
void repl_get_status(struct repl *r, struct repl_status *out);
/* The node is shutting down: it reports itself draining to the cluster. */
void repl_set_draining(struct repl *r);
/* Whether the node's disk is full (it refuses new files and copies): reported in its
 * status, so the cluster view shows it. */
void repl_set_disk_full(struct repl *r, bool full);
/* Stops raft; pending proposals, waits and calls get BASE_ESHUTDOWN. @cb runs when
 * everything is closed and the memory is freed. */
void repl_stop(struct repl *r, void (*cb)(void *arg), void *arg);
/* Before a planned stop: a leader hands leadership to a voting follower (raft's
 * TimeoutNow), so the others need not wait an election timeout. @cb runs when the
 * transfer is done or has given up (after at most an election timeout), or at once
 * when this node is not the leader or has nobody to hand over to. */
void repl_handover(struct repl *r, void (*cb)(void *arg), void *arg);

#endif
