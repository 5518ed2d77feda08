/* Kind "vendor": a system speaking the incumbent's API (/work/shared/VENDOR-API.md,
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

#include <ctype.h>
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
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s->record->url);
    while (n > 0 && s->record->url[n - 1] == '/') {
        n--;
    }
    snprintf(out, size, "%.*s%s", (int)n, s->record->url, path);
    if (!with_token) {
        return;
    }
    n = strlen(out);
    if (n + 16 >= size) {
        return;
    }
    memcpy(out + n, "?access_token=", 15);
    n += 14;
    for (const char *v = imp(s)->token; *v != '\0' && n + 4 < size; v++) {
        unsigned char c = (unsigned char)*v;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out[n++] = (char)c;
        } else {
            out[n++] = '%';
            out[n++] = hex[c >> 4];
            out[n++] = hex[c & 15];
        }
    }
    out[n] = '\0';
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

/* A numeric field given as a number or a string of digits; -1 otherwise. */
static long long number_of(json_t *v)
{
    if (json_is_integer(v)) {
        return json_integer_value(v);
    }
    if (json_is_real(v)) {
        return (long long)json_real_value(v);
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 20) {
        char *end;
        long long n = strtoll(json_string_value(v), &end, 10);
        return *end == '\0' ? n : -1;
    }
    return -1;
}

/* When a token whose answer said @expire_time stops being used: expire_time as epoch
 * milliseconds, epoch seconds or seconds to live (the documentation does not say
 * which), less a margin; two hours when absent. */
static uint64_t token_until(json_t *expire_time)
{
    uint64_t now = clock_wall_ms(), until;
    long long e = number_of(expire_time);
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
    clock_format_rfc3339(ms + VENDOR_TZ_MS, t, sizeof t);
    snprintf(out, 20, "%.10s %.8s", t, t + 11);
}

/* The vendor's createTime (that form, RFC 3339, or epoch milliseconds) as RFC 3339
 * UTC into @out (40 bytes); false when it is none of them. */
static bool created_time(json_t *v, char *out)
{
    long long ms = -1;
    if (json_is_integer(v)) {
        ms = json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char t[40];
        if (strlen(s) == 19 && s[10] == ' ') {
            snprintf(t, sizeof t, "%.10sT%.8s+08:00", s, s + 11);
            ms = clock_parse_rfc3339(t);
        } else {
            ms = clock_parse_rfc3339(s);
        }
    }
    if (ms < 0) {
        return false;
    }
    clock_format_rfc3339((uint64_t)ms, out, 40);
    return true;
}

/* A text field given as a string or a number ("" otherwise) into @buf (@size). */
static const char *text_of(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v)) {
        return json_string_value(v);
    }
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return "";
}

/* The vendor's imageStatus as imgarc's bill state: the inverse of the table of
 * api/vendor_bills.c (docs/integrators.md), with the vendor's own recognised (9) and
 * matched (10) read as submitted; deleted (11) and numbers without a known meaning
 * have none (docs/migration.md). */
static const struct {
    int number;
    const char *state;
} STATUS_STATES[] = {
    {0, "captured"},   {1, "submitted"},  {2, "ready"},          {3, "returned"},
    {4, "submitted"},  {5, "erp_failed"}, {9, "submitted"},      {10, "submitted"},
    {12, "pending_upload"}, {13, "erp_submitted"},
};

static const char *state_of_status(long long number)
{
    for (size_t i = 0; i < ARRAY_SIZE(STATUS_STATES); i++) {
        if (STATUS_STATES[i].number == number) {
            return STATUS_STATES[i].state;
        }
    }
    return NULL;
}

/* What a bill's list entry keeps for get_bill (the runner stores it as the bill's
 * source_ref): "v1:<imageStatus or ->:<created ms>:<billId>". */
static void make_ref(char *out, size_t size, long long status, long long created_ms,
                     const char *bill_id)
{
    if (status >= 0) {
        snprintf(out, size, "v1:%lld:%lld:%s", status, created_ms, bill_id);
    } else {
        snprintf(out, size, "v1:-:%lld:%s", created_ms, bill_id);
    }
}

