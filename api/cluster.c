/* Operator endpoints of the cluster: its members, joining and removing nodes, and a
 * digest of the replicated keyspace for comparing nodes.
 *
 *   GET    /api/v1/cluster             every member as the cluster sees it
 *   POST   /api/v1/cluster/join        {"http": "HOST:PORT"} adds the node running there
 *   DELETE /api/v1/cluster/nodes/{id}  removes a member
 *   POST   /api/v1/cluster/nodes/{id}/drain    moves its copies away (storage draining)
 *   DELETE /api/v1/cluster/nodes/{id}/drain    ends that (storage active again)
 *   PUT    /api/v1/cluster/nodes/{id}/weight   {"weight_pct": 1-1000} scales its
 *                                              capacity weight in placement
 *   GET    /api/v1/cluster/blobs/{hash}        where a blob's copies are and belong
 *   GET    /api/v1/cluster/digest      {"applied_index", "digest"} of this node */
#include "api/api_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "replication/repl.h"

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

/* How far the member's wall clock is from this node's, as learned from its signed
 * answers to node-to-node calls (replication/peer_clock.h): 0 for this node, null
 * when not known. */
static json_t *clock_offset(struct api *api, const struct repl_member *m)
{
    int64_t offset;
    if (m->id == api->config.node_id) {
        return json_integer(0);
    }
    if (api->config.auth != NULL &&
        peer_clock_get(api->config.auth->clock, m->http, &offset)) {
        return json_integer((json_int_t)offset);
    }
    return json_null();
}

/* The weight placement gives the member (placement.h), 0 when it has no record. */
static uint64_t member_weight(const struct placement *pl, uint64_t id)
{
    const struct placement_node *n = pl != NULL ? placement_node(pl, id) : NULL;
    return n != NULL ? n->weight : 0;
}

static json_t *member_json(struct api *api, const struct repl_member *m,
                           const struct placement *pl)
{
    struct base_err err;
    NodeRecord *rec = NULL;
    const char *storage = "active";
    const char *health = m->health;
    json_t *j;
    if (archive_get_node(api->archive, m->id, &rec, &err) == 0) {
        storage = archive_storage_name(rec->storage);
    }
    /* A drained node that answers is "draining"; down wins over it. */
    if (strcmp(storage, "draining") == 0 && strcmp(health, "ok") == 0) {
        health = "draining";
    }
    j = json_pack("{s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o}", "id",
                  api_node_id_json(m->id), "http", m->http, "raft", m->raft, "zone", m->zone, "role",
                  m->role, "health", health, "storage", storage, "applied_index",
                  index_or_null(m, m->applied_index), "blob_bytes",
                  index_or_null(m, m->blob_bytes), "blob_count", index_or_null(m, m->blob_count),
                  "free_bytes", index_or_null(m, m->free_bytes), "disk_full",
                  m->answered ? json_boolean(m->disk_full) : json_null());
    json_object_set_new(j, "clock_offset_ms", clock_offset(api, m));
    json_object_set_new(j, "feature_level",
                        m->answered ? json_integer((json_int_t)m->feature_level) : json_null());
    /* Placement's view (replicated): the capacity the node reported, the operator's
     * factor, the weight that results and whether it reported its disk full. */
    json_object_set_new(j, "capacity_bytes", rec != NULL && rec->capacity_bytes > 0
                                                 ? json_integer((json_int_t)rec->capacity_bytes)
                                                 : json_null());
    json_object_set_new(j, "weight_pct",
                        json_integer(rec != NULL ? (json_int_t)archive_node_weight_pct(rec)
                                                 : ARCHIVE_WEIGHT_PCT_DEFAULT));
    json_object_set_new(j, "weight", json_integer((json_int_t)member_weight(pl, m->id)));
    json_object_set_new(j, "placement_full", json_boolean(rec != NULL && rec->full));
    archive_free_node(rec);
    return j;
}

static void viewed(struct repl_view *v)
{
    struct view_call *vc = v->data;
    json_t *nodes = json_array();
    struct keeper_stats ks = {0};
    struct placement *pl = xmalloc(sizeof *pl);
    struct base_err err;
    if (placement_load(pl, vc->call.api->archive, vc->call.api->config.replicas,
                       vc->call.api->config.write_quorum, &err) != 0) {
        free(pl);
        pl = NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        json_array_append_new(nodes, member_json(vc->call.api, &v->members[i], pl));
    }
    free(pl);
    if (vc->call.api->config.keeper != NULL) {
        keeper_get_stats(vc->call.api->config.keeper, &ks);
    }
    /* This node's last pass over the blob records (every node counts the same
     * records; a pass runs within a second or so of a change). */
    api_respond_json(vc->call.api, vc->call.req, 200,
                     json_pack("{s:o, s:o, s:I, s:i}", "leader",
                               api_node_id_json(v->leader_id),
                               "nodes", nodes, "under_replicated",
                               (json_int_t)ks.under_replicated, "feature_level",
                               (int)archive_cluster_level(vc->call.api->archive)));
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
                         json_pack("{s:o, s:s, s:b, s:s}", "id", api_node_id_json(c->id), "http",
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
                         json_pack("{s:o, s:b}", "id", api_node_id_json(c->id), "removed", 1));
    }
    free(rc);
}

/* The node id of the path; answers 400 and returns 0 when it is not one. */
static uint64_t node_param(struct api_call *call)
{
    char *end;
    unsigned long long id;
    errno = 0;
    id = strtoull(call->param, &end, 10);
    if (call->param[0] < '1' || call->param[0] > '9' || *end != '\0' || errno != 0) {
        api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST,
                          "a node id is a positive integer (see GET /api/v1/cluster)");
        return 0;
    }
    return id;
}

