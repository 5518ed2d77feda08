#include "users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/keys.h"
#include "base/mem.h"

static const char *const perm_names[] = {"read",   "capture", "edit",   "delete", "amend",
                                         "submit", "match",   "review", "admin",  "hold"};

unsigned archive_perm_bit(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(perm_names); i++) {
        if (strcmp(name, perm_names[i]) == 0) {
            return 1u << i;
        }
    }
    return 0;
}

unsigned archive_builtin_role(const char *name)
{
    if (strcmp(name, "scanner") == 0) {
        return PERM_READ | PERM_CAPTURE | PERM_SUBMIT;
    }
    if (strcmp(name, "reviewer") == 0) {
        return PERM_READ | PERM_REVIEW;
    }
    if (strcmp(name, "tenant_admin") == 0) {
        return PERM_ALL;
    }
    return 0;
}

void archive_perms_format(unsigned perms, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(perm_names); i++) {
        if (perms & (1u << i)) {
            n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s", n > 0 ? "," : "",
                                  perm_names[i]);
        }
    }
}

static int get(struct archive *a, enum archive_cf cf, const char *tenant, const char *name,
               const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out,
               struct base_err *err)
{
    struct key k;
    if (!archive_valid_tenant(tenant) || !archive_valid_tenant(name)) {
        return BASE_ENOTFOUND;
    }
    key_pair(&k, tenant, name);
    return archive_load_record(a, cf, &k, desc, out, err);
}

int archive_get_user(struct archive *a, const char *tenant, const char *username,
                     UserRecord **out, struct base_err *err)
{
    return get(a, ARCHIVE_CF_USERS, tenant, username, &user_record__descriptor,
               (ProtobufCMessage **)out, err);
}

void archive_free_user(UserRecord *user)
{
    if (user != NULL) {
        user_record__free_unpacked(user, NULL);
    }
}

int archive_get_role(struct archive *a, const char *tenant, const char *name, RoleRecord **out,
                     struct base_err *err)
{
    return get(a, ARCHIVE_CF_ROLES, tenant, name, &role_record__descriptor,
               (ProtobufCMessage **)out, err);
}

int archive_user_perms(struct archive *a, const char *tenant, const UserRecord *user,
                       unsigned *out, struct base_err *err)
{
    unsigned perms = 0;
    for (size_t i = 0; i < user->n_roles; i++) {
        RoleRecord *r;
        unsigned builtin = archive_builtin_role(user->roles[i]);
        int rv;
        if (builtin != 0) {
            perms |= builtin;
            continue;
        }
        rv = archive_get_role(a, tenant, user->roles[i], &r, err);
        if (rv == BASE_ENOTFOUND) {
            continue;
        }
        if (rv != 0) {
            return rv;
        }
        for (size_t k = 0; k < r->n_permissions; k++) {
            perms |= archive_perm_bit(r->permissions[k]);
        }
        role_record__free_unpacked(r, NULL);
    }
    *out = perms;
    return 0;
}

static int scan(struct archive *a, enum archive_cf cf, const char *tenant,
                const ProtobufCMessageDescriptor *desc,
                void (*cb)(const ProtobufCMessage *m, void *arg), void *arg,
                struct base_err *err)
{
    struct key prefix;
    struct rocks_iter *it;
    int rv;
    key_tenant_prefix(&prefix, tenant);
    it = rocks_iter_new(a->db, cf, prefix.buf, prefix.len);
    for (rocks_iter_first(it); rocks_iter_valid(it); rocks_iter_next(it)) {
        size_t vlen;
        const char *v = rocks_iter_value(it, &vlen);
        ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, vlen, (const uint8_t *)v);
        if (m == NULL) {
            base_err_set(err, "%s record is corrupt", archive_cf_name(cf));
            rocks_iter_free(it);
            return BASE_ECORRUPT;
        }
        cb(m, arg);
        protobuf_c_message_free_unpacked(m, NULL);
    }
    rv = rocks_iter_status(it, err);
    rocks_iter_free(it);
    return rv;
}

struct typed_cb {
    void *cb;
    void *arg;
};

static void user_cb(const ProtobufCMessage *m, void *arg)
{
    struct typed_cb *t = arg;
    ((archive_user_cb)t->cb)((const UserRecord *)m, t->arg);
}

int archive_list_users(struct archive *a, const char *tenant, archive_user_cb cb, void *arg,
                       struct base_err *err)
{
    struct typed_cb t = {.cb = (void *)cb, .arg = arg};
    return scan(a, ARCHIVE_CF_USERS, tenant, &user_record__descriptor, user_cb, &t, err);
}

static void role_cb(const ProtobufCMessage *m, void *arg)
{
    struct typed_cb *t = arg;
    ((archive_role_cb)t->cb)((const RoleRecord *)m, t->arg);
}

int archive_list_roles(struct archive *a, const char *tenant, archive_role_cb cb, void *arg,
                       struct base_err *err)
{
    struct typed_cb t = {.cb = (void *)cb, .arg = arg};
    return scan(a, ARCHIVE_CF_ROLES, tenant, &role_record__descriptor, role_cb, &t, err);
}

int archive_get_org(struct archive *a, const char *tenant, const char *id, OrgRecord **out,
                    struct base_err *err)
{
    return get(a, ARCHIVE_CF_ORGS, tenant, id, &org_record__descriptor, (ProtobufCMessage **)out,
               err);
}

static void org_cb(const ProtobufCMessage *m, void *arg)
{
    struct typed_cb *t = arg;
    ((archive_org_cb)t->cb)((const OrgRecord *)m, t->arg);
}

int archive_list_orgs(struct archive *a, const char *tenant, archive_org_cb cb, void *arg,
                      struct base_err *err)
{
    struct typed_cb t = {.cb = (void *)cb, .arg = arg};
    return scan(a, ARCHIVE_CF_ORGS, tenant, &org_record__descriptor, org_cb, &t, err);
}

int archive_org_within(struct archive *a, const char *tenant, const char *org,
                       const char *ancestor, bool *yes, struct base_err *err)
{
    char *cur = xstrdup(org);
    int rv = 0;
    *yes = false;
    for (int depth = 0; depth <= ARCHIVE_ORG_DEPTH_MAX && cur[0] != '\0'; depth++) {
        OrgRecord *o;
        if (strcmp(cur, ancestor) == 0) {
            *yes = true;
            break;
        }
        rv = archive_get_org(a, tenant, cur, &o, err);
        if (rv != 0) {
            rv = rv == BASE_ENOTFOUND ? 0 : rv; /* an organisation outside the tree */
            break;
        }
        free(cur);
        cur = xstrdup(o->parent);
        org_record__free_unpacked(o, NULL);
    }
    free(cur);
    return rv;
}

int archive_user_sees_org(struct archive *a, const char *tenant, const UserRecord *user,
                          const char *org, bool *yes, struct base_err *err)
{
    *yes = false;
    for (size_t i = 0; i < user->n_grants && !*yes; i++) {
        const Grant *g = user->grants[i];
        int rv;
        if (strcmp(g->org, "*") == 0 || strcmp(g->org, org) == 0) {
            *yes = true;
        } else if (g->include_children && org[0] != '\0' &&
                   (rv = archive_org_within(a, tenant, org, g->org, yes, err)) != 0) {
            return rv;
        }
    }
    return 0;
}
