/* The server side of the node-to-node endpoints, /internal/v1/... (see peer.h and
 * peer_server.h): protobuf bodies (archive.proto), every request signed with the
 * cluster secret (peer_auth.h).
 *
 *   GET  /internal/v1/status      this node's NodeStatus
 *   POST /internal/v1/propose     Command -> ProposeResult (the leader proposes it)
 *   POST /internal/v1/read-index  -> ReadIndexResult (the leader commits a barrier)
 *   POST /internal/v1/join        JoinRequest -> ChangeResult (passed on to the leader;
 *                                 ?forwarded=1 marks a request already passed on)
 *   POST /internal/v1/remove      RemoveRequest -> ChangeResult (on the leader)
 *   GET  /internal/v1/blobs/<hash> this node's copy of a blob (Range honoured), for a
 *                                 node that has none (blob_out.c)
 *   PUT  /internal/v1/blobs/<hash> a copy another node pushes here (placement, repair):
 *                                 stored durably, only if the body hashes to <hash>
 *                                 (201; 200 when this node stored it already)
 *   GET  /internal/v1/snapshot?min_index=<I> this node's whole metadata store, streamed
 *                                 (snapshot_send.c), for a node that catches up
 *
 * The signature is checked from the head, before a byte of the body is read (an
 * unsigned or stale call is answered 401 and its connection closed). The body is then
 * read whole (bounded) and checked against the signed X-Imgarc-Body-Sha256 before it
 * is acted on; a pushed copy is streamed instead and checked against its name. A node
 * without a cluster secret refuses every one of them. */
#include "replication/peer_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"
#include "replication/repl.h"
#include "replication/peer.h"
#include "replication/repl_int.h"
#include "replication/snapshot_send.h"

/* The longest request target a signature covers (the HTTP server bounds the head). */
#define TARGET_MAX (1024 + 64)

struct internal_call {
    struct peer_server *ps;
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
    http_respond(ic->req, 200, PEER_CONTENT_TYPE, buf, len);
    free(buf);
}

static void bad_body(struct internal_call *ic, const char *what)
{
    peer_respond_error(ic->req, 400, PEER_E_BAD_REQUEST, "the body is not a %s message", what);
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
    repl_local_status(ic->ps->repl, &ic->self, status_ready);
}

/* ---- propose ---- */

static void proposed(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct internal_call *ic = prop->data;
    uint8_t *buf;
    size_t len;
    if (status != 0) {
        ic->ps->propose_failed_cb(ic->req, status, ic->ps->data);
        free(ic);
        return;
    }
    buf = peer_propose_result_pack(res, prop->index, &len);
    http_respond(ic->req, 200, PEER_CONTENT_TYPE, buf, len);
    repl_commit_notice(ic->ps->repl); /* the caller waits to apply it */
    free(buf);
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
    rv = repl_propose_local(ic->ps->repl, &ic->prop, cmd, proposed);
    command__free_unpacked(cmd, NULL);
    if (rv != 0) {
        ic->ps->propose_failed_cb(ic->req, rv, ic->ps->data);
        free(ic);
    }
}

/* ---- read-index ---- */

static void read_index_done(struct repl_read *rd, int status)
{
    struct internal_call *ic = rd->data;
    ReadIndexResult res = READ_INDEX_RESULT__INIT;
    if (status != 0) {
        peer_respond_error(ic->req, 503, PEER_E_UNAVAILABLE,
                           "this node could not confirm its leadership (%s); retry",
                           base_strerror(status));
    } else {
        res.index = rd->index;
        respond_message(ic, &res.base);
        repl_commit_notice(ic->ps->repl); /* the caller waits to apply it */
    }
    free(ic);
}

static void handle_read_index(struct internal_call *ic)
{
    ic->read.data = ic;
    repl_read_index(ic->ps->repl, &ic->read, true, read_index_done);
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
    c->feature_level = jr->feature_level;
    join_request__free_unpacked(jr, NULL);
    repl_join(ic->ps->repl, c, forwarded(ic), changed);
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
    repl_remove(ic->ps->repl, &ic->change, true, changed);
}

/* ---- PUT blobs: a copy pushed by another node ---- */

