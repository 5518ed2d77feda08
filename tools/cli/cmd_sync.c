/* sync: the invoice-data sync (settings, set, run, runs, show, failures, retry;
 * docs/migration.md "Invoice-data sync"). */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends the comma-separated names of @spec to @list. */
static int add_names(const char *cmd, const char *flag, const char *spec, json_t *list)
{
    const char *p = spec;
    if (spec[0] == '\0') {
        return 0; /* "": none */
    }
    for (;;) {
        size_t len = strcspn(p, ",");
        char *name = xasprintf("%.*s", (int)len, p);
        json_t *s = json_string(name);
        free(name);
        if (len == 0 || s == NULL) {
            json_decref(s);
            return usage_error(cmd, "%s '%s': %s", flag, spec,
                               len == 0 ? "an empty name" : "not valid UTF-8");
        }
        json_array_append_new(list, s);
        if (p[len] == '\0') {
            return 0;
        }
        p += len + 1;
    }
}

static const char *or_dash(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : "-";
}

static void put_names(const char *label, const json_t *list)
{
    printf("%-10s ", label);
    if (json_array_size(list) == 0) {
        fputs("-", stdout);
    } else {
        put_list(list);
    }
    putchar('\n');
}

/* ---- settings, set ---- */

static void print_settings(const json_t *s)
{
    put_field("datasource", jstr(s, "datasource"));
    put_field("enabled", jbool(s, "enabled") ? "yes" : "no");
    put_field("daily_at", jstr(s, "daily_at"));
    put_names("orgs", json_object_get(s, "orgs"));
    put_names("protected", json_object_get(s, "protected_fields"));
    if (json_is_string(json_object_get(s, "updated"))) {
        put_field("updated", jstr(s, "updated"));
        put_field("updated_by", jstr(s, "updated_by"));
    }
}

static int sync_settings(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "sync settings", "/api/v1/sync/settings", argc, argv, print_settings);
}

static int sync_set(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "sync set";
    const char *datasource = NULL, *daily_at = NULL, *orgs = NULL, *protect = NULL;
    bool disabled = false;
    const struct flag flags[] = {{"--datasource", NULL, FLAG_VALUE, &datasource},
                                 {"--daily-at", NULL, FLAG_VALUE, &daily_at},
                                 {"--orgs", NULL, FLAG_VALUE, &orgs},
                                 {"--protect", NULL, FLAG_VALUE, &protect},
                                 {"--disabled", NULL, FLAG_BOOL, &disabled},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "PUT", .path = "/api/v1/sync/settings"};
    json_t *body = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 0, 0, "nothing");
    }
    if (rv == 0 && datasource == NULL) {
        rv = usage_error(cmd, "missing --datasource NAME");
    }
    if (rv == 0) {
        body = json_pack("{s:b, s:[], s:[]}", "enabled", !disabled, "orgs", "protected_fields");
        rv = put_string(cmd, body, "datasource", datasource, "--datasource");
    }
    if (rv == 0 && daily_at != NULL) {
        rv = put_string(cmd, body, "daily_at", daily_at, "--daily-at");
    }
    if (rv == 0 && orgs != NULL) {
        rv = add_names(cmd, "--orgs", orgs, json_object_get(body, "orgs"));
    }
    if (rv == 0 && protect != NULL) {
        rv = add_names(cmd, "--protect", protect, json_object_get(body, "protected_fields"));
    }
    rv = send_and_print(cli, rv, &req, body, print_settings);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- run, runs, show ---- */

static void print_run(const json_t *r)
{
    put_field("run_id", jstr(r, "run_id"));
    put_field("org", or_dash(jstr(r, "org")));
    put_field("kind", jstr(r, "kind"));
    put_field("date", or_dash(jstr(r, "date")));
    put_field("image_no", or_dash(jstr(r, "image_no")));
    put_field("datasource", jstr(r, "datasource"));
    put_field("state", jstr(r, "state"));
    put_field("result", or_dash(jstr(r, "result")));
    put_field("message", or_dash(jstr(r, "message")));
    put_field("created", or_dash(jstr(r, "created")));
    put_field("started", or_dash(jstr(r, "started")));
    put_field("finished", or_dash(jstr(r, "finished")));
    printf("%-10s %lld succeeded, %lld failed, %lld skipped (edited here)\n", "records",
           jint(r, "succeeded"), jint(r, "failed"), jint(r, "skipped"));
    printf("%-10s %lld\n", "attempts", jint(r, "attempts"));
}

static void print_run_table(const json_t *runs)
{
    const json_t *r;
    size_t i;
    printf("%-28s  %-12s  %-9s  %-10s  %-7s  %-7s  %5s  %5s  %5s  %3s  %-24s  %s\n", "RUN_ID",
           "ORG", "KIND", "DATE", "STATE", "RESULT", "OK", "FAIL", "SKIP", "ATT", "STARTED",
           "MESSAGE");
    json_array_foreach(runs, i, r)
    {
        put_cell(jstr(r, "run_id"), 28);
        put_cell(or_dash(jstr(r, "org")), 12);
        put_cell(jstr(r, "kind"), 9);
        put_cell(or_dash(jstr(r, "kind")[0] == 'b' ? jstr(r, "image_no") : jstr(r, "date")),
                 10);
        put_cell(jstr(r, "state"), 7);
        put_cell(or_dash(jstr(r, "result")), 7);
        printf("%5lld  %5lld  %5lld  %3lld  ", jint(r, "succeeded"), jint(r, "failed"),
               jint(r, "skipped"), jint(r, "attempts"));
        put_cell(or_dash(jstr(r, "started")), 24);
        put_text(or_dash(jstr(r, "message")));
        putchar('\n');
    }
}

