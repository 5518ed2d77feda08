/* Kind "vendor": a system speaking the incumbent's API (../shared/VENDOR-API.md,
 * docs/migration.md "The vendor listing call").
 *
 * Login is the vendor's two steps: POST /api/getAppToken.do with the app's id and
 * secret, then POST /api/login.do acting as the configured user; the access token goes
 * on every later call as ?access_token= and is renewed before its expire_time. The
 * bills of a scope come from the listing call at the data source's list_path (not in
 * the vendor's public documentation: its form is imgarc's choice, documented), a
 * bill's files from /kapi/app/rim/queryCover, and a file's content from its localUrl
 * (a plain GET). Every answer is the vendor's envelope {"success","errorCode",
 * "message","data"}, "0000" meaning success; this file maps it onto the native shapes
 * of source.h. Times in the listing call are "yyyy-MM-dd HH:mm:ss" in UTC+08:00, the
 * vendor's deployments' time. */
#include "migrate/source.h"
#include "migrate/source_vendor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "base/assert.h"
#include "base/clock.h"
#include "base/mem.h"

#define TOKEN_MAX 1024
#define VENDOR_TZ_MS (8 * 3600 * 1000ll) /* UTC+08:00 */
#define TOKEN_TTL_DEFAULT_MS (2 * 3600 * 1000ull)
#define TOKEN_RENEW_MARGIN_MS (5 * 60 * 1000ull)
#define PAGE_MAX 1000
#define DEFAULT_LIST_PATH "/kapi/app/bds/queryBillList"

struct vendor {
    char token[TOKEN_MAX]; /* the access token ("" before login) */
    /* The call waiting for a token, and whether it was resent after a refused token. */
    void (*then)(struct source *s);
    bool resent;
    /* The call in progress. */
    char path[256];
    json_t *body;
    json_t *listed; /* get_bill: the bill's list entry (or one made of its image number) */
    unsigned page, limit;
    /* An answer made without a call, given from the loop (never from inside the call). */
    uv_timer_t later;
    void (*deferred)(struct source *s);
    struct source *src;
};

static struct vendor *imp(struct source *s)
{
    return s->impl;
}

/* @base without a trailing '/' followed by @path and, with a token, ?access_token=. */
static void make_url(struct source *s, char *out, size_t size, const char *path,
                     bool with_token)
{
    source_url(s, out, size, path);
    if (with_token && strlen(out) + 16 < size) {
        strcat(out, "?access_token=");
        source_url_escape(out, size, imp(s)->token);
    }
}

/* Whether @answer is a success envelope; "0000" decides, a "success" false denies. */
static bool envelope_ok(json_t *answer)
{
    const char *code = json_string_value(json_object_get(answer, "errorCode"));
    json_t *success = json_object_get(answer, "success");
    if (!json_is_object(answer) || code == NULL || strcmp(code, "0000") != 0) {
        return false;
    }
    if (json_is_false(success) ||
        (json_is_string(success) && strcasecmp(json_string_value(success), "false") == 0)) {
        return false;
    }
    return true;
}

/* What went wrong with call @what, for a person: no answer, the HTTP status, or the
 * envelope's errorCode and message (never a credential: none is ever answered back). */
static int describe(char *out, size_t size, const char *what, long st, const char *error,
                    json_t *answer)
{
    const char *code = json_string_value(json_object_get(answer, "errorCode"));
    const char *msg = json_string_value(json_object_get(answer, "message"));
    if (st == 0) {
        snprintf(out, size, "%s: no answer (%s)", what, error);
        return BASE_ERETRY;
    }
    if (st != 200) {
        if (msg != NULL) {
            snprintf(out, size, "%s: HTTP %ld: %.300s", what, st, msg);
        } else {
            snprintf(out, size, "%s: HTTP %ld", what, st);
        }
        return source_status_of(st);
    }
    if (answer == NULL) {
        snprintf(out, size, "%s: HTTP 200 but the answer is not JSON", what);
        return BASE_EINVAL;
    }
    snprintf(out, size, "%s: errorCode %.32s: %.300s", what, code != NULL ? code : "(none)",
             msg != NULL ? msg : "(no message)");
    return BASE_EINVAL;
}

/* Answers the call that waited for a login with the login's failure. */
static void fail_waiting(struct source *s, int status, const char *why)
{
    struct vendor *v = imp(s);
    void (*then)(struct source *) = v->then;
    v->then = NULL;
    s->logged_in = false;
    sodium_memzero(v->token, sizeof v->token);
    if (then == NULL) {
        source_answer_login(s, status, why);
    } else if (s->list_cb != NULL) {
        source_answer_list(s, status, why, NULL, NULL);
    } else if (s->bill_cb != NULL) {
        source_answer_bill(s, status, why, NULL);
    }
}

