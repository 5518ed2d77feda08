/* migrations: the tenant's migration batches (create, list, show, start, pause, resume,
 * retry, cancel), their bills (skip, unskip, bills) and their log (log, or its CSV
 * export streamed to stdout or a file). docs/migration.md, docs/API.md. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_CHARS 64 /* batch numbers and data source names */
#define SKIP_MAX 1000

/* A batch number or data source name: 1-64 of the id alphabet, not starting with '.'. */
static int check_name(const char *cmd, const char *what, const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > NAME_MAX_CHARS || strspn(s, KEY_ALPHABET) != len || s[0] == '.') {
        return usage_error(cmd, "%s '%s' must be 1-%d characters of A-Z a-z 0-9 . _ - (not "
                                "starting with .)",
                           what, s, NAME_MAX_CHARS);
    }
    return 0;
}

/* ---- The batch, printed ---- */

static void put_counts(const json_t *c)
{
    char bytes[32], moved[32];
    human_bytes((uint64_t)jint(c, "bytes"), bytes, sizeof bytes);
    human_bytes((uint64_t)jint(c, "bytes_moved"), moved, sizeof moved);
    printf("%-10s %lld: %lld pending, %lld migrated, %lld failed, %lld skipped (%lld "
           "checked)\n",
           "bills", jint(c, "bills"), jint(c, "pending"), jint(c, "migrated"),
           jint(c, "failed"), jint(c, "skipped"), jint(c, "checked"));
    printf("%-10s %lld of %lld moved, %s of %s\n", "files", jint(c, "files_moved"),
           jint(c, "files"), moved, bytes);
}

static void print_batch(const json_t *b)
{
    const json_t *scope = json_object_get(b, "scope");
    put_field("batch", jstr(b, "batch_no"));
    put_field("datasource", jstr(b, "datasource"));
    put_field("state", jstr(b, "state"));
    if (jstr(b, "phase")[0] != '\0') {
        put_field("phase", jstr(b, "phase"));
    }
    if (jstr(b, "error")[0] != '\0') {
        put_field("error", jstr(b, "error"));
    }
    printf("%-10s ", "orgs");
    if (json_array_size(json_object_get(scope, "orgs")) > 0) {
        put_list(json_object_get(scope, "orgs"));
    } else {
        fputs("(all)", stdout);
    }
    printf("\n%-10s ", "bill types");
    if (json_array_size(json_object_get(scope, "bill_types")) > 0) {
        put_list(json_object_get(scope, "bill_types"));
    } else {
        fputs("(all)", stdout);
    }
    putchar('\n');
    put_field("from", jstr(scope, "from")[0] != '\0' ? jstr(scope, "from") : "-");
    put_field("to", jstr(scope, "to")[0] != '\0' ? jstr(scope, "to") : "-");
    put_counts(json_object_get(b, "counts"));
    put_field("created", jstr(b, "created"));
    put_field("created by", jstr(b, "created_by"));
    put_field("started", jstr(b, "started")[0] != '\0' ? jstr(b, "started") : "-");
    put_field("finished", jstr(b, "finished")[0] != '\0' ? jstr(b, "finished") : "-");
}

/* "BATCH: state S (index N)" after an action. */
static void print_batch_state(const json_t *b)
{
    put_text(jstr(b, "batch_no"));
    fputs(": ", stdout);
    put_text(jstr(b, "state"));
    if (jstr(b, "error")[0] != '\0') {
        fputs(" (", stdout);
        put_text(jstr(b, "error"));
        putchar(')');
    }
    printf(" (index %lld)\n", jint(b, "index"));
}

static void print_batches(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "migrations");
    const json_t *b;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no migration batches\n");
        return;
    }
    printf("%-20s  %-8s  %-8s  %-16s  %8s  %8s  %8s  %8s  %8s\n", "BATCH", "STATE", "PHASE",
           "DATASOURCE", "BILLS", "PENDING", "MIGRATED", "FAILED", "SKIPPED");
    json_array_foreach(list, i, b)
    {
        const json_t *c = json_object_get(b, "counts");
        put_cell(jstr(b, "batch_no"), 20);
        put_cell(jstr(b, "state"), 8);
        put_cell(jstr(b, "phase")[0] != '\0' ? jstr(b, "phase") : "-", 8);
        put_cell(jstr(b, "datasource"), 16);
        printf("%8lld  %8lld  %8lld  %8lld  %8lld\n", jint(c, "bills"), jint(c, "pending"),
               jint(c, "migrated"), jint(c, "failed"), jint(c, "skipped"));
    }
}

