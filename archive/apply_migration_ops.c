/* Applying the operator's migration commands: creating a batch, its transitions (start,
 * pause, resume, retry, cancel) and marking bills "do not migrate". Every refusal is
 * made from the command and the committed store only, so each node answers the same;
 * the runner's commands are in apply_migration.c. docs/migration.md. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/migration.h"
#include "base/mem.h"
#include "base/utf8.h"
#include "storage/rocks.h"

#define SKIP_MAX 1000        /* image numbers in one SkipMigrationBills */
#define SCOPE_ITEM_MAX 64    /* bytes of one organisation or bill type of a scope */

static bool state_is(const MigrationRecord *m, const char *state)
{
    return m->state != NULL && strcmp(m->state, state) == 0;
}

/* A scope list: at most ARCHIVE_MIGRATION_SCOPE_MAX non-empty items of up to
 * SCOPE_ITEM_MAX printable bytes. Refuses and returns false otherwise. */
static bool scope_list_ok(struct txn *t, const char *what, char **items, size_t n)
{
    if (n > ARCHIVE_MIGRATION_SCOPE_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "a scope names at most %d %s, not %zu",
               ARCHIVE_MIGRATION_SCOPE_MAX, what, n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = items[i] != NULL ? strlen(items[i]) : 0;
        if (len == 0 || len > SCOPE_ITEM_MAX) {
            refuse(t, ARCHIVE_R_INVALID, "each of the scope's %s is 1-%d bytes", what,
                   SCOPE_ITEM_MAX);
            return false;
        }
        if (!utf8_valid(items[i], len)) {
            refuse(t, ARCHIVE_R_INVALID, "the scope's %s are UTF-8 text", what);
            return false;
        }
        for (const char *p = items[i]; *p != '\0'; p++) {
            if ((unsigned char)*p < ' ' || *p == 0x7f) {
                refuse(t, ARCHIVE_R_INVALID, "the scope's %s hold no control characters",
                       what);
                return false;
            }
        }
    }
    return true;
}

/* The data source @name of the command's tenant, enabled; or a refusal (returns
 * BASE_ENOTFOUND). */
static int load_enabled_datasource(struct txn *t, const char *name)
{
    DataSourceRecord *ds;
    struct key k;
    int rv;
    key_pair(&k, t->cmd->tenant, name);
    rv = archive_load_record(t->a, ARCHIVE_CF_DATASOURCES, &k, &data_source_record__descriptor,
                             (ProtobufCMessage **)&ds, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DATASOURCE_NOT_FOUND, "tenant %s has no data source %s",
               t->cmd->tenant, name);
        return rv;
    }
    if (rv != 0) {
        return rv;
    }
    if (ds->disabled) {
        refuse(t, ARCHIVE_R_INVALID_STATE, "data source %s is disabled: enable it first", name);
        rv = BASE_ENOTFOUND;
    }
    data_source_record__free_unpacked(ds, NULL);
    return rv;
}

