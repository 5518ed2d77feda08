/* Membership on every node: the one-second tick, this node's own registry record, the
 * join of a node started with --join, and this node's status (GET /internal/v1/status).
 * See membership.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/members_int.h"
#include "replication/peer.h"

/* A join answered by the leader is not repeated for this long (the leader still has
 * to make the node a standby before it hears from it). */
#define JOIN_ACCEPTED_QUIET_MS 30000

/* ---- Commands ---- */

int repl_members_propose_register(struct repl *r, struct repl_propose *p,
                                  const struct repl_change *c, bool local, repl_propose_cb cb)
{
    Command cmd = COMMAND__INIT;
    RegisterNode rn = REGISTER_NODE__INIT;
    repl_stamp_node_command(&cmd, "register-node");
    rn.id = c->id;
    rn.http = (char *)c->http;
    rn.raft = (char *)c->raft;
    rn.zone = (char *)c->zone;
    cmd.body_case = COMMAND__BODY_REGISTER_NODE;
    cmd.register_node = &rn;
    return local ? repl_propose_local(r, p, &cmd, cb) : repl_propose(r, p, &cmd, cb);
}

/* ---- Every node: membership, its own record, joining ---- */

static void registered(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->self.register_in_flight = false;
    if (status == 0 && res->status == ARCHIVE_OK) {
        LOG_INFO("members", "registered this node: http=%s raft=%s zone=%s", r->conf.http_address,
                 r->conf.raft_address, r->zone);
    } else if (status == 0) {
        LOG_WARN("members", "registering this node refused: %s", res->message);
    }
}

/* Keeps this node's record (address, zone) current once it is a member. */
static void register_self(struct repl *r)
{
    struct repl_change c;
    struct base_err err;
    NodeRecord *rec = NULL;
    int rv = archive_get_node(r->archive, r->id, &rec, &err);
    bool current = rv == 0 && strcmp(rec->http, r->conf.http_address) == 0 &&
                   strcmp(rec->raft, r->conf.raft_address) == 0 && strcmp(rec->zone, r->zone) == 0;
    if (rv == 0 && rec->removed && !r->self.removed) {
        r->self.removed = true;
        LOG_ERROR("members", "this node (%llu) was removed from the cluster: it refuses "
                             "requests now; to bring it back, stop it, empty its data dir "
                             "and start it with --join", (unsigned long long)r->id);
    }
    archive_free_node(rec);
    if (current || r->self.removed || r->self.register_in_flight ||
        r->conf.http_address[0] == '\0' || !archive_cluster_initialized(r->archive) ||
        r->lead.last == 0) {
        return;
    }
    memset(&c, 0, sizeof c);
    c.id = r->id;
    snprintf(c.http, sizeof c.http, "%s", r->conf.http_address);
    snprintf(c.raft, sizeof c.raft, "%s", r->conf.raft_address);
    snprintf(c.zone, sizeof c.zone, "%s", r->zone);
    r->self.register_prop.data = r;
    if (repl_members_propose_register(r, &r->self.register_prop, &c, false, registered) == 0) {
        r->self.register_in_flight = true;
    }
}

static void space_reported(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->self.space_in_flight = false;
    if (status == 0 && res->status == ARCHIVE_OK && !res->replayed) {
        LOG_INFO("members", "reported this node's space: %llu MB, %s",
                 (unsigned long long)(r->self.capacity_bytes >> 20),
                 r->self.disk_full ? "full (placement sends it no new copies)" : "not full");
    } else if (status == 0 && res->status != ARCHIVE_OK) {
        LOG_WARN("members", "reporting this node's space refused: %s", res->message);
    }
}

/* Whether the record's capacity is off by more than REPL_CAPACITY_CHANGE_PCT percent
 * (or missing). */
static bool capacity_moved(uint64_t recorded, uint64_t now)
{
    uint64_t d = recorded > now ? recorded - now : now - recorded;
    return recorded == 0 || d > recorded / 100 * REPL_CAPACITY_CHANGE_PCT;
}

/* Keeps this node's capacity and fullness in its record (placement weighs by them):
 * proposed when the record has none, when the capacity moved by more than
 * REPL_CAPACITY_CHANGE_PCT percent, or when the disk filled or has room again (the
 * disk guard's own hysteresis keeps that from flapping). */
