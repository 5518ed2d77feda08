/* The cluster's members as the replicated metadata knows them: each node's HTTP and
 * raft addresses and its zone (column family "nodes"), and the validation of the
 * RegisterNode and RemoveNode commands shared by apply and the proposers.
 *
 * The raft configuration is the truth about who is a member and who votes; these
 * records say how to reach a member and where it stands, so that every node can
 * forward to the leader and list the cluster. Reads of the local store, on the loop. */
#ifndef IMGARC_ARCHIVE_NODES_H
#define IMGARC_ARCHIVE_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "archive/archive.h"

#define ARCHIVE_ADDRESS_MAX 255 /* HOST:PORT */
#define ARCHIVE_ZONE_MAX 64

/* "HOST:PORT": a host name or IPv4 literal of at most 253 characters of
 * [A-Za-z0-9.-], a colon and a port 1-65535. */
bool archive_valid_address(const char *s);
/* A zone name: 1-64 characters of A-Z a-z 0-9 . _ - (like ids). */
bool archive_valid_zone(const char *s);

/* Storage states of a node (NodeRecord.storage): an active node takes new copies; a
 * draining one keeps serving its copies while they move away; an out one (silent for
 * longer than the repair delay) no longer counts as holding any. */
#define ARCHIVE_STORAGE_ACTIVE ""
#define ARCHIVE_STORAGE_DRAINING "draining"
#define ARCHIVE_STORAGE_OUT "out"
bool archive_valid_storage_state(const char *s);
/* Its name in answers: "active" for the empty state. */
const char *archive_storage_name(const char *s);

/* Capacity weights (replication/placement.h). A node reports the size of its blob file
 * system (ReportNodeSpace: ARCHIVE_CAPACITY_MIN..ARCHIVE_CAPACITY_MAX bytes) and the
 * operator may scale it (SetNodeWeight: ARCHIVE_WEIGHT_PCT_MIN..MAX percent, 100 the
 * default, stored as 0). */
#define ARCHIVE_CAPACITY_MIN (1ull << 20)
#define ARCHIVE_CAPACITY_MAX (1ull << 60)
#define ARCHIVE_WEIGHT_PCT_MIN 1
#define ARCHIVE_WEIGHT_PCT_MAX 1000
#define ARCHIVE_WEIGHT_PCT_DEFAULT 100
/* The operator's factor of a record: 100 when never set. */
unsigned archive_node_weight_pct(const NodeRecord *n);

/* The record of node @id; BASE_ENOTFOUND when it never registered. */
int archive_get_node(struct archive *a, uint64_t id, NodeRecord **out,
                     struct base_err *err) WARN_UNUSED;
void archive_free_node(NodeRecord *node);
/* Every record, removed ones included, in id order. */
typedef void (*archive_node_cb)(const NodeRecord *node, void *arg);
int archive_list_nodes(struct archive *a, archive_node_cb cb, void *arg,
                       struct base_err *err) WARN_UNUSED;

#endif
