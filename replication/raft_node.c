#include "replication/repl.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/blobs.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/entry.h"
#include "replication/repl_int.h"
#include "replication/transport.h"

/* Keeps raft's snapshot threshold where the log budget wants it (log_budget.h). */
static void budget_applied(struct repl *r, uint64_t index, size_t len)
{
    unsigned threshold = log_budget_applied(&r->log_budget, index, len);
    if (threshold != r->snapshot_threshold_now) {
        raft_set_snapshot_threshold(&r->raft, threshold);
        r->snapshot_threshold_now = threshold;
    }
}

int repl_apply_buffer(struct repl *r, uint64_t index, const struct raft_buffer *buf,
                      struct base_err *err)
{
    struct archive_packed cmds[REPL_ENTRY_MAX_COMMANDS];
    bool shared;
    size_t n = repl_entry_commands(buf, cmds, &shared);
    if (!shared) {
        return archive_apply(r->archive, index, cmds[0].buf, cmds[0].len, r->results, err);
    }
    return archive_apply_entry(r->archive, index, cmds, n, r->results, err);
}

/* A committed entry: its commands applied (archive.h), each proposer's result written
 * into its proposal when this node proposed the entry (propose_local.c). While the node
 * catches up, the entry goes to the spool instead (catchup.c). */
static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    struct repl *r = fsm->data;
    uint64_t index = raft_last_applied(&r->raft) + 1;
    struct repl_propose *props[REPL_ENTRY_MAX_COMMANDS];
    struct archive_packed cmds[REPL_ENTRY_MAX_COMMANDS];
    struct base_err err = {{0}};
    bool shared;
    size_t n = repl_entry_commands(buf, cmds, &shared);
    size_t mine = repl_pending_proposals(r, index, props);
    int rv;
    *result = NULL;
    if (r->catchup.active) {
        repl_catchup_spool(r, index, buf);
        budget_applied(r, index, buf->len);
        return 0; /* its proposers (none: a catching-up leader hands over) are told to retry */
    }
    rv = repl_apply_buffer(r, index, buf, &err);
    if (rv != 0) {
        /* A local I/O failure: state may be behind the log. Stop here and let a
         * restart replay the log; never continue with a state that skipped an entry. */
        LOG_ERROR("raft", "apply of entry %llu failed: %s (%s); stopping the node",
                  (unsigned long long)index, err.msg, base_strerror(rv));
        abort();
    }
    /* The proposals of an entry are its commands, in order; one that found no command
     * (never: this node framed them) gets no result and is told to retry. */
    for (size_t i = 0; i < mine && i < n; i++) {
        props[i]->result = r->results[i];
        props[i]->has_result = true;
    }
    budget_applied(r, index, buf->len);
    repl_waits_kick(r);
    return 0;
}

static void descriptor_member(const NodeRecord *node, void *arg)
{
    struct repl_descriptor *d = arg;
    if (node != NULL && node->id != d->node_id && !node->removed && node->http != NULL &&
        node->http[0] != '\0' && d->n_members < REPL_DESCRIPTOR_MEMBERS_MAX) {
        d->members[d->n_members].id = node->id;
        snprintf(d->members[d->n_members].http, sizeof d->members[0].http, "%s", node->http);
        d->n_members++;
    }
}

/* The "store" format: the store is made durable at its applied index (the state
 * machine writes without sync) and the snapshot only names it, and where to fetch it. */
