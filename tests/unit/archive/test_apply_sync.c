/* The invoice-data sync applied to a real RocksDB (archive/apply_sync.c): settings and
 * their refusals, runs made per organisation and a named daily run made once, a run's
 * steps in order (the retry pass, then pages by cursor), each record applied under the
 * rules (protected fields kept, an invoice edited here left alone, a matched file
 * failing, a missing file failing), the failed records' attempts up to given_up and
 * put back by hand, and the retry of a failed daily run once a day. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/keys.h"
#include "archive/sync.h"
#include "storage/rocks.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0

static void put_raw(struct fx *f, enum archive_cf cf, const struct key *k,
                    const ProtobufCMessage *msg)
{
    struct base_err err;
    struct rocks_batch *b = rocks_batch_new(f->db);
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len + 1);
    protobuf_c_message_pack(msg, buf);
    rocks_batch_put(b, cf, k->buf, k->len, (const char *)buf, len);
    assert_int_equal(rocks_write(f->db, b, false, &err), 0);
    rocks_batch_free(b);
    free(buf);
}

static void put_datasource(struct fx *f, const char *name)
{
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    struct key k;
    r.name = (char *)name;
    r.tenant = "default";
    r.kind = "imgarc";
    r.url = "http://127.0.0.1:1";
    key_pair(&k, "default", name);
    put_raw(f, ARCHIVE_CF_DATASOURCES, &k, &r.base);
}

static void expect(struct archive_result *res, enum archive_status status, const char *in_msg)
{
    if (res->status != status) {
        fail_msg("status %d, wanted %d: %s", res->status, status, res->message);
    }
    if (in_msg != NULL && strstr(res->message, in_msg) == NULL) {
        fail_msg("message '%s' does not say '%s'", res->message, in_msg);
    }
}

static void settings(struct fx *f, const char *ds, const char *at, char **orgs, size_t n_orgs,
                     char **protect, size_t n_protect, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    PutSyncSettings p = PUT_SYNC_SETTINGS__INIT;
    SyncSettings s = SYNC_SETTINGS__INIT;
    s.datasource = (char *)ds;
    s.daily_at = (char *)at;
    s.enabled = true;
    s.orgs = orgs;
    s.n_orgs = n_orgs;
    s.protected_fields = protect;
    s.n_protected_fields = n_protect;
    p.settings = &s;
    cmd.body_case = COMMAND__BODY_PUT_SYNC_SETTINGS;
    cmd.put_sync_settings = &p;
    fx_apply_as(f, "default", T0 + 1000, &cmd, res);
}

static void make_run(struct fx *f, const char *run_id, const char *org, const char *kind,
                     const char *date, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    CreateSyncRun c = CREATE_SYNC_RUN__INIT;
    char *orgs[1] = {(char *)org};
    c.run_id = (char *)run_id;
    c.orgs = orgs;
    c.n_orgs = org != NULL ? 1 : 0;
    c.kind = (char *)kind;
    c.date = (char *)date;
    cmd.body_case = COMMAND__BODY_CREATE_SYNC_RUN;
    cmd.create_sync_run = &c;
    fx_apply_as(f, "default", T0 + 2000, &cmd, res);
}

static SyncRunRecord *get_run(struct fx *f, const char *run_id)
{
    struct base_err err;
    SyncRunRecord *r;
    assert_int_equal(archive_get_sync_run(&f->a, "default", run_id, &r, &err), 0);
    return r;
}

/* One step of run @run_id: its records are @n items of (file id, error). */
static void step(struct fx *f, const char *run_id, bool retry_pass, const char *cursor,
                 const char *next, const char *const *files, size_t n, Invoice *inv,
                 struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SyncInvoices s = SYNC_INVOICES__INIT;
    SyncItem items[8], *ptrs[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        sync_item__init(&items[i]);
        items[i].image_no = "IMG1";
        items[i].file_id = (char *)files[i];
        items[i].invoice = files[i][0] != '\0' ? inv : NULL;
        items[i].error = files[i][0] != '\0' ? "" : "the source cannot give bill IMG1";
        ptrs[i] = &items[i];
    }
    s.run_id = (char *)run_id;
    s.retry_pass = retry_pass;
    s.cursor = (char *)cursor;
    s.next_cursor = (char *)next;
    s.items = ptrs;
    s.n_items = n;
    cmd.body_case = COMMAND__BODY_SYNC_INVOICES;
    cmd.sync_invoices = &s;
    fx_apply_as(f, "default", T0 + 3000, &cmd, res);
}