/* When a token whose answer said @expire_time stops being used: expire_time as epoch
 * milliseconds, epoch seconds or seconds to live (the documentation does not say
 * which), less a margin; two hours when absent. */
static uint64_t token_until(json_t *expire_time)
{
    uint64_t now = clock_wall_ms(), until;
    long long e = source_vendor_number(expire_time);
    if (e > 100000000000ll) {
        until = (uint64_t)e;
    } else if (e > 1000000000ll) {
        until = (uint64_t)e * 1000;
    } else if (e > 0) {
        until = now + (uint64_t)e * 1000;
    } else {
        until = now + TOKEN_TTL_DEFAULT_MS;
    }
    if (until <= now) {
        return now; /* used once, renewed on the next call */
    }
    /* Renewed a margin before (a tenth of a short life). */
    return until - ((until - now) / 10 < TOKEN_RENEW_MARGIN_MS ? (until - now) / 10
                                                                : TOKEN_RENEW_MARGIN_MS);
}

/* ---- Login: getAppToken.do, then login.do ---- */

static void login_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct vendor *v = imp(s);
    json_t *data = json_object_get(answer, "data");
    const char *token = json_string_value(json_object_get(data, "access_token"));
    void (*then)(struct source *) = v->then;
    char why[512];
    (void)arg;
    if (st != 200 || !envelope_ok(answer) || token == NULL || token[0] == '\0' ||
        strlen(token) >= TOKEN_MAX) {
        int status = describe(why, sizeof why, "POST /api/login.do", st, error, answer);
        if (st == 200 && envelope_ok(answer)) {
            snprintf(why, sizeof why, "POST /api/login.do: the answer has no usable "
                     "data.access_token");
        } else if (status == BASE_EINVAL) {
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, " (as user %.64s of tenantid %.64s)",
                     s->record->user, s->record->source_tenant);
            status = BASE_EREFUSED;
        }
        fail_waiting(s, status == BASE_ENOTFOUND ? BASE_EINVAL : status, why);
        return;
    }
    snprintf(v->token, sizeof v->token, "%s", token);
    s->logged_in = true;
    s->token_until_ms = token_until(json_object_get(data, "expire_time"));
    v->then = NULL;
    if (then != NULL) {
        then(s);
    } else {
        source_answer_login(s, 0, "");
    }
}

static void app_token_done(struct source *s, void *arg, long st, const char *error,
                           json_t *answer)
{
    json_t *data = json_object_get(answer, "data");
    const char *app_token = json_string_value(json_object_get(data, "app_token"));
    char url[SOURCE_URL_MAX], why[512];
    json_t *body;
    (void)arg;
    if (st != 200 || !envelope_ok(answer) || app_token == NULL || app_token[0] == '\0') {
        int status = describe(why, sizeof why, "POST /api/getAppToken.do", st, error, answer);
        if (st == 200 && envelope_ok(answer)) {
            snprintf(why, sizeof why, "POST /api/getAppToken.do: the answer has no "
                     "data.app_token");
        } else if (status == BASE_EINVAL) {
            /* The app's id or secret, its tenantid or accountId: refused. */
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, " (appId %.64s, tenantid %.64s)",
                     s->record->client_id, s->record->source_tenant);
            status = BASE_EREFUSED;
        } else if (status == BASE_ENOTFOUND) {
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, " (is %.256s the vendor system's base URL?)",
                     s->record->url);
            status = BASE_EINVAL;
        }
        fail_waiting(s, status, why);
        return;
    }
    body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", s->record->user, "apptoken",
                     app_token, "tenantid", s->record->source_tenant, "accountId",
                     s->record->account_id, "usertype", "UserName");
    make_url(s, url, sizeof url, "/api/login.do", false);
    source_call(s, "POST", url, NULL, body, login_done, NULL);
    json_decref(body);
}

static void request_token(struct source *s)
{
    char url[SOURCE_URL_MAX];
    json_t *body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "appId", s->record->client_id,
                             "appSecret", s->record->secret, "tenantid",
                             s->record->source_tenant, "accountId", s->record->account_id,
                             "language", "zh_CN");
    make_url(s, url, sizeof url, "/api/getAppToken.do", false);
    source_call(s, "POST", url, NULL, body, app_token_done, NULL);
    /* The body holds the secret: source_call() dumped (and will wipe) its copy. */
    sodium_memzero((char *)json_string_value(json_object_get(body, "appSecret")),
                   strlen(s->record->secret));
    json_decref(body);
}

static void vendor_login(struct source *s)
{
    imp(s)->then = NULL;
    request_token(s);
}

