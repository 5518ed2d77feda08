/* The vendor surface's authentication (docs/integrators.md, "Tokens"):
 *
 *   POST /api/getAppToken.do  appId (a business-system client's client_id), appSecret
 *        (its client_secret), tenantid (its tenant) -> an app token: a sealed text
 *        "imgapp1." (api/links.c) {"t": tenant, "a": client id, "e": expiry, "g": the
 *        client's token generation (a rotated secret stops it; absent: 0)}. It is good
 *        for login.do only: it is no access token (api/auth.c opens "imgarc1." only).
 *        Wrong secrets are throttled per client id and source address by the login
 *        guard of api/users.c, as wrong passwords are.
 *   POST /api/login.do  user, apptoken, tenantid, usertype "UserName" -> a user access
 *        token of that tenant's user (api_token_issue_via(), so the user's roles, grants and
 *        revocation apply, on every node; it names the client too, and stops when the
 *        client is deleted or its secret rotated), living --vendor-token-ttl-s. A
 *        disabled user: 403 / 10424.
 *   POST /api/logout.do  access_token -> {}: the token's id is replicated as logged out
 *        (LogoutToken, kept in the user's record until the token would have expired),
 *        so every node refuses it from then on.
 * Secrets and tokens are never logged. Loop thread only. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/users.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define APP_PREFIX "imgapp1."
#define AUTH_BODY_MAX (16u << 10)
#define SECRET_MAX 256

/* A vendor auth call while its body is read. */
struct vendor_auth {
    struct api_call call;
    json_t *root;
};

static struct vendor_auth *auth_new(struct api_call *call, http_body_done_cb done)
{
    struct vendor_auth *va = xcalloc(1, sizeof *va);
    va->call = *call;
    call->req->data = va;
    http_request_buffer_body(call->req, AUTH_BODY_MAX, done);
    return va;
}

static void auth_free(struct vendor_auth *va)
{
    json_decref(va->root);
    free(va);
}

/* The body as a JSON object; NULL after answering. */
static json_t *auth_body(struct vendor_auth *va, int status)
{
    json_error_t jerr;
    if (status != 0) {
        http_respond(va->call.req, 400, NULL, NULL, 0); /* the server answered already */
        return NULL;
    }
    va->root = json_loadb(va->call.req->body, va->call.req->body_len, 0, &jerr);
    if (!json_is_object(va->root)) {
        api_respond_error(va->call.api, va->call.req, 400, API_E_INVALID_JSON,
                          "body must be a JSON object: %s",
                          va->root == NULL ? jerr.text : "not an object");
        return NULL;
    }
    return va->root;
}

/* The extra top-level fields of the vendor's authentication answers. */
static json_t *auth_top(void)
{
    return json_pack("{s:s, s:b}", "state", "success", "status", 1);
}

static void throttled(struct api_call *call, uint64_t wait_ms)
{
    char secs[24];
    uint64_t s = (wait_ms + 999) / 1000;
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)s);
    http_request_add_header(call->req, "Retry-After", secs);
    api_respond_error(call->api, call->req, 429, API_E_TOO_MANY_REQUESTS,
                      "too many wrong secrets for this appId from your address; try again in "
                      "%llu s",
                      (unsigned long long)s);
}

/* ---- /api/getAppToken.do ---- */

/* Checks appId and appSecret, and @tenant ("": any) against the client's; fills @tenant
 * with the client's. False after answering (and counting a failure against the
 * source). */
static bool app_credentials_ok(struct api_call *call, const char *app_id, const char *secret,
                               char tenant[ARCHIVE_ID_MAX + 1], uint64_t guard,
                               uint64_t *generation)
{
    struct base_err err = {{0}};
    ClientRecord *c = NULL;
    int rv = archive_get_client(call->api->archive, app_id, &c, &err);
    bool ok = false;
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "unknown appId '%.64s': send a business-system client_id (clients "
                          "are created with POST /api/v1/clients)",
                          app_id);
    } else if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "client: %s", err.msg);
        archive_free_client(c);
        return false; /* not the caller's failure */
    } else if (!api_client_secret_matches(c, secret)) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "wrong appSecret for appId %s", c->client_id);
    } else if (tenant[0] != '\0' && strcmp(c->tenant, tenant) != 0) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "appId %s is not a client of tenant %.64s: send the tenant its "
                          "client was created for as tenantid",
                          c->client_id, tenant);
    } else {
        snprintf(tenant, ARCHIVE_ID_MAX + 1, "%s", c->tenant);
        *generation = c->token_generation;
        ok = true;
    }
    archive_free_client(c);
    if (ok) {
        api_guard_passed(call->api, guard, clock_wall_ms());
    } else {
        api_guard_failed(call->api, guard, clock_wall_ms());
    }
    return ok;
}

