/* The imgarc CLI's own declarations, shared by the files of tools/cli/.
 *
 * main.c reads the global flags and picks the command from the table in help.c;
 * each cmd_*.c holds one group of commands (tools/README.md lists which), whose cmd_*
 * function parses its own flags (flags.c), makes its requests through http.h, often
 * by way of request.c, and prints the answers for people (output.c), or as JSON with
 * --json.
 * Single-threaded. Functions return 0 or a CLI_E* code (http.h) whose negation is the
 * exit status. A failure is printed once, where it is found: usage errors by
 * usage_error(), whatever the server or the network says in http.c. Strings are
 * borrowed from argv or from the JSON answer they were read from. */
#ifndef IMGARC_TOOLS_CLI_CLI_H
#define IMGARC_TOOLS_CLI_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/mem.h"
#include "tools/cli/http.h"

/* Idempotency keys the API accepts: 1-64 characters of this alphabet. */
#define KEY_CHARS_MAX 64
#define KEY_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
#define LIST_LIMIT_MAX 1000
/* The tenant of a node's requests when none is named. */
#define DEFAULT_TENANT "default"
/* parse_command() printed the command's help: the command is done, successfully. */
#define HELP_SHOWN 1

enum flag_kind { FLAG_BOOL, FLAG_VALUE, FLAG_LIST };

struct str_list {
    const char **items;
    size_t n;
};

/* One flag of a command; @out is a bool *, a const char ** or a struct str_list *. */
struct flag {
    const char *name;  /* "--bill-no" */
    const char *alias; /* "-o", or NULL */
    enum flag_kind kind;
    void *out;
};

/* The state of one run. Strings are borrowed from argv. */
struct cli {
    struct cli_conn conn;
    struct cli_http *http; /* created by the first command that talks to the server */
    bool help;
    bool json;
};

/* The positional arguments of a command, borrowed from argv. */
struct args {
    const char **pos;
    size_t n;
};

/* One action of a command that has several ("license sign"); @run gets the arguments
 * after the action's name. */
struct action {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
};

struct command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *synopsis; /* arguments, for the overview */
    const char *summary;  /* what it does, for the overview */
    const char *help;     /* `imgarc COMMAND --help` */
};

/* One request on a bill, or on one of its files, answered with the bill's state and
 * invoice counts. */
struct bill_op {
    const char *method;
    const char *image_no;
    const char *file_id; /* NULL: the request is on the bill */
    const char *suffix;  /* after the bill's or the file's path: "/match", "" */
    json_t *body;        /* NULL: none */
    const char *what;    /* what was done, for the summary line */
};

/* ---- resumable.c: `imgarc upload --resumable` ---- */

struct resumable {
    const char *path;     /* /api/v1/bills/{image_no}/uploads, encoded */
    const char *image_no; /* for the line that continues a failed upload */
    const char *category, *after, *replace;
    const char *upload_id; /* continue this upload instead of creating one */
    const char *label;     /* the progress line's */
    uint64_t piece;        /* bytes per PATCH */
    unsigned retries;      /* failed attempts in a row before giving up */
};
/* Uploads @file as a resumable upload named @name; the capture's answer (as POST
 * .../files gives it) into *@ans. */
int upload_resumable(struct cli *cli, const struct resumable *r, const char *file,
                     const char *name, json_t **ans);

/* ---- flags.c: flags, arguments and the checks several commands share ---- */

/* Prints "imgarc: CMD: message" and a pointer to the help on stderr; returns CLI_EUSAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int take_flag(struct cli *cli, const char *cmd, const struct flag *flags, size_t n,
              int argc, char **argv, int *i);
int parse_command(struct cli *cli, const char *cmd, int argc, char **argv,
                  const struct flag *flags, size_t n_flags, struct args *a);
int want_args(const char *cmd, const struct args *a, size_t min, size_t max,
              const char *what);
int check_key(const char *cmd, const char *key, size_t max);
int run_action(struct cli *cli, const char *cmd, const struct action *actions, size_t n,
               int argc, char **argv);
bool valid_amount(const char *s);
int put_string(const char *cmd, json_t *obj, const char *key, const char *value,
               const char *what);
bool builtin_category(const char *s);
int check_category(const char *cmd, const char *what, const char *s);
int check_id(const char *cmd, const char *what, const char *id);
bool parse_count(const char *s, bool suffixes, uint64_t *out);
int check_choice(const char *cmd, const char *flag, const char *value,
                 const char *const *choices, const char *spelled);

/* ---- output.c: answers printed for people; text from the network is made safe ---- */

