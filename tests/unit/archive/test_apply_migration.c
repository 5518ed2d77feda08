/* The operator's migration commands (archive/apply_migration_ops.c) applied to a real
 * RocksDB: CreateMigration with its refusals, each MigrationAction transition allowed
 * and refused, SkipMigrationBills and the counts it keeps, retry moving failed bills
 * back to pending, the batch's log in order and the runner's queue (family
 * migration_run) holding exactly the running batches.
 *
 * The bills of a batch are written straight into their family, in every state, with the
 * batch's counts, as the runner's commands (apply_migration.c, tested with their own
 * files) leave them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "archive/archive.h"
#include "archive/keys.h"
#include "archive/migration.h"
#include "base/mem.h"
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

/* Data source @name of the default tenant (PutDataSource). */
static void put_datasource(struct fx *f, const char *name, bool disabled)
{
    Command cmd = COMMAND__INIT;
    PutDataSource put = PUT_DATA_SOURCE__INIT;
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    r.name = (char *)name;
    r.kind = "imgarc";
    r.url = "http://127.0.0.1:1";
    r.source_tenant = "old";
    r.client_id = "c";
    r.secret = "s";
    r.disabled = disabled;
    put.source = &r;
    put.create = true;
    cmd.body_case = COMMAND__BODY_PUT_DATA_SOURCE;
    cmd.put_data_source = &put;
    fx_apply_ok(f, "default", T0, &cmd);
}

static MigrationRecord *get_batch(struct fx *f, const char *batch_no)
{
    struct base_err err;
    MigrationRecord *m;
    assert_int_equal(archive_get_migration(&f->a, "default", batch_no, &m, &err), 0);
    return m;
}

static MigrationBill *get_bill(struct fx *f, const char *batch_no, const char *image_no)
{
    struct base_err err;
    MigrationBill *b;
    assert_int_equal(
        archive_get_migration_bill(&f->a, "default", batch_no, image_no, &b, &err), 0);
    return b;
}

/* A bill of the batch in @state, with the batch's counts kept, as the runner leaves it. */
static void put_bill(struct fx *f, const char *batch_no, const char *image_no,
                     const char *state, const char *reason, uint32_t attempts)
{
    MigrationBill b = MIGRATION_BILL__INIT;
    MigrationRecord *m = get_batch(f, batch_no);
    struct key k;
    b.image_no = (char *)image_no;
    b.state = (char *)state;
    b.reason = (char *)reason;
    b.bill_no = "B1";
    b.attempts = attempts;
    key_triple(&k, "default", batch_no, image_no);
    put_raw(f, ARCHIVE_CF_MIGRATION_BILLS, &k, &b.base);
    m->bills++;
    if (strcmp(state, "pending") == 0 || strcmp(state, "checked") == 0) {
        m->pending++;
    } else if (strcmp(state, "migrated") == 0 || strcmp(state, "present") == 0) {
        m->migrated++;
    } else if (strcmp(state, "failed") == 0) {
        m->failed++;
    } else if (strcmp(state, "skipped") == 0) {
        m->skipped++;
    }
    key_pair(&k, "default", batch_no);
    put_raw(f, ARCHIVE_CF_MIGRATIONS, &k, &m->base);
    migration_record__free_unpacked(m, NULL);
}

static void create(struct fx *f, const char *batch_no, const char *datasource,
                   MigrationScope *scope, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    CreateMigration c = CREATE_MIGRATION__INIT;
    c.batch_no = (char *)batch_no;
    c.datasource = (char *)datasource;
    c.scope = scope;
    cmd.body_case = COMMAND__BODY_CREATE_MIGRATION;
    cmd.create_migration = &c;
    fx_apply_as(f, "default", T0 + 1000, &cmd, res);
}

static void action_at(struct fx *f, const char *batch_no, const char *action, uint64_t now,
                      struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    MigrationAction c = MIGRATION_ACTION__INIT;
    c.batch_no = (char *)batch_no;
    c.action = (char *)action;
    cmd.body_case = COMMAND__BODY_MIGRATION_ACTION;
    cmd.migration_action = &c;
    fx_apply_as(f, "default", now, &cmd, res);
}

static void action(struct fx *f, const char *batch_no, const char *what,
                   struct archive_result *res)
{
    action_at(f, batch_no, what, T0 + 2000, res);
}

