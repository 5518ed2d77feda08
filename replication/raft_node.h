/* Moved into replication/repl.h, the contract of replication/ (raft_node.h). Kept so that
 * files still naming it build; include replication/repl.h instead. */
#ifndef IMGARC_REPLICATION_RAFT_NODE_H
#define IMGARC_REPLICATION_RAFT_NODE_H

#include "replication/repl.h"

#endif
