/* Applying the commands about users, roles, login results, organisations and grants. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

static void store_user(struct txn *t, const UserRecord *u)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, u->username);
    put_record(t, ARCHIVE_CF_USERS, &k, &u->base);
}

/* Refuses a user whose roles are neither built in nor defined for the tenant. */
static bool roles_exist(struct txn *t, char **roles, size_t n, int *rv)
{
    *rv = 0;
    for (size_t i = 0; i < n; i++) {
        RoleRecord *r;
        if (archive_builtin_role(roles[i]) != 0) {
            continue;
        }
        *rv = archive_get_role(t->a, t->cmd->tenant, roles[i], &r, t->err);
        if (*rv == BASE_ENOTFOUND) {
            *rv = 0;
            refuse(t, ARCHIVE_R_ROLE_NOT_FOUND, "no role %s in tenant %s (built in: scanner, "
                   "reviewer, tenant_admin)", roles[i], t->cmd->tenant);
            return false;
        }
        if (*rv != 0) {
            return false;
        }
        role_record__free_unpacked(r, NULL);
    }
    return true;
}

int apply_create_user(struct txn *t, const CreateUser *c)
{
    UserRecord rec = USER_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->username == NULL || !archive_valid_tenant(c->username) || c->password_hash == NULL ||
        strncmp(c->password_hash, "$argon2id$", 10) != 0 || c->name == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "malformed user");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->username);
    if ((rv = record_exists(t, ARCHIVE_CF_USERS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_USER_EXISTS, "user %s exists already in tenant %s",
                   c->username, t->cmd->tenant);
        }
        return rv;
    }
    if (!roles_exist(t, c->roles, c->n_roles, &rv)) {
        return rv;
    }
    rec.username = c->username;
    rec.tenant = t->cmd->tenant;
    rec.name = c->name;
    rec.password_hash = c->password_hash;
    rec.roles = c->roles;
    rec.n_roles = c->n_roles;
    rec.created_ms = t->cmd->time_ms;
    store_user(t, &rec);
    admin_audit(t, t->cmd->tenant, "user_created", json_pack("{s:s, s:s}", "username",
                                                             c->username, "name", c->name));
    return 0;
}

int apply_create_role(struct txn *t, const CreateRole *c)
{
    struct key k;
    bool found;
    int rv;
    if (c->name == NULL || !archive_valid_tenant(c->name) || archive_builtin_role(c->name)) {
        refuse(t, ARCHIVE_R_INVALID, "role names are 1-64 characters of A-Z a-z 0-9 . _ - "
                                     "and not scanner, reviewer or tenant_admin");
        return 0;
    }
    for (size_t i = 0; i < c->n_permissions; i++) {
        if (archive_perm_bit(c->permissions[i]) == 0) {
            refuse(t, ARCHIVE_R_INVALID, "unknown permission %s", c->permissions[i]);
            return 0;
        }
    }
    key_pair(&k, t->cmd->tenant, c->name);
    if ((rv = record_exists(t, ARCHIVE_CF_ROLES, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_ROLE_EXISTS, "role %s exists already", c->name);
        }
        return rv;
    }
    {
        RoleRecord rec = ROLE_RECORD__INIT;
        rec.name = c->name;
        rec.permissions = c->permissions;
        rec.n_permissions = c->n_permissions;
        put_record(t, ARCHIVE_CF_ROLES, &k, &rec.base);
    }
    admin_audit(t, t->cmd->tenant, "role_created", json_pack("{s:s}", "name", c->name));
    return 0;
}

/* Makes every token issued to @u so far fail (api/auth.c compares the generation a
 * token carries with the record's). Whatever locks, disables or re-keys an account
 * calls it, so the change holds on every node that applies the command. */
static void revoke_user_tokens(UserRecord *u)
{
    u->token_generation++;
}

/* Counts wrong passwords; the one that reaches the limit locks the account and revokes
 * its tokens. A login for a username that does not exist is proposed too (the API makes
 * a failure cost the same whether the user exists or not) and refused here. */
int apply_login_result(struct txn *t, const LoginResult *l)
{
    UserRecord *u;
    int rv = archive_get_user(t->a, t->cmd->tenant, l->username, &u, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s", l->username);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (!l->ok && u->locked_until_ms > t->cmd->time_ms) {
        /* Wrong passwords while locked neither count nor extend the lock: an attacker
         * cannot keep an account locked for longer than one lock period. */
        archive_free_user(u);
        return 0;
    }
    if (l->ok) {
        u->failures = 0;
    } else if (++u->failures >= l->max_failures && l->max_failures > 0) {
        u->failures = 0;
        u->locked_until_ms = t->cmd->time_ms + l->lock_ms;
        revoke_user_tokens(u);
        admin_audit(t, t->cmd->tenant, "user_locked",
                    json_pack("{s:s, s:I, s:i}", "username", l->username, "locked_until_ms",
                              (json_int_t)u->locked_until_ms, "after_failures",
                              (int)l->max_failures));
    }
    store_user(t, u);
    archive_free_user(u);
    return 0;
}

