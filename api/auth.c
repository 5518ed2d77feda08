/* Who a request acts for, and the credentials of business systems.
 *
 * Two kinds of bearer token:
 *   - the operator token (--bootstrap-token): acts for any tenant, named by ?tenant=;
 *   - access tokens issued to a tenant's business-system client by
 *     POST /api/v1/auth/token: "imgarc1.<payload>.<mac>", where payload is base64url
 *     JSON {"t": tenant, "c": client id, "e": expiry ms, "g": the client's token
 *     generation (absent in tokens of older nodes: 0)} and mac its HMAC-SHA-256 under
 *     the cluster's token key. The key is chosen once, when the cluster is created, and
 *     replicated (InitCluster), so every node checks every token locally, with no
 *     session state. A token acts for its tenant only. A user's token (POST
 *     /api/v1/auth/login, the vendor's /api/login.do) has {"t", "u": username, "e",
 *     "g": the user's token generation, "j": a random id}; it is refused once the
 *     generation moved on or its id was logged out (UserRecord.logged_out).
 *   - short operator tokens (POST /api/v1/auth/operator, for the web console, which then
 *     keeps no bootstrap token): {"o": 1, "e", "h": a keyed hash of the operator token
 *     they were exchanged for}; they act as the operator until they expire, and stop
 *     at once on a node whose --bootstrap-token is another (or none).
 * Client secrets are 256 random bits, shown once; only their BLAKE2b-256 is stored (a
 * slow password hash adds nothing for a secret of full entropy). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "archive/users.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define TOKEN_PREFIX "imgarc1."
#define TOKEN_MAX 512
#define AUTH_BODY_MAX (16u << 10)

static char *b64url(const uint8_t *bin, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *out = xmalloc(n);
    sodium_bin2base64(out, n, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return out;
}

static char *token_issue(struct api *api, const char *tenant, const char *subject, bool user,
                         uint64_t generation, uint64_t expires_ms, const char *via,
                         uint64_t via_generation);
static char *sealed_token(struct api *api, const char *json);

char *api_token_issue(struct api *api, const char *tenant, const char *subject, bool user,
                      uint64_t generation, uint64_t expires_ms)
{
    return token_issue(api, tenant, subject, user, generation, expires_ms, NULL, 0);
}

char *api_token_issue_via(struct api *api, const char *tenant, const char *username,
                          uint64_t generation, uint64_t expires_ms, const char *client,
                          uint64_t client_generation)
{
    return token_issue(api, tenant, username, true, generation, expires_ms, client,
                       client_generation);
}

static char *token_issue(struct api *api, const char *tenant, const char *subject, bool user,
                         uint64_t generation, uint64_t expires_ms, const char *via,
                         uint64_t via_generation)
{
    json_t *o = json_pack("{s:s, s:s, s:I}", "t", tenant, user ? "u" : "c", subject, "e",
                          (json_int_t)expires_ms);
    if (user) {
        /* An id, so that one token can be logged out (LogoutToken, api/vendor_auth.c). */
        uint8_t id[16];
        char hex[33];
        randombytes_buf(id, sizeof id);
        for (size_t i = 0; i < sizeof id; i++) {
            snprintf(hex + 2 * i, 3, "%02x", id[i]);
        }
        json_object_set_new(o, "j", json_string(hex));
    }
    /* The subject's token generation: a user's or a client's, bumped when its tokens
     * must stop (a lock, a disable, a new password or secret). */
    json_object_set_new(o, "g", json_integer((json_int_t)generation));
    if (via != NULL) {
        json_object_set_new(o, "a", json_string(via));
        json_object_set_new(o, "ag", json_integer((json_int_t)via_generation));
    }
    char *json = json_dumps(o, JSON_COMPACT);
    char *token = sealed_token(api, json);
    json_decref(o);
    free(json);
    return token;
}

/* "imgarc1.<payload>.<mac>" of the JSON text @json. */
static char *sealed_token(struct api *api, const char *json)
{
    uint8_t key[32], mac[crypto_auth_hmacsha256_BYTES];
    char *payload = b64url((const uint8_t *)json, strlen(json));
    char *signed_part = xasprintf(TOKEN_PREFIX "%s", payload);
    char *mac64, *token;
    free(payload);
    ASSERT(archive_token_key(api->archive, key));
    crypto_auth_hmacsha256(mac, (const uint8_t *)signed_part, strlen(signed_part), key);
    sodium_memzero(key, sizeof key);
    mac64 = b64url(mac, sizeof mac);
    token = xasprintf("%s.%s", signed_part, mac64);
    free(signed_part);
    free(mac64);
    return token;
}

