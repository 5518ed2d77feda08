/* Users of a tenant: creation with an Argon2id password hash (login and its throttling
 * are in login.c, sharing users_int.h), unlock, and custom roles; reading one user, editing, disabling and deleting users,
 * an admin's password reset and a user's own change (the old password checked like a
 * login), editing and deleting custom roles. What must end sessions (new roles,
 * disabling, a new password, deletion) is decided by the state machine
 * (archive/apply_users.c), which bumps the user's token generation on every node.
 *
 * Argon2id (libsodium crypto_pwhash_str, 2 passes over 19 MiB: OWASP's setting) costs
 * tens of milliseconds and 19 MiB per hash, so hashing and verifying run on the worker
 * pool, at most PWHASH_PARALLEL at a time (the rest wait in a queue): memory stays
 * bounded whatever the number of logins in flight.
 *
 * Login failures: every failed login (unknown user, wrong password, locked account) gets
 * the same answer after the same work (a hash, against a dummy one for an unknown user,
 * and a replicated LoginResult command). Two brakes: per username and source address,
 * after --login-source-failures failures the source waits, longer after each further
 * one (this node only, in memory); per account, --login-max-failures failures from all
 * sources lock it for --login-lock-minutes (replicated: the state machine counts, locks,
 * revokes the user's tokens, and ignores failures while locked, so an attacker cannot
 * extend a lock). A tenant admin unlocks sooner. */
#include "api/api_int.h"
#include "api/users_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/users.h"
#include "base/clock.h"
#include "base/mem.h"

#define PWHASH_OPS 2
#define PWHASH_MEM (19u << 20)
#define PWHASH_PARALLEL 2
#define ROLES_MAX 16

/* An Argon2id hash of nothing anyone knows, with the same cost as real ones: a login for
 * an unknown username verifies against it, so it costs what a wrong password costs. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=19456,t=2,p=1$W/A1vV8c/g3zf70INyB7Qg$"
    "lpDNN44N742OoP/Eio4nLzxxS0CEVVpRZMGxfuik3ss";


struct user_call *user_call_new(const struct api_call *call)
{
    struct user_call *uc = xcalloc(1, sizeof *uc);
    uc->call = *call;
    uc->prop.data = uc;
    uc->work.data = uc;
    uc->wait.data = uc;
    call->req->data = uc;
    return uc;
}

void user_call_free(struct user_call *uc)
{
    sodium_memzero(uc->password, sizeof uc->password);
    sodium_memzero(uc->new_password, sizeof uc->new_password);
    json_decref(uc->body);
    archive_free_user(uc->user);
    free(uc);
}

/* ---- Hashing on the worker pool, PWHASH_PARALLEL at a time ---- */

static void hash_work(uv_work_t *w)
{
    struct user_call *uc = w->data;
    if (uc->verify) {
        const char *hash = uc->user != NULL ? uc->user->password_hash : dummy_hash;
        uc->ok = crypto_pwhash_str_verify(hash, uc->password, strlen(uc->password)) == 0 &&
                 uc->user != NULL;
    } else {
        uc->ok = crypto_pwhash_str_alg(uc->hash, uc->password, strlen(uc->password),
                                       PWHASH_OPS, PWHASH_MEM,
                                       crypto_pwhash_ALG_ARGON2ID13) == 0;
    }
    sodium_memzero(uc->password, sizeof uc->password);
}

static void start_hash(struct user_call *uc);

static void after_hash(uv_work_t *w, int status)
{
    struct user_call *uc = w->data;
    struct api *api = uc->call.api;
    struct user_call *next = api->pwhash_head;
    api->pwhash_running--;
    if (next != NULL) {
        api->pwhash_head = next->next;
        if (api->pwhash_head == NULL) {
            api->pwhash_tail = NULL;
        }
        start_hash(next);
    }
    if (status != 0) {
        uc->ok = false;
    }
    uc->hashed(uc);
}

static void start_hash(struct user_call *uc)
{
    uc->call.api->pwhash_running++;
    ASSERT(uv_queue_work(uc->call.api->loop, &uc->work, hash_work, after_hash) == 0);
}

