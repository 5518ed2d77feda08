/* The error codes of the API: the one vocabulary of base/error_codes.h, by the names
 * the handlers use. docs/API.md lists them. */
#ifndef IMGARC_API_ERRORS_H
#define IMGARC_API_ERRORS_H

#include "base/error_codes.h"

/* Every code of the vocabulary (base/error_codes.h) as API_E_<name>. */
#define API_ERROR_MAP(X) ERROR_CODE_MAP(X)

enum api_error {
#define API_ERROR_ENUM(name, code, text) API_E_##name = code,
    API_ERROR_MAP(API_ERROR_ENUM)
#undef API_ERROR_ENUM
};

/* The snake_case name of a code. */
const char *api_error_name(enum api_error code);

#endif
