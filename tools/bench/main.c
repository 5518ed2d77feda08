/* imgarc-bench: load generator for one imgarc node or a cluster.
 *
 * N clients, each on its own keep-alive connection, run up to four phases in this
 * order: push (POST /api/v1/pool of a new pool bill per operation: one replicated
 * metadata command, no file content), upload (POST a file of --size bytes to one of
 * --bills image numbers), read (GET the whole content of a file uploaded earlier),
 * status (GET the status of a bill uploaded to earlier); or, alone, http (one request of
 * --method to a --path template on any server: a peer system measured by the same
 * client, bench/side_by_side.py). Each phase stops after
 * --files operations or --duration seconds, whichever comes first. Per phase it prints
 * operations, errors by HTTP status, throughput, latency percentiles and the node's
 * peak RSS. --server may list several node URLs: client i talks to URL i mod n (the
 * node figures, RSS and CPU, are about the first URL).
 *
 * Threads: main parses, probes the node and prints; during a phase one thread per
 * client runs requests. Each client thread owns its struct client (connection,
 * counters, latency array); the only shared writes are the operation counter and the
 * error-print counter (atomics) and stderr under print_lock.
 *
 * CPU cost is the design constraint: the tool shares two cores with the node, and
 * every cycle it spends is taken from the node it measures. Measured on the 2-core
 * target machine, 16 clients, GET .../status against imgarcd, CPU of the tool:
 *   libcurl, one blocking thread per client (easy handle)  ~55-65 us per request
 *   libcurl, one thread driving a multi handle             ~38 us
 *   plain blocking socket, one thread per client           ~20-30 us (2 syscalls;
 *                                                          the rest is kernel TCP)
 * libcurl's per-transfer work (state machine, connection cache, liveness poll before
 * reuse, header callbacks; 5 syscalls per request) would take more than one core at
 * the 20000 status/s target. So the default "raw" engine is a minimal HTTP/1.1
 * client: one blocking socket per client thread, requests written with one sendmsg
 * (head, 16-byte prefix, shared body: no copy of the body), responses parsed in
 * place, and content bytes past the first RESP_KEEP dropped in the kernel
 * (MSG_TRUNC), so a whole-file read costs the tool a few recv calls and no copy.
 * Blocking threads keep the request path a straight line with no locks: a blocked
 * thread costs nothing, each answer wakes exactly the thread waiting for it, and a
 * latency is measured by the thread that waits, not after time queued behind other
 * clients' callbacks. One epoll loop might save some context switches (not measured;
 * the syscalls per request would be the same plus epoll_wait).
 * The "curl" engine (--engine curl; also the only one for https://) sends the same
 * requests through libcurl easy handles, one per client thread, as real clients
 * would: a cross-check of the raw engine and of the node's HTTP handling. */
#include "tools/bench/bench.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"

