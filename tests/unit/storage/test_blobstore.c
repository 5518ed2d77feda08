/* Blob store: hashing, dedup, torn writes, corruption detection, chunk lists. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "base/clock.h"
#include "base/hex.h"
#include "storage/blobstore.h"
#include "storage/blobstore_int.h" /* blob_chunker_free(): what a crashed writer held */
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
    char cmd[4300]; /* a directory path of up to 4200 bytes, and the command around it */
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
    blob_chunker_free(&w.chunker);
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

/* The table of copies verified recently: the scrubber's verification notes a copy,
 * which counts only for the same file and a time at or after the note; a write to the
 * file, a corrupt verification, a removal or another blob in the same slot forget it. */
static void verified_copies_are_remembered_per_file(void **state)
{
    struct fixture *f = *state;
    char data[4096];
    uint8_t hash[32], other[32];
    struct blob_ident ident, later;
    struct base_err err;
    uint64_t now = clock_mono_ns() / 1000000;
    int fd;
    char byte;
    for (size_t i = 0; i < sizeof data; i++) {
        data[i] = (char)(i * 13);
    }
    store(f, data, sizeof data, hash);
    assert_int_equal(blob_open_ident(&f->bs, hash, &fd, &ident, &err), 0);
    close(fd);
    assert_int_equal(ident.size, sizeof data);
    assert_false(blob_verified_since(&f->bs, hash, &ident, 0));
    assert_int_equal(blob_verify(&f->bs, hash, &err), 0);
    assert_true(blob_verified_since(&f->bs, hash, &ident, now));
    assert_false(blob_verified_since(&f->bs, hash, &ident, clock_mono_ns() / 1000000 + 1000));
    /* Another file (here: another inode) is not the copy that was checked. */
    later = ident;
    later.ino++;
    assert_false(blob_verified_since(&f->bs, hash, &later, 0));
    /* A blob landing in the same slot takes it. */
    memcpy(other, hash, sizeof other);
    other[31] ^= 0xff;
    blob_verified_note(&f->bs, other, &ident, now);
    assert_false(blob_verified_since(&f->bs, hash, &ident, 0));
    assert_true(blob_verified_since(&f->bs, other, &ident, 0));
    blob_verified_forget(&f->bs, hash); /* not the slot's blob: nothing happens */
    assert_true(blob_verified_since(&f->bs, other, &ident, 0));
    blob_verified_forget(&f->bs, other);
    assert_false(blob_verified_since(&f->bs, other, &ident, 0));
    /* Written since (even the same byte back): the times differ, so it is checked again;
     * found corrupt, it is forgotten. */
    assert_int_equal(blob_verify(&f->bs, hash, &err), 0);
    usleep(10000);
    {
        char path[4096];
        blob_path(&f->bs, hash, path, sizeof path);
        fd = open(path, O_RDWR);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &byte, 1, 100), 1);
        byte ^= 0x01;
        assert_int_equal(pwrite(fd, &byte, 1, 100), 1);
        close(fd);
    }
    assert_int_equal(blob_open_ident(&f->bs, hash, &fd, &later, &err), 0);
    close(fd);
    assert_false(blob_verified_since(&f->bs, hash, &later, 0));
    blob_verified_note(&f->bs, hash, &later, now);
    assert_int_equal(blob_verify(&f->bs, hash, &err), BASE_ECORRUPT);
    assert_false(blob_verified_since(&f->bs, hash, &later, 0));
    /* Removed: forgotten. */
    blob_verified_note(&f->bs, hash, &later, now);
    assert_int_equal(blob_remove(&f->bs, hash, 0, UINT64_MAX / 2, &err), 0);
    assert_false(blob_verified_since(&f->bs, hash, &later, 0));
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

/* ---- Chunk lists: range reads verify only the chunks they cover ---- */

#define BIG_BYTES (3 * BLOB_CHUNK_BYTES + 1000) /* three whole chunks and a short one */

static char *big_data(void)
{
    char *data = malloc(BIG_BYTES);
    assert_non_null(data);
    for (size_t i = 0; i < BIG_BYTES; i++) {
        data[i] = (char)(i * 31 + i / 4099);
    }
    return data;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    char byte;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &byte, 1, at), 1);
    byte ^= 0x04;
    assert_int_equal(pwrite(fd, &byte, 1, at), 1);
    close(fd);
}

/* Opens blob @hash and loads its chunk list: the load's result. */
static int load(struct fixture *f, const uint8_t hash[32], int *fd, struct blob_chunks *c,
                bool *rebuilt)
{
    struct base_err err;
    uint64_t size;
    int rv;
    assert_int_equal(blob_open(&f->bs, hash, fd, &size, &err), 0);
    rv = blob_chunks_load(&f->bs, hash, *fd, size, c, rebuilt, &err);
    if (rv != 0) {
        close(*fd);
    }
    return rv;
}

