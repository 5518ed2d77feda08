/* Commands on bills: pool push (the business system's bill), submit, status, get and
 * log of one bill, and bills, the list a page at a time. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Commands on one bill: submit, status, get, log ---- */

/* The shape of submit, status, get and log: IMAGE_NO and --json, one request whose
 * answer is stored in *@out. */
static int bill_command(struct cli *cli, const char *cmd, int argc, char **argv,
                        const char *method, const char *suffix, json_t **out)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/bills/", a.pos[0], suffix);
        const struct cli_request req = {.method = method, .path = path};
        rv = cli_http_json(cli->http, &req, NULL, out);
        free(path);
    }
    free(a.pos);
    return rv;
}

static void print_submitted(const json_t *ans)
{
    put_text(jstr(ans, "image_no"));
    fputs(": state ", stdout);
    put_text(jstr(ans, "state"));
    printf(", %s (index %lld)\n", jbool(ans, "ready") ? "ready" : "not ready yet",
           jint(ans, "index"));
}

/* A command on one bill: its answer printed with @print, or as JSON with --json. */
int bill_show(struct cli *cli, const char *name, int argc, char **argv,
              const char *method, const char *suffix, void (*print)(const json_t *ans))
{
    json_t *ans = NULL;
    int rv = bill_command(cli, name, argc, argv, method, suffix, &ans);
    if (rv != 0) {
        return rv == HELP_SHOWN ? 0 : rv;
    }
    if (cli->json) {
        print_json(ans, false);
    } else {
        print(ans);
    }
    json_decref(ans);
    return 0;
}

int cmd_submit(struct cli *cli, int argc, char **argv)
{
    return bill_show(cli, "submit", argc, argv, "POST", "/submit", print_submitted);
}

static void print_status(const json_t *st)
{
    const json_t *counts = json_object_get(st, "counts");
    const json_t *invoices = json_object_get(st, "invoices");
    const json_t *reasons = json_object_get(st, "reasons");
    const json_t *r;
    size_t i;

    put_field("image_no", jstr(st, "image_no"));
    put_field("state", jstr(st, "state"));
    put_field("ready", jbool(st, "ready") ? "yes" : "no");
    printf("%-10s %lld (cover %lld, invoice %lld, attachment %lld)\n", "files", jint(st, "files"),
           jint(counts, "cover"), jint(counts, "invoice"), jint(counts, "attachment"));
    printf("%-10s %lld declared, %lld matched\n", "invoices", jint(invoices, "declared"),
           jint(invoices, "matched"));
    put_field("updated", jstr(st, "updated"));
    json_array_foreach(reasons, i, r)
    {
        const char *text = json_string_value(r);
        put_field(i == 0 ? "reasons" : "", text != NULL ? text : "");
    }
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    return bill_show(cli, "status", argc, argv, "GET", "/status", print_status);
}

/* An invoice as the --invoice flag of pool push spells it. */
static void print_invoice(const json_t *inv)
{
    static const char *const keys[] = {"number", "code", "date", "amount", "tax", "total"};
    printf("%-10s ", "invoice");
    for (size_t k = 0; k < ARRAY_SIZE(keys); k++) {
        printf("%s%s=", k > 0 ? "," : "", keys[k]);
        put_text(jstr(inv, keys[k]));
    }
    putchar('\n');
}

static void print_files(const json_t *files)
{
    const json_t *f;
    size_t i;
    if (json_array_size(files) == 0) {
        put_field("files", "none");
        return;
    }
    printf("\n%3s  %-32s  %-10s  %-6s  %5s  %12s  %s\n", "POS", "FILE_ID", "CATEGORY", "FORMAT",
           "PAGES", "SIZE", "NAME");
    json_array_foreach(files, i, f)
    {
        printf("%3lld  ", jint(f, "position"));
        put_cell(jstr(f, "file_id"), 32);
        put_cell(jstr(f, "category"), 10);
        put_cell(jstr(f, "format"), 6);
        printf("%5lld  %12lld  ", jint(f, "pages"), jint(f, "size"));
        put_text(jstr(f, "name"));
        putchar('\n');
    }
}

