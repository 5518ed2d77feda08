/* Applying migration batches: what every migration command shares (the batch record,
 * its log, the counts kept by each bill's state) and the commands of the leader's
 * runner (migrate/runner.c): a page of the source's list, the pre-check of bills, a
 * bill that failed to move, and a bill moved in (ImportBill). The operator's commands
 * (create, start, pause, resume, retry, cancel, skip) are in apply_migration_ops.c;
 * data sources in apply_datasources.c. docs/migration.md tells the whole story. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"
#include "archive/migration.h"
#include "base/mem.h"

/* ---- Shared by the migration commands ---- */

int migration_load(struct txn *t, const char *batch_no, MigrationRecord **out)
{
    struct key k;
    int rv;
    if (batch_no == NULL || !archive_valid_migration_name(batch_no)) {
        refuse(t, ARCHIVE_R_INVALID, "a batch number is 1-64 of A-Z a-z 0-9 . _ -");
        return BASE_ENOTFOUND;
    }
    key_pair(&k, t->cmd->tenant, batch_no);
    rv = archive_load_record(t->a, ARCHIVE_CF_MIGRATIONS, &k, &migration_record__descriptor,
                             (ProtobufCMessage **)out, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_MIGRATION_NOT_FOUND, "tenant %s has no migration batch %s",
               t->cmd->tenant, batch_no);
    }
    return rv;
}

void migration_store(struct txn *t, MigrationRecord *m)
{
    struct key k;
    m->updated_ms = t->cmd->time_ms;
    key_pair(&k, m->tenant, m->batch_no);
    put_record(t, ARCHIVE_CF_MIGRATIONS, &k, &m->base);
    /* The runner's queue holds exactly the running batches. */
    if (strcmp(m->state, MIGRATION_RUNNING) == 0) {
        rocks_batch_put(t->batch, ARCHIVE_CF_MIGRATION_RUN, k.buf, k.len, "", 0);
    } else {
        rocks_batch_delete(t->batch, ARCHIVE_CF_MIGRATION_RUN, k.buf, k.len);
    }
}

void migration_log(struct txn *t, MigrationRecord *m, const char *action, const char *image_no,
                   json_t *detail)
{
    MigrationLogEntry e = MIGRATION_LOG_ENTRY__INIT;
    struct key k;
    char *text = json_dumps(detail != NULL ? detail : json_object(),
                            JSON_COMPACT | JSON_SORT_KEYS);
    e.seq = ++m->log_seq;
    e.time_ms = t->cmd->time_ms;
    e.operator_ = t->cmd->operator_;
    e.action = (char *)action;
    e.image_no = (char *)(image_no != NULL ? image_no : "");
    e.detail = text;
    key_audit(&k, m->tenant, m->batch_no, e.seq);
    put_record(t, ARCHIVE_CF_MIGRATION_LOG, &k, &e.base);
    free(text);
    json_decref(detail);
}

int migration_bill_load(struct txn *t, const MigrationRecord *m, const char *image_no,
                        MigrationBill **out)
{
    struct key k;
    if (image_no == NULL || !archive_valid_image_no(image_no)) {
        return BASE_ENOTFOUND;
    }
    key_triple(&k, m->tenant, m->batch_no, image_no);
    return archive_load_record(t->a, ARCHIVE_CF_MIGRATION_BILLS, &k, &migration_bill__descriptor,
                               (ProtobufCMessage **)out, t->err);
}

void migration_bill_store(struct txn *t, const MigrationRecord *m, MigrationBill *b)
{
    struct key k;
    b->updated_ms = t->cmd->time_ms;
    key_triple(&k, m->tenant, m->batch_no, b->image_no);
    put_record(t, ARCHIVE_CF_MIGRATION_BILLS, &k, &b->base);
}

/* The batch's counter of bills in @state. */
static uint64_t *count_of(MigrationRecord *m, const char *state)
{
    if (state == NULL || state[0] == '\0') {
        return NULL;
    }
    if (strcmp(state, MIGRATION_BILL_PENDING) == 0 || strcmp(state, MIGRATION_BILL_CHECKED) == 0) {
        return &m->pending;
    }
    if (strcmp(state, MIGRATION_BILL_MIGRATED) == 0 || strcmp(state, MIGRATION_BILL_PRESENT) == 0) {
        return &m->migrated;
    }
    if (strcmp(state, MIGRATION_BILL_FAILED) == 0) {
        return &m->failed;
    }
    if (strcmp(state, MIGRATION_BILL_SKIPPED) == 0) {
        return &m->skipped;
    }
    return NULL;
}

