/* GET /api/v1/files/{file_id}/content: a file's bytes, streamed from the blob store.
 *
 * A worker reads one chunk at a time (the first job also opens the blob and checks its
 * size); the next read starts when the previous chunk has been written to the socket,
 * so a download holds one chunk whatever the size. Whole-file reads are verified
 * against the XXH3 checksum kept in the file record (BLAKE2b, the blob's name, for a
 * record without one), and the last chunk is held back until it matches, so corrupt
 * content never completes a response: the connection is cut and the corruption is
 * logged and counted. Range reads (and copies served to other nodes) read the blob's
 * chunks that cover the range, each checked against the blob's chunk list
 * (storage/blobstore.h) before a byte of it is sent; a chunk that does not match makes
 * the copy corrupt as for a whole read (counted, logged, reported to the keeper), and
 * the rest of the range is streamed from another holder, or the answer is the same
 * 503 (or cut) a whole read gives when there is none. */
#include "api/api_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http_range.h"
#include "replication/blob_fetch.h"
#include "replication/keeper.h"

#define READ_CHUNK (256u << 10)

struct download {
    struct api *api;
    struct http_request *req;
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t file_size;
    uint64_t check;  /* XXH3 from the file record; 0: verify with BLAKE2b instead */
    int fd;
    uint64_t offset; /* next byte to read */
    uint64_t end;    /* one past the last byte to send */
    bool whole;      /* verify the content */
    bool chunked;    /* verify each chunk read against the chunk list (ranges) */
    bool chunks_loaded;
    struct blob_chunks chunks;
    bool started;    /* the response head is out */
    crypto_generichash_state hash_state;
    struct blob_check check_state;
    char *chunk;
    size_t chunk_len;
    int io_status;
    bool corrupt;
    int status;               /* 200 or 206 */
    const char *content_type; /* static */
    struct base_err err;
    uv_work_t work;
    /* Serving another node (GET /internal/v1/blobs/...): never fetch from elsewhere. */
    bool internal;
    /* Streaming from a holder when this node has no copy. */
    struct blob_fetch *fetch;
    bool writing;     /* a piece is being written to the client */
    bool fetch_done;
    bool fetch_ok;
    bool client_gone;
};

const char *api_content_type(const char *format)
{
    static const char *const types[][2] = {
        {"pdf", "application/pdf"}, {"jpg", "image/jpeg"},      {"png", "image/png"},
        {"tiff", "image/tiff"},     {"xml", "application/xml"}, {"ofd", "application/ofd"},
        {"txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        if (strcmp(format, types[i][0]) == 0) {
            return types[i][1];
        }
    }
    return "application/octet-stream";
}

static void download_free(struct download *d)
{
    if (d->fd >= 0) {
        close(d->fd);
    }
    if (d->check_state.state != NULL) {
        blob_check_discard(&d->check_state);
    }
    blob_chunks_free(&d->chunks);
    free(d->chunk);
    free(d);
}

/* Opens the blob (first call) and checks its size against the record. */
static int open_blob(struct download *d)
{
    uint64_t size;
    int rv = blob_open(d->api->blobs, d->hash, &d->fd, &size, &d->err);
    if (rv == 0 && size != d->file_size) {
        base_err_set(&d->err, "blob is %llu bytes, its file record says %llu",
                     (unsigned long long)size, (unsigned long long)d->file_size);
        rv = BASE_ECORRUPT;
    }
    return rv;
}

static void verify_chunk(struct download *d)
{
    bool last = d->offset + d->chunk_len == d->end;
    if (d->check != 0) {
        blob_check_update(&d->check_state, d->chunk, d->chunk_len);
        if (last) {
            d->corrupt = blob_check_final(&d->check_state) != d->check;
        }
        return;
    }
    blob_hash_update(&d->hash_state, d->chunk, d->chunk_len);
    if (last) {
        uint8_t got_hash[BLOB_HASH_BYTES];
        blob_hash_final(&d->hash_state, got_hash);
        d->corrupt = sodium_memcmp(got_hash, d->hash, BLOB_HASH_BYTES) != 0;
    }
}