static int take_descriptor(struct repl *r, struct raft_buffer *bufs[], unsigned *n_bufs,
                           struct base_err *err)
{
    static struct repl_descriptor d; /* loop thread only; a few KiB */
    int rv = rocks_flush_wal(r->archive->db, err);
    if (rv != 0) {
        return rv;
    }
    memset(&d, 0, sizeof d);
    d.index = r->archive->applied_index;
    d.node_id = r->id;
    snprintf(d.http, sizeof d.http, "%s", r->conf.http_address);
    if (archive_each_node(r->archive, descriptor_member, &d, err) != 0) {
        LOG_WARN("raft", "snapshot: listing the members for its descriptor: %s", err->msg);
    }
    *bufs = xmalloc(sizeof **bufs);
    repl_descriptor_encode(&d, &(*bufs)[0]);
    *n_bufs = 1;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    struct repl *r = fsm->data;
    struct base_err err = {{0}};
    uint64_t start = uv_hrtime();
    unsigned trailing;
    int rv;
    if (r->catchup.active) {
        return RAFT_BUSY; /* the store is not at raft's index yet; raft asks again later */
    }
    rv = r->catchup.store_format ? take_descriptor(r, bufs, n_bufs, &err)
                                 : repl_snapshot_take(r->archive, r->conf.snapshot_piece, bufs,
                                                      n_bufs, &err);
    if (rv != 0) {
        LOG_ERROR("raft", "snapshot: %s", err.msg);
        return RAFT_IOERR;
    }
    /* raft reads the trailing count right after this call, for this snapshot. */
    trailing = log_budget_snapshot(&r->log_budget, raft_last_applied(&r->raft));
    raft_set_snapshot_trailing(&r->raft, trailing);
    raft_set_snapshot_threshold(&r->raft, r->log_budget.threshold);
    r->snapshot_threshold_now = r->log_budget.threshold;
    r->snapshot_bytes = 0;
    for (unsigned i = 0; i < *n_bufs; i++) {
        r->snapshot_bytes += (*bufs)[i].len;
    }
    LOG_INFO("raft", "snapshot taken: applied_index=%llu bytes=%llu pieces=%u ms=%.1f "
             "trailing=%u format=%s", (unsigned long long)r->archive->applied_index,
             (unsigned long long)r->snapshot_bytes, *n_bufs,
             (double)(uv_hrtime() - start) / 1e6, trailing,
             r->catchup.store_format ? "store" : "inline");
    return 0;
}

static int fsm_snapshot_finalize(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
    (void)fsm;
    repl_snapshot_release(bufs, n_bufs);
    return 0;
}

/* A descriptor: nothing to do when the store holds its index already (a restart, or a
 * store swapped in at start), else catch up. */
static int restore_descriptor(struct repl *r, struct raft_buffer *buf)
{
    static struct repl_descriptor d; /* loop thread only */
    if (!repl_descriptor_parse(buf->base, buf->len, &d)) {
        LOG_ERROR("raft", "restore snapshot: a store descriptor that does not parse (%zu "
                  "bytes)", buf->len);
        return RAFT_CORRUPT;
    }
    log_budget_restored(&r->log_budget, d.index);
    raft_free(buf->base);
    if (r->archive->applied_index >= d.index) {
        if (r->catchup.active) {
            repl_catchup_abandon(r); /* cannot be: the store is behind while catching up */
        }
        return 0;
    }
    repl_catchup_begin(r, &d);
    return 0;
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    struct repl *r = fsm->data;
    struct base_err err = {{0}};
    uint64_t snap_index;
    bool skipped;
    if (repl_descriptor_is(buf->base, buf->len)) {
        return restore_descriptor(r, buf);
    }
    repl_catchup_abandon(r); /* a whole store: whatever was being fetched is moot */
    if (repl_snapshot_restore(r->archive, buf, &skipped, &snap_index, &err) != 0) {
        LOG_ERROR("raft", "restore snapshot: %s", err.msg);
        return RAFT_CORRUPT;
    }
    log_budget_restored(&r->log_budget, snap_index);
    if (!skipped) {
        LOG_INFO("raft", "restored snapshot at applied_index=%llu",
                 (unsigned long long)snap_index);
        repl_waits_kick(r);
    }
    return 0;
}

