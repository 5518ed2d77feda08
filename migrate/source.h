/* A data source as the migration runner and the connection test speak to it: another
 * imgarc cluster (source_imgarc.c) or a system speaking the incumbent's API
 * (source_vendor.c), behind one asynchronous interface whose answers are shaped like
 * imgarc's native JSON, so the runner never asks which kind it reads.
 *
 * - A list page: a JSON array of {"image_no","bill_no","bill_type","org","state",
 *   "created" (RFC 3339)} in the scope's time range (the runner keeps the scope's
 *   organisations and bill types), and the cursor of the next page ("" at the end).
 * - A bill: the object of the native GET /api/v1/bills/{image_no} (docs/API.md): its
 *   fields and "files" in bill order (file_id, name, format, size, category, position,
 *   rotation, invoice, blob as hex or null when the source does not say, parts,
 *   merged_into, captured_at, captured_by), plus "log": its history, oldest first
 *   ({"time","action","operator","request_id","detail"}; empty when the source keeps
 *   none).
 * - A file's content: the GET request (URL, one header) the runner streams into the
 *   blob store.
 *
 * Every request goes out under the outbound guard (replication/outbound.h) with the
 * source's credentials, which never appear in a log or a message. Statuses: 0;
 * BASE_ERETRY when the source did not answer or answered 5xx or 429 (the runner tries
 * again later); BASE_EREFUSED when it refused the credentials (the batch pauses with the
 * message); BASE_EINVAL when its answer is unusable (the message says what, for the
 * bill's reason); BASE_ENOTFOUND for a bill it does not have.
 *
 * Loop thread only. A call answers exactly once through its callback, never from inside
 * the call; one call at a time per struct source for login, any number for the rest
 * (the runner bounds them). source_free() only when no call is in flight. */
#ifndef IMGARC_MIGRATE_SOURCE_H
#define IMGARC_MIGRATE_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "archive/archive.h"
#include "base/err.h"
#include "net/http_client.h"
#include "replication/repl.h"

#define SOURCE_URL_MAX 2048
#define SOURCE_ANSWER_MAX (8u << 20) /* the most JSON one answer may hold */
#define SOURCE_TIMEOUT_MS 30000      /* one call (a file's content: SOURCE_FILE_TIMEOUT_MS) */
#define SOURCE_FILE_TIMEOUT_MS 600000

/* What every source uses, borrowed for its life. */
struct source_env {
    uv_loop_t *loop;
    struct http_client *http;
    struct outbound *guard;
};

struct source;

/* The kind-specific part (one per kind). */
struct source_ops {
    const char *kind;
    void (*init)(struct source *s); /* sets s->impl */
    void (*login)(struct source *s);
    void (*list)(struct source *s, const MigrationScope *scope, const char *cursor,
                 unsigned limit);
    void (*get_bill)(struct source *s, const char *image_no, const json_t *listed);
    int (*file_request)(struct source *s, const json_t *file, char *url, size_t url_size,
                        char *header, size_t header_size, struct base_err *err);
    void (*free)(struct source *s);
};

typedef void (*source_login_cb)(void *arg, int status, const char *message);
/* @bills (borrowed for the call) and @next_cursor are valid only on status 0. */
typedef void (*source_list_cb)(void *arg, int status, const char *message, json_t *bills,
                               const char *next_cursor);
/* @bill is borrowed for the call; valid only on status 0. */
typedef void (*source_bill_cb)(void *arg, int status, const char *message, json_t *bill);

struct source {
    const struct source_ops *ops;
    struct source_env env;
    DataSourceRecord *record; /* a copy (the secret inside: never logged) */
    void *impl;               /* the kind's state */
    /* The call being answered. */
    void *arg;
    source_login_cb login_cb;
    source_list_cb list_cb;
    source_bill_cb bill_cb;
    bool logged_in;
    uint64_t token_until_ms; /* the token is used until then, then renewed */
};

/* A source for data source @ds (copied): BASE_EINVAL with @err for an unknown kind or
 * an unusable URL. */
int source_new(struct source **out, const struct source_env *env, const DataSourceRecord *ds,
               struct base_err *err) WARN_UNUSED;
void source_free(struct source *s);

/* Logs in (the other calls log in first by themselves when the token is missing or
 * old): @cb gets 0, BASE_EREFUSED or BASE_ERETRY with a message for a person. */
void source_login(struct source *s, source_login_cb cb, void *arg);
/* One page of at most @limit bills created in @scope's time range, from @cursor (""
 * for the first page). */
void source_list(struct source *s, const MigrationScope *scope, const char *cursor,
                 unsigned limit, source_list_cb cb, void *arg);
/* One bill in full, with its history. @listed: its list entry (may carry what the
 * kind needs to find it, e.g. the vendor's bill id), or NULL. */
void source_get_bill(struct source *s, const char *image_no, const json_t *listed,
                     source_bill_cb cb, void *arg);
/* The GET of @file's content (an element of a bill's "files"): its URL, and one
 * "Name: value" header to send ("" for none). BASE_EINVAL with @err when @file says
 * nothing usable. */
int source_file_request(struct source *s, const json_t *file, char *url, size_t url_size,
                        char *header, size_t header_size, struct base_err *err) WARN_UNUSED;

/* ---- For the kinds (source_http.c) ---- */

/* One JSON call of a kind: @method with @body (may be NULL) to @url under the guard,
 * with @header (may be NULL); @cb gets the HTTP status (0: no answer, with @error) and
 * the parsed JSON (NULL when the body is not JSON or is over SOURCE_ANSWER_MAX). */
typedef void (*source_call_cb)(struct source *s, void *arg, long http_status,
                               const char *error, json_t *answer);
void source_call(struct source *s, const char *method, const char *url, const char *header,
                 json_t *body, source_call_cb cb, void *arg);
/* Appends @v to @out (a string of @size bytes), percent-encoding every byte but the
 * unreserved ones (A-Z a-z 0-9 - _ . ~); stops short rather than overflow. */
void source_url_escape(char *out, size_t size, const char *v);
/* The data source's base URL without its trailing '/', followed by @path, into @out. */
void source_url(const struct source *s, char *out, size_t size, const char *path);
/* The status a kind answers for a call that failed with @http_status (0: no answer):
 * BASE_ERETRY, BASE_EREFUSED (401, 403) or BASE_EINVAL. */
int source_status_of(long http_status);
/* Answers the call in progress (exactly one of the three callbacks is set). */
void source_answer_login(struct source *s, int status, const char *message);
void source_answer_list(struct source *s, int status, const char *message, json_t *bills,
                        const char *next_cursor);
void source_answer_bill(struct source *s, int status, const char *message, json_t *bill);

extern const struct source_ops source_imgarc_ops;
extern const struct source_ops source_vendor_ops;

#endif
