/* POST /api/v1/auth/login: a tenant user's password checked on the worker pool (the
 * same work for an unknown user, a wrong password and a locked account), the
 * replicated LoginResult that counts failures and locks an account, and the per-node
 * brake per username and source address (api_guard_*, also used by the vendor's
 * getAppToken.do and the own-password change). See the top of api/users.c for the
 * rules. */
#include "api/users_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"


/* Per username and source address: after --login-source-failures wrong passwords the
 * source waits GUARD_DELAY_MS before its next try for that username, doubling with each
 * further failure up to GUARD_DELAY_MAX_MS; a good password clears it. The table lives
 * on each node and is not replicated: it slows one source down, it does not lock. */
#define GUARD_DELAY_MS 5000u
#define GUARD_DELAY_MAX_MS (15u * 60 * 1000)
#define GUARD_FORGET_MS (15u * 60 * 1000) /* failures this old are forgotten */
#define GUARD_PROBE 8

static uint64_t guard_key(struct api *api, const char *tenant, const char *username,
                          const char *peer)
{
    struct login_guard *g = &api->login_guard;
    const char *colon = strrchr(peer, ':'); /* "ip:port": the port changes per connection */
    int ip_len = colon != NULL ? (int)(colon - peer) : (int)strlen(peer);
    uint8_t out[crypto_shorthash_BYTES];
    char buf[256];
    int n;
    uint64_t k;
    if (!g->keyed) {
        randombytes_buf(g->hash_key, sizeof g->hash_key);
        g->keyed = true;
    }
    n = snprintf(buf, sizeof buf, "%s%c%s%c%.*s", tenant, 0, username, 0, ip_len, peer);
    crypto_shorthash(out, (const uint8_t *)buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf,
                     g->hash_key);
    memcpy(&k, out, sizeof k);
    return k != 0 ? k : 1;
}

/* Which of two slots to give up for a new key: a free one, else one not holding a
 * source back, else the least recently used. Keeping slots that hold a source back
 * means failures spread over many usernames do not free the one being throttled. */
static bool better_victim(const struct login_guard_slot *s, const struct login_guard_slot *v,
                          uint64_t now)
{
    bool s_blocks = s->blocked_until_ms > now, v_blocks = v->blocked_until_ms > now;
    if (v->key == 0 || s->key == 0) {
        return v->key != 0;
    }
    if (s_blocks != v_blocks) {
        return !s_blocks;
    }
    return s->last_ms < v->last_ms;
}

/* The slot of @key, or NULL; with @take, a slot for it (see better_victim) among the
 * GUARD_PROBE after its hash. */
static struct login_guard_slot *guard_slot(struct api *api, uint64_t key, uint64_t now,
                                           bool take)
{
    struct login_guard_slot *slots = api->login_guard.slots, *victim = NULL;
    for (unsigned i = 0; i < GUARD_PROBE; i++) {
        struct login_guard_slot *s = &slots[(key + i) % LOGIN_GUARD_SLOTS];
        if (s->key == key) {
            return s;
        }
        if (victim == NULL || better_victim(s, victim, now)) {
            victim = s;
        }
    }
    if (!take) {
        return NULL;
    }
    *victim = (struct login_guard_slot){.key = key};
    return victim;
}

/* How long the source must still wait, in ms (0: it may try). */
static uint64_t guard_wait_ms(struct api *api, uint64_t key, uint64_t now)
{
    struct login_guard_slot *s = guard_slot(api, key, now, false);
    return s != NULL && s->blocked_until_ms > now ? s->blocked_until_ms - now : 0;
}

static void guard_failed(struct api *api, uint64_t key, uint64_t now)
{
    struct login_guard_slot *s = guard_slot(api, key, now, true);
    uint32_t max = (uint32_t)api->config.login_source_failures;
    if (s->last_ms + GUARD_FORGET_MS < now) {
        s->failures = 0;
    }
    s->failures++;
    s->last_ms = now;
    if (max > 0 && s->failures >= max) {
        unsigned shift = s->failures - max < 16 ? s->failures - max : 16;
        uint64_t delay = (uint64_t)GUARD_DELAY_MS << shift;
        s->blocked_until_ms = now + (delay < GUARD_DELAY_MAX_MS ? delay : GUARD_DELAY_MAX_MS);
    }
}