static int bootstrap_if_new(struct repl *r, const struct repl_config *c, struct base_err *err)
{
    struct raft_configuration conf;
    int rv;
    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, c->node_id, c->raft_address, RAFT_VOTER);
    if (rv == 0) {
        rv = raft_bootstrap(&r->raft, &conf);
    }
    raft_configuration_close(&conf);
    if (rv == RAFT_CANTBOOTSTRAP) {
        return 0; /* existing state: just start */
    }
    if (rv != 0) {
        base_err_set(err, "raft bootstrap: %s", raft_strerror(rv));
        return BASE_EIO;
    }
    LOG_INFO("raft", "bootstrapped a new cluster: node_id=%llu raft=%s",
             (unsigned long long)c->node_id, c->raft_address);
    return 0;
}

/* Quorum loss: appends a configuration entry naming this node as the only voter, so
 * that it can elect itself. What the lost voters had committed and this node had not
 * received is gone; the operator picks the survivor with the longest log. */
static int recover_alone(struct repl *r, const struct repl_config *c, struct base_err *err)
{
    struct raft_configuration conf;
    int rv;
    raft_configuration_init(&conf);
    rv = raft_configuration_add(&conf, c->node_id, c->raft_address, RAFT_VOTER);
    if (rv == 0) {
        rv = raft_recover(&r->raft, &conf);
    }
    raft_configuration_close(&conf);
    if (rv != 0) {
        base_err_set(err, "raft recover: %s", raft_strerror(rv));
        return BASE_EIO;
    }
    LOG_WARN("raft", "recovered: node %llu (%s) is now the only voter of its cluster; remove "
             "the lost nodes (imgarc cluster remove ID) and join new ones",
             (unsigned long long)c->node_id, c->raft_address);
    return 0;
}

static void configure(struct repl *r, const struct repl_config *c)
{
    raft_uv_set_auto_recovery(&r->io, false);
    raft_set_pre_vote(&r->raft, true);
    raft_set_election_timeout(&r->raft, c->election_timeout_ms);
    raft_set_heartbeat_timeout(&r->raft, c->heartbeat_timeout_ms);
    raft_set_snapshot_threshold(&r->raft, c->snapshot_threshold);
    raft_set_snapshot_trailing(&r->raft, c->snapshot_trailing);
    log_budget_init(&r->log_budget, c->snapshot_threshold, c->snapshot_trailing,
                    c->snapshot_threshold_bytes, c->snapshot_trailing_bytes);
    r->snapshot_threshold_now = c->snapshot_threshold;
}

/* libraft 0.22.1 ticks once per heartbeat timeout (the interval raft_start gives
 * raft_io's start, once), and at every tick its leader counts as unreachable a follower
 * it has heard nothing from since the previous tick, and falls back to "probe" with it:
 * new entries go to it once per heartbeat timeout only, until one is acknowledged. But
 * it sends a heartbeat at a tick only to a follower it sent nothing for a whole
 * heartbeat timeout. So after any write, that follower missed the next tick's heartbeat,
 * was counted unreachable at the tick after, and the next write waited for a tick (up to
 * --heartbeat-timeout-ms) before it was even sent. After the start, the ticks keep the
 * configured interval; libraft's heartbeat timeout, which then only says how long to
 * wait after a message before sending another unasked, becomes REPL_RAFT_SEND_GAP_MS:
 * every tick sends a heartbeat (unless a message went out in the last few ms), every
 * follower answers before the next, and a follower in probe gets a new entry at once.
 * Elections are unchanged (election timeout), and the leader's step-down check still
 * needs an answer from a majority within an election timeout. */
static void send_gap_after_start(struct repl *r, const struct repl_config *c)
{
    if (c->heartbeat_timeout_ms > 2 * REPL_RAFT_SEND_GAP_MS) {
        raft_set_heartbeat_timeout(&r->raft, REPL_RAFT_SEND_GAP_MS);
    }
}