void api_handle_cluster_remove(struct api_call *call)
{
    struct remove_call *rc;
    uint64_t id = node_param(call);
    if (id == 0) {
        return;
    }
    rc = xcalloc(1, sizeof *rc);
    rc->call = *call;
    rc->change.data = rc;
    rc->change.id = id;
    repl_remove(call->api->repl, &rc->change, false, removed);
}

/* ---- Drain ---- */

static void drain_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    const SetNodeStorage *sns = op->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:o, s:s, s:b, s:I}", "id", api_node_id_json(sns->id),
                                   "storage", archive_storage_name(sns->storage), "changed",
                                   !res->replayed, "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

static void set_storage(struct api_call *call, const char *state)
{
    Command cmd = COMMAND__INIT;
    SetNodeStorage *sns;
    struct api_op *op;
    uint64_t id = node_param(call);
    if (id == 0) {
        return;
    }
    op = api_op_new(call);
    sns = xmalloc(sizeof *sns);
    set_node_storage__init(sns);
    sns->id = id;
    sns->storage = (char *)state;
    op->data = sns;
    cmd.body_case = COMMAND__BODY_SET_NODE_STORAGE;
    cmd.set_node_storage = sns;
    api_op_propose(op, &cmd, ARCHIVE_DEFAULT_TENANT, drain_applied);
}

void api_handle_cluster_drain(struct api_call *call)
{
    set_storage(call, ARCHIVE_STORAGE_DRAINING);
}

void api_handle_cluster_undrain(struct api_call *call)
{
    set_storage(call, ARCHIVE_STORAGE_ACTIVE);
}

/* ---- Weight ---- */

static void weight_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    const SetNodeWeight *sw = op->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:o, s:i, s:b, s:I}", "id", api_node_id_json(sw->id),
                                   "weight_pct", (int)sw->weight_pct, "changed", !res->replayed,
                                   "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

static void weight_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    SetNodeWeight *sw = op->data;
    Command cmd = COMMAND__INIT;
    json_t *root = api_op_json(op, status);
    json_t *pct;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    pct = json_object_get(root, "weight_pct");
    if (!json_is_integer(pct) || json_integer_value(pct) < ARCHIVE_WEIGHT_PCT_MIN ||
        json_integer_value(pct) > ARCHIVE_WEIGHT_PCT_MAX) {
        api_op_bad(op, "weight_pct must be an integer from 1 to 1000: the percentage of "
                       "its capacity placement weighs the node by (100 is its capacity)");
        return;
    }
    sw->weight_pct = (uint32_t)json_integer_value(pct);
    cmd.body_case = COMMAND__BODY_SET_NODE_WEIGHT;
    cmd.set_node_weight = sw;
    api_op_propose(op, &cmd, ARCHIVE_DEFAULT_TENANT, weight_applied);
}

void api_handle_cluster_weight(struct api_call *call)
{
    struct api_op *op;
    SetNodeWeight *sw;
    uint64_t id = node_param(call);
    if (id == 0) {
        return;
    }
    op = api_op_new(call);
    sw = xmalloc(sizeof *sw);
    set_node_weight__init(sw);
    sw->id = id;
    op->data = sw;
    http_request_buffer_body(call->req, CLUSTER_BODY_MAX, weight_body);
}

/* ---- GET /api/v1/cluster/blobs/{hash} ---- */

static json_t *ids_json(const uint64_t *ids, size_t n, const struct placement *pl, bool live_only)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!live_only || placement_live(pl, ids[i])) {
            json_array_append_new(a, api_node_id_json(ids[i]));
        }
    }
    return a;
}

bool api_blob_named(struct api_call *call, uint8_t hash[BLOB_HASH_BYTES],
                    char hex[BLOB_HEX_BYTES], BlobRecord **rec)
{
    struct base_err err;
    if (strlen(call->param) != 2 * BLOB_HASH_BYTES ||
        !hex_decode(call->param, hash, BLOB_HASH_BYTES)) {
        api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST,
                          "a blob is named by the 64 hex digits of its hash (a file's \"blob\")");
        return false;
    }
    hex_encode(hash, BLOB_HASH_BYTES, hex);
    if (archive_get_blob(call->api->archive, hash, rec, &err) != 0) {
        api_respond_error(call->api, call->req, 404, API_E_BLOB_NOT_FOUND,
                          "no blob %s in the metadata (never stored, or purged)", hex);
        return false;
    }
    return true;
}

void api_handle_cluster_blob(struct api_call *call)
{
    struct api *api = call->api;
    struct placement *pl;
    struct base_err err;
    BlobRecord *rec;
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t ranked[PLACEMENT_MAX_NODES];
    char hex[BLOB_HEX_BYTES];
    size_t n;
    if (!api_blob_named(call, hash, hex, &rec)) {
        return;
    }
    pl = xmalloc(sizeof *pl);
    if (placement_load(pl, api->archive, api->config.replicas, api->config.write_quorum,
                       &err) != 0) {
        api_respond_error(api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
    } else {
        /* As the keeper ranks it: a full node keeps its place where it holds a copy. */
        n = placement_rank_held(pl, hash, rec->holders, rec->n_holders, ranked,
                                placement_replicas(pl));
        api_respond_json(api, call->req, 200,
                         json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:i}", "blob", hex,
                                   "size", (json_int_t)rec->size, "refs", (json_int_t)rec->refs,
                                   "holders", ids_json(rec->holders, rec->n_holders, pl, false),
                                   "live_holders",
                                   ids_json(rec->holders, rec->n_holders, pl, true),
                                   "placement", ids_json(ranked, n, pl, false), "replicas",
                                   (int)placement_replicas(pl)));
    }
    free(pl);
    archive_free_blob(rec);
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