/* A verified read: the whole blob chunks that hold the next READ_CHUNK bytes of the
 * range (the chunk list is loaded, or rebuilt, by the first job), each checked, then
 * the part of them in the range. After the first job d->offset is on a chunk
 * boundary, so a job reads READ_CHUNK bytes, and a small range one chunk. */
static void read_chunked(struct download *d)
{
    uint64_t first = d->offset / BLOB_CHUNK_BYTES;
    uint64_t start = first * BLOB_CHUNK_BYTES;
    uint64_t want_end = d->end - d->offset > READ_CHUNK ? d->offset + READ_CHUNK : d->end;
    uint64_t last = (want_end - 1) / BLOB_CHUNK_BYTES;
    uint64_t stop;
    size_t filled = 0;
    if (!d->chunks_loaded) {
        d->io_status = blob_chunks_load(d->api->blobs, d->hash, d->fd, d->file_size,
                                        &d->chunks, NULL, &d->err);
        if (d->io_status != 0) {
            return;
        }
        d->chunks_loaded = true;
    }
    d->chunk = xmalloc((size_t)(last - first + 1) * BLOB_CHUNK_BYTES);
    for (uint64_t i = first; i <= last; i++) {
        size_t len;
        d->io_status = blob_chunk_read(&d->chunks, d->fd, i, d->chunk + filled, &len, &d->err);
        if (d->io_status != 0) {
            return; /* nothing of this job is sent: the range goes on from d->offset */
        }
        filled += len;
    }
    stop = start + filled < d->end ? start + filled : d->end;
    d->chunk_len = (size_t)(stop - d->offset);
    if (d->offset > start) {
        memmove(d->chunk, d->chunk + (d->offset - start), d->chunk_len);
    }
}

/* One worker job per chunk; the first one also opens the blob, so a small file costs
 * a single trip to the pool. */
