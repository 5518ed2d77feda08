/* HTTP for the CLI over libcurl; tools/cli/http.h is the contract. */
#include "tools/cli/http.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/hex.h"
#include "base/mem.h"
#include "version.h"

/* A JSON answer larger than this is refused rather than buffered: the largest real
 * answers (a page of 1000 bills, a long audit log) are a few MiB. */
#define ANSWER_BYTES_MAX (64u << 20)
/* Error bodies are small; a proxy's HTML error page is cut to this. */
#define ERROR_BYTES_MAX (64u << 10)
/* Printed messages from the server are cut here so a broken answer cannot flood. */
#define MESSAGE_CHARS_MAX 1000
#define CONNECT_TIMEOUT_S 10L
/* No byte moving for this long fails the transfer. It also bounds the wait for the
 * answer of an upload, which comes only once the file is durable and committed. */
#define STALL_TIMEOUT_S 120L
#define UPLOAD_BUFFER_BYTES (256L << 10)
#define PROGRESS_INTERVAL_NS (250ull * 1000 * 1000)
#define ID_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"

struct cli_http {
    CURL *curl;
    char *server;
    char *token;
    char *tenant;
    char *cacert, *cert, *key; /* TLS: struct cli_conn's, or the environment's */
    char errbuf[CURL_ERROR_SIZE];
};

/* Bytes of the answer kept in memory: a JSON answer or an error body. */
struct buffer {
    char *data;
    size_t len;
    size_t cap;
    size_t max; /* len never exceeds it */
    bool overflow;
};

/* State of one request, shared with the curl callbacks. */
struct transfer {
    struct cli_http *h;
    const struct cli_request *req;
    char sent_id[32];     /* the X-Request-Id we sent */
    char answer_id[65];   /* the X-Request-Id of the final answer */
    char reason[64];      /* reason phrase of the final status line */
    char next_after[24];  /* the X-Imgarc-Next-After of the final answer, digits only */
    long status;
    struct buffer answer;

    /* Download: the answer goes to sink_fd once it turns out to be 200 or 206. */
    int sink_fd;
    const char *sink_name;
    bool sink_decided;
    bool sinking;

    /* Upload: the request body comes from src. */
    FILE *src;
    const char *src_name;
    curl_off_t src_size;
    curl_off_t src_sent;
    curl_off_t src_base; /* where in the file the body starts */

    /* What a resumable upload reads off the answer (cli_request.reply). */
    char upload_offset[24];
    char file_id[64];

    /* A local failure found in a callback; it outranks curl's own error. */
    char local_msg[BASE_ERR_MSG_SIZE];

    bool progress_shown;
    uint64_t progress_start_ns;
    uint64_t progress_last_ns;
    curl_off_t progress_last_bytes;
};

