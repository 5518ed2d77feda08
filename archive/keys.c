#include "keys.h"

#include <string.h>

#include "archive/archive.h"
#include "base/mem.h"
#include "storage/rocks.h"

const char *const archive_cf_names[ARCHIVE_CF_COUNT] = {
    "default", "bills", "files", "blobs", "usage", "audit", "idem", "order",
    "tenants", "licenses", "tblobs", "clients", "admin_audit", "users", "roles", "orgs",
    "webhooks", "deliveries", "delivery_index", "outbox", "bill_types", "schemes",
    "categories", "batches", "nodes", "fbill_ids", "recognition", "collected",
    "datasources", "migrations", "migration_bills", "migration_log", "migrated",
    "migration_run",
    "sync_settings",
    "sync_runs",
    "sync_items",
    "sync_queue",
    "blob_index",
};

const char *archive_cf_name(enum archive_cf cf)
{
    return (unsigned)cf < ARCHIVE_CF_COUNT ? archive_cf_names[cf] : "?";
}

int archive_store_open(struct rocks **out, const char *dir, struct base_err *err)
{
    return rocks_open(out, dir, archive_cf_names, ARCHIVE_CF_COUNT, err);
}

const char KEY_APPLIED_INDEX[] = "applied_index";
const char KEY_CLUSTER[] = "cluster";

static void append(struct key *k, const void *p, size_t n)
{
    ASSERT(k->len + n <= KEY_MAX);
    memcpy(k->buf + k->len, p, n);
    k->len += n;
}

void key_pair(struct key *k, const char *a, const char *b)
{
    k->len = 0;
    append(k, a, strlen(a));
    append(k, "", 1);
    append(k, b, strlen(b));
}

void key_audit_prefix(struct key *k, const char *tenant, const char *image_no)
{
    key_pair(k, tenant, image_no);
    append(k, "", 1);
}

void key_audit(struct key *k, const char *tenant, const char *image_no, uint64_t seq)
{
    uint8_t be[8];
    key_audit_prefix(k, tenant, image_no);
    rocks_put_be64(be, seq);
    append(k, be, sizeof be);
}

void key_triple(struct key *k, const char *a, const char *b, const char *c)
{
    key_audit_prefix(k, a, b);
    append(k, c, strlen(c));
}

void key_tenant_prefix(struct key *k, const char *tenant)
{
    k->len = 0;
    append(k, tenant, strlen(tenant));
    append(k, "", 1);
}
