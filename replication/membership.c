/* Cluster membership: the tick that joins, registers, polls and manages roles; the
 * node's status; the cluster view; join and removal requests. See membership.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/repl_int.h"

#define VIEW_POLL_TIMEOUT_MS 1500
/* A join answered by the leader is not repeated for this long (the leader still has
 * to make the node a standby before it hears from it). */
#define JOIN_ACCEPTED_QUIET_MS 30000

static void tick_cb(uv_timer_t *t);

/* ---- Commands ---- */

static int propose_register(struct repl *r, struct repl_propose *p, const struct repl_change *c,
                            bool local, repl_propose_cb cb)
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

/* ---- The leader's polls: who is up ---- */

static struct peer *peer_find(struct repl *r, uint64_t id)
{
    for (struct peer *p = r->peers; p != NULL; p = p->next) {
        if (p->id == id) {
            return p;
        }
    }
    return NULL;
}

static bool peer_up(struct repl *r, const struct peer *p)
{
    return uv_now(r->loop) - p->last_ok_ms <= r->down_after_ms;
}

/* Forgets @p: at once, or when its poll in flight ends. */
static void peer_drop(struct repl *r, struct peer *p)
{
    struct peer **pp = &r->peers;
    while (*pp != p) {
        pp = &(*pp)->next;
    }
    *pp = p->next;
    if (p->polling) {
        p->gone = true;
    } else {
        free(p);
    }
}

static void polled(struct peer_call *c)
{
    struct peer *p = c->data;
    struct repl *r = c->repl;
    NodeStatus *st = NULL;
    if (c->req.status == 200 && !c->req.truncated) {
        st = node_status__unpack(NULL, c->req.response_len, (const uint8_t *)c->req.response);
    }
    p->polling = false;
    p->call = NULL;
    if (p->gone) {
        free(p);
    } else if (st != NULL && st->id == p->id) {
        p->last_ok_ms = uv_now(r->loop);
        p->answered = true;
        p->removed_seen = st->removed;
    } else if (log_get_level() >= LOG_LEVEL_DEBUG) {
        char why[400];
        peer_call_describe(c, why, sizeof why);
        LOG_DEBUG("members", "node %llu did not answer its status call: %s",
                  (unsigned long long)p->id, why);
    }
    node_status__free_unpacked(st, NULL);
    peer_call_free(c);
}

/* Keeps one peer per other member of the configuration and polls each once a tick. */
static void poll_peers(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    struct peer *p, *next;
    for (p = r->peers; p != NULL; p = next) {
        next = p->next;
        if (repl_role_of(r, p->id) < 0) {
            peer_drop(r, p);
        }
    }
    for (unsigned i = 0; i < conf->n; i++) {
        uint64_t id = conf->servers[i].id;
        NodeRecord *rec;
        struct base_err err;
        if (id == r->id) {
            continue;
        }
        if ((p = peer_find(r, id)) == NULL) {
            p = xcalloc(1, sizeof *p);
            p->id = id;
            p->last_ok_ms = uv_now(r->loop); /* a grace period before it counts as down */
            p->next = r->peers;
            r->peers = p;
        }
        if (p->polling || archive_get_node(r->archive, id, &rec, &err) != 0) {
            continue;
        }
        if (rec->http[0] != '\0') {
            p->polling = true;
            p->call = peer_call_start(r, "GET", rec->http, "/internal/v1/status", NULL, 0,
                                      REPL_POLL_TIMEOUT_MS, polled, p);
        }
        archive_free_node(rec);
    }
}

/* ---- The role manager (leader only, one change at a time) ---- */

static void change_done(struct raft_change *req, int status);
static void join_added(struct repl_change *c, int status);

static void start_change(struct repl *r, int rv, const char *what, uint64_t id)
{
    if (rv != 0) {
        LOG_WARN("members", "%s node %llu: %s", what, (unsigned long long)id, raft_strerror(rv));
        return;
    }
    LOG_INFO("members", "%s node %llu", what, (unsigned long long)id);
    r->change_in_flight = true;
}

static void change_done(struct raft_change *req, int status)
{
    struct repl *r = req->data;
    struct repl_change *owner = r->change_owner;
    r->change_in_flight = false;
    r->change_owner = NULL;
    if (status != 0 && !r->stopping) {
        LOG_WARN("members", "membership change failed: %s", raft_strerror(status));
    }
    if (owner != NULL) {
        join_added(owner, status);
    }
    if (!r->stopping) {
        uv_timer_start(&r->tick, tick_cb, 0, REPL_TICK_MS); /* the next step at once */
    }
}

