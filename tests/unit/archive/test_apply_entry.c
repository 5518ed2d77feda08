/* Several commands in one raft entry (archive_apply_entry): each applied as if alone,
 * in order, in one write batch; a refused command changes nothing while its
 * neighbours apply. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "storage/snapshot.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define MAX 64

/* An entry being built: packed commands. */
struct entry {
    struct archive_packed cmds[MAX];
    size_t n;
};

static void add(struct entry *e, Command *cmd)
{
    void *buf;
    size_t len;
    assert_true(e->n < MAX);
    archive_encode(cmd, &buf, &len);
    e->cmds[e->n].buf = buf;
    e->cmds[e->n++].len = len;
}

static void entry_free(struct entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free((void *)e->cmds[i].buf);
    }
    e->n = 0;
}

static void apply_entry_at(struct fx *f, uint64_t index, struct entry *e,
                           struct archive_result *res)
{
    struct base_err err;
    assert_int_equal(archive_apply_entry(&f->a, index, e->cmds, e->n, res, &err), 0);
}

static void add_push(struct entry *e, const char *image_no, const char *key)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    fx_stamp(&cmd, "default", T0);
    cmd.idempotency_key = (char *)key;
    p.image_no = (char *)image_no;
    p.bill_no = "ER";
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    add(e, &cmd);
}

static void add_submit(struct entry *e, const char *image_no)
{
    Command cmd = COMMAND__INIT;
    SubmitBill s = SUBMIT_BILL__INIT;
    fx_stamp(&cmd, "default", T0);
    s.image_no = (char *)image_no;
    cmd.body_case = COMMAND__BODY_SUBMIT;
    cmd.submit = &s;
    add(e, &cmd);
}

static void add_capture(struct entry *e, const char *image_no, const char *file_id,
                        const char *name, const char *key, uint8_t blob_byte)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, blob_byte, sizeof blob);
    fx_stamp(&cmd, "default", T0);
    cmd.idempotency_key = (char *)key;
    fx_add_file_cmd(&cmd, &a, blob, image_no, file_id, name);
    a.has_cover_code = strstr(name, image_no) != NULL;
    add(e, &cmd);
}

static bool has_bill(struct fx *f, const char *image_no)
{
    struct base_err err;
    BillRecord *bill;
    int rv = archive_get_bill(&f->a, "default", image_no, &bill, &err);
    if (rv == 0) {
        archive_free_bill(bill);
    }
    assert_true(rv == 0 || rv == BASE_ENOTFOUND);
    return rv == 0;
}

static void a_refused_command_leaves_its_neighbours_applied(void **state)
{
    struct fx *f = *state;
    struct archive_result res[4];
    struct entry e = {0};
    struct base_err err;
    BillRecord *bill;
    uint64_t index = ++f->index;
    add_push(&e, "EN-A", "");
    add_submit(&e, "EN-NONE"); /* no such bill: refused */
    add_push(&e, "EN-B", "");
    add_capture(&e, "EN-A", "fa1", "scan.pdf", "", 1);
    apply_entry_at(f, index, &e, res);
    assert_int_equal(res[0].status, ARCHIVE_OK);
    assert_int_equal(res[1].status, ARCHIVE_R_BILL_NOT_FOUND);
    assert_int_equal(res[2].status, ARCHIVE_OK);
    assert_int_equal(res[3].status, ARCHIVE_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(res[i].index, index);
        assert_false(res[i].replayed);
    }
    assert_int_equal(f->a.applied_index, index);
    assert_true(has_bill(f, "EN-A"));
    assert_true(has_bill(f, "EN-B"));
    assert_false(has_bill(f, "EN-NONE"));
    assert_int_equal(archive_get_bill(&f->a, "default", "EN-A", &bill, &err), 0);
    assert_string_equal(bill->state, "captured");
    archive_free_bill(bill);
    /* The applied index is durable with the batch. */
    fx_reopen(f);
    assert_int_equal(f->a.applied_index, index);
    assert_true(has_bill(f, "EN-B"));
    entry_free(&e);
}