static void copy_identity(struct repl *r, const struct repl_config *c)
{
    r->id = c->node_id;
    snprintf(r->conf.raft_address, sizeof r->conf.raft_address, "%s", c->raft_address);
    snprintf(r->conf.http_address, sizeof r->conf.http_address, "%s",
             c->http_address != NULL ? c->http_address : "");
    snprintf(r->zone, sizeof r->zone, "%s", c->zone != NULL ? c->zone : "default");
    snprintf(r->conf.join, sizeof r->conf.join, "%s", c->join != NULL ? c->join : "");
    r->conf.joining_marker = c->joining_marker != NULL ? xstrdup(c->joining_marker) : NULL;
    r->conf.data_dir = xstrdup(c->data_dir != NULL ? c->data_dir : ".");
    r->auth = c->auth;
    r->blobs = c->blobs;
    r->conf.voters = c->voters > 0 ? c->voters : 1;
    r->conf.failover_after_ms = c->failover_after_ms;
    r->conf.repair_after_ms = c->repair_after_ms;
    r->conf.feature_level = c->feature_level;
    r->conf.election_timeout_ms = c->election_timeout_ms;
    r->conf.snapshot_piece = c->snapshot_piece_bytes;
    r->catchup.store_format = c->snapshot_store;
    r->conf.snapshot_send_rate = c->snapshot_send_bytes_per_s;
    /* A member silent for two election timeouts is down: one lost heartbeat round is
     * not a failure, and raft itself gives up on a leader after one timeout. */
    r->conf.down_after_ms = 2 * c->election_timeout_ms > 2000 ? 2 * c->election_timeout_ms : 2000;
}

/* Leadership, seen every loop iteration (0.22's legacy API has no callback for it):
 * counts leader changes and tells membership when this node gains or loses the lead. */
static void monitor_cb(uv_check_t *h)
{
    struct repl *r = h->data;
    raft_id leader = 0;
    const char *addr = NULL;
    bool leader_now;
    if (r->stopping) {
        return;
    }
    raft_leader(&r->raft, &leader, &addr);
    if (leader != 0 && leader != r->lead.last) {
        if (r->lead.last != 0) {
            r->lead.changes++;
        }
        LOG_INFO("raft", "leader is node %llu (%s), term %llu", (unsigned long long)leader,
                 addr != NULL ? addr : "?", (unsigned long long)r->raft.current_term);
        r->lead.last = leader;
        repl_forwards_leader_changed(r, leader);
    }
    repl_commit_notice_check(r);
    repl_catchup_check_leader(r);
    leader_now = raft_state(&r->raft) == RAFT_LEADER;
    if (leader_now != r->lead.was_leader) {
        r->lead.was_leader = leader_now;
        repl_members_leadership(r, leader_now);
    }
}

/* Whether node @id may talk raft to this one (it has proved it holds the cluster
 * secret): a voter, standby or spare of the configuration, or a registered node not
 * removed (a node being added is registered before raft_add). A node that is not a
 * member yet knows no one: the secret is the proof it can have, and what it is sent
 * is checked by raft like anything else. */
static bool peer_is_member(void *arg, uint64_t id)
{
    struct repl *r = arg;
    const struct raft_configuration *cfg = &r->raft.configuration;
    struct base_err err;
    NodeRecord *rec;
    bool ok;
    if (cfg->n == 0) {
        return true;
    }
    for (unsigned i = 0; i < cfg->n; i++) {
        if (cfg->servers[i].id == id) {
            return true;
        }
    }
    if (archive_get_node(r->archive, id, &rec, &err) != 0) {
        return false;
    }
    ok = !rec->removed;
    archive_free_node(rec);
    return ok;
}