static bool is_removed(struct repl *r, uint64_t id)
{
    struct base_err err;
    NodeRecord *rec;
    bool removed = false;
    if (archive_get_node(r->archive, id, &rec, &err) == 0) {
        removed = rec->removed;
        archive_free_node(rec);
    }
    return removed;
}

static unsigned count_voters(struct repl *r, const char *zone)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    unsigned n = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        struct base_err err;
        NodeRecord *rec;
        bool same = zone == NULL;
        if (conf->servers[i].role != RAFT_VOTER) {
            continue;
        }
        if (!same && archive_get_node(r->archive, conf->servers[i].id, &rec, &err) == 0) {
            same = strcmp(rec->zone, zone) == 0;
            archive_free_node(rec);
        }
        n += same ? 1 : 0;
    }
    return n;
}

/* The standby to promote: it answers, its log is close to the leader's; the one in
 * the zone with the fewest voters, then the one furthest along. 0 when none. */
static uint64_t best_standby(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    uint64_t best = 0, best_match = 0, last = raft_last_index(&r->raft);
    unsigned best_zone_voters = UINT32_MAX;
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        struct peer *p = peer_find(r, s->id);
        raft_index match = 0;
        struct base_err err;
        NodeRecord *rec;
        unsigned zv;
        if (s->role != RAFT_STANDBY || p == NULL || !p->answered || !peer_up(r, p) ||
            raft_match_index(&r->raft, s->id, &match) != 0 || match + REPL_PROMOTE_LAG_MAX < last ||
            archive_get_node(r->archive, s->id, &rec, &err) != 0) {
            continue;
        }
        if (rec->removed) {
            archive_free_node(rec);
            continue;
        }
        zv = count_voters(r, rec->zone);
        archive_free_node(rec);
        if (zv < best_zone_voters || (zv == best_zone_voters && match > best_match)) {
            best = s->id;
            best_match = match;
            best_zone_voters = zv;
        }
    }
    return best;
}

static bool assign(struct repl *r, uint64_t id, int role, const char *what)
{
    memset(&r->change, 0, sizeof r->change);
    r->change.data = r;
    start_change(r, raft_assign(&r->raft, &r->change, id, role, change_done), what, id);
    return true;
}

/* Whether a removed member has applied its removal: once out of the configuration it
 * hears nothing more, and it must know to refuse requests. The leader waits for it to
 * say so, at most failover_after_ms while it answers, and down_after_ms while it does
 * not (it may be restarting; a dead node is not waited for longer). */
static bool removal_known(struct repl *r, uint64_t id)
{
    struct peer *p = peer_find(r, id);
    uint64_t now = uv_now(r->loop);
    if (id == r->id || p == NULL || p->removed_seen) {
        return true;
    }
    if (p->removal_since_ms == 0) {
        p->removal_since_ms = now;
    }
    return now - p->removal_since_ms > (peer_up(r, p) ? r->failover_after_ms : r->down_after_ms);
}

/* Members marked removed leave the configuration (the leader too: it steps down once
 * the change commits and the others elect a new one). */
static bool step_remove(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    for (unsigned i = 0; i < conf->n; i++) {
        uint64_t id = conf->servers[i].id;
        if (is_removed(r, id) && removal_known(r, id)) {
            memset(&r->change, 0, sizeof r->change);
            r->change.data = r;
            start_change(r, raft_remove(&r->raft, &r->change, id, change_done),
                         "removing from the raft configuration", id);
            return true;
        }
    }
    return false;
}

/* Spares only exist between a join and this step: every member keeps the metadata. */
static bool step_spares(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].role == RAFT_SPARE) {
            return assign(r, conf->servers[i].id, RAFT_STANDBY, "making standby");
        }
    }
    return false;
}

/* A voter silent for failover_after_ms is demoted to standby when a healthy standby
 * can take its place (the next step promotes it). Demoted, not removed: it catches up
 * when it returns. */
static bool step_failover(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    if (count_voters(r, NULL) < r->voters) {
        return false;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        struct peer *p = peer_find(r, s->id);
        if (s->role == RAFT_VOTER && p != NULL &&
            uv_now(r->loop) - p->last_ok_ms > r->failover_after_ms && best_standby(r) != 0) {
            LOG_WARN("members", "voter %llu has not answered for %llu ms: replacing it by a "
                                "standby", (unsigned long long)s->id,
                     (unsigned long long)(uv_now(r->loop) - p->last_ok_ms));
            return assign(r, s->id, RAFT_STANDBY, "demoting to standby");
        }
    }
    return false;
}

