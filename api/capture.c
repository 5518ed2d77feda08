/* Capture: POST /api/v1/bills/{image_no}/files.
 *
 * The body streams into the blob store (replication/blob_in.c) while a worker looks at its bytes
 * (the cover code here; the leading bytes and a first guess at a PDF's pages in
 * probe.c); the worker that finishes the file then reads what it is (probe.c: the
 * format from the content, a PDF's pages from qpdf, an e-invoice's data). Once the
 * blob is durable and in place here, copies go to the other nodes placement chooses
 * (replication/keeper.c); as soon as the write quorum of durable copies exists an
 * AddFile command is proposed (the other copies go on in the keeper), and the client
 * gets 201 after it is applied. The request's shared part (probe.c, struct
 * api_intake) is the vendor's fileCollect's too (vendor_collect.c).
 *
 * A resumable upload (uploads.c) captures the same way: its parameters are read here
 * when it is created (api_capture_params()) and kept as JSON; once every byte has
 * arrived, api_capture_file() stores the staged file as a body is stored. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/hex.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "replication/repl.h"

#define NAME_MAX_BYTES 255
#define CARRY_BYTES 64

struct capture {
    struct api_intake in; /* the request, the file (in.up, in.probe), copies, proposal */
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    char *name;
    bool name_given; /* else the name is made from the file id */
    char category[32];
    char after[ARCHIVE_ID_MAX + 1];
    char replace[ARCHIVE_ID_MAX + 1]; /* the file this one replaces, or "" */
    bool amend;                       /* the caller may amend a ready sync-mode bill */
    bool barcode_is_cover;            /* the scanner read the image number off this page */
    char batch[ARCHIVE_ID_MAX + 1];   /* the capture batch, or "" */
    /* Invoice data supplied with the file: number, code, date, amount, tax, total. */
    char invoice[6][ARCHIVE_INVOICE_FIELD_MAX + 1];
    char idem[ARCHIVE_ID_MAX + 1];
    char file_id[ARCHIVE_FILE_ID_BYTES + 1];
    int recognize; /* 1 asked, -1 refused, 0 automatic (api/recognition.c) */

    /* Whether the file carries the image number as a cover code, found by the worker
     * that writes it. */
    char carry[CARRY_BYTES];
    size_t carry_len;
    bool cover_code_seen;

    /* A staged file's capture (api_capture_file()): told the answer instead of it being
     * sent, or NULL once the request was answered with a failure. */
    void (*file_done)(void *data, json_t *answer);
    void *file_data;
};

static void capture_free(struct capture *c)
{
    void (*done)(void *, json_t *) = c->file_done;
    void *data = c->file_data;
    free(c->name);
    free(c);
    if (done != NULL) {
        done(data, NULL);
    }
}

/* Looks at the bytes being written: what the file is (api_probe_bytes()), and the
 * cover code. The carry keeps the tail of the previous chunk so matches across chunks
 * are found. */
static void inspect(struct blob_in *u, const char *data, size_t len)
{
    struct capture *c = u->data;
    size_t code_len = strlen(c->image_no);
    size_t take = len < CARRY_BYTES ? len : CARRY_BYTES;
    char window[2 * CARRY_BYTES];
    api_probe_bytes(&c->in.probe, data, len);
    if (!c->cover_code_seen && memmem(data, len, c->image_no, code_len) != NULL) {
        c->cover_code_seen = true;
    }
    /* Matches that straddle the chunk boundary. */
    memcpy(window, c->carry, c->carry_len);
    memcpy(window + c->carry_len, data, take);
    if (!c->cover_code_seen && memmem(window, c->carry_len + take, c->image_no, code_len)) {
        c->cover_code_seen = true;
    }
    memcpy(c->carry, data + len - take, take);
    c->carry_len = take;
}

/* The whole file, on the worker that finished it (api_probe_file()). An e-invoice's
 * data is read when the caller gave none and the file is captured as an invoice or
 * with no category. */
