#include "node/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/mem.h"
#include "replication/repl.h"
#include "version.h"

/* --feature-level's default and maximum are this version's level. */
_Static_assert(ARCHIVE_FEATURE_LEVEL == 1, "update --feature-level's default and maximum");

enum opt_type { OPT_STRING, OPT_U64, OPT_BOOL, OPT_LIST };

struct opt {
    const char *name;
    enum opt_type type;
    size_t offset;
    const char *def;
    uint64_t min, max;
    const char *help;
};

#define OFF(f) offsetof(struct node_config, f)
#define GIB (1024ull * 1024 * 1024)

static const struct opt opts[] = {
    {"listen", OPT_STRING, OFF(listen), "127.0.0.1:8080", 0, 0, "HTTP address HOST:PORT"},
    {"advertise", OPT_STRING, OFF(advertise), NULL, 0, 0,
     "HTTP address HOST:PORT the other nodes reach this node at (default: --listen)"},
    {"raft-listen", OPT_STRING, OFF(raft_listen), "127.0.0.1:9080", 0, 0,
     "raft address IPv4:PORT (keep it on a private network)"},
    {"data", OPT_STRING, OFF(data), NULL, 0, 0,
     "data directory (default $IMGARC_DATA or ~/.local/share/imgarc)"},
    {"node-id", OPT_U64, OFF(node_id), NULL, 1, INT64_MAX, /* JSON clients read int64 */
     "raft node id, unique in the cluster (default: a random id kept in DATA/node-id)"},
    {"bootstrap-token", OPT_STRING, OFF(bootstrap_token), NULL, 0, 0,
     "operator bearer token (default: generated into DATA/bootstrap-token)"},
    {"join", OPT_STRING, OFF(join), NULL, 0, 0,
     "HTTP address HOST:PORT of a cluster member: a node with an empty data dir asks to be "
     "added instead of starting a new cluster"},
    {"zone", OPT_STRING, OFF(zone), "default", 0, 0, "zone (site) of this node"},
    {"cluster-secret-file", OPT_STRING, OFF(cluster_secret_file), NULL, 0, 0,
     "file holding the secret (32+ characters) every node of the cluster shares; "
     "authenticates /internal calls; required for --join and for more than one node"},
    {"cluster-secret-previous-file", OPT_STRING, OFF(cluster_secret_previous_file), NULL, 0, 0,
     "during a rotation of the cluster secret: file of the secret being replaced; calls "
     "signed with either are accepted, this node signs with --cluster-secret-file "
     "(docs/replication.md)"},
    {"tls-cert", OPT_STRING, OFF(tls_cert), NULL, 0, 0,
     "PEM file of this node's certificate and its chain: the HTTP port speaks TLS (https) "
     "and so do calls to other members, which must all have it (docs/tls.md); read again "
     "on SIGHUP"},
    {"tls-key", OPT_STRING, OFF(tls_key), NULL, 0, 0,
     "PEM file of --tls-cert's private key (unencrypted; keep it 0600)"},
    {"tls-client-ca", OPT_STRING, OFF(tls_client_ca), NULL, 0, 0,
     "PEM file of the CAs whose certificates clients must present (mutual TLS); members "
     "present their --tls-cert to each other"},
    {"tls-ca", OPT_STRING, OFF(tls_ca), NULL, 0, 0,
     "PEM file of the CAs that sign other members' certificates (default: the system's "
     "trusted CAs)"},
    {"voters", OPT_U64, OFF(voters), "3", 1, 5,
     "raft voters the leader keeps (1, 3 or 5); other members are standbys"},
    {"failover-after-ms", OPT_U64, OFF(failover_after_ms), "30000", 1000, 3600000,
     "a voter unreachable this long is replaced by a standby"},
    {"replicas", OPT_U64, OFF(replicas), "3", 1, 16,
     "copies of each file's content, on different nodes (and zones when there are)"},
    {"write-quorum", OPT_U64, OFF(write_quorum), "2", 1, 16,
     "durable copies a capture needs before it is acknowledged (at most --replicas)"},
    {"feature-level", OPT_U64, OFF(feature_level), "1", 0, 1,
     "the highest feature level this node lets the cluster reach (default: this version's, "
     "1): a lower one keeps every new kind of command refused, so the previous version "
     "can still take over the data dirs; the cluster rises to the lowest level its "
     "members report (docs/replication.md, \"Upgrades\")"},
    {"repair-after-ms", OPT_U64, OFF(repair_after_ms), "600000", 1000, 30ull * 86400000,
     "a node unreachable this long is marked out and its copies are made again elsewhere"},
    {"repair-bytes-per-s", OPT_U64, OFF(repair_bytes_per_s), "0", 0, UINT64_MAX,
     "bandwidth repair and rebalancing may use on this node (0: no limit)"},
    {"push-threads", OPT_U64, OFF(push_threads), "8", 1, 256,
     "copies this node sends to other nodes at once"},
    {"min-free-mb", OPT_U64, OFF(min_free_mb), "64", 0, 1ull << 30,
     "free space (MiB) kept on the data dir's file system: below it this node refuses new "
     "files and copies with 507 until space is freed (0: only when a write finds none)"},
    {"scrub-bytes-per-s", OPT_U64, OFF(scrub_bytes_per_s), "20971520", 0, UINT64_MAX,
     "rate at which stored content is re-hashed to find corrupt copies (0: never)"},
    {"scrub-pause-ms", OPT_U64, OFF(scrub_pause_ms), "86400000", 0, 365ull * 86400000,
     "pause between two full scrubs of this node's content"},
    {"gc-grace-ms", OPT_U64, OFF(gc_grace_ms), "3600000", 1000, 365ull * 86400000,
     "content nothing refers to is deleted after this long"},
    {"recover", OPT_BOOL, OFF(recover), "false", 0, 0,
     "after a majority of the voters is lost for good: make this node the only voter of "
     "its cluster, then run (docs/replication.md, quorum loss)"},
    {"config", OPT_STRING, OFF(config_file), NULL, 0, 0, "config file of key = value lines"},
    {"log-level", OPT_STRING, OFF(log_level), "info", 0, 0, "error, warn, info or debug"},
    {"body-max", OPT_U64, OFF(body_max), "2147483648", 1, 64 * GIB, "largest request body, bytes"},
    {"header-max", OPT_U64, OFF(header_max), "16384", 1024, 1 << 20,
     "largest request head (line + headers), bytes"},
    {"idle-timeout-ms", OPT_U64, OFF(idle_timeout_ms), "30000", 100, 3600000,
     "close connections idle this long"},
    {"header-timeout-ms", OPT_U64, OFF(header_timeout_ms), "10000", 100, 3600000,
     "a request's line and headers must arrive within this long (else 408)"},
    {"body-timeout-ms", OPT_U64, OFF(body_timeout_ms), "30000", 100, 3600000,
     "a JSON or node-to-node body (held in memory) must arrive within this long of its "
     "headers (else 408); file uploads are streamed and only --idle-timeout-ms applies"},
    {"buffered-bytes-max", OPT_U64, OFF(buffered_bytes_max), "33554432", 8 << 20, 64 * GIB,
     "bytes of request bodies held in memory at once, all connections together (at least "
     "8 MiB: a node-to-node body may take 4); beyond it a request is refused 503 with "
     "Retry-After"},
    {"connections-max", OPT_U64, OFF(connections_max), "4096", 1, 1000000,
     "most client connections at once"},
    {"sync-blobs", OPT_BOOL, OFF(sync_blobs), "true", 0, 0,
     "make blobs durable before acknowledging (only benchmarks turn it off)"},
    {"verify-reads", OPT_BOOL, OFF(verify_reads), "true", 0, 0,
     "check every read against the file's checksum while serving (false: never, and "
     "every read goes out by sendfile where the connection allows)"},
    {"reverify-after-s", OPT_U64, OFF(reverify_after_s), "300", 0, 86400,
     "a copy this node checked whole (a verified read, the scrubber) less than this many "
     "seconds ago, and unchanged since, is sent without checking it again, by sendfile "
     "(docs/performance.md, \"Reads of copies verified recently\"); 0: every read is checked"},
    {"group-commit-max", OPT_U64, OFF(group_commit_max), "128", 1, 4096,
     "most uploads made durable by one sync"},
    {"entry-commands", OPT_U64, OFF(entry_commands), "64", 1, 64,
     "most commands the leader puts in one raft entry (pool pushes, captures and "
     "submits proposed together); 1: one command per entry, which nodes built before "
     "shared entries (docs/replication.md) need while a cluster is upgraded"},
    {"snapshot-threshold", OPT_U64, OFF(snapshot_threshold), "16384", 16, 1u << 30,
     "raft entries between snapshots"},
    {"snapshot-trailing", OPT_U64, OFF(snapshot_trailing), "65536", 16, 1u << 30,
     "raft entries kept after a snapshot"},
    {"snapshot-threshold-bytes", OPT_U64, OFF(snapshot_threshold_bytes), "8388608", 0,
     64 * GIB,
     "bytes of raft entries between snapshots, whichever of this and "
     "--snapshot-threshold comes first (0: entries only)"},
    {"snapshot-trailing-bytes", OPT_U64, OFF(snapshot_trailing_bytes), "16777216", 0,
     64 * GIB,
     "bytes of raft entries kept after a snapshot, whichever of this and "
     "--snapshot-trailing is smaller (0: entries only); the in-memory raft log holds at "
     "most the two byte bounds together"},
    {"snapshot-format", OPT_STRING, OFF(snapshot_format), "store", 0, 0,
     "store: a raft snapshot names this node's metadata store, which a node that needs "
     "it fetches from a member beside raft, in constant memory; inline: the whole store "
     "in raft's snapshot, built and sent in memory (docs/snapshots.md)"},
    {"snapshot-send-bytes-per-s", OPT_U64, OFF(snapshot_send_bytes_per_s), "0", 0, UINT64_MAX,
     "bandwidth a metadata store sent to a node that catches up may use (0: no limit)"},
    {"election-timeout-ms", OPT_U64, OFF(election_timeout_ms), "3000", 100, 600000,
     "raft election timeout"},
    {"heartbeat-timeout-ms", OPT_U64, OFF(heartbeat_timeout_ms), "500", 10, 60000,
     "raft heartbeat interval"},
    {"shutdown-grace-ms", OPT_U64, OFF(shutdown_grace_ms), "10000", 0, 600000,
     "on SIGTERM, how long requests in flight may finish"},
    {"token-ttl-s", OPT_U64, OFF(token_ttl_s), "3600", 1, 30 * 86400,
     "lifetime of business-system access tokens, seconds"},
    {"collect-keep-s", OPT_U64, OFF(collect_keep_s), "86400", 1, 30 * 86400,
     "how long a file collected by the vendor's fileCollect waits for a scanBillSubmit "
     "before it is cleaned up, seconds"},
    {"vendor-token-ttl-s", OPT_U64, OFF(vendor_token_ttl_s), "7200", 1, 30 * 86400,
     "lifetime of the vendor surface's app tokens (/api/getAppToken.do) and access tokens "
     "(/api/login.do), seconds"},
    {"upload-expiry-s", OPT_U64, OFF(upload_expiry_s), "86400", 1, 30 * 86400,
     "how long a resumable upload may take, from its creation, before it and its bytes are "
     "removed (seconds)"},
    {"uploads-max", OPT_U64, OFF(uploads_max), "1000", 1, 100000,
     "unfinished resumable uploads this node keeps at once; more are refused 503"},
    {"link-ttl-s", OPT_U64, OFF(link_ttl_s), "600", 1, 7 * 86400,
     "lifetime of signed file links and event codes, seconds"},
    {"login-max-failures", OPT_U64, OFF(login_failures_max), "50", 1, 1000,
     "wrong passwords in a row, from all addresses, that lock a user account (and revoke "
     "its tokens)"},
    {"login-lock-minutes", OPT_U64, OFF(login_lock_minutes), "30", 1, 7 * 24 * 60,
     "how long a locked account stays locked (a tenant admin can unlock it sooner)"},
    {"webhook-retry-ms", OPT_U64, OFF(webhook_retry_ms), "1000", 1, 3600000,
     "delay before a failed webhook delivery is tried again; doubles per attempt"},
    {"webhook-retry-max-ms", OPT_U64, OFF(webhook_retry_max_ms), "3600000", 1, 86400000,
     "longest delay between two attempts of a webhook delivery"},
    {"webhook-attempts", OPT_U64, OFF(webhook_attempts), "20", 1, 1000,
     "attempts before a webhook delivery is marked failed"},
    {"webhook-timeout-ms", OPT_U64, OFF(webhook_timeout_ms), "10000", 100, 600000,
     "how long one webhook delivery attempt may take"},
    {"webhook-concurrency", OPT_U64, OFF(webhook_concurrency), "16", 1, 1024,
     "webhook delivery attempts in flight at once (on the leader)"},
    {"recognition-url", OPT_STRING, OFF(recognition_url), NULL, 0, 0,
     "the recognition service: invoice images are POSTed to it and its answer fills their "
     "invoice data (docs/recognition.md; give every node the same URL; it obeys "
     "--outbound-allow). Without it, recognition requests are refused"},
    {"recognition-secret-file", OPT_STRING, OFF(recognition_secret_file), NULL, 0, 0,
     "file holding a secret (16+ bytes) that signs requests to the recognition service "
     "(X-Imgarc-Signature)"},
    {"recognition-timeout-ms", OPT_U64, OFF(recognition_timeout_ms), "60000", 100, 600000,
     "how long one recognition attempt may take"},
    {"recognition-attempts", OPT_U64, OFF(recognition_attempts), "5", 1, 100,
     "attempts before a file's recognition is marked failed (a 4xx fails it at once)"},
    {"recognition-retry-ms", OPT_U64, OFF(recognition_retry_ms), "10000", 1, 3600000,
     "delay before a failed recognition attempt is tried again; doubles per attempt"},
    {"recognition-retry-max-ms", OPT_U64, OFF(recognition_retry_max_ms), "600000", 1,
     86400000, "longest delay between two recognition attempts"},
    {"recognition-concurrency", OPT_U64, OFF(recognition_concurrency), "4", 1, 64,
     "recognition attempts in flight at once (on the leader; each holds its file in memory)"},
    {"recognition-max-bytes", OPT_U64, OFF(recognition_max_bytes), "33554432", 1, 1ull << 30,
     "larger files are not sent to the recognition service (their recognition fails)"},
    {"migrate-lanes", OPT_U64, OFF(migrate_lanes), "4", 1, 64,
     "bills a running migration batch moves at once (on the leader; docs/migration.md)"},
    {"migrate-bytes-per-s", OPT_U64, OFF(migrate_bytes_per_s), "0", 0, UINT64_MAX,
     "bandwidth migration downloads may use on the leader, all batches together (0: no "
     "limit); captures keep their latency with a limit (docs/performance.md)"},
    {"sync-tick-ms", OPT_U64, OFF(sync_tick_ms), "1000", 50, 60000,
     "how often the leader looks at the invoice-data sync: the daily runs due and the runs "
     "to work on (docs/migration.md)"},
    {"license-pubkey", OPT_LIST, OFF(license_pubkeys), NULL, 0, 0,
     "file of a public key whose signed licenses this node accepts (repeatable; from "
     "'imgarc license keygen')"},
    {"login-source-failures", OPT_U64, OFF(login_source_failures), "5", 1, 1000,
     "wrong passwords for one username from one address before that address must wait "
     "(5 s, doubling per further failure, up to 15 min)"},
    {"metrics-token-file", OPT_STRING, OFF(metrics_token_file), NULL, 0, 0,
     "file holding a token (16+ bytes) that may read the tenant series of /metrics (the "
     "operator token may too); without a token /metrics shows node series only"},
    {"outbound-allow", OPT_LIST, OFF(outbound_allow), NULL, 0, 0,
     "HOST[:PORT] or CIDR a webhook, ERP submission or the recognition service may reach "
     "although it is loopback, "
     "private, link-local or otherwise internal (refused by default; repeatable; a "
     "cluster member's address needs its HOST:PORT named; docs/webhooks.md)"},
    {"pdf-child-memory-mb", OPT_U64, OFF(pdf_child_memory_mb), "512", 64, 65536,
     "address space (RLIMIT_AS) of the child process that counts a PDF's pages; a PDF "
     "that needs more keeps the byte scan's page estimate"},
    {"pdf-child-cpu-s", OPT_U64, OFF(pdf_child_cpu_s), "10", 1, 3600,
     "CPU seconds (RLIMIT_CPU) of that child"},
    {"pdf-child-timeout-ms", OPT_U64, OFF(pdf_child_timeout_ms), "15000", 1, 600000,
     "wall-clock deadline of that child, killed past it; also the longest an upload waits "
     "for a free counter (values of a few ms leave no time to start the child: the tests "
     "use 1 for the timeout path)"},
    {"pdf-children-max", OPT_U64, OFF(pdf_children_max), "2", 1, 64,
     "PDF page-counting children running at once (worst case: this many times "
     "--pdf-child-memory-mb); twice as many uploads may wait for one, more keep the "
     "byte scan's page estimate"},
};

