/* The node-to-node endpoints, /internal/v1/...: protobuf bodies (archive.proto), every
 * request signed with the cluster secret (replication/peer_auth.h).
 *
 *   GET  /internal/v1/status      this node's NodeStatus
 *   POST /internal/v1/propose     Command -> ProposeResult (the leader proposes it)
 *   POST /internal/v1/read-index  -> ReadIndexResult (the leader commits a barrier)
 *   POST /internal/v1/join        JoinRequest -> ChangeResult (passed on to the leader;
 *                                 ?forwarded=1 marks a request already passed on)
 *   POST /internal/v1/remove      RemoveRequest -> ChangeResult (on the leader)
 *   GET  /internal/v1/blobs/<hash> this node's copy of a blob (Range honoured), for a
 *                                 node that has none (api/content.c)
 *   PUT  /internal/v1/blobs/<hash> a copy another node pushes here (placement, repair):
 *                                 stored durably, only if the body hashes to <hash>
 *                                 (201; 200 when this node stored it already)
 *
 * The signature is checked from the head, before a byte of the body is read (an
 * unsigned or stale call is answered 401 and its connection closed). The body is then
 * read whole (bounded) and checked against the signed X-Imgarc-Body-Sha256 before it
 * is acted on; a pushed copy is streamed instead and checked against its name. A node
 * without a cluster secret refuses every one of them. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"
#include "replication/membership.h"

#define INTERNAL_BODY_MAX (4u << 20)
#define BLOBS_PREFIX "/internal/v1/blobs/"
#define PROTOBUF_TYPE "application/x-protobuf"

struct internal_call {
    struct api *api;
    struct http_request *req;
    void (*handler)(struct internal_call *ic);
    struct repl_propose prop;
    struct repl_read read;
    struct repl_change change;
    struct repl_self self;
};

static void respond_message(struct internal_call *ic, const ProtobufCMessage *msg)
{
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(len > 0 ? len : 1);
    protobuf_c_message_pack(msg, buf);
    http_respond(ic->req, 200, PROTOBUF_TYPE, buf, len);
    free(buf);
}

static void bad_body(struct internal_call *ic, const char *what)
{
    api_respond_error(ic->api, ic->req, 400, API_E_BAD_REQUEST, "the body is not a %s message",
                      what);
    free(ic);
}

/* ---- status ---- */

static void status_ready(struct repl_self *s, const NodeStatus *st)
{
    struct internal_call *ic = s->data;
    respond_message(ic, &st->base);
    free(ic);
}

static void handle_status(struct internal_call *ic)
{
    ic->self.data = ic;
    repl_local_status(ic->api->repl, &ic->self, status_ready);
}

/* ---- propose ---- */

static void proposed(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct internal_call *ic = prop->data;
    ProposeResult pr = PROPOSE_RESULT__INIT;
    if (status != 0) {
        api_respond_propose_error(ic->api, ic->req, status);
        free(ic);
        return;
    }
    pr.status = (int32_t)res->status;
    pr.message = (char *)res->message;
    pr.replayed = res->replayed;
    pr.created = res->created;
    pr.index = res->index;
    pr.image_no = (char *)res->image_no;
    pr.file_id = (char *)res->file_id;
    pr.state = (char *)res->state;
    pr.category = (char *)res->category;
    pr.position = res->position;
    pr.entry_index = prop->index;
    respond_message(ic, &pr.base);
    free(ic);
}

static void handle_propose(struct internal_call *ic)
{
    Command *cmd = command__unpack(NULL, ic->req->body_len, (const uint8_t *)ic->req->body);
    int rv;
    if (cmd == NULL || cmd->body_case == COMMAND__BODY__NOT_SET) {
        /* Apply would refuse a command without a body the same way on every node; not
         * writing it to the log at all is cheaper. */
        if (cmd != NULL) {
            command__free_unpacked(cmd, NULL);
        }
        bad_body(ic, "Command");
        return;
    }
    /* The leader's clock stamps the cluster's commands (license expiry, audit times). */
    cmd->time_ms = clock_wall_ms();
    ic->prop.data = ic;
    rv = repl_propose_local(ic->api->repl, &ic->prop, cmd, proposed);
    command__free_unpacked(cmd, NULL);
    if (rv != 0) {
        api_respond_propose_error(ic->api, ic->req, rv);
        free(ic);
    }
}

/* ---- read-index ---- */

static void read_index_done(struct repl_read *rd, int status)
{
    struct internal_call *ic = rd->data;
    ReadIndexResult res = READ_INDEX_RESULT__INIT;
    if (status != 0) {
        api_respond_error(ic->api, ic->req, 503, API_E_UNAVAILABLE,
                          "this node could not confirm its leadership (%s); retry",
                          base_strerror(status));
    } else {
        res.index = rd->index;
        respond_message(ic, &res.base);
    }
    free(ic);
}

static void handle_read_index(struct internal_call *ic)
{
    ic->read.data = ic;
    repl_read_index(ic->api->repl, &ic->read, true, read_index_done);
}

/* ---- join and remove ---- */