const char *jstr(const json_t *obj, const char *key);
long long jint(const json_t *obj, const char *key);
/* A node id: a JSON string of digits (what nodes send since node ids became strings)
 * or an integer (older nodes); 0 when it is neither. */
long long jid_value(const json_t *v);
long long jid(const json_t *obj, const char *key);
bool jbool(const json_t *obj, const char *key);
int put_text(const char *s);
const char *plain(const char *s);
void put_cell(const char *s, int width);
void put_field(const char *label, const char *value);
void print_json(const json_t *v, bool compact);
void human_bytes(uint64_t n, char *buf, size_t size);
void put_size(const char *label, long long n);
void put_list(const json_t *list);
void print_defined(const json_t *ans, const char *key, const char *what);
void print_table(const char *const *cells, size_t n_rows, size_t n_cols);

/* ---- request.c: requests shared by several commands ---- */

int connect_server(struct cli *cli);
int send_and_print(struct cli *cli, int rv, const struct cli_request *req, json_t *body,
                   void (*print)(const json_t *ans));
int show_cmd(struct cli *cli, const char *name, const char *path, int argc, char **argv,
             void (*print)(const json_t *ans));
void wipe_member(json_t *obj, const char *key);
const char *tenant_or_default(const struct cli *cli);
int id_request(struct cli *cli, const char *method, const char *prefix, const char *id,
               const char *suffix, json_t *body, json_t **out);
/* A command naming one item, `imgarc CMD ARG [--json]`: @method on @prefix ARG @suffix
 * with @body (may be NULL; stolen), the answer printed by @print (or as JSON). */
struct id_command {
    const char *method;
    const char *prefix; /* "/api/v1/users/" */
    const char *suffix; /* "" or "/unlock" */
    const char *arg;    /* "USERNAME": its name in usage and errors */
    int (*check)(const char *cmd, const char *what, const char *v); /* check_id, ... */
    void (*print)(const json_t *ans);
};
int id_command(struct cli *cli, const struct id_command *c, const char *cmd, int argc,
               char **argv, json_t *body);
int bill_op(struct cli *cli, const struct bill_op *op);
int simple_bill_op(struct cli *cli, const char *cmd, int argc, char **argv,
                   struct bill_op *op);
int file_ids_body(const char *cmd, const struct args *a, size_t min, json_t **out);
char *count_files(size_t n, const char *rest);

/* ---- help.c: the command table and the help texts ---- */

const struct command *find_command(const char *name);
void print_help(const char *cmd, FILE *out);
void print_overview(FILE *out);

/* ---- Helpers one command group lends another ---- */

/* cmd_bills.c, for match show. */
int bill_show(struct cli *cli, const char *name, int argc, char **argv,
              const char *method, const char *suffix, void (*print)(const json_t *ans));
/* cmd_bills.c, for export: the filters of `imgarc bills` and one page of the list. */
struct bills_opts {
    const char *state;
    const char *bill_type;
    const char *org;
    const char *limit;
    const char *cursor;
    bool all;
    const char *bill_no;
    const char *fbill_id;
    const char *image_no;
    const char *created_from;
    const char *created_to;
    const char *mode;
};
int bills_page(struct cli *cli, const struct bills_opts *o, const char *cursor,
               json_t **page);
/* cmd_license.c, for usage. */
void put_max_files(const json_t *v);

/* ---- The commands, one group per file, as help.c's table lists them ---- */