void user_hash_later(struct user_call *uc, void (*hashed)(struct user_call *uc))
{
    struct api *api = uc->call.api;
    uc->hashed = hashed;
    if (api->pwhash_running < PWHASH_PARALLEL) {
        start_hash(uc);
        return;
    }
    uc->next = NULL;
    if (api->pwhash_tail != NULL) {
        api->pwhash_tail->next = uc;
    } else {
        api->pwhash_head = uc;
    }
    api->pwhash_tail = uc;
}

/* ---- Shared ---- */

bool user_answered_failure(struct user_call *uc, int status, const struct archive_result *res)
{
    if (status != 0) {
        api_respond_propose_error(uc->call.api, uc->call.req, status);
        return true;
    }
    if (res->status != ARCHIVE_OK) {
        api_respond_refusal(uc->call.api, uc->call.req, res);
        return true;
    }
    return false;
}

int user_propose(struct user_call *uc, Command *cmd, repl_propose_cb cb)
{
    int rv;
    api_command_stamp(&uc->call, cmd, NULL);
    rv = repl_propose(uc->call.api->repl, &uc->prop, cmd, cb);
    if (rv != 0) {
        api_respond_propose_error(uc->call.api, uc->call.req, rv);
        user_call_free(uc);
    }
    return rv;
}

/* Parses a JSON object body; NULL after answering 400. */
json_t *user_object_body(struct user_call *uc, int status)
{
    json_t *root;
    if (status != 0) {
        http_respond(uc->call.req, 400, NULL, NULL, 0); /* the server answered already */
        return NULL;
    }
    root = json_loadb(uc->call.req->body, uc->call.req->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(root)) {
        json_decref(root);
        api_respond_error(uc->call.api, uc->call.req, 400, API_E_INVALID_JSON,
                          "the body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Copies the "password" field of at least @min bytes; false after answering 400. */
bool user_take_password(struct user_call *uc, json_t *root, size_t min)
{
    const char *p = json_string_value(json_object_get(root, "password"));
    size_t n = p != NULL ? strlen(p) : 0;
    if (p == NULL || n < min || n > PASSWORD_MAX) {
        api_respond_error(uc->call.api, uc->call.req, 400, API_E_INVALID_FIELD,
                          "'password' must be a string of %zu to %d bytes", min, PASSWORD_MAX);
        return false;
    }
    memcpy(uc->password, p, n + 1);
    return true;
}

json_t *user_strings_json(char **v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_string(v[i]));
    }
    return a;
}

/* ---- POST /api/v1/users ---- */

static void user_created(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        json_t *b = uc->body;
        api_respond_json(uc->call.api, uc->call.req, 201,
                         json_pack("{s:O, s:O, s:O, s:s, s:I}", "username",
                                   json_object_get(b, "username"), "name",
                                   json_object_get(b, "name"), "roles",
                                   json_object_get(b, "roles"), "tenant", uc->call.tenant,
                                   "index", (json_int_t)res->index));
    }
    user_call_free(uc);
}

static void user_hashed(struct user_call *uc)
{
    Command cmd = COMMAND__INIT;
    CreateUser cu = CREATE_USER__INIT;
    json_t *roles = json_object_get(uc->body, "roles");
    char *names[ROLES_MAX];
    size_t i;
    json_t *v;
    if (!uc->ok) {
        api_respond_error(uc->call.api, uc->call.req, 500, API_E_INTERNAL,
                          "hashing the password failed (out of memory?)");
        user_call_free(uc);
        return;
    }
    json_array_foreach(roles, i, v)
    {
        names[i] = (char *)json_string_value(v);
    }
    cu.username = (char *)json_string_value(json_object_get(uc->body, "username"));
    cu.name = (char *)json_string_value(json_object_get(uc->body, "name"));
    cu.password_hash = uc->hash;
    cu.roles = names;
    cu.n_roles = json_array_size(roles);
    cmd.body_case = COMMAND__BODY_CREATE_USER;
    cmd.create_user = &cu;
    user_propose(uc, &cmd, user_created);
}

static bool valid_roles(json_t *roles)
{
    size_t i;
    json_t *v;
    if (!json_is_array(roles) || json_array_size(roles) == 0 ||
        json_array_size(roles) > ROLES_MAX) {
        return false;
    }
    json_array_foreach(roles, i, v)
    {
        if (!json_is_string(v) || !archive_valid_tenant(json_string_value(v))) {
            return false;
        }
    }
    return true;
}

