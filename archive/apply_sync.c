/* Applying the invoice-data sync: a tenant's settings, new runs (by hand, or the
 * leader's daily one under its deterministic id), the records of a run's steps as the
 * leader's runner (migrate/sync.c) reports them, a run that cannot go on, and the
 * failed records put back for another try. See archive/sync.h; docs/migration.md
 * "Invoice-data sync" tells the story. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/migration.h"
#include "archive/sync.h"
#include "base/mem.h"

#define SYNC_TEXT_MAX 400 /* a reason or a message */

static bool text_ok(const char *s, size_t max)
{
    return s != NULL && strlen(s) <= max;
}

/* Whether @orgs (@n) are usable organisation ids, each once. */
static bool orgs_ok(char **orgs, size_t n)
{
    if (n > SYNC_ORGS_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!archive_valid_migration_name(orgs[i])) {
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(orgs[i], orgs[j]) == 0) {
                return false;
            }
        }
    }
    return true;
}

/* ---- Settings ---- */

int apply_put_sync_settings(struct txn *t, const PutSyncSettings *c)
{
    const SyncSettings *in = c->settings;
    SyncSettings rec = SYNC_SETTINGS__INIT;
    DataSourceRecord *ds = NULL;
    struct key k;
    json_t *detail;
    int rv;
    if (in == NULL || !archive_valid_migration_name(in->datasource) ||
        !archive_valid_sync_time(in->daily_at) || !orgs_ok(in->orgs, in->n_orgs) ||
        in->n_protected_fields > 8) {
        refuse(t, ARCHIVE_R_INVALID, "sync settings need a data source, a daily time HH:MM "
               "and at most %d distinct organisation ids", SYNC_ORGS_MAX);
        return 0;
    }
    for (size_t i = 0; i < in->n_protected_fields; i++) {
        if (!archive_sync_field_known(in->protected_fields[i])) {
            refuse(t, ARCHIVE_R_INVALID, "protected field %.32s is not an invoice field",
                   in->protected_fields[i]);
            return 0;
        }
    }
    key_pair(&k, t->cmd->tenant, in->datasource);
    rv = archive_load_record(t->a, ARCHIVE_CF_DATASOURCES, &k, &data_source_record__descriptor,
                             (ProtobufCMessage **)&ds, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DATASOURCE_NOT_FOUND, "tenant %s has no data source %s",
               t->cmd->tenant, in->datasource);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    data_source_record__free_unpacked(ds, NULL);
    rec = *in;
    rec.base = (ProtobufCMessage)PROTOBUF_C_MESSAGE_INIT(&sync_settings__descriptor);
    rec.updated_ms = t->cmd->time_ms;
    rec.updated_by = t->cmd->operator_;
    k.len = strlen(t->cmd->tenant);
    memcpy(k.buf, t->cmd->tenant, k.len);
    put_record(t, ARCHIVE_CF_SYNC_SETTINGS, &k, &rec.base);
    detail = json_pack("{s:s, s:b, s:s, s:o, s:o}", "datasource", rec.datasource, "enabled",
                       rec.enabled, "daily_at", rec.daily_at, "orgs",
                       string_array(rec.orgs, rec.n_orgs), "protected_fields",
                       string_array(rec.protected_fields, rec.n_protected_fields));
    admin_audit(t, t->cmd->tenant, "sync_settings_set", detail);
    return 0;
}

/* ---- Runs ---- */

static void run_key(struct key *k, const char *tenant, const char *run_id)
{
    key_pair(k, tenant, run_id);
}

/* Stores @r (updated now) and keeps the queue equal to the runs pending or running. */
static void run_store(struct txn *t, SyncRunRecord *r)
{
    struct key k;
    run_key(&k, r->tenant, r->run_id);
    put_record(t, ARCHIVE_CF_SYNC_RUNS, &k, &r->base);
    if (strcmp(r->state, SYNC_PENDING) == 0 || strcmp(r->state, SYNC_RUNNING) == 0) {
        rocks_batch_put(t->batch, ARCHIVE_CF_SYNC_QUEUE, k.buf, k.len, "", 0);
    } else {
        rocks_batch_delete(t->batch, ARCHIVE_CF_SYNC_QUEUE, k.buf, k.len);
    }
}

