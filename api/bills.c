/* Bill endpoints: pool push, submit, retrieve, status, list and audit log. Reads are
 * point reads or short scans of the local store on the loop; writes are proposals. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hex.h"
#include "archive/bill_state.h"
#include "archive/users.h"
#include "base/mem.h"

#define JSON_BODY_MAX (1u << 20)
#define INVOICES_MAX 1000
#define FIELD_MAX 256

/* A write waiting for raft: owns copies of what the command points at. */
struct bill_write {
    struct api *api;
    struct http_request *req;
    struct repl_propose prop;
    char tenant[ARCHIVE_ID_MAX + 1];
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    char idem[ARCHIVE_ID_MAX + 1];
    bool aborted;
    bool vendor; /* answers in the vendor's envelope (api/vendor_bills.c) */
};

static void bill_write_abort(struct http_request *req)
{
    struct bill_write *w = req->data;
    w->aborted = true;
}

static struct bill_write *bill_write_new(struct api_call *call, const char *image_no)
{
    struct bill_write *w = xcalloc(1, sizeof *w);
    const char *idem = api_idempotency_key(call->req);
    w->api = call->api;
    w->req = call->req;
    w->prop.data = w;
    w->vendor = call->vendor;
    snprintf(w->tenant, sizeof w->tenant, "%s", call->tenant);
    snprintf(w->image_no, sizeof w->image_no, "%s", image_no);
    snprintf(w->idem, sizeof w->idem, "%s", idem != NULL ? idem : "");
    call->req->data = w;
    call->req->abort_cb = bill_write_abort;
    return w;
}

/* ---- Pool push ---- */

static void pool_pushed(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct bill_write *w = prop->data;
    if (status != 0) {
        api_respond_propose_failed(w->api, w->req, prop, status);
    } else if (res->status != ARCHIVE_OK) {
        api_respond_refusal(w->api, w->req, res);
    } else if (w->vendor) {
        api_vendor_respond(w->api, w->req, NULL, NULL); /* erpBillPush answers data {} */
    } else {
        api_respond_json(w->api, w->req, res->created ? 201 : 200,
                         json_pack("{s:s, s:s, s:b, s:I}", "image_no", res->image_no, "state",
                                   res->state, "created", res->created, "index",
                                   (json_int_t)res->index));
    }
    free(w);
}

/* Reads an optional string field: "" when absent; false (and an error response) when
 * present with another type or too long. */
static bool string_field(struct api_call *call, json_t *obj, const char *name, char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = (char *)"";
    if (v == NULL || json_is_null(v)) {
        return true;
    }
    if (json_is_number(v) && strcmp(name, "amount") != 0 && strcmp(name, "total") != 0 &&
        strcmp(name, "tax") != 0) {
        /* Numbers are refused except for money, where a decimal string is expected
         * but a JSON number is unambiguous enough to reject clearly below. */
    }
    if (!json_is_string(v)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "field '%s' must be a string%s", name,
                          json_is_number(v) ? " (send amounts as decimal strings, e.g. \"12.50\")"
                                            : "");
        return false;
    }
    if (json_string_length(v) > FIELD_MAX) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "field '%s' is longer than %d bytes", name, FIELD_MAX);
        return false;
    }
    *out = (char *)json_string_value(v);
    return true;
}

static bool parse_invoice(struct api_call *call, json_t *v, Invoice *inv)
{
    invoice__init(inv);
    if (!json_is_object(v)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "each entry of 'invoices' must be an object");
        return false;
    }
    return string_field(call, v, "number", &inv->number) &&
           string_field(call, v, "code", &inv->code) &&
           string_field(call, v, "date", &inv->date) &&
           string_field(call, v, "amount", &inv->amount) &&
           string_field(call, v, "tax", &inv->tax) && string_field(call, v, "total", &inv->total) &&
           string_field(call, v, "seller_tax_no", &inv->seller_tax_no) &&
           string_field(call, v, "buyer_tax_no", &inv->buyer_tax_no);
}

