/* Tenants, their licenses and usage: reads of the local store, and the write policy
 * (license in force, licensed modes, quotas) shared by apply and the API. */
#include "archive.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"
#include "archive/license.h"
#include "base/clock.h"
#include "base/mem.h"

#define DAY_MS (24ull * 3600 * 1000)

int archive_get_tenant(struct archive *a, const char *tenant, TenantRecord **out,
                       struct base_err *err)
{
    struct key k = {.len = strlen(tenant)};
    if (!archive_valid_tenant(tenant)) {
        return BASE_ENOTFOUND;
    }
    memcpy(k.buf, tenant, k.len);
    return archive_load_record(a, ARCHIVE_CF_TENANTS, &k, &tenant_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_tenant(TenantRecord *tenant)
{
    if (tenant != NULL) {
        tenant_record__free_unpacked(tenant, NULL);
    }
}

bool archive_cluster_initialized(struct archive *a)
{
    struct base_err err;
    char *val;
    size_t vlen;
    if (rocks_get(a->db, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), &val, &vlen, &err) !=
        0) {
        return false;
    }
    free(val);
    return true;
}

uint32_t archive_cluster_level(struct archive *a)
{
    struct base_err err;
    ClusterRecord *c;
    char *val;
    size_t vlen;
    uint32_t level = 0;
    if (rocks_get(a->db, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), &val, &vlen, &err) !=
        0) {
        return 0;
    }
    c = cluster_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    if (c != NULL) {
        level = c->level;
        cluster_record__free_unpacked(c, NULL);
    }
    return level;
}

bool archive_token_key(struct archive *a, uint8_t key[32])
{
    struct base_err err;
    ClusterRecord *c;
    char *val;
    size_t vlen;
    bool ok;
    if (rocks_get(a->db, ARCHIVE_CF_META, KEY_CLUSTER, strlen(KEY_CLUSTER), &val, &vlen, &err) !=
        0) {
        return false;
    }
    c = cluster_record__unpack(NULL, vlen, (const uint8_t *)val);
    free(val);
    ok = c != NULL && c->token_key.len == 32;
    if (ok) {
        memcpy(key, c->token_key.data, 32);
    }
    if (c != NULL) {
        cluster_record__free_unpacked(c, NULL);
    }
    return ok;
}

bool archive_idem_known(struct archive *a, const char *tenant, const char *key)
{
    struct base_err err;
    struct key k;
    char *val;
    size_t vlen;
    if (key == NULL || key[0] == '\0') {
        return false;
    }
    key_pair(&k, tenant, key);
    if (rocks_get(a->db, ARCHIVE_CF_IDEM, k.buf, k.len, &val, &vlen, &err) != 0) {
        return false;
    }
    free(val);
    return true;
}

int archive_get_client(struct archive *a, const char *client_id, ClientRecord **out,
                       struct base_err *err)
{
    struct key k = {.len = strlen(client_id)};
    if (!archive_valid_tenant(client_id)) {
        return BASE_ENOTFOUND;
    }
    memcpy(k.buf, client_id, k.len);
    return archive_load_record(a, ARCHIVE_CF_CLIENTS, &k, &client_record__descriptor,
                               (ProtobufCMessage **)out, err);
}

void archive_free_client(ClientRecord *client)
{
    if (client != NULL) {
        client_record__free_unpacked(client, NULL);
    }
}

struct client_scan {
    const char *tenant;
    archive_client_cb cb;
    void *arg;
};

static void client_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    const ClientRecord *c = (const ClientRecord *)m;
    struct client_scan *s = arg;
    (void)key;
    (void)klen;
    if (c->tenant != NULL && strcmp(c->tenant, s->tenant) == 0) {
        s->cb(c, s->arg);
    }
}

/* Client ids are cluster-wide keys, so this reads every client: a cluster has a few
 * business systems per tenant, not thousands. */
int archive_list_clients(struct archive *a, const char *tenant, archive_client_cb cb, void *arg,
                         struct base_err *err)
{
    struct client_scan s = {.tenant = tenant, .cb = cb, .arg = arg};
    return archive_scan_records(a, ARCHIVE_CF_CLIENTS, "", 0, &client_record__descriptor,
                                client_cb, &s, err);
}