static void set_local(struct transfer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_local(struct transfer *t, const char *fmt, ...)
{
    va_list ap;
    if (t->local_msg[0] != '\0') {
        return; /* the first failure is the cause */
    }
    va_start(ap, fmt);
    vsnprintf(t->local_msg, sizeof t->local_msg, fmt, ap);
    va_end(ap);
}

/* ---- Strings ---- */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

char *cli_http_escape(const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = xmalloc(3 * n + 1);
    char *o = out;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (unreserved(*p)) {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = digits[*p >> 4];
            *o++ = digits[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

char *cli_http_path(const char *prefix, const char *segment, const char *suffix)
{
    char *escaped = cli_http_escape(segment);
    char *path = xasprintf("%s%s%s", prefix, escaped, suffix);
    free(escaped);
    return path;
}

/* Writes about @max bytes of @s to stderr (never cutting a UTF-8 sequence), control
 * characters replaced, so text from the network cannot drive the terminal. */
static void put_clean(const char *s, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; *p != '\0' && (i < max || (*p & 0xC0) == 0x80); p++, i++) {
        bool c1 = p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F;
        if (*p < 0x20 || *p == 0x7F || c1) {
            fputc(*p == '\n' || *p == '\t' ? ' ' : '?', stderr);
            p += c1 ? 1 : 0;
        } else {
            fputc(*p, stderr);
        }
    }
    if (*p != '\0') {
        fputs("...", stderr);
    }
}

/* The request id of an answer as the server named it, else the one we sent. */
static const char *request_id(const struct transfer *t, const json_t *body)
{
    const char *from_body = json_string_value(json_object_get(body, "request_id"));
    if (t->answer_id[0] != '\0') {
        return t->answer_id;
    }
    if (from_body != NULL && from_body[0] != '\0' &&
        strspn(from_body, ID_ALPHABET) == strlen(from_body)) {
        return from_body;
    }
    return t->sent_id;
}

/* ---- Connection ---- */

/* The first non-empty value of @flag, the environment variable @env, @fallback. */
static const char *setting(const char *flag, const char *env, const char *fallback)
{
    const char *v = env != NULL ? getenv(env) : NULL;
    if (flag != NULL && flag[0] != '\0') {
        return flag;
    }
    return v != NULL && v[0] != '\0' ? v : fallback;
}

int cli_http_new(struct cli_http **out, const struct cli_conn *conn)
{
    const char *server = setting(conn->server, "IMGARC_SERVER", CLI_DEFAULT_SERVER);
    const char *token = setting(conn->token, "IMGARC_TOKEN", NULL);
    struct cli_http *h;
    size_t n;

    /* A header line cannot carry them; most often a newline pasted along. */
    for (const char *p = token; p != NULL && *p != '\0'; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7F) {
            fprintf(stderr, "imgarc: the token contains control characters (a trailing "
                            "newline?)\n");
            return CLI_EUSAGE;
        }
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "imgarc: libcurl failed to initialize\n");
        return CLI_ETRANSPORT;
    }
    h = xcalloc(1, sizeof *h);
    h->curl = curl_easy_init();
    if (h->curl == NULL) {
        fprintf(stderr, "imgarc: libcurl failed to create a handle\n");
        free(h);
        curl_global_cleanup();
        return CLI_ETRANSPORT;
    }
    /* "host:port" is the common way to type a node's address; it means plain http. */
    h->server = strstr(server, "://") != NULL ? xstrdup(server) : xasprintf("http://%s", server);
    n = strlen(h->server);
    while (n > 0 && h->server[n - 1] == '/') {
        h->server[--n] = '\0';
    }
    h->token = token != NULL ? xstrdup(token) : NULL;
    {
        const char *cacert = setting(conn->cacert, "IMGARC_CACERT", NULL);
        const char *cert = setting(conn->cert, "IMGARC_CERT", NULL);
        const char *key = setting(conn->key, "IMGARC_KEY", NULL);
        h->cacert = cacert != NULL ? xstrdup(cacert) : NULL;
        h->cert = cert != NULL ? xstrdup(cert) : NULL;
        h->key = key != NULL ? xstrdup(key) : NULL;
    }
    h->tenant = conn->tenant != NULL && conn->tenant[0] != '\0' ? xstrdup(conn->tenant) : NULL;
    *out = h;
    return 0;
}

void cli_http_free(struct cli_http *h)
{
    if (h == NULL) {
        return;
    }
    curl_easy_cleanup(h->curl);
    curl_global_cleanup();
    if (h->token != NULL) {
        explicit_bzero(h->token, strlen(h->token));
    }
    free(h->token);
    free(h->server);
    free(h->tenant);
    free(h->cacert);
    free(h->cert);
    free(h->key);
    free(h);
}

const char *cli_http_server(const struct cli_http *h)
{
    return h->server;
}

static char *request_url(const struct cli_http *h, const struct cli_request *req)
{
    char *url = xasprintf("%s%s", h->server, req->path);
    char sep = strchr(req->path, '?') != NULL ? '&' : '?';
    for (size_t i = 0; i <= req->n_params; i++) {
        const char *name = i < req->n_params ? req->params[i].name : "tenant";
        const char *value = i < req->n_params ? req->params[i].value : h->tenant;
        char *escaped, *longer;
        if (value == NULL) {
            continue;
        }
        escaped = cli_http_escape(value);
        longer = xasprintf("%s%c%s=%s", url, sep, name, escaped);
        free(escaped);
        free(url);
        url = longer;
        sep = '&';
    }
    return url;
}

/* ---- Callbacks ---- */

static int buffer_add(struct transfer *t, const char *data, size_t n)
{
    struct buffer *b = &t->answer;
    if (n > b->max - b->len) {
        /* An error body only needs its beginning; a JSON answer must be whole. */
        if (t->status >= 300) {
            n = b->max - b->len;
        } else {
            b->overflow = true;
            return -1;
        }
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 16384;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int sink_write(struct transfer *t, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(t->sink_fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w < 0) {
            set_local(t, "%s: write: %s", t->sink_name, strerror(errno));
            return -1;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    if (!t->sink_decided) {
        curl_easy_getinfo(t->h->curl, CURLINFO_RESPONSE_CODE, &t->status);
        t->sinking = t->sink_fd >= 0 && (t->status == 200 || t->status == 206);
        t->sink_decided = true;
        if (t->status >= 300) {
            t->answer.max = ERROR_BYTES_MAX;
        }
    }
    if (t->sinking) {
        return sink_write(t, data, n) == 0 ? n : 0;
    }
    return buffer_add(t, data, n) == 0 ? n : 0;
}

/* Copies a header value (after the colon) without surrounding blanks. */
static void header_value(const char *v, size_t n, char *out, size_t size)
{
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) {
        n--;
    }
    n = n < size - 1 ? n : size - 1;
    memcpy(out, v, n);
    out[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct transfer *t = arg;
    size_t n = size * nmemb;
    static const char id_name[] = "x-request-id:";
    static const char next_name[] = "x-imgarc-next-after:";
    static const char offset_name[] = "upload-offset:";
    static const char file_name[] = "imgarc-file-id:";
    if (n > 12 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue): its headers replace the old. */
        const char *sp = memchr(data, ' ', n);
        t->answer_id[0] = '\0';
        t->reason[0] = '\0';
        t->next_after[0] = '\0';
        t->upload_offset[0] = '\0';
        t->file_id[0] = '\0';
        if (sp != NULL && (size_t)(sp - data) + 5 < n) {
            header_value(sp + 5, n - (size_t)(sp - data) - 5, t->reason, sizeof t->reason);
        }
    } else if (n > sizeof id_name - 1 && strncasecmp(data, id_name, sizeof id_name - 1) == 0) {
        header_value(data + sizeof id_name - 1, n - (sizeof id_name - 1), t->answer_id,
                     sizeof t->answer_id);
        /* Ids are A-Z a-z 0-9 . _ -; anything else is not printed anywhere. */
        if (strspn(t->answer_id, ID_ALPHABET) != strlen(t->answer_id)) {
            t->answer_id[0] = '\0';
        }
    } else if (n > sizeof offset_name - 1 &&
               strncasecmp(data, offset_name, sizeof offset_name - 1) == 0) {
        header_value(data + sizeof offset_name - 1, n - (sizeof offset_name - 1),
                     t->upload_offset, sizeof t->upload_offset);
    } else if (n > sizeof file_name - 1 &&
               strncasecmp(data, file_name, sizeof file_name - 1) == 0) {
        header_value(data + sizeof file_name - 1, n - (sizeof file_name - 1), t->file_id,
                     sizeof t->file_id);
        if (strspn(t->file_id, ID_ALPHABET) != strlen(t->file_id)) {
            t->file_id[0] = '\0';
        }
    } else if (n > sizeof next_name - 1 &&
               strncasecmp(data, next_name, sizeof next_name - 1) == 0) {
        header_value(data + sizeof next_name - 1, n - (sizeof next_name - 1), t->next_after,
                     sizeof t->next_after);
        /* A raft index: passed back to the server as a query value, so digits only. */
        if (strspn(t->next_after, "0123456789") != strlen(t->next_after)) {
            t->next_after[0] = '\0';
        }
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nitems, void *arg)
{
    struct transfer *t = arg;
    size_t want = size * nitems;
    size_t got;
    if ((curl_off_t)want > t->src_size - t->src_sent) {
        want = (size_t)(t->src_size - t->src_sent);
    }
    if (want == 0) {
        return 0;
    }
    got = fread(buf, 1, want, t->src);
    if (got == 0) {
        if (ferror(t->src)) {
            set_local(t, "%s: read: %s", t->src_name, strerror(errno));
        } else {
            set_local(t, "%s: the file became shorter while it was being sent", t->src_name);
        }
        return CURL_READFUNC_ABORT;
    }
    t->src_sent += (curl_off_t)got;
    return got;
}

/* curl rewinds the body when it has to resend a request, e.g. on a fresh connection
 * after the server closed the idle one we tried to reuse. */
static int on_seek(void *arg, curl_off_t offset, int origin)
{
    struct transfer *t = arg;
    if (origin != SEEK_SET || offset < 0 || offset > t->src_size ||
        fseeko(t->src, (off_t)(t->src_base + offset), SEEK_SET) != 0) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    t->src_sent = offset;
    return CURL_SEEKFUNC_OK;
}

static void progress_print(struct transfer *t, curl_off_t now, curl_off_t total, uint64_t now_ns)
{
    double mib = 1024.0 * 1024.0;
    double secs = (double)(now_ns - t->progress_start_ns) / 1e9;
    fputc('\r', stderr);
    put_clean(t->req->progress_label, 60);
    fprintf(stderr, "  %.1f / %.1f MiB  %3d%%  %.1f MiB/s\033[K", (double)now / mib,
            (double)total / mib, (int)(100 * now / total),
            secs > 0 ? (double)now / mib / secs : 0.0);
    t->progress_shown = true;
    t->progress_last_ns = now_ns;
    t->progress_last_bytes = now;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct transfer *t = arg;
    bool up = t->src != NULL;
    curl_off_t total = up ? ultotal : dltotal;
    curl_off_t now = up ? ulnow : dlnow;
    uint64_t now_ns = clock_mono_ns();
    if (total < (curl_off_t)CLI_PROGRESS_MIN_BYTES || (!up && !t->sinking)) {
        return 0;
    }
    if (t->progress_start_ns == 0) {
        t->progress_start_ns = now_ns;
    }
    /* curl calls this often, and keeps calling while an upload waits for its answer:
     * redraw a few times a second, and the final figure once. */
    if (t->progress_shown &&
        (now == t->progress_last_bytes ||
         (now < total && now_ns - t->progress_last_ns < PROGRESS_INTERVAL_NS))) {
        return 0;
    }
    progress_print(t, now, total, now_ns);
    return 0;
}

/* ---- Requests ---- */

static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static struct curl_slist *add_header(struct curl_slist *list, const char *fmt, ...)
{
    struct curl_slist *longer;
    va_list ap;
    char *line;
    int n;
    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    ASSERT(n >= 0); /* out of memory: abort, as every allocation does */
    longer = curl_slist_append(list, line);
    ASSERT(longer != NULL);
    explicit_bzero(line, (size_t)n); /* the Authorization line carries the token */
    free(line);
    return longer;
}

/* A fresh request id per request, so that a transfer that dies before any answer can
 * still be found in the node's log. */
static void new_request_id(char out[32])
{
    uint8_t raw[8];
    char hex[2 * sizeof raw + 1];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
        out[0] = '\0';
        return;
    }
    hex_encode(raw, sizeof raw, hex);
    snprintf(out, 32, "imgarc-%s", hex);
}

static void transfer_init(struct transfer *t, struct cli_http *h, const struct cli_request *req)
{
    memset(t, 0, sizeof *t);
    t->h = h;
    t->req = req;
    t->sink_fd = -1;
    t->answer.max = ANSWER_BYTES_MAX;
    new_request_id(t->sent_id);
}

static struct curl_slist *base_headers(const struct transfer *t)
{
    struct curl_slist *list = NULL;
    if (t->h->token != NULL) {
        list = add_header(list, "Authorization: Bearer %s", t->h->token);
    }
    if (t->sent_id[0] != '\0') {
        list = add_header(list, "X-Request-Id: %s", t->sent_id);
    }
    if (t->req->idempotency_key != NULL) {
        list = add_header(list, "Idempotency-Key: %s", t->req->idempotency_key);
    }
    for (size_t i = 0; i < t->req->n_headers; i++) {
        list = add_header(list, "%s", t->req->headers[i]);
    }
    return list;
}

/* Resets the handle (keeping its connection) and applies what every request needs. */
static void setup(struct transfer *t, struct curl_slist *headers, char *url)
{
    CURL *c = t->h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "imgarc/" IMGARC_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, t->h->errbuf);
    if (t->h->cacert != NULL) {
        curl_easy_setopt(c, CURLOPT_CAINFO, t->h->cacert);
    }
    if (t->h->cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, t->h->cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, t->h->key != NULL ? t->h->key : t->h->cert);
    }
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    if (strcmp(t->req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
    } else if (strcmp(t->req->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(t->req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, t->req->method); /* PUT, PATCH */
    }
    if (t->req->progress_label != NULL && isatty(STDERR_FILENO)) {
        curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    }
    t->h->errbuf[0] = '\0';
}

/* Prints an error answer: the API's JSON error body, or whatever else came back. */
static void report_answer(const struct transfer *t)
{
    json_t *body = t->answer.len > 0 ? json_loadb(t->answer.data, t->answer.len, 0, NULL) : NULL;
    const char *error = json_string_value(json_object_get(body, "error"));
    const char *message = json_string_value(json_object_get(body, "message"));
    const char *id = request_id(t, body);

    fprintf(stderr, "imgarc: %ld ", t->status);
    if (error != NULL) {
        put_clean(error, 64);
        fprintf(stderr, " (%lld): ", (long long)json_integer_value(json_object_get(body, "code")));
        put_clean(message != NULL ? message : "", MESSAGE_CHARS_MAX);
    } else {
        /* Not an imgarc node's answer (a proxy, another service): show what it said. */
        put_clean(t->reason[0] != '\0' ? t->reason : "unexpected answer", 64);
        if (t->answer.len > 0) {
            fputs(": ", stderr);
            put_clean(t->answer.data, 200);
        }
    }
    if (t->status == 401 && t->h->token == NULL) {
        fputs(" (no token given: set IMGARC_TOKEN or pass --token)", stderr);
    }
    if (id[0] != '\0') {
        fprintf(stderr, " [request_id %s]", id);
    }
    fputc('\n', stderr);
    json_decref(body);
}

static void report_transport(const struct transfer *t, CURLcode cc)
{
    const char *why = t->h->errbuf[0] != '\0' ? t->h->errbuf : curl_easy_strerror(cc);
    long sent = 0;
    bool unreachable;
    /* Nothing sent means the server was never reached, whatever curl's code says. */
    curl_easy_getinfo(t->h->curl, CURLINFO_REQUEST_SIZE, &sent);
    unreachable = sent == 0 || cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST;
    if (t->answer.overflow) {
        fprintf(stderr, "imgarc: %s %s: the answer is larger than %u MiB", t->req->method,
                t->req->path, ANSWER_BYTES_MAX >> 20);
    } else if (unreachable) {
        fprintf(stderr, "imgarc: cannot reach %s: %s", t->h->server, why);
    } else {
        fprintf(stderr, "imgarc: %s %s%s: %s", t->req->method, t->h->server, t->req->path, why);
    }
    if (t->sent_id[0] != '\0' && !unreachable) {
        fprintf(stderr, " [request_id %s]", t->answer_id[0] != '\0' ? t->answer_id : t->sent_id);
    }
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        fprintf(stderr, " (--cacert or IMGARC_CACERT names the CA file that signed the node's "
                        "certificate)");
    } else if (cc == CURLE_SSL_CERTPROBLEM) {
        fprintf(stderr, " (--cert and --key, or IMGARC_CERT and IMGARC_KEY, name this "
                        "client's certificate and key)");
    }
    fputc('\n', stderr);
}

/* Runs the request and turns any failure into one line on stderr and a CLI_E* code.
 * A local failure explains a curl error caused by a callback, and an error status
 * explains a transfer the server cut after refusing it, so both are reported first. */
static int perform(struct transfer *t)
{
    CURLcode cc = curl_easy_perform(t->h->curl);
    curl_easy_getinfo(t->h->curl, CURLINFO_RESPONSE_CODE, &t->status);
    if (t->req->reply != NULL) {
        struct cli_reply *r = t->req->reply;
        r->status = t->status;
        r->has_offset = t->upload_offset[0] != '\0' && strlen(t->upload_offset) <= 19 &&
                        strspn(t->upload_offset, "0123456789") == strlen(t->upload_offset);
        r->upload_offset = r->has_offset ? strtoull(t->upload_offset, NULL, 10) : 0;
        snprintf(r->file_id, sizeof r->file_id, "%s", t->file_id);
    }
    if (t->progress_shown) {
        fputc('\n', stderr);
    }
    if (t->local_msg[0] != '\0') {
        fprintf(stderr, "imgarc: %s\n", t->local_msg);
        return CLI_ELOCAL;
    }
    if (t->status >= 300) {
        report_answer(t);
        return CLI_ESERVER;
    }
    if (cc != CURLE_OK) {
        report_transport(t, cc);
        return CLI_ETRANSPORT;
    }
    if (t->status < 200) {
        fprintf(stderr, "imgarc: %s %s: no final answer (status %ld) [request_id %s]\n",
                t->req->method, t->req->path, t->status, t->sent_id);
        return CLI_ETRANSPORT;
    }
    return 0;
}

static int parse_answer(const struct transfer *t, json_t **out)
{
    json_error_t jerr;
    json_t *root;
    if (t->req->reply != NULL && t->answer.len == 0) {
        *out = NULL;
        return 0;
    }
    root = json_loadb(t->answer.data != NULL ? t->answer.data : "", t->answer.len, 0,
                              &jerr);
    if (root == NULL || !json_is_object(root)) {
        fprintf(stderr, "imgarc: %s %s: the answer is not a JSON object (%s) [request_id %s]\n",
                t->req->method, t->req->path, root == NULL ? jerr.text : "another JSON value",
                request_id(t, NULL));
        json_decref(root);
        return CLI_ETRANSPORT;
    }
    *out = root;
    return 0;
}

int cli_http_json(struct cli_http *h, const struct cli_request *req, json_t *body, json_t **out)
{
    char *text = NULL;
    int rv;
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        ASSERT(text != NULL); /* only out of memory makes our own JSON fail to dump */
    }
    rv = cli_http_send(h, req, text, text != NULL ? strlen(text) : 0, NULL, out);
    free(text);
    return rv;
}

int cli_http_send(struct cli_http *h, const struct cli_request *req, const char *body,
                  size_t len, long *status, json_t **out)
{
    struct transfer t;
    struct curl_slist *headers;
    char *url = request_url(h, req);
    int rv;

    transfer_init(&t, h, req);
    headers = add_header(base_headers(&t), "Accept: application/json");
    if (body != NULL) {
        headers = add_header(headers, "Content-Type: application/json");
    }
    setup(&t, headers, url);
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(body != NULL ? len : 0));
    }
    rv = perform(&t);
    if (rv == 0) {
        rv = parse_answer(&t, out);
    }
    if (rv == 0 && status != NULL) {
        *status = t.status;
    }
    curl_slist_free_all(headers);
    free(t.answer.data);
    free(url);
    return rv;
}

