/* replication/: how nodes agree. This header is the folder's contract with api/ and
 * node/, the one they include from it.
 *
 * A struct repl is this node's replica: canonical raft (libraft) over raft_uv and the
 * sealed raft port, driving the archive's state machine. Every write of the archive is
 * a proposal: on the leader the command is encoded, appended to the raft log (fsynced
 * by raft_uv, which batches the appends of one loop iteration into one write), applied
 * by archive_apply() once committed, and the proposer's callback gets the result. On a
 * follower the command is forwarded to the leader (POST /internal/v1/propose, signed
 * with the cluster secret) and the callback runs once this node has applied the entry
 * too, so a client that wrote through a node reads its write there. A node started
 * with an empty raft directory and bootstrap set starts a one-voter cluster; one
 * started to join waits with an empty configuration to be added.
 *
 * Membership: the raft configuration says who is a member and who votes; the
 * replicated node registry (archive/nodes.h) says how to reach each one. The leader
 * runs a role manager on a one-second tick: it adds joining nodes as spares, makes
 * spares standbys, promotes the best standby while there are fewer voters than
 * configured (preferring zones with fewer voters), replaces a voter that has not
 * answered for failover_after_ms by demoting it to standby when a healthy standby can
 * take its place, and takes removed nodes out of the configuration, one change at a
 * time. It also polls every member's GET /internal/v1/status, which is how it knows
 * who is down. Every node keeps its own registry record current (a restart with
 * another address or zone re-registers it), and a node started with --join asks to be
 * added with back-off until it is a member.
 *
 * Sections: start, proposals, waits, consistent reads, status, stop and hand-over
 * (raft_node.c, propose.c, wait.c, read_index.c); this node's status, the cluster view,
 * join and removal (members_*.c). The other objects api/ and node/ use have contracts
 * of their own, included at the end: the blob keeper (keeper.h), placement
 * (placement.h), the webhook outbox (outbox.h), the outbound guard (outbound.h) and
 * the cluster secret (peer_auth.h).
 *
 * Everything here runs on the loop thread. replication/ is the only folder that
 * includes <raft.h>, and this header does not. Requests are caller-owned and must stay
 * valid until their callback, which runs exactly once, never from inside the call that
 * started it (unless a function says otherwise). */
#ifndef IMGARC_REPLICATION_REPL_H
#define IMGARC_REPLICATION_REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "archive/nodes.h"
#include "base/err.h"
#include "replication/handshake.h"
#include "replication/peer_auth.h"
#include "storage/blobstore.h"

/* ---- The replica: start, proposals, waits, reads, status, stop ---- */

struct repl_config {
    uint64_t node_id;
    const char *raft_address; /* IPv4 "a.b.c.d:port" (copied) */
    const char *http_address; /* HOST:PORT other nodes reach this node's API at (copied) */
    const char *zone;         /* copied */
    const char *raft_dir;     /* must exist */
    const char *data_dir;     /* the node's data dir: free space, the staged store and
                                 the catch-up spool (its metadata store is DATA/meta) */
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
    uint64_t snapshot_threshold_bytes; /* 0: count entries only (log_budget.h) */
    unsigned entry_commands;  /* most commands per raft entry; 0 or 1: one each */
    size_t snapshot_piece_bytes; /* the pieces a snapshot is handed to raft in; 0: 4 MiB
                                    (tests make them small) */
    uint64_t snapshot_trailing_bytes;
    /* Snapshots are descriptors of the store, which moves beside raft (the "store"
     * format, docs/snapshots.md); false: the whole store in raft's snapshot ("inline"). */
    bool snapshot_store;
    uint64_t snapshot_send_bytes_per_s; /* a store streamed to another node; 0: no limit */
    unsigned election_timeout_ms;
    unsigned heartbeat_timeout_ms;
    /* The feature level this node reports, at most ARCHIVE_FEATURE_LEVEL (--feature-level:
     * lower keeps the cluster where the previous version can still apply its log); 0
     * is a level too, so the caller always sets it. */
    uint32_t feature_level;
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
    void *packed;           /* local: the command, packed, until the callback */
    size_t packed_len;
    bool batchable;         /* local: may share an entry (archive_command_batchable) */
    bool alone;             /* local: proposed again in an entry of its own */
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
    uint64_t entries_proposed;  /* raft entries those proposals went into (leader) */
    uint64_t proposals_requeued; /* proposed again alone (a shared entry was full) */
    uint64_t forwards_total;
    uint64_t forwards_failed;
    uint64_t commit_notices; /* barriers the leader appended to tell followers a commit */
    uint64_t leader_changes;
    bool member;  /* in the raft configuration */
    bool removed; /* the cluster removed this node */
    /* The members of the raft configuration and those that stopped answering the
     * leader's status calls (down_after_ms), as the leader sees them: 0 and 0 on the
     * other nodes, which poll no one. */
    unsigned members, members_down;
    /* The raft port (replication/transport.h). */
    uint64_t raft_inbound;      /* peers accepted after the handshake */
    uint64_t raft_outbound;     /* peers dialled after the handshake */
    uint64_t raft_dial_failed;  /* dials that failed or were refused */
    uint64_t raft_refused[HANDSHAKE_R_COUNT]; /* inbound connections closed, by reason */
    uint64_t raft_bytes_sent, raft_bytes_received;
    unsigned raft_open;         /* authenticated connections open */
    /* The in-memory raft log (replication/log_budget.h) and snapshots. */
    uint64_t log_entries, log_bytes;
    uint64_t snapshots_taken;
    uint64_t snapshot_bytes;    /* of the last one taken */
    uint64_t snapshot_index;    /* of the last one taken or restored */
    /* Whole stores streamed out of band (docs/snapshots.md): sent to other nodes
     * (snapshot_send.h) and fetched from them (snapshot_fetch.h). */
    uint64_t snapshot_sends_total, snapshot_sends_failed, snapshot_send_bytes;
    uint64_t snapshot_fetches_total, snapshot_fetch_failures, snapshot_fetch_bytes;
    /* Catching up from a store fetched from another member (docs/snapshots.md). */
    bool catching_up;
    uint64_t catchup_target;    /* the index the fetched store must reach */
    uint64_t catchup_spooled;   /* entries spooled meanwhile */
    uint64_t catchups_total;    /* finished */
    unsigned catchup_failures;  /* in a row, in this catch-up */
    const char *catchup_why;    /* the last failure ("" when none) */
};