static void read_work(uv_work_t *work)
{
    struct download *d = work->data;
    uint64_t want = d->end - d->offset;
    size_t n = want < READ_CHUNK ? (size_t)want : READ_CHUNK;
    size_t got = 0;
    if (d->fd < 0 && (d->io_status = open_blob(d)) != 0) {
        return;
    }
    if (n == 0 || d->req->method == HTTP_M_HEAD) {
        return;
    }
    if (d->chunked) {
        read_chunked(d);
        return;
    }
    d->chunk = xmalloc(n);
    while (got < n) {
        ssize_t r = pread(d->fd, d->chunk + got, n - got, (off_t)(d->offset + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            base_err_set(&d->err, "read blob: %s", r < 0 ? strerror(errno) : "file is shorter");
            d->io_status = r < 0 ? BASE_EIO : BASE_ECORRUPT;
            return;
        }
        got += (size_t)r;
    }
    d->chunk_len = n;
    if (d->whole) {
        verify_chunk(d);
    }
}

static void after_read(uv_work_t *work, int status);

static void next_read(struct download *d)
{
    d->work.data = d;
    ASSERT(uv_queue_work(d->api->loop, &d->work, read_work, after_read) == 0);
}

static void written(struct http_request *req, int status)
{
    struct download *d = req->data;
    if (status != 0 || d->offset >= d->end) {
        http_respond_end(req);
        download_free(d);
        return;
    }
    next_read(d);
}

static bool remote_start(struct download *d);

/* Before the head is out a failure is an error answer; after it, only a cut. A blob
 * this node does not hold is streamed from a node that does. */
static void read_failed(struct download *d)
{
    char hex[BLOB_HEX_BYTES];
    bool corrupt = d->corrupt || d->io_status == BASE_ECORRUPT;
    if (!d->started && d->io_status == BASE_ENOTFOUND && !d->internal && remote_start(d)) {
        return;
    }
    hex_encode(d->hash, BLOB_HASH_BYTES, hex);
    if (corrupt) {
        d->api->corrupt_reads_total++;
        if (d->api->config.keeper != NULL) {
            keeper_suspect(d->api->config.keeper, d->hash); /* the scrubber heals it */
        }
    }
    if (corrupt && d->chunked && !d->internal) {
        /* A range never passes on bytes that failed their check: the rest of the
         * range (all of it, before the head) comes from another holder, whose own
         * chunks are checked the same way. */
        free(d->chunk);
        d->chunk = NULL;
        LOG_ERROR("content", "request_id=%s blob=%s: this node's copy is corrupt (%s); "
                  "bytes %llu-%llu asked of another holder", d->req->request_id, hex,
                  d->err.msg, (unsigned long long)d->offset, (unsigned long long)(d->end - 1));
        if (remote_start(d)) {
            return;
        }
        /* Then as any corrupt read: 503 before the head, a cut after it. */
        LOG_ERROR("content", "request_id=%s blob=%s: no other holder to ask (%s)",
                  d->req->request_id, hex, d->err.msg);
    } else {
        LOG_ERROR("content", "request_id=%s blob=%s: %s", d->req->request_id, hex,
                  d->corrupt ? "content does not match its checksum; response cut short"
                             : d->err.msg);
    }
    if (!d->started) {
        api_respond_error(d->api, d->req, 503, API_E_UNAVAILABLE,
                          "the content of this file is not readable on this node (%s); "
                          "the operator should check the node's log for request %s",
                          d->io_status == BASE_ENOTFOUND ? "blob missing" : "damaged or "
                          "unreadable copy", d->req->request_id);
    } else {
        http_respond_end(d->req); /* short of Content-Length: the server closes */
    }
    download_free(d);
}

static void after_read(uv_work_t *work, int status)
{
    struct download *d = work->data;
    if (d->io_status != 0 || d->corrupt || status != 0) {
        read_failed(d);
        return;
    }
    if (!d->started) {
        d->started = true;
        d->api->downloads_total++;
        http_respond_start(d->req, d->status, d->content_type, (int64_t)(d->end - d->offset));
        if (d->offset >= d->end || d->req->method == HTTP_M_HEAD) {
            http_respond_end(d->req);
            download_free(d);
            return;
        }
    }
    d->offset += d->chunk_len;
    d->api->download_bytes_total += d->chunk_len;
    http_respond_write(d->req, d->chunk, d->chunk_len, written);
    d->chunk = NULL;
}

static void add_disposition(struct http_request *req, const char *name)
{
    /* A plain ASCII fallback plus the exact UTF-8 name (RFC 6266 / 8187). */
    size_t n = strlen(name);
    char *ascii = xmalloc(n + 1);
    char *enc = xmalloc(3 * n + 1);
    char *value;
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        ascii[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '_' : (char)c;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c) != NULL) {
            enc[e++] = (char)c;
        } else {
            e += (size_t)sprintf(enc + e, "%%%02X", c);
        }
    }
    ascii[n] = '\0';
    enc[e] = '\0';
    value = xasprintf("attachment; filename=\"%s\"; filename*=UTF-8''%s", ascii, enc);
    http_request_add_header(req, "Content-Disposition", value);
    free(value);
    free(ascii);
    free(enc);
}

