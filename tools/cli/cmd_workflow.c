/* The workflow after capture: bill types and schemes (the tenant's definitions),
 * invoice set, match (run, show, file, undo), erp-submit and return. The requests on
 * a bill go through request.c's bill_op(). */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bill-type, scheme: the tenant's definitions ---- */

static void print_bill_type_saved(const json_t *ans)
{
    print_defined(ans, "code", "bill type saved, mode ");
    put_text(jstr(ans, "mode"));
    fputs(", name ", stdout);
    put_text(jstr(ans, "name"));
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int bill_type_create(struct cli *cli, int argc, char **argv)
{
    static const char *const modes[] = {"basic", "sync", "match", NULL};
    const char *cmd = "bill-type create";
    const char *mode = NULL, *name = NULL;
    const struct flag flags[] = {{"--mode", NULL, FLAG_VALUE, &mode},
                                 {"--name", NULL, FLAG_VALUE, &name},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/bill-types"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "CODE");
    }
    if (rv == 0) {
        rv = check_id(cmd, "CODE", a.pos[0]);
    }
    if (rv == 0 && mode == NULL) {
        rv = usage_error(cmd, "missing --mode basic|sync|match");
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--mode", mode, modes, "basic, sync or match");
    }
    if (rv == 0) {
        json_object_set_new(body, "code", json_string(a.pos[0]));
        json_object_set_new(body, "mode", json_string(mode));
        rv = name != NULL ? put_string(cmd, body, "name", name, "--name") : 0;
    }
    rv = send_and_print(cli, rv, &req, body, print_bill_type_saved);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_bill_types(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "bill_types");
    const json_t *t;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no bill types\n");
        return;
    }
    printf("%-20s  %-6s  %-24s  %s\n", "CODE", "MODE", "CREATED", "NAME");
    json_array_foreach(list, i, t)
    {
        put_cell(jstr(t, "code"), 20);
        put_cell(jstr(t, "mode"), 6);
        put_cell(jstr(t, "created"), 24);
        put_text(jstr(t, "name"));
        putchar('\n');
    }
}

static int bill_type_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "bill-type list", "/api/v1/bill-types", argc, argv, print_bill_types);
}

int cmd_bill_type(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", bill_type_create},
                                            {"list", bill_type_list}};
    return run_action(cli, "bill-type", actions, ARRAY_SIZE(actions), argc, argv);
}

static void print_scheme_set(const json_t *ans)
{
    const char *org = json_string_value(json_object_get(ans, "org"));
    print_defined(ans, "bill_type", "scheme set, match ");
    put_text(jstr(ans, "match"));
    fputs(", submit ", stdout);
    put_text(jstr(ans, "submit"));
    if (org != NULL) {
        fputs(", for organisation ", stdout);
        put_text(org);
        fputs(" and those under it", stdout);
    } else {
        fputs(", for every organisation", stdout);
    }
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int scheme_set(struct cli *cli, int argc, char **argv)
{
    static const char *const levels[] = {"normal", "standard", NULL};
    static const char *const submits[] = {"auto", "manual", NULL};
    const char *cmd = "scheme set";
    const char *org = NULL, *match = NULL, *submit = NULL;
    const struct flag flags[] = {{"--org", NULL, FLAG_VALUE, &org},
                                 {"--match", NULL, FLAG_VALUE, &match},
                                 {"--submit", NULL, FLAG_VALUE, &submit},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/schemes"};
    json_t *body = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "BILL_TYPE");
    }
    if (rv == 0) {
        rv = check_id(cmd, "BILL_TYPE", a.pos[0]);
    }
    if (rv == 0 && org != NULL) {
        rv = check_id(cmd, "--org", org);
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--match", match, levels, "normal or standard");
    }
    if (rv == 0) {
        rv = check_choice(cmd, "--submit", submit, submits, "auto or manual");
    }
    if (rv == 0) {
        /* Unset ones are left out: the node's defaults are normal and manual. */
        body = json_pack("{s:s, s:s*, s:s*, s:s*}", "bill_type", a.pos[0], "org", org, "match",
                         match, "submit", submit);
        ASSERT(body != NULL);
    }
    rv = send_and_print(cli, rv, &req, body, print_scheme_set);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_schemes(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "schemes");
    const json_t *s;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no schemes; bill types without one behave as basic\n");
        return;
    }
    printf("%-20s  %-16s  %-8s  %-6s  %s\n", "BILL_TYPE", "ORG", "MATCH", "SUBMIT", "UPDATED");
    json_array_foreach(list, i, s)
    {
        put_cell(jstr(s, "bill_type"), 20);
        put_cell(jstr(s, "org"), 16);
        put_cell(jstr(s, "match"), 8);
        put_cell(jstr(s, "submit"), 6);
        put_text(jstr(s, "updated"));
        putchar('\n');
    }
}