static bool step_promote(struct repl *r)
{
    uint64_t id;
    if (count_voters(r, NULL) >= r->voters || (id = best_standby(r)) == 0) {
        return false;
    }
    return assign(r, id, RAFT_VOTER, "promoting to voter");
}

static void reconcile(struct repl *r)
{
    if (r->stopping || !repl_is_leader(r) || r->change_in_flight ||
        r->raft.configuration_uncommitted_index != 0 || raft_transferee(&r->raft) != 0) {
        return;
    }
    (void)(step_remove(r) || step_spares(r) || step_failover(r) || step_promote(r));
}

/* ---- The leader's storage states: out after the repair delay, active when back ---- */

static void storage_set(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->storage_in_flight = false;
    if (status != 0 || res->status != ARCHIVE_OK) {
        LOG_WARN("members", "changing a node's storage state failed: %s",
                 status != 0 ? base_strerror(status) : res->message);
    }
}

static void propose_storage(struct repl *r, uint64_t id, const char *state, uint64_t silent_ms)
{
    Command cmd = COMMAND__INIT;
    SetNodeStorage sns = SET_NODE_STORAGE__INIT;
    repl_stamp_node_command(&cmd, "node-storage");
    sns.id = id;
    sns.storage = (char *)state;
    cmd.body_case = COMMAND__BODY_SET_NODE_STORAGE;
    cmd.set_node_storage = &sns;
    r->storage_prop.data = r;
    if (repl_propose_local(r, &r->storage_prop, &cmd, storage_set) == 0) {
        r->storage_in_flight = true;
        if (strcmp(state, ARCHIVE_STORAGE_OUT) == 0) {
            LOG_WARN("members", "node %llu has not answered for %llu s: marking it out; its "
                     "copies are made again on other nodes", (unsigned long long)id,
                     (unsigned long long)(silent_ms / 1000));
        } else {
            LOG_INFO("members", "node %llu answers again: its storage is active",
                     (unsigned long long)id);
        }
    }
}

/* A member silent for the repair delay is marked out (a draining one too), so that
 * its copies stop counting and are made again elsewhere; one that answers again is
 * active again (drain it again if it was being drained). */
/* Registered, not removed, not out, and not in the configuration: a node lost with a
 * quorum (after --recover), whose copies must stop counting. */
struct stray {
    struct repl *repl;
    uint64_t found;
};

static void stray_node(const NodeRecord *n, void *arg)
{
    struct stray *s = arg;
    if (s->found == 0 && !n->removed && strcmp(n->storage, ARCHIVE_STORAGE_OUT) != 0 &&
        n->id != 0 && repl_role_of(s->repl, n->id) < 0) {
        s->found = n->id;
    }
}

static void step_storage(struct repl *r)
{
    uint64_t now = uv_now(r->loop);
    struct stray stray = {.repl = r};
    struct base_err list_err;
    if (r->storage_in_flight || r->stopping) {
        return;
    }
    if (archive_list_nodes(r->archive, stray_node, &stray, &list_err) == 0 &&
        stray.found != 0) {
        LOG_WARN("members", "node %llu is registered but not in the raft configuration",
                 (unsigned long long)stray.found);
        propose_storage(r, stray.found, ARCHIVE_STORAGE_OUT, 0);
        return;
    }
    for (struct peer *p = r->peers; p != NULL; p = p->next) {
        NodeRecord *rec;
        struct base_err err;
        uint64_t silent = now - p->last_ok_ms;
        const char *want = NULL;
        if (archive_get_node(r->archive, p->id, &rec, &err) != 0) {
            continue;
        }
        if (!rec->removed && strcmp(rec->storage, ARCHIVE_STORAGE_OUT) != 0 &&
            silent > r->repair_after_ms) {
            /* A draining node that dies is out too: its copies must not count. */
            want = ARCHIVE_STORAGE_OUT;
        } else if (!rec->removed && strcmp(rec->storage, ARCHIVE_STORAGE_OUT) == 0 &&
                   p->answered && peer_up(r, p)) {
            want = ARCHIVE_STORAGE_ACTIVE;
        }
        archive_free_node(rec);
        if (want != NULL) {
            propose_storage(r, p->id, want, silent);
            return;
        }
    }
}

/* ---- Every node: membership, its own record, joining ---- */

