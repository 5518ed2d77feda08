/* The blob data path: how a blob's bytes enter and leave this node over HTTP.
 *
 * - In (blob_in.c): a request body streamed into the blob store, hashed as it goes,
 *   and made durable by the group commit (blob_commit.c): captures (api/capture.c)
 *   and copies other nodes push (peer_server.c).
 * - Out (blob_out.c): a blob streamed into an HTTP answer, verified, from this node's
 *   disk or, when it holds no good copy, from a node that does (blob_fetch.c): file
 *   contents (api/content.c) and copies served to other nodes (peer_server.c).
 * - The disk guard (blob_space.c): below --min-free-mb free, or after a write found
 *   none, new files and copies are refused from the head.
 *
 * Loop thread only, but for the worker jobs each module describes. struct blob_path is
 * the caller's (api/server.c embeds it); it lives until blob_path_stop()'s callback has
 * run and blob_path_close() has freed what it holds. Answers are JSON errors with the
 * codes of replication/peer.h, which are the API's (api/errors.h). */
#ifndef IMGARC_REPLICATION_BLOB_PATH_H
#define IMGARC_REPLICATION_BLOB_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "net/http_server.h"
#include "replication/repl.h"
#include "storage/blobstore.h"

struct keeper;

struct blob_path_config {
    uint64_t node_id;
    bool sync_blobs;           /* fsync blobs before acknowledging (off only for benchmarks) */
    bool verify_reads;         /* check each read against its checksum */
    uint64_t reverify_after_ms; /* a copy verified this recently is sent unchecked (0: never) */
    uint64_t group_commit_max; /* most uploads made durable by one sync (0: 64) */
    uint64_t min_free_bytes;   /* below this free space, new files and copies are refused */
    struct keeper *keeper;     /* told about corrupt copies (borrowed; NULL: none) */
};

/* Counters for /metrics; written on the loop. */
struct blob_stats {
    uint64_t downloads_total;      /* answers started (files and copies served) */
    uint64_t download_bytes_total;
    uint64_t sendfile_bytes_total; /* of which sent by sendfile, unchecked */
    uint64_t loop_reads_total;     /* reads answered on the loop (blob_hot.c) */
    uint64_t corrupt_reads_total;  /* reads that found content not matching its hash */
    uint64_t replicas_received_total; /* copies other nodes pushed here */
    uint64_t group_commits_total;
    uint64_t group_commit_files_total;
};

/* The disk guard (blob_space.c): loop-owned, but for what its job fills while busy. */
enum {
    BLOB_SPACE_EVENT_NONE,
    BLOB_SPACE_EVENT_RESERVED, /* the reserve was made */
    BLOB_SPACE_EVENT_RELEASED, /* the reserve was given back */
    BLOB_SPACE_EVENT_FAILED,   /* making or deleting it failed: err */
};
struct blob_space {
    uint64_t floor_bytes;   /* --min-free-mb */
    uint64_t free_bytes;    /* last measured */
    uint64_t total_bytes;   /* the file system's size, last measured (0: unknown) */
    bool full;              /* refusing new files and copies */
    uint64_t hold_until_ms; /* after a failed write, full at least until then */
    uint64_t refused_total; /* captures and copies refused while full */
    uint64_t full_total;    /* times the node became full */
    /* Private. */
    uv_timer_t timer;
    uv_work_t work;
    uint64_t measured; /* written by the work, read after it */
    uint64_t measured_total; /* likewise: the file system's size */
    int event;         /* likewise */
    struct base_err err;
    bool reserve_warned;
    bool busy;
    bool timer_closed;
};

/* Open copies of blobs read recently (blob_hot.c): the loop's. */
#define BLOB_HOT_SLOTS_MAX 1024
#define BLOB_HOT_FILE_MAX (4u << 20) /* larger files are never kept open */
struct blob_hot_entry {
    uint8_t hash[BLOB_HASH_BYTES];
    int fd; /* -1: empty */
    uint64_t used_ms;
};
struct blob_hot {
    struct blob_hot_entry *e; /* slots entries */
    unsigned slots;           /* a power of two */
    unsigned open;            /* descriptors held */
};

struct blob_commit;