static int init_raft(struct repl *r, const struct repl_config *c, struct base_err *err)
{
    struct transport_config tc = {
        .loop = r->loop,
        .member_cb = peer_is_member,
        .member_arg = r,
    };
    uint8_t secrets[HANDSHAKE_KEYS_MAX][32];
    int rv;
    if (c->auth != NULL) {
        /* The current secret first (the handshake proves with every one it holds). */
        for (unsigned i = 0; i < peer_auth_key_count(c->auth) && i < HANDSHAKE_KEYS_MAX; i++) {
            memcpy(secrets[i], peer_auth_key(c->auth, i), 32);
            tc.n_secrets = i + 1;
        }
        tc.secrets = (const uint8_t(*)[32])secrets;
    }
    rv = transport_init(&r->transport, &tc, err);
    sodium_memzero(secrets, sizeof secrets);
    if (rv != 0) {
        return rv;
    }
    if ((rv = raft_uv_init(&r->io, r->loop, c->raft_dir, &r->transport)) != 0) {
        base_err_set(err, "raft storage in %s: %s", c->raft_dir, r->io.errmsg);
        transport_close(&r->transport);
        return BASE_EIO;
    }
    r->fsm.version = 2;
    r->fsm.data = r;
    r->fsm.apply = fsm_apply;
    r->fsm.snapshot = fsm_snapshot;
    r->fsm.snapshot_finalize = fsm_snapshot_finalize;
    r->fsm.restore = fsm_restore;
    if ((rv = raft_init(&r->raft, &r->io, &r->fsm, c->node_id, c->raft_address)) != 0) {
        base_err_set(err, "raft init: %s", raft_errmsg(&r->raft));
        raft_uv_close(&r->io);
        transport_close(&r->transport);
        return BASE_EIO;
    }
    r->raft.data = r;
    configure(r, c);
    return 0;
}

int repl_start(struct repl **out, uv_loop_t *loop, const struct repl_config *c,
               struct archive *archive, struct base_err *err)
{
    struct repl *r = xcalloc(1, sizeof *r);
    int rv;
    r->loop = loop;
    r->archive = archive;
    copy_identity(r, c);
    if ((rv = http_client_init(&r->http, loop, err)) != 0) {
        return rv; /* the process exits on a start failure */
    }
    repl_catchup_init(r); /* raft_start() may restore a descriptor that begins a catch-up */
    if ((rv = init_raft(r, c, err)) != 0) {
        return rv;
    }
    rv = c->bootstrap ? bootstrap_if_new(r, c, err) : 0;
    if (rv == 0 && c->recover) {
        rv = recover_alone(r, c, err);
    }
    if (rv == 0 && (rv = raft_start(&r->raft)) != 0) {
        const char *why = raft_errmsg(&r->raft);
        base_err_set(err, "raft start on %s: %s (is the raft port in use by another process?)",
                     c->raft_address, why != NULL && why[0] != '\0' ? why : raft_strerror(rv));
        rv = BASE_EIO;
    }
    if (rv != 0) {
        /* raft_close is asynchronous; the process exits on a start failure, so the
         * remaining memory is left to it. */
        return rv;
    }
    send_gap_after_start(r, c);
    repl_waits_init(r);
    repl_queue_init(r, c->entry_commands);
    repl_commit_notice_init(r);
    uv_check_init(loop, &r->lead.monitor);
    r->lead.monitor.data = r;
    uv_check_start(&r->lead.monitor, monitor_cb);
    repl_members_init(r);
    repl_catchup_started(r);
    *out = r;
    return 0;
}

int repl_propose(struct repl *r, struct repl_propose *p, const Command *cmd, repl_propose_cb cb)
{
    p->why[0] = '\0';
    if (r->stopping) {
        return BASE_ESHUTDOWN;
    }
    if (r->catchup.active) {
        return BASE_ENOTLEADER; /* nothing is proposed from a store about to be replaced */
    }
    if (repl_is_leader(r)) {
        return repl_apply_local(r, p, cmd, cb);
    }
    p->repl = r;
    p->cb = cb;
    return repl_forward(r, p, cmd);
}

bool repl_is_leader(struct repl *r)
{
    return raft_state(&r->raft) == RAFT_LEADER;
}

uint32_t repl_feature_level(const struct repl *r)
{
    return r->conf.feature_level;
}

uint64_t repl_applied_index(struct repl *r)
{
    return r->archive->applied_index;
}

int repl_role_of(struct repl *r, uint64_t id)
{
    for (unsigned i = 0; i < r->raft.configuration.n; i++) {
        if (r->raft.configuration.servers[i].id == id) {
            return r->raft.configuration.servers[i].role;
        }
    }
    return -1;
}

