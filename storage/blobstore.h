/* The blob store: file content addressed by its BLAKE2b-256 hash.
 *
 * Layout under the data dir: blobs/ab/cd/<64 hex digits> for stored blobs, tmp/ for
 * uploads in progress. A blob becomes visible under blobs/ only by rename(2) after its
 * bytes are durable, so a crash never leaves a torn blob under its name; tmp/ is
 * emptied at open. Identical content is stored once.
 *
 * Each blob has a chunk list, chunks/ab/cd/<64 hex digits>: the XXH3-128 of every
 * BLOB_CHUNK_BYTES piece, sealed by a BLAKE2b keyed with the blob's hash, so that a
 * range is verified by reading only the chunks it covers. The writer builds it from
 * the same bytes that name the blob; a blob without one (stored by an older version)
 * or with a damaged one gets a new one when it is next verified whole (see
 * blob_chunks_load()). The format is in storage/README.md.
 *
 * Every function here blocks on disk I/O: call them from worker threads (the capture
 * and read paths in api/ do), never from the loop. The store itself holds only paths
 * and is safe to share between threads. */
#ifndef IMGARC_STORAGE_BLOBSTORE_H
#define IMGARC_STORAGE_BLOBSTORE_H

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "base/err.h"

#define BLOB_HASH_BYTES 32
#define BLOB_HEX_BYTES (2 * BLOB_HASH_BYTES + 1)
/* Range reads are verified in chunks of this size: at most one chunk is read and
 * hashed beyond each end of a range, and the chunk list costs 16 bytes per 64 KiB
 * (1/4096). Why 64 KiB: storage/README.md. */
#define BLOB_CHUNK_BYTES (64u << 10)
/* A chunk's checksum: XXH3-128, big-endian (XXH128_canonical_t). A checksum like the
 * whole-file XXH3 of downloads, not a name: why, storage/README.md. */
#define BLOB_CHUNK_SUM_BYTES 16

struct blob_store {
    char *root;     /* data dir */
    char *blob_dir; /* root/blobs */
    char *chunk_dir; /* root/chunks */
    char *tmp_dir;  /* root/tmp */
    int root_fd;    /* an open fd on the data dir's file system, for syncfs() */
    _Atomic uint64_t bytes; /* bytes of the stored blobs: counted at open, kept by commits */
    _Atomic uint64_t count; /* and their number */
    struct blob_verified *verified; /* copies verified recently (blob_verified.c) */
};

/* ---- Copies verified recently (blob_verified.c) ----
 * The store remembers, for the last blobs verified (a bounded table, 640 KiB), when
 * this node last checked every byte of its copy (a verified whole read, the scrubber)
 * and which file that was: device, inode, size, modification and change times. A read
 * may send such a copy without checking it again (sendfile) while the check is recent
 * enough and the file is the same one: a copy written since (a repair renames a new
 * file in; any write changes the times) is checked again. The policy is
 * docs/performance.md, "Reads without a copy". Thread-safe; the store's open and close
 * make and free the table. */
struct blob_ident {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
};
struct stat;
void blob_ident_of(const struct stat *st, struct blob_ident *out);
struct blob_verified *blob_verified_new(void);
void blob_verified_free(struct blob_verified *v);
/* Notes that the copy @ident of @hash matched its checksum at @now_ms (monotonic). */
void blob_verified_note(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                        const struct blob_ident *ident, uint64_t now_ms);
/* Whether the copy @ident of @hash was verified at or after @since_ms. */
bool blob_verified_since(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                         const struct blob_ident *ident, uint64_t since_ms);
/* Forgets @hash (a read found it corrupt, it was quarantined or removed). */
void blob_verified_forget(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES]);

/* A fast 64-bit checksum (XXH3) of a blob's bytes. BLAKE2b-256 names a blob and is
 * what the scrubber and replicas check; the checksum is kept in the file record so that
 * whole-file downloads are verified at memory speed (BLAKE2b would cost a core per
 * GB/s served). Streaming: init, update..., final (which releases the state). */
struct blob_check {
    void *state;
};
void blob_check_init(struct blob_check *c);
void blob_check_update(struct blob_check *c, const void *data, size_t len);
uint64_t blob_check_final(struct blob_check *c);
/* Releases the state of a check that will not be finalised. */
void blob_check_discard(struct blob_check *c);