void migration_bill_set_state(MigrationRecord *m, MigrationBill *b, const char *state,
                              const char *reason)
{
    uint64_t *from = count_of(m, b->state);
    uint64_t *to = count_of(m, state);
    if (from != NULL && *from > 0) {
        (*from)--;
    }
    if (to != NULL) {
        (*to)++;
    }
    if (b->state == NULL || b->state[0] == '\0') {
        m->bills++;
    }
    set_string(&b->state, state);
    set_string(&b->reason, reason);
}

/* Finishes @m when nothing is left to do: listed, checked, no bill pending. */
static void finish_if_over(struct txn *t, MigrationRecord *m)
{
    if (strcmp(m->state, MIGRATION_RUNNING) != 0 || !m->listed || !m->checked ||
        m->pending > 0) {
        return;
    }
    set_string(&m->state, m->failed > 0 ? MIGRATION_FAILED : MIGRATION_DONE);
    set_string(&m->phase, "");
    if (m->failed > 0) {
        char why[160];
        snprintf(why, sizeof why, "%llu of %llu bills failed: see their reasons, then retry",
                 (unsigned long long)m->failed, (unsigned long long)m->bills);
        set_string(&m->error, why);
    } else {
        set_string(&m->error, "");
    }
    m->finished_ms = t->cmd->time_ms;
    migration_log(t, m, m->failed > 0 ? "failed" : "done", NULL,
                  json_pack("{s:I, s:I, s:I, s:I}", "bills", (json_int_t)m->bills, "migrated",
                            (json_int_t)m->migrated, "failed", (json_int_t)m->failed,
                            "skipped", (json_int_t)m->skipped));
}

/* The batch a runner command is about, running: else refused (a former leader's late
 * report, or a batch paused or cancelled meanwhile). */
static int load_running(struct txn *t, const char *batch_no, MigrationRecord **out,
                        bool paused_too)
{
    int rv = migration_load(t, batch_no, out);
    if (rv != 0) {
        return rv;
    }
    if (strcmp((*out)->state, MIGRATION_RUNNING) != 0 &&
        !(paused_too && strcmp((*out)->state, MIGRATION_PAUSED) == 0)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "migration batch %s is %s, not running",
               (*out)->batch_no, (*out)->state);
        migration_record__free_unpacked(*out, NULL);
        *out = NULL;
        return BASE_ENOTFOUND;
    }
    return 0;
}

static bool text_ok(const char *s, size_t max)
{
    return s != NULL && strlen(s) <= max;
}

int apply_migration_listed(struct txn *t, const MigrationListed *c)
{
    MigrationRecord *m = NULL;
    unsigned added = 0;
    int rv = load_running(t, c->batch_no, &m, false);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (m->listed || strcmp(m->cursor, c->cursor) != 0 || c->n_bills > 1000 ||
        !text_ok(c->next_cursor, 256)) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "migration batch %s: a list page from cursor '%.64s' "
               "does not follow (listed %s, cursor '%.64s')", m->batch_no, c->cursor,
               m->listed ? "yes" : "no", m->cursor);
        goto out;
    }
    for (size_t i = 0; i < c->n_bills; i++) {
        const MigrationBill *in = c->bills[i];
        MigrationBill *b = NULL;
        if (!archive_valid_image_no(in->image_no) || !text_ok(in->bill_no, 256) ||
            !text_ok(in->bill_type, 64) || !text_ok(in->org, 64) ||
            !text_ok(in->source_state, 32) || !text_ok(in->source_ref, 256)) {
            refuse(t, ARCHIVE_R_INVALID, "migration batch %s: listed bill %zu is malformed",
                   m->batch_no, i);
            goto out;
        }
        rv = migration_bill_load(t, m, in->image_no, &b);
        if (rv == 0) {
            migration_bill__free_unpacked(b, NULL);
            continue; /* listed already (a page read again) */
        }
        if (rv != BASE_ENOTFOUND) {
            goto out;
        }
        {
            MigrationBill nb = MIGRATION_BILL__INIT;
            nb.image_no = in->image_no;
            nb.bill_no = in->bill_no;
            nb.bill_type = in->bill_type;
            nb.org = in->org;
            nb.created_ms = in->created_ms;
            nb.source_state = in->source_state;
            nb.source_ref = in->source_ref;
            /* set_state frees strings it replaces: give it its own. */
            nb.state = xstrdup("");
            nb.reason = xstrdup("");
            migration_bill_set_state(m, &nb, MIGRATION_BILL_PENDING, NULL);
            migration_bill_store(t, m, &nb);
            free(nb.state);
            free(nb.reason);
        }
        added++;
    }
    rv = 0;
    set_string(&m->cursor, c->next_cursor);
    set_string(&m->phase, c->done ? "checking" : "listing");
    if (c->done) {
        m->listed = true;
    }
    if (added > 0 || c->done) {
        migration_log(t, m, "listed", NULL,
                      json_pack("{s:i, s:b, s:I}", "added", (int)added, "complete", c->done,
                                "bills", (json_int_t)m->bills));
    }
    migration_store(t, m);
