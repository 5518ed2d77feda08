/* Resumable uploads: tus 1.0 (core, creation, termination, expiration) on
 * POST /api/v1/bills/{image_no}/uploads and /api/v1/uploads/{id} (docs/uploads.md).
 *
 * A client creates an upload with the file's length and the capture's parameters,
 * then sends the bytes with PATCH requests from the offset HEAD reports; a broken
 * PATCH loses only what was not yet durable. Each PATCH body streams into DATA/
 * uploads/ID.data through the blob writer's double buffer (replication/blob_in.c,
 * blob_in_start_sink()); then the data is synced and the record (uploads.h) replaced,
 * and only then is the new offset reported. The PATCH that brings the offset to the
 * length also captures the file: the staged file is stored as a body would be
 * (capture.c: api_capture_file()), under the idempotency key "upload.ID", so a capture
 * retried after a crash or a refusal is applied at most once; its answer is kept in the
 * record until the upload expires.
 *
 * Everything that touches the disk runs on a worker; an upload is owned by at most one
 * request at a time (busy), others get 423. */
#include "api/uploads_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define TUS_CONTENT_TYPE "application/offset+octet-stream"

/* ---- Answers ---- */

static void tus_header(struct http_request *req)
{
    http_request_add_header(req, "Tus-Resumable", TUS_VERSION);
}

static void add_u64_header(struct http_request *req, const char *name, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    http_request_add_header(req, name, buf);
}

/* Upload-Expires as RFC 9110 wants dates. */
static void add_expires(struct http_request *req, uint64_t ms)
{
    char buf[64];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    http_request_add_header(req, "Upload-Expires", buf);
}

/* The headers HEAD and PATCH answers carry. */
static void offset_headers(struct http_request *req, const struct upload *up)
{
    tus_header(req);
    add_u64_header(req, "Upload-Offset", up->rec.offset);
    add_u64_header(req, "Upload-Length", up->rec.length);
    add_expires(req, up->rec.expires_ms);
    if (up->rec.result != NULL) {
        const char *file_id = json_string_value(json_object_get(up->rec.result, "file_id"));
        http_request_add_header(req, "Imgarc-File-Id", file_id != NULL ? file_id : "");
    }
}

static void respond_error(struct api *api, struct http_request *req, int status,
                          enum api_error code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void respond_error(struct api *api, struct http_request *req, int status,
                          enum api_error code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    tus_header(req);
    api_respond_error(api, req, status, code, "%s", msg);
}

static json_t *upload_json(const struct upload *up, const char *location)
{
    const char *state = up->rec.result != NULL                ? "captured"
                        : up->rec.offset == up->rec.length ? "complete"
                                                             : "receiving";
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:o, s:o, s:O}", "upload_id", up->rec.id,
                     "location", location, "image_no", up->rec.image_no, "length",
                     (json_int_t)up->rec.length, "offset", (json_int_t)up->rec.offset, "state",
                     state, "created", api_time_json(up->rec.created_ms), "expires",
                     api_time_json(up->rec.expires_ms), "file",
                     up->rec.result != NULL ? up->rec.result : json_null());
}

static void location(const struct upload *up, const struct api_call *call, char *out,
                     size_t size)
{
    snprintf(out, size, "/api/v1/uploads/%s%s%s", up->rec.id,
             call->tenant_given ? "?tenant=" : "", call->tenant_given ? call->tenant : "");
}

/* ---- Finding an upload ---- */

static void node_prefix(uint64_t node_id, char out[17])
{
    snprintf(out, 17, "%016" PRIx64, node_id);
}

/* The set, or NULL after answering 503 while the start's scan runs. */
static struct uploads *ready_set(struct api_call *call)
{
    struct uploads *set = call->api->uploads;
    if (set == NULL || !set->loaded || set->stopping) {
        http_request_add_header(call->req, "Retry-After", "1");
        respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                      "this node is reading its unfinished uploads after a start; retry");
        return NULL;
    }
    return set;
}

/* The upload @call names, or NULL after answering: 404 for none (or another caller's),
 * 421 for one another node created, 410 for one past its expiry. */