static void usage(FILE *out)
{
    fprintf(out, "imgarcd %s: an imgarc archive node\n\nUsage: imgarcd [--KEY VALUE]...\n\n",
            IMGARC_VERSION);
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        fprintf(out, "  --%-22s %s%s%s%s\n", o->name, o->help, o->def ? " [" : "",
                o->def ? o->def : "", o->def ? "]" : "");
    }
    fprintf(out, "  --%-22s %s\n  --%-22s %s\n", "help", "this text", "version",
            "print version and git commit");
    fprintf(out, "\nA config file holds the same keys as 'key = value' lines; flags win. Each "
                 "key once (list keys\nsuch as outbound-allow repeat); '#' starts a comment "
                 "at the start of a line or after a\nblank; quote a value (\"...\" or '...') "
                 "to keep a '#' in it.\n");
}

static const struct opt *find_opt(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        if (strcmp(opts[i].name, name) == 0) {
            return &opts[i];
        }
    }
    return NULL;
}

/* Whether @s is IP:PORT as a listening socket takes it: an IPv4 literal (or, with
 * @v6, an IPv6 one too: the part before the last colon) and a port up to 65535. */
static bool ip_port(const char *s, bool v6)
{
    const char *colon = strrchr(s, ':');
    char host[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    char *end;
    long port;
    if (colon == NULL || colon == s || (size_t)(colon - s) >= sizeof host) {
        return false;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 || port > 65535) {
        return false;
    }
    return inet_pton(AF_INET, host, addr) == 1 || (v6 && inet_pton(AF_INET6, host, addr) == 1);
}

/* Checks a string value whose form matters, where it is given (file line or flag), so
 * that a bad one is refused before the node creates anything in its data dir. */
static int check_value(const struct opt *o, const char *value, const char *where)
{
    struct base_err err = {{0}};
    struct outbound_rule rule;
    const char *problem;
    if (strcmp(o->name, "listen") == 0 && !ip_port(value, true)) {
        fprintf(stderr, "imgarcd: %s: listen must be IP:PORT with an IP address of this "
                "machine (127.0.0.1:8080, 0.0.0.0:8080 for every interface), not '%s'\n",
                where, value);
        return -1;
    }
    if (strcmp(o->name, "raft-listen") == 0 && !ip_port(value, false)) {
        fprintf(stderr, "imgarcd: %s: raft-listen must be IPv4:PORT (127.0.0.1:9080), "
                "not '%s'\n", where, value);
        return -1;
    }
    if ((strcmp(o->name, "advertise") == 0 || strcmp(o->name, "join") == 0) &&
        !archive_valid_address(value)) {
        fprintf(stderr, "imgarcd: %s: %s must be HOST:PORT (a name or an address, and the "
                "HTTP port), not '%s'\n", where, o->name, value);
        return -1;
    }
    if (strcmp(o->name, "snapshot-format") == 0 && strcmp(value, "store") != 0 &&
        strcmp(value, "inline") != 0) {
        fprintf(stderr, "imgarcd: %s: snapshot-format must be store or inline, not '%s'\n",
                where, value);
        return -1;
    }
    if (strcmp(o->name, "log-level") == 0 && log_level_parse(value) < 0) {
        fprintf(stderr, "imgarcd: %s: log-level must be error, warn, info or debug, not "
                "'%s'\n", where, value);
        return -1;
    }
    if (strcmp(o->name, "outbound-allow") == 0 && outbound_rule_parse(value, &rule, &err) != 0) {
        fprintf(stderr, "imgarcd: %s: %s\n", where, err.msg);
        return -1;
    }
    if (strcmp(o->name, "recognition-url") == 0 &&
        (problem = archive_webhook_url_problem(value)) != NULL) {
        fprintf(stderr, "imgarcd: %s: --recognition-url: %s\n", where, problem);
        return -1;
    }
    return 0;
}

static int set_opt(struct node_config *c, const struct opt *o, const char *value,
                   const char *where)
{
    char *field = (char *)c + o->offset;
    char *end;
    unsigned long long v;
    if (value != NULL && check_value(o, value, where) != 0) {
        return -1;
    }
    switch (o->type) {
    case OPT_STRING:
        free(*(char **)field);
        *(char **)field = value != NULL ? xstrdup(value) : NULL;
        return 0;
    case OPT_LIST: {
        struct config_list *l = (struct config_list *)field;
        if (value == NULL) {
            return 0;
        }
        l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
        l->items[l->n++] = xstrdup(value);
        return 0;
    }
    case OPT_BOOL:
        if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "yes") == 0) {
            *(bool *)field = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                   strcmp(value, "no") == 0) {
            *(bool *)field = false;
        } else {
            fprintf(stderr, "imgarcd: %s: %s must be true or false, not '%s'\n", where, o->name,
                    value);
            return -1;
        }
        return 0;
    case OPT_U64:
        errno = 0;
        v = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || value[0] == '-' || v < o->min ||
            v > o->max) {
            fprintf(stderr, "imgarcd: %s: %s must be a number from %llu to %llu, not '%s'\n",
                    where, o->name, (unsigned long long)o->min, (unsigned long long)o->max,
                    value);
            return -1;
        }
        *(uint64_t *)field = v;
        return 0;
    }
    return -1;
}

