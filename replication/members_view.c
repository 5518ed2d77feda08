/* The cluster view (GET /api/v1/cluster): every member of the configuration with its
 * registry record and its own status, and the leader's verdict on who is down. See
 * membership.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/members_int.h"
#include "replication/peer.h"

#define VIEW_POLL_TIMEOUT_MS 1500

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
        m->feature_level = st->feature_level;
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
            peer_call_start(r, "GET", v->members[i].http, PEER_PATH_STATUS, NULL, 0,
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
