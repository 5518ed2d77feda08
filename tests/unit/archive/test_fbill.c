/* The ERP's identity of pool bills (archive/fbill.c): the fbill_id index apply keeps in
 * the bill's own batch, its refusals, the identity fields' rules, and the bill list's
 * exact filters, applied to a real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0

/* A pool push of @image_no by @tenant at @time_ms; @p carries the other fields. */
static void push_as(struct fx *f, const char *tenant, uint64_t time_ms, PoolPush *p,
                    const char *image_no, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    fx_stamp(&cmd, tenant, time_ms);
    p->image_no = (char *)image_no;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = p;
    fx_apply(f, &cmd, res);
}

static enum archive_status push(struct fx *f, const char *image_no, const char *fbill_id,
                                const char *bill_no)
{
    PoolPush p = POOL_PUSH__INIT;
    struct archive_result res;
    p.fbill_id = (char *)fbill_id;
    p.bill_no = (char *)bill_no;
    push_as(f, "default", T0 + f->index * 1000, &p, image_no, &res);
    return res.status;
}

/* The image number the index gives for @fbill_id, or "" when none. */
static const char *found(struct fx *f, const char *tenant, const char *fbill_id)
{
    static char image_no[ARCHIVE_IMAGE_NO_MAX + 1];
    struct base_err err;
    int rv = archive_find_bill_by_fbill_id(&f->a, tenant, fbill_id, image_no, &err);
    if (rv == BASE_ENOTFOUND) {
        return "";
    }
    assert_int_equal(rv, 0);
    return image_no;
}

static const char *bill_field(struct fx *f, const char *image_no, const char *which)
{
    static char out[256];
    struct base_err err;
    BillRecord *b;
    assert_int_equal(archive_get_bill(&f->a, "default", image_no, &b, &err), 0);
    snprintf(out, sizeof out, "%s",
             strcmp(which, "fbill_id") == 0 ? b->fbill_id
             : strcmp(which, "bill_no") == 0 ? b->bill_no
                                             : b->source);
    archive_free_bill(b);
    return out;
}

static void push_indexes_the_fbill_id(void **state)
{
    struct fx *f = *state;
    assert_string_equal(found(f, "default", "EAS/Q+x="), "");
    assert_int_equal(push(f, "BX-1", "EAS/Q+x=", "ER-1"), ARCHIVE_OK);
    assert_string_equal(found(f, "default", "EAS/Q+x="), "BX-1");
    assert_string_equal(bill_field(f, "BX-1", "fbill_id"), "EAS/Q+x=");
    /* The same push again, and one that leaves the id out, keep it. */
    assert_int_equal(push(f, "BX-1", "EAS/Q+x=", "ER-1"), ARCHIVE_OK);
    assert_int_equal(push(f, "BX-1", "", "ER-1b"), ARCHIVE_OK);
    assert_string_equal(bill_field(f, "BX-1", "fbill_id"), "EAS/Q+x=");
    assert_string_equal(bill_field(f, "BX-1", "bill_no"), "ER-1b");
    assert_string_equal(found(f, "default", "EAS/Q+x="), "BX-1");
    /* Ids no bill can have are simply not found. */
    assert_string_equal(found(f, "default", "has space"), "");
    assert_string_equal(found(f, "default", ""), "");
}

static void another_bill_cannot_take_an_fbill_id(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    PoolPush p = POOL_PUSH__INIT;
    BillRecord *b;
    struct base_err err;
    assert_int_equal(push(f, "BX-1", "F-1", "ER-1"), ARCHIVE_OK);
    p.fbill_id = "F-1";
    push_as(f, "default", T0 + 5000, &p, "BX-2", &res);
    assert_int_equal(res.status, ARCHIVE_R_FBILL_CONFLICT);
    assert_non_null(strstr(res.message, "BX-1"));
    /* Refused as a whole: no bill BX-2, the index unchanged. */
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-2", &b, &err), BASE_ENOTFOUND);
    assert_string_equal(found(f, "default", "F-1"), "BX-1");
    /* A bill captured first cannot take it either. */
    assert_int_equal(push(f, "BX-3", "", "ER-3"), ARCHIVE_OK);
    assert_int_equal(push(f, "BX-3", "F-1", "ER-3"), ARCHIVE_R_FBILL_CONFLICT);
    assert_string_equal(bill_field(f, "BX-3", "fbill_id"), "");
}