static void chunk_list_is_written_with_the_blob(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char *buf = malloc(BLOB_CHUNK_BYTES);
    char path[4096];
    struct blob_chunks c;
    struct base_err err;
    uint8_t hash[32];
    bool rebuilt = true;
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_chunks_path(&f->bs, hash, path, sizeof path);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_false(rebuilt);
    assert_int_equal(c.count, 4);
    assert_int_equal(c.size, BIG_BYTES);
    for (uint64_t i = 0; i < c.count; i++) {
        size_t len;
        size_t want = i < 3 ? BLOB_CHUNK_BYTES : 1000;
        XXH128_canonical_t expect;
        XXH128_canonicalFromHash(&expect,
                                 XXH3_128bits(data + i * BLOB_CHUNK_BYTES, want));
        assert_memory_equal(c.hashes + i * BLOB_CHUNK_SUM_BYTES, expect.digest, 16);
        assert_int_equal(blob_chunk_read(&c, fd, i, buf, &len, &err), 0);
        assert_int_equal(len, want);
        assert_memory_equal(buf, data + i * BLOB_CHUNK_BYTES, want);
    }
    close(fd);
    blob_chunks_free(&c);
    /* Nothing left in tmp/, and the list is the only file under chunks/. */
    snprintf(path, sizeof path, "%s/tmp", f->dir);
    assert_int_equal(count_files(path), 0);
    snprintf(path, sizeof path, "%s/chunks", f->dir);
    assert_int_equal(count_files(path), 1);
    free(buf);
    free(data);
}

static void flipped_bit_fails_only_its_chunk(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char *buf = malloc(BLOB_CHUNK_BYTES);
    char path[4096];
    struct blob_chunks c;
    struct base_err err;
    uint8_t hash[32];
    size_t len;
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_path(&f->bs, hash, path, sizeof path);
    flip_byte(path, 2 * BLOB_CHUNK_BYTES + 77);
    assert_int_equal(load(f, hash, &fd, &c, NULL), 0);
    assert_int_equal(blob_chunk_read(&c, fd, 1, buf, &len, &err), 0);
    assert_int_equal(blob_chunk_read(&c, fd, 3, buf, &len, &err), 0);
    assert_int_equal(blob_chunk_read(&c, fd, 2, buf, &len, &err), BASE_ECORRUPT);
    assert_non_null(strstr(err.msg, "chunk 2"));
    close(fd);
    blob_chunks_free(&c);
    /* A truncated blob fails its last chunk too. */
    assert_int_equal(truncate(path, 3 * BLOB_CHUNK_BYTES + 10), 0);
    assert_int_equal(blob_open(&f->bs, hash, &fd, &(uint64_t){0}, &err), 0);
    /* The size the file record gives: the list was made for it. */
    assert_int_equal(blob_chunks_load(&f->bs, hash, fd, BIG_BYTES, &c, NULL, &err), 0);
    assert_int_equal(blob_chunk_read(&c, fd, 3, buf, &len, &err), BASE_ECORRUPT);
    close(fd);
    blob_chunks_free(&c);
    free(buf);
    free(data);
}

static void damaged_list_is_found_and_rebuilt(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char path[4096];
    struct blob_chunks c;
    struct base_err err;
    enum blob_chunks_found found;
    uint8_t hash[32];
    bool rebuilt = false;
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_chunks_path(&f->bs, hash, path, sizeof path);
    flip_byte(path, 24 + 16 + 5); /* in chunk 1's checksum */
    /* The verifier (read only) sees it and leaves it. */
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_BAD);
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_BAD);
    /* A read rebuilds it from the blob, verified whole first. */
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_true(rebuilt);
    close(fd);
    blob_chunks_free(&c);
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_GOOD);
    /* A damaged seal (the last byte), then the scrubber's pass rewrites it. */
    flip_byte(path, 24 + 4 * 16 + 31);
    assert_int_equal(blob_verify_paced(&f->bs, hash, true, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_BAD);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_false(rebuilt);
    close(fd);
    blob_chunks_free(&c);
    free(data);
}

static void missing_list_is_rebuilt(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char path[4096];
    struct blob_chunks c;
    struct base_err err;
    enum blob_chunks_found found;
    uint8_t hash[32];
    bool rebuilt = false;
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_chunks_path(&f->bs, hash, path, sizeof path);
    assert_int_equal(unlink(path), 0); /* a blob from an older version */
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_MISSING);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_true(rebuilt);
    assert_int_equal(c.count, 4);
    close(fd);
    blob_chunks_free(&c);
    assert_int_equal(access(path, R_OK), 0);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_false(rebuilt);
    close(fd);
    blob_chunks_free(&c);
    free(data);
}

