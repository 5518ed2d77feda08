/* Applying the commands of the cluster's birth, tenants, their licenses and API
 * clients, and the license warnings announced before a license expires. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"
#include "base/clock.h"
#include "base/mem.h"

static void store_tenant(struct txn *t, const TenantRecord *rec)
{
    struct key k = {.len = strlen(rec->id)};
    memcpy(k.buf, rec->id, k.len);
    put_record(t, ARCHIVE_CF_TENANTS, &k, &rec->base);
}

/* Keeps @l in force for @rec and in the tenant's license history. */
static void put_license(struct txn *t, TenantRecord *rec, License *l)
{
    struct key k;
    uint8_t be[8];
    l->installed_ms = t->cmd->time_ms;
    l->installed_index = t->index;
    key_tenant_prefix(&k, rec->id);
    rocks_put_be64(be, l->issued_ms);
    memcpy(k.buf + k.len, be, sizeof be);
    k.len += sizeof be;
    memcpy(k.buf + k.len, l->license_id, strlen(l->license_id));
    k.len += strlen(l->license_id);
    put_record(t, ARCHIVE_CF_LICENSES, &k, &l->base);
    rec->license = l;
    store_tenant(t, rec);
}

static json_t *license_detail(const License *l)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:i}", "license_id", l->license_id, "issued_ms",
                     (json_int_t)l->issued_ms, "expires_ms", (json_int_t)l->expires_ms,
                     "quota_bytes", (json_int_t)l->quota_bytes, "max_files",
                     (json_int_t)l->max_files, "modes", (int)l->modes);
}

/* The cluster's birth: its time, and the default tenant on an evaluation license. A
 * second InitCluster (a new leader that did not see the first applied yet) is a no-op. */
int apply_init_cluster(struct txn *t, const InitCluster *init)
{
    ClusterRecord c = CLUSTER_RECORD__INIT;
    TenantRecord rec = TENANT_RECORD__INIT;
    License l = LICENSE__INIT;
    uint8_t *buf;
    size_t n;
    if (archive_cluster_initialized(t->a)) {
        return 0;
    }
    if (init->token_key.len != 32) {
        refuse(t, ARCHIVE_R_INVALID, "InitCluster needs a 32-byte token key");
        return 0;
    }
    c.created_ms = t->cmd->time_ms;
    c.token_key = init->token_key;
    c.level = init->level;
    n = cluster_record__get_packed_size(&c);
    buf = xmalloc(n > 0 ? n : 1);
    cluster_record__pack(&c, buf);
    rocks_batch_put(t->batch, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), buf, n);
    free(buf);
    rec.id = (char *)ARCHIVE_DEFAULT_TENANT;
    rec.name = (char *)"Default tenant";
    rec.created_ms = t->cmd->time_ms;
    l.license_id = (char *)"evaluation";
    l.tenant = rec.id;
    l.issued_ms = t->cmd->time_ms;
    l.expires_ms = t->cmd->time_ms + ARCHIVE_EVAL_DAYS * 24ull * 3600 * 1000;
    l.quota_bytes = ARCHIVE_EVAL_QUOTA_BYTES;
    l.modes = LICENSE_MODES_ALL;
    l.document = (char *)"";
    put_license(t, &rec, &l);
    admin_audit(t, rec.id, "cluster_initialized", json_pack("{s:o}", "license",
                                                             license_detail(&l)));
    return 0;
}

int apply_create_client(struct txn *t, const CreateClient *c)
{
    ClientRecord rec = CLIENT_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->client_id == NULL || !archive_valid_tenant(c->client_id) ||
        c->secret_hash.len != 32 || c->name == NULL || strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "malformed client");
        return 0;
    }
    key_one(&k, t->cmd->tenant);
    if ((rv = record_exists(t, ARCHIVE_CF_TENANTS, &k, &found)) != 0 || !found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", t->cmd->tenant);
        }
        return rv;
    }
    key_one(&k, c->client_id);
    if ((rv = record_exists(t, ARCHIVE_CF_CLIENTS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_CLIENT_EXISTS, "client %s exists already", c->client_id);
        }
        return rv;
    }
    rec.client_id = c->client_id;
    rec.tenant = t->cmd->tenant;
    rec.name = c->name;
    rec.secret_hash = c->secret_hash;
    rec.created_ms = t->cmd->time_ms;
    put_record(t, ARCHIVE_CF_CLIENTS, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "client_created",
                json_pack("{s:s, s:s}", "client_id", c->client_id, "name", c->name));
    return 0;
}

/* Loads client @id of the command's tenant (a client of another tenant is not found);
 * false after refusing, or on a store error in *@rv. */
