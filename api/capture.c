/* Capture: POST /api/v1/bills/{image_no}/files.
 *
 * The body streams into the blob store (replication/blob_in.c) while a worker looks at its bytes
 * (the leading bytes, the cover code, a first guess at a PDF's pages); the worker that
 * finishes the file then reads what it is (archive/document.h: the format from the
 * content, a PDF's pages from qpdf). Once the blob is durable and in place here, copies
 * go to the other nodes placement chooses (replication/keeper.c); as soon as the write
 * quorum of durable copies exists an AddFile command is proposed (the other copies go
 * on in the keeper), and the client gets 201 after it is applied. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/document.h"
#include "archive/einvoice.h"
#include "archive/license.h"
#include "archive/users.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "replication/repl.h"

#define NAME_MAX_BYTES 255
#define CARRY_BYTES 64

struct capture {
    struct api *api;
    struct http_request *req;
    char tenant[ARCHIVE_ID_MAX + 1];
    char actor[ARCHIVE_ID_MAX + 16];
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
    char format[8];
    int recognize; /* 1 asked, -1 refused, 0 automatic (api/recognition.c) */

    struct blob_in up;

    /* Content inspection, done by the worker on the bytes it writes... */
    char carry[CARRY_BYTES];
    size_t carry_len;
    uint8_t head[DOCUMENT_HEAD_BYTES];
    size_t head_len;
    bool cover_code_seen;
    uint32_t pdf_pages; /* the byte scan's count, then qpdf's when it read the file */
    /* ...and on the whole file once it is written (examine()). */
    bool pdf_unread;          /* a PDF qpdf could not read: the scan's count stands */
    bool pdf_failed;          /* no count from the child (limits, no turn, could not
                                 start): the same, and a WARN */
    struct base_err pdf_err;  /* why, logged on the loop */
    struct einvoice einv;     /* the data of an e-invoice file, when einv_read */
    bool einv_read;
    bool einv_unread;         /* an XML or OFD invoice without readable data */
    struct base_err einv_err; /* why, logged on the loop */
    struct child_result pdf_child; /* how the counting child ended */

    struct keeper_copies copies;
    struct repl_propose prop;
};

static void capture_free(struct capture *c)
{
    free(c->name);
    free(c);
}

/* The one place a capture ends: answers (or releases) the request and frees. */
static void capture_fail(struct capture *c, int status, enum api_error code, const char *msg)
{
    c->api->captures_failed++;
    api_respond_error(c->api, c->req, status, code, "%s", msg);
    capture_free(c);
}

/* Looks at the bytes being written: magic number, the cover code, PDF pages. The
 * carry keeps the tail of the previous chunk so matches across chunks are found. */
