/* What storage/blobstore.c (the store, writers, commits, removal) and
 * storage/blob_chunks.c (chunk lists and verification) share. Not for callers: they
 * use storage/blobstore.h. Included by storage/ only. */
#ifndef IMGARC_STORAGE_BLOBSTORE_INT_H
#define IMGARC_STORAGE_BLOBSTORE_INT_H

#include "storage/blobstore.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

/* Sets @err to "@what @path: <errno text>" and returns errno as a base code. */
static inline int errno_fail(struct base_err *err, const char *what, const char *path)
{
    int e = errno;
    base_err_set(err, "%s %s: %s", what, path, strerror(e));
    return base_err_from_errno(e);
}

/* Creates @top/ab and @top/ab/cd for @hash (@top: blobs/ or chunks/). New directories
 * become durable with the batch's final syncfs. (blobstore.c) */
int blob_make_parents(const char *top, const uint8_t hash[BLOB_HASH_BYTES],
                      struct base_err *err) WARN_UNUSED;

/* Creates a fresh temp file in the store's tmp/ (emptied at open): its fd, with its
 * name in @path; a negative base code when it cannot (@path then ""). (blobstore.c) */
int blob_tmp_open(const struct blob_store *bs, char path[PATH_MAX], struct base_err *err);

/* ---- Chunk lists (blob_chunks.c) ---- */

/* A chunker hashes each BLOB_CHUNK_BYTES piece of a stream: init, update...,
 * final (closes the last, partial chunk), free. */
void blob_chunker_init(struct blob_chunker *c);
void blob_chunker_update(struct blob_chunker *c, const void *data, size_t len);
void blob_chunker_final(struct blob_chunker *c);
void blob_chunker_free(struct blob_chunker *c);
/* Writes the chunk list of @c for blob @hash of @size bytes to @path (created, must
 * not exist); nothing is left behind on failure. */
int blob_chunks_write_file(const char *path, const uint8_t hash[BLOB_HASH_BYTES],
                           uint64_t size, const struct blob_chunker *c,
                           struct base_err *err) WARN_UNUSED;
/* Renames the list at @from into place for @hash; on failure @from is removed. No sync:
 * a list lost or torn by a crash is rebuilt from its blob. */
int blob_chunks_install(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                        const char *from, struct base_err *err) WARN_UNUSED;

#endif
