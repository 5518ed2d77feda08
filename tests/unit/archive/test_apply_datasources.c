/* Data sources (archive/apply_datasources.c, datasources.c): creation checks every
 * field, an update changes only what it names and keeps the secret when it sends none,
 * disabling and enabling, the kind never changes, deletion is refused while a batch
 * that is not over uses the source, and the admin audit never holds the secret. Every
 * refusal leaves the store as it was. Real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/keys.h"
#include "archive/migration.h"
#include "storage/rocks.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0
#define SECRET "s3cret-app-secret-value"

struct ds {
    const char *name, *kind, *url, *source_tenant, *client_id, *secret, *account_id, *user,
        *list_path;
};

static const struct ds VENDOR = {"old-vendor", "vendor", "https://img.example.com/ierp",
                                 "tn1", "app1", SECRET, "acc1", "erpuser", NULL};
static const struct ds IMGARC = {"other", "imgarc", "http://10.0.0.9:8080", "acme", "mig",
                                 "0123456789abcdef", NULL, NULL, NULL};

static enum archive_status put(struct fx *f, const struct ds *d, bool create, int disabled,
                               char *msg, size_t size)
{
    Command cmd = COMMAND__INIT;
    PutDataSource c = PUT_DATA_SOURCE__INIT;
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    struct archive_result res;
    r.name = (char *)d->name;
    r.kind = (char *)(d->kind != NULL ? d->kind : "");
    r.url = (char *)(d->url != NULL ? d->url : "");
    r.source_tenant = (char *)(d->source_tenant != NULL ? d->source_tenant : "");
    r.client_id = (char *)(d->client_id != NULL ? d->client_id : "");
    r.secret = (char *)(d->secret != NULL ? d->secret : "");
    r.account_id = (char *)(d->account_id != NULL ? d->account_id : "");
    r.user = (char *)(d->user != NULL ? d->user : "");
    r.list_path = (char *)(d->list_path != NULL ? d->list_path : "");
    if (disabled >= 0) {
        r.disabled = disabled != 0;
        c.set_disabled = true;
    }
    c.source = &r;
    c.create = create;
    cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
    cmd.put_data_source = &c;
    fx_apply_as(f, "default", T0 + 10, &cmd, &res);
    if (msg != NULL) {
        snprintf(msg, size, "%s", res.message);
    }
    return res.status;
}

static enum archive_status del(struct fx *f, const char *name, char *msg, size_t size)
{
    Command cmd = COMMAND__INIT;
    DeleteDataSource c = DELETE_DATA_SOURCE__INIT;
    struct archive_result res;
    c.name = (char *)name;
    cmd.body_case = COMMAND__BODY_DELETE_DATA_SOURCE;
    cmd.delete_data_source = &c;
    fx_apply_as(f, "default", T0 + 20, &cmd, &res);
    if (msg != NULL) {
        snprintf(msg, size, "%s", res.message);
    }
    return res.status;
}

static DataSourceRecord *get(struct fx *f, const char *name)
{
    struct base_err err;
    DataSourceRecord *r = NULL;
    assert_int_equal(archive_get_datasource(&f->a, "default", name, &r, &err), 0);
    return r;
}

static bool exists(struct fx *f, const char *name)
{
    struct base_err err;
    DataSourceRecord *r = NULL;
    int rv = archive_get_datasource(&f->a, "default", name, &r, &err);
    if (r != NULL) {
        data_source_record__free_unpacked(r, NULL);
    }
    return rv == 0;
}

static void count_cb(const DataSourceRecord *r, void *arg)
{
    (void)r;
    (*(unsigned *)arg)++;
}

static unsigned count(struct fx *f)
{
    struct base_err err;
    unsigned n = 0;
    assert_int_equal(archive_list_datasources(&f->a, "default", count_cb, &n, &err), 0);
    return n;
}

static void audit_cb(const AuditRecord *e, void *arg)
{
    char *all = arg;
    size_t n = strlen(all);
    snprintf(all + n, 8192 - n, "%s %s\n", e->action, e->detail);
}

static void audit_text(struct fx *f, char *all)
{
    struct base_err err;
    bool more;
    all[0] = '\0';
    assert_int_equal(archive_list_admin_audit(&f->a, "default", 0, 1000, audit_cb, all, &more,
                                              &err), 0);
}

static void names_are_checked(void **state)
{
    (void)state;
    assert_true(archive_valid_migration_name("a"));
    assert_true(archive_valid_migration_name("Batch-2024.01_x"));
    assert_false(archive_valid_migration_name(""));
    assert_false(archive_valid_migration_name(NULL));
    assert_false(archive_valid_migration_name(".hidden"));
    assert_false(archive_valid_migration_name("a/b"));
    assert_false(archive_valid_migration_name("a b"));
    assert_false(archive_valid_migration_name(
        "x123456789x123456789x123456789x123456789x123456789x123456789x1234"));
    assert_true(archive_valid_migration_name(
        "x123456789x123456789x123456789x123456789x123456789x123456789x123"));
}

static void create_and_read(void **state)
{
    struct fx *f = *state;
    DataSourceRecord *r;
    char msg[256];
    assert_int_equal(put(f, &VENDOR, true, -1, msg, sizeof msg), ARCHIVE_OK);
    assert_int_equal(put(f, &IMGARC, true, -1, msg, sizeof msg), ARCHIVE_OK);
    r = get(f, "old-vendor");
    assert_string_equal(r->kind, "vendor");
    assert_string_equal(r->tenant, "default");
    assert_string_equal(r->url, "https://img.example.com/ierp");
    assert_string_equal(r->source_tenant, "tn1");
    assert_string_equal(r->client_id, "app1");
    assert_string_equal(r->secret, SECRET);
    assert_string_equal(r->account_id, "acc1");
    assert_string_equal(r->user, "erpuser");
    assert_string_equal(r->list_path, "/kapi/app/bds/queryBillList");
    assert_string_equal(r->created_by, "tester");
    assert_int_equal(r->created_ms, T0 + 10);
    assert_false(r->disabled);
    data_source_record__free_unpacked(r, NULL);
    r = get(f, "other");
    assert_string_equal(r->list_path, "");
    data_source_record__free_unpacked(r, NULL);
    assert_int_equal(count(f), 2);
    /* The same name again. */
    assert_int_equal(put(f, &VENDOR, true, -1, msg, sizeof msg), ARCHIVE_R_DATASOURCE_EXISTS);
}

