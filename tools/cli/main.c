/* imgarc: the command-line client of an imgarc node.
 *
 * main() reads the global flags and picks the command; each cmd_* function parses its
 * own flags, makes its requests through tools/cli/http.h and prints the answers for
 * people, or as JSON with --json. Single-threaded. Functions return 0 or a CLI_E* code
 * whose negation is the exit status. A failure is printed once, where it is found:
 * usage errors here, whatever the server or the network says in http.c.
 * license keygen, sign and verify ask no server: they use the license codec of
 * archive/license.h, and wipe a secret key once used. login and user create read a
 * password from a file or stdin, never from argv, and wipe it and the request text that
 * carried it once sent. docs/cli.md is the reference of every command. */
#include "tools/cli/http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "archive/license.h"
#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"
#include "version.h"

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

static const struct command *find_command(const char *name);

/* ---- Usage and flags ---- */

static int usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "imgarc: %s%s", cmd != NULL ? cmd : "", cmd != NULL ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'imgarc %s%s--help'.\n", cmd != NULL ? cmd : "", cmd != NULL ? " " : "");
    return CLI_EUSAGE;
}

static const struct flag *find_flag(const struct flag *flags, size_t n, const char *arg,
                                    size_t len)
{
    for (size_t i = 0; i < n; i++) {
        const char *alias = flags[i].alias;
        if ((strlen(flags[i].name) == len && strncmp(flags[i].name, arg, len) == 0) ||
            (alias != NULL && strlen(alias) == len && strncmp(alias, arg, len) == 0)) {
            return &flags[i];
        }
    }
    return NULL;
}

/* Applies the flag at argv[*i], taking its value from "--name=value" or from the next
 * argument. The global flags are accepted wherever a command's flags are. */
static int take_flag(struct cli *cli, const char *cmd, const struct flag *flags, size_t n,
                     int argc, char **argv, int *i)
{
    const struct flag globals[] = {
        {"--server", NULL, FLAG_VALUE, &cli->conn.server},
        {"--token", NULL, FLAG_VALUE, &cli->conn.token},
        {"--tenant", NULL, FLAG_VALUE, &cli->conn.tenant},
        {"--help", "-h", FLAG_BOOL, &cli->help},
    };
    const char *arg = argv[*i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
    const char *value = eq != NULL ? eq + 1 : NULL;
    const struct flag *f = find_flag(flags, n, arg, len);

    if (f == NULL) {
        f = find_flag(globals, ARRAY_SIZE(globals), arg, len);
    }
    if (f == NULL) {
        return usage_error(cmd, "unknown flag '%.*s'", (int)len, arg);
    }
    if (f->kind == FLAG_BOOL) {
        if (value != NULL) {
            return usage_error(cmd, "%s takes no value", f->name);
        }
        *(bool *)f->out = true;
        return 0;
    }
    if (value == NULL) {
        if (*i + 1 >= argc) {
            return usage_error(cmd, "%s needs a value", f->name);
        }
        value = argv[++*i];
    }
    if (f->kind == FLAG_VALUE) {
        *(const char **)f->out = value;
    } else {
        struct str_list *list = f->out;
        list->items = xrealloc(list->items, (list->n + 1) * sizeof *list->items);
        list->items[list->n++] = value;
    }
    return 0;
}

static void print_help(const char *cmd, FILE *out)
{
    char name[16];
    const struct command *c;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(cmd, " "), cmd);
    c = find_command(name);
    fputs(c->help, out);
    fputs("\nGlobal flags (--server URL, --token T, --tenant ID) and exit codes: "
          "'imgarc help'.\n",
          out);
}

/* Parses a command's arguments: flags anywhere until "--", positionals in order into
 * @a (whose array the caller frees). Returns HELP_SHOWN after printing the help. */
static int parse_command(struct cli *cli, const char *cmd, int argc, char **argv,
                         const struct flag *flags, size_t n_flags, struct args *a)
{
    bool flags_done = false;
    a->pos = xcalloc((size_t)argc + 1, sizeof *a->pos);
    a->n = 0;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!flags_done && strcmp(arg, "--") == 0) {
            flags_done = true;
        } else if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
            int rv = take_flag(cli, cmd, flags, n_flags, argc, argv, &i);
            if (rv != 0) {
                return rv;
            }
        } else {
            a->pos[a->n++] = arg;
        }
    }
    if (cli->help) {
        print_help(cmd, stdout);
        return HELP_SHOWN;
    }
    return 0;
}

/* Checks the number of positional arguments; none may be empty. */
static int want_args(const char *cmd, const struct args *a, size_t min, size_t max,
                     const char *what)
{
    if (a->n < min) {
        return usage_error(cmd, "missing %s", what);
    }
    if (a->n > max) {
        return usage_error(cmd, "unexpected argument '%s'", a->pos[max]);
    }
    for (size_t i = 0; i < a->n; i++) {
        if (a->pos[i][0] == '\0') {
            return usage_error(cmd, "empty argument where %s was expected", what);
        }
    }
    return 0;
}

/* Idempotency keys are checked here too, so that a run of uploads is not refused
 * halfway for a key the server would not take. */
static int check_key(const char *cmd, const char *key, size_t max)
{
    size_t len;
    if (key == NULL) {
        return 0;
    }
    len = strlen(key);
    if (len == 0 || len > max || strspn(key, KEY_ALPHABET) != len) {
        return usage_error(cmd, "--idempotency-key must be 1-%zu characters of A-Z a-z 0-9 . _ -",
                           max);
    }
    return 0;
}

static int connect_server(struct cli *cli)
{
    return cli->http != NULL ? 0 : cli_http_new(&cli->http, &cli->conn);
}

/* Runs the action that argv[0] names ("pool push", "license sign"...). */
static int run_action(struct cli *cli, const char *cmd, const struct action *actions, size_t n,
                      int argc, char **argv)
{
    char names[128];
    size_t len = 0;
    if (argc > 0 && (strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0)) {
        print_help(cmd, stdout);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (argc > 0 && strcmp(argv[0], actions[i].name) == 0) {
            return actions[i].run(cli, argc - 1, argv + 1);
        }
        len += (size_t)snprintf(names + len, len < sizeof names ? sizeof names - len : 0,
                                "%s%s%s%s", i == 0 ? "" : ", ", n == 1 ? "'" : "",
                                actions[i].name, n == 1 ? "'" : "");
    }
    return usage_error(cmd, "%s%s%s; the action%s %s",
                       argc == 0 ? "missing action" : "unknown action '",
                       argc == 0 ? "" : argv[0], argc == 0 ? "" : "'",
                       n == 1 ? " is" : "s are", names);
}

/* ---- Output ---- */

static const char *jstr(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s != NULL ? s : "";
}

static long long jint(const json_t *obj, const char *key)
{
    return (long long)json_integer_value(json_object_get(obj, key));
}

static bool jbool(const json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* Decodes one UTF-8 sequence; returns its length, or 0 when it is not valid. */
static size_t utf8_next(const unsigned char *p, uint32_t *cp)
{
    size_t n = p[0] < 0x80                ? 1
               : (p[0] & 0xE0) == 0xC0 ? 2
               : (p[0] & 0xF0) == 0xE0 ? 3
               : (p[0] & 0xF8) == 0xF0 ? 4
                                       : 0;
    uint32_t v = n == 1 ? p[0] : n == 2 ? p[0] & 0x1Fu : n == 3 ? p[0] & 0x0Fu : p[0] & 0x07u;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        v = v << 6 | (p[i] & 0x3Fu);
    }
    *cp = v;
    return n;
}

/* Terminal columns of a code point: two for the CJK and fullwidth blocks that file
 * names and bill fields of Chinese companies are written in, one otherwise. */
static int columns(uint32_t cp)
{
    bool wide = (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x20000 && cp <= 0x3FFFD);
    return wide ? 2 : 1;
}

/* Prints @s with control characters replaced, so that text from the network cannot
 * drive the terminal; returns the columns used. */
static int put_text(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int cols = 0;
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = utf8_next(p, &cp);
        if (n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
            putchar('?');
            cols++;
            p += n == 0 ? 1 : n;
            continue;
        }
        fwrite(p, 1, n, stdout);
        cols += columns(cp);
        p += n;
    }
    return cols;
}

/* @s when it is made of the id alphabet (image numbers, cursors), else "?": for
 * server text put into messages on stderr. */
static const char *plain(const char *s)
{
    return strspn(s, KEY_ALPHABET) == strlen(s) ? s : "?";
}

/* One table cell: the text ("-" when empty), padded to @width, then a gap. */
static void put_cell(const char *s, int width)
{
    int used = put_text(s[0] != '\0' ? s : "-");
    printf("%*s", width > used ? width - used + 2 : 2, "");
}

/* One "label  value" line of a record. */
static void put_field(const char *label, const char *value)
{
    printf("%-10s ", label);
    put_text(value[0] != '\0' ? value : "-");
    putchar('\n');
}

static void print_json(const json_t *v, bool compact)
{
    json_dumpf(v, stdout, compact ? JSON_COMPACT : JSON_INDENT(2));
    putchar('\n');
}

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
static int bill_show(struct cli *cli, const char *name, int argc, char **argv,
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

static int cmd_submit(struct cli *cli, int argc, char **argv)
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

static int cmd_status(struct cli *cli, int argc, char **argv)
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

static int cmd_get(struct cli *cli, int argc, char **argv)
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

static int cmd_log(struct cli *cli, int argc, char **argv)
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
};

/* Amounts are decimal strings ("12.50", "-3"): the API keeps them exact as text. */
static bool valid_amount(const char *s)
{
    size_t whole, frac = 0;
    s += *s == '-' ? 1 : 0;
    whole = strspn(s, "0123456789");
    if (s[whole] == '.') {
        frac = strspn(s + whole + 1, "0123456789");
        if (frac == 0) {
            return false;
        }
        frac++;
    }
    return whole > 0 && s[whole + frac] == '\0';
}

/* Sets a string member; JSON carries only UTF-8, so other bytes are a usage error. */
static int put_string(const char *cmd, json_t *obj, const char *key, const char *value,
                      const char *what)
{
    json_t *s = json_string(value);
    if (s == NULL) {
        return usage_error(cmd, "%s is not valid UTF-8", what);
    }
    json_object_set_new(obj, key, s);
    return 0;
}

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

