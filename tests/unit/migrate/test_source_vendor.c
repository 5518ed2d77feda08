/* The vendor data source kind (migrate/source_vendor.c) against the vendor fixture
 * server (tests/fixtures/vendor_source.py, a real HTTP server on loopback): login in
 * two steps, list pages and their cursor, the scope sent to the listing call, a bill's
 * files from queryCover in the native shape, a file's GET, and the statuses: refused
 * credentials, a bill the source cannot read, a dead port, and a token renewed before
 * it expires. Real libcurl client and outbound guard. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "base/mem.h"
#include "migrate/source.h"
#include "net/http_client.h"
#include "replication/outbound.h"
#include "tests/lib/testlib.h"

#define SECRET "vendor-unit-secret-42"

static const char SEED[] =
    "{\"app_id\": \"app1\", \"app_secret\": \"" SECRET "\", \"tenant_id\": \"tn1\","
    " \"users\": [\"erp\"], \"token_ttl_s\": %d, \"bills\": ["
    "{\"scanBillNo\": \"IMG-1\", \"billNo\": \"B1\", \"billType\": \"FYBX\","
    " \"orgCode\": \"ORG1\", \"createTime\": \"2026-03-01 10:00:00\", \"imageStatus\": 2,"
    " \"billId\": \"id-1\","
    " \"cover\": [{\"name\": \"IMG-1.pdf\", \"text\": \"%%PDF cover\", \"fileType\": 1}],"
    " \"attachment\": [{\"name\": \"Receipt.JPEG\", \"text\": \"jpeg\"}],"
    " \"invoice\": [{\"name\": \"inv\", \"text\": \"%%PDF inv\", \"fileType\": 1,"
    "   \"invoiceNo\": \"12345678\", \"amount\": \"100.00\"}]},"
    "{\"scanBillNo\": \"IMG-2\", \"billNo\": \"B2\", \"billType\": \"CLBX\","
    " \"orgCode\": \"ORG2\", \"createTime\": \"2026-04-01 09:30:00\", \"imageStatus\": 0,"
    " \"billId\": \"id-2\", \"cover_fails\": true}]}";

struct fx {
    uv_loop_t loop;
    struct http_client *http;
    struct outbound *guard;
    pid_t server;
    unsigned port;
    char url[64];
    struct source *src;
    /* The last answer. */
    bool done;
    int status;
    char message[1024];
    json_t *answer;
    char next[64];
};

static struct fx F;

