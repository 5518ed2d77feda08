/* Snapshot of the whole metadata store as a byte stream, for raft snapshots.
 *
 * Format: "IMGSNAP1", the applied index (be64), then records (family u8, key length
 * be32, key, value length be32, value), then 0xFF and a BLAKE2b-256 of all that
 * precedes it. Records are in family and key order, so equal stores give equal
 * snapshots.
 *
 * The stream is made and taken piece by piece in constant memory: a reader produces it
 * from a RocksDB snapshot of the store (so the store may change meanwhile), a writer
 * puts what it is given, in pieces of any size, into a store in 4 MiB batches and
 * checks the checksum at the end (docs/snapshots.md: the way a node will move its
 * store to another without holding it in memory). encode() and restore() are the same
 * over one buffer, as libraft wants it today. Everything runs on the calling thread;
 * a reader or writer may be used from any one thread at a time. */
#ifndef IMGARC_STORAGE_SNAPSHOT_H
#define IMGARC_STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "storage/rocks.h"

/* A reader of @db as it is now, stamped with @applied_index. */
struct snapshot_reader;
struct snapshot_reader *storage_snapshot_reader_new(struct rocks *db, uint64_t applied_index);
/* The next at most @cap bytes of the stream into @buf (*@len; 0 at the end). */
int storage_snapshot_read(struct snapshot_reader *r, void *buf, size_t cap, size_t *len,
                          struct base_err *err) WARN_UNUSED;
void storage_snapshot_reader_free(struct snapshot_reader *r);

/* A parser of the stream that hands each record to @cb as it completes and checks the
 * checksum at the end: what a writer is built on, and what reads a stream kept in a
 * file (a backup, tools/cli/cmd_backup.c) without a store. @families bounds the family
 * numbers accepted. A non-zero return of @cb (with @err set) stops the parse and is
 * returned, sticky, by every later call. */
typedef int (*snapshot_record_cb)(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                                  const uint8_t *value, size_t vlen, struct base_err *err);
struct snapshot_parser;
struct snapshot_parser *storage_snapshot_parser_new(unsigned families, snapshot_record_cb cb,
                                                    void *arg);
/* The next @len bytes of the stream. BASE_ECORRUPT (sticky) on a stream that is not a
 * snapshot. */
int storage_snapshot_parse(struct snapshot_parser *p, const void *buf, size_t len,
                           struct base_err *err) WARN_UNUSED;
/* The stream is over: it must have ended with its checksum, which matched. Gives the
 * applied index and (when @hash is not NULL) the checksum, BLAKE2b-256. */
int storage_snapshot_parser_finish(struct snapshot_parser *p, uint64_t *applied_index,
                                   uint8_t hash[32], struct base_err *err) WARN_UNUSED;
/* Records parsed so far. */
uint64_t storage_snapshot_parser_records(const struct snapshot_parser *p);
void storage_snapshot_parser_free(struct snapshot_parser *p);

/* A writer of a stream into @db, which should be empty (a fresh store: the records are
 * written as they come, before the checksum at the end is seen). */
struct snapshot_writer;
struct snapshot_writer *storage_snapshot_writer_new(struct rocks *db);
/* The next @len bytes of the stream. BASE_ECORRUPT (sticky) on a stream that is not a
 * snapshot; BASE_EIO when the store fails. */
int storage_snapshot_write(struct snapshot_writer *w, const void *buf, size_t len,
                           struct base_err *err) WARN_UNUSED;
/* The stream is over: it must have ended with its checksum, which matched. Makes the
 * store durable and gives the snapshot's applied index. */
int storage_snapshot_writer_finish(struct snapshot_writer *w, uint64_t *applied_index,
                                   struct base_err *err) WARN_UNUSED;
void storage_snapshot_writer_free(struct snapshot_writer *w);

/* Encodes every family of @db into a fresh malloc()ed buffer. */
int storage_snapshot_encode(struct rocks *db, uint64_t applied_index, void **buf, size_t *len,
                            struct base_err *err) WARN_UNUSED;
/* Reads only the header: the applied index the snapshot was taken at. */
int storage_snapshot_index(const void *buf, size_t len, uint64_t *applied_index,
                           struct base_err *err) WARN_UNUSED;
/* BLAKE2b-256 of every record of every family (the records a snapshot holds), into
 * @out. Equal stores give equal digests. */
int storage_digest(struct rocks *db, uint8_t out[32], struct base_err *err) WARN_UNUSED;
/* Verifies @buf and replaces the whole content of @db with it. */
int storage_snapshot_restore(struct rocks *db, const void *buf, size_t len,
                             struct base_err *err) WARN_UNUSED;

#endif
