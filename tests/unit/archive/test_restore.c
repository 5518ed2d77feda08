/* archive/restore.c: a store restored from a backup is made the adopting node's: the
 * backed-up cluster's members are forgotten, every blob record lists that node alone
 * when it has the content (no one otherwise), the blob index is built again from the
 * new records, and the rest (bills, files, the applied index) is left as it was; the
 * restore marker is written, read and removed as the node's start expects, and a
 * marker that is not one is refused. On a real RocksDB with commands applied as the
 * state machine gets them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/blobs.h"
#include "archive/nodes.h"
#include "archive/restore.h"
#include "tests/unit/archive/archive_fixture.h"

#define ADOPTER 99u

static void register_node(struct fx *f, uint64_t id, const char *http)
{
    Command cmd = COMMAND__INIT;
    RegisterNode r = REGISTER_NODE__INIT;
    struct archive_result res;
    fx_stamp(&cmd, "default", FX_T0);
    r.id = id;
    r.http = (char *)http;
    r.raft = "127.0.0.1:9001";
    r.zone = "z";
    cmd.body_case = COMMAND__BODY_REGISTER_NODE;
    cmd.register_node = &r;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
}

/* This node "has" the blobs whose bytes are 0x10 and 0x30. */
static bool held(const uint8_t hash[32], void *arg)
{
    unsigned *asked = arg;
    (*asked)++;
    return hash[0] == 0x10 || hash[0] == 0x30;
}

static void count_node(const NodeRecord *node, void *arg)
{
    (void)node;
    (*(size_t *)arg)++;
}

static bool count_blob(const uint8_t hash[32], const BlobRecord *rec, void *arg)
{
    (void)rec;
    ((uint8_t *)arg)[hash[0] >> 4]++;
    return true;
}

static void holders_of(struct fx *f, uint8_t byte, uint64_t *out, size_t *n)
{
    struct base_err err;
    BlobRecord *rec;
    uint8_t hash[32];
    memset(hash, byte, sizeof hash);
    assert_int_equal(archive_get_blob(&f->a, hash, &rec, &err), 0);
    *n = rec->n_holders;
    for (size_t i = 0; i < rec->n_holders && i < 4; i++) {
        out[i] = rec->holders[i];
    }
    archive_free_blob(rec);
}

static void adopting_rewrites_members_and_holders_and_rebuilds_the_index(void **state)
{
    struct fx *f = *state;
    struct base_err err;
    uint64_t h1[] = {11, 12}, h2[] = {11}, h3[] = {12, 13}, got[4];
    uint8_t seen[16] = {0};
    unsigned asked = 0;
    size_t nodes = 0, n;
    uint64_t applied;
    BillRecord *bill;
    register_node(f, 11, "127.0.0.1:8011");
    register_node(f, 12, "127.0.0.1:8012");
    fx_capture_held(f, "R-1", "f1", 0x10, h1, 2);
    fx_capture_held(f, "R-1", "f2", 0x20, h2, 1);
    fx_capture_held(f, "R-2", "f3", 0x30, h3, 2);
    fx_delete_file(f, "R-2", "f3"); /* 0x30: released, refs 0, still recorded */
    applied = f->a.applied_index;

    assert_int_equal(archive_restore_adopt(f->db, ADOPTER, held, &asked, &err), 0);
    fx_reopen(f); /* as the node opens the archive after adopting: the index is built */
    assert_int_equal(asked, 3);
    assert_int_equal(f->a.applied_index, applied);
    assert_int_equal(archive_each_node(&f->a, count_node, &nodes, &err), 0);
    assert_int_equal(nodes, 0);
    holders_of(f, 0x10, got, &n);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], ADOPTER);
    holders_of(f, 0x20, got, &n);
    assert_int_equal(n, 0); /* referenced, but not here: the keeper reports it */
    holders_of(f, 0x30, got, &n);
    assert_int_equal(n, 1);
    /* The index names the adopter's blobs and no old holder's. */
    assert_int_equal(archive_each_blob_held(&f->a, ADOPTER, count_blob, seen, &err), 0);
    assert_int_equal(seen[1] + seen[2] + seen[3], 2);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[3], 1);
    memset(seen, 0, sizeof seen);
    for (uint64_t old = 11; old <= 13; old++) {
        assert_int_equal(archive_each_blob_held(&f->a, old, count_blob, seen, &err), 0);
    }
    assert_int_equal(seen[1] + seen[2] + seen[3], 0);
    /* A blob with no copy at all is one the keeper finds (class 0). */
    memset(seen, 0, sizeof seen);
    assert_int_equal(archive_each_blob_unsettled(&f->a, 1, false, count_blob, seen, &err), 0);
    assert_int_equal(seen[2], 1);
    assert_int_equal(seen[1], 0);
    /* The bills are untouched. */
    assert_int_equal(archive_get_bill(&f->a, "default", "R-1", &bill, &err), 0);
    archive_free_bill(bill);

    /* Adopting again (a start cut short before the marker went) gives the same. */
    asked = 0;
    assert_int_equal(archive_restore_adopt(f->db, ADOPTER, held, &asked, &err), 0);
    fx_reopen(f);
    holders_of(f, 0x10, got, &n);
    assert_int_equal(n, 1);
    assert_int_equal(got[0], ADOPTER);
}

static void write_marker(const char *dir, const char *text)
{
    char path[1024];
    FILE *fp;
    snprintf(path, sizeof path, "%s/%s", dir, ARCHIVE_RESTORE_MARKER);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void the_marker_round_trips_and_refuses_what_is_not_one(void **state)
{
    struct fx *f = *state;
    struct base_err err;
    uint64_t index = 0;
    static const char *const bad[] = {
        "",
        "imgarc-restored 1 index \n",
        "imgarc-restored 1 index 0\n",
        "imgarc-restored 1 index 12",
        "imgarc-restored 1 index 12x\n",
        "imgarc-restored 2 index 12\n",
        "imgarc-restored 1 index 99999999999999999999999\n",
        "imgarc-restored 1 index -5\n",
    };
    assert_int_equal(archive_restore_marked(f->dir, &index, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_restore_mark(f->dir, 4242, &err), 0);
    assert_int_equal(archive_restore_marked(f->dir, &index, &err), 0);
    assert_int_equal(index, 4242);
    assert_int_equal(archive_restore_unmark(f->dir, &err), 0);
    assert_int_equal(archive_restore_marked(f->dir, &index, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_restore_unmark(f->dir, &err), 0); /* absent: nothing to do */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_marker(f->dir, bad[i]);
        assert_int_equal(archive_restore_marked(f->dir, &index, &err), BASE_ECORRUPT);
        assert_non_null(strstr(err.msg, "not a restore marker"));
    }
    write_marker(f->dir, "imgarc-restored 1 index 18446744073709551615\n");
    assert_int_equal(archive_restore_marked(f->dir, &index, &err), 0);
    assert_true(index == UINT64_MAX);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(adopting_rewrites_members_and_holders_and_rebuilds_the_index,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(the_marker_round_trips_and_refuses_what_is_not_one, fx_setup,
                                    fx_teardown),
};

TESTLIB_MAIN("archive/restore", tests)