static struct upload *find(struct api_call *call)
{
    struct uploads *set = ready_set(call);
    char prefix[17];
    if (set == NULL) {
        return NULL;
    }
    node_prefix(call->api->config.node_id, prefix);
    if (upload_id_valid(call->param) && memcmp(call->param, prefix, 16) != 0) {
        char node[17];
        snprintf(node, sizeof node, "%.16s", call->param);
        respond_error(call->api, call->req, 421, API_E_UPLOAD_ELSEWHERE,
                      "upload %s was created on node %llu, not this one: an upload stays on "
                      "the node that created it; continue it there",
                      call->param, strtoull(node, NULL, 16));
        return NULL;
    }
    for (struct upload *up = set->head; up != NULL; up = up->next) {
        if (strcmp(up->rec.id, call->param) != 0 || strcmp(up->rec.tenant, call->tenant) != 0 ||
            strcmp(up->rec.actor, call->actor) != 0) {
            continue;
        }
        if (up->expired || clock_wall_ms() >= up->rec.expires_ms) {
            respond_error(call->api, call->req, 410, API_E_UPLOAD_EXPIRED,
                          "upload %s expired; start a new upload", up->rec.id);
            return NULL;
        }
        return up;
    }
    respond_error(call->api, call->req, 404, API_E_UPLOAD_NOT_FOUND,
                  "no upload %.40s on this node for this caller: check the id (the "
                  "Location of its creation); it may have been cancelled or expired",
                  call->param);
    return NULL;
}

/* Tus-Resumable must name the version this node speaks; false after answering 412. */
static bool tus_version_ok(struct api_call *call)
{
    const char *v = http_request_header(call->req, "tus-resumable");
    if (v != NULL && strcmp(v, TUS_VERSION) == 0) {
        return true;
    }
    http_request_add_header(call->req, "Tus-Version", TUS_VERSION);
    respond_error(call->api, call->req, 412, API_E_TUS_VERSION,
                  "send Tus-Resumable: %s (the version of the upload protocol this node "
                  "speaks)",
                  TUS_VERSION);
    return false;
}

/* A header of decimal digits; false when absent or anything else. */
static bool header_u64(struct http_request *req, const char *name, uint64_t *out)
{
    const char *v = http_request_header(req, name);
    uint64_t n = 0;
    if (v == NULL || v[0] == '\0' || strlen(v) > 19) {
        return false;
    }
    for (const char *p = v; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return false;
        }
        n = n * 10 + (uint64_t)(*p - '0');
    }
    *out = n;
    return true;
}

/* ---- OPTIONS: what this node supports ---- */

void api_handle_upload_options(struct api_call *call)
{
    tus_header(call->req);
    http_request_add_header(call->req, "Tus-Version", TUS_VERSION);
    http_request_add_header(call->req, "Tus-Extension", "creation,termination,expiration");
    add_u64_header(call->req, "Tus-Max-Size", call->api->config.body_bytes_max);
    http_respond(call->req, 204, NULL, NULL, 0);
}

/* ---- POST /api/v1/bills/{image_no}/uploads: a new upload ---- */

static void create_work(uv_work_t *work)
{
    struct upload *up = work->data;
    char path[1400];
    int fd;
    upload_data_path(up->set->dir, up->rec.id, path, sizeof path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        up->status = errno == ENOSPC ? BASE_ENOSPACE : BASE_EIO;
        base_err_set(&up->err, "creating %s failed: %s", path, strerror(errno));
        return;
    }
    close(fd);
    up->status = upload_record_save(up->set->dir, up->rec.id, up->text, &up->err);
}

static void after_create(uv_work_t *work, int status)
{
    struct upload *up = work->data;
    struct uploads *set = up->set;
    struct http_request *req = up->req;
    char where[256];
    upload_job_done(up);
    free(up->text);
    up->text = NULL;
    if (status != 0 || up->status != 0) {
        LOG_ERROR("uploads", "request_id=%s: %s", req->request_id,
                  status != 0 ? "the job was cancelled" : up->err.msg);
        respond_error(set->api, req, up->status == BASE_ENOSPACE ? 507 : 500,
                      up->status == BASE_ENOSPACE ? API_E_INSUFFICIENT_STORAGE : API_E_INTERNAL,
                      "this node could not create the upload: %s",
                      up->status == BASE_ENOSPACE ? "its disk is full" : "a disk error");
        upload_free(up);
        uploads_maybe_stopped(set);
        return;
    }
    up->next = set->head;
    set->head = up;
    set->count++;
    up->busy = false;
    up->req = NULL;
    location(up, up->call, where, sizeof where);
    LOG_INFO("uploads", "request_id=%s upload=%s image_no=%s length=%" PRIu64 ": created",
             req->request_id, up->rec.id, up->rec.image_no, up->rec.length);
    http_request_add_header(req, "Location", where);
    offset_headers(req, up);
    api_respond_json(set->api, req, 201, upload_json(up, where));
    free(up->call);
    up->call = NULL;
    uploads_maybe_stopped(set);
}

