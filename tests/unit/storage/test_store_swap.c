/* The staging store's READY marker and the swap (storage/store_swap.h): every state a
 * crash during a swap can leave, built by hand with real RocksDB stores, recovers to the
 * old or the new store, never neither; a garbled READY is refused and its staging store
 * discarded without touching the live one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/rocks.h"
#include "storage/store_swap.h"
#include "tests/lib/testlib.h"

static const char *const FAMILIES[] = {"default", "one"};
static const uint8_t HASH[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};

static char data_dir[2048];

static void path(char *out, const char *name)
{
    snprintf(out, 4096, "%s/%s", data_dir, name);
}

static bool present(const char *name)
{
    char p[4096];
    struct stat st;
    path(p, name);
    return lstat(p, &st) == 0;
}

/* A store at DATA/@name whose record "which" says @which, with a few more records. */
static void make_store(const char *name, const char *which)
{
    char p[4096];
    struct rocks *db;
    struct rocks_batch *b;
    struct base_err err;
    path(p, name);
    assert_int_equal(rocks_open(&db, p, FAMILIES, 2, &err), 0);
    b = rocks_batch_new(db);
    rocks_batch_put(b, 0, "which", 5, which, strlen(which));
    for (int i = 0; i < 50; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%02d", i);
        rocks_batch_put(b, 1, k, strlen(k), which, strlen(which));
    }
    assert_int_equal(rocks_write(db, b, true, &err), 0);
    rocks_batch_free(b);
    rocks_close(db);
}

/* What DATA/meta's "which" says. */
static char *live(void)
{
    char p[4096];
    struct rocks *db;
    struct base_err err;
    char *val;
    size_t vlen;
    path(p, "meta");
    assert_true(present("meta"));
    assert_int_equal(rocks_open(&db, p, FAMILIES, 2, &err), 0);
    assert_int_equal(rocks_get(db, 0, "which", 5, &val, &vlen, &err), 0);
    rocks_close(db);
    return val;
}

static void assert_live(const char *which)
{
    char *val = live();
    assert_string_equal(val, which);
    free(val);
}

static void rename_in(const char *from, const char *to)
{
    char a[4096], b[4096];
    path(a, from);
    path(b, to);
    assert_int_equal(rename(a, b), 0);
}

static void write_file(const char *name, const void *buf, size_t len)
{
    char p[4096];
    FILE *f;
    path(p, name);
    f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(buf, 1, len, f), len);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(data_dir, sizeof data_dir, "%s", testlib_tmpdir());
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    testlib_rm_rf(data_dir);
    return 0;
}

/* DATA/meta = old, DATA/catchup/store = new, READY at 77. */
static void staged(void)
{
    char p[4096];
    struct base_err err;
    make_store("meta", "old");
    path(p, "catchup");
    assert_int_equal(mkdir(p, 0700), 0);
    make_store("catchup/store", "new");
    assert_int_equal(storage_staged_mark_ready(data_dir, 77, HASH, &err), 0);
}

static void recover_to(const char *which, uint64_t swapped)
{
    struct base_err err = {{0}};
    uint64_t index = 99;
    assert_int_equal(storage_staged_recover(data_dir, &index, &err), 0);
    assert_int_equal(index, swapped);
    assert_live(which);
    assert_false(present("meta.old"));
    assert_false(present("catchup"));
    /* And again: recovery of a clean directory does nothing. */
    assert_int_equal(storage_staged_recover(data_dir, &index, &err), 0);
    assert_int_equal(index, 0);
    assert_live(which);
}

static void ready_round_trip(void **state)
{
    char p[4096];
    struct base_err err;
    uint64_t index = 0;
    (void)state;
    assert_int_equal(storage_staged_ready(data_dir, &index, &err), BASE_ENOTFOUND);
    staged();
    assert_int_equal(storage_staged_ready(data_dir, &index, &err), 0);
    assert_int_equal(index, 77);
    storage_staged_path(data_dir, p, sizeof p);
    assert_non_null(strstr(p, "/catchup/store"));
    assert_false(present("catchup/READY.tmp"));
    assert_int_equal(storage_staged_discard(data_dir, &err), 0);
    assert_false(present("catchup"));
    assert_int_equal(storage_staged_ready(data_dir, &index, &err), BASE_ENOTFOUND);
    assert_live("old");
}

static void swap_replaces_the_live_store(void **state)
{
    struct base_err err;
    (void)state;
    staged();
    assert_int_equal(storage_staged_swap(data_dir, &err), 0);
    assert_live("new");
    assert_false(present("meta.old"));
    assert_false(present("catchup"));
    /* Nothing staged: nothing to swap, the live store stays. */
    assert_int_equal(storage_staged_swap(data_dir, &err), BASE_ENOTFOUND);
    assert_live("new");
}

/* The crash points of store_swap.h's table, each built by hand. */
static void crash_after_ready(void **state)
{
    (void)state;
    staged();
    recover_to("new", 77);
}

static void crash_after_first_rename(void **state)
{
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    recover_to("new", 77);
}

static void crash_after_second_rename(void **state)
{
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    rename_in("catchup/store", "meta");
    recover_to("new", 77);
}

static void crash_after_ready_removed(void **state)
{
    char p[4096];
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    rename_in("catchup/store", "meta");
    path(p, "catchup/READY");
    assert_int_equal(unlink(p), 0);
    recover_to("new", 0);
}