struct blob_path {
    uv_loop_t *loop;
    struct blob_path_config config;
    struct archive *archive; /* borrowed until closed */
    struct repl *repl;       /* likewise */
    struct blob_store *blobs; /* likewise */
    struct blob_stats stats;
    struct blob_space space;
    /* Private. */
    struct blob_hot hot;
    struct blob_commit *commit;
    bool stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

/* Starts the disk guard (it measures the free space once a second, on the pool). */
void blob_path_init(struct blob_path *bp, uv_loop_t *loop, const struct blob_path_config *config,
                    struct archive *archive, struct repl *repl, struct blob_store *blobs);
/* Stops the disk guard; @cb runs once its timer is closed and its job done. Uploads
 * and downloads in flight go on. */
void blob_path_stop(struct blob_path *bp, void (*cb)(void *arg), void *arg);
/* Frees the group commit queue, once no upload is in flight and the stop is done. */
void blob_path_close(struct blob_path *bp);

/* ---- The disk guard (blob_space.c) ---- */

/* A write failed with "no space left": the node is full from now on (logged once). */
void blob_space_no_space(struct blob_path *bp);
/* While the node is full: answers @req 507 naming the node and its free space, before
 * a byte of the body is stored, and returns true. @what: "files" (a capture) or
 * "copies" (a copy pushed by another node). */
bool blob_space_refuse(struct blob_path *bp, struct http_request *req, const char *what);

/* ---- In: a request body streamed into the blob store (blob_in.c) ---- */

/* The owner fills the public part and calls blob_in_start(), which takes req->data
 * and req->abort_cb; done() runs once on the loop: 0 when the blob is durable and in
 * place (writer.hash, size and check are set), BASE_ETOOBIG, BASE_EEMPTY (no body),
 * BASE_ECANCELED (the client went away), BASE_ECORRUPT (the body does not hash to
 * @expected), or a storage failure (BASE_ENOSPACE...). */
struct blob_in;
typedef void (*blob_in_inspect_cb)(struct blob_in *u, const char *data, size_t len);
typedef void (*blob_in_examine_cb)(struct blob_in *u, const char *path);
typedef void (*blob_in_done_cb)(struct blob_in *u, int status);
struct blob_commit_item;
typedef void (*blob_commit_cb)(struct blob_commit_item *item, int status);
struct blob_commit_item {
    struct blob_writer *writer;
    blob_commit_cb cb;
    void *data;
    struct blob_commit_item *next;
    int status;
};
struct blob_in {
    struct blob_path *bp;
    struct http_request *req;   /* NULL for a pull with no request (then @label) */
    const char *label;          /* names a pull without @req in the log */
    blob_in_inspect_cb inspect; /* optional; sees every byte, on a worker thread */
    /* Optional; runs once on the worker that finishes the upload, when every byte is
     * written (and durable, with sync_blobs) to the temp file at @path and before the
     * blob joins the group commit: a look at the whole file that may block (reading a
     * PDF's page tree), with the loop not waiting. It touches only its own request and
     * must not keep @path. It does not run when writing or finishing the file failed. */
    blob_in_examine_cb examine;
    blob_in_done_cb done;
    void *data;
    bool expect_hash; /* the body must hash to @expected, else nothing is stored */
    uint8_t expected[BLOB_HASH_BYTES];
    struct blob_writer writer;
    struct base_err err;
    /* Private. */
    bool writer_open;
    char *fill; /* buffer the loop is filling */
    size_t fill_len;
    char *busy; /* buffer a worker is writing, or NULL */
    size_t busy_len;
    bool paused;
    bool body_done;
    bool aborted;
    bool finishing;
    int io_status;
    uv_work_t work;
    struct blob_commit_item commit;
    void (*room_cb)(struct blob_in *u); /* pull style: told instead of resuming req */
    /* blob_in_start_sink(): the file the body goes to, where, and how much of it. */
    bool to_sink;
    int sink_fd;
    uint64_t sink_off;
    uint64_t sink_max;
    uint64_t sink_written; /* public: the bytes written, whatever the end */
    /* blob_in_start_file(): the file the content comes from. */
    char *src_path;
    int src_fd;
    uint64_t src_size;
    uint64_t src_off;
};
void blob_in_start(struct blob_in *u);
/* The push style, for an owner that reads the body itself and stores something made
 * from it (the vendor's fileCollect decodes base64 out of a JSON body): after
 * blob_in_begin() the owner reads @req's body (req->data and abort_cb stay its own) and
 * hands the content over with blob_in_push(), at most HTTP_BODY_CHUNK_MAX bytes in all
 * per body callback (reading @req pauses while both buffers are busy, as for
 * blob_in_start()); then blob_in_push_end() once with the body's status (0; or
 * BASE_EINVAL, BASE_ETOOBIG, BASE_ECANCELED: nothing is stored and done() gets it), or
 * blob_in_push_abort() from its abort callback before the body's failed end. done()
 * runs only after blob_in_push_end(). */
void blob_in_begin(struct blob_in *u);
/* The same for content that does not come from @req's body (a download): @room_cb
 * runs on the loop when a full writer has room again, instead of @req being paused;
 * before each push the owner asks blob_in_full() and holds its source while it is.
 * @req may be NULL (a download no request of this node's asked for) when @label is
 * set; blob_in_respond_failure() is then not for it. */
void blob_in_begin_pull(struct blob_in *u, void (*room_cb)(struct blob_in *u));
bool blob_in_full(const struct blob_in *u);
void blob_in_push(struct blob_in *u, const char *data, size_t len);
void blob_in_push_end(struct blob_in *u, int status);
void blob_in_push_abort(struct blob_in *u);
/* A body appended to a file of the owner's instead of the blob store (a resumable
 * upload's PATCH, api/uploads.c), streamed the same way: at offset @off of @fd, at most
 * @max bytes. done() gets 0 when all of it is written (not synced: the owner syncs),
 * BASE_EEMPTY for an empty body, BASE_ETOOBIG when the body goes past @max (what came
 * before is written), BASE_ECANCELED or BASE_EIO; sink_written counts the bytes written
 * in every case. The owner keeps @fd. */
void blob_in_start_sink(struct blob_in *u, int fd, uint64_t off, uint64_t max);
/* Content from a file instead of a body (a completed resumable upload): the first
 * @size bytes of @path, read by the workers and stored as blob_in_start() stores a body
 * (inspect, examine, the group commit); u->req stays the owner's. A file shorter than
 * @size ends with BASE_EIO; @size 0 with BASE_EEMPTY. @path is copied. */
void blob_in_start_file(struct blob_in *u, const char *path, uint64_t size);
/* Answers the request of an upload that ended with @status (not 0 or BASE_ECORRUPT):
 * 507, 413, 400 or 500, with a message about @what ("the file", "the copy"). */
void blob_in_respond_failure(struct blob_in *u, int status, const char *what);

/* ---- The group commit (blob_commit.c), for blob_in.c ---- */

struct blob_commit *blob_commit_new(struct blob_path *bp);
void blob_commit_free(struct blob_commit *d);
/* Queues @item; its callback runs once the blob is durable and in place. */
void blob_commit_add(struct blob_commit *d, struct blob_commit_item *item);

/* ---- Out: a blob streamed into an HTTP answer (blob_out.c) ---- */

/* Plans the answer to @req of blob @hash, @size bytes, whose XXH3 is @check (0:
 * verify with BLAKE2b, the blob's name): ETag, Accept-Ranges and Cache-Control are
 * added; a matching If-None-Match is answered 304 and an unsatisfiable Range 416, and
 * then NULL is returned. Otherwise the caller may add headers of its own and must
 * call blob_out_start(). A whole read is verified against the checksum and a range
 * chunk by chunk (when verify_reads); a blob this node does not hold, or whose chunks
 * fail their check in a range, is streamed from another holder. */
struct blob_out;
struct blob_out *blob_out_plan(struct blob_path *bp, struct http_request *req,
                               const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                               uint64_t check);
/* Starts the answer, with @content_type (static). Takes req->data. */
void blob_out_start(struct blob_out *o, const char *content_type);
/* Streams this node's copy of blob @hex (64 hex digits, then maybe a query) for
 * another node (the request is authenticated already); a Range header is honoured;
 * never fetched from elsewhere. */
void blob_out_serve_peer(struct blob_path *bp, struct http_request *req, const char *hex);

/* ---- Open copies of blobs read recently (blob_hot.c; loop thread) ---- */

/* Makes the table (blob_path_init) and frees it (blob_path_close). */
void blob_hot_init(struct blob_path *bp);
void blob_hot_free(struct blob_path *bp);
/* The open descriptor kept for @hash (borrowed: stays in the table), or -1. */
int blob_hot_find(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES]);
/* Keeps @fd (taken) open for @hash, in place of what its slot held. */
void blob_hot_keep(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES], int fd);
/* Closes the descriptor kept for @hash, if any. */
void blob_hot_drop(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES]);
/* Closes the descriptors idle for two seconds (@all: every one). */
void blob_hot_expire(struct blob_path *bp, bool all);
/* Whether the pages of bytes [@offset, @offset + @len) of @fd are all in the page
 * cache (cachestat(2)); false when the kernel cannot tell. */
bool blob_hot_in_memory(int fd, uint64_t offset, uint64_t len);

#endif