/* A fingerprint of the operator token (--bootstrap-token) under the cluster's token key,
 * 32 hex digits, into @out; false when this node has no operator token. */
static bool operator_fingerprint(struct api *api, char out[33])
{
    const char *op = api->config.bootstrap_token;
    uint8_t key[32], h[16];
    if (op == NULL || op[0] == '\0' || !archive_token_key(api->archive, key)) {
        return false;
    }
    crypto_generichash(h, sizeof h, (const uint8_t *)op, strlen(op), key, sizeof key);
    sodium_memzero(key, sizeof key);
    for (size_t i = 0; i < sizeof h; i++) {
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    }
    return true;
}

/* Whether token payload @o is a short operator token of this node's operator token
 * that has not expired; *@why says why not. */
static bool operator_payload_ok(struct api *api, const json_t *o, const char **why)
{
    char fp[33];
    const char *h = json_string_value(json_object_get(o, "h"));
    json_int_t exp = json_integer_value(json_object_get(o, "e"));
    if (!operator_fingerprint(api, fp) || h == NULL || strlen(h) != 32 ||
        sodium_memcmp(fp, h, 32) != 0) {
        *why = "this operator token was exchanged for an operator token this node does not "
               "have (--bootstrap-token changed): sign in again";
        return false;
    }
    if ((uint64_t)exp <= clock_wall_ms()) {
        *why = "the operator access token has expired: exchange the operator token again "
               "(POST /api/v1/auth/operator)";
        return false;
    }
    return true;
}

/* Checks an access token: its principal (client or user, with the tenant filled in),
 * or API_ANONYMOUS with why; its expiry into *@expires_ms. */