static bool load_client(struct txn *t, const char *id, ClientRecord **c, int *rv)
{
    *rv = archive_get_client(t->a, id, c, t->err);
    if (*rv == 0 && strcmp((*c)->tenant, t->cmd->tenant) != 0) {
        archive_free_client(*c);
        *rv = BASE_ENOTFOUND;
    }
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        refuse(t, ARCHIVE_R_CLIENT_NOT_FOUND, "no client %.64s in tenant %s", id,
               t->cmd->tenant);
        return false;
    }
    return *rv == 0;
}

int apply_rotate_client_secret(struct txn *t, const RotateClientSecret *c)
{
    ClientRecord *cl, rec;
    struct key k;
    int rv;
    if (c->secret_hash.len != 32) {
        refuse(t, ARCHIVE_R_INVALID, "a client secret hash is 32 bytes");
        return 0;
    }
    if (!load_client(t, c->client_id, &cl, &rv)) {
        return rv;
    }
    rec = *cl;
    rec.secret_hash = c->secret_hash;
    rec.token_generation = cl->token_generation + 1; /* tokens under the old secret stop */
    key_one(&k, cl->client_id);
    put_record(t, ARCHIVE_CF_CLIENTS, &k, &rec.base);
    admin_audit(t, t->cmd->tenant, "client_secret_rotated",
                json_pack("{s:s, s:s}", "client_id", cl->client_id, "name", cl->name));
    archive_free_client(cl);
    return 0;
}

int apply_delete_client(struct txn *t, const DeleteClient *c)
{
    ClientRecord *cl;
    struct key k;
    int rv;
    if (!load_client(t, c->client_id, &cl, &rv)) {
        return rv;
    }
    key_one(&k, cl->client_id);
    rocks_batch_delete(t->batch, ARCHIVE_CF_CLIENTS, k.buf, k.len);
    admin_audit(t, t->cmd->tenant, "client_deleted",
                json_pack("{s:s, s:s}", "client_id", cl->client_id, "name", cl->name));
    archive_free_client(cl);
    return 0;
}

int apply_create_tenant(struct txn *t, const CreateTenant *c)
{
    TenantRecord rec = TENANT_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id) || c->name == NULL ||
        strlen(c->name) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "tenant ids are 1-64 characters of A-Z a-z 0-9 . _ - "
                                     "and names at most 256 bytes");
        return 0;
    }
    key_one(&k, c->id);
    if ((rv = record_exists(t, ARCHIVE_CF_TENANTS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_TENANT_EXISTS, "tenant %s exists already", c->id);
        }
        return rv;
    }
    rec.id = c->id;
    rec.name = c->name;
    rec.created_ms = t->cmd->time_ms;
    store_tenant(t, &rec);
    admin_audit(t, c->id, "tenant_created", json_pack("{s:s, s:s}", "id", c->id, "name",
                                                      c->name));
    return 0;
}

/* Why a license may not replace the one in force; ARCHIVE_OK when it may. */
static enum archive_status license_acceptable(struct txn *t, const License *cur,
                                              const License *l)
{
    char when[40];
    if (t->cmd->time_ms >= l->expires_ms) {
        clock_format_rfc3339(l->expires_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE, "license expired or not installed: license %s expired "
               "at %s; install a renewed one", l->license_id, when);
        return ARCHIVE_R_LICENSE;
    }
    if (l->issued_ms > t->cmd->time_ms + ARCHIVE_LICENSE_SKEW_MS) {
        clock_format_rfc3339(l->issued_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE_INVALID, "license %s is not valid yet: it is issued at %s; "
               "check the clocks of the signer and of this cluster", l->license_id, when);
        return ARCHIVE_R_LICENSE_INVALID;
    }
    if (cur != NULL && cur->issued_ms >= l->issued_ms) {
        clock_format_rfc3339(cur->issued_ms, when, sizeof when);
        refuse(t, ARCHIVE_R_LICENSE_SUPERSEDED, "license %s is superseded: license %s, "
               "issued at %s, is in force; only a license issued later replaces it",
               l->license_id, cur->license_id, when);
        return ARCHIVE_R_LICENSE_SUPERSEDED;
    }
    return ARCHIVE_OK;
}

