/* A caller's access to a tenant's data (see access.h). */
#include "archive/access.h"

#include <stdio.h>
#include <string.h>

#include "base/mem.h"

static void actor_init(struct archive_actor *actor, enum archive_actor_kind kind,
                       const char *tenant, unsigned perms)
{
    ASSERT(strlen(tenant) <= ARCHIVE_ID_MAX);
    actor->kind = kind;
    snprintf(actor->tenant, sizeof actor->tenant, "%s", tenant);
    actor->perms = perms;
    actor->n_grants = 0;
}

void archive_actor_operator(struct archive_actor *actor, const char *tenant)
{
    actor_init(actor, ARCHIVE_ACTOR_OPERATOR, tenant, PERM_ALL);
}

void archive_actor_system(struct archive_actor *actor, const char *tenant)
{
    actor_init(actor, ARCHIVE_ACTOR_SYSTEM, tenant,
               PERM_ALL & ~(unsigned)(PERM_ADMIN | PERM_HOLD));
}

int archive_actor_of_user(struct archive *a, const char *tenant, const UserRecord *user,
                          struct archive_actor *actor, struct base_err *err)
{
    struct base_err ignored;
    unsigned perms;
    if (user->n_grants > ARCHIVE_GRANTS_MAX) {
        base_err_set(err, "user %s holds %zu grants, more than %d", user->username,
                     user->n_grants, ARCHIVE_GRANTS_MAX);
        return BASE_ECORRUPT;
    }
    for (size_t i = 0; i < user->n_grants; i++) {
        if (strlen(user->grants[i]->org) > ARCHIVE_ID_MAX) {
            base_err_set(err, "user %s: a grant names an organisation id over %d bytes",
                         user->username, ARCHIVE_ID_MAX);
            return BASE_ECORRUPT;
        }
    }
    if (archive_user_perms(a, tenant, user, &perms, &ignored) != 0) {
        perms = 0;
    }
    actor_init(actor, ARCHIVE_ACTOR_USER, tenant, perms);
    for (size_t i = 0; i < user->n_grants; i++) {
        struct archive_grant *g = &actor->grants[i];
        snprintf(g->org, sizeof g->org, "%s", user->grants[i]->org);
        g->include_children = user->grants[i]->include_children;
    }
    actor->n_grants = user->n_grants;
    return 0;
}

int archive_actor_load_user(struct archive *a, const char *tenant, const char *username,
                            struct archive_actor *actor, struct base_err *err)
{
    UserRecord *u;
    int rv = archive_get_user(a, tenant, username, &u, err);
    if (rv != 0) {
        return rv;
    }
    rv = archive_actor_of_user(a, tenant, u, actor, err);
    archive_free_user(u);
    return rv;
}

bool archive_actor_may(const struct archive_actor *actor, unsigned perms)
{
    return (perms & ~actor->perms) == 0;
}

bool archive_actor_restricted(const struct archive_actor *actor)
{
    return actor->kind == ARCHIVE_ACTOR_NONE ||
           (actor->kind == ARCHIVE_ACTOR_USER && (actor->perms & PERM_ADMIN) == 0);
}

/* The grant rule of archive_user_sees_org(), over the grants in the actor. */
bool archive_actor_sees_org(struct archive *a, const struct archive_actor *actor,
                            const char *org)
{
    struct base_err err;
    bool yes = false;
    if (!archive_actor_restricted(actor)) {
        return true;
    }
    ASSERT(actor->n_grants <= ARCHIVE_GRANTS_MAX);
    for (size_t i = 0; i < actor->n_grants && !yes; i++) {
        const struct archive_grant *g = &actor->grants[i];
        if (strcmp(g->org, "*") == 0 || strcmp(g->org, org) == 0) {
            yes = true;
        } else if (g->include_children && org[0] != '\0' &&
                   archive_org_within(a, actor->tenant, org, g->org, &yes, &err) != 0) {
            return false;
        }
    }
    return yes;
}

bool archive_actor_sees_bill(struct archive *a, const struct archive_actor *actor,
                             const char *image_no)
{
    struct base_err err;
    BillRecord *bill;
    bool yes;
    if (!archive_actor_restricted(actor)) {
        return true;
    }
    if (archive_get_bill(a, actor->tenant, image_no, &bill, &err) != 0) {
        return archive_actor_sees_org(a, actor, "");
    }
    yes = archive_actor_sees_org(a, actor, bill->org);
    archive_free_bill(bill);
    return yes;
}

int archive_get_bill_as(struct archive *a, const struct archive_actor *actor,
                        const char *image_no, BillRecord **out, struct base_err *err)
{
    BillRecord *bill;
    int rv = archive_get_bill(a, actor->tenant, image_no, &bill, err);
    if (rv != 0) {
        return rv;
    }
    if (!archive_actor_sees_org(a, actor, bill->org)) {
        archive_free_bill(bill);
        base_err_set(err, "bill %s is outside the grants", image_no);
        return BASE_ENOTFOUND;
    }
    *out = bill;
    return 0;
}

int archive_get_file_as(struct archive *a, const struct archive_actor *actor,
                        const char *file_id, FileRecord **out, struct base_err *err)
{
    FileRecord *f;
    BillRecord *bill;
    bool yes;
    int rv = archive_get_file(a, actor->tenant, file_id, &f, err);
    if (rv != 0) {
        return rv;
    }
    if (!archive_actor_restricted(actor)) {
        *out = f;
        return 0;
    }
    if (archive_get_bill(a, actor->tenant, f->image_no, &bill, err) != 0) {
        yes = archive_actor_sees_org(a, actor, "");
    } else {
        yes = archive_actor_sees_org(a, actor, bill->org);
        archive_free_bill(bill);
    }
    if (!yes) {
        archive_free_file(f);
        base_err_set(err, "file %s is outside the grants", file_id);
        return BASE_ENOTFOUND;
    }
    *out = f;
    return 0;
}