/* Run @run_id of the command's tenant: 0, or a refusal (BASE_ENOTFOUND), or a store
 * error. */
static int run_load(struct txn *t, const char *run_id, SyncRunRecord **out)
{
    struct key k;
    int rv;
    if (!archive_valid_sync_run_id(run_id)) {
        refuse(t, ARCHIVE_R_INVALID, "a sync run id is 1-%d of A-Z a-z 0-9 . _ -",
               SYNC_RUN_ID_MAX);
        return BASE_ENOTFOUND;
    }
    run_key(&k, t->cmd->tenant, run_id);
    rv = archive_load_record(t->a, ARCHIVE_CF_SYNC_RUNS, &k, &sync_run_record__descriptor,
                             (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_SYNC_NOT_FOUND, "tenant %s has no sync run %s", t->cmd->tenant,
               run_id);
    }
    return rv;
}

static bool kind_ok(const CreateSyncRun *c)
{
    if (strcmp(c->kind, SYNC_KIND_SCHEDULED) == 0 || strcmp(c->kind, SYNC_KIND_DATE) == 0) {
        return archive_valid_sync_date(c->date) && c->image_no[0] == '\0';
    }
    if (strcmp(c->kind, SYNC_KIND_FULL) == 0) {
        return c->date[0] == '\0' && c->image_no[0] == '\0' && c->from_ms == 0 &&
               c->to_ms == 0;
    }
    if (strcmp(c->kind, SYNC_KIND_BILL) == 0) {
        return c->date[0] == '\0' && archive_valid_image_no(c->image_no);
    }
    return false;
}

static void run_new(struct txn *t, const SyncSettings *s, const CreateSyncRun *c,
                    const char *run_id, const char *org)
{
    SyncRunRecord r = SYNC_RUN_RECORD__INIT;
    r.run_id = (char *)run_id;
    r.tenant = t->cmd->tenant;
    r.org = (char *)org;
    r.kind = c->kind;
    r.date = c->date;
    r.image_no = c->image_no;
    r.datasource = s->datasource;
    r.state = SYNC_PENDING;
    r.created_ms = t->cmd->time_ms;
    r.attempts = 1;
    r.from_ms = c->from_ms;
    r.to_ms = c->to_ms;
    r.created_by = t->cmd->operator_;
    r.protected_fields = s->protected_fields;
    r.n_protected_fields = s->n_protected_fields;
    r.result = "";
    r.message = "";
    r.cursor = "";
    r.attempt_day = "";
    run_store(t, &r);
}

int apply_create_sync_run(struct txn *t, const CreateSyncRun *c)
{
    SyncSettings *s = NULL;
    DataSourceRecord *ds = NULL;
    struct key k;
    int rv;
    if (!kind_ok(c) || !orgs_ok(c->orgs, c->n_orgs) ||
        (c->from_ms != 0 && c->to_ms != 0 && c->from_ms >= c->to_ms)) {
        refuse(t, ARCHIVE_R_INVALID, "a sync run is scheduled or date (with a date "
               "YYYY-MM-DD), full, or bill (with an image number), for distinct "
               "organisations");
        return 0;
    }
    if (c->run_id[0] != '\0' && (!archive_valid_sync_run_id(c->run_id) || c->n_orgs > 1)) {
        refuse(t, ARCHIVE_R_INVALID, "a named sync run is for one organisation (or all)");
        return 0;
    }
    k.len = strlen(t->cmd->tenant);
    memcpy(k.buf, t->cmd->tenant, k.len);
    rv = archive_load_record(t->a, ARCHIVE_CF_SYNC_SETTINGS, &k, &sync_settings__descriptor,
                             (ProtobufCMessage **)&s, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_SYNC_NOT_FOUND, "tenant %s has no sync settings: PUT "
               "/api/v1/sync/settings first", t->cmd->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    key_pair(&k, t->cmd->tenant, s->datasource);
    rv = archive_load_record(t->a, ARCHIVE_CF_DATASOURCES, &k, &data_source_record__descriptor,
                             (ProtobufCMessage **)&ds, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DATASOURCE_NOT_FOUND, "the sync's data source %s is gone: set "
               "another in the sync settings", s->datasource);
        rv = 0;
        goto out;
    }
    if (rv != 0) {
        goto out;
    }
    if (ds->disabled) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "data source %s is disabled", ds->name);
        goto out;
    }
    if (c->run_id[0] != '\0') {
        bool found;
        run_key(&k, t->cmd->tenant, c->run_id);
        if ((rv = record_exists(t, ARCHIVE_CF_SYNC_RUNS, &k, &found)) != 0) {
            goto out;
        }
        if (found) {
            refuse(t, ARCHIVE_R_INVALID_STATE, "sync run %s exists", c->run_id);
            goto out;
        }
        run_new(t, s, c, c->run_id, c->n_orgs == 1 ? c->orgs[0] : "");
        t->res->position = 1;
    } else {
        /* One run per organisation: those named, else the settings', else one for all;
         * a bill run is one run. */
        char **orgs = c->n_orgs > 0 ? c->orgs : s->orgs;
        size_t n = c->n_orgs > 0 ? c->n_orgs : s->n_orgs;
        if (strcmp(c->kind, SYNC_KIND_BILL) == 0 && n > 1) {
            n = 0;
        }
        for (size_t i = 0; i < (n > 0 ? n : 1); i++) {
            char id[SYNC_RUN_ID_MAX + 1];
            snprintf(id, sizeof id, "run-%012llu-%zu", (unsigned long long)t->index, i + 1);
            run_new(t, s, c, id, n > 0 ? orgs[i] : "");
        }
        t->res->position = (uint32_t)(n > 0 ? n : 1);
    }
    t->res->index = t->index;