int apply_create_migration(struct txn *t, const CreateMigration *c)
{
    MigrationScope none = MIGRATION_SCOPE__INIT;
    MigrationRecord m = MIGRATION_RECORD__INIT;
    const MigrationScope *scope = c->scope != NULL ? c->scope : &none;
    struct key k;
    bool found;
    int rv;
    if (!archive_valid_migration_name(c->batch_no)) {
        refuse(t, ARCHIVE_R_INVALID, "a batch number is 1-64 of A-Z a-z 0-9 . _ - "
                                     "(not starting with .)");
        return 0;
    }
    if (!archive_valid_migration_name(c->datasource)) {
        refuse(t, ARCHIVE_R_INVALID, "a data source name is 1-64 of A-Z a-z 0-9 . _ - "
                                     "(not starting with .)");
        return 0;
    }
    if (!scope_list_ok(t, "organisations", scope->orgs, scope->n_orgs) ||
        !scope_list_ok(t, "bill types", scope->bill_types, scope->n_bill_types)) {
        return 0;
    }
    if (scope->from_ms != 0 && scope->to_ms != 0 && scope->from_ms >= scope->to_ms) {
        refuse(t, ARCHIVE_R_INVALID, "the scope's from must be before its to");
        return 0;
    }
    rv = load_enabled_datasource(t, c->datasource);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    key_pair(&k, t->cmd->tenant, c->batch_no);
    rv = record_exists(t, ARCHIVE_CF_MIGRATIONS, &k, &found);
    if (rv != 0) {
        return rv;
    }
    if (found) {
        refuse(t, ARCHIVE_R_MIGRATION_EXISTS, "tenant %s has a migration batch %s already",
               t->cmd->tenant, c->batch_no);
        return 0;
    }
    m.batch_no = c->batch_no;
    m.tenant = t->cmd->tenant;
    m.datasource = c->datasource;
    m.scope = (MigrationScope *)scope;
    m.state = MIGRATION_PENDING;
    m.created_ms = t->cmd->time_ms;
    m.created_by = t->cmd->operator_;
    migration_log(t, &m, "created", NULL,
                  json_pack("{s:s, s:I, s:I}", "datasource", c->datasource, "orgs",
                            (json_int_t)scope->n_orgs, "bill_types",
                            (json_int_t)scope->n_bill_types));
    migration_store(t, &m);
    t->res->created = true;
    snprintf(t->res->state, sizeof t->res->state, "%s", m.state);
    return 0;
}

/* Every failed bill of @m back to pending (attempts kept, reason cleared); their number
 * in *@n. Reads the committed bills: this command changes each one once. */
static int retry_failed_bills(struct txn *t, MigrationRecord *m, uint64_t *n)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    *n = 0;
    key_audit_prefix(&prefix, m->tenant, m->batch_no);
    it = rocks_iter_new(t->a->db, ARCHIVE_CF_MIGRATION_BILLS, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        MigrationBill *b = migration_bill__unpack(NULL, vlen, (const uint8_t *)v);
        if (b == NULL) {
            continue; /* every node skips the same undecodable record */
        }
        if (strcmp(b->state, MIGRATION_BILL_FAILED) == 0) {
            migration_bill_set_state(m, b, MIGRATION_BILL_PENDING, NULL);
            migration_bill_store(t, m, b);
            (*n)++;
        }
        migration_bill__free_unpacked(b, NULL);
    }
    rv = rocks_iter_status(it, t->err);
    rocks_iter_free(it);
    return rv;
}

static void refuse_state(struct txn *t, const MigrationRecord *m, const char *action)
{
    refuse(t, ARCHIVE_R_INVALID_STATE, "migration batch %s is %s: it cannot %s", m->batch_no,
           m->state, action);
}

