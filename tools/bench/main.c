/* imgarc-bench: load generator for one imgarc node or a cluster.
 *
 * N clients, each on its own keep-alive connection, run up to four phases in this
 * order: push (POST /api/v1/pool of a new pool bill per operation: one replicated
 * metadata command, no file content), upload (POST a file of --size bytes to one of
 * --bills image numbers), read (GET the whole content of a file uploaded earlier),
 * status (GET the status of a bill uploaded to earlier). Each phase stops after
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
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/clock.h"
#include "base/mem.h"

#define DEFAULT_SERVER     "http://127.0.0.1:8080"
#define DEFAULT_CLIENTS    16
#define DEFAULT_SIZE       (200u * 1024u)
#define DEFAULT_FILES      20000
#define CLIENTS_MAX        1024
#define SIZE_MAX_BYTES     (2ull << 30) /* the node's default --body-max */
#define PREFIX_BYTES       16           /* run id and operation number: makes each file unique */
#define RESP_KEEP          4096         /* response bytes kept for parsing and error reports */
#define ERROR_BODIES_SHOWN 5            /* error responses printed per phase */
#define FILE_ID_MAX        64
#define RECV_BUFFER_BYTES  (512L * 1024) /* CURL_MAX_READ_SIZE of libcurl 7.88 */
#define SEND_BUFFER_BYTES  (512L * 1024)
#define RAW_BUFFER_BYTES   (256u * 1024) /* raw engine's read buffer per client */
#define RAW_LINE_MAX       16384         /* longest status or header line accepted */
#define IO_TIMEOUT_S       120L          /* a request stuck this long is a transport error */
#define RSS_METRIC         "imgarc_process_peak_rss_bytes"

/* Error slots: an HTTP status (100-599) counts in its own slot; the low slots hold
 * what is not an HTTP status. */
#define ERR_SLOTS      600
#define ERR_TRANSPORT  0 /* no HTTP answer: refused, reset, timeout, malformed */
#define ERR_BAD_BODY   1 /* 2xx, but the body is wrong: short read, no file_id */
#define ERR_STATUS_ODD 2 /* a status outside 100-599 */

enum phase_kind { PHASE_UPLOAD, PHASE_READ, PHASE_STATUS, PHASE_SEED, PHASE_PUSH };

#define PHASE_BIT(k) (1u << (k))
#define PHASES_MAX   5 /* results of one run: seed or upload, push, read, status */
#define SERVERS_MAX  64
#define PUSH_BODY_MAX 512 /* the JSON body of one pool push */

static const char *const phase_names[] = {"upload", "read", "status", "seed", "push"};

static bool phase_is_upload(enum phase_kind k)
{
    return k == PHASE_UPLOAD || k == PHASE_SEED;
}

enum rss_source { RSS_UNKNOWN, RSS_VMHWM, RSS_METRICS };

enum engine { ENGINE_AUTO, ENGINE_RAW, ENGINE_CURL };

struct bench_opts {
    const char *server;
    const char *token;
    const char *tenant;
    unsigned clients;
    uint64_t size;
    uint64_t files;    /* operations per phase; UINT64_MAX: bounded by duration only */
    double duration_s; /* 0: bounded by files only */
    unsigned phases;   /* PHASE_BIT mask */
    unsigned bills;
    long pid; /* 0: not given */
    enum engine engine;
    bool json;
};

/* A file made by the upload phase; read and status pick from these. */
struct bench_file {
    uint64_t op;
    char id[FILE_ID_MAX];
};

struct tally {
    uint64_t ops;
    uint64_t ok;
    uint64_t bytes;    /* body bytes of successful operations (sent or received) */
    uint64_t connects; /* new TCP connections: more than one per client means no reuse */
    uint64_t errors[ERR_SLOTS];
};

/* One node URL of --server; client i uses targets[i % ntargets]. */
struct target {
    char *base;        /* the URL without a trailing slash */
    size_t origin_len; /* of "http://host:port" in base; the rest prefixes every path */
    char *host_hdr;    /* raw engine: Host header value */
    struct sockaddr_storage addr;
    socklen_t addrlen;
};

struct bench;

struct client {
    struct bench *b;
    const struct target *tgt;
    CURL *curl;     /* curl engine */
    int fd;         /* raw engine: the connection, or -1 */
    bool got_bytes; /* raw engine: some of the answer arrived */
    char *rbuf;
    size_t rpos;
    size_t rlen;
    char *head;
    size_t head_size;
    pthread_t thread;
    struct tally t;
    uint64_t *lat_ns; /* preallocated for the phase; grows only if a client outruns */
    size_t lat_len;
    size_t lat_cap;
    struct bench_file *files;
    size_t files_len;
    size_t files_cap;
    uint64_t send_off; /* curl engine: upload bytes handed to curl */
    unsigned char prefix[PREFIX_BYTES];
    char push_body[PUSH_BODY_MAX]; /* push phase: the JSON body of the operation */
    size_t push_len;
    char *url;
    size_t url_size;
    char errbuf[CURL_ERROR_SIZE];
    size_t resp_len;
    uint64_t resp_bytes;
    char resp[RESP_KEEP];
};

struct bench {
    struct bench_opts o;
    char run_id[9];
    struct target *targets; /* the URLs of --server, in order */
    unsigned ntargets;
    char *base;     /* the first URL: preflight, /metrics, and what --pid is about */
    char *servers;  /* every URL, comma-separated, for the output */
    char *auth_hdr; /* "Authorization: Bearer T" */
    char *tenant_q; /* "&tenant=<escaped>", or "" */
    unsigned char *body;
    struct curl_slist *get_headers;
    struct curl_slist *post_headers;
    struct curl_slist *json_headers; /* curl engine, push phase */
    struct client *clients;
    struct bench_file *files;
    size_t nfiles;
    uint32_t *live_bills; /* bills with at least one uploaded file */
    size_t nlive;
    enum rss_source rss_source;
    /* Phase parameters: written by main before the start barrier, read-only after. */
    enum phase_kind kind;
    uint64_t op_limit;
    uint64_t deadline_ns;
    atomic_uint_fast64_t next_op;
    atomic_uint errors_shown;
    pthread_mutex_t print_lock;
    pthread_barrier_t start;
};

struct rss_probe {
    enum rss_source source;
    bool reset; /* VmHWM was reset at the phase start: the peak is the phase's own */
    uint64_t before;
    uint64_t after;
};

