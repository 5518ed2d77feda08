/* What the backup commands share (cmd_backup.c: backup, backup-verify, restore;
 * cmd_backup_prune.c: backup-prune). The directory's layout is described at the top of
 * cmd_backup.c and in docs/backup.md. */
#ifndef IMGARC_TOOLS_CLI_BACKUP_INT_H
#define IMGARC_TOOLS_CLI_BACKUP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/blobstore.h"
#include "storage/snapshot.h"

#define BACKUP_MARKER "IMGARC-BACKUP"
#define BACKUP_PARALLEL_DEFAULT 8

struct cli;
struct fetch_pool;

/* Prints "imgarc: CMD: WHAT PATH: strerror(errno)"; CLI_ELOCAL. */
int local_error(const char *cmd, const char *what, const char *path);
/* mkdir 0700 of @path (an existing one is fine); CLI_ELOCAL after printing why not. */
int make_dir(const char *cmd, const char *path);
/* The BLAKE2b-256 of file @path and its size; BASE_ENOTFOUND when it does not exist. */
int hash_path(const char *path, uint8_t out[32], uint64_t *size);
/* fsync of directory @dir; CLI_ELOCAL after printing why not. */
int sync_dir(const char *cmd, const char *dir);
/* DIR/blobs/XX/HEX (a fresh allocation). */
char *blob_file(const char *dir, const char hex[BLOB_HEX_BYTES]);
/* Checks the directory's marker (creating it in an empty @dir with @create) and locks
 * the directory for the rest of the process: @exclusive for a command that adds or
 * removes files, shared for one that only reads (a second command that conflicts is
 * refused, CLI_ELOCAL). */
int open_backup_dir(const char *cmd, const char *dir, bool create, bool exclusive);
/* Feeds metadata stream @path to @p and finishes it: its raft index and checksum. */
int parse_file(const char *cmd, const char *path, struct snapshot_parser *p,
               uint64_t *index, uint8_t hash[32]);
/* Whether a record of the stream is a referenced blob (its key is the hash); its size. */
bool referenced_blob(uint8_t family, size_t klen, const uint8_t *value, size_t vlen,
                     uint64_t *size);

/* ---- backup_fetch.c: blobs fetched @n at once, each over its own connection ---- */

/* Starts the threads (the pool is made even on failure: finish it). */
int fetch_pool_new(struct fetch_pool **out, struct cli *cli, const char *dir, unsigned n);
/* Queues a blob, waiting while the queue is full; the first failure of any fetch so
 * far (printed), once there is one. */
int fetch_pool_add(struct fetch_pool *p, const uint8_t hash[BLOB_HASH_BYTES], uint64_t size);
/* Waits for every fetch, adds the counts and the blobs/XX directories that got a new
 * name, frees the pool; the first failure. */
int fetch_pool_finish(struct fetch_pool *p, uint64_t *fetched, uint64_t *fetched_bytes,
                      bool renamed_in[256]);

#endif
