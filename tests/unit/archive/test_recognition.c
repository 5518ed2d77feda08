/* The recognition hook in the state machine: queueing a captured file, the leader's
 * reports (RecognitionResult) and their refusals, on a real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/archive.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0

static Invoice declared(void)
{
    Invoice inv = INVOICE__INIT;
    inv.number = "23440001";
    inv.code = "044001";
    inv.date = "2026-11-20";
    inv.amount = "100.00";
    inv.tax = "13.00";
    inv.total = "113.00";
    return inv;
}

static void push(struct fx *f, const char *image_no, const char *bill_type)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    Invoice inv = declared();
    Invoice *invs[] = {&inv};
    struct archive_result res;
    fx_stamp(&cmd, "default", T0);
    p.image_no = (char *)image_no;
    p.bill_no = "B-1";
    p.bill_type = (char *)bill_type;
    if (bill_type[0] != '\0') {
        p.invoices = invs;
        p.n_invoices = 1;
    }
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
}

/* Captures file @file_id; @recognize asks for recognition. */
static void add(struct fx *f, const char *image_no, const char *file_id,
                const char *category, bool recognize, const Invoice *inv, uint8_t byte,
                struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, byte, sizeof blob);
    fx_stamp(&cmd, "default", T0);
    a.image_no = (char *)image_no;
    a.file_id = (char *)file_id;
    a.name = "scan.jpg";
    a.format = "jpg";
    a.size = 1000;
    a.pages = 1;
    a.category = (char *)category;
    a.blob.data = blob;
    a.blob.len = sizeof blob;
    a.recognize = recognize;
    a.invoice = (Invoice *)inv;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &a;
    fx_apply(f, &cmd, res);
}

static void result(struct fx *f, RecognitionResult *r, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    fx_stamp(&cmd, "default", T0);
    cmd.time_ms = T0 + 1000 * r->attempt;
    cmd.operator_ = "recognition";
    cmd.body_case = COMMAND__BODY_RECOGNITION_RESULT;
    cmd.recognition_result = r;
    fx_apply(f, &cmd, res);
}

static void report_failure(struct fx *f, const char *image_no, const char *file_id,
                           uint32_t attempt, bool give_up, struct archive_result *res)
{
    RecognitionResult r = RECOGNITION_RESULT__INIT;
    r.image_no = (char *)image_no;
    r.file_id = (char *)file_id;
    r.attempt = attempt;
    r.error = "HTTP 503 from the recognition service";
    r.http_status = 503;
    r.give_up = give_up;
    r.next_ms = T0 + 60000;
    result(f, &r, res);
}

static void succeed(struct fx *f, const char *image_no, const char *file_id,
                    uint32_t attempt, Invoice *inv, struct archive_result *res)
{
    RecognitionResult r = RECOGNITION_RESULT__INIT;
    r.image_no = (char *)image_no;
    r.file_id = (char *)file_id;
    r.attempt = attempt;
    r.ok = true;
    r.http_status = 200;
    r.invoice = inv;
    result(f, &r, res);
}

static FileRecord *file(struct fx *f, const char *file_id)
{
    struct base_err err;
    FileRecord *rec;
    assert_int_equal(archive_get_file(&f->a, "default", file_id, &rec, &err), 0);
    return rec;
}

struct queued {
    unsigned n;
    char file_id[64];
    uint64_t due_ms;
};

static bool queued_cb(const char *tenant, const char *file_id, uint64_t due_ms, void *arg)
{
    struct queued *q = arg;
    assert_string_equal(tenant, "default");
    snprintf(q->file_id, sizeof q->file_id, "%s", file_id);
    q->due_ms = due_ms;
    q->n++;
    return true;
}

static struct queued queue(struct fx *f)
{
    struct base_err err;
    struct queued q = {0};
    assert_int_equal(archive_scan_recognition(&f->a, "", "", queued_cb, &q, &err), 0);
    return q;
}