static void registered(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->register_in_flight = false;
    if (status == 0 && res->status == ARCHIVE_OK) {
        LOG_INFO("members", "registered this node: http=%s raft=%s zone=%s", r->http_address,
                 r->raft_address, r->zone);
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
    bool current = rv == 0 && strcmp(rec->http, r->http_address) == 0 &&
                   strcmp(rec->raft, r->raft_address) == 0 && strcmp(rec->zone, r->zone) == 0;
    if (rv == 0 && rec->removed && !r->removed) {
        r->removed = true;
        LOG_ERROR("members", "this node (%llu) was removed from the cluster: it refuses "
                             "requests now; to bring it back, stop it, empty its data dir "
                             "and start it with --join", (unsigned long long)r->id);
    }
    archive_free_node(rec);
    if (current || r->removed || r->register_in_flight || r->http_address[0] == '\0' ||
        !archive_cluster_initialized(r->archive) || r->last_leader == 0) {
        return;
    }
    memset(&c, 0, sizeof c);
    c.id = r->id;
    snprintf(c.http, sizeof c.http, "%s", r->http_address);
    snprintf(c.raft, sizeof c.raft, "%s", r->raft_address);
    snprintf(c.zone, sizeof c.zone, "%s", r->zone);
    r->register_prop.data = r;
    if (propose_register(r, &r->register_prop, &c, false, registered) == 0) {
        r->register_in_flight = true;
    }
}

static void joined(struct peer_call *call)
{
    struct repl *r = call->repl;
    ChangeResult *res = NULL;
    char why[400] = "";
    r->join_call = NULL;
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
                 r->join, res->added ? "added" : "a member already", res->role);
        r->join_accepted_ms = uv_now(r->loop);
        r->join_backoff_ms = REPL_JOIN_BACKOFF_MIN_MS;
    } else if (!r->stopping) {
        LOG_WARN("members", "join through %s failed: %s; trying again in %llu ms", r->join, why,
                 (unsigned long long)r->join_backoff_ms);
        r->join_next_ms = uv_now(r->loop) + r->join_backoff_ms;
        r->join_backoff_ms = r->join_backoff_ms * 2 < REPL_JOIN_BACKOFF_MAX_MS
                                 ? r->join_backoff_ms * 2
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
    if (r->member || r->join[0] == '\0' || r->join_call != NULL || now < r->join_next_ms ||
        (r->join_accepted_ms != 0 && now - r->join_accepted_ms < JOIN_ACCEPTED_QUIET_MS)) {
        return;
    }
    jr.id = r->id;
    jr.http = r->http_address;
    jr.raft = r->raft_address;
    jr.zone = r->zone;
    len = join_request__get_packed_size(&jr);
    body = xmalloc(len > 0 ? len : 1);
    join_request__pack(&jr, body);
    r->join_call = peer_call_start(r, "POST", r->join, "/internal/v1/join", body, len,
                                   REPL_FORWARD_TIMEOUT_MS, joined, NULL);
}

static void check_member(struct repl *r)
{
    if (r->member || repl_role_of(r, r->id) < 0) {
        return;
    }
    r->member = true;
    if (r->joining_marker != NULL && unlink(r->joining_marker) == 0) {
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
    if (r->member) {
        register_self(r);
    }
    if (repl_is_leader(r)) {
        poll_peers(r);
        reconcile(r);
        step_storage(r);
    }
}

void repl_members_init(struct repl *r)
{
    r->join_backoff_ms = REPL_JOIN_BACKOFF_MIN_MS;
    uv_timer_init(r->loop, &r->tick);
    r->tick.data = r;
    uv_timer_start(&r->tick, tick_cb, 0, REPL_TICK_MS);
}

void repl_members_leadership(struct repl *r, bool leader)
{
    /* A new leader starts with a fresh view: everyone gets the grace period. */
    while (r->peers != NULL) {
        peer_drop(r, r->peers);
    }
    if (leader) {
        uv_timer_start(&r->tick, tick_cb, 0, REPL_TICK_MS);
    }
}

static void tick_closed(uv_handle_t *h)
{
    repl_closed_one(h->data);
}

void repl_members_stop(struct repl *r)
{
    while (r->peers != NULL) {
        peer_drop(r, r->peers); /* polls in flight end with the HTTP client */
    }
    uv_close((uv_handle_t *)&r->tick, tick_closed);
}

/* ---- This node's status ---- */

/* The leader's verdicts: every member of its configuration, with its role and whether
 * it answers (itself included). */
static void fill_peers(struct repl *r, NodeStatus *st, PeerHealth **list, PeerHealth *items)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    size_t n = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        struct peer *p = peer_find(r, conf->servers[i].id);
        peer_health__init(&items[n]);
        items[n].id = conf->servers[i].id;
        items[n].role = (char *)repl_role_name(conf->servers[i].role);
        items[n].down = p != NULL && !peer_up(r, p);
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
    st.http = r->http_address;
    st.raft = r->raft_address;
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
    st.draining = r->draining;
    st.disk_full = r->disk_full;
    st.removed = r->removed;
    st.leader_changes = rs.leader_changes;
    if (repl_is_leader(r)) {
        fill_peers(r, &st, list, items);
    }
    r->fs_in_flight--;
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
    rv = uv_fs_statfs(r->loop, &s->fs, r->data_dir, statfs_done);
    ASSERT(rv == 0); /* fails only for invalid arguments */
    r->fs_in_flight++;
}

