/* datasources (add, list, show, update, enable, disable, delete, test): the systems a
 * tenant migrates from (docs/migration.md). A secret is read from --secret-file or
 * stdin, never from argv, and the request text that carried it is wiped once sent. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The API takes secrets of 1-512 bytes; one byte more tells a longer one apart. */
#define SECRET_BYTES_MAX 512

/* The flags of add and update, as given. */
struct ds_flags {
    const char *kind, *url, *source_tenant, *client_id, *account_id, *user, *list_path;
    const char *secret_file;
    bool secret_stdin, disabled;
};

/* The first line of @file, or of stdin, into @buf (SECRET_BYTES_MAX + 2 bytes), which
 * the caller wipes. Unbuffered, so that no copy stays in a stdio buffer. */
static int read_secret(const char *cmd, const char *file, char *buf)
{
    FILE *f = stdin;
    size_t n;
    if (file != NULL && (f = fopen(file, "rb")) == NULL) {
        fprintf(stderr, "imgarc: %s: %s\n", file, strerror(errno));
        return CLI_ELOCAL;
    }
    setvbuf(f, NULL, _IONBF, 0);
    if (fgets(buf, SECRET_BYTES_MAX + 2, f) == NULL) {
        buf[0] = '\0';
    }
    if (f != stdin) {
        fclose(f);
    }
    n = strcspn(buf, "\r\n");
    buf[n] = '\0';
    if (n == 0) {
        return usage_error(cmd, "empty secret (from %s)", file != NULL ? file : "stdin");
    }
    if (n > SECRET_BYTES_MAX) {
        return usage_error(cmd, "the secret is longer than %d bytes", SECRET_BYTES_MAX);
    }
    return 0;
}

/* The JSON text of @body with @key: @secret added, in one allocation sized up front
 * (no resized copy of the secret is left in freed memory); the caller wipes *@len
 * bytes and frees it. */
static char *secret_body(const json_t *body, const char *key, const char *secret, size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    char *head = json_dumps(body, JSON_COMPACT);
    size_t head_len;
    char *text, *o;
    ASSERT(head != NULL && head[0] == '{');
    head_len = strlen(head) - 1; /* without the closing brace */
    text = xmalloc(head_len + strlen(key) + 8 + 6 * strlen(secret) + 3);
    memcpy(text, head, head_len);
    o = text + head_len;
    o += sprintf(o, "%s\"%s\":\"", head_len > 1 ? "," : "", key);
    for (const unsigned char *p = (const unsigned char *)secret; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            *o++ = '\\';
            *o++ = (char)*p;
        } else if (*p < 0x20) {
            o += sprintf(o, "\\u00%c%c", hex[*p >> 4], hex[*p & 15]);
        } else {
            *o++ = (char)*p;
        }
    }
    *o++ = '"';
    *o++ = '}';
    *o = '\0';
    free(head);
    *len = (size_t)(o - text);
    return text;
}

static bool is_vendor(const char *kind)
{
    return kind != NULL && strcmp(kind, "vendor") == 0;
}

/* The body of add (@name set) or update (@name NULL) for a data source of @kind,
 * without its secret. */
static int ds_body(const char *cmd, const char *name, const char *kind,
                   const struct ds_flags *fl, json_t **out)
{
    bool vendor = is_vendor(kind);
    const struct {
        const char *key, *value, *flag;
    } fields[] = {
        {"url", fl->url, "--url"},
        {vendor ? "tenant_id" : "tenant", fl->source_tenant, "--source-tenant"},
        {vendor ? "app_id" : "client_id", fl->client_id, "--client-id"},
        {"account_id", fl->account_id, "--account-id"},
        {"user", fl->user, "--user"},
        {"list_path", fl->list_path, "--list-path"},
    };
    json_t *body = json_object();
    int rv = 0;
    if (!vendor && (fl->account_id != NULL || fl->user != NULL || fl->list_path != NULL)) {
        rv = usage_error(cmd, "--account-id, --user and --list-path are for kind vendor");
    }
    if (rv == 0 && name != NULL) {
        rv = put_string(cmd, body, "name", name, "NAME");
        if (rv == 0) {
            rv = put_string(cmd, body, "kind", kind, "--kind");
        }
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields) && rv == 0; i++) {
        if (fields[i].value != NULL) {
            rv = put_string(cmd, body, fields[i].key, fields[i].value, fields[i].flag);
        }
    }
    if (rv != 0) {
        json_decref(body);
        return rv;
    }
    *out = body;
    return 0;
}

