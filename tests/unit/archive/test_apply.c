/* The state machine: commands applied in log order to a real RocksDB. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "archive/nodes.h"
#include "storage/snapshot.h"
#include "tests/unit/archive/archive_fixture.h"

#define T0 FX_T0 /* the time fx_setup() creates the cluster at */

static void push(struct fx *f, const char *image_no, const char *bill_no,
                 struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    PoolPush p = POOL_PUSH__INIT;
    fx_stamp(&cmd, "default", T0);
    p.image_no = (char *)image_no;
    p.bill_no = (char *)bill_no;
    cmd.body_case = COMMAND__BODY_POOL_PUSH;
    cmd.pool_push = &p;
    fx_apply(f, &cmd, res);
}

static void submit(struct fx *f, const char *image_no, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SubmitBill s = SUBMIT_BILL__INIT;
    fx_stamp(&cmd, "default", T0);
    s.image_no = (char *)image_no;
    cmd.body_case = COMMAND__BODY_SUBMIT;
    cmd.submit = &s;
    fx_apply(f, &cmd, res);
}

static void pool_push_creates_then_updates(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    push(f, "BX-1", "ER-1", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.created);
    assert_string_equal(res.state, "pending_upload");
    push(f, "BX-1", "ER-1b", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.created);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-1", &bill, &err), 0);
    assert_string_equal(bill->bill_no, "ER-1b");
    assert_true(bill->in_pool);
    archive_free_bill(bill);
}

static void capture_classifies_and_orders(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    fx_add_file(f, "BX-2", "f1", "scan.pdf", NULL, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.category, "attachment");
    assert_string_equal(res.state, "captured");
    fx_add_file(f, "BX-2", "f2", "cover-BX-2.pdf", NULL, 2, &res);
    assert_string_equal(res.category, "cover");
    assert_int_equal(res.position, 2);
    {
        Command cmd = COMMAND__INIT;
        AddFile a = ADD_FILE__INIT;
        uint8_t blob[32] = {3};
        fx_stamp(&cmd, "default", T0);
        a.image_no = "BX-2";
        a.file_id = "f3";
        a.name = "inserted.pdf";
        a.format = "pdf";
        a.after = "f1";
        a.blob.data = blob;
        a.blob.len = 32;
        cmd.body_case = COMMAND__BODY_ADD_FILE;
        cmd.add_file = &a;
        fx_apply(f, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_OK);
        assert_int_equal(res.position, 2);
    }
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-2", &bill, &err), 0);
    assert_int_equal(bill->files, 3);
    {
        BillOrder *order;
        assert_int_equal(archive_get_order(&f->a, "default", "BX-2", &order, &err), 0);
        assert_int_equal(order->n_file_ids, 3);
        assert_string_equal(order->file_ids[0], "f1");
        assert_string_equal(order->file_ids[1], "f3");
        assert_string_equal(order->file_ids[2], "f2");
        archive_free_order(order);
    }
    /* Per-category counts are kept in the bill for status and the supplementary scan. */
    assert_int_equal(bill->covers, 1);
    assert_int_equal(bill->invoice_files, 0);
    assert_int_equal(bill->attachments, 2);
    archive_free_bill(bill);
}

