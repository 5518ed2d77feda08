/* org: the tenant's organisations, a tree (create, list as an indented tree, rename,
 * move). */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- org ---- */

/* Where an organisation is: "under HQ", else @top ("at the top", "to the top"). */
static void put_parent(const json_t *ans, const char *top)
{
    const char *parent = json_string_value(json_object_get(ans, "parent"));
    if (parent != NULL) {
        fputs("under ", stdout);
        put_text(parent);
    } else {
        fputs(top, stdout);
    }
}

static void print_org_created(const json_t *ans)
{
    put_text(jstr(ans, "id"));
    fputs(": organisation created, name ", stdout);
    put_text(jstr(ans, "name"));
    fputs(", ", stdout);
    put_parent(ans, "at the top");
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int org_create(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL, *parent = NULL;
    const struct flag flags[] = {{"--name", NULL, FLAG_VALUE, &name},
                                 {"--parent", NULL, FLAG_VALUE, &parent},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/orgs"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "org create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("org create", &a, 1, 1, "ID");
    }
    if (rv == 0) {
        rv = check_id("org create", "ID", a.pos[0]);
    }
    if (rv == 0 && (name == NULL || name[0] == '\0')) {
        rv = usage_error("org create", "missing --name NAME");
    }
    if (rv == 0 && parent != NULL) {
        rv = check_id("org create", "--parent", parent);
    }
    if (rv == 0) {
        json_object_set_new(body, "id", json_string(a.pos[0]));
        rv = put_string("org create", body, "name", name, "--name");
    }
    if (rv == 0 && parent != NULL) {
        json_object_set_new(body, "parent", json_string(parent));
    }
    rv = send_and_print(cli, rv, &req, body, print_org_created);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int by_name(const void *x, const void *y)
{
    const json_t *const *a = x, *const *b = y;
    int c = strcmp(jstr(*a, "name"), jstr(*b, "name"));
    return c != 0 ? c : strcmp(jstr(*a, "id"), jstr(*b, "id"));
}

/* True when @org hangs under @parent: NULL means the top, where organisations whose
 * parent is not in the list go too, so that none is left out. */
static bool child_of(const json_t *org, const char *parent, const json_t *const *all, size_t n)
{
    const char *p = json_string_value(json_object_get(org, "parent"));
    if (parent != NULL) {
        return p != NULL && strcmp(p, parent) == 0;
    }
    for (size_t i = 0; p != NULL && i < n; i++) {
        if (strcmp(jstr(all[i], "id"), p) == 0) {
            return false;
        }
    }
    return true;
}

/* Prints the children of @parent, sorted by name, each followed by its own children;
 * @depth is bounded by @n, so that a cycle in a broken answer cannot loop. */
static void print_org_level(const json_t *const *all, size_t n, const char *parent,
                            size_t depth)
{
    for (size_t i = 0; i < n && depth < n; i++) {
        if (!child_of(all[i], parent, all, n)) {
            continue;
        }
        printf("%*s", (int)(2 * depth), "");
        put_text(jstr(all[i], "name"));
        fputs("  (", stdout);
        put_text(jstr(all[i], "id"));
        fputs(")\n", stdout);
        print_org_level(all, n, jstr(all[i], "id"), depth + 1);
    }
}

static void print_orgs(const json_t *ans)
{
    const json_t *orgs = json_object_get(ans, "orgs");
    size_t n = json_array_size(orgs);
    const json_t **all = xcalloc(n + 1, sizeof *all);
    for (size_t i = 0; i < n; i++) {
        all[i] = json_array_get(orgs, i);
    }
    qsort(all, n, sizeof *all, by_name);
    if (n == 0) {
        fprintf(stderr, "imgarc: no organisations in tenant %s\n", plain(jstr(ans, "tenant")));
    }
    print_org_level(all, n, NULL, 0);
    free(all);
}

static int org_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "org list", "/api/v1/orgs", argc, argv, print_orgs);
}

/* org rename and org move: PATCH /api/v1/orgs/ID with @body, then one line. */
static int org_patch(struct cli *cli, const char *id, json_t *body)
{
    json_t *ans = NULL;
    int rv = id_request(cli, "PATCH", "/api/v1/orgs/", id, "", body, &ans);
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "id"));
        if (json_object_get(ans, "name") != NULL) {
            fputs(": renamed to ", stdout);
            put_text(jstr(ans, "name"));
        } else {
            fputs(": moved ", stdout);
            put_parent(ans, "to the top");
        }
        printf(" (index %lld)\n", jint(ans, "index"));
    }
    json_decref(ans);
    return rv;
}

static int org_rename(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "org rename", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("org rename", &a, 2, 2, "ID and NAME");
    }
    if (rv == 0) {
        rv = check_id("org rename", "ID", a.pos[0]);
    }
    if (rv == 0) {
        rv = put_string("org rename", body, "name", a.pos[1], "NAME");
    }
    if (rv == 0) {
        rv = org_patch(cli, a.pos[0], body);
    }
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int org_move(struct cli *cli, int argc, char **argv)
{
    bool top = false;
    const struct flag flags[] = {{"--top", NULL, FLAG_BOOL, &top},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = NULL;
    struct args a;
    int rv = parse_command(cli, "org move", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("org move", &a, top ? 1 : 2, top ? 1 : 2,
                       top ? "ID" : "ID and PARENT (or --top)");
    }
    if (rv == 0) {
        rv = check_id("org move", "ID", a.pos[0]);
    }
    if (rv == 0 && !top) {
        rv = check_id("org move", "PARENT", a.pos[1]);
    }
    if (rv == 0) {
        body = json_pack("{s:o}", "parent", top ? json_null() : json_string(a.pos[1]));
        rv = org_patch(cli, a.pos[0], body);
    }
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_deleted(const json_t *ans)
{
    put_text(jstr(ans, "id"));
    printf(": deleted (index %lld); grants naming it were taken away ('imgarc audit' lists "
           "whose)\n", jint(ans, "index"));
}

/* org delete ID: refused while bills or organisations belong to it. */
static int org_delete(struct cli *cli, int argc, char **argv)
{
    static const struct id_command c = {.method = "DELETE", .prefix = "/api/v1/orgs/",
                                        .suffix = "", .arg = "ID", .check = check_id,
                                        .print = print_deleted};
    return id_command(cli, &c, "org delete", argc, argv, NULL);
}

int cmd_org(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", org_create},
                                            {"list", org_list},
                                            {"rename", org_rename},
                                            {"move", org_move},
                                            {"delete", org_delete}};
    return run_action(cli, "org", actions, ARRAY_SIZE(actions), argc, argv);
}
