/* The vendor's capture calls (docs/integrators.md):
 *
 * - POST /kapi/app/bds/fileCollect: one file, as a base64 string inside a JSON body of
 *   any size. The body is scanned as it arrives (net/json_stream.h), the base64 value
 *   decoded as it streams (base/base64_stream.h) into the blob writer the native
 *   capture uses (replication/blob_in.c, push style): hashed and written on a worker,
 *   examined there as every capture is (probe.c: format from the content, a PDF's
 *   pages, an e-invoice's data), copied to the write quorum,
 *   then a CollectFile command records it for the tenant, outside any bill. Memory per
 *   request: the scanner's state and the writer's two chunk buffers. Answers
 *   data.fileNo and data.srcPath ("collect/<fileNo>/<name>", an opaque path naming the
 *   collected file; scanBillSubmit accepts either).
 * - or, with fileDownUrl, the file is downloaded by the node (net/http_client.h) under
 *   the outbound rules (--outbound-allow), with a size limit (--body-max), a timeout and
 *   at most DOWNLOAD_REDIRECTS_MAX redirects, each hop checked, into the same writer.
 * scanBillSubmit is in vendor_submit.c.
 * Loop thread only, but for the writer's worker hooks (inspect, examine). */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base64_stream.h"
#include "base/mem.h"
#include "net/json_stream.h"
#include "replication/repl.h"

#define SUFFIX_MAX 16
#define TEXT_MAX 255
#define URL_MAX 2048
#define SRC_PREFIX API_VENDOR_SRC_PREFIX
/* What a fileCollect body may hold besides the base64 value (its other fields are
 * short): the margin the early quota check takes off the announced length. */
#define FIELDS_MARGIN (64u << 10)
#define DOWNLOAD_TIMEOUT_MS (10u * 60 * 1000)
#define DOWNLOAD_REDIRECTS_MAX 3

struct collect {
    struct api_intake in; /* the request, the file (in.up, in.probe), copies, proposal */
    char file_no[ARCHIVE_FILE_ID_BYTES + 1];
    char suffix[SUFFIX_MAX + 1];
    char file_type[16];
    char scan_bill_no[ARCHIVE_IMAGE_NO_MAX + 1];
    char bill_type[TEXT_MAX + 1];
    char resource[TEXT_MAX + 1];
    int recognize; /* needRecognition: 1 asked, -1 refused ("0"), 0 automatic */
    bool file_type_given;
    bool has_url;
    char url[URL_MAX + 1];
    char name[ARCHIVE_FILE_ID_BYTES + SUFFIX_MAX + 2];

    /* The body. */
    struct json_stream js;
    struct base64_stream b64;
    bool b64_seen;
    bool started; /* the blob writer has begun */
    int status;   /* the first refusal: an HTTP status, with code and msg */
    enum api_error code;
    char msg[300];
    uint8_t decoded[BASE64_STREAM_OUT_MAX(1024) + 3];

    /* fileDownUrl: the download, hop by hop. */
    struct http_client_req dl;
    bool downloading;
    bool dl_paused; /* held until the writer has room */
    unsigned redirects;
    uint64_t downloaded;
    char location[URL_MAX + 1];
};

__attribute__((format(printf, 4, 5))) static void
collect_refuse(struct collect *c, int status, enum api_error code, const char *fmt, ...)
{
    va_list ap;
    if (c->status != 0) {
        return; /* the first reason stands */
    }
    c->status = status;
    c->code = code;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
}

static void collect_answer_refusal(struct collect *c)
{
    c->in.api->captures_failed++;
    api_respond_error(c->in.api, c->in.req, c->status, c->code, "%s", c->msg);
    free(c);
}

/* ---- The fields ---- */

static enum json_stream_mode member(void *arg, const char *key)
{
    struct collect *c = arg;
    if (strcmp(key, "base64") == 0) {
        return c->status == 0 ? JSON_STREAM_STREAM : JSON_STREAM_SKIP;
    }
    return JSON_STREAM_COLLECT;
}

/* Copies a text field, refusing one too long. */
static int text_field(struct collect *c, const char *key, const char *text, size_t len,
                      char *buf, size_t max)
{
    if (len > max || strlen(text) != len) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "%s must be at most %zu bytes of text", key,
                       max);
        return BASE_EINVAL;
    }
    memcpy(buf, text, len + 1);
    return 0;
}