/* The ERP's identity of the bill (the vendor's erpBillPush fields), checked by the
 * rules apply uses. */
static bool identity_fields(struct api_call *call, json_t *root, PoolPush *p)
{
    char msg[160];
    if (!string_field(call, root, "fbill_id", &p->fbill_id) ||
        !string_field(call, root, "source", &p->source) ||
        !string_field(call, root, "bill_type_name", &p->bill_type_name) ||
        !string_field(call, root, "submitter_phone", &p->submitter_phone) ||
        !string_field(call, root, "submitter_erp_name", &p->submitter_erp_name) ||
        !string_field(call, root, "org_name", &p->org_name) ||
        !string_field(call, root, "tax_no", &p->tax_no)) {
        return false;
    }
    if (!archive_pool_identity_valid(p, msg, sizeof msg)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD, "%s", msg);
        return false;
    }
    return true;
}

static bool parse_pool(struct api_call *call, json_t *root, PoolPush *p, Invoice **invoices)
{
    json_t *image_no = json_object_get(root, "image_no");
    json_t *list = json_object_get(root, "invoices");
    if (image_no == NULL || !json_is_string(image_no)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "'image_no' is required and must be a string");
        return false;
    }
    p->image_no = (char *)json_string_value(image_no);
    if (!archive_valid_image_no(p->image_no)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                          "image_no must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return false;
    }
    if (!string_field(call, root, "bill_no", &p->bill_no) ||
        !string_field(call, root, "bill_type", &p->bill_type) ||
        !string_field(call, root, "org", &p->org) ||
        !string_field(call, root, "submitter", &p->submitter) ||
        !string_field(call, root, "amount", &p->amount) ||
        !string_field(call, root, "currency", &p->currency) ||
        !identity_fields(call, root, p)) {
        return false;
    }
    if (list != NULL && !json_is_null(list)) {
        size_t i;
        json_t *v;
        if (!json_is_array(list) || json_array_size(list) > INVOICES_MAX) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                              "'invoices' must be an array of at most %d objects", INVOICES_MAX);
            return false;
        }
        p->n_invoices = json_array_size(list);
        *invoices = xcalloc(p->n_invoices, sizeof **invoices);
        p->invoices = xcalloc(p->n_invoices, sizeof *p->invoices);
        json_array_foreach(list, i, v)
        {
            p->invoices[i] = &(*invoices)[i];
            if (!parse_invoice(call, v, p->invoices[i])) {
                return false;
            }
        }
    }
    return true;
}

/* Grants: an existing bill must be visible, and the organisation it is pushed into
 * granted; false after answering. */
static bool pool_visible(struct api_call *call, const PoolPush *p)
{
    struct base_err err;
    BillRecord *bill;
    if (!api_restricted(call)) {
        return true;
    }
    if (archive_get_bill(call->api->archive, call->tenant, p->image_no, &bill, &err) == 0) {
        archive_free_bill(bill);
        if (!api_bill_visible(call, p->image_no)) {
            return false;
        }
    }
    if (!api_org_visible(call, p->org)) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "organisation '%.64s' is not granted to %s", p->org, call->actor);
        return false;
    }
    return true;
}

static void propose_pool(struct api_call *call, PoolPush *p)
{
    Command cmd = COMMAND__INIT;
    struct bill_write *w = bill_write_new(call, p->image_no);
    uint8_t digest[32];
    size_t n = pool_push__get_packed_size(p);
    uint8_t *packed = xmalloc(n);
    int rv;
    pool_push__pack(p, packed);
    crypto_generichash(digest, sizeof digest, packed, n, NULL, 0);
    free(packed);
    api_command_stamp(call, &cmd, w->idem);
    cmd.request_digest.data = digest;
    cmd.request_digest.len = sizeof digest;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = p;
    rv = repl_propose(call->api->repl, &w->prop, &cmd, pool_pushed);
    if (rv != 0) {
        api_respond_propose_error(call->api, call->req, rv);
        free(w);
    }
}