/* Sets file @file_id's invoice, its invoice_local and match, straight in the store. */
static void shape_file(struct fx *f, const char *file_id, bool local, const char *match)
{
    struct base_err err;
    FileRecord *r;
    Invoice inv = INVOICE__INIT;
    struct key k;
    assert_int_equal(archive_get_file(&f->a, "default", file_id, &r, &err), 0);
    inv.number = "N-LOCAL";
    inv.tax = "6.00";
    inv.amount = "100.00";
    r->invoice = &inv;
    r->invoice_local = local;
    r->match = (char *)match;
    key_pair(&k, "default", file_id);
    put_raw(f, ARCHIVE_CF_FILES, &k, &r->base);
    r->invoice = NULL;
    r->match = NULL;
    archive_free_file(r);
}

static Invoice *file_invoice(struct fx *f, const char *file_id, FileRecord **keep)
{
    struct base_err err;
    assert_int_equal(archive_get_file(&f->a, "default", file_id, keep, &err), 0);
    assert_non_null((*keep)->invoice);
    return (*keep)->invoice;
}

static SyncFailure *failure(struct fx *f, const char *file_id);

struct find {
    const char *file_id;
    SyncFailure *out;
};

static bool find_cb(const SyncFailure *s, void *arg)
{
    struct find *fd = arg;
    if (strcmp(s->file_id, fd->file_id) == 0) {
        size_t n = protobuf_c_message_get_packed_size(&s->base);
        uint8_t *buf = malloc(n + 1);
        protobuf_c_message_pack(&s->base, buf);
        fd->out = sync_failure__unpack(NULL, n, buf);
        free(buf);
    }
    return true;
}

static SyncFailure *failure(struct fx *f, const char *file_id)
{
    struct base_err err;
    struct find fd = {.file_id = file_id};
    assert_int_equal(archive_each_sync_failure(&f->a, "default", NULL, find_cb, &fd, &err), 0);
    return fd.out;
}