static char *trim(char *s)
{
    char *e;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) {
        *--e = '\0';
    }
    return s;
}

/* The value of a config line, after its '=': in place, without surrounding blanks.
 * A value may be quoted ("..." or '...', taken as written, '#' included); otherwise a
 * '#' after a blank starts a comment. NULL (and @why) when the quotes do not close or
 * something other than a comment follows them. */
static char *line_value(char *v, const char **why)
{
    v = trim(v);
    if (*v == '"' || *v == '\'') {
        char *close = strchr(v + 1, *v);
        char *rest;
        if (close == NULL) {
            *why = "the quote is not closed";
            return NULL;
        }
        *close = '\0';
        rest = trim(close + 1);
        if (*rest != '\0' && *rest != '#') {
            *why = "only a comment ('# ...') may follow the closing quote";
            return NULL;
        }
        return v + 1;
    }
    for (char *p = v; *p != '\0'; p++) {
        if (*p == '#' && p > v && (p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    }
    return trim(v);
}

static int load_file(struct node_config *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    char where[1100];
    int seen[ARRAY_SIZE(opts)] = {0}; /* the line each key was set on */
    int lineno = 0;
    if (f == NULL) {
        fprintf(stderr, "imgarcd: cannot open config file %s: %s\n", path, strerror(errno));
        return -1;
    }
    free(c->config_file);
    c->config_file = xstrdup(path); /* what SIGHUP reads again */
    while (fgets(line, sizeof line, f) != NULL) {
        char *s;
        char *eq, *value;
        const char *why = NULL;
        const struct opt *o;
        size_t len = strlen(line);
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (len == sizeof line - 1 && line[len - 1] != '\n' && !feof(f)) {
            fprintf(stderr, "imgarcd: %s: line longer than %zu bytes\n", where,
                    sizeof line - 2);
            fclose(f);
            return -1;
        }
        s = trim(line);
        if (*s == '\0' || *s == '#') {
            continue;
        }
        eq = strchr(s, '=');
        if (eq == NULL) {
            fprintf(stderr, "imgarcd: %s: expected 'key = value'\n", where);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        o = find_opt(trim(s));
        if (o == NULL || strcmp(o->name, "config") == 0) {
            fprintf(stderr, "imgarcd: %s: unknown key '%s'\n", where, trim(s));
            fclose(f);
            return -1;
        }
        if (o->type != OPT_LIST && seen[o - opts] != 0) {
            fprintf(stderr, "imgarcd: %s: %s is already set on line %d; give each key once "
                    "(only list keys such as outbound-allow repeat)\n", where, o->name,
                    seen[o - opts]);
            fclose(f);
            return -1;
        }
        seen[o - opts] = lineno;
        if ((value = line_value(eq + 1, &why)) == NULL) {
            fprintf(stderr, "imgarcd: %s: %s: %s\n", where, o->name, why);
            fclose(f);
            return -1;
        }
        if (set_opt(c, o, value, where) != 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

static int set_defaults(struct node_config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        if (opts[i].def != NULL && set_opt(c, &opts[i], opts[i].def, "default") != 0) {
            return -1;
        }
    }
    return 0;
}

/* Finds --config first, so the file is read before the other flags override it. */
static int load_config_flag(struct node_config *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            return load_file(c, argv[i + 1]);
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            return load_file(c, argv[i] + 9);
        }
    }
    return 0;
}

static int parse_flags(struct node_config *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        char name[64];
        const struct opt *o;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("imgarcd %s (git %s)\n", IMGARC_VERSION, IMGARC_GIT_COMMIT);
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "imgarcd: unexpected argument '%s'; see imgarcd --help\n", arg);
            return -1;
        }
        snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
        o = find_opt(name);
        if (o == NULL) {
            fprintf(stderr, "imgarcd: unknown flag --%s; see imgarcd --help\n", name);
            return -1;
        }
        if (strchr(arg, '=') != NULL) {
            value = strchr(arg, '=') + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "imgarcd: --%s needs a value\n", name);
            return -1;
        }
        if (strcmp(name, "config") != 0 && set_opt(c, o, value, "flag") != 0) {
            return -1;
        }
    }
    return 0;
}