static void inspect(struct blob_in *u, const char *data, size_t len)
{
    struct capture *c = u->data;
    size_t code_len = strlen(c->image_no);
    size_t take = len < CARRY_BYTES ? len : CARRY_BYTES;
    char window[2 * CARRY_BYTES];
    if (c->head_len < sizeof c->head) {
        size_t n = sizeof c->head - c->head_len;
        n = n < len ? n : len;
        memcpy(c->head + c->head_len, data, n);
        c->head_len += n;
    }
    if (!c->cover_code_seen && memmem(data, len, c->image_no, code_len) != NULL) {
        c->cover_code_seen = true;
    }
    if (c->head_len >= 4 && memcmp(c->head, "%PDF", 4) == 0) {
        c->pdf_pages += document_pdf_scan_pages(data, len);
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

/* An e-invoice (数电票 XML, OFD) captured as an invoice or with no category, and
 * without invoice data from the caller: its data is read from the file, as if the
 * caller had given it (archive/einvoice.h). A zip that says nothing by its name and
 * reads as an OFD invoice becomes an "ofd". */
static void examine_invoice(struct capture *c, const char *path)
{
    const char *kind = einvoice_kind(c->format, c->head, c->head_len);
    if (kind == NULL || c->invoice[0][0] != '\0' ||
        (c->category[0] != '\0' && strcmp(c->category, "invoice") != 0)) {
        return;
    }
    if (einvoice_read_file(path, kind, &c->einv, &c->einv_err) == 0) {
        c->einv_read = true;
        snprintf(c->format, sizeof c->format, "%s", kind);
    } else {
        c->einv_unread = strcmp(c->format, kind) == 0; /* not for any zip */
    }
}

/* A PDF's pages from qpdf, which reads the page tree wherever it is (object streams
 * included), run in a child process under the configured limits (qpdf inflates without
 * bound: archive/document.h), at most pdf_children_max at once, twice as many more
 * waiting for a turn. A PDF qpdf cannot read, one that needs more than the limits, and
 * one that finds no turn (too many waiting, or none free within the deadline) keep
 * the byte scan's count: the capture goes on. */
int api_pdf_pages(struct api *api, const char *path, uint32_t *pages,
                  struct child_result *child, struct base_err *err)
{
    const struct api_config *cfg = &api->config;
    int rv;
    if (cfg->pdf_exe == NULL) {
        /* No counting child here (tools, the HTTP fuzz target): the scan stands. */
        base_err_set(err, "no PDF page counter in this process");
        return BASE_EINVAL;
    }
    if (!child_slots_acquire(&api->pdf_slots, cfg->pdf_limits.wall_ms)) {
        base_err_set(err, "all %u page counters busy, %u uploads waiting for one (or none "
                     "free within %llu ms)", api->pdf_slots.max, api->pdf_slots.waiting_max,
                     (unsigned long long)cfg->pdf_limits.wall_ms);
        return BASE_ECANCELED;
    }
    rv = document_pdf_pages_isolated(cfg->pdf_exe, path, &cfg->pdf_limits, pages, child, err);
    child_slots_release(&api->pdf_slots);
    return rv;
}

static void count_pages(struct capture *c, const char *path)
{
    uint32_t pages;
    int rv;
    if (c->api->config.pdf_exe == NULL) {
        return; /* no counting child here (tools, the HTTP fuzz target): the scan stands */
    }
    rv = api_pdf_pages(c->api, path, &pages, &c->pdf_child, &c->pdf_err);
    if (rv == BASE_ECORRUPT) {
        c->pdf_unread = true;
    } else if (rv != 0) {
        c->pdf_failed = true;
    } else if (pages > 0) {
        c->pdf_pages = pages;
    }
}

/* The whole file, on the worker that finished it: the format from the content first
 * (a JPEG named x.pdf is a JPEG), and a PDF's pages (count_pages()). */
static void examine(struct blob_in *u, const char *path)
{
    struct capture *c = u->data;
    snprintf(c->format, sizeof c->format, "%s", document_format(c->head, c->head_len, c->name));
    examine_invoice(c, path);
    if (strcmp(c->format, "pdf") == 0) {
        count_pages(c, path);
    }
}

/* ---- After the body: durable, then proposed ---- */

static void captured(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct capture *c = prop->data;
    char hex[65];
    if (status != 0) {
        c->api->captures_failed++;
        api_respond_propose_failed(c->api, c->req, prop, status);
    } else if (res->status != ARCHIVE_OK) {
        c->api->captures_failed++;
        api_respond_refusal(c->api, c->req, res);
    } else {
        c->api->captures_total++;
        c->api->capture_bytes_total += c->up.writer.size;
        hex_encode(c->up.writer.hash, BLOB_HASH_BYTES, hex);
        api_respond_json(c->api, c->req, 201,
                         json_pack("{s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:i, s:I, s:b, s:i}", "file_id",
                                   res->file_id, "image_no", res->image_no, "blob", hex, "size",
                                   (json_int_t)c->up.writer.size, "format", c->format, "pages",
                                   (int)(c->pdf_pages > 0 ? c->pdf_pages : 1), "category",
                                   res->category, "position", (int)res->position, "index",
                                   (json_int_t)res->index, "replayed", res->replayed, "copies",
                                   (int)c->copies.copies));
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
    crypto_generichash_update(&st, c->up.writer.hash, BLOB_HASH_BYTES);
    crypto_generichash_final(&st, out, 32);
}

/* The blob has its write quorum of durable copies: the capture is proposed. */
static void propose_capture(struct capture *c)
{
    Command cmd = COMMAND__INIT;
    AddFile f = ADD_FILE__INIT;
    Invoice inv = INVOICE__INIT;
    uint8_t digest[32];
    int rv;

    capture_digest(c, digest);
    f.image_no = c->image_no;
    f.file_id = c->file_id;
    f.name = c->name;
    f.format = c->format;
    f.size = c->up.writer.size;
    f.pages = c->pdf_pages > 0 ? c->pdf_pages : 1;
    f.category = c->category;
    f.after = c->after;
    f.replace = c->replace;
    f.batch = c->batch;
    f.holders = c->copies.holders; /* this node, and those it copied the blob to */
    f.n_holders = c->copies.n_holders;
    f.amend = c->amend;
    f.blob.data = c->up.writer.hash;
    f.blob.len = BLOB_HASH_BYTES;
    f.check = c->up.writer.check;
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
    } else if (c->einv_read) {
        einvoice_to_proto(&c->einv, &inv);
        f.invoice = &inv;
    }
    f.structured_invoice = strcmp(c->format, "xml") == 0 || strcmp(c->format, "ofd") == 0;
    f.recognize = c->recognize > 0 ||
                  (c->recognize == 0 &&
                   api_recognition_auto(c->api, c->category, c->format, f.invoice != NULL));
    api_command_stamp(&(struct api_call){.api = c->api, .req = c->req}, &cmd, c->idem);
    cmd.tenant = c->tenant;
    cmd.operator_ = c->actor;
    cmd.request_digest.data = digest;
    cmd.request_digest.len = sizeof digest;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &f;
    c->prop.data = c;
    rv = repl_propose(c->api->repl, &c->prop, &cmd, captured);
    if (rv != 0) {
        c->api->captures_failed++;
        api_respond_propose_error(c->api, c->req, rv);
        capture_free(c);
    }
}

static void copied(struct keeper_copies *kc, int status)
{
    struct capture *c = kc->data;
    if (status == BASE_ESHUTDOWN) {
        capture_fail(c, 503, API_E_UNAVAILABLE, "the node is shutting down; retry on another");
    } else if (status != 0) {
        capture_fail(c, 503, API_E_UNAVAILABLE, kc->message);
    } else {
        propose_capture(c);
    }
}

/* The body is stored here: copies go to other nodes, then the capture is proposed. */
static void uploaded(struct blob_in *u, int status)
{
    struct capture *c = u->data;
    int rv;
    if (status != 0) {
        c->api->captures_failed++;
        blob_in_respond_failure(u, status, "the file");
        capture_free(c);
        return;
    }
    if (c->pdf_unread) {
        LOG_INFO("capture", "request_id=%s file_id=%s: pages=%u from the byte scan, the PDF "
                 "library cannot read the file: %s",
                 c->req->request_id, c->file_id, c->pdf_pages > 0 ? c->pdf_pages : 1,
                 c->pdf_err.msg);
    } else if (c->pdf_failed) {
        LOG_WARN("capture", "request_id=%s file_id=%s: pages=%u from the byte scan, the PDF "
                 "page counter gave no count: %s (child: %llu ms, peak RSS %llu KiB)",
                 c->req->request_id, c->file_id, c->pdf_pages > 0 ? c->pdf_pages : 1,
                 c->pdf_err.msg, (unsigned long long)c->pdf_child.elapsed_ms,
                 (unsigned long long)c->pdf_child.peak_rss_kib);
    } else if (c->pdf_child.elapsed_ms > 0 || c->pdf_child.peak_rss_kib > 0) {
        LOG_DEBUG("capture", "request_id=%s file_id=%s: pages=%u counted by a child in %llu "
                  "ms, peak RSS %llu KiB", c->req->request_id, c->file_id, c->pdf_pages,
                  (unsigned long long)c->pdf_child.elapsed_ms,
                  (unsigned long long)c->pdf_child.peak_rss_kib);
    }
    if (c->einv_unread) {
        LOG_INFO("capture", "request_id=%s file_id=%s: no invoice data read from the %s: %s",
                 c->req->request_id, c->file_id, c->format, c->einv_err.msg);
    }
    memcpy(c->copies.hash, c->up.writer.hash, BLOB_HASH_BYTES);
    c->copies.size = c->up.writer.size;
    c->copies.data = c;
    if (c->api->config.keeper == NULL) { /* no keeper (tools): this node's copy only */
        c->copies.holders[0] = c->api->config.node_id;
        c->copies.n_holders = 1;
        c->copies.copies = 1;
        propose_capture(c);
        return;
    }
    rv = keeper_copy(c->api->config.keeper, &c->copies, copied);
    if (rv == 1) {
        propose_capture(c);
    } else if (rv != 0) {
        copied(&c->copies, rv);
    }
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
        snprintf(c->format, sizeof c->format, "%s", document_format_from_name(c->name));
        ok = true;
    }
    free(category);
    free(after);
    free(replace);
    return ok;
}

/* License and quota, checked on this node's state before any body byte is read, so a
 * capture that will be refused does not transfer its file first. The state machine
 * decides again when it applies the capture; that decision is the one that counts. */
static bool capture_allowed_now(struct api_call *call)
{
    struct archive_result res = {.status = ARCHIVE_OK};
    struct base_err err = {{0}};
    uint64_t size = call->req->has_content_length ? call->req->content_length : 0;
    const char *idem = api_idempotency_key(call->req);
    int rv;
    if (archive_idem_known(call->api->archive, call->tenant, idem)) {
        return true; /* a retry: the state machine answers it from the first result */
    }
    res.status = archive_check_write(call->api->archive, call->tenant, clock_wall_ms(),
                                     LICENSE_MODE_BASIC, size, 1, res.message,
                                     sizeof res.message, &rv, &err);
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "license check: %s",
                          err.msg);
        return false;
    }
    if (res.status != ARCHIVE_OK) {
        call->api->captures_failed++;
        api_respond_refusal(call->api, call->req, &res);
        return false;
    }
    return true;
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
    c->api = call->api;
    c->req = call->req;
    snprintf(c->tenant, sizeof c->tenant, "%s", call->tenant);
    snprintf(c->actor, sizeof c->actor, "%s", call->actor);
    snprintf(c->image_no, sizeof c->image_no, "%.*s", ARCHIVE_IMAGE_NO_MAX, call->param);
    snprintf(c->idem, sizeof c->idem, "%s", idem != NULL ? idem : "");
    archive_new_file_id(c->file_id);
    if (!capture_params(call, c) || !capture_data_params(call, c) ||
        !api_recognition_param(call, c->category, c->invoice[0][0] != '\0', &c->recognize)) {
        capture_free(c);
        return;
    }
    c->up.bp = &call->api->blob_path;
    c->up.req = call->req;
    c->up.inspect = inspect;
    c->up.examine = examine;
    c->up.done = uploaded;
    c->up.data = c;
    blob_in_start(&c->up);
}