static void report_space(struct repl *r)
{
    Command cmd = COMMAND__INIT;
    ReportNodeSpace rs = REPORT_NODE_SPACE__INIT;
    struct base_err err;
    NodeRecord *rec = NULL;
    bool current;
    uint64_t capacity = r->self.capacity_bytes;
    if (capacity < ARCHIVE_CAPACITY_MIN || r->self.space_in_flight || r->self.removed ||
        r->lead.last == 0 || archive_get_node(r->archive, r->id, &rec, &err) != 0) {
        return; /* unknown yet, or not registered yet */
    }
    if (capacity > ARCHIVE_CAPACITY_MAX) {
        capacity = ARCHIVE_CAPACITY_MAX;
    }
    current = rec->removed || (rec->full == r->self.disk_full &&
                               !capacity_moved(rec->capacity_bytes, capacity));
    archive_free_node(rec);
    if (current) {
        return;
    }
    repl_stamp_node_command(&cmd, "report-node-space");
    rs.id = r->id;
    rs.capacity_bytes = capacity;
    rs.full = r->self.disk_full;
    cmd.body_case = COMMAND__BODY_REPORT_NODE_SPACE;
    cmd.report_node_space = &rs;
    r->self.space_prop.data = r;
    if (repl_propose(r, &r->self.space_prop, &cmd, space_reported) == 0) {
        r->self.space_in_flight = true;
    }
}

static void joined(struct peer_call *call)
{
    struct repl *r = call->repl;
    ChangeResult *res = NULL;
    char why[400] = "";
    r->join.call = NULL;
    if (call->req.status == 200 && !call->req.truncated) {
        res = change_result__unpack(NULL, call->req.response_len,
                                    (const uint8_t *)call->req.response);
    }
    if (res == NULL) {
        peer_call_describe(call, why, sizeof why);
    } else if (res->error != 0) {
        snprintf(why, sizeof why, "%s (%s)", res->message, base_strerror(res->error));
    }
    peer_call_free(call);
    if (res != NULL && res->error == 0) {
        LOG_INFO("members", "join through %s: %s as %s; the leader catches this node up now",
                 r->conf.join, res->added ? "added" : "a member already", res->role);
        r->join.accepted_ms = uv_now(r->loop);
        r->join.backoff_ms = REPL_JOIN_BACKOFF_MIN_MS;
    } else if (!r->stopping) {
        LOG_WARN("members", "join through %s failed: %s; trying again in %llu ms", r->conf.join,
                 why, (unsigned long long)r->join.backoff_ms);
        r->join.next_ms = uv_now(r->loop) + r->join.backoff_ms;
        r->join.backoff_ms = r->join.backoff_ms * 2 < REPL_JOIN_BACKOFF_MAX_MS
                                 ? r->join.backoff_ms * 2
                                 : REPL_JOIN_BACKOFF_MAX_MS;
    }
    change_result__free_unpacked(res, NULL);
}

/* A node started with --join asks, with back-off, until it is a member. */
static void join_tick(struct repl *r)
{
    JoinRequest jr = JOIN_REQUEST__INIT;
    uint64_t now = uv_now(r->loop);
    void *body;
    size_t len;
    if (r->self.member || r->conf.join[0] == '\0' || r->join.call != NULL ||
        now < r->join.next_ms ||
        (r->join.accepted_ms != 0 && now - r->join.accepted_ms < JOIN_ACCEPTED_QUIET_MS)) {
        return;
    }
    jr.id = r->id;
    jr.http = r->conf.http_address;
    jr.raft = r->conf.raft_address;
    jr.zone = r->zone;
    jr.feature_level = r->conf.feature_level;
    len = join_request__get_packed_size(&jr);
    body = xmalloc(len > 0 ? len : 1);
    join_request__pack(&jr, body);
    r->join.call = peer_call_start(r, "POST", r->conf.join, PEER_PATH_JOIN, body, len,
                                   REPL_FORWARD_TIMEOUT_MS, joined, NULL);
}

static void check_member(struct repl *r)
{
    if (r->self.member || repl_role_of(r, r->id) < 0) {
        return;
    }
    r->self.member = true;
    if (r->conf.joining_marker != NULL && unlink(r->conf.joining_marker) == 0) {
        LOG_INFO("members", "this node is a member of the cluster now (%s)",
                 repl_role_name(repl_role_of(r, r->id)));
    }
}

static void tick_cb(uv_timer_t *t)
{
    struct repl *r = t->data;
    if (r->stopping) {
        return;
    }
    check_member(r);
    join_tick(r);
    if (r->self.member) {
        register_self(r);
        report_space(r);
    }
    if (repl_is_leader(r)) {
        repl_members_poll_peers(r);
        repl_members_raise_level(r);
        repl_members_reconcile(r);
        repl_members_step_storage(r);
    }
}