struct phase_result {
    enum phase_kind kind;
    struct tally t;
    double seconds;
    uint64_t p50_ns, p90_ns, p99_ns, max_ns;
    struct rss_probe rss;
    double bench_cpu_s;
    double node_cpu_s; /* negative: unknown */
};

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
            "  -h, --help        this text\n\n"
            "ops/s and MiB/s count successful operations only; any non-2xx answer, transport\n"
            "failure or wrong body is an error. Latency percentiles cover every operation.\n"
            "Exit status: 0 when every operation succeeded, 1 when some failed, 2 on usage\n"
            "errors.\n");
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
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
        for (k = PHASE_UPLOAD; k <= PHASE_PUSH; k++) {
            if (k != PHASE_SEED && strcmp(tok, phase_names[k]) == 0) {
                *mask |= PHASE_BIT(k);
                break;
            }
        }
        if (k > PHASE_PUSH) {
            rc = -1;
        }
    }
    free(copy);
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
            return usage_error("--phases: want a list of push,upload,read,status, got '%s'",
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
        {"engine", required_argument, NULL, 'e'},   {NULL, 0, NULL, 0}};
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
    if (o->token == NULL || o->token[0] == '\0') {
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

/* ---- the node's process: /proc and /metrics ---- */

/* Reads "KEY:   123 kB" from /proc/PID/status, in bytes. */
static int proc_status_bytes(long pid, const char *key, uint64_t *out)
{
    char path[64], line[256];
    size_t klen = strlen(key);
    int rc = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long long kb;
        if (strncmp(line, key, klen) == 0 && line[klen] == ':' &&
            sscanf(line + klen + 1, "%llu", &kb) == 1) {
            *out = (uint64_t)kb * 1024;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

/* Resets VmHWM to the current RSS (Linux 4.0+, "5" to clear_refs); needs the right to
 * write the node's clear_refs, so it may fail, and then the peak is since the start. */
static bool proc_reset_peak(long pid)
{
    char path[64];
    FILE *f;
    bool ok;
    snprintf(path, sizeof path, "/proc/%ld/clear_refs", pid);
    f = fopen(path, "w");
    if (f == NULL) {
        return false;
    }
    ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok;
}

/* User plus system CPU seconds of the process, from /proc/PID/stat. */
static double proc_cpu_s(long pid)
{
    char path[64], buf[1024];
    unsigned long utime, stime;
    size_t n;
    const char *p;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL ||
        sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
        return -1;
    }
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct grow_buf {
    char *data;
    size_t len;
    size_t cap;
};

static size_t grow_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    struct grow_buf *g = userdata;
    size_t len = size * nmemb;
    if (g->len + len + 1 > (4u << 20)) {
        return 0; /* more than any answer we ask for here: give up */
    }
    if (g->len + len + 1 > g->cap) {
        g->cap = (g->len + len + 1) * 2;
        g->data = xrealloc(g->data, g->cap);
    }
    memcpy(g->data + g->len, data, len);
    g->len += len;
    g->data[g->len] = '\0';
    return len;
}

/* One GET from main to the node at @base, on a fresh handle; *body is NUL-terminated,
 * the caller frees it. Returns the HTTP status, or 0 on a transport error (the message
 * is in *body). */
static long http_get(struct bench *b, const char *base, const char *path, bool auth, char **body)
{
    struct grow_buf g = {.data = xcalloc(1, 1), .cap = 1};
    char *url = xasprintf("%s%s", base, path);
    char errbuf[CURL_ERROR_SIZE] = "";
    long status = 0;
    CURL *curl = curl_easy_init();
    CURLcode rc;
    ASSERT(curl != NULL);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, grow_write_cb);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &g);
    if (auth) {
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, b->get_headers);
    }
    rc = curl_easy_perform(curl);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    } else {
        free(g.data);
        g.data = xstrdup(errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc));
    }
    curl_easy_cleanup(curl);
    free(url);
    *body = g.data;
    return status;
}

/* The gauge RSS_METRIC from GET /metrics, in bytes. */
static int metrics_peak_rss(struct bench *b, uint64_t *out)
{
    char *body, *p;
    int rc = -1;
    if (http_get(b, b->base, "/metrics", false, &body) == 200) {
        for (p = body; p != NULL; p = strchr(p, '\n')) {
            double v;
            p += *p == '\n';
            if (strncmp(p, RSS_METRIC " ", sizeof RSS_METRIC) == 0 &&
                sscanf(p + sizeof RSS_METRIC, "%lf", &v) == 1 && v >= 0) {
                *out = (uint64_t)v;
                rc = 0;
                break;
            }
        }
    }
    free(body);
    return rc;
}

static void rss_begin(struct bench *b, struct rss_probe *r)
{
    *r = (struct rss_probe){.source = b->rss_source};
    if (r->source == RSS_VMHWM) {
        r->reset = proc_reset_peak(b->o.pid);
        if (proc_status_bytes(b->o.pid, "VmHWM", &r->before) != 0) {
            r->source = RSS_UNKNOWN;
        }
    } else if (r->source == RSS_METRICS && metrics_peak_rss(b, &r->before) != 0) {
        r->source = RSS_UNKNOWN;
    }
}

static void rss_end(struct bench *b, struct rss_probe *r)
{
    int rc = -1;
    if (r->source == RSS_VMHWM) {
        rc = proc_status_bytes(b->o.pid, "VmHWM", &r->after);
    } else if (r->source == RSS_METRICS) {
        rc = metrics_peak_rss(b, &r->after);
    }
    if (rc != 0) {
        r->source = RSS_UNKNOWN;
    }
}

/* ---- setup ---- */

static void make_run_id(char out[9])
{
    uint32_t r;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        r = (uint32_t)(clock_wall_ms() ^ ((uint64_t)getpid() << 16));
    }
    snprintf(out, 9, "%08" PRIx32, r);
}

/* Incompressible content (xorshift64*), shared read-only by every client; each
 * upload replaces its first PREFIX_BYTES on the way out, so no two files are equal. */
static unsigned char *make_body(uint64_t size, uint64_t seed)
{
    unsigned char *body = xmalloc(size);
    uint64_t x = seed | 1;
    for (uint64_t i = 0; i < size; i += 8) {
        uint64_t v;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v = x * 0x2545F4914F6CDD1Dull;
        memcpy(body + i, &v, size - i < 8 ? size - i : 8);
    }
    return body;
}

/* Splits --server at commas into targets (URLs without a trailing slash); returns 0,
 * or -1 after printing why not. */
