/* Tenant administration: tenant create and list, usage (storage against the quota),
 * client create (credentials for a business system; the secret is shown once) and
 * audit, the tenant's admin audit log as a table or exported as the server sends it. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- tenant ---- */

static void print_tenant_created(const json_t *ans)
{
    put_text(jstr(ans, "id"));
    fputs(": tenant created, name ", stdout);
    put_text(jstr(ans, "name"));
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int tenant_create(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    const struct flag flags[] = {
        {"--name", NULL, FLAG_VALUE, &name}, {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/tenants"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "tenant create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("tenant create", &a, 1, 1, "ID");
    }
    if (rv == 0) {
        rv = check_id("tenant create", "ID", a.pos[0]);
    }
    if (rv == 0) {
        json_object_set_new(body, "id", json_string(a.pos[0]));
        rv = put_string("tenant create", body, "name", name != NULL ? name : a.pos[0], "--name");
    }
    rv = send_and_print(cli, rv, &req, body, print_tenant_created);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_tenants(const json_t *tenants)
{
    const json_t *t;
    size_t i;
    printf("%-16s  %-24s  %-24s  %10s  %-24s  %s\n", "ID", "LICENSE", "EXPIRES", "QUOTA",
           "CREATED", "NAME");
    json_array_foreach(tenants, i, t)
    {
        const json_t *lic = json_object_get(t, "license");
        char quota[32] = "-";
        if (json_is_object(lic)) {
            human_bytes((uint64_t)(jint(lic, "quota_bytes") > 0 ? jint(lic, "quota_bytes") : 0),
                        quota, sizeof quota);
        }
        put_cell(jstr(t, "id"), 16);
        put_cell(jstr(lic, "license_id"), 24);
        put_cell(jstr(lic, "expires"), 24);
        printf("%10s  ", quota);
        put_cell(jstr(t, "created"), 24);
        put_text(jstr(t, "name"));
        putchar('\n');
    }
}

static void print_tenants_answer(const json_t *ans)
{
    print_tenants(json_object_get(ans, "tenants"));
}

static int tenant_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "tenant list", "/api/v1/tenants", argc, argv, print_tenants_answer);
}

static void print_tenant_deleted(const json_t *ans)
{
    put_text(jstr(ans, "id"));
    printf(": tenant deleted with its bills, files, users and clients (index %lld); its "
           "summary is in the default tenant's audit log ('imgarc audit')\n",
           jint(ans, "index"));
}

/* tenant delete ID --confirm ID [--reason R] */
static int tenant_delete(struct cli *cli, int argc, char **argv)
{
    const char *confirm = NULL, *reason = NULL;
    const struct flag flags[] = {{"--confirm", NULL, FLAG_VALUE, &confirm},
                                 {"--reason", NULL, FLAG_VALUE, &reason},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = json_object();
    char *path = NULL;
    struct args a;
    int rv = parse_command(cli, "tenant delete", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("tenant delete", &a, 1, 1, "ID");
    }
    if (rv == 0) {
        rv = check_id("tenant delete", "ID", a.pos[0]);
    }
    if (rv == 0 && (confirm == NULL || strcmp(confirm, a.pos[0]) != 0)) {
        rv = usage_error("tenant delete", "deleting a tenant removes every bill, file, user "
                         "and client it has: repeat its id with --confirm %s", a.pos[0]);
    }
    if (rv == 0) {
        json_object_set_new(body, "confirm", json_string(confirm));
        if (reason != NULL) {
            rv = put_string("tenant delete", body, "reason", reason, "--reason");
        }
    }
    if (rv == 0) {
        path = cli_http_path("/api/v1/tenants/", a.pos[0], "");
        const struct cli_request req = {.method = "DELETE", .path = path};
        rv = send_and_print(cli, 0, &req, body, print_tenant_deleted);
    }
    json_decref(body);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_tenant(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"create", tenant_create}, {"list", tenant_list}, {"delete", tenant_delete}};
    return run_action(cli, "tenant", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- usage ---- */

/* "quota      10.0 GiB (10737418240 bytes), 12.5% used". */
static void put_quota(const json_t *usage)
{
    const json_t *quota = json_object_get(usage, "quota_bytes");
    long long q = json_integer_value(quota);
    if (!json_is_integer(quota)) {
        put_field("quota", "none");
        return;
    }
    put_size("quota", q);
    if (q > 0) {
        double used = 100.0 * (double)jint(usage, "bytes") / (double)q;
        if (used > 0 && used < 0.1) {
            fputs(", <0.1% used", stdout);
        } else {
            printf(", %.1f%% used", used);
        }
    }
    putchar('\n');
}

static void put_usage_license(const json_t *lic)
{
    const json_t *days = json_object_get(lic, "expires_in_days");
    if (!json_is_object(lic)) {
        put_field("license", "none");
        return;
    }
    printf("%-10s ", "license");
    put_text(jstr(lic, "license_id"));
    fputs(", expires ", stdout);
    put_text(jstr(lic, "expires"));
    if (json_is_integer(days)) {
        printf(" (%lld days left)", (long long)json_integer_value(days));
    }
    putchar('\n');
}

static void print_usage(const json_t *u)
{
    const json_t *by_org = json_object_get(u, "by_org");
    const json_t *v;
    const char *org;
    size_t i;
    put_field("tenant", jstr(u, "tenant"));
    put_size("bytes", jint(u, "bytes"));
    putchar('\n');
    put_quota(u);
    printf("%-10s %lld\n", "files", jint(u, "files"));
    put_max_files(json_object_get(u, "max_files"));
    printf("%-10s %lld\n", "bills", jint(u, "bills"));
    put_size("physical", jint(u, "physical_bytes"));
    putchar('\n');
    put_usage_license(json_object_get(u, "license"));
    json_array_foreach(json_object_get(u, "warnings"), i, v)
    {
        put_field("warning", json_string_value(v) != NULL ? json_string_value(v) : "?");
    }
    if (json_object_size(by_org) == 0) {
        return;
    }
    printf("\n%-20s  %10s  %15s  %8s  %8s\n", "ORG", "SIZE", "BYTES", "FILES", "BILLS");
    json_object_foreach((json_t *)by_org, org, v)
    {
        char human[32];
        human_bytes((uint64_t)(jint(v, "bytes") > 0 ? jint(v, "bytes") : 0), human,
                    sizeof human);
        put_cell(org, 20);
        printf("%10s  %15lld  %8lld  %8lld\n", human, jint(v, "bytes"), jint(v, "files"),
               jint(v, "bills"));
    }
}

int cmd_usage(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const char *tenant;
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "usage", argc, argv, flags, ARRAY_SIZE(flags), &a);
    tenant = cli->conn.tenant != NULL && cli->conn.tenant[0] != '\0' ? cli->conn.tenant
                                                                     : DEFAULT_TENANT;
    if (rv == 0) {
        rv = want_args("usage", &a, 0, 0, "nothing");
    }
    if (rv == 0) {
        rv = check_id("usage", "--tenant", tenant);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/tenants/", tenant, "/usage");
        const struct cli_request req = {.method = "GET", .path = path};
        rv = cli_http_json(cli->http, &req, NULL, &ans);
        free(path);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_usage(ans);
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- client ---- */

static void print_client(const json_t *ans)
{
    printf("%-13s ", "client_id");
    put_text(jstr(ans, "client_id"));
    printf("\n%-13s ", "client_secret");
    put_text(jstr(ans, "client_secret"));
    printf("\n%-13s ", "tenant");
    put_text(jstr(ans, "tenant"));
    printf("\n%-13s ", "name");
    put_text(jstr(ans, "name"));
    printf("\n%-13s %lld\n", "index", jint(ans, "index"));
    fflush(stdout); /* the secret before the note about it */
    fprintf(stderr, "imgarc: the client_secret is shown only this once (the node keeps only "
                    "its hash): store it now\n");
}

static int client_create(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/clients"};
    json_t *body = json_object(), *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "client create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("client create", &a, 1, 1, "NAME");
    }
    if (rv == 0) {
        rv = check_id("client create", "--tenant", tenant_or_default(cli));
    }
    if (rv == 0) {
        /* Without --tenant: the operator's default tenant, a tenant admin's own. */
        if (cli->conn.tenant != NULL && cli->conn.tenant[0] != '\0') {
            json_object_set_new(body, "tenant", json_string(cli->conn.tenant));
        }
        rv = put_string("client create", body, "name", a.pos[0], "NAME");
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = cli_http_json(cli->http, &req, body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_client(ans);
    }
    if (ans != NULL) {
        wipe_member(ans, "client_secret");
    }
    json_decref(body);
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_clients(const json_t *ans)
{
    const json_t *c;
    size_t i;
    printf("%-20s  %-24s  %s\n", "CLIENT_ID", "CREATED", "NAME");
    json_array_foreach(json_object_get(ans, "clients"), i, c)
    {
        put_cell(jstr(c, "client_id"), 20);
        put_cell(jstr(c, "created"), 24);
        put_text(jstr(c, "name"));
        putchar('\n');
    }
}

static int client_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "client list", "/api/v1/clients", argc, argv, print_clients);
}

/* client rotate|delete ID. */
static int client_op(struct cli *cli, const char *cmd, int argc, char **argv, bool rotate)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "CLIENT_ID");
    }
    if (rv == 0) {
        rv = check_id(cmd, "CLIENT_ID", a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, rotate ? "POST" : "DELETE", "/api/v1/clients/", a.pos[0],
                        rotate ? "/secret" : "", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0 && rotate) {
        printf("%-13s ", "client_id");
        put_text(jstr(ans, "client_id"));
        printf("\n%-13s ", "client_secret");
        put_text(jstr(ans, "client_secret"));
        printf("\n%-13s %lld\n", "index", jint(ans, "index"));
        fflush(stdout); /* the secret before the note about it */
        fprintf(stderr, "imgarc: the new client_secret is shown only this once: store it now; "
                        "the old secret and every token issued under it stopped\n");
    } else if (rv == 0) {
        put_text(jstr(ans, "client_id"));
        printf(": client deleted, its tokens stop (index %lld)\n", jint(ans, "index"));
    }
    if (ans != NULL) {
        wipe_member(ans, "client_secret");
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int client_rotate(struct cli *cli, int argc, char **argv)
{
    return client_op(cli, "client rotate", argc, argv, true);
}

static int client_delete(struct cli *cli, int argc, char **argv)
{
    return client_op(cli, "client delete", argc, argv, false);
}

int cmd_client(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", client_create},
                                            {"list", client_list},
                                            {"rotate", client_rotate},
                                            {"delete", client_delete}};
    return run_action(cli, "client", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- audit ---- */

#define AUDIT_LIMIT_MAX 10000

struct audit_opts {
    const char *after;
    const char *limit;
    const char *format; /* json, jsonl or csv */
    bool all;
};

static int check_audit(const struct cli *cli, struct audit_opts *o)
{
    uint64_t v = 0;
    o->format = o->format != NULL ? o->format : "json";
    if (strcmp(o->format, "json") != 0 && strcmp(o->format, "jsonl") != 0 &&
        strcmp(o->format, "csv") != 0) {
        return usage_error("audit", "--format '%s': json, jsonl or csv", o->format);
    }
    if (o->after != NULL && !parse_count(o->after, false, &v)) {
        return usage_error("audit", "--after '%s' is not a raft index (a whole number)",
                           o->after);
    }
    if (o->limit != NULL && (!parse_count(o->limit, false, &v) || v < 1 || v > AUDIT_LIMIT_MAX)) {
        return usage_error("audit", "--limit '%s' must be 1-%d", o->limit, AUDIT_LIMIT_MAX);
    }
    if (cli->json && strcmp(o->format, "json") != 0) {
        return usage_error("audit", "--json goes with --format json; jsonl and csv are printed "
                                    "as the server sends them");
    }
    return 0;
}

static void print_audit_entry(const json_t *e, size_t *rows)
{
    char *detail = json_dumps(json_object_get(e, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
    if ((*rows)++ == 0) {
        printf("%8s  %-24s  %-20s  %-16s  %s\n", "INDEX", "TIME", "ACTION", "OPERATOR",
               "DETAIL");
    }
    printf("%8lld  ", jint(e, "index"));
    put_cell(jstr(e, "time"), 24);
    put_cell(jstr(e, "action"), 20);
    put_cell(jstr(e, "operator"), 16);
    put_text(detail != NULL ? detail : "-");
    putchar('\n');
    free(detail);
}

/* --format json: a table, the page as JSON, or with --all one JSON entry per line. */
static int audit_json(struct cli *cli, const struct audit_opts *o)
{
    char *after = o->after != NULL ? xstrdup(o->after) : NULL;
    size_t rows = 0;
    int rv;
    do {
        const struct cli_param params[] = {{"after", after}, {"limit", o->limit}};
        const struct cli_request req = {.method = "GET", .path = "/api/v1/audit",
                                        .params = params, .n_params = ARRAY_SIZE(params)};
        const json_t *next, *e;
        json_t *page = NULL;
        size_t i;
        rv = cli_http_json(cli->http, &req, NULL, &page);
        if (rv != 0) {
            break;
        }
        json_array_foreach(json_object_get(page, "entries"), i, e)
        {
            if (cli->json && o->all) {
                print_json(e, true);
            } else if (!cli->json) {
                print_audit_entry(e, &rows);
            }
        }
        if (cli->json && !o->all) {
            print_json(page, false);
        }
        next = json_object_get(page, "next_after");
        free(after);
        after = json_is_integer(next) ? xasprintf("%lld", (long long)json_integer_value(next))
                                      : NULL;
        if (after != NULL && !o->all && !cli->json) {
            fprintf(stderr, "imgarc: more entries follow: add --all, or --after %s\n", after);
        }
        json_decref(page);
    } while (after != NULL && o->all);
    if (rv == 0 && rows == 0 && !cli->json) {
        fprintf(stderr, "imgarc: no audit entries\n");
    }
    free(after);
    return rv;
}

/* Writes a jsonl or csv page as it came; pages after the first lose the csv header
 * line, so that --all gives one document. */
static int write_page(const char *text, size_t len, bool csv, bool first)
{
    if (csv && !first) {
        const char *eol = memchr(text, '\n', len);
        size_t skip = eol != NULL ? (size_t)(eol - text) + 1 : len;
        text += skip;
        len -= skip;
    }
    if (fwrite(text, 1, len, stdout) != len) {
        fprintf(stderr, "imgarc: stdout: %s\n", strerror(errno));
        return CLI_ELOCAL;
    }
    return 0;
}

/* --format jsonl or csv: the server's bytes; --all follows X-Imgarc-Next-After. */
static int audit_text(struct cli *cli, const struct audit_opts *o)
{
    char after[24] = "";
    bool first = true;
    int rv;
    snprintf(after, sizeof after, "%s", o->after != NULL ? o->after : "");
    do {
        const struct cli_param params[] = {{"after", after[0] != '\0' ? after : NULL},
                                           {"limit", o->limit},
                                           {"format", o->format}};
        const struct cli_request req = {.method = "GET", .path = "/api/v1/audit",
                                        .params = params, .n_params = ARRAY_SIZE(params)};
        char next[24] = "";
        char *text = NULL;
        size_t len = 0;
        rv = cli_http_text(cli->http, &req, &text, &len, next, sizeof next);
        if (rv == 0) {
            rv = write_page(text, len, strcmp(o->format, "csv") == 0, first);
            free(text);
        }
        if (rv == 0 && next[0] != '\0' && strcmp(next, after) == 0) {
            fprintf(stderr, "imgarc: the server returned the same next index %s twice\n", next);
            rv = CLI_ETRANSPORT;
        }
        if (rv == 0 && next[0] != '\0' && !o->all) {
            fflush(stdout);
            fprintf(stderr, "imgarc: more entries follow: add --all, or --after %s\n", next);
        }
        snprintf(after, sizeof after, "%s", rv == 0 ? next : "");
        first = false;
    } while (rv == 0 && after[0] != '\0' && o->all);
    return rv;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
    struct audit_opts o = {0};
    const struct flag flags[] = {
        {"--after", NULL, FLAG_VALUE, &o.after}, {"--limit", NULL, FLAG_VALUE, &o.limit},
        {"--format", NULL, FLAG_VALUE, &o.format}, {"--all", NULL, FLAG_BOOL, &o.all},
        {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    int rv = parse_command(cli, "audit", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("audit", &a, 0, 0, "nothing");
    }
    if (rv == 0) {
        rv = check_audit(cli, &o);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = strcmp(o.format, "json") == 0 ? audit_json(cli, &o) : audit_text(cli, &o);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