static int scheme_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "scheme list", "/api/v1/schemes", argc, argv, print_schemes);
}

int cmd_scheme(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"set", scheme_set}, {"list", scheme_list}};
    return run_action(cli, "scheme", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- invoice set ---- */

static int invoice_body(const char *cmd, const char *const *values, json_t **out)
{
    static const char *const keys[] = {"number", "code", "date", "amount", "tax", "total"};
    json_t *inv = json_object();
    int rv = 0;
    if (values[0] == NULL || values[0][0] == '\0') {
        rv = usage_error(cmd, "missing --number N, the invoice number");
    }
    for (size_t i = 0; i < ARRAY_SIZE(keys) && rv == 0; i++) {
        char flag[16];
        snprintf(flag, sizeof flag, "--%s", keys[i]);
        if (values[i] == NULL) {
            continue;
        }
        if (i >= 3 && values[i][0] != '\0' && !valid_amount(values[i])) {
            rv = usage_error(cmd, "%s '%s' is not a decimal number such as 12.50", flag,
                             values[i]);
        } else {
            rv = put_string(cmd, inv, keys[i], values[i], flag);
        }
    }
    if (rv != 0) {
        json_decref(inv);
        return rv;
    }
    *out = json_pack("{s:o}", "invoice", inv);
    return 0;
}

static int invoice_set(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "invoice set";
    const char *v[6] = {NULL};
    const struct flag flags[] = {
        {"--number", NULL, FLAG_VALUE, &v[0]}, {"--code", NULL, FLAG_VALUE, &v[1]},
        {"--date", NULL, FLAG_VALUE, &v[2]},   {"--amount", NULL, FLAG_VALUE, &v[3]},
        {"--tax", NULL, FLAG_VALUE, &v[4]},    {"--total", NULL, FLAG_VALUE, &v[5]},
        {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "PATCH", .suffix = ""};
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 2, 2, "IMAGE_NO and FILE_ID");
    }
    if (rv == 0) {
        rv = invoice_body(cmd, v, &op.body);
    }
    if (rv == 0) {
        char *what = xasprintf("invoice data of file %s set, number %s", a.pos[1], v[0]);
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

int cmd_invoice(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"set", invoice_set}};
    return run_action(cli, "invoice", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- match run, show, file, undo ---- */

static int match_run(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {.method = "POST", .suffix = "/match", .what = "matching run"};
    return simple_bill_op(cli, "match run", argc, argv, &op);
}

#define INVOICE_KEYS 6

/* The six fields of an invoice (null: no data, every cell empty) into @cells. */
static void invoice_cells(const json_t *inv, const char **cells)
{
    static const char *const keys[INVOICE_KEYS] = {"number", "code", "date",
                                                   "amount", "tax",  "total"};
    for (size_t k = 0; k < INVOICE_KEYS; k++) {
        cells[k] = jstr(inv, keys[k]);
    }
}

/* DECLARED CODE DATE AMOUNT TAX TOTAL MATCHED_BY: the pool bill's invoices. */
static void print_declared(const json_t *declared)
{
    enum { COLS = INVOICE_KEYS + 1 };
    static const char *const head[COLS] = {"DECLARED", "CODE",  "DATE",      "AMOUNT",
                                           "TAX",      "TOTAL", "MATCHED_BY"};
    size_t n = json_array_size(declared);
    const char **cells = xcalloc((n + 1) * COLS, sizeof *cells);
    const json_t *d;
    size_t i;
    if (n == 0) {
        put_field("declared", "none: the pool bill declares no invoices");
        free(cells);
        return;
    }
    memcpy(cells, head, sizeof head);
    json_array_foreach(declared, i, d)
    {
        const char **row = cells + (i + 1) * COLS;
        invoice_cells(json_object_get(d, "invoice"), row);
        row[INVOICE_KEYS] = jstr(d, "file_id");
    }
    putchar('\n');
    print_table(cells, n + 1, COLS);
    free(cells);
}

/* Why an invoice file is not matched: the node's reason, or that it has no data. */
static const char *file_problem(const json_t *f)
{
    if (jstr(f, "match")[0] != '\0') {
        return "";
    }
    if (!json_is_object(json_object_get(f, "invoice"))) {
        return "no invoice data: set it with 'imgarc invoice set'";
    }
    return jstr(f, "problem")[0] != '\0' ? jstr(f, "problem") : "not matched";
}

/* POS INVOICE_FILE NUMBER CODE DATE AMOUNT TAX TOTAL MATCH PROBLEM: the bill's invoice
 * files, their data, the declared invoice each matches and, when none, why. */
static void print_invoice_files(const json_t *files)
{
    enum { COLS = INVOICE_KEYS + 4 };
    static const char *const head[COLS] = {"POS", "INVOICE_FILE", "NUMBER", "CODE",  "DATE",
                                           "AMOUNT", "TAX",       "TOTAL",  "MATCH", "PROBLEM"};
    size_t n = json_array_size(files);
    const char **cells = xcalloc((n + 1) * COLS, sizeof *cells);
    char (*pos)[24] = xcalloc(n + 1, sizeof *pos);
    const json_t *f;
    size_t i;
    if (n == 0) {
        put_field("files", "no invoice files");
        free(pos);
        free(cells);
        return;
    }
    memcpy(cells, head, sizeof head);
    json_array_foreach(files, i, f)
    {
        const char **row = cells + (i + 1) * COLS;
        snprintf(pos[i], sizeof pos[i], "%lld", jint(f, "position"));
        row[0] = pos[i];
        row[1] = jstr(f, "file_id");
        invoice_cells(json_object_get(f, "invoice"), row + 2);
        row[COLS - 2] = jstr(f, "match");
        row[COLS - 1] = file_problem(f);
    }
    putchar('\n');
    print_table(cells, n + 1, COLS);
    free(pos);
    free(cells);
}

static void print_match(const json_t *m)
{
    const json_t *inv = json_object_get(m, "invoices");
    bool standard = strcmp(jstr(m, "level"), "standard") == 0;
    put_field("image_no", jstr(m, "image_no"));
    put_field("state", jstr(m, "state"));
    printf("%-10s ", "mode");
    put_text(jstr(m, "mode")[0] != '\0' ? jstr(m, "mode") : "undecided");
    if (strcmp(jstr(m, "mode"), "match") == 0) {
        fputs(standard ? " (standard: number, code, date, amount, tax and total)"
                       : " (normal: invoice number and total)",
              stdout);
    } else if (jstr(m, "mode")[0] == '\0') {
        /* The node decides the mode at submit, from the bill type's scheme. */
        fputs(" (submit decides it from the bill type's scheme)", stdout);
    }
    putchar('\n');
    printf("%-10s %lld of %lld declared invoices matched\n", "invoices", jint(inv, "matched"),
           jint(inv, "declared"));
    print_declared(json_object_get(m, "declared"));
    print_invoice_files(json_object_get(m, "files"));
}

static int match_show(struct cli *cli, int argc, char **argv)
{
    return bill_show(cli, "match show", argc, argv, "GET", "/match", print_match);
}

static int match_file(struct cli *cli, int argc, char **argv)
{
    const char *cmd = "match file";
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = "/match"};
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 3, 3, "IMAGE_NO, FILE_ID and INVOICE_NUMBER");
    }
    if (rv == 0) {
        op.body = json_object();
        rv = put_string(cmd, op.body, "invoice_number", a.pos[2], "INVOICE_NUMBER");
    }
    if (rv == 0) {
        char *what = xasprintf("file %s matched to invoice %s", a.pos[1], a.pos[2]);
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

static int match_undo(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {
        .method = "DELETE", .file_id = "", .suffix = "/match", .what = "file unmatched"};
    return simple_bill_op(cli, "match undo", argc, argv, &op);
}

int cmd_match(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"run", match_run}, {"show", match_show}, {"file", match_file}, {"undo", match_undo}};
    return run_action(cli, "match", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- erp-submit, return ---- */

int cmd_erp_submit(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {.method = "POST",
                         .suffix = "/erp-submit",
                         .what = "queued for the ERP (see 'imgarc status' for its answer)"};
    return simple_bill_op(cli, "erp-submit", argc, argv, &op);
}

/* The API takes return reasons of 1-1024 bytes. */
#define REASON_BYTES_MAX 1024

int cmd_return(struct cli *cli, int argc, char **argv)
{
    const char *reason = NULL;
    const struct flag flags[] = {{"--reason", NULL, FLAG_VALUE, &reason},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct bill_op op = {.method = "POST", .suffix = "/return", .what = "returned for rescanning"};
    struct args a;
    int rv = parse_command(cli, "return", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("return", &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0 && (reason == NULL || reason[0] == '\0')) {
        rv = usage_error("return", "missing --reason TEXT: what to rescan and why");
    }
    if (rv == 0 && strlen(reason) > REASON_BYTES_MAX) {
        rv = usage_error("return", "--reason is over %d bytes", REASON_BYTES_MAX);
    }
    if (rv == 0) {
        op.body = json_object();
        rv = put_string("return", op.body, "reason", reason, "--reason");
    }
    if (rv == 0) {
        op.image_no = a.pos[0];
        rv = bill_op(cli, &op);
    }
    json_decref(op.body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
