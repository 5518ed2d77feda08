/* The group commit of the blob path: uploads whose bytes are written queue up, one
 * batch at a time is put in place with one sync, and the batch size is bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "replication/blob_path.h"
#include "tests/lib/testlib.h"

#define UPLOADS 5

struct fixture {
    const char *dir;
    uv_loop_t loop;
    struct blob_store bs;
    struct blob_path bp;
    struct blob_writer writers[UPLOADS];
    struct blob_commit_item items[UPLOADS];
    int status[UPLOADS];
    unsigned done;
    bool stopped;
};

static int setup(void **state)
{
    static struct fixture f;
    struct base_err err;
    if (sodium_init() < 0) {
        return -1;
    }
    memset(&f, 0, sizeof f);
    f.dir = testlib_tmpdir();
    if (blob_store_open(&f.bs, f.dir, &err) != 0 || uv_loop_init(&f.loop) != 0) {
        return -1;
    }
    *state = &f;
    return 0;
}

static void stopped(void *arg)
{
    struct fixture *f = arg;
    f->stopped = true;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    blob_path_stop(&f->bp, stopped, f);
    while (!f->stopped) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    blob_path_close(&f->bp);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_loop_close(&f->loop);
    blob_store_close(&f->bs);
    testlib_rm_rf(f->dir);
    return 0;
}

static void committed(struct blob_commit_item *item, int status)
{
    struct fixture *f = item->data;
    f->status[item - f->items] = status;
    f->done++;
}

/* Writes UPLOADS different blobs (as blob_in.c's workers do) and queues them all. */
static void upload_all(struct fixture *f, uint64_t group_commit_max)
{
    struct blob_path_config c = {.node_id = 1, .sync_blobs = true,
                                 .group_commit_max = group_commit_max};
    struct base_err err;
    blob_path_init(&f->bp, &f->loop, &c, NULL, NULL, &f->bs);
    for (unsigned i = 0; i < UPLOADS; i++) {
        char body[32];
        int n = snprintf(body, sizeof body, "upload number %u", i);
        assert_int_equal(blob_writer_open(&f->bs, &f->writers[i], &err), 0);
        assert_int_equal(blob_writer_write(&f->writers[i], body, (size_t)n, &err), 0);
        assert_int_equal(blob_writer_finish(&f->writers[i], true, &err), 0);
        f->items[i] = (struct blob_commit_item){
            .writer = &f->writers[i], .cb = committed, .data = f};
        f->status[i] = -1;
    }
    for (unsigned i = 0; i < UPLOADS; i++) {
        blob_commit_add(f->bp.commit, &f->items[i]);
    }
    while (f->done < UPLOADS) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    for (unsigned i = 0; i < UPLOADS; i++) {
        assert_int_equal(f->status[i], 0);
        assert_true(blob_exists(&f->bs, f->writers[i].hash));
    }
    assert_int_equal(f->bp.stats.group_commit_files_total, UPLOADS);
}

/* The first upload is committed at once; the others, queued meanwhile, together. */
static void uploads_waiting_share_one_commit(void **state)
{
    struct fixture *f = *state;
    upload_all(f, 0);
    assert_int_equal(f->bp.stats.group_commits_total, 2);
}

/* --group-commit-max bounds a batch: 1, then 2 and 2. */
static void a_batch_is_bounded(void **state)
{
    struct fixture *f = *state;
    upload_all(f, 2);
    assert_int_equal(f->bp.stats.group_commits_total, 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(uploads_waiting_share_one_commit, setup, teardown),
    cmocka_unit_test_setup_teardown(a_batch_is_bounded, setup, teardown),
};

TESTLIB_MAIN("blob_commit", tests)