static enum api_principal token_check(struct api *api, const char *token,
                                      struct api_call *call, const char **why,
                                      uint64_t *expires_ms)
{
    uint8_t key[32], mac[crypto_auth_hmacsha256_BYTES], json[TOKEN_MAX];
    const char *dot = strrchr(token, '.');
    size_t mac_len = 0, json_len = 0;
    json_t *o;
    const char *tenant, *client, *user;
    json_int_t exp;
    bool ok;
    enum api_principal who = API_ANONYMOUS;
    *expires_ms = 0;
    call->token_id[0] = '\0';
    *why = "the token is not one this cluster issued";
    if (strlen(token) > TOKEN_MAX || strncmp(token, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) != 0 ||
        dot == NULL || dot < token + strlen(TOKEN_PREFIX) || !archive_token_key(api->archive, key)) {
        return API_ANONYMOUS;
    }
    ok = sodium_base642bin(mac, sizeof mac, dot + 1, strlen(dot + 1), NULL, &mac_len, NULL,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
         mac_len == sizeof mac &&
         crypto_auth_hmacsha256_verify(mac, (const uint8_t *)token, (size_t)(dot - token),
                                       key) == 0 &&
         sodium_base642bin(json, sizeof json - 1, token + strlen(TOKEN_PREFIX),
                           (size_t)(dot - token) - strlen(TOKEN_PREFIX), NULL, &json_len, NULL,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0;
    sodium_memzero(key, sizeof key);
    if (!ok) {
        return API_ANONYMOUS;
    }
    o = json_loadb((const char *)json, json_len, 0, NULL);
    if (json_integer_value(json_object_get(o, "o")) == 1) {
        *expires_ms = (uint64_t)json_integer_value(json_object_get(o, "e"));
        who = operator_payload_ok(api, o, why) ? API_OPERATOR : API_ANONYMOUS;
        json_decref(o);
        return who;
    }
    tenant = json_string_value(json_object_get(o, "t"));
    client = json_string_value(json_object_get(o, "c"));
    user = json_string_value(json_object_get(o, "u"));
    exp = json_integer_value(json_object_get(o, "e"));
    call->token_generation = (uint64_t)json_integer_value(json_object_get(o, "g"));
    snprintf(call->token_id, sizeof call->token_id, "%s",
             json_is_string(json_object_get(o, "j")) ? json_string_value(json_object_get(o, "j"))
                                                     : "");
    snprintf(call->via_client, sizeof call->via_client, "%s",
             json_is_string(json_object_get(o, "a")) ? json_string_value(json_object_get(o, "a"))
                                                     : "");
    call->via_generation = (uint64_t)json_integer_value(json_object_get(o, "ag"));
    *expires_ms = (uint64_t)exp;
    ok = tenant != NULL && archive_valid_tenant(tenant) &&
         ((client != NULL && archive_valid_tenant(client)) ||
          (user != NULL && archive_valid_tenant(user)));
    if (ok && (uint64_t)exp <= clock_wall_ms()) {
        *why = call->vendor ? "the access token has expired: log in again (/api/login.do)"
                            : "the access token has expired: get a new one from POST "
                              "/api/v1/auth/token";
        ok = false;
    }
    if (ok) {
        snprintf(call->tenant, sizeof call->tenant, "%s", tenant);
        if (client != NULL) {
            snprintf(call->client_id, sizeof call->client_id, "%s", client);
            who = API_CLIENT;
        } else {
            snprintf(call->username, sizeof call->username, "%s", user);
            who = API_USER;
        }
    }
    json_decref(o);
    return who;
}

static enum api_principal token_verify(struct api *api, const char *token,
                                       struct api_call *call, const char **why)
{
    return token_check(api, token, call, why, &call->token_expires_ms);
}

bool api_user_token_open(struct api *api, const char *token, struct api_call *call,
                         uint64_t *expires_ms, bool *expired, const char **why)
{
    enum api_principal who = token_check(api, token, call, why, expires_ms);
    *expired = who == API_ANONYMOUS && *expires_ms != 0 && *expires_ms <= clock_wall_ms();
    if (who == API_CLIENT) {
        *why = "a business system's token (POST /api/v1/auth/token) cannot be logged out; "
               "it lives until it expires";
    }
    return who == API_USER && call->token_id[0] != '\0';
}

/* Whether the token of @call is among @u's logged-out ones. */
static bool logged_out(const struct api_call *call, const UserRecord *u)
{
    for (size_t i = 0; i < u->n_logged_out && call->token_id[0] != '\0'; i++) {
        if (strcmp(u->logged_out[i]->token_id, call->token_id) == 0) {
            return true;
        }
    }
    return false;
}

/* A user token logged in through a business system (the vendor's login.do) acts only
 * while that client exists with the secret it had then: rotating a leaked secret stops
 * the sessions opened with it too. */
static bool via_client_current(const struct api_call *call, const char **why)
{
    struct base_err err;
    ClientRecord *c = NULL;
    bool ok;
    if (call->via_client[0] == '\0') {
        return true;
    }
    ok = archive_get_client(call->api->archive, call->via_client, &c, &err) == 0 &&
         strcmp(c->tenant, call->tenant) == 0;
    if (!ok) {
        *why = "the business system (client) this access token was logged in through no "
               "longer exists: log in again";
    } else if (c->token_generation != call->via_generation) {
        *why = "the secret of the business system (client) this access token was logged in "
               "through was rotated since: log in again";
        ok = false;
    }
    archive_free_client(c);
    return ok;
}

/* A user token acts only while its user exists, is not locked, and its tokens were not
 * revoked since it was issued (UserRecord.token_generation, bumped by the state machine
 * on every node when the account is locked). */
static enum api_principal user_token_current(struct api_call *call, const char **why)
{
    struct base_err err;
    UserRecord *u;
    enum api_principal who = API_ANONYMOUS;
    if (archive_get_user(call->api->archive, call->tenant, call->username, &u, &err) != 0) {
        *why = "the user of this access token no longer exists";
        return API_ANONYMOUS;
    }
    if (logged_out(call, u)) {
        *why = "this access token was logged out (/api/logout.do): log in again";
    } else if (u->disabled) {
        *why = "the account of this access token is disabled: ask a tenant admin to enable it";
    } else if (u->token_generation != call->token_generation) {
        *why = "this access token was revoked (since it was issued the account was locked, "
               "or its password or roles changed): log in again";
    } else if (u->locked_until_ms > clock_wall_ms()) {
        *why = "the account of this access token is locked: ask a tenant admin to unlock it";
    } else if (!via_client_current(call, why)) {
        /* *why says which */
    } else if (archive_actor_of_user(call->api->archive, call->tenant, u, &call->access,
                                     &err) != 0) {
        *why = "the user record of this access token cannot be read";
    } else {
        who = API_USER; /* its permissions and grants are in call->access now */
    }
    archive_free_user(u);
    return who;
}

/* A client token acts only while its client exists in the token's tenant with the
 * secret it had then: a client removed since no longer acts, nor a token issued before
 * its secret was rotated (tokens of older nodes carry no generation: 0, the generation
 * of a client never rotated, so they live until they expire). */
static enum api_principal client_token_current(struct api_call *call, const char **why)
{
    ClientRecord *client;
    struct base_err err;
    if (archive_get_client(call->api->archive, call->client_id, &client, &err) != 0 ||
        strcmp(client->tenant, call->tenant) != 0) {
        archive_free_client(client);
        *why = "the client of this access token no longer exists";
        return API_ANONYMOUS;
    }
    if (client->token_generation != call->token_generation) {
        archive_free_client(client);
        *why = "the client's secret was rotated since this access token was issued: get a "
               "new one from POST /api/v1/auth/token with the new secret";
        return API_ANONYMOUS;
    }
    archive_free_client(client);
    archive_actor_system(&call->access, call->tenant);
    return API_CLIENT;
}

/* The vendor's connectors send their access token as ?access_token= (VENDOR-API.md)
 * or as a header of that name: a vendor call takes either, before the bearer header.
 * Copies it into @buf (TOKEN_MAX + 2 bytes); NULL when there is none. */
static const char *vendor_token(struct api_call *call, char *buf)
{
    char *q = http_request_query(call->req, "access_token");
    const char *h = http_request_header(call->req, "access_token");
    const char *found = q != NULL && q[0] != '\0' ? q : h != NULL && h[0] != '\0' ? h : NULL;
    if (found != NULL) {
        snprintf(buf, TOKEN_MAX + 2, "%s", found);
        found = buf;
    }
    free(q);
    return found;
}

/* @user_record: whether a user token's user must be known to this node now. */
static enum api_principal authenticate(struct api_call *call, const char **why,
                                       bool user_record)
{
    const char *op = call->api->config.bootstrap_token;
    char vendor_buf[TOKEN_MAX + 2];
    const char *tok = NULL;
    enum api_principal who;
    *why = "missing bearer token: send 'Authorization: Bearer <token>' (the operator token, "
           "or an access token from POST /api/v1/auth/token)";
    if (call->vendor) {
        tok = vendor_token(call, vendor_buf);
        *why = "missing access_token: send the token /api/login.do answered as "
               "?access_token= (or 'Authorization: Bearer <token>')";
    }
    if (tok == NULL) {
        const char *h = http_request_header(call->req, "authorization");
        if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
            return API_ANONYMOUS;
        }
        tok = h + 7;
        if (op != NULL && strlen(tok) == strlen(op) && sodium_memcmp(tok, op, strlen(op)) == 0) {
            return API_OPERATOR;
        }
    } else if (op != NULL && strlen(tok) == strlen(op) &&
               sodium_memcmp(tok, op, strlen(op)) == 0) {
        /* The operator token never belongs in a URL or a vendor header. */
        sodium_memzero(vendor_buf, sizeof vendor_buf);
        *why = "the operator token is taken from the Authorization header only";
        return API_ANONYMOUS;
    }
    who = token_verify(call->api, tok, call, why);
    if (tok == vendor_buf) {
        sodium_memzero(vendor_buf, sizeof vendor_buf);
    }
    switch (who) {
    case API_ANONYMOUS:
        return API_ANONYMOUS;
    case API_OPERATOR:
        if (tok == vendor_buf || call->vendor) {
            *why = "an operator token is taken from the Authorization header of native calls "
                   "only";
            return API_ANONYMOUS;
        }
        return API_OPERATOR;
    case API_USER:
        return user_record ? user_token_current(call, why) : API_USER;
    default:
        return client_token_current(call, why);
    }
}

enum api_principal api_authenticate(struct api_call *call, const char **why)
{
    return authenticate(call, why, true);
}

enum api_principal api_authenticate_to_hold(struct api_call *call, const char **why)
{
    return authenticate(call, why, false);
}

enum api_principal api_principal_current(struct api_call *call, enum api_principal who,
                                         const char **why)
{
    switch (who) {
    case API_USER:
        return user_token_current(call, why);
    case API_CLIENT:
        return client_token_current(call, why);
    default:
        *why = "it names no user or business system";
        return API_ANONYMOUS;
    }
}

/* ---- POST /api/v1/clients ---- */

/* What a client creation keeps while its proposal is applied (op->data). */
struct new_client {
    char client_id[24];
    char secret[64];
    char name[257];
};


static void client_created(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    struct api_op *op = prop->data;
    struct new_client *nc = op->data;
    if (api_op_applied(op, status, res)) {
        api_respond_json(op->call.api, op->call.req, 201,
                         json_pack("{s:s, s:s, s:s, s:s, s:I}", "client_id", nc->client_id,
                                   "client_secret", nc->secret, "tenant", op->call.tenant,
                                   "name", nc->name, "index", (json_int_t)res->index));
    }
    api_op_free(op);
}

/* A fresh client id and secret; the command carries only the secret's hash. */
static void propose_client(struct api_op *op)
{
    struct new_client *nc = op->data;
    Command cmd = COMMAND__INIT;
    CreateClient c = CREATE_CLIENT__INIT;
    uint8_t raw[32], hash[32];
    randombytes_buf(raw, 8);
    snprintf(nc->client_id, sizeof nc->client_id, "c");
    for (int i = 0; i < 8; i++) {
        snprintf(nc->client_id + 1 + 2 * i, 3, "%02x", raw[i]);
    }
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(nc->secret, sizeof nc->secret, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    crypto_generichash(hash, sizeof hash, (const uint8_t *)nc->secret, strlen(nc->secret), NULL,
                       0);
    c.client_id = nc->client_id;
    c.name = nc->name;
    c.secret_hash.data = hash;
    c.secret_hash.len = sizeof hash;
    cmd.body_case = COMMAND__BODY_CREATE_CLIENT;
    cmd.create_client = &c;
    api_op_propose(op, &cmd, NULL, client_created);
}

static void client_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *root = api_op_json(op, status);
    const char *tenant = json_string_value(json_object_get(root, "tenant"));
    const char *name = json_string_value(json_object_get(root, "name"));
    struct new_client *nc = xcalloc(1, sizeof *nc);
    op->data = nc;
    op->wipe = sizeof *nc; /* the secret */
    if (root == NULL) {
        api_op_free(op);
        return;
    }
    if ((tenant != NULL && !archive_valid_tenant(tenant)) ||
        (json_object_get(root, "tenant") != NULL && tenant == NULL) || name == NULL ||
        strlen(name) == 0 || strlen(name) > 256) {
        api_respond_error(op->call.api, req, 400, API_E_INVALID_FIELD,
                          "'name' (1-256 bytes) is required; 'tenant' is a tenant id (default: "
                          "?tenant= or 'default')");
        api_op_free(op);
        return;
    }
    if (tenant != NULL && op->call.principal != API_OPERATOR &&
        strcmp(tenant, op->call.tenant) != 0) {
        api_respond_error(op->call.api, req, 403, API_E_FORBIDDEN,
                          "%s creates clients of tenant %s only", op->call.actor,
                          op->call.tenant);
        api_op_free(op);
        return;
    }
    if (tenant != NULL) {
        snprintf(op->call.tenant, sizeof op->call.tenant, "%s", tenant);
    }
    snprintf(nc->name, sizeof nc->name, "%s", name);
    propose_client(op);
}

void api_handle_create_client(struct api_call *call)
{
    api_op_start(call, AUTH_BODY_MAX, client_body);
}

/* ---- POST /api/v1/auth/token ---- */

bool api_client_secret_matches(const ClientRecord *c, const char *secret)
{
    uint8_t hash[32];
    bool ok;
    crypto_generichash(hash, sizeof hash, (const uint8_t *)secret, strlen(secret), NULL, 0);
    ok = c->secret_hash.len == sizeof hash &&
         sodium_memcmp(hash, c->secret_hash.data, sizeof hash) == 0;
    sodium_memzero(hash, sizeof hash);
    return ok;
}

static void issue_token(struct api_call *call, const ClientRecord *c)
{
    uint64_t ttl_s = call->api->config.token_ttl_s;
    char *token = api_token_issue(call->api, c->tenant, c->client_id, false,
                                  c->token_generation, clock_wall_ms() + ttl_s * 1000);
    http_request_add_header(call->req, "Cache-Control", "no-store");
    api_respond_json(call->api, call->req, 200,
                     json_pack("{s:s, s:s, s:I, s:s}", "access_token", token, "token_type",
                               "Bearer", "expires_in", (json_int_t)ttl_s, "tenant", c->tenant));
    sodium_memzero(token, strlen(token));
    free(token);
}

static void token_body(struct http_request *req, int status)
{
    struct api_call *call = req->data;
    json_t *root = status == 0 ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(root, "client_id"));
    const char *secret = json_string_value(json_object_get(root, "client_secret"));
    struct base_err err = {{0}};
    ClientRecord *c = NULL;
    int rv;
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
    } else if (id == NULL || secret == NULL) {
        api_respond_error(call->api, req, 400, API_E_INVALID_FIELD,
                          "body must be {\"client_id\": \"...\", \"client_secret\": \"...\"}");
    } else if ((rv = archive_get_client(call->api->archive, id, &c, &err)) == BASE_ENOTFOUND) {
        api_respond_error(call->api, req, 401, API_E_UNAUTHORIZED,
                          "unknown client id '%.64s': check the client id your business "
                          "system sends (clients are created with POST /api/v1/clients)", id);
    } else if (rv != 0) {
        api_respond_error(call->api, req, 500, API_E_INTERNAL, "client: %s", err.msg);
    } else if (!api_client_secret_matches(c, secret)) {
        api_respond_error(call->api, req, 401, API_E_UNAUTHORIZED,
                          "wrong client secret for client %s", c->client_id);
    } else {
        issue_token(call, c);
    }
    archive_free_client(c);
    json_decref(root);
    free(call);
}

