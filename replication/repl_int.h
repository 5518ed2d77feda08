/* Folder-private to replication/: struct repl, the replica's state, and what its files
 * call in each other: the raft adapter (raft_node.c), the waits (wait.c), proposals
 * forwarded to the leader (propose.c), consistent reads (read_index.c), signed calls to
 * other nodes (peer_call.c), membership (members_*.c, with members_int.h) and remote
 * blob reads (blob_fetch.c). No other folder includes it.
 *
 * struct repl is made of parts, each written by one file (named with the part), so a
 * reader knows where a field changes. The calls between the files go one way but for
 * two: raft_node.c tells propose.c and members_self.c about leadership (monitor_cb,
 * which also ends each loop iteration's commit notice in propose.c),
 * and they propose through raft_node.c; membership's role manager and join requests
 * share the one raft change (members_int.h). */
#ifndef IMGARC_REPLICATION_REPL_INT_H
#define IMGARC_REPLICATION_REPL_INT_H

#include <raft.h>
#include <raft/uv.h>

#include "archive/nodes.h"
#include "net/http_client.h"
#include "replication/entry.h"
#include "replication/log_budget.h"
#include "replication/repl.h"

/* How long a forwarded proposal may take at the leader, and then how long this node
 * may take to apply the leader's entry (the write is acknowledged either way). */
#define REPL_FORWARD_TIMEOUT_MS 15000
#define REPL_FORWARD_APPLY_WAIT_MS 10000
#define REPL_READ_INDEX_TIMEOUT_MS 10000
/* libraft's heartbeat timeout once started (raft_node.c, send_gap_after_start()): the
 * ticks keep --heartbeat-timeout-ms. Small, so every tick sends a heartbeat; not so
 * small that every acknowledgement of a fast follower is answered with one more
 * message (libraft sends one when this long passed since the last). */
#define REPL_RAFT_SEND_GAP_MS 10
/* The leader polls each member this often, with this timeout. */
#define REPL_TICK_MS 1000
#define REPL_POLL_TIMEOUT_MS 2000
/* Join attempts back off from the first to the last delay. */
#define REPL_JOIN_BACKOFF_MIN_MS 1000
#define REPL_JOIN_BACKOFF_MAX_MS 5000
/* A standby is promoted only when its log is this close to the leader's (raft's own
 * catch-up rounds do the rest). */
#define REPL_PROMOTE_LAG_MAX 4096

/* A signed HTTP call to another node's /internal/ endpoints. */
struct peer_call;
typedef void (*peer_call_cb)(struct peer_call *c);
struct peer_call {
    struct http_client_req req; /* status, response: valid in the callback */
    struct repl *repl;
    void *data;
    peer_call_cb cb;
    char url[ARCHIVE_ADDRESS_MAX + 96];
    char peer[ARCHIVE_ADDRESS_MAX + 1]; /* the node's HTTP HOST:PORT */
    const char *target;                 /* in url */
    struct peer_headers auth;
    struct peer_answer answer; /* the answer's clock */
    unsigned resent;           /* signed again after a refusal for the time window */
    const char *headers[5];
    void *body; /* owned */
};

/* The leader's record of one member it polls. */
struct peer {
    uint64_t id;
    uint64_t last_ok_ms; /* last answer; the time tracking began before the first */
    bool polling;
    bool answered; /* it answered at least once */
    uint32_t feature_level;    /* what its last status said (0 for versions before levels) */
    bool removed_seen;         /* it reported itself removed (it applied RemoveNode) */
    uint64_t removal_since_ms; /* when the leader began waiting for that */
    bool gone;     /* left the configuration while a poll was in flight */
    struct peer_call *call;
    struct peer *next;
};

/* The replica's state, in parts. Each part is written by the file named with it (and
 * read where needed); the top fields are set once by repl_start() and read by every
 * file of the folder, peer_call.c and blob_fetch.c included. */
struct snapshot_fetch;

struct repl {
    uv_loop_t *loop;
    struct archive *archive;
    struct http_client *http;
    struct blob_store *blobs;
    const struct peer_auth *auth;
    uint64_t id;
    char zone[ARCHIVE_ZONE_MAX + 1];
    bool stopping; /* raft_node.c: repl_stop() was called */

