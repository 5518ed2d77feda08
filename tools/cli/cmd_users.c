/* login, user (create, list, show, update, disable, enable, passwd, delete, unlock,
 * grants) and role (create, list, update, delete). login, user create and user passwd
 * read passwords from a file or stdin, never from argv, and wipe them and the request
 * text that carried them once sent. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"

/* ---- Passwords: login and user create ---- */

/* The API takes passwords of 8-1024 bytes; one line more tells a longer one apart. */
#define PASSWORD_BYTES_MAX 1024

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

int cmd_login(struct cli *cli, int argc, char **argv)
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
        fputs(jbool(u, "disabled") ? "  (disabled)" : "", stdout);
        putchar('\n');
        free(list);
    }
}

static int user_list(struct cli *cli, int argc, char **argv)
{
    return show_cmd(cli, "user list", "/api/v1/users", argc, argv, print_users);
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

/* "USERNAME: name N, roles R, enabled|disabled (index I)". */
static void print_user_changed(const json_t *ans)
{
    put_text(jstr(ans, "username"));
    fputs(": name ", stdout);
    put_text(jstr(ans, "name"));
    fputs(", roles ", stdout);
    put_list(json_object_get(ans, "roles"));
    printf(", %s (index %lld)\n", jbool(ans, "disabled") ? "disabled" : "enabled",
           jint(ans, "index"));
}

/* user ACTION USERNAME: one request to /api/v1/users/USERNAME + @suffix with @body
 * (may be NULL; stolen), answered by @print. */
static int user_simple(struct cli *cli, const char *cmd, int argc, char **argv,
                       const char *method, const char *suffix, json_t *body,
                       void (*print)(const json_t *ans))
{
    const struct id_command c = {method, "/api/v1/users/", suffix, "USERNAME", check_id, print};
    return id_command(cli, &c, cmd, argc, argv, body);
}

static void print_user(const json_t *u)
{
    const json_t *g;
    size_t i;
    put_field("username", jstr(u, "username"));
    put_field("name", jstr(u, "name"));
    printf("%-10s ", "roles");
    put_list(json_object_get(u, "roles"));
    putchar('\n');
    put_field("disabled", jbool(u, "disabled") ? "yes" : "no");
    printf("%-10s %lld\n", "failures", jint(u, "failures"));
    put_field("locked", jstr(u, "locked_until")[0] != '\0' ? jstr(u, "locked_until") : "no");
    printf("%-10s ", "grants");
    json_array_foreach(json_object_get(u, "grants"), i, g)
    {
        fputs(i > 0 ? ", " : "", stdout);
        put_text(jstr(g, "org"));
        fputs(jbool(g, "include_children") ? ":children" : "", stdout);
    }
    putchar('\n');
    put_field("created", jstr(u, "created"));
}

static int user_show(struct cli *cli, int argc, char **argv)
{
    return user_simple(cli, "user show", argc, argv, "GET", "", NULL, print_user);
}

static int user_update(struct cli *cli, int argc, char **argv)
{
    const char *name = NULL;
    struct str_list roles = {0};
    const struct flag flags[] = {{"--role", NULL, FLAG_LIST, &roles},
                                 {"--name", NULL, FLAG_VALUE, &name},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = json_object(), *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "user update", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("user update", &a, 1, 1, "USERNAME");
    }
    if (rv == 0) {
        rv = check_id("user update", "USERNAME", a.pos[0]);
    }
    if (rv == 0 && name == NULL && roles.n == 0) {
        rv = usage_error("user update", "nothing to change: give --name NAME and/or --role ROLE");
    }
    if (rv == 0 && name != NULL) {
        rv = put_string("user update", body, "name", name, "--name");
    }
    if (rv == 0 && roles.n > 0) {
        json_t *list = json_array();
        json_object_set_new(body, "roles", list);
        for (size_t i = 0; i < roles.n && rv == 0; i++) {
            rv = check_id("user update", "--role", roles.items[i]);
            json_array_append_new(list, json_string(roles.items[i]));
        }
    }
    if (rv == 0) {
        rv = id_request(cli, "PATCH", "/api/v1/users/", a.pos[0], "", body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_user_changed(ans);
        if (roles.n > 0) {
            fprintf(stderr, "imgarc: new roles end the user's sessions: it logs in again\n");
        }
    }
    json_decref(body);
    json_decref(ans);
    free(roles.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int user_disable(struct cli *cli, int argc, char **argv)
{
    return user_simple(cli, "user disable", argc, argv, "PATCH", "",
                       json_pack("{s:b}", "disabled", 1), print_user_changed);
}

static int user_enable(struct cli *cli, int argc, char **argv)
{
    return user_simple(cli, "user enable", argc, argv, "PATCH", "",
                       json_pack("{s:b}", "disabled", 0), print_user_changed);
}

static void print_user_deleted(const json_t *ans)
{
    put_text(jstr(ans, "username"));
    printf(": deleted, its tokens stop; the audit log keeps its history (index %lld)\n",
           jint(ans, "index"));
}

static int user_delete(struct cli *cli, int argc, char **argv)
{
    return user_simple(cli, "user delete", argc, argv, "DELETE", "", NULL, print_user_deleted);
}

/* The JSON text {"old": @old, "new": @new} in one allocation (secret_body()'s way). */
static char *own_password_body(const char *old, const char *new, size_t *len)
{
    json_t *empty = json_object();
    size_t a_len, b_len;
    char *a = secret_body(empty, old, &a_len);
    char *b = secret_body(empty, new, &b_len);
    /* a and b are {"password":"..."}: keep their quoted values. */
    const size_t key = strlen("{\"password\":");
    char *text = xmalloc(a_len + b_len + 16);
    int n = snprintf(text, a_len + b_len + 16, "{\"old\":%.*s,\"new\":%.*s}",
                     (int)(a_len - key - 1), a + key, (int)(b_len - key - 1), b + key);
    sodium_memzero(a, a_len);
    sodium_memzero(b, b_len);
    free(a);
    free(b);
    json_decref(empty);
    *len = (size_t)n;
    return text;
}

/* user passwd --own: the old password, then the new one (two lines of FILE or stdin). */
static int own_passwd(struct cli *cli, const char *file, json_t **ans)
{
    char old[PASSWORD_BYTES_MAX + 2] = "", new[PASSWORD_BYTES_MAX + 2] = "";
    const struct cli_request req = {.method = "POST", .path = "/api/v1/auth/password"};
    FILE *f = NULL;
    size_t len = 0;
    char *text;
    int rv = 0;
    if (file != NULL && (f = fopen(file, "rb")) == NULL) {
        fprintf(stderr, "imgarc: %s: %s\n", file, strerror(errno));
        return CLI_ELOCAL;
    }
    if (f != NULL) {
        rv = read_line(f, file, old);
        if (rv == 0) {
            rv = read_line(f, file, new);
        }
        fclose(f);
    } else if (isatty(STDIN_FILENO)) {
        rv = read_tty_password("Current password: ", old);
        if (rv == 0) {
            rv = read_tty_password("New password: ", new);
        }
    } else {
        rv = read_line(stdin, "stdin", old);
        if (rv == 0) {
            rv = read_line(stdin, "stdin", new);
        }
    }
    if (rv == 0 && (old[0] == '\0' || new[0] == '\0')) {
        rv = usage_error("user passwd", "--own reads the current password, then the new one, "
                                        "one per line (from %s)", file != NULL ? file : "stdin");
    }
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        text = own_password_body(old, new, &len);
        rv = cli_http_send(cli->http, &req, text, len, NULL, ans);
        sodium_memzero(text, len);
        free(text);
    }
    sodium_memzero(old, sizeof old);
    sodium_memzero(new, sizeof new);
    return rv;
}

static int user_passwd(struct cli *cli, int argc, char **argv)
{
    const char *file = NULL;
    bool own = false;
    const struct flag flags[] = {{"--password-file", NULL, FLAG_VALUE, &file},
                                 {"--own", NULL, FLAG_BOOL, &own},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    char password[PASSWORD_BYTES_MAX + 2] = "";
    json_t *body = json_object(), *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "user passwd", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("user passwd", &a, own ? 0 : 1, own ? 0 : 1,
                       own ? "(no USERNAME with --own)" : "USERNAME");
    }
    if (rv == 0 && !own) {
        rv = check_id("user passwd", "USERNAME", a.pos[0]);
    }
    if (rv == 0 && own) {
        rv = own_passwd(cli, file, &ans);
    } else if (rv == 0) {
        char *path = cli_http_path("/api/v1/users/", a.pos[0], "/password");
        rv = read_password("user passwd", file, "New password: ", password);
        if (rv == 0) {
            rv = post_with_password(cli, path, body, password, &ans);
        }
        free(path);
    }
    sodium_memzero(password, sizeof password);
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0 && own && jstr(ans, "access_token")[0] != '\0') {
        /* A token under the new password replaces the one used: eval the line. */
        fprintf(stderr, "imgarc: password changed; every other session of yours stopped\n");
        rv = print_login(jstr(ans, "username"), ans);
    } else if (rv == 0) {
        put_text(jstr(ans, "username"));
        printf(": password %s; every token of the user stopped: it logs in again (index "
               "%lld)\n", own ? "changed" : "reset, wrong passwords and lock cleared",
               jint(ans, "index"));
    }
    if (ans != NULL) {
        wipe_member(ans, "access_token");
    }
    json_decref(body);
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_user(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", user_create},
                                            {"list", user_list},
                                            {"show", user_show},
                                            {"update", user_update},
                                            {"disable", user_disable},
                                            {"enable", user_enable},
                                            {"passwd", user_passwd},
                                            {"delete", user_delete},
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

static void print_role_updated(const json_t *ans)
{
    put_text(jstr(ans, "name"));
    fputs(": permissions now ", stdout);
    put_list(json_object_get(ans, "permissions"));
    printf(" (index %lld)\n", jint(ans, "index"));
}

static int role_update(struct cli *cli, int argc, char **argv)
{
    struct str_list perms = {0};
    const struct flag flags[] = {{"--permission", NULL, FLAG_LIST, &perms},
                                 {"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *body = NULL, *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "role update", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("role update", &a, 1, 1, "NAME");
    }
    if (rv == 0) {
        rv = check_id("role update", "NAME", a.pos[0]);
    }
    if (rv == 0 && perms.n == 0) {
        rv = usage_error("role update", "missing --permission P (read, capture, edit, delete, "
                                        "amend, submit, match, review, admin)");
    }
    for (size_t i = 0; i < perms.n && rv == 0; i++) {
        rv = check_id("role update", "--permission", perms.items[i]);
    }
    if (rv == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < perms.n; i++) {
            json_array_append_new(list, json_string(perms.items[i]));
        }
        body = json_pack("{s:o}", "permissions", list);
        rv = id_request(cli, "PATCH", "/api/v1/roles/", a.pos[0], "", body, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        print_role_updated(ans);
    }
    json_decref(body);
    json_decref(ans);
    free(perms.items);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

static int role_delete(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    json_t *ans = NULL;
    struct args a;
    int rv = parse_command(cli, "role delete", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("role delete", &a, 1, 1, "NAME");
    }
    if (rv == 0) {
        rv = check_id("role delete", "NAME", a.pos[0]);
    }
    if (rv == 0) {
        rv = id_request(cli, "DELETE", "/api/v1/roles/", a.pos[0], "", NULL, &ans);
    }
    if (rv == 0 && cli->json) {
        print_json(ans, false);
    } else if (rv == 0) {
        put_text(jstr(ans, "name"));
        printf(": role deleted (index %lld)\n", jint(ans, "index"));
    }
    json_decref(ans);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

int cmd_role(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"create", role_create},
                                            {"list", role_list},
                                            {"update", role_update},
                                            {"delete", role_delete}};
    return run_action(cli, "role", actions, ARRAY_SIZE(actions), argc, argv);
}
