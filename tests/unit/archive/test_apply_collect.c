/* The state machine's collected files (archive/apply_collect.c): CollectFile,
 * SubmitCollected and PurgeCollected applied to a real RocksDB, with their refusals,
 * their usage and blob references, and a repeated submit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/blobs.h"
#include "archive/collect.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define HOUR (3600ull * 1000)

static void collect_as(struct fx *f, const char *tenant, const char *file_no,
                       const char *file_type, uint64_t size, uint8_t blob_byte, uint64_t now,
                       struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    CollectFile c = COLLECT_FILE__INIT;
    uint8_t blob[32];
    uint64_t holders[] = {1};
    memset(blob, blob_byte, sizeof blob);
    c.file_no = (char *)file_no;
    c.name = "x.pdf";
    c.format = "pdf";
    c.size = size;
    c.pages = 2;
    c.blob.data = blob;
    c.blob.len = sizeof blob;
    c.holders = holders;
    c.n_holders = 1;
    c.file_type = (char *)file_type;
    c.resource = "REG_SDJ";
    cmd.body_case = COMMAND__BODY_COLLECT_FILE;
    cmd.collect_file = &c;
    fx_apply_as(f, tenant, now, &cmd, res);
}

static void collect(struct fx *f, const char *file_no, const char *file_type,
                    uint64_t size, uint8_t blob_byte, struct archive_result *res)
{
    collect_as(f, "default", file_no, file_type, size, blob_byte, T0, res);
}

static void submit_collected(struct fx *f, const char *image_no, char **file_nos,
                             size_t n, bool create, bool replace, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SubmitCollected s = SUBMIT_COLLECTED__INIT;
    s.image_no = (char *)image_no;
    s.file_nos = file_nos;
    s.n_file_nos = n;
    s.create = create;
    s.replace = replace;
    s.bill_type = "BX";
    cmd.body_case = COMMAND__BODY_SUBMIT_COLLECTED;
    cmd.submit_collected = &s;
    fx_apply_as(f, "default", T0 + 1, &cmd, res);
}

static void purge(struct fx *f, char **file_nos, size_t n, uint64_t max_age, uint64_t now,
                  struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    PurgeCollected p = PURGE_COLLECTED__INIT;
    p.file_nos = file_nos;
    p.n_file_nos = n;
    p.max_age_ms = max_age;
    cmd.body_case = COMMAND__BODY_PURGE_COLLECTED;
    cmd.purge_collected = &p;
    fx_apply_as(f, "default", now, &cmd, res);
}

static UsageRecord *usage(struct fx *f, const char *tenant)
{
    struct base_err err;
    UsageRecord *u;
    assert_int_equal(archive_get_usage(&f->a, tenant, &u, &err), 0);
    return u;
}

static uint64_t blob_refs(struct fx *f, uint8_t blob_byte)
{
    struct base_err err;
    uint8_t hash[32];
    BlobRecord *b;
    uint64_t refs;
    memset(hash, blob_byte, sizeof hash);
    if (archive_read_blob(&f->a, hash, &b, &err) != 0) {
        return UINT64_MAX;
    }
    refs = b->refs;
    blob_record__free_unpacked(b, NULL);
    return refs;
}

static void collected_files_join_a_bill_in_order(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *list[] = {"fc1", "fc2", "fc3"};
    BillRecord *bill;
    BillOrder *order;
    FileRecord *file;
    UsageRecord *u;
    collect(f, "fc1", "cover", 100, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    collect(f, "fc2", "invoice", 200, 2, &res);
    collect(f, "fc3", "attach", 300, 2, &res); /* same content as fc2 */
    assert_int_equal(res.status, ARCHIVE_OK);
    u = usage(f, "default");
    assert_int_equal(u->bytes, 600);
    assert_int_equal(u->files, 3);
    assert_int_equal(u->bills, 0);
    assert_int_equal(u->physical_bytes, 300);
    archive_free_usage(u);
    assert_int_equal(blob_refs(f, 2), 2);

    submit_collected(f, "BX-C1", list, 3, false, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_BILL_NOT_FOUND);
    submit_collected(f, "BX-C1", list, 3, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.created);
    assert_string_equal(res.state, "captured");
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-C1", &bill, &err), 0);
    assert_int_equal(bill->files, 3);
    assert_int_equal(bill->covers, 1);
    assert_int_equal(bill->invoice_files, 1);
    assert_int_equal(bill->attachments, 1);
    assert_int_equal(bill->bytes, 600);
    assert_string_equal(bill->bill_type, "BX");
    archive_free_bill(bill);
    assert_int_equal(archive_get_order(&f->a, "default", "BX-C1", &order, &err), 0);
    assert_int_equal(order->n_file_ids, 3);
    assert_string_equal(order->file_ids[0], "fc1");
    assert_string_equal(order->file_ids[2], "fc3");
    archive_free_order(order);
    assert_int_equal(archive_get_file(&f->a, "default", "fc2", &file, &err), 0);
    assert_string_equal(file->category, "invoice");
    assert_int_equal(file->size, 200);
    assert_int_equal(file->pages, 2);
    archive_free_file(file);
    /* The references moved with the files; usage is unchanged but for the bill. */
    assert_int_equal(blob_refs(f, 2), 2);
    u = usage(f, "default");
    assert_int_equal(u->bytes, 600);
    assert_int_equal(u->files, 3);
    assert_int_equal(u->bills, 1);
    archive_free_usage(u);
}