static void create_user_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    json_t *root = user_object_body(uc, status);
    const char *username = json_string_value(json_object_get(root, "username"));
    json_t *name = json_object_get(root, "name");
    if (root == NULL) {
        user_call_free(uc);
        return;
    }
    uc->body = root;
    if (username == NULL || !archive_valid_tenant(username)) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "'username' must be 1-64 characters of A-Z a-z 0-9 . _ -");
    } else if (!valid_roles(json_object_get(root, "roles"))) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "'roles' must be a list of 1-%d role names (scanner, reviewer, "
                          "tenant_admin, or a custom role)", ROLES_MAX);
    } else if (name != NULL && (!json_is_string(name) || json_string_length(name) > 256)) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "'name' must be a string of at most 256 bytes");
    } else if (user_take_password(uc, root, PASSWORD_MIN)) {
        if (name == NULL) {
            json_object_set(root, "name", json_object_get(root, "username"));
        }
        user_hash_later(uc, user_hashed);
        return;
    }
    user_call_free(uc);
}

void api_handle_create_user(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, create_user_body);
}

/* ---- GET /api/v1/users, roles ---- */

static json_t *user_json(const UserRecord *u)
{
    uint64_t now = clock_wall_ms();
    json_t *grants = json_array();
    for (size_t i = 0; i < u->n_grants; i++) {
        json_array_append_new(grants, json_pack("{s:s, s:b}", "org", u->grants[i]->org,
                                                "include_children",
                                                u->grants[i]->include_children));
    }
    return json_pack("{s:s, s:s, s:o, s:i, s:o, s:o, s:b, s:o}", "username", u->username,
                     "name", u->name, "roles", user_strings_json(u->roles, u->n_roles), "failures",
                     (int)u->failures, "locked_until",
                     u->locked_until_ms > now ? api_time_json(u->locked_until_ms) : json_null(),
                     "created", api_time_json(u->created_ms), "disabled", u->disabled, "grants",
                     grants);
}

static void list_user(const UserRecord *u, void *arg)
{
    json_array_append_new(arg, user_json(u));
}

void api_handle_list_users(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *users = json_array();
    if (archive_list_users(call->api->archive, call->tenant, list_user, users, &err) != 0) {
        json_decref(users);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "users: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:s, s:o}", "tenant", call->tenant,
                                                          "users", users));
}

static void list_role(const RoleRecord *r, void *arg)
{
    json_array_append_new(arg, json_pack("{s:s, s:o, s:b}", "name", r->name, "permissions",
                                         user_strings_json(r->permissions, r->n_permissions),
                                         "builtin", 0));
}

static json_t *builtin_role(const char *name)
{
    char perms[128];
    json_t *list = json_array();
    archive_perms_format(archive_builtin_role(name), perms, sizeof perms);
    for (char *save = NULL, *t = strtok_r(perms, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list, json_string(t));
    }
    return json_pack("{s:s, s:o, s:b}", "name", name, "permissions", list, "builtin", 1);
}

void api_handle_list_roles(struct api_call *call)
{
    struct base_err err = {{0}};
    json_t *roles = json_pack("[o, o, o]", builtin_role("scanner"), builtin_role("reviewer"),
                              builtin_role("tenant_admin"));
    if (archive_list_roles(call->api->archive, call->tenant, list_role, roles, &err) != 0) {
        json_decref(roles);
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "roles: %s", err.msg);
        return;
    }
    api_respond_json(call->api, call->req, 200, json_pack("{s:s, s:o}", "tenant", call->tenant,
                                                          "roles", roles));
}

/* ---- POST /api/v1/roles ---- */

static void role_created(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        api_respond_json(uc->call.api, uc->call.req, 201,
                         json_pack("{s:O, s:O, s:I}", "name", json_object_get(uc->body, "name"),
                                   "permissions", json_object_get(uc->body, "permissions"),
                                   "index", (json_int_t)res->index));
    }
    user_call_free(uc);
}