out:
    if (ds != NULL) {
        data_source_record__free_unpacked(ds, NULL);
    }
    sync_settings__free_unpacked(s, NULL);
    return rv;
}

/* ---- A run's records ---- */

/* tenant \0 org \0 image_no \0 file_id */
static void failure_key(struct key *k, const char *tenant, const char *org, const char *image_no,
                        const char *file_id)
{
    size_t n = strlen(file_id);
    key_triple(k, tenant, org, image_no);
    if (k->len + 1 + n <= KEY_MAX) {
        k->buf[k->len++] = '\0';
        memcpy(k->buf + k->len, file_id, n);
        k->len += n;
    }
}

static void failure_clear(struct txn *t, const SyncRunRecord *r, const char *org,
                          const SyncItem *it)
{
    struct key k;
    failure_key(&k, t->cmd->tenant, org, it->image_no, it->file_id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_SYNC_ITEMS, k.buf, k.len);
    if (strcmp(org, r->org) != 0) {
        failure_key(&k, t->cmd->tenant, r->org, it->image_no, it->file_id);
        rocks_batch_delete(t->batch, ARCHIVE_CF_SYNC_ITEMS, k.buf, k.len);
    }
}

/* Records that @it failed with @reason: one attempt more, given up at the last. A record
 * tried already in this run (its retry pass, then its list) counts once. */
static int failure_record(struct txn *t, SyncRunRecord *r, const char *org, const SyncItem *it,
                          const char *reason)
{
    SyncFailure *prev = NULL;
    SyncFailure f = SYNC_FAILURE__INIT;
    struct key k;
    int rv;
    failure_key(&k, t->cmd->tenant, org, it->image_no, it->file_id);
    rv = archive_load_record(t->a, ARCHIVE_CF_SYNC_ITEMS, &k, &sync_failure__descriptor,
                             (ProtobufCMessage **)&prev, t->err);
    if (rv != 0 && rv != BASE_ENOTFOUND) {
        return rv;
    }
    f.image_no = it->image_no;
    f.file_id = it->file_id;
    f.org = (char *)org;
    f.reason = (char *)reason;
    f.run_id = r->run_id;
    f.updated_ms = t->cmd->time_ms;
    if (prev != NULL && strcmp(prev->run_id, r->run_id) == 0) {
        f.attempts = prev->attempts;
        f.state = prev->state;
    } else if (prev != NULL && strcmp(prev->state, SYNC_GIVEN_UP) == 0) {
        f.attempts = prev->attempts; /* left for a person: no more attempts counted */
        f.state = SYNC_GIVEN_UP;
        r->failed++;
    } else {
        f.attempts = (prev != NULL ? prev->attempts : 0) + 1;
        f.state = f.attempts >= SYNC_ATTEMPTS_MAX ? SYNC_GIVEN_UP : SYNC_RETRYING;
        r->failed++;
    }
    put_record(t, ARCHIVE_CF_SYNC_ITEMS, &k, &f.base);
    if (prev != NULL) {
        sync_failure__free_unpacked(prev, NULL);
    }
    return 0;
}