int archive_scan_records(struct archive *a, enum archive_cf cf, const void *prefix, size_t plen,
                         const ProtobufCMessageDescriptor *desc,
                         void (*cb)(const ProtobufCMessage *m, const char *key, size_t klen,
                                    void *arg),
                         void *arg, struct base_err *err)
{
    struct rocks_iter *it = rocks_iter_new(a->db, cf, prefix, plen);
    int rv;
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen, klen;
        const char *v = rocks_iter_value(it, &vlen);
        const char *k = rocks_iter_key(it, &klen);
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, vlen, (const uint8_t *)v);
        if (m == NULL) {
            base_err_set(err, "%s record is corrupt", archive_cf_name(cf));
            rocks_iter_free(it);
            return BASE_ECORRUPT;
        }
        cb(m, k, klen, arg);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

struct scan_cb {
    void *cb;
    void *arg;
    size_t prefix_len;
};

static void tenant_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct scan_cb *s = arg;
    (void)key;
    (void)klen;
    ((archive_tenant_cb)s->cb)((const TenantRecord *)m, s->arg);
}

int archive_list_tenants(struct archive *a, archive_tenant_cb cb, void *arg,
                         struct base_err *err)
{
    struct scan_cb s = {.cb = (void *)cb, .arg = arg};
    return archive_scan_records(a, ARCHIVE_CF_TENANTS, "", 0, &tenant_record__descriptor,
                                tenant_cb, &s, err);
}

static void license_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct scan_cb *s = arg;
    (void)key;
    (void)klen;
    ((archive_license_cb)s->cb)((const License *)m, s->arg);
}

int archive_list_licenses(struct archive *a, const char *tenant, archive_license_cb cb,
                          void *arg, struct base_err *err)
{
    struct scan_cb s = {.cb = (void *)cb, .arg = arg};
    struct key prefix;
    key_tenant_prefix(&prefix, tenant);
    return archive_scan_records(a, ARCHIVE_CF_LICENSES, prefix.buf, prefix.len,
                                &license__descriptor, license_cb, &s, err);
}

static void org_cb(const ProtobufCMessage *m, const char *key, size_t klen, void *arg)
{
    struct scan_cb *s = arg;
    char *org = xstrndup(key + s->prefix_len, klen - s->prefix_len);
    ((archive_org_usage_cb)s->cb)(org, (const UsageRecord *)m, s->arg);
    free(org);
}

int archive_list_org_usage(struct archive *a, const char *tenant, archive_org_usage_cb cb,
                           void *arg, struct base_err *err)
{
    struct key prefix;
    struct scan_cb s = {.cb = (void *)cb, .arg = arg};
    key_tenant_prefix(&prefix, tenant);
    s.prefix_len = prefix.len;
    return archive_scan_records(a, ARCHIVE_CF_USAGE, prefix.buf, prefix.len,
                                &usage_record__descriptor, org_cb, &s, err);
}