/* The members of the raft configuration that have not answered this node's status
 * calls for the time that makes a member down (the leader watches them; on any other
 * node: none), at most @max into @ids; the count. */
size_t repl_members_down(struct repl *r, uint64_t *ids, size_t max);

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
/* Seeds the empty raft dir of a node whose store was restored from a backup at
 * @index (archive/restore.h, replication/raft_seed.c): term 1 and a snapshot at @index
 * naming this node the only voter. Before repl_start(), on no loop of the caller's. */
struct repl_seed {
    const char *raft_dir;
    uint64_t node_id;
    const char *raft_address;
    const char *http_address;
    uint64_t index;
};
int repl_seed_restored(const struct repl_seed *c, struct base_err *err) WARN_UNUSED;

struct http_request;
/* Streams this node's whole store at its applied index into @req's answer (200, the
 * index in header X-Imgarc-Snapshot-Index; the stream of storage/snapshot.h, paced by
 * --snapshot-send-bytes-per-s), as a member's snapshot fetch gets it: for a caller that
 * checked the request itself (a backup, api/backup.c). Nothing is answered when it
 * returns non-zero: BASE_EREFUSED while this node is catching up, BASE_ERETRY when it
 * has applied less than @min_index, BASE_ECONFLICT while another send is in progress
 * (replication/snapshot_send.h). */
int repl_snapshot_stream(struct repl *r, struct http_request *req, uint64_t min_index);
/* This node is catching up (its store is being replaced by one fetched from another
 * member): it serves no request that reads or writes the archive. */
bool repl_catching_up(const struct repl *r);
/* Stamps a command a node proposes on its own (membership, the keeper): cluster-wide
 * (the default tenant), no idempotency key, operator "node", this node's clock. */
void repl_stamp_node_command(Command *cmd, const char *request_id);
/* The feature level this node reports (repl_config.feature_level). */
uint32_t repl_feature_level(const struct repl *r);
/* The index this node has applied: every response reports it. */
uint64_t repl_applied_index(struct repl *r);
void repl_get_status(struct repl *r, struct repl_status *out);
/* The node is shutting down: it reports itself draining to the cluster. */
void repl_set_draining(struct repl *r);
/* Whether the node's disk is full (it refuses new files and copies): reported in its
 * status, so the cluster view shows it. */
void repl_set_disk_full(struct repl *r, bool full);
/* The size of the node's blob file system (0: unknown). The node reports it and its
 * fullness to the cluster (ReportNodeSpace) when it first knows it, when it changes by
 * more than REPL_CAPACITY_CHANGE_PCT percent and when the disk fills or has room again:
 * placement weighs the node by it and sends a full one no new copies. */
void repl_set_disk_capacity(struct repl *r, uint64_t bytes);
#define REPL_CAPACITY_CHANGE_PCT 5
/* Stops raft; pending proposals, waits and calls get BASE_ESHUTDOWN. @cb runs when
 * everything is closed and the memory is freed. */
void repl_stop(struct repl *r, void (*cb)(void *arg), void *arg);
/* Before a planned stop: a leader hands leadership to a voting follower (raft's
 * TimeoutNow), so the others need not wait an election timeout. @cb runs when the
 * transfer is done or has given up (after at most an election timeout), or at once
 * when this node is not the leader or has nobody to hand over to. */
void repl_handover(struct repl *r, void (*cb)(void *arg), void *arg);

/* ---- Membership ---- */

#define REPL_MESSAGE_MAX 640

/* ---- This node's own status (GET /internal/v1/status) ---- */

struct repl_self;
typedef void (*repl_self_cb)(struct repl_self *s, const NodeStatus *status);
struct repl_self {
    void *data; /* for the caller */
    /* Private. */
    struct repl *repl;
    repl_self_cb cb;
    uv_fs_t fs;
};
/* The node's status; the free bytes of the data dir's file system are read on the
 * thread pool, so @cb runs later. @status is valid during the callback only. */