const char *repl_role_name(int role)
{
    switch (role) {
    case RAFT_VOTER: return "voter";
    case RAFT_STANDBY: return "standby";
    case RAFT_SPARE: return "spare";
    default: return "";
    }
}

bool repl_leader_http(struct repl *r, uint64_t *id, char *buf, size_t size)
{
    raft_id leader = 0;
    const char *addr = NULL;
    struct base_err err;
    NodeRecord *n;
    bool ok;
    raft_leader(&r->raft, &leader, &addr);
    *id = leader;
    if (leader == 0 || archive_get_node(r->archive, leader, &n, &err) != 0) {
        return false;
    }
    ok = n->http[0] != '\0' && !n->removed;
    snprintf(buf, size, "%s", n->http);
    archive_free_node(n);
    return ok;
}

void repl_get_status(struct repl *r, struct repl_status *out)
{
    raft_id leader_id = 0;
    const char *leader_addr = NULL;
    raft_leader(&r->raft, &leader_id, &leader_addr);
    memset(out, 0, sizeof *out);
    out->state = raft_state_name(raft_state(&r->raft));
    out->role = repl_role_name(repl_role_of(r, r->id));
    out->term = r->raft.current_term;
    out->leader_id = leader_id;
    out->last_index = raft_last_index(&r->raft);
    out->commit_index = r->raft.commit_index;
    out->applied_index = r->archive->applied_index;
    out->raft_applied_index = raft_last_applied(&r->raft);
    out->proposals_total = r->props.total;
    out->proposals_failed = r->props.failed;
    out->entries_proposed = r->props.entries;
    out->proposals_requeued = r->props.requeued;
    out->forwards_total = r->forwards.total;
    out->forwards_failed = r->forwards.failed;
    out->commit_notices = r->notice.barriers;
    out->leader_changes = r->lead.changes;
    out->member = r->self.member;
    out->removed = r->self.removed;
    if (repl_is_leader(r)) {
        repl_members_count(r, &out->members, &out->members_down);
    }
    {
        struct transport_stats ts;
        transport_get_stats(&r->transport, &ts);
        out->raft_inbound = ts.inbound;
        out->raft_outbound = ts.outbound;
        out->raft_dial_failed = ts.dial_failed;
        memcpy(out->raft_refused, ts.refused, sizeof out->raft_refused);
        out->raft_bytes_sent = ts.bytes_sent;
        out->raft_bytes_received = ts.bytes_received;
        out->raft_open = ts.open;
    }
    log_budget_held(&r->log_budget, &out->log_entries, &out->log_bytes);
    out->snapshots_taken = r->log_budget.snapshots;
    out->snapshot_bytes = r->snapshot_bytes;
    out->snapshot_index = r->log_budget.snapshot_index;
    out->snapshot_sends_total = r->snap.sends_total;
    out->snapshot_sends_failed = r->snap.sends_failed;
    out->snapshot_send_bytes = r->snap.send_bytes;
    out->snapshot_fetches_total = r->snap.fetches_total;
    out->snapshot_fetch_failures = r->snap.fetch_failures;
    out->snapshot_fetch_bytes = r->snap.fetch_bytes;
    out->catching_up = r->catchup.active;
    out->catchup_target = r->catchup.target;
    out->catchup_spooled = r->catchup.spooled;
    out->catchups_total = r->catchup.total;
    out->catchup_failures = r->catchup.failures;
    out->catchup_why = r->catchup.why;
}

void repl_stamp_node_command(Command *cmd, const char *request_id)
{
    cmd->tenant = (char *)ARCHIVE_DEFAULT_TENANT; /* cluster-wide: the tenant is moot */
    cmd->request_id = (char *)request_id;
    cmd->idempotency_key = (char *)"";
    cmd->operator_ = (char *)"node";
    cmd->time_ms = clock_wall_ms();
}