static void an_fbill_id_never_changes(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    PoolPush p = POOL_PUSH__INIT;
    assert_int_equal(push(f, "BX-1", "F-1", "ER-1"), ARCHIVE_OK);
    p.fbill_id = "F-2";
    p.bill_no = "changed";
    push_as(f, "default", T0 + 5000, &p, "BX-1", &res);
    assert_int_equal(res.status, ARCHIVE_R_FBILL_CONFLICT);
    assert_non_null(strstr(res.message, "F-1"));
    assert_string_equal(bill_field(f, "BX-1", "fbill_id"), "F-1");
    assert_string_equal(bill_field(f, "BX-1", "bill_no"), "ER-1");
    assert_string_equal(found(f, "default", "F-2"), "");
    /* F-2 is still free for another bill. */
    assert_int_equal(push(f, "BX-2", "F-2", "ER-2"), ARCHIVE_OK);
    assert_string_equal(found(f, "default", "F-2"), "BX-2");
}

static void fbill_ids_are_per_tenant(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    PoolPush p = POOL_PUSH__INIT;
    fx_create_tenant(f, "t2", "Tenant two", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_install_license(f, "t2", "L-t2", T0, T0 + 86400000ull * 365, 1u << 30, 0, 7, T0, &res);
    assert_int_equal(res.status, ARCHIVE_OK);

    assert_int_equal(push(f, "BX-1", "F-1", "ER-1"), ARCHIVE_OK);
    p.fbill_id = "F-1";
    push_as(f, "t2", T0 + 5000, &p, "BX-9", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(found(f, "default", "F-1"), "BX-1");
    assert_string_equal(found(f, "t2", "F-1"), "BX-9");
}

static void malformed_identity_fields_are_refused(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *field;
        const char *value;
    } bad[] = {
        {"fbill_id", "has space"}, {"fbill_id", "tab\there"}, {"source", "E AS"},
        {"submitter_phone", "call me"}, {"tax_no", "9131-00"}, {"org_name", "a\nb"},
    };
    char long_id[ARCHIVE_FBILL_ID_MAX + 2];
    struct archive_result res;
    char msg[160];
    BillRecord *b;
    struct base_err err;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        PoolPush p = POOL_PUSH__INIT;
        char **slot = strcmp(bad[i].field, "fbill_id") == 0          ? &p.fbill_id
                      : strcmp(bad[i].field, "source") == 0          ? &p.source
                      : strcmp(bad[i].field, "submitter_phone") == 0 ? &p.submitter_phone
                      : strcmp(bad[i].field, "tax_no") == 0          ? &p.tax_no
                                                                     : &p.org_name;
        *slot = (char *)bad[i].value;
        assert_false(archive_pool_identity_valid(&p, msg, sizeof msg));
        assert_non_null(strstr(msg, bad[i].field));
        push_as(f, "default", T0 + 5000, &p, "BX-BAD", &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID);
        assert_non_null(strstr(res.message, bad[i].field));
    }
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    assert_false(archive_valid_fbill_id(long_id));
    long_id[ARCHIVE_FBILL_ID_MAX] = '\0';
    assert_true(archive_valid_fbill_id(long_id));
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-BAD", &b, &err), BASE_ENOTFOUND);
    {
        PoolPush p = POOL_PUSH__INIT;
        p.fbill_id = "QWTuNOdJT3Cdhr0ltl2hfcznrtQ=";
        p.source = "EAS";
        p.submitter_phone = "+86 (10) 1234-5678";
        p.tax_no = "91310000MA1K4A2B3C";
        p.org_name = "华东分公司";
        assert_true(archive_pool_identity_valid(&p, msg, sizeof msg));
    }
}