static void commands_of_an_entry_see_each_other(void **state)
{
    struct fx *f = *state;
    struct archive_result res[5];
    struct entry e = {0};
    add_push(&e, "EN-C", "");
    add_capture(&e, "EN-C", "fc1", "cover-EN-C.pdf", "key-c1", 2);
    /* The same request again in the same entry: answered from the first. */
    add_capture(&e, "EN-C", "fc1", "cover-EN-C.pdf", "key-c1", 2);
    add_submit(&e, "EN-C"); /* sees the cover captured just before */
    add_submit(&e, "EN-C"); /* and the submit: a second one finds the bill ready */
    apply_entry_at(f, ++f->index, &e, res);
    assert_int_equal(res[0].status, ARCHIVE_OK);
    assert_int_equal(res[1].status, ARCHIVE_OK);
    assert_false(res[1].replayed);
    assert_int_equal(res[2].status, ARCHIVE_OK);
    assert_true(res[2].replayed);
    assert_string_equal(res[2].file_id, res[1].file_id);
    assert_int_equal(res[3].status, ARCHIVE_OK); /* not bill_empty: the cover is seen */
    assert_string_equal(res[3].state, "ready");
    assert_int_equal(res[4].status, ARCHIVE_OK);
    assert_string_equal(res[4].state, "ready");
    entry_free(&e);
}

static void a_command_that_may_not_share_an_entry_is_refused_in_one(void **state)
{
    struct fx *f = *state;
    struct archive_result res[3];
    struct entry e = {0};
    Command cmd = COMMAND__INIT;
    CreateWebhook c = CREATE_WEBHOOK__INIT;
    char *events[] = {"pending_upload"};
    fx_stamp(&cmd, "default", T0);
    c.id = "wh";
    c.url = "http://127.0.0.1:9/hook";
    c.events = events;
    c.n_events = 1;
    c.secret = "0123456789abcdef";
    cmd.body_case = COMMAND__BODY_CREATE_WEBHOOK;
    cmd.create_webhook = &c;
    assert_false(archive_command_batchable(&cmd));
    add_push(&e, "EN-D", "");
    add(&e, &cmd);
    e.cmds[2].buf = strdup("not a command");
    e.cmds[2].len = strlen("not a command");
    e.n = 3;
    apply_entry_at(f, ++f->index, &e, res);
    assert_int_equal(res[0].status, ARCHIVE_OK);
    assert_int_equal(res[1].status, ARCHIVE_R_INVALID);
    assert_non_null(strstr(res[1].message, "cannot share a raft entry"));
    assert_int_equal(res[2].status, ARCHIVE_R_INVALID);
    assert_true(has_bill(f, "EN-D"));
    entry_free(&e);
}

static void an_entry_applied_twice_is_a_no_op(void **state)
{
    struct fx *f = *state;
    struct archive_result res[2];
    struct entry e = {0};
    struct base_err err;
    uint8_t before[32], after[32];
    uint64_t index = ++f->index;
    add_push(&e, "EN-E", "");
    add_capture(&e, "EN-E", "fe1", "scan.pdf", "", 3);
    apply_entry_at(f, index, &e, res);
    assert_int_equal(storage_digest(f->db, before, &err), 0);
    /* A restart replays its log over a store that has the entry. */
    apply_entry_at(f, index, &e, res);
    assert_true(res[0].replayed && res[1].replayed);
    assert_int_equal(storage_digest(f->db, after, &err), 0);
    assert_memory_equal(before, after, 32);
    entry_free(&e);
}

static void same_entry_same_store_on_every_node(void **state)
{
    struct fx *f = *state;
    struct fx other = {0};
    struct archive_result res[3], res2[3];
    struct entry e = {0};
    struct base_err err;
    uint8_t d1[32], d2[32];
    fx_open(&other);
    fx_init_cluster(&other);
    add_push(&e, "EN-F", "kf");
    add_submit(&e, "EN-F"); /* refused: nothing captured yet */
    add_capture(&e, "EN-F", "ff1", "cover-EN-F.pdf", "", 4);
    apply_entry_at(f, ++f->index, &e, res);
    apply_entry_at(&other, ++other.index, &e, res2);
    assert_int_equal(f->index, other.index);
    assert_int_equal(res[1].status, ARCHIVE_R_BILL_EMPTY);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(res[i].status, res2[i].status);
        assert_string_equal(res[i].message, res2[i].message);
    }
    assert_int_equal(storage_digest(f->db, d1, &err), 0);
    assert_int_equal(storage_digest(other.db, d2, &err), 0);
    assert_memory_equal(d1, d2, 32);
    fx_close(&other);
    entry_free(&e);
}