static bool is_protected(const SyncRunRecord *r, const char *field)
{
    for (size_t i = 0; i < r->n_protected_fields; i++) {
        if (strcmp(r->protected_fields[i], field) == 0) {
            return true;
        }
    }
    return false;
}

/* The source's fields of @src that are not protected, into @dst; whether any changed. */
static bool merge_invoice(const SyncRunRecord *r, Invoice *dst, const Invoice *src)
{
    char **d[] = {&dst->number, &dst->code, &dst->date, &dst->amount,
                  &dst->tax, &dst->total, &dst->seller_tax_no, &dst->buyer_tax_no};
    const char *s[] = {src->number, src->code, src->date, src->amount,
                       src->tax, src->total, src->seller_tax_no, src->buyer_tax_no};
    bool changed = false;
    for (size_t i = 0; i < ARRAY_SIZE(d); i++) {
        const char *v = s[i] != NULL ? s[i] : "";
        if (is_protected(r, SYNC_FIELDS[i]) || strcmp(*d[i] != NULL ? *d[i] : "", v) == 0) {
            continue;
        }
        set_string(d[i], v);
        changed = true;
    }
    return changed;
}

static bool invoice_ok(const Invoice *inv)
{
    return inv == NULL ||
           (text_ok(inv->number, 64) && text_ok(inv->code, 64) && text_ok(inv->date, 32) &&
            text_ok(inv->amount, 32) && text_ok(inv->tax, 32) && text_ok(inv->total, 32) &&
            text_ok(inv->seller_tax_no, 64) && text_ok(inv->buyer_tax_no, 64));
}

static bool item_ok(const SyncItem *it)
{
    return archive_valid_image_no(it->image_no) && text_ok(it->file_id, ARCHIVE_ID_MAX) &&
           text_ok(it->error, SYNC_TEXT_MAX) && invoice_ok(it->invoice) &&
           (it->file_id[0] != '\0' || it->error[0] != '\0');
}

/* One record: the file takes the source's face data, or is left as edited here, or the
 * record fails with why. */
static int sync_item(struct txn *t, SyncRunRecord *r, const SyncItem *it)
{
    char reason[SYNC_TEXT_MAX + 1] = "";
    BillRecord *bill = NULL;
    FileRecord *f = NULL;
    const char *org = r->org;
    struct key k;
    int rv = 0;
    if (it->error[0] != '\0') {
        snprintf(reason, sizeof reason, "%s", it->error);
        goto failed;
    }
    rv = load_bill(t, it->image_no, &bill);
    if (rv == BASE_ENOTFOUND) {
        snprintf(reason, sizeof reason, "bill %s is not in this archive: migrate it first",
                 it->image_no);
        rv = 0;
        goto failed;
    }
    if (rv != 0) {
        return rv;
    }
    org = bill->org;
    if (!archive_valid_tenant(it->file_id)) {
        rv = BASE_ENOTFOUND;
    } else {
        key_pair(&k, t->cmd->tenant, it->file_id);
        rv = archive_load_record(t->a, ARCHIVE_CF_FILES, &k, &file_record__descriptor,
                                 (ProtobufCMessage **)&f, t->err);
    }
    if (rv == 0 && strcmp(f->image_no, bill->image_no) != 0) {
        archive_free_file(f);
        f = NULL;
        rv = BASE_ENOTFOUND;
    }
    if (rv == BASE_ENOTFOUND) {
        snprintf(reason, sizeof reason, "file %.64s of bill %s is not in this archive: "
                 "migrate the bill again", it->file_id, it->image_no);
        rv = 0;
        goto failed;
    }
    if (rv != 0) {
        goto out;
    }
    if (f->match[0] != '\0') {
        snprintf(reason, sizeof reason, "file %s is matched to invoice %.64s: matched invoices "
                 "are locked; unmatch it, then retry", f->file_id, f->match);
        goto failed;
    }
    if (f->invoice_local) {
        r->skipped++; /* edited here: left as it is */
        failure_clear(t, r, org, it);
        goto out;
    }
    if (it->invoice == NULL || it->invoice->number == NULL || it->invoice->number[0] == '\0') {
        snprintf(reason, sizeof reason, "the source has no invoice data for file %s",
                 f->file_id);
        goto failed;
    }
    {
        json_t *before = archive_invoice_json(f->invoice);
        Invoice *inv = f->invoice;
        if (inv == NULL) {
            inv = xmalloc(sizeof *inv);
            invoice__init(inv);
            copy_invoice(inv, &(Invoice)INVOICE__INIT);
            f->invoice = inv;
        }
        if (merge_invoice(r, inv, it->invoice)) {
            put_file(t, f);
            audit(t, bill, "invoice_data_synced",
                  json_pack("{s:s, s:s, s:o, s:o}", "file_id", f->file_id, "run_id", r->run_id,
                            "before", before, "after", archive_invoice_json(inv)));
            store_bill(t, bill);
        } else {
            json_decref(before);
        }
    }
    r->succeeded++;
    failure_clear(t, r, org, it);
    goto out;
failed:
    rv = failure_record(t, r, org, it, reason);
out:
    archive_free_file(f);
    if (bill != NULL) {
        archive_free_bill(bill);
    }
    return rv;
}