static void issue_app_token(struct api_call *call, const char *app_id, const char *tenant,
                            uint64_t generation)
{
    uint64_t ttl = call->api->config.vendor_token_ttl_s;
    uint64_t exp = clock_wall_ms() + ttl * 1000;
    json_t *p = json_pack("{s:s, s:s, s:I, s:I}", "t", tenant, "a", app_id, "e", (json_int_t)exp,
                          "g", (json_int_t)generation);
    char *token = api_seal(call->api, APP_PREFIX, p);
    json_decref(p);
    http_request_add_header(call->req, "Cache-Control", "no-store");
    api_vendor_respond(call->api, call->req,
                       json_pack("{s:s, s:I, s:I, s:b, s:s, s:s}", "app_token", token,
                                 "expire_time", (json_int_t)exp, "expires_in", (json_int_t)ttl,
                                 "success", 1, "error_code", "0", "error_desc", ""),
                       auth_top());
    LOG_INFO("vendor", "app token issued client=%s tenant=%s", app_id, tenant);
    sodium_memzero(token, strlen(token));
    free(token);
}

static void app_token_body(struct http_request *req, int status)
{
    struct vendor_auth *va = req->data;
    struct api_call *call = &va->call;
    char app_id[ARCHIVE_ID_MAX + 1], tenant[ARCHIVE_ID_MAX + 1], secret[SECRET_MAX + 1];
    char name[ARCHIVE_ID_MAX + 8];
    json_t *root = auth_body(va, status);
    uint64_t guard, wait_ms, generation = 0;
    secret[0] = '\0';
    if (root == NULL || !api_vendor_need(call, root, "appId", ARCHIVE_ID_MAX, app_id) ||
        !api_vendor_need(call, root, "appSecret", SECRET_MAX, secret) ||
        !api_vendor_field(call, root, "tenantid", ARCHIVE_ID_MAX, tenant)) {
        goto out;
    }
    /* The vendor lets tenantid be empty: then the client's own tenant. */
    if (tenant[0] != '\0' && !archive_valid_tenant(tenant)) {
        api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                          "tenantid must be 1-64 characters of A-Z a-z 0-9 . _ -");
        goto out;
    }
    /* accountId (the vendor's data centre) and language are accepted and ignored. The
     * guard is keyed by the client id alone (client ids are cluster-wide), so another
     * tenantid does not buy another round of guesses. */
    snprintf(name, sizeof name, "app:%s", app_id);
    guard = api_guard_key(call->api, "", name, req->peer);
    if ((wait_ms = api_guard_wait_ms(call->api, guard, clock_wall_ms())) > 0) {
        throttled(call, wait_ms);
    } else if (app_credentials_ok(call, app_id, secret, tenant, guard, &generation)) {
        issue_app_token(call, app_id, tenant, generation);
    }
out:
    sodium_memzero(secret, sizeof secret);
    auth_free(va);
}

void api_handle_vendor_app_token(struct api_call *call)
{
    auth_new(call, app_token_body);
}

/* ---- /api/login.do ---- */

/* Opens the app token, of @tenant when that is not "": its client id into @client, its
 * tenant into @tenant; false after answering. */