static void changed(struct repl_change *c, int status)
{
    struct internal_call *ic = c->data;
    ChangeResult res = CHANGE_RESULT__INIT;
    res.error = status;
    res.message = c->message;
    res.added = c->added;
    res.role = c->role;
    respond_message(ic, &res.base);
    free(ic);
}

static bool forwarded(struct internal_call *ic)
{
    char *f = http_request_query(ic->req, "forwarded");
    bool yes = f != NULL && strcmp(f, "1") == 0;
    free(f);
    return yes;
}

static void handle_join(struct internal_call *ic)
{
    JoinRequest *jr = join_request__unpack(NULL, ic->req->body_len,
                                           (const uint8_t *)ic->req->body);
    struct repl_change *c = &ic->change;
    if (jr == NULL) {
        bad_body(ic, "JoinRequest");
        return;
    }
    memset(c, 0, sizeof *c);
    c->data = ic;
    c->id = jr->id;
    snprintf(c->http, sizeof c->http, "%s", jr->http);
    snprintf(c->raft, sizeof c->raft, "%s", jr->raft);
    snprintf(c->zone, sizeof c->zone, "%s", jr->zone);
    join_request__free_unpacked(jr, NULL);
    repl_join(ic->api->repl, c, forwarded(ic), changed);
}

static void handle_remove(struct internal_call *ic)
{
    RemoveRequest *rr = remove_request__unpack(NULL, ic->req->body_len,
                                               (const uint8_t *)ic->req->body);
    if (rr == NULL) {
        bad_body(ic, "RemoveRequest");
        return;
    }
    memset(&ic->change, 0, sizeof ic->change);
    ic->change.data = ic;
    ic->change.id = rr->id;
    remove_request__free_unpacked(rr, NULL);
    repl_remove(ic->api->repl, &ic->change, true, changed);
}

/* ---- routing and authentication ---- */

/* ---- blobs ---- */

/* ---- PUT blobs: a copy pushed by another node ---- */

static void received(struct upload *u, int status)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(u->expected, BLOB_HASH_BYTES, hex);
    if (status == 0) {
        u->api->replicas_received_total++;
        api_respond_json(u->api, u->req, u->writer.existed ? 200 : 201,
                         json_pack("{s:s, s:I}", "blob", hex, "size",
                                   (json_int_t)u->writer.size));
    } else if (status == BASE_ECORRUPT) {
        api_respond_error(u->api, u->req, 422, API_E_CONTENT_CORRUPT,
                          "the body does not hash to blob %s: the sender's copy is corrupt",
                          hex);
    } else {
        upload_respond_failure(u, status, "the copy");
    }
    free(u);
}

static void receive_blob(struct api *api, struct http_request *req)
{
    const char *hex = req->raw_path + strlen(BLOBS_PREFIX);
    struct upload *u;
    uint8_t hash[BLOB_HASH_BYTES];
    if (strcspn(hex, "?") != 2 * BLOB_HASH_BYTES || !hex_decode(hex, hash, sizeof hash)) {
        api_respond_error(api, req, 400, API_E_BAD_REQUEST, "a blob is named by 64 hex digits");
        return;
    }
    if (!req->has_content_length && !req->chunked) {
        api_respond_error(api, req, 411, API_E_LENGTH_REQUIRED,
                          "send Content-Length (or a chunked body) with the copy");
        return;
    }
    if (api_space_refuse(api, req, "copies")) {
        return;
    }
    u = xcalloc(1, sizeof *u);
    u->api = api;
    u->req = req;
    u->done = received;
    u->expect_hash = true;
    memcpy(u->expected, hash, BLOB_HASH_BYTES);
    upload_start(u);
}

/* What the signature of @req covers, from its head; @target is filled. */
static struct peer_request signed_part(struct http_request *req, char *target, size_t size)
{
    snprintf(target, size, "%s%s%s", req->raw_path, req->query != NULL ? "?" : "",
             req->query != NULL ? req->query : "");
    return (struct peer_request){
        .method = req->method_name,
        .target = target,
        .content_length = req->has_content_length ? req->content_length : 0,
        .body_sha256 = http_request_header(req, "x-imgarc-body-sha256"),
    };
}

void api_internal_answer(struct api *api, struct http_request *req)
{
    char target[API_PARAM_MAX + 64];
    char now[24], mac[PEER_AUTH_HEX_BYTES];
    struct peer_request pr;
    if (api->config.auth == NULL || req->raw_path == NULL || req->method_name == NULL ||
        strncmp(req->raw_path, "/internal/", 10) != 0) {
        return;
    }
    /* Stamped as the head is written: for a pushed copy, after the whole body. */
    snprintf(now, sizeof now, "%llu", (unsigned long long)clock_wall_ms());
    http_request_add_header(req, PEER_AUTH_TIME_HEADER, now);
    pr = signed_part(req, target, sizeof target);
    if (peer_auth_answer_sign(api->config.auth, &pr, http_request_header(req, "x-imgarc-time"),
                              http_request_header(req, "x-imgarc-signature"), now, mac)) {
        http_request_add_header(req, PEER_AUTH_ANSWER_SIGNATURE_HEADER, mac);
    }
}