void api_handle_token(struct api_call *call)
{
    struct api_call *copy = xmalloc(sizeof *copy);
    *copy = *call;
    call->req->data = copy;
    http_request_buffer_body(call->req, AUTH_BODY_MAX, token_body);
}

/* ---- POST /api/v1/auth/operator ---- */

static void operator_body(struct http_request *req, int status)
{
    struct api_call *call = req->data;
    struct api *api = call->api;
    json_t *root = status == 0 ? json_loadb(req->body, req->body_len, 0, NULL) : NULL;
    const char *token = json_string_value(json_object_get(root, "token"));
    const char *op = api->config.bootstrap_token;
    uint64_t guard = api_guard_key(api, "", "operator", req->peer);
    uint64_t now = clock_wall_ms(), wait_ms, ttl_s = api->config.token_ttl_s;
    char fp[33], secs[24];
    if (status != 0) {
        http_respond(req, 400, NULL, NULL, 0); /* the server answered already */
    } else if (token == NULL) {
        api_respond_error(api, req, 400, API_E_INVALID_FIELD,
                          "body must be {\"token\": \"<the operator token>\"}");
    } else if ((wait_ms = api_guard_wait_ms(api, guard, now)) > 0) {
        snprintf(secs, sizeof secs, "%llu", (unsigned long long)((wait_ms + 999) / 1000));
        http_request_add_header(req, "Retry-After", secs);
        api_respond_error(api, req, 429, API_E_TOO_MANY_REQUESTS,
                          "too many wrong operator tokens from your address; try again in %s s",
                          secs);
    } else if (op == NULL || op[0] == '\0' || strlen(token) != strlen(op) ||
               sodium_memcmp(token, op, strlen(op)) != 0 || !operator_fingerprint(api, fp)) {
        api_guard_failed(api, guard, now);
        LOG_WARN("auth", "wrong operator token from %s", req->peer);
        api_respond_error(api, req, 401, API_E_UNAUTHORIZED,
                          "wrong operator token (the node's --bootstrap-token)");
    } else {
        uint64_t exp = now + ttl_s * 1000;
        json_t *p = json_pack("{s:i, s:I, s:s}", "o", 1, "e", (json_int_t)exp, "h", fp);
        char *json = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
        char *access = sealed_token(api, json);
        api_guard_passed(api, guard, now);
        http_request_add_header(req, "Cache-Control", "no-store");
        api_respond_json(api, req, 200,
                         json_pack("{s:s, s:s, s:I, s:o}", "access_token", access,
                                   "token_type", "Bearer", "expires_in", (json_int_t)ttl_s,
                                   "expires", api_time_json(exp)));
        LOG_INFO("auth", "operator token exchanged from %s", req->peer);
        sodium_memzero(access, strlen(access));
        free(access);
        free(json);
        json_decref(p);
    }
    json_decref(root);
    free(call);
}