/* Reads a source_ref of make_ref(); false when @ref is not one. */
static bool read_ref(const char *ref, long long *status, long long *created_ms,
                     const char **bill_id)
{
    char *end;
    if (ref == NULL || strncmp(ref, "v1:", 3) != 0) {
        return false;
    }
    ref += 3;
    if (*ref == '-') {
        *status = -1;
        end = (char *)ref + 1;
    } else {
        *status = strtoll(ref, &end, 10);
        if (end == ref) {
            return false;
        }
    }
    if (*end != ':') {
        return false;
    }
    ref = end + 1;
    *created_ms = strtoll(ref, &end, 10);
    if (end == ref || *end != ':') {
        return false;
    }
    *bill_id = end + 1;
    return true;
}

static void list_send(struct source *s);

static void list_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct vendor *v = imp(s);
    json_t *data = json_object_get(answer, "data");
    json_t *bills = json_object_get(data, "bills");
    long long total = number_of(json_object_get(data, "total"));
    char why[512], what[300], next[24] = "";
    json_t *out, *b;
    size_t i;
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
    if (!json_is_array(bills)) {
        snprintf(why, sizeof why, "%s: the answer has no data.bills list", what);
        source_answer_list(s, BASE_EINVAL, why, NULL, NULL);
        return;
    }
    out = json_array();
    json_array_foreach(bills, i, b) {
        const char *image_no = json_string_value(json_object_get(b, "scanBillNo"));
        char created[40] = "", n1[24], n2[24], n3[24], n5[24];
        if (image_no == NULL || image_no[0] == '\0') {
            snprintf(why, sizeof why, "%s: bill %zu of page %u has no scanBillNo", what, i,
                     v->page);
            json_decref(out);
            source_answer_list(s, BASE_EINVAL, why, NULL, NULL);
            return;
        }
        if (json_object_get(b, "createTime") != NULL &&
            !created_time(json_object_get(b, "createTime"), created)) {
            snprintf(why, sizeof why, "%s: bill %.64s: createTime is not \"yyyy-MM-dd "
                     "HH:mm:ss\", RFC 3339 or epoch milliseconds", what, image_no);
            json_decref(out);
            source_answer_list(s, BASE_EINVAL, why, NULL, NULL);
            return;
        }
        {
            long long status = number_of(json_object_get(b, "imageStatus"));
            const char *state = state_of_status(status);
            char ref[300], raw[40];
            make_ref(ref, sizeof ref, status,
                     created[0] != '\0' ? clock_parse_rfc3339(created) : 0,
                     text_of(json_object_get(b, "billId"), n5, sizeof n5));
            if (state == NULL) {
                snprintf(raw, sizeof raw, status >= 0 ? "imageStatus %lld" : "", status);
                state = raw;
            }
            json_array_append_new(
                out, json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:s}", "image_no", image_no,
                               "bill_no", text_of(json_object_get(b, "billNo"), n1, sizeof n1),
                               "bill_type",
                               text_of(json_object_get(b, "billType"), n2, sizeof n2), "org",
                               text_of(json_object_get(b, "orgCode"), n3, sizeof n3), "state",
                               state, "created",
                               created[0] != '\0' ? json_string(created) : json_null(),
                               "source_ref", ref));
        }
    }
    /* More pages while this one was full and the total says there are more. */
    if (json_array_size(bills) > 0 &&
        (total < 0 ? json_array_size(bills) >= v->limit
                   : (long long)v->page * v->limit < total)) {
        snprintf(next, sizeof next, "%u", v->page + 1);
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

/* The extension of @name (lower case, at most 7 bytes) into @out, or "". */
static void extension_of(const char *name, char *out, size_t size)
{
    const char *dot = strrchr(name, '.');
    const char *q = dot != NULL ? dot + 1 : "";
    size_t n = 0;
    out[0] = '\0';
    if (dot == NULL || strchr(dot, '/') != NULL) {
        return;
    }
    for (; q[n] != '\0' && q[n] != '?' && q[n] != '#' && n + 1 < size && n < 7; n++) {
        if (!isalnum((unsigned char)q[n])) {
            out[0] = '\0';
            return;
        }
        out[n] = (char)tolower((unsigned char)q[n]);
    }
    out[n] = '\0';
    if (q[n] != '\0' && q[n] != '?' && q[n] != '#') {
        out[0] = '\0';
    }
}

/* The format of a vendor file: its name's or URL's extension, else fileType 1 "pdf";
 * "" when nothing says (the runner reads the content). */
static void format_of(json_t *f, const char *name, const char *url, char *out, size_t size)
{
    extension_of(name, out, size);
    if (out[0] == '\0') {
        extension_of(url, out, size);
    }
    if (strcmp(out, "jpeg") == 0) {
        snprintf(out, size, "jpg");
    } else if (strcmp(out, "tif") == 0) {
        snprintf(out, size, "tiff");
    }
    if (out[0] == '\0' && number_of(json_object_get(f, "fileType")) == 1) {
        snprintf(out, size, "pdf");
    }
}

/* The native invoice object of a vendor invoice entry (its "invoice" object when it is
 * one already, else its flat fields), or null. */
static json_t *invoice_of(json_t *f)
{
    static const char *const flat[][2] = {
        {"number", "invoiceNo"}, {"code", "invoiceCode"}, {"date", "invoiceDate"},
        {"amount", "amount"},    {"tax", "taxAmount"},    {"total", "totalAmount"},
    };
    json_t *inv = json_object_get(f, "invoice");
    json_t *o;
    bool any = false;
    if (json_is_object(inv)) {
        return json_incref(inv);
    }
    o = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(flat); i++) {
        char buf[24];
        const char *t = text_of(json_object_get(f, flat[i][1]), buf, sizeof buf);
        if (json_is_real(json_object_get(f, flat[i][1]))) {
            snprintf(buf, sizeof buf, "%.2f", json_real_value(json_object_get(f, flat[i][1])));
            t = buf;
        }
        json_object_set_new(o, flat[i][0], json_string(t));
        any = any || t[0] != '\0';
    }
    if (!any) {
        json_decref(o);
        return json_null();
    }
    json_object_set_new(o, "seller_tax_no", json_string(""));
    json_object_set_new(o, "buyer_tax_no", json_string(""));
    return o;
}

