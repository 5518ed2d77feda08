/* cluster: the nodes of the cluster of --server (show, join, remove, drain,
 * undrain, weight) and where the copies of one blob are and belong. Operator
 * commands. */
#include "tools/cli/cli.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    long long leader = jid(ans, "leader");
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
        printf("%-19lld  ", jid(n, "id"));
        put_cell(jstr(n, "http"), 21);
        put_cell(jstr(n, "raft"), 21);
        put_cell(jstr(n, "zone"), 10);
        put_cell(jstr(n, "role"), 7);
        put_cell(leader != 0 && jid(n, "id") == leader ? "*" : "", 6);
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

/* Why the cluster needs an operator, into @buf ("" when it does not): no leader known,
 * a member down or out, copies missing. Draining is the operator's own doing. */
static void cluster_trouble(const json_t *ans, char *buf, size_t size)
{
    const json_t *nodes = json_object_get(ans, "nodes");
    const json_t *under = json_object_get(ans, "under_replicated");
    const json_t *n;
    size_t i, used = 0;
    buf[0] = '\0';
#define TROUBLE(...)                                                                          \
    do {                                                                                      \
        if (used < size) {                                                                    \
            used += (size_t)snprintf(buf + used, size - used, "%s", used > 0 ? "; " : "");    \
        }                                                                                     \
        if (used < size) {                                                                    \
            used += (size_t)snprintf(buf + used, size - used, __VA_ARGS__);                   \
        }                                                                                     \
    } while (0)
    if (jid(ans, "leader") == 0) {
        TROUBLE("no raft leader known");
    }
    json_array_foreach(nodes, i, n)
    {
        if (strcmp(jstr(n, "health"), "down") == 0) {
            TROUBLE("node %lld is down", jid(n, "id"));
        } else if (strcmp(jstr(n, "storage"), "out") == 0) {
            TROUBLE("node %lld is out (its copies no longer count)", jid(n, "id"));
        }
    }
    if (json_is_integer(under) && json_integer_value(under) > 0) {
        TROUBLE("%lld under-replicated blobs", (long long)json_integer_value(under));
    }
#undef TROUBLE
}

/* Like every show command, and exit 5 while the cluster needs an operator, so that a
 * script or a monitor can run it as a check. */
static int cluster_show(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    const struct cli_request req = {.method = "GET", .path = "/api/v1/cluster"};
    json_t *ans = NULL;
    char trouble[512];
    struct args a;
    int rv = parse_command(cli, "cluster", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("cluster", &a, 0, 0, "nothing");
    }
    free(a.pos);
    if (rv == 0) {
        rv = connect_server(cli);
    }
    if (rv == 0) {
        rv = cli_http_json(cli->http, &req, NULL, &ans);
    }
    if (rv != 0) {
        return rv == HELP_SHOWN ? 0 : rv;
    }
    if (cli->json) {
        print_json(ans, false);
    } else {
        print_cluster(ans);
    }
    cluster_trouble(ans, trouble, sizeof trouble);
    json_decref(ans);
    if (trouble[0] != '\0') {
        fprintf(stderr, "imgarc: the cluster needs attention: %s\n", trouble);
        return CLI_EATTENTION;
    }
    return 0;
}

static void print_joined(const json_t *ans)
{
    printf("node %lld at ", jid(ans, "id"));
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
           jid(ans, "id"));
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
    printf("node %lld storage %s (raft index %lld): ", jid(ans, "id"),
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

static void print_weight_set(const json_t *ans)
{
    printf("node %lld weight %lld%% of its capacity (raft index %lld): ", jid(ans, "id"),
           jint(ans, "weight_pct"), jint(ans, "index"));
    if (json_is_false(json_object_get(ans, "changed"))) {
        printf("it was so already\n");
    } else {
        printf("placement moves copies to or from it in proportion\n");
    }
}

/* "cluster weight ID PCT": PUT /api/v1/cluster/nodes/ID/weight {"weight_pct": PCT}. */
static int cluster_weight(struct cli *cli, int argc, char **argv)
{
    const struct flag flags[] = {{"--json", NULL, FLAG_BOOL, &cli->json}};
    struct cli_request req = {.method = "PUT"};
    json_t *body = json_object();
    char *path = NULL, *end = NULL;
    long pct = 0;
    struct args a;
    int rv = parse_command(cli, "cluster weight", argc, argv, flags, ARRAY_SIZE(flags), &a);
    if (rv == 0) {
        rv = want_args("cluster weight", &a, 2, 2, "ID PCT");
    }
    if (rv == 0) {
        rv = check_node_id("cluster weight", a.pos[0]);
    }
    if (rv == 0) {
        pct = strtol(a.pos[1], &end, 10);
        if (a.pos[1][0] < '0' || a.pos[1][0] > '9' || *end != '\0' || pct < 1 || pct > 1000) {
            rv = usage_error("cluster weight", "PCT '%s' must be a percentage from 1 to 1000 "
                             "(100: the node's capacity)", a.pos[1]);
        }
    }
    if (rv == 0) {
        json_object_set_new(body, "weight_pct", json_integer(pct));
        path = cli_http_path("/api/v1/cluster/nodes/", a.pos[0], "/weight");
        req.path = path;
    }
    rv = send_and_print(cli, rv, &req, body, print_weight_set);
    json_decref(body);
    free(path);
    free(a.pos);
    return rv == HELP_SHOWN ? 0 : rv;
}

/* Whether the JSON array @ids holds the node id @id. */
static bool ids_have(const json_t *ids, long long id)
{
    const json_t *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        if (jid_value(v) == id) {
            return true;
        }
    }
    return false;
}

/* The 1-based rank of @id in the JSON array @ids, 0 when it is not there. */
static size_t ids_rank(const json_t *ids, long long id)
{
    const json_t *v;
    size_t i;
    json_array_foreach(ids, i, v)
    {
        if (jid_value(v) == id) {
            return i + 1;
        }
    }
    return 0;
}

/* One node of "cluster blob": whether it holds a copy, whether that copy is live, and
 * where placement ranks it. */
static void put_blob_node(long long id, const json_t *holders, const json_t *live,
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
        if (ids_have(live, jid_value(v)) && ids_have(placement, jid_value(v))) {
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
        if (ids_have(holders, jid_value(v))) {
            put_blob_node(jid_value(v), holders, live, placement);
        }
    }
    json_array_foreach(holders, i, v)
    {
        if (!ids_have(placement, jid_value(v))) {
            put_blob_node(jid_value(v), holders, live, placement);
        }
    }
    json_array_foreach(placement, i, v)
    {
        if (!ids_have(holders, jid_value(v))) {
            put_blob_node(jid_value(v), holders, live, placement);
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
int cmd_cluster(struct cli *cli, int argc, char **argv)
{
    static const struct action actions[] = {
        {"show", cluster_show},   {"join", cluster_join},       {"remove", cluster_remove},
        {"drain", cluster_drain}, {"undrain", cluster_undrain}, {"blob", cluster_blob},
        {"weight", cluster_weight}};
    if (argc == 0 || (argv[0][0] == '-' && strcmp(argv[0], "--help") != 0 &&
                      strcmp(argv[0], "-h") != 0)) {
        return cluster_show(cli, argc, argv);
    }
    return run_action(cli, "cluster", actions, ARRAY_SIZE(actions), argc, argv);
}
