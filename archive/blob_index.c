/* The blob index: a family derived from the cross-tenant blob records, kept in the same
 * batch as every change to them, so that the keeper finds the blobs that may need work
 * without reading every record. See blobs.h for what it holds and the walks over it.
 *
 * Keys of the "blob_index" family (values are empty):
 *   'c' class (1 byte) hash (32)   one per blob record: its class (archive_blob_class)
 *   'h' holder (be64) hash (32)    one per holder a record lists
 * The meta key "blob_index" holds the index's version once it is complete: a store
 * written by an older version has records but no index, and archive_open() builds it
 * (blob_index_ensure below) before anything is applied. */
#include "archive/archive_int.h"

#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "base/log.h"
#include "base/mem.h"
#include "storage/rocks.h"

#define INDEX_VERSION 1
#define CLASS_KEY (1 + 1 + 32)
#define HOLDER_KEY (1 + 8 + 32)
/* Records indexed per batch while the index is built. */
#define BUILD_BATCH 4096

static const char KEY_BLOB_INDEX[] = "blob_index";

unsigned archive_blob_class(const BlobRecord *rec)
{
    if (rec->refs == 0) {
        return ARCHIVE_BLOB_UNREFERENCED;
    }
    return rec->n_holders < ARCHIVE_BLOB_UNREFERENCED ? (unsigned)rec->n_holders
                                                      : ARCHIVE_BLOB_UNREFERENCED - 1;
}

static void class_key(uint8_t out[CLASS_KEY], unsigned class, const uint8_t hash[32])
{
    out[0] = 'c';
    out[1] = (uint8_t)class;
    memcpy(out + 2, hash, 32);
}

static void holder_key(uint8_t out[HOLDER_KEY], uint64_t holder, const uint8_t hash[32])
{
    out[0] = 'h';
    rocks_put_be64(out + 1, holder);
    memcpy(out + 9, hash, 32);
}

/* Removes (@put false) or adds the index keys of @rec. */
static void index_keys(struct rocks_batch *b, const uint8_t hash[32], const BlobRecord *rec,
                       bool put)
{
    uint8_t ck[CLASS_KEY], hk[HOLDER_KEY];
    class_key(ck, archive_blob_class(rec), hash);
    if (put) {
        rocks_batch_put(b, ARCHIVE_CF_BLOB_INDEX, ck, sizeof ck, "", 0);
    } else {
        rocks_batch_delete(b, ARCHIVE_CF_BLOB_INDEX, ck, sizeof ck);
    }
    for (size_t i = 0; i < rec->n_holders; i++) {
        holder_key(hk, rec->holders[i], hash);
        if (put) {
            rocks_batch_put(b, ARCHIVE_CF_BLOB_INDEX, hk, sizeof hk, "", 0);
        } else {
            rocks_batch_delete(b, ARCHIVE_CF_BLOB_INDEX, hk, sizeof hk);
        }
    }
}

/* The record under @k as the batch sees it now, or NULL (absent, or undecodable: an
 * undecodable record has no index keys to remove, since none were written for it). */
