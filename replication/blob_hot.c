/* Open copies of blobs read recently, so that a read of a copy verified recently whose
 * bytes are in the page cache is answered on the loop thread with sendfile, without a
 * trip to the thread pool (replication/blob_out.c, serve_hot()).
 *
 * The loop owns the table: a direct-mapped array of descriptors (the slot chosen by
 * the first bytes of the blob's name, a uniformly random hash; a newer blob takes an
 * occupied slot), 1024 slots, fewer when the process may open few files (a sixteenth
 * of RLIMIT_NOFILE, at least 16). Only files of at most BLOB_HOT_FILE_MAX bytes are
 * kept, each closed after HOT_IDLE_MS without a read (by the disk guard's tick, once a
 * second). A descriptor outlives its file's removal until then, so removed blobs keep
 * at most slots * BLOB_HOT_FILE_MAX bytes of disk, for at most a few seconds. Whether a
 * descriptor may serve is decided at each read, never assumed: its file must still be
 * linked and be the very file noted as verified recently (storage/blob_verified.c),
 * which a removal, a quarantine or a corrupt read forget. */
#include "replication/blob_path.h"

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/mem.h"

#define HOT_IDLE_MS 2000

/* cachestat(2), Linux 6.5: not in Debian 12's headers. */
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
struct hot_cachestat_range {
    uint64_t off, len;
};
struct hot_cachestat {
    uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

static uint64_t now_ms(void)
{
    return clock_mono_ns() / 1000000;
}

void blob_hot_init(struct blob_path *bp)
{
    struct rlimit rl;
    uint64_t n = BLOB_HOT_SLOTS_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        while (n > 16 && n * 16 > (uint64_t)rl.rlim_cur) {
            n /= 2;
        }
    }
    bp->hot.slots = (unsigned)n;
    bp->hot.e = xcalloc(n, sizeof *bp->hot.e);
    for (unsigned i = 0; i < n; i++) {
        bp->hot.e[i].fd = -1;
    }
}

static struct blob_hot_entry *slot_of(struct blob_hot *h, const uint8_t hash[BLOB_HASH_BYTES])
{
    uint32_t i;
    memcpy(&i, hash, sizeof i);
    return &h->e[i & (h->slots - 1)];
}

static void empty(struct blob_hot *h, struct blob_hot_entry *e)
{
    if (e->fd >= 0) {
        close(e->fd);
        e->fd = -1;
        h->open--;
    }
}

int blob_hot_find(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct blob_hot_entry *e;
    if (bp->hot.e == NULL) {
        return -1;
    }
    e = slot_of(&bp->hot, hash);
    if (e->fd < 0 || memcmp(e->hash, hash, BLOB_HASH_BYTES) != 0) {
        return -1;
    }
    e->used_ms = now_ms();
    return e->fd;
}

void blob_hot_keep(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES], int fd)
{
    struct blob_hot_entry *e;
    if (bp->stopping || bp->hot.e == NULL) {
        close(fd);
        return;
    }
    e = slot_of(&bp->hot, hash);
    empty(&bp->hot, e); /* the same blob's older descriptor, or another blob's */
    memcpy(e->hash, hash, BLOB_HASH_BYTES);
    e->fd = fd;
    e->used_ms = now_ms();
    bp->hot.open++;
}

void blob_hot_drop(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct blob_hot_entry *e;
    if (bp->hot.e == NULL) {
        return;
    }
    e = slot_of(&bp->hot, hash);
    if (memcmp(e->hash, hash, BLOB_HASH_BYTES) == 0) {
        empty(&bp->hot, e);
    }
}

void blob_hot_expire(struct blob_path *bp, bool all)
{
    struct blob_hot *h = &bp->hot;
    uint64_t now = now_ms();
    for (unsigned i = 0; h->open > 0 && i < h->slots; i++) {
        if (h->e[i].fd >= 0 && (all || h->e[i].used_ms + HOT_IDLE_MS <= now)) {
            empty(h, &h->e[i]);
        }
    }
}

void blob_hot_free(struct blob_path *bp)
{
    blob_hot_expire(bp, true);
    free(bp->hot.e);
    bp->hot.e = NULL;
}

bool blob_hot_in_memory(int fd, uint64_t offset, uint64_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    uint64_t p = page > 0 ? (uint64_t)page : 4096;
    uint64_t first = offset / p, last = (offset + len - 1) / p;
    struct hot_cachestat_range range = {first * p, (last - first + 1) * p};
    struct hot_cachestat cs = {0};
    if (len == 0) {
        return true;
    }
    if (syscall(SYS_cachestat, fd, &range, &cs, 0) != 0) {
        return false; /* ENOSYS before Linux 6.5: every read goes to the pool */
    }
    return cs.nr_cache >= last - first + 1;
}
