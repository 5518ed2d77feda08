/* What raft carries for the archive: commands framed as log entries, and the archive
 * as a snapshot. Shared by the node's raft adapter (raft_node.c) and the tests that
 * run the state machine under raft_fixture.
 *
 * An entry is "IMGC", the length of the packed Command (be32), the Command, and zero
 * padding to a multiple of 8 bytes; or "IMGB" and several commands (a leader gathers
 * the pool pushes, captures and submits proposed in one loop iteration into one entry,
 * propose_local.c). A buffer that is not a frame is applied as an undecodable command
 * (refused the same way on every node). */
#ifndef IMGARC_REPLICATION_ENTRY_H
#define IMGARC_REPLICATION_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "archive/archive.h"
#include "archive/nodes.h"

/* The most commands one entry carries, and the most bytes of them. */
#define REPL_ENTRY_MAX_COMMANDS 64
#define REPL_ENTRY_MAX_BYTES (1u << 20)

/* Frames @cmd into a fresh raft_calloc()ed buffer (raft frees it once appended). */
void repl_entry_frame(const Command *cmd, struct raft_buffer *out);
/* The same for a command already packed. */
void repl_entry_frame_packed(const void *cmd, size_t len, struct raft_buffer *out);
/* Frames @n (2 to REPL_ENTRY_MAX_COMMANDS) packed commands as one entry: "IMGB", the
 * count (be32), each command's length (be32) and bytes, zero padding. */
void repl_entry_frame_many(const struct archive_packed *cmds, size_t n,
                           struct raft_buffer *out);
/* The packed Command of an entry and its length (0 when @buf is not a frame). */
const uint8_t *repl_entry_command(const struct raft_buffer *buf, size_t *len);
/* The commands of an entry into @out (room for REPL_ENTRY_MAX_COMMANDS): an "IMGB"
 * entry gives its commands and sets *@shared; anything else gives the one command
 * repl_entry_command() finds (an entry that is not a frame, or an "IMGB" entry that
 * does not hold together, gives one empty command, refused alike everywhere).
 * Returns the number, at least 1. The commands point into @buf. */
size_t repl_entry_commands(const struct raft_buffer *buf, struct archive_packed *out,
                           bool *shared);

/* The archive's whole store as a snapshot at its applied index: malloc()ed pieces of
 * at most @piece_bytes (0: REPL_SNAPSHOT_PIECE) in a malloc()ed array (release with
 * repl_snapshot_release()), so it never sits in one buffer grown by doubling; raft
 * writes them one after the other, and loads them back as one buffer. Blocks. */
#define REPL_SNAPSHOT_PIECE (4u << 20)
int repl_snapshot_take(struct archive *a, size_t piece_bytes, struct raft_buffer *bufs[],
                       unsigned *n_bufs, struct base_err *err) WARN_UNUSED;
void repl_snapshot_release(struct raft_buffer *bufs[], unsigned *n_bufs);
/* Installs @buf (raft's) into @a, unless @a holds its index already (*@skipped: a
 * restart). On success buf->base is freed and *@index is the snapshot's index. */
int repl_snapshot_restore(struct archive *a, struct raft_buffer *buf, bool *skipped,
                          uint64_t *index, struct base_err *err) WARN_UNUSED;

/* A snapshot of the "store" format (docs/snapshots.md) is this descriptor, not the
 * store: "IMGSNAP2", a version (be32, 1), the applied index the taking node's store was
 * durable at (be64), that node's id (be64), the length (be16) and bytes of its HTTP
 * address, then the other members it knew of (count be16, then each one's id be64,
 * address length be16 and address): where a node that installs the snapshot fetches the
 * store, the taking node first (a new node's own store names no member yet). The store
 * itself moves beside raft (GET /internal/v1/snapshot). */
#define REPL_DESCRIPTOR_MAGIC "IMGSNAP2"
#define REPL_DESCRIPTOR_MEMBERS_MAX 16
struct repl_descriptor_member {
    uint64_t id;
    char http[ARCHIVE_ADDRESS_MAX + 1];
};
struct repl_descriptor {
    uint64_t index;
    uint64_t node_id;
    char http[ARCHIVE_ADDRESS_MAX + 1];
    size_t n_members;
    struct repl_descriptor_member members[REPL_DESCRIPTOR_MEMBERS_MAX];
};
/* Into a fresh malloc()ed buffer (freed like a snapshot piece). */
void repl_descriptor_encode(const struct repl_descriptor *d, struct raft_buffer *out);
/* Whether @buf starts like a descriptor (then only repl_descriptor_parse() reads it). */
bool repl_descriptor_is(const void *buf, size_t len);
/* false when @buf is not exactly one well-formed descriptor. */
bool repl_descriptor_parse(const void *buf, size_t len, struct repl_descriptor *d);

#endif