void repl_closed_one(struct repl *r)
{
    void (*cb)(void *) = r->shutdown.cb;
    void *arg = r->shutdown.arg;
    ASSERT(r->shutdown.closing > 0);
    if (--r->shutdown.closing > 0) {
        return;
    }
    free(r->conf.joining_marker);
    free(r->conf.data_dir);
    log_budget_close(&r->log_budget);
    free(r);
    if (cb != NULL) {
        cb(arg);
    }
}

static void raft_closed(struct raft *raft)
{
    struct repl *r = raft->data;
    raft_uv_close(&r->io);
    transport_close(&r->transport);
    repl_closed_one(r);
}

static void handle_closed(uv_handle_t *h)
{
    repl_closed_one(h->data);
}

static void http_closed(void *arg)
{
    repl_closed_one(arg);
}

/* Ends the hand-over once: raft's callback or the timer, whichever comes first (raft
 * may still call back later, while it closes). */
static void handover_end(struct repl *r)
{
    if (r->handover.done) {
        return;
    }
    r->handover.done = true;
    if (r->handover.timer != NULL) {
        uv_timer_stop(r->handover.timer);
        uv_close((uv_handle_t *)r->handover.timer, (uv_close_cb)free);
        r->handover.timer = NULL;
    }
    r->handover.cb(r->handover.arg);
}

static void transferred(struct raft_transfer *req)
{
    struct repl *r = req->data;
    raft_id id = 0;
    const char *address = NULL;
    if (r->handover.done) {
        return;
    }
    raft_leader(&r->raft, &id, &address);
    if (id != 0 && id != r->id) {
        LOG_INFO("raft", "handed leadership over to node %llu (%s) before stopping",
                 (unsigned long long)id, address != NULL ? address : "?");
    } else {
        LOG_WARN("raft", "leadership hand-over did not complete; the others elect a leader "
                         "after their election timeout");
    }
    handover_end(r);
}

static void handover_timeout(uv_timer_t *t)
{
    struct repl *r = t->data;
    LOG_WARN("raft", "leadership hand-over took too long; stopping without it");
    handover_end(r);
}

void repl_handover(struct repl *r, void (*cb)(void *arg), void *arg)
{
    int rv;
    r->handover.cb = cb;
    r->handover.arg = arg;
    r->handover.done = false;
    if (raft_state(&r->raft) != RAFT_LEADER) {
        handover_end(r);
        return;
    }
    r->handover.transfer.data = r;
    rv = raft_transfer(&r->raft, &r->handover.transfer, 0, transferred);
    if (rv != 0) {
        if (rv != RAFT_NOTFOUND) { /* NOTFOUND: no voting follower, e.g. a single node */
            LOG_INFO("raft", "no leadership hand-over before stopping: %s", raft_strerror(rv));
        }
        handover_end(r);
        return;
    }
    r->handover.timer = xmalloc(sizeof *r->handover.timer);
    uv_timer_init(r->loop, r->handover.timer);
    r->handover.timer->data = r;
    uv_timer_start(r->handover.timer, handover_timeout, 2ull * r->conf.election_timeout_ms, 0);
}

void repl_stop(struct repl *r, void (*cb)(void *arg), void *arg)
{
    r->stopping = true;
    r->shutdown.cb = cb;
    r->shutdown.arg = arg;
    /* Each of these ends with one repl_closed_one(): the monitor, the proposal queue
     * (whose proposals end first), the commit notice's idle handle, the waits' timer,
     * membership's tick, the catch-up (its timer, spool writes and fetch), the HTTP
     * client (whose calls in flight fail first), raft; and a store fetch in flight
     * (snapshot_fetch.c), canceled. */
    r->shutdown.closing = 8;
    r->shutdown.closing += repl_snapshot_fetch_stop(r);
    uv_close((uv_handle_t *)&r->lead.monitor, handle_closed);
    repl_queue_stop(r, handle_closed);
    uv_close((uv_handle_t *)&r->notice.idle, handle_closed);
    repl_waits_stop(r);
    repl_members_stop(r);
    repl_reads_stop(r);
    repl_catchup_stop(r, handle_closed);
    http_client_close(r->http, http_closed, r);
    raft_close(&r->raft, raft_closed);
}
