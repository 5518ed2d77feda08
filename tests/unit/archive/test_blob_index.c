/* archive/blob_index.c: the blob index follows every write of a blob record (captures,
 * holder changes, deletions, purges), its walks name exactly the records they promise,
 * and a store without an index (an older version's) gets one when it opens. Each check
 * compares the walks over the index with what a walk over every record finds, on a
 * real RocksDB with commands applied as the state machine gets them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "archive/keys.h"
#include "storage/rocks.h"
#include "tests/unit/archive/archive_fixture.h"

#define MAX_BLOBS 32
#define HOLDERS_MAX 8

/* What a walk saw: the first byte of each hash (the tests' blobs differ there). */
struct seen {
    uint8_t first[MAX_BLOBS * 4];
    size_t n;
};

static bool saw(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    struct seen *s = arg;
    (void)rec;
    assert_true(s->n < sizeof s->first);
    s->first[s->n++] = hash[0];
    return true;
}

/* Every record, as the index should describe it. */
struct all {
    uint8_t first[MAX_BLOBS];
    unsigned class[MAX_BLOBS];
    uint64_t holders[MAX_BLOBS][HOLDERS_MAX];
    size_t n_holders[MAX_BLOBS];
    size_t n;
};

static bool saw_all(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    struct all *a = arg;
    assert_true(a->n < MAX_BLOBS);
    assert_true(rec->n_holders <= HOLDERS_MAX);
    a->first[a->n] = hash[0];
    a->class[a->n] = archive_blob_class(rec);
    for (size_t i = 0; i < rec->n_holders; i++) {
        a->holders[a->n][i] = rec->holders[i];
    }
    a->n_holders[a->n] = rec->n_holders;
    a->n++;
    return true;
}

static bool lists(const struct all *a, size_t i, uint64_t id)
{
    for (size_t j = 0; j < a->n_holders[i]; j++) {
        if (a->holders[i][j] == id) {
            return true;
        }
    }
    return false;
}

static int cmp_u8(const void *x, const void *y)
{
    return (int)*(const uint8_t *)x - (int)*(const uint8_t *)y;
}

/* The index's walks agree with the records for R 1 to 4 and for every holder, and the
 * holder ids are exactly those the records list. Returns the number of records. */
static size_t check_index(struct fx *f)
{
    struct all all = {0};
    struct base_err err;
    uint64_t ids[16];
    size_t n_ids;
    assert_int_equal(archive_each_blob(&f->a, saw_all, &all, &err), 0);
    for (unsigned r = 1; r <= 4; r++) {
        for (int unref = 0; unref <= 1; unref++) {
            struct seen got = {0}, want = {0};
            assert_int_equal(
                archive_each_blob_unsettled(&f->a, r, unref != 0, saw, &got, &err), 0);
            for (size_t i = 0; i < all.n; i++) {
                if (all.class[i] != r && (unref || all.class[i] != ARCHIVE_BLOB_UNREFERENCED)) {
                    want.first[want.n++] = all.first[i];
                }
            }
            /* By class, then hash: compared as sets. */
            qsort(got.first, got.n, 1, cmp_u8);
            assert_int_equal(got.n, want.n);
            assert_memory_equal(got.first, want.first, want.n);
        }
    }
    assert_int_equal(archive_blob_holder_ids(&f->a, ids, 16, &n_ids, &err), 0);
    for (size_t i = 0; i < n_ids; i++) {
        struct seen got = {0}, want = {0};
        assert_true(i == 0 || ids[i] > ids[i - 1]);
        assert_int_equal(archive_each_blob_held(&f->a, ids[i], saw, &got, &err), 0);
        for (size_t b = 0; b < all.n; b++) {
            if (lists(&all, b, ids[i])) {
                want.first[want.n++] = all.first[b];
            }
        }
        assert_true(want.n > 0); /* no id without a record listing it */
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.first, want.first, want.n);
    }
    /* ... and every id a record lists is among them. */
    for (size_t b = 0; b < all.n; b++) {
        for (size_t j = 0; j < all.n_holders[b]; j++) {
            bool found = false;
            for (size_t i = 0; i < n_ids && !found; i++) {
                found = ids[i] == all.holders[b][j];
            }
            assert_true(found);
        }
    }
    return all.n;
}