void api_pool_push_object(struct api_call *call, json_t *root)
{
    PoolPush p = POOL_PUSH__INIT;
    Invoice *invoices = NULL;
    if (parse_pool(call, root, &p, &invoices) && pool_visible(call, &p)) {
        propose_pool(call, &p);
    }
    free(p.invoices);
    free(invoices);
}

static void pool_body(struct http_request *req, int status)
{
    struct api_call *call = req->data;
    json_error_t jerr;
    json_t *root = NULL;

    req->data = NULL;
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
        goto out;
    }
    if (http_request_header(req, "idempotency-key") != NULL &&
        api_idempotency_key(req)[0] == '\0') {
        api_respond_error(call->api, req, 400, API_E_BAD_REQUEST,
                          "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ -");
        goto out;
    }
    root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        api_respond_error(call->api, req, 400, API_E_INVALID_JSON,
                          "body must be a JSON object: %s (line %d, column %d)",
                          root == NULL ? jerr.text : "not an object",
                          root == NULL ? jerr.line : 1, root == NULL ? jerr.column : 1);
        goto out;
    }
    api_pool_push_object(call, root);
out:
    json_decref(root);
    free(call);
}

void api_handle_pool_push(struct api_call *call)
{
    struct api_call *copy = xmalloc(sizeof *copy);
    *copy = *call;
    call->req->data = copy;
    http_request_buffer_body(call->req, JSON_BODY_MAX, pool_body);
}

/* ---- Submit ---- */

static void submitted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct bill_write *w = prop->data;
    if (status != 0) {
        api_respond_propose_failed(w->api, w->req, prop, status);
    } else if (res->status != ARCHIVE_OK) {
        api_respond_refusal(w->api, w->req, res);
    } else {
        struct base_err err = {{0}};
        BillRecord *bill;
        json_t *body = json_pack("{s:s, s:s, s:b, s:I}", "image_no", res->image_no, "state",
                                 res->state, "ready", strcmp(res->state, "ready") == 0 ||
                                 strcmp(res->state, "erp_submitted") == 0,
                                 "index", (json_int_t)res->index);
        /* The scheme and the ERP delivery as they stand after this command (native
         * answers only: the vendor's envelope keeps its fields). */
        if (!w->vendor &&
            archive_get_bill(w->api->archive, w->tenant, res->image_no, &bill, &err) == 0) {
            json_object_set_new(body, "mode", json_string(bill->mode));
            json_object_set_new(body, "invoices",
                                json_pack("{s:i, s:i}", "declared", (int)bill->n_invoices,
                                          "matched", (int)bill->invoices_matched));
            api_bill_erp_json(w->api, w->tenant, bill, body);
            archive_free_bill(bill);
        }
        api_respond_json(w->api, w->req, 200, body);
    }
    free(w);
}

static bool check_image_no(struct api_call *call)
{
    if (!archive_valid_image_no(call->param)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                          "image number '%.64s' is not valid: use 1-64 characters of A-Z a-z "
                          "0-9 . _ -",
                          call->param);
        return false;
    }
    return true;
}

void api_handle_submit(struct api_call *call)
{
    Command cmd = COMMAND__INIT;
    SubmitBill s = SUBMIT_BILL__INIT;
    struct bill_write *w;
    uint8_t digest[32];
    int rv;
    if (!check_image_no(call) || !api_bill_visible(call, call->param)) {
        return;
    }
    w = bill_write_new(call, call->param);
    s.image_no = w->image_no;
    crypto_generichash(digest, sizeof digest, (const uint8_t *)w->image_no,
                       strlen(w->image_no), NULL, 0);
    api_command_stamp(call, &cmd, w->idem);
    cmd.request_digest.data = digest;
    cmd.request_digest.len = sizeof digest;
    cmd.body_case = COMMAND__BODY_SUBMIT;
    cmd.submit = &s;
    rv = repl_propose(call->api->repl, &w->prop, &cmd, submitted);
    if (rv != 0) {
        api_respond_propose_error(call->api, call->req, rv);
        free(w);
    }
}

/* ---- Reads ---- */

