/* Who acts on a tenant's data, and what it may see: the caller's access, loaded once
 * when a request is admitted, and the reads that apply it.
 *
 * An actor is the operator (every permission, every bill), a business system (every
 * permission but admin, every bill of its tenant) or a user (the union of its roles'
 * permissions; without admin, only the bills of the organisations granted to it). A
 * user's permissions and grants are read once, into the actor, so that checks do not
 * read the user's record, roles or grants again; the organisation tree is read when a
 * grant with include_children has to be followed.
 *
 * The actor is a plain value (no pointers): callers copy it freely. Loop thread or any
 * thread that may read the archive. No HTTP here: callers turn the results into their
 * answers. */
#ifndef IMGARC_ARCHIVE_ACCESS_H
#define IMGARC_ARCHIVE_ACCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "archive/archive.h"
#include "archive/users.h"

/* The most grants a user holds (the API refuses longer lists). */
#define ARCHIVE_GRANTS_MAX 256

enum archive_actor_kind {
    ARCHIVE_ACTOR_NONE,     /* zeroed: no caller admitted; may do and see nothing */
    ARCHIVE_ACTOR_OPERATOR, /* the bootstrap token */
    ARCHIVE_ACTOR_SYSTEM,   /* a tenant's business-system client */
    ARCHIVE_ACTOR_USER,     /* a user of the tenant */
};

struct archive_grant {
    char org[ARCHIVE_ID_MAX + 1]; /* an organisation id, or "*" for every one */
    bool include_children;        /* and the organisations below it */
};

struct archive_actor {
    enum archive_actor_kind kind;
    char tenant[ARCHIVE_ID_MAX + 1]; /* the tenant whose data it acts on */
    unsigned perms;                  /* archive/users.h PERM_* */
    size_t n_grants;                 /* users only */
    struct archive_grant grants[ARCHIVE_GRANTS_MAX];
};

/* The operator acting on @tenant. */
void archive_actor_operator(struct archive_actor *actor, const char *tenant);
/* A business system of @tenant. */
void archive_actor_system(struct archive_actor *actor, const char *tenant);
/* User @user of @tenant: its permissions (none when its roles cannot be read: a role
 * that cannot be read grants nothing) and its grants. BASE_ECORRUPT when the record
 * holds more than ARCHIVE_GRANTS_MAX grants; @actor is untouched on error. */
int archive_actor_of_user(struct archive *a, const char *tenant, const UserRecord *user,
                          struct archive_actor *actor, struct base_err *err) WARN_UNUSED;
/* Reads user @username of @tenant and fills @actor as above; BASE_ENOTFOUND when there
 * is no such user. */
int archive_actor_load_user(struct archive *a, const char *tenant, const char *username,
                            struct archive_actor *actor, struct base_err *err) WARN_UNUSED;

/* Whether the actor has every permission of @perms. */
bool archive_actor_may(const struct archive_actor *actor, unsigned perms);
/* Whether grants limit what the actor sees: a user without the admin permission (and
 * ARCHIVE_ACTOR_NONE, which has no grants). */
bool archive_actor_restricted(const struct archive_actor *actor);
/* Whether the actor sees bills of organisation @org ("" for a bill of none): always
 * when unrestricted; else a grant of "*", of @org, or of an ancestor with
 * include_children. A failed read of the organisation tree counts as no. */
bool archive_actor_sees_org(struct archive *a, const struct archive_actor *actor,
                            const char *org);
/* Whether the actor sees bill @image_no of its tenant; a bill that does not exist yet
 * counts as a bill of no organisation. */
bool archive_actor_sees_bill(struct archive *a, const struct archive_actor *actor,
                             const char *image_no);

/* archive_get_bill() and archive_get_file() of the actor's tenant, as the actor sees
 * them: BASE_ENOTFOUND also for a bill (or the file of a bill) outside its grants, so
 * that such a bill is not even known to exist. A file whose bill is gone counts as a
 * file of no organisation. */
int archive_get_bill_as(struct archive *a, const struct archive_actor *actor,
                        const char *image_no, BillRecord **out,
                        struct base_err *err) WARN_UNUSED;
int archive_get_file_as(struct archive *a, const struct archive_actor *actor,
                        const char *file_id, FileRecord **out,
                        struct base_err *err) WARN_UNUSED;

#endif