/* Answers the conditional and range parts; returns false when the answer is final. */
static bool plan_download(struct api_call *call, uint64_t size, struct download *d,
                          int *status)
{
    char etag[BLOB_HEX_BYTES + 2];
    char hex[BLOB_HEX_BYTES];
    const char *inm = http_request_header(call->req, "if-none-match");
    uint64_t from = 0, to = size > 0 ? size - 1 : 0;
    int r;
    hex_encode(d->hash, BLOB_HASH_BYTES, hex);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    http_request_add_header(call->req, "ETag", etag);
    http_request_add_header(call->req, "Accept-Ranges", "bytes");
    http_request_add_header(call->req, "Cache-Control", "private, max-age=31536000, immutable");
    if (inm != NULL && (strstr(inm, hex) != NULL || strcmp(inm, "*") == 0)) {
        http_respond(call->req, 304, NULL, NULL, 0);
        return false;
    }
    r = http_range_parse(http_request_header(call->req, "range"), size, &from, &to);
    if (r < 0) {
        char cr[48];
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        http_request_add_header(call->req, "Content-Range", cr);
        api_respond_error(call->api, call->req, 416, API_E_RANGE_NOT_SATISFIABLE,
                          "range is outside the file's %" PRIu64 " bytes", size);
        return false;
    }
    *status = 200;
    if (r == 1) {
        char cr[80];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, size);
        http_request_add_header(call->req, "Content-Range", cr);
        *status = 206;
    }
    d->offset = from;
    d->end = size == 0 ? 0 : to + 1;
    d->whole = r != 1 && call->api->config.verify_reads;
    d->chunked = r == 1 && call->api->config.verify_reads;
    if (d->whole && d->check != 0) {
        blob_check_init(&d->check_state);
    }
    return true;
}

static bool file_visible(struct api_call *call, const FileRecord *f)
{
    struct base_err err;
    BillRecord *bill;
    bool yes;
    if (!api_restricted(call)) {
        return true;
    }
    if (archive_get_bill(call->api->archive, call->tenant, f->image_no, &bill, &err) != 0) {
        return api_org_visible(call, "");
    }
    yes = api_org_visible(call, bill->org);
    archive_free_bill(bill);
    return yes;
}

void api_handle_content(struct api_call *call)
{
    struct base_err err = {{0}};
    struct download *d;
    FileRecord *f;
    int status = 200;
    int rv = archive_get_file(call->api->archive, call->tenant, call->param, &f, &err);
    if (rv == 0 && !file_visible(call, f)) {
        archive_free_file(f);
        rv = BASE_ENOTFOUND; /* outside the caller's grants: as if it did not exist */
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_FILE_NOT_FOUND,
                          "no file %.64s in tenant %s; take file ids from GET "
                          "/api/v1/bills/{image_no}",
                          call->param, call->tenant);
        return;
    }
    if (rv != 0 || f->blob.len != BLOB_HASH_BYTES) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file record: %s",
                          rv != 0 ? err.msg : "bad blob reference");
        archive_free_file(f);
        return;
    }
    d = xcalloc(1, sizeof *d);
    d->api = call->api;
    d->req = call->req;
    d->fd = -1;
    memcpy(d->hash, f->blob.data, BLOB_HASH_BYTES);
    d->file_size = f->size;
    d->check = f->check;
    blob_hash_init(&d->hash_state);
    if (!plan_download(call, f->size, d, &status)) {
        archive_free_file(f);
        download_free(d);
        return;
    }
    add_disposition(call->req, f->name);
    call->req->data = d;
    d->status = status;
    d->content_type = api_content_type(f->format);
    archive_free_file(f);
    next_read(d);
}

/* ---- Streaming from another holder ---- */

static void remote_finish(struct download *d)
{
    char hex[BLOB_HEX_BYTES];
    if (!d->fetch_ok || d->corrupt) {
        hex_encode(d->hash, BLOB_HASH_BYTES, hex);
        if (d->corrupt) {
            d->api->corrupt_reads_total++;
        }
        LOG_ERROR("content", "request_id=%s blob=%s: %s from another node; response cut short",
                  d->req->request_id, hex, d->corrupt ? "content does not match its checksum"
                                                      : "transfer failed");
    }
    http_respond_end(d->req); /* short of Content-Length unless complete: the server closes */
    download_free(d);
}

static void remote_written(struct http_request *req, int status)
{
    struct download *d = req->data;
    d->writing = false;
    if (status != 0) {
        d->client_gone = true;
    }
    if (d->fetch_done) {
        remote_finish(d);
    } else {
        blob_fetch_resume(d->fetch); /* the next piece (or, the client gone, the end) */
    }
}