int node_config_load(struct node_config *c, int argc, char **argv)
{
    int rv;
    if (set_defaults(c) != 0 || load_config_flag(c, argc, argv) != 0) {
        return -1;
    }
    rv = parse_flags(c, argc, argv);
    if (rv != 0) {
        return rv;
    }
    if (c->data == NULL) {
        const char *env = getenv("IMGARC_DATA");
        const char *home = getenv("HOME");
        c->data = env != NULL && env[0] != '\0' ? xstrdup(env)
                                                : xasprintf("%s/.local/share/imgarc",
                                                            home != NULL ? home : ".");
    }
    if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
        fprintf(stderr, "imgarcd: --tls-cert and --tls-key go together: give both for TLS, "
                        "or neither for plain HTTP\n");
        return -1;
    }
    if (c->tls_cert == NULL && (c->tls_client_ca != NULL || c->tls_ca != NULL)) {
        fprintf(stderr, "imgarcd: --tls-client-ca and --tls-ca need --tls-cert and --tls-key\n");
        return -1;
    }
    if (c->voters % 2 == 0) {
        fprintf(stderr, "imgarcd: voters must be 1, 3 or 5 (an even number of voters "
                        "tolerates no more failures than one less)\n");
        return -1;
    }
    if (c->write_quorum > c->replicas) {
        fprintf(stderr, "imgarcd: write-quorum (%llu) must not exceed replicas (%llu)\n",
                (unsigned long long)c->write_quorum, (unsigned long long)c->replicas);
        return -1;
    }
    return 0;
}

