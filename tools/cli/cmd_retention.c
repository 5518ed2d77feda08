/* imgarc retention and imgarc delete-bill (docs/retention.md, docs/cli.md "retention"):
 * the tenant's default and each bill type's retention period, and deleting a bill once
 * neither a hold nor its period applies. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "base/mem.h"

#define DELETE_REASON_MAX 1024

/* "30 years", "permanent". */
static void years_text(const json_t *years, char *buf, size_t size)
{
    if (json_is_string(years)) {
        snprintf(buf, size, "%s", json_string_value(years));
    } else {
        snprintf(buf, size, "%lld year%s", (long long)json_integer_value(years),
                 json_integer_value(years) == 1 ? "" : "s");
    }
}

static void print_retention(const json_t *ans)
{
    enum { COLS = 4 };
    static const char *const head[COLS] = {"BILL TYPE", "NAME", "PERIOD", "SET ON"};
    const json_t *types = json_object_get(ans, "bill_types");
    const json_t *def = json_object_get(ans, "default");
    size_t n = json_array_size(types), i;
    char (*text)[32] = xcalloc(n + 1, sizeof *text);
    const char **cells;
    const json_t *t;
    years_text(json_object_get(def, "years"), text[n], sizeof text[n]);
    put_field("default", text[n]);
    put_field("set on", jstr(def, "from"));
    if (n == 0) {
        free(text);
        return;
    }
    cells = xcalloc((n + 1) * COLS, sizeof *cells);
    memcpy(cells, head, sizeof head);
    json_array_foreach(types, i, t)
    {
        const char **row = cells + (i + 1) * COLS;
        years_text(json_object_get(t, "years"), text[i], sizeof text[i]);
        row[0] = jstr(t, "code");
        row[1] = jstr(t, "name");
        row[2] = text[i];
        row[3] = jstr(t, "from");
    }
    printf("\n");
    print_table(cells, n + 1, COLS);
    free(cells);
    free(text);
}

static int retention_show(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "retention show", "/api/v1/retention", argc, argv, print_retention);
}

/* --years N | permanent | inherit into @body's "years". */
static int years_value(const char *v, json_t *body)
{
    char *end;
    long n;
    if (v == NULL) {
        return usage_error("retention set", "missing --years N|permanent|inherit");
    }
    if (strcmp(v, "permanent") == 0) {
        json_object_set_new(body, "years", json_string("permanent"));
        return 0;
    }
    if (strcmp(v, "inherit") == 0) {
        json_object_set_new(body, "years", json_null());
        return 0;
    }
    errno = 0;
    n = strtol(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || n < 0 || n > ARCHIVE_RETENTION_YEARS_MAX) {
        return usage_error("retention set", "--years is 0-%d, permanent or inherit, not '%s'",
                           ARCHIVE_RETENTION_YEARS_MAX, v);
    }
    json_object_set_new(body, "years", json_integer(n));
    return 0;
}

/* retention set [--bill-type CODE] --years N|permanent|inherit */
static int retention_set(struct cli *cli, int argc, char **argv)
{
    const char *type = NULL, *years = NULL;
    const struct flag flags[] = {{"--bill-type", NULL, FLAG_VALUE, &type},
                                 {"--years", NULL, FLAG_VALUE, &years},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "PUT", .path = "/api/v1/retention"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "retention set", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("retention set", &a, 0, 0, "nothing");
    }
    if (rv == 0 && type != NULL) {
        rv = put_string("retention set", body, "bill_type", type, "--bill-type");
    }
    if (rv == 0) {
        rv = years_value(years, body);
    }
    if (rv == 0) {
        rv = send_and_print(cli, 0, &req, body, print_retention);
    }
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_retention(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"show", retention_show}, {"set", retention_set}};
    return run_action(cli, "retention", actions, ARRAY_SIZE(actions), argc, argv);
}

static void print_deleted(const json_t *ans)
{
    printf("bill %s deleted (raft index %lld); its summary is in the admin audit log "
           "('imgarc audit')\n",
           plain(jstr(ans, "image_no")), (long long)json_integer_value(json_object_get(ans, "index")));
}

/* delete-bill IMAGE_NO [--reason R] */
int cmd_delete_bill(struct cli *cli, int argc, char **argv)
{
    const char *reason = NULL;
    const struct flag flags[] = {{"--reason", NULL, FLAG_VALUE, &reason},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    json_t *body = NULL;
    char *path = NULL;
    int rv = parse_command(cli, "delete-bill", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("delete-bill", &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0 && reason != NULL && strlen(reason) > DELETE_REASON_MAX) {
        rv = usage_error("delete-bill", "--reason is over %d bytes", DELETE_REASON_MAX);
    }
    if (rv == 0 && reason != NULL) {
        body = json_object();
        rv = put_string("delete-bill", body, "reason", reason, "--reason");
    }
    if (rv == 0) {
        path = cli_http_path("/api/v1/bills/", a.pos[0], "");
        const struct cli_request req = {.method = "DELETE", .path = path};
        rv = send_and_print(cli, 0, &req, body, print_deleted);
    }
    json_decref(body);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