static int value(void *arg, const char *key, enum json_stream_kind kind, const char *text,
                 size_t len)
{
    struct collect *c = arg;
    if (kind == JSON_STREAM_NULL) {
        return 0;
    }
    if (kind == JSON_STREAM_NESTED || kind == JSON_STREAM_TRUE || kind == JSON_STREAM_FALSE) {
        if (strcmp(key, "needRecognition") == 0 && kind != JSON_STREAM_NESTED) {
            text = kind == JSON_STREAM_TRUE ? "1" : "0";
            len = 1;
        } else if (strcmp(key, "billType") != 0) {
            return 0; /* fields imgarc does not use are ignored, as unknown fields are */
        } else {
            text = "";
            len = 0;
        }
    }
    if (strcmp(key, "fileDownUrl") == 0) {
        if (c->b64_seen && len > 0) {
            collect_refuse(c, 400, API_E_INVALID_FIELD,
                           "send either base64 or fileDownUrl, not both");
            return BASE_EINVAL;
        }
        c->has_url = len > 0;
        return text_field(c, key, text, len, c->url, URL_MAX);
    }
    if (strcmp(key, "fileSuffix") == 0) {
        int rv = text_field(c, key, text, len, c->suffix, SUFFIX_MAX);
        for (size_t i = 0; rv == 0 && c->suffix[i] != '\0'; i++) {
            char ch = c->suffix[i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))) {
                collect_refuse(c, 400, API_E_INVALID_FIELD,
                               "fileSuffix must be letters and digits (e.g. pdf)");
                return BASE_EINVAL;
            }
        }
        return rv;
    }
    if (strcmp(key, "fileType") == 0) {
        char ft[16];
        bool known = strcmp(text, "invoice") == 0 || strcmp(text, "cover") == 0 ||
                     strcmp(text, "attach") == 0;
        if (len >= sizeof ft || strlen(text) != len || (len > 0 && !known)) {
            collect_refuse(c, 400, API_E_INVALID_FIELD,
                           "fileType must be invoice, cover or attach");
            return BASE_EINVAL;
        }
        snprintf(ft, sizeof ft, "%s", len > 0 ? text : "attach");
        memcpy(c->file_type, ft, sizeof ft);
        c->file_type_given = len > 0;
        return 0;
    }
    if (strcmp(key, "scanBillNo") == 0) {
        if (len > 0 && (len > ARCHIVE_IMAGE_NO_MAX || !archive_valid_image_no(text))) {
            collect_refuse(c, 400, API_E_INVALID_IMAGE_NO,
                           "scanBillNo must be 1-64 characters of A-Z a-z 0-9 . _ -");
            return BASE_EINVAL;
        }
        return text_field(c, key, text, len, c->scan_bill_no, ARCHIVE_IMAGE_NO_MAX);
    }
    if (strcmp(key, "billType") == 0) {
        return text_field(c, key, text, len, c->bill_type, TEXT_MAX);
    }
    if (strcmp(key, "resource") == 0) {
        return text_field(c, key, text, len, c->resource, TEXT_MAX);
    }
    if (strcmp(key, "needRecognition") == 0) {
        c->recognize = len == 1 && text[0] == '1' ? 1 : len > 0 ? -1 : 0;
        if (c->recognize > 0 && !recognizer_configured(c->in.api->config.recognizer)) {
            /* Refused at once rather than silently not recognised. */
            enum api_error code;
            char why[256];
            int st = api_recognition_explicit(c->in.api, "", false, &code, why, sizeof why);
            collect_refuse(c, st, code, "needRecognition \"1\": %s", why);
            return BASE_EINVAL;
        }
        return 0;
    }
    return 0;
}

/* ---- The content ---- */

/* The worker's look at the bytes it writes (api_probe_bytes()). */
static void inspect(struct blob_in *u, const char *data, size_t len)
{
    struct collect *c = u->data;
    api_probe_bytes(&c->in.probe, data, len);
}

/* The whole file, on the worker that finished it, as every capture's
 * (api_probe_file()); the invoice data of an XML or OFD e-invoice is read for fileType
 * invoice. A file that does not read as one is collected all the same, without data. */
static void examine(struct blob_in *u, const char *path)
{
    struct collect *c = u->data;
    api_probe_file(&c->in.probe, c->in.api, path, c->name, strcmp(c->file_type, "invoice") == 0);
}