/* ---- options ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: imgarc-bench [options]\n"
            "Load generator for one imgarc node or a cluster: concurrent keep-alive clients\n"
            "push pool bills, upload files, read them back, then query bill status; prints\n"
            "throughput, latency and the node's peak RSS per phase.\n\n"
            "  --server URL[,URL...]\n"
            "                    node URL (env IMGARC_SERVER; default " DEFAULT_SERVER ");\n"
            "                    with several, client i uses URL i mod n, and node RSS\n"
            "                    and CPU are about the first\n"
            "  --token T         bearer token (env IMGARC_TOKEN; required)\n"
            "  --tenant ID       act for tenant ID (default: the node's default tenant)\n"
            "  --cacert FILE     https: the CA (PEM) the node's certificate chains to\n"
            "  --clients N       concurrent clients, one connection each (default 16)\n"
            "  --size BYTES      upload size; suffixes K, M, G are powers of 1024\n"
            "                    (default 200K; at least 16)\n"
            "  --files N         operations per phase; the upload phase makes N files\n"
            "                    (default 20000, or unbounded when only --duration is given)\n"
            "  --duration S      seconds per phase; with --files, whichever comes first\n"
            "  --phases LIST     comma-separated subset of push,upload,read,status (default\n"
            "                    upload,read,status); they run in that order. push: one\n"
            "                    POST /api/v1/pool of a new image number BENCH-<run id>-P<n>\n"
            "                    per operation (a replicated command, no content). read and\n"
            "                    status use the files and bills made by the upload phase;\n"
            "                    without it, a 'seed' phase uploads one file per bill first\n"
            "  --bills N         image numbers the uploads are spread over, named\n"
            "                    BENCH-<run id>-<n> (default clients*8)\n"
            "  --pid PID         the node's pid: peak RSS is VmHWM from /proc/PID/status\n"
            "                    (reset at each phase start when allowed), node CPU from\n"
            "                    /proc/PID/stat. Otherwise the gauge " RSS_METRIC "\n"
            "                    from GET /metrics, if the node exports it\n"
            "  --engine E        raw: a minimal HTTP/1.1 client, about half of libcurl's CPU\n"
            "                    per request (default for http://); curl: libcurl easy\n"
            "                    handles, as real clients (default and only one for https://)\n"
            "  --json            also print one JSON line per phase\n"
            "\nAny HTTP server (a peer system measured side by side, same client):\n"
            "  --phases http     alone: one request per operation, --method to --path; no\n"
            "                    imgarc preflight, --token optional (Authorization: Bearer)\n"
            "  --method M        GET (default), PUT or POST\n"
            "  --path T          request target template, e.g. /dav/f{n}; {n} is the\n"
            "                    operation number (modulo --keys when given) in 12 zero-padded\n"
            "                    digits, {r} the run id (8 hex digits)\n"
            "  --body T          PUT/POST: a small body template (same placeholders, at most\n"
            "                    255 bytes, sent as application/json); without it, PUT/POST\n"
            "                    send --size bytes, unique per operation as uploads are\n"
            "  --keys N          {n} counts modulo N (e.g. GET of N files made beforehand)\n"
            "  -h, --help        this text\n\n"
            "ops/s and MiB/s count successful operations only; any non-2xx answer, transport\n"
            "failure or wrong body is an error. Latency percentiles cover every operation.\n"
            "Exit status: 0 when every operation succeeded, 1 when some failed, 2 on usage\n"
            "errors.\n");
}

int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "imgarc-bench: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\ntry 'imgarc-bench --help'\n");
    return -1;
}

/* Parses a decimal number with an optional K, M or G suffix (powers of 1024). */
static int parse_u64(const char *s, bool suffixes, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;
    if (*s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0) {
        return -1;
    }
    if (suffixes && *end != '\0' && end[1] == '\0') {
        switch (*end) {
        case 'K':
        case 'k':
            mult = 1ull << 10;
            end++;
            break;
        case 'M':
        case 'm':
            mult = 1ull << 20;
            end++;
            break;
        case 'G':
        case 'g':
            mult = 1ull << 30;
            end++;
            break;
        default:
            break;
        }
    }
    if (*end != '\0' || v > UINT64_MAX / mult || v * mult < min || v * mult > max) {
        return -1;
    }
    *out = v * mult;
    return 0;
}

static int parse_phases(const char *s, unsigned *mask)
{
    char *copy = xstrdup(s), *save = NULL;
    int rc = 0;
    *mask = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned k;
        for (k = PHASE_UPLOAD; k <= PHASE_HTTP; k++) {
            if (k != PHASE_SEED && strcmp(tok, phase_names[k]) == 0) {
                *mask |= PHASE_BIT(k);
                break;
            }
        }
        if (k > PHASE_HTTP) {
            rc = -1;
        }
    }
    free(copy);
    /* http is about another server: it runs alone */
    if ((*mask & PHASE_BIT(PHASE_HTTP)) != 0 && *mask != PHASE_BIT(PHASE_HTTP)) {
        rc = -1;
    }
    return rc == 0 && *mask != 0 ? 0 : -1;
}

