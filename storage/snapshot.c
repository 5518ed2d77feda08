#include "snapshot.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

#define MAGIC "IMGSNAP1"
#define HEADER_BYTES 16
#define TRAILER_BYTES 33
#define RESTORE_BATCH_BYTES (4u << 20)
#define SNAPSHOT_RECORD_MAX (64u << 20)

/* ---- Reading a store as the stream ---- */

enum reader_stage { R_HEADER, R_RECORDS, R_TRAILER, R_DONE };

struct snapshot_reader {
    struct rocks *db;
    struct rocks_snapshot *snap; /* owned */
    unsigned cf;
    struct rocks_iter *it;
    enum reader_stage stage;
    crypto_generichash_state hash;
    /* The piece being produced: a header, a record, or the trailer. */
    uint8_t head[HEADER_BYTES];
    uint8_t rec_head[9]; /* family, key length, (value length after the key) */
    const char *key, *value;
    size_t klen, vlen;
    size_t off;          /* bytes of the current piece already produced */
    uint8_t trailer[TRAILER_BYTES];
};

static void put_be32(uint8_t *p, size_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct snapshot_reader *storage_snapshot_reader_new(struct rocks *db, uint64_t applied_index)
{
    struct snapshot_reader *r = xcalloc(1, sizeof *r);
    r->db = db;
    r->snap = rocks_snapshot_new(db);
    memcpy(r->head, MAGIC, 8);
    rocks_put_be64(r->head + 8, applied_index);
    crypto_generichash_init(&r->hash, NULL, 0, 32);
    return r;
}

void storage_snapshot_reader_free(struct snapshot_reader *r)
{
    if (r != NULL) {
        rocks_iter_free(r->it);
        rocks_snapshot_free(r->db, r->snap);
        free(r);
    }
}

/* Copies what is left of the piece @src (@n bytes, r->off of them produced) into
 * @buf; returns the bytes copied. */
static size_t take(struct snapshot_reader *r, const void *src, size_t n, uint8_t *buf,
                   size_t room)
{
    size_t k = n - r->off < room ? n - r->off : room;
    memcpy(buf, (const uint8_t *)src + r->off, k);
    r->off += k;
    return k;
}

/* The next record of the store into r->rec_head/key/value, or false at the end. */
static bool next_record(struct snapshot_reader *r, struct base_err *err, int *rv)
{
    *rv = 0;
    for (;;) {
        if (r->it == NULL) {
            if (r->cf >= rocks_cf_count(r->db)) {
                return false;
            }
            r->it = rocks_iter_new_at(r->db, r->cf, "", 0, r->snap);
            rocks_iter_first(r->it);
        } else {
            rocks_iter_next(r->it);
        }
        if (rocks_iter_valid(r->it)) {
            r->key = rocks_iter_key(r->it, &r->klen);
            r->value = rocks_iter_value(r->it, &r->vlen);
            r->rec_head[0] = (uint8_t)r->cf;
            put_be32(r->rec_head + 1, r->klen);
            put_be32(r->rec_head + 5, r->vlen);
            r->off = 0;
            return true;
        }
        if ((*rv = rocks_iter_status(r->it, err)) != 0) {
            return false;
        }
        rocks_iter_free(r->it);
        r->it = NULL;
        r->cf++;
    }
}

/* Produces the current record into @buf; true when it is all out. */
static bool produce_record(struct snapshot_reader *r, uint8_t *buf, size_t room, size_t *n)
{
    /* Layout: family and key length (5), key, value length (4), value. */
    size_t at = r->off;
    *n = 0;
    while (*n < room) {
        const uint8_t *src;
        size_t seg_start, seg_len, k;
        if (at < 5) {
            src = r->rec_head, seg_start = 0, seg_len = 5;
        } else if (at < 5 + r->klen) {
            src = (const uint8_t *)r->key, seg_start = 5, seg_len = r->klen;
        } else if (at < 9 + r->klen) {
            src = r->rec_head + 5, seg_start = 5 + r->klen, seg_len = 4;
        } else if (at < 9 + r->klen + r->vlen) {
            src = (const uint8_t *)r->value, seg_start = 9 + r->klen, seg_len = r->vlen;
        } else {
            break;
        }
        k = seg_start + seg_len - at;
        if (k > room - *n) {
            k = room - *n;
        }
        memcpy(buf + *n, src + (at - seg_start), k);
        *n += k;
        at += k;
    }
    r->off = at;
    return at == 9 + r->klen + r->vlen;
}

int storage_snapshot_read(struct snapshot_reader *r, void *out, size_t cap, size_t *len,
                          struct base_err *err)
{
    uint8_t *buf = out;
    size_t n = 0;
    int rv = 0;
    while (n < cap && r->stage != R_DONE) {
        size_t k = 0;
        if (r->stage == R_HEADER) {
            k = take(r, r->head, HEADER_BYTES, buf + n, cap - n);
            crypto_generichash_update(&r->hash, buf + n, k);
            if (r->off == HEADER_BYTES) {
                r->stage = R_RECORDS;
                if (!next_record(r, err, &rv)) {
                    goto trailer;
                }
            }
        } else if (r->stage == R_RECORDS) {
            bool done = produce_record(r, buf + n, cap - n, &k);
            crypto_generichash_update(&r->hash, buf + n, k);
            if (done && !next_record(r, err, &rv)) {
                goto trailer;
            }
        } else {
            k = take(r, r->trailer, TRAILER_BYTES, buf + n, cap - n);
            if (r->off == TRAILER_BYTES) {
                r->stage = R_DONE;
            }
        }
        n += k;
        continue;
    trailer:
        n += k;
        if (rv != 0) {
            return rv;
        }
        r->trailer[0] = 0xFF;
        crypto_generichash_update(&r->hash, r->trailer, 1);
        crypto_generichash_final(&r->hash, r->trailer + 1, 32);
        r->stage = R_TRAILER;
        r->off = 0;
    }
    *len = n;
    return 0;
}

int storage_snapshot_encode(struct rocks *db, uint64_t applied_index, void **buf, size_t *len,
                            struct base_err *err)
{
    struct snapshot_reader *r = storage_snapshot_reader_new(db, applied_index);
    size_t cap = 1u << 20, used = 0, n;
    uint8_t *out = xmalloc(cap);
    int rv;
    do {
        if (cap - used < (1u << 16)) {
            cap *= 2;
            out = xrealloc(out, cap);
        }
        rv = storage_snapshot_read(r, out + used, cap - used, &n, err);
        used += n;
    } while (rv == 0 && n > 0);
    storage_snapshot_reader_free(r);
    if (rv != 0) {
        free(out);
        return rv;
    }
    *buf = out;
    *len = used;
    return 0;
}

/* ---- Parsing the stream ---- */

enum parser_stage { W_HEADER, W_TAG, W_KLEN, W_KEY, W_VLEN, W_VALUE, W_HASH, W_DONE };

struct snapshot_parser {
    unsigned families;
    snapshot_record_cb cb;
    void *arg;
    enum parser_stage stage;
    crypto_generichash_state hash;
    uint8_t want_hash[32];
    uint8_t small[32];           /* a header, a length or the trailing hash */
    size_t small_len;
    uint8_t family;
    uint8_t *rec;                /* the record's key then value */
    size_t rec_cap, klen, vlen, have;
    uint64_t index;
    uint64_t records;
    int failed;                  /* sticky: the first error */
    char why[200];
};

_Static_assert(sizeof(((struct snapshot_parser *)0)->small) >= HEADER_BYTES &&
                   sizeof(((struct snapshot_parser *)0)->small) >= 32,
               "the parser collects a header and a hash in small[]");

struct snapshot_parser *storage_snapshot_parser_new(unsigned families, snapshot_record_cb cb,
                                                    void *arg)
{
    struct snapshot_parser *w = xcalloc(1, sizeof *w);
    w->families = families;
    w->cb = cb;
    w->arg = arg;
    w->rec_cap = 256; /* never NULL, even for a record of an empty key and value */
    w->rec = xmalloc(w->rec_cap);
    crypto_generichash_init(&w->hash, NULL, 0, 32);
    return w;
}

void storage_snapshot_parser_free(struct snapshot_parser *w)
{
    if (w != NULL) {
        free(w->rec);
        free(w);
    }
}

static int parser_fail(struct snapshot_parser *w, int rv, const char *why, struct base_err *err)
{
    if (w->failed == 0) {
        w->failed = rv;
        snprintf(w->why, sizeof w->why, "%.190s", why);
    }
    base_err_set(err, "snapshot: %s", w->why);
    return w->failed;
}

/* Collects bytes into w->small until it holds @want; true when it does. */
static bool collect(struct snapshot_parser *w, const uint8_t **p, size_t *len, size_t want)
{
    size_t k = want - w->small_len < *len ? want - w->small_len : *len;
    memcpy(w->small + w->small_len, *p, k);
    w->small_len += k;
    *p += k;
    *len -= k;
    return w->small_len == want;
}

static int put_record(struct snapshot_parser *w, struct base_err *err)
{
    int rv = w->cb(w->arg, w->family, w->rec, w->klen, w->rec + w->klen, w->vlen, err);
    w->records++;
    w->stage = W_TAG;
    return rv != 0 ? parser_fail(w, rv, err->msg, err) : 0;
}

int storage_snapshot_parse(struct snapshot_parser *w, const void *data, size_t len,
                           struct base_err *err)
{
    const uint8_t *p = data;
    if (w->failed != 0) {
        return parser_fail(w, w->failed, w->why, err);
    }
    while (len > 0) {
        const uint8_t *from = p;
        int rv = 0;
        switch (w->stage) {
        case W_HEADER:
            if (collect(w, &p, &len, HEADER_BYTES)) {
                if (memcmp(w->small, MAGIC, 8) != 0) {
                    return parser_fail(w, BASE_ECORRUPT, "bad header", err);
                }
                w->index = rocks_get_be64(w->small + 8);
                w->small_len = 0;
                w->stage = W_TAG;
            }
            break;
        case W_TAG:
            w->family = *p++;
            len--;
            if (w->family == 0xFF) {
                crypto_generichash_update(&w->hash, from, 1);
                crypto_generichash_final(&w->hash, w->want_hash, sizeof w->want_hash);
                w->stage = W_HASH;
                continue; /* the hash bytes are not hashed */
            }
            if (w->family >= w->families) {
                return parser_fail(w, BASE_ECORRUPT, "unknown column family", err);
            }
            w->stage = W_KLEN;
            break;
        case W_KLEN:
        case W_VLEN:
            if (collect(w, &p, &len, 4)) {
                size_t n = get_be32(w->small);
                w->small_len = 0;
                if (w->stage == W_KLEN) {
                    w->klen = n;
                } else {
                    w->vlen = n;
                }
                if (w->klen + (w->stage == W_VLEN ? n : 0) > SNAPSHOT_RECORD_MAX) {
                    return parser_fail(w, BASE_ECORRUPT, "record too large", err);
                }
                if (w->stage == W_KLEN) {
                    w->have = 0;
                    w->stage = W_KEY;
                } else {
                    w->stage = W_VALUE;
                }
                if (w->rec_cap < w->klen + (w->stage == W_VALUE ? w->vlen : 0)) {
                    w->rec_cap = w->klen + (w->stage == W_VALUE ? w->vlen : 0);
                    w->rec = xrealloc(w->rec, w->rec_cap);
                }
                if (w->stage == W_KEY && w->klen == 0) {
                    w->stage = W_VLEN;
                } else if (w->stage == W_VALUE && w->vlen == 0) {
                    rv = put_record(w, err);
                }
            }
            break;
        case W_KEY:
        case W_VALUE: {
            size_t want = (w->stage == W_KEY ? w->klen : w->klen + w->vlen) - w->have;
            size_t k = want < len ? want : len;
            memcpy(w->rec + w->have, p, k);
            w->have += k;
            p += k;
            len -= k;
            if (k == want) {
                if (w->stage == W_KEY) {
                    w->stage = W_VLEN;
                } else {
                    rv = put_record(w, err);
                }
            }
            break;
        }
        case W_HASH:
            if (collect(w, &p, &len, 32)) {
                if (sodium_memcmp(w->small, w->want_hash, 32) != 0) {
                    return parser_fail(w, BASE_ECORRUPT, "checksum mismatch", err);
                }
                w->stage = W_DONE;
            }
            continue;
        case W_DONE:
            return parser_fail(w, BASE_ECORRUPT, "bytes after the checksum", err);
        }
        if (rv != 0) {
            return rv;
        }
        crypto_generichash_update(&w->hash, from, (size_t)(p - from));
    }
    return 0;
}

int storage_snapshot_parser_finish(struct snapshot_parser *w, uint64_t *applied_index,
                                   uint8_t hash[32], struct base_err *err)
{
    if (w->failed != 0) {
        return parser_fail(w, w->failed, w->why, err);
    }
    if (w->stage != W_DONE) {
        return parser_fail(w, BASE_ECORRUPT,
                           w->stage == W_HEADER ? "bad header" : "truncated record", err);
    }
    *applied_index = w->index;
    if (hash != NULL) {
        memcpy(hash, w->want_hash, 32);
    }
    return 0;
}

uint64_t storage_snapshot_parser_records(const struct snapshot_parser *w)
{
    return w->records;
}

/* ---- Writing the stream into a store ---- */

struct snapshot_writer {
    struct rocks *db;
    struct rocks_batch *batch;
    size_t pending; /* bytes in the batch */
    struct snapshot_parser *parser;
};

static int write_record(void *arg, uint8_t family, const uint8_t *key, size_t klen,
                        const uint8_t *value, size_t vlen, struct base_err *err)
{
    struct snapshot_writer *w = arg;
    rocks_batch_put(w->batch, family, key, klen, value, vlen);
    w->pending += klen + vlen;
    if (w->pending >= RESTORE_BATCH_BYTES) {
        int rv = rocks_write(w->db, w->batch, false, err);
        rocks_batch_clear(w->batch);
        w->pending = 0;
        return rv;
    }
    return 0;
}

struct snapshot_writer *storage_snapshot_writer_new(struct rocks *db)
{
    struct snapshot_writer *w = xcalloc(1, sizeof *w);
    w->db = db;
    w->batch = rocks_batch_new(db);
    w->parser = storage_snapshot_parser_new(rocks_cf_count(db), write_record, w);
    return w;
}

void storage_snapshot_writer_free(struct snapshot_writer *w)
{
    if (w != NULL) {
        rocks_batch_free(w->batch);
        storage_snapshot_parser_free(w->parser);
        free(w);
    }
}

int storage_snapshot_write(struct snapshot_writer *w, const void *data, size_t len,
                           struct base_err *err)
{
    return storage_snapshot_parse(w->parser, data, len, err);
}

int storage_snapshot_writer_finish(struct snapshot_writer *w, uint64_t *applied_index,
                                   struct base_err *err)
{
    int rv = storage_snapshot_parser_finish(w->parser, applied_index, NULL, err);
    if (rv == 0) {
        rv = rocks_write(w->db, w->batch, true, err);
        rocks_batch_clear(w->batch);
        w->pending = 0;
    }
    return rv;
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
    struct snapshot_writer *w;
    uint64_t index;
    /* The whole buffer is checked before the store is wiped: a bad snapshot leaves the
     * store as it was. */
    int rv = check(buf, len, err);
    if (rv != 0 || (rv = rocks_wipe(db, err)) != 0) {
        return rv;
    }
    w = storage_snapshot_writer_new(db);
    rv = storage_snapshot_write(w, buf, len, err);
    if (rv == 0) {
        rv = storage_snapshot_writer_finish(w, &index, err);
    }
    storage_snapshot_writer_free(w);
    return rv;
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