static int chunk(void *arg, const char *key, const char *data, size_t len, bool end)
{
    struct collect *c = arg;
    struct base_err err;
    size_t n;
    (void)key;
    if (c->status != 0) {
        return 0;
    }
    if (!c->b64_seen) {
        if (c->has_url) {
            collect_refuse(c, 400, API_E_INVALID_FIELD,
                           "send either base64 or fileDownUrl, not both");
            return BASE_EINVAL;
        }
        c->b64_seen = true;
        base64_stream_init(&c->b64);
        blob_in_begin(&c->in.up);
        c->started = true;
    }
    if (!end && base64_stream_feed(&c->b64, data, len, c->decoded, &n, &err) != 0) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "base64 is not valid: %s", err.msg);
        return BASE_EINVAL;
    }
    if (end && base64_stream_finish(&c->b64, c->decoded, &n, &err) != 0) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "base64 is not valid: %s", err.msg);
        return BASE_EINVAL;
    }
    if (n > 0) {
        blob_in_push(&c->in.up, (const char *)c->decoded, n);
    }
    return 0;
}

/* ---- After the body: durable, copied, proposed ---- */

static void collected(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct collect *c = prop->data;
    if (api_intake_applied(&c->in, status, res)) {
        char src[sizeof SRC_PREFIX + sizeof c->file_no + sizeof c->name + 2];
        snprintf(src, sizeof src, SRC_PREFIX "%s/%s", c->file_no, c->name);
        json_t *data = json_pack("{s:s, s:s, s:s, s:I, s:s, s:i}", "fileNo", c->file_no,
                                 "srcPath", src, "fileType", c->file_type, "size",
                                 (json_int_t)c->in.up.writer.size, "format", c->in.probe.format,
                                 "pages", (int)api_probe_pages(&c->in.probe));
        if (c->in.probe.einv_read) {
            const struct einvoice *e = &c->in.probe.einv;
            json_object_set_new(data, "invoice",
                                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "number",
                                          e->number, "code", e->code, "date", e->date,
                                          "amount", e->amount, "tax", e->tax, "total",
                                          e->total));
        }
        api_vendor_ok(&(struct api_call){.api = c->in.api, .req = c->in.req}, data);
    }
    free(c);
}

static void propose_collect(struct api_intake *in)
{
    struct collect *c = in->data;
    Command cmd = COMMAND__INIT;
    CollectFile f = COLLECT_FILE__INIT;
    Invoice inv = INVOICE__INIT;
    f.file_no = c->file_no;
    f.name = c->name;
    f.format = c->in.probe.format;
    f.size = c->in.up.writer.size;
    f.pages = api_probe_pages(&c->in.probe);
    f.blob.data = c->in.up.writer.hash;
    f.blob.len = BLOB_HASH_BYTES;
    f.check = c->in.up.writer.check;
    f.holders = c->in.copies.holders;
    f.n_holders = c->in.copies.n_holders;
    f.file_type = c->file_type;
    f.scan_bill_no = c->scan_bill_no;
    f.bill_type = c->bill_type;
    f.resource = c->resource;
    /* As a native capture: asked for, or an invoice image without data on a node with
     * a recognition service (api/recognition.c); it is queued when the file joins its
     * bill (archive/apply_collect.c). */
    f.need_recognition =
        c->recognize > 0 ||
        (c->recognize == 0 && api_recognition_auto(c->in.api, strcmp(c->file_type, "invoice") == 0
                                                               ? "invoice" : "attachment",
                                                   c->in.probe.format, c->in.probe.einv_read));
    if (c->in.probe.einv_read) {
        einvoice_to_proto(&c->in.probe.einv, &inv);
        f.invoice = &inv;
    }
    cmd.body_case = COMMAND__BODY_COLLECT_FILE;
    cmd.collect_file = &f;
    if (!api_intake_propose(in, &cmd, NULL, collected)) {
        free(c);
    }
}

static void release(struct api_intake *in)
{
    free(in->data);
}

static void stored(struct blob_in *u, int status)
{
    struct collect *c = u->data;
    if (c->status != 0) {
        collect_answer_refusal(c); /* the body was refused; nothing was kept */
        return;
    }
    if (status == BASE_EEMPTY) {
        collect_refuse(c, 400, API_E_EMPTY_FILE, "base64 decodes to an empty file");
    } else if (status == BASE_ETOOBIG) {
        collect_refuse(c, 413, API_E_BODY_TOO_LARGE,
                       "the body is larger than this node accepts (--body-max)");
    } else if (status != 0) {
        c->in.api->captures_failed++;
        blob_in_respond_failure(u, status, "the file");
        free(c);
        return;
    }
    if (c->status != 0) {
        collect_answer_refusal(c);
        return;
    }
    api_probe_log(&c->in.probe, "vendor", c->in.req->request_id, c->file_no);
    api_intake_copy(&c->in, propose_collect, release);
}

/* ---- fileDownUrl ---- */

static void download_hop(struct collect *c);

static void room(struct blob_in *u)
{
    struct collect *c = u->data;
    if (c->dl_paused && c->downloading) {
        c->dl_paused = false;
        http_client_resume(&c->dl);
    }
}