static int bench_split_servers(struct bench *b, const char *list)
{
    const char *p = list;
    size_t total = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        char *url;
        while (len > 0 && (p[len - 1] == '/' || p[len - 1] == ' ')) {
            len--;
        }
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        if (len == 0) {
            return usage_error("--server: an empty URL in '%s'", list);
        }
        if (b->ntargets == SERVERS_MAX) {
            return usage_error("--server: at most %d URLs", SERVERS_MAX);
        }
        url = xstrndup(p, len);
        b->targets = xrealloc(b->targets, (b->ntargets + 1) * sizeof *b->targets);
        b->targets[b->ntargets++] = (struct target){.base = url};
        total += len + 1;
        p += strcspn(p, ",");
        if (*p == '\0') {
            break;
        }
        p++;
    }
    b->servers = xmalloc(total);
    b->servers[0] = '\0';
    for (unsigned i = 0; i < b->ntargets; i++) {
        if (i > 0) {
            strcat(b->servers, ",");
        }
        strcat(b->servers, b->targets[i].base);
    }
    b->base = xstrdup(b->targets[0].base);
    return 0;
}

static void bench_init(struct bench *b, const struct bench_opts *o)
{
    *b = (struct bench){.o = *o};
    make_run_id(b->run_id);
    b->tenant_q = xstrdup("");
    if (o->tenant != NULL) {
        char *esc = curl_easy_escape(NULL, o->tenant, 0);
        ASSERT(esc != NULL);
        free(b->tenant_q);
        b->tenant_q = xasprintf("&tenant=%s", esc);
        curl_free(esc);
    }
    b->body = make_body(o->size, strtoull(b->run_id, NULL, 16) * 0x9E3779B97F4A7C15ull);
    b->auth_hdr = xasprintf("Authorization: Bearer %s", o->token);
    b->get_headers = curl_slist_append(NULL, b->auth_hdr);
    b->post_headers = curl_slist_append(NULL, b->auth_hdr);
    /* No "Expect: 100-continue": it costs a round trip per upload. */
    b->post_headers = curl_slist_append(b->post_headers, "Expect:");
    b->post_headers = curl_slist_append(b->post_headers, "Content-Type: application/octet-stream");
    b->json_headers = curl_slist_append(NULL, b->auth_hdr);
    b->json_headers = curl_slist_append(b->json_headers, "Expect:");
    b->json_headers = curl_slist_append(b->json_headers, "Content-Type: application/json");
    ASSERT(b->get_headers != NULL && b->post_headers != NULL && b->json_headers != NULL);
    pthread_mutex_init(&b->print_lock, NULL);
}

/* Resolves the raw engine's address of @t from the parsed URL @u. */
static int resolve_target(struct target *t, CURLU *u)
{
    char *host = NULL, *port = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    size_t hlen;
    int rc = -1;
    if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
        fprintf(stderr, "imgarc-bench: --server %s: no host or port\n", t->base);
        goto out;
    }
    t->host_hdr = xasprintf("%s:%s", host, port);
    hlen = strlen(host);
    if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']') { /* an IPv6 literal */
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0 || ai->ai_addrlen > sizeof t->addr) {
        fprintf(stderr, "imgarc-bench: --server %s: %s\n", t->base,
                rc != 0 ? gai_strerror(rc) : "address too long");
        rc = -1;
        goto out;
    }
    memcpy(&t->addr, ai->ai_addr, ai->ai_addrlen);
    t->addrlen = ai->ai_addrlen;
out:
    if (ai != NULL) {
        freeaddrinfo(ai);
    }
    curl_free(host);
    curl_free(port);
    return rc;
}

/* Parses one URL of --server; the first one picks the engine. Returns 0, or -1 after
 * printing why not. */
