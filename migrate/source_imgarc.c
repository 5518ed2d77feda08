/* Kind "imgarc": another imgarc cluster read through its native API (docs/API.md) with
 * a business-system client's credentials: POST /api/v1/auth/token, then the bill list
 * (GET /api/v1/bills with created_from/created_to and its cursor), a bill
 * (GET /api/v1/bills/{no}) with its history (GET /api/v1/bills/{no}/log), and each
 * file's content (GET /api/v1/files/{id}/content). Its answers are the shapes
 * source.h promises already; this file checks them and adds the history. */
#include "migrate/source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define TOKEN_HEADER_MAX 2200
#define TOKEN_RENEW_MARGIN_MS 60000 /* a token is renewed this long before it expires */

struct imgarc {
    char header[TOKEN_HEADER_MAX]; /* "Authorization: Bearer ..." */
    /* The call waiting for a token. */
    void (*then)(struct source *s);
    /* list / get_bill arguments */
    char url[SOURCE_URL_MAX];
    char image_no[ARCHIVE_ID_MAX + 1];
    json_t *bill;
};

static struct imgarc *imp(struct source *s)
{
    return s->impl;
}

/* The source's error message from an imgarc error answer, else the HTTP status. */
static void describe(char *out, size_t size, const char *what, long st, const char *error,
                     json_t *answer)
{
    const char *msg = json_string_value(json_object_get(answer, "message"));
    if (st == 0) {
        snprintf(out, size, "%s: no answer (%s)", what, error);
    } else if (msg != NULL) {
        snprintf(out, size, "%s: HTTP %ld: %.300s", what, st, msg);
    } else {
        snprintf(out, size, "%s: HTTP %ld", what, st);
    }
}

/* ---- Login ---- */

static void token_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct imgarc *im = imp(s);
    void (*then)(struct source *) = im->then;
    char why[512];
    const char *token = json_string_value(json_object_get(answer, "access_token"));
    const char *tenant = json_string_value(json_object_get(answer, "tenant"));
    json_int_t ttl = json_integer_value(json_object_get(answer, "expires_in"));
    int status = 0;
    (void)arg;
    im->then = NULL;
    if (st != 200 || token == NULL || strlen(token) > TOKEN_HEADER_MAX - 32) {
        describe(why, sizeof why, "POST /api/v1/auth/token", st, error, answer);
        status = st == 200 ? BASE_EINVAL : source_status_of(st);
        if (status == BASE_ENOTFOUND) {
            snprintf(why + strlen(why), sizeof why - strlen(why),
                     " (is %s an imgarc node?)", s->record->url);
            status = BASE_EINVAL;
        }
    } else if (s->record->source_tenant != NULL && s->record->source_tenant[0] != '\0' &&
               (tenant == NULL || strcmp(tenant, s->record->source_tenant) != 0)) {
        snprintf(why, sizeof why, "client %.64s belongs to tenant %.64s at the source, not %.64s",
                 s->record->client_id, tenant != NULL ? tenant : "?", s->record->source_tenant);
        status = BASE_EREFUSED;
    }
    if (status != 0) {
        s->logged_in = false;
        if (then != NULL) {
            /* A call that needed the token fails with the login's reason. */
            if (s->list_cb != NULL) {
                source_answer_list(s, status, why, NULL, NULL);
            } else if (s->bill_cb != NULL) {
                source_answer_bill(s, status, why, NULL);
            }
        } else {
            source_answer_login(s, status, why);
        }
        return;
    }
    snprintf(im->header, sizeof im->header, "Authorization: Bearer %s", token);
    s->logged_in = true;
    s->token_until_ms = clock_wall_ms() + (ttl > 0 ? (uint64_t)ttl * 1000 : 600000);
    s->token_until_ms -= s->token_until_ms > TOKEN_RENEW_MARGIN_MS * 2 ? TOKEN_RENEW_MARGIN_MS : 0;
    if (then != NULL) {
        then(s);
    } else {
        source_answer_login(s, 0, "");
    }
}

