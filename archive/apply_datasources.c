/* Applying the commands about data sources (archive/migration.h): creating or changing
 * one (PutDataSource) and deleting one no running batch uses (DeleteDataSource). Every
 * field is checked here, so a command proposed by anything but the API is refused the
 * same way on every node. The secret is stored but never audited. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "archive/migration.h"
#include "base/mem.h"

#define DEFAULT_LIST_PATH "/kapi/app/bds/queryBillList"
#define FIELD_MAX 256
#define SECRET_MAX 512

/* Whether @s is a printable ASCII field of at most FIELD_MAX bytes. */
static bool field_ok(const char *s)
{
    size_t n = strlen(s);
    if (n > FIELD_MAX) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)s[i] < ' ' || (unsigned char)s[i] == 0x7f) {
            return false;
        }
    }
    return true;
}

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* Whether data source @r (merged, about to be stored) is complete and well formed;
 * refuses it otherwise. */
static bool datasource_ok(struct txn *t, const DataSourceRecord *r)
{
    bool vendor = strcmp(r->kind, "vendor") == 0;
    const char *problem;
    const struct {
        const char *name;
        const char *value;
    } fields[] = {
        {vendor ? "tenant_id" : "tenant", r->source_tenant},
        {vendor ? "app_id" : "client_id", r->client_id},
        {"account_id", r->account_id},
        {"user", r->user},
        {"list_path", r->list_path},
    };
    if ((problem = archive_url_problem(r->url, ARCHIVE_DATASOURCE_URL_MAX, true,
                                       "the url is longer than 512 bytes")) != NULL) {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: %s", r->name, problem);
        return false;
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        if (!field_ok(fields[i].value)) {
            refuse(t, ARCHIVE_R_INVALID, "data source %s: %s is longer than %d bytes or holds "
                   "control characters", r->name, fields[i].name, FIELD_MAX);
            return false;
        }
    }
    if (r->secret[0] == '\0' || strlen(r->secret) > SECRET_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: the %s is 1-%d bytes", r->name,
               vendor ? "app_secret" : "client_secret", SECRET_MAX);
        return false;
    }
    if (r->source_tenant[0] == '\0' || r->client_id[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: %s and %s are required", r->name,
               vendor ? "tenant_id" : "tenant", vendor ? "app_id" : "client_id");
        return false;
    }
    if (!vendor) {
        if (r->account_id[0] != '\0' || r->user[0] != '\0' || r->list_path[0] != '\0') {
            refuse(t, ARCHIVE_R_INVALID, "data source %s: account_id, user and list_path are "
                   "for kind vendor only", r->name);
            return false;
        }
        return true;
    }
    if (r->user[0] == '\0') {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: user (the vendor user login.do acts "
               "as) is required", r->name);
        return false;
    }
    if (r->list_path[0] != '/' || strchr(r->list_path, '?') != NULL ||
        strchr(r->list_path, '#') != NULL || strchr(r->list_path, ' ') != NULL) {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: list_path is a path starting with '/', "
               "without spaces, query or fragment", r->name);
        return false;
    }
    return true;
}

static void count_datasource(const DataSourceRecord *r, void *arg)
{
    (void)r;
    (*(unsigned *)arg)++;
}

/* Replaces @field by @value when @value is set and not empty. */
static void take(char **field, const char *value, const char **changed, size_t *n,
                 const char *name)
{
    if (value != NULL && value[0] != '\0' && strcmp(*field, value) != 0) {
        set_string(field, value);
        changed[(*n)++] = name;
    }
}

static json_t *datasource_detail(const DataSourceRecord *r)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "name", r->name, "kind", r->kind, "url", r->url,
                     "enabled", !r->disabled);
}

static int create_datasource(struct txn *t, const DataSourceRecord *in)
{
    DataSourceRecord rec = DATA_SOURCE_RECORD__INIT;
    struct key k;
    unsigned n = 0;
    bool found;
    int rv;
    if (strcmp(str(in->kind), "imgarc") != 0 && strcmp(str(in->kind), "vendor") != 0) {
        refuse(t, ARCHIVE_R_INVALID, "data source %s: kind '%.32s': the kinds are imgarc and "
               "vendor", in->name, str(in->kind));
        return 0;
    }
    rec.name = in->name;
    rec.tenant = t->cmd->tenant;
    rec.kind = in->kind;
    rec.url = (char *)str(in->url);
    rec.source_tenant = (char *)str(in->source_tenant);
    rec.client_id = (char *)str(in->client_id);
    rec.secret = (char *)str(in->secret);
    rec.account_id = (char *)str(in->account_id);
    rec.user = (char *)str(in->user);
    rec.list_path = (char *)str(in->list_path);
    if (strcmp(rec.kind, "vendor") == 0 && rec.list_path[0] == '\0') {
        rec.list_path = DEFAULT_LIST_PATH;
    }
    rec.disabled = in->disabled;
    rec.created_ms = rec.updated_ms = t->cmd->time_ms;
    rec.created_by = t->cmd->operator_ != NULL ? t->cmd->operator_ : "";
    if (!datasource_ok(t, &rec)) {
        return 0;
    }
    key_one(&k, t->cmd->tenant);
    if ((rv = record_exists(t, ARCHIVE_CF_TENANTS, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", t->cmd->tenant);
        }
        return rv;
    }
    key_pair(&k, t->cmd->tenant, in->name);
    if ((rv = record_exists(t, ARCHIVE_CF_DATASOURCES, &k, &found)) != 0) {
        return rv;
    }
    if (found) {
        refuse(t, ARCHIVE_R_DATASOURCE_EXISTS, "tenant %s has a data source %s already",
               t->cmd->tenant, in->name);
        return 0;
    }
    rv = archive_list_datasources(t->a, t->cmd->tenant, count_datasource, &n, t->err);
    if (rv != 0) {
        return rv;
    }
    if (n >= ARCHIVE_DATASOURCES_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "tenant %s has %u data sources, the most it may have; "
               "delete one first", t->cmd->tenant, n);
        return 0;
    }
    put_record(t, ARCHIVE_CF_DATASOURCES, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "datasource_created", datasource_detail(&rec));
    return 0;
}

