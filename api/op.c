/* Requests that read a JSON body and then wait for a proposal: the admin endpoints
 * share one way to hold their state, answer failed proposals and refusals, and free. */
#include "api/api_int.h"

#include <stdlib.h>

#include <sodium.h>

#include "base/mem.h"

struct api_op *api_op_new(const struct api_call *call)
{
    struct api_op *op = xcalloc(1, sizeof *op);
    op->call = *call;
    op->prop.data = op;
    call->req->data = op;
    return op;
}

struct api_op *api_op_start(const struct api_call *call, size_t body_max,
                            http_body_done_cb done)
{
    struct api_op *op = api_op_new(call);
    http_request_buffer_body(call->req, body_max, done);
    return op;
}

json_t *api_op_json(struct api_op *op, int status)
{
    json_t *root;
    if (status != 0) {
        http_respond(op->call.req, 400, NULL, NULL, 0); /* the server answered already */
        return NULL;
    }
    root = json_loadb(op->call.req->body, op->call.req->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        api_respond_error(op->call.api, op->call.req, 400, API_E_INVALID_JSON,
                          "the body must be a JSON object");
        return NULL;
    }
    op->body = root;
    return root;
}

void api_op_propose(struct api_op *op, Command *cmd, const char *tenant, repl_propose_cb cb)
{
    int rv;
    api_command_stamp(&op->call, cmd, NULL);
    if (tenant != NULL) {
        cmd->tenant = (char *)tenant;
    }
    rv = repl_propose(op->call.api->repl, &op->prop, cmd, cb);
    if (rv != 0) {
        api_respond_propose_error(op->call.api, op->call.req, rv);
        api_op_free(op);
    }
}

void api_request_digest(const ProtobufCMessage *body, uint8_t out[32])
{
    size_t n = protobuf_c_message_get_packed_size(body);
    uint8_t *packed = xmalloc(n + 1);
    protobuf_c_message_pack(body, packed);
    crypto_generichash(out, 32, packed, n, NULL, 0);
    free(packed);
}

void api_op_propose_keyed(struct api_op *op, Command *cmd, const char *idem,
                          const ProtobufCMessage *digested, repl_propose_cb cb)
{
    uint8_t digest[32];
    int rv;
    api_request_digest(digested, digest);
    api_command_stamp(&op->call, cmd, idem);
    cmd->request_digest.data = digest;
    cmd->request_digest.len = sizeof digest;
    rv = repl_propose(op->call.api->repl, &op->prop, cmd, cb);
    if (rv != 0) {
        api_respond_propose_error(op->call.api, op->call.req, rv);
        api_op_free(op);
    }
}

bool api_op_applied(struct api_op *op, int status, const struct archive_result *res)
{
    if (status != 0) {
        api_respond_propose_failed(op->call.api, op->call.req, &op->prop, status);
        return false;
    }
    if (res->status != ARCHIVE_OK) {
        api_respond_refusal(op->call.api, op->call.req, res);
        return false;
    }
    return true;
}

void api_op_free(struct api_op *op)
{
    json_decref(op->body);
    free(op->text);
    if (op->data != NULL && op->wipe > 0) {
        sodium_memzero(op->data, op->wipe);
    }
    free(op->data);
    free(op);
}

bool api_op_bad(struct api_op *op, const char *msg)
{
    api_respond_error(op->call.api, op->call.req, 400, API_E_INVALID_FIELD, "%s", msg);
    api_op_free(op);
    return false;
}

bool api_op_optional_reason(struct api_op *op, int status, size_t max, const char *what,
                            const char **reason)
{
    json_t *root, *r;
    char msg[200];
    *reason = "";
    if (op->call.req->body_len == 0 && status == 0) {
        return true; /* no body: no reason given */
    }
    if ((root = api_op_json(op, status)) == NULL) {
        api_op_free(op);
        return false;
    }
    r = json_object_get(root, "reason");
    if (json_object_size(root) != (r != NULL ? 1u : 0u) || (r != NULL && !json_is_string(r)) ||
        (r != NULL && json_string_length(r) > max)) {
        snprintf(msg, sizeof msg, "the body is empty or {\"reason\": \"...\"} (at most %zu "
                 "bytes: %s)", max, what);
        return api_op_bad(op, msg);
    }
    *reason = r != NULL ? json_string_value(r) : "";
    return true;
}

void api_op_answer_deleted(struct repl_propose *prop, int status,
                           const struct archive_result *res, const char *key)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:s, s:b, s:I}", key, op->call.param, "deleted", 1,
                                   "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

void api_op_echo_applied(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        json_t *b = json_deep_copy(op->body);
        json_object_set_new(b, "index", json_integer((json_int_t)res->index));
        api_respond_json(op->call.api, op->call.req,
                         op->call.req->method == HTTP_M_POST ? 201 : 200, b);
    }
    api_op_free(op);
}