void api_handle_upload_create(struct api_call *call)
{
    struct uploads *set = ready_set(call);
    struct api *api = call->api;
    const char *meta = http_request_header(call->req, "upload-metadata");
    char name[256] = "", prefix[17], rnd_hex[17];
    uint8_t rnd[8];
    uint64_t length = 0;
    struct base_err err = {{0}};
    struct upload *up;
    json_t *params;
    if (set == NULL || !tus_version_ok(call)) {
        return;
    }
    if (!archive_valid_image_no(call->param)) {
        respond_error(api, call->req, 400, API_E_INVALID_IMAGE_NO,
                      "image number '%.64s' is not valid: use 1-64 characters of A-Z a-z 0-9 . "
                      "_ -",
                      call->param);
        return;
    }
    if (http_request_header(call->req, "upload-defer-length") != NULL) {
        respond_error(api, call->req, 400, API_E_BAD_REQUEST,
                      "Upload-Defer-Length is not supported: send Upload-Length, the file's "
                      "size in bytes");
        return;
    }
    if (!header_u64(call->req, "upload-length", &length) || length == 0) {
        respond_error(api, call->req, 400, API_E_BAD_REQUEST,
                      "send Upload-Length: the file's size in bytes (1 or more)");
        return;
    }
    if (length > api->config.body_bytes_max) {
        add_u64_header(call->req, "Tus-Max-Size", api->config.body_bytes_max);
        respond_error(api, call->req, 413, API_E_BODY_TOO_LARGE,
                      "the file is %" PRIu64 " bytes; this node takes files of at most %" PRIu64
                      " bytes (--body-max)",
                      length, api->config.body_bytes_max);
        return;
    }
    if ((call->req->has_content_length && call->req->content_length > 0) || call->req->chunked) {
        respond_error(api, call->req, 400, API_E_BAD_REQUEST,
                      "the creation takes no body: send the file's bytes with PATCH to the "
                      "upload's Location");
        return;
    }
    if (meta != NULL) {
        int rv = upload_metadata_get(meta, "filename", name, sizeof name, &err);
        if (rv == 0) {
            rv = upload_metadata_get(meta, "name", name, sizeof name, &err);
        }
        if (rv < 0) {
            respond_error(api, call->req, 400, API_E_BAD_REQUEST, "%s", err.msg);
            return;
        }
    }
    if (set->count >= api->config.uploads_max) {
        http_request_add_header(call->req, "Retry-After", "60");
        respond_error(api, call->req, 503, API_E_UNAVAILABLE,
                      "this node has %u unfinished uploads, as many as it keeps "
                      "(--uploads-max): finish or cancel some, or wait until they expire",
                      set->count);
        return;
    }
    if (!api_bill_visible(call, call->param) || !api_write_allowed_now(call, length)) {
        return;
    }
    if (blob_space_refuse(&api->blob_path, call->req, "files")) {
        return;
    }
    up = xcalloc(1, sizeof *up);
    up->set = set;
    up->fd = -1;
    node_prefix(api->config.node_id, prefix);
    randombytes_buf(rnd, sizeof rnd);
    for (size_t i = 0; i < sizeof rnd; i++) {
        snprintf(rnd_hex + 2 * i, 3, "%02x", rnd[i]);
    }
    snprintf(up->rec.id, sizeof up->rec.id, "%s%s", prefix, rnd_hex);
    {
        char file_id[ARCHIVE_FILE_ID_BYTES + 1];
        archive_new_file_id(file_id);
        params = api_capture_params(call, call->param, file_id, name);
    }
    if (params == NULL) {
        free(up);
        return;
    }
    snprintf(up->rec.tenant, sizeof up->rec.tenant, "%s", call->tenant);
    snprintf(up->rec.actor, sizeof up->rec.actor, "%s", call->actor);
    snprintf(up->rec.image_no, sizeof up->rec.image_no, "%.*s", ARCHIVE_IMAGE_NO_MAX, call->param);
    up->rec.length = length;
    up->rec.created_ms = clock_wall_ms();
    up->rec.expires_ms = up->rec.created_ms + api->config.upload_expiry_s * 1000;
    up->rec.params = params;
    up->text = upload_record_format(&up->rec);
    up->busy = true;
    up->req = call->req;
    up->call = xmalloc(sizeof *up->call);
    *up->call = *call;
    upload_queue(up, create_work, after_create);
}