static int target_init(struct bench *b, struct target *t)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    const char *rest;
    int rc = -1;
    ASSERT(u != NULL);
    if (curl_url_set(u, CURLUPART_URL, t->base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) {
        fprintf(stderr, "imgarc-bench: --server %s: not a URL\n", t->base);
        goto out;
    }
    if (b->o.engine == ENGINE_AUTO) {
        b->o.engine = strcmp(scheme, "http") == 0 ? ENGINE_RAW : ENGINE_CURL;
    }
    if (b->o.engine == ENGINE_RAW && strcmp(scheme, "http") != 0) {
        fprintf(stderr, "imgarc-bench: --engine raw speaks plain http only (%s); use --engine "
                        "curl\n", t->base);
        goto out;
    }
    rest = strstr(t->base, "://");
    rest = rest != NULL ? rest + 3 : t->base;
    t->origin_len = (size_t)(rest - t->base) + strcspn(rest, "/?#");
    rc = b->o.engine == ENGINE_RAW ? resolve_target(t, u) : 0;
out:
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

/* Splits and parses --server and picks the engine; returns 0, or -1 after printing
 * why not. */
static int bench_target_init(struct bench *b)
{
    if (bench_split_servers(b, b->o.server) != 0) {
        return -1;
    }
    for (unsigned i = 0; i < b->ntargets; i++) {
        if (target_init(b, &b->targets[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static void bench_close(struct bench *b)
{
    pthread_mutex_destroy(&b->print_lock);
    curl_slist_free_all(b->get_headers);
    curl_slist_free_all(b->post_headers);
    curl_slist_free_all(b->json_headers);
    for (unsigned i = 0; i < b->ntargets; i++) {
        free(b->targets[i].base);
        free(b->targets[i].host_hdr);
    }
    free(b->targets);
    free(b->servers);
    free(b->auth_hdr);
    free(b->body);
    free(b->base);
    free(b->tenant_q);
    free(b->files);
    free(b->live_bills);
}

static const char *json_str_or(const json_t *s)
{
    return json_is_string(s) ? json_string_value(s) : "?";
}

/* Checks that the node at @base answers and takes the token, and prints what it is.
 * Returns 0, or -1 after printing why not. */
static int preflight_node(struct bench *b, const char *base)
{
    char *body;
    long status = http_get(b, base, "/api/v1/version", false, &body);
    json_t *v = status == 200 ? json_loads(body, 0, NULL) : NULL;
    char *path;
    if (status == 0) {
        fprintf(stderr, "imgarc-bench: cannot reach %s: %s\n", base, body);
        free(body);
        return -1;
    }
    printf("imgarc-bench: node %s, version %s (commit %s)\n", base,
           json_str_or(json_object_get(v, "version")),
           json_str_or(json_object_get(v, "git_commit")));
    json_decref(v);
    free(body);
    path = xasprintf("/api/v1/bills?limit=1%s", b->tenant_q);
    status = http_get(b, base, path, true, &body);
    free(path);
    free(body);
    if (status == 401 || status == 403) {
        fprintf(stderr, "imgarc-bench: %s refuses the token (HTTP %ld)\n",
                b->ntargets > 1 ? base : "the node", status);
        return -1;
    }
    return 0;
}

/* Checks every node of --server, and picks the source of the peak RSS (the first
 * node's). Returns 0, or -1 after printing why not. */
static int preflight(struct bench *b)
{
    uint64_t rss;
    for (unsigned i = 0; i < b->ntargets; i++) {
        if (preflight_node(b, b->targets[i].base) != 0) {
            return -1;
        }
    }
    if (b->o.pid != 0) {
        b->rss_source = RSS_VMHWM;
    } else if (metrics_peak_rss(b, &rss) == 0) {
        b->rss_source = RSS_METRICS;
    }
    return 0;
}

/* ---- one client ---- */

static void keep_resp(struct client *c, const char *data, size_t len)
{
    if (c->resp_len < sizeof c->resp - 1) {
        size_t keep = sizeof c->resp - 1 - c->resp_len;
        keep = len < keep ? len : keep;
        memcpy(c->resp + c->resp_len, data, keep);
        c->resp_len += keep;
    }
    c->resp_bytes += len;
}

static size_t client_write_cb(char *data, size_t size, size_t nmemb, void *userdata)
{
    keep_resp(userdata, data, size * nmemb);
    return size * nmemb;
}

/* The upload body: the client's prefix, then the shared body from PREFIX_BYTES on. */
static size_t client_read_cb(char *buf, size_t size, size_t nmemb, void *userdata)
{
    struct client *c = userdata;
    uint64_t total = c->b->o.size;
    size_t room = size * nmemb, done = 0;
    while (done < room && c->send_off < total) {
        bool in_prefix = c->send_off < PREFIX_BYTES;
        const unsigned char *src = in_prefix ? c->prefix : c->b->body;
        uint64_t avail = (in_prefix ? PREFIX_BYTES : total) - c->send_off;
        size_t n = avail < room - done ? (size_t)avail : room - done;
        memcpy(buf + done, src + c->send_off, n);
        done += n;
        c->send_off += n;
    }
    return done;
}

/* curl rewinds when it resends on a new connection (the kept-alive one was closed). */
static int client_seek_cb(void *userdata, curl_off_t offset, int origin)
{
    struct client *c = userdata;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > c->b->o.size) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    c->send_off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* Client @i talks to URL i mod n of --server. */
static void client_init(struct client *c, struct bench *b, unsigned i)
{
    *c = (struct client){.b = b, .fd = -1, .tgt = &b->targets[i % b->ntargets]};
    c->url_size = strlen(c->tgt->base) + strlen(b->tenant_q) + 256;
    c->url = xmalloc(c->url_size);
    if (b->o.engine == ENGINE_RAW) {
        c->rbuf = xmalloc(RAW_BUFFER_BYTES);
        /* the head, and for a push the JSON body after it */
        c->head_size = c->url_size + strlen(c->tgt->host_hdr) + strlen(b->auth_hdr) + 256 +
                       PUSH_BODY_MAX;
        c->head = xmalloc(c->head_size);
        return;
    }
    c->curl = curl_easy_init();
    ASSERT(c->curl != NULL);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->curl, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, client_write_cb);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_READFUNCTION, client_read_cb);
    curl_easy_setopt(c->curl, CURLOPT_READDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_SEEKFUNCTION, client_seek_cb);
    curl_easy_setopt(c->curl, CURLOPT_SEEKDATA, c);
    /* Large buffers: fewer recv/send calls and callbacks per 200 KB body. */
    curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
    curl_easy_setopt(c->curl, CURLOPT_UPLOAD_BUFFERSIZE, SEND_BUFFER_BYTES);
    curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, IO_TIMEOUT_S);
}

static void raw_close(struct client *c);

static void client_close(struct client *c)
{
    raw_close(c);
    curl_easy_cleanup(c->curl);
    free(c->rbuf);
    free(c->head);
    free(c->url);
    free(c->lat_ns);
    free(c->files);
}

/* Resets the counters and sets what stays the same for every request of the phase.
 * @expect_ops sizes the latency array so that the request path does not allocate. */
static void client_phase_begin(struct client *c, enum phase_kind kind, size_t expect_ops)
{
    memset(&c->t, 0, sizeof c->t);
    c->lat_len = 0;
    if (c->lat_cap < expect_ops) {
        c->lat_cap = expect_ops;
        c->lat_ns = xrealloc(c->lat_ns, c->lat_cap * sizeof *c->lat_ns);
    }
    c->files_len = 0;
    if (phase_is_upload(kind)) {
        if (c->files_cap < expect_ops) {
            c->files_cap = expect_ops;
            c->files = xrealloc(c->files, c->files_cap * sizeof *c->files);
        }
    }
    if (c->curl == NULL) {
        return;
    }
    if (phase_is_upload(kind)) {
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->b->o.size);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->post_headers);
    } else if (kind == PHASE_PUSH) {
        /* the body is c->push_body, set per operation (curl_perform) */
        curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, c->push_body);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->json_headers);
    } else {
        curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->b->get_headers);
    }
}

/* Prints a failed operation (the first few of each phase only) and counts it. */
static void client_error(struct client *c, unsigned slot, long status, const char *detail)
{
    struct bench *b = c->b;
    c->t.errors[slot]++;
    if (atomic_fetch_add(&b->errors_shown, 1) >= ERROR_BODIES_SHOWN) {
        return;
    }
    pthread_mutex_lock(&b->print_lock);
    fprintf(stderr, "imgarc-bench: %s error: %s", phase_names[b->kind],
            c->url + strlen(c->tgt->base));
    if (b->kind == PHASE_PUSH) {
        fprintf(stderr, " %.*s", (int)c->push_len, c->push_body);
    }
    if (b->ntargets > 1) {
        fprintf(stderr, " (node %s)", c->tgt->base);
    }
    if (status != 0) {
        fprintf(stderr, " -> HTTP %ld", status);
    }
    fprintf(stderr, ": ");
    for (const char *p = detail; *p != '\0' && p - detail < 400; p++) {
        fputc(*p >= 0x20 && *p < 0x7f ? *p : '.', stderr);
    }
    fputc('\n', stderr);
    pthread_mutex_unlock(&b->print_lock);
}

