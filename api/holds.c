/* Legal holds on a bill (docs/retention.md, docs/API.md "Legal holds"): placed with a
 * reason and lifted by id, by callers with the hold permission. The state machine keeps
 * them on the bill and refuses, while one is in force, every command that would delete
 * or replace the bill's content. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/users.h"
#include "base/hex.h"
#include "base/mem.h"

#define HOLD_BODY_MAX (16u << 10)

json_t *api_hold_json(const BillHold *h)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "hold_id", h->hold_id, "reason", h->reason,
                     "placed_by", h->placed_by, "placed", api_time_json(h->placed_ms));
}

json_t *api_holds_json(const BillRecord *b)
{
    json_t *a = json_array();
    for (size_t i = 0; i < b->n_holds; i++) {
        json_array_append_new(a, api_hold_json(b->holds[i]));
    }
    return a;
}

/* The bill the applied command changed; NULL after answering (the proposal failed or
 * was refused, or the bill cannot be read). */
static BillRecord *applied_bill(struct api_op *op, int status, const struct archive_result *res)
{
    struct base_err err = {{0}};
    BillRecord *bill;
    if (!api_op_applied(op, status, res)) {
        return NULL;
    }
    if (archive_get_bill(op->call.api->archive, op->call.tenant, res->image_no, &bill,
                         &err) != 0) {
        api_respond_error(op->call.api, op->call.req, 500, API_E_INTERNAL, "bill: %s", err.msg);
        return NULL;
    }
    return bill;
}

/* 201 {"hold_id", "image_no", "reason", "placed_by", "placed", "holds", "index"}. */
static void placed(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    /* The id apply placed: this attempt's, or the first one's when replayed. */
    const char *hold_id = res != NULL && res->file_id[0] != '\0' ? res->file_id : op->data;
    BillRecord *bill = applied_bill(op, status, res);
    json_t *body = NULL;
    if (bill != NULL) {
        for (size_t i = 0; i < bill->n_holds; i++) {
            if (strcmp(bill->holds[i]->hold_id, hold_id) == 0) {
                body = api_hold_json(bill->holds[i]);
            }
        }
        if (body == NULL) { /* lifted again between apply and this answer */
            body = json_pack("{s:s}", "hold_id", hold_id);
        }
        json_object_set_new(body, "image_no", json_string(bill->image_no));
        json_object_set_new(body, "replayed", json_boolean(res->replayed));
        json_object_set_new(body, "holds", api_holds_json(bill));
        json_object_set_new(body, "index", json_integer((json_int_t)res->index));
        api_respond_json(op->call.api, op->call.req, 201, body);
        archive_free_bill(bill);
    }
    api_op_free(op);
}

/* 200 {"image_no", "holds", "index"}: the holds still in force. */
static void lifted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    BillRecord *bill = applied_bill(op, status, res);
    if (bill != NULL) {
        api_respond_json(op->call.api, op->call.req, 200,
                         json_pack("{s:s, s:o, s:I}", "image_no", bill->image_no, "holds",
                                   api_holds_json(bill), "index", (json_int_t)res->index));
        archive_free_bill(bill);
    }
    api_op_free(op);
}

/* The reason of @root's "reason" (NULL after answering 400): 1-1024 bytes. */
static const char *reason_of(struct api_op *op, json_t *root)
{
    json_t *r = json_object_get(root, "reason");
    if (!json_is_string(r) || json_string_length(r) == 0 ||
        json_string_length(r) > ARCHIVE_HOLD_REASON_MAX) {
        api_op_bad(op, "the body is {\"reason\": \"...\"}: why the bill is held (1-1024 "
                       "bytes: the case, order or audit it is kept for)");
        return NULL;
    }
    return json_string_value(r);
}

static void place_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    Command cmd = COMMAND__INIT;
    PlaceHold p = PLACE_HOLD__INIT, digested;
    uint8_t raw[8];
    char *id;
    const char *reason;
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if ((reason = reason_of(op, root)) == NULL) {
        return;
    }
    if (api_idempotency_key(req) != NULL && api_idempotency_key(req)[0] == '\0') {
        api_op_bad(op, "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    id = xcalloc(1, ARCHIVE_HOLD_ID_BYTES + 1);
    randombytes_buf(raw, sizeof raw);
    id[0] = 'h';
    hex_encode(raw, sizeof raw, id + 1);
    op->data = id;
    p.image_no = op->call.param;
    p.reason = (char *)reason;
    /* The key is bound to the bill and the reason, not to the id drawn for this
     * attempt: a retry gets the hold the first attempt placed. */
    digested = p;
    p.hold_id = id;
    cmd.body_case = COMMAND__BODY_PLACE_HOLD;
    cmd.place_hold = &p;
    api_op_propose_keyed(op, &cmd, api_idempotency_key(req), &digested.base, placed);
}

void api_handle_place_hold(struct api_call *call)
{
    if (api_bill_param_ok(call)) {
        api_op_start(call, HOLD_BODY_MAX, place_body);
    }
}

static void propose_lift(struct api_op *op, const char *reason)
{
    Command cmd = COMMAND__INIT;
    LiftHold l = LIFT_HOLD__INIT;
    l.image_no = op->call.param;
    l.hold_id = op->call.param2;
    l.reason = (char *)reason;
    cmd.body_case = COMMAND__BODY_LIFT_HOLD;
    cmd.lift_hold = &l;
    api_op_propose(op, &cmd, NULL, lifted);
}

static void lift_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    const char *reason;
    if (api_op_optional_reason(op, status, ARCHIVE_HOLD_REASON_MAX,
                               "why the hold is lifted, kept in the bill's log", &reason)) {
        propose_lift(op, reason);
    }
}

void api_handle_lift_hold(struct api_call *call)
{
    const char *id = call->param2;
    if (!api_bill_param_ok(call)) {
        return;
    }
    if (!archive_hold_id_valid(id)) {
        api_respond_error(call->api, call->req, 404, API_E_HOLD_NOT_FOUND,
                          "no hold %.40s: a hold id is 'h' and 16 hex digits, as POST "
                          "/api/v1/bills/%s/holds answered (GET /api/v1/bills/%s lists them)",
                          id, call->param, call->param);
        return;
    }
    api_op_start(call, HOLD_BODY_MAX, lift_body);
}
