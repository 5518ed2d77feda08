/* The cleanup of collected files (the vendor's fileCollect) that were never submitted,
 * on the leader only.
 *
 * A collected file waits, outside any bill, until a scanBillSubmit lists it. The
 * leader looks once per interval for records collected more than --collect-keep-s ago
 * and proposes PurgeCollected for them (one tenant, at most 1000 files, per command);
 * the state machine forgets them, giving a never-submitted file's blob reference and
 * usage back (archive/apply_collect.c). Submitted files' records go the same way (the
 * file stays in its bill; only the memory of the submit, which makes a repeated
 * scanBillSubmit harmless, ends). The command carries its time and the age, so every
 * node applies it alike whatever its own flags. Runs on the loop thread. */
#ifndef IMGARC_REPLICATION_COLLECT_GC_H
#define IMGARC_REPLICATION_COLLECT_GC_H

#include <stdint.h>
#include <uv.h>

#include "archive/archive.h"
#include "replication/repl.h"

struct collect_gc;

/* Starts the timer; @keep_ms is how long a collected file waits (at least 1000). */
int collect_gc_start(struct collect_gc **out, uv_loop_t *loop, uint64_t keep_ms,
                     struct archive *archive, struct repl *repl,
                     struct base_err *err) WARN_UNUSED;
/* Files forgotten by this node's proposals (for logs and tests). */
uint64_t collect_gc_purged(const struct collect_gc *g);
/* Stops the timer; free with collect_gc_free() once the loop has run out. */
void collect_gc_stop(struct collect_gc *g);
void collect_gc_free(struct collect_gc *g);

#endif
