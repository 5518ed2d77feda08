/* The vendor-compatible surface: what the incumbent imaging product's ERP connectors
 * call (../shared/VENDOR-API.md, docs/integrators.md), answered over the same state
 * machine, rules, audit log and permissions as the native API.
 *
 * This file holds what every vendor call shares: which paths are the vendor's, the
 * envelope {"success","errorCode","message","data"} of every answer, and the loosely
 * typed fields of the vendor's bodies. A vendor route is a row of the one route table
 * (router.c) whose pattern is a vendor path, so admission, permissions, tenants and
 * read-your-writes are the native ones; only the shape of the answers differs. Errors
 * keep imgarc's numeric code as the vendor's errorCode (as a string: "11002" is
 * bill_not_found), so one table of codes (docs/API.md) serves both surfaces.
 * Loop thread only. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define VENDOR_OK_CODE "0000"

bool api_vendor_path(const char *raw_path)
{
    size_t n = strcspn(raw_path, "?");
    if (strncmp(raw_path, "/kapi/", 6) == 0) {
        return true;
    }
    return strncmp(raw_path, "/api/", 5) == 0 && n > 8 && memcmp(raw_path + n - 3, ".do", 3) == 0;
}

static char *envelope_text(json_t *o, size_t *len)
{
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    *len = strlen(text);
    return text;
}

static char *vendor_error_body(const struct http_request *req, int code, const char *error,
                               const char *message, size_t *len)
{
    char code_text[16];
    json_t *o;
    snprintf(code_text, sizeof code_text, "%d", code);
    o = json_pack("{s:b, s:s, s:s, s:s, s:n, s:s}", "success", 0, "errorCode", code_text,
                  "error", error, "message", message, "data", "requestId", req->request_id);
    if (o == NULL) {
        /* A message that is not UTF-8 (it quotes client bytes): say so plainly. */
        o = json_pack("{s:b, s:s, s:s, s:s, s:n, s:s}", "success", 0, "errorCode", code_text,
                      "error", error, "message",
                      "the request was refused (details not representable)", "data",
                      "requestId", req->request_id);
    }
    return envelope_text(o, len);
}

void api_vendor_begin(struct api_call *call)
{
    call->vendor = true;
    call->req->error_body = vendor_error_body;
}

void api_vendor_respond(struct api *api, struct http_request *req, json_t *data, json_t *top)
{
    json_t *o = json_pack("{s:b, s:s, s:s, s:o, s:s}", "success", 1, "errorCode",
                          VENDOR_OK_CODE, "message", "success", "data",
                          data != NULL ? data : json_object(), "requestId", req->request_id);
    ASSERT(o != NULL);
    if (top != NULL) {
        json_object_update(o, top);
        json_decref(top);
    }
    api_respond_json(api, req, 200, o);
}

void api_vendor_ok(struct api_call *call, json_t *data)
{
    api_vendor_respond(call->api, call->req, data, NULL);
}

static bool field(struct api_call *call, json_t *o, const char *name, size_t max, char *buf,
                  bool need)
{
    json_t *v = json_object_get(o, name);
    buf[0] = '\0';
    if (json_is_string(v)) {
        if (json_string_length(v) > max || strlen(json_string_value(v)) != json_string_length(v)) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                              "%s must be at most %zu bytes of text", name, max);
            return false;
        }
        memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    } else if (json_is_integer(v)) {
        snprintf(buf, max + 1, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, max + 1, "%s", json_is_true(v) ? "true" : "false");
    } else if (v != NULL && !json_is_null(v)) {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "%s must be a string or a number", name);
        return false;
    }
    if (need && buf[0] == '\0') {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_FIELD,
                          "%s is required", name);
        return false;
    }
    return true;
}

bool api_vendor_field(struct api_call *call, json_t *o, const char *name, size_t max,
                      char *buf)
{
    return field(call, o, name, max, buf, false);
}

bool api_vendor_need(struct api_call *call, json_t *o, const char *name, size_t max,
                     char *buf)
{
    return field(call, o, name, max, buf, true);
}