/* ---- create ---- */

static int add_scope_list(const char *cmd, json_t *scope, const char *key,
                          const struct str_list *items, const char *flag)
{
    json_t *list = json_array();
    json_object_set_new(scope, key, list);
    if (items->n > 64) {
        return usage_error(cmd, "at most 64 %s", flag);
    }
    for (size_t i = 0; i < items->n; i++) {
        json_t *s = json_string(items->items[i]);
        if (s == NULL || items->items[i][0] == '\0') {
            json_decref(s);
            return usage_error(cmd, "%s '%s': empty or not valid UTF-8", flag, items->items[i]);
        }
        json_array_append_new(list, s);
    }
    return 0;
}

static int migration_create(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "migrations create";
    const char *datasource = NULL, *from = NULL, *to = NULL, *key = NULL;
    struct str_list orgs = {0}, types = {0};
    const struct flag flags[] = {{"--datasource", NULL, FLAG_VALUE, &datasource},
                                 {"--org", NULL, FLAG_LIST, &orgs},
                                 {"--bill-type", NULL, FLAG_LIST, &types},
                                 {"--from", NULL, FLAG_VALUE, &from},
                                 {"--to", NULL, FLAG_VALUE, &to},
                                 {"--key", NULL, FLAG_VALUE, &key},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = json_object(), *scope = json_object();
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    json_object_set_new(body, "scope", scope);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "BATCH_NO");
    }
    if (rv == 0) {
        rv = check_name(cmd, "BATCH_NO", a.pos[0]);
    }
    if (rv == 0 && datasource == NULL) {
        rv = usage_error(cmd, "missing --datasource NAME (see 'imgarc datasources list')");
    }
    if (rv == 0) {
        rv = check_name(cmd, "--datasource", datasource);
    }
    if (rv == 0 && key != NULL) {
        rv = check_key(cmd, key, KEY_CHARS_MAX);
    }
    if (rv == 0) {
        rv = put_string(cmd, body, "batch_no", a.pos[0], "BATCH_NO");
    }
    if (rv == 0) {
        rv = put_string(cmd, body, "datasource", datasource, "--datasource");
    }
    if (rv == 0) {
        rv = add_scope_list(cmd, scope, "orgs", &orgs, "--org");
    }
    if (rv == 0) {
        rv = add_scope_list(cmd, scope, "bill_types", &types, "--bill-type");
    }
    if (rv == 0 && from != NULL) {
        rv = put_string(cmd, scope, "from", from, "--from");
    }
    if (rv == 0 && to != NULL) {
        rv = put_string(cmd, scope, "to", to, "--to");
    }
    if (rv == 0) {
        const struct cli_request req = {
            .method = "POST", .path = "/api/v1/migrations", .idempotency_key = key};
        rv = send_and_print(cli, rv, &req, body, print_batch);
    }
    json_decref(body);
    free(orgs.items);
    free(types.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- list, show and the actions ---- */

static int migration_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "migrations list", "/api/v1/migrations", argc, argv, print_batches);
}

/* @method on /api/v1/migrations/BATCH@suffix, printed with @print. */
static int batch_cmd(struct cli *cli, const char *name, const char *method, const char *suffix,
                     int argc, char **argv, void (*print)(const json_t *ans))
{
    const struct id_command c = {method, "/api/v1/migrations/", suffix, "BATCH_NO",
                                 check_name, print};
    return id_command(cli, &c, name, argc, argv, NULL);
}

static int migration_show(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations show", "GET", "", argc, argv, print_batch);
}

static int migration_start(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations start", "POST", "/start", argc, argv, print_batch_state);
}

static int migration_pause(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations pause", "POST", "/pause", argc, argv, print_batch_state);
}

static int migration_resume(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations resume", "POST", "/resume", argc, argv,
                     print_batch_state);
}

