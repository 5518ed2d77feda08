#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

#define MAGIC "IMGSNAP1"
#define HEADER_BYTES 16
#define TRAILER_BYTES 33
#define RESTORE_BATCH_BYTES (4u << 20)

struct out {
    uint8_t *buf;
    size_t len;
    size_t cap;
};

static void out_put(struct out *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        while (o->len + n > o->cap) {
            o->cap = o->cap == 0 ? 65536 : o->cap * 2;
        }
        o->buf = xrealloc(o->buf, o->cap);
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void out_be32(struct out *o, size_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    out_put(o, b, 4);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int storage_snapshot_encode(struct rocks *db, uint64_t applied_index, void **buf, size_t *len,
                            struct base_err *err)
{
    struct out o = {0};
    uint8_t be[8];
    uint8_t tag = 0xFF;
    uint8_t hash[32];

    out_put(&o, MAGIC, 8);
    rocks_put_be64(be, applied_index);
    out_put(&o, be, 8);
    for (unsigned cf = 0; cf < rocks_cf_count(db); cf++) {
        struct rocks_iter *it = rocks_iter_new(db, cf, "", 0);
        uint8_t fam = (uint8_t)cf;
        int rv;
        for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
            size_t klen, vlen;
            const char *k = rocks_iter_key(it, &klen);
            const char *v = rocks_iter_value(it, &vlen);
            out_put(&o, &fam, 1);
            out_be32(&o, klen);
            out_put(&o, k, klen);
            out_be32(&o, vlen);
            out_put(&o, v, vlen);
        }
        rv = rocks_iter_status(it, err);
        rocks_iter_free(it);
        if (rv != 0) {
            free(o.buf);
            return rv;
        }
    }
    out_put(&o, &tag, 1);
    crypto_generichash(hash, sizeof hash, o.buf, o.len, NULL, 0);
    out_put(&o, hash, sizeof hash);
    *buf = o.buf;
    *len = o.len;
    return 0;
}

static int check(const uint8_t *p, size_t len, struct base_err *err)
{
    uint8_t hash[32];
    if (len < HEADER_BYTES + TRAILER_BYTES || memcmp(p, MAGIC, 8) != 0) {
        base_err_set(err, "snapshot: bad header");
        return BASE_ECORRUPT;
    }
    crypto_generichash(hash, sizeof hash, p, len - 32, NULL, 0);
    if (p[len - TRAILER_BYTES] != 0xFF || sodium_memcmp(hash, p + len - 32, 32) != 0) {
        base_err_set(err, "snapshot: checksum mismatch");
        return BASE_ECORRUPT;
    }
    return 0;
}

int storage_snapshot_index(const void *buf, size_t len, uint64_t *applied_index,
                           struct base_err *err)
{
    const uint8_t *p = buf;
    if (len < HEADER_BYTES || memcmp(p, MAGIC, 8) != 0) {
        base_err_set(err, "snapshot: bad header");
        return BASE_ECORRUPT;
    }
    *applied_index = rocks_get_be64(p + 8);
    return 0;
}

int storage_snapshot_restore(struct rocks *db, const void *buf, size_t len,
                             struct base_err *err)
{
    const uint8_t *p = buf;
    const uint8_t *end;
    struct rocks_batch *b;
    size_t pending = 0;
    int rv = check(p, len, err);
    if (rv != 0 || (rv = rocks_wipe(db, err)) != 0) {
        return rv;
    }
    end = p + len - TRAILER_BYTES; /* check() made sure len covers header and trailer */
    b = rocks_batch_new(db);
    p += HEADER_BYTES;
    while (p < end && rv == 0) {
        uint32_t klen, vlen;
        uint8_t fam;
        if ((size_t)(end - p) < 9 || (fam = p[0]) >= rocks_cf_count(db)) {
            goto corrupt;
        }
        klen = get_be32(p + 1);
        if ((size_t)(end - p - 5) < (size_t)klen + 4) {
            goto corrupt;
        }
        vlen = get_be32(p + 5 + klen);
        if ((size_t)(end - p - 9 - klen) < vlen) {
            goto corrupt;
        }
        rocks_batch_put(b, fam, p + 5, klen, p + 9 + klen, vlen);
        pending += klen + vlen;
        p += 9 + (size_t)klen + vlen;
        if (pending >= RESTORE_BATCH_BYTES) {
            rv = rocks_write(db, b, false, err);
            rocks_batch_clear(b);
            pending = 0;
        }
    }
    if (rv == 0) {
        rv = rocks_write(db, b, true, err);
    }
    rocks_batch_free(b);
    return rv;

corrupt:
    rocks_batch_free(b);
    base_err_set(err, "snapshot: truncated record");
    return BASE_ECORRUPT;
}

int storage_digest(struct rocks *db, uint8_t out[32], struct base_err *err)
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    for (unsigned cf = 0; cf < rocks_cf_count(db); cf++) {
        struct rocks_iter *it = rocks_iter_new(db, cf, "", 0);
        uint8_t fam = (uint8_t)cf;
        int rv;
        for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
            size_t klen, vlen;
            const char *k = rocks_iter_key(it, &klen);
            const char *v = rocks_iter_value(it, &vlen);
            uint8_t lens[8];
            rocks_put_be64(lens, (uint64_t)klen << 32 | (uint32_t)vlen);
            crypto_generichash_update(&st, &fam, 1);
            crypto_generichash_update(&st, lens, sizeof lens);
            crypto_generichash_update(&st, (const uint8_t *)k, klen);
            crypto_generichash_update(&st, (const uint8_t *)v, vlen);
        }
        rv = rocks_iter_status(it, err);
        rocks_iter_free(it);
        if (rv != 0) {
            return rv;
        }
    }
    crypto_generichash_final(&st, out, 32);
    return 0;
}
