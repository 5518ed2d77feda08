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