static void request_token(struct source *s)
{
    char url[SOURCE_URL_MAX];
    json_t *body = json_pack("{s:s, s:s}", "client_id", s->record->client_id,
                             "client_secret", s->record->secret);
    source_url(s, url, sizeof url, "/api/v1/auth/token");
    source_call(s, "POST", url, NULL, body, token_done, NULL);
    json_decref(body);
}

static void imgarc_login(struct source *s)
{
    imp(s)->then = NULL;
    request_token(s);
}

/* Runs @then once a fresh token is held. */
static void with_token(struct source *s, void (*then)(struct source *s))
{
    if (s->logged_in && clock_wall_ms() < s->token_until_ms) {
        then(s);
        return;
    }
    imp(s)->then = then;
    request_token(s);
}

/* ---- The list ---- */

static void list_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    json_t *bills = json_object_get(answer, "bills");
    json_t *next = json_object_get(answer, "next_cursor");
    char why[512];
    size_t i;
    json_t *b;
    (void)arg;
    if (st == 401) {
        s->logged_in = false; /* the next call logs in again */
    }
    if (st != 200 || !json_is_array(bills) || !(json_is_string(next) || json_is_null(next))) {
        describe(why, sizeof why, "GET /api/v1/bills", st, error, answer);
        source_answer_list(s, st == 200 ? BASE_EINVAL : source_status_of(st), why, NULL, NULL);
        return;
    }
    json_array_foreach(bills, i, b) {
        if (!json_is_string(json_object_get(b, "image_no"))) {
            source_answer_list(s, BASE_EINVAL, "GET /api/v1/bills: a bill without image_no",
                               NULL, NULL);
            return;
        }
    }
    source_answer_list(s, 0, "", bills, json_is_string(next) ? json_string_value(next) : "");
}

static void list_send(struct source *s)
{
    source_call(s, "GET", imp(s)->url, imp(s)->header, NULL, list_done, NULL);
}

static void imgarc_list(struct source *s, const MigrationScope *scope, const char *cursor,
                        unsigned limit)
{
    struct imgarc *im = imp(s);
    char t[40];
    source_url(s, im->url, sizeof im->url, "/api/v1/bills?limit=");
    snprintf(im->url + strlen(im->url), sizeof im->url - strlen(im->url), "%u",
             limit > 0 && limit <= 1000 ? limit : 100);
    if (scope != NULL && scope->from_ms > 0) {
        clock_format_rfc3339(scope->from_ms, t, sizeof t);
        strcat(im->url, "&created_from=");
        source_url_escape(im->url, sizeof im->url, t);
    }
    if (scope != NULL && scope->to_ms > 0) {
        clock_format_rfc3339(scope->to_ms, t, sizeof t);
        strcat(im->url, "&created_to=");
        source_url_escape(im->url, sizeof im->url, t);
    }
    if (scope != NULL && scope->updated_from_ms > 0) {
        clock_format_rfc3339(scope->updated_from_ms, t, sizeof t);
        strcat(im->url, "&updated_from=");
        source_url_escape(im->url, sizeof im->url, t);
    }
    if (scope != NULL && scope->updated_to_ms > 0) {
        clock_format_rfc3339(scope->updated_to_ms, t, sizeof t);
        strcat(im->url, "&updated_to=");
        source_url_escape(im->url, sizeof im->url, t);
    }
    /* One organisation or bill type narrows the source's own scan. */
    if (scope != NULL && scope->n_orgs == 1) {
        strcat(im->url, "&org=");
        source_url_escape(im->url, sizeof im->url, scope->orgs[0]);
    }
    if (scope != NULL && scope->n_bill_types == 1) {
        strcat(im->url, "&bill_type=");
        source_url_escape(im->url, sizeof im->url, scope->bill_types[0]);
    }
    if (cursor[0] != '\0') {
        strcat(im->url, "&cursor=");
        source_url_escape(im->url, sizeof im->url, cursor);
    }
    with_token(s, list_send);
}