static void examine(struct blob_in *u, const char *path)
{
    struct capture *c = u->data;
    bool invoice = c->invoice[0][0] == '\0' &&
                   (c->category[0] == '\0' || strcmp(c->category, "invoice") == 0);
    api_probe_file(&c->in.probe, c->in.api, path, c->name, invoice);
}

/* ---- After the body: durable, then proposed ---- */

static void captured(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct capture *c = prop->data;
    char hex[65];
    if (api_intake_applied(&c->in, status, res)) {
        json_t *answer;
        hex_encode(c->in.up.writer.hash, BLOB_HASH_BYTES, hex);
        answer = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:i, s:I, s:b, s:i}", "file_id",
                                   res->file_id, "image_no", res->image_no, "blob", hex, "size",
                                   (json_int_t)c->in.up.writer.size, "format",
                                   c->in.probe.format, "pages", (int)api_probe_pages(&c->in.probe),
                                   "category",
                                   res->category, "position", (int)res->position, "index",
                                   (json_int_t)res->index, "replayed", res->replayed, "copies",
                                   (int)c->in.copies.copies);
        if (c->file_done != NULL) {
            c->file_done(c->file_data, answer);
            c->file_done = NULL;
            json_decref(answer);
        } else {
            api_respond_json(c->in.api, c->in.req, 201, answer);
        }
    }
    capture_free(c);
}

/* The request digest: what makes two uploads "the same request" for idempotency. */
static void capture_digest(const struct capture *c, uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, (const uint8_t *)c->image_no, strlen(c->image_no) + 1);
    /* The name as the client sent it: a made-up one differs on every try. */
    crypto_generichash_update(&st, (const uint8_t *)(c->name_given ? c->name : ""),
                              c->name_given ? strlen(c->name) + 1 : 1);
    crypto_generichash_update(&st, (const uint8_t *)c->category, strlen(c->category) + 1);
    crypto_generichash_update(&st, (const uint8_t *)c->after, strlen(c->after) + 1);
    crypto_generichash_update(&st, (const uint8_t *)c->replace, strlen(c->replace) + 1);
    crypto_generichash_update(&st, (const uint8_t *)&c->barcode_is_cover, 1);
    crypto_generichash_update(&st, (const uint8_t *)c->batch, strlen(c->batch) + 1);
    for (size_t i = 0; i < ARRAY_SIZE(c->invoice); i++) {
        crypto_generichash_update(&st, (const uint8_t *)c->invoice[i], strlen(c->invoice[i]) + 1);
    }
    crypto_generichash_update(&st, c->in.up.writer.hash, BLOB_HASH_BYTES);
    crypto_generichash_final(&st, out, 32);
}

/* The blob has its write quorum of durable copies: the capture is proposed. */
static void propose_capture(struct api_intake *in)
{
    struct capture *c = in->data;
    Command cmd = COMMAND__INIT;
    AddFile f = ADD_FILE__INIT;
    Invoice inv = INVOICE__INIT;
    uint8_t digest[32];

    capture_digest(c, digest);
    f.image_no = c->image_no;
    f.file_id = c->file_id;
    f.name = c->name;
    f.format = c->in.probe.format;
    f.size = c->in.up.writer.size;
    f.pages = api_probe_pages(&c->in.probe);
    f.category = c->category;
    f.after = c->after;
    f.replace = c->replace;
    f.batch = c->batch;
    f.holders = c->in.copies.holders; /* this node, and those it copied the blob to */
    f.n_holders = c->in.copies.n_holders;
    f.amend = c->amend;
    f.blob.data = c->in.up.writer.hash;
    f.blob.len = BLOB_HASH_BYTES;
    f.check = c->in.up.writer.check;
    f.has_cover_code =
        c->barcode_is_cover || c->cover_code_seen || strstr(c->name, c->image_no) != NULL;
    if (c->invoice[0][0] != '\0') {
        inv.number = c->invoice[0];
        inv.code = c->invoice[1];
        inv.date = c->invoice[2];
        inv.amount = c->invoice[3];
        inv.tax = c->invoice[4];
        inv.total = c->invoice[5];
        f.invoice = &inv;
    } else if (c->in.probe.einv_read) {
        einvoice_to_proto(&c->in.probe.einv, &inv);
        f.invoice = &inv;
    }
    f.structured_invoice =
        strcmp(c->in.probe.format, "xml") == 0 || strcmp(c->in.probe.format, "ofd") == 0;
    f.recognize = c->recognize > 0 || (c->recognize == 0 &&
                                       api_recognition_auto(c->in.api, c->category,
                                                            c->in.probe.format, f.invoice != NULL));
    cmd.request_digest.data = digest;
    cmd.request_digest.len = sizeof digest;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &f;
    if (!api_intake_propose(in, &cmd, c->idem, captured)) {
        capture_free(c);
    }
}

