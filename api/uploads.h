/* Resumable uploads (tus 1.0, docs/uploads.md): the record a node keeps of each one
 * on its disk (upload_record.c) and the protocol's handlers (uploads.c).
 *
 * An upload lives on the node that created it, in DATA/uploads/: ID.data holds the
 * bytes received so far and ID.json its record (who, which bill, the capture's
 * parameters, the length, the durable offset, and the capture's answer once the file is
 * captured). A record is replaced whole (written, synced, renamed), after the data it
 * counts is synced, so the offset a node reports is always bytes it has on disk. */
#ifndef IMGARC_API_UPLOADS_H
#define IMGARC_API_UPLOADS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "archive/archive.h"
#include "base/err.h"

/* An upload id: 32 lowercase hex digits, the first 16 the node's id. */
#define UPLOAD_ID_HEX 32
#define UPLOAD_RECORD_VERSION 1
/* A record file is at most this long (its parameters are bounded). */
#define UPLOAD_RECORD_MAX_BYTES 16384

struct upload_record {
    char id[UPLOAD_ID_HEX + 1];
    char tenant[ARCHIVE_ID_MAX + 1];
    char actor[ARCHIVE_ID_MAX + 16]; /* who created it: only they may continue it */
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    uint64_t length;     /* Upload-Length: 1 and more */
    uint64_t offset;     /* the bytes of ID.data that are durable */
    uint64_t created_ms; /* wall clock */
    uint64_t expires_ms;
    json_t *params; /* the capture's parameters (capture.c: api_capture_params()) */
    json_t *result; /* the capture's answer once captured, else NULL */
};

/* Whether @s is an upload id: 32 lowercase hex digits. */
bool upload_id_valid(const char *s);

/* Reads a record from @len bytes of JSON: BASE_ECORRUPT with a message for anything
 * that is not a record of this version whose every field is valid (the offset within
 * the length, the id of 32 hex digits...). @r is filled only on success; free it with
 * upload_record_clear(). */
int upload_record_parse(const char *text, size_t len, struct upload_record *r,
                        struct base_err *err);
/* The record as JSON text (a fresh allocation). */
char *upload_record_format(const struct upload_record *r);
void upload_record_clear(struct upload_record *r);

/* ---- Files (blocking: worker threads, and the node's start) ---- */

/* DIR/ID.data and DIR/ID.json. */
void upload_data_path(const char *dir, const char *id, char *out, size_t size);
/* Writes @text (upload_record_format()'s, made on the loop) as DIR/ID.json: a temp
 * file, synced, renamed, the directory synced. */
int upload_record_save(const char *dir, const char *id, const char *text, struct base_err *err);
/* Reads DIR/NAME (a record file). */
int upload_record_load(const char *dir, const char *name, struct upload_record *r,
                       struct base_err *err);
/* Removes an upload's two files (those that exist); the directory is synced. */
int upload_files_remove(const char *dir, const char *id, struct base_err *err);

/* ---- Upload-Metadata (tus: "key base64,key base64") ---- */

#define UPLOAD_METADATA_KEYS_MAX 64
/* Finds @key in @header and decodes its value into @out (NUL-terminated; "" for a key
 * without value). 1: found; 0: absent; BASE_EINVAL with a message: the header is not a
 * valid list (more than UPLOAD_METADATA_KEYS_MAX keys; a key empty or repeated; a value not base64
 * or longer than @size - 1 bytes when decoded, or holding a NUL). The whole header is
 * checked whatever @key. */
int upload_metadata_get(const char *header, const char *key, char *out, size_t size,
                        struct base_err *err);

#endif