static void bad_fields_are_refused(void **state)
{
    struct fx *f = *state;
    char msg[256];
    char long_url[600];
    char long_secret[600];
    struct ds d;
    memset(long_url, 0, sizeof long_url);
    memcpy(long_url, "https://h/", 10);
    memset(long_url + 10, 'a', 510);
    memset(long_secret, 'k', 513);
    long_secret[513] = '\0';
#define REFUSED(field, value, needle)                                                  \
    do {                                                                               \
        d = VENDOR;                                                                    \
        d.field = value;                                                               \
        assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_R_INVALID);    \
        if (strstr(msg, needle) == NULL) {                                             \
            fail_msg("%s: '%s' lacks '%s'", #field, msg, needle);                      \
        }                                                                              \
    } while (0)
    REFUSED(name, "bad name", "name");
    REFUSED(name, "", "name");
    REFUSED(kind, "sap", "kinds are imgarc and vendor");
    REFUSED(kind, NULL, "kinds are imgarc and vendor");
    REFUSED(url, "ftp://x", "http://");
    REFUSED(url, "", "http://");
    REFUSED(url, "https://", "no host");
    REFUSED(url, "https://h/x?a=1", "no query");
    REFUSED(url, "https://h/x#f", "no query");
    REFUSED(url, "https://h/a b", "spaces");
    REFUSED(url, long_url, "512");
    REFUSED(secret, "", "app_secret");
    REFUSED(secret, NULL, "app_secret");
    REFUSED(secret, long_secret, "app_secret");
    REFUSED(client_id, "", "app_id");
    REFUSED(source_tenant, "", "tenant_id");
    REFUSED(user, "", "user");
    REFUSED(user, "a\nb", "control");
    REFUSED(list_path, "kapi/x", "list_path");
    REFUSED(list_path, "/kapi/x?y=1", "list_path");
    d = IMGARC;
    d.user = "u";
    assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_R_INVALID);
    assert_non_null(strstr(msg, "vendor only"));
    d = IMGARC;
    d.client_id = "";
    assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_R_INVALID);
    assert_non_null(strstr(msg, "client_id"));