/* ---- The cluster view ---- */

struct view_call {
    struct repl_view *v;
    size_t i;
};

static const struct repl_verdict *verdict(const struct repl_view *v, uint64_t id)
{
    for (size_t k = 0; k < v->n_verdicts; k++) {
        if (v->verdicts[k].id == id) {
            return &v->verdicts[k];
        }
    }
    return NULL;
}

static void view_finish(struct repl_view *v)
{
    for (size_t i = 0; i < v->n; i++) {
        struct repl_member *m = &v->members[i];
        const struct repl_verdict *vd = verdict(v, m->id);
        if (vd != NULL && vd->role[0] != '\0') {
            m->role = vd->role;
        }
        if (!m->answered || (vd != NULL && vd->down)) {
            m->health = "down";
        } else if (m->health == NULL) {
            m->health = "ok";
        }
    }
    v->cb(v);
}

/* A role name from the wire as one of ours (static strings). */
static const char *role_of_name(const char *name)
{
    static const int roles[] = {RAFT_VOTER, RAFT_STANDBY, RAFT_SPARE};
    for (size_t i = 0; i < ARRAY_SIZE(roles); i++) {
        if (strcmp(name, repl_role_name(roles[i])) == 0) {
            return repl_role_name(roles[i]);
        }
    }
    return "";
}

/* Takes one member's answer (@st NULL: none) into the view. */
static void view_take(struct repl_view *v, size_t i, const NodeStatus *st)
{
    if (i < v->n && st != NULL && st->id == v->members[i].id) {
        struct repl_member *m = &v->members[i];
        m->answered = true;
        m->applied_index = st->applied_index;
        m->blob_bytes = st->blob_bytes;
        m->blob_count = st->blob_count;
        m->free_bytes = st->free_bytes;
        m->disk_full = st->disk_full;
        m->health = st->draining ? "draining" : NULL;
    }
    if (st != NULL && st->id == v->leader_id && st->id != 0 && !v->have_leader_view) {
        v->have_leader_view = true;
        v->verdicts = xcalloc(st->n_peers + 1, sizeof *v->verdicts);
        for (size_t k = 0; k < st->n_peers; k++) {
            v->verdicts[k].id = st->peers[k]->id;
            v->verdicts[k].down = st->peers[k]->down;
            v->verdicts[k].role = role_of_name(st->peers[k]->role);
        }
        v->n_verdicts = st->n_peers;
    }
    if (--v->pending == 0) {
        view_finish(v);
    }
}

static void view_polled(struct peer_call *c)
{
    struct view_call *vc = c->data;
    NodeStatus *st = NULL;
    if (c->req.status == 200 && !c->req.truncated) {
        st = node_status__unpack(NULL, c->req.response_len, (const uint8_t *)c->req.response);
    }
    peer_call_free(c);
    view_take(vc->v, vc->i, st);
    node_status__free_unpacked(st, NULL);
}

static void view_self(struct repl_self *s, const NodeStatus *st)
{
    struct repl_view *v = s->data;
    size_t i = 0;
    while (i < v->n && v->members[i].id != st->id) {
        i++;
    }
    view_take(v, i, st);
}

static void view_member(struct repl *r, struct repl_member *m, const struct raft_server *s)
{
    struct base_err err;
    NodeRecord *rec;
    m->id = s->id;
    m->role = repl_role_name(s->role);
    snprintf(m->raft, sizeof m->raft, "%s", s->address);
    if (archive_get_node(r->archive, s->id, &rec, &err) == 0) {
        snprintf(m->http, sizeof m->http, "%s", rec->http);
        snprintf(m->zone, sizeof m->zone, "%s", rec->zone);
        archive_free_node(rec);
    }
}