static int parse_option(struct bench_opts *o, int opt, const char *arg, bool *files_given)
{
    uint64_t v;
    char *end;
    switch (opt) {
    case 's':
        o->server = arg;
        return 0;
    case 't':
        o->token = arg;
        return 0;
    case 'C':
        o->cacert = arg;
        return 0;
    case 'T':
        o->tenant = arg;
        return 0;
    case 'c':
        if (parse_u64(arg, false, 1, CLIENTS_MAX, &v) != 0) {
            return usage_error("--clients: want 1-1024, got '%s'", arg);
        }
        o->clients = (unsigned)v;
        return 0;
    case 'z':
        if (parse_u64(arg, true, PREFIX_BYTES, SIZE_MAX_BYTES, &o->size) != 0) {
            return usage_error("--size: want 16 to 2G bytes (suffix K, M, G), got '%s'", arg);
        }
        return 0;
    case 'f':
        if (parse_u64(arg, false, 1, UINT32_MAX, &o->files) != 0) {
            return usage_error("--files: want a positive number, got '%s'", arg);
        }
        *files_given = true;
        return 0;
    case 'd':
        errno = 0;
        o->duration_s = strtod(arg, &end);
        if (errno != 0 || *end != '\0' || !(o->duration_s > 0) || o->duration_s > 86400) {
            return usage_error("--duration: want seconds, more than 0, got '%s'", arg);
        }
        return 0;
    case 'p':
        if (parse_phases(arg, &o->phases) != 0) {
            return usage_error("--phases: want a list of push,upload,read,status, or http "
                               "alone, got '%s'",
                               arg);
        }
        return 0;
    case 'b':
        if (parse_u64(arg, false, 1, 1000000, &v) != 0) {
            return usage_error("--bills: want 1-1000000, got '%s'", arg);
        }
        o->bills = (unsigned)v;
        return 0;
    case 'P':
        if (parse_u64(arg, false, 1, INT_MAX, &v) != 0) {
            return usage_error("--pid: want a process id, got '%s'", arg);
        }
        o->pid = (long)v;
        return 0;
    case 'j':
        o->json = true;
        return 0;
    case 'm':
        if (strcmp(arg, "GET") != 0 && strcmp(arg, "PUT") != 0 && strcmp(arg, "POST") != 0) {
            return usage_error("--method: want GET, PUT or POST, got '%s'", arg);
        }
        o->method = arg;
        return 0;
    case 'u':
    case 'B':
        if (strlen(arg) > TEMPLATE_MAX || strpbrk(arg, "\r\n") != NULL ||
            (opt == 'u' && (arg[0] != '/' || strchr(arg, ' ') != NULL))) {
            return usage_error("--%s: want %s of at most %d bytes, got '%s'",
                               opt == 'u' ? "path" : "body",
                               opt == 'u' ? "a path starting with /, no spaces," : "one line",
                               TEMPLATE_MAX, arg);
        }
        *(opt == 'u' ? &o->path : &o->body_tmpl) = arg;
        return 0;
    case 'k':
        if (parse_u64(arg, false, 1, UINT32_MAX, &o->keys) != 0) {
            return usage_error("--keys: want a positive number, got '%s'", arg);
        }
        return 0;
    case 'e':
        if (strcmp(arg, "raw") == 0 || strcmp(arg, "curl") == 0) {
            o->engine = arg[0] == 'r' ? ENGINE_RAW : ENGINE_CURL;
            return 0;
        }
        return usage_error("--engine: want raw or curl, got '%s'", arg);
    default:
        return usage_error("unknown option");
    }
}

