/* Requests shared by several commands: the connection made on first use, a request
 * whose answer is printed or shown as JSON, a request on an escaped id, and the
 * operations on a bill or its files that answer with the bill's state (invoice data,
 * matching, ERP, return, edits). Secrets in JSON bodies are wiped before they are
 * freed. */
#include "tools/cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

int connect_server(struct cli *cli)
{
    return cli->http != NULL ? 0 : cli_http_new(&cli->http, &cli->conn);
}

/* Sends @req with @body (may be NULL) unless @rv already failed, then prints the answer
 * with @print, or as JSON with --json. Returns the first failure. */
int send_and_print(struct cli *cli, int rv, const struct cli_request *req, json_t *body,
                   void (*print)(const json_t *ans))
{
    json_t *ans = NULL;
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = cli_http_json(cli->http, req, body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print(ans);
    }
    json_decref(ans);
    return rv;
}

/* A command without arguments that GETs @path and prints the answer with @print, or
 * as JSON with --json. */
int show_cmd(struct cli *cli, const char *name, const char *path, int argc, char **argv,
             void (*print)(const json_t *ans))
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "GET", .path = path};
    struct args a;
    int rv = parse_command(cli, name, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(name, &a, 0, 0, "nothing");
    }
    rv = send_and_print(cli, rv, &req, NULL, print);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* Wipes a string member holding a secret (a password, a token) before the object is
 * freed. jansson keeps its own writable copy of every string, so the cast is safe. */
void wipe_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
}

/* The tenant of --tenant, or the node's default. */
const char *tenant_or_default(const struct cli *cli)
{
    const char *t = cli->conn.tenant;
    return t != NULL && t[0] != '\0' ? t : DEFAULT_TENANT;
}

/* One JSON request to @prefix + @id (escaped) + @suffix, for user unlock and grants,
 * org rename and move, webhook show and delete, delivery retry; @body may be NULL. The
 * answer is stored in *@out. */
int id_request(struct cli *cli, const char *method, const char *prefix, const char *id,
               const char *suffix, json_t *body, json_t **out)
{
    int rv = connect_server(cli);
    if (rv == 0) {
        char *path = cli_http_path(prefix, id, suffix);
        const struct cli_request req = {.method = method, .path = path};
        rv = cli_http_json(cli->http, &req, body, out);
        free(path);
    }
    return rv;
}

/* ---- Operations on a bill: invoice data, matching, ERP, return, edits ---- */

/* "IMAGE_NO: WHAT; state S, M of D invoices matched (index N)", then the ERP's error
 * when the bill has one. */
static void print_bill_op(const json_t *ans, const char *what)
{
    const json_t *inv = json_object_get(ans, "invoices");
    const char *erp_error = json_string_value(json_object_get(ans, "erp_error"));
    put_text(jstr(ans, "image_no"));
    fputs(": ", stdout);
    put_text(what);
    fputs("; state ", stdout);
    put_text(jstr(ans, "state"));
    if (jint(inv, "declared") > 0) {
        printf(", %lld of %lld invoices matched", jint(inv, "matched"), jint(inv, "declared"));
    } else {
        fputs(", no invoices declared", stdout);
    }
    printf(" (index %lld)\n", jint(ans, "index"));
    if (erp_error != NULL && erp_error[0] != '\0') {
        put_field("erp_error", erp_error);
    }
}

int bill_op(struct cli *cli, const struct bill_op *op)
{
    char *bill = cli_http_path("/api/v1/bills/", op->image_no,
                               op->file_id != NULL ? "/files/" : op->suffix);
    char *path = op->file_id != NULL ? cli_http_path(bill, op->file_id, op->suffix) : NULL;
    const struct cli_request req = {.method = op->method, .path = path != NULL ? path : bill};
    json_t *ans = NULL;
    int rv = connect_server(cli);
    if (rv == 0) {
        rv = cli_http_json(cli->http, &req, op->body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_bill_op(ans, op->what);
    }
    json_decref(ans);
    free(path);
    free(bill);
    return rv;
}

/* A command of the shape NAME IMAGE_NO [FILE_ID] [--json]: the request of @op, its
 * image number filled in from the arguments, and its file id too when @op has one
 * (any non-NULL value says that the command takes FILE_ID). */
int simple_bill_op(struct cli *cli, const char *cmd, int argc, char **argv,
                   struct bill_op *op)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    bool file = op->file_id != NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, file ? 2 : 1, file ? 2 : 1,
                       file ? "IMAGE_NO and FILE_ID" : "IMAGE_NO");
    }
    if (rv == 0) {
        op->image_no = a.pos[0];
        op->file_id = file ? a.pos[1] : NULL;
        rv = bill_op(cli, op);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* {"file_ids": [...]} from the positional arguments after IMAGE_NO. */
#define FILE_IDS_MAX 1000

int file_ids_body(const char *cmd, const struct args *a, size_t min, json_t **out)
{
    json_t *ids = json_array();
    if (a->n - 1 < min) {
        json_decref(ids);
        return usage_error(cmd, "missing FILE_ID%s", min > 1 ? "s (at least two)" : "");
    }
    if (a->n - 1 > FILE_IDS_MAX) {
        json_decref(ids);
        return usage_error(cmd, "at most %d file ids at once", FILE_IDS_MAX);
    }
    for (size_t i = 1; i < a->n; i++) {
        json_array_append_new(ids, json_string(a->pos[i]));
    }
    *out = json_pack("{s:o}", "file_ids", ids);
    return 0;
}

/* "1 file" or "3 files". */
char *count_files(size_t n, const char *rest)
{
    return xasprintf("%zu file%s %s", n, n == 1 ? "" : "s", rest);
}

int id_command(struct cli *cli, const struct id_command *c, const char *cmd, int argc,
               char **argv, json_t *body)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, c->arg);
    }
    if (rv == 0) {
        rv = c->check(cmd, c->arg, a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, c->method, c->prefix, a.pos[0], c->suffix, body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        c->print(ans);
    }
    json_decref(body);
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}