static void create_role_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    json_t *root = user_object_body(uc, status);
    json_t *perms = json_object_get(root, "permissions");
    const char *name = json_string_value(json_object_get(root, "name"));
    char *names[16];
    Command cmd = COMMAND__INIT;
    CreateRole cr = CREATE_ROLE__INIT;
    size_t i;
    json_t *v;
    bool ok = root != NULL && name != NULL && json_is_array(perms) && json_array_size(perms) > 0 &&
              json_array_size(perms) <= 16;
    uc->body = root;
    json_array_foreach(perms, i, v)
    {
        ok = ok && json_is_string(v) && archive_perm_bit(json_string_value(v)) != 0;
        names[i < 16 ? i : 15] = (char *)json_string_value(v);
    }
    if (root != NULL && !ok) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "a role is {\"name\", \"permissions\": [...]} with permissions among "
                          "read, capture, edit, delete, amend, submit, match, review, admin");
    }
    if (!ok) {
        user_call_free(uc);
        return;
    }
    cr.name = (char *)name;
    cr.permissions = names;
    cr.n_permissions = json_array_size(perms);
    cmd.body_case = COMMAND__BODY_CREATE_ROLE;
    cmd.create_role = &cr;
    user_propose(uc, &cmd, role_created);
}

void api_handle_create_role(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, create_role_body);
}

/* ---- POST /api/v1/users/{id}/unlock ---- */

static void unlocked(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        api_respond_json(uc->call.api, uc->call.req, 200,
                         json_pack("{s:s, s:b, s:I}", "username", uc->call.param, "locked", 0,
                                   "index", (json_int_t)res->index));
    }
    user_call_free(uc);
}

void api_handle_unlock_user(struct api_call *call)
{
    struct user_call *uc = user_call_new(call);
    Command cmd = COMMAND__INIT;
    UnlockUser u = UNLOCK_USER__INIT;
    u.username = uc->call.param;
    cmd.body_case = COMMAND__BODY_UNLOCK_USER;
    cmd.unlock_user = &u;
    user_propose(uc, &cmd, unlocked);
}

/* ---- Editing users (G3) ---- */

/* Loads the user the path names into uc->user; false after answering 404. */
static bool path_user(struct user_call *uc)
{
    struct base_err err = {{0}};
    int rv = archive_get_user(uc->call.api->archive, uc->call.tenant, uc->call.param, &uc->user,
                              &err);
    if (rv == 0) {
        return true;
    }
    uc->user = NULL;
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(uc->call.api, uc->call.req, 404, API_E_USER_NOT_FOUND,
                          "no user %.64s in tenant %s (users are listed by GET /api/v1/users)",
                          uc->call.param, uc->call.tenant);
    } else {
        api_respond_error(uc->call.api, uc->call.req, 500, API_E_INTERNAL, "user: %s", err.msg);
    }
    return false;
}

void api_handle_get_user(struct api_call *call)
{
    struct user_call *uc = user_call_new(call);
    if (path_user(uc)) {
        api_respond_json(call->api, call->req, 200, user_json(uc->user));
    }
    user_call_free(uc);
}

static void user_updated(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        const UserRecord *u = uc->user; /* as it was: the body says what changed */
        json_t *b = uc->body, *name = json_object_get(b, "name");
        json_t *roles = json_object_get(b, "roles"), *disabled = json_object_get(b, "disabled");
        api_respond_json(
            uc->call.api, uc->call.req, 200,
            json_pack("{s:s, s:o, s:o, s:b, s:I}", "username", u->username, "name",
                      name != NULL ? json_incref(name) : json_string(u->name), "roles",
                      roles != NULL ? json_incref(roles) : user_strings_json(u->roles, u->n_roles),
                      "disabled", disabled != NULL ? json_is_true(disabled) : u->disabled,
                      "index", (json_int_t)res->index));
    }
    user_call_free(uc);
}