static json_t *file_json(const FileRecord *f, size_t position)
{
    char hex[65];
    json_t *parts = json_array();
    json_t *j;
    for (size_t i = 0; i < f->n_parts; i++) {
        json_array_append_new(parts, json_string(f->parts[i]));
    }
    hex_encode(f->blob.data, f->blob.len < 32 ? f->blob.len : 32, hex);
    j = json_pack("{s:s, s:s, s:s, s:I, s:i, s:s, s:I, s:i, s:s, s:o, s:o, s:o, s:s, s:b}",
                  "file_id", f->file_id, "name", f->name, "format", f->format, "size",
                  (json_int_t)f->size, "pages", (int)f->pages, "category", f->category,
                  "position", (json_int_t)position, "rotation", (int)f->rotation, "blob", hex,
                  "invoice", archive_invoice_json(f->invoice), "match",
                  f->match[0] != '\0' ? json_string(f->match) : json_null(), "captured_at",
                  api_time_json(f->captured_ms), "captured_by", f->captured_by, "amended",
                  f->amended);
    /* A merged document lists its sub-pages; a sub-page names its document. */
    json_object_set_new(j, "parts", parts);
    json_object_set_new(j, "merged_into", f->merged_into[0] != '\0'
                                              ? json_string(f->merged_into)
                                              : json_null());
    json_object_set_new(j, "recognition", archive_recognition_json(f->recognition));
    json_object_set_new(j, "invoice_local", json_boolean(f->invoice_local));
    return j;
}

bool api_load_bill(struct api_call *call, BillRecord **bill)
{
    struct base_err err = {{0}};
    int rv;
    if (!check_image_no(call)) {
        return false;
    }
    rv = archive_get_bill_as(call->api->archive, &call->access, call->param, bill, &err);
    if (rv == BASE_ENOTFOUND && !api_org_visible(call, "")) {
        /* missing or outside the grants: a caller whose grants do not cover bills of no
         * organisation is not told which */
        api_respond_bill_hidden(call, call->param);
        return false;
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_BILL_NOT_FOUND,
                          "no bill with image number %s in tenant %s; check the image number "
                          "(cover code) or push the bill first",
                          call->param, call->tenant);
        return false;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        return false;
    }
    return true;
}

/* The bill's files in order; NULL (after responding) on a store error. */
static json_t *files_json(struct api_call *call, const BillRecord *bill)
{
    struct base_err err = {{0}};
    json_t *files = json_array();
    BillOrder *order;
    if (archive_get_order(call->api->archive, call->tenant, bill->image_no, &order, &err) != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file order: %s", err.msg);
        json_decref(files);
        return NULL;
    }
    for (size_t i = 0; i < order->n_file_ids; i++) {
        FileRecord *f;
        int rv = archive_get_file(call->api->archive, call->tenant, order->file_ids[i], &f, &err);
        if (rv != 0) {
            api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file %s: %s",
                              order->file_ids[i], rv == BASE_ENOTFOUND ? "record missing"
                                                                       : err.msg);
            json_decref(files);
            files = NULL;
            break;
        }
        json_array_append_new(files, file_json(f, i + 1));
        archive_free_file(f);
    }
    archive_free_order(order);
    return files;
}

