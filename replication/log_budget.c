/* The raft log held in memory, bounded by bytes. See log_budget.h. */
#include "replication/log_budget.h"

#include <stdlib.h>

#include "base/mem.h"

void log_budget_init(struct log_budget *b, unsigned threshold, unsigned trailing,
                     uint64_t threshold_bytes, uint64_t trailing_bytes)
{
    *b = (struct log_budget){.threshold = threshold > 0 ? threshold : 1,
                             .trailing = trailing,
                             .threshold_bytes = threshold_bytes,
                             .trailing_bytes = trailing_bytes};
    /* Room for a full log and a snapshot's worth more, taken while entries go on. */
    b->cap = (uint64_t)b->threshold * 2 + trailing + LOG_BUDGET_MIN_TRAILING;
    b->sizes = xcalloc(b->cap, sizeof *b->sizes);
    b->trailing_kept = trailing;
}

void log_budget_close(struct log_budget *b)
{
    free(b->sizes);
    b->sizes = NULL;
}

/* The size of entry @i if the ring still knows it, else 0. */
static uint64_t size_of(const struct log_budget *b, uint64_t i)
{
    if (i == 0 || i > b->last || b->last - i >= b->cap) {
        return 0;
    }
    return b->sizes[i % b->cap];
}

unsigned log_budget_applied(struct log_budget *b, uint64_t index, size_t len)
{
    uint64_t since;
    /* Entries between two applied commands (configuration changes, barriers) never
     * reach the state machine: their slots are cleared, not left from a lap before. */
    uint64_t from = b->last + 1;
    if (index > b->cap && from < index - b->cap + 1) {
        from = index - b->cap + 1;
    }
    for (uint64_t i = from; i < index; i++) {
        b->sizes[i % b->cap] = 0;
    }
    if (index > b->last) {
        b->last = index;
    }
    b->sizes[index % b->cap] = len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
    if (index > b->snapshot_index) {
        b->since_snapshot += len;
    }
    if (b->threshold_bytes == 0 || b->since_snapshot < b->threshold_bytes) {
        return b->threshold;
    }
    since = b->last > b->snapshot_index ? b->last - b->snapshot_index : 1;
    return since < b->threshold ? (unsigned)since : b->threshold;
}

unsigned log_budget_snapshot(struct log_budget *b, uint64_t index)
{
    uint64_t bytes = 0;
    unsigned keep = 0;
    if (b->trailing_bytes == 0) {
        keep = b->trailing;
    } else {
        while (keep < b->trailing && index > keep) {
            uint64_t s = size_of(b, index - keep);
            if (keep >= LOG_BUDGET_MIN_TRAILING && bytes + s > b->trailing_bytes) {
                break;
            }
            bytes += s;
            keep++;
        }
    }
    b->snapshot_index = index;
    b->trailing_kept = keep;
    b->snapshots++;
    /* What was applied after @index (none: raft snapshots at the last applied entry). */
    b->since_snapshot = 0;
    for (uint64_t i = index + 1; i <= b->last; i++) {
        b->since_snapshot += size_of(b, i);
    }
    return keep;
}

void log_budget_restored(struct log_budget *b, uint64_t index)
{
    if (index > b->snapshot_index) {
        b->snapshot_index = index;
        b->since_snapshot = 0;
        for (uint64_t i = index + 1; i <= b->last; i++) {
            b->since_snapshot += size_of(b, i);
        }
    }
}

void log_budget_held(const struct log_budget *b, uint64_t *entries, uint64_t *bytes)
{
    uint64_t first = b->snapshot_index > b->trailing_kept
                         ? b->snapshot_index - b->trailing_kept + 1 : 1;
    *entries = b->last >= first ? b->last - first + 1 : 0;
    *bytes = 0;
    for (uint64_t i = first; i <= b->last; i++) {
        *bytes += size_of(b, i);
    }
}