/* Checks the signature from the head alone, before any byte of the body is read: an
 * unsigned, stale or wrongly signed call is answered 401 and its connection closed, so
 * an outsider cannot make this node read or hold a body. A holder of the secret whose
 * clock is off learns this node's from the answer (api_internal_answer) and signs
 * again. */
static bool authentic_head(struct api *api, struct http_request *req)
{
    char target[API_PARAM_MAX + 64];
    char why[256];
    struct peer_request pr = signed_part(req, target, sizeof target);
    if (req->chunked) {
        http_request_close_after(req);
        api_respond_error(api, req, 411, API_E_LENGTH_REQUIRED,
                          "/internal calls send Content-Length (their signature covers it), "
                          "not a chunked body");
        return false;
    }
    if (!peer_auth_check(api->config.auth, &pr, http_request_header(req, "x-imgarc-time"),
                         http_request_header(req, "x-imgarc-signature"), clock_wall_ms(), why,
                         sizeof why)) {
        http_request_close_after(req);
        api_respond_error(api, req, 401, API_E_UNAUTHORIZED, "%s", why);
        return false;
    }
    return true;
}

/* The body read, against the digest the signature covers; false after answering. */
static bool body_matches(struct api *api, struct http_request *req)
{
    const char *digest = http_request_header(req, "x-imgarc-body-sha256");
    if (digest == NULL && req->body_len == 0) {
        return true;
    }
    if (digest == NULL) {
        api_respond_error(api, req, 400, API_E_BAD_REQUEST,
                          "an /internal call with a body sends its SHA-256 in "
                          PEER_AUTH_DIGEST_HEADER " (signed)");
        return false;
    }
    if (!peer_body_matches(digest, req->body, req->body_len)) {
        api_respond_error(api, req, 400, API_E_BAD_REQUEST,
                          "the body does not hash to its " PEER_AUTH_DIGEST_HEADER
                          ": it was altered or cut short; nothing was done");
        return false;
    }
    return true;
}

static void handle_blob(struct internal_call *ic)
{
    const char *hex = ic->req->raw_path + strlen(BLOBS_PREFIX);
    struct api *api = ic->api;
    struct http_request *req = ic->req;
    free(ic);
    api_serve_blob(api, req, hex);
}

static const struct {
    enum http_method method;
    const char *path;
    void (*handler)(struct internal_call *ic);
} internal_routes[] = {
    {HTTP_M_GET, "/internal/v1/status", handle_status},
    {HTTP_M_POST, "/internal/v1/propose", handle_propose},
    {HTTP_M_POST, "/internal/v1/read-index", handle_read_index},
    {HTTP_M_POST, "/internal/v1/join", handle_join},
    {HTTP_M_POST, "/internal/v1/remove", handle_remove},
    {HTTP_M_GET, BLOBS_PREFIX, handle_blob}, /* + the hash */
    {HTTP_M_PUT, BLOBS_PREFIX, NULL},        /* streamed: receive_blob() */
};

static void body_read(struct http_request *req, int status)
{
    struct internal_call *ic = req->data;
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
        free(ic);
        return;
    }
    if (!body_matches(ic->api, req)) {
        free(ic);
        return;
    }
    ic->handler(ic);
}

void api_internal_route(struct api *api, struct http_request *req)
{
    struct internal_call *ic;
    size_t path_len = strcspn(req->raw_path, "?");
    bool blobs = strncmp(req->raw_path, BLOBS_PREFIX, strlen(BLOBS_PREFIX)) == 0;
    bool path_known = false;
    for (size_t i = 0; i < ARRAY_SIZE(internal_routes); i++) {
        const char *path = internal_routes[i].path;
        bool match = strcmp(path, BLOBS_PREFIX) == 0
                         ? blobs
                         : strlen(path) == path_len && strncmp(path, req->raw_path, path_len) == 0;
        if (!match) {
            continue;
        }
        path_known = true;
        if (internal_routes[i].method != req->method) {
            continue;
        }
        if (api->config.auth == NULL) {
            http_request_close_after(req);
            api_respond_error(api, req, 403, API_E_FORBIDDEN,
                              "this node has no cluster secret (--cluster-secret-file): it "
                              "is a single node and refuses node-to-node calls");
            return;
        }
        if (!authentic_head(api, req)) {
            return;
        }
        if (internal_routes[i].handler == NULL) {
            receive_blob(api, req); /* checked against its name as it streams */
            return;
        }
        ic = xcalloc(1, sizeof *ic);
        ic->api = api;
        ic->req = req;
        ic->handler = internal_routes[i].handler;
        req->data = ic;
        http_request_buffer_body(req, INTERNAL_BODY_MAX, body_read);
        return;
    }
    if (path_known) {
        api_respond_error(api, req, 405, API_E_METHOD_NOT_ALLOWED,
                          "method %s is not allowed on %s", req->method_name, req->path);
    } else {
        api_respond_error(api, req, 404, API_E_NOT_FOUND, "no such endpoint: %s %s",
                          req->method_name, req->path);
    }
}