static json_t *bill_json(const BillRecord *b)
{
    json_t *invoices = json_array();
    for (size_t i = 0; i < b->n_invoices; i++) {
        json_array_append_new(invoices, archive_invoice_json(b->invoices[i]));
    }
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o, s:o, s:o}", "image_no", b->image_no,
        "bill_no", b->bill_no, "bill_type", b->bill_type, "org", b->org, "submitter",
        b->submitter, "amount", b->amount, "currency", b->currency, "state", b->state,
        "in_pool", b->in_pool, "invoices", invoices, "created", api_time_json(b->created_ms),
        "updated", api_time_json(b->updated_ms));
    /* The ERP's identity of the bill: "" when the push did not give it. */
    json_object_set_new(j, "fbill_id", json_string(b->fbill_id));
    json_object_set_new(j, "source", json_string(b->source));
    json_object_set_new(j, "bill_type_name", json_string(b->bill_type_name));
    json_object_set_new(j, "submitter_phone", json_string(b->submitter_phone));
    json_object_set_new(j, "submitter_erp_name", json_string(b->submitter_erp_name));
    json_object_set_new(j, "org_name", json_string(b->org_name));
    json_object_set_new(j, "tax_no", json_string(b->tax_no));
    /* What the workflow decided (a migration to another archive carries it over). */
    json_object_set_new(j, "mode", b->mode[0] != '\0' ? json_string(b->mode) : json_null());
    json_object_set_new(j, "match_level", json_string(b->match_level));
    json_object_set_new(j, "invoices_matched", json_integer(b->invoices_matched));
    json_object_set_new(j, "returned_reason",
                        b->returned_reason[0] != '\0' ? json_string(b->returned_reason)
                                                      : json_null());
    json_object_set_new(j, "erp_error",
                        b->erp_error[0] != '\0' ? json_string(b->erp_error) : json_null());
    /* Legal holds in force: while there is one, no file may be deleted or replaced. */
    json_object_set_new(j, "holds", api_holds_json(b));
    return j;
}

void api_handle_get_bill(struct api_call *call)
{
    BillRecord *bill;
    json_t *files;
    json_t *body;
    if (!api_load_bill(call, &bill)) {
        return;
    }
    files = files_json(call, bill);
    if (files != NULL) {
        body = bill_json(bill);
        /* The end of its retention period: DELETE /api/v1/bills/{image_no} is refused
         * before. */
        json_object_set_new(body, "retain_until", api_retain_until_json(call, bill));
        json_object_set_new(body, "files", files);
        api_respond_json(call->api, call->req, 200, body);
    }
    archive_free_bill(bill);
}

/* The words for why a bill is not ready yet (or why the ERP refused it), which
 * archive/bill_state.c decides, for an operator to act on. */
static json_t *reasons_json(const BillRecord *b)
{
    enum bill_reason why[BILL_REASONS_MAX];
    size_t n = bill_state_reasons(b, why);
    json_t *r = json_array();
    for (size_t i = 0; i < n; i++) {
        char buf[64]; /* the receiver's answer body never shows here */
        switch (why[i]) {
        case BILL_REASON_NO_FILES:
            json_array_append_new(r, json_string("no files captured yet"));
            break;
        case BILL_REASON_NOT_SUBMITTED:
            json_array_append_new(r, json_string("captured but not submitted"));
            break;
        case BILL_REASON_RETURNED:
            json_array_append_new(r, json_sprintf("returned for rescanning: %s",
                                                  b->returned_reason));
            break;
        case BILL_REASON_UNMATCHED:
            json_array_append_new(r, json_sprintf("%u of %u declared invoices are not "
                                                  "matched (GET /api/v1/bills/%s/match shows "
                                                  "which and why)",
                                                  (unsigned)(b->n_invoices - b->invoices_matched),
                                                  (unsigned)b->n_invoices, b->image_no));
            break;
        case BILL_REASON_ERP_FAILED:
            json_array_append_new(r, json_sprintf("submission to the ERP failed: %s; retry "
                                                  "with POST /api/v1/bills/%s/erp-submit",
                                                  api_receiver_error(b->erp_error, buf,
                                                                     sizeof buf),
                                                  b->image_no));
            break;
        case BILL_REASON_NOT_IN_POOL:
            json_array_append_new(r, json_string("no pool bill pushed by the business system "
                                                 "for this image number"));
            break;
        }
    }
    return r;
}