out:
    if (m != NULL) {
        migration_record__free_unpacked(m, NULL);
    }
    return rv;
}

/* Whether @f is a usable manifest entry. */
static bool manifest_file_ok(const MigrationFile *f)
{
    return text_ok(f->file_id, 64) && f->file_id[0] != '\0' && text_ok(f->name, 255) &&
           archive_valid_category(f->category) && (f->blob.len == 0 || f->blob.len == 32) &&
           text_ok(f->format, 16);
}

/* What the bills of a batch still to move hold. */
struct to_move {
    uint64_t files, bytes;
};

static void count_to_move(const ProtobufCMessage *msg, const char *key, size_t klen, void *arg)
{
    const MigrationBill *b = (const MigrationBill *)msg;
    struct to_move *left = arg;
    (void)key;
    (void)klen;
    if (strcmp(b->state, MIGRATION_BILL_CHECKED) == 0) {
        left->files += b->n_files;
        left->bytes += b->bytes;
    }
}

int apply_migration_checked(struct txn *t, const MigrationChecked *c)
{
    MigrationRecord *m = NULL;
    int rv = load_running(t, c->batch_no, &m, false);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!m->listed || c->n_bills > 1000) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "migration batch %s is not listed yet", m->batch_no);
        goto out;
    }
    for (size_t i = 0; i < c->n_bills; i++) {
        const MigrationBill *in = c->bills[i];
        MigrationBill *b = NULL;
        bool ok = in->n_files <= 10000 && (strcmp(in->state, MIGRATION_BILL_CHECKED) == 0 ||
                                           strcmp(in->state, MIGRATION_BILL_FAILED) == 0) &&
                  text_ok(in->reason, 512);
        for (size_t j = 0; ok && j < in->n_files; j++) {
            ok = manifest_file_ok(in->files[j]);
        }
        if (!ok) {
            refuse(t, ARCHIVE_R_INVALID, "migration batch %s: checked bill %zu is malformed",
                   m->batch_no, i);
            goto out;
        }
        rv = migration_bill_load(t, m, in->image_no, &b);
        if (rv == BASE_ENOTFOUND) {
            rv = 0;
            continue; /* not a bill of the batch: nothing to record */
        }
        if (rv != 0) {
            goto out;
        }
        if (strcmp(b->state, MIGRATION_BILL_PENDING) == 0) {
            uint64_t bytes = 0;
            for (size_t j = 0; j < in->n_files; j++) {
                bytes += in->files[j]->size;
            }
            uint64_t old_files = b->n_files;
            /* The manifest replaces any earlier one. */
            for (size_t j = 0; j < b->n_files; j++) {
                migration_file__free_unpacked(b->files[j], NULL);
            }
            free(b->files);
            b->files = NULL;
            b->n_files = 0;
            if (in->n_files > 0) {
                b->files = xcalloc(in->n_files, sizeof *b->files);
                for (size_t j = 0; j < in->n_files; j++) {
                    uint8_t *buf;
                    size_t len = migration_file__get_packed_size(in->files[j]);
                    buf = xmalloc(len + 1);
                    migration_file__pack(in->files[j], buf);
                    b->files[j] = migration_file__unpack(NULL, len, buf);
                    free(buf);
                    if (b->files[j] == NULL) {
                        refuse(t, ARCHIVE_R_INVALID, "a manifest entry does not encode");
                        migration_bill__free_unpacked(b, NULL);
                        goto out;
                    }
                    b->n_files++;
                }
            }
            if (old_files > 0 || b->bytes > 0 || b->attempts > 0) {
                /* Checked again (after a retry): its last manifest no longer counts. */
                m->files -= m->files >= old_files ? old_files : m->files;
                m->bytes -= m->bytes >= b->bytes ? b->bytes : m->bytes;
            } else {
                m->checked_bills++;
            }
            b->bytes = bytes;
            m->files += in->n_files;
            m->bytes += bytes;
            migration_bill_set_state(m, b, in->state, in->reason);
            if (strcmp(in->state, MIGRATION_BILL_FAILED) == 0) {
                b->attempts++;
                migration_log(t, m, "failed", b->image_no,
                              json_pack("{s:s, s:s}", "phase", "check", "reason", in->reason));
            }
            migration_bill_store(t, m, b);
        }
        migration_bill__free_unpacked(b, NULL);
    }
    if (c->complete && !m->checked) {
        /* The pre-check's verdict on the whole batch: what is left to move must fit
         * the license and the quota. */
        char msg[sizeof t->res->message];
        struct to_move left = {0};
        enum archive_status st;
        struct key k;
        key_audit_prefix(&k, m->tenant, m->batch_no);
        if ((rv = archive_scan_records(t->a, ARCHIVE_CF_MIGRATION_BILLS, k.buf, k.len,
                                       &migration_bill__descriptor, count_to_move, &left,
                                       t->err)) != 0) {
            goto out;
        }
        st = archive_check_write(t->a, m->tenant, t->cmd->time_ms, LICENSE_MODE_BASIC,
                                 left.bytes, left.files, msg, sizeof msg, &rv, t->err);
        if (rv != 0) {
            goto out;
        }
        if (st != ARCHIVE_OK) {
            char why[400];
            snprintf(why, sizeof why, "pre-check: the batch's %llu files to move (%llu bytes) "
                     "do not fit: %s", (unsigned long long)left.files,
                     (unsigned long long)left.bytes, msg);
            set_string(&m->state, MIGRATION_FAILED);
            set_string(&m->phase, "");
            set_string(&m->error, why);
            migration_log(t, m, "precheck_failed", NULL, json_pack("{s:s}", "reason", why));
            m->finished_ms = t->cmd->time_ms;
        } else {
            m->checked = true;
            set_string(&m->phase, "moving");
            migration_log(t, m, "checked", NULL,
                          json_pack("{s:I, s:I, s:I}", "bills", (json_int_t)m->bills, "files",
                                    (json_int_t)left.files, "bytes", (json_int_t)left.bytes));
        }
    }
    finish_if_over(t, m);
    migration_store(t, m);