/* A list of the first format (BLAKE2b-256 per chunk, "IMGCHK1"), as a data dir from
 * before XXH3 chunk checksums holds: counted as missing, rebuilt, without a warning. */
static void list_of_the_first_format_is_rebuilt(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char path[4096];
    uint8_t old[24 + 4 * 32 + 32];
    struct blob_chunks c;
    struct base_err err;
    enum blob_chunks_found found;
    uint8_t hash[32];
    bool rebuilt = false;
    FILE *fp;
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_chunks_path(&f->bs, hash, path, sizeof path);
    memset(old, 0, sizeof old);
    memcpy(old, "IMGCHK1\n", 8);
    old[9] = 1; /* 65536, little-endian */
    fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(old, 1, sizeof old, fp), sizeof old);
    fclose(fp);
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_MISSING);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_true(rebuilt);
    close(fd);
    blob_chunks_free(&c);
    assert_int_equal(blob_verify_paced(&f->bs, hash, false, NULL, NULL, &found, &err), 0);
    assert_int_equal(found, BLOB_CHUNKS_GOOD);
    free(data);
}

static void corrupt_blob_without_list_is_refused(void **state)
{
    struct fixture *f = *state;
    char *data = big_data();
    char path[4096], list[4096];
    struct blob_chunks c;
    uint8_t hash[32];
    int fd;
    store(f, data, BIG_BYTES, hash);
    blob_chunks_path(&f->bs, hash, list, sizeof list);
    assert_int_equal(unlink(list), 0);
    blob_path(&f->bs, hash, path, sizeof path);
    flip_byte(path, 5);
    /* No list is ever built from bytes that do not match the blob's name. */
    assert_int_equal(load(f, hash, &fd, &c, NULL), BASE_ECORRUPT);
    assert_int_not_equal(access(list, F_OK), 0);
    free(data);
}

static void list_leaves_with_its_blob(void **state)
{
    struct fixture *f = *state;
    char list[4096];
    struct base_err err;
    uint8_t hash[32];
    store(f, "gone soon", 9, hash);
    blob_chunks_path(&f->bs, hash, list, sizeof list);
    assert_int_equal(access(list, F_OK), 0);
    assert_int_equal(blob_remove(&f->bs, hash, 0, UINT64_MAX / 2, &err), 0);
    assert_int_not_equal(access(list, F_OK), 0);
    store(f, "quarantined", 11, hash);
    blob_chunks_path(&f->bs, hash, list, sizeof list);
    assert_int_equal(access(list, F_OK), 0);
    assert_int_equal(blob_quarantine(&f->bs, hash, 1, &err), 0);
    assert_int_not_equal(access(list, F_OK), 0);
}

static void empty_blob_has_an_empty_list(void **state)
{
    struct fixture *f = *state;
    struct blob_chunks c;
    uint8_t hash[32];
    bool rebuilt = true;
    int fd;
    store(f, "", 0, hash);
    assert_int_equal(load(f, hash, &fd, &c, &rebuilt), 0);
    assert_false(rebuilt);
    assert_int_equal(c.count, 0);
    close(fd);
    blob_chunks_free(&c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(hash_is_blake2b_256, setup, teardown),
    cmocka_unit_test_setup_teardown(identical_content_is_stored_once, setup, teardown),
    cmocka_unit_test_setup_teardown(torn_write_leaves_no_visible_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(bit_flip_is_detected, setup, teardown),
    cmocka_unit_test_setup_teardown(missing_blob_is_not_found, setup, teardown),
    cmocka_unit_test_setup_teardown(verified_copies_are_remembered_per_file, setup, teardown),
    cmocka_unit_test_setup_teardown(batch_commits_many, setup, teardown),
    cmocka_unit_test_setup_teardown(stored_bytes_are_counted, setup, teardown),
    cmocka_unit_test_setup_teardown(chunk_list_is_written_with_the_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(flipped_bit_fails_only_its_chunk, setup, teardown),
    cmocka_unit_test_setup_teardown(damaged_list_is_found_and_rebuilt, setup, teardown),
    cmocka_unit_test_setup_teardown(missing_list_is_rebuilt, setup, teardown),
    cmocka_unit_test_setup_teardown(list_of_the_first_format_is_rebuilt, setup, teardown),
    cmocka_unit_test_setup_teardown(corrupt_blob_without_list_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(list_leaves_with_its_blob, setup, teardown),
    cmocka_unit_test_setup_teardown(empty_blob_has_an_empty_list, setup, teardown),
    cmocka_unit_test_setup_teardown(reserve_is_allocated_and_given_back, setup, teardown),
};

TESTLIB_MAIN("blobstore", tests)