static void finish(struct txn *t, SyncRunRecord *r)
{
    char msg[SYNC_TEXT_MAX];
    uint64_t total = r->succeeded + r->failed + r->skipped;
    set_string(&r->state, r->failed > 0 ? SYNC_FAILED : SYNC_DONE);
    set_string(&r->result, r->failed > 0 ? SYNC_RESULT_PARTIAL : SYNC_RESULT_OK);
    if (r->failed > 0) {
        snprintf(msg, sizeof msg, "%llu of %llu records failed: the next runs try them again "
                 "(%d attempts in all), then sync by hand or check network and configuration",
                 (unsigned long long)r->failed, (unsigned long long)total, SYNC_ATTEMPTS_MAX);
    } else {
        snprintf(msg, sizeof msg, "%llu records synchronised, %llu edited here left as they "
                 "are", (unsigned long long)r->succeeded, (unsigned long long)r->skipped);
    }
    set_string(&r->message, msg);
    r->finished_ms = t->cmd->time_ms;
}

/* Run @run_id, pending or running: else refused (a former leader's late report). */
static int load_active(struct txn *t, const char *run_id, SyncRunRecord **out)
{
    int rv = run_load(t, run_id, out);
    if (rv != 0) {
        return rv;
    }
    if (strcmp((*out)->state, SYNC_PENDING) != 0 && strcmp((*out)->state, SYNC_RUNNING) != 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "sync run %s is %s", (*out)->run_id, (*out)->state);
        sync_run_record__free_unpacked(*out, NULL);
        *out = NULL;
        return BASE_ENOTFOUND;
    }
    return 0;
}

int apply_sync_invoices(struct txn *t, const SyncInvoices *c)
{
    SyncRunRecord *r = NULL;
    int rv = load_active(t, c->run_id, &r);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (c->n_items > SYNC_ITEMS_MAX || !text_ok(c->next_cursor, 256)) {
        refuse(t, ARCHIVE_R_INVALID, "sync run %s: at most %d records of a page", r->run_id,
               SYNC_ITEMS_MAX);
        goto out;
    }
    if (c->retry_pass ? r->retried
                      : (!r->retried || r->listed || strcmp(r->cursor, c->cursor) != 0)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "sync run %s: a %s from cursor '%.64s' does not "
               "follow (cursor '%.64s')", r->run_id, c->retry_pass ? "retry pass" : "page",
               c->cursor, r->cursor);
        goto out;
    }
    for (size_t i = 0; i < c->n_items; i++) {
        if (!item_ok(c->items[i])) {
            refuse(t, ARCHIVE_R_INVALID, "sync run %s: record %zu is malformed", r->run_id, i);
            goto out;
        }
    }
    if (strcmp(r->state, SYNC_PENDING) == 0) {
        set_string(&r->state, SYNC_RUNNING);
        r->started_ms = t->cmd->time_ms;
    }
    for (size_t i = 0; i < c->n_items && rv == 0; i++) {
        rv = sync_item(t, r, c->items[i]);
    }
    if (rv != 0) {
        goto out;
    }
    if (c->retry_pass) {
        r->retried = true;
    } else {
        set_string(&r->cursor, c->next_cursor);
        if (c->next_cursor[0] == '\0') {
            r->listed = true;
            finish(t, r);
        }
    }
    run_store(t, r);
