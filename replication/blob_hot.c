/* Open copies of blobs read recently, so that a read of a copy verified recently whose
 * bytes are in the page cache is answered on the loop thread with sendfile, without a
 * trip to the thread pool (replication/blob_out.c, serve_hot()).
 *
 * The loop owns the table: at most HOT_MAX descriptors, of files of at most
 * BLOB_HOT_FILE_MAX bytes, each closed after HOT_IDLE_MS without a read (by the disk
 * guard's tick, once a second) or when a newer one needs its place. A descriptor
 * outlives its file's removal until then, so a removed blob keeps at most
 * HOT_MAX * BLOB_HOT_FILE_MAX bytes of disk (256 MiB) for at most a few seconds. Whether
 * a descriptor may serve is decided at each read, never assumed: its file must still be
 * linked and be the very file noted as verified recently (storage/blob_verified.c),
 * which a removal, a quarantine or a corrupt read forget. */
#include "replication/blob_path.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"

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

static struct blob_hot_entry *find(struct blob_hot *h, const uint8_t hash[BLOB_HASH_BYTES])
{
    for (unsigned i = 0; i < h->n; i++) {
        if (memcmp(h->e[i].hash, hash, BLOB_HASH_BYTES) == 0) {
            return &h->e[i];
        }
    }
    return NULL;
}

static void remove_at(struct blob_hot *h, unsigned i)
{
    close(h->e[i].fd);
    h->e[i] = h->e[--h->n];
}

int blob_hot_find(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct blob_hot_entry *e = find(&bp->hot, hash);
    if (e == NULL) {
        return -1;
    }
    e->used_ms = now_ms();
    return e->fd;
}

void blob_hot_keep(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES], int fd)
{
    struct blob_hot *h = &bp->hot;
    struct blob_hot_entry *e = find(h, hash);
    if (bp->stopping) {
        close(fd);
        return;
    }
    if (e != NULL) {
        close(e->fd); /* the newer descriptor: the file verified last */
    } else if (h->n < BLOB_HOT_MAX) {
        e = &h->e[h->n++];
    } else {
        e = &h->e[0];
        for (unsigned i = 1; i < h->n; i++) {
            if (h->e[i].used_ms < e->used_ms) {
                e = &h->e[i];
            }
        }
        close(e->fd);
    }
    memcpy(e->hash, hash, BLOB_HASH_BYTES);
    e->fd = fd;
    e->used_ms = now_ms();
}

void blob_hot_drop(struct blob_path *bp, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct blob_hot *h = &bp->hot;
    struct blob_hot_entry *e = find(h, hash);
    if (e != NULL) {
        remove_at(h, (unsigned)(e - h->e));
    }
}

void blob_hot_expire(struct blob_path *bp, bool all)
{
    struct blob_hot *h = &bp->hot;
    uint64_t now = now_ms();
    for (unsigned i = 0; i < h->n;) {
        if (all || h->e[i].used_ms + HOT_IDLE_MS <= now) {
            remove_at(h, i);
        } else {
            i++;
        }
    }
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
