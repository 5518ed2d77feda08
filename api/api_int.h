/* Folder-private to api/: the state shared by the handlers and their helpers. */
#ifndef IMGARC_API_INT_H
#define IMGARC_API_INT_H

#include <jansson.h>

#include "api/api.h"
#include "api/errors.h"
#include "archive/access.h"
#include "archive/document.h"
#include "archive/einvoice.h"
#include "net/http_server.h"
#include "replication/repl.h"
#include "storage/blobstore.h"

/* Failed logins of one username from one source address (users.c); a fixed table, so
 * memory stays bounded whatever an attacker sends. */
#define LOGIN_GUARD_SLOTS 4096
struct login_guard_slot {
    uint64_t key; /* SipHash of tenant, username and source address; 0: free */
    uint32_t failures;
    uint64_t last_ms;
    uint64_t blocked_until_ms;
};
struct login_guard {
    uint8_t hash_key[16]; /* random, so that nobody can aim keys at one slot */
    bool keyed;
    struct login_guard_slot slots[LOGIN_GUARD_SLOTS];
};

struct api {
    uv_loop_t *loop;
    struct api_config config;
    struct http_server *http;
    struct archive *archive;
    struct repl *repl;
    struct blob_store *blobs;
    /* Blobs in and out over HTTP, and the disk guard (replication/blob_path.h). */
    struct blob_path blob_path;
    bool blob_path_stopped;
    struct peer_server peers; /* the /internal/ endpoints (replication/peer_server.h) */
    struct migrate_runner *migrator; /* the leader's migration runner, once started */
    bool stopping;
    /* Until the cluster's InitCluster command is applied, the leader proposes it. */
    struct cluster_init init;
    bool init_stopped;
    unsigned held_requests; /* waiting for a raft index (api/router.c) */
    bool http_stopped;
    /* Password hashing (users.c): running jobs and the queue of those waiting. */
    unsigned pwhash_running;
    struct user_call *pwhash_head, *pwhash_tail;
    /* Login throttling per username and source address (users.c). */
    struct login_guard login_guard;
    /* PDF page counters running in child processes, at most config.pdf_children_max
     * (probe.c; shared with the worker threads, hence a semaphore). */
    struct child_slots pdf_slots;
    /* Counters for /metrics. */
    uint64_t captures_total;
    uint64_t capture_bytes_total;
    uint64_t captures_failed;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    /* GET /api/v1/nodes (nodes.c): the last answer, when it was made, and whether a
     * request is taking a new view. */
    json_t *nodes_cache;
    uint64_t nodes_cache_ms;
    bool nodes_refreshing;
    /* Resumable uploads kept on this node (uploads.c). */
    struct uploads *uploads;
    bool uploads_stopped;
};

/* Longest path parameter the router passes on; handlers validate it (an image number
 * of 65 characters gets the image-number error, not a generic one). */
#define API_PARAM_MAX 1024

enum api_principal {
    API_ANONYMOUS,
    API_OPERATOR, /* the operator token: any tenant, named by ?tenant= */
    API_CLIENT,   /* a business system's access token: its own tenant only */
    API_USER,     /* a user's login token: its own tenant, its roles' permissions */
};

struct user_call;

/* What a route handler gets: the request, the tenant the token acts for, and the
 * path parameter (image number or file id), NUL-terminated. */
struct api_call {
    struct api *api;
    struct http_request *req;
    char tenant[ARCHIVE_ID_MAX + 1];
    bool tenant_given; /* ?tenant= was in the request */
    enum api_principal principal;
    char client_id[ARCHIVE_ID_MAX + 1]; /* for API_CLIENT */
    char username[ARCHIVE_ID_MAX + 1];  /* for API_USER */
    uint64_t token_generation;          /* for API_USER: the one its token carries */
    char token_id[33];                  /* for API_USER: its token's id ("" for none) */
    uint64_t token_expires_ms;          /* for API_CLIENT and API_USER: the token's expiry */
    char actor[ARCHIVE_ID_MAX + 16];    /* who, for the audit log */
    /* What the caller may do and see, loaded once when the request is admitted (a
     * user's permissions and grants: api_authenticate() and the router fill it). */
    struct archive_actor access;
    char param[API_PARAM_MAX + 1];  /* the first "*" of the route */
    char param2[API_PARAM_MAX + 1]; /* the second one */
    /* A call of the vendor-compatible surface (api/vendor.c): answers in the vendor's
     * envelope, and takes its token from ?access_token= too. */
    bool vendor;
    /* for API_USER: the client its token was logged in through ("" for none: the native
     * login) and that client's generation then (api_token_issue_via()). */
    char via_client[ARCHIVE_ID_MAX + 1];
    uint64_t via_generation;
};

