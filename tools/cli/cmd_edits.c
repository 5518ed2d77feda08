/* Custom categories (category create and list) and the edits of a bill's files:
 * categorize, rotate, move, delete-files, merge, split. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- category ---- */

static void print_category_saved(const json_t *ans)
{
    print_defined(ans, "code", "category saved, name ");
    put_text(jstr(ans, "name"));
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int category_create(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "category create";
    const char *name = NULL;
    const struct flag flags[] = {{"--name", NULL, FLAG_VALUE, &name},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/categories"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "CODE");
    }
    if (rv == 0 && builtin_category(a.pos[0])) {
        rv = usage_error(cmd, "'%s' is a built-in category; a custom one needs another code",
                         a.pos[0]);
    }
    if (rv == 0) {
        rv = check_category(cmd, "CODE", a.pos[0]);
    }
    if (rv == 0) {
        json_object_set_new(body, "code", json_string(a.pos[0]));
        rv = name != NULL ? put_string(cmd, body, "name", name, "--name") : 0;
    }
    rv = send_and_print(cli, rv, &req, body, print_category_saved);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_categories(const json_t *ans)
{
    const json_t *c;
    size_t i;
    printf("%-12s  %-8s  %-24s  %s\n", "CODE", "KIND", "CREATED", "NAME");
    json_array_foreach(json_object_get(ans, "built_in"), i, c)
    {
        put_cell(json_string_value(c) != NULL ? json_string_value(c) : "?", 12);
        put_cell("built-in", 8);
        put_cell("", 24);
        putchar('-');
        putchar('\n');
    }
    json_array_foreach(json_object_get(ans, "categories"), i, c)
    {
        put_cell(jstr(c, "code"), 12);
        put_cell("custom", 8);
        put_cell(jstr(c, "created"), 24);
        put_text(jstr(c, "name"));
        putchar('\n');
    }
}

static int category_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "category list", "/api/v1/categories", argc, argv, print_categories);
}

int cmd_category(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", category_create},
                                            {"list", category_list}};
    return run_action(cli, "category", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- categorize, rotate, move, delete-files, merge, split ---- */

int cmd_categorize(struct cli *cli, int argc, char **argv)
{
    const char *category = NULL;
    const struct flag flags[] = {{"--category", NULL, FLAG_VALUE, &category},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = "/categorize"};
    char *what = NULL;
    struct args a;
    int rv = parse_command(cli, "categorize", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("categorize", &a, 1, SIZE_MAX, "IMAGE_NO");
    }
    if (rv == 0 && category == NULL) {
        rv = usage_error("categorize", "missing --category C (cover, invoice, attachment or a "
                                       "custom category)");
    }
    if (rv == 0) {
        rv = check_category("categorize", "--category", category);
    }
    if (rv == 0) {
        rv = file_ids_body("categorize", &a, 1, &op.body);
    }
    if (rv == 0) {
        char *rest = xasprintf("set to category %s", category);
        what = count_files(a.n - 1, rest);
        free(rest);
        json_object_set_new(op.body, "category", json_string(category));
        op.image_no = a.pos[0];
        op.what = what;
        rv = bill_op(cli, &op);
    }
    free(what);
    json_decref(op.body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_rotate(struct cli *cli, int argc, char **argv)
{
    static const char *const degrees_ok[] = {"90", "-90", "180", NULL};
    const char *degrees = NULL;
    const struct flag flags[] = {{"--degrees", NULL, FLAG_VALUE, &degrees},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = "/rotate"};
    char *what = NULL;
    struct args a;
    int rv = parse_command(cli, "rotate", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("rotate", &a, 1, SIZE_MAX, "IMAGE_NO");
    }
    if (rv == 0 && degrees == NULL) {
        rv = usage_error("rotate", "missing --degrees 90|-90|180");
    }
    if (rv == 0) {
        rv = check_choice("rotate", "--degrees", degrees, degrees_ok,
                          "90 (right), -90 (left) or 180");
    }
    if (rv == 0) {
        rv = file_ids_body("rotate", &a, 1, &op.body);
    }
    if (rv == 0) {
        char *rest = xasprintf("rotated by %s degrees", degrees);
        what = count_files(a.n - 1, rest);
        free(rest);
        json_object_set_new(op.body, "degrees", json_integer(atoi(degrees)));
        op.image_no = a.pos[0];
        op.what = what;
        rv = bill_op(cli, &op);
    }
    free(what);
    json_decref(op.body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* {"after": FILE_ID | null, "category"?} from --after or --first and --category. */
static int move_body(const char *after, bool first, const char *category, json_t **out)
{
    if ((after == NULL) == !first) {
        return usage_error("move", after == NULL ? "missing --after FILE_ID or --first"
                                                 : "--after and --first do not go together");
    }
    if (after != NULL && after[0] == '\0') {
        return usage_error("move", "--after needs a file id");
    }
    if (category != NULL && check_category("move", "--category", category) != 0) {
        return CLI_EUSAGE;
    }
    *out = json_pack("{s:o}", "after", after != NULL ? json_string(after) : json_null());
    if (category != NULL) {
        json_object_set_new(*out, "category", json_string(category));
    }
    return 0;
}

int cmd_move(struct cli *cli, int argc, char **argv)
{
    const char *after = NULL, *category = NULL;
    bool first = false;
    const struct flag flags[] = {{"--after", NULL, FLAG_VALUE, &after},
                                 {"--first", NULL, FLAG_BOOL, &first},
                                 {"--category", NULL, FLAG_VALUE, &category},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = "/move"};
    struct args a;
    int rv = parse_command(cli, "move", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("move", &a, 2, 2, "IMAGE_NO and FILE_ID");
    }
    if (rv == 0) {
        rv = move_body(after, first, category, &op.body);
    }
    if (rv == 0) {
        char *what = after != NULL ? xasprintf("file %s moved after %s", a.pos[1], after)
                                   : xasprintf("file %s moved first", a.pos[1]);
        op.image_no = a.pos[0];
        op.file_id = a.pos[1];
        op.what = what;
        rv = bill_op(cli, &op);
        free(what);
    }
    json_decref(op.body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* delete-files and merge: IMAGE_NO FILE_ID..., POSTed as {"file_ids"} to @suffix. */
static int file_list_cmd(struct cli *cli, const char *cmd, const char *suffix, size_t min,
                         const char *rest, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = suffix};
    char *what = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, SIZE_MAX, "IMAGE_NO");
    }
    if (rv == 0) {
        rv = file_ids_body(cmd, &a, min, &op.body);
    }
    if (rv == 0) {
        what = count_files(a.n - 1, rest);
        op.image_no = a.pos[0];
        op.what = what;
        rv = bill_op(cli, &op);
    }
    free(what);
    json_decref(op.body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_delete_files(struct cli *cli, int argc, char **argv)
{
    return file_list_cmd(cli, "delete-files", "/delete", 1, "deleted", argc, argv);
}

int cmd_merge(struct cli *cli, int argc, char **argv)
{
    return file_list_cmd(cli, "merge", "/merge", 2, "merged into one document", argc, argv);
}

int cmd_split(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {.method = "POST",
                         .file_id = "",
                         .suffix = "/split",
                         .what = "document split back into its files"};
    return simple_bill_op(cli, "split", argc, argv, &op);
}