int cli_http_text(struct cli_http *h, const struct cli_request *req, char **body, size_t *len,
                  char *next_after, size_t next_size)
{
    struct transfer t;
    struct curl_slist *headers;
    char *url = request_url(h, req);
    int rv;

    transfer_init(&t, h, req);
    headers = base_headers(&t);
    setup(&t, headers, url);
    rv = perform(&t);
    if (rv == 0) {
        *body = t.answer.data != NULL ? t.answer.data : xstrdup("");
        *len = t.answer.len;
        snprintf(next_after, next_size, "%s", t.next_after);
        t.answer.data = NULL;
    }
    curl_slist_free_all(headers);
    free(t.answer.data);
    free(url);
    return rv;
}

/* Opens a regular file for upload; prints why not on failure. */
static int open_source(const char *path, FILE **out, curl_off_t *size)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "imgarc: %s: %s\n", path, strerror(errno));
        return CLI_ELOCAL;
    }
    if (fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "imgarc: %s: %s\n", path, strerror(errno));
        fclose(f);
        return CLI_ELOCAL;
    }
    if (!S_ISREG(st.st_mode)) {
        fprintf(stderr, "imgarc: %s: %s\n", path,
                S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        fclose(f);
        return CLI_ELOCAL;
    }
    *out = f;
    *size = (curl_off_t)st.st_size;
    return 0;
}

