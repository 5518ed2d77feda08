/* The HTTP-level error codes, 10000 + status, that the server writes in its own
 * answers (refusals of a request it cannot serve, and the 500 of a handler that ended
 * without answering). They belong to the one error vocabulary of the API: api/errors.h
 * lists the same codes with the same names, and tests/unit/net/test_http_server.c
 * checks that the two agree. A code never changes meaning once released. */
#ifndef IMGARC_NET_HTTP_ERRORS_H
#define IMGARC_NET_HTTP_ERRORS_H

#define HTTP_ERROR_MAP(X)                                                                \
    X(BAD_REQUEST, 10400, "bad_request")                                                 \
    X(REQUEST_TIMEOUT, 10408, "request_timeout")                                         \
    X(BODY_TOO_LARGE, 10413, "body_too_large")                                           \
    X(HEADERS_TOO_LARGE, 10431, "headers_too_large")                                     \
    X(INTERNAL, 10500, "internal")                                                       \
    X(UNAVAILABLE, 10503, "unavailable")                                                 \
    X(HTTP_VERSION_NOT_SUPPORTED, 10505, "http_version_not_supported")

enum http_error {
#define HTTP_ERROR_ENUM(name, code, text) HTTP_E_##name = code,
    HTTP_ERROR_MAP(HTTP_ERROR_ENUM)
#undef HTTP_ERROR_ENUM
};

#endif