/* Appends the files of queryCover list @key (category @category) to @files; false
 * with @why when an entry is unusable. */
static bool map_files(json_t *data, const char *key, const char *category,
                      const char *image_no, json_t *files, char *why, size_t size)
{
    json_t *list = json_object_get(data, key), *f;
    size_t i;
    if (list == NULL || json_is_null(list)) {
        return true;
    }
    if (!json_is_array(list)) {
        snprintf(why, size, "POST /kapi/app/rim/queryCover: data.%s is not a list", key);
        return false;
    }
    json_array_foreach(list, i, f) {
        const char *url = json_string_value(json_object_get(f, "localUrl"));
        const char *name = NULL;
        const char *names[] = {"fileName", "attachmentName", "invoiceName", "coverNo"};
        char id[128], buf[24], format[8], fallback[96];
        long long pos = number_of(json_object_get(f, "serialNo"));
        json_t *file;
        if (url == NULL || url[0] == '\0') {
            snprintf(why, size, "POST /kapi/app/rim/queryCover: %s %zu has no localUrl", key,
                     i + 1);
            return false;
        }
        for (size_t n = 0; n < ARRAY_SIZE(names) && (name == NULL || name[0] == '\0'); n++) {
            name = json_string_value(json_object_get(f, names[n]));
        }
        format_of(f, name != NULL ? name : "", url, format, sizeof format);
        if (name == NULL || name[0] == '\0') {
            snprintf(fallback, sizeof fallback, "%s-%zu%s%s", category, i + 1,
                     format[0] != '\0' ? "." : "", format);
            name = fallback;
        }
        /* The source's id of the file when it gives one, else its place in the answer,
         * after the bill's image number: a vendor's file ids may be per bill. */
        if (text_of(json_object_get(f, "fileId"), buf, sizeof buf)[0] != '\0') {
            snprintf(id, sizeof id, "%.40s.%.50s", image_no,
                     text_of(json_object_get(f, "fileId"), buf, sizeof buf));
        } else {
            snprintf(id, sizeof id, "%.64s.%s-%zu", image_no, category, i + 1);
        }
        file = json_pack("{s:s, s:s, s:s, s:n, s:s, s:I, s:i, s:o, s:n, s:[], s:n, s:s}",
                         "file_id", id, "name", name, "format", format, "size", "category",
                         category, "position",
                         (json_int_t)(pos >= 0 ? pos : (long long)json_array_size(files) + 1),
                         "rotation", 0, "invoice",
                         strcmp(category, "invoice") == 0 ? invoice_of(f) : json_null(), "blob",
                         "parts", "merged_into", "source_url", url);
        json_array_append_new(files, file);
    }
    return true;
}