static void update_user_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    json_t *root = user_object_body(uc, status);
    json_t *name = json_object_get(root, "name"), *roles = json_object_get(root, "roles");
    json_t *disabled = json_object_get(root, "disabled"), *v;
    Command cmd = COMMAND__INIT;
    UpdateUser c = UPDATE_USER__INIT;
    char *names[ROLES_MAX];
    const char *key;
    size_t i;
    uc->body = root;
    if (root == NULL) {
        user_call_free(uc);
        return;
    }
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "name") != 0 && strcmp(key, "roles") != 0 &&
            strcmp(key, "disabled") != 0) {
            api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                              "unknown field '%.64s': a user's change is {\"name\"?, "
                              "\"roles\"?, \"disabled\"?}", key);
            user_call_free(uc);
            return;
        }
    }
    if (json_object_size(root) == 0 ||
        (name != NULL && (!json_is_string(name) || json_string_length(name) == 0 ||
                          json_string_length(name) > 256)) ||
        (roles != NULL && !valid_roles(roles)) || (disabled != NULL && !json_is_boolean(disabled))) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "a user's change is {\"name\"?: 1-256 bytes, \"roles\"?: 1-%d role "
                          "names, \"disabled\"?: true|false}, at least one of them", ROLES_MAX);
        user_call_free(uc);
        return;
    }
    if (!path_user(uc)) {
        user_call_free(uc);
        return;
    }
    c.username = uc->user->username;
    if (name != NULL) {
        c.set_name = true;
        c.name = (char *)json_string_value(name);
    }
    if (roles != NULL) {
        json_array_foreach(roles, i, v)
        {
            names[i] = (char *)json_string_value(v);
        }
        c.set_roles = true;
        c.roles = names;
        c.n_roles = json_array_size(roles);
    }
    if (disabled != NULL) {
        c.set_disabled = true;
        c.disabled = json_is_true(disabled);
    }
    cmd.body_case = COMMAND__BODY_UPDATE_USER;
    cmd.update_user = &c;
    user_propose(uc, &cmd, user_updated);
}

void api_handle_update_user(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, update_user_body);
}

/* A deletion's answer: {@key: the path's name, "deleted": true, "index"}. */
static void answer_deleted(struct repl_propose *prop, int status,
                           const struct archive_result *res, const char *key)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        api_respond_json(uc->call.api, uc->call.req, 200,
                         json_pack("{s:s, s:b, s:I}", key, uc->call.param, "deleted", 1,
                                   "index", (json_int_t)res->index));
    }
    user_call_free(uc);
}

static void user_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    answer_deleted(prop, status, res, "username");
}

void api_handle_delete_user(struct api_call *call)
{
    struct user_call *uc = user_call_new(call);
    Command cmd = COMMAND__INIT;
    DeleteUser d = DELETE_USER__INIT;
    if (!path_user(uc)) {
        user_call_free(uc);
        return;
    }
    d.username = uc->user->username;
    cmd.body_case = COMMAND__BODY_DELETE_USER;
    cmd.delete_user = &d;
    user_propose(uc, &cmd, user_deleted);
}

/* ---- Passwords: an admin's reset, and one's own change ---- */

/* One's own new password is applied here: a token under the new generation, so the
 * session that changed it goes on (the others stopped). Without one (this node did not
 * apply the change in time), the caller logs in again. */
static void own_password_applied(struct repl_wait *w, int status)
{
    struct user_call *uc = w->data;
    struct api *api = uc->call.api;
    struct base_err err = {{0}};
    UserRecord *now = NULL;
    json_t *ans = json_pack("{s:s, s:b, s:I}", "username", uc->user->username,
                            "tokens_revoked", 1, "index", (json_int_t)uc->index);
    if (status == 0 &&
        archive_get_user(api->archive, uc->call.tenant, uc->user->username, &now, &err) == 0 &&
        !now->disabled) {
        char *token = api_token_issue(api, uc->call.tenant, now->username, true,
                                      now->token_generation,
                                      clock_wall_ms() + api->config.token_ttl_s * 1000);
        json_object_set_new(ans, "access_token", json_string(token));
        json_object_set_new(ans, "token_type", json_string("Bearer"));
        json_object_set_new(ans, "tenant", json_string(uc->call.tenant));
        json_object_set_new(ans, "expires_in", json_integer((json_int_t)api->config.token_ttl_s));
        sodium_memzero(token, strlen(token));
        free(token);
    }
    archive_free_user(now);
    http_request_add_header(uc->call.req, "Cache-Control", "no-store");
    api_respond_json(api, uc->call.req, 200, ans);
    user_call_free(uc);
}