    /* raft_node.c: libraft, its I/O backend, the raft port and the FSM glue. Other
     * files call libraft on it (leader, configuration, changes, barriers). */
    struct raft raft;
    struct raft_io io;
    struct raft_uv_transport transport;
    struct raft_fsm fsm;
    /* Results of the entry being applied, one per command (raft_node.c). */
    struct archive_result results[REPL_ENTRY_MAX_COMMANDS];
    /* The in-memory log's byte bound and the snapshot threshold set on raft now. */
    struct log_budget log_budget;
    unsigned snapshot_threshold_now;
    uint64_t snapshot_bytes;

    /* raft_node.c, at start: the rest of the configuration (copied). */
    struct {
        char raft_address[ARCHIVE_ADDRESS_MAX + 1];
        char http_address[ARCHIVE_ADDRESS_MAX + 1];
        char join[ARCHIVE_ADDRESS_MAX + 1]; /* empty: not joining */
        char *joining_marker;
        char *data_dir;
        unsigned voters;
        unsigned failover_after_ms;
        unsigned down_after_ms;
        uint64_t repair_after_ms;
        uint32_t feature_level; /* what this node reports (repl_config.feature_level) */
        unsigned election_timeout_ms;
        size_t snapshot_piece; /* 0: REPL_SNAPSHOT_PIECE */
        uint64_t snapshot_send_rate; /* bytes/s of a store sent (snapshot_send.c); 0: any */
    } conf;

    /* propose_local.c: entries this node proposed as leader, waiting to be applied. */
    struct {
        struct repl_entry *head, *tail;
        uint64_t total;    /* proposals */
        uint64_t failed;
        uint64_t entries;  /* entries proposed: total / entries commands per entry */
        uint64_t requeued; /* proposals refused ARCHIVE_R_ENTRY_FULL, proposed again */
    } props;

    /* propose_local.c: proposals waiting for the loop's idle phase to become entries. */
    struct {
        struct repl_propose *head, *tail;
        size_t n;
        unsigned max;      /* commands per entry (repl_config.entry_commands) */
        uv_idle_t idle;
    } queue;

    /* propose.c: proposals forwarded to the leader whose call is in flight. */
    struct {
        struct repl_propose *list;
        uint64_t total;
        uint64_t failed;
    } forwards;

    /* propose.c, on the leader: an entry a follower waits to apply was committed (a
     * forwarded proposal, a read index it asked for) and no entry was appended since
     * (the last index then), so no AppendEntries told the followers yet. */
    struct {
        uv_idle_t idle; /* active while pending: the loop does not block before the check */
        bool pending;
        uint64_t last_index;
        uint64_t barriers; /* barriers appended to tell them */
    } notice;

    /* wait.c: waits for the applied index, and the timer that ends them. */
    struct {
        struct repl_wait *list;
        uv_timer_t timer;
    } waits;

    /* read_index.c: consistent reads, those the barrier in flight answers and those
     * after it. */
    struct {
        struct raft_barrier barrier;
        bool barrier_in_flight;
        struct repl_read *current, *next;
    } reads;

    /* raft_node.c: leadership, watched every loop iteration. */
    struct {
        uv_check_t monitor;
        raft_id last;
        bool was_leader;
        uint64_t changes;
    } lead;

    /* members_self.c: this node as a member, its record and its status. */
    struct {
        uv_timer_t tick; /* membership's one-second tick */
        bool member;
        bool removed;
        bool draining;
        bool disk_full;
        uint64_t capacity_bytes; /* the blob file system's size (0: unknown) */
        struct repl_propose register_prop;
        bool register_in_flight;
        struct repl_propose space_prop; /* ReportNodeSpace */
        bool space_in_flight;
        unsigned fs_in_flight; /* free-space reads on the thread pool */
    } self;

    /* members_self.c: joining (--join). */
    struct {
        struct peer_call *call;
        uint64_t next_ms;
        uint64_t backoff_ms;
        uint64_t accepted_ms;
    } join;

    /* members_roles.c (the leader): its polls, its one raft change at a time and its
     * storage proposal. members_change.c takes the change for a join's raft_add under
     * the same one-change rule. */
    struct {
        struct peer *peers;
        struct raft_change change;
        bool change_in_flight;
        struct repl_change *change_owner; /* a join waiting for its raft_add */
        void (*change_owner_cb)(struct repl_change *c, int status);
        struct repl_propose storage_prop;
        bool storage_in_flight;
        struct repl_propose level_prop; /* SetClusterLevel */
        bool level_in_flight;
    } roles;