static void bill_send(struct source *s);

static void cover_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct vendor *v = imp(s);
    json_t *data = json_object_get(answer, "data");
    json_t *listed = v->listed, *bill, *files;
    char why[512];
    const char *created, *image_no;
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
    files = json_array();
    image_no = json_string_value(json_object_get(listed, "image_no"));
    if (!json_is_object(data) ||
        !map_files(data, "cover", "cover", image_no, files, why, sizeof why) ||
        !map_files(data, "attachment", "attachment", image_no, files, why, sizeof why) ||
        !map_files(data, "invoice", "invoice", image_no, files, why, sizeof why)) {
        if (!json_is_object(data)) {
            snprintf(why, sizeof why, "POST /kapi/app/rim/queryCover: the answer has no data");
        }
        json_decref(files);
        v->listed = NULL;
        json_decref(listed);
        source_answer_bill(s, BASE_EINVAL, why, NULL);
        return;
    }
    created = json_string_value(json_object_get(listed, "created"));
    /* The ERP's id of the bill is its fbillId here, as erpBillPush would have set it. */
    bill = json_pack("{s:O, s:O, s:O, s:O, s:O, s:o, s:O, s:o, s:[]}", "image_no",
                     json_object_get(listed, "image_no"), "bill_no",
                     json_object_get(listed, "bill_no"), "bill_type",
                     json_object_get(listed, "bill_type"), "org", json_object_get(listed, "org"),
                     "state", json_object_get(listed, "state"), "created",
                     created != NULL ? json_string(created) : json_null(), "fbill_id",
                     json_object_get(listed, "bill_id"), "files", files, "log");
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
    const char *keys[] = {"bill_no", "bill_type", "org"};
    const char *ref = json_string_value(json_object_get(listed, "source_ref"));
    const char *bill_id = NULL, *state = NULL;
    long long status = -1, created_ms = 0;
    char t[40];
    json_decref(v->listed);
    v->listed = json_object();
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
        const char *x = json_string_value(json_object_get(listed, keys[i]));
        json_object_set_new(v->listed, keys[i], json_string(x != NULL ? x : ""));
    }
    json_object_set_new(v->listed, "image_no", json_string(image_no));
    if (read_ref(ref, &status, &created_ms, &bill_id)) {
        state = state_of_status(status);
        if (created_ms > 0) {
            clock_format_rfc3339((uint64_t)created_ms, t, sizeof t);
            json_object_set_new(v->listed, "created", json_string(t));
        }
        if (state == NULL) {
            char why[200];
            if (status == 11) {
                snprintf(why, sizeof why, "bill %.64s is deleted at the source (imageStatus 11)",
                         image_no);
            } else {
                snprintf(why, sizeof why, "bill %.64s has imageStatus %lld at the source, which "
                         "has no imgarc state (docs/migration.md)", image_no, status);
            }
            json_object_set_new(v->listed, "refused", json_string(why));
        }
    } else {
        /* Not listed by this adapter: no state to say. */
        json_object_set_new(v->listed, "refused",
                            json_string("the bill's list entry has no vendor source_ref (list "
                                        "the batch again)"));
    }
    json_object_set_new(v->listed, "state", json_string(state != NULL ? state : ""));
    /* Without the vendor's bill id, its image number (imgarc's own queryCover takes
     * either). */
    json_object_set_new(v->listed, "bill_id",
                        json_string(bill_id != NULL && bill_id[0] != '\0' ? bill_id : image_no));
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