static int update_datasource(struct txn *t, const PutDataSource *c)
{
    const DataSourceRecord *in = c->source;
    const char *changed[10];
    size_t n = 0;
    DataSourceRecord *r;
    json_t *detail;
    struct key k;
    int rv = archive_get_datasource(t->a, t->cmd->tenant, in->name, &r, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DATASOURCE_NOT_FOUND, "tenant %s has no data source %s",
               t->cmd->tenant, in->name);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (in->kind != NULL && in->kind[0] != '\0' && strcmp(in->kind, r->kind) != 0) {
        refuse(t, ARCHIVE_R_INVALID, "data source %s is of kind %s: a kind never changes "
               "(delete it and create it again)", r->name, r->kind);
        goto out;
    }
    take(&r->url, in->url, changed, &n, "url");
    take(&r->source_tenant, in->source_tenant, changed, &n,
         strcmp(r->kind, "vendor") == 0 ? "tenant_id" : "tenant");
    take(&r->client_id, in->client_id, changed, &n,
         strcmp(r->kind, "vendor") == 0 ? "app_id" : "client_id");
    take(&r->secret, in->secret, changed, &n,
         strcmp(r->kind, "vendor") == 0 ? "app_secret" : "client_secret");
    take(&r->account_id, in->account_id, changed, &n, "account_id");
    take(&r->user, in->user, changed, &n, "user");
    take(&r->list_path, in->list_path, changed, &n, "list_path");
    if (c->set_disabled && r->disabled != in->disabled) {
        r->disabled = in->disabled;
        changed[n++] = "enabled";
    }
    if (!datasource_ok(t, r)) {
        goto out;
    }
    r->updated_ms = t->cmd->time_ms;
    key_pair(&k, t->cmd->tenant, r->name);
    put_record(t, ARCHIVE_CF_DATASOURCES, &k, &r->base);
    detail = datasource_detail(r);
    json_object_set_new(detail, "changed", string_array((char **)changed, n));
    admin_audit(t, t->cmd->tenant, "datasource_updated", detail);
out:
    data_source_record__free_unpacked(r, NULL);
    return 0;
}

int apply_put_data_source(struct txn *t, const PutDataSource *c)
{
    if (c->source == NULL || !archive_valid_migration_name(c->source->name)) {
        refuse(t, ARCHIVE_R_INVALID, "a data source name is 1-64 of A-Z a-z 0-9 . _ - "
               "(not starting with .)");
        return 0;
    }
    return c->create ? create_datasource(t, c->source) : update_datasource(t, c);
}

/* Finds a batch of the tenant that uses the data source and is not over. */
struct in_use {
    const char *name;
    char batch_no[ARCHIVE_ID_MAX + 1];
    char state[16];
};

static void batch_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    const MigrationRecord *b = (const MigrationRecord *)m;
    struct in_use *u = arg;
    (void)key;
    (void)klen;
    if (u->batch_no[0] != '\0' || strcmp(str(b->datasource), u->name) != 0 ||
        strcmp(str(b->state), MIGRATION_DONE) == 0 || strcmp(str(b->state), MIGRATION_FAILED) == 0) {
        return;
    }
    snprintf(u->batch_no, sizeof u->batch_no, "%s", str(b->batch_no));
    snprintf(u->state, sizeof u->state, "%s", str(b->state));
}

int apply_delete_data_source(struct txn *t, const DeleteDataSource *c)
{
    struct in_use u = {0};
    DataSourceRecord *r;
    struct key k;
    int rv = archive_get_datasource(t->a, t->cmd->tenant, str(c->name), &r, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_DATASOURCE_NOT_FOUND, "tenant %s has no data source %.64s",
               t->cmd->tenant, str(c->name));
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    u.name = r->name;
    key_tenant_prefix(&k, t->cmd->tenant);
    rv = archive_scan_records(t->a, ARCHIVE_CF_MIGRATIONS, k.buf, k.len,
                              &migration_record__descriptor, batch_cb, &u, t->err);
    if (rv != 0) {
        goto out;
    }
    if (u.batch_no[0] != '\0') {
        refuse(t, ARCHIVE_R_DATASOURCE_IN_USE, "data source %s is used by batch %s (%s): "
               "delete it once every batch using it is done or failed (cancel one to stop it)",
               r->name, u.batch_no, u.state);
        goto out;
    }
    key_pair(&k, t->cmd->tenant, r->name);
    rocks_batch_delete(t->batch, ARCHIVE_CF_DATASOURCES, k.buf, k.len);
    admin_audit(t, t->cmd->tenant, "datasource_deleted", datasource_detail(r));
out:
    data_source_record__free_unpacked(r, NULL);
    return rv;
}
