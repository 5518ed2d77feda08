/* Retention periods and deleting bills (archive/retention.c, archive/apply_retention.c):
 * the end of a period is the first day after the year of creation, whole years on (UTC,
 * integer arithmetic); a bill is stamped when first stored and never earlier after; a
 * DeleteBill inside the period or under a hold is refused against the command's time and
 * changes nothing; past it, the bill goes with its files, order, audit log, ERP id,
 * recognition queue entries and usage, its blobs are released (kept while another bill
 * references them), and a summary is written to the admin audit log. Real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0 /* 2023-11-14T22:13:20Z */
#define Y2024 1704067200000ull
#define Y2054 2650838400000ull
#define HOLD1 "h0123456789abcdef"

static void period_ends_count_from_the_year_after_creation(void **state)
{
    (void)state;
    char date[16];
    /* 30 years after 2023: from 2024-01-01, so until 2054-01-01. */
    assert_true(archive_retention_until(T0, 30) == Y2054);
    assert_true(archive_retention_until(T0, 1) == 1735689600000ull);      /* 2025-01-01 */
    assert_true(archive_retention_until(Y2024 - 1, 0) == Y2024 - 1);       /* none */
    assert_true(archive_retention_until(Y2024 - 1, 1) == 1735689600000ull); /* 2023 bill */
    assert_true(archive_retention_until(Y2024, 1) == 1767225600000ull);     /* 2024 bill */
    assert_true(archive_retention_until(T0, 1000) == 33260976000000ull);   /* 3024-01-01 */
    assert_true(archive_retention_until(T0, ARCHIVE_RETENTION_PERMANENT) == UINT64_MAX);
    assert_true(archive_retention_until(UINT64_MAX - 1, 1000) == UINT64_MAX);
    archive_date_utc(Y2054, date);
    assert_string_equal(date, "2054-01-01");
    archive_date_utc(1798761599999ull, date);
    assert_string_equal(date, "2026-12-31");
    archive_date_utc(UINT64_MAX, date);
    assert_string_equal(date, "permanent");
}

static enum archive_status delete_bill(struct fx *f, const char *image_no, uint64_t time_ms)
{
    Command cmd = COMMAND__INIT;
    DeleteBill d = DELETE_BILL__INIT;
    struct archive_result res;
    d.image_no = (char *)image_no;
    d.reason = "test";
    cmd.body_case = COMMAND__BODY_DELETE_BILL;
    cmd.delete_bill = &d;
    fx_apply_as(f, "default", time_ms, &cmd, &res);
    return res.status;
}

static enum archive_status set_retention(struct fx *f, const char *type, int64_t years)
{
    Command cmd = COMMAND__INIT;
    SetRetention s = SET_RETENTION__INIT;
    Retention r = RETENTION__INIT;
    struct archive_result res;
    s.bill_type = (char *)type;
    if (years >= 0) {
        r.years = (uint32_t)years;
        s.retention = &r;
    }
    cmd.body_case = COMMAND__BODY_SET_RETENTION;
    cmd.set_retention = &s;
    fx_apply_as(f, "default", T0, &cmd, &res);
    return res.status;
}

static void create_type(struct fx *f, const char *code)
{
    Command cmd = COMMAND__INIT;
    CreateBillType c = CREATE_BILL_TYPE__INIT;
    c.code = (char *)code;
    c.name = (char *)code;
    c.mode = "basic";
    cmd.body_case = COMMAND__BODY_CREATE_BILL_TYPE;
    cmd.create_bill_type = &c;
    fx_apply_ok(f, "default", T0, &cmd);
}

static void push_type(struct fx *f, const char *image_no, const char *type)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    p.image_no = (char *)image_no;
    p.bill_type = (char *)type;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    fx_apply_ok(f, "default", T0, &cmd);
}

static uint64_t retain_until(struct fx *f, const char *image_no)
{
    BillRecord *b;
    struct base_err err;
    uint64_t until;
    assert_int_equal(archive_get_bill(&f->a, "default", image_no, &b, &err), 0);
    until = b->retain_until_ms;
    archive_free_bill(b);
    return until;
}

static bool bill_exists(struct fx *f, const char *image_no)
{
    BillRecord *b;
    struct base_err err;
    int rv = archive_get_bill(&f->a, "default", image_no, &b, &err);
    assert_true(rv == 0 || rv == BASE_ENOTFOUND);
    if (rv == 0) {
        archive_free_bill(b);
    }
    return rv == 0;
}

static uint64_t blob_refs(struct fx *f, uint8_t byte)
{
    uint8_t hash[32];
    BlobRecord *b;
    struct base_err err;
    uint64_t refs;
    memset(hash, byte, sizeof hash);
    assert_int_equal(archive_get_blob(&f->a, hash, &b, &err), 0);
    refs = b->refs;
    blob_record__free_unpacked(b, NULL);
    return refs;
}