static void received(struct blob_in *u, int status)
{
    char hex[BLOB_HEX_BYTES];
    hex_encode(u->expected, BLOB_HASH_BYTES, hex);
    if (status == 0) {
        char body[BLOB_HEX_BYTES + 64];
        int n = snprintf(body, sizeof body, "{\"blob\":\"%s\",\"size\":%llu}", hex,
                         (unsigned long long)u->writer.size);
        u->bp->stats.replicas_received_total++;
        http_respond(u->req, u->writer.existed ? 200 : 201, "application/json", body,
                     (size_t)n);
    } else if (status == BASE_ECORRUPT) {
        peer_respond_error(u->req, 422, PEER_E_CONTENT_CORRUPT,
                           "the body does not hash to blob %s: the sender's copy is corrupt",
                           hex);
    } else {
        blob_in_respond_failure(u, status, "the copy");
    }
    free(u);
}

static void receive_blob(struct peer_server *ps, struct http_request *req)
{
    const char *hex = req->raw_path + strlen(PEER_PATH_BLOBS);
    struct blob_in *u;
    uint8_t hash[BLOB_HASH_BYTES];
    if (strcspn(hex, "?") != 2 * BLOB_HASH_BYTES || !hex_decode(hex, hash, sizeof hash)) {
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST, "a blob is named by 64 hex digits");
        return;
    }
    if (!req->has_content_length && !req->chunked) {
        peer_respond_error(req, 411, PEER_E_LENGTH_REQUIRED,
                           "send Content-Length (or a chunked body) with the copy");
        return;
    }
    if (blob_space_refuse(ps->blobs, req, "copies")) {
        return;
    }
    u = xcalloc(1, sizeof *u);
    u->bp = ps->blobs;
    u->req = req;
    u->done = received;
    u->expect_hash = true;
    memcpy(u->expected, hash, BLOB_HASH_BYTES);
    blob_in_start(u);
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

void peer_server_answer(struct peer_server *ps, struct http_request *req)
{
    char target[TARGET_MAX];
    char now[24], mac[PEER_AUTH_HEX_BYTES];
    struct peer_request pr;
    if (ps->auth == NULL || req->raw_path == NULL || req->method_name == NULL ||
        strncmp(req->raw_path, PEER_PREFIX, strlen(PEER_PREFIX)) != 0) {
        return;
    }
    /* Stamped as the head is written: for a pushed copy, after the whole body. */
    snprintf(now, sizeof now, "%llu", (unsigned long long)clock_wall_ms());
    http_request_add_header(req, PEER_AUTH_TIME_HEADER, now);
    pr = signed_part(req, target, sizeof target);
    if (peer_auth_answer_sign(ps->auth, &pr, http_request_header(req, "x-imgarc-time"),
                              http_request_header(req, "x-imgarc-signature"), now, mac)) {
        http_request_add_header(req, PEER_AUTH_ANSWER_SIGNATURE_HEADER, mac);
    }
}

/* Checks the signature from the head alone, before any byte of the body is read: an
 * unsigned, stale or wrongly signed call is answered 401 and its connection closed, so
 * an outsider cannot make this node read or hold a body. A holder of the secret whose
 * clock is off learns this node's from the answer (peer_server_answer) and signs
 * again. */
static bool authentic_head(struct peer_server *ps, struct http_request *req)
{
    char target[TARGET_MAX];
    char why[256];
    struct peer_request pr = signed_part(req, target, sizeof target);
    if (req->chunked) {
        http_request_close_after(req);
        peer_respond_error(req, 411, PEER_E_LENGTH_REQUIRED,
                           "/internal calls send Content-Length (their signature covers it), "
                           "not a chunked body");
        return false;
    }
    if (!peer_auth_check(ps->auth, &pr, http_request_header(req, "x-imgarc-time"),
                         http_request_header(req, "x-imgarc-signature"), clock_wall_ms(), why,
                         sizeof why)) {
        http_request_close_after(req);
        peer_respond_error(req, 401, PEER_E_UNAUTHORIZED, "%s", why);
        return false;
    }
    return true;
}