out:
    if (m != NULL) {
        migration_record__free_unpacked(m, NULL);
    }
    return rv;
}

int apply_migration_bill_failed(struct txn *t, const MigrationBillFailed *c)
{
    MigrationRecord *m = NULL;
    MigrationBill *b = NULL;
    int rv = load_running(t, c->batch_no, &m, true);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (!text_ok(c->reason, 512) || c->reason[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID, "a failed bill needs a reason of at most 512 bytes");
        goto out;
    }
    rv = migration_bill_load(t, m, c->image_no, &b);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "migration batch %s has no bill %.64s", m->batch_no,
               c->image_no);
        rv = 0;
        goto out;
    }
    if (rv != 0) {
        goto out;
    }
    if (strcmp(b->state, MIGRATION_BILL_PENDING) != 0 &&
        strcmp(b->state, MIGRATION_BILL_CHECKED) != 0) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s of batch %s is %s", b->image_no,
               m->batch_no, b->state);
        goto out;
    }
    b->attempts++;
    migration_bill_set_state(m, b, MIGRATION_BILL_FAILED, c->reason);
    migration_log(t, m, "failed", b->image_no, json_pack("{s:s}", "reason", c->reason));
    migration_bill_store(t, m, b);
    finish_if_over(t, m);
    migration_store(t, m);
out:
    if (b != NULL) {
        migration_bill__free_unpacked(b, NULL);
    }
    if (m != NULL) {
        migration_record__free_unpacked(m, NULL);
    }
    return rv;
}

/* ---- ImportBill: one bill moved in ---- */

static int compare_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Why @c cannot be imported as it stands (a reason for the bill), or NULL. Checks what
 * every node checks the same way: the shape of the bill and its files. */
