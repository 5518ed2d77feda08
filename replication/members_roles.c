/* Membership on the leader: the polls that say who is up, the role manager (spares to
 * standbys, standbys to voters, silent voters replaced, removed nodes out, one change at
 * a time) and the storage states (out after the repair delay, active when back). Runs
 * from the membership tick (members_self.c). See membership.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/members_int.h"
#include "replication/peer.h"

/* ---- The leader's polls: who is up ---- */

struct peer *repl_members_peer_find(struct repl *r, uint64_t id)
{
    for (struct peer *p = r->roles.peers; p != NULL; p = p->next) {
        if (p->id == id) {
            return p;
        }
    }
    return NULL;
}

bool repl_members_peer_up(struct repl *r, const struct peer *p)
{
    return uv_now(r->loop) - p->last_ok_ms <= r->conf.down_after_ms;
}

void repl_members_count(struct repl *r, unsigned *members, unsigned *down)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    *members = conf->n;
    *down = 0;
    for (unsigned i = 0; i < conf->n; i++) {
        struct peer *p = repl_members_peer_find(r, conf->servers[i].id);
        *down += p != NULL && !repl_members_peer_up(r, p);
    }
}

size_t repl_members_down(struct repl *r, uint64_t *ids, size_t max)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    size_t n = 0;
    if (!repl_is_leader(r)) {
        return 0;
    }
    for (unsigned i = 0; i < conf->n && n < max; i++) {
        struct peer *p = repl_members_peer_find(r, conf->servers[i].id);
        if (p != NULL && !repl_members_peer_up(r, p)) {
            ids[n++] = conf->servers[i].id;
        }
    }
    return n;
}