void repl_local_status(struct repl *r, struct repl_self *s, repl_self_cb cb);

/* ---- The whole cluster (GET /api/v1/cluster) ---- */

struct repl_member {
    uint64_t id;
    char http[ARCHIVE_ADDRESS_MAX + 1]; /* empty when it never registered */
    char raft[ARCHIVE_ADDRESS_MAX + 1];
    char zone[ARCHIVE_ZONE_MAX + 1];
    const char *role;   /* voter, standby, spare */
    const char *health; /* ok, down, draining */
    bool answered;      /* it answered its status call */
    uint64_t applied_index;
    uint64_t blob_bytes;
    uint64_t blob_count;
    uint64_t free_bytes;
    bool disk_full; /* it refuses new files and copies */
    uint32_t feature_level; /* what it reports running (0: before levels existed) */
};

struct repl_verdict {
    uint64_t id;
    bool down;
    const char *role;
};

struct repl_view;
typedef void (*repl_view_cb)(struct repl_view *v);
struct repl_view {
    void *data;         /* for the caller */
    uint64_t leader_id; /* out: 0 when no leader is known */
    struct repl_member *members; /* out: every member of the raft configuration */
    size_t n;
    /* Private. */
    struct repl *repl;
    repl_view_cb cb;
    unsigned pending;
    struct view_call *calls;
    struct repl_self self;
    bool have_leader_view; /* the leader answered (or is this node) */
    struct repl_verdict *verdicts; /* the leader's roles and health of the members */
    size_t n_verdicts;
};
/* Asks every member for its status in parallel (a short timeout each) and fills the
 * view: the members this node's configuration lists, with the roles and the health
 * the leader gives them when it answered (a follower's configuration may be a
 * heartbeat behind), and a node that did not answer counted down. Free it with
 * repl_view_free() after the callback. */
void repl_view_cluster(struct repl *r, struct repl_view *v, repl_view_cb cb);
/* The HOST:PORT other nodes reach this node's API at (repl_config.http_address), the
 * address its registry record gets once registered; "" when not configured. */
const char *repl_http_address(const struct repl *r);
void repl_view_free(struct repl_view *v);

/* ---- Joining and removal ---- */

struct repl_change;
/* @status 0: done. BASE_EINVAL: malformed request; BASE_ENOTFOUND: no such member;
 * BASE_ECONFLICT: refused (an id that was removed, an address another member has,
 * the last voter); BASE_ERETRY: no leader, another change in progress, or the leader
 * could not be reached: retry; BASE_ENOTLEADER: local only and not the leader;
 * BASE_ESHUTDOWN. @message says why for a failure. */
typedef void (*repl_change_cb)(struct repl_change *c, int status);
struct repl_change {
    void *data; /* for the caller */
    /* In. */
    uint64_t id;
    char http[ARCHIVE_ADDRESS_MAX + 1];
    char raft[ARCHIVE_ADDRESS_MAX + 1];
    char zone[ARCHIVE_ZONE_MAX + 1];
    uint32_t feature_level; /* join: what the node reports running */
    /* Out. */
    bool added;        /* join: false when it was a member already */
    char role[16];     /* join: its role now */
    char message[REPL_MESSAGE_MAX];
    /* Private. */
    struct repl *repl;
    repl_change_cb cb;
    struct peer_call *call;
    struct repl_propose prop;
    struct repl_wait wait;
    int status;
};
/* Adds node c->id (addresses and zone in @c) as a spare and registers it; the role
 * manager then makes it a voter or a standby. Passed on to the leader unless @local. */
void repl_join(struct repl *r, struct repl_change *c, bool local, repl_change_cb cb);
/* The operator's join: asks the node at @http (a running node waiting to join) who it
 * is, then joins it as above. */
void repl_join_address(struct repl *r, struct repl_change *c, const char *http,
                       repl_change_cb cb);
/* Marks node c->id removed (RemoveNode); the role manager then takes it out of the
 * raft configuration (a leader removing itself hands leadership over first). Passed on
 * to the leader unless @local. */
void repl_remove(struct repl *r, struct repl_change *c, bool local, repl_change_cb cb);

/* ---- The other objects api/ and node/ use ---- */

/* After the declarations above: their headers include this one and need its types.
 * api/ and node/ include nothing else of replication/ (tests/layering checks it):
 * the blob data path (blob_path.h), the peer protocol's server side (peer_server.h,
 * peer.h), a new cluster's first InitCluster (cluster_init.h), the keeper, placement,
 * the webhook outbox, the recognition dispatcher, the outbound guard and how members
 * reach each other (peer_tls.h: http or https). */
#include "replication/blob_path.h"
#include "replication/cluster_init.h"
#include "replication/collect_gc.h"
#include "replication/keeper.h"
#include "replication/outbound.h"
#include "replication/outbox.h"
#include "replication/peer.h"
#include "replication/peer_server.h"
#include "replication/peer_tls.h"
#include "replication/placement.h"
#include "replication/recognizer.h"

#endif
