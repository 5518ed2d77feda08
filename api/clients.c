/* Business-system clients of a tenant, after their creation (api/auth.c): listing,
 * rotating the secret and deleting (the web console's G5).
 *
 *   GET    /api/v1/clients               -> {"tenant", "clients": [{"client_id", "name",
 *                                             "created"}]}  (never the secret)
 *   POST   /api/v1/clients/{id}/secret   -> {"client_id", "client_secret", "index"}
 *   DELETE /api/v1/clients/{id}          -> {"client_id", "deleted": true, "index"}
 *
 * For the operator or a tenant admin of the client's tenant. A rotation bumps the
 * client's token generation (ClientRecord.token_generation): the access tokens and the
 * vendor app tokens issued under the old secret carry the old one and are refused on
 * every node from the moment the command applies there; a deleted client's tokens find
 * no client. The new secret is shown once; only its BLAKE2b-256 is replicated. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

/* What a rotation keeps while its proposal is applied (op->data, wiped on free). */
struct rotation {
    char secret[64];
};

static void list_client(const ClientRecord *c, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:o}", "client_id", c->client_id, "name",
                                         c->name, "created", api_time_json(c->created_ms)));
}

void api_handle_list_clients(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *clients = json_array();
    if (archive_list_clients(call->api->archive, call->tenant, list_client, clients, &err) != 0) {
        json_decref(clients);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "clients: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:o}", "tenant", call->tenant, "clients", clients));
}

/* False after answering 404 when the path names no client of the call's tenant (a
 * client of another tenant is not found either: its existence is not told). */
static bool client_known(struct api_call *call)
{
    struct base_err err = {{0}};
    ClientRecord *c = NULL;
    int rv = archive_get_client(call->api->archive, call->param, &c, &err);
    bool ours = rv == 0 && strcmp(c->tenant, call->tenant) == 0;
    archive_free_client(c);
    if (rv != 0 && rv != BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "client: %s", err.msg);
        return false;
    }
    if (!ours) {
        api_respond_error(call->api, call->req, 404, API_E_CLIENT_NOT_FOUND,
                          "no client %.64s in tenant %s (clients are listed by GET "
                          "/api/v1/clients)", call->param, call->tenant);
    }
    return ours;
}

static void rotated(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct rotation *r = op->data;
    if (api_op_applied(op, status, res)) {
        http_request_add_header(op->call.req, "Cache-Control", "no-store");
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:s, s:s, s:I}", "client_id", op->call.param,
                                   "client_secret", r->secret, "index",
                                   (json_int_t)res->index));
    }
    api_op_free(op);
}

void api_handle_rotate_client_secret(struct api_call *call)
{
    struct api_op *op;
    struct rotation *r;
    Command cmd = COMMAND__INIT;
    RotateClientSecret rc = ROTATE_CLIENT_SECRET__INIT;
    uint8_t raw[32], hash[32];
    if (!client_known(call)) {
        return;
    }
    op = api_op_new(call);
    r = xcalloc(1, sizeof *r);
    op->data = r;
    op->wipe = sizeof *r;
    /* 256 random bits, as a creation makes them (api/auth.c). */
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(r->secret, sizeof r->secret, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    crypto_generichash(hash, sizeof hash, (const uint8_t *)r->secret, strlen(r->secret), NULL,
                       0);
    rc.client_id = op->call.param;
    rc.secret_hash.data = hash;
    rc.secret_hash.len = sizeof hash;
    cmd.body_case = COMMAND__BODY_ROTATE_CLIENT_SECRET;
    cmd.rotate_client_secret = &rc;
    api_op_propose(op, &cmd, NULL, rotated);
}

static void client_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    api_op_answer_deleted(prop, status, res, "client_id");
}

void api_handle_delete_client(struct api_call *call)
{
    struct api_op *op;
    Command cmd = COMMAND__INIT;
    DeleteClient dc = DELETE_CLIENT__INIT;
    if (!client_known(call)) {
        return;
    }
    op = api_op_new(call);
    dc.client_id = op->call.param;
    cmd.body_case = COMMAND__BODY_DELETE_CLIENT;
    cmd.delete_client = &dc;
    api_op_propose(op, &cmd, NULL, client_deleted);
}