static int migration_retry(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations retry", "POST", "/retry", argc, argv, print_batch_state);
}

static int migration_cancel(struct cli *cli, int argc, char **argv)
{
    return batch_cmd(cli, "migrations cancel", "POST", "/cancel", argc, argv,
                     print_batch_state);
}

/* ---- skip, unskip ---- */

static void print_skipped(const json_t *ans)
{
    const json_t *unchanged = json_object_get(ans, "unchanged");
    put_text(jstr(ans, "batch_no"));
    printf(": %lld bill%s %s", jint(ans, "changed"), jint(ans, "changed") == 1 ? "" : "s",
           jbool(ans, "skip") ? "marked do-not-migrate" : "back to pending");
    if (json_array_size(unchanged) > 0) {
        printf(", %zu unchanged (", json_array_size(unchanged));
        put_list(unchanged);
        putchar(')');
    }
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int skip_cmd(struct cli *cli, const char *name, bool skip, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = json_pack("{s:[], s:b}", "image_nos", "skip", skip);
    struct args a;
    int rv = parse_command(cli, name, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(name, &a, 2, SKIP_MAX + 1, "BATCH_NO IMAGE_NO...");
    }
    if (rv == 0) {
        rv = check_name(name, "BATCH_NO", a.pos[0]);
    }
    for (size_t i = 1; rv == 0 && i < a.n; i++) {
        rv = check_id(name, "IMAGE_NO", a.pos[i]);
        if (rv == 0) {
            json_array_append_new(json_object_get(body, "image_nos"), json_string(a.pos[i]));
        }
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/migrations/", a.pos[0], "/bills/skip");
        const struct cli_request req = {.method = "POST", .path = path};
        rv = send_and_print(cli, rv, &req, body, print_skipped);
        free(path);
    }
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int migration_skip(struct cli *cli, int argc, char **argv)
{
    return skip_cmd(cli, "migrations skip", true, argc, argv);
}

static int migration_unskip(struct cli *cli, int argc, char **argv)
{
    return skip_cmd(cli, "migrations unskip", false, argc, argv);
}

/* ---- bills ---- */

static void print_bills(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "bills");
    const json_t *b;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no bills on this page\n");
    } else {
        printf("%-24s  %-8s  %8s  %5s  %10s  %s\n", "IMAGE_NO", "STATE", "ATTEMPTS", "FILES",
               "BYTES", "REASON");
    }
    json_array_foreach(list, i, b)
    {
        char bytes[32];
        human_bytes((uint64_t)jint(b, "bytes"), bytes, sizeof bytes);
        put_cell(jstr(b, "image_no"), 24);
        put_cell(jstr(b, "state"), 8);
        printf("%8lld  %5zu  %10s  ", jint(b, "attempts"),
               json_array_size(json_object_get(b, "files")), bytes);
        put_text(jstr(b, "reason"));
        putchar('\n');
    }
    if (jstr(ans, "next_after")[0] != '\0') {
        fflush(stdout);
        fputs("imgarc: more bills: add --after ", stderr);
        fputs(plain(jstr(ans, "next_after")), stderr);
        fputc('\n', stderr);
    }
}

