/* Applying the commands about users, roles, login results, organisations and grants. */
#include "archive/archive_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"

static json_t *strings_to_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(v[i]));
    }
    return a;
}

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
    /* Tokens carry the generation they were issued under. Starting it at the raft index
     * of the creation makes it unique to this account: tokens of a deleted user of the
     * same name (whose generation only grew by the commands before its deletion) never
     * match the new one. */
    rec.token_generation = t->index;
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

/* ---- Editing, disabling, passwords and deleting (G3), roles (G4) ---- */

/* Counts the tenant's enabled admins before and after a change: user @user replaced by
 * @as (NULL: deleted), or role @role given the permissions @role_perms. */
struct admin_count {
    struct txn *t;
    const char *user;
    const UserRecord *as;
    const char *role;
    unsigned role_perms;
    unsigned before, after;
    int rv;
};

static bool is_admin(struct admin_count *s, const UserRecord *u, bool changed)
{
    unsigned perms = 0;
    if (u->disabled) {
        return false;
    }
    for (size_t i = 0; i < u->n_roles && s->rv == 0; i++) {
        RoleRecord *r;
        int rv;
        if (changed && s->role != NULL && strcmp(u->roles[i], s->role) == 0) {
            perms |= s->role_perms;
            continue;
        }
        if (archive_builtin_role(u->roles[i]) != 0) {
            perms |= archive_builtin_role(u->roles[i]);
            continue;
        }
        rv = archive_get_role(s->t->a, s->t->cmd->tenant, u->roles[i], &r, s->t->err);
        if (rv == BASE_ENOTFOUND) {
            continue; /* a role since deleted counts for nothing */
        }
        if (rv != 0) {
            s->rv = rv;
            return false;
        }
        for (size_t j = 0; j < r->n_permissions; j++) {
            perms |= archive_perm_bit(r->permissions[j]);
        }
        role_record__free_unpacked(r, NULL);
    }
    return (perms & PERM_ADMIN) != 0;
}

static void admin_count_cb(const UserRecord *u, void *arg)
{
    struct admin_count *s = arg;
    const UserRecord *after = u;
    s->before += is_admin(s, u, false);
    if (s->user != NULL && strcmp(u->username, s->user) == 0) {
        after = s->as;
    }
    s->after += after != NULL && is_admin(s, after, true);
}

/* False (after refusing, or on a store error in *@rv) when the change described by @s
 * leaves a tenant that has an enabled admin without one: nobody but the operator could
 * administer it then. A tenant without one (run by the operator) is left as it is. */
static bool keeps_an_admin(struct txn *t, struct admin_count *s, int *rv)
{
    s->t = t;
    *rv = archive_list_users(t->a, t->cmd->tenant, admin_count_cb, s, t->err);
    if (*rv == 0) {
        *rv = s->rv;
    }
    if (*rv != 0) {
        return false;
    }
    if (s->before > 0 && s->after == 0) {
        refuse(t, ARCHIVE_R_LAST_ADMIN, "tenant %s would be left without an enabled admin: "
               "give another user the tenant_admin role first", t->cmd->tenant);
        return false;
    }
    return true;
}

