/* archive/blobs.c: the walks of the blob and node records replication reads, and the
 * committed read of one blob record, on a real RocksDB. */
#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "archive/keys.h"
#include "storage/rocks.h"
#include "tests/unit/archive/archive_fixture.h"

static void put(struct fx *f, enum archive_cf cf, const void *key, size_t klen,
                const void *val, size_t vlen)
{
    struct rocks_batch *b = rocks_batch_new(f->db);
    struct base_err err;
    rocks_batch_put(b, cf, key, klen, val, vlen);
    assert_int_equal(rocks_write(f->db, b, false, &err), 0);
    rocks_batch_free(b);
}

static void put_blob(struct fx *f, uint8_t first, uint64_t size, uint64_t holder)
{
    BlobRecord rec = BLOB_RECORD__INIT;
    uint8_t hash[32], buf[64];
    memset(hash, 0, sizeof hash);
    hash[0] = first;
    rec.size = size;
    rec.refs = 1;
    rec.holders = &holder;
    rec.n_holders = 1;
    assert_true(blob_record__get_packed_size(&rec) <= sizeof buf);
    put(f, ARCHIVE_CF_BLOBS, hash, sizeof hash, buf, blob_record__pack(&rec, buf));
}

static const uint8_t garbage[] = {0xff, 0xff, 0xff};

struct seen {
    uint8_t first[8];
    uint64_t size[8];
    size_t n;
    size_t stop_after; /* 0: never */
};

static bool saw_blob(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    struct seen *s = arg;
    assert_true(s->n < 8);
    s->first[s->n] = hash[0];
    s->size[s->n] = rec->size;
    s->n++;
    return s->stop_after == 0 || s->n < s->stop_after;
}

static void each_blob_walks_in_hash_order_and_skips_what_it_cannot_read(void **state)
{
    struct fx *f = *state;
    struct seen s = {0};
    struct base_err err;
    uint8_t short_key[31] = {0x05};
    uint8_t bad_hash[32] = {0x04};
    put_blob(f, 0x03, 300, 1);
    put_blob(f, 0x01, 100, 1);
    put_blob(f, 0x07, 700, 2);
    put(f, ARCHIVE_CF_BLOBS, short_key, sizeof short_key, garbage, 0);
    put(f, ARCHIVE_CF_BLOBS, bad_hash, sizeof bad_hash, garbage, sizeof garbage);
    assert_int_equal(archive_each_blob(&f->a, saw_blob, &s, &err), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.first[0], 0x01);
    assert_int_equal(s.first[1], 0x03);
    assert_int_equal(s.first[2], 0x07);
    assert_int_equal(s.size[1], 300);
    /* The callback ends the walk. */
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    assert_int_equal(archive_each_blob(&f->a, saw_blob, &s, &err), 0);
    assert_int_equal(s.n, 2);
}

static void read_blob_tells_absent_from_unreadable(void **state)
{
    struct fx *f = *state;
    struct base_err err;
    BlobRecord *rec = NULL;
    uint8_t hash[32] = {0x09};
    put_blob(f, 0x02, 200, 3);
    assert_int_equal(archive_read_blob(&f->a, (uint8_t[32]){0x02}, &rec, &err), 0);
    assert_int_equal(rec->size, 200);
    assert_int_equal(rec->n_holders, 1);
    assert_int_equal(rec->holders[0], 3);
    archive_free_blob(rec);
    assert_int_equal(archive_read_blob(&f->a, hash, &rec, &err), BASE_ENOTFOUND);
    assert_null(rec);
    put(f, ARCHIVE_CF_BLOBS, hash, sizeof hash, garbage, sizeof garbage);
    assert_int_equal(archive_read_blob(&f->a, hash, &rec, &err), BASE_ECORRUPT);
    assert_null(rec);
}

struct nodes_seen {
    uint64_t ids[8];
    size_t n;
    size_t corrupt;
};

static void saw_node(const NodeRecord *node, void *arg)
{
    struct nodes_seen *s = arg;
    if (node == NULL) {
        s->corrupt++;
        return;
    }
    assert_true(s->n < 8);
    s->ids[s->n++] = node->id;
}

static void each_node_hands_over_corrupt_records_as_null(void **state)
{
    struct fx *f = *state;
    struct nodes_seen s = {0};
    struct base_err err;
    uint8_t buf[128];
    for (uint64_t id = 1; id <= 3; id++) {
        NodeRecord rec = NODE_RECORD__INIT;
        uint8_t key[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)id};
        rec.id = id;
        rec.http = (char *)"127.0.0.1:8080";
        rec.removed = id == 3;
        assert_true(node_record__get_packed_size(&rec) <= sizeof buf);
        put(f, ARCHIVE_CF_NODES, key, sizeof key, buf, node_record__pack(&rec, buf));
    }
    put(f, ARCHIVE_CF_NODES, (uint8_t[8]){0, 0, 0, 0, 0, 0, 0, 2}, 8, garbage, sizeof garbage);
    assert_int_equal(archive_each_node(&f->a, saw_node, &s, &err), 0);
    assert_int_equal(s.n, 2); /* removed ones too */
    assert_int_equal(s.ids[0], 1);
    assert_int_equal(s.ids[1], 3);
    assert_int_equal(s.corrupt, 1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(each_blob_walks_in_hash_order_and_skips_what_it_cannot_read,
                                    fx_setup_empty, fx_teardown),
    cmocka_unit_test_setup_teardown(read_blob_tells_absent_from_unreadable, fx_setup_empty,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(each_node_hands_over_corrupt_records_as_null,
                                    fx_setup_empty, fx_teardown),
};

TESTLIB_MAIN("archive/blobs", tests)
