/* Join and removal requests: checked and proposed on the leader, forwarded to it from
 * any other node, or, for a join by address, preceded by asking the node who it is.
 * See membership.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/members_int.h"
#include "replication/peer.h"

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
    if (r->roles.change_in_flight || r->raft.configuration_uncommitted_index != 0) {
        finish(c, BASE_ERETRY, "another membership change is in progress; retry");
        return;
    }
    rv = repl_members_add(r, c, join_added);
    if (rv != 0) {
        finish(c, BASE_ERETRY, "raft_add: %s", raft_strerror(rv));
        return;
    }
}

/* Why @c cannot join (into c->message), or 0. */
static int join_refusal(struct repl *r, struct repl_change *c)
{
    const struct raft_configuration *conf = &r->raft.configuration;
    struct base_err err;
    NodeRecord *rec;
    bool removed = false;
    uint32_t level;
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
    if (c->feature_level < (level = archive_cluster_level(r->archive))) {
        /* It would refuse, as unknown, commands the others apply. */
        snprintf(c->message, sizeof c->message, "node %llu runs feature level %u and the "
                 "cluster is at level %u: it runs an older version (or a lower "
                 "--feature-level); upgrade it, then join it", (unsigned long long)c->id,
                 (unsigned)c->feature_level, (unsigned)level);
        return BASE_ECONFLICT;
    }
    if (r->roles.change_in_flight || r->raft.configuration_uncommitted_index != 0) {
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
    rv = repl_members_propose_register(r, &c->prop, c, true, join_registered);
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
    jr.feature_level = c->feature_level;
    change_forward(r, c, PEER_PATH_JOIN_FORWARDED, &jr.base);
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
        c->feature_level = st->feature_level;
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
    c->call = peer_call_start(r, "GET", http, PEER_PATH_STATUS, NULL, 0,
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
        repl_members_tick_now(r); /* out of raft at once */
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
    if (repl_members_is_removed(r, c->id) || (role < 0 && !has_record(r, c->id))) {
        finish_soon(c, BASE_ENOTFOUND, "node %llu is not a member of the cluster",
                    (unsigned long long)c->id);
        return;
    }
    /* A registered node outside the configuration (lost with a quorum, see --recover)
     * is only marked removed: there is no raft role to take away. */
    if (role == RAFT_VOTER && repl_members_count_voters(r, NULL) == 1) {
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
    change_forward(r, c, PEER_PATH_REMOVE, &rr.base);
}