static void guard_passed(struct api *api, uint64_t key, uint64_t now)
{
    struct login_guard_slot *s = guard_slot(api, key, now, false);
    if (s != NULL) {
        *s = (struct login_guard_slot){0};
    }
}

/* The one answer of every failed login, whether the username exists or not, the
 * password is wrong or the account is locked: which usernames exist is not told. */
static void respond_login_failed(struct user_call *uc)
{
    api_respond_error(uc->call.api, uc->call.req, 401, API_E_UNAUTHORIZED,
                      "wrong username or password (tenant %s)", uc->call.tenant);
}

/* Told only to whoever gave the right password. */
static void respond_locked(struct user_call *uc, uint64_t until_ms)
{
    char when[40];
    clock_format_rfc3339(until_ms, when, sizeof when);
    api_respond_error(uc->call.api, uc->call.req, 403, API_E_ACCOUNT_LOCKED,
                      "too many wrong passwords: user %s is locked until %s; try again then, "
                      "or ask a tenant admin to unlock it", uc->user->username, when);
}

/* A failure was recorded (or refused, for a username that does not exist): the same
 * answer either way, after the same work. */
static void login_recorded(struct repl_propose *prop, int status,
                           const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    (void)res;
    if (status != 0) {
        api_respond_propose_error(uc->call.api, uc->call.req, status);
    } else {
        respond_login_failed(uc);
    }
    user_call_free(uc);
}

static void issue_user_token(struct user_call *uc)
{
    struct api *api = uc->call.api;
    char *token = api_token_issue(api, uc->call.tenant, uc->user->username, true,
                                  uc->user->token_generation,
                                  clock_wall_ms() + api->config.token_ttl_s * 1000);
    http_request_add_header(uc->call.req, "Cache-Control", "no-store");
    api_respond_json(api, uc->call.req, 200,
                     json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "access_token", token,
                               "token_type", "Bearer", "expires_in",
                               (json_int_t)api->config.token_ttl_s, "tenant", uc->call.tenant,
                               "username", uc->user->username, "roles",
                               user_strings_json(uc->user->roles, uc->user->n_roles)));
    sodium_memzero(token, strlen(token));
    free(token);
}

/* A good password after wrong ones: the failures are reset, then the token. */
static void login_reset(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct user_call *uc = prop->data;
    if (!user_answered_failure(uc, status, res)) {
        issue_user_token(uc);
    }
    user_call_free(uc);
}

/* The right password: the record is read again (it may have been locked while the hash
 * ran), and its token generation goes into the token. */
static void login_good(struct user_call *uc)
{
    struct api *api = uc->call.api;
    struct base_err err = {{0}};
    UserRecord *now_user;
    Command cmd = COMMAND__INIT;
    LoginResult lr = LOGIN_RESULT__INIT;
    if (archive_get_user(api->archive, uc->call.tenant, uc->user->username, &now_user,
                         &err) != 0) {
        respond_login_failed(uc); /* removed meanwhile */
        user_call_free(uc);
        return;
    }
    archive_free_user(uc->user);
    uc->user = now_user;
    guard_passed(api, uc->guard, clock_wall_ms());
    if (uc->user->disabled) {
        api_respond_error(api, uc->call.req, 403, API_E_ACCOUNT_DISABLED,
                          "user %s is disabled: ask a tenant admin to enable it",
                          uc->user->username);
        user_call_free(uc);
        return;
    }
    if (uc->user->locked_until_ms > clock_wall_ms()) {
        respond_locked(uc, uc->user->locked_until_ms);
        user_call_free(uc);
        return;
    }
    if (uc->user->failures == 0) {
        issue_user_token(uc);
        user_call_free(uc);
        return;
    }
    lr.username = uc->user->username;
    lr.ok = true;
    cmd.body_case = COMMAND__BODY_LOGIN_RESULT;
    cmd.login_result = &lr;
    snprintf(uc->call.actor, sizeof uc->call.actor, "user:%s", uc->user->username);
    user_propose(uc, &cmd, login_reset);
}