void api_handle_status(struct api_call *call)
{
    BillRecord *bill;
    json_t *body;
    if (!api_load_bill(call, &bill)) {
        return;
    }
    body = json_pack("{s:s, s:s, s:b, s:s?, s:{s:i, s:i, s:i}, s:{s:i, s:i}, s:i, s:o, s:o}",
                     "image_no", bill->image_no, "state", bill->state, "ready",
                     bill_state_ready(bill), "mode",
                     bill->mode[0] != '\0' ? bill->mode : NULL, "counts", "cover",
                     (int)bill->covers, "invoice", (int)bill->invoice_files, "attachment",
                     (int)bill->attachments, "invoices", "declared", (int)bill->n_invoices,
                     "matched", (int)bill->invoices_matched, "files", (int)bill->files,
                     "reasons", reasons_json(bill), "updated",
                     api_time_json(bill->updated_ms));
    api_bill_erp_json(call->api, call->tenant, bill, body);
    api_respond_json(call->api, call->req, 200, body);
    archive_free_bill(bill);
}

struct list_ctx {
    struct api_call *call;
    json_t *list;
};

/* One listed bill (the archive applied the caller's grants already). */
static void list_one(const BillRecord *b, void *arg)
{
    struct list_ctx *ctx = arg;
    char buf[64];
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:o}", "image_no", b->image_no,
                          "bill_no", b->bill_no, "bill_type", b->bill_type, "org", b->org,
                          "state", b->state, "files", (int)b->files, "updated",
                          api_time_json(b->updated_ms));
    json_object_set_new(j, "fbill_id", json_string(b->fbill_id));
    json_object_set_new(j, "org_name", json_string(b->org_name));
    json_object_set_new(j, "created", api_time_json(b->created_ms));
    /* G6: what the console's lists show without reading each bill again. */
    json_object_set_new(j, "mode", b->mode[0] != '\0' ? json_string(b->mode) : json_null());
    json_object_set_new(j, "submitter", json_string(b->submitter));
    json_object_set_new(j, "amount", json_string(b->amount));
    json_object_set_new(j, "currency", json_string(b->currency));
    json_object_set_new(j, "invoices", json_pack("{s:i, s:i}", "declared", (int)b->n_invoices,
                                                 "matched", (int)b->invoices_matched));
    json_object_set_new(j, "returned_reason", b->returned_reason[0] != '\0'
                                                  ? json_string(b->returned_reason)
                                                  : json_null());
    json_object_set_new(j, "erp_error",
                        b->erp_error[0] != '\0'
                            ? json_string(api_receiver_error(b->erp_error, buf, sizeof buf))
                            : json_null());
    json_array_append_new(ctx->list, j);
}

/* Bills read per list request at most when no indexed filter names the bill: a bounded
 * time on the loop whatever the filters (a page may then end early with a cursor). */
#define LIST_SCAN_MAX 10000

/* The query parameters of GET /api/v1/bills, with tenant and consistent (the router's). */
static const char *const list_params[] = {
    "state",   "bill_type", "org",          "bill_no",    "fbill_id", "image_no",
    "created_from", "created_to", "limit", "cursor", "tenant", "consistent", "mode",
    "updated_from", "updated_to",
};
#define LIST_PARAM_NAMES                                                                    \
    "state, bill_type, org, bill_no, fbill_id, image_no, created_from, created_to, "        \
    "updated_from, updated_to, mode, " \
    "limit, cursor (and tenant, consistent)"

/* The states a bill can be in (archive/bill_state.h), for ?state=, as "a, b, c". */
static void state_names(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int s = 0; s < BILL_STATE_COUNT && used < size; s++) {
        int n = snprintf(buf + used, size - used, "%s%s", s > 0 ? ", " : "",
                         bill_state_name((enum bill_state)s));
        used += n > 0 ? (size_t)n : 0;
    }
}

/* Every parameter of the query string is one the list knows, given once, and decodes;
 * false after answering 400 naming the first that is not. */
