/* The raft log held in memory, bounded by bytes as well as by entries.
 *
 * libraft keeps every entry since its last snapshot, plus the "trailing" entries
 * before it, in memory, and counts both limits in entries only: a log of large
 * commands (an imported bill carries its whole file list) would hold hundreds of MiB
 * under the default counts. The budget remembers the size of each applied entry in a
 * ring and answers two questions for raft_node.c:
 *   - the snapshot threshold to set now: the configured count, or, once the entries
 *     since the last snapshot hold --snapshot-threshold-bytes, the count already
 *     reached, so that raft takes a snapshot after this entry;
 *   - how many entries to keep when a snapshot is taken: the configured count, or
 *     fewer when they would hold more than --snapshot-trailing-bytes (never fewer
 *     than LOG_BUDGET_MIN_TRAILING, so a follower a moment behind is not sent a
 *     snapshot).
 * In memory the log then holds at most threshold + trailing bytes, plus one entry.
 * Pure bookkeeping: no raft, no I/O; the loop thread owns it. */
#ifndef IMGARC_REPLICATION_LOG_BUDGET_H
#define IMGARC_REPLICATION_LOG_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define LOG_BUDGET_MIN_TRAILING 64

struct log_budget {
    uint32_t *sizes;          /* ring: the size of entry i at sizes[i % cap] */
    uint64_t cap;
    uint64_t last;            /* the last entry seen */
    uint64_t snapshot_index;  /* the last snapshot's index */
    unsigned trailing_kept;   /* entries kept before it */
    uint64_t since_snapshot;  /* bytes of the entries applied since */
    unsigned threshold;       /* configured counts */
    unsigned trailing;
    uint64_t threshold_bytes; /* configured sizes; 0: no byte bound */
    uint64_t trailing_bytes;
    uint64_t snapshots;       /* taken since start */
};

void log_budget_init(struct log_budget *b, unsigned threshold, unsigned trailing,
                     uint64_t threshold_bytes, uint64_t trailing_bytes);
void log_budget_close(struct log_budget *b);
/* Entry @index of @len bytes was applied. Returns the snapshot threshold (in entries)
 * raft should use from now on. */
unsigned log_budget_applied(struct log_budget *b, uint64_t index, size_t len);
/* A snapshot at @index is being taken. Returns the trailing entries raft should keep
 * after it; the threshold goes back to the configured count. */
unsigned log_budget_snapshot(struct log_budget *b, uint64_t index);
/* A snapshot at @index was restored (at start or installed from the leader): the log
 * starts after it. */
void log_budget_restored(struct log_budget *b, uint64_t index);
/* The entries and bytes the in-memory log holds, as far as the ring knows them. */
void log_budget_held(const struct log_budget *b, uint64_t *entries, uint64_t *bytes);

#endif
