/* Who may ask the recognition hook for a captured file, and when one is asked without
 * asking. The state machine queues the file (archive/apply_recognition.c) and the
 * leader's dispatcher calls the service (replication/recognizer.h); this is the part
 * the capture entry points share: the native upload's ?recognize= and the vendor's
 * needRecognition. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int api_recognition_explicit(const struct api *api, const char *category, bool has_invoice,
                             enum api_error *code, char *why, size_t why_size)
{
    if (!recognizer_configured(api->config.recognizer)) {
        *code = API_E_RECOGNITION_UNAVAILABLE;
        snprintf(why, why_size, "recognition was asked for, but this node has no recognition "
                 "service configured: the operator sets --recognition-url (on every node; "
                 "docs/recognition.md)");
        return 409;
    }
    if (category[0] != '\0' && strcmp(category, "invoice") != 0) {
        *code = API_E_INVALID_QUERY;
        snprintf(why, why_size, "recognition reads invoices: a file asked for it is captured "
                 "as category invoice (or without a category), not %.32s", category);
        return 400;
    }
    if (has_invoice) {
        *code = API_E_INVALID_QUERY;
        snprintf(why, why_size, "the invoice data is given with the file: recognition is "
                 "for invoices without it (send one or the other)");
        return 400;
    }
    return 0;
}

bool api_recognition_auto(const struct api *api, const char *category, const char *format,
                          bool has_invoice)
{
    return recognizer_configured(api->config.recognizer) && strcmp(category, "invoice") == 0 &&
           !has_invoice && archive_recognition_format(format);
}

bool api_recognition_param(struct api_call *call, const char *category, bool has_invoice,
                           int *out)
{
    char *v = http_request_query(call->req, "recognize");
    char why[256];
    enum api_error code;
    int status;
    bool ok = true;
    *out = 0;
    if (v == NULL) {
        return true;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0) {
        status = api_recognition_explicit(call->api, category, has_invoice, &code, why,
                                          sizeof why);
        if (status != 0) {
            api_respond_error(call->api, call->req, status, code, "%s", why);
            ok = false;
        }
        *out = 1;
    } else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0) {
        *out = -1;
    } else {
        api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                          "recognize is true or false");
        ok = false;
    }
    free(v);
    return ok;
}