static void password_set(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (user_answered_failure(uc, status, res)) {
        user_call_free(uc);
        return;
    }
    if (uc->call.param[0] == '\0') { /* one's own (/auth/password) */
        uc->index = res->index;
        repl_wait_applied(uc->call.api->repl, &uc->wait, res->index, 5000,
                          own_password_applied);
        return;
    }
    /* An admin's reset: every token of the user stops. */
    api_respond_json(uc->call.api, uc->call.req, 200,
                     json_pack("{s:s, s:b, s:I}", "username", uc->user->username,
                               "tokens_revoked", 1, "index", (json_int_t)res->index));
    user_call_free(uc);
}

/* The new password is hashed: proposed (own: the user's change, else an admin's). */
static void new_password_hashed(struct user_call *uc)
{
    Command cmd = COMMAND__INIT;
    SetPassword sp = SET_PASSWORD__INIT;
    if (!uc->ok) {
        api_respond_error(uc->call.api, uc->call.req, 500, API_E_INTERNAL,
                          "hashing the password failed (out of memory?)");
        user_call_free(uc);
        return;
    }
    sp.username = uc->user->username;
    sp.password_hash = uc->hash;
    sp.own = uc->call.principal == API_USER && strcmp(uc->call.username, sp.username) == 0 &&
             uc->call.param[0] == '\0';
    cmd.body_case = COMMAND__BODY_SET_PASSWORD;
    cmd.set_password = &sp;
    user_propose(uc, &cmd, password_set);
}

static void reset_password_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    json_t *root = user_object_body(uc, status);
    uc->body = root;
    if (root != NULL && user_take_password(uc, root, PASSWORD_MIN) && path_user(uc)) {
        uc->verify = false;
        user_hash_later(uc, new_password_hashed);
        return;
    }
    user_call_free(uc);
}

void api_handle_reset_password(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, reset_password_body);
}

/* A wrong old password was counted against the account (it may be locked now, and
 * its tokens with it). */
static void old_password_recorded(struct repl_propose *prop, int status,
                                  const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    (void)res;
    if (status != 0) {
        api_respond_propose_error(uc->call.api, uc->call.req, status);
    } else {
        api_respond_error(uc->call.api, uc->call.req, 403, API_E_FORBIDDEN,
                          "the old password is wrong; wrong passwords count as failed logins "
                          "(after %d in a row the account locks)",
                          (int)uc->call.api->config.login_failures_max);
    }
    user_call_free(uc);
}

static void old_password_checked(struct user_call *uc)
{
    struct api *api = uc->call.api;
    Command cmd = COMMAND__INIT;
    LoginResult lr = LOGIN_RESULT__INIT;
    if (uc->ok) {
        api_guard_passed(api, uc->guard, clock_wall_ms());
        memcpy(uc->password, uc->new_password, sizeof uc->password);
        sodium_memzero(uc->new_password, sizeof uc->new_password);
        uc->verify = false;
        user_hash_later(uc, new_password_hashed);
        return;
    }
    api_guard_failed(api, uc->guard, clock_wall_ms());
    lr.username = uc->user->username;
    lr.ok = false;
    lr.max_failures = (uint32_t)api->config.login_failures_max;
    lr.lock_ms = api->config.login_lock_ms;
    cmd.body_case = COMMAND__BODY_LOGIN_RESULT;
    cmd.login_result = &lr;
    user_propose(uc, &cmd, old_password_recorded);
}

static void change_password_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    struct base_err err = {{0}};
    json_t *root = user_object_body(uc, status);
    const char *old = json_string_value(json_object_get(root, "old"));
    const char *new = json_string_value(json_object_get(root, "new"));
    uint64_t wait_ms;
    uc->body = root;
    if (root == NULL) {
        user_call_free(uc);
        return;
    }
    if (old == NULL || new == NULL || strlen(old) == 0 || strlen(old) > PASSWORD_MAX ||
        strlen(new) < PASSWORD_MIN || strlen(new) > PASSWORD_MAX) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "body must be {\"old\": your password, \"new\": %d to %d bytes}",
                          PASSWORD_MIN, PASSWORD_MAX);
        user_call_free(uc);
        return;
    }
    uc->guard = api_guard_key(uc->call.api, uc->call.tenant, uc->call.username, req->peer);
    if ((wait_ms = api_guard_wait_ms(uc->call.api, uc->guard, clock_wall_ms())) > 0) {
        user_respond_throttled(uc, wait_ms);
        user_call_free(uc);
        return;
    }
    if (archive_get_user(uc->call.api->archive, uc->call.tenant, uc->call.username, &uc->user,
                         &err) != 0) {
        uc->user = NULL;
        api_respond_error(uc->call.api, req, 401, API_E_UNAUTHORIZED,
                          "the user of this access token no longer exists");
        user_call_free(uc);
        return;
    }
    memcpy(uc->password, old, strlen(old) + 1);
    memcpy(uc->new_password, new, strlen(new) + 1);
    uc->verify = true;
    user_hash_later(uc, old_password_checked);
}