#undef REFUSED
    /* 512 bytes exactly is a URL still. */
    long_url[512] = '\0';
    long_url[511] = 'b';
    d = VENDOR;
    d.url = long_url;
    assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_OK);
    assert_int_equal(count(f), 1);
    /* A PutDataSource without a record. */
    {
        Command cmd = COMMAND__INIT;
        PutDataSource c = PUT_DATA_SOURCE__INIT;
        struct archive_result res;
        c.create = true;
        cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
        cmd.put_data_source = &c;
        fx_apply_as(f, "default", T0 + 10, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID);
    }
}

static void updates_keep_what_they_do_not_name(void **state)
{
    struct fx *f = *state;
    DataSourceRecord *r;
    char msg[256];
    struct ds d = {.name = "old-vendor"};
    assert_int_equal(put(f, &VENDOR, true, -1, msg, sizeof msg), ARCHIVE_OK);
    /* A new URL, no secret: the secret stays. */
    d.url = "https://new.example.com";
    assert_int_equal(put(f, &d, false, -1, msg, sizeof msg), ARCHIVE_OK);
    r = get(f, "old-vendor");
    assert_string_equal(r->url, "https://new.example.com");
    assert_string_equal(r->secret, SECRET);
    assert_string_equal(r->user, "erpuser");
    assert_string_equal(r->client_id, "app1");
    data_source_record__free_unpacked(r, NULL);
    /* A new secret replaces it. */
    d.url = NULL;
    d.secret = "another-secret";
    assert_int_equal(put(f, &d, false, -1, msg, sizeof msg), ARCHIVE_OK);
    r = get(f, "old-vendor");
    assert_string_equal(r->secret, "another-secret");
    assert_string_equal(r->url, "https://new.example.com");
    data_source_record__free_unpacked(r, NULL);
    /* Disable, then enable. */
    d.secret = NULL;
    assert_int_equal(put(f, &d, false, 1, msg, sizeof msg), ARCHIVE_OK);
    r = get(f, "old-vendor");
    assert_true(r->disabled);
    assert_int_equal(r->created_ms, T0 + 10);
    data_source_record__free_unpacked(r, NULL);
    assert_int_equal(put(f, &d, false, 0, msg, sizeof msg), ARCHIVE_OK);
    r = get(f, "old-vendor");
    assert_false(r->disabled);
    data_source_record__free_unpacked(r, NULL);
    /* The kind never changes; a bad URL is refused and changes nothing; unknown name. */
    d.kind = "imgarc";
    assert_int_equal(put(f, &d, false, -1, msg, sizeof msg), ARCHIVE_R_INVALID);
    assert_non_null(strstr(msg, "kind"));
    d.kind = NULL;
    d.url = "https://x/?q";
    assert_int_equal(put(f, &d, false, 1, msg, sizeof msg), ARCHIVE_R_INVALID);
    r = get(f, "old-vendor");
    assert_string_equal(r->url, "https://new.example.com");
    assert_false(r->disabled);
    data_source_record__free_unpacked(r, NULL);
    d.name = "nope";
    d.url = NULL;
    assert_int_equal(put(f, &d, false, -1, msg, sizeof msg), ARCHIVE_R_DATASOURCE_NOT_FOUND);
}

/* Stores batch @batch_no using @datasource in @state, as CreateMigration would. */
static void store_batch(struct fx *f, const char *batch_no, const char *datasource,
                        const char *state)
{
    MigrationRecord m = MIGRATION_RECORD__INIT;
    struct rocks_batch *b = rocks_batch_new(f->db);
    struct base_err err;
    struct key k;
    uint8_t buf[512];
    size_t len;
    m.batch_no = (char *)batch_no;
    m.tenant = "default";
    m.datasource = (char *)datasource;
    m.state = (char *)state;
    len = migration_record__pack(&m, buf);
    key_pair(&k, "default", batch_no);
    rocks_batch_put(b, ARCHIVE_CF_MIGRATIONS, k.buf, k.len, buf, len);
    assert_int_equal(rocks_write(f->db, b, false, &err), 0);
    rocks_batch_free(b);
}