    /* catchup.c: catching up from a store fetched from another member (the "store"
     * snapshot format, docs/snapshots.md). raft_node.c sets store_format at start. */
    struct {
        bool store_format;   /* snapshots are descriptors (repl_config.snapshot_store) */
        bool active;         /* entries are spooled, not applied; the API refuses */
        uint64_t target;     /* the index of the descriptor raft installed */
        uint64_t staged;     /* the fetched store's index once READY, else 0 */
        struct repl_descriptor hint; /* the descriptor raft installed: where to fetch */
        struct snapshot_fetch *fetch;
        unsigned fetching;   /* fetches whose callback has not run (a cancelled one too) */
        uint64_t attempts;
        unsigned swap_waits; /* the swap found the store in use */
        uv_timer_t timer;    /* back-off between fetches, retries of the swap */
        bool timer_ready;    /* repl_start() is done: fetches may start */
        bool timer_closed;
        uv_close_cb closed;  /* the stop's callback, once the spool's writes are done */
        int spool_fd;
        uint64_t spool_off;  /* bytes queued to the spool */
        unsigned spool_writes; /* in flight */
        uint64_t spooled;    /* entries spooled in this catch-up */
        unsigned failures;   /* fetches failed in a row */
        uint64_t total;      /* catch-ups finished */
        uint64_t started_ms;
        uint64_t bytes_fetched_last;
        char why[256];       /* the last fetch failure */
        struct raft_transfer transfer;
        bool handing_over;
    } catchup;

    /* raft_node.c: shutdown. */
    struct {
        unsigned closing; /* handles and subsystems still closing */
        void (*cb)(void *arg);
        void *arg;
    } shutdown;

    /* snapshot_send.c and snapshot_fetch.c: whole stores streamed out of band
     * (docs/snapshots.md). Sends in progress and the fetch in flight, and counters. */
    struct {
        unsigned sends_in_flight;
        uint64_t sends_total;       /* streams begun (200 sent) */
        uint64_t sends_failed;      /* streams that did not reach their end */
        uint64_t send_bytes;
        uint64_t fetches_total;     /* fetches started */
        uint64_t fetch_failures;    /* fetches that ended without a READY store */
        uint64_t fetch_bytes;
        struct snapshot_fetch *fetch; /* the one in flight, or NULL */
    } snap;

    /* raft_node.c: handing leadership over before a stop. */
    struct {
        struct raft_transfer transfer;
        uv_timer_t *timer; /* gives up when raft does not call back in time */
        bool done;
        void (*cb)(void *arg);
        void *arg;
    } handover;
};

/* propose_local.c */
/* Queues @cmd for the next raft entry this leader proposes (BASE_ENOTLEADER when this
 * node is not the leader); @cb runs once it is applied or failed. */
int repl_apply_local(struct repl *r, struct repl_propose *p, const Command *cmd,
                     repl_propose_cb cb);
/* The proposals of the entry at @index, in order, if this node proposed it, into @out
 * (room for REPL_ENTRY_MAX_COMMANDS). Returns their number, 0 if none. */
size_t repl_pending_proposals(struct repl *r, uint64_t index, struct repl_propose **out);
void repl_queue_init(struct repl *r, unsigned max_commands);
void repl_queue_flush(uv_idle_t *h);
/* Ends every queued proposal (the node stops) and closes the idle handle. */
void repl_queue_stop(struct repl *r, uv_close_cb closed);

/* raft_node.c */
/* The HTTP address of the leader, when one is known and registered. */
bool repl_leader_http(struct repl *r, uint64_t *id, char *buf, size_t size);
/* The role of @id in the current configuration: RAFT_VOTER... or -1. */
int repl_role_of(struct repl *r, uint64_t id);
const char *repl_role_name(int role);
/* One step towards closing: when none are left, frees @r and calls the stop callback. */
void repl_closed_one(struct repl *r);

/* raft_node.c: applies entry @index (one command or a shared entry) as raft does,
 * results into r->results. Fails only on a local store error. */