static bool list_params_known(struct api_call *call)
{
    const char *q = call->req->query;
    bool seen[ARRAY_SIZE(list_params)] = {false};
    bool ok = true;
    while (ok && q != NULL && *q != '\0') {
        size_t len = strcspn(q, "&");
        size_t nlen = strcspn(q, "=&");
        char *name;
        size_t i;
        if (len == 0) { /* the separator, or "&&" */
            q++;
            continue;
        }
        name = http_percent_decode(q, nlen, true);
        for (i = 0; name != NULL && i < ARRAY_SIZE(list_params); i++) {
            if (strcmp(name, list_params[i]) == 0) {
                break;
            }
        }
        if (name == NULL || i == ARRAY_SIZE(list_params)) {
            /* Named when it could be a parameter's name: other text is not echoed. */
            bool plain = name != NULL && strlen(name) <= 32 &&
                         strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                      "0123456789_.-") == strlen(name);
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "unknown query parameter%s%s%s; the bill list takes "
                              LIST_PARAM_NAMES, plain ? " '" : "", plain ? name : "",
                              plain ? "'" : "");
            ok = false;
        } else if (seen[i]) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "query parameter '%s' is given twice", list_params[i]);
            ok = false;
        } else if (nlen < len) {
            char *value = http_percent_decode(q + nlen + 1, len - nlen - 1, true);
            if (value == NULL) {
                api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                                  "query parameter '%s' has a broken %%-escape or an "
                                  "encoded NUL", list_params[i]);
                ok = false;
            }
            free(value);
        }
        if (ok && name != NULL) {
            seen[i] = true;
        }
        free(name);
        q += len;
    }
    return ok;
}

/* Query parameter @name into *@out (NULL when absent). An empty value is refused unless
 * @empty_ok (an exact filter on an empty field: e.g. ?org= lists bills of no
 * organisation). */
static bool query_filter(struct api_call *call, const char *name, char **out, bool image_no,
                         bool empty_ok)
{
    *out = http_request_query(call->req, name);
    if (*out == NULL) {
        return true;
    }
    if ((**out == '\0' && !empty_ok) || strlen(*out) > FIELD_MAX ||
        (image_no && !archive_valid_image_no(*out))) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "query parameter '%s' is not valid: %s", name,
                          image_no ? "an image number, 1-64 characters of A-Z a-z 0-9 . _ -"
                                   : "1-256 bytes");
        return false;
    }
    return true;
}

int64_t api_parse_time(const char *v, bool end_of_day)
{
    int64_t ms = -1;
    if (strlen(v) == 10) {
        char full[32];
        snprintf(full, sizeof full, "%sT00:00:00Z", v);
        ms = clock_parse_rfc3339(full);
        if (ms >= 0 && end_of_day) {
            ms += 86400000;
        }
    } else if (strlen(v) <= 40) {
        char copy[41];
        char *sp;
        memcpy(copy, v, strlen(v) + 1);
        sp = strchr(copy, ' ');
        if (sp != NULL && sp - copy >= 19) {
            *sp = '+';
        }
        ms = clock_parse_rfc3339(copy);
    }
    return ms > 0 ? ms : -1;
}

/* ?created_from= / ?created_to=: api_parse_time(). 0 when absent; false after
 * answering 400. */
static bool query_time(struct api_call *call, const char *name, bool end_of_day, uint64_t *out)
{
    char *v = http_request_query(call->req, name);
    int64_t ms;
    *out = 0;
    if (v == NULL) {
        return true;
    }
    ms = api_parse_time(v, end_of_day);
    if (ms <= 0) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "query parameter '%s' must be an RFC 3339 time "
                          "(2026-12-01T08:00:00Z, 2026-12-01T16:00:00%%2B08:00) or a date "
                          "(2026-12-01, UTC) after 1970",
                          name);
        free(v);
        return false;
    }
    *out = (uint64_t)ms;
    free(v);
    return true;
}

struct list_query {
    char *state, *type, *org, *bill_no, *fbill_id, *image_no, *cursor, *limit, *mode;
};