struct seen {
    uint64_t n, min, max;
};

static bool count_outbox(uint64_t id, uint64_t due_ms, void *arg)
{
    struct seen *s = arg;
    (void)due_ms;
    s->min = s->n == 0 || id < s->min ? id : s->min;
    s->max = id > s->max ? id : s->max;
    s->n++;
    return true;
}

static void a_full_entry_sends_the_rest_back_to_be_proposed_alone(void **state)
{
    struct fx *f = *state;
    struct archive_result res[40], one;
    struct entry e = {0};
    struct base_err err;
    struct seen s = {0};
    char names[40][16];
    uint64_t index;
    /* 32 webhooks (the most a tenant has) each take every new bill: 32 deliveries per
     * push, so 32 pushes use the entry's 1024 delivery ids. */
    for (int w = 0; w < ARCHIVE_WEBHOOKS_MAX; w++) {
        Command cmd = COMMAND__INIT;
        CreateWebhook c = CREATE_WEBHOOK__INIT;
        char id[16];
        char *events[] = {"pending_upload"};
        snprintf(id, sizeof id, "wh%d", w);
        fx_stamp(&cmd, "default", T0);
        c.id = id;
        c.url = "http://127.0.0.1:9/hook";
        c.events = events;
        c.n_events = 1;
        c.secret = "0123456789abcdef";
        cmd.body_case = COMMAND__BODY_CREATE_WEBHOOK;
        cmd.create_webhook = &c;
        fx_apply_ok(f, "default", T0, &cmd);
    }
    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof names[i], "EN-W%02d", i);
        add_push(&e, names[i], "");
    }
    index = ++f->index;
    apply_entry_at(f, index, &e, res);
    for (int i = 0; i < 40; i++) {
        if (i < 32) {
            assert_int_equal(res[i].status, ARCHIVE_OK);
            assert_true(has_bill(f, names[i]));
        } else {
            /* Refused whole: no bill, no delivery, nothing remembered. */
            assert_int_equal(res[i].status, ARCHIVE_R_ENTRY_FULL);
            assert_false(has_bill(f, names[i]));
        }
    }
    assert_int_equal(archive_scan_outbox(&f->a, 0, count_outbox, &s, &err), 0);
    assert_int_equal(s.n, 1024);
    assert_int_equal(s.min, index << 10);
    assert_int_equal(s.max, (index << 10) | 1023);
    /* Proposed again alone, each is applied. */
    for (int i = 32; i < 40; i++) {
        Command cmd = COMMAND__INIT;
        PoolPush p = POOL_PUSH__INIT;
        p.image_no = names[i];
        p.bill_no = "ER";
        cmd.body_case = COMMAND__BODY_POOL_PUSH;
        cmd.pool_push = &p;
        fx_apply_as(f, "default", T0, &cmd, &one);
        assert_int_equal(one.status, ARCHIVE_OK);
        assert_true(has_bill(f, names[i]));
    }
    memset(&s, 0, sizeof s);
    assert_int_equal(archive_scan_outbox(&f->a, 0, count_outbox, &s, &err), 0);
    assert_int_equal(s.n, 1024 + 8 * 32);
    entry_free(&e);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(a_refused_command_leaves_its_neighbours_applied, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(commands_of_an_entry_see_each_other, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_command_that_may_not_share_an_entry_is_refused_in_one,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(an_entry_applied_twice_is_a_no_op, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(same_entry_same_store_on_every_node, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_full_entry_sends_the_rest_back_to_be_proposed_alone,
                                    fx_setup, fx_teardown),
};

TESTLIB_MAIN("archive/apply_entry", tests)
