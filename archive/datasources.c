/* Data sources: the name rule shared by data sources and batch numbers, and the reads
 * of family datasources (archive/migration.h). PutDataSource and DeleteDataSource are
 * applied in apply_datasources.c. */
#include "archive/migration.h"

#include <string.h>

#include "archive/keys.h"

bool archive_valid_migration_name(const char *name)
{
    size_t n;
    if (name == NULL) {
        return false;
    }
    n = strlen(name);
    if (n == 0 || n > 64 || name[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            return false;
        }
    }
    return true;
}

int archive_get_datasource(struct archive *a, const char *tenant, const char *name,
                           DataSourceRecord **out, struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant) || !archive_valid_migration_name(name)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, name);
    return archive_load_record(a, ARCHIVE_CF_DATASOURCES, &k, &data_source_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

struct list_cb {
    archive_datasource_cb cb;
    void *arg;
};

static void datasource_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct list_cb *l = arg;
    (void)key;
    (void)klen;
    l->cb((const DataSourceRecord *)m, l->arg);
}

int archive_list_datasources(struct archive *a, const char *tenant, archive_datasource_cb cb,
                             void *arg, struct base_err *err)
{
    struct list_cb l = {cb, arg};
    struct key prefix;
    if (!archive_valid_tenant(tenant)) {
        return 0;
    }
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_DATASOURCES, prefix.buf, prefix.len,
                                &data_source_record__descriptor, datasource_cb, &l, err);
}