static bool app_token_ok(struct api_call *call, const char *token,
                         char tenant[ARCHIVE_ID_MAX + 1], char client[ARCHIVE_ID_MAX + 1],
                         uint64_t *client_generation)
{
    struct base_err err = {{0}};
    ClientRecord *c = NULL;
    json_t *p;
    const char *t, *a;
    bool ok = false;
    switch (api_unseal(call->api, APP_PREFIX, token, &p)) {
    case API_SEAL_FORGED:
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "apptoken is not an app token this cluster issued: get one from "
                          "/api/getAppToken.do");
        return false;
    case API_SEAL_EXPIRED:
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "apptoken has expired: get a new one from /api/getAppToken.do");
        return false;
    case API_SEAL_OK:
        break;
    }
    t = json_string_value(json_object_get(p, "t"));
    a = json_string_value(json_object_get(p, "a"));
    if (t == NULL || a == NULL || strlen(a) > ARCHIVE_ID_MAX || !archive_valid_tenant(t)) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "apptoken is not an app token");
    } else if (tenant[0] != '\0' && strcmp(t, tenant) != 0) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "tenantid %.64s is not the tenant of this apptoken", tenant);
    } else if (archive_get_client(call->api->archive, a, &c, &err) != 0 ||
               strcmp(c->tenant, t) != 0) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "the client %s of this apptoken no longer exists", a);
    } else if (c->token_generation !=
               (uint64_t)json_integer_value(json_object_get(p, "g"))) {
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "the secret of client %s was rotated since this apptoken was issued: "
                          "get a new one from /api/getAppToken.do", a);
    } else {
        snprintf(client, ARCHIVE_ID_MAX + 1, "%s", a);
        snprintf(tenant, ARCHIVE_ID_MAX + 1, "%s", t);
        *client_generation = c->token_generation;
        ok = true;
    }
    archive_free_client(c);
    json_decref(p);
    return ok;
}

/* The user the app logs in as: false after answering (unknown, or locked). */
static bool login_user(struct api_call *call, const char *username, UserRecord **u)
{
    struct base_err err = {{0}};
    int rv = archive_valid_tenant(username)
                 ? archive_get_user(call->api->archive, call->tenant, username, u, &err)
                 : BASE_ENOTFOUND;
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_USER_NOT_FOUND,
                          "no user '%.64s' in tenant %s: the app logs in as a user of its "
                          "tenant (created with POST /api/v1/users)",
                          username, call->tenant);
        return false;
    }
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "user: %s", err.msg);
        return false;
    }
    if ((*u)->disabled) {
        api_respond_error(call->api, call->req, 403, API_E_ACCOUNT_DISABLED,
                          "user %s is disabled: a tenant admin can enable it", (*u)->username);
        archive_free_user(*u);
        return false;
    }
    if ((*u)->locked_until_ms > clock_wall_ms()) {
        char when[40];
        clock_format_rfc3339((*u)->locked_until_ms, when, sizeof when);
        api_respond_error(call->api, call->req, 403, API_E_ACCOUNT_LOCKED,
                          "user %s is locked until %s; a tenant admin can unlock it",
                          (*u)->username, when);
        archive_free_user(*u);
        return false;
    }
    return true;
}

static void issue_access_token(struct api_call *call, const UserRecord *u, const char *client,
                               uint64_t client_generation)
{
    uint64_t ttl = call->api->config.vendor_token_ttl_s;
    uint64_t exp = clock_wall_ms() + ttl * 1000;
    char *token = api_token_issue_via(call->api, call->tenant, u->username,
                                      u->token_generation, exp, client, client_generation);
    http_request_add_header(call->req, "Cache-Control", "no-store");
    api_vendor_respond(call->api, call->req,
                       json_pack("{s:s, s:I, s:I, s:b, s:s, s:s, s:s, s:s}", "access_token",
                                 token, "expire_time", (json_int_t)exp, "expires_in",
                                 (json_int_t)ttl, "success", 1, "error_code", "0",
                                 "error_desc", "", "user", u->username, "tenant",
                                 call->tenant),
                       auth_top());
    LOG_INFO("vendor", "login client=%s tenant=%s user=%s", client, call->tenant, u->username);
    sodium_memzero(token, strlen(token));
    free(token);
}