/* Builds the URL (and for a push the JSON body) of operation @n of the phase. */
static void client_prepare(struct client *c, uint64_t n)
{
    struct bench *b = c->b;
    const char *base = c->tgt->base;
    const char *query = b->tenant_q[0] != '\0' ? "?" : ""; /* "?tenant=..." on GETs */
    int len;
    c->resp_len = 0;
    c->resp_bytes = 0;
    c->errbuf[0] = '\0';
    switch (b->kind) {
    case PHASE_UPLOAD:
    case PHASE_SEED:
        memcpy(c->prefix, b->run_id, 8);
        memcpy(c->prefix + 8, &n, 8);
        c->send_off = 0;
        snprintf(c->url, c->url_size,
                 "%s/api/v1/bills/BENCH-%s-%" PRIu64 "/files?name=bench-%" PRIu64 ".bin%s", base,
                 b->run_id, n % b->o.bills, n, b->tenant_q);
        break;
    case PHASE_READ:
        snprintf(c->url, c->url_size, "%s/api/v1/files/%s/content%s%s", base,
                 b->files[n % b->nfiles].id, query, b->tenant_q + (query[0] != '\0'));
        break;
    case PHASE_STATUS:
        snprintf(c->url, c->url_size, "%s/api/v1/bills/BENCH-%s-%" PRIu32 "/status%s%s", base,
                 b->run_id, b->live_bills[n % b->nlive], query, b->tenant_q + (query[0] != '\0'));
        break;
    case PHASE_PUSH:
        /* A new image number per operation: each push creates a pool bill (201). The
         * fields are what an ERP sends on save: bill number, submitter, amount. */
        snprintf(c->url, c->url_size, "%s/api/v1/pool%s%s", base, query,
                 b->tenant_q + (query[0] != '\0'));
        len = snprintf(c->push_body, sizeof c->push_body,
                       "{\"image_no\":\"BENCH-%s-P%" PRIu64 "\",\"bill_no\":\"ER-%s-%" PRIu64
                       "\",\"submitter\":\"bench\",\"amount\":\"%" PRIu64 ".%02u\","
                       "\"currency\":\"CNY\"}",
                       b->run_id, n, b->run_id, n, 10 + n % 100000, (unsigned)(n % 100));
        ASSERT(len > 0 && (size_t)len < sizeof c->push_body);
        c->push_len = (size_t)len;
        break;
    }
}

/* Keeps the file id of a successful upload; returns false when the answer has none. */
static bool client_keep_file(struct client *c, uint64_t n)
{
    json_t *root = json_loadb(c->resp, c->resp_len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, "file_id"));
    bool ok = id != NULL && strlen(id) < FILE_ID_MAX;
    if (ok) {
        if (c->files_len == c->files_cap) {
            c->files_cap = c->files_cap * 2 + 16;
            c->files = xrealloc(c->files, c->files_cap * sizeof *c->files);
        }
        c->files[c->files_len].op = n;
        snprintf(c->files[c->files_len].id, FILE_ID_MAX, "%s", id);
        c->files_len++;
    }
    json_decref(root);
    return ok;
}

/* ---- raw engine: HTTP/1.1 on a blocking socket ---- */

static void raw_close(struct client *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    c->fd = -1;
    c->rpos = 0;
    c->rlen = 0;
}

/* Sets the error message, drops the connection and returns -1. @err 0: closed. */
static int raw_fail(struct client *c, const char *what, int err)
{
    snprintf(c->errbuf, sizeof c->errbuf, "%s: %s", what,
             err != 0 ? strerror(err) : "connection closed by the node");
    raw_close(c);
    return -1;
}

static int raw_connect(struct client *c)
{
    const struct target *t = c->tgt;
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int one = 1;
    c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        return raw_fail(c, "socket", errno);
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) != 0) {
        return raw_fail(c, "connect", errno);
    }
    c->t.connects++;
    return 0;
}