static size_t remote_data(struct blob_fetch *f, const char *data, size_t n)
{
    struct download *d = f->data;
    char *copy;
    if (d->client_gone) {
        return 0;
    }
    if (d->writing) {
        return HTTP_CLIENT_PAUSE; /* one piece at a time: this one comes again */
    }
    if (!d->started) {
        d->started = true;
        d->api->downloads_total++;
        http_respond_start(d->req, d->status, d->content_type, (int64_t)(d->end - d->offset));
    }
    if (d->whole) {
        /* XXH3 (or BLAKE2b for old records) of a piece of at most 16 KiB: microseconds. */
        d->chunk = (char *)data;
        d->chunk_len = n;
        verify_chunk(d);
        d->chunk = NULL;
        if (d->corrupt) {
            return 0; /* the last piece is never passed on: the response stays short */
        }
    }
    copy = xmalloc(n);
    memcpy(copy, data, n);
    d->offset += n;
    d->api->download_bytes_total += n;
    d->writing = true;
    http_respond_write(d->req, copy, n, remote_written);
    return n;
}

static void remote_done(struct blob_fetch *f, bool ok, const char *why)
{
    struct download *d = f->data;
    d->fetch = NULL;
    d->fetch_done = true;
    d->fetch_ok = ok && d->offset == d->end;
    if (!d->started) {
        api_respond_error(d->api, d->req, 503, API_E_UNAVAILABLE,
                          "this node holds no %scopy of the content and the node that does "
                          "could not serve it (%s); retry, or ask that node",
                          d->io_status == BASE_ECORRUPT ? "good " : "",
                          why != NULL ? why : "no data");
        download_free(d);
    } else if (!d->writing) {
        remote_finish(d);
    }
}

/* Starts streaming the planned bytes from a holder; false when no other node holds
 * the blob (d->err says why). */
static bool remote_start(struct download *d)
{
    char why[256];
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    if (d->offset >= d->end || d->req->method == HTTP_M_HEAD) {
        /* Nothing to transfer: the record has the size and the type. */
        d->started = true;
        d->api->downloads_total++;
        http_respond_start(d->req, d->status, d->content_type, (int64_t)(d->end - d->offset));
        http_respond_end(d->req);
        download_free(d);
        return true;
    }
    d->fetch = repl_blob_fetch(d->api->repl, d->hash, d->offset, d->end - 1, remote_data,
                               remote_done, d, why, sizeof why);
    if (d->fetch == NULL) {
        base_err_set(&d->err, "blob missing here; %s", why);
        return false;
    }
    return true;
}

/* ---- GET /internal/v1/blobs/<hash> ---- */

void api_serve_blob(struct api *api, struct http_request *req, const char *hex)
{
    struct api_call call = {.api = api, .req = req};
    struct base_err err = {{0}};
    struct download *d;
    BlobRecord *blob;
    uint8_t hash[BLOB_HASH_BYTES];
    int status = 200;
    size_t n = strcspn(hex, "?");
    if (n != 2 * BLOB_HASH_BYTES || !hex_decode(hex, hash, sizeof hash)) {
        api_respond_error(api, req, 400, API_E_BAD_REQUEST, "a blob is named by 64 hex digits");
        return;
    }
    if (archive_get_blob(api->archive, hash, &blob, &err) != 0) {
        api_respond_error(api, req, 404, API_E_NOT_FOUND, "no blob %.64s in the metadata", hex);
        return;
    }
    d = xcalloc(1, sizeof *d);
    d->api = api;
    d->req = req;
    d->fd = -1;
    d->internal = true;
    memcpy(d->hash, hash, BLOB_HASH_BYTES);
    d->file_size = blob->size;
    archive_free_blob(blob);
    blob_hash_init(&d->hash_state);
    if (!plan_download(&call, d->file_size, d, &status)) {
        download_free(d);
        return;
    }
    /* Never a byte that failed its chunk's check; a whole copy is verified again by
     * the node that asked, against the file's checksum. */
    d->whole = false;
    d->chunked = api->config.verify_reads;
    req->data = d;
    d->status = status;
    d->content_type = "application/octet-stream";
    next_read(d);
}