void repl_members_init(struct repl *r)
{
    r->join.backoff_ms = REPL_JOIN_BACKOFF_MIN_MS;
    uv_timer_init(r->loop, &r->self.tick);
    r->self.tick.data = r;
    repl_members_tick_now(r);
}

void repl_members_leadership(struct repl *r, bool leader)
{
    /* A new leader starts with a fresh view: everyone gets the grace period. */
    repl_members_forget_peers(r);
    if (leader) {
        repl_members_tick_now(r);
    }
}

void repl_members_tick_now(struct repl *r)
{
    uv_timer_start(&r->self.tick, tick_cb, 0, REPL_TICK_MS);
}

static void tick_closed(uv_handle_t *h)
{
    repl_closed_one(h->data);
}

void repl_members_stop(struct repl *r)
{
    repl_members_forget_peers(r); /* polls in flight end with the HTTP client */
    uv_close((uv_handle_t *)&r->self.tick, tick_closed);
}

/* ---- This node's status ---- */

void repl_set_draining(struct repl *r)
{
    r->self.draining = true;
}

void repl_set_disk_full(struct repl *r, bool full)
{
    r->self.disk_full = full;
}

void repl_set_disk_capacity(struct repl *r, uint64_t bytes)
{
    r->self.capacity_bytes = bytes;
}

/* The leader's verdicts: every member of its configuration, with its role and whether
 * it answers (itself included). */
static void fill_peers(struct repl *r, NodeStatus *st, PeerHealth **list, PeerHealth *items)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    size_t n = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        struct peer *p = repl_members_peer_find(r, conf->servers[i].id);
        peer_health__init(&items[n]);
        items[n].id = conf->servers[i].id;
        items[n].role = (char *)repl_role_name(conf->servers[i].role);
        items[n].down = p != NULL && !repl_members_peer_up(r, p);
        items[n].silent_ms = p != NULL ? uv_now(r->loop) - p->last_ok_ms : 0;
        list[n] = &items[n];
        n++;
    }
    st->peers = list;
    st->n_peers = n;
}

static void statfs_done(uv_fs_t *req)
{
    struct repl_self *s = container_of(req, struct repl_self, fs);
    struct repl *r = s->repl;
    NodeStatus st = NODE_STATUS__INIT;
    struct repl_status rs;
    size_t n_peers = 0;
    PeerHealth **list;
    PeerHealth *items;
    uint64_t free_bytes = 0;
    if (req->result == 0 && req->ptr != NULL) {
        const uv_statfs_t *fs = req->ptr;
        free_bytes = fs->f_bavail * fs->f_bsize;
    }
    uv_fs_req_cleanup(req);
    n_peers = r->raft.configuration.n;
    list = xcalloc(n_peers + 1, sizeof *list);
    items = xcalloc(n_peers + 1, sizeof *items);
    repl_get_status(r, &rs);
    st.id = r->id;
    st.http = r->conf.http_address;
    st.raft = r->conf.raft_address;
    st.zone = r->zone;
    st.state = (char *)rs.state;
    st.role = (char *)rs.role;
    st.term = rs.term;
    st.leader_id = rs.leader_id;
    st.applied_index = rs.applied_index;
    st.commit_index = rs.commit_index;
    st.last_index = rs.last_index;
    st.blob_bytes = r->blobs != NULL ? blob_store_bytes(r->blobs) : 0;
    st.blob_count = r->blobs != NULL ? blob_store_count(r->blobs) : 0;
    st.free_bytes = free_bytes;
    st.draining = r->self.draining;
    st.disk_full = r->self.disk_full;
    st.feature_level = r->conf.feature_level;
    st.removed = r->self.removed;
    st.leader_changes = rs.leader_changes;
    if (repl_is_leader(r)) {
        fill_peers(r, &st, list, items);
    }
    r->self.fs_in_flight--;
    s->cb(s, &st);
    free(list);
    free(items);
    if (r->stopping) {
        repl_closed_one(r);
    }
}

void repl_local_status(struct repl *r, struct repl_self *s, repl_self_cb cb)
{
    int rv;
    s->repl = r;
    s->cb = cb;
    rv = uv_fs_statfs(r->loop, &s->fs, r->conf.data_dir, statfs_done);
    ASSERT(rv == 0); /* fails only for invalid arguments */
    r->self.fs_in_flight++;
}

const char *repl_http_address(const struct repl *r)
{
    return r->conf.http_address;
}