/* Writes the request head and, for uploads, the prefix and the shared body. */
static int raw_send(struct client *c, size_t head_len, bool upload)
{
    struct iovec iov[3] = {{c->head, head_len},
                           {c->prefix, PREFIX_BYTES},
                           {c->b->body + PREFIX_BYTES, c->b->o.size - PREFIX_BYTES}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = upload ? 3 : 1};
    while (msg.msg_iovlen > 0) {
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return raw_fail(c, "send", errno);
        }
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov->iov_len) {
            n -= (ssize_t)msg.msg_iov->iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
            msg.msg_iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* Reads more of the answer into rbuf, keeping the unparsed bytes. */
static int raw_fill(struct client *c)
{
    ssize_t n;
    if (c->rpos == c->rlen) {
        c->rpos = c->rlen = 0;
    } else if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    do {
        n = recv(c->fd, c->rbuf + c->rlen, RAW_BUFFER_BYTES - c->rlen, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return raw_fail(c, "recv", n == 0 ? 0 : errno);
    }
    c->rlen += (size_t)n;
    c->got_bytes = true;
    return 0;
}

/* Reads one CRLF-terminated line; *line is NUL-terminated in rbuf, valid until the
 * next read. */
static int raw_line(struct client *c, char **line)
{
    for (;;) {
        char *start = c->rbuf + c->rpos;
        char *end = memmem(start, c->rlen - c->rpos, "\r\n", 2);
        if (end != NULL) {
            *end = '\0';
            *line = start;
            c->rpos = (size_t)(end + 2 - c->rbuf);
            return 0;
        }
        if (c->rlen - c->rpos >= RAW_LINE_MAX) {
            snprintf(c->errbuf, sizeof c->errbuf, "answer line over %d bytes", RAW_LINE_MAX);
            raw_close(c);
            return -1;
        }
        if (raw_fill(c) != 0) {
            return -1;
        }
    }
}

/* Consumes @n body bytes, or with @to_eof all up to the end of the connection: the
 * buffered ones, then from the socket; past the kept bytes, MSG_TRUNC drops them in
 * the kernel without a copy. */
static int raw_body(struct client *c, uint64_t n, bool to_eof)
{
    while (to_eof || n > 0) {
        size_t avail = c->rlen - c->rpos, want = RAW_BUFFER_BYTES;
        ssize_t got;
        if (avail > 0) {
            size_t k = to_eof || avail < n ? avail : (size_t)n;
            keep_resp(c, c->rbuf + c->rpos, k);
            c->rpos += k;
            n -= to_eof ? 0 : k;
            continue;
        }
        want = to_eof || n > want ? want : (size_t)n;
        c->rpos = c->rlen = 0;
        if (c->resp_len < sizeof c->resp - 1) {
            got = recv(c->fd, c->rbuf, want, 0);
            c->rlen = got > 0 ? (size_t)got : 0;
        } else {
            got = recv(c->fd, c->rbuf, want, MSG_TRUNC);
            c->resp_bytes += got > 0 ? (uint64_t)got : 0;
            n -= to_eof || got <= 0 ? 0 : (uint64_t)got;
        }
        if (got == 0 && to_eof) {
            break;
        }
        if (got == 0 || (got < 0 && errno != EINTR)) {
            return raw_fail(c, "recv body", got == 0 ? 0 : errno);
        }
    }
    return 0;
}

static int raw_bad(struct client *c, const char *what)
{
    snprintf(c->errbuf, sizeof c->errbuf, "malformed answer: %s", what);
    raw_close(c);
    return -1;
}

static int raw_chunked(struct client *c)
{
    char *line, *end;
    for (;;) {
        unsigned long long size;
        if (raw_line(c, &line) != 0) {
            return -1;
        }
        size = strtoull(line, &end, 16);
        if (end == line) {
            return raw_bad(c, "chunk size");
        }
        if (size == 0) {
            break;
        }
        if (raw_body(c, size, false) != 0 || raw_line(c, &line) != 0) {
            return -1;
        }
        if (*line != '\0') {
            return raw_bad(c, "chunk end");
        }
    }
    do { /* trailers, up to the empty line */
        if (raw_line(c, &line) != 0) {
            return -1;
        }
    } while (*line != '\0');
    return 0;
}

/* Reads the status line, the headers and the body of one answer. */
static int raw_response(struct client *c, long *status)
{
    char *line;
    int minor;
    int64_t length = -1;
    bool chunked = false, close_after;
    if (raw_line(c, &line) != 0) {
        return -1;
    }
    if (sscanf(line, "HTTP/1.%d %ld", &minor, status) != 2) {
        return raw_bad(c, "status line");
    }
    close_after = minor == 0;
    for (;;) {
        if (raw_line(c, &line) != 0) {
            return -1;
        }
        if (*line == '\0') {
            break;
        }
        if (strncasecmp(line, "content-length:", 15) == 0) {
            length = strtoll(line + 15, NULL, 10);
        } else if (strncasecmp(line, "transfer-encoding:", 18) == 0) {
            chunked = strcasestr(line + 18, "chunked") != NULL;
        } else if (strncasecmp(line, "connection:", 11) == 0) {
            close_after = strcasestr(line + 11, "close") != NULL;
        }
    }
    if (*status == 204 || *status == 304) {
        length = 0;
    }
    if (chunked ? raw_chunked(c) != 0 : raw_body(c, (uint64_t)length, length < 0) != 0) {
        return -1;
    }
    if (close_after || (!chunked && length < 0)) {
        raw_close(c);
    }
    return 0;
}

/* One request on the client's connection; a kept-alive connection the node closed
 * before answering (idle timeout) is replaced once. Returns 0 with the HTTP status,
 * or -1 with errbuf set. */
static int raw_perform(struct client *c, long *status)
{
    struct bench *b = c->b;
    bool upload = phase_is_upload(b->kind);
    const char *target = c->url + c->tgt->origin_len;
    const char *host = c->tgt->host_hdr;
    int n;
    if (upload) {
        n = snprintf(c->head, c->head_size,
                     "POST %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     "Content-Length: %" PRIu64 "\r\n\r\n",
                     target, host, b->auth_hdr, b->o.size);
    } else if (b->kind == PHASE_PUSH) {
        /* head and the small JSON body in one buffer: one sendmsg of one iovec */
        n = snprintf(c->head, c->head_size,
                     "POST %s HTTP/1.1\r\nHost: %s\r\n%s\r\n"
                     "Content-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%.*s",
                     target, host, b->auth_hdr, c->push_len, (int)c->push_len, c->push_body);
    } else {
        n = snprintf(c->head, c->head_size, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n\r\n", target,
                     host, b->auth_hdr);
    }
    ASSERT(n > 0 && (size_t)n < c->head_size);
    for (int attempt = 0;; attempt++) {
        bool reused = c->fd >= 0;
        c->got_bytes = false;
        c->resp_len = 0;
        c->resp_bytes = 0;
        if (!reused && raw_connect(c) != 0) {
            return -1;
        }
        if (raw_send(c, (size_t)n, upload) == 0 && raw_response(c, status) == 0) {
            return 0;
        }
        if (!reused || c->got_bytes || attempt > 0) {
            return -1;
        }
    }
}

/* ---- the request path ---- */

static int curl_perform(struct client *c, long *status)
{
    long connects = 0;
    CURLcode rc;
    curl_easy_setopt(c->curl, CURLOPT_URL, c->url);
    if (c->b->kind == PHASE_PUSH) {
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)c->push_len);
    }
    c->send_off = 0;
    rc = curl_easy_perform(c->curl);
    curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
    c->t.connects += (uint64_t)connects;
    if (rc != CURLE_OK) {
        if (c->errbuf[0] == '\0') {
            snprintf(c->errbuf, sizeof c->errbuf, "%s", curl_easy_strerror(rc));
        }
        return -1;
    }
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, status);
    return 0;
}

static void client_run_op(struct client *c, uint64_t n)
{
    struct bench *b = c->b;
    long status = 0;
    uint64_t t0, dt;
    int rc;
    client_prepare(c, n);
    t0 = clock_mono_ns();
    rc = c->curl != NULL ? curl_perform(c, &status) : raw_perform(c, &status);
    dt = clock_mono_ns() - t0;
    if (c->lat_len == c->lat_cap) {
        c->lat_cap = c->lat_cap * 2 + 16;
        c->lat_ns = xrealloc(c->lat_ns, c->lat_cap * sizeof *c->lat_ns);
    }
    c->lat_ns[c->lat_len++] = dt;
    c->t.ops++;
    c->resp[c->resp_len] = '\0';
    if (rc != 0) {
        client_error(c, ERR_TRANSPORT, 0, c->errbuf);
        return;
    }
    if (status < 200 || status > 299) {
        client_error(c, status >= 100 && status < ERR_SLOTS ? (unsigned)status : ERR_STATUS_ODD,
                     status, c->resp);
        return;
    }
    if (phase_is_upload(b->kind) && !client_keep_file(c, n)) {
        client_error(c, ERR_BAD_BODY, status, "no file_id in the answer");
        return;
    }
    /* Each push names a new image number, so the node must have created a bill. */
    if (b->kind == PHASE_PUSH && memmem(c->resp, c->resp_len, "\"created\":true", 14) == NULL) {
        client_error(c, ERR_BAD_BODY, status, "no \"created\":true in the answer");
        return;
    }
    if (b->kind == PHASE_READ && c->resp_bytes != b->o.size) {
        client_error(c, ERR_BAD_BODY, status, "content is not --size bytes long");
        return;
    }
    c->t.ok++;
    c->t.bytes += phase_is_upload(b->kind) ? b->o.size
                  : b->kind == PHASE_PUSH     ? c->push_len
                                              : c->resp_bytes;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    struct bench *b = c->b;
    pthread_barrier_wait(&b->start);
    for (;;) {
        uint64_t n = atomic_fetch_add_explicit(&b->next_op, 1, memory_order_relaxed);
        if (n >= b->op_limit || (b->deadline_ns != 0 && clock_mono_ns() >= b->deadline_ns)) {
            break;
        }
        client_run_op(c, n);
    }
    return NULL;
}

/* ---- phases ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted @v: the smallest value with at least @pct percent
 * of the values at or below it. */