/* ---- HEAD and GET /api/v1/uploads/{id}: where it stands ---- */

void api_handle_upload_head(struct api_call *call)
{
    struct upload *up = find(call);
    if (up == NULL) {
        return;
    }
    offset_headers(call->req, up);
    http_request_add_header(call->req, "Cache-Control", "no-store");
    http_respond(call->req, 200, NULL, NULL, 0);
}

void api_handle_upload_get(struct api_call *call)
{
    struct upload *up = find(call);
    char where[256];
    if (up == NULL) {
        return;
    }
    location(up, call, where, sizeof where);
    offset_headers(call->req, up);
    api_respond_json(call->api, call->req, 200, upload_json(up, where));
}

/* ---- The capture, once every byte is here ---- */

static void captured_work(uv_work_t *work)
{
    struct upload *up = work->data;
    char path[1400];
    up->status = upload_record_save(up->set->dir, up->rec.id, up->text, &up->err);
    if (up->status == 0) {
        upload_data_path(up->set->dir, up->rec.id, path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            LOG_WARN("uploads", "upload=%s: removing %s failed: %s", up->rec.id, path,
                     strerror(errno));
        }
    }
}

static void after_captured(uv_work_t *work, int status)
{
    struct upload *up = work->data;
    struct http_request *req = up->req;
    upload_job_done(up);
    free(up->text);
    up->text = NULL;
    if (status != 0 || up->status != 0) {
        /* The file is captured; only its answer is not kept: a retry of the capture is
         * answered from the state machine (the idempotency key). */
        LOG_WARN("uploads", "upload=%s: keeping the capture's answer failed: %s", up->rec.id,
                 status != 0 ? "the job was cancelled" : up->err.msg);
    }
    up->rec.result = up->answer;
    up->answer = NULL;
    LOG_INFO("uploads", "request_id=%s upload=%s: captured as file %s", req->request_id,
             up->rec.id, json_string_value(json_object_get(up->rec.result, "file_id")));
    offset_headers(req, up);
    http_respond(req, 204, NULL, NULL, 0);
    upload_release(up);
}

/* capture.c's answer: @answer when the capture applied, NULL after it answered. */
static void capture_done(void *data, json_t *answer)
{
    struct upload *up = data;
    struct upload_record r;
    if (answer == NULL) {
        upload_release(up);
        return;
    }
    up->answer = json_incref(answer);
    r = up->rec;
    r.result = answer;
    up->text = upload_record_format(&r);
    upload_queue(up, captured_work, after_captured);
}

static void capture(struct upload *up)
{
    char path[1400], idem[ARCHIVE_ID_MAX + 1];
    upload_data_path(up->set->dir, up->rec.id, path, sizeof path);
    snprintf(idem, sizeof idem, "upload.%s", up->rec.id);
    api_capture_file(up->call, up->rec.params, idem, path, up->rec.length, capture_done, up);
}

/* ---- PATCH /api/v1/uploads/{id}: more bytes ---- */

/* Opens ID.data and cuts what is past the durable offset (bytes a broken PATCH wrote
 * that the record does not count). */
static void open_work(uv_work_t *work)
{
    struct upload *up = work->data;
    char path[1400];
    upload_data_path(up->set->dir, up->rec.id, path, sizeof path);
    up->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (up->fd < 0 || ftruncate(up->fd, (off_t)up->rec.offset) != 0) {
        up->status = errno == ENOSPC ? BASE_ENOSPACE : BASE_EIO;
        base_err_set(&up->err, "opening %s failed: %s", path, strerror(errno));
        if (up->fd >= 0) {
            close(up->fd);
            up->fd = -1;
        }
    }
}