void repl_view_cluster(struct repl *r, struct repl_view *v, repl_view_cb cb)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    raft_id leader = 0;
    const char *addr;
    raft_leader(&r->raft, &leader, &addr);
    v->repl = r;
    v->cb = cb;
    v->leader_id = leader;
    v->n = conf->n;
    v->members = xcalloc(conf->n + 1, sizeof *v->members);
    v->calls = xcalloc(conf->n + 1, sizeof *v->calls);
    v->have_leader_view = false;
    v->verdicts = NULL;
    v->n_verdicts = 0;
    v->pending = 1; /* this node's own status: always asked, so the callback is never
                       called from here even for a node that is not a member yet */
    for (size_t i = 0; i < conf->n; i++) {
        view_member(r, &v->members[i], &conf->servers[i]);
        if (conf->servers[i].id != r->id && v->members[i].http[0] != '\0') {
            v->calls[i].v = v;
            v->calls[i].i = i;
            v->pending++;
            peer_call_start(r, "GET", v->members[i].http, "/internal/v1/status", NULL, 0,
                            VIEW_POLL_TIMEOUT_MS, view_polled, &v->calls[i]);
        }
    }
    v->self.data = v;
    repl_local_status(r, &v->self, view_self);
}

void repl_view_free(struct repl_view *v)
{
    free(v->members);
    free(v->calls);
    free(v->verdicts);
    v->members = NULL;
    v->calls = NULL;
    v->verdicts = NULL;
}

/* ---- Join and removal requests ---- */

static void finish(struct repl_change *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish(struct repl_change *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    c->cb(c, status);
}

static void finished_soon(struct repl_wait *w, int status)
{
    struct repl_change *c = w->data;
    c->cb(c, status == BASE_ESHUTDOWN ? BASE_ESHUTDOWN : c->status);
}

/* Ends @c with @status from the next loop iteration: callbacks never run inside the
 * call that started the request. */
static void finish_soon(struct repl_change *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void finish_soon_as_is(struct repl_change *c, int status)
{
    c->status = status;
    c->wait.data = c;
    repl_wait_applied(c->repl, &c->wait, 0, 0, finished_soon);
}

static void finish_soon(struct repl_change *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->message, sizeof c->message, fmt, ap);
    va_end(ap);
    c->status = status;
    c->wait.data = c;
    repl_wait_applied(c->repl, &c->wait, 0, 0, finished_soon);
}

static int propose_failure(int status)
{
    return status == BASE_ESHUTDOWN ? BASE_ESHUTDOWN : BASE_ERETRY;
}

static void join_added(struct repl_change *c, int status)
{
    struct repl *r = c->repl;
    if (status != 0) {
        finish(c, r->stopping ? BASE_ESHUTDOWN : BASE_ERETRY,
               "adding node %llu to the raft configuration: %s", (unsigned long long)c->id,
               raft_strerror(status));
        return;
    }
    c->added = true;
    snprintf(c->role, sizeof c->role, "%s", repl_role_name(repl_role_of(r, c->id)));
    LOG_INFO("members", "node %llu joined: http=%s raft=%s zone=%s",
             (unsigned long long)c->id, c->http, c->raft, c->zone);
    finish(c, 0, "added");
}

static void join_registered(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl_change *c = p->data;
    struct repl *r = c->repl;
    int rv;
    if (status != 0) {
        finish(c, propose_failure(status), "registering node %llu: %s",
               (unsigned long long)c->id, base_strerror(status));
        return;
    }
    if (res->status != ARCHIVE_OK) {
        finish(c, BASE_ECONFLICT, "%s", res->message);
        return;
    }
    if (repl_role_of(r, c->id) >= 0) {
        snprintf(c->role, sizeof c->role, "%s", repl_role_name(repl_role_of(r, c->id)));
        finish(c, 0, "a member already");
        return;
    }
    if (r->change_in_flight || r->raft.configuration_uncommitted_index != 0) {
        finish(c, BASE_ERETRY, "another membership change is in progress; retry");
        return;
    }
    memset(&r->change, 0, sizeof r->change);
    r->change.data = r;
    rv = raft_add(&r->raft, &r->change, c->id, c->raft, change_done);
    if (rv != 0) {
        finish(c, BASE_ERETRY, "raft_add: %s", raft_strerror(rv));
        return;
    }
    r->change_in_flight = true;
    r->change_owner = c;
}

/* Why @c cannot join (into c->message), or 0. */
static int join_refusal(struct repl *r, struct repl_change *c)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    struct base_err err;
    NodeRecord *rec;
    bool removed = false;
    if (archive_get_node(r->archive, c->id, &rec, &err) == 0) {
        removed = rec->removed;
        archive_free_node(rec);
    }
    if (removed) {
        snprintf(c->message, sizeof c->message, "node %llu was removed from the cluster; a "
                 "node joins again only with an empty data dir (a new id)",
                 (unsigned long long)c->id);
        return BASE_ECONFLICT;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        if (conf->servers[i].id != c->id && strcmp(conf->servers[i].address, c->raft) == 0) {
            snprintf(c->message, sizeof c->message, "raft address %s belongs to member %llu; "
                     "remove it first (imgarc cluster remove %llu)", c->raft,
                     (unsigned long long)conf->servers[i].id,
                     (unsigned long long)conf->servers[i].id);
            return BASE_ECONFLICT;
        }
    }
    if (r->change_in_flight || r->raft.configuration_uncommitted_index != 0) {
        snprintf(c->message, sizeof c->message,
                 "another membership change is in progress; retry");
        return BASE_ERETRY;
    }
    return 0;
}