static void settings_are_checked(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    SyncSettings *s;
    char *dup[] = {"a", "a"}, *bad_field[] = {"colour"}, *orgs[] = {"org-a", "org-b"},
         *protect[] = {"tax"};
    settings(f, "old", "02:00", NULL, 0, NULL, 0, &res);
    expect(&res, ARCHIVE_R_DATASOURCE_NOT_FOUND, "old");
    put_datasource(f, "old");
    settings(f, "old", "24:00", NULL, 0, NULL, 0, &res);
    expect(&res, ARCHIVE_R_INVALID, "HH:MM");
    settings(f, "old", "02:00", dup, 2, NULL, 0, &res);
    expect(&res, ARCHIVE_R_INVALID, "distinct");
    settings(f, "old", "02:00", NULL, 0, bad_field, 1, &res);
    expect(&res, ARCHIVE_R_INVALID, "colour");
    assert_int_equal(archive_get_sync_settings(&f->a, "default", &s, &err), BASE_ENOTFOUND);
    settings(f, "old", "02:00", orgs, 2, protect, 1, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(archive_get_sync_settings(&f->a, "default", &s, &err), 0);
    assert_string_equal(s->daily_at, "02:00");
    assert_int_equal(s->n_orgs, 2);
    assert_string_equal(s->protected_fields[0], "tax");
    assert_string_equal(s->updated_by, "tester");
    sync_settings__free_unpacked(s, NULL);
}

static bool count_queue(const char *tenant, const char *run_id, void *arg)
{
    (void)tenant;
    (void)run_id;
    (*(int *)arg)++;
    return true;
}

static void runs_are_made_per_org_and_a_named_run_once(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *orgs[] = {"org-a", "org-b"}, id[64];
    SyncRunRecord *r;
    int queued = 0;
    make_run(f, NULL, NULL, "full", "", &res);
    expect(&res, ARCHIVE_R_SYNC_NOT_FOUND, "sync settings");
    put_datasource(f, "old");
    settings(f, "old", "02:00", orgs, 2, NULL, 0, &res);
    make_run(f, NULL, NULL, "date", "2026-13-01", &res);
    expect(&res, ARCHIVE_R_INVALID, NULL);
    make_run(f, NULL, NULL, "bill", "", &res); /* no image number */
    expect(&res, ARCHIVE_R_INVALID, NULL);
    make_run(f, NULL, NULL, "full", "", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(res.position, 2);
    snprintf(id, sizeof id, "run-%012llu-2", (unsigned long long)f->index);
    r = get_run(f, id);
    assert_string_equal(r->org, "org-b");
    assert_string_equal(r->state, "pending");
    assert_string_equal(r->kind, "full");
    assert_int_equal(r->attempts, 1);
    sync_run_record__free_unpacked(r, NULL);
    make_run(f, "daily-2026-12-06-org-a", "org-a", "scheduled", "2026-12-06", &res);
    expect(&res, ARCHIVE_OK, NULL);
    make_run(f, "daily-2026-12-06-org-a", "org-a", "scheduled", "2026-12-06", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "exists");
    assert_int_equal(archive_each_queued_sync_run(&f->a, count_queue, &queued, &err), 0);
    assert_int_equal(queued, 3);
}

static void records_keep_protected_local_and_matched_data(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    char *orgs[] = {"org-a"}, *protect[] = {"tax"};
    const char *files[] = {"F1", "F2", "F3", "F9", ""};
    Invoice inv = INVOICE__INIT;
    FileRecord *keep;
    SyncRunRecord *r;
    SyncFailure *fl;
    put_datasource(f, "old");
    settings(f, "old", "02:00", orgs, 1, protect, 1, &res);
    fx_add_file(f, "IMG1", "F1", "a.pdf", NULL, 1, &res);
    expect(&res, ARCHIVE_OK, NULL);
    fx_add_file(f, "IMG1", "F2", "b.pdf", NULL, 2, &res);
    fx_add_file(f, "IMG1", "F3", "c.pdf", NULL, 3, &res);
    shape_file(f, "F1", false, "");
    shape_file(f, "F2", true, "");
    shape_file(f, "F3", false, "INV-9");
    make_run(f, "r1", NULL, "full", "", &res);
    expect(&res, ARCHIVE_OK, NULL);
    inv.number = "N-SRC";
    inv.amount = "200.00";
    inv.tax = "12.00";
    inv.total = "212.00";
    /* A page before the retry pass does not follow. */
    step(f, "r1", false, "", "", files, 1, &inv, &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "does not follow");
    step(f, "r1", true, "", "", NULL, 0, &inv, &res);
    expect(&res, ARCHIVE_OK, NULL);
    step(f, "r1", true, "", "", NULL, 0, &inv, &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "retry pass");
    step(f, "r1", false, "", "c2", files, 5, &inv, &res);
    expect(&res, ARCHIVE_OK, NULL);
    step(f, "r1", false, "", "c3", files, 1, &inv, &res); /* a late page */
    expect(&res, ARCHIVE_R_INVALID_STATE, "does not follow");
    r = get_run(f, "r1");
    assert_string_equal(r->state, "running");
    assert_int_equal(r->succeeded, 1);
    assert_int_equal(r->skipped, 1);
    assert_int_equal(r->failed, 3); /* matched, missing, the source's error */
    sync_run_record__free_unpacked(r, NULL);
    /* F1: the source's data but its protected tax. */
    assert_string_equal(file_invoice(f, "F1", &keep)->number, "N-SRC");
    assert_string_equal(keep->invoice->amount, "200.00");
    assert_string_equal(keep->invoice->total, "212.00");
    assert_string_equal(keep->invoice->tax, "6.00");
    archive_free_file(keep);
    /* F2 was edited here; F3 is matched. */
    assert_string_equal(file_invoice(f, "F2", &keep)->number, "N-LOCAL");
    archive_free_file(keep);
    assert_string_equal(file_invoice(f, "F3", &keep)->number, "N-LOCAL");
    archive_free_file(keep);
    fl = failure(f, "F3");
    assert_non_null(fl);
    assert_non_null(strstr(fl->reason, "matched"));
    assert_string_equal(fl->state, "retrying");
    assert_int_equal(fl->attempts, 1);
    sync_failure__free_unpacked(fl, NULL);
    fl = failure(f, "F9");
    assert_non_null(strstr(fl->reason, "not in this archive"));
    sync_failure__free_unpacked(fl, NULL);
    /* The last page ends the run. */
    step(f, "r1", false, "c2", "", NULL, 0, &inv, &res);
    expect(&res, ARCHIVE_OK, NULL);
    r = get_run(f, "r1");
    assert_string_equal(r->state, "failed");
    assert_string_equal(r->result, "partial");
    assert_non_null(strstr(r->message, "check network and configuration"));
    assert_true(r->finished_ms > 0);
    sync_run_record__free_unpacked(r, NULL);
    step(f, "r1", false, "", "", NULL, 0, &inv, &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "failed");
}

static void failures_are_given_up_at_the_third_attempt(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    const char *files[] = {"F9"};
    Invoice inv = INVOICE__INIT;
    SyncFailure *fl;
    char *orgs[] = {"org-a"};
    const char *want[] = {"retrying", "retrying", "given_up", "given_up"};
    const unsigned attempts[] = {1, 2, 3, 3};
    put_datasource(f, "old");
    settings(f, "old", "02:00", orgs, 1, NULL, 0, &res);
    fx_add_file(f, "IMG1", "F1", "a.pdf", NULL, 1, &res);
    inv.number = "N";
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        make_run(f, id, NULL, "full", "", &res);
        expect(&res, ARCHIVE_OK, NULL);
        /* Tried in the retry pass and on a page of the same run: one attempt. */
        step(f, id, true, "", "", files, i > 0 ? 1 : 0, &inv, &res);
        expect(&res, ARCHIVE_OK, NULL);
        step(f, id, false, "", "", files, 1, &inv, &res);
        expect(&res, ARCHIVE_OK, NULL);
        fl = failure(f, "F9");
        assert_string_equal(fl->state, want[i]);
        assert_int_equal(fl->attempts, attempts[i]);
        sync_failure__free_unpacked(fl, NULL);
    }
    {
        Command cmd = COMMAND__INIT;
        RetrySyncFailures r = RETRY_SYNC_FAILURES__INIT;
        r.org = "";
        cmd.body_case = COMMAND__BODY_RETRY_SYNC_FAILURES;
        cmd.retry_sync_failures = &r;
        fx_apply_as(f, "default", T0 + 5000, &cmd, &res);
        expect(&res, ARCHIVE_R_INVALID, "organisation");
        r.all = true;
        fx_apply_as(f, "default", T0 + 5000, &cmd, &res);
        expect(&res, ARCHIVE_OK, NULL);
        assert_int_equal(res.position, 1);
    }
    fl = failure(f, "F9");
    assert_string_equal(fl->state, "retrying");
    assert_int_equal(fl->attempts, 0);
    sync_failure__free_unpacked(fl, NULL);
    /* Applied at last: the record is gone. */
    fx_add_file(f, "IMG1", "F9", "z.pdf", NULL, 9, &res);
    make_run(f, "r9", NULL, "full", "", &res);
    step(f, "r9", true, "", "", files, 1, &inv, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_null(failure(f, "F9"));
}

static void a_failed_daily_run_is_tried_again_once_a_day(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    Command cmd = COMMAND__INIT;
    SyncRunFailed fail = SYNC_RUN_FAILED__INIT;
    RetrySyncRun rr = RETRY_SYNC_RUN__INIT;
    SyncRunRecord *r;
    put_datasource(f, "old");
    settings(f, "old", "02:00", NULL, 0, NULL, 0, &res);
    make_run(f, "daily-2026-12-05", NULL, "scheduled", "2026-12-05", &res);
    expect(&res, ARCHIVE_OK, NULL);
    rr.run_id = "daily-2026-12-05";
    rr.day = "2026-12-06";
    cmd.body_case = COMMAND__BODY_RETRY_SYNC_RUN;
    cmd.retry_sync_run = &rr;
    fx_apply_as(f, "default", T0 + 4000, &cmd, &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "not to be tried again"); /* still pending */
    for (unsigned attempt = 1; attempt <= 3; attempt++) {
        Command fc = COMMAND__INIT;
        char day[16];
        fail.run_id = "daily-2026-12-05";
        fail.message = "the source does not answer: sync by hand";
        fc.body_case = COMMAND__BODY_SYNC_RUN_FAILED;
        fc.sync_run_failed = &fail;
        fx_apply_as(f, "default", T0 + 4000, &fc, &res);
        expect(&res, ARCHIVE_OK, NULL);
        r = get_run(f, "daily-2026-12-05");
        assert_string_equal(r->state, "failed");
        assert_string_equal(r->result, "error");
        assert_int_equal(r->attempts, attempt);
        sync_run_record__free_unpacked(r, NULL);
        snprintf(day, sizeof day, "2026-12-%02u", 5 + attempt);
        rr.day = day;
        fx_apply_as(f, "default", T0 + 4000, &cmd, &res);
        if (attempt < 3) {
            expect(&res, ARCHIVE_OK, NULL);
            fx_apply_as(f, "default", T0 + 4000, &cmd, &res); /* the same day again */
            expect(&res, ARCHIVE_R_INVALID_STATE, NULL);
            r = get_run(f, "daily-2026-12-05");
            assert_string_equal(r->state, "pending");
            sync_run_record__free_unpacked(r, NULL);
        } else {
            expect(&res, ARCHIVE_R_INVALID_STATE, "attempt 3");
        }
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(settings_are_checked, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(runs_are_made_per_org_and_a_named_run_once, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(records_keep_protected_local_and_matched_data, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(failures_are_given_up_at_the_third_attempt, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(a_failed_daily_run_is_tried_again_once_a_day, fx_setup,
                                    fx_teardown),
};

TESTLIB_MAIN("apply_sync", tests)