static const char *import_problem(struct txn *t, const ImportBill *c, char *why, size_t size,
                                  int *rv)
{
    const BillRecord *b = c->bill;
    enum bill_state st;
    *rv = 0;
    if (!bill_state_parse(b->state, &st)) {
        snprintf(why, size, "the source's state '%.32s' is not a bill state here", b->state);
        return why;
    }
    if (c->n_files > 10000 || (c->n_holders != 0 && c->n_holders != c->n_files) ||
        c->n_history > 100000) {
        snprintf(why, size, "the bill has %zu files and %zu history entries: too many",
                 c->n_files, c->n_history);
        return why;
    }
    if (b->fbill_id[0] != '\0' && !archive_valid_fbill_id(b->fbill_id)) {
        snprintf(why, size, "its ERP bill id is not one this archive accepts");
        return why;
    }
    if (b->fbill_id[0] != '\0') {
        bool taken = false;
        struct key k;
        key_pair(&k, t->cmd->tenant, b->fbill_id);
        if ((*rv = record_exists(t, ARCHIVE_CF_FBILL_IDS, &k, &taken)) != 0) {
            return NULL;
        }
        if (taken) {
            snprintf(why, size, "its ERP bill id %.128s is another bill's here", b->fbill_id);
            return why;
        }
    }
    if (c->n_files > 1) {
        /* Two files of the bill with one id would leave one record for two. */
        char **ids = xcalloc(c->n_files, sizeof *ids);
        const char *dup = NULL;
        for (size_t i = 0; i < c->n_files; i++) {
            ids[i] = c->files[i]->file_id;
        }
        qsort(ids, c->n_files, sizeof *ids, compare_ids);
        for (size_t i = 1; i < c->n_files && dup == NULL; i++) {
            if (strcmp(ids[i - 1], ids[i]) == 0) {
                dup = ids[i];
            }
        }
        if (dup != NULL) {
            snprintf(why, size, "two files of the bill have the id %.64s", dup);
            free(ids);
            return why;
        }
        free(ids);
    }
    for (size_t i = 0; i < c->n_files; i++) {
        const FileRecord *f = c->files[i];
        bool known = false;
        struct key k;
        if (!archive_valid_tenant(f->file_id) || f->blob.len != 32 || f->name[0] == '\0' ||
            strlen(f->name) > 255 || !archive_valid_category(f->category) ||
            f->rotation % 90 != 0 || f->rotation >= 360 || strlen(f->format) > 16) {
            snprintf(why, size, "file %zu (%.64s) is malformed", i + 1, f->file_id);
            return why;
        }
        if ((*rv = category_known(t, f->category, &known)) != 0) {
            return NULL;
        }
        if (!known) {
            snprintf(why, size, "category '%s' of file %.64s is not defined in tenant %s: "
                     "create it (POST /api/v1/categories), then retry the batch", f->category,
                     f->file_id, t->cmd->tenant);
            return why;
        }
        key_pair(&k, t->cmd->tenant, f->file_id);
        if ((*rv = record_exists(t, ARCHIVE_CF_FILES, &k, &known)) != 0) {
            return NULL;
        }
        if (known) {
            snprintf(why, size, "file id %.64s exists here already, in another bill",
                     f->file_id);
            return why;
        }
    }
    return NULL;
}