static bool same_strings(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb) {
        return false;
    }
    for (size_t i = 0; i < na; i++) {
        if (strcmp(a[i], b[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* Loads user @username of the command's tenant; false after refusing (or on a store
 * error in *@rv). */
static bool load_user(struct txn *t, const char *username, UserRecord **u, int *rv)
{
    *rv = archive_get_user(t->a, t->cmd->tenant, username, u, t->err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        refuse(t, ARCHIVE_R_USER_NOT_FOUND, "no user %.64s in tenant %s", username,
               t->cmd->tenant);
        return false;
    }
    return *rv == 0;
}

#define USERS_ROLES_MAX 16
#define USERS_NAME_MAX 256

int apply_update_user(struct txn *t, const UpdateUser *c)
{
    UserRecord *u, rec;
    bool roles_change, disabling;
    int rv;
    if ((c->set_name && (c->name == NULL || c->name[0] == '\0' || strlen(c->name) > USERS_NAME_MAX)) ||
        (c->set_roles && (c->n_roles == 0 || c->n_roles > USERS_ROLES_MAX))) {
        refuse(t, ARCHIVE_R_INVALID, "a name is 1-%d bytes; a user has 1-%d roles",
               USERS_NAME_MAX, USERS_ROLES_MAX);
        return 0;
    }
    for (size_t i = 0; c->set_roles && i < c->n_roles; i++) {
        if (!archive_valid_tenant(c->roles[i])) {
            refuse(t, ARCHIVE_R_INVALID, "role names are 1-64 characters of A-Z a-z 0-9 . _ -");
            return 0;
        }
    }
    if (!load_user(t, c->username, &u, &rv)) {
        return rv;
    }
    rec = *u;
    roles_change = c->set_roles && !same_strings(u->roles, u->n_roles, c->roles, c->n_roles);
    disabling = c->set_disabled && c->disabled && !u->disabled;
    if (c->set_roles && !roles_exist(t, c->roles, c->n_roles, &rv)) {
        goto out;
    }
    if (c->set_name) {
        rec.name = c->name;
    }
    if (c->set_roles) {
        rec.roles = c->roles;
        rec.n_roles = c->n_roles;
    }
    if (c->set_disabled) {
        rec.disabled = c->disabled;
    }
    if (roles_change || disabling) {
        struct admin_count s = {.user = u->username, .as = &rec};
        if (!keeps_an_admin(t, &s, &rv)) {
            goto out;
        }
        /* Permissions are read on every request, but a role change is also a moment to
         * end the sessions that held the old ones; disabling ends them for good. */
        revoke_user_tokens(&rec);
    }
    store_user(t, &rec);
    if (c->set_name || c->set_roles) {
        admin_audit(t, t->cmd->tenant, "user_updated",
                    json_pack("{s:s, s:s, s:o, s:o}", "username", u->username, "name",
                              rec.name, "roles_before", strings_to_json(u->roles, u->n_roles),
                              "roles", strings_to_json(rec.roles, rec.n_roles)));
    }
    if (c->set_disabled && c->disabled != u->disabled) {
        admin_audit(t, t->cmd->tenant, c->disabled ? "user_disabled" : "user_enabled",
                    json_pack("{s:s}", "username", u->username));
    }
out:
    archive_free_user(u);
    return rv;
}

int apply_set_password(struct txn *t, const SetPassword *c)
{
    UserRecord *u, rec;
    int rv;
    if (c->password_hash == NULL || strncmp(c->password_hash, "$argon2id$", 10) != 0 || strlen(c->password_hash) > 256) {
        refuse(t, ARCHIVE_R_INVALID, "a password hash is an Argon2id string");
        return 0;
    }
    if (!load_user(t, c->username, &u, &rv)) {
        return rv;
    }
    rec = *u;
    rec.password_hash = c->password_hash;
    rec.failures = 0;
    rec.locked_until_ms = 0;
    rec.n_logged_out = 0; /* the generation below stops those tokens anyway */
    revoke_user_tokens(&rec);
    store_user(t, &rec);
    admin_audit(t, t->cmd->tenant, c->own ? "password_changed" : "password_reset",
                json_pack("{s:s}", "username", u->username));
    archive_free_user(u);
    return 0;
}

int apply_delete_user(struct txn *t, const DeleteUser *c)
{
    UserRecord *u;
    struct admin_count s = {.user = c->username, .as = NULL};
    struct key k;
    int rv;
    if (!load_user(t, c->username, &u, &rv)) {
        return rv;
    }
    if (keeps_an_admin(t, &s, &rv)) {
        key_pair(&k, t->cmd->tenant, u->username);
        rocks_batch_delete(t->batch, ARCHIVE_CF_USERS, k.buf, k.len);
        admin_audit(t, t->cmd->tenant, "user_deleted",
                    json_pack("{s:s, s:s, s:o}", "username", u->username, "name", u->name,
                              "roles", strings_to_json(u->roles, u->n_roles)));
    }
    archive_free_user(u);
    return rv;
}

/* Refuses permissions that are not 1-16 known names; their bits into *@bits. */
static bool perms_valid(struct txn *t, char **perms, size_t n, unsigned *bits)
{
    *bits = 0;
    if (n == 0 || n > 16) {
        refuse(t, ARCHIVE_R_INVALID, "a role has 1-16 permissions");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned b = archive_perm_bit(perms[i]);
        if (b == 0) {
            refuse(t, ARCHIVE_R_INVALID, "unknown permission %.64s", perms[i]);
            return false;
        }
        *bits |= b;
    }
    return true;
}

/* Loads custom role @name; false after refusing (built in, or unknown) or on a store
 * error in *@rv. */
static bool load_role(struct txn *t, const char *name, RoleRecord **r, int *rv)
{
    *rv = 0;
    if (archive_builtin_role(name) != 0) {
        refuse(t, ARCHIVE_R_INVALID, "%s is a built-in role: it cannot change", name);
        return false;
    }
    *rv = archive_get_role(t->a, t->cmd->tenant, name, r, t->err);
    if (*rv == BASE_ENOTFOUND) {
        *rv = 0;
        refuse(t, ARCHIVE_R_ROLE_NOT_FOUND, "no role %.64s in tenant %s", name, t->cmd->tenant);
        return false;
    }
    return *rv == 0;
}

int apply_update_role(struct txn *t, const UpdateRole *c)
{
    RoleRecord *r;
    unsigned bits;
    struct key k;
    int rv;
    if (!perms_valid(t, c->permissions, c->n_permissions, &bits)) {
        return 0;
    }
    if (!load_role(t, c->name, &r, &rv)) {
        return rv;
    }
    {
        struct admin_count s = {.role = c->name, .role_perms = bits};
        if (keeps_an_admin(t, &s, &rv)) {
            RoleRecord rec = *r;
            rec.permissions = c->permissions;
            rec.n_permissions = c->n_permissions;
            key_pair(&k, t->cmd->tenant, r->name);
            put_record(t, ARCHIVE_CF_ROLES, &k, &rec.base);
            admin_audit(t, t->cmd->tenant, "role_updated",
                        json_pack("{s:s, s:o, s:o}", "name", r->name, "permissions_before",
                                  strings_to_json(r->permissions, r->n_permissions),
                                  "permissions",
                                  strings_to_json(c->permissions, c->n_permissions)));
        }
    }
    role_record__free_unpacked(r, NULL);
    return rv;
}

/* The users holding a role, named in the refusal (as many as fit). */
struct role_holders {
    const char *role;
    char names[160];
    unsigned n;
};

static void role_holder_cb(const UserRecord *u, void *arg)
{
    struct role_holders *h = arg;
    for (size_t i = 0; i < u->n_roles; i++) {
        if (strcmp(u->roles[i], h->role) == 0) {
            size_t len = strlen(h->names);
            if (len + strlen(u->username) + 3 < sizeof h->names) {
                snprintf(h->names + len, sizeof h->names - len, "%s%s", h->n > 0 ? ", " : "",
                         u->username);
            } else if (len + 5 < sizeof h->names && strstr(h->names, "...") == NULL) {
                snprintf(h->names + len, sizeof h->names - len, ", ...");
            }
            h->n++;
            return;
        }
    }
}

int apply_delete_role(struct txn *t, const DeleteRole *c)
{
    RoleRecord *r;
    struct role_holders h = {.role = c->name};
    struct key k;
    int rv;
    if (!load_role(t, c->name, &r, &rv)) {
        return rv;
    }
    if ((rv = archive_list_users(t->a, t->cmd->tenant, role_holder_cb, &h, t->err)) == 0) {
        if (h.n > 0) {
            refuse(t, ARCHIVE_R_ROLE_IN_USE, "role %s is held by %u user(s): %s; take it from "
                   "them first (PATCH /api/v1/users/{u} with other roles)", r->name, h.n,
                   h.names);
        } else {
            key_pair(&k, t->cmd->tenant, r->name);
            rocks_batch_delete(t->batch, ARCHIVE_CF_ROLES, k.buf, k.len);
            admin_audit(t, t->cmd->tenant, "role_deleted",
                        json_pack("{s:s, s:o}", "name", r->name, "permissions",
                                  strings_to_json(r->permissions, r->n_permissions)));
        }
    }
    role_record__free_unpacked(r, NULL);
    return rv;
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

struct org_users {
    const char *org;
    char **names; /* users with a grant naming the organisation */
    size_t n;
    bool child;   /* an organisation has it as its parent */
    char child_id[ARCHIVE_ID_MAX + 1];
};

static void granted_cb(const UserRecord *u, void *arg)
{
    struct org_users *s = arg;
    for (size_t i = 0; i < u->n_grants; i++) {
        if (strcmp(u->grants[i]->org, s->org) == 0) {
            s->names = xrealloc(s->names, (s->n + 1) * sizeof *s->names);
            s->names[s->n++] = xstrdup(u->username);
            return;
        }
    }
}

static void child_cb(const OrgRecord *o, void *arg)
{
    struct org_users *s = arg;
    if (!s->child && strcmp(o->parent, s->org) == 0) {
        s->child = true;
        snprintf(s->child_id, sizeof s->child_id, "%s", o->id);
    }
}

/* Takes the grants naming @org out of user @name. */
static int drop_grants(struct txn *t, const char *name, const char *org)
{
    UserRecord *u;
    size_t kept = 0;
    int rv = archive_get_user(t->a, t->cmd->tenant, name, &u, t->err);
    if (rv != 0) {
        return rv == BASE_ENOTFOUND ? 0 : rv;
    }
    for (size_t i = 0; i < u->n_grants; i++) {
        if (strcmp(u->grants[i]->org, org) == 0) {
            grant__free_unpacked(u->grants[i], NULL);
        } else {
            u->grants[kept++] = u->grants[i];
        }
    }
    u->n_grants = kept;
    store_user(t, u);
    archive_free_user(u);
    return 0;
}

struct org_schemes {
    struct txn *t;
    const char *org;
    json_t *removed; /* bill types whose scheme for the organisation went */
};

static void scheme_cb(const SchemeRecord *sc, void *arg)
{
    struct org_schemes *s = arg;
    struct key k;
    if (strcmp(sc->org, s->org) == 0) {
        key_triple(&k, s->t->cmd->tenant, sc->bill_type, sc->org);
        rocks_batch_delete(s->t->batch, ARCHIVE_CF_SCHEMES, k.buf, k.len);
        json_array_append_new(s->removed, json_string(sc->bill_type));
    }
}

/* An organisation deleted: refused while bills belong to it or organisations sit under
 * it (their users' grants would change meaning); the grants naming it are taken out of
 * the users that have them, the schemes set for it deleted, its usage record (empty)
 * removed. */
int apply_delete_org(struct txn *t, const DeleteOrg *c)
{
    struct org_users s = {.org = c->id};
    struct org_schemes sch = {.t = t, .org = c->id};
    UsageRecord *u = NULL;
    OrgRecord *o;
    json_t *users;
    struct key k;
    int rv;
    if (c->id == NULL || !archive_valid_tenant(c->id)) {
        refuse(t, ARCHIVE_R_INVALID, "an organisation id is 1-64 of A-Z a-z 0-9 . _ -");
        return 0;
    }
    rv = archive_get_org(t->a, t->cmd->tenant, c->id, &o, t->err);
    if (rv == BASE_ENOTFOUND) {
        refuse(t, ARCHIVE_R_ORG_NOT_FOUND, "no organisation %s", c->id);
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    key_pair(&k, t->cmd->tenant, c->id);
    rv = archive_load_record(t->a, ARCHIVE_CF_USAGE, &k, &usage_record__descriptor,
                             (ProtobufCMessage **)&u, t->err);
    if (rv == BASE_ENOTFOUND) {
        u = NULL;
        rv = 0;
    }
    if (rv != 0) {
        goto out;
    }
    if (u != NULL && u->bills > 0) {
        refuse(t, ARCHIVE_R_ORG_IN_USE, "organisation %s has %llu bill(s): move them to another "
               "organisation (a pool push naming it) or delete them first", c->id,
               (unsigned long long)u->bills);
        goto out;
    }
    if ((rv = archive_list_orgs(t->a, t->cmd->tenant, child_cb, &s, t->err)) != 0) {
        goto out;
    }
    if (s.child) {
        refuse(t, ARCHIVE_R_ORG_IN_USE, "organisation %s has organisation %s under it: move or "
               "delete those first", c->id, s.child_id);
        goto out;
    }
    if ((rv = archive_list_users(t->a, t->cmd->tenant, granted_cb, &s, t->err)) != 0) {
        goto out;
    }
    users = json_array();
    for (size_t i = 0; i < s.n && rv == 0; i++) {
        rv = drop_grants(t, s.names[i], c->id);
        json_array_append_new(users, json_string(s.names[i]));
    }
    sch.removed = json_array();
    if (rv == 0) {
        rv = archive_list_schemes(t->a, t->cmd->tenant, scheme_cb, &sch, t->err);
    }
    if (rv != 0) {
        json_decref(users);
        json_decref(sch.removed);
        goto out;
    }
    rocks_batch_delete(t->batch, ARCHIVE_CF_USAGE, k.buf, k.len);
    rocks_batch_delete(t->batch, ARCHIVE_CF_ORGS, k.buf, k.len);
    admin_audit(t, t->cmd->tenant, "org_deleted",
                json_pack("{s:s, s:s, s:s, s:o, s:o}", "id", o->id, "name", o->name, "parent",
                          o->parent, "grants_removed_from", users, "schemes_removed",
                          sch.removed));
out:
    for (size_t i = 0; i < s.n; i++) {
        free(s.names[i]);
    }
    free(s.names);
    if (u != NULL) {
        usage_record__free_unpacked(u, NULL);
    }
    org_record__free_unpacked(o, NULL);
    return rv;
}
