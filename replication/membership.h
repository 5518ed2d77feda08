/* Cluster membership: joining, roles, removal, and what the members say about
 * themselves.
 *
 * The raft configuration says who is a member and who votes; the replicated node
 * registry (archive/nodes.h) says how to reach each one. The leader runs a role
 * manager on a one-second tick: it adds joining nodes as spares, makes spares
 * standbys, promotes the best standby while there are fewer voters than configured
 * (preferring zones with fewer voters), replaces a voter that has not answered for
 * failover_after_ms by demoting it to standby when a healthy standby can take its
 * place, and takes removed nodes out of the configuration, one change at a time. It
 * also polls every member's GET /internal/v1/status, which is how it knows who is
 * down. Every node keeps its own registry record current (a restart with another
 * address or zone re-registers it), and a node started with --join asks to be added
 * with back-off until it is a member.
 *
 * Runs on the loop thread. Requests are caller-owned and must stay valid until their
 * callback, which runs exactly once, never from inside the call that started it. */
#ifndef IMGARC_REPLICATION_MEMBERSHIP_H
#define IMGARC_REPLICATION_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "archive/nodes.h"
#include "replication/raft_node.h"

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

#endif