static void a_bill_is_kept_until_its_period_ends(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    fx_add_file(f, "RB-1", "f1", "a.pdf", NULL, 1, &res);
    assert_true(retain_until(f, "RB-1") == Y2054);
    assert_int_equal(delete_bill(f, "RB-1", Y2054 - 1), ARCHIVE_R_RETAINED);
    assert_true(bill_exists(f, "RB-1"));
    /* A shorter default later does not release it; nor does a type without a period. */
    assert_int_equal(set_retention(f, "", 0), ARCHIVE_OK);
    assert_int_equal(delete_bill(f, "RB-1", T0 + 1), ARCHIVE_R_RETAINED);
    create_type(f, "PERM");
    assert_int_equal(set_retention(f, "PERM", ARCHIVE_RETENTION_PERMANENT), ARCHIVE_OK);
    push_type(f, "RB-1", "PERM"); /* a longer period wins */
    assert_true(retain_until(f, "RB-1") == UINT64_MAX);
    assert_int_equal(delete_bill(f, "RB-1", UINT64_MAX - 1), ARCHIVE_R_RETAINED);
    /* A bill created under the 0-year default may go at once. */
    fx_add_file(f, "RB-2", "f2", "b.pdf", NULL, 2, &res);
    assert_true(retain_until(f, "RB-2") == T0);
    /* A longer period set later counts at once, without rewriting the bill. */
    assert_int_equal(set_retention(f, "", 30), ARCHIVE_OK);
    assert_int_equal(delete_bill(f, "RB-2", T0), ARCHIVE_R_RETAINED);
    assert_true(retain_until(f, "RB-2") == T0);
    assert_int_equal(set_retention(f, "", -1), ARCHIVE_OK); /* back to the default: 30 */
    assert_int_equal(delete_bill(f, "RB-2", Y2054 - 1), ARCHIVE_R_RETAINED);
    assert_int_equal(set_retention(f, "", 0), ARCHIVE_OK);
    assert_int_equal(delete_bill(f, "RB-2", T0), ARCHIVE_OK);
    assert_false(bill_exists(f, "RB-2"));
    assert_int_equal(delete_bill(f, "RB-2", T0), ARCHIVE_R_BILL_NOT_FOUND);
}

static void deleting_removes_the_bill_and_releases_its_content(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    UsageRecord *u;
    FileRecord *file;
    struct base_err err;
    fx_add_file(f, "RD-1", "f1", "a.pdf", NULL, 7, &res);
    fx_add_file(f, "RD-1", "f2", "b.pdf", NULL, 8, &res);
    fx_add_file(f, "RD-2", "f3", "c.pdf", NULL, 8, &res); /* shares f2's content */
    assert_int_equal(blob_refs(f, 8), 2);
    assert_int_equal(archive_get_usage(&f->a, "default", &u, &err), 0);
    assert_int_equal(u->bills, 2);
    assert_int_equal(u->files, 3);
    usage_record__free_unpacked(u, NULL);

    assert_int_equal(delete_bill(f, "RD-1", Y2054 - 1), ARCHIVE_R_RETAINED);
    assert_int_equal(delete_bill(f, "RD-1", Y2054), ARCHIVE_OK);
    assert_false(bill_exists(f, "RD-1"));
    assert_true(bill_exists(f, "RD-2"));
    assert_int_equal(archive_get_file(&f->a, "default", "f1", &file, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_get_file(&f->a, "default", "f2", &file, &err), BASE_ENOTFOUND);
    assert_int_equal(blob_refs(f, 7), 0); /* released: the keeper purges it */
    assert_int_equal(blob_refs(f, 8), 1); /* RD-2 still refers to it */
    assert_int_equal(archive_get_usage(&f->a, "default", &u, &err), 0);
    assert_int_equal(u->bills, 1);
    assert_int_equal(u->files, 1);
    usage_record__free_unpacked(u, NULL);
    /* The image number is free: a new capture starts a new bill. */
    fx_add_file(f, "RD-1", "f4", "d.pdf", NULL, 9, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(bill_exists(f, "RD-1"));
}

static void a_hold_or_bad_input_refuses(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Command cmd = COMMAND__INIT;
    PlaceHold p = PLACE_HOLD__INIT;
    char big[1100];
    assert_int_equal(set_retention(f, "", 0), ARCHIVE_OK);
    fx_add_file(f, "RH-1", "f1", "a.pdf", NULL, 3, &res);
    p.image_no = "RH-1";
    p.hold_id = HOLD1;
    p.reason = "audit";
    cmd.body_case = COMMAND__BODY_PLACE_HOLD;
    cmd.place_hold = &p;
    fx_apply_ok(f, "default", T0, &cmd);
    assert_int_equal(delete_bill(f, "RH-1", Y2054), ARCHIVE_R_BILL_HELD);
    assert_true(bill_exists(f, "RH-1"));
    assert_int_equal(set_retention(f, "", ARCHIVE_RETENTION_YEARS_MAX + 1), ARCHIVE_R_INVALID);
    assert_int_equal(set_retention(f, "NOPE", 3), ARCHIVE_R_BILL_TYPE_NOT_FOUND);
    assert_int_equal(set_retention(f, "bad type", 3), ARCHIVE_R_INVALID);
    assert_int_equal(delete_bill(f, "RH-NONE", T0), ARCHIVE_R_BILL_NOT_FOUND);
    {
        Command c = COMMAND__INIT;
        DeleteBill d = DELETE_BILL__INIT;
        memset(big, 'r', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        d.image_no = "RH-1";
        d.reason = big;
        c.body_case = COMMAND__BODY_DELETE_BILL;
        c.delete_bill = &d;
        fx_apply_as(f, "default", T0, &c, &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(period_ends_count_from_the_year_after_creation),
    cmocka_unit_test_setup_teardown(a_bill_is_kept_until_its_period_ends, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(deleting_removes_the_bill_and_releases_its_content,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_hold_or_bad_input_refuses, fx_setup, fx_teardown),
};

TESTLIB_MAIN("apply_retention", tests)
