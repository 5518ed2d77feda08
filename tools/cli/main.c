/* imgarc: the command-line client of an imgarc node. main() reads the global flags
 * before the command, runs the command of help.c's table, and turns its result into
 * the exit status; `imgarc version` lives here too. tools/cli/cli.h says how the files
 * of this folder share the work; docs/cli.md is the reference of every command. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"

/* ---- version ---- */

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

int cmd_version(struct cli *cli, int argc, char **argv)
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