static void print_created(const json_t *ans)
{
    const json_t *runs = json_object_get(ans, "runs");
    print_run_table(runs);
    fprintf(stderr, "imgarc: %zu run%s made; 'imgarc sync show RUN_ID' follows one\n",
            json_array_size(runs), json_array_size(runs) == 1 ? "" : "s");
}

static int sync_run(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "sync run";
    const char *org = NULL, *date = NULL, *image_no = NULL;
    bool full = false;
    const struct flag flags[] = {{"--org", NULL, FLAG_VALUE, &org},
                                 {"--date", NULL, FLAG_VALUE, &date},
                                 {"--full", NULL, FLAG_BOOL, &full},
                                 {"--image-no", NULL, FLAG_VALUE, &image_no},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/sync/runs"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 0, 0, "nothing");
    }
    if (rv == 0 && (full + (date != NULL) + (image_no != NULL)) > 1) {
        rv = usage_error(cmd, "give one of --date, --full and --image-no");
    }
    if (rv == 0 && org != NULL) {
        rv = put_string(cmd, body, "org", org, "--org");
    }
    if (rv == 0 && (date != NULL || full)) {
        rv = put_string(cmd, body, "date", full ? "" : date, "--date");
    }
    if (rv == 0 && image_no != NULL) {
        rv = put_string(cmd, body, "image_no", image_no, "--image-no");
    }
    rv = send_and_print(cli, rv, &req, body, print_created);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_runs(const json_t *ans)
{
    const json_t *runs = json_object_get(ans, "runs");
    if (json_array_size(runs) == 0) {
        fprintf(stderr, "imgarc: no sync runs\n");
    } else {
        print_run_table(runs);
    }
    if (json_is_string(json_object_get(ans, "next_after"))) {
        fprintf(stderr, "imgarc: more: --after %s\n", plain(jstr(ans, "next_after")));
    }
}

static int sync_runs(struct cli *cli, int argc, char **argv)
{
    const char *org = NULL, *limit = NULL, *after = NULL;
    const struct flag flags[] = {{"--org", NULL, FLAG_VALUE, &org},
                                 {"--limit", NULL, FLAG_VALUE, &limit},
                                 {"--after", NULL, FLAG_VALUE, &after},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_param params[] = {{"org", org}, {"limit", limit}, {"after", after}};
    const struct cli_request req = {.method = "GET", .path = "/api/v1/sync/runs",
                                    .params = params, .n_params = ARRAY_SIZE(params)};
    struct args a;
    int rv = parse_command(cli, "sync runs", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("sync runs", &a, 0, 0, "nothing");
    }
    rv = send_and_print(cli, rv, &req, NULL, print_runs);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int sync_show(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "sync show", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("sync show", &a, 1, 1, "RUN_ID");
    }
    if (rv == 0) {
        rv = id_request(cli, "GET", "/api/v1/sync/runs/", a.pos[0], "", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_run(ans);
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- failures, retry ---- */

static void print_failures(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "failures");
    const json_t *f;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no failed records\n");
        return;
    }
    printf("%-20s  %-33s  %-12s  %-8s  %3s  %s\n", "IMAGE_NO", "FILE_ID", "ORG", "STATE", "ATT",
           "REASON");
    json_array_foreach(list, i, f)
    {
        put_cell(jstr(f, "image_no"), 20);
        put_cell(or_dash(jstr(f, "file_id")), 33);
        put_cell(or_dash(jstr(f, "org")), 12);
        put_cell(jstr(f, "state"), 8);
        printf("%3lld  ", jint(f, "attempts"));
        put_text(jstr(f, "reason"));
        putchar('\n');
    }
    if (jbool(ans, "more")) {
        fprintf(stderr, "imgarc: more records fail than shown: --limit\n");
    }
}

static int sync_failures(struct cli *cli, int argc, char **argv)
{
    const char *org = NULL, *state = NULL, *limit = NULL;
    const struct flag flags[] = {{"--org", NULL, FLAG_VALUE, &org},
                                 {"--state", NULL, FLAG_VALUE, &state},
                                 {"--limit", NULL, FLAG_VALUE, &limit},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_param params[] = {{"org", org}, {"state", state}, {"limit", limit}};
    const struct cli_request req = {.method = "GET", .path = "/api/v1/sync/failures",
                                    .params = params, .n_params = ARRAY_SIZE(params)};
    struct args a;
    int rv = parse_command(cli, "sync failures", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("sync failures", &a, 0, 0, "nothing");
    }
    rv = send_and_print(cli, rv, &req, NULL, print_failures);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_retried(const json_t *ans)
{
    printf("%lld given-up record%s back to retrying: the next run tries them (index %lld)\n",
           jint(ans, "retrying"), jint(ans, "retrying") == 1 ? "" : "s", jint(ans, "index"));
}

static int sync_retry(struct cli *cli, int argc, char **argv)
{
    const char *org = NULL;
    const struct flag flags[] = {{"--org", NULL, FLAG_VALUE, &org},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/sync/failures/retry"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "sync retry", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("sync retry", &a, 0, 0, "nothing");
    }
    if (rv == 0 && org != NULL) {
        rv = put_string("sync retry", body, "org", org, "--org");
    }
    rv = send_and_print(cli, rv, &req, body, print_retried);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_sync(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"settings", sync_settings}, {"set", sync_set},         {"run", sync_run},
        {"runs", sync_runs},         {"show", sync_show},       {"failures", sync_failures},
        {"retry", sync_retry},
    };
    return run_action(cli, "sync", actions, ARRAY_SIZE(actions), argc, argv);
}