static size_t dl_data(struct http_client_req *req, const char *data, size_t n)
{
    struct collect *c = req->data;
    long st = http_client_status(req);
    if (st < 200 || st >= 300) {
        return n; /* a redirect's or an error's page: not the file */
    }
    if (c->status != 0) {
        return 0; /* refused meanwhile: ends the transfer */
    }
    if (c->downloaded + n > c->in.api->config.body_bytes_max) {
        collect_refuse(c, 413, API_E_BODY_TOO_LARGE,
                       "fileDownUrl: the file is larger than this node accepts (--body-max, "
                       "%llu bytes)",
                       (unsigned long long)c->in.api->config.body_bytes_max);
        return 0;
    }
    if (blob_in_full(&c->in.up)) {
        c->dl_paused = true;
        return HTTP_CLIENT_PAUSE;
    }
    for (size_t off = 0; off < n; off += HTTP_BODY_CHUNK_MAX) {
        size_t k = n - off < HTTP_BODY_CHUNK_MAX ? n - off : HTTP_BODY_CHUNK_MAX;
        blob_in_push(&c->in.up, data + off, k);
    }
    c->downloaded += n;
    return n;
}

static void dl_header(struct http_client_req *req, const char *line, size_t n)
{
    struct collect *c = req->data;
    if (n > 9 && strncasecmp(line, "Location:", 9) == 0) {
        const char *v = line + 9;
        size_t k = n - 9;
        while (k > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            k--;
        }
        while (k > 0 && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' ')) {
            k--;
        }
        if (k <= URL_MAX) {
            memcpy(c->location, v, k);
            c->location[k] = '\0';
        }
    }
}

/* The next hop's URL from a Location (absolute, or a path on the same origin). */
static bool follow(struct collect *c)
{
    char next[URL_MAX + 1];
    if (strncmp(c->location, "http://", 7) == 0 || strncmp(c->location, "https://", 8) == 0) {
        snprintf(next, sizeof next, "%s", c->location);
    } else if (c->location[0] == '/' && c->location[1] != '/') {
        const char *authority = strstr(c->url, "://");
        size_t origin = authority != NULL ? (size_t)(authority + 3 - c->url) : 0;
        origin += strcspn(c->url + origin, "/?#");
        if (origin + strlen(c->location) > URL_MAX) {
            return false;
        }
        memcpy(next, c->url, origin);
        memcpy(next + origin, c->location, strlen(c->location) + 1);
    } else {
        return false;
    }
    memcpy(c->url, next, sizeof next);
    return true;
}

static void dl_done(struct http_client_req *req)
{
    struct collect *c = req->data;
    long st = req->status;
    c->downloading = false;
    if (c->status == 0 && (st == 301 || st == 302 || st == 303 || st == 307 || st == 308)) {
        if (c->redirects >= DOWNLOAD_REDIRECTS_MAX) {
            collect_refuse(c, 400, API_E_INVALID_FIELD,
                           "fileDownUrl: more than %d redirects", DOWNLOAD_REDIRECTS_MAX);
        } else if (!follow(c)) {
            collect_refuse(c, 400, API_E_INVALID_FIELD,
                           "fileDownUrl: HTTP %ld redirects to no usable http(s) URL", st);
        } else {
            c->redirects++;
            download_hop(c);
            return;
        }
    } else if (c->status == 0 && st == 0) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "fileDownUrl %s: %s", c->url, req->error);
    } else if (c->status == 0 && (st < 200 || st >= 300)) {
        collect_refuse(c, 400, API_E_INVALID_FIELD,
                       "fileDownUrl %s: the server answered HTTP %ld", c->url, st);
    }
    blob_in_push_end(&c->in.up, c->status != 0 ? BASE_EINVAL : 0);
}

/* One request of the download (the first, or a redirect's); refusals end the upload. */
static void download_hop(struct collect *c)
{
    struct outbound *g = c->in.api->config.outbound;
    struct base_err err = {{0}};
    char host[256], why[300];
    unsigned port;
    if (http_client_url_host(c->url, host, sizeof host, &port, &err) != 0) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "fileDownUrl: %s", err.msg);
    } else if (outbound_literal_refused(g, host, port, why, sizeof why)) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "fileDownUrl %s %s", c->url, why);
    }
    if (c->status != 0) {
        blob_in_push_end(&c->in.up, BASE_EINVAL);
        return;
    }
    memset(&c->dl, 0, sizeof c->dl);
    c->dl.data = c;
    c->dl.method = "GET";
    c->dl.url = c->url;
    c->dl.timeout_ms = DOWNLOAD_TIMEOUT_MS;
    c->dl.on_data = dl_data;
    c->dl.on_header = dl_header;
    c->dl.permits = outbound_check;
    c->dl.guard = g;
    c->location[0] = '\0';
    c->downloading = true;
    http_client_send(c->in.api->config.http, &c->dl, dl_done);
}