int repl_apply_buffer(struct repl *r, uint64_t index, const struct raft_buffer *buf,
                      struct base_err *err);

/* catchup.c */
void repl_catchup_init(struct repl *r);
/* repl_start() is done: a catch-up begun while raft started fetches now. */
void repl_catchup_started(struct repl *r);
/* raft installed descriptor @d and the store is behind it: catch up. */
void repl_catchup_begin(struct repl *r, const struct repl_descriptor *d);
/* A whole snapshot was installed instead (the "inline" format): stop catching up. */
void repl_catchup_abandon(struct repl *r);
/* Entry @index while catching up: to the spool. */
void repl_catchup_spool(struct repl *r, uint64_t index, const struct raft_buffer *buf);
/* Every loop iteration: a catching-up leader hands its leadership over. */
void repl_catchup_check_leader(struct repl *r);
void repl_catchup_stop(struct repl *r, uv_close_cb closed);

/* wait.c */
void repl_waits_init(struct repl *r);
/* After an apply: satisfied waits are ended from the next loop iteration. */
void repl_waits_kick(struct repl *r);
/* Ends every wait with BASE_ESHUTDOWN and closes the timer. */
void repl_waits_stop(struct repl *r);

/* propose.c */
int repl_forward(struct repl *r, struct repl_propose *p, const Command *cmd);
/* This node sees @leader lead now: forwarded proposals still waiting on a call to
 * another node end at once with BASE_ERETRY. */
void repl_forwards_leader_changed(struct repl *r, uint64_t leader);
/* On the leader: an entry a follower waits for is committed (applied here); the
 * followers must learn the new commit index now, not at the next heartbeat. */
void repl_commit_notice(struct repl *r);
void repl_commit_notice_init(struct repl *r);
/* Every loop iteration (raft_node.c's monitor): sends that notice with a raft barrier
 * unless an entry appended since did (its AppendEntries carries the commit index). */
void repl_commit_notice_check(struct repl *r);

/* read_index.c */
/* Ends the reads waiting for the next barrier with BASE_ESHUTDOWN (the one in flight
 * ends with raft's close). */
void repl_reads_stop(struct repl *r);

/* peer_call.c */
/* Starts a signed call of @method (a string that outlives the call) @target on the node
 * at @http; @body (malloc()ed or NULL) is taken. The call is signed in that node's time
 * as far as this node knows it; every answer teaches it, and a call refused 401 for
 * the time window is signed again and sent once more at once (nothing was done by the
 * refusal). @cb runs once; then the caller frees the call with peer_call_free(). */
struct peer_call *peer_call_start(struct repl *r, const char *method, const char *http,
                                  const char *target, void *body, size_t len,
                                  unsigned timeout_ms, peer_call_cb cb, void *data);
void peer_call_free(struct peer_call *c);
/* Ends a call in flight now: its callback runs at once with no answer and @why. */
void peer_call_cancel(struct peer_call *c, const char *why);
/* Why a call failed, for logs and messages. */
void peer_call_describe(const struct peer_call *c, char *buf, size_t size);
/* Fills @req for a GET of @target at @url on node @http, signed in its time, whose
 * body streams to @on_data: @headers (room for 4) gets the signature lines and @extra
 * (a "Name: value" line, or NULL). The caller sets req->data and the timeouts. */
void peer_get_prepare(struct repl *r, struct http_client_req *req, struct peer_headers *auth,
                      const char *headers[4], const char *http, const char *url,
                      const char *target, const char *extra, http_client_data_cb on_data,
                      http_client_header_cb header_cb);

/* snapshot_fetch.c */
/* At repl_stop(): cancels the store fetch in flight, if any, and returns 1 when there
 * was one: it ends (its callback with BASE_ECANCELED) with one repl_closed_one(). */
unsigned repl_snapshot_fetch_stop(struct repl *r);

/* members_self.c (the others of membership: members_int.h) */
/* Starts membership's tick. */
void repl_members_init(struct repl *r);
/* Leadership changed (became leader, or stopped being it). */
void repl_members_leadership(struct repl *r, bool leader);
void repl_members_stop(struct repl *r);
/* members_roles.c: the members of the raft configuration and, of them, those that
 * stopped answering the leader's status calls (meaningful on the leader). */
void repl_members_count(struct repl *r, unsigned *members, unsigned *down);

#endif
