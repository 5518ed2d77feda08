#include "base/error_codes.h"

#include <stddef.h>

const char *error_code_name(int code)
{
    switch (code) {
#define ERROR_CODE_CASE(name, value, text)                                               \
    case value:                                                                          \
        return text;
        ERROR_CODE_MAP(ERROR_CODE_CASE)
#undef ERROR_CODE_CASE
    }
    return NULL;
}