/* Writes bill @c: its record, files, order, blob references, usage and history. */
static int import_write(struct txn *t, const MigrationRecord *m, const ImportBill *c)
{
    BillRecord *bill = xmalloc(sizeof *bill);
    BillOrder order = BILL_ORDER__INIT;
    struct usage_delta d = {.bills = 1};
    struct key k;
    char value[2 * ARCHIVE_ID_MAX + 2];
    int rv = 0;
    {
        /* A copy of the bill's record, its counts made here. */
        size_t len = bill_record__get_packed_size(c->bill);
        uint8_t *buf = xmalloc(len + 1);
        bill_record__pack(c->bill, buf);
        free(bill);
        bill = bill_record__unpack(NULL, len, buf);
        free(buf);
        if (bill == NULL) {
            refuse(t, ARCHIVE_R_INVALID, "the bill does not encode");
            return 0;
        }
    }
    bill->covers = bill->invoice_files = bill->attachments = bill->files = 0;
    bill->bytes = 0;
    bill->audit_seq = 0;
    set_string(&bill->fbill_id, "");
    if (c->bill->fbill_id[0] != '\0') {
        int claimed = fbill_claim(t, bill, c->bill->fbill_id);
        if (claimed < 0) {
            rv = claimed;
            goto out;
        }
        if (claimed > 0) {
            goto out; /* refused: fbill_claim said why */
        }
        set_string(&bill->fbill_id, c->bill->fbill_id);
    }
    order.file_ids = c->n_files > 0 ? xcalloc(c->n_files, sizeof *order.file_ids) : NULL;
    for (size_t i = 0; i < c->n_files; i++) {
        FileRecord f = *c->files[i];
        bool fresh = false;
        const ImportedHolders *h = c->n_holders > 0 ? c->holders[i] : NULL;
        f.image_no = bill->image_no;
        f.index = t->index;
        f.recognition = NULL; /* never queued again: the source read it or did not */
        put_file(t, &f);
        order.file_ids[order.n_file_ids++] = f.file_id;
        bill->files++;
        count_category(bill, f.category, +1);
        bill->bytes += f.size;
        key_pair(&k, "", "");
        k.len = 32;
        memcpy(k.buf, f.blob.data, 32);
        if ((rv = ref_blob(t, ARCHIVE_CF_BLOBS, &k, f.size, h != NULL ? h->nodes : NULL,
                           h != NULL ? h->n_nodes : 0, &fresh)) != 0) {
            goto out;
        }
        key_tenant_prefix(&k, t->cmd->tenant);
        memcpy(k.buf + k.len, f.blob.data, 32);
        k.len += 32;
        if ((rv = ref_blob(t, ARCHIVE_CF_TENANT_BLOBS, &k, f.size, NULL, 0, &fresh)) != 0) {
            goto out;
        }
        d.bytes += (int64_t)f.size;
        d.files++;
        d.physical += fresh ? (int64_t)f.size : 0;
    }
    store_order(t, bill->image_no, &order);
    if ((rv = count_usage(t, bill->org, &d)) != 0) {
        goto out;
    }
    /* The source's history, each entry marked as migrated, then the migration itself. */
    for (size_t i = 0; i < c->n_history; i++) {
        const AuditRecord *h = c->history[i];
        AuditRecord rec = *h;
        json_t *orig = json_loads(h->detail, 0, NULL);
        json_t *detail = json_pack("{s:s, s:s, s:I, s:o}", "migrated_from", m->datasource,
                                   "batch", m->batch_no, "source_index", (json_int_t)h->index,
                                   "detail", orig != NULL ? orig : json_null());
        char *text = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
        bill->audit_seq++;
        rec.index = t->index;
        rec.detail = text;
        key_audit(&k, t->cmd->tenant, bill->image_no, bill->audit_seq);
        put_record(t, ARCHIVE_CF_AUDIT, &k, &rec.base);
        free(text);
        json_decref(detail);
    }
    audit(t, bill, "migrated",
          json_pack("{s:s, s:s, s:s, s:i}", "datasource", m->datasource, "batch", m->batch_no,
                    "state", bill->state, "files", (int)c->n_files));
    /* bill->updated_ms is the source's; store_bill would stamp now. */
    {
        uint64_t updated = c->bill->updated_ms;
        key_pair(&k, t->cmd->tenant, bill->image_no);
        bill->updated_ms = updated != 0 ? updated : t->cmd->time_ms;
        if (bill->created_ms == 0) {
            bill->created_ms = t->cmd->time_ms;
        }
        /* Its period counts from its creation at the source. */
        if ((rv = stamp_retention_now(t, bill)) != 0) {
            goto out;
        }
        put_record(t, ARCHIVE_CF_BILLS, &k, &bill->base);
    }
    snprintf(value, sizeof value, "%s", m->datasource);
    memcpy(value + strlen(m->datasource) + 1, m->batch_no, strlen(m->batch_no));
    key_pair(&k, t->cmd->tenant, bill->image_no);
    rocks_batch_put(t->batch, ARCHIVE_CF_MIGRATED, k.buf, k.len, value,
                    strlen(m->datasource) + 1 + strlen(m->batch_no));
out:
    free(order.file_ids);
    archive_free_bill(bill);
    return rv;
}