int apply_unlock_user(struct txn *t, const UnlockUser *c)
{
    UserRecord *u;
    int rv = archive_get_user(t->a, t->cmd->tenant, c->username, &u, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s in tenant %s", c->username,
               t->cmd->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    u->failures = 0;
    u->locked_until_ms = 0;
    store_user(t, u);
    admin_audit(t, t->cmd->tenant, "user_unlocked", json_pack("{s:s}", "username", c->username));
    archive_free_user(u);
    return 0;
}

/* Logged-out tokens a user record keeps at most; one more revokes every token of the
 * user instead (stronger, and the record stays small). */
#define USERS_LOGGED_OUT_MAX 64

/* Drops the logged-out tokens that have expired by @now (the command's time). */
static void prune_logged_out(UserRecord *u, uint64_t now)
{
    size_t kept = 0;
    for (size_t i = 0; i < u->n_logged_out; i++) {
        if (u->logged_out[i]->expires_ms > now) {
            u->logged_out[kept++] = u->logged_out[i];
        } else {
            logged_out_token__free_unpacked(u->logged_out[i], NULL);
        }
    }
    u->n_logged_out = kept;
}

/* Refuses one token of the user from now on (until its expiry). A token id is 32
 * lowercase hex digits (api/auth.c); anything else is refused. */
int apply_logout_token(struct txn *t, const LogoutToken *c)
{
    UserRecord *u;
    LoggedOutToken *e;
    int rv;
    if (strlen(c->token_id) != 32 || strspn(c->token_id, "0123456789abcdef") != 32) {
        refuse(t, ARCHIVE_R_INVALID, "a token id is 32 hex digits");
        return 0;
    }
    rv = archive_get_user(t->a, t->cmd->tenant, c->username, &u, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s in tenant %s", c->username,
               t->cmd->tenant);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    prune_logged_out(u, t->cmd->time_ms);
    for (size_t i = 0; i < u->n_logged_out; i++) {
        if (strcmp(u->logged_out[i]->token_id, c->token_id) == 0) {
            archive_free_user(u); /* already logged out: nothing changes */
            return 0;
        }
    }
    if (c->expires_ms > t->cmd->time_ms && u->n_logged_out >= USERS_LOGGED_OUT_MAX) {
        for (size_t i = 0; i < u->n_logged_out; i++) {
            logged_out_token__free_unpacked(u->logged_out[i], NULL);
        }
        u->n_logged_out = 0;
        revoke_user_tokens(u);
    } else if (c->expires_ms > t->cmd->time_ms) {
        e = xmalloc(sizeof *e);
        logged_out_token__init(e);
        e->token_id = xstrdup(c->token_id);
        e->expires_ms = c->expires_ms;
        u->logged_out = xrealloc(u->logged_out, (u->n_logged_out + 1) * sizeof *u->logged_out);
        u->logged_out[u->n_logged_out++] = e;
    }
    store_user(t, u);
    admin_audit(t, t->cmd->tenant, "token_logged_out",
                json_pack("{s:s, s:I}", "username", c->username, "token_expires_ms",
                          (json_int_t)c->expires_ms));
    archive_free_user(u);
    return 0;
}

/* ---- Organisations and grants ---- */

struct sibling_check {
    const char *id;     /* the organisation itself (not its own sibling) */
    const char *parent;
    const char *name;
    bool taken;
};

static void sibling_cb(const OrgRecord *o, void *arg)
{
    struct sibling_check *s = arg;
    if (strcmp(o->id, s->id) != 0 && strcmp(o->parent, s->parent) == 0 &&
        strcmp(o->name, s->name) == 0) {
        s->taken = true;
    }
}

/* Refuses a name taken among the siblings under @parent, a parent that does not exist,
 * or a tree that would be too deep; false after refusing (or on a store error). */
static bool org_place_ok(struct txn *t, const char *id, const char *parent, const char *name,
                         int *rv)
{
    struct sibling_check s = {.id = id, .parent = parent, .name = name};
    unsigned depth = 0;
    bool found;
    struct key k;
    *rv = 0;
    if (parent[0] != '\0') {
        key_pair(&k, t->cmd->tenant, parent);
        if ((*rv = record_exists(t, ARCHIVE_CF_ORGS, &k, &found)) != 0 || !found) {
            if (*rv == 0) {
                refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", parent);
            }
            return false;
        }
    }
    char buf[ARCHIVE_ID_MAX + 1];
    for (const char *p = parent; p[0] != '\0' && depth <= ARCHIVE_ORG_DEPTH_MAX; depth++) {
        OrgRecord *o;
        if ((*rv = archive_get_org(t->a, t->cmd->tenant, p, &o, t->err)) != 0) {
            *rv = *rv == BASE_ENOTFOUND ? 0 : *rv;
            break;
        }
        snprintf(buf, sizeof buf, "%s", o->parent);
        org_record__free_unpacked(o, NULL);
        p = buf;
    }
    if (*rv == 0 && depth >= ARCHIVE_ORG_DEPTH_MAX) {
        refuse(t, ARCHIVE_R_INVALID, "organisations nest at most %d deep", ARCHIVE_ORG_DEPTH_MAX);
        return false;
    }
    if (*rv != 0 || (*rv = archive_list_orgs(t->a, t->cmd->tenant, sibling_cb, &s, t->err)) != 0) {
        return false;
    }
    if (s.taken) {
        refuse(t, ARCHIVE_R_ORG_EXISTS, "an organisation named '%s' exists already under %s",
               name, parent[0] != '\0' ? parent : "the top");
        return false;
    }
    return true;
}

static void store_org(struct txn *t, const OrgRecord *o)
{
    struct key k;
    key_pair(&k, t->cmd->tenant, o->id);
    put_record(t, ARCHIVE_CF_ORGS, &k, &o->base);
}

int apply_create_org(struct txn *t, const CreateOrg *c)
{
    OrgRecord rec = ORG_RECORD__INIT;
    struct key k;
    bool found;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id) || c->name == NULL || c->name[0] == '\0' ||
        strlen(c->name) > 256 || c->parent == NULL) {
        refuse(t, ARCHIVE_R_INVALID, "malformed organisation");
        return 0;
    }
    key_pair(&k, t->cmd->tenant, c->id);
    if ((rv = record_exists(t, ARCHIVE_CF_ORGS, &k, &found)) != 0 || found) {
        if (rv == 0) {
            refuse(t, ARCHIVE_R_ORG_EXISTS, "organisation %s exists already", c->id);
        }
        return rv;
    }
    if (!org_place_ok(t, c->id, c->parent, c->name, &rv)) {
        return rv;
    }
    rec.id = c->id;
    rec.name = c->name;
    rec.parent = c->parent;
    rec.created_ms = t->cmd->time_ms;
    store_org(t, &rec);
    admin_audit(t, t->cmd->tenant, "org_created", json_pack("{s:s, s:s, s:s}", "id", c->id,
                                                            "name", c->name, "parent",
                                                            c->parent));
    return 0;
}