static void release(struct api_intake *in)
{
    capture_free(in->data);
}

/* The body is stored here: copies go to other nodes, then the capture is proposed. */
static void uploaded(struct blob_in *u, int status)
{
    struct capture *c = u->data;
    if (status != 0) {
        c->in.api->captures_failed++;
        blob_in_respond_failure(u, status, "the file");
        capture_free(c);
        return;
    }
    api_probe_log(&c->in.probe, "capture", c->in.req->request_id, c->file_id);
    api_intake_copy(&c->in, propose_capture, release);
}

/* ---- Request checks ---- */

/* A file name is kept for display and downloads: valid UTF-8, no path separators,
 * no control characters, not "." or "..". */
static bool valid_file_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > NAME_MAX_BYTES || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f || ch == '/' || ch == '\\') {
            return false;
        }
    }
    return utf8_valid(s, n);
}

/* Reads ?barcode=, ?batch= and the invoice_* fields; false after responding. */
static bool capture_data_params(struct api_call *call, struct capture *c)
{
    static const char *const names[] = {"invoice_number", "invoice_code", "invoice_date",
                                        "invoice_amount", "invoice_tax", "invoice_total"};
    char *barcode = http_request_query(call->req, "barcode");
    char *batch = http_request_query(call->req, "batch");
    bool ok = true;
    c->barcode_is_cover = barcode != NULL && strcmp(barcode, c->image_no) == 0;
    free(barcode);
    if (batch != NULL && !archive_valid_tenant(batch)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "batch ids are 1-64 characters of A-Z a-z 0-9 . _ -");
        ok = false;
    } else if (batch != NULL) {
        snprintf(c->batch, sizeof c->batch, "%s", batch);
    }
    free(batch);
    for (size_t i = 0; i < ARRAY_SIZE(names) && ok; i++) {
        char *v = http_request_query(call->req, names[i]);
        int64_t cents;
        if (v == NULL) {
            continue;
        }
        if (strlen(v) > ARCHIVE_INVOICE_FIELD_MAX ||
            (i >= 3 && v[0] != '\0' && !archive_amount_cents(v, &cents))) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "%s must be at most 64 characters%s", names[i],
                              i >= 3 ? ", a decimal amount with at most two decimals" : "");
            ok = false;
        } else {
            snprintf(c->invoice[i], sizeof c->invoice[i], "%s", v);
        }
        free(v);
    }
    if (ok && c->invoice[0][0] == '\0') {
        for (size_t i = 1; i < ARRAY_SIZE(names) && ok; i++) {
            if (c->invoice[i][0] != '\0') {
                api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                                  "invoice data needs invoice_number");
                ok = false;
            }
        }
    }
    return ok;
}

