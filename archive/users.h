/* Users, roles and permissions of a tenant (reads of the local store and the role
 * rules shared by apply and the API).
 *
 * Built-in roles: scanner (read, capture, submit), reviewer (read, review) and
 * tenant_admin (every permission of its tenant). Custom roles combine the named
 * permissions below. The operator is not a user: it is the node's bootstrap token. */
#ifndef IMGARC_ARCHIVE_USERS_H
#define IMGARC_ARCHIVE_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "archive/archive.h"

enum archive_perm {
    PERM_READ = 1 << 0,
    PERM_CAPTURE = 1 << 1,
    PERM_EDIT = 1 << 2,
    PERM_DELETE = 1 << 3,
    PERM_AMEND = 1 << 4,
    PERM_SUBMIT = 1 << 5,
    PERM_MATCH = 1 << 6,
    PERM_REVIEW = 1 << 7,
    PERM_ADMIN = 1 << 8,
    /* Placing and lifting legal holds (docs/retention.md): its own permission, held by
     * the operator and tenant_admin, and by a custom role that names it; never by a
     * business-system client. */
    PERM_HOLD = 1 << 9,
};
#define PERM_ALL ((1u << 10) - 1)

/* The bit of a permission name ("capture"); 0 for an unknown one. */
unsigned archive_perm_bit(const char *name);
/* Permissions of a built-in role; 0 when @name is not one. */
unsigned archive_builtin_role(const char *name);
/* "read,capture" for @perms into @buf. */
void archive_perms_format(unsigned perms, char *buf, size_t size);

int archive_get_user(struct archive *a, const char *tenant, const char *username,
                     UserRecord **out, struct base_err *err) WARN_UNUSED;
void archive_free_user(UserRecord *user);
int archive_get_role(struct archive *a, const char *tenant, const char *name, RoleRecord **out,
                     struct base_err *err) WARN_UNUSED;
/* The union of the permissions of the user's roles (a role since deleted counts for
 * nothing). */
int archive_user_perms(struct archive *a, const char *tenant, const UserRecord *user,
                       unsigned *out, struct base_err *err) WARN_UNUSED;

typedef void (*archive_user_cb)(const UserRecord *user, void *arg);
int archive_list_users(struct archive *a, const char *tenant, archive_user_cb cb, void *arg,
                       struct base_err *err) WARN_UNUSED;
/* Organisations. */
#define ARCHIVE_ORG_DEPTH_MAX 32
int archive_get_org(struct archive *a, const char *tenant, const char *id, OrgRecord **out,
                    struct base_err *err) WARN_UNUSED;
typedef void (*archive_org_cb)(const OrgRecord *org, void *arg);
int archive_list_orgs(struct archive *a, const char *tenant, archive_org_cb cb, void *arg,
                      struct base_err *err) WARN_UNUSED;
/* Whether @ancestor is @org or above it in the tree (*@yes). */
int archive_org_within(struct archive *a, const char *tenant, const char *org,
                       const char *ancestor, bool *yes, struct base_err *err) WARN_UNUSED;
/* Whether the user's grants cover bills of organisation @org ("" for none): a grant of
 * "*", of @org, or of an ancestor with include_children. */
int archive_user_sees_org(struct archive *a, const char *tenant, const UserRecord *user,
                          const char *org, bool *yes, struct base_err *err) WARN_UNUSED;

typedef void (*archive_role_cb)(const RoleRecord *role, void *arg);
int archive_list_roles(struct archive *a, const char *tenant, archive_role_cb cb, void *arg,
                       struct base_err *err) WARN_UNUSED;

#endif