static void print_bill(const json_t *b)
{
    static const char *const keys[] = {"image_no", "bill_no", "bill_type", "org", "submitter"};
    const json_t *inv;
    size_t i;
    for (i = 0; i < ARRAY_SIZE(keys); i++) {
        put_field(keys[i], jstr(b, keys[i]));
    }
    printf("%-10s ", "amount");
    put_text(jstr(b, "amount")[0] != '\0' ? jstr(b, "amount") : "-");
    if (jstr(b, "currency")[0] != '\0') {
        putchar(' ');
        put_text(jstr(b, "currency"));
    }
    putchar('\n');
    put_field("state", jstr(b, "state"));
    put_field("in_pool", jbool(b, "in_pool") ? "yes" : "no");
    put_field("created", jstr(b, "created"));
    put_field("updated", jstr(b, "updated"));
    json_array_foreach(json_object_get(b, "invoices"), i, inv)
    {
        print_invoice(inv);
    }
    print_files(json_object_get(b, "files"));
}

int cmd_get(struct cli *cli, int argc, char **argv)
{
    return bill_show(cli, "get", argc, argv, "GET", "", print_bill);
}

static void print_log(const json_t *log)
{
    const json_t *e;
    size_t i;
    json_array_foreach(json_object_get(log, "entries"), i, e)
    {
        char *detail = json_dumps(json_object_get(e, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%6lld  ", jint(e, "index"));
        put_cell(jstr(e, "time"), 24);
        put_cell(jstr(e, "action"), 13);
        put_cell(jstr(e, "operator"), 8);
        put_cell(jstr(e, "request_id"), 23);
        put_text(detail != NULL ? detail : "-");
        putchar('\n');
        free(detail);
    }
}

int cmd_log(struct cli *cli, int argc, char **argv)
{
    return bill_show(cli, "log", argc, argv, "GET", "/log", print_log);
}

/* ---- pool push ---- */

struct pool_opts {
    const char *bill_no;
    const char *bill_type;
    const char *org;
    const char *submitter;
    const char *amount;
    const char *currency;
    const char *idem;
    struct str_list invoices;
    /* The ERP's identity of the bill (docs/API.md, pool push). */
    const char *fbill_id;
    const char *source;
    const char *bill_type_name;
    const char *submitter_phone;
    const char *submitter_erp_name;
    const char *org_name;
    const char *tax_no;
};

/* Parses "number=..,code=..,date=..,amount=..,tax=..,total=..". */
static int parse_invoice(const char *spec, json_t **out)
{
    static const char keys[] = ",number,code,date,amount,tax,total,";
    json_t *inv = json_object();
    char *copy = xstrdup(spec);
    char *save = NULL;
    int rv = 0;
    for (char *item = strtok_r(copy, ",", &save); item != NULL && rv == 0;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        char *key = eq != NULL ? xasprintf(",%.*s,", (int)(eq - item), item) : NULL;
        if (key == NULL || eq == item || strstr(keys, key) == NULL) {
            rv = usage_error("pool push",
                             "--invoice '%s': use key=value pairs separated by commas; the "
                             "keys are number, code, date, amount, tax, total",
                             spec);
        } else if (strstr(",amount,tax,total,", key) != NULL && !valid_amount(eq + 1)) {
            rv = usage_error("pool push", "--invoice '%s': %s is not a decimal number", spec,
                             item);
        } else {
            *eq = '\0';
            rv = put_string("pool push", inv, item, eq + 1, "--invoice");
        }
        free(key);
    }
    if (rv == 0 && json_object_size(inv) == 0) {
        rv = usage_error("pool push", "--invoice needs at least one key=value pair");
    }
    free(copy);
    if (rv != 0) {
        json_decref(inv);
        return rv;
    }
    *out = inv;
    return 0;
}

static int pool_body(const struct pool_opts *o, const char *image_no, json_t **out)
{
    const char *fields[][3] = {
        {"image_no", image_no, "IMAGE_NO"},       {"bill_no", o->bill_no, "--bill-no"},
        {"bill_type", o->bill_type, "--bill-type"}, {"org", o->org, "--org"},
        {"submitter", o->submitter, "--submitter"}, {"amount", o->amount, "--amount"},
        {"currency", o->currency, "--currency"},
        {"fbill_id", o->fbill_id, "--fbill-id"},     {"source", o->source, "--source"},
        {"bill_type_name", o->bill_type_name, "--bill-type-name"},
        {"submitter_phone", o->submitter_phone, "--submitter-phone"},
        {"submitter_erp_name", o->submitter_erp_name, "--submitter-erp-name"},
        {"org_name", o->org_name, "--org-name"},     {"tax_no", o->tax_no, "--tax-no"},
    };
    json_t *body = json_object();
    json_t *invoices = json_array();
    int rv = 0;

    if (o->amount != NULL && !valid_amount(o->amount)) {
        rv = usage_error("pool push", "--amount '%s' is not a decimal number such as 12.50",
                         o->amount);
    }
    for (size_t i = 0; i < ARRAY_SIZE(fields) && rv == 0; i++) {
        if (fields[i][1] != NULL) {
            rv = put_string("pool push", body, fields[i][0], fields[i][1], fields[i][2]);
        }
    }
    for (size_t i = 0; i < o->invoices.n && rv == 0; i++) {
        json_t *inv = NULL;
        rv = parse_invoice(o->invoices.items[i], &inv);
        if (rv == 0) {
            json_array_append_new(invoices, inv);
        }
    }
    if (rv != 0) {
        json_decref(invoices);
        json_decref(body);
        return rv;
    }
    if (o->invoices.n > 0) {
        json_object_set(body, "invoices", invoices);
    }
    json_decref(invoices);
    *out = body;
    return 0;
}

static int pool_push(struct cli *cli, int argc, char **argv)
{
    struct pool_opts o = {0};
    const struct flag flags[] = {
        {"--bill-no", NULL, FLAG_VALUE, &o.bill_no},
        {"--bill-type", NULL, FLAG_VALUE, &o.bill_type},
        {"--org", NULL, FLAG_VALUE, &o.org},
        {"--submitter", NULL, FLAG_VALUE, &o.submitter},
        {"--amount", NULL, FLAG_VALUE, &o.amount},
        {"--currency", NULL, FLAG_VALUE, &o.currency},
        {"--invoice", NULL, FLAG_LIST, &o.invoices},
        {"--fbill-id", NULL, FLAG_VALUE, &o.fbill_id},
        {"--source", NULL, FLAG_VALUE, &o.source},
        {"--bill-type-name", NULL, FLAG_VALUE, &o.bill_type_name},
        {"--submitter-phone", NULL, FLAG_VALUE, &o.submitter_phone},
        {"--submitter-erp-name", NULL, FLAG_VALUE, &o.submitter_erp_name},
        {"--org-name", NULL, FLAG_VALUE, &o.org_name},
        {"--tax-no", NULL, FLAG_VALUE, &o.tax_no},
        {"--idempotency-key", NULL, FLAG_VALUE, &o.idem},
        {"--json", NULL, FLAG_BOOL, &cli->json},
    };
    struct args a;
    json_t *body = NULL, *ans = NULL;
    int rv = parse_command(cli, "pool push", argc, argv, flags, ARRAY_SIZE(flags), &a);

    if (rv == 0) {
        rv = want_args("pool push", &a, 1, 1, "IMAGE_NO");
    }
    if (rv == 0) {
        rv = check_key("pool push", o.idem, KEY_CHARS_MAX);
    }
    if (rv == 0) {
        rv = pool_body(&o, a.pos[0], &body);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        const struct cli_request req = {
            .method = "POST", .path = "/api/v1/pool", .idempotency_key = o.idem};
        rv = cli_http_json(cli->http, &req, body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "image_no"));
        printf(": %s, state ", jbool(ans, "created") ? "created" : "updated");
        put_text(jstr(ans, "state"));
        printf(" (index %lld)\n", jint(ans, "index"));
    }
    json_decref(body);
    json_decref(ans);
    free(o.invoices.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_pool(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"push", pool_push}};
    return run_action(cli, "pool", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- bills ---- */

int bills_page(struct cli *cli, const struct bills_opts *o, const char *cursor,
               json_t **page)
{
    const struct cli_param params[] = {
        {"state", o->state}, {"bill_type", o->bill_type}, {"org", o->org},
        {"limit", o->limit}, {"cursor", cursor}, {"bill_no", o->bill_no},
        {"fbill_id", o->fbill_id}, {"image_no", o->image_no},
        {"created_from", o->created_from}, {"created_to", o->created_to},
        {"mode", o->mode},
    };
    const struct cli_request req = {
        .method = "GET", .path = "/api/v1/bills", .params = params,
        .n_params = ARRAY_SIZE(params)};
    return cli_http_json(cli->http, &req, NULL, page);
}

/* Prints one page; *@rows counts the bills printed so far (the header goes once). */
static void print_bills(const struct cli *cli, const struct bills_opts *o, const json_t *page,
                        size_t *rows)
{
    const json_t *b;
    size_t i;
    if (cli->json && !o->all) {
        print_json(page, false);
        return;
    }
    json_array_foreach(json_object_get(page, "bills"), i, b)
    {
        if (cli->json) {
            print_json(b, true); /* JSON Lines: any number of bills streams */
            continue;
        }
        if ((*rows)++ == 0) {
            printf("%-20s  %-16s  %-12s  %-12s  %-14s  %5s  %s\n", "IMAGE_NO", "BILL_NO",
                   "BILL_TYPE", "ORG", "STATE", "FILES", "UPDATED");
        }
        put_cell(jstr(b, "image_no"), 20);
        put_cell(jstr(b, "bill_no"), 16);
        put_cell(jstr(b, "bill_type"), 12);
        put_cell(jstr(b, "org"), 12);
        put_cell(jstr(b, "state"), 14);
        printf("%5lld  ", jint(b, "files"));
        put_text(jstr(b, "updated"));
        putchar('\n');
    }
}

static int list_bills(struct cli *cli, const struct bills_opts *o)
{
    char *cursor = o->cursor != NULL ? xstrdup(o->cursor) : NULL;
    size_t rows = 0;
    int rv;
    for (;;) {
        json_t *page = NULL;
        const char *next;
        rv = bills_page(cli, o, cursor, &page);
        if (rv != 0) {
            break;
        }
        print_bills(cli, o, page, &rows);
        next = json_string_value(json_object_get(page, "next_cursor"));
        if (next != NULL && !o->all && !cli->json) {
            fprintf(stderr, "imgarc: more bills follow: add --all, or --cursor %s\n",
                    plain(next));
        }
        if (next != NULL && o->all && cursor != NULL && strcmp(next, cursor) == 0) {
            fprintf(stderr, "imgarc: the server returned the same cursor %s twice\n",
                    plain(next));
            rv = CLI_ETRANSPORT;
        }
        free(cursor);
        cursor = next != NULL && o->all && rv == 0 ? xstrdup(next) : NULL;
        json_decref(page);
        if (cursor == NULL) {
            break;
        }
    }
    if (rv == 0 && rows == 0 && !cli->json) {
        fprintf(stderr, "imgarc: no bills match\n");
    }
    free(cursor);
    return rv;
}

int cmd_bills(struct cli *cli, int argc, char **argv)
{
    struct bills_opts o = {0};
    const struct flag flags[] = {
        {"--state", NULL, FLAG_VALUE, &o.state},  {"--bill-type", NULL, FLAG_VALUE, &o.bill_type},
        {"--org", NULL, FLAG_VALUE, &o.org},      {"--limit", NULL, FLAG_VALUE, &o.limit},
        {"--cursor", NULL, FLAG_VALUE, &o.cursor}, {"--all", NULL, FLAG_BOOL, &o.all},
        {"--json", NULL, FLAG_BOOL, &cli->json},
        {"--bill-no", NULL, FLAG_VALUE, &o.bill_no},
        {"--fbill-id", NULL, FLAG_VALUE, &o.fbill_id},
        {"--image-no", NULL, FLAG_VALUE, &o.image_no},
        {"--created-from", NULL, FLAG_VALUE, &o.created_from},
        {"--created-to", NULL, FLAG_VALUE, &o.created_to},
        {"--mode", NULL, FLAG_VALUE, &o.mode},
    };
    struct args a;
    int rv = parse_command(cli, "bills", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("bills", &a, 0, 0, "nothing");
    }
    if (rv == 0 && o.limit != NULL) {
        char *end;
        unsigned long n = strtoul(o.limit, &end, 10);
        if (o.limit[0] < '0' || o.limit[0] > '9' || *end != '\0' || n < 1 ||
            n > LIST_LIMIT_MAX) {
            rv = usage_error("bills", "--limit must be a number from 1 to %d", LIST_LIMIT_MAX);
        }
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = list_bills(cli, &o);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
