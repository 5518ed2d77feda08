/* imgarc-bench's own declarations, shared by the files of tools/bench/: the limits,
 * the options, one client's state (struct client, owned by its thread during a phase)
 * and the run's (struct bench, written by main between phases, read-only during one
 * but for its atomics and print_lock). main.c says what the tool does and why it is
 * built this way. */
#ifndef IMGARC_TOOLS_BENCH_BENCH_H
#define IMGARC_TOOLS_BENCH_BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <curl/curl.h>

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

enum phase_kind { PHASE_UPLOAD, PHASE_READ, PHASE_STATUS, PHASE_SEED, PHASE_PUSH, PHASE_HTTP };

#define PHASE_BIT(k) (1u << (k))
#define PHASES_MAX   5 /* results of one run: seed or upload, push, read, status */
#define SERVERS_MAX  64
#define PUSH_BODY_MAX 2048 /* the JSON body of one pool push, or of one --body request */
#define TEMPLATE_MAX  255  /* longest --path or --body template */
#define TEMPLATE_NUM_DIGITS 12 /* {n} in a template: the operation number, zero-padded */
/* A 3-byte placeholder expands to at most 20 bytes (a uint64_t), so an expanded template
 * is at most TEMPLATE_GROWTH times as long. */
#define TEMPLATE_GROWTH 7

enum rss_source { RSS_UNKNOWN, RSS_VMHWM, RSS_METRICS };

enum engine { ENGINE_AUTO, ENGINE_RAW, ENGINE_CURL };

struct bench_opts {
    const char *server;
    const char *token;
    const char *tenant;
    const char *cacert; /* https: the CA file the node's certificate chains to */
    unsigned clients;
    uint64_t size;
    uint64_t files;    /* operations per phase; UINT64_MAX: bounded by duration only */
    double duration_s; /* 0: bounded by files only */
    unsigned phases;   /* PHASE_BIT mask */
    unsigned bills;
    long pid; /* 0: not given */
    enum engine engine;
    bool json;
    /* --phases http: one request per operation to any HTTP server (a peer system run
     * side by side with imgarc); no imgarc preflight, --token optional. */
    const char *method;    /* GET, PUT or POST */
    const char *path;      /* template of the request target */
    const char *body_tmpl; /* template of a small body; NULL: PUT/POST send --size bytes */
    uint64_t keys;         /* {n} is the operation number modulo keys; 0: no modulo */
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

/* ---- main.c: options ---- */

/* Prints "imgarc-bench: message" and a pointer to --help on stderr; returns -1. */
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- phase.c: the phases ---- */

/* Indexed by enum phase_kind. */
extern const char *const phase_names[];
/* The upload and seed phases upload a file per operation. */
bool phase_is_upload(enum phase_kind k);
/* Runs the phases asked for; returns how many results it wrote. */
size_t run_phases(struct bench *b, struct phase_result *results);

/* ---- node.c: setup, preflight, and the node's process ---- */

void bench_init(struct bench *b, const struct bench_opts *o);
int bench_target_init(struct bench *b);
void bench_close(struct bench *b);
int preflight(struct bench *b);
double proc_cpu_s(long pid);
double self_cpu_s(void);
void rss_begin(struct bench *b, struct rss_probe *r);
void rss_end(struct bench *b, struct rss_probe *r);

/* ---- client.c: one client thread and its requests ---- */

void client_init(struct client *c, struct bench *b, unsigned i);
void client_close(struct client *c);
void client_phase_begin(struct client *c, enum phase_kind kind, size_t expect_ops);
void *client_main(void *arg);
void keep_resp(struct client *c, const char *data, size_t len);

/* ---- raw.c: the raw engine, HTTP/1.1 on a blocking socket ---- */

void raw_close(struct client *c);
int raw_perform(struct client *c, long *status);

/* ---- report.c: what is printed ---- */

uint64_t error_total(const struct tally *t);
void print_plan(const struct bench *b);
void print_results(const struct bench *b, const struct phase_result *r, size_t n);

#endif
