/* imgarc hold: legal holds on a bill (docs/retention.md, docs/cli.md "hold"). A held
 * bill's files cannot be deleted or replaced until every hold is lifted. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/archive.h"
#include "base/mem.h"

/* The API takes reasons of 1 to ARCHIVE_HOLD_REASON_MAX bytes (lifting: from 0). */
#define HOLD_REASON_MAX ARCHIVE_HOLD_REASON_MAX

static void print_holds(const json_t *holds)
{
    enum { COLS = 4 };
    static const char *const head[COLS] = {"HOLD", "PLACED", "BY", "REASON"};
    size_t n = json_array_size(holds);
    const char **cells;
    const json_t *h;
    size_t i;
    if (n == 0) {
        put_field("holds", "none: files may be deleted and replaced as the bill's state allows");
        return;
    }
    cells = xcalloc((n + 1) * COLS, sizeof *cells);
    memcpy(cells, head, sizeof head);
    json_array_foreach(holds, i, h)
    {
        const char **row = cells + (i + 1) * COLS;
        row[0] = jstr(h, "hold_id");
        row[1] = jstr(h, "placed");
        row[2] = jstr(h, "placed_by");
        row[3] = jstr(h, "reason");
    }
    print_table(cells, n + 1, COLS);
    free(cells);
}

static void print_placed(const json_t *ans)
{
    printf("hold %s placed on bill %s\n", plain(jstr(ans, "hold_id")), plain(jstr(ans, "image_no")));
    print_holds(json_object_get(ans, "holds"));
}

static void print_lifted(const json_t *ans)
{
    printf("hold lifted from bill %s\n", plain(jstr(ans, "image_no")));
    print_holds(json_object_get(ans, "holds"));
}

static void print_bill_holds(const json_t *ans)
{
    print_holds(json_object_get(ans, "holds"));
}

static int reason_flag(const char *cmd, const char *reason, bool required)
{
    if (required && (reason == NULL || reason[0] == '\0')) {
        return usage_error(cmd, "missing --reason TEXT: the case, order or audit the bill is "
                                "kept for");
    }
    if (reason != NULL && strlen(reason) > HOLD_REASON_MAX) {
        return usage_error(cmd, "--reason is over %d bytes", HOLD_REASON_MAX);
    }
    return 0;
}

/* hold place IMAGE_NO --reason R */
static int hold_place(struct cli *cli, int argc, char **argv)
{
    const char *reason = NULL;
    const struct flag flags[] = {{"--reason", NULL, FLAG_VALUE, &reason},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    json_t *body = NULL;
    char *path = NULL;
    int rv = parse_command(cli, "hold place", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("hold place", &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0) {
        rv = reason_flag("hold place", reason, true);
    }
    if (rv == 0) {
        body = json_object();
        rv = put_string("hold place", body, "reason", reason, "--reason");
    }
    if (rv == 0) {
        path = cli_http_path("/api/v1/bills/", a.pos[0], "/holds");
        const struct cli_request req = {.method = "POST", .path = path};
        rv = send_and_print(cli, 0, &req, body, print_placed);
    }
    json_decref(body);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* hold lift IMAGE_NO HOLD_ID [--reason R] */
static int hold_lift(struct cli *cli, int argc, char **argv)
{
    const char *reason = NULL;
    const struct flag flags[] = {{"--reason", NULL, FLAG_VALUE, &reason},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    json_t *body = NULL;
    char *bill = NULL, *path = NULL;
    int rv = parse_command(cli, "hold lift", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("hold lift", &a, 2, 2, "IMAGE_NO and HOLD_ID");
    }
    if (rv == 0) {
        rv = reason_flag("hold lift", reason, false);
    }
    if (rv == 0 && reason != NULL) {
        body = json_object();
        rv = put_string("hold lift", body, "reason", reason, "--reason");
    }
    if (rv == 0) {
        bill = cli_http_path("/api/v1/bills/", a.pos[0], "/holds/");
        path = cli_http_path(bill, a.pos[1], "");
        const struct cli_request req = {.method = "DELETE", .path = path};
        rv = send_and_print(cli, 0, &req, body, print_lifted);
    }
    json_decref(body);
    free(path);
    free(bill);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* hold list IMAGE_NO: the holds in force (GET /api/v1/bills/IMAGE_NO's "holds"). */
static int hold_list(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    char *path = NULL;
    int rv = parse_command(cli, "hold list", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("hold list", &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0) {
        path = cli_http_path("/api/v1/bills/", a.pos[0], "");
        const struct cli_request req = {.method = "GET", .path = path};
        rv = send_and_print(cli, 0, &req, NULL, print_bill_holds);
    }
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_hold(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"place", hold_place}, {"lift", hold_lift}, {"list", hold_list}};
    return run_action(cli, "hold", actions, ARRAY_SIZE(actions), argc, argv);
}
