/* Legal holds (archive/apply_holds.c): a hold is kept on the bill with its reason, who
 * placed it and when (the command's time, never a clock); while one is in force every
 * command that deletes or replaces content is refused with ARCHIVE_R_BILL_HELD and
 * changes nothing; lifting one leaves the others; malformed ids, empty reasons, unknown
 * bills and holds, and a 33rd hold are refused; two stores applying the same commands
 * end equal. Real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define HOLD1 "h0123456789abcdef"
#define HOLD2 "hfedcba9876543210"

static enum archive_status place(struct fx *f, const char *image_no, const char *id,
                                 const char *reason, uint64_t time_ms)
{
    Command cmd = COMMAND__INIT;
    PlaceHold p = PLACE_HOLD__INIT;
    struct archive_result res;
    p.image_no = (char *)image_no;
    p.hold_id = (char *)id;
    p.reason = (char *)reason;
    cmd.body_case = COMMAND__BODY_PLACE_HOLD;
    cmd.place_hold = &p;
    fx_apply_as(f, "default", time_ms, &cmd, &res);
    return res.status;
}

static enum archive_status lift(struct fx *f, const char *image_no, const char *id)
{
    Command cmd = COMMAND__INIT;
    LiftHold l = LIFT_HOLD__INIT;
    struct archive_result res;
    l.image_no = (char *)image_no;
    l.hold_id = (char *)id;
    l.reason = "done";
    cmd.body_case = COMMAND__BODY_LIFT_HOLD;
    cmd.lift_hold = &l;
    fx_apply_as(f, "default", T0 + 50, &cmd, &res);
    return res.status;
}

static enum archive_status delete_file(struct fx *f, const char *image_no, char *file_id)
{
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    struct archive_result res;
    char *ids[] = {file_id};
    d.image_no = (char *)image_no;
    d.file_ids = ids;
    d.n_file_ids = 1;
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    fx_apply_as(f, "default", T0 + 60, &cmd, &res);
    return res.status;
}

static enum archive_status replace_file(struct fx *f, const char *image_no, const char *old)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    struct archive_result res;
    memset(blob, 0x5a, sizeof blob);
    fx_add_file_cmd(&cmd, &a, blob, image_no, "fnew", "new.pdf");
    a.replace = (char *)old;
    fx_stamp(&cmd, "default", T0 + 70);
    fx_apply(f, &cmd, &res);
    return res.status;
}

static BillRecord *bill(struct fx *f, const char *image_no)
{
    BillRecord *b;
    struct base_err err;
    assert_int_equal(archive_get_bill(&f->a, "default", image_no, &b, &err), 0);
    return b;
}

static void a_hold_refuses_deleting_and_replacing_until_lifted(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    BillRecord *b;
    uint64_t seq;
    fx_add_file(f, "HB-1", "f1", "a.pdf", NULL, 1, &res);
    fx_add_file(f, "HB-1", "f2", "b.pdf", NULL, 2, &res);
    assert_int_equal(place(f, "HB-1", HOLD1, "tax audit", T0 + 10), ARCHIVE_OK);
    b = bill(f, "HB-1");
    assert_int_equal(b->n_holds, 1);
    assert_string_equal(b->holds[0]->hold_id, HOLD1);
    assert_string_equal(b->holds[0]->reason, "tax audit");
    assert_string_equal(b->holds[0]->placed_by, "tester");
    assert_int_equal(b->holds[0]->placed_ms, T0 + 10);
    seq = b->audit_seq;
    archive_free_bill(b);

    assert_int_equal(delete_file(f, "HB-1", "f1"), ARCHIVE_R_BILL_HELD);
    assert_int_equal(replace_file(f, "HB-1", "f2"), ARCHIVE_R_BILL_HELD);
    b = bill(f, "HB-1");
    assert_int_equal(b->files, 2); /* nothing changed, not even the log */
    assert_int_equal(b->audit_seq, seq);
    archive_free_bill(b);

    assert_int_equal(place(f, "HB-1", HOLD2, "litigation", T0 + 20), ARCHIVE_OK);
    assert_int_equal(lift(f, "HB-1", HOLD1), ARCHIVE_OK);
    assert_int_equal(delete_file(f, "HB-1", "f1"), ARCHIVE_R_BILL_HELD);
    b = bill(f, "HB-1");
    assert_int_equal(b->n_holds, 1);
    assert_string_equal(b->holds[0]->hold_id, HOLD2);
    archive_free_bill(b);
    assert_int_equal(lift(f, "HB-1", HOLD2), ARCHIVE_OK);
    assert_int_equal(delete_file(f, "HB-1", "f1"), ARCHIVE_OK);
    b = bill(f, "HB-1");
    assert_int_equal(b->n_holds, 0);
    assert_int_equal(b->files, 1);
    assert_int_equal(b->audit_seq, seq + 4); /* one more hold placed, two lifted, a deletion */
    archive_free_bill(b);
    assert_int_equal(replace_file(f, "HB-1", "f2"), ARCHIVE_OK);
}

static void malformed_holds_are_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    char big[ARCHIVE_HOLD_REASON_MAX + 2];
    BillRecord *b;
    fx_add_file(f, "HB-2", "f1", "a.pdf", NULL, 1, &res);
    memset(big, 'r', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(place(f, "HB-2", "", "x", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", "h0123", "x", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", "hABCDEF0123456789", "x", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", "x0123456789abcdef", "x", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", HOLD1, "", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", HOLD1, big, T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-2", HOLD1, "\xff\xfe", T0), ARCHIVE_R_INVALID);
    assert_int_equal(place(f, "HB-NONE", HOLD1, "x", T0), ARCHIVE_R_BILL_NOT_FOUND);
    assert_int_equal(lift(f, "HB-2", HOLD1), ARCHIVE_R_HOLD_NOT_FOUND);
    assert_int_equal(lift(f, "HB-NONE", HOLD1), ARCHIVE_R_BILL_NOT_FOUND);
    assert_int_equal(place(f, "HB-2", HOLD1, "x", T0), ARCHIVE_OK);
    assert_int_equal(place(f, "HB-2", HOLD1, "again", T0), ARCHIVE_R_INVALID);
    b = bill(f, "HB-2");
    assert_int_equal(b->n_holds, 1);
    archive_free_bill(b);
}

static void a_bill_has_at_most_32_holds(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    char id[ARCHIVE_HOLD_ID_BYTES + 1];
    BillRecord *b;
    fx_add_file(f, "HB-3", "f1", "a.pdf", NULL, 1, &res);
    for (int i = 0; i <= ARCHIVE_HOLDS_MAX; i++) {
        snprintf(id, sizeof id, "h%016x", i);
        assert_int_equal(place(f, "HB-3", id, "r", T0),
                         i < ARCHIVE_HOLDS_MAX ? ARCHIVE_OK : ARCHIVE_R_INVALID_STATE);
    }
    b = bill(f, "HB-3");
    assert_int_equal(b->n_holds, ARCHIVE_HOLDS_MAX);
    archive_free_bill(b);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(a_hold_refuses_deleting_and_replacing_until_lifted,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(malformed_holds_are_refused, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_bill_has_at_most_32_holds, fx_setup, fx_teardown),
};

TESTLIB_MAIN("apply_holds", tests)
