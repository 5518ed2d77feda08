/* A blob streamed into an HTTP answer (see blob_path.h): file contents for
 * api/content.c and copies served to other nodes (GET /internal/v1/blobs/<hash>).
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
 * 503 (or cut) a whole read gives when there is none.
 *
 * A copy this node verified recently (storage/blobstore.h, "Copies verified recently":
 * a whole read that checked every byte, or the scrubber, less than
 * config.reverify_after_ms ago, and the same file since) is sent without checking it
 * again, by sendfile from the worker straight to the socket (net/http_server.h,
 * "Bodies sent from a file") when the connection allows it: whole files, ranges and
 * copies served to other nodes alike. When the socket is full the worker reads the
 * next piece into memory as usual, and the write queue waits for the client. With
 * --verify-reads false every read is sent that way. */
#include "replication/blob_path.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/mem.h"
#include "net/http_range.h"
#include "replication/blob_fetch.h"
#include "replication/keeper.h"
#include "replication/peer.h"

#define READ_CHUNK (256u << 10)

struct blob_out {
    struct blob_path *bp;
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
    struct blob_ident ident; /* of the open copy */
    bool unchecked;  /* sent without a check (verified recently, or reads unverified) */
    bool verified;   /* this read checked the whole copy: noted as verified recently */
    struct http_direct direct; /* the head (first job) and socket of a sendfile job */
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

static void download_free(struct blob_out *d)
{
    if (d->direct.sock >= 0 || d->direct.head != NULL) {
        http_direct_cancel(d->req, &d->direct);
    }
    if (d->fd >= 0 && (d->unchecked || d->verified) && d->io_status == 0 && !d->corrupt &&
        d->file_size > 0 && d->file_size <= BLOB_HOT_FILE_MAX &&
        (d->bp->config.reverify_after_ms > 0 || !d->bp->config.verify_reads)) {
        blob_hot_keep(d->bp, d->hash, d->fd); /* the next read may be answered on the loop */
    } else if (d->fd >= 0) {
        close(d->fd);
    }
    if (d->check_state.state != NULL) {
        blob_check_discard(&d->check_state);
    }
    blob_chunks_free(&d->chunks);
    free(d->chunk);
    free(d);
}

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

/* Opens the blob (first call), checks its size against the record and decides whether
 * it is sent unchecked. */
static int open_blob(struct blob_out *d)
{
    uint64_t ttl = d->bp->config.reverify_after_ms;
    uint64_t now = now_ms();
    int rv = blob_open_ident(d->bp->blobs, d->hash, &d->fd, &d->ident, &d->err);
    if (rv == 0 && d->ident.size != d->file_size) {
        base_err_set(&d->err, "blob is %llu bytes, its file record says %llu",
                     (unsigned long long)d->ident.size, (unsigned long long)d->file_size);
        rv = BASE_ECORRUPT;
    }
    if (rv == 0) {
        d->unchecked = !d->bp->config.verify_reads ||
                       (ttl > 0 && blob_verified_since(d->bp->blobs, d->hash, &d->ident,
                                                       now > ttl ? now - ttl : 0));
        if (d->unchecked) {
            d->whole = d->chunked = false;
        }
    }
    return rv;
}

static void verify_chunk(struct blob_out *d)
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

/* A whole read of the local copy checked its last byte (worker). */
static void note_verified(struct blob_out *d)
{
    if (d->fd >= 0 && !d->corrupt) {
        blob_verified_note(d->bp->blobs, d->hash, &d->ident, now_ms());
        d->verified = true;
    }
}

/* A verified read: the whole blob chunks that hold the next READ_CHUNK bytes of the
 * range (the chunk list is loaded, or rebuilt, by the first job), each checked, then
 * the part of them in the range. After the first job d->offset is on a chunk
 * boundary, so a job reads READ_CHUNK bytes, and a small range one chunk. */
static void read_chunked(struct blob_out *d)
{
    uint64_t first = d->offset / BLOB_CHUNK_BYTES;
    uint64_t start = first * BLOB_CHUNK_BYTES;
    uint64_t want_end = d->end - d->offset > READ_CHUNK ? d->offset + READ_CHUNK : d->end;
    uint64_t last = (want_end - 1) / BLOB_CHUNK_BYTES;
    uint64_t stop;
    size_t filled = 0;
    if (!d->chunks_loaded) {
        d->io_status = blob_chunks_load(d->bp->blobs, d->hash, d->fd, d->file_size,
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
 * a single trip to the pool. A sendfile job sends what the socket takes, then reads
 * the next chunk into memory when bytes remain (the socket is full). */
static void read_work(uv_work_t *work)
{
    struct blob_out *d = work->data;
    uint64_t from = d->offset;
    uint64_t want;
    size_t n, got = 0;
    if (d->fd < 0 && (d->io_status = open_blob(d)) != 0) {
        return;
    }
    if (d->direct.sock >= 0 && d->unchecked) {
        d->io_status = http_direct_send(&d->direct, d->fd, d->offset, d->end - d->offset,
                                        &d->err);
        if (d->io_status != 0) {
            return;
        }
        from += d->direct.body_sent;
    }
    want = d->end - from;
    n = want < READ_CHUNK ? (size_t)want : READ_CHUNK;
    if (n == 0 || d->req->method == HTTP_M_HEAD) {
        return;
    }
    if (d->chunked) {
        read_chunked(d);
        return;
    }
    d->chunk = xmalloc(n);
    while (got < n) {
        ssize_t r = pread(d->fd, d->chunk + got, n - got, (off_t)(from + got));
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
        if (d->offset + n == d->end) {
            note_verified(d);
        }
    }
}

static void after_read(uv_work_t *work, int status);

static void next_read(struct blob_out *d)
{
    if (d->unchecked && d->started) {
        http_direct_more(d->req, &d->direct); /* when it cannot, a chunk is read */
    }
    d->work.data = d;
    ASSERT(uv_queue_work(d->bp->loop, &d->work, read_work, after_read) == 0);
}

static void written(struct http_request *req, int status)
{
    struct blob_out *d = req->data;
    if (status != 0 || d->offset >= d->end) {
        http_respond_end(req);
        download_free(d);
        return;
    }
    next_read(d);
}

static bool remote_start(struct blob_out *d);

/* Before the head is out a failure is an error answer; after it, only a cut. A blob
 * this node does not hold is streamed from a node that does. */
static void read_failed(struct blob_out *d)
{
    char hex[BLOB_HEX_BYTES];
    bool corrupt = d->corrupt || d->io_status == BASE_ECORRUPT;
    if (!d->started && d->io_status == BASE_ENOTFOUND && !d->internal && remote_start(d)) {
        return;
    }
    hex_encode(d->hash, BLOB_HASH_BYTES, hex);
    if (corrupt) {
        d->bp->stats.corrupt_reads_total++;
        blob_verified_forget(d->bp->blobs, d->hash);
        blob_hot_drop(d->bp, d->hash);
        if (d->bp->config.keeper != NULL) {
            keeper_suspect(d->bp->config.keeper, d->hash); /* the scrubber heals it */
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
        peer_respond_error(d->req, 503, PEER_E_UNAVAILABLE,
                           "the content of this file is not readable on this node (%s); "
                           "the operator should check the node's log for request %s",
                           d->io_status == BASE_ENOTFOUND ? "blob missing" : "damaged or "
                           "unreadable copy", d->req->request_id);
    } else {
        http_respond_end(d->req); /* short of Content-Length: the server closes */
    }
    download_free(d);
}

/* Settles a sendfile job (or the head prepared for the first job): false when the
 * client went away during it, the download then being over. */
static bool direct_settle(struct blob_out *d, bool failed)
{
    uint64_t sent = d->direct.body_sent;
    if (d->direct.sock < 0 && d->direct.head == NULL) {
        return true;
    }
    if (failed && d->direct.head_sent == 0 && sent == 0 && !d->direct.failed) {
        http_direct_cancel(d->req, &d->direct);
        return true;
    }
    if (d->direct.head != NULL) {
        d->started = true;
        d->bp->stats.downloads_total++;
    }
    http_direct_done(d->req, &d->direct);
    d->offset += sent;
    d->bp->stats.download_bytes_total += sent;
    d->bp->stats.sendfile_bytes_total += sent;
    if (d->direct.failed) {
        free(d->chunk);
        d->chunk = NULL;
        http_respond_end(d->req);
        download_free(d);
        return false;
    }
    return true;
}

static void after_read(uv_work_t *work, int status)
{
    struct blob_out *d = work->data;
    bool failed = d->io_status != 0 || d->corrupt || status != 0;
    if (!direct_settle(d, failed)) {
        return;
    }
    if (failed) {
        read_failed(d);
        return;
    }
    if (d->chunk == NULL && d->started) {
        /* A sendfile job that sent everything (or nothing to read: HEAD). */
        if (d->offset >= d->end || d->req->method == HTTP_M_HEAD) {
            http_respond_end(d->req);
            download_free(d);
        } else {
            next_read(d);
        }
        return;
    }
    if (!d->started) {
        d->started = true;
        d->bp->stats.downloads_total++;
        http_respond_start(d->req, d->status, d->content_type, (int64_t)(d->end - d->offset));
        if (d->offset >= d->end || d->req->method == HTTP_M_HEAD) {
            http_respond_end(d->req);
            download_free(d);
            return;
        }
    }
    d->offset += d->chunk_len;
    d->bp->stats.download_bytes_total += d->chunk_len;
    http_respond_write(d->req, d->chunk, d->chunk_len, written);
    d->chunk = NULL;
}

/* Answers the conditional and range parts; returns false when the answer is final. */
static bool plan_download(struct blob_out *d, uint64_t size)
{
    char etag[BLOB_HEX_BYTES + 2];
    char hex[BLOB_HEX_BYTES];
    struct http_request *req = d->req;
    const char *inm = http_request_header(req, "if-none-match");
    uint64_t from = 0, to = size > 0 ? size - 1 : 0;
    int r;
    hex_encode(d->hash, BLOB_HASH_BYTES, hex);
    snprintf(etag, sizeof etag, "\"%s\"", hex);
    http_request_add_header(req, "ETag", etag);
    http_request_add_header(req, "Accept-Ranges", "bytes");
    http_request_add_header(req, "Cache-Control", "private, max-age=31536000, immutable");
    if (inm != NULL && (strstr(inm, hex) != NULL || strcmp(inm, "*") == 0)) {
        http_respond(req, 304, NULL, NULL, 0);
        return false;
    }
    r = http_range_parse(http_request_header(req, "range"), size, &from, &to);
    if (r < 0) {
        char cr[48];
        snprintf(cr, sizeof cr, "bytes */%" PRIu64, size);
        http_request_add_header(req, "Content-Range", cr);
        peer_respond_error(req, 416, PEER_E_RANGE_NOT_SATISFIABLE,
                           "range is outside the file's %" PRIu64 " bytes", size);
        return false;
    }
    d->status = 200;
    if (r == 1) {
        char cr[80];
        snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, size);
        http_request_add_header(req, "Content-Range", cr);
        d->status = 206;
    }
    d->offset = from;
    d->end = size == 0 ? 0 : to + 1;
    d->whole = r != 1 && d->bp->config.verify_reads;
    d->chunked = r == 1 && d->bp->config.verify_reads;
    if (d->whole && d->check != 0) {
        blob_check_init(&d->check_state);
    }
    return true;
}

struct blob_out *blob_out_plan(struct blob_path *bp, struct http_request *req,
                               const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                               uint64_t check)
{
    struct blob_out *d = xcalloc(1, sizeof *d);
    d->bp = bp;
    d->req = req;
    d->fd = -1;
    d->direct.sock = -1;
    memcpy(d->hash, hash, BLOB_HASH_BYTES);
    d->file_size = size;
    d->check = check;
    blob_hash_init(&d->hash_state);
    if (!plan_download(d, size)) {
        download_free(d);
        return NULL;
    }
    return d;
}

/* A read answered on the loop: a copy verified recently (the same file since), open
 * in the table of hot copies, whose bytes are all in the page cache, goes out by
 * sendfile at once, without a trip to the pool; false when this read cannot. When the
 * socket takes only part of it, the pool sends the rest as for any read. The pages
 * being cached, sendfile does not wait for the disk (unless the kernel evicts them in
 * the microseconds between the check and the send). */
static bool serve_hot(struct blob_out *d)
{
    struct blob_path *bp = d->bp;
    uint64_t ttl = bp->config.reverify_after_ms, now = now_ms();
    struct blob_ident ident;
    struct stat st;
    int fd;
    if ((bp->config.verify_reads && ttl == 0) || d->req->method != HTTP_M_GET ||
        d->end <= d->offset || d->file_size > BLOB_HOT_FILE_MAX) {
        return false;
    }
    fd = blob_hot_find(bp, d->hash);
    if (fd < 0) {
        return false;
    }
    if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
        blob_hot_drop(bp, d->hash); /* removed (or moved to quarantine) since */
        return false;
    }
    blob_ident_of(&st, &ident);
    if (ident.size != d->file_size ||
        (bp->config.verify_reads &&
         !blob_verified_since(bp->blobs, d->hash, &ident, now > ttl ? now - ttl : 0))) {
        blob_hot_drop(bp, d->hash); /* the pool opens the file anew and checks it */
        return false;
    }
    if (!blob_hot_in_memory(fd, d->offset, d->end - d->offset) ||
        !http_direct_begin(d->req, d->status, d->content_type, d->end - d->offset,
                           &d->direct)) {
        return false;
    }
    d->unchecked = true;
    d->whole = d->chunked = false;
    bp->stats.loop_reads_total++;
    d->io_status = http_direct_send(&d->direct, fd, d->offset, d->end - d->offset, &d->err);
    d->work.data = d;
    after_read(&d->work, 0); /* ends it, or hands the rest to the pool */
    return true;
}

void blob_out_start(struct blob_out *d, const char *content_type)
{
    d->req->data = d;
    d->content_type = content_type;
    if (serve_hot(d)) {
        return;
    }
    if ((!d->bp->config.verify_reads || d->bp->config.reverify_after_ms > 0) &&
        d->req->method != HTTP_M_HEAD && d->end > d->offset) {
        http_direct_begin(d->req, d->status, content_type, d->end - d->offset, &d->direct);
    }
    next_read(d);
}

/* ---- Streaming from another holder ---- */

static void remote_finish(struct blob_out *d)
{
    char hex[BLOB_HEX_BYTES];
    if (!d->fetch_ok || d->corrupt) {
        hex_encode(d->hash, BLOB_HASH_BYTES, hex);
        if (d->corrupt) {
            d->bp->stats.corrupt_reads_total++;
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
    struct blob_out *d = req->data;
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
    struct blob_out *d = f->data;
    char *copy;
    if (d->client_gone) {
        return 0;
    }
    if (d->writing) {
        return HTTP_CLIENT_PAUSE; /* one piece at a time: this one comes again */
    }
    if (!d->started) {
        d->started = true;
        d->bp->stats.downloads_total++;
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
    d->bp->stats.download_bytes_total += n;
    d->writing = true;
    http_respond_write(d->req, copy, n, remote_written);
    return n;
}

static void remote_done(struct blob_fetch *f, bool ok, const char *why)
{
    struct blob_out *d = f->data;
    d->fetch = NULL;
    d->fetch_done = true;
    d->fetch_ok = ok && d->offset == d->end;
    if (!d->started) {
        peer_respond_error(d->req, 503, PEER_E_UNAVAILABLE,
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
static bool remote_start(struct blob_out *d)
{
    char why[256];
    if (d->fd >= 0) {
        close(d->fd);
        d->fd = -1;
    }
    if (d->offset >= d->end || d->req->method == HTTP_M_HEAD) {
        /* Nothing to transfer: the record has the size and the type. */
        d->started = true;
        d->bp->stats.downloads_total++;
        http_respond_start(d->req, d->status, d->content_type, (int64_t)(d->end - d->offset));
        http_respond_end(d->req);
        download_free(d);
        return true;
    }
    d->fetch = repl_blob_fetch(d->bp->repl, d->hash, d->offset, d->end - 1, remote_data,
                               remote_done, d, why, sizeof why);
    if (d->fetch == NULL) {
        base_err_set(&d->err, "blob missing here; %s", why);
        return false;
    }
    return true;
}

/* ---- GET /internal/v1/blobs/<hash> ---- */

void blob_out_serve_peer(struct blob_path *bp, struct http_request *req, const char *hex)
{
    struct base_err err = {{0}};
    struct blob_out *d;
    BlobRecord *blob;
    uint8_t hash[BLOB_HASH_BYTES];
    uint64_t size;
    size_t n = strcspn(hex, "?");
    if (n != 2 * BLOB_HASH_BYTES || !hex_decode(hex, hash, sizeof hash)) {
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST, "a blob is named by 64 hex digits");
        return;
    }
    if (archive_get_blob(bp->archive, hash, &blob, &err) != 0) {
        peer_respond_error(req, 404, PEER_E_NOT_FOUND, "no blob %.64s in the metadata", hex);
        return;
    }
    size = blob->size;
    archive_free_blob(blob);
    d = blob_out_plan(bp, req, hash, size, 0);
    if (d == NULL) {
        return;
    }
    /* Never a byte that failed its chunk's check; a whole copy is verified again by
     * the node that asked, against the file's checksum. */
    d->internal = true;
    d->whole = false;
    d->chunked = bp->config.verify_reads;
    blob_out_start(d, "application/octet-stream");
}