/* Reads and checks every filter into @f (pointing into @q); false after answering. */
static bool list_filter(struct api_call *call, struct list_query *q,
                        struct archive_bill_filter *f)
{
    char states[160];
    if (!list_params_known(call) || !query_filter(call, "state", &q->state, false, true) ||
        !query_filter(call, "bill_type", &q->type, false, true) ||
        !query_filter(call, "org", &q->org, false, true) ||
        !query_filter(call, "bill_no", &q->bill_no, false, true) ||
        !query_filter(call, "fbill_id", &q->fbill_id, false, false) ||
        !query_filter(call, "image_no", &q->image_no, true, false) ||
        !query_filter(call, "cursor", &q->cursor, true, false) ||
        !query_filter(call, "limit", &q->limit, false, false) ||
        !query_filter(call, "mode", &q->mode, false, false) ||
        !query_time(call, "created_from", false, &f->created_from_ms) ||
        !query_time(call, "created_to", true, &f->created_to_ms) ||
        !query_time(call, "updated_from", false, &f->updated_from_ms) ||
        !query_time(call, "updated_to", true, &f->updated_to_ms)) {
        return false;
    }
    if (q->state != NULL && !bill_state_parse(q->state, &(enum bill_state){0})) {
        state_names(states, sizeof states);
        /* The value is not echoed: a caller's text never comes back in an answer. */
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "query parameter 'state' must be one of %s", states);
        return false;
    }
    if (q->mode != NULL && !archive_valid_mode(q->mode)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "query parameter 'mode' must be one of basic, sync, match (the "
                          "image mode decided at submit)");
        return false;
    }
    if (q->fbill_id != NULL && !archive_valid_fbill_id(q->fbill_id)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "query parameter 'fbill_id' must be 1-%d printable ASCII characters "
                          "without spaces (percent-encode '+' as %%2B)", ARCHIVE_FBILL_ID_MAX);
        return false;
    }
    if (q->limit != NULL) {
        char *end;
        unsigned long n = strtoul(q->limit, &end, 10);
        if (*end != '\0' || n < 1 || n > 1000 || q->limit[0] == '-' || q->limit[0] == '+') {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "query parameter 'limit' must be a number from 1 to 1000");
            return false;
        }
        f->limit = (unsigned)n;
    }
    f->state = q->state;
    f->bill_type = q->type;
    f->org = q->org;
    f->bill_no = q->bill_no;
    f->fbill_id = q->fbill_id;
    f->image_no = q->image_no;
    f->after = q->cursor;
    f->mode = q->mode;
    return true;
}

void api_handle_list_bills(struct api_call *call)
{
    struct archive_bill_filter f = {.limit = 100, .scan_max = LIST_SCAN_MAX,
                                    .actor = &call->access};
    struct list_query q = {0};
    struct archive_bill_page page;
    struct base_err err = {{0}};
    struct list_ctx ctx;
    json_t *list;

    if (!list_filter(call, &q, &f)) {
        goto out;
    }
    list = json_array();
    ctx = (struct list_ctx){.call = call, .list = list};
    if (archive_list_bills(call->api->archive, call->tenant, &f, list_one, &ctx, &page,
                           &err) != 0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        goto out;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:o, s:o}", "bills", list, "next_cursor",
                               page.more ? json_string(page.resume_after) : json_null()));
out:
    free(q.state);
    free(q.type);
    free(q.org);
    free(q.bill_no);
    free(q.fbill_id);
    free(q.image_no);
    free(q.cursor);
    free(q.limit);
    free(q.mode);
}

static void log_one(const AuditRecord *e, void *arg)
{
    json_t *list = arg;
    json_error_t jerr;
    json_t *detail = json_loads(e->detail, 0, &jerr);
    json_array_append_new(list, json_pack("{s:I, s:o, s:s, s:s, s:s, s:o}", "index",
                                          (json_int_t)e->index, "time", api_time_json(e->time_ms),
                                          "action", e->action, "operator", e->operator_,
                                          "request_id", e->request_id, "detail",
                                          detail != NULL ? detail : json_null()));
}

void api_handle_log(struct api_call *call)
{
    BillRecord *bill;
    struct base_err err = {{0}};
    json_t *list;
    if (!api_load_bill(call, &bill)) {
        return;
    }
    archive_free_bill(bill);
    list = json_array();
    if (archive_list_audit(call->api->archive, call->tenant, call->param, log_one, list, &err) !=
        0) {
        json_decref(list);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "%s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:o}", "image_no", call->param, "entries", list));
}
