/* Copies this node verified recently (see blobstore.h, "Copies verified recently").
 *
 * A fixed table of VERIFIED_SLOTS entries, one per slot chosen by the first bytes of
 * the blob's name (a uniformly random hash): a blob noted into an occupied slot takes
 * it, so the table remembers the blobs verified last, within a constant of memory
 * (VERIFIED_SLOTS * sizeof(struct slot), 640 KiB, touched only as slots fill). One
 * mutex: every call holds it for a lookup or a copy of 80 bytes, from the loop thread,
 * the workers and the scrubber. */
#include "storage/blobstore.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/mem.h"

#define VERIFIED_SLOTS 8192u

struct slot {
    uint8_t hash[BLOB_HASH_BYTES];
    struct blob_ident ident;
    uint64_t at_ms; /* 0: empty */
};

struct blob_verified {
    pthread_mutex_t mu;
    struct slot slots[VERIFIED_SLOTS];
};

struct blob_verified *blob_verified_new(void)
{
    struct blob_verified *v = xcalloc(1, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
    return v;
}

void blob_verified_free(struct blob_verified *v)
{
    if (v != NULL) {
        pthread_mutex_destroy(&v->mu);
        free(v);
    }
}

void blob_ident_of(const struct stat *st, struct blob_ident *out)
{
    memset(out, 0, sizeof *out);
    out->dev = (uint64_t)st->st_dev;
    out->ino = (uint64_t)st->st_ino;
    out->size = (uint64_t)st->st_size;
    out->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    out->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

static struct slot *slot_of(struct blob_verified *v, const uint8_t hash[BLOB_HASH_BYTES])
{
    uint32_t i;
    memcpy(&i, hash, sizeof i);
    return &v->slots[i % VERIFIED_SLOTS];
}

static bool same_ident(const struct blob_ident *a, const struct blob_ident *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

void blob_verified_note(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                        const struct blob_ident *ident, uint64_t now_ms)
{
    struct blob_verified *v = bs->verified;
    struct slot *s;
    if (v == NULL) {
        return;
    }
    s = slot_of(v, hash);
    pthread_mutex_lock(&v->mu);
    memcpy(s->hash, hash, BLOB_HASH_BYTES);
    s->ident = *ident;
    s->at_ms = now_ms > 0 ? now_ms : 1;
    pthread_mutex_unlock(&v->mu);
}

bool blob_verified_since(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES],
                         const struct blob_ident *ident, uint64_t since_ms)
{
    struct blob_verified *v = bs->verified;
    struct slot *s;
    bool yes;
    if (v == NULL) {
        return false;
    }
    s = slot_of(v, hash);
    pthread_mutex_lock(&v->mu);
    yes = s->at_ms != 0 && s->at_ms >= since_ms &&
          memcmp(s->hash, hash, BLOB_HASH_BYTES) == 0 && same_ident(&s->ident, ident);
    pthread_mutex_unlock(&v->mu);
    return yes;
}

void blob_verified_forget(const struct blob_store *bs, const uint8_t hash[BLOB_HASH_BYTES])
{
    struct blob_verified *v = bs->verified;
    struct slot *s;
    if (v == NULL) {
        return;
    }
    s = slot_of(v, hash);
    pthread_mutex_lock(&v->mu);
    if (memcmp(s->hash, hash, BLOB_HASH_BYTES) == 0) {
        memset(s, 0, sizeof *s);
    }
    pthread_mutex_unlock(&v->mu);
}