int apply_install_license(struct txn *t, const InstallLicense *cmd)
{
    License *l = cmd->license;
    TenantRecord *rec;
    int rv;
    if (l == NULL || l->tenant == NULL || strcmp(l->tenant, t->cmd->tenant) != 0) {
        refuse(t, ARCHIVE_R_LICENSE_INVALID, "the license is for another tenant");
        return 0;
    }
    rv = archive_get_tenant(t->a, l->tenant, &rec, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s; create it first", l->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (rec->license != NULL && strcmp(rec->license->license_id, l->license_id) == 0 &&
        rec->license->issued_ms == l->issued_ms &&
        strcmp(rec->license->document, l->document) == 0) {
        t->res->replayed = true; /* that very license is in force already */
    } else if (license_acceptable(t, rec->license, l) == ARCHIVE_OK) {
        License *prev = rec->license;
        json_t *detail = json_pack("{s:o, s:o}", "license", license_detail(l), "replaces",
                                   prev != NULL ? license_detail(prev) : json_null());
        put_license(t, rec, l);
        rec->license = prev; /* the unpacked record frees its own */
        admin_audit(t, l->tenant, "license_installed", detail);
        t->res->created = true;
    }
    archive_free_tenant(rec);
    return 0;
}

/* Records a license warning stage once and announces it. The stage must be the one the
 * command's time gives, so a late or repeated proposal changes nothing. */
int apply_license_warning(struct txn *t, const LicenseWarning *w)
{
    TenantRecord *rec;
    const License *l;
    char when[40];
    int stage;
    int rv = archive_get_tenant(t->a, t->cmd->tenant, &rec, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", t->cmd->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    l = rec->license;
    stage = archive_license_warning_due(rec, t->cmd->time_ms);
    if (stage < 0 || w->license_id == NULL || strcmp(l->license_id, w->license_id) != 0 ||
        (unsigned)stage != w->days) {
        t->res->replayed = true;
        archive_free_tenant(rec);
        return 0;
    }
    set_string(&rec->warned_license, l->license_id);
    rec->warned_days = (uint32_t)stage;
    store_tenant(t, rec);
    clock_format_rfc3339(l->expires_ms, when, sizeof when);
    admin_audit(t, t->cmd->tenant, "license_warning",
                json_pack("{s:s, s:s, s:i}", "license_id", l->license_id, "expires", when,
                          "days", stage));
    rv = emit_event(t, "", stage == 0 ? "license_expired" : "license_expiring",
                    json_pack("{s:s, s:s, s:i}", "license_id", l->license_id, "expires", when,
                              "days_left", stage));
    archive_free_tenant(rec);
    return rv;
}

/* ---- The feature level ---- */

int apply_set_cluster_level(struct txn *t, const SetClusterLevel *c)
{
    ClusterRecord *rec;
    uint8_t *buf;
    uint32_t from;
    size_t n;
    char *val;
    size_t vlen;
    int rv = rocks_get(t->a->db, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), &val, &vlen,
                       t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_INVALID, "the cluster is not initialized yet");
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    rec = cluster_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    if (rec == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "the cluster record cannot be read");
        return 0;
    }
    from = rec->level;
    if (c->level > from) { /* never down: a late or repeated proposal changes nothing */
        rec->level = c->level;
        n = cluster_record__get_packed_size(rec);
        buf = xmalloc(n > 0 ? n : 1);
        cluster_record__pack(rec, buf);
        rocks_batch_put(t->batch, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), buf, n);
        free(buf);
        admin_audit(t, ARCHIVE_DEFAULT_TENANT, "cluster_level_raised",
                    json_pack("{s:i, s:i}", "from", (int)from, "to", (int)c->level));
    }
    cluster_record__free_unpacked(rec, NULL);
    return 0;
}

/* ---- Deleting a tenant ---- */

/* What a tenant deletion went through, for its checks and its summary. */
struct tenant_sweep {
    const char *tenant;
    uint64_t bills, held, retained, keys, deliveries, clients, blobs, released;
    char first_held[ARCHIVE_ID_MAX + 1];
    char first_retained[ARCHIVE_ID_MAX + 1];
    uint64_t first_retained_until;
};

/* Families whose keys all start with "tenant \0" (archive/keys.h), wiped by prefix. The
 * bills go last, after the checks over them; blob references, deliveries and clients
 * are handled before (they reach records outside the tenant's prefix). */
