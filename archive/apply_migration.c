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
