/* A request body streamed into the blob store: captures (api/capture.c) and copies
 * pushed by other nodes (peer_server.c). See blob_path.h.
 *
 * The body arrives in fixed-size chunks: the loop fills one buffer while a worker
 * writes and hashes the other, and reading pauses while both are busy, so an upload
 * costs two chunk buffers whatever its size (one when the body fits in one). The worker that writes the last chunk
 * also finishes the file and lets the owner examine it whole (a capture counts a PDF's
 * pages there). Then the blob joins a group commit (blob_commit.c) and the owner hears
 * once, on the loop, how it ended. */
#include "replication/blob_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/peer.h"

#define CHUNK_BYTES (256u << 10)
/* Buffers hold CHUNK_BYTES plus one body callback's worth, so a chunk that arrives
 * when the buffer is nearly full is always taken whole. */
#define BUFFER_BYTES (CHUNK_BYTES + HTTP_BODY_CHUNK_MAX)

static void release(struct blob_in *u)
{
    if (u->writer_open) {
        blob_writer_abort(&u->writer);
        u->writer_open = false;
    }
    if (u->src_path != NULL && u->src_fd >= 0) {
        close(u->src_fd);
    }
    u->src_fd = -1;
    free(u->src_path);
    u->src_path = NULL;
    free(u->fill);
    free(u->busy);
    u->fill = u->busy = NULL;
}

/* The one place an upload ends. */
static void end(struct blob_in *u, int status)
{
    if (status == BASE_ENOSPACE) {
        blob_space_no_space(u->bp); /* logged there, once per state change */
    }
    release(u);
    u->done(u, status);
}