int apply_import_bill(struct txn *t, const ImportBill *c)
{
    MigrationRecord *m = NULL;
    MigrationBill *b = NULL;
    BillRecord *here = NULL;
    char why[400];
    const char *problem = NULL;
    const char *to = MIGRATION_BILL_MIGRATED;
    bool present = false;
    int rv;
    if (c->bill == NULL || !archive_valid_image_no(c->bill->image_no)) {
        refuse(t, ARCHIVE_R_INVALID, "an imported bill needs a valid image number");
        return 0;
    }
    if ((rv = load_running(t, c->batch_no, &m, true)) != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    rv = migration_bill_load(t, m, c->bill->image_no, &b);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_BILL_NOT_FOUND, "migration batch %s has no bill %s", m->batch_no,
               c->bill->image_no);
        rv = 0;
        goto out;
    }
    if (rv != 0) {
        goto out;
    }
    if (strcmp(b->state, MIGRATION_BILL_CHECKED) != 0 &&
        strcmp(b->state, MIGRATION_BILL_PENDING) != 0) {
        /* Moved already (a repeat), or skipped or failed meanwhile: nothing changes. */
        refuse(t, ARCHIVE_R_INVALID_STATE, "bill %s of batch %s is %s", b->image_no, m->batch_no,
               b->state);
        goto out;
    }
    rv = load_bill(t, c->bill->image_no, &here);
    if (rv == 0) {
        char ds[ARCHIVE_ID_MAX + 1], batch[ARCHIVE_ID_MAX + 1];
        struct base_err e;
        int mv = archive_get_migrated(t->a, t->cmd->tenant, c->bill->image_no, ds, batch, &e);
        if (mv == 0 && strcmp(ds, m->datasource) == 0) {
            to = MIGRATION_BILL_PRESENT;
            present = true;
        } else if (mv == 0 || mv == BASE_ENOTFOUND) {
            snprintf(why, sizeof why, "image number %s exists here already%s%s", b->image_no,
                     mv == 0 ? ", migrated from data source " : " (not migrated)",
                     mv == 0 ? ds : "");
            problem = why;
        } else {
            rv = mv;
            base_err_set(t->err, "%s", e.msg);
            goto out;
        }
        rv = 0;
    } else if (rv == BASE_ENOTFOUND) {
        rv = 0;
        problem = import_problem(t, c, why, sizeof why, &rv);
        if (rv != 0) {
            goto out;
        }
        if (problem == NULL) {
            /* License in force, the bill's mode licensed, room in the quota. */
            char msg[sizeof t->res->message];
            uint64_t bytes = 0;
            struct scheme_choice sc;
            enum archive_status st;
            for (size_t i = 0; i < c->n_files; i++) {
                bytes += c->files[i]->size;
            }
            if ((rv = resolve_scheme(t, c->bill->bill_type, c->bill->org, &sc)) != 0) {
                goto out;
            }
            st = archive_check_write(t->a, t->cmd->tenant, t->cmd->time_ms, mode_bit(sc.mode),
                                     bytes, c->n_files, msg, sizeof msg, &rv, t->err);
            if (rv != 0) {
                goto out;
            }
            if (st != ARCHIVE_OK) {
                snprintf(why, sizeof why, "%s", msg);
                problem = why;
            }
        }
    } else {
        goto out;
    }
    if (problem == NULL && !present) {
        if ((rv = import_write(t, m, c)) != 0 || t->res->status != ARCHIVE_OK) {
            goto out;
        }
        m->files_moved += c->n_files;
        for (size_t i = 0; i < c->n_files; i++) {
            m->bytes_moved += c->files[i]->size;
        }
        for (size_t i = 0; i < b->n_files; i++) {
            b->files[i]->done = true;
        }
    }
    if (problem != NULL) {
        b->attempts++;
        migration_bill_set_state(m, b, MIGRATION_BILL_FAILED, problem);
        migration_log(t, m, "failed", b->image_no, json_pack("{s:s}", "reason", problem));
    } else {
        b->attempts++;
        migration_bill_set_state(m, b, to, NULL);
        if (present) {
            for (size_t i = 0; i < b->n_files; i++) {
                b->files[i]->done = true;
            }
        }
        migration_log(t, m, to, b->image_no,
                      json_pack("{s:i, s:s}", "files", (int)c->n_files, "state",
                                c->bill->state));
    }
    migration_bill_store(t, m, b);
    finish_if_over(t, m);
    migration_store(t, m);
out:
    archive_free_bill(here);
    if (b != NULL) {
        migration_bill__free_unpacked(b, NULL);
    }
    if (m != NULL) {
        migration_record__free_unpacked(m, NULL);
    }
    return rv;
}