static const enum archive_cf TENANT_FAMILIES[] = {
    ARCHIVE_CF_FILES,           ARCHIVE_CF_USAGE,         ARCHIVE_CF_LICENSES,
    ARCHIVE_CF_TENANT_BLOBS,    ARCHIVE_CF_ADMIN_AUDIT,   ARCHIVE_CF_USERS,
    ARCHIVE_CF_ROLES,           ARCHIVE_CF_ORGS,          ARCHIVE_CF_WEBHOOKS,
    ARCHIVE_CF_DELIVERY_INDEX,  ARCHIVE_CF_BILL_TYPES,    ARCHIVE_CF_SCHEMES,
    ARCHIVE_CF_CATEGORIES,      ARCHIVE_CF_BATCHES,       ARCHIVE_CF_FBILL_IDS,
    ARCHIVE_CF_RECOGNITION,     ARCHIVE_CF_COLLECTED,     ARCHIVE_CF_DATASOURCES,
    ARCHIVE_CF_MIGRATIONS,      ARCHIVE_CF_MIGRATION_BILLS, ARCHIVE_CF_MIGRATION_LOG,
    ARCHIVE_CF_MIGRATED,        ARCHIVE_CF_MIGRATION_RUN, ARCHIVE_CF_SYNC_RUNS,
    ARCHIVE_CF_SYNC_ITEMS,      ARCHIVE_CF_SYNC_QUEUE,    ARCHIVE_CF_AUDIT,
    ARCHIVE_CF_IDEM,            ARCHIVE_CF_ORDER,         ARCHIVE_CF_BILLS,
};

/* A bill: counted, and checked for holds and its retention period. */
static int check_bill(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                      const char *val, size_t vlen, void *arg)
{
    struct tenant_sweep *s = arg;
    BillRecord *bill = bill_record__unpack(NULL, vlen, (const uint8_t *)val);
    uint64_t until;
    const char *on;
    int rv;
    (void)cf;
    (void)key;
    (void)klen;
    s->bills++;
    if (bill == NULL) {
        return 0; /* undecodable: deleted with the rest */
    }
    if (bill->n_holds > 0 && s->held++ == 0) {
        snprintf(s->first_held, sizeof s->first_held, "%s", bill->image_no);
    }
    rv = archive_bill_retained_until(t->a, s->tenant, bill, &until, &on, t->err);
    if (rv == 0 && t->cmd->time_ms < until && s->retained++ == 0) {
        snprintf(s->first_retained, sizeof s->first_retained, "%s", bill->image_no);
        s->first_retained_until = until;
    }
    bill_record__free_unpacked(bill, NULL);
    return rv;
}

/* One of the tenant's blob references (tenant \0 hash): given back to the cross-tenant
 * record, which the garbage sweep purges once no tenant refers to the content. */
static int release_blob(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                        const char *val, size_t vlen, void *arg)
{
    struct tenant_sweep *s = arg;
    BlobRecord *mine = blob_record__unpack(NULL, vlen, (const uint8_t *)val);
    BlobRecord *all;
    struct key k = {.len = 32};
    int rv;
    (void)cf;
    if (mine == NULL || klen < 32) {
        blob_record__free_unpacked(mine, NULL);
        return 0;
    }
    memcpy(k.buf, key + klen - 32, 32);
    rv = archive_load_record(t->a, ARCHIVE_CF_BLOBS, &k, &blob_record__descriptor,
                             (ProtobufCMessage **)&all, t->err);
    if (rv == 0) {
        all->refs = all->refs > mine->refs ? all->refs - mine->refs : 0;
        if (all->refs == 0) {
            all->released_ms = t->cmd->time_ms; /* garbage collection counts from here */
            s->released++;
        }
        rv = put_blob(t, ARCHIVE_CF_BLOBS, &k, all);
        blob_record__free_unpacked(all, NULL);
    } else if (rv == BASE_ENOTFOUND) {
        rv = 0;
    }
    s->blobs++;
    blob_record__free_unpacked(mine, NULL);
    return rv;
}

/* A delivery index entry (tenant \0 image_no \0 id): the delivery and its outbox
 * entry, which live under the id alone. */
static int drop_delivery_of(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                            const char *val, size_t vlen, void *arg)
{
    struct tenant_sweep *s = arg;
    (void)cf;
    (void)val;
    (void)vlen;
    if (klen >= 8) {
        delete_delivery(t, rocks_get_be64((const uint8_t *)key + klen - 8));
        s->deliveries++;
    }
    return 0;
}

/* A client (keyed by its global id): deleted when it is the tenant's. */
static int drop_client_of(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                          const char *val, size_t vlen, void *arg)
{
    struct tenant_sweep *s = arg;
    ClientRecord *c = client_record__unpack(NULL, vlen, (const uint8_t *)val);
    if (c != NULL && strcmp(c->tenant, s->tenant) == 0) {
        rocks_batch_delete(t->batch, cf, key, klen);
        s->clients++;
    }
    client_record__free_unpacked(c, NULL);
    return 0;
}

static int drop_record(struct txn *t, enum archive_cf cf, const char *key, size_t klen,
                       const char *val, size_t vlen, void *arg)
{
    struct tenant_sweep *s = arg;
    (void)val;
    (void)vlen;
    rocks_batch_delete(t->batch, cf, key, klen);
    s->keys++;
    return 0;
}