/* Reads name, category and after from the query; false after responding. */
static bool capture_params(struct api_call *call, struct capture *c)
{
    char *category = http_request_query(call->req, "category");
    char *after = http_request_query(call->req, "after");
    char *replace = http_request_query(call->req, "replace");
    bool ok = false;
    c->name = http_request_query(call->req, "name");
    c->name_given = c->name != NULL && c->name[0] != '\0';
    if (!c->name_given) {
        free(c->name);
        c->name = xasprintf("%s.bin", c->file_id);
    }
    if (!valid_file_name(c->name)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FILE_NAME,
                          "file name must be 1-255 bytes of valid UTF-8 without '/', '\\', "
                          "control characters, and not '.' or '..'");
    } else if (category != NULL && !archive_valid_category(category)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_CATEGORY,
                          "unknown category '%.32s'; use cover, invoice, attachment or a "
                          "category of the tenant (GET /api/v1/categories)", category);
    } else if (after != NULL && (strlen(after) > ARCHIVE_ID_MAX || !archive_valid_tenant(after))) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "'after' must be a file id of this bill");
    } else if (replace != NULL &&
               (strlen(replace) > ARCHIVE_ID_MAX || !archive_valid_tenant(replace) ||
                after != NULL)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "'replace' must be a file id of this bill (and a replacement takes "
                          "the replaced file's place: no 'after')");
    } else {
        snprintf(c->category, sizeof c->category, "%s", category != NULL ? category : "");
        snprintf(c->after, sizeof c->after, "%s", after != NULL ? after : "");
        snprintf(c->replace, sizeof c->replace, "%s", replace != NULL ? replace : "");
        c->amend = archive_actor_may(&call->access, PERM_AMEND);
        /* The name's word until the content has its say (examine()). */
        snprintf(c->in.probe.format, sizeof c->in.probe.format, "%s",
                 document_format_from_name(c->name));
        ok = true;
    }
    free(category);
    free(after);
    free(replace);
    return ok;
}

/* License and quota before any body byte is read (api_write_allowed_now()), unless the
 * request is a retry: the state machine answers it from the first result. */
static bool capture_allowed_now(struct api_call *call)
{
    uint64_t size = call->req->has_content_length ? call->req->content_length : 0;
    if (archive_idem_known(call->api->archive, call->tenant, api_idempotency_key(call->req))) {
        return true;
    }
    return api_write_allowed_now(call, size);
}

void api_handle_upload(struct api_call *call)
{
    struct capture *c;
    const char *idem = api_idempotency_key(call->req);
    if (!archive_valid_image_no(call->param)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_IMAGE_NO,
                          "image number '%.64s' is not valid: use 1-64 characters of A-Z a-z "
                          "0-9 . _ -",
                          call->param);
        return;
    }
    if (idem != NULL && idem[0] == '\0') {
        api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST,
                          "Idempotency-Key must be 1-64 characters of A-Z a-z 0-9 . _ -");
        return;
    }
    if (!call->req->has_content_length && !call->req->chunked) {
        api_respond_error(call->api, call->req, 411, API_E_LENGTH_REQUIRED,
                          "send Content-Length (or a chunked body) with the file");
        return;
    }
    if (!api_bill_visible(call, call->param) || !capture_allowed_now(call)) {
        return;
    }
    if (blob_space_refuse(&call->api->blob_path, call->req, "files")) {
        call->api->captures_failed++;
        return;
    }
    c = xcalloc(1, sizeof *c);
    api_intake_init(&c->in, call, inspect, examine, uploaded, c);
    snprintf(c->image_no, sizeof c->image_no, "%.*s", ARCHIVE_IMAGE_NO_MAX, call->param);
    snprintf(c->idem, sizeof c->idem, "%s", idem != NULL ? idem : "");
    archive_new_file_id(c->file_id);
    if (!capture_params(call, c) || !capture_data_params(call, c) ||
        !api_recognition_param(call, c->category, c->invoice[0][0] != '\0', &c->recognize)) {
        capture_free(c);
        return;
    }
    blob_in_start(&c->in.up);
}

/* ---- A staged file (a resumable upload, uploads.c) ---- */