/* Returns 0, 1 for --help, or -1 after printing a usage error. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},   {"token", required_argument, NULL, 't'},
        {"tenant", required_argument, NULL, 'T'},   {"clients", required_argument, NULL, 'c'},
        {"size", required_argument, NULL, 'z'},     {"files", required_argument, NULL, 'f'},
        {"duration", required_argument, NULL, 'd'}, {"phases", required_argument, NULL, 'p'},
        {"bills", required_argument, NULL, 'b'},    {"pid", required_argument, NULL, 'P'},
        {"json", no_argument, NULL, 'j'},           {"help", no_argument, NULL, 'h'},
        {"engine", required_argument, NULL, 'e'},   {"method", required_argument, NULL, 'm'},
        {"path", required_argument, NULL, 'u'},     {"body", required_argument, NULL, 'B'},
        {"keys", required_argument, NULL, 'k'},     {"cacert", required_argument, NULL, 'C'},
        {NULL, 0, NULL, 0}};
    bool files_given = false;
    int opt;
    *o = (struct bench_opts){.server = getenv("IMGARC_SERVER"),
                             .token = getenv("IMGARC_TOKEN"),
                             .clients = DEFAULT_CLIENTS,
                             .size = DEFAULT_SIZE,
                             .files = DEFAULT_FILES,
                             .phases = PHASE_BIT(PHASE_UPLOAD) | PHASE_BIT(PHASE_READ) |
                                       PHASE_BIT(PHASE_STATUS)};
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            return 1;
        }
        if (opt == '?' || opt == ':') {
            return usage_error("bad or incomplete option '%s'", argv[optind - 1]);
        }
        if (parse_option(o, opt, optarg, &files_given) != 0) {
            return -1;
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    if (o->server == NULL || o->server[0] == '\0') {
        o->server = DEFAULT_SERVER;
    }
    if (o->token != NULL && o->token[0] == '\0') {
        o->token = NULL;
    }
    if (o->phases == PHASE_BIT(PHASE_HTTP)) {
        if (o->path == NULL) {
            return usage_error("--phases http needs --path");
        }
        if (o->method == NULL) {
            o->method = "GET";
        }
        if (o->body_tmpl != NULL && strcmp(o->method, "GET") == 0) {
            return usage_error("--body needs --method PUT or POST");
        }
    } else if (o->method != NULL || o->path != NULL || o->body_tmpl != NULL || o->keys != 0) {
        return usage_error("--method, --path, --body and --keys go with --phases http only");
    } else if (o->token == NULL) {
        return usage_error("a token is required: --token T or IMGARC_TOKEN");
    }
    if (o->duration_s > 0 && !files_given) {
        o->files = UINT64_MAX;
    }
    if (o->bills == 0) {
        o->bills = o->clients * 8;
    }
    if (o->pid != 0) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/status", o->pid);
        if (access(path, R_OK) != 0) {
            return usage_error("--pid: cannot read %s", path);
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct bench_opts o;
    struct bench b;
    struct phase_result results[PHASES_MAX];
    size_t n;
    bool failed = false;
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        if (rc > 0) {
            usage(stdout);
        }
        return rc > 0 ? 0 : 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "imgarc-bench: curl_global_init failed\n");
        return 1;
    }
    bench_init(&b, &o);
    if (bench_target_init(&b) != 0) {
        bench_close(&b);
        curl_global_cleanup();
        return 2;
    }
    if (o.phases == PHASE_BIT(PHASE_HTTP) && b.o.engine != ENGINE_RAW) {
        fprintf(stderr, "imgarc-bench: --phases http speaks plain http with the raw engine "
                        "only\n");
        bench_close(&b);
        curl_global_cleanup();
        return 2;
    }
    if (preflight(&b) != 0) {
        bench_close(&b);
        curl_global_cleanup();
        return 1;
    }
    print_plan(&b);
    b.clients = xcalloc(o.clients, sizeof *b.clients);
    for (unsigned i = 0; i < o.clients; i++) {
        client_init(&b.clients[i], &b, i);
    }
    n = run_phases(&b, results);
    print_results(&b, results, n);
    for (size_t i = 0; i < n; i++) {
        failed = failed || error_total(&results[i].t) != 0 || results[i].t.ok == 0;
    }
    for (unsigned i = 0; i < o.clients; i++) {
        client_close(&b.clients[i]);
    }
    free(b.clients);
    bench_close(&b);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