/* Runs @then once a token is held that is not about to expire. */
static void with_token(struct source *s, void (*then)(struct source *s))
{
    imp(s)->resent = false;
    if (s->logged_in && clock_wall_ms() < s->token_until_ms) {
        then(s);
        return;
    }
    imp(s)->then = then;
    request_token(s);
}

/* Whether a failed call looks like a refused token (HTTP 401, or an envelope that says
 * "token"): the token is dropped and, once per call, the call is made again after a
 * new login. True when it was. */
static bool token_refused_resend(struct source *s, long st, json_t *answer,
                                 void (*send)(struct source *s))
{
    const char *msg = json_string_value(json_object_get(answer, "message"));
    struct vendor *v = imp(s);
    if (!(st == 401 || (st == 200 && msg != NULL && strcasestr(msg, "token") != NULL))) {
        return false;
    }
    s->logged_in = false;
    if (v->resent) {
        return false;
    }
    v->resent = true;
    v->then = send;
    request_token(s);
    return true;
}

/* ---- The list ---- */

/* @ms as "yyyy-MM-dd HH:mm:ss" in UTC+08:00 into @out (20 bytes). */
static void vendor_time(uint64_t ms, char *out)
{
    char t[40];
    if (ms > 253402300799999ull - VENDOR_TZ_MS) {
        ms = 253402300799999ull - VENDOR_TZ_MS; /* at most 9999-12-31 23:59:59 */
    }
    clock_format_rfc3339(ms + VENDOR_TZ_MS, t, sizeof t);
    snprintf(out, 20, "%.10s %.8s", t, t + 11);
}

static void list_send(struct source *s);

static void list_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct vendor *v = imp(s);
    json_t *data = json_object_get(answer, "data");
    char why[512], what[300], next[24] = "";
    json_t *out;
    (void)arg;
    snprintf(what, sizeof what, "POST %.250s", v->path);
    if (st != 200 || !envelope_ok(answer)) {
        int status;
        if (token_refused_resend(s, st, answer, list_send)) {
            return;
        }
        status = describe(why, sizeof why, what, st, error, answer);
        if (status == BASE_ENOTFOUND) {
            size_t n = strlen(why);
            snprintf(why + n, sizeof why - n, " (the listing call is not at list_path %.200s "
                     "on this system: see docs/migration.md, \"The vendor listing call\")",
                     v->path);
            status = BASE_EINVAL;
        }
        source_answer_list(s, status, why, NULL, NULL);
        return;
    }
    if (source_vendor_map_list(data, what, v->page, v->limit, &out, next, why,
                               sizeof why) != 0) {
        source_answer_list(s, BASE_EINVAL, why, NULL, NULL);
        return;
    }
    source_answer_list(s, 0, "", out, next);
    json_decref(out);
}

static void list_send(struct source *s)
{
    struct vendor *v = imp(s);
    char url[SOURCE_URL_MAX];
    make_url(s, url, sizeof url, v->path, true);
    source_call(s, "POST", url, NULL, v->body, list_done, NULL);
}

static void vendor_list(struct source *s, const MigrationScope *scope, const char *cursor,
                        unsigned limit)
{
    struct vendor *v = imp(s);
    json_t *orgs = json_array(), *types = json_array();
    char from[20], to[20];
    v->page = 1;
    if (cursor[0] != '\0') {
        char *end;
        unsigned long p = strtoul(cursor, &end, 10);
        v->page = *end == '\0' && p > 0 && p < 10000000 ? (unsigned)p : 1;
    }
    v->limit = limit > 0 && limit <= PAGE_MAX ? limit : 100;
    vendor_time(scope != NULL && scope->from_ms > 0 ? scope->from_ms : 0, from);
    /* No end: now, and a day to spare for clocks. */
    vendor_time(scope != NULL && scope->to_ms > 0 ? scope->to_ms
                                                  : clock_wall_ms() + 86400000ull, to);
    for (size_t i = 0; scope != NULL && i < scope->n_orgs; i++) {
        json_array_append_new(orgs, json_string(scope->orgs[i]));
    }
    for (size_t i = 0; scope != NULL && i < scope->n_bill_types; i++) {
        json_array_append_new(types, json_string(scope->bill_types[i]));
    }
    json_decref(v->body);
    v->body = json_pack("{s:s, s:s, s:o, s:o, s:I, s:I}", "startTime", from, "endTime", to,
                        "orgCodes", orgs, "billTypes", types, "pageNo", (json_int_t)v->page,
                        "pageSize", (json_int_t)v->limit);
    snprintf(v->path, sizeof v->path, "%s",
             s->record->list_path != NULL && s->record->list_path[0] != '\0'
                 ? s->record->list_path
                 : DEFAULT_LIST_PATH);
    with_token(s, list_send);
}

/* ---- A bill: queryCover ---- */

static void bill_send(struct source *s);