void api_handle_auth_operator(struct api_call *call)
{
    struct api_call *copy = xmalloc(sizeof *copy);
    *copy = *call;
    call->req->data = copy;
    http_request_buffer_body(call->req, AUTH_BODY_MAX, operator_body);
}

/* ---- GET /api/v1/auth/me ---- */

/* The permission names of @perms, as docs/API.md names them. */
static json_t *perms_json(unsigned perms)
{
    char buf[128];
    json_t *list = json_array();
    archive_perms_format(perms, buf, sizeof buf);
    for (char *save = NULL, *p = strtok_r(buf, ",", &save); p != NULL;
         p = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list, json_string(p));
    }
    return list;
}

/* What the caller's grants let it see: its own grants for a user they limit, else
 * every organisation. */
static json_t *grants_json(const struct api_call *call)
{
    json_t *list = json_array();
    if (!api_restricted(call)) {
        json_array_append_new(list, json_pack("{s:s, s:b}", "org", "*", "include_children", 1));
        return list;
    }
    for (size_t i = 0; i < call->access.n_grants; i++) {
        json_array_append_new(list, json_pack("{s:s, s:b}", "org", call->access.grants[i].org,
                                              "include_children",
                                              call->access.grants[i].include_children));
    }
    return list;
}

void api_handle_auth_me(struct api_call *call)
{
    struct base_err err = {{0}};
    const char *kind = "operator";
    json_t *name = json_string("operator");
    json_t *roles = json_array();
    json_t *o;
    if (call->principal == API_USER) {
        UserRecord *u;
        if (archive_get_user(call->api->archive, call->tenant, call->username, &u, &err) != 0) {
            json_decref(name);
            json_decref(roles);
            api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                              "the user of this access token no longer exists");
            return;
        }
        kind = "user";
        json_decref(name);
        name = json_string(u->name);
        for (size_t i = 0; i < u->n_roles; i++) {
            json_array_append_new(roles, json_string(u->roles[i]));
        }
        archive_free_user(u);
    } else if (call->principal == API_CLIENT) {
        ClientRecord *c;
        kind = "client";
        json_decref(name);
        if (archive_get_client(call->api->archive, call->client_id, &c, &err) == 0) {
            name = json_string(c->name);
            archive_free_client(c);
        } else {
            name = json_string(call->client_id); /* removed this moment: its id will do */
        }
    }
    o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "kind", kind, "tenant",
                  call->tenant, "username",
                  call->principal == API_USER ? json_string(call->username) : json_null(),
                  "name", name != NULL ? name : json_string(""), "roles", roles, "permissions",
                  perms_json(call->access.perms), "grants", grants_json(call),
                  "admin", (call->access.perms & PERM_ADMIN) != 0, "expires",
                  api_time_json(call->token_expires_ms)); /* 0 (null): the operator token */
    api_respond_json(call->api, call->req, 200, o);
}

/* ---- Data grants ---- */

/* The caller's access; a user's is of the tenant its token names. */
static const struct archive_actor *access_of(const struct api_call *call)
{
    ASSERT(call->access.kind != ARCHIVE_ACTOR_USER ||
           strcmp(call->access.tenant, call->tenant) == 0);
    return &call->access;
}

bool api_restricted(const struct api_call *call)
{
    return archive_actor_restricted(access_of(call));
}

bool api_org_visible(struct api_call *call, const char *org)
{
    return archive_actor_sees_org(call->api->archive, access_of(call), org);
}

void api_respond_bill_hidden(struct api_call *call, const char *image_no)
{
    api_respond_error(call->api, call->req, 404, API_E_BILL_NOT_FOUND,
                      "no bill with image number %.64s in tenant %s that you may see; "
                      "check the image number or ask for a grant of its organisation",
                      image_no, call->tenant);
}

bool api_bill_visible(struct api_call *call, const char *image_no)
{
    if (archive_actor_sees_bill(call->api->archive, access_of(call), image_no)) {
        return true;
    }
    api_respond_bill_hidden(call, image_no);
    return false;
}