static int cmd_pool(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"push", pool_push}};
    return run_action(cli, "pool", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- upload ---- */

struct upload_opts {
    const char *category;
    const char *after;
    const char *replace;
    const char *idem;
};

/* Custom categories are codes of 1-31 characters of the id alphabet. */
#define CATEGORY_CHARS_MAX 31

static bool builtin_category(const char *s)
{
    return strcmp(s, "cover") == 0 || strcmp(s, "invoice") == 0 || strcmp(s, "attachment") == 0;
}

/* A category as the node takes it: a built-in one, or the code of a custom one, which
 * the node checks exists. */
static int check_category(const char *cmd, const char *what, const char *s)
{
    size_t len = strlen(s);
    if (builtin_category(s)) {
        return 0;
    }
    if (len == 0 || len > CATEGORY_CHARS_MAX || strspn(s, KEY_ALPHABET) != len ||
        strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
        return usage_error(cmd, "%s '%s': use cover, invoice, attachment or a custom category "
                                "(1-%d characters of A-Z a-z 0-9 . _ -; see 'imgarc category "
                                "list')",
                           what, s, CATEGORY_CHARS_MAX);
    }
    return 0;
}

static size_t decimal_digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* With several files each upload gets its own key, KEY.1, KEY.2...: one key for
 * different requests would be refused as a conflict, and a rerun after a failure then
 * replays the files already uploaded instead of adding them twice. */
static int check_upload_opts(const struct upload_opts *o, size_t n_files)
{
    if (o->category != NULL && check_category("upload", "--category", o->category) != 0) {
        return CLI_EUSAGE;
    }
    if (check_key("upload", o->idem,
                  KEY_CHARS_MAX - (n_files > 1 ? 1 + decimal_digits(n_files) : 0)) != 0) {
        return CLI_EUSAGE;
    }
    if (o->after != NULL && o->after[0] == '\0') {
        return usage_error("upload", "--after needs a file id");
    }
    if (o->replace != NULL && o->replace[0] == '\0') {
        return usage_error("upload", "--replace needs a file id");
    }
    /* The replacement takes the replaced file's place: one file, nowhere else. */
    if (o->replace != NULL && o->after != NULL) {
        return usage_error("upload", "--replace and --after do not go together: the new file "
                                     "takes the replaced one's place");
    }
    if (o->replace != NULL && n_files > 1) {
        return usage_error("upload", "--replace takes one FILE, not %zu", n_files);
    }
    return 0;
}

/* Every file must be readable before the first is sent, so that a typo in the last
 * name does not leave a bill half uploaded. */
static int check_files(const char *const *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        const char *why = NULL;
        if (stat(files[i], &st) != 0 || access(files[i], R_OK) != 0) {
            why = strerror(errno);
        } else if (!S_ISREG(st.st_mode)) {
            why = S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file";
        }
        if (why != NULL) {
            fprintf(stderr, "imgarc: %s: %s; nothing was uploaded\n", files[i], why);
            return CLI_ELOCAL;
        }
    }
    return 0;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static int upload_one(struct cli *cli, const struct upload_opts *o, const char *path,
                      const char *file, const char *after, const char *key, json_t **ans)
{
    const char *name = base_name(file);
    const struct cli_param params[] = {
        {"name", name}, {"category", o->category}, {"after", after}, {"replace", o->replace}};
    const struct cli_request req = {.method = "POST",
                                    .path = path,
                                    .params = params,
                                    .n_params = ARRAY_SIZE(params),
                                    .idempotency_key = key,
                                    .progress_label = name};
    return cli_http_upload(cli->http, &req, file, ans);
}

static void print_uploaded(const struct cli *cli, const json_t *ans, const char *file)
{
    if (jbool(ans, "replayed")) {
        fprintf(stderr, "imgarc: %s: replayed: this idempotency key was used before, nothing "
                        "changed\n",
                file);
    }
    if (cli->json) {
        print_json(ans, true);
    } else {
        put_cell(jstr(ans, "file_id"), 32);
        put_cell(jstr(ans, "category"), 10);
        printf("%4lld  %12lld  ", jint(ans, "position"), jint(ans, "size"));
        put_text(base_name(file));
        putchar('\n');
    }
    /* Each line appears as its file is done: a long run shows where it is. */
    fflush(stdout);
}

static void report_stopped(const char *const *files, size_t done, size_t n)
{
    if (n < 2) {
        return;
    }
    fprintf(stderr, "imgarc: upload stopped at %s; ", files[done]);
    if (done == 0) {
        fprintf(stderr, "no file was uploaded\n");
        return;
    }
    fprintf(stderr, "uploaded before it (%zu of %zu):", done, n);
    for (size_t i = 0; i < done; i++) {
        fprintf(stderr, " %s", files[i]);
    }
    fputc('\n', stderr);
}

/* Uploads the files in order; with --after each one goes right after the previous,
 * so the run keeps its order wherever it is inserted. */
static int upload_all(struct cli *cli, const struct upload_opts *o, const char *image_no,
                      const char *const *files, size_t n)
{
    char *path = cli_http_path("/api/v1/bills/", image_no, "/files");
    char *after = o->after != NULL ? xstrdup(o->after) : NULL;
    size_t i;
    int rv = 0;
    for (i = 0; i < n; i++) {
        char *key = o->idem != NULL && n > 1 ? xasprintf("%s.%zu", o->idem, i + 1) : NULL;
        json_t *ans = NULL;
        rv = upload_one(cli, o, path, files[i], after, key != NULL ? key : o->idem, &ans);
        free(key);
        if (rv != 0) {
            break;
        }
        print_uploaded(cli, ans, files[i]);
        if (after != NULL) {
            free(after);
            after = xstrdup(jstr(ans, "file_id"));
        }
        json_decref(ans);
    }
    if (rv != 0) {
        report_stopped(files, i, n);
    }
    free(after);
    free(path);
    return rv;
}

static int cmd_upload(struct cli *cli, int argc, char **argv)
{
    struct upload_opts o = {0};
    const struct flag flags[] = {
        {"--category", NULL, FLAG_VALUE, &o.category},
        {"--after", NULL, FLAG_VALUE, &o.after},
        {"--replace", NULL, FLAG_VALUE, &o.replace},
        {"--idempotency-key", NULL, FLAG_VALUE, &o.idem},
        {"--json", NULL, FLAG_BOOL, &cli->json},
    };
    struct args a;
    int rv = parse_command(cli, "upload", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("upload", &a, a.n == 0 ? 1 : 2, SIZE_MAX, a.n == 0 ? "IMAGE_NO" : "FILE");
    }
    if (rv == 0) {
        rv = check_upload_opts(&o, a.n - 1);
    }
    if (rv == 0) {
        rv = check_files(a.pos + 1, a.n - 1);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = upload_all(cli, &o, a.pos[0], a.pos + 1, a.n - 1);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- download ---- */

/* "a-b", "a-" or "-n", as the Range header takes them. */
static bool valid_range(const char *s)
{
    size_t a = strspn(s, "0123456789");
    size_t b;
    if (s[a] != '-') {
        return false;
    }
    b = strspn(s + a + 1, "0123456789");
    if (s[a + 1 + b] != '\0' || (a == 0 && b == 0)) {
        return false;
    }
    return a == 0 || b == 0 || strtoull(s, NULL, 10) <= strtoull(s + a + 1, NULL, 10);
}

static int check_download(const char *out, const char *range)
{
    struct stat st;
    bool to_stdout = out == NULL || strcmp(out, "-") == 0;
    if (range != NULL && !valid_range(range)) {
        return usage_error("download", "--range '%s' is not FIRST-LAST, FIRST- or -SUFFIX "
                                       "(byte offsets, LAST included)",
                           range);
    }
    if (to_stdout && isatty(STDOUT_FILENO)) {
        return usage_error("download", "not writing file content to a terminal; use -o PATH "
                                       "or redirect stdout");
    }
    if (!to_stdout && stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "imgarc: %s: is a directory; -o takes the path of the file\n", out);
        return CLI_ELOCAL;
    }
    return 0;
}

static int cmd_download(struct cli *cli, int argc, char **argv)
{
    const char *out = NULL;
    const char *range = NULL;
    const struct flag flags[] = {
        {"--output", "-o", FLAG_VALUE, &out},
        {"--range", NULL, FLAG_VALUE, &range},
    };
    struct args a;
    int rv = parse_command(cli, "download", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("download", &a, 1, 1, "FILE_ID");
    }
    if (rv == 0) {
        rv = check_download(out, range);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        char *path = cli_http_path("/api/v1/files/", a.pos[0], "/content");
        const struct cli_request req = {
            .method = "GET", .path = path, .progress_label = out != NULL ? out : a.pos[0]};
        rv = cli_http_download(cli->http, &req, range, out);
        free(path);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- bills ---- */

struct bills_opts {
    const char *state;
    const char *bill_type;
    const char *org;
    const char *limit;
    const char *cursor;
    bool all;
};

static int bills_page(struct cli *cli, const struct bills_opts *o, const char *cursor,
                      json_t **page)
{
    const struct cli_param params[] = {
        {"state", o->state}, {"bill_type", o->bill_type}, {"org", o->org},
        {"limit", o->limit}, {"cursor", cursor},
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

static int cmd_bills(struct cli *cli, int argc, char **argv)
{
    struct bills_opts o = {0};
    const struct flag flags[] = {
        {"--state", NULL, FLAG_VALUE, &o.state},  {"--bill-type", NULL, FLAG_VALUE, &o.bill_type},
        {"--org", NULL, FLAG_VALUE, &o.org},      {"--limit", NULL, FLAG_VALUE, &o.limit},
        {"--cursor", NULL, FLAG_VALUE, &o.cursor}, {"--all", NULL, FLAG_BOOL, &o.all},
        {"--json", NULL, FLAG_BOOL, &cli->json},
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

/* ---- license, tenant, usage: shared helpers ---- */

#define KEY_FILE_NAME "license.key"
#define PUB_FILE_NAME "license.pub"
/* A license id made up by sign: "lic-" and this many random bytes in hex. */
#define LICENSE_ID_RANDOM_BYTES 8
/* license verify found the document not valid: exit 1, like a refusal by a node. */
#define VERIFY_FAILED CLI_ESERVER

/* Tenant and license ids as the node takes them: 1-64 characters of the id alphabet,
 * but not "." or "..". */
static int check_id(const char *cmd, const char *what, const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > LICENSE_ID_MAX || strspn(id, KEY_ALPHABET) != len ||
        strcmp(id, ".") == 0 || strcmp(id, "..") == 0) {
        return usage_error(cmd, "%s '%s' must be 1-%d characters of A-Z a-z 0-9 . _ -", what,
                           id, LICENSE_ID_MAX);
    }
    return 0;
}

/* A whole number of at most INT64_MAX, the largest a license's JSON carries. With
 * @suffixes, a K, M, G or T after it multiplies by that power of 1024 ("10G"). */
static bool parse_count(const char *s, bool suffixes, uint64_t *out)
{
    static const char units[] = "KMGT";
    unsigned shift = 0;
    unsigned long long v;
    char *end;
    if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return false;
    }
    if (*end != '\0') {
        const char *u = suffixes ? strchr(units, toupper((unsigned char)*end)) : NULL;
        if (u == NULL || end[1] != '\0') {
            return false;
        }
        shift = 10 * (unsigned)(u - units + 1);
    }
    if (v > (unsigned long long)INT64_MAX >> shift) {
        return false;
    }
    *out = (uint64_t)v << shift;
    return true;
}

/* @n as "1.5 GiB": powers of 1024, as --quota-bytes takes them. */
static void human_bytes(uint64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)n / 1024.0;
    size_t u = 0;
    if (n < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)n);
        return;
    }
    while (v >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* "label      1.5 GiB (1610612736 bytes)", without the newline. */
static void put_size(const char *label, long long n)
{
    char human[32];
    uint64_t bytes = n > 0 ? (uint64_t)n : 0;
    human_bytes(bytes, human, sizeof human);
    printf("%-10s %s (%llu bytes)", label, human, (unsigned long long)bytes);
}

/* A file count limit; 0 or null means none. */
static void put_max_files(const json_t *v)
{
    if (json_integer_value(v) > 0) {
        printf("%-10s %lld\n", "max_files", (long long)json_integer_value(v));
    } else {
        put_field("max_files", "no limit");
    }
}

/* A JSON list of mode names as "basic,sync". */
static void put_modes(const json_t *modes)
{
    const json_t *m;
    size_t i;
    printf("%-10s ", "modes");
    json_array_foreach(modes, i, m)
    {
        const char *name = json_string_value(m);
        if (i > 0) {
            putchar(',');
        }
        put_text(name != NULL ? name : "?");
    }
    puts(json_array_size(modes) > 0 ? "" : "-");
}

/* A license as the API spells it: LICENSE in docs/cli.md. The fields only a node
 * knows (days_left, installed) are printed when present. */
static void print_license(const json_t *lic)
{
    const json_t *days = json_object_get(lic, "expires_in_days");
    const char *warning = json_string_value(json_object_get(lic, "warning"));
    put_field("license_id", jstr(lic, "license_id"));
    put_field("tenant", jstr(lic, "tenant"));
    put_field("issued", jstr(lic, "issued"));
    put_field("expires", jstr(lic, "expires"));
    if (json_is_integer(days)) {
        printf("%-10s %lld\n", "days_left", (long long)json_integer_value(days));
    }
    put_size("quota", jint(lic, "quota_bytes"));
    putchar('\n');
    put_modes(json_object_get(lic, "modes"));
    put_max_files(json_object_get(lic, "max_files"));
    if (json_object_get(lic, "installed") != NULL) {
        put_field("installed", jstr(lic, "installed"));
    }
    if (warning != NULL) {
        put_field("warning", warning);
    }
}

/* Reads a license document from @path, or from stdin for "-", into a fresh
 * NUL-terminated buffer. A document is at most LICENSE_DOC_MAX bytes. */
static int read_document(const char *path, char **out, size_t *len)
{
    bool from_stdin = strcmp(path, "-") == 0;
    const char *name = from_stdin ? "stdin" : path;
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    char *buf;
    size_t n;
    int rv = CLI_ELOCAL;
    if (f == NULL) {
        fprintf(stderr, "imgarc: %s: %s\n", path, strerror(errno));
        return CLI_ELOCAL;
    }
    if (from_stdin && isatty(STDIN_FILENO)) {
        fprintf(stderr, "imgarc: reading the license document from the terminal; end it with "
                        "Ctrl-D\n");
    }
    buf = xmalloc(LICENSE_DOC_MAX + 2);
    n = fread(buf, 1, LICENSE_DOC_MAX + 1, f);
    if (ferror(f)) {
        fprintf(stderr, "imgarc: %s: read: %s\n", name, strerror(errno));
    } else if (n > LICENSE_DOC_MAX) {
        fprintf(stderr, "imgarc: %s: over %u bytes, too large for a license document\n", name,
                LICENSE_DOC_MAX);
    } else if (n == 0) {
        fprintf(stderr, "imgarc: %s: empty; expected a license document from 'imgarc license "
                        "sign'\n", name);
    } else {
        rv = 0;
    }
    if (!from_stdin) {
        fclose(f);
    }
    if (rv != 0) {
        free(buf);
        return rv;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Reads a key file of @bytes bytes written by license keygen. */
static int read_key(const char *path, uint8_t *key, size_t bytes)
{
    struct base_err err = {{0}};
    if (license_read_key(path, key, bytes, &err) != 0) {
        fprintf(stderr, "imgarc: %s\n", err.msg);
        return CLI_ELOCAL;
    }
    return 0;
}

/* ---- license keygen ---- */

/* Creates @dir and any missing parent; @dir itself gets @mode. */
static int make_dirs(const char *dir, mode_t mode)
{
    char *path = xstrdup(dir);
    int rv = 0;
    for (char *p = strchr(path + 1, '/'); p != NULL && rv == 0; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            fprintf(stderr, "imgarc: mkdir %s: %s\n", path, strerror(errno));
            rv = CLI_ELOCAL;
        }
        *p = '/';
    }
    if (rv == 0 && mkdir(path, mode) != 0 && errno != EEXIST) {
        fprintf(stderr, "imgarc: mkdir %s: %s\n", path, strerror(errno));
        rv = CLI_ELOCAL;
    }
    free(path);
    return rv;
}

/* Neither key file may exist: a key pair is never half replaced. */
static int check_no_keys(const char *key_path, const char *pub_path)
{
    const char *paths[] = {key_path, pub_path};
    for (size_t i = 0; i < ARRAY_SIZE(paths); i++) {
        struct stat st;
        if (lstat(paths[i], &st) == 0) {
            fprintf(stderr, "imgarc: %s exists already; not overwriting a key (the licenses "
                            "signed with it would no longer verify): choose another --out\n",
                    paths[i]);
            return CLI_ELOCAL;
        }
        if (errno != ENOENT) {
            fprintf(stderr, "imgarc: %s: %s\n", paths[i], strerror(errno));
            return CLI_ELOCAL;
        }
    }
    return 0;
}

/* Writes one key file; a file this call created is removed again when it fails. */
static int write_key(const char *path, const uint8_t *key, size_t bytes, unsigned mode)
{
    struct base_err err = {{0}};
    int rv = license_write_key(path, key, bytes, mode, &err);
    if (rv == 0) {
        return 0;
    }
    fprintf(stderr, "imgarc: %s\n", err.msg[0] != '\0' ? err.msg : path);
    if (rv != BASE_EEXISTS) {
        unlink(path);
    }
    return CLI_ELOCAL;
}

/* Writes a fresh key pair; on failure neither file is left behind. */
static int write_key_pair(const char *key_path, const char *pub_path)
{
    uint8_t pk[LICENSE_PUBLIC_KEY_BYTES], sk[LICENSE_SECRET_KEY_BYTES];
    int rv;
    if (sodium_init() < 0) {
        fprintf(stderr, "imgarc: libsodium failed to initialize\n");
        return CLI_ELOCAL;
    }
    license_keygen(pk, sk);
    rv = write_key(key_path, sk, sizeof sk, 0600);
    sodium_memzero(sk, sizeof sk);
    if (rv == 0) {
        rv = write_key(pub_path, pk, sizeof pk, 0644);
        /* 0644 whatever the umask: it is public */
        if (rv == 0 && chmod(pub_path, 0644) != 0) {
            fprintf(stderr, "imgarc: chmod %s: %s\n", pub_path, strerror(errno));
            unlink(pub_path);
            rv = CLI_ELOCAL;
        }
        if (rv != 0) {
            unlink(key_path);
        }
    }
    return rv;
}

static int license_keygen_cmd(struct cli *cli, int argc, char **argv)
{
    const char *dir = NULL;
    const struct flag flags[] = {{"--out", NULL, FLAG_VALUE, &dir}};
    char *key_path = NULL, *pub_path = NULL;
    struct args a;
    int rv = parse_command(cli, "license keygen", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license keygen", &a, 0, 0, "nothing");
    }
    if (rv == 0 && (dir == NULL || dir[0] == '\0')) {
        rv = usage_error("license keygen", "missing --out DIR, the directory for the keys");
    }
    if (rv == 0) {
        size_t n = strlen(dir);
        while (n > 1 && dir[n - 1] == '/') {
            n--; /* "keys/" is "keys", which gets mode 0700 */
        }
        key_path = xasprintf("%.*s/%s", (int)n, dir, KEY_FILE_NAME);
        pub_path = xasprintf("%.*s/%s", (int)n, dir, PUB_FILE_NAME);
        key_path[n] = '\0';
        rv = make_dirs(key_path, 0700);
        key_path[n] = '/';
    }
    if (rv == 0) {
        rv = check_no_keys(key_path, pub_path);
    }
    if (rv == 0) {
        rv = write_key_pair(key_path, pub_path);
    }
    if (rv == 0) {
        printf("secret key  %s  (mode 0600: keep it private and offline, it signs licenses)\n",
               key_path);
        printf("public key  %s  (for the nodes: imgarcd --license-pubkey %s)\n", pub_path,
               pub_path);
    }
    free(key_path);
    free(pub_path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- license sign and verify ---- */

struct sign_opts {
    const char *key;
    const char *expires;
    const char *issued;
    const char *quota;
    const char *modes;
    const char *max_files;
    const char *id;
};

/* --issued and --expires into @l; --issued defaults to now. */
static int sign_times(const struct sign_opts *o, struct license *l)
{
    int64_t now = (int64_t)clock_wall_ms();
    int64_t issued = o->issued != NULL ? clock_parse_rfc3339(o->issued) : now;
    int64_t expires = clock_parse_rfc3339(o->expires);
    const char *bad = issued < 0 ? "--issued" : expires < 0 ? "--expires" : NULL;
    if (bad != NULL) {
        return usage_error("license sign", "%s '%s' is not an RFC 3339 time such as "
                                           "2027-12-31T00:00:00Z",
                           bad, issued < 0 ? o->issued : o->expires);
    }
    if (expires <= issued) {
        return usage_error("license sign", "--expires must be later than --issued (%s)",
                           o->issued != NULL ? o->issued : "now");
    }
    l->issued_ms = (uint64_t)issued;
    l->expires_ms = (uint64_t)expires;
    return 0;
}

/* Checks every flag of license sign and fills @l from them. */
static int sign_fields(const char *tenant, const struct sign_opts *o, struct license *l)
{
    const char *cmd = "license sign";
    const char *missing = o->key == NULL       ? "--key FILE"
                          : tenant == NULL     ? "--tenant ID"
                          : o->expires == NULL ? "--expires TIME"
                          : o->quota == NULL   ? "--quota-bytes N"
                          : o->modes == NULL   ? "--modes LIST"
                                               : NULL;
    if (missing != NULL) {
        return usage_error(cmd, "missing %s", missing);
    }
    if (check_id(cmd, "--tenant", tenant) != 0 ||
        (o->id != NULL && check_id(cmd, "--id", o->id) != 0) || sign_times(o, l) != 0) {
        return CLI_EUSAGE;
    }
    if (!parse_count(o->quota, true, &l->quota_bytes)) {
        return usage_error(cmd, "--quota-bytes '%s' is not a number of bytes such as "
                                "1099511627776 or 1T (K, M, G, T: powers of 1024)", o->quota);
    }
    if (o->max_files != NULL && !parse_count(o->max_files, false, &l->max_files)) {
        return usage_error(cmd, "--max-files '%s' is not a whole number (0: no limit)",
                           o->max_files);
    }
    if (license_modes_parse(o->modes, &l->modes) != 0) {
        return usage_error(cmd, "--modes '%s' is not a comma-separated list of basic, sync, "
                                "match", o->modes);
    }
    snprintf(l->tenant, sizeof l->tenant, "%s", tenant);
    if (o->id != NULL) {
        snprintf(l->license_id, sizeof l->license_id, "%s", o->id);
    } else {
        uint8_t raw[LICENSE_ID_RANDOM_BYTES];
        char hex[2 * sizeof raw + 1];
        randombytes_buf(raw, sizeof raw); /* initializes itself; no sodium_init() needed */
        hex_encode(raw, sizeof raw, hex);
        snprintf(l->license_id, sizeof l->license_id, "lic-%s", hex);
    }
    return 0;
}

static int license_sign_cmd(struct cli *cli, int argc, char **argv)
{
    struct sign_opts o = {0};
    const struct flag flags[] = {
        {"--key", NULL, FLAG_VALUE, &o.key},
        {"--expires", NULL, FLAG_VALUE, &o.expires},
        {"--issued", NULL, FLAG_VALUE, &o.issued},
        {"--quota-bytes", NULL, FLAG_VALUE, &o.quota},
        {"--modes", NULL, FLAG_VALUE, &o.modes},
        {"--max-files", NULL, FLAG_VALUE, &o.max_files},
        {"--id", NULL, FLAG_VALUE, &o.id},
    };
    uint8_t sk[LICENSE_SECRET_KEY_BYTES];
    struct license l = {0};
    struct args a;
    int rv = parse_command(cli, "license sign", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license sign", &a, 0, 0, "nothing");
    }
    if (rv == 0) {
        /* The license's tenant is the global --tenant, given before or after "sign". */
        const char *tenant = cli->conn.tenant;
        rv = sign_fields(tenant != NULL && tenant[0] != '\0' ? tenant : NULL, &o, &l);
    }
    if (rv == 0) {
        rv = read_key(o.key, sk, sizeof sk);
    }
    if (rv == 0) {
        char *doc = license_sign(&l, sk);
        puts(doc);
        free(doc);
        if (l.expires_ms <= clock_wall_ms()) {
            fprintf(stderr, "imgarc: license sign: warning: --expires %s is past; nodes refuse "
                            "to install an expired license\n", o.expires);
        }
    }
    sodium_memzero(sk, sizeof sk);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* The verified fields of @l with the names the API gives them. */
static json_t *license_fields(const struct license *l)
{
    char issued[40], expires[40], modes[32];
    json_t *list = json_array();
    json_t *obj;
    clock_format_rfc3339(l->issued_ms, issued, sizeof issued);
    clock_format_rfc3339(l->expires_ms, expires, sizeof expires);
    license_modes_format(l->modes, modes, sizeof modes);
    for (char *save = NULL, *tok = strtok_r(modes, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        json_array_append_new(list, json_string(tok));
    }
    obj = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o}", "license_id", l->license_id,
                    "tenant", l->tenant, "issued", issued, "expires", expires, "quota_bytes",
                    (json_int_t)l->quota_bytes, "max_files", (json_int_t)l->max_files,
                    "modes", list);
    ASSERT(obj != NULL);
    if (clock_wall_ms() >= l->expires_ms) {
        json_object_set_new(obj, "warning",
                            json_string("expired: nodes refuse to install this license"));
    }
    return obj;
}

static int license_verify_cmd(struct cli *cli, int argc, char **argv)
{
    const char *pub = NULL;
    const struct flag flags[] = {
        {"--pub", NULL, FLAG_VALUE, &pub}, {"--json", NULL, FLAG_BOOL, &cli->json}};
    uint8_t keys[1][LICENSE_PUBLIC_KEY_BYTES];
    struct base_err err = {{0}};
    struct license l;
    char *doc = NULL;
    size_t len = 0;
    struct args a;
    int rv = parse_command(cli, "license verify", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license verify", &a, 0, 1, "DOCUMENT_FILE");
    }
    if (rv == 0 && pub == NULL) {
        rv = usage_error("license verify", "missing --pub FILE, the public key to check against");
    }
    if (rv == 0) {
        rv = read_key(pub, keys[0], sizeof keys[0]);
    }
    if (rv == 0) {
        rv = read_document(a.n > 0 ? a.pos[0] : "-", &doc, &len);
    }
    if (rv == 0 && license_verify(doc, len, (const uint8_t(*)[LICENSE_PUBLIC_KEY_BYTES])keys, 1,
                                  &l, &err) != 0) {
        fprintf(stderr, "imgarc: %s: not a valid license for the key in %s: %s\n",
                a.n > 0 && strcmp(a.pos[0], "-") != 0 ? a.pos[0] : "stdin", pub, err.msg);
        rv = VERIFY_FAILED;
    } else if (rv == 0) {
        json_t *fields = license_fields(&l);
        if (cli->json) {
            print_json(fields, false);
        } else {
            char *good = xasprintf("good (the key in %s)", pub);
            print_license(fields);
            put_field("signature", good);
            free(good);
        }
        json_decref(fields);
    }
    free(doc);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- license install and show ---- */

static int license_install_cmd(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/licenses"};
    json_t *ans = NULL;
    char *doc = NULL;
    size_t len = 0;
    long status = 0;
    struct args a;
    int rv = parse_command(cli, "license install", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("license install", &a, 1, 1, "DOCUMENT_FILE (or - for stdin)");
    }
    if (rv == 0) {
        rv = read_document(a.pos[0], &doc, &len);
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        /* The bytes as signed: the node checks the signature over them. */
        rv = cli_http_send(cli->http, &req, doc, len, &status, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "tenant"));
        fputs(": license ", stdout);
        put_text(jstr(ans, "license_id"));
        printf(" %s (index %lld)\n",
               status == 200 ? "is in force already, nothing changed" : "installed",
               jint(ans, "index"));
        print_license(ans);
    }
    json_decref(ans);
    free(doc);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* Every license the tenant has had, one line each: ID ISSUED EXPIRES QUOTA MODES. */
static void print_history(const json_t *history)
{
    const json_t *l;
    size_t i;
    if (json_array_size(history) == 0) {
        return;
    }
    printf("\n%-24s  %-24s  %-24s  %10s  %s\n", "HISTORY", "ISSUED", "EXPIRES", "QUOTA",
           "MODES");
    json_array_foreach(history, i, l)
    {
        const json_t *m;
        size_t k;
        char quota[32];
        human_bytes((uint64_t)(jint(l, "quota_bytes") > 0 ? jint(l, "quota_bytes") : 0), quota,
                    sizeof quota);
        put_cell(jstr(l, "license_id"), 24);
        put_cell(jstr(l, "issued"), 24);
        put_cell(jstr(l, "expires"), 24);
        printf("%10s  ", quota);
        json_array_foreach(json_object_get(l, "modes"), k, m)
        {
            printf("%s", k > 0 ? "," : "");
            put_text(json_string_value(m) != NULL ? json_string_value(m) : "?");
        }
        putchar('\n');
    }
}

/* Sends @req with @body (may be NULL) unless @rv already failed, then prints the answer
 * with @print, or as JSON with --json. Returns the first failure. */
static int send_and_print(struct cli *cli, int rv, const struct cli_request *req, json_t *body,
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
static int show_cmd(struct cli *cli, const char *name, const char *path, int argc, char **argv,
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

static void print_license_answer(const json_t *ans)
{
    const json_t *lic = json_object_get(ans, "license");
    if (json_is_object(lic)) {
        print_license(lic);
    } else {
        fputs("no license installed for tenant ", stdout);
        put_text(jstr(ans, "tenant"));
        putchar('\n');
    }
    print_history(json_object_get(ans, "history"));
}

static int license_show_cmd(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "license show", "/api/v1/licenses", argc, argv, print_license_answer);
}

static int cmd_license(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"keygen", license_keygen_cmd}, {"sign", license_sign_cmd},
        {"verify", license_verify_cmd}, {"install", license_install_cmd},
        {"show", license_show_cmd},
    };
    return run_action(cli, "license", actions, ARRAY_SIZE(actions), argc, argv);
}

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

static int cmd_tenant(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", tenant_create}, {"list", tenant_list}};
    return run_action(cli, "tenant", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- cluster ---- */

/* A byte count for the table, or "-" when the node did not say. */
static void cell_bytes(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v)) {
        human_bytes((uint64_t)json_integer_value(v), buf, size);
    } else {
        snprintf(buf, size, "-");
    }
}

/* A count for the table, or "-" when the node did not say. */
static void cell_count(const json_t *v, char *buf, size_t size)
{
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
    } else {
        snprintf(buf, size, "-");
    }
}

static void print_cluster(const json_t *ans)
{
    const json_t *nodes = json_object_get(ans, "nodes");
    const json_t *under = json_object_get(ans, "under_replicated");
    json_int_t leader = json_integer_value(json_object_get(ans, "leader"));
    const json_t *n;
    size_t i;
    /* put_cell() pads to its width and adds two spaces. */
    printf("%-19s  %-21s  %-21s  %-10s  %-7s  %-6s  %-8s  %10s  %-8s  %8s %10s %10s\n", "ID",
           "HTTP", "RAFT", "ZONE", "ROLE", "LEADER", "HEALTH", "APPLIED", "STORAGE", "BLOBS",
           "BYTES", "FREE");
    json_array_foreach(nodes, i, n)
    {
        char idx[24], count[24], bytes[32], free_b[32];
        cell_count(json_object_get(n, "applied_index"), idx, sizeof idx);
        cell_count(json_object_get(n, "blob_count"), count, sizeof count);
        cell_bytes(json_object_get(n, "blob_bytes"), bytes, sizeof bytes);
        cell_bytes(json_object_get(n, "free_bytes"), free_b, sizeof free_b);
        printf("%-19lld  ", jint(n, "id"));
        put_cell(jstr(n, "http"), 21);
        put_cell(jstr(n, "raft"), 21);
        put_cell(jstr(n, "zone"), 10);
        put_cell(jstr(n, "role"), 7);
        put_cell(leader != 0 && jint(n, "id") == leader ? "*" : "", 6);
        put_cell(jstr(n, "health"), 8);
        printf("%10s  ", idx);
        put_cell(jstr(n, "storage"), 8);
        printf("%8s %10s %10s\n", count, bytes, free_b);
    }
    if (json_array_size(nodes) == 0) {
        printf("(no members: this node has not joined a cluster yet)\n");
    }
    printf("leader: ");
    if (leader != 0) {
        printf("%lld\n", (long long)leader);
    } else {
        printf("none known\n");
    }
    printf("under-replicated blobs: ");
    if (json_is_integer(under)) {
        printf("%lld\n", (long long)json_integer_value(under));
    } else {
        printf("- (not reported by this node)\n");
    }
}

static int cluster_show(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "cluster", "/api/v1/cluster", argc, argv, print_cluster);
}

static void print_joined(const json_t *ans)
{
    printf("node %lld at ", jint(ans, "id"));
    put_text(jstr(ans, "http"));
    printf(" %s (role now: %s; the leader makes it a voter or a standby)\n",
           jbool(ans, "added") ? "added to the cluster" : "is a member already",
           jstr(ans, "role")[0] != '\0' ? jstr(ans, "role") : "?");
}

static int cluster_join(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/cluster/join"};
    json_t *body = json_object();
    struct args a;
    int rv = parse_command(cli, "cluster join", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("cluster join", &a, 1, 1, "HOST:PORT");
    }
    if (rv == 0 && strchr(a.pos[0], ':') == NULL) {
        rv = usage_error("cluster join", "'%s' is not HOST:PORT (the new node's --listen)",
                         a.pos[0]);
    }
    if (rv == 0) {
        json_object_set_new(body, "http", json_string(a.pos[0]));
    }
    rv = send_and_print(cli, rv, &req, body, print_joined);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_removed(const json_t *ans)
{
    printf("node %lld removed: the leader takes it out of the raft configuration now\n",
           jint(ans, "id"));
}

/* A node id as "imgarc cluster" lists it: 1-19 digits, no leading zero. */
static int check_node_id(const char *cmd, const char *id)
{
    size_t len = strlen(id);
    if (id[0] < '1' || id[0] > '9' || strspn(id, "0123456789") != len || len > 19 ||
        (len == 19 && strcmp(id, "9223372036854775807") > 0)) {
        return usage_error(cmd, "ID '%s' must be a node id as 'imgarc cluster' lists it", id);
    }
    return 0;
}

/* "cluster remove", "cluster drain", "cluster undrain": @method on
 * /api/v1/cluster/nodes/ID@suffix. */
static int node_action(struct cli *cli, const char *cmd, const char *method, const char *suffix,
                       int argc, char **argv, void (*print)(const json_t *ans))
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct cli_request req = {.method = method};
    char *path = NULL;
    struct args a;
    int rv = parse_command(cli, cmd, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(cmd, &a, 1, 1, "ID");
    }
    if (rv == 0) {
        rv = check_node_id(cmd, a.pos[0]);
    }
    if (rv == 0) {
        path = cli_http_path("/api/v1/cluster/nodes/", a.pos[0], suffix);
        req.path = path;
    }
    rv = send_and_print(cli, rv, &req, NULL, print);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int cluster_remove(struct cli *cli, int argc, char **argv)
{
    return node_action(cli, "cluster remove", "DELETE", "", argc, argv, print_removed);
}

static void print_storage_set(const json_t *ans)
{
    const char *storage = jstr(ans, "storage");
    printf("node %lld storage %s (raft index %lld): ", jint(ans, "id"),
           storage[0] != '\0' ? plain(storage) : "?", jint(ans, "index"));
    if (json_is_false(json_object_get(ans, "changed"))) {
        printf("it was %s already\n", storage[0] != '\0' ? plain(storage) : "so");
    } else if (strcmp(storage, "draining") == 0) {
        printf("its copies move to other nodes; it serves them until they are placed\n");
    } else if (strcmp(storage, "active") == 0) {
        printf("it takes new copies again\n");
    } else {
        printf("\n");
    }
}

static int cluster_drain(struct cli *cli, int argc, char **argv)
{
    return node_action(cli, "cluster drain", "POST", "/drain", argc, argv, print_storage_set);
}

static int cluster_undrain(struct cli *cli, int argc, char **argv)
{
    return node_action(cli, "cluster undrain", "DELETE", "/drain", argc, argv, print_storage_set);
}

/* Whether the JSON array @ids holds the node id @id. */
static bool ids_have(const json_t *ids, json_int_t id)
{
    const json_t *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        if (json_integer_value(v) == id) {
            return true;
        }
    }
    return false;
}

/* The 1-based rank of @id in the JSON array @ids, 0 when it is not there. */
static size_t ids_rank(const json_t *ids, json_int_t id)
{
    const json_t *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        if (json_integer_value(v) == id) {
            return i + 1;
        }
    }
    return 0;
}

/* One node of "cluster blob": whether it holds a copy, whether that copy is live, and
 * where placement ranks it. */
static void put_blob_node(json_int_t id, const json_t *holders, const json_t *live,
                          const json_t *placement)
{
    bool holds = ids_have(holders, id);
    size_t rank = ids_rank(placement, id);
    char rank_s[24] = "-";
    const char *note = NULL;
    if (rank > 0) {
        snprintf(rank_s, sizeof rank_s, "%zu", rank);
    }
    if (!holds) {
        note = "missing: placement wants a copy here";
    } else if (!ids_have(live, id)) {
        note = "not live: its node is out";
    } else if (rank == 0) {
        note = "not where placement wants it (an extra copy, or its node is draining)";
    }
    printf("%-19lld  %-4s  %-4s  ", (long long)id, holds ? "yes" : "no",
           holds ? (ids_have(live, id) ? "yes" : "no") : "-");
    if (note != NULL) {
        printf("%-9s  %s\n", rank_s, note);
    } else {
        printf("%s\n", rank_s);
    }
}

static void print_blob(const json_t *ans)
{
    const json_t *holders = json_object_get(ans, "holders");
    const json_t *live = json_object_get(ans, "live_holders");
    const json_t *placement = json_object_get(ans, "placement");
    long long replicas = jint(ans, "replicas");
    size_t n_live = json_array_size(live), placed = 0;
    const json_t *v;
    size_t i;
    json_array_foreach(holders, i, v)
    {
        if (ids_have(live, json_integer_value(v)) && ids_have(placement, json_integer_value(v))) {
            placed++;
        }
    }
    put_field("blob", jstr(ans, "blob"));
    put_size("size", jint(ans, "size"));
    putchar('\n');
    printf("%-10s %lld\n", "refs", jint(ans, "refs"));
    printf("%-10s %lld\n", "replicas", replicas);
    printf("%-10s %zu (%zu live, %zu where placement wants them)%s\n", "copies",
           json_array_size(holders), n_live, placed,
           (long long)n_live < replicas ? "; under-replicated" : "");
    printf("%-19s  %-4s  %-4s  %-9s  %s\n", "NODE", "COPY", "LIVE", "PLACEMENT", "NOTE");
    /* The holders in placement order first, then the other holders, then the nodes
     * placement wants a copy on that have none. */
    json_array_foreach(placement, i, v)
    {
        if (ids_have(holders, json_integer_value(v))) {
            put_blob_node(json_integer_value(v), holders, live, placement);
        }
    }
    json_array_foreach(holders, i, v)
    {
        if (!ids_have(placement, json_integer_value(v))) {
            put_blob_node(json_integer_value(v), holders, live, placement);
        }
    }
    json_array_foreach(placement, i, v)
    {
        if (!ids_have(holders, json_integer_value(v))) {
            put_blob_node(json_integer_value(v), holders, live, placement);
        }
    }
}

static int cluster_blob(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct cli_request req = {.method = "GET"};
    char hash[65];
    char *path = NULL;
    struct args a;
    int rv = parse_command(cli, "cluster blob", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("cluster blob", &a, 1, 1, "HASH");
    }
    if (rv == 0 && (strlen(a.pos[0]) != 64 || strspn(a.pos[0], "0123456789abcdefABCDEF") != 64)) {
        rv = usage_error("cluster blob",
                         "HASH must be the 64 hex digits of a blob (a file's \"blob\" field)");
    }
    if (rv == 0) {
        /* Files name their blobs in lower case; the answer echoes what was asked. */
        for (size_t i = 0; i < 64; i++) {
            hash[i] = (char)tolower((unsigned char)a.pos[0][i]);
        }
        hash[64] = '\0';
        path = cli_http_path("/api/v1/cluster/blobs/", hash, "");
        req.path = path;
    }
    rv = send_and_print(cli, rv, &req, NULL, print_blob);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* "imgarc cluster" alone (or with flags) shows the cluster. */
static int cmd_cluster(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"show", cluster_show},   {"join", cluster_join},       {"remove", cluster_remove},
        {"drain", cluster_drain}, {"undrain", cluster_undrain}, {"blob", cluster_blob}};
    if (argc == 0 || (argv[0][0] == '-' && strcmp(argv[0], "--help") != 0 &&
                      strcmp(argv[0], "-h") != 0)) {
        return cluster_show(cli, argc, argv);
    }
    return run_action(cli, "cluster", actions, ARRAY_SIZE(actions), argc, argv);
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

static int cmd_usage(struct cli *cli, int argc, char **argv)
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

/* ---- Passwords: login and user create ---- */

/* The API takes passwords of 8-1024 bytes; one line more tells a longer one apart. */
#define PASSWORD_BYTES_MAX 1024

/* Wipes a string member holding a secret (a password, a token) before the object is
 * freed. jansson keeps its own writable copy of every string, so the cast is safe. */
static void wipe_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_string(v)) {
        sodium_memzero((char *)json_string_value(v), json_string_length(v));
    }
}

/* Reads one line from @f into @buf (PASSWORD_BYTES_MAX + 2 bytes) without its end of
 * line. @f is unbuffered, so no copy is left in a stdio buffer. */
static int read_line(FILE *f, const char *name, char *buf)
{
    size_t n;
    setvbuf(f, NULL, _IONBF, 0);
    if (fgets(buf, PASSWORD_BYTES_MAX + 2, f) == NULL) {
        if (ferror(f)) {
            fprintf(stderr, "imgarc: %s: read: %s\n", name, strerror(errno));
            return CLI_ELOCAL;
        }
        buf[0] = '\0';
    }
    n = strcspn(buf, "\r\n");
    if (n > PASSWORD_BYTES_MAX) {
        fprintf(stderr, "imgarc: %s: the password is longer than %d bytes\n", name,
                PASSWORD_BYTES_MAX);
        return CLI_ELOCAL;
    }
    buf[n] = '\0';
    return 0;
}

/* Reads the password from the terminal with echo off; @prompt goes to stderr. */
static int read_tty_password(const char *prompt, char *buf)
{
    struct termios saved, quiet;
    int rv;
    if (tcgetattr(STDIN_FILENO, &saved) != 0) {
        fprintf(stderr, "imgarc: terminal: %s\n", strerror(errno));
        return CLI_ELOCAL;
    }
    quiet = saved;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs(prompt, stderr);
    if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) != 0) {
        fprintf(stderr, "\nimgarc: terminal: %s\n", strerror(errno));
        return CLI_ELOCAL;
    }
    rv = read_line(stdin, "stdin", buf);
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    return rv;
}

/* The first line of @file, else of stdin (without echo when it is a terminal), into
 * @buf of PASSWORD_BYTES_MAX + 2 bytes, which the caller wipes with sodium_memzero. */
static int read_password(const char *cmd, const char *file, const char *prompt, char *buf)
{
    int rv;
    if (file != NULL) {
        FILE *f = fopen(file, "rb");
        if (f == NULL) {
            fprintf(stderr, "imgarc: %s: %s\n", file, strerror(errno));
            return CLI_ELOCAL;
        }
        rv = read_line(f, file, buf);
        fclose(f);
    } else if (isatty(STDIN_FILENO)) {
        rv = read_tty_password(prompt, buf);
    } else {
        rv = read_line(stdin, "stdin", buf);
    }
    if (rv == 0 && buf[0] == '\0') {
        rv = usage_error(cmd, "empty password (from %s)", file != NULL ? file : "stdin");
    }
    return rv;
}

/* The JSON text of @body with "password": @password added, in one allocation sized up
 * front, so that no resized copy of the password is left in freed memory. The caller
 * wipes the text (*@len bytes) and frees it. */
static char *secret_body(const json_t *body, const char *password, size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    char *head = json_dumps(body, JSON_COMPACT);
    size_t head_len;
    char *text, *o;
    ASSERT(head != NULL && head[0] == '{');
    head_len = strlen(head) - 1; /* without the closing brace */
    text = xmalloc(head_len + 16 + 6 * strlen(password) + 3);
    memcpy(text, head, head_len);
    o = text + head_len;
    o += sprintf(o, "%s\"password\":\"", head_len > 1 ? "," : "");
    for (const unsigned char *p = (const unsigned char *)password; *p != '\0'; p++) {
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

/* POSTs @body plus the password in @password to @path; the text sent is wiped. */
static int post_with_password(struct cli *cli, const char *path, const json_t *body,
                              const char *password, json_t **out)
{
    const struct cli_request req = {.method = "POST", .path = path};
    size_t len = 0;
    char *text = secret_body(body, password, &len);
    int rv = connect_server(cli);
    if (rv == 0) {
        rv = cli_http_send(cli->http, &req, text, len, NULL, out);
    }
    sodium_memzero(text, len);
    free(text);
    return rv;
}

/* The tenant of --tenant, or the node's default. */
static const char *tenant_or_default(const struct cli *cli)
{
    const char *t = cli->conn.tenant;
    return t != NULL && t[0] != '\0' ? t : DEFAULT_TENANT;
}

/* A comma-separated list of the strings of a JSON array. */
static void put_list(const json_t *list)
{
    const json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
    {
        if (i > 0) {
            putchar(',');
        }
        put_text(json_string_value(v) != NULL ? json_string_value(v) : "?");
    }
    if (json_array_size(list) == 0) {
        putchar('-');
    }
}

/* ---- login ---- */

/* "export IMGARC_TOKEN=..." on stdout for eval; who and until when on stderr. */
static int print_login(const char *username, const json_t *ans)
{
    const char *token = jstr(ans, "access_token");
    long long ttl = jint(ans, "expires_in");
    char when[40];
    /* The line is evaluated by a shell: only the token alphabet may reach it. */
    if (token[0] == '\0' || strspn(token, KEY_ALPHABET) != strlen(token)) {
        fprintf(stderr, "imgarc: login: the answer holds no usable access_token\n");
        return CLI_ETRANSPORT;
    }
    printf("export IMGARC_TOKEN=%s\n", token);
    clock_format_rfc3339(clock_wall_ms() + (uint64_t)(ttl > 0 ? ttl : 0) * 1000, when,
                         sizeof when);
    fprintf(stderr, "imgarc: logged in as %s in tenant %s; the token expires in %lld s, at %s\n",
            plain(username), plain(jstr(ans, "tenant")), ttl, when);
    return 0;
}

static int cmd_login(struct cli *cli, int argc, char **argv)
{
    const char *file = NULL;
    const struct flag flags[] = {{"--password-file", NULL, FLAG_VALUE, &file},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    char password[PASSWORD_BYTES_MAX + 2] = "";
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "login", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("login", &a, 1, 1, "USERNAME");
    }
    if (rv == 0) {
        rv = check_id("login", "USERNAME", a.pos[0]);
    }
    if (rv == 0) {
        rv = check_id("login", "--tenant", tenant_or_default(cli));
    }
    if (rv == 0) {
        rv = read_password("login", file, "Password: ", password);
    }
    if (rv == 0) {
        body = json_pack("{s:s, s:s}", "tenant", tenant_or_default(cli), "username", a.pos[0]);
        rv = post_with_password(cli, "/api/v1/auth/login", body, password, &ans);
    }
    sodium_memzero(password, sizeof password);
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        rv = print_login(a.pos[0], ans);
    }
    if (ans != NULL) {
        wipe_member(ans, "access_token");
    }
    json_decref(ans);
    json_decref(body);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* ---- user ---- */

/* {"username", "roles", "name"?}: the body of user create without its password. */
static int user_body(const char *username, const struct str_list *roles, const char *name,
                     json_t **out)
{
    const char *cmd = "user create";
    json_t *body = json_pack("{s:s, s:[]}", "username", username, "roles");
    json_t *list = json_object_get(body, "roles");
    int rv = roles->n == 0 ? usage_error(cmd, "missing --role ROLE (scanner, reviewer, "
                                              "tenant_admin or a custom role)")
                           : 0;
    for (size_t i = 0; i < roles->n && rv == 0; i++) {
        rv = check_id(cmd, "--role", roles->items[i]);
        if (rv == 0) {
            json_array_append_new(list, json_string(roles->items[i]));
        }
    }
    if (rv == 0 && name != NULL) {
        rv = put_string(cmd, body, "name", name, "--name");
    }
    if (rv != 0) {
        json_decref(body);
        return rv;
    }
    *out = body;
    return 0;
}

static int user_create(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL, *file = NULL;
    struct str_list roles = {0};
    const struct flag flags[] = {
        {"--role", NULL, FLAG_LIST, &roles}, {"--name", NULL, FLAG_VALUE, &name},
        {"--password-file", NULL, FLAG_VALUE, &file}, {"--json", NULL, FLAG_BOOL, &cli->json}};
    char password[PASSWORD_BYTES_MAX + 2] = "";
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "user create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("user create", &a, 1, 1, "USERNAME");
    }
    if (rv == 0) {
        rv = check_id("user create", "USERNAME", a.pos[0]);
    }
    if (rv == 0) {
        rv = user_body(a.pos[0], &roles, name, &body);
    }
    if (rv == 0) {
        rv = read_password("user create", file, "Password of the new user: ", password);
    }
    if (rv == 0) {
        rv = post_with_password(cli, "/api/v1/users", body, password, &ans);
    }
    sodium_memzero(password, sizeof password);
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "username"));
        fputs(": user created in tenant ", stdout);
        put_text(jstr(ans, "tenant"));
        fputs(", roles ", stdout);
        put_list(json_object_get(ans, "roles"));
        fputs(", name ", stdout);
        put_text(jstr(ans, "name"));
        printf(" (index %lld)\n", jint(ans, "index"));
    }
    json_decref(body);
    json_decref(ans);
    free(roles.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_users(const json_t *ans)
{
    const json_t *u;
    size_t i;
    printf("%-16s  %-24s  %8s  %-24s  %-24s  %s\n", "USERNAME", "ROLES", "FAILURES",
           "LOCKED_UNTIL", "CREATED", "NAME");
    json_array_foreach(json_object_get(ans, "users"), i, u)
    {
        const json_t *roles = json_object_get(u, "roles");
        char *list = xstrdup("");
        const json_t *r;
        size_t k;
        json_array_foreach(roles, k, r)
        {
            char *longer = xasprintf("%s%s%s", list, k > 0 ? "," : "",
                                     json_string_value(r) != NULL ? json_string_value(r) : "?");
            free(list);
            list = longer;
        }
        put_cell(jstr(u, "username"), 16);
        put_cell(list, 24);
        printf("%8lld  ", jint(u, "failures"));
        put_cell(jstr(u, "locked_until"), 24);
        put_cell(jstr(u, "created"), 24);
        put_text(jstr(u, "name"));
        putchar('\n');
        free(list);
    }
}

static int user_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "user list", "/api/v1/users", argc, argv, print_users);
}