static void cover_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct vendor *v = imp(s);
    json_t *data = json_object_get(answer, "data");
    json_t *listed = v->listed, *bill;
    char why[512];
    (void)arg;
    if (st != 200 || !envelope_ok(answer)) {
        int status;
        if (token_refused_resend(s, st, answer, bill_send)) {
            return;
        }
        status = describe(why, sizeof why, "POST /kapi/app/rim/queryCover", st, error, answer);
        v->listed = NULL;
        json_decref(listed);
        source_answer_bill(s, status, why, NULL);
        return;
    }
    if (source_vendor_map_bill(data, listed, &bill, why, sizeof why) != 0) {
        v->listed = NULL;
        json_decref(listed);
        source_answer_bill(s, BASE_EINVAL, why, NULL);
        return;
    }
    v->listed = NULL;
    json_decref(listed);
    source_answer_bill(s, 0, "", bill);
    json_decref(bill);
}

static void bill_send(struct source *s)
{
    struct vendor *v = imp(s);
    char url[SOURCE_URL_MAX];
    json_t *body = json_pack("{s:O, s:O}", "billType", json_object_get(v->listed, "bill_type"),
                             "billId", json_object_get(v->listed, "bill_id"));
    make_url(s, url, sizeof url, "/kapi/app/rim/queryCover", true);
    source_call(s, "POST", url, NULL, body, cover_done, NULL);
    json_decref(body);
}

static void later_cb(uv_timer_t *t)
{
    struct vendor *v = t->data;
    void (*deferred)(struct source *) = v->deferred;
    v->deferred = NULL;
    deferred(v->src);
}

/* Answers get_bill, for a bill whose state says it cannot come. */
static void bill_refused(struct source *s)
{
    struct vendor *v = imp(s);
    char why[300];
    snprintf(why, sizeof why, "%s", json_string_value(json_object_get(v->listed, "refused")));
    json_decref(v->listed);
    v->listed = NULL;
    source_answer_bill(s, BASE_EINVAL, why, NULL);
}

static void vendor_get_bill(struct source *s, const char *image_no, const json_t *listed)
{
    struct vendor *v = imp(s);
    json_decref(v->listed);
    v->listed = source_vendor_listed(image_no, listed);
    if (json_object_get(v->listed, "refused") != NULL) {
        /* Answered from the loop, never from inside the call. */
        v->deferred = bill_refused;
        uv_timer_start(&v->later, later_cb, 0, 0);
        return;
    }
    with_token(s, bill_send);
}

/* ---- A file's content: its localUrl ---- */

static int vendor_file_request(struct source *s, const json_t *file, char *url, size_t url_size,
                               char *header, size_t header_size, struct base_err *err)
{
    const char *u = json_string_value(json_object_get(file, "source_url"));
    (void)header;
    (void)header_size;
    if (u == NULL || u[0] == '\0') {
        base_err_set(err, "a file without localUrl");
        return BASE_EINVAL;
    }
    for (const char *p = u; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
            base_err_set(err, "the file's localUrl holds spaces or control characters");
            return BASE_EINVAL;
        }
    }
    if (strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0) {
        if (strlen(u) >= url_size) {
            base_err_set(err, "the file's localUrl is longer than %zu bytes", url_size - 1);
            return BASE_EINVAL;
        }
        snprintf(url, url_size, "%s", u);
    } else if (u[0] == '/') {
        /* A path on the source itself. */
        make_url(s, url, url_size, u, false);
        if (strlen(url) + 1 >= url_size) {
            base_err_set(err, "the file's localUrl is too long");
            return BASE_EINVAL;
        }
    } else {
        base_err_set(err, "the file's localUrl '%.200s' is neither an http(s) URL nor a path",
                     u);
        return BASE_EINVAL;
    }
    return 0;
}

static void vendor_init(struct source *s)
{
    struct vendor *v = xcalloc(1, sizeof *v);
    v->src = s;
    int rv = uv_timer_init(s->env.loop, &v->later);
    ASSERT(rv == 0);
    v->later.data = v;
    s->impl = v;
}

static void vendor_closed(uv_handle_t *h)
{
    free(h->data);
}

static void vendor_free(struct source *s)
{
    struct vendor *v = imp(s);
    if (v == NULL) {
        return;
    }
    json_decref(v->body);
    json_decref(v->listed);
    sodium_memzero(v->token, sizeof v->token);
    s->impl = NULL;
    uv_close((uv_handle_t *)&v->later, vendor_closed);
}

const struct source_ops source_vendor_ops = {
    .kind = "vendor",
    .init = vendor_init,
    .login = vendor_login,
    .list = vendor_list,
    .get_bill = vendor_get_bill,
    .file_request = vendor_file_request,
    .free = vendor_free,
};