static void set_holders(struct fx *f, uint8_t byte, uint64_t add, uint64_t remove)
{
    Command cmd = COMMAND__INIT;
    SetHolders sh = SET_HOLDERS__INIT;
    HolderChange hc = HOLDER_CHANGE__INIT, *changes[] = {&hc};
    uint8_t blob[32];
    struct archive_result res;
    memset(blob, byte, sizeof blob);
    hc.blob.data = blob;
    hc.blob.len = 32;
    hc.add = &add;
    hc.n_add = add != 0;
    hc.remove = &remove;
    hc.n_remove = remove != 0;
    sh.changes = changes;
    sh.n_changes = 1;
    fx_stamp(&cmd, "default", FX_T0);
    cmd.body_case = COMMAND__BODY_SET_HOLDERS;
    cmd.set_holders = &sh;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 1);
}

static unsigned purge(struct fx *f, uint8_t byte, uint64_t now_ms)
{
    Command cmd = COMMAND__INIT;
    PurgeBlobs pb = PURGE_BLOBS__INIT;
    uint8_t blob[32];
    ProtobufCBinaryData item = {.data = blob, .len = 32};
    struct archive_result res;
    memset(blob, byte, sizeof blob);
    pb.blobs = &item;
    pb.n_blobs = 1;
    pb.grace_ms = 5000;
    fx_stamp(&cmd, "default", now_ms);
    cmd.body_case = COMMAND__BODY_PURGE_BLOBS;
    cmd.purge_blobs = &pb;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    return res.position;
}

static size_t count_class(struct fx *f, unsigned replicas, bool unreferenced)
{
    struct seen s = {0};
    struct base_err err;
    assert_int_equal(archive_each_blob_unsettled(&f->a, replicas, unreferenced, saw, &s, &err),
                     0);
    return s.n;
}

static void index_follows_captures_holder_changes_deletions_and_purges(void **state)
{
    struct fx *f = *state;
    uint64_t h12[] = {1, 2}, h123[] = {1, 2, 3}, h3[] = {3};
    assert_int_equal(check_index(f), 0);
    fx_capture_held(f, "BX-IX1", "f1", 0x11, h12, 2);   /* class 2 */
    fx_capture_held(f, "BX-IX1", "f2", 0x22, h123, 3);  /* class 3 */
    fx_capture_held(f, "BX-IX1", "f3", 0x33, h3, 1);    /* class 1 */
    fx_capture_held(f, "BX-IX1", "f4", 0x44, NULL, 0);  /* class 0: no holder recorded */
    fx_capture_held(f, "BX-IX2", "f5", 0x22, h3, 1);    /* same content: one more reference */
    assert_int_equal(check_index(f), 4);
    /* With R=3, the blobs with fewer or more copies than 3. */
    assert_int_equal(count_class(f, 3, true), 3);
    set_holders(f, 0x11, 4, 0); /* 2 -> 3 holders: settled for R=3 */
    set_holders(f, 0x22, 0, 2); /* 3 -> 2 */
    set_holders(f, 0x33, 5, 3); /* a holder moves */
    assert_int_equal(check_index(f), 4);
    assert_int_equal(count_class(f, 3, true), 3); /* 0x22, 0x33, 0x44 */
    /* The last reference to 0x33 goes: unreferenced, found only when asked for. */
    fx_delete_file(f, "BX-IX1", "f3");
    assert_int_equal(check_index(f), 4);
    assert_int_equal(count_class(f, 3, false), 2);
    assert_int_equal(count_class(f, 3, true), 3);
    /* One of two references to 0x22 goes: still referenced. */
    fx_delete_file(f, "BX-IX1", "f2");
    assert_int_equal(check_index(f), 4);
    assert_int_equal(count_class(f, 3, false), 2);
    /* Purged once the grace has passed: the record and its index keys go. */
    assert_int_equal(purge(f, 0x33, FX_T0 + 2000), 0); /* within the grace */
    assert_int_equal(check_index(f), 4);
    assert_int_equal(purge(f, 0x33, FX_T0 + 7000), 1);
    assert_int_equal(check_index(f), 3);
    assert_int_equal(count_class(f, 3, true), 2);
}

