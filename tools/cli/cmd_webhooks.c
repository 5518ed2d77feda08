/* webhook (create, list, show, delete), deliveries (their states and attempts) and
 * delivery retry. */
#include "tools/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int cmd_webhook(struct cli *cli, int argc, char **argv)
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

int cmd_deliveries(struct cli *cli, int argc, char **argv)
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

int cmd_delivery(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {{"retry", delivery_retry}};
    return run_action(cli, "delivery", actions, ARRAY_SIZE(actions), argc, argv);
}