static uint64_t percentile(const uint64_t *v, size_t n, unsigned pct)
{
    size_t rank = (n * pct + 99) / 100;
    return n == 0 ? 0 : v[rank == 0 ? 0 : rank - 1];
}

/* Merges the clients' counters and latencies into @r. */
static void phase_collect(struct bench *b, struct phase_result *r)
{
    size_t total = 0, at = 0;
    uint64_t *all;
    for (unsigned i = 0; i < b->o.clients; i++) {
        const struct client *c = &b->clients[i];
        r->t.ops += c->t.ops;
        r->t.ok += c->t.ok;
        r->t.bytes += c->t.bytes;
        r->t.connects += c->t.connects;
        for (unsigned s = 0; s < ERR_SLOTS; s++) {
            r->t.errors[s] += c->t.errors[s];
        }
        total += c->lat_len;
    }
    all = xmalloc((total + 1) * sizeof *all);
    for (unsigned i = 0; i < b->o.clients; i++) {
        memcpy(all + at, b->clients[i].lat_ns, b->clients[i].lat_len * sizeof *all);
        at += b->clients[i].lat_len;
    }
    qsort(all, total, sizeof *all, cmp_u64);
    r->p50_ns = percentile(all, total, 50);
    r->p90_ns = percentile(all, total, 90);
    r->p99_ns = percentile(all, total, 99);
    r->max_ns = total == 0 ? 0 : all[total - 1];
    free(all);
}

/* Gathers the files the upload made, and the bills that got at least one. */
static void collect_files(struct bench *b)
{
    bool *seen = xcalloc(b->o.bills, sizeof *seen);
    size_t total = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        total += b->clients[i].files_len;
    }
    b->files = xrealloc(b->files, (total + 1) * sizeof *b->files);
    b->nfiles = 0;
    for (unsigned i = 0; i < b->o.clients; i++) {
        const struct client *c = &b->clients[i];
        memcpy(b->files + b->nfiles, c->files, c->files_len * sizeof *c->files);
        b->nfiles += c->files_len;
    }
    b->live_bills = xrealloc(b->live_bills, ((size_t)b->o.bills + 1) * sizeof *b->live_bills);
    b->nlive = 0;
    for (size_t i = 0; i < b->nfiles; i++) {
        seen[b->files[i].op % b->o.bills] = true;
    }
    for (uint32_t i = 0; i < b->o.bills; i++) {
        if (seen[i]) {
            b->live_bills[b->nlive++] = i;
        }
    }
    free(seen);
}

static void phase_run(struct bench *b,
                      enum phase_kind kind,
                      uint64_t limit,
                      double duration_s,
                      struct phase_result *r)
{
    uint64_t per_client = limit == UINT64_MAX ? 4096 : limit / b->o.clients + 1;
    double cpu0, node_cpu0 = -1;
    uint64_t t0;
    *r = (struct phase_result){.kind = kind, .node_cpu_s = -1};
    b->kind = kind;
    b->op_limit = limit;
    atomic_store(&b->next_op, 0);
    atomic_store(&b->errors_shown, 0);
    for (unsigned i = 0; i < b->o.clients; i++) {
        client_phase_begin(&b->clients[i], kind, per_client + per_client / 4 + 16);
    }
    fprintf(stderr, "imgarc-bench: %s phase...\n", phase_names[kind]);
    rss_begin(b, &r->rss);
    if (b->o.pid != 0) {
        node_cpu0 = proc_cpu_s(b->o.pid);
    }
    cpu0 = self_cpu_s();
    ASSERT(pthread_barrier_init(&b->start, NULL, b->o.clients + 1) == 0);
    for (unsigned i = 0; i < b->o.clients; i++) {
        ASSERT(pthread_create(&b->clients[i].thread, NULL, client_main, &b->clients[i]) == 0);
    }
    b->deadline_ns = duration_s > 0 ? clock_mono_ns() + (uint64_t)(duration_s * 1e9) : 0;
    pthread_barrier_wait(&b->start);
    t0 = clock_mono_ns();
    for (unsigned i = 0; i < b->o.clients; i++) {
        pthread_join(b->clients[i].thread, NULL);
    }
    r->seconds = (double)(clock_mono_ns() - t0) / 1e9;
    r->bench_cpu_s = self_cpu_s() - cpu0;
    if (node_cpu0 >= 0) {
        double node_cpu1 = proc_cpu_s(b->o.pid);
        r->node_cpu_s = node_cpu1 >= 0 ? node_cpu1 - node_cpu0 : -1;
    }
    rss_end(b, &r->rss);
    pthread_barrier_destroy(&b->start);
    phase_collect(b, r);
    if (phase_is_upload(kind)) {
        collect_files(b);
    }
}

/* ---- output ---- */

static uint64_t error_total(const struct tally *t)
{
    uint64_t n = 0;
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        n += t->errors[s];
    }
    return n;
}

static void error_slot_name(unsigned slot, char *buf, size_t size)
{
    if (slot == ERR_TRANSPORT) {
        snprintf(buf, size, "transport");
    } else if (slot == ERR_BAD_BODY) {
        snprintf(buf, size, "bad_body");
    } else if (slot == ERR_STATUS_ODD) {
        snprintf(buf, size, "other");
    } else {
        snprintf(buf, size, "%u", slot);
    }
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static void print_row(const struct phase_result *r)
{
    char rss[32] = "unknown";
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    if (r->rss.source != RSS_UNKNOWN) {
        snprintf(rss, sizeof rss, "%.1f MiB", mib(r->rss.after));
    }
    printf("%-7s %9" PRIu64 " %7" PRIu64 " %8.2f %9.1f %8.1f %7.2f %7.2f %7.2f %8.2f  %s\n",
           phase_names[r->kind], r->t.ops, error_total(&r->t), r->seconds, (double)r->t.ok / secs,
           mib(r->t.bytes) / secs, ms(r->p50_ns), ms(r->p90_ns), ms(r->p99_ns), ms(r->max_ns), rss);
}

static void print_details(const struct bench *b, const struct phase_result *r)
{
    char name[16];
    printf("%s: errors", phase_names[r->kind]);
    if (error_total(&r->t) == 0) {
        printf(" none");
    }
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        if (r->t.errors[s] != 0) {
            error_slot_name(s, name, sizeof name);
            printf(" %s x%" PRIu64, name, r->t.errors[s]);
        }
    }
    printf("; %" PRIu64 " connection(s) opened; bench CPU %.2f cores", r->t.connects,
           r->bench_cpu_s / (r->seconds > 0 ? r->seconds : 1e-9));
    if (r->node_cpu_s >= 0) {
        printf(", node CPU %.2f cores", r->node_cpu_s / (r->seconds > 0 ? r->seconds : 1e-9));
    }
    if (r->rss.source == RSS_VMHWM) {
        printf("; node peak RSS: VmHWM of pid %ld, %s (%.1f MiB at the phase start)", b->o.pid,
               r->rss.reset ? "reset at the phase start" : "since the node started",
               mib(r->rss.before));
    } else if (r->rss.source == RSS_METRICS) {
        printf("; node peak RSS: " RSS_METRIC " (%.1f MiB at the phase start)", mib(r->rss.before));
    }
    printf("\n");
}

