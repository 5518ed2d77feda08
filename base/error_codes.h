/* The one error vocabulary of imgarc: every code a node answers with, whichever layer
 * answers (the HTTP server's own refusals in net/, the peer protocol in replication/,
 * the API in api/). A code never changes meaning once released; docs/API.md lists
 * them. HTTP-level codes are 10000 + status; 10888-10893 are licenses and quotas,
 * 110xx the archive's rules, 111xx the cluster. Each layer names the codes it answers
 * with from this one list (api/errors.h, net/http_errors.h, replication/peer.h). */
#ifndef IMGARC_BASE_ERROR_CODES_H
#define IMGARC_BASE_ERROR_CODES_H

#define ERROR_CODE_MAP(X)                                                                       \
    X(BAD_REQUEST, 10400, "bad_request")                                                 \
    X(UNAUTHORIZED, 10401, "unauthorized")                                               \
    X(FORBIDDEN, 10403, "forbidden")                                                     \
    X(NOT_FOUND, 10404, "not_found")                                                     \
    X(METHOD_NOT_ALLOWED, 10405, "method_not_allowed")                                   \
    X(REQUEST_TIMEOUT, 10408, "request_timeout")                                         \
    X(IDEMPOTENCY_CONFLICT, 10409, "idempotency_conflict")                               \
    X(GONE, 10410, "gone")                                                               \
    X(ACCOUNT_LOCKED, 10423, "account_locked")                                           \
    X(ACCOUNT_DISABLED, 10424, "account_disabled")                                       \
    X(LENGTH_REQUIRED, 10411, "length_required")                                         \
    X(BODY_TOO_LARGE, 10413, "body_too_large")                                           \
    X(HEADERS_TOO_LARGE, 10431, "headers_too_large")                                     \
    X(TOO_MANY_REQUESTS, 10429, "too_many_requests")                                     \
    X(INTERNAL, 10500, "internal")                                                       \
    X(UNAVAILABLE, 10503, "unavailable")                                                 \
    X(HTTP_VERSION_NOT_SUPPORTED, 10505, "http_version_not_supported")                   \
    X(INSUFFICIENT_STORAGE, 10507, "insufficient_storage")                               \
    X(LICENSE_EXPIRED, 10888, "license_expired")                                         \
    X(QUOTA_EXCEEDED, 10890, "quota_exceeded")                                           \
    X(FILE_QUOTA_EXCEEDED, 10891, "file_quota_exceeded")                                 \
    X(LICENSE_SUPERSEDED, 10892, "license_superseded")                                   \
    X(LICENSE_INVALID, 10893, "license_invalid")                                         \
    X(INVALID_IMAGE_NO, 11001, "invalid_image_no")                                       \
    X(BILL_NOT_FOUND, 11002, "bill_not_found")                                           \
    X(FILE_NOT_FOUND, 11003, "file_not_found")                                           \
    X(INVALID_JSON, 11004, "invalid_json")                                               \
    X(INVALID_FIELD, 11005, "invalid_field")                                             \
    X(INVALID_FILE_NAME, 11006, "invalid_file_name")                                     \
    X(INVALID_STATE, 11007, "invalid_state")                                             \
    X(BILL_EMPTY, 11008, "bill_empty")                                                   \
    X(INVALID_CATEGORY, 11009, "invalid_category")                                       \
    X(RANGE_NOT_SATISFIABLE, 11010, "range_not_satisfiable")                             \
    X(INVALID_QUERY, 11011, "invalid_query")                                             \
    X(EMPTY_FILE, 11012, "empty_file")                                                   \
    X(CONTENT_CORRUPT, 11013, "content_corrupt")                                         \
    X(TENANT_NOT_FOUND, 11014, "tenant_not_found")                                       \
    X(TENANT_EXISTS, 11015, "tenant_exists")                                             \
    X(USER_EXISTS, 11016, "user_exists")                                                 \
    X(USER_NOT_FOUND, 11017, "user_not_found")                                           \
    X(ROLE_EXISTS, 11018, "role_exists")                                                 \
    X(ROLE_NOT_FOUND, 11019, "role_not_found")                                           \
    X(ORG_EXISTS, 11020, "org_exists")                                                   \
    X(ORG_NOT_FOUND, 11021, "org_not_found")                                             \
    X(ORG_CYCLE, 11022, "org_cycle")                                                     \
    X(WEBHOOK_NOT_FOUND, 11023, "webhook_not_found")                                     \
    X(DELIVERY_NOT_FOUND, 11024, "delivery_not_found")                                   \
    X(BILL_TYPE_NOT_FOUND, 11025, "bill_type_not_found")                                 \
    X(MATCH_LOCKED, 11026, "match_locked")                                               \
    X(ROLE_IN_USE, 11027, "role_in_use")                                                 \
    X(CLIENT_NOT_FOUND, 11028, "client_not_found")                                       \
    X(LAST_ADMIN, 11031, "last_admin")                                                   \
    X(FBILL_ID_CONFLICT, 11030, "fbill_id_conflict")                                     \
    X(BILL_HELD, 11032, "bill_held")                                                     \
    X(HOLD_NOT_FOUND, 11033, "hold_not_found")                                           \
    X(BILL_RETAINED, 11034, "bill_retained")                                             \
    X(ORG_IN_USE, 11035, "org_in_use")                                                   \
    X(TENANT_TOO_LARGE, 11036, "tenant_too_large")                                       \
    X(UPGRADE_IN_PROGRESS, 11037, "upgrade_in_progress")                                 \
    X(RECOGNITION_UNAVAILABLE, 11040, "recognition_unavailable")                         \
    X(DATASOURCE_NOT_FOUND, 11050, "datasource_not_found")                               \
    X(DATASOURCE_EXISTS, 11051, "datasource_exists")                                     \
    X(DATASOURCE_IN_USE, 11052, "datasource_in_use")                                     \
    X(MIGRATION_NOT_FOUND, 11053, "migration_not_found")                                 \
    X(MIGRATION_EXISTS, 11054, "migration_exists")                                       \
    X(SOURCE_UNREACHABLE, 11055, "source_unreachable")                                   \
    X(SYNC_NOT_FOUND, 11060, "sync_not_found")                                           \
    X(UPLOAD_NOT_FOUND, 11070, "upload_not_found")                                       \
    X(UPLOAD_OFFSET_MISMATCH, 11071, "upload_offset_mismatch")                           \
    X(UPLOAD_BUSY, 11072, "upload_busy")                                                 \
    X(UPLOAD_ELSEWHERE, 11073, "upload_elsewhere")                                       \
    X(UPLOAD_EXPIRED, 11074, "upload_expired")                                           \
    X(TUS_VERSION, 11075, "tus_version")                                                 \
    X(UNSUPPORTED_MEDIA_TYPE, 10415, "unsupported_media_type")                           \
    X(NODE_NOT_FOUND, 11101, "node_not_found")                                           \
    X(MEMBERSHIP_CONFLICT, 11102, "membership_conflict")                                 \
    X(INDEX_NOT_REACHED, 11103, "index_not_reached")                                     \
    X(BLOB_NOT_FOUND, 11104, "blob_not_found")

enum error_code {
#define ERROR_CODE_ENUM(name, code, text) ERROR_CODE_##name = code,
    ERROR_CODE_MAP(ERROR_CODE_ENUM)
#undef ERROR_CODE_ENUM
};

/* The snake_case name of @code ("bad_request"...), or NULL for a code not in the map. */
const char *error_code_name(int code);

#endif
