/* Blob store: hashing, dedup, torn writes, corruption detection. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/hex.h"
#include "storage/blobstore.h"
#include "tests/lib/testlib.h"

struct fixture {
    const char *dir;
    struct blob_store bs;
};

static int setup(void **state)
{
    static struct fixture f;
    struct base_err err;
    if (sodium_init() < 0) {
        return -1;
    }
    f.dir = testlib_tmpdir();
    if (blob_store_open(&f.bs, f.dir, &err) != 0) {
        return -1;
    }
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    blob_store_close(&f->bs);
    testlib_rm_rf(f->dir);
    return 0;
}

/* Writes @data through a writer and commits it; returns the hash. */
static void store(struct fixture *f, const void *data, size_t len, uint8_t hash[32])
{
    struct blob_writer w;
    struct blob_writer *ws[1] = {&w};
    struct base_err err;
    int result;
    assert_int_equal(blob_writer_open(&f->bs, &w, &err), 0);
    /* In two pieces, as a streamed body arrives. */
    assert_int_equal(blob_writer_write(&w, data, len / 2, &err), 0);
    assert_int_equal(blob_writer_write(&w, (const char *)data + len / 2, len - len / 2, &err), 0);
    assert_int_equal(blob_writer_finish(&w, true, &err), 0);
    assert_int_equal(blob_commit_batch(&f->bs, ws, 1, &result, true, &err), 0);
    assert_int_equal(result, 0);
    memcpy(hash, w.hash, 32);
}

static unsigned count_files(const char *dir)
{
    char cmd[4200];
    unsigned n = 0;
    FILE *p;
    snprintf(cmd, sizeof cmd, "find '%s' -type f | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%u", &n), 1);
    pclose(p);
    return n;
}

static void hash_is_blake2b_256(void **state)
{
    struct fixture *f = *state;
    const char *data = "hello imgarc";
    uint8_t hash[32], expect[32];
    char hex[65], path[4096];
    store(f, data, strlen(data), hash);
    crypto_generichash(expect, 32, (const uint8_t *)data, strlen(data), NULL, 0);
    assert_memory_equal(hash, expect, 32);
    hex_encode(hash, 32, hex);
    blob_path(&f->bs, hash, path, sizeof path);
    assert_non_null(strstr(path, hex));
    assert_int_equal(access(path, R_OK), 0);
}

static void identical_content_is_stored_once(void **state)
{
    struct fixture *f = *state;
    char data[10000];
    uint8_t h1[32], h2[32];
    char blobs[4200];
    memset(data, 'x', sizeof data);
    store(f, data, sizeof data, h1);
    store(f, data, sizeof data, h2);
    assert_memory_equal(h1, h2, 32);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->dir);
    assert_int_equal(count_files(blobs), 1);
    snprintf(blobs, sizeof blobs, "%s/tmp", f->dir);
    assert_int_equal(count_files(blobs), 0);
}

static void torn_write_leaves_no_visible_blob(void **state)
{
    struct fixture *f = *state;
    struct blob_writer w;
    struct base_err err;
    char blobs[4200];
    /* A crash between write and rename: the writer is simply never committed. */
    assert_int_equal(blob_writer_open(&f->bs, &w, &err), 0);
    assert_int_equal(blob_writer_write(&w, "partial", 7, &err), 0);
    snprintf(blobs, sizeof blobs, "%s/blobs", f->dir);
    assert_int_equal(count_files(blobs), 0);
    close(w.fd);
    blob_check_discard(&w.check_state); /* what the crashed process held in memory */
    /* The next start removes the leftover from tmp/. */
    blob_store_close(&f->bs);
    assert_int_equal(blob_store_open(&f->bs, f->dir, &err), 0);
    snprintf(blobs, sizeof blobs, "%s/tmp", f->dir);
    assert_int_equal(count_files(blobs), 0);
}