int cli_http_upload(struct cli_http *h, const struct cli_request *req, const char *file_path,
                    json_t **out)
{
    struct transfer t;
    struct curl_slist *headers;
    char *url;
    int rv;

    transfer_init(&t, h, req);
    rv = open_source(file_path, &t.src, &t.src_size);
    if (rv != 0) {
        return rv;
    }
    t.src_name = file_path;
    url = request_url(h, req);
    headers = add_header(base_headers(&t), "Accept: application/json");
    headers = add_header(headers, "Content-Type: application/octet-stream");
    setup(&t, headers, url);
    curl_easy_setopt(h->curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h->curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(h->curl, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(h->curl, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, t.src_size);
    curl_easy_setopt(h->curl, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_BYTES);
    rv = perform(&t);
    if (rv == 0) {
        rv = parse_answer(&t, out);
    }
    curl_slist_free_all(headers);
    free(t.answer.data);
    free(url);
    fclose(t.src);
    return rv;
}

int cli_http_send_range(struct cli_http *h, const struct cli_request *req,
                        const char *file_path, uint64_t offset, uint64_t len, json_t **out)
{
    struct transfer t;
    struct curl_slist *headers;
    curl_off_t size;
    char *url;
    int rv;

    ASSERT(req->reply != NULL);
    transfer_init(&t, h, req);
    rv = open_source(file_path, &t.src, &size);
    if (rv != 0) {
        return rv;
    }
    if ((uint64_t)size < offset + len || fseeko(t.src, (off_t)offset, SEEK_SET) != 0) {
        fprintf(stderr, "imgarc: %s: the file is shorter than when the upload began\n",
                file_path);
        fclose(t.src);
        return CLI_ELOCAL;
    }
    t.src_name = file_path;
    t.src_base = (curl_off_t)offset;
    t.src_size = (curl_off_t)len;
    url = request_url(h, req);
    headers = add_header(base_headers(&t), "Accept: application/json");
    setup(&t, headers, url);
    curl_easy_setopt(h->curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h->curl, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(h->curl, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h->curl, CURLOPT_READDATA, &t);
    curl_easy_setopt(h->curl, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(h->curl, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(h->curl, CURLOPT_INFILESIZE_LARGE, t.src_size);
    curl_easy_setopt(h->curl, CURLOPT_UPLOAD_BUFFERSIZE, UPLOAD_BUFFER_BYTES);
    rv = perform(&t);
    if (rv == 0) {
        rv = parse_answer(&t, out);
    }
    curl_slist_free_all(headers);
    free(t.answer.data);
    free(url);
    fclose(t.src);
    return rv;
}

/* Makes a finished .part file durable, closes it and gives it its real name. */
static int finish_part(int *fd, const char *part, const char *path)
{
    int rv = fsync(*fd);
    const char *what = "fsync";
    if (close(*fd) != 0 && rv == 0) {
        rv = -1;
        what = "close";
    }
    *fd = -1;
    if (rv != 0) {
        fprintf(stderr, "imgarc: %s: %s: %s\n", part, what, strerror(errno));
        return CLI_ELOCAL;
    }
    if (rename(part, path) != 0) {
        fprintf(stderr, "imgarc: rename %s to %s: %s\n", part, path, strerror(errno));
        return CLI_ELOCAL;
    }
    return 0;
}

int cli_http_download(struct cli_http *h, const struct cli_request *req, const char *range,
                      const char *out_path)
{
    bool to_file = out_path != NULL && strcmp(out_path, "-") != 0;
    char *part = to_file ? xasprintf("%s.part", out_path) : NULL;
    struct curl_slist *headers = NULL;
    struct transfer t;
    char *url = NULL;
    int rv;

    transfer_init(&t, h, req);
    t.sink_fd = STDOUT_FILENO;
    t.sink_name = "stdout";
    if (to_file) {
        t.sink_fd = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        t.sink_name = part;
        if (t.sink_fd < 0) {
            fprintf(stderr, "imgarc: %s: %s\n", part, strerror(errno));
            rv = CLI_ELOCAL;
            goto out;
        }
    }
    url = request_url(h, req);
    headers = base_headers(&t);
    if (range != NULL) {
        headers = add_header(headers, "Range: bytes=%s", range);
    }
    setup(&t, headers, url);
    rv = perform(&t);
    if (rv == 0 && to_file) {
        rv = finish_part(&t.sink_fd, part, out_path);
    }
out:
    if (to_file && t.sink_fd >= 0) {
        close(t.sink_fd);
    }
    if (to_file && rv != 0) {
        unlink(part); /* a failed download leaves nothing behind */
    }
    curl_slist_free_all(headers);
    free(t.answer.data);
    free(url);
    free(part);
    return rv;
}