/* Hashes of each BLOB_CHUNK_BYTES piece of a stream (writers, verification). */
struct blob_chunker {
    void *state;     /* XXH3-128 of the chunk being filled */
    uint64_t fill;   /* its bytes so far */
    uint8_t *hashes; /* the chunks done, BLOB_CHUNK_SUM_BYTES each */
    uint64_t count, cap;
};

/* An upload in progress: bytes go to a temp file while the hash is computed. */
struct blob_writer {
    int fd;
    char tmp_path[PATH_MAX];
    crypto_generichash_state hash_state;
    struct blob_check check_state;
    struct blob_chunker chunker;
    char chunks_tmp_path[PATH_MAX + 8]; /* the chunk list, beside the temp file; "" if none */
    uint64_t size;
    uint8_t hash[BLOB_HASH_BYTES]; /* set by blob_writer_finish() */
    uint64_t check;                /* XXH3 of the bytes, set by blob_writer_finish() */
    bool finished;
    bool synced;                   /* the bytes were fdatasync'ed at finish */
    bool existed;                  /* committed: the same content was stored already */
};

/* Creates root/blobs and root/tmp as needed, removes leftovers in tmp/ (uploads cut
 * short by a crash) and counts the stored blobs (one pass over blobs/). */
int blob_store_open(struct blob_store *bs, const char *root, struct base_err *err) WARN_UNUSED;
void blob_store_close(struct blob_store *bs);
/* Bytes and number of blobs stored on this node (any thread). */
uint64_t blob_store_bytes(const struct blob_store *bs);
uint64_t blob_store_count(const struct blob_store *bs);

/* Free space (for an unprivileged writer) of the store's file system; 0 when unknown.
 * Blocks (statfs). */
uint64_t blob_store_free_bytes(const struct blob_store *bs);
/* Size of the store's file system (what placement weighs the node by); 0 when
 * unknown. Blocks (statfs). */
uint64_t blob_store_total_bytes(const struct blob_store *bs);

/* The reserve: root/reserve, a file of allocated space the node gives back when its
 * file system is nearly full, so that raft and the metadata store can still write
 * while the node refuses new content. blob_store_reserve() allocates it (@bytes; a
 * partial file is removed); blob_store_release_reserve() deletes it; both block. */
int blob_store_reserve(struct blob_store *bs, uint64_t bytes, struct base_err *err) WARN_UNUSED;
int blob_store_release_reserve(struct blob_store *bs, struct base_err *err) WARN_UNUSED;
/* The reserve's allocated size (0: none). Blocks (stat). */
uint64_t blob_store_reserve_bytes(const struct blob_store *bs);

/* Starts a temp file. On error nothing is left behind. */
int blob_writer_open(struct blob_store *bs, struct blob_writer *w,
                     struct base_err *err) WARN_UNUSED;
/* Appends @len bytes and feeds them to the hash. */
int blob_writer_write(struct blob_writer *w, const void *data, size_t len,
                      struct base_err *err) WARN_UNUSED;
/* Finalises the hash (w->hash) and the checksum (w->check) and closes the file. With
 * @sync the bytes are made durable first (fdatasync): uploads finishing on different
 * worker threads flush in parallel, overlapped with the network. The blob is not
 * visible yet: see blob_commit_batch(). */
int blob_writer_finish(struct blob_writer *w, bool sync, struct base_err *err) WARN_UNUSED;
/* Removes the temp file; safe after any failure, and after a commit (no-op then). */
void blob_writer_abort(struct blob_writer *w);

/* Group commit of finished writers: renames each into place (or drops it when the same
 * content is already stored) and, with @sync, makes the renames durable with one
 * syncfs for the whole batch. With @sync every writer must have been finished with
 * sync, so that no name ever points at bytes a crash could lose (dedup trusts names).
 * @results[i] is 0 or a negative code for writer i; the return value is the first
 * failure. With @sync false (tests, benchmarks of the rest of the path) nothing is
 * synced. */
int blob_commit_batch(struct blob_store *bs, struct blob_writer **writers, size_t n,
                      int *results, bool sync, struct base_err *err) WARN_UNUSED;

/* Path of a blob into @buf. */
void blob_path(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], char *buf,
               size_t size);