json_t *api_capture_params(struct api_call *call, const char *image_no, const char *file_id,
                           const char *name_fallback)
{
    struct capture *c = xcalloc(1, sizeof *c);
    char *qname = http_request_query(call->req, "name");
    json_t *invoice = json_array(), *out = NULL;
    snprintf(c->image_no, sizeof c->image_no, "%s", image_no);
    snprintf(c->file_id, sizeof c->file_id, "%s", file_id);
    if (capture_params(call, c)) {
        /* The query's name first, then the one the upload's metadata carries. */
        if ((qname == NULL || qname[0] == '\0') && name_fallback != NULL &&
            name_fallback[0] != '\0') {
            free(c->name);
            c->name = xstrdup(name_fallback);
            c->name_given = true;
            if (!valid_file_name(c->name)) {
                api_respond_error(call->api, call->req, 400, API_E_INVALID_FILE_NAME,
                                  "the file name in Upload-Metadata must be 1-255 bytes of "
                                  "valid UTF-8 without '/', '\\', control characters, and not "
                                  "'.' or '..'");
                goto done;
            }
        }
        if (!capture_data_params(call, c) ||
            !api_recognition_param(call, c->category, c->invoice[0][0] != '\0',
                                   &c->recognize)) {
            goto done;
        }
        for (size_t i = 0; i < ARRAY_SIZE(c->invoice); i++) {
            json_array_append_new(invoice, json_string(c->invoice[i]));
        }
        out = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:s, s:b, s:O, s:i}", "image_no",
                        c->image_no, "file_id", c->file_id, "name", c->name, "name_given",
                        c->name_given, "category", c->category, "after", c->after, "replace",
                        c->replace, "batch", c->batch, "barcode_is_cover", c->barcode_is_cover,
                        "invoice", invoice, "recognize", c->recognize);
    }
done:
    json_decref(invoice);
    free(qname);
    free(c->name);
    free(c);
    return out;
}

/* Copies string @key of @params into @dst; false when it is missing or too long. */
static bool param_string(json_t *params, const char *key, char *dst, size_t size)
{
    const char *v = json_string_value(json_object_get(params, key));
    if (v == NULL || strlen(v) >= size) {
        return false;
    }
    memcpy(dst, v, strlen(v) + 1);
    return true;
}

/* The capture api_capture_params() described, checked again: the record was read back
 * from disk. */
static bool capture_from_params(struct capture *c, json_t *params)
{
    json_t *invoice = json_object_get(params, "invoice");
    const char *name = json_string_value(json_object_get(params, "name"));
    if (!param_string(params, "image_no", c->image_no, sizeof c->image_no) ||
        !archive_valid_image_no(c->image_no) ||
        !param_string(params, "file_id", c->file_id, sizeof c->file_id) ||
        !param_string(params, "category", c->category, sizeof c->category) ||
        (c->category[0] != '\0' && !archive_valid_category(c->category)) ||
        !param_string(params, "after", c->after, sizeof c->after) ||
        !param_string(params, "replace", c->replace, sizeof c->replace) ||
        !param_string(params, "batch", c->batch, sizeof c->batch) || name == NULL ||
        !valid_file_name(name) || !json_is_array(invoice) ||
        json_array_size(invoice) != ARRAY_SIZE(c->invoice) ||
        !json_is_integer(json_object_get(params, "recognize"))) {
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(c->invoice); i++) {
        const char *v = json_string_value(json_array_get(invoice, i));
        if (v == NULL || strlen(v) >= sizeof c->invoice[i]) {
            return false;
        }
        memcpy(c->invoice[i], v, strlen(v) + 1);
    }
    c->name = xstrdup(name);
    c->name_given = json_is_true(json_object_get(params, "name_given"));
    c->barcode_is_cover = json_is_true(json_object_get(params, "barcode_is_cover"));
    c->recognize = (int)json_integer_value(json_object_get(params, "recognize"));
    snprintf(c->in.probe.format, sizeof c->in.probe.format, "%s",
             document_format_from_name(c->name));
    return true;
}

void api_capture_file(struct api_call *call, json_t *params, const char *idem, const char *path,
                      uint64_t size, void (*done)(void *data, json_t *answer), void *data)
{
    struct capture *c = xcalloc(1, sizeof *c);
    api_intake_init(&c->in, call, inspect, examine, uploaded, c);
    c->file_done = done;
    c->file_data = data;
    snprintf(c->idem, sizeof c->idem, "%s", idem);
    c->amend = archive_actor_may(&call->access, PERM_AMEND);
    if (!capture_from_params(c, params)) {
        call->api->captures_failed++;
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL,
                          "the upload's record on this node is damaged: its capture "
                          "parameters cannot be read; cancel the upload (DELETE) and start a "
                          "new one");
        capture_free(c);
        return;
    }
    blob_in_start_file(&c->in.up, path, size);
}