static int load_current(struct txn *t, const struct key *k, BlobRecord **out)
{
    int rv = archive_load_record(t->a, ARCHIVE_CF_BLOBS, k, &blob_record__descriptor,
                                 (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND || rv == BASE_ECORRUPT) {
        *out = NULL;
        return 0;
    }
    return rv;
}

/* Removes the index keys of the record now under @k (a cross-tenant one). */
static int unindex_current(struct txn *t, const struct key *k)
{
    BlobRecord *old;
    int rv = load_current(t, k, &old);
    if (rv == 0 && old != NULL) {
        index_keys(t->batch, (const uint8_t *)k->buf, old, false);
        blob_record__free_unpacked(old, NULL);
    }
    return rv;
}

int put_blob(struct txn *t, enum archive_cf cf, const struct key *k, const BlobRecord *blob)
{
    if (cf == ARCHIVE_CF_BLOBS && k->len == 32) {
        int rv = unindex_current(t, k);
        if (rv != 0) {
            return rv;
        }
        index_keys(t->batch, (const uint8_t *)k->buf, blob, true);
    }
    put_record(t, cf, k, &blob->base);
    return 0;
}

int delete_blob(struct txn *t, enum archive_cf cf, const struct key *k)
{
    if (cf == ARCHIVE_CF_BLOBS && k->len == 32) {
        int rv = unindex_current(t, k);
        if (rv != 0) {
            return rv;
        }
    }
    rocks_batch_delete(t->batch, cf, k->buf, k->len);
    return 0;
}

/* ---- Building it over a store that has records but no index ---- */

static int wipe_index(struct rocks *db, struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(db, ARCHIVE_CF_BLOB_INDEX, "", 0);
    struct rocks_batch *b = rocks_batch_new(db);
    size_t n = 0;
    int rv = 0;
    for (rocks_iter_first(it); rocks_iter_valid(it) && rv == 0; rocks_iter_next(it)) {
        size_t klen;
        const char *key = rocks_iter_key(it, &klen);
        rocks_batch_delete(b, ARCHIVE_CF_BLOB_INDEX, key, klen);
        if (++n % BUILD_BATCH == 0) {
            rv = rocks_write(db, b, false, err);
            rocks_batch_clear(b);
        }
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    if (rv == 0) {
        rv = rocks_write(db, b, false, err);
    }
    rocks_iter_free(it);
    rocks_batch_free(b);
    return rv;
}

void blob_index_forget(struct rocks_batch *b)
{
    rocks_batch_delete(b, ARCHIVE_CF_META, KEY_BLOB_INDEX, strlen(KEY_BLOB_INDEX));
}

int blob_index_ensure(struct archive *a, struct base_err *err)
{
    struct rocks_iter *it;
    struct rocks_batch *b;
    uint8_t be[8];
    char *val;
    size_t vlen, n = 0, skipped = 0;
    int rv = rocks_get(a->db, ARCHIVE_CF_META, KEY_BLOB_INDEX, strlen(KEY_BLOB_INDEX), &val,
                       &vlen, err);
    if (rv == 0) {
        uint64_t version = vlen == 8 ? rocks_get_be64((const uint8_t *)val) : 0;
        free(val);
        if (version == INDEX_VERSION) {
            return 0;
        }
        LOG_WARN("archive", "the blob index has version %llu, not %d: building it again",
                 (unsigned long long)version, INDEX_VERSION);
    } else if (rv != BASE_ENOTFOUND) {
        return rv;
    }
    /* A build a crash interrupted left keys that are right for these same records, but
     * start from nothing all the same: the index then depends on the records alone. */
    if ((rv = wipe_index(a->db, err)) != 0) {
        return rv;
    }
    it = rocks_iter_new(a->db, ARCHIVE_CF_BLOBS, "", 0);
    b = rocks_batch_new(a->db);
    for (rocks_iter_first(it); rocks_iter_valid(it) && rv == 0; rocks_iter_next(it)) {
        size_t klen;
        const char *key = rocks_iter_key(it, &klen);
        const char *v = rocks_iter_value(it, &vlen);
        BlobRecord *rec;
        if (klen != 32 || (rec = blob_record__unpack(NULL, vlen, (const uint8_t *)v)) == NULL) {
            skipped++;
            continue;
        }
        index_keys(b, (const uint8_t *)key, rec, true);
        blob_record__free_unpacked(rec, NULL);
        if (++n % BUILD_BATCH == 0) {
            rv = rocks_write(a->db, b, false, err);
            rocks_batch_clear(b);
        }
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    if (rv == 0) {
        rocks_put_be64(be, INDEX_VERSION);
        rocks_batch_put(b, ARCHIVE_CF_META, KEY_BLOB_INDEX, strlen(KEY_BLOB_INDEX), be,
                        sizeof be);
        rv = rocks_write(a->db, b, true, err);
    }
    rocks_batch_free(b);
    if (rv == 0 && n + skipped > 0) {
        LOG_INFO("archive", "built the blob index over %zu blob records (%zu undecodable "
                 "ones left out)", n, skipped);
    }
    return rv;
}

/* ---- Walks ---- */

/* A walk over index keys: each names a hash whose current record goes to @cb. */
struct walk {
    struct archive *a;
    archive_blob_cb cb;
    void *arg;
};

/* The record of @hash, passed to the walk's callback: false to stop. Records gone
 * since the index was read (purged meanwhile) or undecodable are skipped. */
static bool walk_one(struct walk *w, const uint8_t *hash, int *rv, struct base_err *err)
{
    char *val;
    size_t vlen;
    BlobRecord *rec;
    bool more;
    *rv = rocks_get(w->a->db, ARCHIVE_CF_BLOBS, hash, 32, &val, &vlen, err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        return true;
    }
    if (*rv != 0) {
        return false;
    }
    rec = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    if (rec == NULL) {
        return true;
    }
    more = w->cb(hash, rec, w->arg);
    blob_record__free_unpacked(rec, NULL);
    return more;
}

int archive_each_blob_unsettled(struct archive *a, unsigned replicas, bool unreferenced,
                                archive_blob_cb cb, void *arg, struct base_err *err)
{
    struct walk w = {.a = a, .cb = cb, .arg = arg};
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_BLOB_INDEX, "c", 1);
    int rv = 0;
    bool more = true;
    rocks_iter_first(it);
    while (more && rocks_iter_valid(it)) {
        size_t klen;
        const uint8_t *key = (const uint8_t *)rocks_iter_key(it, &klen);
        unsigned class;
        if (klen != CLASS_KEY) {
            rocks_iter_next(it);
            continue;
        }
        class = key[1];
        if (class == replicas || (class == ARCHIVE_BLOB_UNREFERENCED && !unreferenced)) {
            /* Settled (or not asked for): step over the whole class. */
            uint8_t next[2] = {'c', (uint8_t)(class + 1)};
            if (class == 0xFF) {
                break;
            }
            rocks_iter_seek(it, next, sizeof next);
            continue;
        }
        more = walk_one(&w, key + 2, &rv, err);
        rocks_iter_next(it);
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    return rv;
}

int archive_each_blob_held(struct archive *a, uint64_t holder, archive_blob_cb cb, void *arg,
                           struct base_err *err)
{
    struct walk w = {.a = a, .cb = cb, .arg = arg};
    uint8_t prefix[9] = {'h'};
    struct rocks_iter *it;
    int rv = 0;
    bool more = true;
    rocks_put_be64(prefix + 1, holder);
    it = rocks_iter_new(a->db, ARCHIVE_CF_BLOB_INDEX, prefix, sizeof prefix);
    for (rocks_iter_first(it); more && rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen;
        const uint8_t *key = (const uint8_t *)rocks_iter_key(it, &klen);
        if (klen == HOLDER_KEY) {
            more = walk_one(&w, key + 9, &rv, err);
        }
    }
    if (rv == 0) {
        rv = rocks_iter_status(it, err);
    }
    rocks_iter_free(it);
    return rv;
}

int archive_blob_holder_ids(struct archive *a, uint64_t *ids, size_t max, size_t *n,
                            struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_BLOB_INDEX, "h", 1);
    int rv;
    *n = 0;
    rocks_iter_first(it);
    while (rocks_iter_valid(it) && *n < max) {
        size_t klen;
        const uint8_t *key = (const uint8_t *)rocks_iter_key(it, &klen);
        uint8_t next[9] = {'h'};
        uint64_t id;
        if (klen != HOLDER_KEY) {
            rocks_iter_next(it);
            continue;
        }
        id = rocks_get_be64(key + 1);
        ids[(*n)++] = id;
        if (id == UINT64_MAX) {
            break;
        }
        rocks_put_be64(next + 1, id + 1); /* the next holder: one seek per holder */
        rocks_iter_seek(it, next, sizeof next);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}