/* Starts the fixture with a token life of @ttl_s seconds and reads its port. */
static void start_server(struct fx *f, int ttl_s)
{
    char seed_path[512], fixture[512], line[64];
    const char *dir = testlib_tmpdir();
    int pipefd[2];
    FILE *out;
    snprintf(seed_path, sizeof seed_path, "%s/seed.json", dir);
    out = fopen(seed_path, "w");
    assert_non_null(out);
    fprintf(out, SEED, ttl_s);
    fclose(out);
    snprintf(fixture, sizeof fixture, "%s", __FILE__);
    *strrchr(fixture, '/') = '\0';
    strcat(fixture, "/../../fixtures/vendor_source.py");
    assert_int_equal(pipe(pipefd), 0);
    f->server = fork();
    assert_true(f->server >= 0);
    if (f->server == 0) {
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        close(pipefd[1]);
        execlp("python3", "python3", fixture, seed_path, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    out = fdopen(pipefd[0], "r");
    assert_non_null(fgets(line, sizeof line, out));
    fclose(out);
    assert_int_equal(sscanf(line, "PORT %u", &f->port), 1);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u", f->port);
}

static int setup_ttl(void **state, int ttl_s)
{
    struct fx *f = &F;
    struct base_err err;
    const char *allow[] = {"127.0.0.1"};
    struct outbound_config oc = {allow, 1, NULL, 0};
    memset(f, 0, sizeof *f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(outbound_new(&f->guard, NULL, &oc, NULL, &err), 0);
    assert_int_equal(http_client_init(&f->http, &f->loop, &err), 0);
    start_server(f, ttl_s);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_ttl(state, 7200);
}

static int setup_short_tokens(void **state)
{
    return setup_ttl(state, 3);
}

static void closed(void *arg)
{
    *(bool *)arg = true;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    bool done = false;
    source_free(f->src);
    json_decref(f->answer);
    http_client_close(f->http, closed, &done);
    while (!done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    outbound_close(f->guard);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    outbound_free(f->guard);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    if (f->server > 0) {
        kill(f->server, SIGKILL);
        waitpid(f->server, NULL, 0);
    }
    return 0;
}

/* A source of the fixture with @secret (and its URL unless @url). */
static void make_source(struct fx *f, const char *secret, const char *url)
{
    DataSourceRecord r = DATA_SOURCE_RECORD__INIT;
    struct source_env env = {&f->loop, f->http, f->guard};
    struct base_err err;
    r.name = "old";
    r.tenant = "default";
    r.kind = "vendor";
    r.url = (char *)(url != NULL ? url : f->url);
    r.source_tenant = "tn1";
    r.client_id = "app1";
    r.secret = (char *)secret;
    r.user = "erp";
    r.list_path = "/kapi/app/bds/queryBillList";
    source_free(f->src);
    assert_int_equal(source_new(&f->src, &env, &r, &err), 0);
}

static void wait_answer(struct fx *f)
{
    while (!f->done) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
}

static void answered(struct fx *f, int status, const char *message, json_t *answer,
                     const char *next)
{
    f->done = true;
    f->status = status;
    snprintf(f->message, sizeof f->message, "%s", message);
    json_decref(f->answer);
    f->answer = answer != NULL ? json_deep_copy(answer) : NULL;
    snprintf(f->next, sizeof f->next, "%s", next != NULL ? next : "");
}

static void login_cb(void *arg, int status, const char *message)
{
    answered(arg, status, message, NULL, NULL);
}

static void list_cb(void *arg, int status, const char *message, json_t *bills,
                    const char *next)
{
    answered(arg, status, message, bills, next);
}

static void bill_cb(void *arg, int status, const char *message, json_t *bill)
{
    answered(arg, status, message, bill, NULL);
}

static int do_login(struct fx *f)
{
    f->done = false;
    source_login(f->src, login_cb, f);
    assert_false(f->done); /* never from inside the call */
    wait_answer(f);
    return f->status;
}

static int do_list(struct fx *f, const MigrationScope *scope, const char *cursor,
                   unsigned limit)
{
    f->done = false;
    source_list(f->src, scope, cursor, limit, list_cb, f);
    assert_false(f->done);
    wait_answer(f);
    return f->status;
}

static int do_bill(struct fx *f, const char *image_no, const json_t *listed)
{
    f->done = false;
    source_get_bill(f->src, image_no, listed, bill_cb, f);
    assert_false(f->done);
    wait_answer(f);
    return f->status;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (s == NULL) {
        fail_msg("no string \"%s\"", key);
    }
    return s;
}

/* GETs @path of the fixture: its answer into @buf (@size bytes). */
static void fixture_get(struct fx *f, const char *path, char *buf, size_t size)
{
    char cmd[256];
    FILE *p;
    size_t n;
    snprintf(cmd, sizeof cmd, "python3 -c \"import urllib.request,sys;"
             "sys.stdout.write(urllib.request.urlopen('%s%s').read().decode())\"", f->url,
             path);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(buf, 1, size - 1, p);
    pclose(p);
    buf[n] = '\0';
}

/* The count of @call in the fixture's GET /stats. */
static long long stat_of(struct fx *f, const char *call)
{
    char buf[4096];
    json_t *o;
    long long v;
    fixture_get(f, "/stats", buf, sizeof buf);
    o = json_loads(buf, 0, NULL);
    assert_non_null(o);
    v = json_integer_value(json_object_get(o, call));
    json_decref(o);
    return v;
}

static void lists_pages_and_reads_a_bill(void **state)
{
    struct fx *f = *state;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    json_t *b, *files, *file, *listed;
    char url[SOURCE_URL_MAX], header[256];
    struct base_err err;
    make_source(f, SECRET, NULL);
    assert_int_equal(do_login(f), 0);
    /* Page 1 of 2 (limit 1), then page 2, then the end. */
    assert_int_equal(do_list(f, &scope, "", 1), 0);
    assert_int_equal(json_array_size(f->answer), 1);
    b = json_array_get(f->answer, 0);
    assert_string_equal(str(b, "image_no"), "IMG-1");
    assert_string_equal(str(b, "bill_no"), "B1");
    assert_string_equal(str(b, "bill_type"), "FYBX");
    assert_string_equal(str(b, "org"), "ORG1");
    assert_string_equal(str(b, "state"), "ready"); /* imageStatus 2 */
    assert_string_equal(str(b, "created"), "2026-03-01T02:00:00.000Z"); /* UTC+08:00 */
    assert_string_equal(str(b, "source_ref"), "v1:2:1772330400000:id-1");
    assert_string_equal(f->next, "2");
    listed = json_incref(b);
    assert_int_equal(do_list(f, &scope, "2", 1), 0);
    assert_int_equal(json_array_size(f->answer), 1);
    assert_string_equal(str(json_array_get(f->answer, 0), "image_no"), "IMG-2");
    assert_string_equal(f->next, "");
    /* One login served all of it. */
    assert_int_equal(stat_of(f, "getAppToken"), 1);
    assert_int_equal(stat_of(f, "login"), 1);
    /* The bill, in the native shape, from what the runner keeps of its entry. */
    b = json_pack("{s:s, s:s, s:s, s:s, s:O}", "image_no", "IMG-1", "bill_no", "B1",
                  "bill_type", "FYBX", "org", "ORG1", "source_ref",
                  json_object_get(listed, "source_ref"));
    json_decref(listed);
    listed = b;
    assert_int_equal(do_bill(f, "IMG-1", listed), 0);
    json_decref(listed);
    assert_string_equal(str(f->answer, "state"), "ready");
    assert_string_equal(str(f->answer, "created"), "2026-03-01T02:00:00.000Z");
    assert_string_equal(str(f->answer, "fbill_id"), "id-1");
    assert_string_equal(str(f->answer, "image_no"), "IMG-1");
    assert_string_equal(str(f->answer, "bill_type"), "FYBX");
    assert_string_equal(str(f->answer, "org"), "ORG1");
    assert_true(json_is_array(json_object_get(f->answer, "log")));
    files = json_object_get(f->answer, "files");
    assert_int_equal(json_array_size(files), 3);
    file = json_array_get(files, 0);
    assert_string_equal(str(file, "file_id"), "IMG-1.cover-1");
    assert_string_equal(str(file, "category"), "cover");
    assert_string_equal(str(file, "format"), "pdf");
    assert_true(json_is_null(json_object_get(file, "blob")));
    file = json_array_get(files, 1);
    assert_string_equal(str(file, "category"), "attachment");
    assert_string_equal(str(file, "name"), "Receipt.JPEG");
    assert_string_equal(str(file, "format"), "jpg");
    file = json_array_get(files, 2);
    assert_string_equal(str(file, "category"), "invoice");
    assert_string_equal(str(file, "format"), "pdf"); /* from fileType 1 */
    assert_string_equal(str(json_object_get(file, "invoice"), "number"), "12345678");
    assert_string_equal(str(json_object_get(file, "invoice"), "amount"), "100.00");
    /* Its content: the localUrl, no header. */
    assert_int_equal(source_file_request(f->src, file, url, sizeof url, header, sizeof header,
                                         &err), 0);
    assert_non_null(strstr(url, f->url));
    assert_non_null(strstr(url, "/files/IMG-1-invoice-1/"));
    assert_string_equal(header, "");
    /* A file without localUrl. */
    json_object_del(file, "source_url");
    assert_int_equal(source_file_request(f->src, file, url, sizeof url, header, sizeof header,
                                         &err), BASE_EINVAL);
}

static void the_scope_reaches_the_listing_call(void **state)
{
    struct fx *f = *state;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    char *orgs[] = {"ORG2"};
    make_source(f, SECRET, NULL);
    scope.orgs = orgs;
    scope.n_orgs = 1;
    assert_int_equal(do_list(f, &scope, "", 10), 0);
    assert_int_equal(json_array_size(f->answer), 1);
    assert_string_equal(str(json_array_get(f->answer, 0), "image_no"), "IMG-2");
    /* From 2026-03-15 (UTC): bill 2 only; to 2026-03-15: bill 1 only. */
    scope.n_orgs = 0;
    scope.from_ms = 1773532800000ull;
    assert_int_equal(do_list(f, &scope, "", 10), 0);
    assert_int_equal(json_array_size(f->answer), 1);
    assert_string_equal(str(json_array_get(f->answer, 0), "image_no"), "IMG-2");
    scope.from_ms = 0;
    scope.to_ms = 1773532800000ull;
    assert_int_equal(do_list(f, &scope, "", 10), 0);
    assert_int_equal(json_array_size(f->answer), 1);
    assert_string_equal(str(json_array_get(f->answer, 0), "image_no"), "IMG-1");
}

static void failures_have_their_status(void **state)
{
    struct fx *f = *state;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    json_t *listed;
    /* A wrong secret: refused, the message names the call and the answer. */
    make_source(f, "not-the-secret", NULL);
    assert_int_equal(do_login(f), BASE_EREFUSED);
    assert_non_null(strstr(f->message, "getAppToken.do"));
    assert_non_null(strstr(f->message, "1001"));
    assert_null(strstr(f->message, "not-the-secret"));
    /* A call that needs the token fails with the login's reason. */
    assert_int_equal(do_list(f, &scope, "", 1), BASE_EREFUSED);
    /* A bill the source cannot read: unusable for that bill. */
    make_source(f, SECRET, NULL);
    listed = json_pack("{s:s, s:s}", "source_ref", "v1:0:0:id-2", "bill_type", "CLBX");
    assert_int_equal(do_bill(f, "IMG-2", listed), BASE_EINVAL);
    json_decref(listed);
    assert_non_null(strstr(f->message, "queryCover"));
    assert_non_null(strstr(f->message, "5000"));
    /* Unknown to the source. */
    listed = json_pack("{s:s}", "source_ref", "v1:1:0:nope");
    assert_int_equal(do_bill(f, "NOPE", listed), BASE_EINVAL);
    json_decref(listed);
    assert_non_null(strstr(f->message, "1004"));
    /* Deleted there, a status without a meaning, no entry of this kind: no call made. */
    listed = json_pack("{s:s}", "source_ref", "v1:11:0:id-1");
    assert_int_equal(do_bill(f, "IMG-1", listed), BASE_EINVAL);
    json_decref(listed);
    assert_non_null(strstr(f->message, "deleted at the source"));
    listed = json_pack("{s:s}", "source_ref", "v1:7:0:id-1");
    assert_int_equal(do_bill(f, "IMG-1", listed), BASE_EINVAL);
    json_decref(listed);
    assert_non_null(strstr(f->message, "imageStatus 7"));
    assert_int_equal(do_bill(f, "IMG-1", NULL), BASE_EINVAL);
    assert_int_equal(stat_of(f, "queryCover"), 2);
    /* Nobody there: try again later. */
    make_source(f, SECRET, "http://127.0.0.1:1");
    assert_int_equal(do_login(f), BASE_ERETRY);
    assert_non_null(strstr(f->message, "no answer"));
}

static void tokens_are_renewed_before_they_expire(void **state)
{
    struct fx *f = *state;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    make_source(f, SECRET, NULL);
    assert_int_equal(do_list(f, &scope, "", 1), 0);
    assert_int_equal(do_list(f, &scope, "", 1), 0);
    assert_int_equal(stat_of(f, "login"), 1);
    /* A 3 s token is used for 2.7 s: renewed, never refused. */
    sleep(3);
    assert_int_equal(do_list(f, &scope, "", 1), 0);
    assert_int_equal(stat_of(f, "login"), 2);
    assert_int_equal(stat_of(f, "getAppToken"), 2);
    assert_int_equal(stat_of(f, "refused"), 0);
}

static void a_refused_token_logs_in_again_once(void **state)
{
    struct fx *f = *state;
    MigrationScope scope = MIGRATION_SCOPE__INIT;
    json_t *listed;
    char buf[256];
    make_source(f, SECRET, NULL);
    assert_int_equal(do_list(f, &scope, "", 1), 0);
    /* The vendor forgets its tokens: the next call is refused, logs in and is sent
     * again, unseen by the caller. */
    fixture_get(f, "/revoke-tokens", buf, sizeof buf);
    assert_non_null(strstr(buf, "revoked"));
    assert_int_equal(do_list(f, &scope, "2", 1), 0);
    assert_string_equal(str(json_array_get(f->answer, 0), "image_no"), "IMG-2");
    assert_int_equal(stat_of(f, "login"), 2);
    assert_int_equal(stat_of(f, "refused"), 1);
    fixture_get(f, "/revoke-tokens", buf, sizeof buf);
    listed = json_pack("{s:s}", "source_ref", "v1:2:0:id-1");
    assert_int_equal(do_bill(f, "IMG-1", listed), 0);
    json_decref(listed);
    assert_int_equal(json_array_size(json_object_get(f->answer, "files")), 3);
    assert_int_equal(stat_of(f, "login"), 3);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(a_refused_token_logs_in_again_once, setup, teardown),
    cmocka_unit_test_setup_teardown(lists_pages_and_reads_a_bill, setup, teardown),
    cmocka_unit_test_setup_teardown(the_scope_reaches_the_listing_call, setup, teardown),
    cmocka_unit_test_setup_teardown(failures_have_their_status, setup, teardown),
    cmocka_unit_test_setup_teardown(tokens_are_renewed_before_they_expire, setup_short_tokens,
                                    teardown),
};

TESTLIB_MAIN("source_vendor", tests)