/* The refusals that leave the tenant as it was; true after refusing. */
static bool tenant_kept(struct txn *t, const struct tenant_sweep *s)
{
    char date[32];
    if (s->held > 0) {
        refuse(t, ARCHIVE_R_BILL_HELD, "tenant %s has %llu bill(s) under legal hold (the first: "
               "%s): it cannot be deleted until every hold is lifted", s->tenant,
               (unsigned long long)s->held, s->first_held);
        return true;
    }
    if (s->retained > 0) {
        archive_date_utc(s->first_retained_until, date);
        refuse(t, ARCHIVE_R_RETAINED, "tenant %s has %llu bill(s) in their retention period "
               "(the first: %s, until %s): no one may delete them before (GET "
               "/api/v1/retention?tenant=%s shows the periods)", s->tenant,
               (unsigned long long)s->retained, s->first_retained, date, s->tenant);
        return true;
    }
    if (s->bills > ARCHIVE_TENANT_DELETE_BILLS) {
        refuse(t, ARCHIVE_R_TENANT_TOO_LARGE, "tenant %s has %llu bills, more than the %d one "
               "deletion removes: delete bills first (imgarc delete-bill), then the tenant",
               s->tenant, (unsigned long long)s->bills, ARCHIVE_TENANT_DELETE_BILLS);
        return true;
    }
    return false;
}

int apply_delete_tenant(struct txn *t, const DeleteTenant *c)
{
    const char *tenant = t->cmd->tenant;
    struct tenant_sweep s = {.tenant = tenant};
    TenantRecord *rec = NULL;
    UsageRecord *usage = NULL;
    struct key k;
    int rv;
    if (c->tenant == NULL || strcmp(c->tenant, tenant) != 0) {
        refuse(t, ARCHIVE_R_INVALID, "a tenant deletion names the tenant it is stamped for");
        return 0;
    }
    if (strcmp(tenant, ARCHIVE_DEFAULT_TENANT) == 0) {
        refuse(t, ARCHIVE_R_INVALID, "the default tenant is the cluster's own (node commands, "
               "the operator's audit log) and cannot be deleted");
        return 0;
    }
    if (c->reason != NULL && strlen(c->reason) > 1024) {
        refuse(t, ARCHIVE_R_INVALID, "a reason is at most 1024 bytes");
        return 0;
    }
    rv = archive_get_tenant(t->a, tenant, &rec, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_TENANT_NOT_FOUND, "no tenant %s", tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    key_tenant_prefix(&k, tenant);
    if ((rv = each_record(t, ARCHIVE_CF_BILLS, &k, check_bill, &s)) != 0 ||
        tenant_kept(t, &s)) {
        goto out;
    }
    rv = archive_get_usage(t->a, tenant, &usage, t->err);
    if (rv == BASE_ENOTFOUND) {
        rv = 0;
    }
    if (rv != 0 || (rv = each_record(t, ARCHIVE_CF_TENANT_BLOBS, &k, release_blob, &s)) != 0 ||
        (rv = each_record(t, ARCHIVE_CF_DELIVERY_INDEX, &k, drop_delivery_of, &s)) != 0 ||
        (rv = each_record(t, ARCHIVE_CF_CLIENTS, &(struct key){.len = 0}, drop_client_of,
                          &s)) != 0) {
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(TENANT_FAMILIES) && rv == 0; i++) {
        rv = each_record(t, TENANT_FAMILIES[i], &k, drop_record, &s);
    }
    if (rv != 0) {
        goto out;
    }
    /* The records under the tenant's id alone. */
    k.len = strlen(tenant);
    memcpy(k.buf, tenant, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_USAGE, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_SYNC_SETTINGS, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_TENANTS, k.buf, k.len);
    /* What stays: a summary in the operator's (the default tenant's) audit log. */
    admin_audit(t, ARCHIVE_DEFAULT_TENANT, "tenant_deleted",
                json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "tenant",
                          tenant, "name", rec->name, "reason",
                          c->reason != NULL ? c->reason : "", "bills", (json_int_t)s.bills,
                          "files", (json_int_t)(usage != NULL ? usage->files : 0), "bytes",
                          (json_int_t)(usage != NULL ? usage->bytes : 0), "blobs",
                          (json_int_t)s.blobs, "blobs_released", (json_int_t)s.released,
                          "clients", (json_int_t)s.clients, "deliveries",
                          (json_int_t)s.deliveries, "records", (json_int_t)s.keys));
out:
    archive_free_usage(usage);
    archive_free_tenant(rec);
    return rv;
}