static void submit_rules(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    submit(f, "NOPE", &res);
    assert_int_equal(res.status, ARCHIVE_R_BILL_NOT_FOUND);
    push(f, "BX-3", "ER-3", &res);
    submit(f, "BX-3", &res);
    assert_int_equal(res.status, ARCHIVE_R_BILL_EMPTY);
    fx_add_file(f, "BX-3", "f1", "a.pdf", NULL, 1, &res);
    submit(f, "BX-3", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "ready");
    /* A second submit changes nothing and is not an error. */
    submit(f, "BX-3", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_string_equal(res.state, "ready");
    /* After submit only a supplementary scan of a bill with a cover is accepted. */
    fx_add_file(f, "BX-3", "f2", "late.pdf", NULL, 2, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID_STATE);
}

static void idempotent_capture_applies_once(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    UsageRecord *usage;
    fx_add_file(f, "BX-4", "f1", "a.pdf", "key-1", 7, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    /* The retry carries another file id (the proposer made a new one) and gets the
     * first answer back. */
    fx_add_file(f, "BX-4", "f9", "a.pdf", "key-1", 7, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.replayed);
    assert_string_equal(res.file_id, "f1");
    /* Same key, different content: a conflict. */
    fx_add_file(f, "BX-4", "f8", "a.pdf", "key-1", 8, &res);
    assert_int_equal(res.status, ARCHIVE_R_IDEM_CONFLICT);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-4", &bill, &err), 0);
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
    assert_int_equal(archive_get_usage(&f->a, "default", &usage, &err), 0);
    assert_int_equal(usage->files, 1);
    assert_int_equal(usage->bytes, 1000);
    archive_free_usage(usage);
}

static void entry_applied_twice_is_a_no_op(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    fx_add_file(f, "BX-5", "f1", "a.pdf", NULL, 1, &res);
    {
        /* Replay the same entry at the same index, as raft does after a restart. */
        Command cmd = COMMAND__INIT;
        AddFile a = ADD_FILE__INIT;
        uint8_t blob[32];
        memset(blob, 1, sizeof blob);
        fx_stamp(&cmd, "default", T0);
        a.image_no = "BX-5";
        a.file_id = "f1";
        a.name = "a.pdf";
        a.format = "pdf";
        a.size = 1000;
        a.blob.data = blob;
        a.blob.len = 32;
        cmd.body_case = COMMAND__BODY_ADD_FILE;
        cmd.add_file = &a;
        fx_apply_at(f, f->index, &cmd, &res);
        assert_true(res.replayed);
    }
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-5", &bill, &err), 0);
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
}

static void state_survives_restart(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    push(f, "BX-6", "ER-6", &res);
    fx_add_file(f, "BX-6", "f1", "a.pdf", NULL, 1, &res);
    fx_reopen(f);
    assert_int_equal(f->a.applied_index, f->index);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-6", &bill, &err), 0);
    assert_string_equal(bill->state, "captured");
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
}

static void undecodable_entry_is_refused_deterministically(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    const uint8_t junk[] = {0xff, 0xff, 0xff, 0x01};
    assert_int_equal(archive_apply(&f->a, f->index + 1, junk, sizeof junk, &res, &err), 0);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    assert_int_equal(f->a.applied_index, f->index + 1);
}

static void snapshot_round_trip(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillRecord *bill;
    void *snap;
    size_t len;
    uint64_t idx;
    push(f, "BX-7", "ER-7", &res);
    fx_add_file(f, "BX-7", "f1", "a.pdf", NULL, 1, &res);
    assert_int_equal(storage_snapshot_encode(f->db, f->a.applied_index, &snap, &len, &err), 0);
    push(f, "BX-8", "ER-8", &res); /* after the snapshot: gone after restore */
    assert_int_equal(storage_snapshot_index(snap, len, &idx, &err), 0);
    assert_int_equal(idx, f->index - 1);
    assert_int_equal(storage_snapshot_restore(f->db, snap, len, &err), 0);
    assert_int_equal(archive_open(&f->a, f->db, &err), 0);
    assert_int_equal(f->a.applied_index, f->index - 1);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-7", &bill, &err), 0);
    archive_free_bill(bill);
    assert_int_equal(archive_get_bill(&f->a, "default", "BX-8", &bill, &err), BASE_ENOTFOUND);
    /* A flipped byte is refused before anything is changed. */
    ((uint8_t *)snap)[len / 2] ^= 1;
    assert_int_equal(storage_snapshot_restore(f->db, snap, len, &err), BASE_ECORRUPT);
    free(snap);
}

/* ---- Tenants, licenses, quotas ---- */

#define DAY (24ull * 3600 * 1000)

static void upload_as(struct fx *f, const char *tenant, uint64_t now, const char *file_id,
                      uint64_t size, uint8_t blob_byte, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    AddFile a = ADD_FILE__INIT;
    uint8_t blob[32];
    memset(blob, blob_byte, sizeof blob);
    a.image_no = "BX-Q";
    a.file_id = (char *)file_id;
    a.name = "x.bin";
    a.format = "bin";
    a.size = size;
    a.blob.data = blob;
    a.blob.len = sizeof blob;
    cmd.body_case = COMMAND__BODY_ADD_FILE;
    cmd.add_file = &a;
    fx_apply_as(f, tenant, now, &cmd, res);
}

static void default_tenant_starts_on_an_evaluation_license(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    TenantRecord *t;
    assert_true(archive_cluster_initialized(&f->a));
    assert_int_equal(archive_get_tenant(&f->a, "default", &t, &err), 0);
    assert_non_null(t->license);
    assert_string_equal(t->license->license_id, "evaluation");
    assert_int_equal(t->license->expires_ms, T0 + 30 * DAY);
    assert_int_equal(t->license->quota_bytes, 10ull << 30);
    archive_free_tenant(t);
    upload_as(f, "default", T0 + 30 * DAY - 1, "f1", 10, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    upload_as(f, "default", T0 + 30 * DAY, "f2", 10, 2, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE);
    assert_non_null(strstr(res.message, "expired"));
}

static void new_tenant_needs_a_license_and_tenants_are_unique(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    fx_create_tenant(f, "acme", "acme", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_create_tenant(f, "acme", "acme", &res);
    assert_int_equal(res.status, ARCHIVE_R_TENANT_EXISTS);
    upload_as(f, "acme", T0, "f1", 10, 1, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE);
    upload_as(f, "nobody", T0, "f1", 10, 1, &res);
    assert_int_equal(res.status, ARCHIVE_R_TENANT_NOT_FOUND);
    fx_install_license(f, "acme", "L1", T0, T0 + DAY, 1000, 0, 1, T0, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    upload_as(f, "acme", T0 + 1, "f1", 10, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    /* A license without the basic mode does not cover today's bills. */
    fx_install_license(f, "acme", "L2", T0 + 2, T0 + DAY, 1000, 0, 2 | 4, T0 + 3, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    upload_as(f, "acme", T0 + 4, "f2", 10, 2, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE);
    assert_non_null(strstr(res.message, "image mode"));
}

static void older_expired_and_future_licenses_are_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    fx_create_tenant(f, "acme", "acme", &res);
    fx_install_license(f, "acme", "L2", T0 + 100, T0 + DAY, 1000, 0, 1, T0 + 200, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_install_license(f, "acme", "L2", T0 + 100, T0 + DAY, 1000, 0, 1, T0 + 300, &res);
    assert_int_equal(res.status, ARCHIVE_OK); /* the same one again: nothing changes */
    assert_true(res.replayed);
    fx_install_license(f, "acme", "L1", T0 + 50, T0 + 2 * DAY, 1000, 0, 1, T0 + 300, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE_SUPERSEDED);
    fx_install_license(f, "acme", "L3", T0 + 400, T0 + 500, 1000, 0, 1, T0 + 600, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE); /* expired before it is installed */
    fx_install_license(f, "acme", "L4", T0 + DAY, T0 + 2 * DAY, 1000, 0, 1, T0 + 700, &res);
    assert_int_equal(res.status, ARCHIVE_R_LICENSE_INVALID); /* issued tomorrow */
    fx_install_license(f, "other", "L5", T0, T0 + DAY, 1000, 0, 1, T0 + 700, &res);
    assert_int_equal(res.status, ARCHIVE_R_TENANT_NOT_FOUND);
}

static void quota_is_exact(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    UsageRecord *u;
    fx_create_tenant(f, "acme", "acme", &res);
    fx_install_license(f, "acme", "L1", T0, T0 + DAY, 100, 3, 1, T0, &res);
    upload_as(f, "acme", T0 + 1, "f1", 60, 1, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    upload_as(f, "acme", T0 + 1, "f2", 41, 2, &res);
    assert_int_equal(res.status, ARCHIVE_R_QUOTA_BYTES); /* one byte over */
    upload_as(f, "acme", T0 + 1, "f3", 40, 1, &res);     /* same content as f1 */
    assert_int_equal(res.status, ARCHIVE_OK);            /* exactly the quota */
    upload_as(f, "acme", T0 + 1, "f4", 0, 3, &res);
    assert_int_equal(res.status, ARCHIVE_OK); /* an empty file fits; three files */
    upload_as(f, "acme", T0 + 1, "f5", 0, 4, &res);
    assert_int_equal(res.status, ARCHIVE_R_QUOTA_FILES);
    assert_int_equal(archive_get_usage(&f->a, "acme", &u, &err), 0);
    assert_int_equal(u->bytes, 100);
    assert_int_equal(u->files, 3);
    assert_int_equal(u->bills, 1);
    assert_int_equal(u->physical_bytes, 60); /* f3 repeats f1's content */
    archive_free_usage(u);
}


/* ---- Webhooks and the outbox ---- */

static void create_webhook(struct fx *f, const char *id, const char *event,
                           struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    CreateWebhook c = CREATE_WEBHOOK__INIT;
    char *events[] = {(char *)event};
    fx_stamp(&cmd, "default", T0);
    c.id = (char *)id;
    c.url = "http://127.0.0.1:9/hook";
    c.events = events;
    c.n_events = 1;
    c.secret = "0123456789abcdef";
    cmd.body_case = COMMAND__BODY_CREATE_WEBHOOK;
    cmd.create_webhook = &c;
    fx_apply(f, &cmd, res);
}

static void delivery_result(struct fx *f, uint64_t id, bool ok, uint64_t next_ms,
                            bool give_up, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    DeliveryResult r = DELIVERY_RESULT__INIT;
    fx_stamp(&cmd, "default", T0);
    r.delivery = id;
    r.ok = ok;
    r.http_status = ok ? 200 : 500;
    r.error = ok ? "" : "HTTP 500";
    r.next_ms = next_ms;
    r.give_up = give_up;
    cmd.body_case = COMMAND__BODY_DELIVERY_RESULT;
    cmd.delivery_result = &r;
    fx_apply(f, &cmd, res);
}

struct outbox_seen {
    uint64_t ids[8];
    uint64_t due[8];
    unsigned n;
};

static bool outbox_cb(uint64_t id, uint64_t due_ms, void *arg)
{
    struct outbox_seen *s = arg;
    assert_true(s->n < 8);
    s->ids[s->n] = id;
    s->due[s->n++] = due_ms;
    return true;
}

static void outbox(struct fx *f, struct outbox_seen *s)
{
    struct base_err err;
    memset(s, 0, sizeof *s);
    assert_int_equal(archive_scan_outbox(&f->a, 0, outbox_cb, s, &err), 0);
}

static DeliveryRecord *delivery(struct fx *f, uint64_t id)
{
    struct base_err err;
    DeliveryRecord *d;
    assert_int_equal(archive_get_delivery(&f->a, id, &d, &err), 0);
    return d;
}

static void state_changes_are_queued_and_results_applied(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct outbox_seen s;
    DeliveryRecord *d;
    uint64_t id;
    create_webhook(f, "wh1", "pending_upload", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    create_webhook(f, "wh2", "ready", &res);
    push(f, "WB-1", "B1", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    outbox(f, &s);
    assert_int_equal(s.n, 1); /* wh1 only: wh2 wants "ready" */
    id = s.ids[0];
    assert_int_equal(id >> 10, f->index);
    d = delivery(f, id);
    assert_string_equal(d->webhook, "wh1");
    assert_string_equal(d->event, "pending_upload");
    assert_string_equal(d->state, "pending");
    assert_non_null(strstr(d->body, "\"image_no\":\"WB-1\""));
    archive_free_delivery(d);

    delivery_result(f, id, false, 1700000005000ull, false, &res);
    outbox(f, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.due[0], 1700000005000ull);
    d = delivery(f, id);
    assert_int_equal(d->attempts, 1);
    assert_int_equal(d->n_history, 1);
    assert_int_equal(d->history[0]->http_status, 500);
    archive_free_delivery(d);

    delivery_result(f, id, true, 0, false, &res);
    assert_string_equal(res.state, "delivered");
    outbox(f, &s);
    assert_int_equal(s.n, 0);
    /* A late report from a former leader changes nothing. */
    delivery_result(f, id, false, 1700000009000ull, false, &res);
    assert_true(res.replayed);
    outbox(f, &s);
    assert_int_equal(s.n, 0);
    d = delivery(f, id);
    assert_string_equal(d->state, "delivered");
    assert_int_equal(d->attempts, 2);
    archive_free_delivery(d);
}

static void license_warning_stages_are_announced_once(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct outbox_seen s;
    Command cmd = COMMAND__INIT;
    LicenseWarning w = LICENSE_WARNING__INIT;
    /* The evaluation license expires 30 days after 1700000000000. */
    uint64_t day = 24ull * 3600 * 1000;
    create_webhook(f, "whl", "*", &res);
    w.license_id = "evaluation";
    cmd.body_case = COMMAND__BODY_LICENSE_WARNING;
    cmd.license_warning = &w;
    fx_stamp(&cmd, "default", T0);
    cmd.time_ms = 1700000000000ull + 25 * day; /* 5 days left: stage 7 */
    w.days = 30;                                 /* wrong stage: no-op */
    fx_apply(f, &cmd, &res);
    assert_true(res.replayed);
    w.days = 7;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    fx_apply(f, &cmd, &res); /* again: announced already */
    assert_true(res.replayed);
    outbox(f, &s);
    assert_int_equal(s.n, 1);
    cmd.time_ms = 1700000000000ull + 31 * day; /* expired */
    w.days = 0;
    fx_apply(f, &cmd, &res);
    assert_false(res.replayed);
    outbox(f, &s);
    assert_int_equal(s.n, 2);
    {
        DeliveryRecord *d = delivery(f, s.ids[1]);
        assert_string_equal(d->event, "license_expired");
        assert_string_equal(d->image_no, "");
        archive_free_delivery(d);
    }
}


/* Two changes of one counter in one command add up (reads see the command's batch). */
static void deleting_two_copies_in_one_command_releases_both(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    UsageRecord *before, *after;
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    char *ids[] = {"fdup1", "fdup2"};
    fx_add_file(f, "DUP-1", "fkeep", "keep.pdf", NULL, 0x42, &res);
    assert_int_equal(archive_get_usage(&f->a, "default", &before, &err), 0);
    fx_add_file(f, "DUP-1", "fdup1", "a.pdf", NULL, 0x77, &res);
    fx_add_file(f, "DUP-1", "fdup2", "b.pdf", NULL, 0x77, &res); /* same content */
    fx_stamp(&cmd, "default", T0);
    d.image_no = "DUP-1";
    d.file_ids = ids;
    d.n_file_ids = 2;
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_usage(&f->a, "default", &after, &err), 0);
    assert_int_equal(after->files, before->files);
    assert_int_equal(after->bytes, before->bytes);
    assert_int_equal(after->physical_bytes, before->physical_bytes);
    archive_free_usage(before);
    archive_free_usage(after);
}

static void register_node(struct fx *f, uint64_t id, const char *http, const char *zone,
                          struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    RegisterNode r = REGISTER_NODE__INIT;
    fx_stamp(&cmd, "default", T0);
    r.id = id;
    r.http = (char *)http;
    r.raft = "127.0.0.1:9001";
    r.zone = (char *)zone;
    cmd.body_case = COMMAND__BODY_REGISTER_NODE;
    cmd.register_node = &r;
    fx_apply(f, &cmd, res);
}

static void remove_node(struct fx *f, uint64_t id, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    RemoveNode r = REMOVE_NODE__INIT;
    fx_stamp(&cmd, "default", T0);
    r.id = id;
    cmd.body_case = COMMAND__BODY_REMOVE_NODE;
    cmd.remove_node = &r;
    fx_apply(f, &cmd, res);
}

static void count_node(const NodeRecord *n, void *arg)
{
    (*(unsigned *)arg)++;
}

static void nodes_register_update_and_remove(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    NodeRecord *n;
    unsigned count = 0;
    register_node(f, 1ull << 62, "node-a.example:8080", "zone-a", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.created);
    /* A restart with another address or zone updates the record. */
    register_node(f, 1ull << 62, "127.0.0.1:8081", "zone-b", &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.created);
    assert_int_equal(archive_get_node(&f->a, 1ull << 62, &n, &err), 0);
    assert_string_equal(n->http, "127.0.0.1:8081");
    assert_string_equal(n->zone, "zone-b");
    assert_false(n->removed);
    archive_free_node(n);
    register_node(f, 5, "127.0.0.1:8082", "zone-a", &res);
    assert_int_equal(archive_list_nodes(&f->a, count_node, &count, &err), 0);
    assert_int_equal(count, 2);
    remove_node(f, 5, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    remove_node(f, 5, &res);
    assert_true(res.replayed);
    /* A removed id never comes back: the node joins again with a new one. */
    register_node(f, 5, "127.0.0.1:8082", "zone-a", &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    assert_int_equal(archive_get_node(&f->a, 5, &n, &err), 0);
    assert_true(n->removed);
    archive_free_node(n);
    /* A member that never registered can be removed too. */
    remove_node(f, 77, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_node(&f->a, 77, &n, &err), 0);
    assert_true(n->removed);
    archive_free_node(n);
}

static void malformed_node_registration_is_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    NodeRecord *n;
    const char *bad[] = {"no-port", ":80", "host:0", "host:65536", "host:+80", "ho st:80",
                         "host:080", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        register_node(f, 9, bad[i], "z", &res);
        assert_int_equal(res.status, ARCHIVE_R_INVALID);
    }
    register_node(f, 9, "host:80", "bad zone", &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    register_node(f, 0, "host:80", "z", &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    assert_int_equal(archive_get_node(&f->a, 9, &n, &err), BASE_ENOTFOUND);
    assert_true(archive_valid_address("10.0.0.1:65535"));
    assert_true(archive_valid_address("archive-2.bank.internal:8080"));
}


static void set_holders(struct fx *f, uint8_t blob_byte, uint64_t add, uint64_t remove,
                        uint64_t require, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SetHolders sh = SET_HOLDERS__INIT;
    HolderChange hc = HOLDER_CHANGE__INIT;
    HolderChange *list[1] = {&hc};
    uint8_t blob[32];
    memset(blob, blob_byte, sizeof blob);
    fx_stamp(&cmd, "default", T0);
    hc.blob.data = blob;
    hc.blob.len = sizeof blob;
    hc.add = &add;
    hc.n_add = add != 0;
    hc.remove = &remove;
    hc.n_remove = remove != 0;
    hc.require = &require;
    hc.n_require = require != 0;
    sh.changes = list;
    sh.n_changes = 1;
    cmd.body_case = COMMAND__BODY_SET_HOLDERS;
    cmd.set_holders = &sh;
    fx_apply(f, &cmd, res);
}

static void assert_holders(struct fx *f, uint8_t blob_byte, const uint64_t *want,
                           size_t n)
{
    struct base_err err;
    BlobRecord *rec;
    uint8_t blob[32];
    memset(blob, blob_byte, sizeof blob);
    assert_int_equal(archive_get_blob(&f->a, blob, &rec, &err), 0);
    assert_int_equal(rec->n_holders, n);
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < rec->n_holders; j++) {
            found = found || rec->holders[j] == want[i];
        }
        assert_true(found);
    }
    archive_free_blob(rec);
}

/* Holders are added and dropped; a drop is applied only while the holders it counted
 * on are still there; a blob purged meanwhile is skipped. */
static void holder_changes_respect_their_requirements(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    fx_add_file(f, "HOLD-1", "fhold", "a.pdf", NULL, 0x51, &res); /* no holders given */
    set_holders(f, 0x51, 7, 0, 0, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 1);
    set_holders(f, 0x51, 8, 0, 0, &res);
    set_holders(f, 0x51, 8, 0, 0, &res); /* twice: still one entry */
    assert_holders(f, 0x51, (uint64_t[]){7, 8}, 2);
    /* Dropping 7 while 9 holds a copy: 9 does not, so nothing changes. */
    set_holders(f, 0x51, 0, 7, 9, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 0);
    assert_holders(f, 0x51, (uint64_t[]){7, 8}, 2);
    set_holders(f, 0x51, 0, 7, 8, &res);
    assert_int_equal(res.position, 1);
    assert_holders(f, 0x51, (uint64_t[]){8}, 1);
    /* An unknown blob: skipped, not an error. */
    set_holders(f, 0x52, 7, 0, 0, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(res.position, 0);
}

static void purge(struct fx *f, uint8_t blob_byte, uint64_t grace_ms, uint64_t time_ms,
                  struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    PurgeBlobs pb = PURGE_BLOBS__INIT;
    uint8_t blob[32];
    ProtobufCBinaryData item = {.data = blob, .len = sizeof blob};
    memset(blob, blob_byte, sizeof blob);
    fx_stamp(&cmd, "default", T0);
    cmd.time_ms = time_ms;
    pb.blobs = &item;
    pb.n_blobs = 1;
    pb.grace_ms = grace_ms;
    cmd.body_case = COMMAND__BODY_PURGE_BLOBS;
    cmd.purge_blobs = &pb;
    fx_apply(f, &cmd, res);
}

/* A record is purged only without references and after the grace period, counted from
 * when the last reference went. */
static void purge_waits_for_zero_references_and_the_grace(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BlobRecord *rec;
    Command cmd = COMMAND__INIT;
    DeleteFiles d = DELETE_FILES__INIT;
    char *ids[] = {"fgc"};
    uint8_t blob[32];
    uint64_t t0 = 1700000000000ull; /* the time fx_add_file() stamps */
    memset(blob, 0x61, sizeof blob);
    fx_add_file(f, "GC-1", "fgc", "a.pdf", NULL, 0x61, &res);
    purge(f, 0x61, 1000, t0 + 5000, &res);
    assert_int_equal(res.position, 0); /* referenced */
    fx_stamp(&cmd, "default", T0);
    d.image_no = "GC-1";
    d.file_ids = ids;
    d.n_file_ids = 1;
    cmd.body_case = COMMAND__BODY_DELETE_FILES;
    cmd.delete_files = &d;
    fx_apply(f, &cmd, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_blob(&f->a, blob, &rec, &err), 0);
    assert_int_equal(rec->refs, 0);
    assert_int_equal(rec->released_ms, t0);
    archive_free_blob(rec);
    purge(f, 0x61, 1000, t0 + 999, &res);
    assert_int_equal(res.position, 0); /* within the grace */
    purge(f, 0x61, 1000, t0 + 1000, &res);
    assert_int_equal(res.position, 1);
    assert_int_equal(archive_get_blob(&f->a, blob, &rec, &err), BASE_ENOTFOUND);
}

static void set_storage(struct fx *f, uint64_t id, const char *state,
                        struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SetNodeStorage sns = SET_NODE_STORAGE__INIT;
    fx_stamp(&cmd, "default", T0);
    sns.id = id;
    sns.storage = (char *)state;
    cmd.body_case = COMMAND__BODY_SET_NODE_STORAGE;
    cmd.set_node_storage = &sns;
    fx_apply(f, &cmd, res);
}

static void node_storage_states(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    NodeRecord *n;
    register_node(f, 11, "127.0.0.1:8091", "zone-a", &res);
    set_storage(f, 11, ARCHIVE_STORAGE_DRAINING, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    set_storage(f, 11, ARCHIVE_STORAGE_DRAINING, &res);
    assert_true(res.replayed);
    assert_int_equal(archive_get_node(&f->a, 11, &n, &err), 0);
    assert_string_equal(archive_storage_name(n->storage), "draining");
    archive_free_node(n);
    set_storage(f, 11, ARCHIVE_STORAGE_ACTIVE, &res);
    assert_int_equal(archive_get_node(&f->a, 11, &n, &err), 0);
    assert_string_equal(archive_storage_name(n->storage), "active");
    archive_free_node(n);
    set_storage(f, 11, "sideways", &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    /* An out node is not drained: its copies no longer count, and must not again. */
    set_storage(f, 11, ARCHIVE_STORAGE_OUT, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    set_storage(f, 11, ARCHIVE_STORAGE_DRAINING, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID_STATE);
    set_storage(f, 12, ARCHIVE_STORAGE_OUT, &res); /* never registered */
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
    remove_node(f, 11, &res);
    set_storage(f, 11, ARCHIVE_STORAGE_OUT, &res);
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
}

/* Every edit that names files refuses one of another bill (it once freed the record
 * twice and crashed every node that applied the entry), and changes nothing. */
static void edits_refuse_a_file_of_another_bill(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    char *other[] = {"fb1"};
    char *mixed[] = {"fa1", "fb1"};
    FileRecord *file;
    fx_add_file(f, "CB-A", "fa1", "a.pdf", NULL, 0x31, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_add_file(f, "CB-A", "fa2", "a2.pdf", NULL, 0x32, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_add_file(f, "CB-B", "fb1", "b.pdf", NULL, 0x33, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    for (int round = 0; round < 2; round++) {
        char **ids = round == 0 ? other : mixed;
        size_t n = round == 0 ? 1 : 2;
        {
            Command cmd = COMMAND__INIT;
            RotateFiles r = ROTATE_FILES__INIT;
            fx_stamp(&cmd, "default", T0);
            r.image_no = "CB-A";
            r.file_ids = ids;
            r.n_file_ids = n;
            r.degrees = 90;
            cmd.body_case = COMMAND__BODY_ROTATE_FILES;
            cmd.rotate_files = &r;
            fx_apply(f, &cmd, &res);
            assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
        }
        {
            Command cmd = COMMAND__INIT;
            SetCategory c = SET_CATEGORY__INIT;
            fx_stamp(&cmd, "default", T0);
            c.image_no = "CB-A";
            c.file_ids = ids;
            c.n_file_ids = n;
            c.category = "attachment";
            cmd.body_case = COMMAND__BODY_SET_CATEGORY;
            cmd.set_category = &c;
            fx_apply(f, &cmd, &res);
            assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
        }
        {
            Command cmd = COMMAND__INIT;
            DeleteFiles d = DELETE_FILES__INIT;
            fx_stamp(&cmd, "default", T0);
            d.image_no = "CB-A";
            d.file_ids = ids;
            d.n_file_ids = n;
            cmd.body_case = COMMAND__BODY_DELETE_FILES;
            cmd.delete_files = &d;
            fx_apply(f, &cmd, &res);
            assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
        }
        {
            Command cmd = COMMAND__INIT;
            MergeFiles m = MERGE_FILES__INIT;
            char *pair[] = {"fa1", "fb1"};
            fx_stamp(&cmd, "default", T0);
            m.image_no = "CB-A";
            m.file_ids = round == 0 ? pair : mixed;
            m.n_file_ids = 2;
            cmd.body_case = COMMAND__BODY_MERGE_FILES;
            cmd.merge_files = &m;
            fx_apply(f, &cmd, &res);
            assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
        }
    }
    {
        Command cmd = COMMAND__INIT;
        SplitFile sp = SPLIT_FILE__INIT;
        fx_stamp(&cmd, "default", T0);
        sp.image_no = "CB-A";
        sp.file_id = "fb1";
        cmd.body_case = COMMAND__BODY_SPLIT_FILE;
        cmd.split_file = &sp;
        fx_apply(f, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    }
    for (int which = 0; which < 2; which++) {
        Command cmd = COMMAND__INIT;
        MoveFile mv = MOVE_FILE__INIT;
        fx_stamp(&cmd, "default", T0);
        mv.image_no = "CB-A";
        mv.file_id = which == 0 ? "fb1" : "fa1";
        mv.after = which == 0 ? "fa1" : "fb1";
        cmd.body_case = COMMAND__BODY_MOVE_FILE;
        cmd.move_file = &mv;
        fx_apply(f, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    }
    {
        Command cmd = COMMAND__INIT;
        MatchFile m = MATCH_FILE__INIT;
        fx_stamp(&cmd, "default", T0);
        m.image_no = "CB-A";
        m.file_id = "fb1";
        m.invoice_number = "1";
        cmd.body_case = COMMAND__BODY_MATCH_FILE;
        cmd.match_file = &m;
        fx_apply(f, &cmd, &res);
        assert_int_equal(res.status, ARCHIVE_R_FILE_NOT_FOUND);
    }
    /* CB-B's file is untouched, and still its own. */
    assert_int_equal(archive_get_file(&f->a, "default", "fb1", &file, &err), 0);
    assert_string_equal(file->image_no, "CB-B");
    assert_int_equal(file->rotation, 0);
    assert_string_equal(file->category, "attachment");
    archive_free_file(file);
}

/* A capture names a new file id: one in use (by this bill or another one of the
 * tenant) is refused, never written over the file and listed twice. Found by the
 * command_apply fuzz target. */
static void capture_with_a_file_id_in_use_is_refused(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    BillOrder *order;
    BillRecord *bill;
    FileRecord *file;
    fx_add_file(f, "CB-A", "fa1", "a.pdf", NULL, 0x31, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_add_file(f, "CB-B", "fb1", "b.pdf", NULL, 0x32, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    fx_add_file(f, "CB-A", "fa1", "again.pdf", NULL, 0x33, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    fx_add_file(f, "CB-A", "fb1", "other.pdf", NULL, 0x34, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    assert_int_equal(archive_get_order(&f->a, "default", "CB-A", &order, &err), 0);
    assert_int_equal(order->n_file_ids, 1);
    archive_free_order(order);
    assert_int_equal(archive_get_bill(&f->a, "default", "CB-A", &bill, &err), 0);
    assert_int_equal(bill->files, 1);
    archive_free_bill(bill);
    assert_int_equal(archive_get_file(&f->a, "default", "fb1", &file, &err), 0);
    assert_string_equal(file->image_no, "CB-B");
    assert_string_equal(file->name, "b.pdf");
    archive_free_file(file);
}

static void report_space(struct fx *f, uint64_t id, uint64_t capacity, bool full,
                         struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    ReportNodeSpace rs = REPORT_NODE_SPACE__INIT;
    fx_stamp(&cmd, "default", T0);
    rs.id = id;
    rs.capacity_bytes = capacity;
    rs.full = full;
    cmd.body_case = COMMAND__BODY_REPORT_NODE_SPACE;
    cmd.report_node_space = &rs;
    fx_apply(f, &cmd, res);
}

static void set_weight(struct fx *f, uint64_t id, uint32_t pct, struct archive_result *res)
{
    Command cmd = COMMAND__INIT;
    SetNodeWeight sw = SET_NODE_WEIGHT__INIT;
    fx_stamp(&cmd, "default", T0);
    sw.id = id;
    sw.weight_pct = pct;
    cmd.body_case = COMMAND__BODY_SET_NODE_WEIGHT;
    cmd.set_node_weight = &sw;
    fx_apply(f, &cmd, res);
}

/* A member's space report and the operator's weight land in its record; malformed ones,
 * and ones about non-members, are refused and change nothing. */
static void node_space_and_weight(void **state)
{
    struct fx *f = *state;
    struct archive_result res;
    struct base_err err;
    NodeRecord *n;
    register_node(f, 21, "127.0.0.1:8091", "zone-a", &res);
    assert_int_equal(archive_get_node(&f->a, 21, &n, &err), 0);
    assert_int_equal(n->capacity_bytes, 0); /* not reported yet */
    assert_int_equal(archive_node_weight_pct(n), 100);
    archive_free_node(n);

    report_space(f, 21, 2ull << 40, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    report_space(f, 21, 2ull << 40, false, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_true(res.replayed);
    report_space(f, 21, 2ull << 40, true, &res);
    assert_false(res.replayed);
    assert_int_equal(archive_get_node(&f->a, 21, &n, &err), 0);
    assert_int_equal(n->capacity_bytes, 2ull << 40);
    assert_true(n->full);
    assert_int_equal(n->space_ms, T0);
    assert_string_equal(n->zone, "zone-a"); /* the rest of the record kept */
    archive_free_node(n);
    /* Malformed: no id, below 1 MiB, above 2^60. */
    report_space(f, 0, 1ull << 30, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    report_space(f, 21, (1ull << 20) - 1, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    report_space(f, 21, 0, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    report_space(f, 21, (1ull << 60) + 1, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    report_space(f, 22, 1ull << 30, false, &res); /* never registered */
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
    assert_int_equal(archive_get_node(&f->a, 22, &n, &err), BASE_ENOTFOUND);
    assert_int_equal(archive_get_node(&f->a, 21, &n, &err), 0);
    assert_int_equal(n->capacity_bytes, 2ull << 40); /* unchanged by the refusals */
    assert_true(n->full);
    archive_free_node(n);

    set_weight(f, 21, 50, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_false(res.replayed);
    set_weight(f, 21, 50, &res);
    assert_true(res.replayed);
    assert_int_equal(archive_get_node(&f->a, 21, &n, &err), 0);
    assert_int_equal(archive_node_weight_pct(n), 50);
    archive_free_node(n);
    set_weight(f, 21, 0, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    set_weight(f, 21, 1001, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    set_weight(f, 0, 100, &res);
    assert_int_equal(res.status, ARCHIVE_R_INVALID);
    set_weight(f, 22, 100, &res);
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
    set_weight(f, 21, 100, &res); /* back to the default, stored as none */
    assert_int_equal(res.status, ARCHIVE_OK);
    assert_int_equal(archive_get_node(&f->a, 21, &n, &err), 0);
    assert_int_equal(n->weight_pct, 0);
    assert_int_equal(archive_node_weight_pct(n), 100);
    archive_free_node(n);
    set_weight(f, 21, 1000, &res);
    assert_int_equal(res.status, ARCHIVE_OK);
    /* A removed node takes neither. */
    remove_node(f, 21, &res);
    report_space(f, 21, 1ull << 30, false, &res);
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
    set_weight(f, 21, 10, &res);
    assert_int_equal(res.status, ARCHIVE_R_NODE_NOT_FOUND);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(pool_push_creates_then_updates, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(capture_classifies_and_orders, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(submit_rules, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(idempotent_capture_applies_once, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(entry_applied_twice_is_a_no_op, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(state_survives_restart, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(undecodable_entry_is_refused_deterministically, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(snapshot_round_trip, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(default_tenant_starts_on_an_evaluation_license, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(new_tenant_needs_a_license_and_tenants_are_unique, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(older_expired_and_future_licenses_are_refused, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(quota_is_exact, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(state_changes_are_queued_and_results_applied, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(license_warning_stages_are_announced_once, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(deleting_two_copies_in_one_command_releases_both, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(nodes_register_update_and_remove, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(malformed_node_registration_is_refused, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(holder_changes_respect_their_requirements, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(purge_waits_for_zero_references_and_the_grace, fx_setup,
                                    fx_teardown),
    cmocka_unit_test_setup_teardown(node_storage_states, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(node_space_and_weight, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(edits_refuse_a_file_of_another_bill, fx_setup, fx_teardown),
    cmocka_unit_test_setup_teardown(capture_with_a_file_id_in_use_is_refused, fx_setup,
                                    fx_teardown),
};

TESTLIB_MAIN("fsm", tests)