static void download(struct collect *c)
{
    if (c->in.api->config.http == NULL || c->in.api->config.outbound == NULL) {
        collect_refuse(c, 400, API_E_INVALID_FIELD,
                       "this node makes no downloads: send the file as base64");
        collect_answer_refusal(c);
        return;
    }
    blob_in_begin_pull(&c->in.up, room);
    c->started = true;
    download_hop(c);
}

static void on_body(struct http_request *req, const char *data, size_t len)
{
    struct collect *c = req->data;
    struct base_err err;
    if (c->status != 0 && c->js.error != 0) {
        return; /* refused: the rest of the body is read and dropped */
    }
    if (json_stream_feed(&c->js, data, len, &err) != 0) {
        int st = c->js.error == BASE_ETOOBIG ? 413 : 400;
        collect_refuse(c, st, st == 413 ? API_E_BODY_TOO_LARGE : API_E_INVALID_JSON, "%s",
                       err.msg);
    }
}

static void on_body_done(struct http_request *req, int status)
{
    struct collect *c = req->data;
    struct base_err err;
    if (status == BASE_ETOOBIG) {
        collect_refuse(c, 413, API_E_BODY_TOO_LARGE,
                       "the body is larger than this node accepts (--body-max)");
    } else if (status != 0) {
        collect_refuse(c, 400, API_E_BAD_REQUEST, "the body did not arrive whole");
    } else if (c->status == 0 && json_stream_finish(&c->js, &err) != 0) {
        collect_refuse(c, 400, API_E_INVALID_JSON, "%s", err.msg);
    } else if (c->status == 0 && !c->b64_seen && !c->has_url) {
        collect_refuse(c, 400, API_E_INVALID_FIELD, "send the file as base64 (or fileDownUrl)");
    }
    if (c->status == 0 && c->recognize > 0) {
        /* Recognition reads invoices: a file asked for it is one unless told otherwise. */
        enum api_error code;
        char why[256];
        int st;
        if (!c->file_type_given) {
            snprintf(c->file_type, sizeof c->file_type, "invoice");
        }
        st = api_recognition_explicit(c->in.api, strcmp(c->file_type, "attach") == 0
                                                  ? "attachment" : c->file_type,
                                      false, &code, why, sizeof why);
        if (st != 0) {
            collect_refuse(c, st, code, "needRecognition \"1\": %s", why);
        }
    }
    snprintf(c->name, sizeof c->name, "%s%s%s", c->file_no, c->suffix[0] != '\0' ? "." : "",
             c->suffix);
    snprintf(c->in.probe.format, sizeof c->in.probe.format, "%s",
             document_format_from_name(c->name));
    if (c->status == 0 && !c->b64_seen) {
        download(c);
        return;
    }
    if (!c->started) {
        collect_answer_refusal(c);
        return;
    }
    blob_in_push_end(&c->in.up, c->status != 0 ? BASE_EINVAL : 0);
}

static void on_abort(struct http_request *req)
{
    struct collect *c = req->data;
    if (c->started) {
        blob_in_push_abort(&c->in.up);
    }
    if (c->downloading) {
        http_client_cancel(&c->dl, "the client went away");
    }
}

/* License and quota before the body is read (api_write_allowed_now()), with the least
 * the announced body can decode to. */
static bool collect_allowed_now(struct api_call *call)
{
    uint64_t len = call->req->has_content_length ? call->req->content_length : 0;
    return api_write_allowed_now(call, len > FIELDS_MARGIN ? (len - FIELDS_MARGIN) / 3 * 2 : 0);
}

void api_handle_vendor_file_collect(struct api_call *call)
{
    struct json_stream_cbs cbs = {.member_cb = member, .value_cb = value, .chunk_cb = chunk};
    struct collect *c;
    if (!collect_allowed_now(call) ||
        blob_space_refuse(&call->api->blob_path, call->req, "files")) {
        return;
    }
    c = xcalloc(1, sizeof *c);
    api_intake_init(&c->in, call, inspect, examine, stored, c);
    snprintf(c->file_type, sizeof c->file_type, "attach");
    archive_new_file_id(c->file_no);
    cbs.arg = c;
    json_stream_init(&c->js, &cbs);
    call->req->data = c;
    call->req->abort_cb = on_abort;
    http_request_read_body(call->req, on_body, on_body_done);
}