static void print_datasource(const json_t *d)
{
    bool vendor = is_vendor(jstr(d, "kind"));
    put_field("name", jstr(d, "name"));
    put_field("kind", jstr(d, "kind"));
    put_field("url", jstr(d, "url"));
    put_field("enabled", jbool(d, "enabled") ? "yes" : "no");
    if (vendor) {
        put_field("tenant_id", jstr(d, "tenant_id"));
        put_field("app_id", jstr(d, "app_id"));
        put_field("account_id", jstr(d, "account_id"));
        put_field("user", jstr(d, "user"));
        put_field("list_path", jstr(d, "list_path"));
    } else {
        put_field("tenant", jstr(d, "tenant"));
        put_field("client_id", jstr(d, "client_id"));
    }
    put_field("secret", jbool(d, "secret_set") ? "set (never shown)" : "none");
    put_field("created", jstr(d, "created"));
    put_field("updated", jstr(d, "updated"));
    put_field("by", jstr(d, "created_by"));
}

/* Sends @body (plus the secret, when @secret is set) with @method to @path. */
static int send_ds(struct cli *cli, const char *method, const char *path, const json_t *body,
                   const char *secret_key, const char *secret, json_t **out)
{
    const struct cli_request req = {.method = method, .path = path};
    size_t len;
    char *text = secret != NULL ? secret_body(body, secret_key, secret, &len)
                                : json_dumps(body, JSON_COMPACT);
    int rv = connect_server(cli);
    if (secret == NULL) {
        len = strlen(text);
    }
    if (rv == 0) {
        rv = cli_http_send(cli->http, &req, text, len, NULL, out);
    }
    sodium_memzero(text, len);
    free(text);
    return rv;
}

static int print_answer(struct cli *cli, json_t *ans)
{
    if (cli->json) {
        print_json(ans, false);
    } else {
        print_datasource(ans);
    }
    return 0;
}

static int ds_add(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "datasources add";
    struct ds_flags fl = {0};
    const struct flag flags[] = {{"--kind", NULL, FLAG_VALUE, &fl.kind},
                                 {"--url", NULL, FLAG_VALUE, &fl.url},
                                 {"--source-tenant", NULL, FLAG_VALUE, &fl.source_tenant},
                                 {"--client-id", "--app-id", FLAG_VALUE, &fl.client_id},
                                 {"--account-id", NULL, FLAG_VALUE, &fl.account_id},
                                 {"--user", NULL, FLAG_VALUE, &fl.user},
                                 {"--list-path", NULL, FLAG_VALUE, &fl.list_path},
                                 {"--secret-file", NULL, FLAG_VALUE, &fl.secret_file},
                                 {"--disabled", NULL, FLAG_BOOL, &fl.disabled},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    static const char *const kinds[] = {"imgarc", "vendor", NULL};
    char secret[SECRET_BYTES_MAX + 2] = "";
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "NAME");
    }
    if (rv == 0 && fl.kind == NULL) {
        rv = usage_error(cmd, "missing --kind imgarc|vendor");
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--kind", fl.kind, kinds, "imgarc or vendor");
    }
    if (rv == 0 && (fl.url == NULL || fl.source_tenant == NULL || fl.client_id == NULL ||
                    (is_vendor(fl.kind) && fl.user == NULL))) {
        rv = usage_error(cmd, "a data source needs --url, --source-tenant, --client-id%s",
                         is_vendor(fl.kind) ? " and --user" : "");
    }
    if (rv == 0) {
        rv = ds_body(cmd, a.pos[0], fl.kind, &fl, &body);
    }
    if (rv == 0 && fl.disabled) {
        json_object_set_new(body, "enabled", json_false());
    }
    if (rv == 0) {
        rv = read_secret(cmd, fl.secret_file, secret);
    }
    if (rv == 0) {
        rv = send_ds(cli, "POST", "/api/v1/datasources", body,
                     is_vendor(fl.kind) ? "app_secret" : "client_secret", secret, &ans);
    }
    sodium_memzero(secret, sizeof secret);
    if (rv == 0) {
        rv = print_answer(cli, ans);
    }
    json_decref(body);
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* GET of data source @name: its kind, for update's field names. */
static int ds_kind(struct cli *cli, const char *name, char *kind, size_t size)
{
    json_t *ans = NULL;
    int rv = id_request(cli, "GET", "/api/v1/datasources/", name, "", NULL, &ans);
    if (rv == 0) {
        snprintf(kind, size, "%s", jstr(ans, "kind"));
    }
    json_decref(ans);
    return rv;
}

