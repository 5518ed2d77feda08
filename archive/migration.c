/* Reads of migration batches: a batch, the batches of a tenant, the bills of a batch,
 * its log, the runner's queue and where a migrated bill came from. See migration.h.
 * (Data sources and name validation are read in datasources.c.) */
#include "archive/migration.h"

#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"
#include "storage/rocks.h"

int archive_get_migration(struct archive *a, const char *tenant, const char *batch_no,
                          MigrationRecord **out, struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant) || !archive_valid_migration_name(batch_no)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, batch_no);
    return archive_load_record(a, ARCHIVE_CF_MIGRATIONS, &k, &migration_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

int archive_list_migrations(struct archive *a, const char *tenant, archive_migration_cb cb,
                            void *arg, struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    if (!archive_valid_tenant(tenant)) {
        return 0;
    }
    key_tenant_prefix(&prefix, tenant);
    it = rocks_iter_new(a->db, ARCHIVE_CF_MIGRATIONS, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        MigrationRecord *m = migration_record__unpack(NULL, vlen, (const uint8_t *)v);
        bool more;
        if (m == NULL) {
            continue; /* undecodable: skipped in a listing, reported by a get */
        }
        more = cb(m, arg);
        migration_record__free_unpacked(m, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_get_migration_bill(struct archive *a, const char *tenant, const char *batch_no,
                               const char *image_no, MigrationBill **out, struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant) || !archive_valid_migration_name(batch_no) ||
        !archive_valid_image_no(image_no)) {
        return BASE_ENOTFOUND;
    }
    key_triple(&k, tenant, batch_no, image_no);
    return archive_load_record(a, ARCHIVE_CF_MIGRATION_BILLS, &k, &migration_bill__descriptor,
                               (ProtobufCMessage **)out, err);
}

int archive_each_migration_bill(struct archive *a, const char *tenant, const char *batch_no,
                                const char *after, archive_migration_bill_cb cb, void *arg,
                                struct base_err *err)
{
    struct key prefix, start;
    struct rocks_iter *it;
    int rv;
    if (!archive_valid_tenant(tenant) || !archive_valid_migration_name(batch_no)) {
        return 0;
    }
    key_audit_prefix(&prefix, tenant, batch_no);
    it = rocks_iter_new(a->db, ARCHIVE_CF_MIGRATION_BILLS, prefix.buf, prefix.len);
    if (after != NULL && after[0] != '\0' && prefix.len + strlen(after) + 1 <= KEY_MAX) {
        /* The smallest key after @after's: image numbers hold no NUL. */
        start = prefix;
        memcpy(start.buf + start.len, after, strlen(after));
        start.len += strlen(after);
        start.buf[start.len++] = '\0';
        rocks_iter_seek(it, start.buf, start.len);
    } else if (after != NULL && after[0] != '\0') {
        rocks_iter_free(it);
        return 0; /* longer than any stored key: nothing after it */
    } else {
        rocks_iter_first(it);
    }
    for (; rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        MigrationBill *b = migration_bill__unpack(NULL, vlen, (const uint8_t *)v);
        bool more;
        if (b == NULL) {
            continue;
        }
        more = cb(b, arg);
        migration_bill__free_unpacked(b, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_each_migration_log(struct archive *a, const char *tenant, const char *batch_no,
                               uint64_t after, archive_migration_log_cb cb, void *arg,
                               struct base_err *err)
{
    struct key prefix, start;
    struct rocks_iter *it;
    int rv;
    if (!archive_valid_tenant(tenant) || !archive_valid_migration_name(batch_no) ||
        after == UINT64_MAX) {
        return 0;
    }
    key_audit_prefix(&prefix, tenant, batch_no);
    key_audit(&start, tenant, batch_no, after + 1);
    it = rocks_iter_new(a->db, ARCHIVE_CF_MIGRATION_LOG, prefix.buf, prefix.len);
    for (rocks_iter_seek(it, start.buf, start.len); rocks_iter_valid(it);
         rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        MigrationLogEntry *e = migration_log_entry__unpack(NULL, vlen, (const uint8_t *)v);
        bool more;
        if (e == NULL) {
            continue;
        }
        more = cb(e, arg);
        migration_log_entry__free_unpacked(e, NULL);
        if (!more) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

/* Splits "a \0 b" (@klen bytes) into @a and @b, each up to ARCHIVE_ID_MAX bytes. */
static bool split_pair(const char *k, size_t klen, char *a, char *b)
{
    const char *sep = memchr(k, '\0', klen);
    size_t alen, blen;
    if (sep == NULL) {
        return false;
    }
    alen = (size_t)(sep - k);
    blen = klen - alen - 1;
    if (alen == 0 || alen > ARCHIVE_ID_MAX || blen == 0 || blen > ARCHIVE_ID_MAX ||
        memchr(sep + 1, '\0', blen) != NULL) {
        return false;
    }
    memcpy(a, k, alen);
    a[alen] = '\0';
    memcpy(b, sep + 1, blen);
    b[blen] = '\0';
    return true;
}

int archive_each_running_migration(struct archive *a, archive_migration_run_cb cb, void *arg,
                                   struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, ARCHIVE_CF_MIGRATION_RUN, NULL, 0);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t klen;
        const char *k = rocks_iter_key(it, &klen);
        char tenant[ARCHIVE_ID_MAX + 1], batch_no[ARCHIVE_ID_MAX + 1];
        if (!split_pair(k, klen, tenant, batch_no)) {
            continue;
        }
        if (!cb(tenant, batch_no, arg)) {
            break;
        }
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

int archive_get_migrated(struct archive *a, const char *tenant, const char *image_no,
                         char *datasource, char *batch_no, struct base_err *err)
{
    struct key k;
    char *val;
    size_t vlen;
    int rv;
    if (!archive_valid_tenant(tenant) || !archive_valid_image_no(image_no)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, image_no);
    rv = rocks_get(a->db, ARCHIVE_CF_MIGRATED, k.buf, k.len, &val, &vlen, err);
    if (rv != 0) {
        return rv;
    }
    if (!split_pair(val, vlen, datasource, batch_no)) {
        free(val);
        base_err_set(err, "migrated record of %s is corrupt", image_no);
        return BASE_ECORRUPT;
    }
    free(val);
    return 0;
}