/* Forgets @p: at once, or when its poll in flight ends. */
static void peer_drop(struct repl *r, struct peer *p)
{
    struct peer **pp = &r->roles.peers;
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

void repl_members_forget_peers(struct repl *r)
{
    while (r->roles.peers != NULL) {
        peer_drop(r, r->roles.peers);
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
        p->feature_level = st->feature_level;
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
void repl_members_poll_peers(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    struct peer *p, *next;
    for (p = r->roles.peers; p != NULL; p = next) {
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
        if ((p = repl_members_peer_find(r, id)) == NULL) {
            p = xcalloc(1, sizeof *p);
            p->id = id;
            p->last_ok_ms = uv_now(r->loop); /* a grace period before it counts as down */
            p->next = r->roles.peers;
            r->roles.peers = p;
        }
        if (p->polling || archive_get_node(r->archive, id, &rec, &err) != 0) {
            continue;
        }
        if (rec->http[0] != '\0') {
            p->polling = true;
            p->call = peer_call_start(r, "GET", rec->http, PEER_PATH_STATUS, NULL, 0,
                                      REPL_POLL_TIMEOUT_MS, polled, p);
        }
        archive_free_node(rec);
    }
}

/* ---- The role manager (leader only, one change at a time) ---- */

static void start_change(struct repl *r, int rv, const char *what, uint64_t id)
{
    if (rv != 0) {
        LOG_WARN("members", "%s node %llu: %s", what, (unsigned long long)id, raft_strerror(rv));
        return;
    }
    LOG_INFO("members", "%s node %llu", what, (unsigned long long)id);
    ASSERT(!r->roles.change_in_flight); /* one change at a time */
    r->roles.change_in_flight = true;
}

static void change_done(struct raft_change *req, int status)
{
    struct repl *r = req->data;
    struct repl_change *owner = r->roles.change_owner;
    void (*added_cb)(struct repl_change *c, int status) = r->roles.change_owner_cb;
    ASSERT(r->roles.change_in_flight);
    r->roles.change_in_flight = false;
    r->roles.change_owner = NULL;
    r->roles.change_owner_cb = NULL;
    if (status != 0 && !r->stopping) {
        LOG_WARN("members", "membership change failed: %s", raft_strerror(status));
    }
    if (owner != NULL) {
        added_cb(owner, status);
    }
    if (!r->stopping) {
        repl_members_tick_now(r); /* the next step at once */
    }
}

bool repl_members_is_removed(struct repl *r, uint64_t id)
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

unsigned repl_members_count_voters(struct repl *r, const char *zone)
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
        struct peer *p = repl_members_peer_find(r, s->id);
        raft_index match = 0;
        struct base_err err;
        NodeRecord *rec;
        unsigned zv;
        if (s->role != RAFT_STANDBY || p == NULL || !p->answered || !repl_members_peer_up(r, p) ||
            raft_match_index(&r->raft, s->id, &match) != 0 || match + REPL_PROMOTE_LAG_MAX < last ||
            archive_get_node(r->archive, s->id, &rec, &err) != 0) {
            continue;
        }
        if (rec->removed) {
            archive_free_node(rec);
            continue;
        }
        zv = repl_members_count_voters(r, rec->zone);
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
    memset(&r->roles.change, 0, sizeof r->roles.change);
    r->roles.change.data = r;
    start_change(r, raft_assign(&r->raft, &r->roles.change, id, role, change_done), what,
                 id);
    return true;
}

int repl_members_add(struct repl *r, struct repl_change *c,
                     void (*added_cb)(struct repl_change *c, int status))
{
    int rv;
    ASSERT(!r->roles.change_in_flight && r->roles.change_owner == NULL);
    memset(&r->roles.change, 0, sizeof r->roles.change);
    r->roles.change.data = r;
    rv = raft_add(&r->raft, &r->roles.change, c->id, c->raft, change_done);
    if (rv != 0) {
        return rv;
    }
    r->roles.change_in_flight = true;
    r->roles.change_owner = c;
    r->roles.change_owner_cb = added_cb;
    return 0;
}

/* Whether a removed member has applied its removal: once out of the configuration it
 * hears nothing more, and it must know to refuse requests. The leader waits for it to
 * say so, at most failover_after_ms while it answers, and down_after_ms while it does
 * not (it may be restarting; a dead node is not waited for longer). */
static bool removal_known(struct repl *r, uint64_t id)
{
    struct peer *p = repl_members_peer_find(r, id);
    uint64_t now = uv_now(r->loop);
    if (id == r->id || p == NULL || p->removed_seen) {
        return true;
    }
    if (p->removal_since_ms == 0) {
        p->removal_since_ms = now;
    }
    return now - p->removal_since_ms >
           (repl_members_peer_up(r, p) ? r->conf.failover_after_ms : r->conf.down_after_ms);
}

/* Members marked removed leave the configuration (the leader too: it steps down once
 * the change commits and the others elect a new one). */
static bool step_remove(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    for (unsigned i = 0; i < conf->n; i++) {
        uint64_t id = conf->servers[i].id;
        if (repl_members_is_removed(r, id) && removal_known(r, id)) {
            memset(&r->roles.change, 0, sizeof r->roles.change);
            r->roles.change.data = r;
            start_change(r, raft_remove(&r->raft, &r->roles.change, id, change_done),
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
    if (repl_members_count_voters(r, NULL) < r->conf.voters) {
        return false;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        const struct raft_server *s = &conf->servers[i];
        struct peer *p = repl_members_peer_find(r, s->id);
        if (s->role == RAFT_VOTER && p != NULL &&
            uv_now(r->loop) - p->last_ok_ms > r->conf.failover_after_ms && best_standby(r) != 0) {
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
    if (repl_members_count_voters(r, NULL) >= r->conf.voters || (id = best_standby(r)) == 0) {
        return false;
    }
    return assign(r, id, RAFT_VOTER, "promoting to voter");
}

void repl_members_reconcile(struct repl *r)
{
    if (r->stopping || !repl_is_leader(r) || r->roles.change_in_flight ||
        r->raft.configuration_uncommitted_index != 0 || raft_transferee(&r->raft) != 0) {
        return;
    }
    (void)(step_remove(r) || step_spares(r) || step_failover(r) || step_promote(r));
}

/* ---- The feature level (docs/replication.md, "Upgrades") ---- */

static void level_set(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->roles.level_in_flight = false;
    if (status != 0 || res->status != ARCHIVE_OK) {
        LOG_WARN("members", "raising the cluster's feature level failed: %s",
                 status != 0 ? base_strerror(status) : res->message);
    }
}

/* Raises the cluster's level to the lowest every member reports, once each member of
 * the configuration has answered a poll (one that has not, or is down, may run an
 * older version: the level waits for it). */
void repl_members_raise_level(struct repl *r)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    uint32_t level = r->conf.feature_level, current;
    Command cmd = COMMAND__INIT;
    SetClusterLevel scl = SET_CLUSTER_LEVEL__INIT;
    if (r->roles.level_in_flight || r->stopping || !archive_cluster_initialized(r->archive)) {
        return;
    }
    current = archive_cluster_level(r->archive);
    if (level <= current) {
        return;
    }
    for (unsigned i = 0; i < conf->n; i++) {
        struct peer *p;
        if (conf->servers[i].id == r->id) {
            continue;
        }
        p = repl_members_peer_find(r, conf->servers[i].id);
        if (p == NULL || !p->answered || !repl_members_peer_up(r, p)) {
            return;
        }
        level = p->feature_level < level ? p->feature_level : level;
    }
    if (level <= current) {
        return;
    }
    repl_stamp_node_command(&cmd, "cluster-level");
    scl.level = level;
    cmd.body_case = COMMAND__BODY_SET_CLUSTER_LEVEL;
    cmd.set_cluster_level = &scl;
    r->roles.level_prop.data = r;
    if (repl_propose_local(r, &r->roles.level_prop, &cmd, level_set) == 0) {
        r->roles.level_in_flight = true;
        LOG_INFO("members", "every member runs feature level %u or later: raising the "
                 "cluster's level from %u", (unsigned)level, (unsigned)current);
    }
}

/* ---- The leader's storage states: out after the repair delay, active when back ---- */

static void storage_set(struct repl_propose *p, int status, const struct archive_result *res)
{
    struct repl *r = p->data;
    r->roles.storage_in_flight = false;
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
    r->roles.storage_prop.data = r;
    if (repl_propose_local(r, &r->roles.storage_prop, &cmd, storage_set) == 0) {
        r->roles.storage_in_flight = true;
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

void repl_members_step_storage(struct repl *r)
{
    uint64_t now = uv_now(r->loop);
    struct stray stray = {.repl = r};
    struct base_err list_err;
    if (r->roles.storage_in_flight || r->stopping) {
        return;
    }
    if (archive_list_nodes(r->archive, stray_node, &stray, &list_err) == 0 &&
        stray.found != 0) {
        LOG_WARN("members", "node %llu is registered but not in the raft configuration",
                 (unsigned long long)stray.found);
        propose_storage(r, stray.found, ARCHIVE_STORAGE_OUT, 0);
        return;
    }
    for (struct peer *p = r->roles.peers; p != NULL; p = p->next) {
        NodeRecord *rec;
        struct base_err err;
        uint64_t silent = now - p->last_ok_ms;
        const char *want = NULL;
        if (archive_get_node(r->archive, p->id, &rec, &err) != 0) {
            continue;
        }
        if (!rec->removed && strcmp(rec->storage, ARCHIVE_STORAGE_OUT) != 0 &&
            silent > r->conf.repair_after_ms) {
            /* A draining node that dies is out too: its copies must not count. */
            want = ARCHIVE_STORAGE_OUT;
        } else if (!rec->removed && strcmp(rec->storage, ARCHIVE_STORAGE_OUT) == 0 &&
                   p->answered && repl_members_peer_up(r, p)) {
            want = ARCHIVE_STORAGE_ACTIVE;
        }
        archive_free_node(rec);
        if (want != NULL) {
            propose_storage(r, p->id, want, silent);
            return;
        }
    }
}