static void patch_written(struct blob_in *u, int status);

static void respond_io_failure(struct upload *up, struct http_request *req)
{
    LOG_ERROR("uploads", "request_id=%s upload=%s: %s", req->request_id, up->rec.id,
              up->err.msg);
    offset_headers(req, up);
    respond_error(up->set->api, req, up->status == BASE_ENOSPACE ? 507 : 500,
                  up->status == BASE_ENOSPACE ? API_E_INSUFFICIENT_STORAGE : API_E_INTERNAL,
                  "this node could not store the bytes: %s; Upload-Offset says what it "
                  "has, resume from there",
                  up->status == BASE_ENOSPACE ? "its disk is full" : "a disk error");
}

static void after_open(uv_work_t *work, int status)
{
    struct upload *up = work->data;
    upload_job_done(up);
    if (status != 0 || up->status != 0) {
        if (status != 0) {
            up->status = BASE_EIO;
            base_err_set(&up->err, "the job was cancelled");
        }
        respond_io_failure(up, up->req);
        upload_release(up);
        return;
    }
    memset(&up->in, 0, sizeof up->in);
    up->in.bp = &up->set->api->blob_path;
    up->in.req = up->req;
    up->in.done = patch_written;
    up->in.data = up;
    blob_in_start_sink(&up->in, up->fd, up->rec.offset, up->rec.length - up->rec.offset);
}

static void sync_work(uv_work_t *work)
{
    struct upload *up = work->data;
    if (up->written > 0 && fdatasync(up->fd) != 0) {
        up->status = errno == ENOSPC ? BASE_ENOSPACE : BASE_EIO;
        base_err_set(&up->err, "syncing the upload's data failed: %s", strerror(errno));
    }
    close(up->fd);
    up->fd = -1;
    if (up->status == 0 && up->written > 0) {
        up->status = upload_record_save(up->set->dir, up->rec.id, up->text, &up->err);
    }
}

static void after_sync(uv_work_t *work, int status)
{
    struct upload *up = work->data;
    struct http_request *req = up->req;
    struct api *api = up->set->api;
    upload_job_done(up);
    free(up->text);
    up->text = NULL;
    if (status != 0 && up->status == 0) {
        up->status = BASE_EIO;
        base_err_set(&up->err, "the job was cancelled");
    }
    if (up->status != 0) {
        respond_io_failure(up, req);
        upload_release(up);
        return;
    }
    up->rec.offset += up->written;
    switch (up->body_status) {
    case 0:
    case BASE_EEMPTY:
        if (up->rec.offset == up->rec.length) {
            capture(up);
            return;
        }
        offset_headers(req, up);
        http_respond(req, 204, NULL, NULL, 0);
        break;
    case BASE_ETOOBIG:
        offset_headers(req, up);
        respond_error(api, req, 413, API_E_BODY_TOO_LARGE,
                      "the body goes past the upload's length (%" PRIu64 " bytes); the "
                      "bytes up to it are kept",
                      up->rec.length);
        break;
    case BASE_ENOSPACE:
        up->status = BASE_ENOSPACE;
        base_err_set(&up->err, "the disk is full");
        respond_io_failure(up, req);
        break;
    case BASE_ECANCELED:
        /* The client went away: the answer is dropped; what arrived is kept. */
        LOG_INFO("uploads", "request_id=%s upload=%s: the PATCH broke off; %" PRIu64
                 " of %" PRIu64 " bytes are kept",
                 req->request_id, up->rec.id, up->rec.offset, up->rec.length);
        offset_headers(req, up);
        respond_error(api, req, 400, API_E_BAD_REQUEST, "the body did not complete");
        break;
    default:
        up->status = BASE_EIO;
        respond_io_failure(up, req);
        break;
    }
    upload_release(up);
}

/* The body has ended (blob_in_start_sink()): the bytes written are synced and counted,
 * whatever the end. */