static void bit_flip_is_detected(void **state)
{
    struct fixture *f = *state;
    char data[4096];
    uint8_t hash[32];
    char path[4096];
    struct base_err err;
    int fd;
    char byte;
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (char)(i * 7);
    }
    store(f, data, sizeof data, hash);
    assert_int_equal(blob_verify(&f->bs, hash, &err), 0);
    blob_path(&f->bs, hash, path, sizeof path);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, 1000), 1);
    byte ^= 0x01;
    assert_int_equal(pwrite(fd, &byte, 1, 1000), 1);
    close(fd);
    assert_int_equal(blob_verify(&f->bs, hash, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "does not match"));
}

static void missing_blob_is_not_found(void **state)
{
    struct fixture *f = *state;
    uint8_t hash[32] = {1, 2, 3};
    struct base_err err;
    int fd;
    uint64_t size;
    assert_int_equal(blob_open(&f->bs, hash, &fd, &size, &err), BASE_ENOTFOUND);
}

static void batch_commits_many(void **state)
{
    struct fixture *f = *state;
    struct blob_writer w[8];
    struct blob_writer *ws[8];
    int results[8];
    struct base_err err;
    for (int i = 0; i < 8; i++) {
        char data[64];
        snprintf(data, sizeof data, "blob number %d", i);
        ws[i] = &w[i];
        assert_int_equal(blob_writer_open(&f->bs, &w[i], &err), 0);
        assert_int_equal(blob_writer_write(&w[i], data, strlen(data), &err), 0);
        assert_int_equal(blob_writer_finish(&w[i], true, &err), 0);
    }
    assert_int_equal(blob_commit_batch(&f->bs, ws, 8, results, true, &err), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(results[i], 0);
        assert_int_equal(blob_verify(&f->bs, w[i].hash, &err), 0);
    }
}

/* The reserve takes its space on the file system and gives it back when deleted. */
static void reserve_is_allocated_and_given_back(void **state)
{
    struct fixture *f = *state;
    struct base_err err;
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/reserve", f->dir);
    assert_int_equal(blob_store_reserve_bytes(&f->bs), 0);
    assert_int_equal(blob_store_reserve(&f->bs, 3u << 20, &err), 0);
    assert_true(blob_store_reserve_bytes(&f->bs) >= 3u << 20);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_size, 3u << 20);
    /* Made again over an existing one: still one file of that size. */
    assert_int_equal(blob_store_reserve(&f->bs, 3u << 20, &err), 0);
    assert_int_equal(blob_store_release_reserve(&f->bs, &err), 0);
    assert_int_equal(blob_store_reserve_bytes(&f->bs), 0);
    assert_int_not_equal(stat(path, &st), 0);
    /* Giving back a reserve that is not there is not an error. */
    assert_int_equal(blob_store_release_reserve(&f->bs, &err), 0);
}

static void stored_bytes_are_counted(void **state)
{
    struct fixture *f = *state;
    struct base_err err;
    uint8_t hash[32];
    store(f, "abcdef", 6, hash);
    store(f, "0123456789", 10, hash);
    store(f, "abcdef", 6, hash); /* the same content: stored once */
    assert_int_equal(blob_store_bytes(&f->bs), 16);
    assert_int_equal(blob_store_count(&f->bs), 2);
    /* A reopened store counts what is on disk. */
    blob_store_close(&f->bs);
    assert_int_equal(blob_store_open(&f->bs, f->dir, &err), 0);
    assert_int_equal(blob_store_bytes(&f->bs), 16);
    assert_int_equal(blob_store_count(&f->bs), 2);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(hash_is_blake2b_256, setup, teardown),
    cmocka_unit_test_setup_teardown(identical_content_is_stored_once, setup, teardown),
    cmocka_unit_test_setup_teardown(torn_write_leaves_no_visible_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(bit_flip_is_detected, setup, teardown),
    cmocka_unit_test_setup_teardown(missing_blob_is_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown(batch_commits_many, setup, teardown),
    cmocka_unit_test_setup_teardown(stored_bytes_are_counted, setup, teardown),
    cmocka_unit_test_setup_teardown(reserve_is_allocated_and_given_back, setup, teardown),
};

TESTLIB_MAIN("blobstore", tests)
