/* Moved into replication/repl.h, the contract of replication/ (membership.h). Kept so that
 * files still naming it build; include replication/repl.h instead. */
#ifndef IMGARC_REPLICATION_MEMBERSHIP_H
#define IMGARC_REPLICATION_MEMBERSHIP_H

#include "replication/repl.h"

#endif