static void join_local(struct repl *r, struct repl_change *c)
{
    int role = repl_role_of(r, c->id);
    int rv;
    if (!repl_is_leader(r)) {
        finish_soon(c, BASE_ENOTLEADER, "this node is not the leader");
        return;
    }
    if (role >= 0) {
        snprintf(c->role, sizeof c->role, "%s", repl_role_name(role));
        finish_soon(c, 0, "a member already");
        return;
    }
    if ((rv = join_refusal(r, c)) != 0) {
        finish_soon_as_is(c, rv); /* join_refusal() wrote the message */
        return;
    }
    c->prop.data = c;
    rv = propose_register(r, &c->prop, c, true, join_registered);
    if (rv != 0) {
        finish_soon(c, propose_failure(rv), "registering node %llu: %s",
                    (unsigned long long)c->id, base_strerror(rv));
    }
}

static bool valid_error(int e)
{
    return e == 0 || e == BASE_EINVAL || e == BASE_ENOTFOUND || e == BASE_ECONFLICT ||
           e == BASE_ERETRY || e == BASE_ESHUTDOWN;
}

static void change_forwarded(struct peer_call *call)
{
    struct repl_change *c = call->data;
    struct repl *r = c->repl;
    ChangeResult *res = NULL;
    char why[400];
    c->call = NULL;
    if (call->req.status == 200 && !call->req.truncated) {
        res = change_result__unpack(NULL, call->req.response_len,
                                    (const uint8_t *)call->req.response);
    }
    peer_call_describe(call, why, sizeof why);
    peer_call_free(call);
    if (res == NULL) {
        finish(c, r->stopping ? BASE_ESHUTDOWN : BASE_ERETRY, "the leader did not answer: %s",
               why);
        return;
    }
    c->added = res->added;
    snprintf(c->role, sizeof c->role, "%s", res->role);
    finish(c, valid_error(res->error) ? res->error : BASE_ERETRY, "%s", res->message);
    change_result__free_unpacked(res, NULL);
}

/* Passes @c on to the leader's @target with @msg as the body. */
static void change_forward(struct repl *r, struct repl_change *c, const char *target,
                           const ProtobufCMessage *msg)
{
    char http[ARCHIVE_ADDRESS_MAX + 1];
    uint64_t leader;
    size_t len;
    void *body;
    if (r->auth == NULL || !repl_leader_http(r, &leader, http, sizeof http) ||
        leader == r->id) {
        finish_soon(c, BASE_ERETRY, "no leader is known now; retry shortly");
        return;
    }
    len = protobuf_c_message_get_packed_size(msg);
    body = xmalloc(len > 0 ? len : 1);
    protobuf_c_message_pack(msg, body);
    c->call = peer_call_start(r, "POST", http, target, body, len, REPL_FORWARD_TIMEOUT_MS,
                              change_forwarded, c);
}

static void change_init(struct repl *r, struct repl_change *c, repl_change_cb cb)
{
    c->repl = r;
    c->cb = cb;
    c->added = false;
    c->role[0] = '\0';
    c->message[0] = '\0';
    c->call = NULL;
}

void repl_join(struct repl *r, struct repl_change *c, bool local, repl_change_cb cb)
{
    JoinRequest jr = JOIN_REQUEST__INIT;
    change_init(r, c, cb);
    if (c->id == 0 || !archive_valid_address(c->http) || !archive_valid_address(c->raft) ||
        !archive_valid_zone(c->zone)) {
        finish_soon(c, BASE_EINVAL, "a join names the node's id, its http HOST:PORT, its raft "
                                    "IPv4:PORT and its zone");
        return;
    }
    if (repl_is_leader(r) || local) {
        join_local(r, c);
        return;
    }
    jr.id = c->id;
    jr.http = c->http;
    jr.raft = c->raft;
    jr.zone = c->zone;
    change_forward(r, c, "/internal/v1/join?forwarded=1", &jr.base);
}