static void login_body(struct http_request *req, int status)
{
    struct vendor_auth *va = req->data;
    struct api_call *call = &va->call;
    char user[ARCHIVE_ID_MAX + 1], token[API_SEALED_MAX + 1], tenant[ARCHIVE_ID_MAX + 1];
    char type[32], client[ARCHIVE_ID_MAX + 1];
    uint64_t client_generation = 0;
    json_t *root = auth_body(va, status);
    UserRecord *u;
    token[0] = '\0';
    if (root == NULL || !api_vendor_need(call, root, "user", ARCHIVE_ID_MAX, user) ||
        !api_vendor_need(call, root, "apptoken", API_SEALED_MAX, token) ||
        !api_vendor_field(call, root, "tenantid", ARCHIVE_ID_MAX, tenant) ||
        !api_vendor_field(call, root, "usertype", sizeof type - 1, type)) {
        goto out;
    }
    if (strcmp(type, "Mobile") == 0) {
        api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                          "usertype Mobile is not supported: imgarc users have no phone "
                          "number; send usertype UserName with the username as user");
        goto out;
    }
    if (type[0] != '\0' && strcmp(type, "UserName") != 0) {
        api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                          "usertype must be UserName (the default)");
        goto out;
    }
    if (!app_token_ok(call, token, tenant, client, &client_generation)) {
        goto out;
    }
    snprintf(call->tenant, sizeof call->tenant, "%s", tenant);
    if (login_user(call, user, &u)) {
        issue_access_token(call, u, client, client_generation);
        archive_free_user(u);
    }
out:
    sodium_memzero(token, sizeof token);
    auth_free(va);
}

void api_handle_vendor_login(struct api_call *call)
{
    auth_new(call, login_body);
}

/* ---- /api/logout.do ---- */

static void logged_out_cb(struct repl_propose *prop, int status,
                          const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        LOG_INFO("vendor", "logout tenant=%s user=%s", op->call.tenant, op->call.username);
        api_vendor_ok(&op->call, NULL);
    }
    api_op_free(op);
}

/* The token to log out: the body's access_token, else the request's (?access_token=
 * or the header); copied into @buf. */
static bool logout_token_text(struct api_op *op, json_t *root, char buf[API_SEALED_MAX + 1])
{
    char *q;
    const char *h;
    if (!api_vendor_field(&op->call, root, "access_token", API_SEALED_MAX, buf)) {
        return false;
    }
    if (buf[0] == '\0') {
        q = http_request_query(op->call.req, "access_token");
        h = http_request_header(op->call.req, "access_token");
        snprintf(buf, API_SEALED_MAX + 1, "%s", q != NULL ? q : h != NULL ? h : "");
        free(q);
    }
    if (buf[0] == '\0') {
        api_respond_error(op->call.api, op->call.req, 400, API_E_INVALID_FIELD,
                          "access_token is required: the token /api/login.do answered");
        return false;
    }
    return true;
}

static void logout_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    char token[API_SEALED_MAX + 1];
    Command cmd = COMMAND__INIT;
    LogoutToken lt = LOGOUT_TOKEN__INIT;
    const char *why;
    uint64_t exp;
    bool expired, ok;
    if (root == NULL || !logout_token_text(op, root, token)) {
        api_op_free(op);
        return;
    }
    ok = api_user_token_open(op->call.api, token, &op->call, &exp, &expired, &why);
    sodium_memzero(token, sizeof token);
    if (expired) {
        api_vendor_ok(&op->call, NULL); /* it ended by itself already */
        api_op_free(op);
        return;
    }
    if (!ok) {
        api_respond_error(op->call.api, req, 401, API_E_UNAUTHORIZED,
                          "access_token cannot be logged out: %s", why);
        api_op_free(op);
        return;
    }
    snprintf(op->call.actor, sizeof op->call.actor, "user:%s", op->call.username);
    lt.username = op->call.username;
    lt.token_id = op->call.token_id;
    lt.expires_ms = exp;
    cmd.body_case = COMMAND__BODY_LOGOUT_TOKEN;
    cmd.logout_token = &lt;
    api_op_propose(op, &cmd, op->call.tenant, logged_out_cb);
}

void api_handle_vendor_logout(struct api_call *call)
{
    api_op_start(call, AUTH_BODY_MAX, logout_body);
}
