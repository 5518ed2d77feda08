/* The answers every handler gives: JSON bodies, errors in the one error shape,
 * refusals of the state machine and failed proposals mapped to their HTTP status and
 * code, the X-Imgarc-Index header on every answer, and the stamp every command
 * carries. Loop thread only. */
#include "api/api_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/mem.h"

const char *api_error_name(enum api_error code)
{
    const char *name = error_code_name((int)code);
    return name != NULL ? name : "error";
}

json_t *api_time_json(uint64_t ms)
{
    char buf[40];
    if (ms == 0) {
        return json_null();
    }
    clock_format_rfc3339(ms, buf, sizeof buf);
    return json_string(buf);
}

json_t *api_node_id_json(uint64_t id)
{
    char buf[24];
    if (id == 0) {
        return json_null();
    }
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)id);
    return json_string(buf);
}

void api_add_common_headers(struct http_request *req)
{
    struct api *api = http_request_server_data(req);
    char buf[24];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)repl_applied_index(api->repl));
    http_request_add_header(req, "X-Imgarc-Index", buf);
    api_internal_answer(api, req);
}

void api_respond_json(struct api *api, struct http_request *req, int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(body);
}

void api_respond_error(struct api *api, struct http_request *req, int status,
                       enum api_error code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_respond_error(req, status, (int)code, api_error_name(code), msg);
}