static void address_answered(struct peer_call *call)
{
    struct repl_change *c = call->data;
    struct repl *r = c->repl;
    NodeStatus *st = NULL;
    char why[400];
    c->call = NULL;
    if (call->req.status == 200 && !call->req.truncated) {
        st = node_status__unpack(NULL, call->req.response_len,
                                 (const uint8_t *)call->req.response);
    }
    peer_call_describe(call, why, sizeof why);
    peer_call_free(call);
    if (st == NULL) {
        finish(c, r->stopping ? BASE_ESHUTDOWN : BASE_ERETRY,
               "cannot ask the node at %s who it is: %s", c->http, why);
        return;
    }
    if (st->role[0] != '\0' && repl_role_of(r, st->id) < 0) {
        finish(c, BASE_ECONFLICT, "the node at %s (id %llu) is a member of another cluster; a "
               "node joins only from an empty data dir, started with --join", c->http,
               (unsigned long long)st->id);
    } else {
        repl_change_cb cb = c->cb;
        c->id = st->id;
        snprintf(c->raft, sizeof c->raft, "%s", st->raft);
        snprintf(c->zone, sizeof c->zone, "%s", st->zone);
        repl_join(r, c, false, cb);
    }
    node_status__free_unpacked(st, NULL);
}

void repl_join_address(struct repl *r, struct repl_change *c, const char *http,
                       repl_change_cb cb)
{
    change_init(r, c, cb);
    snprintf(c->http, sizeof c->http, "%s", http);
    if (!archive_valid_address(http)) {
        finish_soon(c, BASE_EINVAL, "the node's address must be its HTTP HOST:PORT");
        return;
    }
    if (r->auth == NULL) {
        finish_soon(c, BASE_ECONFLICT, "this node has no cluster secret "
                                       "(--cluster-secret-file): it cannot add nodes");
        return;
    }
    c->call = peer_call_start(r, "GET", http, "/internal/v1/status", NULL, 0,
                              REPL_POLL_TIMEOUT_MS, address_answered, c);
}

static void removal_applied(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl_change *c = p->data;
    struct repl *r = c->repl;
    if (status != 0) {
        finish(c, propose_failure(status), "marking node %llu removed: %s",
               (unsigned long long)c->id, base_strerror(status));
        return;
    }
    if (res->status != ARCHIVE_OK) {
        finish(c, BASE_ECONFLICT, "%s", res->message);
        return;
    }
    LOG_INFO("members", "node %llu marked removed", (unsigned long long)c->id);
    if (!r->stopping) {
        uv_timer_start(&r->tick, tick_cb, 0, REPL_TICK_MS); /* out of raft at once */
    }
    finish(c, 0, "removed");
}

static bool has_record(struct repl *r, uint64_t id)
{
    struct base_err err;
    NodeRecord *rec;
    if (archive_get_node(r->archive, id, &rec, &err) != 0) {
        return false;
    }
    archive_free_node(rec);
    return true;
}

static void remove_local(struct repl *r, struct repl_change *c)
{
    Command cmd = COMMAND__INIT;
    RemoveNode rn = REMOVE_NODE__INIT;
    int role = repl_role_of(r, c->id);
    int rv;
    if (!repl_is_leader(r)) {
        finish_soon(c, BASE_ENOTLEADER, "this node is not the leader");
        return;
    }
    if (is_removed(r, c->id) || (role < 0 && !has_record(r, c->id))) {
        finish_soon(c, BASE_ENOTFOUND, "node %llu is not a member of the cluster",
                    (unsigned long long)c->id);
        return;
    }
    /* A registered node outside the configuration (lost with a quorum, see --recover)
     * is only marked removed: there is no raft role to take away. */
    if (role == RAFT_VOTER && count_voters(r, NULL) == 1) {
        finish_soon(c, BASE_ECONFLICT, "node %llu is the only voter: add another node "
                    "first", (unsigned long long)c->id);
        return;
    }
    repl_stamp_node_command(&cmd, "remove-node");
    rn.id = c->id;
    cmd.body_case = COMMAND__BODY_REMOVE_NODE;
    cmd.remove_node = &rn;
    c->prop.data = c;
    if ((rv = repl_propose_local(r, &c->prop, &cmd, removal_applied)) != 0) {
        finish_soon(c, propose_failure(rv), "marking node %llu removed: %s",
                    (unsigned long long)c->id, base_strerror(rv));
    }
}

void repl_remove(struct repl *r, struct repl_change *c, bool local, repl_change_cb cb)
{
    RemoveRequest rr = REMOVE_REQUEST__INIT;
    change_init(r, c, cb);
    if (c->id == 0) {
        finish_soon(c, BASE_EINVAL, "a removal names the node's id");
        return;
    }
    if (repl_is_leader(r) || local) {
        remove_local(r, c);
        return;
    }
    rr.id = c->id;
    change_forward(r, c, "/internal/v1/remove", &rr.base);
}
