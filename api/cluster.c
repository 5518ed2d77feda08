/* Operator endpoints of the cluster: its members, joining and removing nodes, and a
 * digest of the replicated keyspace for comparing nodes.
 *
 *   GET    /api/v1/cluster             every member as the cluster sees it
 *   POST   /api/v1/cluster/join        {"http": "HOST:PORT"} adds the node running there
 *   DELETE /api/v1/cluster/nodes/{id}  removes a member
 *   GET    /api/v1/cluster/digest      {"applied_index", "digest"} of this node */
#include "api/api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/membership.h"

#define CLUSTER_BODY_MAX (16u << 10)

/* ---- GET /api/v1/cluster ---- */

struct view_call {
    struct api_call call;
    struct repl_view view;
};

static json_t *index_or_null(const struct repl_member *m, uint64_t v)
{
    return m->answered ? json_integer((json_int_t)v) : json_null();
}

static json_t *member_json(const struct repl_member *m)
{
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "id", (json_int_t)m->id,
                     "http", m->http, "raft", m->raft, "zone", m->zone, "role", m->role,
                     "health", m->health, "applied_index", index_or_null(m, m->applied_index),
                     "blob_bytes", index_or_null(m, m->blob_bytes), "free_bytes",
                     index_or_null(m, m->free_bytes));
}

static void viewed(struct repl_view *v)
{
    struct view_call *vc = v->data;
    json_t *nodes = json_array();
    for (size_t i = 0; i < v->n; i++) {
        json_array_append_new(nodes, member_json(&v->members[i]));
    }
    /* Blobs are kept by the node that received them until blob replication is built,
     * so no blob is counted as under-replicated yet (docs/replication.md). */
    api_respond_json(vc->call.api, vc->call.req, 200,
                     json_pack("{s:o, s:o, s:i}", "leader",
                               v->leader_id != 0 ? json_integer((json_int_t)v->leader_id)
                                                 : json_null(),
                               "nodes", nodes, "under_replicated", 0));
    repl_view_free(v);
    free(vc);
}

void api_handle_cluster(struct api_call *call)
{
    struct view_call *vc = xcalloc(1, sizeof *vc);
    vc->call = *call;
    vc->view.data = vc;
    repl_view_cluster(call->api->repl, &vc->view, viewed);
}

/* ---- join and remove ---- */

/* Answers a failed membership change. */
static void change_failed(struct api_call *call, int status, const char *message)
{
    switch (status) {
    case BASE_EINVAL:
        api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST, "%s", message);
        break;
    case BASE_ENOTFOUND:
        api_respond_error(call->api, call->req, 404, API_E_NODE_NOT_FOUND, "%s", message);
        break;
    case BASE_ECONFLICT:
        api_respond_error(call->api, call->req, 409, API_E_MEMBERSHIP_CONFLICT, "%s", message);
        break;
    case BASE_ESHUTDOWN:
        api_respond_propose_error(call->api, call->req, status);
        break;
    default:
        api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE, "%s; retry shortly",
                          message);
    }
}

static void joined(struct repl_change *c, int status)
{
    struct api_op *op = c->data;
    if (status != 0) {
        change_failed(&op->call, status, c->message);
    } else {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:I, s:s, s:b, s:s}", "id", (json_int_t)c->id, "http",
                                   c->http, "added", c->added, "role", c->role));
    }
    api_op_free(op);
}

static void join_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *http = json_string_value(json_object_get(root, "http"));
    struct repl_change *c;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if (http == NULL || !archive_valid_address(http)) {
        api_respond_error(op->call.api, req, 400, API_E_INVALID_FIELD,
                          "http must be the HOST:PORT of the HTTP API of a node started with "
                          "--join (and the same cluster secret)");
        api_op_free(op);
        return;
    }
    c = xcalloc(1, sizeof *c);
    op->data = c;
    c->data = op;
    repl_join_address(op->call.api->repl, c, http, joined);
}

void api_handle_cluster_join(struct api_call *call)
{
    api_op_start(call, CLUSTER_BODY_MAX, join_body);
}

struct remove_call {
    struct api_call call;
    struct repl_change change;
};

static void removed(struct repl_change *c, int status)
{
    struct remove_call *rc = c->data;
    if (status != 0) {
        change_failed(&rc->call, status, c->message);
    } else {
        api_respond_json(rc->call.api, rc->call.req, 200,
                         json_pack("{s:I, s:b}", "id", (json_int_t)c->id, "removed", 1));
    }
    free(rc);
}

void api_handle_cluster_remove(struct api_call *call)
{
    struct remove_call *rc;
    char *end;
    unsigned long long id;
    errno = 0;
    id = strtoull(call->param, &end, 10);
    if (call->param[0] < '1' || call->param[0] > '9' || *end != '\0' || errno != 0) {
        api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST,
                          "a node id is a positive integer (see GET /api/v1/cluster)");
        return;
    }
    rc = xcalloc(1, sizeof *rc);
    rc->call = *call;
    rc->change.data = rc;
    rc->change.id = id;
    repl_remove(call->api->repl, &rc->change, false, removed);
}

/* ---- GET /api/v1/cluster/digest ---- */

struct digest_call {
    struct api_call call;
    uv_work_t work;
    uint8_t digest[32];
    uint64_t index;
    int rv;
    struct base_err err;
};

static void digest_work(uv_work_t *w)
{
    struct digest_call *d = container_of(w, struct digest_call, work);
    d->rv = archive_digest(d->call.api->archive, d->digest, &d->index, &d->err);
}

static void digest_done(uv_work_t *w, int status)
{
    struct digest_call *d = container_of(w, struct digest_call, work);
    char hex[65];
    if (d->rv == BASE_ERETRY) {
        api_respond_error(d->call.api, d->call.req, 503, API_E_UNAVAILABLE, "%s", d->err.msg);
    } else if (d->rv != 0) {
        api_respond_error(d->call.api, d->call.req, 500, API_E_INTERNAL, "digest: %s",
                          d->err.msg);
    } else {
        hex_encode(d->digest, sizeof d->digest, hex);
        api_respond_json(d->call.api, d->call.req, 200,
                         json_pack("{s:I, s:s}", "applied_index", (json_int_t)d->index,
                                   "digest", hex));
    }
    free(d);
}

void api_handle_cluster_digest(struct api_call *call)
{
    struct digest_call *d = xcalloc(1, sizeof *d);
    d->call = *call;
    ASSERT(uv_queue_work(call->api->loop, &d->work, digest_work, digest_done) == 0);
}