void api_respond_refusal(struct api *api, struct http_request *req,
                         const struct archive_result *res)
{
    static const struct {
        enum archive_status status;
        int http;
        enum api_error code;
    } map[] = {
        {ARCHIVE_R_INVALID, 400, API_E_BAD_REQUEST},
        {ARCHIVE_R_BILL_NOT_FOUND, 404, API_E_BILL_NOT_FOUND},
        {ARCHIVE_R_FILE_NOT_FOUND, 404, API_E_FILE_NOT_FOUND},
        {ARCHIVE_R_BILL_EMPTY, 409, API_E_BILL_EMPTY},
        {ARCHIVE_R_INVALID_STATE, 409, API_E_INVALID_STATE},
        {ARCHIVE_R_IDEM_CONFLICT, 409, API_E_IDEMPOTENCY_CONFLICT},
        {ARCHIVE_R_INVALID_CATEGORY, 400, API_E_INVALID_CATEGORY},
        {ARCHIVE_R_TENANT_NOT_FOUND, 404, API_E_TENANT_NOT_FOUND},
        {ARCHIVE_R_TENANT_EXISTS, 409, API_E_TENANT_EXISTS},
        {ARCHIVE_R_LICENSE, 403, API_E_LICENSE_EXPIRED},
        {ARCHIVE_R_QUOTA_BYTES, 413, API_E_QUOTA_EXCEEDED},
        {ARCHIVE_R_QUOTA_FILES, 403, API_E_FILE_QUOTA_EXCEEDED},
        {ARCHIVE_R_LICENSE_SUPERSEDED, 409, API_E_LICENSE_SUPERSEDED},
        {ARCHIVE_R_LICENSE_INVALID, 400, API_E_LICENSE_INVALID},
        {ARCHIVE_R_CLIENT_EXISTS, 409, API_E_INTERNAL},
        {ARCHIVE_R_USER_EXISTS, 409, API_E_USER_EXISTS},
        {ARCHIVE_R_USER_NOT_FOUND, 404, API_E_USER_NOT_FOUND},
        {ARCHIVE_R_ROLE_EXISTS, 409, API_E_ROLE_EXISTS},
        {ARCHIVE_R_ROLE_NOT_FOUND, 400, API_E_ROLE_NOT_FOUND},
        {ARCHIVE_R_ORG_EXISTS, 409, API_E_ORG_EXISTS},
        {ARCHIVE_R_ORG_NOT_FOUND, 404, API_E_ORG_NOT_FOUND},
        {ARCHIVE_R_ORG_CYCLE, 409, API_E_ORG_CYCLE},
        {ARCHIVE_R_WEBHOOK_NOT_FOUND, 404, API_E_WEBHOOK_NOT_FOUND},
        {ARCHIVE_R_DELIVERY_NOT_FOUND, 404, API_E_DELIVERY_NOT_FOUND},
        {ARCHIVE_R_BILL_TYPE_NOT_FOUND, 404, API_E_BILL_TYPE_NOT_FOUND},
        {ARCHIVE_R_MATCH_LOCKED, 409, API_E_MATCH_LOCKED},
        {ARCHIVE_R_NODE_NOT_FOUND, 404, API_E_NODE_NOT_FOUND},
        {ARCHIVE_R_FBILL_CONFLICT, 409, API_E_FBILL_ID_CONFLICT},
        {ARCHIVE_R_LAST_ADMIN, 409, API_E_LAST_ADMIN},
        {ARCHIVE_R_ROLE_IN_USE, 409, API_E_ROLE_IN_USE},
        {ARCHIVE_R_CLIENT_NOT_FOUND, 404, API_E_CLIENT_NOT_FOUND},
        {ARCHIVE_R_DATASOURCE_NOT_FOUND, 404, API_E_DATASOURCE_NOT_FOUND},
        {ARCHIVE_R_DATASOURCE_EXISTS, 409, API_E_DATASOURCE_EXISTS},
        {ARCHIVE_R_DATASOURCE_IN_USE, 409, API_E_DATASOURCE_IN_USE},
        {ARCHIVE_R_MIGRATION_NOT_FOUND, 404, API_E_MIGRATION_NOT_FOUND},
        {ARCHIVE_R_MIGRATION_EXISTS, 409, API_E_MIGRATION_EXISTS},
        {ARCHIVE_R_SYNC_NOT_FOUND, 404, API_E_SYNC_NOT_FOUND},
        {ARCHIVE_R_BILL_HELD, 409, API_E_BILL_HELD},
        {ARCHIVE_R_HOLD_NOT_FOUND, 404, API_E_HOLD_NOT_FOUND},
        {ARCHIVE_R_RETAINED, 409, API_E_BILL_RETAINED},
        {ARCHIVE_R_ORG_IN_USE, 409, API_E_ORG_IN_USE},
        {ARCHIVE_R_TENANT_TOO_LARGE, 409, API_E_TENANT_TOO_LARGE},
        {ARCHIVE_R_CLUSTER_LEVEL, 409, API_E_UPGRADE_IN_PROGRESS},
        /* The leader proposes such a command again alone; seen here only if that
         * failed too. Nothing was applied. */
        {ARCHIVE_R_ENTRY_FULL, 503, API_E_UNAVAILABLE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
        if (map[i].status == res->status) {
            api_respond_error(api, req, map[i].http, map[i].code, "%s", res->message);
            return;
        }
    }
    api_respond_error(api, req, 500, API_E_INTERNAL, "unexpected refusal %d", res->status);
}

void api_respond_propose_error(struct api *api, struct http_request *req, int status)
{
    api_respond_propose_failed(api, req, NULL, status);
}

void api_respond_propose_failed(struct api *api, struct http_request *req,
                                const struct repl_propose *prop, int status)
{
    const char *why = prop != NULL ? prop->why : "";
    switch (status) {
    case BASE_ENOTLEADER:
        api_respond_error(api, req, 503, API_E_UNAVAILABLE,
                          "this node cannot accept writes now (no raft leader); retry shortly");
        break;
    case BASE_ERETRY:
        if (why[0] != '\0') {
            api_respond_error(api, req, 503, API_E_UNAVAILABLE,
                              "the write's outcome is unknown: %s; retry with the same "
                              "Idempotency-Key", why);
        } else {
            api_respond_error(api, req, 503, API_E_UNAVAILABLE,
                              "leadership changed before the write committed; its outcome "
                              "is unknown: retry with the same Idempotency-Key");
        }
        break;
    case BASE_EREFUSED:
        api_respond_error(api, req, 503, API_E_UNAVAILABLE, "%s",
                          why[0] != '\0' ? why
                                         : "the leader refused this node's call; nothing "
                                           "was applied");
        break;
    case BASE_ESHUTDOWN:
        api_respond_error(api, req, 503, API_E_UNAVAILABLE,
                          "the node is shutting down; retry on another node or later");
        break;
    default:
        api_respond_error(api, req, 500, API_E_INTERNAL, "write failed: %s",
                          base_strerror(status));
    }
}

void api_command_stamp(struct api_call *call, Command *cmd, const char *idempotency_key)
{
    cmd->tenant = call->tenant;
    cmd->request_id = call->req->request_id;
    cmd->idempotency_key = (char *)(idempotency_key != NULL ? idempotency_key : "");
    cmd->operator_ = call->actor[0] != '\0' ? call->actor : (char *)"operator";
    cmd->time_ms = clock_wall_ms();
}

const char *api_idempotency_key(struct http_request *req)
{
    const char *k = http_request_header(req, "idempotency-key");
    if (k == NULL) {
        return NULL;
    }
    /* Same alphabet as ids; a UUID fits. */
    return archive_valid_tenant(k) ? k : "";
}

bool api_query_limit(struct api_call *call, unsigned def, unsigned max, unsigned *out)
{
    char *l = http_request_query(call->req, "limit");
    char *end;
    bool ok = true;
    *out = def;
    if (l != NULL) {
        unsigned long n = strtoul(l, &end, 10);
        ok = l[0] >= '0' && l[0] <= '9' && *end == '\0' && n >= 1 && n <= max;
        *out = (unsigned)n;
    }
    free(l);
    if (!ok) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "limit must be a number from 1 to %u", max);
    }
    return ok;
}