/* One JSON request to @prefix + @id (escaped) + @suffix, for user unlock and grants and
 * org rename and move; @body may be NULL. The answer is stored in *@out. */
static int id_request(struct cli *cli, const char *method, const char *prefix, const char *id,
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

static int user_unlock(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "user unlock", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("user unlock", &a, 1, 1, "USERNAME");
    }
    if (rv == 0) {
        rv = check_id("user unlock", "USERNAME", a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, "POST", "/api/v1/users/", a.pos[0], "/unlock", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "username"));
        printf(": unlocked, wrong passwords reset (index %lld)\n", jint(ans, "index"));
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* {"grants": [...]} from --org ID[:children] and --all; neither clears the grants. */
static int grants_body(const struct str_list *orgs, bool all, json_t **out)
{
    const char *cmd = "user grants";
    json_t *body = json_pack("{s:[]}", "grants");
    json_t *list = json_object_get(body, "grants");
    int rv = 0;
    if (all) {
        json_array_append_new(list, json_pack("{s:s, s:b}", "org", "*", "include_children", 1));
    }
    for (size_t i = 0; i < orgs->n && rv == 0; i++) {
        const char *spec = orgs->items[i];
        const char *colon = strchr(spec, ':');
        char *id = colon != NULL ? xasprintf("%.*s", (int)(colon - spec), spec) : xstrdup(spec);
        if (colon != NULL && strcmp(colon, ":children") != 0) {
            rv = usage_error(cmd, "--org '%s': write ID or ID:children", spec);
        }
        if (rv == 0) {
            rv = check_id(cmd, "--org", id);
        }
        if (rv == 0) {
            json_array_append_new(list, json_pack("{s:s, s:b}", "org", id, "include_children",
                                                  colon != NULL));
        }
        free(id);
    }
    if (rv != 0) {
        json_decref(body);
        return rv;
    }
    *out = body;
    return 0;
}

static void print_grants(const json_t *ans)
{
    const json_t *grants = json_object_get(ans, "grants");
    const json_t *g;
    size_t i;
    put_text(jstr(ans, "username"));
    fputs(json_array_size(grants) == 0 ? ": grants cleared, no bill is visible unless a role "
                                         "has admin"
                                       : ": grants set to ",
          stdout);
    json_array_foreach(grants, i, g)
    {
        fputs(i > 0 ? ", " : "", stdout);
        if (strcmp(jstr(g, "org"), "*") == 0) {
            fputs("every bill (*)", stdout);
            continue;
        }
        put_text(jstr(g, "org"));
        fputs(jbool(g, "include_children") ? " and its children" : "", stdout);
    }
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int user_grants(struct cli *cli, int argc, char **argv)
{
    struct str_list orgs = {0};
    bool all = false;
    const struct flag flags[] = {{"--org", NULL, FLAG_LIST, &orgs},
                                 {"--all", NULL, FLAG_BOOL, &all},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "user grants", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("user grants", &a, 1, 1, "USERNAME");
    }
    if (rv == 0) {
        rv = check_id("user grants", "USERNAME", a.pos[0]);
    }
    if (rv == 0) {
        rv = grants_body(&orgs, all, &body);
    }
    if (rv == 0) {
        rv = id_request(cli, "PUT", "/api/v1/users/", a.pos[0], "/grants", body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_grants(ans);
    }
    json_decref(body);
    json_decref(ans);
    free(orgs.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int cmd_user(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", user_create},
                                            {"list", user_list},
                                            {"unlock", user_unlock},
                                            {"grants", user_grants}};
    return run_action(cli, "user", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- role ---- */

static void print_role_created(const json_t *ans)
{
    put_text(jstr(ans, "name"));
    fputs(": role created, permissions ", stdout);
    put_list(json_object_get(ans, "permissions"));
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int role_create(struct cli *cli, int argc, char **argv)
{
    struct str_list perms = {0};
    const struct flag flags[] = {{"--permission", NULL, FLAG_LIST, &perms},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/roles"};
    json_t *body = NULL;
    struct args a;
    int rv = parse_command(cli, "role create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("role create", &a, 1, 1, "NAME");
    }
    if (rv == 0) {
        rv = check_id("role create", "NAME", a.pos[0]);
    }
    if (rv == 0 && perms.n == 0) {
        rv = usage_error("role create", "missing --permission P (read, capture, edit, delete, "
                                        "amend, submit, match, review, admin)");
    }
    for (size_t i = 0; i < perms.n && rv == 0; i++) {
        rv = check_id("role create", "--permission", perms.items[i]);
    }
    if (rv == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < perms.n; i++) {
            json_array_append_new(list, json_string(perms.items[i]));
        }
        body = json_pack("{s:s, s:o}", "name", a.pos[0], "permissions", list);
    }
    rv = send_and_print(cli, rv, &req, body, print_role_created);
    json_decref(body);
    free(perms.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_roles(const json_t *ans)
{
    const json_t *r;
    size_t i;
    printf("%-16s  %-8s  %s\n", "NAME", "KIND", "PERMISSIONS");
    json_array_foreach(json_object_get(ans, "roles"), i, r)
    {
        put_cell(jstr(r, "name"), 16);
        put_cell(jbool(r, "builtin") ? "built-in" : "custom", 8);
        put_list(json_object_get(r, "permissions"));
        putchar('\n');
    }
}

static int role_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "role list", "/api/v1/roles", argc, argv, print_roles);
}

static int cmd_role(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", role_create}, {"list", role_list}};
    return run_action(cli, "role", actions, ARRAY_SIZE(actions), argc, argv);
}

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

static int cmd_org(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", org_create},
                                            {"list", org_list},
                                            {"rename", org_rename},
                                            {"move", org_move}};
    return run_action(cli, "org", actions, ARRAY_SIZE(actions), argc, argv);
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
        json_object_set_new(body, "tenant", json_string(tenant_or_default(cli)));
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

static int cmd_client(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", client_create}};
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

static int cmd_audit(struct cli *cli, int argc, char **argv)
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


/* ---- webhook, deliveries, delivery retry ---- */

/* The API takes webhook secrets of 16-256 characters. */
#define SECRET_CHARS_MIN 16
#define SECRET_CHARS_MAX 256

/* Appends the names of one --events value, "ready,submitted", to @list. The names are
 * left to the node, which answers an unknown one with the list of those it knows. */
static int add_events(const char *cmd, const char *spec, json_t *list)
{
    const char *p = spec;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *name = xasprintf("%.*s", (int)len, p);
        json_t *s = json_string(name);
        free(name);
        if (len == 0 || s == NULL) {
            json_decref(s);
            return usage_error(cmd, "--events '%s': %s", spec,
                               len == 0 ? "empty event name" : "not valid UTF-8");
        }
        json_array_append_new(list, s);
        if (p[len] == '\0') {
            return 0;
        }
        p += len + 1;
    }
}

/* {"url", "events", "secret"?}; without --secret the node makes the secret. */
static int webhook_body(const char *url, const struct str_list *events, const char *secret,
                        json_t **out)
{
    const char *cmd = "webhook create";
    json_t *body = json_pack("{s:[]}", "events");
    int rv = put_string(cmd, body, "url", url, "URL");
    if (rv == 0 && events->n == 0) {
        rv = usage_error(cmd, "missing --events LIST (e.g. ready,submitted, or * for all)");
    }
    for (size_t i = 0; i < events->n && rv == 0; i++) {
        rv = add_events(cmd, events->items[i], json_object_get(body, "events"));
    }
    if (rv == 0 && secret != NULL &&
        (strlen(secret) < SECRET_CHARS_MIN || strlen(secret) > SECRET_CHARS_MAX)) {
        rv = usage_error(cmd, "--secret must be %d-%d characters", SECRET_CHARS_MIN,
                         SECRET_CHARS_MAX);
    }
    if (rv == 0 && secret != NULL) {
        rv = put_string(cmd, body, "secret", secret, "--secret");
    }
    if (rv != 0) {
        json_decref(body);
        return rv;
    }
    *out = body;
    return 0;
}

/* The strings of a JSON array joined with commas, as a fresh allocation ("" when none). */
static char *join_strings(const json_t *list)
{
    char *out = xstrdup("");
    const json_t *v;
    size_t i;
    json_array_foreach(list, i, v)
    {
        char *longer = xasprintf("%s%s%s", out, i > 0 ? "," : "",
                                 json_string_value(v) != NULL ? json_string_value(v) : "?");
        free(out);
        out = longer;
    }
    return out;
}

static void print_webhook_created(const json_t *ans)
{
    put_field("id", jstr(ans, "id"));
    put_field("url", jstr(ans, "url"));
    printf("%-10s ", "events");
    put_list(json_object_get(ans, "events"));
    putchar('\n');
    put_field("secret", jstr(ans, "secret"));
    printf("%-10s %lld\n", "index", jint(ans, "index"));
    fflush(stdout); /* the secret before the note about it */
    fprintf(stderr, "imgarc: the secret is shown only this once: store it now; it signs every "
                    "delivery (X-Imgarc-Signature)\n");
}

static int webhook_create(struct cli *cli, int argc, char **argv)
{
    const char *secret = NULL;
    struct str_list events = {0};
    const struct flag flags[] = {{"--events", NULL, FLAG_LIST, &events},
                                 {"--secret", NULL, FLAG_VALUE, &secret},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "POST", .path = "/api/v1/webhooks"};
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "webhook create", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("webhook create", &a, 1, 1, "URL");
    }
    if (rv == 0) {
        rv = webhook_body(a.pos[0], &events, secret, &body);
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
        print_webhook_created(ans);
    }
    if (body != NULL) {
        wipe_member(body, "secret");
    }
    if (ans != NULL) {
        wipe_member(ans, "secret");
    }
    json_decref(body);
    json_decref(ans);
    free(events.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_webhooks(const json_t *ans)
{
    const json_t *webhooks = json_object_get(ans, "webhooks");
    const json_t *w;
    size_t i;
    if (json_array_size(webhooks) == 0) {
        fprintf(stderr, "imgarc: no webhooks\n");
        return;
    }
    printf("%-18s  %-24s  %-24s  %s\n", "ID", "EVENTS", "CREATED", "URL");
    json_array_foreach(webhooks, i, w)
    {
        char *events = join_strings(json_object_get(w, "events"));
        put_cell(jstr(w, "id"), 18);
        put_cell(events, 24);
        free(events);
        put_cell(jstr(w, "created"), 24);
        put_text(jstr(w, "url"));
        putchar('\n');
    }
}

static int webhook_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "webhook list", "/api/v1/webhooks", argc, argv, print_webhooks);
}

static void print_webhook(const json_t *w)
{
    put_field("id", jstr(w, "id"));
    put_field("url", jstr(w, "url"));
    printf("%-10s ", "events");
    put_list(json_object_get(w, "events"));
    putchar('\n');
    put_field("created", jstr(w, "created"));
}

static void print_webhook_deleted(const json_t *ans)
{
    put_text(jstr(ans, "id"));
    printf(": webhook deleted; its pending deliveries will be cancelled (index %lld)\n",
           jint(ans, "index"));
}

/* webhook show and webhook delete: @method on /api/v1/webhooks/ID. */
static int webhook_id_cmd(struct cli *cli, const char *name, const char *method, int argc,
                          char **argv, void (*print)(const json_t *ans))
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, name, argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args(name, &a, 1, 1, "ID");
    }
    if (rv == 0) {
        rv = check_id(name, "ID", a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, method, "/api/v1/webhooks/", a.pos[0], "", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print(ans);
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int webhook_show(struct cli *cli, int argc, char **argv)
{
    return webhook_id_cmd(cli, "webhook show", "GET", argc, argv, print_webhook);
}

static int webhook_delete(struct cli *cli, int argc, char **argv)
{
    return webhook_id_cmd(cli, "webhook delete", "DELETE", argc, argv, print_webhook_deleted);
}

static int cmd_webhook(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", webhook_create},
                                            {"list", webhook_list},
                                            {"show", webhook_show},
                                            {"delete", webhook_delete}};
    return run_action(cli, "webhook", actions, ARRAY_SIZE(actions), argc, argv);
}

/* The outcome of a delivery's last attempt: its HTTP status when it got an answer (and
 * the error text the dispatcher recorded for a non-2xx one), else the error. */
static void put_last_attempt(const json_t *d)
{
    const json_t *history = json_object_get(d, "history");
    const json_t *last = json_array_get(history, json_array_size(history) - 1);
    const char *error = jstr(last, "error");
    if (last == NULL) {
        putchar('-');
    } else if (json_is_integer(json_object_get(last, "http_status")) && error[0] == '\0') {
        printf("%lld", jint(last, "http_status"));
    } else {
        put_text(error[0] != '\0' ? error : "?");
    }
}

static void print_deliveries(const json_t *ans)
{
    const json_t *list = json_object_get(ans, "deliveries");
    const json_t *d;
    size_t i;
    if (json_array_size(list) == 0) {
        fprintf(stderr, "imgarc: no deliveries\n");
        return;
    }
    printf("%-8s  %-16s  %-18s  %-20s  %-9s  %8s  %-24s  %s\n", "ID", "EVENT", "WEBHOOK",
           "BILL", "STATE", "ATTEMPTS", "NEXT_ATTEMPT", "LAST");
    json_array_foreach(list, i, d)
    {
        put_cell(jstr(d, "id"), 8);
        put_cell(jstr(d, "event"), 16);
        put_cell(jstr(d, "webhook"), 18);
        put_cell(jstr(d, "image_no"), 20);
        put_cell(jstr(d, "state"), 9);
        printf("%8lld  ", jint(d, "attempts"));
        put_cell(jstr(d, "next_attempt"), 24);
        put_last_attempt(d);
        putchar('\n');
    }
    if (jbool(ans, "more")) {
        fflush(stdout);
        fprintf(stderr, "imgarc: more deliveries match: narrow with --state, or raise --limit "
                        "(at most %d)\n",
                LIST_LIMIT_MAX);
    }
}

static int check_deliveries(const char *state, const char *limit)
{
    static const char *const states[] = {"pending", "delivered", "failed", "cancelled"};
    bool known = state == NULL;
    uint64_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(states) && !known; i++) {
        known = strcmp(state, states[i]) == 0;
    }
    if (!known) {
        return usage_error("deliveries", "--state '%s': pending, delivered, failed or cancelled",
                           state);
    }
    if (limit != NULL && (!parse_count(limit, false, &n) || n < 1 || n > LIST_LIMIT_MAX)) {
        return usage_error("deliveries", "--limit must be a number from 1 to %d", LIST_LIMIT_MAX);
    }
    return 0;
}

static int cmd_deliveries(struct cli *cli, int argc, char **argv)
{
    const char *state = NULL, *limit = NULL;
    const struct flag flags[] = {{"--state", NULL, FLAG_VALUE, &state},
                                 {"--limit", NULL, FLAG_VALUE, &limit},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    struct args a;
    int rv = parse_command(cli, "deliveries", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("deliveries", &a, 0, 1, "IMAGE_NO");
    }
    if (rv == 0) {
        rv = check_deliveries(state, limit);
    }
    if (rv == 0) {
        /* A bill's deliveries need only the read permission; the tenant's need admin. */
        char *path = a.n == 1 ? cli_http_path("/api/v1/bills/", a.pos[0], "/deliveries")
                              : xstrdup("/api/v1/deliveries");
        const struct cli_param params[] = {{"state", state}, {"limit", limit}};
        const struct cli_request req = {
            .method = "GET", .path = path, .params = params, .n_params = ARRAY_SIZE(params)};
        rv = send_and_print(cli, rv, &req, NULL, print_deliveries);
        free(path);
    }
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int delivery_retry(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    uint64_t id = 0;
    int rv = parse_command(cli, "delivery retry", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("delivery retry", &a, 1, 1, "ID");
    }
    if (rv == 0 && !parse_count(a.pos[0], false, &id)) {
        rv = usage_error("delivery retry", "ID '%s' is not a delivery id (a number; see "
                                           "'imgarc deliveries')",
                         a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, "POST", "/api/v1/deliveries/", a.pos[0], "/retry", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        fputs("delivery ", stdout);
        put_text(jstr(ans, "id"));
        fputs(": ", stdout);
        put_text(jstr(ans, "state"));
        printf(", queued for another attempt (index %lld)\n", jint(ans, "index"));
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int cmd_delivery(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"retry", delivery_retry}};
    return run_action(cli, "delivery", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- bill-type, scheme, category: the tenant's definitions ---- */

/* @value of @flag must be one of the NULL-terminated @choices, spelled out in @spelled
 * for the message; NULL passes. */
static int check_choice(const char *cmd, const char *flag, const char *value,
                        const char *const *choices, const char *spelled)
{
    if (value == NULL) {
        return 0;
    }
    for (size_t i = 0; choices[i] != NULL; i++) {
        if (strcmp(value, choices[i]) == 0) {
            return 0;
        }
    }
    return usage_error(cmd, "%s '%s': use %s", flag, value, spelled);
}

/* "VALUE: WHAT", VALUE being the answer's member @key: the start of the line that
 * confirms a definition (the node answers with the body it was sent, and the index). */
static void print_defined(const json_t *ans, const char *key, const char *what)
{
    put_text(jstr(ans, key));
    printf(": %s", what);
}

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

static int cmd_bill_type(struct cli *cli, int argc, char **argv)
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

static int cmd_scheme(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"set", scheme_set}, {"list", scheme_list}};
    return run_action(cli, "scheme", actions, ARRAY_SIZE(actions), argc, argv);
}

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

static int cmd_category(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", category_create},
                                            {"list", category_list}};
    return run_action(cli, "category", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- Operations on a bill: invoice data, matching, ERP, return, edits ---- */

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

static int bill_op(struct cli *cli, const struct bill_op *op)
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
static int simple_bill_op(struct cli *cli, const char *cmd, int argc, char **argv,
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

static int file_ids_body(const char *cmd, const struct args *a, size_t min, json_t **out)
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
static char *count_files(size_t n, const char *rest)
{
    return xasprintf("%zu file%s %s", n, n == 1 ? "" : "s", rest);
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

static int cmd_invoice(struct cli *cli, int argc, char **argv)
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

/* Columns @s takes when put_cell() prints it ("-" when empty). */
static int text_columns(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    int cols = 0;
    if (*p == '\0') {
        return 1;
    }
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = utf8_next(p, &cp);
        cols += n == 0 || cp < 0x20 || (cp >= 0x7F && cp < 0xA0) ? 1 : columns(cp);
        p += n == 0 ? 1 : n;
    }
    return cols;
}

/* Prints @n_rows rows of @n_cols cells, row 0 being the header, each column as wide as
 * its widest cell; the last column, free text, is not padded. */
static void print_table(const char *const *cells, size_t n_rows, size_t n_cols)
{
    int *width = xcalloc(n_cols, sizeof *width);
    for (size_t i = 0; i < n_rows * n_cols; i++) {
        int w = text_columns(cells[i]);
        width[i % n_cols] = w > width[i % n_cols] ? w : width[i % n_cols];
    }
    for (size_t r = 0; r < n_rows; r++) {
        const char *const *row = cells + r * n_cols;
        for (size_t c = 0; c + 1 < n_cols; c++) {
            put_cell(row[c], width[c]);
        }
        put_text(row[n_cols - 1][0] != '\0' ? row[n_cols - 1] : "-");
        putchar('\n');
    }
    free(width);
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

static int cmd_match(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"run", match_run}, {"show", match_show}, {"file", match_file}, {"undo", match_undo}};
    return run_action(cli, "match", actions, ARRAY_SIZE(actions), argc, argv);
}

/* ---- erp-submit, return ---- */

static int cmd_erp_submit(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {.method = "POST",
                         .suffix = "/erp-submit",
                         .what = "queued for the ERP (see 'imgarc status' for its answer)"};
    return simple_bill_op(cli, "erp-submit", argc, argv, &op);
}

/* The API takes return reasons of 1-1024 bytes. */
#define REASON_BYTES_MAX 1024

static int cmd_return(struct cli *cli, int argc, char **argv)
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

/* ---- categorize, rotate, move, delete-files, merge, split ---- */

static int cmd_categorize(struct cli *cli, int argc, char **argv)
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

static int cmd_rotate(struct cli *cli, int argc, char **argv)
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

static int cmd_move(struct cli *cli, int argc, char **argv)
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

static int cmd_delete_files(struct cli *cli, int argc, char **argv)
{
    return file_list_cmd(cli, "delete-files", "/delete", 1, "deleted", argc, argv);
}

static int cmd_merge(struct cli *cli, int argc, char **argv)
{
    return file_list_cmd(cli, "merge", "/merge", 2, "merged into one document", argc, argv);
}

static int cmd_split(struct cli *cli, int argc, char **argv)
{
    struct bill_op op = {.method = "POST",
                         .file_id = "",
                         .suffix = "/split",
                         .what = "document split back into its files"};
    return simple_bill_op(cli, "split", argc, argv, &op);
}

/* ---- version and help ---- */

/* Prints a member whatever its type: node ids are numbers, the rest strings. */
static void put_member(const json_t *obj, const char *key)
{
    const json_t *v = json_object_get(obj, key);
    char *text = json_is_string(v) || v == NULL ? NULL : json_dumps(v, JSON_ENCODE_ANY);
    put_text(text != NULL ? text : jstr(obj, key));
    free(text);
}

static void print_server_version(const char *server, const json_t *ans)
{
    printf("server  %s: imgarcd ", server);
    put_member(ans, "version");
    fputs(" (commit ", stdout);
    put_member(ans, "git_commit");
    fputs(", node ", stdout);
    put_member(ans, "node_id");
    fputs(", built ", stdout);
    put_member(ans, "build_time");
    fputs(")\n", stdout);
}

static int cmd_version(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "GET", .path = "/api/v1/version"};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "version", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("version", &a, 0, 0, "nothing");
    }
    if (rv == 0 && !cli->json) {
        printf("client  imgarc %s (commit %s)\n", IMGARC_VERSION, IMGARC_GIT_COMMIT);
        fflush(stdout); /* before any error about the server on stderr */
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = cli_http_json(cli->http, &req, NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        json_t *both = json_pack("{s:{s:s, s:s}, s:O}", "client", "version", IMGARC_VERSION,
                                 "git_commit", IMGARC_GIT_COMMIT, "server", ans);
        print_json(both, false);
        json_decref(both);
    } else if (rv == 0) {
        print_server_version(cli_http_server(cli->http), ans);
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static void print_overview(FILE *out);

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    const struct command *c;
    (void)cli; /* help needs no connection settings */
    if (argc == 0) {
        print_overview(stdout);
        return 0;
    }
    if (argc > 1) {
        return usage_error("help", "unexpected argument '%s'", argv[1]);
    }
    c = find_command(argv[0]);
    if (c == NULL) {
        return usage_error("help", "unknown command '%s'", argv[0]);
    }
    print_help(c->name, stdout);
    return 0;
}

/* ---- Help texts and main ---- */

static const char pool_help[] =
    "Usage: imgarc pool push IMAGE_NO [flags]\n"
    "\n"
    "Pushes the business system's pool bill for IMAGE_NO: creates it (state\n"
    "pending_upload) or, when it exists, updates its pool fields. Pushing again is safe.\n"
    "\n"
    "Flags:\n"
    "  --bill-no X            the business system's bill number\n"
    "  --bill-type X          the bill type\n"
    "  --org X                the organization\n"
    "  --submitter X          who submitted the bill\n"
    "  --amount 12.50         the amount, a decimal number\n"
    "  --currency CNY         the currency\n"
    "  --invoice SPEC         a declared invoice; repeat for several. SPEC is\n"
    "                         number=..,code=..,date=..,amount=..,tax=..,total=..\n"
    "                         (any of the keys, comma-separated)\n"
    "  --idempotency-key K    a retry with the same K returns the first answer\n"
    "  --json                 print the server's JSON answer\n"
    "\n"
    "Prints \"IMAGE_NO: created, state pending_upload (index N)\" (\"updated\" when the\n"
    "bill existed).\n";

static const char upload_help[] =
    "Usage: imgarc upload IMAGE_NO FILE... [flags]\n"
    "\n"
    "Uploads each FILE to the bill IMAGE_NO, one request per file, in the order given,\n"
    "streaming it from disk. The bill is created when IMAGE_NO is new. Stops at the\n"
    "first failure and says which files were uploaded before it. A progress line shows\n"
    "on stderr for files over 4 MiB when stderr is a terminal.\n"
    "\n"
    "Flags:\n"
    "  --category C           cover, invoice, attachment or a custom category for every\n"
    "                         FILE (default: the server classifies each file)\n"
    "  --after FILE_ID        insert the first FILE right after FILE_ID, the next ones\n"
    "                         each after the previous (default: append)\n"
    "  --replace FILE_ID      the one FILE replaces FILE_ID: it takes its place and\n"
    "                         category, and the replaced file is gone\n"
    "  --idempotency-key K    K for one FILE; K.1, K.2... for several, so rerunning the\n"
    "                         same command after a failure replays the files already\n"
    "                         uploaded instead of adding them twice\n"
    "  --json                 print the server's JSON answers, one per line\n"
    "\n"
    "Prints one line per file: FILE_ID CATEGORY POSITION SIZE NAME.\n";

static const char submit_help[] =
    "Usage: imgarc submit IMAGE_NO [--json]\n"
    "\n"
    "Submits the bill: captured -> submitted -> ready in basic and sync mode; in match\n"
    "mode it is ready only once every declared invoice is matched ('imgarc match show'\n"
    "says why not). Submitting a bill already submitted changes nothing.\n"
    "\n"
    "Prints \"IMAGE_NO: state S, ready (index N)\" or \"..., not ready yet (...)\".\n";

static const char status_help[] =
    "Usage: imgarc status IMAGE_NO [--json]\n"
    "\n"
    "Whether the bill's images are ready and, if not, why: state, ready, file counts\n"
    "per category, declared and matched invoices, and the reasons it is not ready.\n";

static const char get_help[] =
    "Usage: imgarc get IMAGE_NO [--json]\n"
    "\n"
    "The bill's fields and declared invoices, then its files in bill order:\n"
    "POS FILE_ID CATEGORY FORMAT PAGES SIZE NAME.\n";

static const char download_help[] =
    "Usage: imgarc download FILE_ID [-o PATH] [--range FIRST-LAST]\n"
    "\n"
    "Streams a file's content to PATH, or to stdout (not a terminal) without -o or with\n"
    "-o -. PATH is written as PATH.part and renamed once complete, so a failed download\n"
    "leaves nothing under PATH. Prints nothing on success.\n"
    "\n"
    "Flags:\n"
    "  -o, --output PATH      where to write the content\n"
    "  --range R              only bytes R: FIRST-LAST (LAST included), FIRST- or\n"
    "                         -SUFFIX (the last SUFFIX bytes)\n";

static const char log_help[] =
    "Usage: imgarc log IMAGE_NO [--json]\n"
    "\n"
    "The bill's audit log, oldest first, one line per entry:\n"
    "INDEX TIME ACTION OPERATOR REQUEST_ID DETAIL (DETAIL as compact JSON).\n";

static const char bills_help[] =
    "Usage: imgarc bills [--state S] [--bill-type T] [--org O] [--limit N] [--all]\n"
    "                    [--cursor C] [--json]\n"
    "\n"
    "Lists bills in image-number order, a page at a time:\n"
    "IMAGE_NO BILL_NO BILL_TYPE ORG STATE FILES UPDATED.\n"
    "\n"
    "Flags:\n"
    "  --state S, --bill-type T, --org O   only bills with these values\n"
    "  --limit N              bills per page, 1-1000 (server default 100)\n"
    "  --all                  follow next_cursor to the last page\n"
    "  --cursor C             start after image number C (a page's next_cursor)\n"
    "  --json                 print the server's page; with --all, one JSON object\n"
    "                         per bill and line\n";

static const char license_help[] =
    "Usage: imgarc license keygen --out DIR\n"
    "       imgarc license sign --key FILE --tenant ID --expires TIME --quota-bytes N\n"
    "                           --modes basic,sync,match [--max-files N] [--issued TIME]\n"
    "                           [--id LICENSE_ID]\n"
    "       imgarc license verify --pub FILE [DOCUMENT_FILE|-] [--json]\n"
    "       imgarc license install DOCUMENT_FILE|- [--json]\n"
    "       imgarc license show [--json]\n"
    "\n"
    "Signed licenses: a tenant's expiry, storage quota and modes. keygen, sign and\n"
    "verify work offline; install and show talk to the node.\n"
    "\n"
    "keygen   writes DIR/license.key (the secret key, mode 0600) and DIR/license.pub\n"
    "         (mode 0644; nodes trust it with --license-pubkey). Creates DIR (mode\n"
    "         0700) when missing; never overwrites a key file (exit 4).\n"
    "sign     prints the license document, signed with the secret key FILE:\n"
    "  --tenant ID            the tenant it is for\n"
    "  --expires TIME         RFC 3339, e.g. 2027-12-31T00:00:00Z\n"
    "  --quota-bytes N        storage quota in bytes; a K, M, G or T suffix\n"
    "                         multiplies by a power of 1024 (10G)\n"
    "  --modes LIST           comma-separated: basic, sync, match\n"
    "  --max-files N          at most N files (default 0: no limit)\n"
    "  --issued TIME          default now; a license replaces only one issued earlier\n"
    "  --id LICENSE_ID        default lic-<16 random hex digits>\n"
    "verify   checks a document (a file, or stdin for - or none) against the public\n"
    "         key FILE and prints its fields; exit 1 when it is not valid.\n"
    "install  sends the document to the node, which verifies it and puts it in force\n"
    "         on every node. With --tenant, it must be the license's tenant.\n"
    "show     the license in force for --tenant (default: default) and every license\n"
    "         the tenant has had.\n";

static const char bill_type_help[] =
    "Usage: imgarc bill-type create CODE --mode basic|sync|match [--name NAME] [--json]\n"
    "       imgarc bill-type list [--json]\n"
    "\n"
    "The tenant's bill types; a pool bill names one with --bill-type.\n"
    "\n"
    "create   defines CODE (1-64 characters of A-Z a-z 0-9 . _ -) with its image mode:\n"
    "         basic (ready once submitted), sync (ready once submitted; amends\n"
    "         allowed after) or match (ready once every declared invoice is matched),\n"
    "         named NAME (default: CODE). Creating CODE again updates it. Needs admin.\n"
    "         A bill type takes effect with a scheme: without one it behaves as basic.\n"
    "list     every bill type: CODE MODE CREATED NAME.\n";

static const char scheme_help[] =
    "Usage: imgarc scheme set BILL_TYPE [--org ORG] [--match normal|standard]\n"
    "                         [--submit auto|manual] [--json]\n"
    "       imgarc scheme list [--json]\n"
    "\n"
    "How bills of a type are matched and sent to the ERP.\n"
    "\n"
    "set      sets the scheme of BILL_TYPE, replacing the one it had (flags not given\n"
    "         take the defaults again). Needs admin.\n"
    "  --org ORG              only for organisation ORG and those under it (default:\n"
    "                         every organisation); the most specific scheme wins\n"
    "  --match L              normal (default): invoice number and total; standard:\n"
    "                         also code, date, amount before tax and tax\n"
    "  --submit S             manual (default): 'imgarc erp-submit'; auto: a bill goes\n"
    "                         to the ERP as soon as it is ready\n"
    "list     every scheme: BILL_TYPE ORG (- for every one) MATCH SUBMIT UPDATED.\n";

static const char category_help[] =
    "Usage: imgarc category create CODE [--name NAME] [--json]\n"
    "       imgarc category list [--json]\n"
    "\n"
    "Custom categories: sub-categories of attachments that uploads and 'categorize'\n"
    "may use besides cover, invoice and attachment.\n"
    "\n"
    "create   defines CODE (1-31 characters of A-Z a-z 0-9 . _ -, not a built-in\n"
    "         category) named NAME (default: CODE); again, it renames. Needs admin.\n"
    "list     the built-in categories, then the custom ones: CODE KIND CREATED NAME.\n";

static const char invoice_help[] =
    "Usage: imgarc invoice set IMAGE_NO FILE_ID --number N [--code C] [--date D]\n"
    "                          [--amount A] [--tax T] [--total T] [--json]\n"
    "\n"
    "Sets the data of the invoice file FILE_ID as recognised or corrected by a person;\n"
    "matching compares it with the invoices the pool bill declares. The data given\n"
    "replaces the file's data as a whole: fields not given are cleared. Amounts are\n"
    "decimal numbers with at most two decimals (12.50). Only for unmatched files of\n"
    "category invoice while the bill is captured, returned or submitted; correct, then\n"
    "'imgarc match run'.\n";

static const char match_help[] =
    "Usage: imgarc match run IMAGE_NO [--json]\n"
    "       imgarc match show IMAGE_NO [--json]\n"
    "       imgarc match file IMAGE_NO FILE_ID INVOICE_NUMBER [--json]\n"
    "       imgarc match undo IMAGE_NO FILE_ID [--json]\n"
    "\n"
    "Matching of a match-mode bill's invoice files to the invoices its pool bill\n"
    "declares; once every declared invoice is matched the bill is ready.\n"
    "\n"
    "run      runs automatic matching again on a submitted bill (after 'imgarc\n"
    "         invoice set' corrected the data).\n"
    "show     the declared invoices and the file matching each, then every invoice\n"
    "         file with its data, its match and, when it has none, the problem:\n"
    "         DECLARED CODE DATE AMOUNT TAX TOTAL MATCHED_BY and\n"
    "         POS INVOICE_FILE NUMBER CODE DATE AMOUNT TAX TOTAL MATCH PROBLEM.\n"
    "file     matches FILE_ID to the declared invoice INVOICE_NUMBER by a person's\n"
    "         decision, without comparing the data.\n"
    "undo     unmatches FILE_ID; a ready bill goes back to submitted.\n";

static const char erp_submit_help[] =
    "Usage: imgarc erp-submit IMAGE_NO [--json]\n"
    "\n"
    "Sends a ready bill (or one whose ERP submission failed) to the ERP: the node\n"
    "queues one delivery to the tenant's webhook for the event erp_submit. Its\n"
    "answer makes the bill erp_submitted or erp_failed; 'imgarc status' shows which,\n"
    "and why it failed.\n";

static const char return_help[] =
    "Usage: imgarc return IMAGE_NO --reason TEXT [--json]\n"
    "\n"
    "Sends a submitted, ready or erp_failed bill back for rescanning: it becomes\n"
    "returned, 'imgarc status' shows the reason, and the next upload makes it\n"
    "captured again. TEXT (1-1024 bytes) says what to rescan and why. Needs the\n"
    "review permission.\n";

static const char categorize_help[] =
    "Usage: imgarc categorize IMAGE_NO --category C FILE_ID... [--json]\n"
    "\n"
    "Sets the category of the files: cover, attachment or a custom category for\n"
    "any number of files; invoice for one file at a time. Before submit (and after\n"
    "a return).\n";

static const char rotate_help[] =
    "Usage: imgarc rotate IMAGE_NO --degrees 90|-90|180 FILE_ID... [--json]\n"
    "\n"
    "Rotates the files right (90), left (-90) or upside down (180); each file keeps\n"
    "its rotation (0, 90, 180 or 270, 'imgarc get --json'). Before submit.\n";

static const char move_help[] =
    "Usage: imgarc move IMAGE_NO FILE_ID (--after FILE_ID | --first) [--category C]\n"
    "                   [--json]\n"
    "\n"
    "Moves a file right after another one, or to the front. A file keeps its\n"
    "category next to a file of its own category; landing in another category's\n"
    "section makes it that category, which --category confirms (without it the\n"
    "node refuses, naming the category). Before submit.\n";

static const char delete_files_help[] =
    "Usage: imgarc delete-files IMAGE_NO FILE_ID... [--json]\n"
    "\n"
    "Deletes the files from the bill, content and usage included. Before submit;\n"
    "after it, a caller with the amend permission may delete files of a ready sync-\n"
    "mode bill, but not its cover or matched invoices. Needs the delete permission.\n";

static const char merge_help[] =
    "Usage: imgarc merge IMAGE_NO FILE_ID FILE_ID... [--json]\n"
    "\n"
    "Merges 2-100 adjacent files, given in bill order, into one document: the first\n"
    "file, whose category the others take; they become its sub-pages and take no\n"
    "part in matching. 'imgarc split' gives them back.\n";

static const char split_help[] =
    "Usage: imgarc split IMAGE_NO FILE_ID [--json]\n"
    "\n"
    "Splits the merged document FILE_ID back into its files, in place, each with the\n"
    "category it had in the document.\n";

static const char tenant_help[] =
    "Usage: imgarc tenant create ID [--name NAME] [--json]\n"
    "       imgarc tenant list [--json]\n"
    "\n"
    "create   creates the tenant ID (1-64 characters of A-Z a-z 0-9 . _ -), named NAME\n"
    "         (default: ID). It has no license until one is installed.\n"
    "list     every tenant: ID LICENSE EXPIRES QUOTA CREATED NAME.\n";

static const char usage_help[] =
    "Usage: imgarc usage [--json]\n"
    "\n"
    "What the tenant of --tenant (default: default) stores against its license: bytes,\n"
    "quota and the share used, files and the file limit, bills, physical bytes, the\n"
    "license, warnings, then one line per organization: ORG SIZE BYTES FILES BILLS.\n";

static const char login_help[] =
    "Usage: imgarc login USERNAME [--password-file FILE] [--json]\n"
    "\n"
    "Logs a user in (POST /api/v1/auth/login) in the tenant of --tenant (default:\n"
    "default) and prints \"export IMGARC_TOKEN=...\" on stdout, so that\n"
    "  eval \"$(imgarc login ann)\"\n"
    "sets the token for the next commands; who and when the token expires go to stderr.\n"
    "The password is the first line of FILE or of stdin (not echoed on a terminal);\n"
    "never give it on the command line. Five wrong passwords in a row lock the account.\n"
    "\n"
    "Flags:\n"
    "  --password-file FILE   read the password from FILE's first line\n"
    "  --json                 print the server's answer (token included) instead\n";

static const char user_help[] =
    "Usage: imgarc user create USERNAME --role ROLE [--role ROLE]... [--name NAME]\n"
    "                          [--password-file FILE] [--json]\n"
    "       imgarc user list [--json]\n"
    "       imgarc user unlock USERNAME [--json]\n"
    "       imgarc user grants USERNAME [--org ID[:children]]... [--all] [--json]\n"
    "\n"
    "Users of the tenant of --tenant (default: default); needs the admin permission.\n"
    "\n"
    "create   creates USERNAME (1-64 characters of A-Z a-z 0-9 . _ -) with its roles\n"
    "         (scanner, reviewer, tenant_admin or a custom role; repeat --role) and\n"
    "         display NAME (default: USERNAME). The password (8-1024 bytes) is the\n"
    "         first line of --password-file FILE or of stdin (not echoed on a terminal).\n"
    "list     every user: USERNAME ROLES FAILURES LOCKED_UNTIL CREATED NAME.\n"
    "unlock   unlocks an account locked by wrong passwords.\n"
    "grants   replaces the user's data grants: the organisations whose bills a user\n"
    "         without the admin permission sees.\n"
    "  --org ID               grant the organisation ID; ID:children also grants\n"
    "                         every organisation under it. Repeat for several.\n"
    "  --all                  grant every bill (\"*\"), bills without an organisation too\n"
    "         Without --org and --all the user's grants are cleared: such a user sees\n"
    "         no bill.\n";

static const char role_help[] =
    "Usage: imgarc role create NAME --permission P [--permission P]... [--json]\n"
    "       imgarc role list [--json]\n"
    "\n"
    "create   a custom role of the tenant with the permissions given, among read,\n"
    "         capture, edit, delete, amend, submit, match, review, admin.\n"
    "list     the built-in roles (scanner, reviewer, tenant_admin) and the custom ones:\n"
    "         NAME KIND PERMISSIONS.\n";

static const char org_help[] =
    "Usage: imgarc org create ID --name NAME [--parent ID] [--json]\n"
    "       imgarc org list [--json]\n"
    "       imgarc org rename ID NAME [--json]\n"
    "       imgarc org move ID (PARENT | --top) [--json]\n"
    "\n"
    "The tenant's organisations, a tree; bills belong to one by their pool field org.\n"
    "\n"
    "create   organisation ID (1-64 characters of A-Z a-z 0-9 . _ -) named NAME\n"
    "         (unique among its siblings), under --parent ID or at the top.\n"
    "list     the tree, sorted by name, children indented under their parent:\n"
    "         NAME  (ID).\n"
    "rename   gives ID the name NAME.\n"
    "move     puts ID under PARENT, or at the top with --top; not under itself or one\n"
    "         of its descendants.\n";

static const char client_help[] =
    "Usage: imgarc client create NAME [--json]\n"
    "\n"
    "Creates credentials for a business system (an ERP) in the tenant of --tenant\n"
    "(default: default); needs the operator token. Prints client_id and client_secret;\n"
    "the secret is shown only this once. The system trades them for access tokens with\n"
    "POST /api/v1/auth/token.\n";

static const char cluster_help[] =
    "Usage: imgarc cluster [show] [--json]\n"
    "       imgarc cluster join HOST:PORT [--json]\n"
    "       imgarc cluster remove ID [--json]\n"
    "       imgarc cluster drain ID [--json]\n"
    "       imgarc cluster undrain ID [--json]\n"
    "       imgarc cluster blob HASH [--json]\n"
    "\n"
    "Operator commands (the operator token) for the nodes of the cluster of --server.\n"
    "show     every member: ID HTTP RAFT ZONE ROLE (voter, standby, spare) LEADER (*)\n"
    "         HEALTH (ok, down, draining) APPLIED (raft index) STORAGE (active,\n"
    "         draining, out) BLOBS (blob copies stored) BYTES (their bytes) FREE (bytes\n"
    "         free on its data disk), then the under-replicated blob count.\n"
    "join     adds the node whose HTTP API is at HOST:PORT. That node must be running,\n"
    "         started with --join and the cluster's secret, and not a member yet (it asks\n"
    "         to join by itself, with back-off; this adds it at once, e.g. when its\n"
    "         --join address is down). It becomes a voter while the cluster has fewer\n"
    "         voters than --voters, else a standby.\n"
    "remove   removes member ID: it leaves the raft configuration and refuses requests;\n"
    "         it can come back only with an empty data dir (a new id). A voter removed\n"
    "         is replaced by promoting a standby, when there is one.\n"
    "drain    sets member ID's storage to draining: its blob copies are copied to the\n"
    "         nodes placement picks without it, and it keeps serving them until then.\n"
    "         It stays a raft member (drain before remove to keep every copy).\n"
    "undrain  sets member ID's storage back to active: it takes new copies again.\n"
    "blob     where the copies of blob HASH (64 hex digits, a file's \"blob\") are and\n"
    "         belong: size, refs (files that use it), replicas wanted, then one line per\n"
    "         node: NODE COPY (holds one) LIVE (the copy counts: its node is not out)\n"
    "         PLACEMENT (rank where placement wants the copies, 1 = best; - = not\n"
    "         wanted there) and a NOTE for a missing, extra or not-live copy.\n"
    "\n"
    "ID is a node id as 'imgarc cluster' lists it. An unknown or removed node: exit 1\n"
    "with 404 node_not_found; an unknown blob: exit 1 with 404 not_found.\n";

static const char audit_help[] =
    "Usage: imgarc audit [--after N] [--limit N] [--format json|jsonl|csv] [--all] [--json]\n"
    "\n"
    "The tenant's admin audit log (tenants, licenses, clients, users, roles,\n"
    "organisations, grants, webhooks, delivery retries), oldest first; needs the\n"
    "admin permission.\n"
    "\n"
    "Flags:\n"
    "  --after N              only entries after raft index N (a page's next index)\n"
    "  --limit N              entries per page, 1-10000 (server default 1000)\n"
    "  --format F             json (default): a table INDEX TIME ACTION OPERATOR DETAIL;\n"
    "                         jsonl or csv: the server's bytes as they are, for export\n"
    "  --all                  follow the pages to the end (csv: one header line)\n"
    "  --json                 with --format json: the server's page; with --all, one\n"
    "                         JSON object per entry and line\n";

static const char webhook_help[] =
    "Usage: imgarc webhook create URL --events LIST [--secret S] [--json]\n"
    "       imgarc webhook list [--json]\n"
    "       imgarc webhook show ID [--json]\n"
    "       imgarc webhook delete ID [--json]\n"
    "\n"
    "The tenant's webhooks: URLs the node POSTs bill and license events to, signed\n"
    "with the webhook's secret (X-Imgarc-Signature); needs the admin permission.\n"
    "\n"
    "create   registers URL (http:// or https://) for the events of LIST, comma-\n"
    "         separated (--events may be repeated): pending_upload, captured,\n"
    "         submitted, ready, erp_submitted, erp_failed, returned, license_expiring,\n"
    "         license_expired, or * for all. Prints the id and the secret, which is\n"
    "         shown only this once.\n"
    "  --secret S             the signing secret, 16-256 characters (default: the node\n"
    "                         makes one); visible to other users in the process list\n"
    "list     every webhook: ID EVENTS CREATED URL.\n"
    "show     one webhook's id, url, events and creation time.\n"
    "delete   deletes the webhook; its pending deliveries are cancelled.\n";

static const char deliveries_help[] =
    "Usage: imgarc deliveries [IMAGE_NO] [--state S] [--limit N] [--json]\n"
    "\n"
    "Webhook deliveries, by bill and then oldest first (tenant events, such as\n"
    "license_expiring, come first), one line each: ID EVENT WEBHOOK BILL STATE\n"
    "ATTEMPTS NEXT_ATTEMPT LAST (the last attempt's HTTP status, or its error).\n"
    "With IMAGE_NO only that bill's (needs the read permission), else the tenant's\n"
    "(needs the admin permission).\n"
    "\n"
    "Flags:\n"
    "  --state S              only pending, delivered, failed or cancelled ones\n"
    "  --limit N              at most N, 1-1000 (server default 100)\n"
    "  --json                 print the server's answer, every attempt and payload\n";

static const char delivery_help[] =
    "Usage: imgarc delivery retry ID [--json]\n"
    "\n"
    "Queues a delivery (failed, cancelled or delivered) for a new round of attempts,\n"
    "now; a pending one is left as it is. ID is a number from 'imgarc deliveries'.\n"
    "Needs the admin permission.\n";

static const char version_help[] =
    "Usage: imgarc version [--json]\n"
    "\n"
    "The client's version and commit, then the server's (GET /api/v1/version, which\n"
    "needs no token). 'imgarc --version' prints the client's alone.\n";

static const char help_help[] =
    "Usage: imgarc help [COMMAND]\n"
    "\n"
    "The list of commands, or a command's flags and output.\n";

static const struct command commands[] = {
    {"pool", cmd_pool, "pool push IMAGE_NO [flags]", "create or update the ERP's pool bill",
     pool_help},
    {"upload", cmd_upload, "upload IMAGE_NO FILE...", "upload files to a bill, in order",
     upload_help},
    {"submit", cmd_submit, "submit IMAGE_NO", "submit a captured bill", submit_help},
    {"status", cmd_status, "status IMAGE_NO", "is the bill ready, and if not, why",
     status_help},
    {"get", cmd_get, "get IMAGE_NO", "the bill and its ordered files", get_help},
    {"download", cmd_download, "download FILE_ID [-o PATH]", "a file's content",
     download_help},
    {"log", cmd_log, "log IMAGE_NO", "the bill's audit log", log_help},
    {"bills", cmd_bills, "bills [filters] [--all]", "list bills", bills_help},
    {"categorize", cmd_categorize, "categorize IMAGE_NO FILE_ID...", "set the category of files",
     categorize_help},
    {"rotate", cmd_rotate, "rotate IMAGE_NO FILE_ID...", "rotate files by 90, -90 or 180 degrees",
     rotate_help},
    {"move", cmd_move, "move IMAGE_NO FILE_ID", "move a file after another, or first", move_help},
    {"delete-files", cmd_delete_files, "delete-files IMAGE_NO FILE_ID...",
     "delete files from a bill", delete_files_help},
    {"merge", cmd_merge, "merge IMAGE_NO FILE_ID...", "merge adjacent files into a document",
     merge_help},
    {"split", cmd_split, "split IMAGE_NO FILE_ID", "split a merged document again", split_help},
    {"invoice", cmd_invoice, "invoice set IMAGE_NO FILE_ID", "set an invoice file's data",
     invoice_help},
    {"match", cmd_match, "match ACTION IMAGE_NO", "run, show, set or undo invoice matching",
     match_help},
    {"erp-submit", cmd_erp_submit, "erp-submit IMAGE_NO", "send a ready bill to the ERP",
     erp_submit_help},
    {"return", cmd_return, "return IMAGE_NO --reason R", "send a bill back for rescanning",
     return_help},
    {"bill-type", cmd_bill_type, "bill-type create CODE | list", "bill types and their mode",
     bill_type_help},
    {"scheme", cmd_scheme, "scheme set BILL_TYPE | list", "matching and ERP submission per type",
     scheme_help},
    {"category", cmd_category, "category create CODE | list", "custom attachment categories",
     category_help},
    {"tenant", cmd_tenant, "tenant create ID | list", "create or list tenants", tenant_help},
    {"license", cmd_license, "license ACTION [flags]",
     "keygen, sign, verify, install, show licenses", license_help},
    {"usage", cmd_usage, "usage", "the tenant's storage against its quota", usage_help},
    {"login", cmd_login, "login USERNAME", "log a user in; prints export IMGARC_TOKEN=...",
     login_help},
    {"user", cmd_user, "user ACTION [flags]", "create, list, unlock users; set grants",
     user_help},
    {"role", cmd_role, "role create NAME | list", "create or list roles", role_help},
    {"org", cmd_org, "org ACTION [flags]", "create, list, rename, move organisations",
     org_help},
    {"client", cmd_client, "client create NAME", "credentials for a business system",
     client_help},
    {"audit", cmd_audit, "audit [--format F] [--all]", "the tenant's admin audit log",
     audit_help},
    {"webhook", cmd_webhook, "webhook ACTION [flags]", "create, list, show, delete webhooks",
     webhook_help},
    {"deliveries", cmd_deliveries, "deliveries [IMAGE_NO]", "webhook deliveries and their attempts",
     deliveries_help},
    {"delivery", cmd_delivery, "delivery retry ID", "send a webhook delivery again",
     delivery_help},
    {"cluster", cmd_cluster, "cluster [ACTION [ID|H:P|HASH]]",
     "the cluster's nodes: add, remove, drain; blob copies", cluster_help},
    {"version", cmd_version, "version", "client and server versions", version_help},
    {"help", cmd_help, "help [COMMAND]", "this text, or a command's", help_help},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static void print_overview(FILE *out)
{
    fputs("Usage: imgarc [--server URL] [--token T] [--tenant ID] COMMAND [ARGS]\n"
          "\n"
          "The command-line client of an imgarc archive node.\n"
          "\n"
          "Commands:\n",
          out);
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        fprintf(out, "  %-33s %s\n", commands[i].synopsis, commands[i].summary);
    }
    fputs("\n"
          "Global flags (before the command):\n"
          "  --server URL   the node (default $IMGARC_SERVER, else " CLI_DEFAULT_SERVER ")\n"
          "  --token T      bearer token (default $IMGARC_TOKEN; prefer the variable, a\n"
          "                 flag is visible to other users in the process list)\n"
          "  --tenant ID    act for this tenant (operator tokens; default: \"default\")\n"
          "\n"
          "Exit status:\n"
          "  0  success\n"
          "  1  the server answered an error (4xx/5xx); its message is printed; or\n"
          "     license verify found the document not valid\n"
          "  2  usage error: bad flags or arguments\n"
          "  3  cannot reach the server, or the transfer failed\n"
          "  4  local file error: cannot read an upload, a key or a license document,\n"
          "     write a download or a key\n"
          "\n"
          "'imgarc COMMAND --help' shows a command's flags; docs/cli.md is the reference.\n",
          out);
}

/* Reads the global flags before the command; *@first is the command's index. */
static int parse_globals(struct cli *cli, int argc, char **argv, int *first, bool *version)
{
    const struct flag flags[] = {{"--version", NULL, FLAG_BOOL, version}};
    int i;
    for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        int rv;
        if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        }
        rv = take_flag(cli, NULL, flags, ARRAY_SIZE(flags), argc, argv, &i);
        if (rv != 0) {
            return rv;
        }
    }
    *first = i;
    return 0;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    const struct command *cmd;
    bool version = false;
    int first;
    int rv = parse_globals(&cli, argc, argv, &first, &version);

    if (rv != 0) {
        return -rv;
    }
    if (version) {
        printf("imgarc %s (commit %s)\n", IMGARC_VERSION, IMGARC_GIT_COMMIT);
        return 0;
    }
    if (cli.help || first >= argc) {
        print_overview(cli.help ? stdout : stderr);
        return cli.help ? 0 : -CLI_EUSAGE;
    }
    cmd = find_command(argv[first]);
    if (cmd == NULL) {
        return -usage_error(NULL, "unknown command '%s'", argv[first]);
    }
    rv = cmd->run(&cli, argc - first - 1, argv + first + 1);
    cli_http_free(cli.http);
    /* Output redirected to a full disk must not pass for success. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "imgarc: stdout: %s\n", strerror(errno));
        rv = rv != 0 ? rv : CLI_ELOCAL;
    }
    return -rv;
}
