/* HTTP client of the imgarc CLI: the only CLI module that includes <curl/curl.h>.
 *
 * Single-threaded; the rest of tools/cli/ is its one user. A struct cli_http owns one
 * curl easy handle, reused for every request of a run so that a series of uploads or
 * pages keeps its connection alive, and copies of the connection settings (server URL,
 * bearer token, tenant). Requests carry a JSON body (jansson) or stream a file as the body;
 * answers come back as parsed JSON, as bytes (short text answers such as CSV), or are
 * streamed into a file or stdout. Neither an upload nor a download is ever held in
 * memory as a whole.
 *
 * Errors are reported here, once: a call that fails has already printed one line on
 * stderr, e.g. "imgarc: 404 bill_not_found (11002): no bill ... [request_id ...]", and
 * returns one of the CLI_E* codes below. The negated code is the process exit status,
 * so callers only pass it up. */
#ifndef IMGARC_TOOLS_CLI_HTTP_H
#define IMGARC_TOOLS_CLI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Results of the CLI; -code is the exit status (docs/cli.md lists them). They are not
 * BASE_E* codes because they classify failures for the shell, not for a caller. */
enum {
    CLI_ESERVER = -1,    /* the server answered 4xx/5xx (or another non-2xx status) */
    CLI_EUSAGE = -2,     /* bad flags or arguments */
    CLI_ETRANSPORT = -3, /* cannot reach the server, transfer cut, answer not understood */
    CLI_ELOCAL = -4,     /* cannot read an upload or write a download */
    CLI_EATTENTION = -5, /* a check found something for an operator (imgarc cluster) */
};

#define CLI_DEFAULT_SERVER "http://127.0.0.1:8080"

/* Transfers above this size show a progress line when stderr is a terminal. */
#define CLI_PROGRESS_MIN_BYTES (4u << 20)

/* Connection settings. A NULL or empty field falls back to the environment
 * (IMGARC_SERVER, IMGARC_TOKEN) and then to the default (CLI_DEFAULT_SERVER, no token,
 * no tenant). */
struct cli_conn {
    const char *server; /* base URL; "host:port" means http://host:port */
    const char *token;  /* sent as "Authorization: Bearer <token>" */
    const char *tenant; /* appended to every request as ?tenant= */
    const char *cacert; /* https: PEM CAs the node's certificate must chain to (NULL:
                           the system's store) */
    const char *cert;   /* https with mutual TLS: this client's certificate and key */
    const char *key;
};

/* One query parameter; a NULL value leaves the parameter out. */
struct cli_param {
    const char *name;
    const char *value;
};

/* What an answer said beyond its body, for a resumable upload (cli_request.reply). */
struct cli_reply {
    long status;
    bool has_offset;
    uint64_t upload_offset; /* Upload-Offset */
    char file_id[64];       /* Imgarc-File-Id, or "" */
};

/* What to send. Everything is borrowed for the duration of the call. */
struct cli_request {
    const char *method;             /* "GET", "POST", "PUT" or "PATCH" */
    const char *path;               /* already percent-encoded, see cli_http_path() */
    const struct cli_param *params; /* query parameters (encoded here) */
    size_t n_params;
    const char *idempotency_key;    /* sent as Idempotency-Key; NULL: none */
    const char *progress_label;     /* shown in the progress line; NULL: never show one */
    const char *const *headers;     /* more request headers, "Name: value"; NULL: none */
    size_t n_headers;
    /* When set: filled from the final answer; an answer without a body (HEAD, 204) is
     * then a success with *out set to NULL. */
    struct cli_reply *reply;
};

struct cli_http;

/* Creates a client with copies of @conn's settings (after the fallbacks above).
 * Fails with CLI_EUSAGE when the token holds control characters, CLI_ETRANSPORT when
 * libcurl cannot start (message printed). */
int cli_http_new(struct cli_http **out, const struct cli_conn *conn) WARN_UNUSED;
/* Closes the connection and wipes the token. NULL is allowed. */
void cli_http_free(struct cli_http *h);

/* The server base URL in use, without a trailing slash. Valid until cli_http_free(). */
const char *cli_http_server(const struct cli_http *h);

/* Percent-encodes everything but A-Z a-z 0-9 - . _ ~ (RFC 3986 unreserved), so the
 * result is safe as a path segment or a query value. Returns a fresh allocation. */
char *cli_http_escape(const char *s);
/* @prefix + escaped @segment + @suffix, e.g. ("/api/v1/bills/", "BX 1", "/files").
 * Returns a fresh allocation. */
char *cli_http_path(const char *prefix, const char *segment, const char *suffix);

/* Sends @req with @body as its JSON body (NULL: no body; a POST, PUT or PATCH then
 * has an empty body). On a 2xx answer stores the parsed JSON in *@out, which the caller releases
 * with json_decref(). On error *@out is untouched. */
int cli_http_json(struct cli_http *h, const struct cli_request *req, json_t *body,
                  json_t **out) WARN_UNUSED;

/* Like cli_http_json(), but sends the @len bytes of @body exactly as they are, as
 * application/json (NULL: no body): for documents whose bytes matter, such as a signed
 * license. On a 2xx answer also stores its HTTP status in *@status (NULL: not wanted),
 * which tells a 201 (created) from a 200 (it existed). */
int cli_http_send(struct cli_http *h, const struct cli_request *req, const char *body,
                  size_t len, long *status, json_t **out) WARN_UNUSED;

/* GETs @req and stores a 2xx answer's bytes, as they are, in *@body (a fresh
 * NUL-terminated allocation the caller frees; at most 64 MiB, else CLI_ETRANSPORT) and
 * their count in *@len: for answers that are not JSON, such as CSV. The answer's
 * X-Imgarc-Next-After header (digits only) is copied into @next_after, @next_size
 * bytes with the NUL, or "" when absent. On error the outputs are untouched. */
int cli_http_text(struct cli_http *h, const struct cli_request *req, char **body, size_t *len,
                  char *next_after, size_t next_size) WARN_UNUSED;

/* POSTs the content of the regular file @file_path as the body, streamed, with its size
 * as Content-Length. A file that changes size while it is sent fails the upload
 * (CLI_ELOCAL). On a 2xx answer stores the parsed JSON in *@out (caller decrefs). */
int cli_http_upload(struct cli_http *h, const struct cli_request *req, const char *file_path,
                    json_t **out) WARN_UNUSED;

/* Sends bytes @offset to @offset + @len of the regular file @file_path as the body of
 * @req (method and Content-Type are the request's: give the type in @req->headers),
 * streamed; a file shorter than that fails (CLI_ELOCAL). A 2xx answer's JSON, if any,
 * goes to *@out (NULL without a body; @req->reply is required). */
int cli_http_send_range(struct cli_http *h, const struct cli_request *req,
                        const char *file_path, uint64_t offset, uint64_t len,
                        json_t **out) WARN_UNUSED;

/* GETs @req and streams a 200 or 206 answer into @out_path, or to stdout when
 * @out_path is NULL or "-". @range (NULL: whole file) is sent as "Range: bytes=@range".
 * A file is written as "<out_path>.part", flushed to disk and renamed over @out_path
 * only once complete; on any failure the .part file is removed, so a failed download
 * never leaves a partial file under the requested name. Bytes already written to
 * stdout cannot be taken back. */
int cli_http_download(struct cli_http *h, const struct cli_request *req, const char *range,
                      const char *out_path) WARN_UNUSED;

#endif