/* cmd_bills.c: one bill (submit, status, get, log), pool push, the list of bills */
int cmd_pool(struct cli *cli, int argc, char **argv);
int cmd_submit(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
int cmd_get(struct cli *cli, int argc, char **argv);
int cmd_log(struct cli *cli, int argc, char **argv);
int cmd_bills(struct cli *cli, int argc, char **argv);
/* cmd_files.c: file content in and out */
int cmd_upload(struct cli *cli, int argc, char **argv);
int cmd_download(struct cli *cli, int argc, char **argv);
/* cmd_edits.c: custom categories and the edits of a bill's files */
int cmd_category(struct cli *cli, int argc, char **argv);
int cmd_categorize(struct cli *cli, int argc, char **argv);
int cmd_rotate(struct cli *cli, int argc, char **argv);
int cmd_move(struct cli *cli, int argc, char **argv);
int cmd_delete_files(struct cli *cli, int argc, char **argv);
int cmd_merge(struct cli *cli, int argc, char **argv);
int cmd_split(struct cli *cli, int argc, char **argv);
/* cmd_workflow.c: bill types, schemes, invoice data, matching, ERP, return */
int cmd_bill_type(struct cli *cli, int argc, char **argv);
int cmd_scheme(struct cli *cli, int argc, char **argv);
int cmd_invoice(struct cli *cli, int argc, char **argv);
int cmd_match(struct cli *cli, int argc, char **argv);
int cmd_erp_submit(struct cli *cli, int argc, char **argv);
int cmd_return(struct cli *cli, int argc, char **argv);
/* cmd_holds.c: legal holds */
int cmd_hold(struct cli *cli, int argc, char **argv);
/* cmd_retention.c: retention periods and deleting bills */
int cmd_retention(struct cli *cli, int argc, char **argv);
int cmd_delete_bill(struct cli *cli, int argc, char **argv);
/* cmd_tenants.c: tenants, usage, business-system clients, the admin audit log */
int cmd_tenant(struct cli *cli, int argc, char **argv);
int cmd_usage(struct cli *cli, int argc, char **argv);
int cmd_client(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
/* cmd_license.c: keygen, sign, verify (offline), install, show */
int cmd_license(struct cli *cli, int argc, char **argv);
/* cmd_users.c: login, users, roles */
int cmd_login(struct cli *cli, int argc, char **argv);
int cmd_user(struct cli *cli, int argc, char **argv);
int cmd_role(struct cli *cli, int argc, char **argv);
/* cmd_sync.c: the invoice-data sync */
int cmd_sync(struct cli *cli, int argc, char **argv);
/* cmd_orgs.c: organisations */
int cmd_org(struct cli *cli, int argc, char **argv);
/* cmd_webhooks.c: webhooks, deliveries, delivery retry */
int cmd_webhook(struct cli *cli, int argc, char **argv);
int cmd_deliveries(struct cli *cli, int argc, char **argv);
/* cmd_datasources.c: the systems a tenant migrates from */
int cmd_datasources(struct cli *cli, int argc, char **argv);
int cmd_delivery(struct cli *cli, int argc, char **argv);
/* cmd_migrations.c: migration batches, their bills and their log */
int cmd_migrations(struct cli *cli, int argc, char **argv);
/* cmd_cluster.c: the cluster's nodes and blob copies (operator) */
int cmd_cluster(struct cli *cli, int argc, char **argv);
/* main.c: client and server versions (help is help.c's own) */
int cmd_version(struct cli *cli, int argc, char **argv);
/* cmd_backup.c: a cluster's backup into a directory, its verifier, and a new node's
 * data dir restored from it */
int cmd_backup(struct cli *cli, int argc, char **argv);
int cmd_backup_verify(struct cli *cli, int argc, char **argv);
/* cmd_backup_prune.c: older backups and the content only they reference, removed. */
int cmd_backup_prune(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
/* cmd_export.c: bills as a zip for an auditor, and its verifier */
int cmd_export(struct cli *cli, int argc, char **argv);
int cmd_export_verify(struct cli *cli, int argc, char **argv);

#endif