static void delete_waits_for_batches(void **state)
{
    struct fx *f = *state;
    char msg[256];
    assert_int_equal(put(f, &VENDOR, true, -1, msg, sizeof msg), ARCHIVE_OK);
    assert_int_equal(put(f, &IMGARC, true, -1, msg, sizeof msg), ARCHIVE_OK);
    store_batch(f, "b1", "old-vendor", MIGRATION_DONE);
    store_batch(f, "b2", "old-vendor", MIGRATION_PAUSED);
    store_batch(f, "b3", "other", MIGRATION_FAILED);
    assert_int_equal(del(f, "old-vendor", msg, sizeof msg), ARCHIVE_R_DATASOURCE_IN_USE);
    assert_non_null(strstr(msg, "b2"));
    assert_non_null(strstr(msg, "paused"));
    assert_true(exists(f, "old-vendor"));
    /* Over: it goes. Batches of other sources do not hold it. */
    store_batch(f, "b2", "old-vendor", MIGRATION_FAILED);
    store_batch(f, "b4", "other", MIGRATION_RUNNING);
    assert_int_equal(del(f, "old-vendor", msg, sizeof msg), ARCHIVE_OK);
    assert_false(exists(f, "old-vendor"));
    assert_int_equal(del(f, "old-vendor", msg, sizeof msg), ARCHIVE_R_DATASOURCE_NOT_FOUND);
    assert_int_equal(del(f, "other", msg, sizeof msg), ARCHIVE_R_DATASOURCE_IN_USE);
    assert_int_equal(del(f, "../x", msg, sizeof msg), ARCHIVE_R_DATASOURCE_NOT_FOUND);
    assert_int_equal(del(f, NULL, msg, sizeof msg), ARCHIVE_R_DATASOURCE_NOT_FOUND);
    assert_int_equal(count(f), 1);
}

static void audit_never_holds_the_secret(void **state)
{
    struct fx *f = *state;
    static char all[8192];
    char msg[256];
    struct ds d = {.name = "old-vendor", .secret = "rotated-secret-value"};
    assert_int_equal(put(f, &VENDOR, true, -1, msg, sizeof msg), ARCHIVE_OK);
    assert_int_equal(put(f, &d, false, 1, msg, sizeof msg), ARCHIVE_OK);
    assert_int_equal(del(f, "old-vendor", msg, sizeof msg), ARCHIVE_OK);
    audit_text(f, all);
    assert_non_null(strstr(all, "datasource_created"));
    assert_non_null(strstr(all, "datasource_updated"));
    assert_non_null(strstr(all, "\"app_secret\""));  /* named as changed */
    assert_non_null(strstr(all, "datasource_deleted"));
    assert_null(strstr(all, SECRET));
    assert_null(strstr(all, "rotated-secret-value"));
}

static void the_number_of_sources_is_bounded(void **state)
{
    struct fx *f = *state;
    char msg[256], name[16];
    struct ds d = IMGARC;
    for (unsigned i = 0; i < ARCHIVE_DATASOURCES_MAX; i++) {
        snprintf(name, sizeof name, "s%u", i);
        d.name = name;
        assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_OK);
    }
    d.name = "one-more";
    assert_int_equal(put(f, &d, true, -1, msg, sizeof msg), ARCHIVE_R_INVALID);
    assert_non_null(strstr(msg, "the most"));
    assert_int_equal(count(f), ARCHIVE_DATASOURCES_MAX);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(names_are_checked),
    cmocka_unit_test_setup_teardown(create_and_read, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(bad_fields_are_refused, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(updates_keep_what_they_do_not_name, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(delete_waits_for_batches, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(audit_never_holds_the_secret, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(the_number_of_sources_is_bounded, fx_setup, fx_teardown),
};

TESTLIB_MAIN("apply_datasources", tests)