/* Responses: every one carries X-Imgarc-Index. @body is stolen (decref'd). */
void api_respond_json(struct api *api, struct http_request *req, int status, json_t *body);
void api_respond_error(struct api *api, struct http_request *req, int status,
                       enum api_error code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Maps a state machine refusal to its HTTP answer. */
void api_respond_refusal(struct api *api, struct http_request *req,
                         const struct archive_result *res);
/* Maps a failed proposal (not leader, outcome unknown, shutting down). */
void api_respond_propose_error(struct api *api, struct http_request *req, int status);
/* The same for a proposal that ended in its callback: says what happened to a forwarded
 * one (prop->why: the leader refused it, or its outcome is unknown and why). */
void api_respond_propose_failed(struct api *api, struct http_request *req,
                                const struct repl_propose *prop, int status);
/* The server's answer hook: X-Imgarc-Index (this node's applied raft index) on every
 * answer, the server's own refusals included. */
void api_add_common_headers(struct http_request *req);

/* Fills the stamping fields every command carries. */
void api_command_stamp(struct api_call *call, Command *cmd, const char *idempotency_key);

/* Handlers (one file each by area). */
void api_handle_pool_push(struct api_call *call);
void api_handle_submit(struct api_call *call);
void api_handle_upload(struct api_call *call);
/* A resumable upload (tus 1.0; uploads.c, docs/uploads.md). */
void api_handle_upload_options(struct api_call *call);
void api_handle_upload_create(struct api_call *call);
void api_handle_upload_head(struct api_call *call);
void api_handle_upload_get(struct api_call *call);
void api_handle_upload_patch(struct api_call *call);
void api_handle_upload_delete(struct api_call *call);
/* Reads the uploads this node keeps (DATA/uploads) on a worker and starts their expiry
 * sweep; until then their requests are answered 503. */
void api_uploads_start(struct api *api);
/* Waits for the uploads' disk jobs and the requests that own one, then frees them. */
void api_uploads_stop(struct api *api, void (*cb)(void *arg), void *arg);
/* Unfinished uploads (not captured yet) and the bytes they hold, for /metrics. */
unsigned api_uploads_open(const struct api *api, uint64_t *bytes);
/* capture.c, for a resumable upload: the capture's parameters read from @call's query
 * as POST .../files reads them (the name from @name_fallback when the query has none),
 * as JSON; NULL after answering a bad one. */
json_t *api_capture_params(struct api_call *call, const char *image_no, const char *file_id,
                           const char *name_fallback);
/* Captures the first @size bytes of the file at @path for @call with @params (from
 * api_capture_params()) as POST .../files captures a body, under the idempotency key
 * @idem. @done runs once: with the answer's JSON (borrowed) when the capture applied,
 * and it answers the request; or with NULL after the request was answered with the
 * failure. */
void api_capture_file(struct api_call *call, json_t *params, const char *idem, const char *path,
                      uint64_t size, void (*done)(void *data, json_t *answer), void *data);
void api_handle_get_bill(struct api_call *call);
void api_handle_status(struct api_call *call);
void api_handle_list_bills(struct api_call *call);
void api_handle_log(struct api_call *call);
void api_handle_content(struct api_call *call);
void api_handle_version(struct api_call *call);
void api_handle_healthz(struct api_call *call);
void api_handle_readyz(struct api_call *call);
void api_handle_metrics(struct api_call *call);
void api_handle_create_tenant(struct api_call *call);
void api_handle_list_tenants(struct api_call *call);
void api_handle_delete_tenant(struct api_call *call);
void api_handle_usage(struct api_call *call);
void api_handle_install_license(struct api_call *call);
void api_handle_show_license(struct api_call *call);
void api_handle_create_client(struct api_call *call);
void api_handle_admin_audit(struct api_call *call);
void api_handle_login(struct api_call *call);
void api_handle_create_user(struct api_call *call);
/* Administration of users, roles and clients (api/users.c, api/clients.c). */
void api_handle_get_user(struct api_call *call);
void api_handle_update_user(struct api_call *call);
void api_handle_delete_user(struct api_call *call);
void api_handle_reset_password(struct api_call *call);
void api_handle_change_password(struct api_call *call);
void api_handle_update_role(struct api_call *call);
void api_handle_delete_role(struct api_call *call);
void api_handle_list_clients(struct api_call *call);
void api_handle_rotate_client_secret(struct api_call *call);
void api_handle_delete_client(struct api_call *call);
/* migrations.c: migration batches (docs/API.md "Migration batches"). */
void api_handle_create_migration(struct api_call *call);
void api_handle_list_migrations(struct api_call *call);
void api_handle_get_migration(struct api_call *call);
void api_handle_start_migration(struct api_call *call);
void api_handle_pause_migration(struct api_call *call);
void api_handle_resume_migration(struct api_call *call);
void api_handle_retry_migration(struct api_call *call);
void api_handle_cancel_migration(struct api_call *call);
void api_handle_skip_migration_bills(struct api_call *call);
void api_handle_migration_bills(struct api_call *call);
void api_handle_migration_log(struct api_call *call);
/* sync.c: the invoice-data sync (docs/API.md "Invoice-data sync"). */
void api_handle_get_sync_settings(struct api_call *call);
void api_handle_put_sync_settings(struct api_call *call);
void api_handle_create_sync_runs(struct api_call *call);
void api_handle_list_sync_runs(struct api_call *call);
void api_handle_get_sync_run(struct api_call *call);
void api_handle_sync_failures(struct api_call *call);
void api_handle_retry_sync_failures(struct api_call *call);
void api_handle_list_users(struct api_call *call);
void api_handle_unlock_user(struct api_call *call);
void api_handle_create_role(struct api_call *call);
void api_handle_list_roles(struct api_call *call);
void api_handle_create_org(struct api_call *call);
void api_handle_update_org(struct api_call *call);
void api_handle_delete_org(struct api_call *call);
void api_handle_list_orgs(struct api_call *call);
void api_handle_set_grants(struct api_call *call);
void api_handle_create_webhook(struct api_call *call);
void api_handle_list_webhooks(struct api_call *call);
void api_handle_get_webhook(struct api_call *call);
void api_handle_delete_webhook(struct api_call *call);
/* datasources.c: data sources to migrate from (docs/migration.md). */
void api_handle_create_datasource(struct api_call *call);
void api_handle_list_datasources(struct api_call *call);
void api_handle_get_datasource(struct api_call *call);
void api_handle_update_datasource(struct api_call *call);
void api_handle_delete_datasource(struct api_call *call);
void api_handle_test_datasource(struct api_call *call);
void api_handle_bill_deliveries(struct api_call *call);
void api_handle_list_deliveries(struct api_call *call);
void api_handle_retry_delivery(struct api_call *call);
/* A delivery error as answers show it: an error recorded with the receiver's words
 * ("HTTP 500: <its answer>", as earlier versions recorded it) becomes "HTTP 500 from the
 * receiver"; others are returned as they are. @buf (64 bytes) may hold the result. */
const char *api_receiver_error(const char *error, char *buf, size_t size);
/* Adds to @body "submit" ("auto" | "manual" | null: the scheme that applies to @bill
 * now) and "erp" ({"state": none | queued | delivered | failed, "error"}): what
 * status, submit and match answers say about the way to the ERP (api/workflow.c). */
void api_bill_erp_json(struct api *api, const char *tenant, const BillRecord *bill,
                       json_t *body);
void api_handle_create_bill_type(struct api_call *call);
void api_handle_list_bill_types(struct api_call *call);
void api_handle_set_scheme(struct api_call *call);
void api_handle_list_schemes(struct api_call *call);
void api_handle_patch_file(struct api_call *call);
void api_handle_match_bill(struct api_call *call);
void api_handle_match_file(struct api_call *call);
void api_handle_unmatch_file(struct api_call *call);
void api_handle_match_results(struct api_call *call);
void api_handle_erp_submit(struct api_call *call);
void api_handle_return_bill(struct api_call *call);
void api_handle_create_category(struct api_call *call);
void api_handle_list_categories(struct api_call *call);
void api_handle_categorize(struct api_call *call);
void api_handle_delete_files(struct api_call *call);
/* holds.c: legal holds (docs/retention.md). */
void api_handle_place_hold(struct api_call *call);
void api_handle_lift_hold(struct api_call *call);
/* A hold as JSON {"hold_id", "reason", "placed_by", "placed"}; a bill's holds. */
json_t *api_hold_json(const BillHold *h);
json_t *api_holds_json(const BillRecord *b);
/* retention.c: retention periods and deleting bills (docs/retention.md). */
void api_handle_get_retention(struct api_call *call);
void api_handle_set_retention(struct api_call *call);
void api_handle_delete_bill(struct api_call *call);
/* A bill's "retain_until" (archive_bill_retained_until()): RFC 3339 or "permanent". */
json_t *api_retain_until_json(struct api_call *call, const BillRecord *b);
void api_handle_delete_file(struct api_call *call);
void api_handle_rotate(struct api_call *call);
void api_handle_move_file(struct api_call *call);
void api_handle_merge(struct api_call *call);
void api_handle_batch_match(struct api_call *call);
void api_handle_split(struct api_call *call);
void api_handle_token(struct api_call *call);
void api_handle_auth_me(struct api_call *call);
void api_handle_auth_operator(struct api_call *call);
void api_handle_cluster(struct api_call *call);
void api_handle_cluster_join(struct api_call *call);
void api_handle_cluster_remove(struct api_call *call);
void api_handle_cluster_digest(struct api_call *call);
void api_handle_nodes(struct api_call *call);
void api_handle_cluster_drain(struct api_call *call);
void api_handle_cluster_undrain(struct api_call *call);
void api_handle_cluster_weight(struct api_call *call);
void api_handle_cluster_blob(struct api_call *call);
/* The blob the route's "*" names (64 hex digits) and its cross-tenant record; false
 * after answering 400 or 404. */
bool api_blob_named(struct api_call *call, uint8_t hash[BLOB_HASH_BYTES],
                    char hex[BLOB_HEX_BYTES], BlobRecord **rec);
/* backup.c */
void api_handle_cluster_backup(struct api_call *call);
void api_handle_cluster_blob_content(struct api_call *call);

/* internal.c: the node-to-node endpoints under /internal/, served by
 * replication/peer_server.c. Init fills api->peers (api_start). */
void api_internal_init(struct api *api);
void api_internal_route(struct api *api, struct http_request *req);
/* Adds this node's clock to an answer to an /internal call, signed over the request's
 * signature when that is authentic (replication/peer_auth.h); nothing otherwise. */
void api_internal_answer(struct api *api, struct http_request *req);

/* auth.c: who the request acts for (fills tenant and client_id for a client, and the
 * access of a client or a user: its permissions and grants); @why says what is wrong
 * for API_ANONYMOUS. */
enum api_principal api_authenticate(struct api_call *call, const char **why);
/* The same, but a user token is checked by its signature only (not its user's record,
 * which a node that has not applied the user's creation yet lacks): whether a request
 * may be held for an index (router.c); dispatch() checks it in full after the wait. */
enum api_principal api_authenticate_to_hold(struct api_call *call, const char **why);
/* Whether the user or client @who that @call's fields name (tenant, username, token
 * generation, token id and via-client for a user; client id and generation for a
 * client), as a signed link recorded them, may still act; fills call->access when it
 * may. API_ANONYMOUS with @why saying why not. */
enum api_principal api_principal_current(struct api_call *call, enum api_principal who,
                                         const char **why);
/* Data grants (archive/access.h, over call->access): a user without the admin
 * permission sees and changes only bills of the organisations granted to it; everyone
 * else sees every bill of the tenant. */
bool api_org_visible(struct api_call *call, const char *org);
/* True when the caller is such a user (its grants limit what it sees). */
bool api_restricted(const struct api_call *call);
/* Whether bill @image_no is visible (a bill that does not exist yet counts as a bill of
 * no organisation); false after answering 404 as for a missing bill, so that a bill
 * outside the grants is not even known to exist. */
bool api_bill_visible(struct api_call *call, const char *image_no);
/* That 404: no bill @image_no that the caller may see. */
void api_respond_bill_hidden(struct api_call *call, const char *image_no);
/* For commands about one bill (api/workflow.c): checks the image number parameter and
 * the bill's visibility (false after answering), and answers an applied command with
 * the bill's state and match counts. */
bool api_bill_param_ok(struct api_call *call);
void api_bill_applied(struct repl_propose *prop, int status, const struct archive_result *res);
/* Loads the bill named by the call's parameter, if visible; false after answering. */
bool api_load_bill(struct api_call *call, BillRecord **bill);

/* A fresh access token (caller frees) for client @subject, or (@user true) user
 * @subject, of @tenant; a user token carries the record's @generation (revocation). */
char *api_token_issue(struct api *api, const char *tenant, const char *subject, bool user,
                      uint64_t generation, uint64_t expires_ms);
/* A user token logged in through business-system client @client (the vendor's
 * login.do) while the client's token generation was @client_generation: it stops
 * when the client is deleted or its secret rotated, as well as with the user's. */
char *api_token_issue_via(struct api *api, const char *tenant, const char *username,
                          uint64_t generation, uint64_t expires_ms, const char *client,
                          uint64_t client_generation);

/* vendor.c: the vendor-compatible surface (docs/integrators.md). */
/* Whether @raw_path is one of the vendor's (/kapi/... or /api/<name>.do): its errors,
 * a 404 or 405 included, take the vendor's envelope. */
bool api_vendor_path(const char *raw_path);
/* Makes every error answer of @call's request the vendor's envelope
 * {"success":false,"errorCode":"<imgarc code>","message":...,"data":null}. */
void api_vendor_begin(struct api_call *call);
/* Answers 200 {"success":true,"errorCode":"0000","message":"success","data":@data}
 * (@data stolen; NULL: {}). */
void api_vendor_ok(struct api_call *call, json_t *data);
/* A field of a vendor body as text into @buf (@max + 1 bytes): a string as it is, an
 * integer or a boolean written out (the vendor's documentation types some fields
 * loosely), "" when absent or null. False after answering 400 invalid_field (in the
 * envelope) when it is another type or longer than @max bytes. */
bool api_vendor_field(struct api_call *call, json_t *o, const char *name, size_t max,
                      char *buf);
/* The same for a field the call requires: absent, null or "" is 400 too. */
bool api_vendor_need(struct api_call *call, json_t *o, const char *name, size_t max,
                     char *buf);

/* vendor_collect.c and vendor_submit.c: fileCollect and scanBillSubmit
 * (docs/integrators.md). A collected file's srcPath is this prefix, its fileNo,
 * "/" and its name. */
#define API_VENDOR_SRC_PREFIX "collect/"
void api_handle_vendor_file_collect(struct api_call *call);
void api_handle_vendor_scan_bill_submit(struct api_call *call);

/* Answers 200 in the vendor's envelope with @data (stolen; NULL: {}) for a request
 * whose call is gone (a proposal's callback); @top (stolen, may be NULL) adds fields
 * to the envelope itself (getAppToken.do's "state" and "status"). */
void api_vendor_respond(struct api *api, struct http_request *req, json_t *data, json_t *top);

/* vendor_auth.c: /api/getAppToken.do, /api/login.do, /api/logout.do. */
void api_handle_vendor_app_token(struct api_call *call);
void api_handle_vendor_login(struct api_call *call);
void api_handle_vendor_logout(struct api_call *call);
/* vendor_bills.c: erpBillPush, operate, getEventCode, queryCover, and the JSON view
 * an event code opens. */
void api_handle_vendor_bill_push(struct api_call *call);
void api_handle_vendor_operate(struct api_call *call);
void api_handle_vendor_event_code(struct api_call *call);
void api_handle_vendor_query_cover(struct api_call *call);
void api_handle_event_view(struct api_call *call);

/* bills.c: proposes the pool push whose native fields (docs/API.md, POST /api/v1/pool)
 * are in @root (borrowed for the call), after the same checks; answers the native way,
 * or in the vendor's envelope for a vendor call. */
void api_pool_push_object(struct api_call *call, json_t *root);

/* auth.c: opens user access token @token (signature and expiry): its tenant, user, id
 * and expiry; false with *@why when it is no user token or has expired (*@expired). */
bool api_user_token_open(struct api *api, const char *token, struct api_call *call,
                         uint64_t *expires_ms, bool *expired, const char **why);
/* auth.c: whether @secret is client @c's. */
bool api_client_secret_matches(const ClientRecord *c, const char *secret);
/* users.c: the login guard (throttling of wrong secrets per name and source address)
 * for other credentials than passwords: @name is what is guessed at (a client id). */
uint64_t api_guard_key(struct api *api, const char *tenant, const char *name,
                       const char *peer);
uint64_t api_guard_wait_ms(struct api *api, uint64_t key, uint64_t now);
void api_guard_failed(struct api *api, uint64_t key, uint64_t now);
void api_guard_passed(struct api *api, uint64_t key, uint64_t now);

/* content.c: the bytes of file @file_id of the call's tenant (ranges, ETag,
 * verification, remote reads: replication/blob_out.c). With @signed_link the caller
 * is a signed link's, and a format a browser shows is served inline; its grants are
 * checked only when the link was made for a user (call->principal API_USER, its access
 * filled): links made for a client or the operator see the whole tenant, as they did. */
void api_content_serve(struct api_call *call, const char *file_id, bool signed_link);

/* links.c: signed, expiring texts under the cluster's token key: "<prefix><payload>.<mac>"
 * where payload is base64url JSON with "e" (expiry, ms) and mac its HMAC-SHA-256. The
 * prefix (e.g. "imglnk1.") is signed too and tells the kinds apart. */
#define API_SEALED_MAX 1024
enum api_seal_status { API_SEAL_OK, API_SEAL_FORGED, API_SEAL_EXPIRED };
/* The sealed text of @payload (borrowed; it must hold "e"), caller frees. */
char *api_seal(struct api *api, const char *prefix, json_t *payload);
/* Opens @text of kind @prefix: API_SEAL_OK with *@payload (caller decrefs), or why
 * not (*@payload NULL). */
enum api_seal_status api_unseal(struct api *api, const char *prefix, const char *text,
                                json_t **payload);
/* The same over an explicit key, for tests and the fuzz target; no expiry check. */
char *api_seal_key(const uint8_t key[32], const char *prefix, json_t *payload);
json_t *api_unseal_key(const uint8_t key[32], const char *prefix, const char *text);
/* A signed link to file @file_id of the call's tenant (absolute when the request
 * names its Host), caller frees; its expiry in *@expires_ms. */
char *api_link_url(struct api_call *call, const char *file_id, uint64_t *expires_ms);
void api_handle_file_link(struct api_call *call);
void api_handle_link_content(struct api_call *call);

/* console.c: the web console's embedded files (api/console_assets.h). Whether
 * @raw_path is one of the console's ("/" or under "/assets/"), and the answer to a
 * request for it (any method: GET and HEAD serve, others get 405). */
bool api_console_path(const char *raw_path);
void api_console_route(struct api *api, struct http_request *req);

/* Frees the api once its server, timers and jobs are all done (server.c). */
void api_maybe_free(struct api *api);

/* A request that reads its body and then waits for a proposal (op.c): the admin
 * endpoints. The op is req->data and prop.data; api_op_free() ends it. */
struct api_op {
    struct api_call call;
    struct repl_propose prop;
    json_t *body; /* the parsed body, once api_op_json() has read it */
    char *text;   /* an owned text the handler keeps (e.g. a license document) */
    void *data;   /* handler state, released with free() */
    size_t wipe;  /* bytes of @data wiped first (it holds a secret) */
};
/* An op for @call, for a request without a body. */
struct api_op *api_op_new(const struct api_call *call);
/* Starts an op for @call and buffers its body (at most @body_max bytes) for @done. */
struct api_op *api_op_start(const struct api_call *call, size_t body_max,
                            http_body_done_cb done);
/* The body as a JSON object (kept in op->body); NULL after answering (the server's own
 * refusal of the body, or 400 invalid_json). */
json_t *api_op_json(struct api_op *op, int status);
/* Stamps @cmd (for @tenant, or the call's when NULL) and proposes it; when that fails
 * at once, answers and frees the op. */
void api_op_propose(struct api_op *op, Command *cmd, const char *tenant, repl_propose_cb cb);
/* The digest an idempotency key is bound to: BLAKE2b-256 of @body packed (what makes
 * the request this request: a field drawn anew on each attempt must be left out). */
void api_request_digest(const ProtobufCMessage *body, uint8_t out[32]);
/* api_op_propose() for a request with Idempotency-Key @idem (NULL: none), bound to the
 * digest of @digested: a retry with the same key and body is answered from the first
 * one's result, another body with the key is refused 409. */
void api_op_propose_keyed(struct api_op *op, Command *cmd, const char *idem,
                          const ProtobufCMessage *digested, repl_propose_cb cb);
/* True when the proposal applied; otherwise answers the failure or the refusal. */
bool api_op_applied(struct api_op *op, int status, const struct archive_result *res);
void api_op_free(struct api_op *op);
/* Answers 400 invalid_field with @msg and frees the op; returns false. */
bool api_op_bad(struct api_op *op, const char *msg);
/* The "reason" of a body that may be empty or {"reason"} (at most @max bytes; @what says
 * what it is for, in the refusal): true with *@reason ("" when none), or false after
 * answering (a body that failed, is not JSON, or holds anything else). */
bool api_op_optional_reason(struct api_op *op, int status, size_t max, const char *what,
                            const char **reason);
/* For a deletion's proposal callback: answers 200 {@key: the path's name, "deleted":
 * true, "index"} once applied (or the failure), and frees the op. */
void api_op_answer_deleted(struct repl_propose *prop, int status,
                           const struct archive_result *res, const char *key);
/* A proposal callback that answers with the request's body and the applied index (201
 * for a POST, else 200). */
void api_op_echo_applied(struct repl_propose *prop, int status, const struct archive_result *res);

/* probe.c: what the capture paths (capture.c, vendor_collect.c) share. */
/* License and quota, checked on this node's state before any body byte is read, so a
 * capture that will be refused does not transfer its file first; @least_bytes is the
 * least the file can be (its announced length, less what else the body may hold). The
 * state machine decides again when it applies the capture; that decision is the one
 * that counts. False after answering (a refusal counts as a failed capture). */
bool api_write_allowed_now(struct api_call *call, uint64_t least_bytes);
/* What a captured file is, read from its bytes while the blob writer stores it. The
 * owner embeds it zeroed (it may set @format from the name meanwhile: the content has
 * the last say), calls api_probe_bytes() from its blob_in inspect hook and
 * api_probe_file() from its examine hook (worker thread: they touch only the probe),
 * then api_probe_log() on the loop once the blob is stored. */
struct api_probe {
    char format[8]; /* "pdf", "jpg", "xml", "ofd"... (archive/document.h) */
    uint8_t head[DOCUMENT_HEAD_BYTES];
    size_t head_len;
    uint32_t pdf_pages; /* the byte scan's count, then qpdf's when it read the file */
    bool pdf_unread;    /* a PDF qpdf could not read: the scan's count stands */
    bool pdf_failed;    /* no count from the child (limits, no turn, could not start):
                           the same, and a WARN */
    struct base_err pdf_err;       /* why */
    struct child_result pdf_child; /* how the counting child ended */
    struct einvoice einv;          /* the data of an e-invoice file, when einv_read */
    bool einv_read;
    bool einv_unread; /* an XML or OFD invoice without readable data */
    struct base_err einv_err;
};
/* Every chunk of the file in order: the leading bytes, and the byte scan's count of a
 * PDF's pages (archive/document.h: it misses pages inside object streams). */
void api_probe_bytes(struct api_probe *p, const char *data, size_t len);
/* The complete file at @path: its format from the content first, then @name's extension
 * (a JPEG named x.pdf is a JPEG); with @invoice (the path's own rule) an XML or OFD
 * e-invoice's data (archive/einvoice.h); a PDF's pages from qpdf in a limited child
 * process once one of the node's page counters is free (none in a process without
 * config.pdf_exe); the byte scan's count stays when the child gives none. Blocks:
 * worker threads only. */
void api_probe_file(struct api_probe *p, struct api *api, const char *path, const char *name,
                    bool invoice);
/* The pages a file has: the count, or 1 when there is none (not a PDF, no marker). */
uint32_t api_probe_pages(const struct api_probe *p);
/* Logs what the examination could not do (a PDF not counted by qpdf, an e-invoice
 * without readable data) under @module, naming the request and file. */
void api_probe_log(const struct api_probe *p, const char *module, const char *request_id,
                   const char *file_id);
/* One capture request as both paths run it, embedded in the path's own state: the
 * caller, the file streamed into the blob store (@up) and what it is (@probe), its
 * copies to the write quorum, the proposal. */
struct api_intake {
    struct api *api;
    struct http_request *req;
    char tenant[ARCHIVE_ID_MAX + 1];
    char actor[ARCHIVE_ID_MAX + 16];
    void *data; /* the path's state (up.data and prop.data too) */
    struct blob_in up;
    struct api_probe probe;
    struct keeper_copies copies;
    struct repl_propose prop;
    /* Private (api_intake_copy()). */
    void (*propose)(struct api_intake *in);
    void (*release)(struct api_intake *in);
};
/* Fills @in for @call's request, its blob writer with the path's hooks (their
 * u->data is @data); the path then starts the writer (replication/blob_path.h). */
void api_intake_init(struct api_intake *in, struct api_call *call, blob_in_inspect_cb inspect,
                     blob_in_examine_cb examine, blob_in_done_cb done, void *data);
/* Once the blob is stored: copies it to the write quorum of nodes
 * (replication/keeper.h); then @propose runs once, from inside this call when the
 * quorum is met already (or there is no keeper in this process), or the request is
 * answered 503 (counted as a failed capture) and @release frees the path's state. */
void api_intake_copy(struct api_intake *in, void (*propose)(struct api_intake *in),
                     void (*release)(struct api_intake *in));
/* Stamps @cmd (with @idempotency_key, may be NULL) for the caller's tenant and actor
 * and proposes it, @cb getting in->data in prop->data; false after answering when
 * that fails at once (the caller frees its state then; @cb does not run). */
bool api_intake_propose(struct api_intake *in, Command *cmd, const char *idempotency_key,
                        repl_propose_cb cb);
/* In @cb: true when the command applied (counted for /metrics with the file's size);
 * otherwise answers the failed proposal or the refusal, counted as a failed capture. */
bool api_intake_applied(struct api_intake *in, int status, const struct archive_result *res);

/* Small helpers. */
/* RFC 3339 UTC time, or null for 0. */
json_t *api_time_json(uint64_t ms);
/* A node id as answers carry it: a JSON string of its decimal digits (JavaScript's
 * numbers round integers above 2^53), or null for 0. */
json_t *api_node_id_json(uint64_t id);
const char *api_content_type(const char *format);
/* Reads an Idempotency-Key header: NULL when absent, "" when invalid. */
const char *api_idempotency_key(struct http_request *req);
/* A time as the bill list's created_from/created_to take it (bills.c): RFC 3339 (a '+'
 * of an offset may arrive decoded as a space) or a date YYYY-MM-DD (UTC midnight; with
 * @end_of_day the end of that day). Milliseconds, or -1 when unreadable or not after
 * 1970. */
int64_t api_parse_time(const char *v, bool end_of_day);
/* ?limit= of @call: 1-@max, @def when absent, into *@out; false after answering 400. */
bool api_query_limit(struct api_call *call, unsigned def, unsigned max, unsigned *out);

/* The recognition hook (recognition.c). A capture asks for it explicitly (the native
 * upload's ?recognize=true, the vendor's needRecognition "1"), or an image captured as
 * an invoice without invoice data is queued when this node has --recognition-url; the
 * caller then sets AddFile.recognize. */
/* Whether a capture of @category ("" when the classification decides) with or without
 * invoice data may ask for recognition: 0, or the HTTP status to refuse with (409 when
 * this node has no --recognition-url, 400 when the file cannot be an invoice to read),
 * with *@code and a message for the caller in @why. */
int api_recognition_explicit(const struct api *api, const char *category, bool has_invoice,
                             enum api_error *code, char *why, size_t why_size);
/* Whether a capture that did not ask is queued anyway. */
bool api_recognition_auto(const struct api *api, const char *category, const char *format,
                          bool has_invoice);
/* Reads ?recognize=true|false of a native upload into *@out (1 asked, -1 refused, 0 not
 * said: automatic); false after answering 4xx. */
bool api_recognition_param(struct api_call *call, const char *category, bool has_invoice,
                           int *out);

#endif