/* A wrong password, an unknown username or a locked account: the failure is counted
 * for the source, then proposed (the state machine counts it against the account, or
 * refuses it for a username that does not exist), and answered once applied, so that
 * every failure costs one hash and one commit. */
static void password_checked(struct user_call *uc)
{
    struct api *api = uc->call.api;
    Command cmd = COMMAND__INIT;
    LoginResult lr = LOGIN_RESULT__INIT;
    if (uc->ok && uc->user != NULL) {
        login_good(uc);
        return;
    }
    guard_failed(api, uc->guard, clock_wall_ms());
    lr.username = (char *)json_string_value(json_object_get(uc->body, "username"));
    lr.ok = false;
    lr.max_failures = (uint32_t)api->config.login_failures_max;
    lr.lock_ms = api->config.login_lock_ms;
    cmd.body_case = COMMAND__BODY_LOGIN_RESULT;
    cmd.login_result = &lr;
    snprintf(uc->call.actor, sizeof uc->call.actor, "user:%s", lr.username);
    user_propose(uc, &cmd, login_recorded);
}

/* The guard for other credentials (api_int.h): a vendor app's client secret. */
uint64_t api_guard_key(struct api *api, const char *tenant, const char *name, const char *peer)
{
    return guard_key(api, tenant, name, peer);
}

uint64_t api_guard_wait_ms(struct api *api, uint64_t key, uint64_t now)
{
    return guard_wait_ms(api, key, now);
}

void api_guard_failed(struct api *api, uint64_t key, uint64_t now)
{
    guard_failed(api, key, now);
}

void api_guard_passed(struct api *api, uint64_t key, uint64_t now)
{
    guard_passed(api, key, now);
}

void user_respond_throttled(struct user_call *uc, uint64_t wait_ms)
{
    char secs[24];
    uint64_t s = (wait_ms + 999) / 1000;
    snprintf(secs, sizeof secs, "%llu", (unsigned long long)s);
    http_request_add_header(uc->call.req, "Retry-After", secs);
    api_respond_error(uc->call.api, uc->call.req, 429, API_E_TOO_MANY_REQUESTS,
                      "too many failed logins for this username from your address; try again "
                      "in %llu s", (unsigned long long)s);
}

static void login_body(struct http_request *req, int status)
{
    struct user_call *uc = req->data;
    struct base_err err = {{0}};
    json_t *root = user_object_body(uc, status);
    const char *tenant = json_string_value(json_object_get(root, "tenant"));
    const char *username = json_string_value(json_object_get(root, "username"));
    uint64_t wait_ms;
    uc->body = root;
    if (root == NULL) {
        user_call_free(uc);
        return;
    }
    snprintf(uc->call.tenant, sizeof uc->call.tenant, "%s",
             tenant != NULL && archive_valid_tenant(tenant) ? tenant : ARCHIVE_DEFAULT_TENANT);
    if (username == NULL || !archive_valid_tenant(username) ||
        (tenant != NULL && !archive_valid_tenant(tenant))) {
        api_respond_error(uc->call.api, req, 400, API_E_INVALID_FIELD,
                          "body must be {\"tenant\"?, \"username\", \"password\"}; tenant and "
                          "username are 1-64 characters of A-Z a-z 0-9 . _ -");
        user_call_free(uc);
        return;
    }
    if (!user_take_password(uc, root, 1)) {
        user_call_free(uc);
        return;
    }
    uc->guard = guard_key(uc->call.api, uc->call.tenant, username, req->peer);
    if ((wait_ms = guard_wait_ms(uc->call.api, uc->guard, clock_wall_ms())) > 0) {
        user_respond_throttled(uc, wait_ms);
        user_call_free(uc);
        return;
    }
    /* An unknown user is verified against the dummy hash: the same cost and answer. */
    if (archive_get_user(uc->call.api->archive, uc->call.tenant, username, &uc->user, &err) !=
        0) {
        uc->user = NULL;
    }
    uc->verify = true;
    user_hash_later(uc, password_checked);
}

void api_handle_login(struct api_call *call)
{
    user_call_new(call);
    http_request_buffer_body(call->req, USER_BODY_MAX, login_body);
}