int apply_migration_action(struct txn *t, const MigrationAction *c)
{
    MigrationRecord *m;
    const char *action = c->action != NULL ? c->action : "";
    const char *logged = NULL;
    json_t *detail = NULL;
    int rv = migration_load(t, c->batch_no, &m);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    if (strcmp(action, "start") == 0) {
        if (!state_is(m, MIGRATION_PENDING) && !state_is(m, MIGRATION_PAUSED)) {
            refuse_state(t, m, "start");
            goto out;
        }
        logged = "started";
    } else if (strcmp(action, "pause") == 0) {
        if (!state_is(m, MIGRATION_RUNNING)) {
            refuse_state(t, m, "pause");
            goto out;
        }
        set_string(&m->state, MIGRATION_PAUSED);
        logged = "paused";
    } else if (strcmp(action, "resume") == 0) {
        if (!state_is(m, MIGRATION_PAUSED)) {
            refuse_state(t, m, "resume");
            goto out;
        }
        logged = "resumed";
    } else if (strcmp(action, "retry") == 0) {
        uint64_t n;
        if (!state_is(m, MIGRATION_FAILED) && !state_is(m, MIGRATION_DONE) &&
            !state_is(m, MIGRATION_PAUSED) && !state_is(m, MIGRATION_RUNNING)) {
            refuse_state(t, m, "retry");
            goto out;
        }
        rv = retry_failed_bills(t, m, &n);
        if (rv != 0) {
            goto out;
        }
        if (n > 0) {
            m->checked = false; /* the bills back in pending are checked again */
        }
        set_string(&m->phase, "");
        set_string(&m->error, "");
        m->finished_ms = 0;
        detail = json_pack("{s:I}", "bills", (json_int_t)n);
        logged = "retried";
    } else if (strcmp(action, "cancel") == 0) {
        char error[160];
        if (!state_is(m, MIGRATION_PENDING) && !state_is(m, MIGRATION_RUNNING) &&
            !state_is(m, MIGRATION_PAUSED)) {
            refuse_state(t, m, "be cancelled");
            goto out;
        }
        snprintf(error, sizeof error, "cancelled by %s", t->cmd->operator_);
        set_string(&m->state, MIGRATION_FAILED);
        set_string(&m->phase, "");
        set_string(&m->error, error);
        m->finished_ms = t->cmd->time_ms;
        logged = "cancelled";
    } else {
        refuse(t, ARCHIVE_R_INVALID,
               "unknown migration action '%.32s' (start, pause, resume, retry, cancel)",
               action);
        goto out;
    }
    if (strcmp(logged, "started") == 0 || strcmp(logged, "resumed") == 0 ||
        strcmp(logged, "retried") == 0) {
        set_string(&m->state, MIGRATION_RUNNING);
        if (m->started_ms == 0) {
            m->started_ms = t->cmd->time_ms;
        }
    }
    migration_log(t, m, logged, NULL, detail != NULL ? detail : json_object());
    detail = NULL;
    migration_store(t, m);
    snprintf(t->res->state, sizeof t->res->state, "%s", m->state);
out:
    json_decref(detail);
    migration_record__free_unpacked(m, NULL);
    return rv;
}

int apply_skip_migration_bills(struct txn *t, const SkipMigrationBills *c)
{
    char reason[160];
    MigrationRecord *m;
    uint32_t changed = 0;
    int rv;
    if (c->n_image_nos == 0 || c->n_image_nos > SKIP_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "name 1-%d image numbers, not %zu", SKIP_MAX,
               c->n_image_nos);
        return 0;
    }
    rv = migration_load(t, c->batch_no, &m);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    snprintf(reason, sizeof reason, "marked do-not-migrate by %s", t->cmd->operator_);
    for (size_t i = 0; i < c->n_image_nos && rv == 0; i++) {
        MigrationBill *b;
        bool change;
        rv = migration_bill_load(t, m, c->image_nos[i], &b);
        if (rv == BASE_ENOTFOUND) {
            rv = 0; /* not a bill of the batch: unchanged */
            continue;
        }
        if (rv != 0) {
            break;
        }
        if (c->skip) {
            change = strcmp(b->state, MIGRATION_BILL_PENDING) == 0 ||
                     strcmp(b->state, MIGRATION_BILL_CHECKED) == 0 ||
                     strcmp(b->state, MIGRATION_BILL_FAILED) == 0;
        } else {
            change = strcmp(b->state, MIGRATION_BILL_SKIPPED) == 0;
        }
        if (change) {
            if (c->skip) {
                migration_bill_set_state(m, b, MIGRATION_BILL_SKIPPED, reason);
            } else {
                migration_bill_set_state(m, b, MIGRATION_BILL_PENDING, NULL);
                m->checked = false; /* a bill back in pending is checked again */
            }
            migration_bill_store(t, m, b);
            migration_log(t, m, c->skip ? "skipped" : "unskipped", b->image_no, json_object());
            changed++;
        }
        migration_bill__free_unpacked(b, NULL);
    }
    if (rv == 0) {
        if (changed > 0) {
            migration_store(t, m);
        }
        t->res->position = changed;
        snprintf(t->res->state, sizeof t->res->state, "%s", m->state);
    }
    migration_record__free_unpacked(m, NULL);
    return rv;
}