/* A sink's write: what fits under sink_max, then BASE_ETOOBIG for the rest. */
static void sink_write(struct blob_in *u)
{
    size_t len = u->busy_len;
    size_t done = 0;
    if (u->sink_written + len > u->sink_max) {
        len = (size_t)(u->sink_max - u->sink_written);
    }
    while (done < len) {
        ssize_t n = pwrite(u->sink_fd, u->busy + done, len - done,
                           (off_t)(u->sink_off + u->sink_written + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            u->io_status = errno == ENOSPC ? BASE_ENOSPACE : BASE_EIO;
            base_err_set(&u->err, "writing the upload failed: %s", strerror(errno));
            break;
        }
        done += (size_t)n;
    }
    u->sink_written += done;
    if (u->io_status == 0 && len < u->busy_len) {
        u->io_status = BASE_ETOOBIG;
        base_err_set(&u->err, "the body goes past the upload's length");
    }
}

static void write_work(uv_work_t *work)
{
    struct blob_in *u = work->data;
    if (u->to_sink) {
        sink_write(u);
        return;
    }
    if (!u->writer_open) {
        u->io_status = blob_writer_open(u->bp->blobs, &u->writer, &u->err);
        if (u->io_status != 0) {
            return;
        }
        u->writer_open = true;
    }
    if (u->busy_len > 0) {
        u->io_status = blob_writer_write(&u->writer, u->busy, u->busy_len, &u->err);
        if (u->inspect != NULL) {
            u->inspect(u, u->busy, u->busy_len);
        }
    }
    if (u->io_status == 0 && u->finishing) {
        u->io_status = blob_writer_finish(&u->writer, u->bp->config.sync_blobs, &u->err);
        if (u->io_status == 0 && u->examine != NULL) {
            u->examine(u, u->writer.tmp_path);
        }
    }
}

static void after_write(uv_work_t *work, int status);

/* Hands the filled buffer to a worker. The second buffer is made only when more of the
 * body is to come: a body that fits in one chunk (most scans) costs one buffer. */
static void start_write(struct blob_in *u, bool last)
{
    char *swap = u->busy;
    ASSERT(u->busy_len == 0);
    u->busy = u->fill;
    u->busy_len = u->fill_len;
    u->fill = swap != NULL || last ? swap : xmalloc(BUFFER_BYTES);
    u->fill_len = 0;
    u->finishing = last;
    u->work.data = u;
    ASSERT(uv_queue_work(u->bp->loop, &u->work, write_work, after_write) == 0);
}

static void on_committed(struct blob_commit_item *item, int status)
{
    struct blob_in *u = item->data;
    u->writer_open = false; /* committed into place (or failed and aborted) */
    end(u, status);
}

/* Every byte is written and the file finished: checked, then into the group commit. */
static void commit(struct blob_in *u)
{
    if (u->expect_hash && memcmp(u->writer.hash, u->expected, BLOB_HASH_BYTES) != 0) {
        end(u, BASE_ECORRUPT);
        return;
    }
    u->commit.writer = &u->writer;
    u->commit.cb = on_committed;
    u->commit.data = u;
    blob_commit_add(u->bp->commit, &u->commit);
}

static void after_write(uv_work_t *work, int status)
{
    struct blob_in *u = work->data;
    bool was_last = u->finishing;
    u->busy_len = 0;
    if (u->io_status == 0 && status != 0) {
        u->io_status = BASE_EIO;
        base_err_set(&u->err, "the write job was cancelled");
    }
    if (u->io_status != 0) {
        if (u->io_status != BASE_ECANCELED && u->io_status != BASE_ENOSPACE &&
            u->io_status != BASE_ETOOBIG) {
            LOG_ERROR("upload", "request_id=%s: %s",
                      u->req != NULL ? u->req->request_id : u->label, u->err.msg);
        }
        if (!u->body_done) {
            u->aborted = true; /* the body done callback ends the upload */
            if (u->paused) {
                u->paused = false;
                if (u->room_cb != NULL) {
                    u->room_cb(u);
                } else {
                    http_request_resume(u->req);
                }
            }
            return;
        }
        end(u, u->io_status);
        return;
    }
    if (was_last) {
        if (u->to_sink) {
            end(u, 0);
        } else {
            commit(u);
        }
        return;
    }
    if (u->body_done) {
        start_write(u, true);
    } else if (u->fill_len >= CHUNK_BYTES) {
        start_write(u, false);
    }
    if (u->paused && u->fill_len < CHUNK_BYTES) {
        u->paused = false;
        if (u->room_cb != NULL) {
            u->room_cb(u);
        } else {
            http_request_resume(u->req);
        }
    }
}

/* Takes @len bytes into the loop's buffer; reading pauses while both are busy. */
static void take(struct blob_in *u, const char *data, size_t len)
{
    if (u->aborted) {
        return;
    }
    ASSERT(u->fill_len + len <= BUFFER_BYTES);
    memcpy(u->fill + u->fill_len, data, len);
    u->fill_len += len;
    if (u->fill_len < CHUNK_BYTES) {
        return;
    }
    if (u->busy_len == 0) {
        start_write(u, false);
    } else if (!u->paused) {
        /* Both buffers are full: stop reading until the worker is done with its one. */
        u->paused = true;
        if (u->room_cb == NULL) {
            http_request_pause(u->req);
        }
    }
}

static void on_body(struct http_request *req, const char *data, size_t len)
{
    struct blob_in *u = req->data;
    ASSERT(len <= HTTP_BODY_CHUNK_MAX && (u->aborted || u->fill_len < CHUNK_BYTES));
    take(u, data, len);
}

/* The end of the content, with the body's status. */
static void content_done(struct blob_in *u, int status)
{
    u->body_done = true;
    if (status != 0 || u->aborted) {
        int why = u->io_status != 0        ? u->io_status
                  : status == BASE_ETOOBIG ? BASE_ETOOBIG
                  : status == BASE_EINVAL  ? BASE_EINVAL
                                           : BASE_ECANCELED;
        u->aborted = true;
        if (u->busy_len == 0) {
            end(u, why);
        } else if (u->io_status == 0) {
            /* A worker still owns a buffer; after_write ends the upload. */
            u->io_status = why;
        }
        return;
    }
    if (u->busy_len == 0) {
        if (u->fill_len == 0 && !u->writer_open && u->sink_written == 0) {
            end(u, BASE_EEMPTY);
            return;
        }
        start_write(u, true);
    }
}

static void on_body_done(struct http_request *req, int status)
{
    content_done(req->data, status);
}

static void on_abort(struct http_request *req)
{
    struct blob_in *u = req->data;
    u->aborted = true;
}

void blob_in_start(struct blob_in *u)
{
    ASSERT(u->bp != NULL && u->req != NULL && u->done != NULL);
    u->fill = xmalloc(BUFFER_BYTES);
    u->req->data = u;
    u->req->abort_cb = on_abort;
    http_request_read_body(u->req, on_body, on_body_done);
}

void blob_in_start_sink(struct blob_in *u, int fd, uint64_t off, uint64_t max)
{
    u->to_sink = true;
    u->sink_fd = fd;
    u->sink_off = off;
    u->sink_max = max;
    u->sink_written = 0;
    blob_in_start(u);
}

void blob_in_begin(struct blob_in *u)
{
    ASSERT(u->bp != NULL && u->req != NULL && u->done != NULL);
    u->fill = xmalloc(BUFFER_BYTES);
}

void blob_in_begin_pull(struct blob_in *u, void (*room_cb)(struct blob_in *u))
{
    /* Content that comes from no request of this node's server (a migration's
     * download) has no @req: @label names it in the log instead. */
    ASSERT(u->bp != NULL && u->done != NULL && room_cb != NULL);
    ASSERT(u->req != NULL || u->label != NULL);
    u->fill = xmalloc(BUFFER_BYTES);
    u->room_cb = room_cb;
}

bool blob_in_full(const struct blob_in *u)
{
    return u->paused;
}

void blob_in_push(struct blob_in *u, const char *data, size_t len)
{
    ASSERT(!u->body_done);
    take(u, data, len);
}

void blob_in_push_end(struct blob_in *u, int status)
{
    ASSERT(!u->body_done);
    content_done(u, status);
}

void blob_in_push_abort(struct blob_in *u)
{
    u->aborted = true;
}

void blob_in_respond_failure(struct blob_in *u, int status, const char *what)
{
    struct http_request *req = u->req;
    switch (status) {
    case BASE_ENOSPACE:
        peer_respond_error(req, 507, PEER_E_INSUFFICIENT_STORAGE,
                           "node %llu's disk is full: it has no space left to store %s; it "
                           "refuses new files until space is freed on it",
                           (unsigned long long)u->bp->config.node_id, what);
        break;
    case BASE_ETOOBIG:
        peer_respond_error(req, 413, PEER_E_BODY_TOO_LARGE,
                           "%s is larger than the node accepts", what);
        break;
    case BASE_EEMPTY:
        peer_respond_error(req, 400, PEER_E_EMPTY_FILE,
                           "the body is empty: send the file's bytes as the request body");
        break;
    case BASE_ECANCELED:
        /* The client went away or broke the body: the answer is not sent; the request
         * is released. */
        peer_respond_error(req, 400, PEER_E_BAD_REQUEST, "the upload did not complete");
        break;
    default:
        peer_respond_error(req, 500, PEER_E_INTERNAL,
                           "storing %s failed on this node; retry, and tell the operator if "
                           "it persists",
                           what);
        break;
    }
}

/* ---- Content from a file (blob_in_start_file()) ---- */

/* One chunk: read from the file, then written and looked at as a body's chunk is; the
 * last one finishes the file. */
static void source_work(uv_work_t *work)
{
    struct blob_in *u = work->data;
    size_t want = u->src_size - u->src_off < CHUNK_BYTES ? (size_t)(u->src_size - u->src_off)
                                                         : CHUNK_BYTES;
    size_t got = 0;
    if (u->src_fd < 0) {
        u->src_fd = open(u->src_path, O_RDONLY | O_CLOEXEC);
        if (u->src_fd < 0) {
            u->io_status = BASE_EIO;
            base_err_set(&u->err, "opening %s failed: %s", u->src_path, strerror(errno));
            return;
        }
    }
    if (!u->writer_open) {
        u->io_status = blob_writer_open(u->bp->blobs, &u->writer, &u->err);
        if (u->io_status != 0) {
            return;
        }
        u->writer_open = true;
    }
    while (got < want) {
        ssize_t n = pread(u->src_fd, u->busy + got, want - got, (off_t)(u->src_off + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            u->io_status = BASE_EIO;
            base_err_set(&u->err, "reading %s at byte %llu failed: %s", u->src_path,
                         (unsigned long long)(u->src_off + got),
                         n == 0 ? "the file ends before its length" : strerror(errno));
            return;
        }
        got += (size_t)n;
    }
    u->io_status = blob_writer_write(&u->writer, u->busy, got, &u->err);
    if (u->io_status != 0) {
        return;
    }
    if (u->inspect != NULL) {
        u->inspect(u, u->busy, got);
    }
    u->src_off += got;
    if (u->src_off == u->src_size) {
        u->finishing = true;
        u->io_status = blob_writer_finish(&u->writer, u->bp->config.sync_blobs, &u->err);
        if (u->io_status == 0 && u->examine != NULL) {
            u->examine(u, u->writer.tmp_path);
        }
    }
}

static void after_source(uv_work_t *work, int status)
{
    struct blob_in *u = work->data;
    if (u->io_status == 0 && status != 0) {
        u->io_status = BASE_EIO;
        base_err_set(&u->err, "the read job was cancelled");
    }
    if (u->io_status != 0) {
        if (u->io_status != BASE_ENOSPACE) {
            LOG_ERROR("upload", "request_id=%s: %s",
                      u->req != NULL ? u->req->request_id : u->label, u->err.msg);
        }
        end(u, u->io_status);
        return;
    }
    if (u->finishing) {
        commit(u);
        return;
    }
    ASSERT(uv_queue_work(u->bp->loop, &u->work, source_work, after_source) == 0);
}

void blob_in_start_file(struct blob_in *u, const char *path, uint64_t size)
{
    ASSERT(u->bp != NULL && u->done != NULL && (u->req != NULL || u->label != NULL));
    u->src_path = xstrdup(path);
    u->src_fd = -1;
    u->src_size = size;
    u->src_off = 0;
    u->body_done = true;
    if (size == 0) {
        end(u, BASE_EEMPTY);
        return;
    }
    u->busy = xmalloc(CHUNK_BYTES);
    u->work.data = u;
    ASSERT(uv_queue_work(u->bp->loop, &u->work, source_work, after_source) == 0);
}
