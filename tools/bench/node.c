/* Setup and the node's side: --server split into targets (resolved once for the raw
 * engine), the request body and headers, the preflight that checks the token and the
 * node before the clock starts, and the node's peak RSS and CPU, from /proc when it
 * runs here (--pid) or from its /metrics. */
#include "tools/bench/bench.h"

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "base/clock.h"
#include "base/mem.h"

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
double proc_cpu_s(long pid)
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

double self_cpu_s(void)
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
    if (b->o.cacert != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, b->o.cacert);
    }
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

void rss_begin(struct bench *b, struct rss_probe *r)
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

void rss_end(struct bench *b, struct rss_probe *r)
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

void bench_init(struct bench *b, const struct bench_opts *o)
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
    /* Without a token (--phases http only) the header's place holds a harmless one. */
    b->auth_hdr = o->token != NULL ? xasprintf("Authorization: Bearer %s", o->token)
                                   : xstrdup("User-Agent: imgarc-bench");
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
int bench_target_init(struct bench *b)
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

void bench_close(struct bench *b)
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
int preflight(struct bench *b)
{
    uint64_t rss;
    if (b->o.phases == PHASE_BIT(PHASE_HTTP)) {
        /* another server: no imgarc API to check, no /metrics; its pid if given */
        b->rss_source = b->o.pid != 0 ? RSS_VMHWM : RSS_UNKNOWN;
        return 0;
    }
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