int archive_list_admin_audit(struct archive *a, const char *tenant, uint64_t after,
                             unsigned limit, archive_audit_cb cb, void *arg, bool *more,
                             struct base_err *err)
{
    struct key prefix, start;
    struct rocks_iter *it;
    unsigned n = 0;
    int rv;
    key_tenant_prefix(&prefix, tenant);
    start = prefix;
    rocks_put_be64((uint8_t *)start.buf + start.len, after + 1);
    start.len += 8;
    *more = false;
    it = rocks_iter_new(a->db, ARCHIVE_CF_ADMIN_AUDIT, prefix.buf, prefix.len);
    for (rocks_iter_seek(it, start.buf, start.len); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        AuditRecord *e;
        if (n == limit) {
            *more = true;
            break;
        }
        e = audit_record__unpack(NULL, vlen, (const uint8_t *)v);
        if (e == NULL) {
            base_err_set(err, "admin audit record is corrupt");
            rocks_iter_free(it);
            return BASE_ECORRUPT;
        }
        cb(e, arg);
        audit_record__free_unpacked(e, NULL);
        n++;
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

static const unsigned warning_marks[] = {1, 7, 30};

int archive_license_stage(const License *l, uint64_t now_ms)
{
    if (now_ms >= l->expires_ms) {
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(warning_marks); i++) {
        if (l->expires_ms - now_ms <= warning_marks[i] * DAY_MS) {
            return (int)warning_marks[i];
        }
    }
    return -1;
}

int archive_license_warning_due(const TenantRecord *t, uint64_t now_ms)
{
    int stage;
    if (t->license == NULL) {
        return -1;
    }
    stage = archive_license_stage(t->license, now_ms);
    /* Stages only go down (30, 7, 1, 0): one at or below this one was announced. */
    if (stage < 0 || (strcmp(t->warned_license, t->license->license_id) == 0 &&
                      t->warned_days <= (unsigned)stage)) {
        return -1;
    }
    return stage;
}

bool archive_license_warning(const License *l, uint64_t now_ms, char *buf, size_t size)
{
    const unsigned *marks = warning_marks;
    char when[40];
    clock_format_rfc3339(l->expires_ms, when, sizeof when);
    if (now_ms >= l->expires_ms) {
        snprintf(buf, size, "license %s expired at %s: captures are refused (code 10888) "
                 "until a renewed license is installed", l->license_id, when);
        return true;
    }
    for (size_t i = 0; i < ARRAY_SIZE(warning_marks); i++) {
        if (l->expires_ms - now_ms <= marks[i] * DAY_MS) {
            snprintf(buf, size, "license %s expires within %u day%s, at %s: install a "
                     "renewal", l->license_id, marks[i], marks[i] == 1 ? "" : "s", when);
            return true;
        }
    }
    return false;
}

/* The license's own refusals: in force, not expired, mode bought. */
static enum archive_status license_allows(const char *tenant, const License *l,
                                          uint64_t now_ms, unsigned mode, char *msg,
                                          size_t size)
{
    char when[40], modes[32];
    if (l == NULL) {
        snprintf(msg, size, "license expired or not installed: tenant %s has no license; an "
                 "operator installs one with POST /api/v1/licenses", tenant);
        return ARCHIVE_R_LICENSE;
    }
    clock_format_rfc3339(l->expires_ms, when, sizeof when);
    if (now_ms >= l->expires_ms) {
        snprintf(msg, size, "license expired or not installed: license %s of tenant %s "
                 "expired at %s; reads and downloads keep working, captures need a renewed "
                 "license", l->license_id, tenant, when);
        return ARCHIVE_R_LICENSE;
    }
    if ((l->modes & mode) == 0) {
        char wanted[32];
        license_modes_format(l->modes, modes, sizeof modes);
        license_modes_format(mode, wanted, sizeof wanted);
        snprintf(msg, size, "license %s of tenant %s does not cover image mode %s, the mode "
                 "of this bill's type (it covers %s)", l->license_id, tenant, wanted, modes);
        return ARCHIVE_R_LICENSE;
    }
    return ARCHIVE_OK;
}

static enum archive_status quota_allows(const License *l, const UsageRecord *u, uint64_t bytes,
                                        uint64_t files, char *msg, size_t size)
{
    if (bytes > 0 && (u->bytes > l->quota_bytes || bytes > l->quota_bytes - u->bytes)) {
        snprintf(msg, size, "storage quota exceeded: %" PRIu64 " of %" PRIu64 " licensed "
                 "bytes are used and this file has %" PRIu64 "; delete files or install a "
                 "license with a larger quota", u->bytes, l->quota_bytes, bytes);
        return ARCHIVE_R_QUOTA_BYTES;
    }
    if (files > 0 && l->max_files > 0 && u->files + files > l->max_files) {
        snprintf(msg, size, "file quota exceeded: the license allows %" PRIu64 " files and "
                 "%" PRIu64 " are stored", l->max_files, u->files);
        return ARCHIVE_R_QUOTA_FILES;
    }
    return ARCHIVE_OK;
}

enum archive_status archive_check_write(struct archive *a, const char *tenant, uint64_t now_ms,
                                        unsigned mode, uint64_t bytes, uint64_t files,
                                        char *msg, size_t msg_size, int *rv,
                                        struct base_err *err)
{
    TenantRecord *t = NULL;
    UsageRecord *u = NULL;
    enum archive_status st;
    *rv = archive_get_tenant(a, tenant, &t, err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        snprintf(msg, msg_size, "no tenant %s; an operator creates tenants with POST "
                 "/api/v1/tenants", tenant);
        return ARCHIVE_R_TENANT_NOT_FOUND;
    }
    if (*rv != 0) {
        return ARCHIVE_R_INVALID;
    }
    st = license_allows(tenant, t->license, now_ms, mode, msg, msg_size);
    if (st == ARCHIVE_OK && (bytes > 0 || files > 0)) {
        *rv = archive_get_usage(a, tenant, &u, err);
        if (*rv == BASE_ENOTFOUND) {
            UsageRecord zero = USAGE_RECORD__INIT;
            *rv = 0;
            st = quota_allows(t->license, &zero, bytes, files, msg, msg_size);
        } else if (*rv == 0) {
            st = quota_allows(t->license, u, bytes, files, msg, msg_size);
            archive_free_usage(u);
        }
    }
    archive_free_tenant(t);
    return *rv != 0 ? ARCHIVE_R_INVALID : st;
}