void api_handle_change_password(struct api_call *call)
{
    if (call->principal != API_USER) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "POST /api/v1/auth/password changes the password of the user whose "
                          "token calls it; %s is no user (a tenant admin resets a user's with "
                          "POST /api/v1/users/{u}/password)", call->actor);
        return;
    }
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, change_password_body);
}

/* ---- Editing and deleting roles (G4) ---- */

/* False after answering 404 (or 400 for a built-in role) when the path's role cannot
 * change. */
static bool path_role(struct user_call *uc)
{
    struct base_err err = {{0}};
    RoleRecord *r;
    int rv;
    if (archive_builtin_role(uc->call.param) != 0) {
        api_respond_error(uc->call.api, uc->call.req, 400, API_E_BAD_REQUEST,
                          "%s is a built-in role: it cannot be changed or deleted",
                          uc->call.param);
        return false;
    }
    rv = archive_get_role(uc->call.api->archive, uc->call.tenant, uc->call.param, &r, &err);
    if (rv == 0) {
        role_record__free_unpacked(r, NULL);
        return true;
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(uc->call.api, uc->call.req, 404, API_E_ROLE_NOT_FOUND,
                          "no role %.64s in tenant %s (roles are listed by GET /api/v1/roles)",
                          uc->call.param, uc->call.tenant);
    } else {
        api_respond_error(uc->call.api, uc->call.req, 500, API_E_INTERNAL, "role: %s", err.msg);
    }
    return false;
}

static void role_updated(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        api_respond_json(uc->call.api, uc->call.req, 200,
                         json_pack("{s:s, s:O, s:I}", "name", uc->call.param, "permissions",
                                   json_object_get(uc->body, "permissions"), "index",
                                   (json_int_t)res->index));
    }
    user_call_free(uc);
}

static void update_role_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    json_t *root = user_object_body(uc, status);
    json_t *perms = json_object_get(root, "permissions"), *v;
    char *names[16];
    Command cmd = COMMAND__INIT;
    UpdateRole ur = UPDATE_ROLE__INIT;
    size_t i;
    bool ok = json_is_array(perms) && json_array_size(perms) > 0 && json_array_size(perms) <= 16 &&
              json_object_size(root) == 1;
    uc->body = root;
    if (root == NULL) {
        user_call_free(uc);
        return;
    }
    json_array_foreach(perms, i, v)
    {
        ok = ok && json_is_string(v) && archive_perm_bit(json_string_value(v)) != 0;
        names[i < 16 ? i : 15] = (char *)json_string_value(v);
    }
    if (!ok) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "a role's change is {\"permissions\": [...]}, 1-16 of read, capture, "
                          "edit, delete, amend, submit, match, review, admin");
        user_call_free(uc);
        return;
    }
    if (!path_role(uc)) {
        user_call_free(uc);
        return;
    }
    ur.name = uc->call.param;
    ur.permissions = names;
    ur.n_permissions = json_array_size(perms);
    cmd.body_case = COMMAND__BODY_UPDATE_ROLE;
    cmd.update_role = &ur;
    user_propose(uc, &cmd, role_updated);
}

void api_handle_update_role(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, update_role_body);
}

static void role_deleted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    answer_deleted(prop, status, res, "name");
}

void api_handle_delete_role(struct api_call *call)
{
    struct user_call *uc = user_call_new(call);
    Command cmd = COMMAND__INIT;
    DeleteRole d = DELETE_ROLE__INIT;
    if (!path_role(uc)) {
        user_call_free(uc);
        return;
    }
    d.name = uc->call.param;
    cmd.body_case = COMMAND__BODY_DELETE_ROLE;
    cmd.delete_role = &d;
    user_propose(uc, &cmd, role_deleted);
}
