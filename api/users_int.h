/* Shared by the user handlers (api/users.c: users, roles, passwords) and login with its
 * throttling (api/login.c): one call's state, Argon2id hashing on the worker pool, and
 * the answers they have in common. api/ only. */
#ifndef IMGARC_API_USERS_INT_H
#define IMGARC_API_USERS_INT_H

#include <sodium.h>

#include "api/api_int.h"
#include "archive/users.h"

#define USER_BODY_MAX (16u << 10)
#define PASSWORD_MIN 8
#define PASSWORD_MAX 1024

struct user_call {
    struct api_call call;
    struct repl_propose prop;
    uv_work_t work;
    struct user_call *next; /* waiting for a hashing slot */
    json_t *body;
    char password[PASSWORD_MAX + 1];
    char new_password[PASSWORD_MAX + 1]; /* /auth/password: hashed once the old checks */
    char hash[crypto_pwhash_STRBYTES];
    UserRecord *user; /* login: the user being checked */
    bool verify;      /* login: check @password against user->password_hash */
    uint64_t guard;   /* login: the throttling key of username and source */
    bool ok;
    void (*hashed)(struct user_call *uc);
    struct repl_wait wait; /* /auth/password: until this node applied the change */
    uint64_t index;
};

/* A call with a copy of @call (request, tenant, caller); freed by user_call_free(). */
struct user_call *user_call_new(const struct api_call *call);
void user_call_free(struct user_call *uc);
/* Hashes (uc->verify false: uc->password into uc->hash) or verifies (true: uc->password
 * against uc->user->password_hash, or a dummy hash, into uc->ok) on the worker pool,
 * PWHASH_PARALLEL at a time, then calls @hashed on the loop thread. */
void user_hash_later(struct user_call *uc, void (*hashed)(struct user_call *uc));
/* Answers a proposal's failure or the state machine's refusal; false when neither. */
bool user_answered_failure(struct user_call *uc, int status,
                           const struct archive_result *res);
/* Proposes @cmd (stamped with the caller); on an immediate failure answers it and frees
 * @uc. */
int user_propose(struct user_call *uc, Command *cmd, repl_propose_cb cb);
/* The body as a JSON object; NULL after answering 400. */
json_t *user_object_body(struct user_call *uc, int status);
/* Copies the "password" field of at least @min bytes; false after answering 400. */
bool user_take_password(struct user_call *uc, json_t *root, size_t min);
/* A JSON array of @n strings. */
json_t *user_strings_json(char **v, size_t n);
/* 429 with Retry-After for a source braked by the login guard (login.c). */
void user_respond_throttled(struct user_call *uc, uint64_t wait_ms);

#endif