/* The body read, against the digest the signature covers; false after answering. */
static bool body_matches(struct http_request *req)
{
    const char *digest = http_request_header(req, "x-imgarc-body-sha256");
    if (digest == NULL && req->body_len == 0) {
        return true;
    }
    if (digest == NULL) {
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST,
                           "an /internal call with a body sends its SHA-256 in "
                           PEER_AUTH_DIGEST_HEADER " (signed)");
        return false;
    }
    if (!peer_body_matches(digest, req->body, req->body_len)) {
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST,
                           "the body does not hash to its " PEER_AUTH_DIGEST_HEADER
                           ": it was altered or cut short; nothing was done");
        return false;
    }
    return true;
}

static void handle_blob(struct internal_call *ic)
{
    const char *hex = ic->req->raw_path + strlen(PEER_PATH_BLOBS);
    struct peer_server *ps = ic->ps;
    struct http_request *req = ic->req;
    free(ic);
    blob_out_serve_peer(ps->blobs, req, hex);
}

static void handle_snapshot(struct internal_call *ic)
{
    struct repl *r = ic->ps->repl;
    struct http_request *req = ic->req;
    free(ic);
    repl_snapshot_serve(r, req);
}

static const struct {
    enum http_method method;
    const char *path;
    void (*handler)(struct internal_call *ic);
} internal_routes[] = {
    {HTTP_M_GET, PEER_PATH_STATUS, handle_status},
    {HTTP_M_POST, PEER_PATH_PROPOSE, handle_propose},
    {HTTP_M_POST, PEER_PATH_READ_INDEX, handle_read_index},
    {HTTP_M_POST, PEER_PATH_JOIN, handle_join},
    {HTTP_M_POST, PEER_PATH_REMOVE, handle_remove},
    {HTTP_M_GET, PEER_PATH_BLOBS, handle_blob}, /* + the hash */
    {HTTP_M_PUT, PEER_PATH_BLOBS, NULL},        /* streamed: receive_blob() */
    {HTTP_M_GET, PEER_PATH_SNAPSHOT, handle_snapshot},
};

static void body_read(struct http_request *req, int status)
{
    struct internal_call *ic = req->data;
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
        free(ic);
        return;
    }
    if (!body_matches(req)) {
        free(ic);
        return;
    }
    ic->handler(ic);
}

void peer_server_route(struct peer_server *ps, struct http_request *req)
{
    struct internal_call *ic;
    size_t path_len = strcspn(req->raw_path, "?");
    bool blobs = strncmp(req->raw_path, PEER_PATH_BLOBS, strlen(PEER_PATH_BLOBS)) == 0;
    bool path_known = false;
    for (size_t i = 0; i < ARRAY_SIZE(internal_routes); i++) {
        const char *path = internal_routes[i].path;
        bool match = strcmp(path, PEER_PATH_BLOBS) == 0
                         ? blobs
                         : strlen(path) == path_len && strncmp(path, req->raw_path, path_len) == 0;
        if (!match) {
            continue;
        }
        path_known = true;
        if (internal_routes[i].method != req->method) {
            continue;
        }
        if (ps->auth == NULL) {
            http_request_close_after(req);
            peer_respond_error(req, 403, PEER_E_FORBIDDEN,
                               "this node has no cluster secret (--cluster-secret-file): it "
                               "is a single node and refuses node-to-node calls");
            return;
        }
        if (!authentic_head(ps, req)) {
            return;
        }
        if (internal_routes[i].handler == NULL) {
            receive_blob(ps, req); /* checked against its name as it streams */
            return;
        }
        ic = xcalloc(1, sizeof *ic);
        ic->ps = ps;
        ic->req = req;
        ic->handler = internal_routes[i].handler;
        req->data = ic;
        http_request_buffer_body(req, PEER_BODY_MAX, body_read);
        return;
    }
    if (path_known) {
        peer_respond_error(req, 405, PEER_E_METHOD_NOT_ALLOWED,
                           "method %s is not allowed on %s", req->method_name, req->path);
    } else {
        peer_respond_error(req, 404, PEER_E_NOT_FOUND, "no such endpoint: %s %s",
                           req->method_name, req->path);
    }
}