static void queued_then_retried_then_done(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Invoice inv = declared();
    FileRecord *rec;
    struct queued q;
    push(f, "RC-1", "");
    add(f, "RC-1", "f1", "", true, NULL, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.category, "invoice"); /* asked for: an invoice */
    rec = file(f, "f1");
    assert_non_null(rec->recognition);
    assert_string_equal(rec->recognition->state, "pending");
    assert_int_equal(rec->recognition->attempts, 0);
    assert_int_equal(rec->recognition->requested_ms, T0);
    archive_free_file(rec);
    q = queue(f);
    assert_int_equal(q.n, 1);
    assert_string_equal(q.file_id, "f1");
    assert_int_equal(q.due_ms, T0);

    report_failure(f, "RC-1", "f1", 1, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "pending");
    rec = file(f, "f1");
    assert_int_equal(rec->recognition->attempts, 1);
    assert_int_equal(rec->recognition->http_status, 503);
    assert_string_equal(rec->recognition->error, "HTTP 503 from the recognition service");
    archive_free_file(rec);
    q = queue(f);
    assert_int_equal(q.n, 1);
    assert_int_equal(q.due_ms, T0 + 60000);

    /* A former leader's late report of attempt 1 changes nothing. */
    succeed(f, "RC-1", "f1", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.replayed);
    rec = file(f, "f1");
    assert_int_equal(rec->recognition->attempts, 1);
    assert_null(rec->invoice);
    archive_free_file(rec);

    succeed(f, "RC-1", "f1", 2, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    assert_string_equal(res.state, "done");
    rec = file(f, "f1");
    assert_string_equal(rec->recognition->state, "done");
    assert_int_equal(rec->recognition->attempts, 2);
    assert_string_equal(rec->recognition->error, "");
    assert_non_null(rec->invoice);
    assert_string_equal(rec->invoice->number, "23440001");
    assert_string_equal(rec->invoice->total, "113.00");
    {
        json_t *j = archive_recognition_json(rec->recognition);
        assert_string_equal(json_string_value(json_object_get(j, "state")), "done");
        assert_true(json_is_null(json_object_get(j, "error")));
        assert_true(json_is_null(json_object_get(j, "next_attempt")));
        json_decref(j);
    }
    archive_free_file(rec);
    assert_int_equal(queue(f).n, 0);
    /* Once done, any further report is ignored. */
    report_failure(f, "RC-1", "f1", 3, true, &res);
    assert_true(res.replayed);
    rec = file(f, "f1");
    assert_string_equal(rec->recognition->state, "done");
    archive_free_file(rec);
}

static void the_last_attempt_fails_the_file(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    FileRecord *rec;
    push(f, "RC-2", "");
    add(f, "RC-2", "f2", "invoice", true, NULL, 2, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    report_failure(f, "RC-2", "f2", 1, true, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "failed");
    rec = file(f, "f2");
    assert_string_equal(rec->recognition->state, "failed");
    assert_int_equal(rec->recognition->attempts, 1);
    assert_null(rec->invoice);
    archive_free_file(rec);
    assert_int_equal(queue(f).n, 0);
}

static void malformed_and_unknown_results_are_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Invoice inv = declared();
    Invoice bad = declared();
    char long_error[ARCHIVE_RECOGNITION_ERROR_MAX + 2];
    RecognitionResult r = RECOGNITION_RESULT__INIT;
    FileRecord *rec;
    push(f, "RC-3", "");
    push(f, "RC-4", "");
    add(f, "RC-3", "f3", "", true, NULL, 3, &res);
    add(f, "RC-4", "f4", "attachment", false, NULL, 4, &res);

    r.image_no = "RC-3";
    r.file_id = "";
    r.attempt = 1;
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID); /* no file id */
    r.file_id = "f3";
    r.attempt = 0;
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID); /* attempts count from 1 */
    r.attempt = 1;
    r.ok = true;
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID); /* ok without data */
    bad.amount = "1,5";
    r.invoice = &bad;
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    assert_non_null(strstr(res.message, "invoice.amount"));
    bad = declared();
    bad.number = "";
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    bad = declared();
    bad.code = "0440\n01";
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    r.ok = false;
    r.invoice = NULL;
    memset(long_error, 'e', sizeof long_error - 1);
    long_error[sizeof long_error - 1] = '\0';
    r.error = long_error;
    result(f, &r, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);

    /* A file that does not exist, or is another bill's. */
    succeed(f, "RC-3", "no-such-file", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    succeed(f, "RC-4", "f3", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    /* A file never asked about: ignored. */
    succeed(f, "RC-4", "f4", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.replayed);
    rec = file(f, "f4");
    assert_null(rec->recognition);
    assert_null(rec->invoice);
    archive_free_file(rec);
    /* None of it touched f3. */
    rec = file(f, "f3");
    assert_string_equal(rec->recognition->state, "pending");
    assert_int_equal(rec->recognition->attempts, 0);
    archive_free_file(rec);
}

static void what_a_person_entered_is_never_overwritten(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Invoice inv = declared();
    Invoice mine = declared();
    Command cmd = COMMAND__INIT;
    SetFileInvoice s = SET_FILE_INVOICE__INIT;
    FileRecord *rec;
    push(f, "RC-5", "");
    add(f, "RC-5", "f5", "", true, NULL, 5, &res);
    mine.number = "99999999";
    fx_stamp(&cmd, "default", T0);
    s.image_no = "RC-5";
    s.file_id = "f5";
    s.invoice = &mine;
    cmd.body_case = COMMAND__BODY_SET_FILE_INVOICE;
    cmd.set_file_invoice = &s;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    succeed(f, "RC-5", "f5", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "superseded");
    rec = file(f, "f5");
    assert_string_equal(rec->recognition->state, "superseded");
    assert_non_null(strstr(rec->recognition->error, "not used"));
    assert_string_equal(rec->invoice->number, "99999999");
    archive_free_file(rec);
    assert_int_equal(queue(f).n, 0);
}

static void data_given_or_another_category_is_not_queued(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Invoice inv = declared();
    FileRecord *rec;
    push(f, "RC-6", "");
    add(f, "RC-6", "f6a", "invoice", true, &inv, 6, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    add(f, "RC-6", "f6b", "attachment", true, NULL, 7, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    rec = file(f, "f6a");
    assert_null(rec->recognition);
    archive_free_file(rec);
    rec = file(f, "f6b");
    assert_null(rec->recognition);
    archive_free_file(rec);
    assert_int_equal(queue(f).n, 0);
}

static void a_deleted_file_leaves_the_queue(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    char *ids[] = {"f7"};
    push(f, "RC-7", "");
    add(f, "RC-7", "f7", "", true, NULL, 8, &res);
    assert_int_equal(queue(f).n, 1);
    fx_stamp(&cmd, "default", T0);
    d.image_no = "RC-7";
    d.file_ids = ids;
    d.n_file_ids = 1;
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(queue(f).n, 1); /* until the dispatcher reports */
    report_failure(f, "", "f7", 1, true, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "cancelled");
    assert_int_equal(queue(f).n, 0);
    report_failure(f, "", "f7", 1, true, &res);
    assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
}

static void a_submitted_match_bill_is_matched_by_the_answer(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Invoice inv = declared();
    Command cmd = COMMAND__INIT;
    CreateBillType bt = CREATE_BILL_TYPE__INIT;
    SetScheme sc = SET_SCHEME__INIT;
    SubmitBill s = SUBMIT_BILL__INIT;
    FileRecord *rec;
    fx_stamp(&cmd, "default", T0);
    bt.code = "BT_M";
    bt.name = "match";
    bt.mode = "match";
    cmd.body_case = COMMAND__BODY_CREATE_BILL_TYPE;
    cmd.create_bill_type = &bt;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    sc.bill_type = "BT_M";
    sc.match = "standard";
    sc.submit = "manual";
    cmd.body_case = COMMAND__BODY_SET_SCHEME;
    cmd.set_scheme = &sc;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    push(f, "RC-8", "BT_M");
    add(f, "RC-8", "f8", "", true, NULL, 9, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    s.image_no = "RC-8";
    cmd.body_case = COMMAND__BODY_SUBMIT;
    cmd.submit = &s;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "submitted");
    succeed(f, "RC-8", "f8", 1, &inv, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "done");
    rec = file(f, "f8");
    assert_string_equal(rec->match, "23440001");
    archive_free_file(rec);
    {
        struct base_err err;
        BillRecord *bill;
        assert_int_equal(archive_get_bill(&f->a, "default", "RC-8", &bill, &err), 0);
        assert_string_equal(bill->state, "ready");
        assert_int_equal(bill->invoices_matched, 1);
        archive_free_bill(bill);
    }
}

static void answers_are_parsed_strictly(void **state)
{
    static const struct {
        const char *body;
        bool ok;
    } cases[] = {
        {"{\"invoice\":{\"number\":\"1\",\"total\":\"2.5\",\"seller_tax_no\":\"X\"},"
         "\"x\":1}", true},
        {"{\"invoice\":{\"number\":\"1\",\"amount\":null}}", true},
        {"{\"invoice\":{\"number\":\"\"}}", false},
        {"{\"invoice\":{\"number\":1}}", false},
        {"{\"invoice\":[]}", false},
        {"[]", false},
        {"{\"invoice\":{\"number\":\"1\",\"tax\":\"1.234\"}}", false},
        {"{\"invoice\":{\"number\":\"1\"},\"invoice\":{\"number\":\"2\"}}", false},
        {"{\"invoice\":{\"number\":\"a\\u0000b\"}}", false},
        {"not json", false},
        {"", false},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Invoice inv = INVOICE__INIT;
        char why[200] = "";
        int rv = archive_recognition_answer(cases[i].body, strlen(cases[i].body), &inv, why,
                                            sizeof why);
        if (cases[i].ok) {
            assert_int_equal(rv, 0);
            assert_string_equal(inv.number, "1");
            archive_recognition_invoice_clear(&inv);
        } else {
            assert_int_equal(rv, BASE_EINVAL);
            assert_true(why[0] != '\0');
        }
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(queued_then_retried_then_done, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(the_last_attempt_fails_the_file, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(malformed_and_unknown_results_are_refused, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(what_a_person_entered_is_never_overwritten, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(data_given_or_another_category_is_not_queued, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(a_deleted_file_leaves_the_queue, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_submitted_match_bill_is_matched_by_the_answer, fx_setup,
                                    fx_teardown),
    cmocka_unit_test(answers_are_parsed_strictly),
};

TESTLIB_MAIN("recognition", tests)