out:
    sync_run_record__free_unpacked(r, NULL);
    return rv;
}

int apply_sync_run_failed(struct txn *t, const SyncRunFailed *c)
{
    SyncRunRecord *r = NULL;
    int rv = load_active(t, c->run_id, &r);
    char msg[SYNC_TEXT_MAX + 1];
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    snprintf(msg, sizeof msg, "%s", c->message);
    set_string(&r->state, SYNC_FAILED);
    set_string(&r->result, SYNC_RESULT_ERROR);
    set_string(&r->message, msg);
    if (r->started_ms == 0) {
        r->started_ms = t->cmd->time_ms;
    }
    r->finished_ms = t->cmd->time_ms;
    run_store(t, r);
    sync_run_record__free_unpacked(r, NULL);
    return 0;
}

int apply_retry_sync_run(struct txn *t, const RetrySyncRun *c)
{
    SyncRunRecord *r = NULL;
    char msg[80];
    int rv = run_load(t, c->run_id, &r);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!archive_valid_sync_date(c->day)) {
        refuse(t, ARCHIVE_R_INVALID, "a retry of a sync run names its day YYYY-MM-DD");
    } else if (strcmp(r->state, SYNC_FAILED) != 0 || strcmp(r->result, SYNC_RESULT_ERROR) != 0 ||
               r->attempts >= SYNC_ATTEMPTS_MAX || strcmp(r->attempt_day, c->day) == 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "sync run %s is not to be tried again (%s, %s, "
               "attempt %u)", r->run_id, r->state, r->result, r->attempts);
    } else {
        r->attempts++;
        snprintf(msg, sizeof msg, "attempt %u", r->attempts);
        set_string(&r->attempt_day, c->day);
        set_string(&r->state, SYNC_PENDING);
        set_string(&r->result, "");
        set_string(&r->message, msg);
        set_string(&r->cursor, "");
        r->retried = false;
        r->listed = false;
        r->succeeded = r->failed = r->skipped = 0;
        r->started_ms = r->finished_ms = 0;
        run_store(t, r);
    }
    sync_run_record__free_unpacked(r, NULL);
    return 0;
}

struct given_up {
    struct txn *t;
    uint32_t n;
};

static bool put_back(const SyncFailure *f, void *arg)
{
    struct given_up *g = arg;
    SyncFailure copy = *f;
    struct key k;
    if (strcmp(f->state, SYNC_GIVEN_UP) != 0) {
        return true;
    }
    if (g->n >= SYNC_RETRY_MAX) {
        return false; /* one bounded batch; the caller asks again for the rest */
    }
    copy.state = SYNC_RETRYING;
    copy.attempts = 0;
    copy.run_id = "";
    copy.updated_ms = g->t->cmd->time_ms;
    failure_key(&k, g->t->cmd->tenant, f->org, f->image_no, f->file_id);
    put_record(g->t, ARCHIVE_CF_SYNC_ITEMS, &k, &copy.base);
    g->n++;
    return true;
}

int apply_retry_sync_failures(struct txn *t, const RetrySyncFailures *c)
{
    struct given_up g = {.t = t};
    int rv;
    if (!c->all && !archive_valid_migration_name(c->org)) {
        refuse(t, ARCHIVE_R_INVALID, "name an organisation, or all");
        return 0;
    }
    rv = archive_each_sync_failure(t->a, t->cmd->tenant, c->all ? NULL : c->org, put_back, &g,
                                   t->err);
    if (rv != 0) {
        return rv;
    }
    t->res->position = g.n;
    if (g.n > 0) {
        admin_audit(t, t->cmd->tenant, "sync_failures_retried",
                    json_pack("{s:s, s:i}", "org", c->all ? "" : c->org, "records", (int)g.n));
    }
    return 0;
}