static void crash_after_catchup_removed(void **state)
{
    char p[4096];
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    rename_in("catchup/store", "meta");
    path(p, "catchup/READY");
    assert_int_equal(unlink(p), 0);
    path(p, "catchup");
    assert_int_equal(rmdir(p), 0);
    /* And meta.old half removed. */
    path(p, "meta.old/CURRENT");
    assert_int_equal(unlink(p), 0);
    recover_to("new", 0);
}

/* A staging store without READY (a fetch cut short): discarded, the live store kept. */
static void staging_without_ready_is_discarded(void **state)
{
    char p[4096];
    (void)state;
    staged();
    path(p, "catchup/READY");
    assert_int_equal(unlink(p), 0);
    write_file("catchup/READY.tmp", "IMGREADY", 8);
    recover_to("old", 0);
}

/* READY without the store it names. */
static void ready_without_store_is_discarded(void **state)
{
    char p[4096];
    struct base_err err;
    uint64_t index;
    (void)state;
    make_store("meta", "old");
    path(p, "catchup");
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(storage_staged_mark_ready(data_dir, 5, HASH, &err), 0);
    assert_int_equal(storage_staged_ready(data_dir, &index, &err), BASE_ECORRUPT);
    recover_to("old", 0);
}

static void garbled_ready(uint8_t *buf, size_t len)
{
    struct base_err err;
    uint64_t index = 0;
    write_file("catchup/READY", buf, len);
    assert_int_equal(storage_staged_ready(data_dir, &index, &err), BASE_ECORRUPT);
    assert_int_equal(index, 0);
}

/* Every bit flipped, every truncation, one byte more: refused, and the staging store is
 * not swapped in. */
static void garbled_ready_is_refused(void **state)
{
    char p[4096];
    uint8_t good[STORAGE_READY_BYTES + 1], buf[STORAGE_READY_BYTES + 1];
    struct base_err err;
    uint64_t index;
    FILE *f;
    (void)state;
    staged();
    path(p, "catchup/READY");
    f = fopen(p, "rb");
    assert_non_null(f);
    assert_int_equal(fread(good, 1, sizeof good, f), STORAGE_READY_BYTES);
    fclose(f);
    assert_int_equal(storage_staged_ready_parse(good, STORAGE_READY_BYTES, &index, buf, &err), 0);
    assert_int_equal(index, 77);
    assert_memory_equal(buf, HASH, 32);
    for (size_t bit = 0; bit < STORAGE_READY_BYTES * 8; bit++) {
        memcpy(buf, good, STORAGE_READY_BYTES);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(storage_staged_ready_parse(buf, STORAGE_READY_BYTES, &index, NULL, &err),
                         BASE_ECORRUPT);
    }
    for (size_t len = 0; len < STORAGE_READY_BYTES; len += 7) {
        garbled_ready(good, len);
    }
    good[STORAGE_READY_BYTES] = 0;
    garbled_ready(good, STORAGE_READY_BYTES + 1);
    memcpy(buf, good, STORAGE_READY_BYTES);
    buf[30] ^= 0x40;
    garbled_ready(buf, STORAGE_READY_BYTES);
    recover_to("old", 0);
}

/* A garbled READY mid-swap: before the second rename the old store comes back; after
 * it the new one stays (it is renamed only once READY vouched for it). */
static void garbled_ready_mid_swap(void **state)
{
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    write_file("catchup/READY", "garbage", 7);
    recover_to("old", 0);
}

static void garbled_ready_after_second_rename(void **state)
{
    (void)state;
    staged();
    rename_in("meta", "meta.old");
    rename_in("catchup/store", "meta");
    write_file("catchup/READY", "garbage", 7);
    recover_to("new", 0);
}

/* meta.old beside meta and a staged store: a leftover; the swap still happens. */
static void leftover_old_store(void **state)
{
    (void)state;
    staged();
    make_store("meta.old", "older");
    recover_to("new", 77);
}

/* No live store at all (a node that never opened one) and a READY staged store. */
static void staged_store_without_live_one(void **state)
{
    char p[4096];
    struct base_err err;
    (void)state;
    path(p, "catchup");
    assert_int_equal(mkdir(p, 0700), 0);
    make_store("catchup/store", "new");
    assert_int_equal(storage_staged_mark_ready(data_dir, 9, HASH, &err), 0);
    recover_to("new", 9);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(ready_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(swap_replaces_the_live_store, setup, teardown),
    cmocka_unit_test_setup_teardown(crash_after_ready, setup, teardown),
    cmocka_unit_test_setup_teardown(crash_after_first_rename, setup, teardown),
    cmocka_unit_test_setup_teardown(crash_after_second_rename, setup, teardown),
    cmocka_unit_test_setup_teardown(crash_after_ready_removed, setup, teardown),
    cmocka_unit_test_setup_teardown(crash_after_catchup_removed, setup, teardown),
    cmocka_unit_test_setup_teardown(staging_without_ready_is_discarded, setup, teardown),
    cmocka_unit_test_setup_teardown(ready_without_store_is_discarded, setup, teardown),
    cmocka_unit_test_setup_teardown(garbled_ready_is_refused, setup, teardown),
    cmocka_unit_test_setup_teardown(garbled_ready_mid_swap, setup, teardown),
    cmocka_unit_test_setup_teardown(garbled_ready_after_second_rename, setup, teardown),
    cmocka_unit_test_setup_teardown(leftover_old_store, setup, teardown),
    cmocka_unit_test_setup_teardown(staged_store_without_live_one, setup, teardown),
};

TESTLIB_MAIN("storage/store_swap", tests)