static void holder_ids_step_over_each_holders_blobs(void **state)
{
    struct fx *f = *state;
    uint64_t ids[4], big[] = {UINT64_MAX, 7}, one[] = {7};
    struct base_err err;
    size_t n;
    fx_capture_held(f, "BX-IX3", "g1", 0x51, big, 2);
    fx_capture_held(f, "BX-IX3", "g2", 0x52, one, 1);
    fx_capture_held(f, "BX-IX3", "g3", 0x53, one, 1);
    assert_int_equal(archive_blob_holder_ids(&f->a, ids, 4, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 7);
    assert_true(ids[1] == UINT64_MAX); /* the last id ends the walk */
    /* At most @max. */
    assert_int_equal(archive_blob_holder_ids(&f->a, ids, 1, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(check_index(f), 3);
}

/* Deletes the index and its version, as a store written before the index has it. */
static void drop_index(struct fx *f, bool keep_a_stale_key)
{
    struct rocks_batch *b = rocks_batch_new(f->db);
    struct rocks_iter *it = rocks_iter_new(f->db, ARCHIVE_CF_BLOB_INDEX, "", 0);
    struct base_err err;
    uint8_t stale[41] = {'h'};
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen;
        const char *k = rocks_iter_key(it, &klen);
        rocks_batch_delete(b, ARCHIVE_CF_BLOB_INDEX, k, klen);
    }
    assert_int_equal(rocks_iter_status(it, &err), 0);
    rocks_iter_free(it);
    rocks_batch_delete(b, ARCHIVE_CF_META, "blob_index", strlen("blob_index"));
    if (keep_a_stale_key) {
        /* As a build a crash interrupted could not leave, but a rebuild must not keep. */
        stale[8] = 99;
        rocks_batch_put(b, ARCHIVE_CF_BLOB_INDEX, stale, sizeof stale, "", 0);
    }
    assert_int_equal(rocks_write(f->db, b, true, &err), 0);
    rocks_batch_free(b);
}

static void a_store_without_an_index_gets_one_when_it_opens(void **state)
{
    struct fx *f = *state;
    uint64_t h12[] = {1, 2}, h3[] = {3};
    struct base_err err;
    uint64_t ids[8];
    size_t n;
    for (uint8_t i = 0; i < 20; i++) {
        char id[8];
        snprintf(id, sizeof id, "k%u", i);
        fx_capture_held(f, "BX-IX4", id, (uint8_t)(0x60 + i), i % 2 ? h12 : h3, i % 2 ? 2 : 1);
    }
    drop_index(f, true);
    assert_int_equal(count_class(f, 3, true), 0); /* nothing indexed now */
    fx_reopen(f);
    assert_int_equal(check_index(f), 20);
    assert_int_equal(count_class(f, 2, true), 10);
    assert_int_equal(archive_blob_holder_ids(&f->a, ids, 8, &n, &err), 0);
    assert_int_equal(n, 3); /* the stale holder 99 is gone */
    /* Opening again changes nothing, and applies go on keeping it. */
    fx_reopen(f);
    set_holders(f, 0x60, 1, 0);
    assert_int_equal(check_index(f), 20);
    assert_int_equal(count_class(f, 2, true), 9);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(index_follows_captures_holder_changes_deletions_and_purges,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(holder_ids_step_over_each_holders_blobs, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(a_store_without_an_index_gets_one_when_it_opens, fx_setup,
                                    fx_teardown),
};

TESTLIB_MAIN("archive/blob_index", tests)