static void a_repeated_submit_changes_nothing_and_misuse_is_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *one[] = {"fr1"}, *both[] = {"fr1", "fr2"}, *twice[] = {"fr2", "fr2"},
         *unknown[] = {"nope"};
    BillRecord *bill;
    collect(f, "fr1", "attach", 10, 1, &res);
    collect(f, "fr2", "attach", 10, 2, &res);
    submit_collected(f, "BX-R", one, 1, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    submit_collected(f, "BX-R", one, 1, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.replayed);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-R", &bill, &err), 0);
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
    submit_collected(f, "BX-R2", one, 1, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID_STATE); /* joined BX-R */
    submit_collected(f, "BX-R", both, 2, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID_STATE); /* half new, half joined */
    submit_collected(f, "BX-R", twice, 2, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    submit_collected(f, "BX-R", unknown, 1, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    submit_collected(f, "BX-R", NULL, 0, true, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    /* Another tenant's file is unknown here. */
    {
        Command cmd = COMMAND__INIT;
        SubmitCollected s = SUBMIT_COLLECTED__INIT;
        char *l[] = {"fr2"};
        fx_create_tenant(f, "other", "other", &res);
        s.image_no = "BX-O";
        s.file_nos = l;
        s.n_file_nos = 1;
        s.create = true;
        cmd.body_case = COMMAND__BODY_SUBMIT_COLLECTED;
        cmd.submit_collected = &s;
        fx_apply_as(f, "other", T0, &cmd, &res);
        assert_true(res.status == ARCHIVE_R_FILE_NOT_FOUND || res.status == ARCHIVE_R_LICENSE);
    }
}

static void upload_replaces_and_add_appends(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *a[] = {"fu1"}, *b[] = {"fu2"}, *c[] = {"fu3"};
    BillOrder *order;
    UsageRecord *u;
    collect(f, "fu1", "attach", 10, 1, &res);
    collect(f, "fu2", "attach", 20, 2, &res);
    collect(f, "fu3", "invoice", 30, 3, &res);
    submit_collected(f, "BX-U", a, 1, true, true, &res);
    submit_collected(f, "BX-U", b, 1, false, false, &res); /* add */
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_order(&f->a, "default", "BX-U", &order, &err), 0);
    assert_int_equal(order->n_file_ids, 2);
    archive_free_order(order);
    submit_collected(f, "BX-U", c, 1, false, true, &res); /* upload: replaces */
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_order(&f->a, "default", "BX-U", &order, &err), 0);
    assert_int_equal(order->n_file_ids, 1);
    assert_string_equal(order->file_ids[0], "fu3");
    archive_free_order(order);
    u = usage(f, "default");
    assert_int_equal(u->bytes, 30);
    assert_int_equal(u->files, 1);
    assert_int_equal(u->physical_bytes, 30);
    archive_free_usage(u);
    assert_int_equal(blob_refs(f, 1), 0);
    /* Once submitted, the files are not replaced any more. */
    {
        Command cmd = COMMAND__INIT;
        SubmitBill sb = SUBMIT_BILL__INIT;
        char *d[] = {"fu4"};
        sb.image_no = "BX-U";
        cmd.body_case = COMMAND__BODY_SUBMIT;
        cmd.submit = &sb;
        fx_apply_as(f, "default", T0 + 2, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_OK);
        collect(f, "fu4", "attach", 5, 4, &res);
        submit_collected(f, "BX-U", d, 1, false, true, &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID_STATE);
        assert_int_equal(archive_get_order(&f->a, "default", "BX-U", &order, &err), 0);
        assert_int_equal(order->n_file_ids, 1);
        archive_free_order(order);
    }
}

static void collect_needs_a_license_room_and_a_new_number(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    fx_create_tenant(f, "acme", "acme", &res);
    collect_as(f, "acme", "fl1", "attach", 10, 1, T0, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE);
    fx_install_license(f, "acme", "L1", T0, T0 + 24 * HOUR, 100, 10, 1, T0, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    collect_as(f, "acme", "fl1", "attach", 60, 1, T0 + 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    collect_as(f, "acme", "fl2", "attach", 41, 2, T0 + 1, &res);
    assert_int_equal(res.status, ARCHIVE_R_QUOTA_BYTES);
    collect_as(f, "acme", "fl1", "attach", 1, 3, T0 + 1, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID); /* number in use */
    collect_as(f, "acme", "fl3", "photo", 1, 3, T0 + 1, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    collect_as(f, "acme", "fl4", "attach", 1, 3, T0 + 25 * HOUR, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE); /* expired */
}

static void purge_releases_what_never_joined(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *joined[] = {"fp1"}, *all[] = {"fp1", "fp2", "nope", "bad\x01"};
    CollectedRecord *rec;
    BillRecord *bill;
    UsageRecord *u;
    collect(f, "fp1", "attach", 10, 1, &res);
    collect(f, "fp2", "attach", 20, 2, &res);
    submit_collected(f, "BX-P", joined, 1, true, false, &res);
    purge(f, all, 4, 24 * HOUR, T0 + HOUR, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 0); /* too young */
    assert_int_equal(archive_get_collected(&f->a, "default", "fp2", &rec, &err), 0);
    collected_record__free_unpacked(rec, NULL);
    purge(f, all, 4, 24 * HOUR, T0 + 24 * HOUR, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 2);
    assert_int_equal(archive_get_collected(&f->a, "default", "fp1", &rec, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_get_collected(&f->a, "default", "fp2", &rec, &err), BASE_ENOTFOUND);
    u = usage(f, "default");
    assert_int_equal(u->bytes, 10); /* fp1 is in its bill */
    assert_int_equal(u->files, 1);
    assert_int_equal(u->physical_bytes, 10);
    archive_free_usage(u);
    assert_int_equal(blob_refs(f, 1), 1);
    assert_int_equal(blob_refs(f, 2), 0);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-P", &bill, &err), 0);
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
    /* Purging again changes nothing. */
    purge(f, all, 4, 24 * HOUR, T0 + 48 * HOUR, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(collected_files_join_a_bill_in_order, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(a_repeated_submit_changes_nothing_and_misuse_is_refused,
                                    fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(upload_replaces_and_add_appends, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(collect_needs_a_license_room_and_a_new_number, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(purge_releases_what_never_joined, fx_setup, fx_teardown),
};

TESTLIB_MAIN("apply_collect", tests)