static int ds_update(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "datasources update";
    struct ds_flags fl = {0};
    const struct flag flags[] = {{"--url", NULL, FLAG_VALUE, &fl.url},
                                 {"--source-tenant", NULL, FLAG_VALUE, &fl.source_tenant},
                                 {"--client-id", "--app-id", FLAG_VALUE, &fl.client_id},
                                 {"--account-id", NULL, FLAG_VALUE, &fl.account_id},
                                 {"--user", NULL, FLAG_VALUE, &fl.user},
                                 {"--list-path", NULL, FLAG_VALUE, &fl.list_path},
                                 {"--secret-file", NULL, FLAG_VALUE, &fl.secret_file},
                                 {"--secret-stdin", NULL, FLAG_BOOL, &fl.secret_stdin},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    char secret[SECRET_BYTES_MAX + 2] = "", kind[16] = "";
    bool new_secret;
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    new_secret = fl.secret_file != NULL || fl.secret_stdin;
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "NAME");
    }
    if (rv == 0) {
        rv = check_id(cmd, "NAME", a.pos[0]);
    }
    if (rv == 0 && fl.url == NULL && fl.source_tenant == NULL && fl.client_id == NULL &&
        fl.account_id == NULL && fl.user == NULL && fl.list_path == NULL && !new_secret) {
        rv = usage_error(cmd, "nothing to change: give a field's flag, or --secret-file FILE "
                              "or --secret-stdin for a new secret");
    }
    if (rv == 0 && new_secret) {
        rv = read_secret(cmd, fl.secret_file, secret);
    }
    if (rv == 0) {
        rv = ds_kind(cli, a.pos[0], kind, sizeof kind);
    }
    if (rv == 0) {
        rv = ds_body(cmd, NULL, kind, &fl, &body);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/datasources/", a.pos[0], "");
        rv = send_ds(cli, "PATCH", path, body,
                     is_vendor(kind) ? "app_secret" : "client_secret",
                     new_secret ? secret : NULL, &ans);
        free(path);
    }
    sodium_memzero(secret, sizeof secret);
    if (rv == 0) {
        rv = print_answer(cli, ans);
    }
    json_decref(body);
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_datasources(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "datasources");
    const json_t *d;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no data sources\n");
        return;
    }
    printf("%-24s  %-6s  %-7s  %-24s  %s\n", "NAME", "KIND", "ENABLED", "UPDATED", "URL");
    json_array_foreach(list, i, d)
    {
        put_cell(jstr(d, "name"), 24);
        put_cell(jstr(d, "kind"), 6);
        put_cell(jbool(d, "enabled") ? "yes" : "no", 7);
        put_cell(jstr(d, "updated"), 24);
        put_text(jstr(d, "url"));
        putchar('\n');
    }
}

static int ds_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "datasources list", "/api/v1/datasources", argc, argv,
                    print_datasources);
}

static void print_deleted(const json_t *ans)
{
    put_text(jstr(ans, "name"));
    printf(": data source deleted (index %lld)\n", jint(ans, "index"));
}

static void print_test(const json_t *ans)
{
    put_text(jstr(ans, "name"));
    printf(": ok (%lld ms): ", jint(ans, "elapsed_ms"));
    put_text(jstr(ans, "detail"));
    putchar('\n');
}

/* show, delete, enable, disable, test: @method on /api/v1/datasources/NAME@suffix. */
static int ds_name_cmd(struct cli *cli, const char *cmd, const char *method, const char *suffix,
                       json_t *body, int argc, char **argv, void (*print)(const json_t *ans))
{
    const struct id_command c = {method, "/api/v1/datasources/", suffix, "NAME", check_id,
                                 print};
    return id_command(cli, &c, cmd, argc, argv, body);
}

static int ds_show(struct cli *cli, int argc, char **argv)
{
    return ds_name_cmd(cli, "datasources show", "GET", "", NULL, argc, argv, print_datasource);
}

static int ds_delete(struct cli *cli, int argc, char **argv)
{
    return ds_name_cmd(cli, "datasources delete", "DELETE", "", NULL, argc, argv,
                       print_deleted);
}

static int ds_enable(struct cli *cli, int argc, char **argv)
{
    return ds_name_cmd(cli, "datasources enable", "PATCH", "",
                       json_pack("{s:b}", "enabled", 1), argc, argv, print_datasource);
}

static int ds_disable(struct cli *cli, int argc, char **argv)
{
    return ds_name_cmd(cli, "datasources disable", "PATCH", "",
                       json_pack("{s:b}", "enabled", 0), argc, argv, print_datasource);
}

static int ds_test(struct cli *cli, int argc, char **argv)
{
    return ds_name_cmd(cli, "datasources test", "POST", "/test", NULL, argc, argv, print_test);
}

int cmd_datasources(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"add", ds_add},         {"list", ds_list},       {"show", ds_show},
        {"update", ds_update},   {"enable", ds_enable},   {"disable", ds_disable},
        {"delete", ds_delete},   {"test", ds_test},
    };
    return run_action(cli, "datasources", actions, ARRAY_SIZE(actions), argc, argv);
}