static int migration_bills(struct cli *cli, int argc, char **argv)
{
    static const char *const states[] = {"pending", "checked", "migrated", "present",
                                         "failed",  "skipped", NULL};
    const char *cmd = "migrations bills";
    const char *state = NULL, *after = NULL, *limit = NULL;
    const struct flag flags[] = {{"--state", NULL, FLAG_VALUE, &state},
                                 {"--after", NULL, FLAG_VALUE, &after},
                                 {"--limit", NULL, FLAG_VALUE, &limit},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    uint64_t n = 0;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "BATCH_NO");
    }
    if (rv == 0) {
        rv = check_name(cmd, "BATCH_NO", a.pos[0]);
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--state", state, states,
                          "pending, checked, migrated, present, failed or skipped");
    }
    if (rv == 0 && limit != NULL &&
        (!parse_count(limit, false, &n) || n < 1 || n > LIST_LIMIT_MAX)) {
        rv = usage_error(cmd, "--limit must be a number from 1 to %d", LIST_LIMIT_MAX);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/migrations/", a.pos[0], "/bills");
        const struct cli_param params[] = {{"state", state}, {"after", after}, {"limit", limit}};
        const struct cli_request req = {
            .method = "GET", .path = path, .params = params, .n_params = ARRAY_SIZE(params)};
        rv = send_and_print(cli, rv, &req, NULL, print_bills);
        free(path);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- log ---- */

static void print_log(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "entries");
    const json_t *e;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no log entries\n");
    } else {
        printf("%6s  %-24s  %-16s  %-14s  %-20s  %s\n", "SEQ", "TIME", "OPERATOR", "ACTION",
               "IMAGE_NO", "DETAIL");
    }
    json_array_foreach(list, i, e)
    {
        char *detail = json_dumps(json_object_get(e, "detail"), JSON_COMPACT | JSON_SORT_KEYS |
                                                                     JSON_ENCODE_ANY);
        printf("%6lld  ", jint(e, "seq"));
        put_cell(jstr(e, "time"), 24);
        put_cell(jstr(e, "operator"), 16);
        put_cell(jstr(e, "action"), 14);
        put_cell(jstr(e, "image_no")[0] != '\0' ? jstr(e, "image_no") : "-", 20);
        put_text(detail != NULL ? detail : "");
        putchar('\n');
        free(detail);
    }
    if (json_is_integer(json_object_get(ans, "next_after"))) {
        fflush(stdout);
        fprintf(stderr, "imgarc: more entries: add --after %lld\n", jint(ans, "next_after"));
    }
}

static int migration_log(struct cli *cli, int argc, char **argv)
{
    static const char *const formats[] = {"json", "csv", NULL};
    const char *cmd = "migrations log";
    const char *after = NULL, *limit = NULL, *format = NULL, *out = NULL;
    const struct flag flags[] = {{"--after", NULL, FLAG_VALUE, &after},
                                 {"--limit", NULL, FLAG_VALUE, &limit},
                                 {"--format", NULL, FLAG_VALUE, &format},
                                 {"--output", "-o", FLAG_VALUE, &out},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    bool csv;
    struct args a;
    uint64_t n = 0;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "BATCH_NO");
    }
    if (rv == 0) {
        rv = check_name(cmd, "BATCH_NO", a.pos[0]);
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--format", format, formats, "json or csv");
    }
    csv = format != NULL && strcmp(format, "csv") == 0;
    if (rv == 0 && after != NULL && !parse_count(after, false, &n)) {
        rv = usage_error(cmd, "--after '%s' is a log entry's number (a whole number)", after);
    }
    if (rv == 0 && limit != NULL &&
        (!parse_count(limit, false, &n) || n < 1 || (!csv && n > LIST_LIMIT_MAX))) {
        rv = usage_error(cmd, "--limit must be a number from 1 to %d (any for csv)",
                         LIST_LIMIT_MAX);
    }
    if (rv == 0 && out != NULL && !csv) {
        rv = usage_error(cmd, "--output goes with --format csv");
    }
    if (rv == 0 && csv && cli->json) {
        rv = usage_error(cmd, "--json goes with --format json");
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/migrations/", a.pos[0], "/log");
        const struct cli_param params[] = {
            {"after", after}, {"limit", limit}, {"format", csv ? "csv" : NULL}};
        const struct cli_request req = {
            .method = "GET", .path = path, .params = params, .n_params = ARRAY_SIZE(params)};
        if (csv) {
            /* Streamed as the node sends it: the whole log in constant memory. */
            rv = connect_server(cli);
            if (rv == 0) {
                rv = cli_http_download(cli->http, &req, NULL, out);
            }
        } else {
            rv = send_and_print(cli, rv, &req, NULL, print_log);
        }
        free(path);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_migrations(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"create", migration_create}, {"list", migration_list},     {"show", migration_show},
        {"start", migration_start},   {"pause", migration_pause},   {"resume", migration_resume},
        {"retry", migration_retry},   {"cancel", migration_cancel}, {"skip", migration_skip},
        {"unskip", migration_unskip}, {"bills", migration_bills},   {"log", migration_log},
    };
    return run_action(cli, "migrations", actions, ARRAY_SIZE(actions), argc, argv);
}