void node_config_free(struct node_config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        if (opts[i].type == OPT_STRING) {
            char **field = (char **)((char *)c + opts[i].offset);
            free(*field);
            *field = NULL;
        } else if (opts[i].type == OPT_LIST) {
            struct config_list *l = (struct config_list *)((char *)c + opts[i].offset);
            for (size_t k = 0; k < l->n; k++) {
                free(l->items[k]);
            }
            free(l->items);
            l->items = NULL;
            l->n = 0;
        }
    }
}

size_t node_config_diff(const struct node_config *a, const struct node_config *b,
                        const char **names, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        const char *fa = (const char *)a + o->offset;
        const char *fb = (const char *)b + o->offset;
        bool same = true;
        if (o->type == OPT_STRING) {
            const char *va = *(char *const *)fa, *vb = *(char *const *)fb;
            same = va == vb || (va != NULL && vb != NULL && strcmp(va, vb) == 0);
        } else if (o->type == OPT_BOOL) {
            same = *(const bool *)fa == *(const bool *)fb;
        } else if (o->type == OPT_U64) {
            same = *(const uint64_t *)fa == *(const uint64_t *)fb;
        } else {
            const struct config_list *la = (const struct config_list *)fa;
            const struct config_list *lb = (const struct config_list *)fb;
            same = la->n == lb->n;
            for (size_t k = 0; same && k < la->n; k++) {
                same = strcmp(la->items[k], lb->items[k]) == 0;
            }
        }
        if (!same) {
            if (n < max) {
                names[n] = o->name;
            }
            n++;
        }
    }
    return n;
}

void node_config_log(const struct node_config *c)
{
    for (size_t i = 0; i < ARRAY_SIZE(opts); i++) {
        const struct opt *o = &opts[i];
        const char *field = (const char *)c + o->offset;
        if (o->type == OPT_STRING) {
            const char *v = *(char *const *)field;
            bool secret = strcmp(o->name, "bootstrap-token") == 0; /* the secret file is a
                                                                      path, not a secret */
            LOG_INFO("config", "%s=%s", o->name, v == NULL ? "(none)" : secret ? "***" : v);
        } else if (o->type == OPT_BOOL) {
            LOG_INFO("config", "%s=%s", o->name, *(const bool *)field ? "true" : "false");
        } else if (o->type == OPT_LIST) {
            const struct config_list *l = (const struct config_list *)field;
            if (l->n == 0) {
                LOG_INFO("config", "%s=(none)", o->name);
            }
            for (size_t k = 0; k < l->n; k++) {
                LOG_INFO("config", "%s=%s", o->name, l->items[k]);
            }
        } else {
            LOG_INFO("config", "%s=%llu", o->name,
                     (unsigned long long)*(const uint64_t *)field);
        }
    }
}
