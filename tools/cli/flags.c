/* Flags and arguments: one parser for every command (flags anywhere until "--", the
 * global flags accepted wherever a command's are, --help), usage errors, actions of
 * commands that have several, and the checks of argument values that several commands
 * share (ids, counts, amounts, categories, choices). */
#include "tools/cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "archive/license.h"

/* ---- Usage and flags ---- */

int usage_error(const char *cmd, const char *fmt, ...)
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
int take_flag(struct cli *cli, const char *cmd, const struct flag *flags, size_t n,
              int argc, char **argv, int *i)
{
    const struct flag globals[] = {
        {"--server", NULL, FLAG_VALUE, &cli->conn.server},
        {"--token", NULL, FLAG_VALUE, &cli->conn.token},
        {"--tenant", NULL, FLAG_VALUE, &cli->conn.tenant},
        {"--cacert", NULL, FLAG_VALUE, &cli->conn.cacert},
        {"--cert", NULL, FLAG_VALUE, &cli->conn.cert},
        {"--key", NULL, FLAG_VALUE, &cli->conn.key},
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

/* Parses a command's arguments: flags anywhere until "--", positionals in order into
 * @a (whose array the caller frees). Returns HELP_SHOWN after printing the help. */
int parse_command(struct cli *cli, const char *cmd, int argc, char **argv,
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
int want_args(const char *cmd, const struct args *a, size_t min, size_t max,
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
int check_key(const char *cmd, const char *key, size_t max)
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

/* Runs the action that argv[0] names ("pool push", "license sign"...). */
int run_action(struct cli *cli, const char *cmd, const struct action *actions, size_t n,
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

/* ---- Checks of values that several commands share ---- */

/* Amounts are decimal strings ("12.50", "-3"): the API keeps them exact as text. */
bool valid_amount(const char *s)
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
int put_string(const char *cmd, json_t *obj, const char *key, const char *value,
               const char *what)
{
    json_t *s = json_string(value);
    if (s == NULL) {
        return usage_error(cmd, "%s is not valid UTF-8", what);
    }
    json_object_set_new(obj, key, s);
    return 0;
}

/* Custom categories are codes of 1-31 characters of the id alphabet. */
#define CATEGORY_CHARS_MAX 31

bool builtin_category(const char *s)
{
    return strcmp(s, "cover") == 0 || strcmp(s, "invoice") == 0 || strcmp(s, "attachment") == 0;
}

/* A category as the node takes it: a built-in one, or the code of a custom one, which
 * the node checks exists. */
int check_category(const char *cmd, const char *what, const char *s)
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

/* Tenant and license ids as the node takes them: 1-64 characters of the id alphabet,
 * but not "." or "..". */
int check_id(const char *cmd, const char *what, const char *id)
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
bool parse_count(const char *s, bool suffixes, uint64_t *out)
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

/* @value of @flag must be one of the NULL-terminated @choices, spelled out in @spelled
 * for the message; NULL passes. */
int check_choice(const char *cmd, const char *flag, const char *value,
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