/* Whether this node stores @hash. */
bool blob_exists(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES]);
/* Opens a stored blob read-only; BASE_ENOTFOUND when absent. */
int blob_open(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int *fd,
              uint64_t *size, struct base_err *err) WARN_UNUSED;
/* As blob_open(), with the file's identity (for the copies verified recently). */
int blob_open_ident(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int *fd,
                    struct blob_ident *ident, struct base_err *err) WARN_UNUSED;
/* Re-hashes a stored blob: BASE_ECORRUPT when the content does not match its name.
 * Reads only; the chunk list is not looked at. */
int blob_verify(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                struct base_err *err) WARN_UNUSED;

/* What a verification found of a blob's chunk list. */
enum blob_chunks_found {
    BLOB_CHUNKS_GOOD,    /* present and matching the content */
    BLOB_CHUNKS_MISSING, /* absent: stored by an older version, or a crash before it */
    BLOB_CHUNKS_BAD,     /* unreadable, damaged, or not the content's */
};

/* Re-hashes a stored blob and checks its chunk list in the same pass (*@found, when
 * the content is good); with @fix_chunks a missing or bad list is written anew.
 * Calls @on_read (may be NULL) after each piece read (n bytes): the scrubber paces
 * itself there; returning false stops with BASE_ECANCELED. */
int blob_verify_paced(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                      bool fix_chunks, bool (*on_read)(void *arg, size_t n), void *arg,
                      enum blob_chunks_found *found, struct base_err *err) WARN_UNUSED;

/* A blob's chunk list, loaded and checked (see the top of this file). */
struct blob_chunks {
    uint64_t size;   /* the blob's bytes */
    uint64_t count;  /* its chunks: size / BLOB_CHUNK_BYTES rounded up */
    uint8_t *hashes; /* count * BLOB_CHUNK_SUM_BYTES: the XXH3-128 of each chunk */
};

/* Loads the chunk list of blob @hash, open as @fd with @size bytes (blob_open()), and
 * checks its seal. When the list is missing or bad, hashes the whole blob once
 * (BASE_ECORRUPT when it does not match its name: the copy is corrupt) and writes a
 * new list; *@rebuilt (may be NULL) says so. Reads sizes from disk only after checking
 * them against @size. */
int blob_chunks_load(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], int fd,
                     uint64_t size, struct blob_chunks *out, bool *rebuilt,
                     struct base_err *err) WARN_UNUSED;
void blob_chunks_free(struct blob_chunks *c);
/* Reads chunk @index of the blob open as @fd into @buf (BLOB_CHUNK_BYTES at least),
 * its length in *@len, and checks it against the list: BASE_ECORRUPT when it does not
 * match (or the file is shorter), BASE_EIO when it cannot be read. */
int blob_chunk_read(const struct blob_chunks *c, int fd, uint64_t index, char *buf,
                    size_t *len, struct base_err *err) WARN_UNUSED;
/* Path of a blob's chunk list into @buf. */
void blob_chunks_path(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                      char *buf, size_t size);

/* Deletes a stored blob (and its chunk list) whose file is at least @older_than_ms old at @now_ms (wall
 * clock): BASE_ERETRY when it is younger (a copy that just arrived), BASE_ENOTFOUND
 * when absent. Garbage collection and copies moved away (replication/keeper.c). */
int blob_remove(struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                uint64_t older_than_ms, uint64_t now_ms, struct base_err *err) WARN_UNUSED;
/* Moves a corrupt blob out of the store to quarantine/<hash>.<now_ms>, kept for the
 * operator, and deletes its chunk list; the name is free for a good copy again. */
int blob_quarantine(struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES], uint64_t now_ms,
                    struct base_err *err) WARN_UNUSED;
/* Visits every stored blob (in directory order): return false to stop. Files change
 * meanwhile; a visit may see one that is gone by the time it is used. */
typedef bool (*blob_walk_cb)(void *arg, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size,
                             uint64_t mtime_ms);
void blob_walk(struct blob_store *bs, blob_walk_cb cb, void *arg);

/* Hashing a stream in pieces, for verified reads. */
void blob_hash_init(crypto_generichash_state *st);
void blob_hash_update(crypto_generichash_state *st, const void *data, size_t len);
void blob_hash_final(crypto_generichash_state *st, uint8_t out[BLOB_HASH_BYTES]);

#endif