int apply_update_org(struct txn *t, const UpdateOrg *c)
{
    OrgRecord *o;
    const char *parent, *name;
    bool cycle = false;
    int rv = archive_get_org(t->a, t->cmd->tenant, c->id, &o, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", c->id);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    parent = c->move ? c->parent : o->parent;
    name = c->name[0] != '\0' ? c->name : o->name;
    if (c->move && parent[0] != '\0' &&
        (rv = archive_org_within(t->a, t->cmd->tenant, parent, c->id, &cycle, t->err)) != 0) {
        goto out;
    }
    if (cycle) {
        refuse(t, ARCHIVE_R_ORG_CYCLE, "organisation %s cannot move under %s, which is itself "
               "or inside it", c->id, parent);
    } else if (strlen(name) <= 256 && org_place_ok(t, c->id, parent, name, &rv)) {
        json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", c->id, "name_before",
                                   o->name, "name_after", name, "parent_before", o->parent,
                                   "parent_after", parent);
        OrgRecord rec = *o;
        rec.name = (char *)name;
        rec.parent = (char *)parent;
        store_org(t, &rec);
        admin_audit(t, t->cmd->tenant, c->move ? "org_moved" : "org_renamed", detail);
    }
out:
    org_record__free_unpacked(o, NULL);
    return rv;
}

int apply_set_grants(struct txn *t, const SetGrants *c)
{
    UserRecord *u;
    json_t *orgs = json_array();
    Grant **old_grants;
    size_t old_n;
    int rv;
    for (size_t i = 0; i < c->n_grants; i++) {
        const char *org = c->grants[i]->org;
        if (org == NULL || (strcmp(org, "*") != 0 && !archive_valid_tenant(org))) {
            refuse(t, ARCHIVE_R_INVALID, "a grant names an organisation id or \"*\"");
            json_decref(orgs);
            return 0;
        }
        json_array_append_new(orgs, json_pack("{s:s, s:b}", "org", org, "include_children",
                                              c->grants[i]->include_children));
    }
    rv = archive_get_user(t->a, t->cmd->tenant, c->username, &u, t->err);
    if (rv != 0) {
        if (rv == BASE_ENOTFOUND) {
            refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %s", c->username);
        }
        json_decref(orgs);
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    old_grants = u->grants;
    old_n = u->n_grants;
    u->grants = c->grants;
    u->n_grants = c->n_grants;
    store_user(t, u);
    u->grants = old_grants; /* the unpacked record frees its own */
    u->n_grants = old_n;
    archive_free_user(u);
    admin_audit(t, t->cmd->tenant, "grants_set", json_pack("{s:s, s:o}", "username",
                                                           c->username, "grants", orgs));
    return 0;
}