struct listed {
    char names[16][ARCHIVE_IMAGE_NO_MAX + 1];
    size_t n;
};

static void collect(const BillRecord *b, void *arg)
{
    struct listed *l = arg;
    assert_true(l->n < 16);
    snprintf(l->names[l->n++], sizeof l->names[0], "%s", b->image_no);
}

static size_t list(struct fx *f, const struct archive_bill_filter *filter,
                   struct archive_bill_page *page, struct listed *out)
{
    struct base_err err;
    memset(out, 0, sizeof *out);
    assert_int_equal(archive_list_bills(&f->a, "default", filter, collect, out, page, &err), 0);
    return out->n;
}

static void list_filters_are_exact_and_bounded(void **state)
{
    struct fx *f = *state;
    struct archive_bill_page page;
    char cursor[ARCHIVE_IMAGE_NO_MAX + 1];
    struct listed l;
    uint64_t t2;
    assert_int_equal(push(f, "BX-1", "F-1", "ER-1"), ARCHIVE_OK);
    assert_int_equal(push(f, "BX-2", "F-2", "ER-10"), ARCHIVE_OK);
    t2 = T0 + f->index * 1000; /* BX-3's creation time (push() stamps it so) */
    assert_int_equal(push(f, "BX-3", "", "ER-1"), ARCHIVE_OK);
    assert_int_equal(push(f, "BX-4", "", "ER-4"), ARCHIVE_OK);

    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .bill_no = "ER-1"},
                          &page, &l), 2);
    assert_string_equal(l.names[0], "BX-1");
    assert_string_equal(l.names[1], "BX-3");
    /* The ERP id: one point read, not a scan. */
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .fbill_id = "F-2"},
                          &page, &l), 1);
    assert_string_equal(l.names[0], "BX-2");
    assert_int_equal(page.scanned, 1);
    assert_false(page.more);
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .fbill_id = "F-2",
                                                           .bill_no = "ER-1"},
                          &page, &l), 0);
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .fbill_id = "F-9"},
                          &page, &l), 0);
    assert_int_equal(page.scanned, 0);
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .image_no = "BX-4"},
                          &page, &l), 1);
    assert_int_equal(page.scanned, 1);
    /* Creation: from inclusive, to exclusive. */
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .created_from_ms = t2},
                          &page, &l), 2);
    assert_string_equal(l.names[0], "BX-3");
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .created_to_ms = t2},
                          &page, &l), 2);
    assert_string_equal(l.names[1], "BX-2");
    /* The scan budget ends a page early, with where to go on. */
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .bill_no = "ER-4",
                                                           .scan_max = 2},
                          &page, &l), 0);
    assert_true(page.more);
    assert_string_equal(page.resume_after, "BX-2");
    assert_int_equal(page.scanned, 2);
    snprintf(cursor, sizeof cursor, "%s", page.resume_after);
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 10, .bill_no = "ER-4",
                                                           .scan_max = 2, .after = cursor},
                          &page, &l), 1);
    assert_string_equal(l.names[0], "BX-4");
    assert_false(page.more);
    /* The limit: more, resuming after the last bill listed. */
    assert_int_equal(list(f, &(struct archive_bill_filter){.limit = 1, .bill_no = "ER-1"},
                          &page, &l), 1);
    assert_true(page.more);
    assert_string_equal(page.resume_after, "BX-2");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(push_indexes_the_fbill_id, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(another_bill_cannot_take_an_fbill_id, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(an_fbill_id_never_changes, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(fbill_ids_are_per_tenant, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(malformed_identity_fields_are_refused, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(list_filters_are_exact_and_bounded, fx_setup, fx_teardown),
};

TESTLIB_MAIN("fbill", tests)