/* ---- A bill and its history ---- */

static void log_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct imgarc *im = imp(s);
    json_t *entries = json_object_get(answer, "entries");
    json_t *bill = im->bill;
    char why[512];
    (void)arg;
    im->bill = NULL;
    if (st != 200 || !json_is_array(entries)) {
        describe(why, sizeof why, "GET /api/v1/bills/{image_no}/log", st, error, answer);
        json_decref(bill);
        source_answer_bill(s, st == 200 ? BASE_EINVAL : source_status_of(st), why, NULL);
        return;
    }
    json_object_set(bill, "log", entries);
    source_answer_bill(s, 0, "", bill);
    json_decref(bill);
}

static void bill_done(struct source *s, void *arg, long st, const char *error, json_t *answer)
{
    struct imgarc *im = imp(s);
    char why[512];
    (void)arg;
    if (st == 401) {
        s->logged_in = false;
    }
    if (st != 200 || !json_is_array(json_object_get(answer, "files")) ||
        !json_is_string(json_object_get(answer, "image_no"))) {
        describe(why, sizeof why, "GET /api/v1/bills/{image_no}", st, error, answer);
        source_answer_bill(s, st == 200 ? BASE_EINVAL : source_status_of(st), why, NULL);
        return;
    }
    im->bill = json_incref(answer);
    source_url(s, im->url, sizeof im->url, "/api/v1/bills/");
    source_url_escape(im->url, sizeof im->url, im->image_no);
    strcat(im->url, "/log");
    source_call(s, "GET", im->url, im->header, NULL, log_done, NULL);
}

static void bill_send(struct source *s)
{
    struct imgarc *im = imp(s);
    source_url(s, im->url, sizeof im->url, "/api/v1/bills/");
    source_url_escape(im->url, sizeof im->url, im->image_no);
    source_call(s, "GET", im->url, im->header, NULL, bill_done, NULL);
}

static void imgarc_get_bill(struct source *s, const char *image_no, const json_t *listed)
{
    (void)listed;
    snprintf(imp(s)->image_no, sizeof imp(s)->image_no, "%s", image_no);
    with_token(s, bill_send);
}

/* ---- A file's content ---- */

static int imgarc_file_request(struct source *s, const json_t *file, char *url, size_t url_size,
                               char *header, size_t header_size, struct base_err *err)
{
    const char *id = json_string_value(json_object_get(file, "file_id"));
    if (id == NULL || id[0] == '\0') {
        base_err_set(err, "a file without file_id");
        return BASE_EINVAL;
    }
    if (!s->logged_in) {
        base_err_set(err, "not logged in to the source");
        return BASE_ERETRY;
    }
    source_url(s, url, url_size, "/api/v1/files/");
    source_url_escape(url, url_size, id);
    if (strlen(url) + 9 >= url_size) {
        base_err_set(err, "the file's URL is too long");
        return BASE_EINVAL;
    }
    strcat(url, "/content");
    snprintf(header, header_size, "%s", imp(s)->header);
    return 0;
}

static void imgarc_free(struct source *s)
{
    struct imgarc *im = imp(s);
    if (im == NULL) {
        return;
    }
    json_decref(im->bill);
    sodium_memzero(im->header, sizeof im->header);
    free(im);
    s->impl = NULL;
}

static void imgarc_init(struct source *s);

const struct source_ops source_imgarc_ops = {
    .kind = "imgarc",
    .init = imgarc_init,
    .login = imgarc_login,
    .list = imgarc_list,
    .get_bill = imgarc_get_bill,
    .file_request = imgarc_file_request,
    .free = imgarc_free,
};

static void imgarc_init(struct source *s)
{
    s->impl = xcalloc(1, sizeof(struct imgarc));
}