static void print_json(const struct bench *b, const struct phase_result *r)
{
    static const char *const sources[] = {"unknown", "vmhwm", "metrics"};
    double secs = r->seconds > 0 ? r->seconds : 1e-9;
    json_t *errors = json_object(), *line;
    char name[16], *text;
    for (unsigned s = 0; s < ERR_SLOTS; s++) {
        if (r->t.errors[s] != 0) {
            error_slot_name(s, name, sizeof name);
            json_object_set_new(errors, name, json_integer((json_int_t)r->t.errors[s]));
        }
    }
    line = json_pack("{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:o, s:f, s:f, s:f}", "phase",
                     phase_names[r->kind], "run_id", b->run_id, "server", b->servers, "clients",
                     (int)b->o.clients, "size", (json_int_t)b->o.size, "ops", (json_int_t)r->t.ops,
                     "ok", (json_int_t)r->t.ok, "errors", (json_int_t)error_total(&r->t),
                     "errors_by_status", errors, "seconds", r->seconds, "ops_per_s",
                     (double)r->t.ok / secs, "mib_per_s", mib(r->t.bytes) / secs);
    ASSERT(line != NULL);
    json_object_set_new(line, "bytes", json_integer((json_int_t)r->t.bytes));
    json_object_set_new(line, "engine", json_string(b->o.engine == ENGINE_RAW ? "raw" : "curl"));
    json_object_set_new(line, "latency_ms",
                        json_pack("{s:f, s:f, s:f, s:f}", "p50", ms(r->p50_ns), "p90",
                                  ms(r->p90_ns), "p99", ms(r->p99_ns), "max", ms(r->max_ns)));
    json_object_set_new(line, "connections_opened", json_integer((json_int_t)r->t.connects));
    json_object_set_new(line, "node_peak_rss_bytes",
                        r->rss.source == RSS_UNKNOWN ? json_null()
                                                     : json_integer((json_int_t)r->rss.after));
    json_object_set_new(line, "node_peak_rss_source", json_string(sources[r->rss.source]));
    json_object_set_new(line, "node_peak_rss_reset", json_boolean(r->rss.reset));
    json_object_set_new(line, "bench_cpu_s", json_real(r->bench_cpu_s));
    json_object_set_new(line, "node_cpu_s",
                        r->node_cpu_s >= 0 ? json_real(r->node_cpu_s) : json_null());
    text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    ASSERT(text != NULL);
    printf("%s\n", text);
    free(text);
    json_decref(line);
}

static void print_results(const struct bench *b, const struct phase_result *r, size_t n)
{
    printf("\n%-7s %9s %7s %8s %9s %8s %7s %7s %7s %8s  %s\n", "phase", "ops", "errors", "seconds",
           "ops/s", "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "node peak RSS");
    for (size_t i = 0; i < n; i++) {
        print_row(&r[i]);
    }
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        print_details(b, &r[i]);
    }
    for (size_t i = 0; b->o.json && i < n; i++) {
        print_json(b, &r[i]);
    }
}

static void print_plan(const struct bench *b)
{
    char ops[64] = "", dur[64] = "";
    if (b->o.files != UINT64_MAX) {
        snprintf(ops, sizeof ops, "%" PRIu64 " operations per phase", b->o.files);
    }
    if (b->o.duration_s > 0) {
        snprintf(dur, sizeof dur, "%s%g s per phase", ops[0] != '\0' ? " or " : "",
                 b->o.duration_s);
    }
    if (b->o.phases != PHASE_BIT(PHASE_PUSH)) {
        printf("imgarc-bench: run %s, %s engine, %u clients, %" PRIu64 " bytes per file, %s%s, "
               "%u bills (BENCH-%s-0..%u)\n",
               b->run_id, b->o.engine == ENGINE_RAW ? "raw" : "curl", b->o.clients, b->o.size,
               ops, dur, b->o.bills, b->run_id, b->o.bills - 1);
    } else {
        printf("imgarc-bench: run %s, %s engine, %u clients, %s%s\n", b->run_id,
               b->o.engine == ENGINE_RAW ? "raw" : "curl", b->o.clients, ops, dur);
    }
    if (b->o.phases & PHASE_BIT(PHASE_PUSH)) {
        printf("imgarc-bench: push: one new pool bill per operation, BENCH-%s-P<n>\n", b->run_id);
    }
    if (b->ntargets > 1) {
        printf("imgarc-bench: %u nodes, client i uses node i mod %u; node RSS and CPU are "
               "about %s\n",
               b->ntargets, b->ntargets, b->base);
    }
    fflush(stdout);
}

/* Runs the phases asked for; returns how many results it wrote. */
static size_t run_phases(struct bench *b, struct phase_result *results)
{
    size_t n = 0;
    bool need_files = (b->o.phases & (PHASE_BIT(PHASE_READ) | PHASE_BIT(PHASE_STATUS))) != 0;
    /* push first: what an ERP does before the bill is scanned; independent of the
     * others (its image numbers are its own). */
    if (b->o.phases & PHASE_BIT(PHASE_PUSH)) {
        phase_run(b, PHASE_PUSH, b->o.files, b->o.duration_s, &results[n++]);
    }
    if (b->o.phases & PHASE_BIT(PHASE_UPLOAD)) {
        phase_run(b, PHASE_UPLOAD, b->o.files, b->o.duration_s, &results[n++]);
    } else if (need_files) {
        /* read and status need files: one per bill, not timed against the targets. */
        phase_run(b, PHASE_SEED, b->o.bills, 0, &results[n++]);
    } else {
        return n;
    }
    if (b->nfiles == 0) {
        fprintf(stderr, "imgarc-bench: no upload succeeded; skipping read and status\n");
        return n;
    }
    if (b->o.phases & PHASE_BIT(PHASE_READ)) {
        phase_run(b, PHASE_READ, b->o.files, b->o.duration_s, &results[n++]);
    }
    if (b->o.phases & PHASE_BIT(PHASE_STATUS)) {
        phase_run(b, PHASE_STATUS, b->o.files, b->o.duration_s, &results[n++]);
    }
    return n;
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
