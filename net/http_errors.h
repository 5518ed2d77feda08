/* The error codes the HTTP server writes in its own answers (refusals of a request it
 * cannot serve, and the 500 of a handler that ended without answering): 10000 + the
 * status, named from the one vocabulary of base/error_codes.h. */
#ifndef IMGARC_NET_HTTP_ERRORS_H
#define IMGARC_NET_HTTP_ERRORS_H

#include "base/error_codes.h"

enum http_error {
    HTTP_E_BAD_REQUEST = ERROR_CODE_BAD_REQUEST,
    HTTP_E_REQUEST_TIMEOUT = ERROR_CODE_REQUEST_TIMEOUT,
    HTTP_E_BODY_TOO_LARGE = ERROR_CODE_BODY_TOO_LARGE,
    HTTP_E_HEADERS_TOO_LARGE = ERROR_CODE_HEADERS_TOO_LARGE,
    HTTP_E_INTERNAL = ERROR_CODE_INTERNAL,
    HTTP_E_UNAVAILABLE = ERROR_CODE_UNAVAILABLE,
    HTTP_E_HTTP_VERSION_NOT_SUPPORTED = ERROR_CODE_HTTP_VERSION_NOT_SUPPORTED,
};

#endif
