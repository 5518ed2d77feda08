/* The snapshot stream (storage/snapshot.h): made by a reader from a RocksDB snapshot of
 * a real store, taken by a writer in pieces of any size, the same bytes as the
 * one-buffer encoding, and refused when it is not a snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "storage/rocks.h"
#include "storage/snapshot.h"
#include "tests/lib/testlib.h"

static const char *const FAMILIES[] = {"default", "one", "two"};

static struct rocks *store(const char *name)
{
    char path[4096];
    struct rocks *db;
    struct base_err err;
    snprintf(path, sizeof path, "%s/%s", testlib_tmpdir(), name);
    assert_int_equal(rocks_open(&db, path, FAMILIES, 3, &err), 0);
    return db;
}

static void put(struct rocks *db, unsigned cf, const char *key, const void *val, size_t vlen)
{
    struct rocks_batch *b = rocks_batch_new(db);
    struct base_err err;
    rocks_batch_put(b, cf, key, strlen(key), val, vlen);
    assert_int_equal(rocks_write(db, b, false, &err), 0);
    rocks_batch_free(b);
}

/* Records in every family: an empty value, an empty key, one value of 1 MiB. */
static void fill(struct rocks *db)
{
    uint8_t *big = xmalloc(1u << 20);
    char key[32];
    for (size_t i = 0; i < (1u << 20); i++) {
        big[i] = (uint8_t)(i * 7);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof key, "key-%04d", i);
        put(db, (unsigned)i % 3, key, key, strlen(key));
    }
    put(db, 1, "empty-value", "", 0);
    put(db, 2, "", "empty key", 9);
    put(db, 0, "big", big, 1u << 20);
    free(big);
}

/* The whole stream, read in pieces of @piece bytes. */
static uint8_t *read_all(struct rocks *db, uint64_t index, size_t piece, size_t *len)
{
    struct snapshot_reader *r = storage_snapshot_reader_new(db, index);
    struct base_err err;
    size_t cap = 4u << 20, used = 0, n;
    uint8_t *out = xmalloc(cap);
    do {
        if (cap - used < piece) {
            cap *= 2;
            out = xrealloc(out, cap);
        }
        assert_int_equal(storage_snapshot_read(r, out + used, piece, &n, &err), 0);
        assert_true(n <= piece);
        used += n;
    } while (n > 0);
    storage_snapshot_reader_free(r);
    *len = used;
    return out;
}

/* Writes @buf into @db in pieces of @piece bytes; the status of the last call. */
static int write_all(struct rocks *db, const uint8_t *buf, size_t len, size_t piece,
                     uint64_t *index, struct base_err *err)
{
    struct snapshot_writer *w = storage_snapshot_writer_new(db);
    int rv = 0;
    for (size_t at = 0; at < len && rv == 0; at += piece) {
        rv = storage_snapshot_write(w, buf + at, len - at < piece ? len - at : piece, err);
    }
    if (rv == 0) {
        rv = storage_snapshot_writer_finish(w, index, err);
    }
    storage_snapshot_writer_free(w);
    return rv;
}

/* write_all() into a new store @name, closed afterwards. */
static int write_new(const char *name, const uint8_t *buf, size_t len, size_t piece,
                     uint64_t *index, struct base_err *err)
{
    struct rocks *db = store(name);
    int rv = write_all(db, buf, len, piece, index, err);
    rocks_close(db);
    return rv;
}

static void stream_is_the_one_buffer_encoding(void **state)
{
    struct rocks *db = store("a");
    struct base_err err;
    void *whole;
    size_t whole_len, len;
    uint8_t *streamed;
    (void)state;
    fill(db);
    assert_int_equal(storage_snapshot_encode(db, 42, &whole, &whole_len, &err), 0);
    for (size_t piece = 1; piece <= 4096; piece *= 4) {
        streamed = read_all(db, 42, piece + 3, &len);
        assert_int_equal(len, whole_len);
        assert_memory_equal(streamed, whole, len);
        free(streamed);
    }
    free(whole);
    rocks_close(db);
}

