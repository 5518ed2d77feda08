/* The node's raft id and its place in a cluster, kept in the data dir.
 *
 * DATA/node-id holds the id for the life of the data dir: --node-id may name it (and
 * must match it later), else a random 63-bit id is drawn on first start. DATA/joining
 * marks a data dir whose node asked to join a cluster and is not a member yet: such a
 * node must never bootstrap a cluster of its own. Runs at start-up, before the loop. */
#ifndef IMGARC_NODE_IDENTITY_H
#define IMGARC_NODE_IDENTITY_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Settles the id of the node whose data dir is @data: @flag_id (0 when not given) or
 * the stored one or a new one; stores it. Refuses a @flag_id that differs from the
 * stored id. */
int node_identity_load(const char *data, uint64_t flag_id, uint64_t *out,
                       struct base_err *err) WARN_UNUSED;
/* Whether DATA/raft holds no raft state yet (a new node). */
bool node_identity_raft_empty(const char *data);
/* The joining marker. */
bool node_identity_joining(const char *data);
int node_identity_set_joining(const char *data, struct base_err *err) WARN_UNUSED;

#endif