static void patch_written(struct blob_in *u, int status)
{
    struct upload *up = u->data;
    struct upload_record r = up->rec;
    up->written = u->sink_written;
    up->body_status = status;
    if (status != 0 && status != BASE_EEMPTY && status != BASE_ETOOBIG &&
        status != BASE_ECANCELED) {
        up->err = u->err;
    }
    r.offset += up->written;
    up->text = upload_record_format(&r);
    upload_queue(up, sync_work, after_sync);
}

static bool content_type_ok(struct http_request *req)
{
    const char *v = http_request_header(req, "content-type");
    size_t n = strlen(TUS_CONTENT_TYPE);
    return v != NULL && strncasecmp(v, TUS_CONTENT_TYPE, n) == 0 &&
           (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

void api_handle_upload_patch(struct api_call *call)
{
    struct api *api = call->api;
    struct http_request *req = call->req;
    struct upload *up;
    uint64_t offset;
    bool empty = (req->has_content_length && req->content_length == 0) ||
                 (!req->has_content_length && !req->chunked);
    if (!tus_version_ok(call) || (up = find(call)) == NULL) {
        return;
    }
    if (!content_type_ok(req)) {
        respond_error(api, req, 415, API_E_UNSUPPORTED_MEDIA_TYPE,
                      "send the bytes as Content-Type: " TUS_CONTENT_TYPE);
        return;
    }
    if (!header_u64(req, "upload-offset", &offset)) {
        respond_error(api, req, 400, API_E_BAD_REQUEST,
                      "send Upload-Offset: the offset these bytes start at (HEAD tells the "
                      "upload's)");
        return;
    }
    if (up->busy) {
        http_request_add_header(req, "Retry-After", "1");
        respond_error(api, req, 423, API_E_UPLOAD_BUSY,
                      "another request is writing upload %s; retry once it has ended (a "
                      "broken connection is noticed within the idle timeout)",
                      up->rec.id);
        return;
    }
    if (offset != up->rec.offset) {
        offset_headers(req, up);
        respond_error(api, req, 409, API_E_UPLOAD_OFFSET_MISMATCH,
                      "Upload-Offset is %" PRIu64 " but the upload has %" PRIu64
                      " bytes: send from its offset (HEAD tells it)",
                      offset, up->rec.offset);
        return;
    }
    if (req->has_content_length && req->content_length > up->rec.length - up->rec.offset) {
        offset_headers(req, up);
        respond_error(api, req, 413, API_E_BODY_TOO_LARGE,
                      "the body is %" PRIu64 " bytes but only %" PRIu64
                      " remain to the upload's length",
                      req->content_length, up->rec.length - up->rec.offset);
        return;
    }
    if (up->rec.result != NULL) {
        offset_headers(req, up); /* captured already: said again */
        if (empty) {
            http_respond(req, 204, NULL, NULL, 0);
        } else {
            respond_error(api, req, 409, API_E_UPLOAD_OFFSET_MISMATCH,
                          "upload %s is complete and captured (Imgarc-File-Id); it takes no "
                          "more bytes",
                          up->rec.id);
        }
        return;
    }
    up->busy = true;
    up->req = req;
    up->call = xmalloc(sizeof *up->call);
    *up->call = *call;
    up->status = 0;
    up->written = 0;
    if (empty) {
        if (up->rec.offset == up->rec.length) {
            capture(up); /* a capture refused before may be tried again */
            return;
        }
        offset_headers(req, up);
        http_respond(req, 204, NULL, NULL, 0);
        upload_release(up);
        return;
    }
    if (blob_space_refuse(&api->blob_path, req, "files")) {
        upload_release(up);
        return;
    }
    upload_queue(up, open_work, after_open);
}

/* ---- DELETE /api/v1/uploads/{id}: cancelled (tus termination) ---- */

void api_handle_upload_delete(struct api_call *call)
{
    struct upload *up;
    if (!tus_version_ok(call) || (up = find(call)) == NULL) {
        return;
    }
    if (up->busy) {
        http_request_add_header(call->req, "Retry-After", "1");
        respond_error(call->api, call->req, 423, API_E_UPLOAD_BUSY,
                      "another request is writing upload %s; retry once it has ended",
                      up->rec.id);
        return;
    }
    up->busy = true;
    up->req = call->req;
    LOG_INFO("uploads", "request_id=%s upload=%s: cancelled by %s", call->req->request_id,
             up->rec.id, call->actor);
    upload_remove(up, call->req);
}