static void pieces_of_any_size_restore_the_same_store(void **state)
{
    struct rocks *db = store("src");
    struct base_err err;
    uint8_t want[32], got[32];
    uint64_t index;
    size_t len;
    uint8_t *stream;
    (void)state;
    fill(db);
    assert_int_equal(storage_digest(db, want, &err), 0);
    stream = read_all(db, 7, 65536, &len);
    for (size_t piece = 1; piece <= 13; piece += 4) {
        char name[32];
        struct rocks *to;
        snprintf(name, sizeof name, "to-%zu", piece);
        to = store(name);
        assert_int_equal(write_all(to, stream, len, piece == 13 ? len : piece, &index, &err), 0);
        assert_int_equal(index, 7);
        assert_int_equal(storage_digest(to, got, &err), 0);
        assert_memory_equal(got, want, 32);
        rocks_close(to);
    }
    free(stream);
    rocks_close(db);
}

static void a_reader_sees_the_store_as_it_was(void **state)
{
    struct rocks *db = store("live");
    struct rocks *to = store("copy");
    struct snapshot_reader *r;
    struct snapshot_writer *w;
    struct base_err err;
    uint8_t before[32], got[32], piece[1000];
    uint64_t index;
    size_t n;
    (void)state;
    fill(db);
    assert_int_equal(storage_digest(db, before, &err), 0);
    r = storage_snapshot_reader_new(db, 9);
    w = storage_snapshot_writer_new(to);
    /* Writes while the stream is read: in families read already and not yet. */
    assert_int_equal(storage_snapshot_read(r, piece, sizeof piece, &n, &err), 0);
    put(db, 0, "zzz-late", "x", 1);
    put(db, 2, "aaa-late", "y", 1);
    do {
        assert_int_equal(storage_snapshot_write(w, piece, n, &err), 0);
        assert_int_equal(storage_snapshot_read(r, piece, sizeof piece, &n, &err), 0);
    } while (n > 0);
    assert_int_equal(storage_snapshot_writer_finish(w, &index, &err), 0);
    assert_int_equal(storage_digest(to, got, &err), 0);
    assert_memory_equal(got, before, 32);
    storage_snapshot_writer_free(w);
    storage_snapshot_reader_free(r);
    rocks_close(to);
    rocks_close(db);
}

static void what_is_not_a_snapshot_is_refused(void **state)
{
    struct rocks *db = store("src");
    struct base_err err;
    uint64_t index;
    size_t len;
    uint8_t *stream;
    uint8_t *longer;
    (void)state;
    put(db, 1, "k", "v", 1);
    stream = read_all(db, 3, 4096, &len);
    /* A flipped byte in a record: the checksum at the end does not match. */
    stream[26] ^= 1; /* the value "v" */
    assert_int_equal(write_new("flip", stream, len, 5, &index, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "checksum"));
    stream[26] ^= 1; /* the value "v" */
    /* Cut anywhere: the stream is not over. */
    for (size_t cut = 0; cut < len; cut += 3) {
        char name[32];
        snprintf(name, sizeof name, "cut-%zu", cut);
        assert_int_equal(write_new(name, stream, cut, 4, &index, &err), BASE_ECORRUPT);
    }
    /* Bytes after the checksum. */
    longer = xmalloc(len + 1);
    memcpy(longer, stream, len);
    longer[len] = 0;
    assert_int_equal(write_new("long", longer, len + 1, 64, &index, &err),
                     BASE_ECORRUPT);
    /* A family the store does not have, and a key length of 4 GiB (refused before any
     * allocation). */
    stream[16] = 3;
    assert_int_equal(write_new("fam", stream, len, 64, &index, &err), BASE_ECORRUPT);
    stream[16] = 1;
    memset(stream + 17, 0xFF, 4);
    assert_int_equal(write_new("klen", stream, len, 64, &index, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "too large"));
    /* Not a snapshot at all. */
    assert_int_equal(write_new("junk", (const uint8_t *)"GARBAGE-GARBAGE-GARBAGE", 23,
                               64, &index, &err), BASE_ECORRUPT);
    free(longer);
    free(stream);
    rocks_close(db);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(stream_is_the_one_buffer_encoding),
    cmocka_unit_test(pieces_of_any_size_restore_the_same_store),
    cmocka_unit_test(a_reader_sees_the_store_as_it_was),
    cmocka_unit_test(what_is_not_a_snapshot_is_refused),
};

TESTLIB_MAIN("storage/snapshot_stream", tests)