static void skip_bills(struct fx *f, const char *batch_no, char **image_nos, size_t n, bool on,
                 struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SkipMigrationBills c = SKIP_MIGRATION_BILLS__INIT;
    c.batch_no = (char *)batch_no;
    c.image_nos = image_nos;
    c.n_image_nos = n;
    c.skip = on;
    cmd.body_case = COMMAND__BODY_SKIP_MIGRATION_BILLS;
    cmd.skip_migration_bills = &c;
    fx_apply_as(f, "default", T0 + 3000, &cmd, res);
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

static char *state_of(struct fx *f, const char *batch_no)
{
    static char state[32];
    MigrationRecord *m = get_batch(f, batch_no);
    snprintf(state, sizeof state, "%s", m->state);
    migration_record__free_unpacked(m, NULL);
    return state;
}

/* ---- The log and the runner's queue, read back ---- */

struct log_read {
    char actions[512];
    uint64_t last_seq;
    bool ordered;
};

static bool log_cb(const MigrationLogEntry *e, void *arg)
{
    struct log_read *l = arg;
    size_t n = strlen(l->actions);
    if (e->seq != l->last_seq + 1) {
        l->ordered = false;
    }
    l->last_seq = e->seq;
    snprintf(l->actions + n, sizeof l->actions - n, "%s%s%s%s", n > 0 ? " " : "", e->action,
             e->image_no[0] != '\0' ? ":" : "", e->image_no);
    return true;
}

static const char *log_of(struct fx *f, const char *batch_no, uint64_t after)
{
    static struct log_read l;
    struct base_err err;
    memset(&l, 0, sizeof l);
    l.last_seq = after;
    l.ordered = true;
    assert_int_equal(archive_each_migration_log(&f->a, "default", batch_no, after, log_cb, &l,
                                                &err),
                     0);
    assert_true(l.ordered);
    return l.actions;
}

static bool run_cb(const char *tenant, const char *batch_no, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s%s/%s", n > 0 ? " " : "", tenant, batch_no);
    return true;
}

static const char *running(struct fx *f)
{
    static char out[256];
    struct base_err err;
    out[0] = '\0';
    assert_int_equal(archive_each_running_migration(&f->a, run_cb, out, &err), 0);
    return out;
}

/* ---- Cases ---- */

static void create_checks_its_source_scope_and_number(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    char *orgs[ARCHIVE_MIGRATION_SCOPE_MAX + 1];
    char *types[] = {"BX"};
    MigrationRecord *m;
    for (size_t i = 0; i < ARRAY_SIZE(orgs); i++) {
        orgs[i] = "ORG";
    }
    create(f, "b1", "old", NULL, &res);
    expect(&res, ARCHIVE_R_DATASOURCE_NOT_FOUND, "old");
    put_datasource(f, "off", true);
    create(f, "b1", "off", NULL, &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "disabled");
    put_datasource(f, "old", false);
    create(f, ".b1", "old", NULL, &res);
    expect(&res, ARCHIVE_R_INVALID, "batch number");
    create(f, "b1", "bad name", NULL, &res);
    expect(&res, ARCHIVE_R_INVALID, "data source name");
    scope.orgs = orgs;
    scope.n_orgs = ARRAY_SIZE(orgs);
    create(f, "b1", "old", &scope, &res);
    expect(&res, ARCHIVE_R_INVALID, "at most 64");
    scope.n_orgs = 2;
    orgs[1] = "\xff\xfe";
    create(f, "b1", "old", &scope, &res);
    expect(&res, ARCHIVE_R_INVALID, "UTF-8");
    orgs[1] = "ORG\x01";
    create(f, "b1", "old", &scope, &res);
    expect(&res, ARCHIVE_R_INVALID, "control");
    orgs[1] = "ORG";
    scope.bill_types = types;
    scope.n_bill_types = 1;
    scope.from_ms = T0;
    scope.to_ms = T0;
    create(f, "b1", "old", &scope, &res);
    expect(&res, ARCHIVE_R_INVALID, "before its to");
    scope.to_ms = T0 + 86400000;
    create(f, "b1", "old", &scope, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_true(res.created);
    assert_string_equal(res.state, "pending");
    create(f, "b1", "old", NULL, &res);
    expect(&res, ARCHIVE_R_MIGRATION_EXISTS, "b1");

    m = get_batch(f, "b1");
    assert_string_equal(m->datasource, "old");
    assert_string_equal(m->state, "pending");
    assert_string_equal(m->created_by, "tester");
    assert_int_equal(m->created_ms, T0 + 1000);
    assert_int_equal(m->started_ms, 0);
    assert_non_null(m->scope);
    assert_int_equal(m->scope->n_orgs, 2);
    assert_string_equal(m->scope->bill_types[0], "BX");
    assert_int_equal(m->scope->from_ms, T0);
    assert_int_equal(m->scope->to_ms, T0 + 86400000);
    assert_int_equal(m->bills, 0);
    migration_record__free_unpacked(m, NULL);
    assert_string_equal(log_of(f, "b1", 0), "created");
    assert_string_equal(running(f), ""); /* pending is not running */
}

static void each_transition_is_allowed_or_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    MigrationRecord *m;
    put_datasource(f, "old", false);
    create(f, "b1", "old", NULL, &res);
    expect(&res, ARCHIVE_OK, NULL);

    /* pending: only start and cancel. */
    action(f, "b1", "pause", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is pending");
    action(f, "b1", "resume", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is pending");
    action(f, "b1", "retry", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is pending");
    action(f, "b1", "fly", &res);
    expect(&res, ARCHIVE_R_INVALID, "unknown migration action");
    action(f, "nope", "start", &res);
    expect(&res, ARCHIVE_R_MIGRATION_NOT_FOUND, "nope");
    action(f, "..", "start", &res);
    expect(&res, ARCHIVE_R_INVALID, NULL);

    action_at(f, "b1", "start", T0 + 5000, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(res.state, "running");
    assert_string_equal(running(f), "default/b1");
    /* running: pause, retry, cancel; not start or resume. */
    action(f, "b1", "start", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is running");
    action(f, "b1", "resume", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is running");
    action(f, "b1", "pause", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(state_of(f, "b1"), "paused");
    assert_string_equal(running(f), "");
    /* paused: resume, start, retry, cancel; not pause. */
    action(f, "b1", "pause", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is paused");
    action(f, "b1", "resume", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(state_of(f, "b1"), "running");
    action(f, "b1", "pause", &res);
    expect(&res, ARCHIVE_OK, NULL);
    action_at(f, "b1", "start", T0 + 9000, &res);
    expect(&res, ARCHIVE_OK, NULL);
    m = get_batch(f, "b1");
    assert_string_equal(m->state, "running");
    assert_int_equal(m->started_ms, T0 + 5000); /* the first start's */
    migration_record__free_unpacked(m, NULL);
    action(f, "b1", "retry", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(state_of(f, "b1"), "running");

    action_at(f, "b1", "cancel", T0 + 10000, &res);
    expect(&res, ARCHIVE_OK, NULL);
    m = get_batch(f, "b1");
    assert_string_equal(m->state, "failed");
    assert_string_equal(m->error, "cancelled by tester");
    assert_int_equal(m->finished_ms, T0 + 10000);
    migration_record__free_unpacked(m, NULL);
    assert_string_equal(running(f), "");
    /* failed: only retry. */
    action(f, "b1", "cancel", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is failed");
    action(f, "b1", "start", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is failed");
    action(f, "b1", "pause", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is failed");
    action(f, "b1", "resume", &res);
    expect(&res, ARCHIVE_R_INVALID_STATE, "is failed");
    action(f, "b1", "retry", &res);
    expect(&res, ARCHIVE_OK, NULL);
    m = get_batch(f, "b1");
    assert_string_equal(m->state, "running");
    assert_string_equal(m->error, "");
    assert_int_equal(m->finished_ms, 0);
    migration_record__free_unpacked(m, NULL);

    /* A pending batch cancels too. */
    create(f, "b2", "old", NULL, &res);
    action(f, "b2", "cancel", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(state_of(f, "b2"), "failed");

    /* Refusals leave no trace: the log has the applied actions only, in order. */
    assert_string_equal(log_of(f, "b1", 0), "created started paused resumed paused started "
                                            "retried cancelled retried");
    assert_string_equal(log_of(f, "b1", 6), "retried cancelled retried");
    assert_string_equal(log_of(f, "b2", 0), "created cancelled");
}

static void skip_and_unskip_keep_the_counts(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    char *first[] = {"P1", "C1", "F1", "M1", "R1", "S1", "NOPE", "P1", "../x"};
    char *back[] = {"P1", "S1", "M1", "C1"};
    MigrationRecord *m;
    MigrationBill *b;
    char *many[1001];
    put_datasource(f, "old", false);
    create(f, "b1", "old", NULL, &res);
    put_bill(f, "b1", "P1", "pending", "", 0);
    put_bill(f, "b1", "C1", "checked", "", 0);
    put_bill(f, "b1", "F1", "failed", "timeout", 2);
    put_bill(f, "b1", "M1", "migrated", "", 1);
    put_bill(f, "b1", "R1", "present", "", 0);
    put_bill(f, "b1", "S1", "skipped", "earlier", 0);

    for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
        many[i] = "P1";
    }
    skip_bills(f, "b1", many, ARRAY_SIZE(many), true, &res);
    expect(&res, ARCHIVE_R_INVALID, "1-1000");
    skip_bills(f, "b1", many, 0, true, &res);
    expect(&res, ARCHIVE_R_INVALID, "1-1000");
    skip_bills(f, "nope", first, 1, true, &res);
    expect(&res, ARCHIVE_R_MIGRATION_NOT_FOUND, NULL);

    /* pending, checked and failed are skipped; the rest (and a repeat) unchanged. */
    skip_bills(f, "b1", first, ARRAY_SIZE(first), true, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(res.position, 3);
    m = get_batch(f, "b1");
    assert_int_equal(m->bills, 6);
    assert_int_equal(m->pending, 0);
    assert_int_equal(m->failed, 0);
    assert_int_equal(m->migrated, 2);
    assert_int_equal(m->skipped, 4);
    migration_record__free_unpacked(m, NULL);
    b = get_bill(f, "b1", "F1");
    assert_string_equal(b->state, "skipped");
    assert_string_equal(b->reason, "marked do-not-migrate by tester");
    assert_int_equal(b->attempts, 2);
    migration_bill__free_unpacked(b, NULL);
    b = get_bill(f, "b1", "M1");
    assert_string_equal(b->state, "migrated");
    migration_bill__free_unpacked(b, NULL);

    /* Unskipping: skipped -> pending only. */
    skip_bills(f, "b1", back, ARRAY_SIZE(back), false, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(res.position, 3); /* P1, S1, C1 */
    m = get_batch(f, "b1");
    assert_int_equal(m->pending, 3);
    assert_int_equal(m->skipped, 1); /* F1 */
    assert_int_equal(m->migrated, 2);
    assert_int_equal(m->bills, 6);
    assert_false(m->checked);
    migration_record__free_unpacked(m, NULL);
    b = get_bill(f, "b1", "S1");
    assert_string_equal(b->state, "pending");
    assert_string_equal(b->reason, "");
    migration_bill__free_unpacked(b, NULL);
    /* Nothing to change: applied, nothing changed, nothing logged. */
    skip_bills(f, "b1", back, 1, false, &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(res.position, 0);
    assert_string_equal(log_of(f, "b1", 0),
                        "created skipped:P1 skipped:C1 skipped:F1 unskipped:P1 unskipped:S1 "
                        "unskipped:C1");
}

static void retry_moves_failed_bills_to_pending(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    MigrationRecord *m;
    MigrationBill *b;
    put_datasource(f, "old", false);
    create(f, "b1", "old", NULL, &res);
    create(f, "b2", "old", NULL, &res);
    action(f, "b1", "start", &res);
    action(f, "b2", "start", &res);
    assert_string_equal(running(f), "default/b1 default/b2");
    put_bill(f, "b1", "F1", "failed", "source answered 500", 3);
    put_bill(f, "b1", "F2", "failed", "checksum mismatch", 1);
    put_bill(f, "b1", "M1", "migrated", "", 1);
    put_bill(f, "b1", "S1", "skipped", "x", 0);
    put_bill(f, "b2", "F9", "failed", "other batch", 1);
    action(f, "b1", "cancel", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(running(f), "default/b2");

    action(f, "b1", "retry", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_string_equal(res.state, "running");
    m = get_batch(f, "b1");
    assert_string_equal(m->state, "running");
    assert_string_equal(m->phase, "");
    assert_int_equal(m->failed, 0);
    assert_int_equal(m->pending, 2);
    assert_int_equal(m->migrated, 1);
    assert_int_equal(m->skipped, 1);
    assert_int_equal(m->bills, 4);
    assert_false(m->checked);
    migration_record__free_unpacked(m, NULL);
    b = get_bill(f, "b1", "F1");
    assert_string_equal(b->state, "pending");
    assert_string_equal(b->reason, "");
    assert_int_equal(b->attempts, 3);
    migration_bill__free_unpacked(b, NULL);
    b = get_bill(f, "b2", "F9"); /* another batch's bill is left alone */
    assert_string_equal(b->state, "failed");
    migration_bill__free_unpacked(b, NULL);
    assert_string_equal(running(f), "default/b1 default/b2");
    assert_string_equal(log_of(f, "b1", 0), "created started cancelled retried");

}

static bool detail_cb(const MigrationLogEntry *e, void *arg)
{
    snprintf(arg, 128, "%s %s", e->action, e->detail);
    return false; /* the first one after "after" only */
}

static void the_log_pages_and_holds_details(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char detail[128] = "";
    put_datasource(f, "old", false);
    create(f, "b1", "old", NULL, &res);
    action(f, "b1", "start", &res);
    put_bill(f, "b1", "F1", "failed", "x", 1);
    put_bill(f, "b1", "F2", "failed", "y", 1);
    action(f, "b1", "pause", &res);
    action(f, "b1", "retry", &res);
    expect(&res, ARCHIVE_OK, NULL);
    assert_int_equal(archive_each_migration_log(&f->a, "default", "b1", 3, detail_cb, detail,
                                                &err),
                     0);
    assert_string_equal(detail, "retried {\"bills\":2}");
    assert_int_equal(archive_each_migration_log(&f->a, "default", "b1", 0, detail_cb, detail,
                                                &err),
                     0);
    assert_string_equal(detail, "created {\"bill_types\":0,\"datasource\":\"old\",\"orgs\":0}");
    /* Past the end, and another tenant's, are empty. */
    assert_string_equal(log_of(f, "b1", 4), "");
    assert_string_equal(log_of(f, "zz", 0), "");
}

static bool bill_cb(const MigrationBill *b, void *arg)
{
    char *out = arg;
    size_t n = strlen(out);
    snprintf(out + n, 128 - n, "%s%s", n > 0 ? " " : "", b->image_no);
    return strcmp(b->image_no, "B3") != 0;
}

static void bills_page_from_after(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char out[128];
    put_datasource(f, "old", false);
    create(f, "b1", "old", NULL, &res);
    create(f, "b10", "old", NULL, &res); /* a batch whose number extends b1's */
    put_bill(f, "b1", "B1", "pending", "", 0);
    put_bill(f, "b1", "B2", "pending", "", 0);
    put_bill(f, "b1", "B3", "pending", "", 0);
    put_bill(f, "b1", "B4", "pending", "", 0);
    put_bill(f, "b10", "A0", "pending", "", 0);
    out[0] = '\0';
    assert_int_equal(archive_each_migration_bill(&f->a, "default", "b1", "", bill_cb, out, &err),
                     0);
    assert_string_equal(out, "B1 B2 B3"); /* the callback stops after B3 */
    out[0] = '\0';
    assert_int_equal(
        archive_each_migration_bill(&f->a, "default", "b1", "B3", bill_cb, out, &err), 0);
    assert_string_equal(out, "B4");
    out[0] = '\0';
    assert_int_equal(
        archive_each_migration_bill(&f->a, "default", "b1", "B", bill_cb, out, &err), 0);
    assert_string_equal(out, "B1 B2 B3");
}

static void where_a_migrated_bill_came_from(void **state)
{
    struct fx *f = *state;
    struct base_err err;
    struct rocks_batch *b = rocks_batch_new(f->db);
    char datasource[ARCHIVE_ID_MAX + 1], batch_no[ARCHIVE_ID_MAX + 1];
    struct key k, v;
    key_pair(&k, "default", "IMG-1");
    key_pair(&v, "old", "2026-H1");
    rocks_batch_put(b, ARCHIVE_CF_MIGRATED, k.buf, k.len, v.buf, v.len);
    key_pair(&k, "default", "IMG-2");
    rocks_batch_put(b, ARCHIVE_CF_MIGRATED, k.buf, k.len, "old", 3); /* no separator */
    assert_int_equal(rocks_write(f->db, b, false, &err), 0);
    rocks_batch_free(b);
    assert_int_equal(archive_get_migrated(&f->a, "default", "IMG-1", datasource, batch_no, &err),
                     0);
    assert_string_equal(datasource, "old");
    assert_string_equal(batch_no, "2026-H1");
    assert_int_equal(archive_get_migrated(&f->a, "t2", "IMG-1", datasource, batch_no, &err),
                     BASE_ENOTFOUND);
    assert_int_equal(archive_get_migrated(&f->a, "default", "IMG-3", datasource, batch_no, &err),
                     BASE_ENOTFOUND);
    assert_int_equal(archive_get_migrated(&f->a, "default", "IMG-2", datasource, batch_no, &err),
                     BASE_ECORRUPT);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(create_checks_its_source_scope_and_number, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(each_transition_is_allowed_or_refused, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(skip_and_unskip_keep_the_counts, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(retry_moves_failed_bills_to_pending, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(the_log_pages_and_holds_details, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(bills_page_from_after, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(where_a_migrated_bill_came_from, fx_setup, fx_teardown),
};

TESTLIB_MAIN("apply_migration", tests)
