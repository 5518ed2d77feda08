/* Routing: the route table, admission (who the request acts for, for which tenant,
 * with which permissions) and read-your-writes (holding a request until this node has
 * applied the index it asks for). The answers themselves are in respond.c. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive/users.h"
#include "base/mem.h"
#include "replication/repl.h"

/* ---- Routing ---- */

/* AUTH_TOKEN: a tenant's data (operator or that tenant's client); the tenant must
 * exist. AUTH_TENANT_READ: a tenant's license and usage, for the operator or that
 * tenant's client. AUTH_OPERATOR: operator actions that name their tenant themselves. */
enum auth { AUTH_NONE, AUTH_TOKEN, AUTH_TENANT_READ, AUTH_OPERATOR };

struct route {
    enum http_method method;
    const char *pattern; /* segments; "*" matches the one parameter */
    enum auth auth;
    void (*handler)(struct api_call *call);
    unsigned perm; /* what a user's roles must grant (archive/users.h); clients have all
                      but admin, the operator everything */
};
/* A route whose pattern is one of the vendor's paths (/kapi/..., /api/<name>.do:
 * api_vendor_path()) is a call of the vendor-compatible surface (api/vendor.c): it
 * answers in the vendor's envelope and takes its token from ?access_token= too. */

static const struct route routes[] = {
    {HTTP_M_GET, "/healthz", AUTH_NONE, api_handle_healthz, 0},
    {HTTP_M_GET, "/readyz", AUTH_NONE, api_handle_readyz, 0},
    {HTTP_M_GET, "/metrics", AUTH_NONE, api_handle_metrics, 0},
    {HTTP_M_GET, "/api/v1/version", AUTH_NONE, api_handle_version, 0},
    {HTTP_M_POST, "/api/v1/pool", AUTH_TOKEN, api_handle_pool_push, PERM_CAPTURE},
    {HTTP_M_GET, "/api/v1/bills", AUTH_TOKEN, api_handle_list_bills, PERM_READ},
    {HTTP_M_GET, "/api/v1/bills/*", AUTH_TOKEN, api_handle_get_bill, PERM_READ},
    {HTTP_M_POST, "/api/v1/bills/*/files", AUTH_TOKEN, api_handle_upload, PERM_CAPTURE},
    {HTTP_M_POST, "/api/v1/bills/*/uploads", AUTH_TOKEN, api_handle_upload_create, PERM_CAPTURE},
    {HTTP_M_OPTIONS, "/api/v1/bills/*/uploads", AUTH_NONE, api_handle_upload_options, 0},
    {HTTP_M_OPTIONS, "/api/v1/uploads", AUTH_NONE, api_handle_upload_options, 0},
    {HTTP_M_HEAD, "/api/v1/uploads/*", AUTH_TOKEN, api_handle_upload_head, PERM_CAPTURE},
    {HTTP_M_GET, "/api/v1/uploads/*", AUTH_TOKEN, api_handle_upload_get, PERM_CAPTURE},
    {HTTP_M_PATCH, "/api/v1/uploads/*", AUTH_TOKEN, api_handle_upload_patch, PERM_CAPTURE},
    {HTTP_M_DELETE, "/api/v1/uploads/*", AUTH_TOKEN, api_handle_upload_delete, PERM_CAPTURE},
    {HTTP_M_POST, "/api/v1/bills/*/submit", AUTH_TOKEN, api_handle_submit, PERM_SUBMIT},
    {HTTP_M_GET, "/api/v1/bills/*/status", AUTH_TOKEN, api_handle_status, PERM_READ},
    {HTTP_M_GET, "/api/v1/bills/*/log", AUTH_TOKEN, api_handle_log, PERM_READ},
    {HTTP_M_GET, "/api/v1/files/*/content", AUTH_TOKEN, api_handle_content, PERM_READ},
    {HTTP_M_HEAD, "/api/v1/files/*/content", AUTH_TOKEN, api_handle_content, PERM_READ},
    {HTTP_M_POST, "/api/v1/tenants", AUTH_OPERATOR, api_handle_create_tenant, 0},
    {HTTP_M_GET, "/api/v1/tenants", AUTH_OPERATOR, api_handle_list_tenants, 0},
    {HTTP_M_DELETE, "/api/v1/tenants/*", AUTH_OPERATOR, api_handle_delete_tenant, 0},
    {HTTP_M_GET, "/api/v1/tenants/*/usage", AUTH_TENANT_READ, api_handle_usage, PERM_READ},
    {HTTP_M_POST, "/api/v1/licenses", AUTH_OPERATOR, api_handle_install_license, 0},
    {HTTP_M_GET, "/api/v1/licenses", AUTH_TENANT_READ, api_handle_show_license, PERM_READ},
    {HTTP_M_POST, "/api/v1/clients", AUTH_TOKEN, api_handle_create_client, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/audit", AUTH_TENANT_READ, api_handle_admin_audit, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/auth/token", AUTH_NONE, api_handle_token, 0},
    {HTTP_M_POST, "/api/v1/auth/login", AUTH_NONE, api_handle_login, 0},
    /* Who the token is (any token; the operator's tenant need not exist). */
    {HTTP_M_GET, "/api/v1/auth/me", AUTH_TENANT_READ, api_handle_auth_me, 0},
    {HTTP_M_POST, "/api/v1/auth/operator", AUTH_NONE, api_handle_auth_operator, 0},
    {HTTP_M_POST, "/api/v1/users", AUTH_TOKEN, api_handle_create_user, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/users", AUTH_TOKEN, api_handle_list_users, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/users/*/unlock", AUTH_TOKEN, api_handle_unlock_user, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/roles", AUTH_TOKEN, api_handle_create_role, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/roles", AUTH_TOKEN, api_handle_list_roles, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/orgs", AUTH_TOKEN, api_handle_create_org, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/orgs", AUTH_TOKEN, api_handle_list_orgs, PERM_READ},
    {HTTP_M_PATCH, "/api/v1/orgs/*", AUTH_TOKEN, api_handle_update_org, PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/orgs/*", AUTH_TOKEN, api_handle_delete_org, PERM_ADMIN},
    {HTTP_M_PUT, "/api/v1/users/*/grants", AUTH_TOKEN, api_handle_set_grants, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/webhooks", AUTH_TOKEN, api_handle_create_webhook, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/webhooks", AUTH_TOKEN, api_handle_list_webhooks, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/webhooks/*", AUTH_TOKEN, api_handle_get_webhook, PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/webhooks/*", AUTH_TOKEN, api_handle_delete_webhook, PERM_ADMIN},
    /* Data sources to migrate from (api/datasources.c). */
    {HTTP_M_POST, "/api/v1/datasources", AUTH_TOKEN, api_handle_create_datasource, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/datasources", AUTH_TOKEN, api_handle_list_datasources, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/datasources/*", AUTH_TOKEN, api_handle_get_datasource, PERM_ADMIN},
    {HTTP_M_PATCH, "/api/v1/datasources/*", AUTH_TOKEN, api_handle_update_datasource,
     PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/datasources/*", AUTH_TOKEN, api_handle_delete_datasource,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/datasources/*/test", AUTH_TOKEN, api_handle_test_datasource,
     PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/bills/*/deliveries", AUTH_TOKEN, api_handle_bill_deliveries,
     PERM_READ},
    {HTTP_M_GET, "/api/v1/deliveries", AUTH_TOKEN, api_handle_list_deliveries, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/deliveries/*/retry", AUTH_TOKEN, api_handle_retry_delivery,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/bill-types", AUTH_TOKEN, api_handle_create_bill_type, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/bill-types", AUTH_TOKEN, api_handle_list_bill_types, PERM_READ},
    {HTTP_M_POST, "/api/v1/schemes", AUTH_TOKEN, api_handle_set_scheme, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/schemes", AUTH_TOKEN, api_handle_list_schemes, PERM_READ},
    {HTTP_M_PATCH, "/api/v1/bills/*/files/*", AUTH_TOKEN, api_handle_patch_file, PERM_EDIT},
    {HTTP_M_POST, "/api/v1/bills/*/match", AUTH_TOKEN, api_handle_match_bill, PERM_MATCH},
    {HTTP_M_GET, "/api/v1/bills/*/match", AUTH_TOKEN, api_handle_match_results, PERM_READ},
    {HTTP_M_POST, "/api/v1/bills/*/files/*/match", AUTH_TOKEN, api_handle_match_file,
     PERM_MATCH},
    {HTTP_M_DELETE, "/api/v1/bills/*/files/*/match", AUTH_TOKEN, api_handle_unmatch_file,
     PERM_MATCH},
    {HTTP_M_POST, "/api/v1/bills/*/erp-submit", AUTH_TOKEN, api_handle_erp_submit, PERM_SUBMIT},
    {HTTP_M_POST, "/api/v1/bills/*/return", AUTH_TOKEN, api_handle_return_bill, PERM_REVIEW},
    {HTTP_M_POST, "/api/v1/categories", AUTH_TOKEN, api_handle_create_category, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/categories", AUTH_TOKEN, api_handle_list_categories, PERM_READ},
    {HTTP_M_POST, "/api/v1/bills/*/categorize", AUTH_TOKEN, api_handle_categorize, PERM_EDIT},
    {HTTP_M_POST, "/api/v1/bills/*/delete", AUTH_TOKEN, api_handle_delete_files, PERM_DELETE},
    {HTTP_M_POST, "/api/v1/bills/*/holds", AUTH_TOKEN, api_handle_place_hold, PERM_HOLD},
    {HTTP_M_DELETE, "/api/v1/bills/*/holds/*", AUTH_TOKEN, api_handle_lift_hold, PERM_HOLD},
    /* Retention periods and deleting bills (api/retention.c). */
    {HTTP_M_DELETE, "/api/v1/bills/*", AUTH_TOKEN, api_handle_delete_bill, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/retention", AUTH_TOKEN, api_handle_get_retention, PERM_READ},
    {HTTP_M_PUT, "/api/v1/retention", AUTH_TOKEN, api_handle_set_retention, PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/bills/*/files/*", AUTH_TOKEN, api_handle_delete_file,
     PERM_DELETE},
    {HTTP_M_POST, "/api/v1/bills/*/rotate", AUTH_TOKEN, api_handle_rotate, PERM_EDIT},
    {HTTP_M_POST, "/api/v1/bills/*/files/*/move", AUTH_TOKEN, api_handle_move_file, PERM_EDIT},
    {HTTP_M_POST, "/api/v1/bills/*/merge", AUTH_TOKEN, api_handle_merge, PERM_EDIT},
    {HTTP_M_GET, "/api/v1/batches/*/match", AUTH_TOKEN, api_handle_batch_match, PERM_READ},
    {HTTP_M_POST, "/api/v1/bills/*/files/*/split", AUTH_TOKEN, api_handle_split, PERM_EDIT},
    {HTTP_M_GET, "/api/v1/cluster", AUTH_OPERATOR, api_handle_cluster, 0},
    {HTTP_M_POST, "/api/v1/cluster/join", AUTH_OPERATOR, api_handle_cluster_join, 0},
    {HTTP_M_DELETE, "/api/v1/cluster/nodes/*", AUTH_OPERATOR, api_handle_cluster_remove, 0},
    {HTTP_M_POST, "/api/v1/cluster/nodes/*/drain", AUTH_OPERATOR, api_handle_cluster_drain, 0},
    {HTTP_M_DELETE, "/api/v1/cluster/nodes/*/drain", AUTH_OPERATOR, api_handle_cluster_undrain,
     0},
    {HTTP_M_GET, "/api/v1/cluster/blobs/*", AUTH_OPERATOR, api_handle_cluster_blob, 0},
    {HTTP_M_PUT, "/api/v1/cluster/nodes/*/weight", AUTH_OPERATOR, api_handle_cluster_weight,
     0},
    {HTTP_M_GET, "/api/v1/cluster/digest", AUTH_OPERATOR, api_handle_cluster_digest, 0},
    /* What a backup reads (api/backup.c, docs/backup.md). */
    {HTTP_M_GET, "/api/v1/cluster/backup", AUTH_OPERATOR, api_handle_cluster_backup, 0},
    {HTTP_M_GET, "/api/v1/cluster/blobs/*/content", AUTH_OPERATOR,
     api_handle_cluster_blob_content, 0},
    /* The members and their consoles' addresses, for any token (api/nodes.c). */
    {HTTP_M_GET, "/api/v1/nodes", AUTH_TENANT_READ, api_handle_nodes, 0},
    /* Signed links and event codes (api/links.c, api/vendor_bills.c): the signed text
     * in the URL is the credential. */
    {HTTP_M_POST, "/api/v1/files/*/link", AUTH_TOKEN, api_handle_file_link, PERM_READ},
    {HTTP_M_GET, "/api/v1/links/*", AUTH_NONE, api_handle_link_content, 0},
    {HTTP_M_HEAD, "/api/v1/links/*", AUTH_NONE, api_handle_link_content, 0},
    {HTTP_M_GET, "/api/v1/events/*", AUTH_NONE, api_handle_event_view, 0},
    {HTTP_M_GET, "/index.html", AUTH_NONE, api_handle_event_view, 0},
    {HTTP_M_GET, "/mobile.html", AUTH_NONE, api_handle_event_view, 0},
    /* The vendor-compatible surface (api/vendor_auth.c, api/vendor_bills.c). */
    {HTTP_M_POST, "/api/getAppToken.do", AUTH_NONE, api_handle_vendor_app_token, 0},
    {HTTP_M_POST, "/api/login.do", AUTH_NONE, api_handle_vendor_login, 0},
    {HTTP_M_POST, "/api/logout.do", AUTH_NONE, api_handle_vendor_logout, 0},
    {HTTP_M_POST, "/kapi/app/bds/erpBillPush", AUTH_TOKEN, api_handle_vendor_bill_push,
     PERM_CAPTURE},
    {HTTP_M_POST, "/kapi/app/bds/operate", AUTH_TOKEN, api_handle_vendor_operate, PERM_READ},
    {HTTP_M_POST, "/kapi/app/bds/getEventCode", AUTH_TOKEN, api_handle_vendor_event_code,
     PERM_READ},
    {HTTP_M_POST, "/kapi/app/rim/queryCover", AUTH_TOKEN, api_handle_vendor_query_cover,
     PERM_READ},
    {HTTP_M_POST, "/kapi/app/bds/fileCollect", AUTH_TOKEN, api_handle_vendor_file_collect,
     PERM_CAPTURE},
    {HTTP_M_POST, "/kapi/app/bds/scanBillSubmit", AUTH_TOKEN,
     api_handle_vendor_scan_bill_submit, PERM_CAPTURE},
    /* Administration of users, roles and clients (api/users.c, api/clients.c). */
    {HTTP_M_GET, "/api/v1/users/*", AUTH_TOKEN, api_handle_get_user, PERM_ADMIN},
    {HTTP_M_PATCH, "/api/v1/users/*", AUTH_TOKEN, api_handle_update_user, PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/users/*", AUTH_TOKEN, api_handle_delete_user, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/users/*/password", AUTH_TOKEN, api_handle_reset_password,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/auth/password", AUTH_TOKEN, api_handle_change_password, 0},
    {HTTP_M_PATCH, "/api/v1/roles/*", AUTH_TOKEN, api_handle_update_role, PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/roles/*", AUTH_TOKEN, api_handle_delete_role, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/clients", AUTH_TOKEN, api_handle_list_clients, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/clients/*/secret", AUTH_TOKEN, api_handle_rotate_client_secret,
     PERM_ADMIN},
    {HTTP_M_DELETE, "/api/v1/clients/*", AUTH_TOKEN, api_handle_delete_client, PERM_ADMIN},
    /* Migration batches (api/migrations.c). */
    {HTTP_M_POST, "/api/v1/migrations", AUTH_TOKEN, api_handle_create_migration, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/migrations", AUTH_TOKEN, api_handle_list_migrations, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/migrations/*", AUTH_TOKEN, api_handle_get_migration, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/start", AUTH_TOKEN, api_handle_start_migration,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/pause", AUTH_TOKEN, api_handle_pause_migration,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/resume", AUTH_TOKEN, api_handle_resume_migration,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/retry", AUTH_TOKEN, api_handle_retry_migration,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/cancel", AUTH_TOKEN, api_handle_cancel_migration,
     PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/migrations/*/bills/skip", AUTH_TOKEN,
     api_handle_skip_migration_bills, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/migrations/*/bills", AUTH_TOKEN, api_handle_migration_bills,
     PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/migrations/*/log", AUTH_TOKEN, api_handle_migration_log, PERM_ADMIN},
    /* Invoice-data sync (api/sync.c). */
    {HTTP_M_GET, "/api/v1/sync/settings", AUTH_TOKEN, api_handle_get_sync_settings, PERM_ADMIN},
    {HTTP_M_PUT, "/api/v1/sync/settings", AUTH_TOKEN, api_handle_put_sync_settings, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/sync/runs", AUTH_TOKEN, api_handle_create_sync_runs, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/sync/runs", AUTH_TOKEN, api_handle_list_sync_runs, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/sync/runs/*", AUTH_TOKEN, api_handle_get_sync_run, PERM_ADMIN},
    {HTTP_M_GET, "/api/v1/sync/failures", AUTH_TOKEN, api_handle_sync_failures, PERM_ADMIN},
    {HTTP_M_POST, "/api/v1/sync/failures/retry", AUTH_TOKEN, api_handle_retry_sync_failures,
     PERM_ADMIN},
};

static const char *method_name(enum http_method m)
{
    switch (m) {
    case HTTP_M_GET: return "GET";
    case HTTP_M_HEAD: return "HEAD";
    case HTTP_M_POST: return "POST";
    case HTTP_M_PUT: return "PUT";
    case HTTP_M_PATCH: return "PATCH";
    case HTTP_M_DELETE: return "DELETE";
    case HTTP_M_OPTIONS: return "OPTIONS";
    case HTTP_M_OTHER: break;
    }
    return "OTHER";
}

/* Percent-decodes one raw path segment into @out; false when it does not fit, has a
 * broken escape or decodes to a NUL. */
static bool decode_segment(const char *s, size_t n, char *out, size_t size)
{
    char *d = http_percent_decode(s, n, false);
    bool ok = d != NULL && strlen(d) < size;
    if (ok) {
        memcpy(out, d, strlen(d) + 1);
    }
    free(d);
    return ok;
}

/* Matches the raw path against @pattern; the "*" segments are decoded into @params[0]
 * and @params[1] (each @size bytes). Returns 1 on a match, 0 when it does not match, -1
 * when a parameter is unusable. */
static int match_route(const char *pattern, const char *raw, char *const params[2], size_t size)
{
    const char *p = pattern;
    const char *r = raw;
    int n = 0;
    while (*p != '\0' && *r != '\0') {
        const char *pe, *re;
        if (*p != '/' || *r != '/') {
            return 0;
        }
        p++;
        r++;
        pe = p + strcspn(p, "/");
        re = r + strcspn(r, "/?");
        if (pe - p == 1 && *p == '*') {
            ASSERT(n < 2);
            if (re == r || !decode_segment(r, (size_t)(re - r), params[n], size)) {
                return re == r ? 0 : -1;
            }
            n++;
        } else if (pe - p != re - r || memcmp(p, r, (size_t)(pe - p)) != 0) {
            return 0;
        }
        p = pe;
        r = re;
    }
    return (*p == '\0' && (*r == '\0' || *r == '?')) ? 1 : 0;
}

/* Operator tokens act for the tenant named by ?tenant= (default "default"). */
static bool pick_tenant(struct api_call *call)
{
    char *t = http_request_query(call->req, "tenant");
    bool ok = true;
    if (t == NULL) {
        snprintf(call->tenant, sizeof call->tenant, ARCHIVE_DEFAULT_TENANT);
    } else if (archive_valid_tenant(t)) {
        snprintf(call->tenant, sizeof call->tenant, "%s", t);
        call->tenant_given = true;
    } else {
        ok = false;
    }
    free(t);
    return ok;
}

/* False (after answering 404) when the call's tenant does not exist. */
static bool tenant_exists(struct api_call *call)
{
    struct base_err err = {{0}};
    TenantRecord *t;
    int rv = archive_get_tenant(call->api->archive, call->tenant, &t, &err);
    if (rv == 0) {
        archive_free_tenant(t);
        return true;
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_TENANT_NOT_FOUND,
                          "no tenant %s; check ?tenant= (tenants are listed by GET "
                          "/api/v1/tenants)", call->tenant);
    } else {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "tenant %s: %s",
                          call->tenant, err.msg);
    }
    return false;
}

/* Whether a client's or user's access (loaded by api_authenticate()) allows @route;
 * false after answering 403. */
static bool perms_allow(struct api_call *call, const struct route *route)
{
    char have[128], need[64];
    if (archive_actor_may(&call->access, route->perm)) {
        return true;
    }
    archive_perms_format(call->access.perms, have, sizeof have);
    archive_perms_format(route->perm, need, sizeof need);
    api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                      "%s %s needs the permission %s; %s has %s", call->req->method_name,
                      call->req->path, need, call->actor, have[0] != '\0' ? have : "none");
    return false;
}

/* A client or user acts for its own tenant only, and never as the operator. */
static bool client_may(struct api_call *call, const struct route *route)
{
    char *t = http_request_query(call->req, "tenant");
    bool other = t != NULL && strcmp(t, call->tenant) != 0;
    free(t);
    if (route->auth == AUTH_OPERATOR) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "%s %s needs the operator token; %s acts for tenant %s only",
                          call->req->method_name, call->req->path, call->actor, call->tenant);
        return false;
    }
    if (other || (route->auth == AUTH_TENANT_READ && call->param[0] != '\0' &&
                  strcmp(call->param, call->tenant) != 0)) {
        api_respond_error(call->api, call->req, 403, API_E_FORBIDDEN,
                          "%s acts for tenant %s only", call->actor, call->tenant);
        return false;
    }
    return perms_allow(call, route);
}

/* Authenticates and picks the tenant; false after answering. */
static bool admit(struct api_call *call, const struct route *route)
{
    const char *why;
    call->principal = api_authenticate(call, &why);
    if (call->principal == API_ANONYMOUS) {
        http_request_add_header(call->req, "WWW-Authenticate", "Bearer");
        api_respond_error(call->api, call->req, 401, API_E_UNAUTHORIZED,
                          "missing or wrong bearer token: %s", why);
        return false;
    }
    if (call->principal != API_OPERATOR) {
        if (call->principal == API_CLIENT) {
            snprintf(call->actor, sizeof call->actor, "client:%s", call->client_id);
        } else {
            snprintf(call->actor, sizeof call->actor, "user:%s", call->username);
        }
        if (!client_may(call, route)) {
            return false;
        }
    } else {
        snprintf(call->actor, sizeof call->actor, "operator");
        if (!pick_tenant(call)) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "tenant must be 1-64 characters of A-Z a-z 0-9 . _ -");
            return false;
        }
        archive_actor_operator(&call->access, call->tenant);
    }
    return route->auth != AUTH_TOKEN || tenant_exists(call);
}

static void dispatch(struct api_call *call, const struct route *route)
{
    struct repl_status rs;
    if (route->auth != AUTH_NONE) {
        repl_get_status(call->api->repl, &rs);
        if (rs.removed) {
            api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                              "this node was removed from the cluster and serves nothing; "
                              "use another node");
            return;
        }
    }
    if (route->auth == AUTH_NONE || admit(call, route)) {
        route->handler(call);
    }
}

/* ---- Read-your-writes: X-Imgarc-Min-Index and ?consistent=true ---- */

/* How long a request may wait for this node to apply the index it asks for, and how
 * many requests may wait at once (more: 503 at once). */
#define MIN_INDEX_WAIT_MS 5000
#define HELD_MAX 1024

/* A request held until this node has applied what it asks for. */
struct held {
    struct api_call call;
    const struct route *route;
    uint64_t min_index;
    bool consistent;
    bool aborted;
    struct repl_wait wait;
    struct repl_read read;
};

static void held_aborted(struct http_request *req)
{
    struct held *h = req->data;
    h->aborted = true; /* answered (a no-op) when the wait ends, soon */
}

static void held_release(struct held *h, int status)
{
    struct api *api = h->call.api;
    struct http_request *req = h->call.req;
    api->held_requests--;
    req->abort_cb = NULL;
    req->data = NULL;
    if (h->aborted) {
        http_respond(req, 503, NULL, NULL, 0);
    } else if (status == BASE_ESHUTDOWN) {
        api_respond_propose_error(api, req, status);
    } else if (status != 0 && h->consistent && h->read.index == 0) {
        api_respond_error(api, req, 503, API_E_UNAVAILABLE,
                          "consistent read: the raft leader could not be reached or could not "
                          "confirm its leadership; retry shortly");
    } else if (status != 0) {
        api_respond_error(api, req, 503, API_E_INDEX_NOT_REACHED,
                          "this node has applied raft index %llu, not yet %llu, after %d ms; "
                          "retry, or ask another node",
                          (unsigned long long)repl_applied_index(api->repl),
                          (unsigned long long)(h->min_index > h->read.index ? h->min_index
                                                                          : h->read.index),
                          MIN_INDEX_WAIT_MS);
    } else {
        dispatch(&h->call, h->route);
    }
    free(h);
}

static void held_applied(struct repl_wait *w, int status)
{
    held_release(w->data, status);
}

static void held_read(struct repl_read *rd, int status)
{
    struct held *h = rd->data;
    if (status != 0 || h->aborted || repl_applied_index(h->call.api->repl) >= h->min_index) {
        held_release(h, status);
        return;
    }
    repl_wait_applied(h->call.api->repl, &h->wait, h->min_index, MIN_INDEX_WAIT_MS,
                      held_applied);
}

/* Reads X-Imgarc-Min-Index and ?consistent=; false after answering 400. */
static bool read_your_writes(struct api_call *call, uint64_t *min_index, bool *consistent)
{
    const char *m = http_request_header(call->req, "x-imgarc-min-index");
    char *c = http_request_query(call->req, "consistent");
    bool ok = true;
    *min_index = 0;
    *consistent = false;
    if (m != NULL) {
        size_t n = strlen(m);
        if (n == 0 || n > 19 || strspn(m, "0123456789") != n) {
            api_respond_error(call->api, call->req, 400, API_E_BAD_REQUEST,
                              "X-Imgarc-Min-Index must be a raft index: the \"index\" an "
                              "earlier write answered (digits)");
            ok = false;
        } else {
            *min_index = strtoull(m, NULL, 10);
        }
    }
    if (ok && c != NULL) {
        if (strcmp(c, "true") == 0 || strcmp(c, "1") == 0) {
            *consistent = true;
        } else if (strcmp(c, "false") != 0 && strcmp(c, "0") != 0) {
            api_respond_error(call->api, call->req, 400, API_E_INVALID_QUERY,
                              "consistent must be true or false");
            ok = false;
        }
    }
    free(c);
    return ok;
}

/* Dispatches now, or once this node has applied the index the request asks for
 * (X-Imgarc-Min-Index) and, with ?consistent=true, the leader's read index. Only
 * routes that take a token honour them, and only for a caller whose credentials check
 * out now: an anonymous caller cannot make the node hold its request or append a raft
 * barrier (it is answered 401 at once). A user's token is checked by its signature
 * here (the user's record and roles are read after the wait, so a user created
 * through another node can use it); a business system's token also needs its client
 * known to this node. dispatch() checks the credentials in full after the wait.
 * Public routes (health, metrics, version, token and login) ignore both. */
static void dispatch_when_applied(struct api_call *call, const struct route *route)
{
    struct api *api = call->api;
    uint64_t min_index;
    bool consistent;
    const char *why;
    struct held *h;
    if (!read_your_writes(call, &min_index, &consistent)) {
        return;
    }
    if (route->auth == AUTH_NONE ||
        (!consistent && repl_applied_index(api->repl) >= min_index)) {
        dispatch(call, route);
        return;
    }
    if (api_authenticate_to_hold(call, &why) == API_ANONYMOUS) {
        dispatch(call, route); /* refused 401 there, without waiting */
        return;
    }
    if (api->held_requests >= HELD_MAX) {
        http_request_add_header(call->req, "Retry-After", "1");
        api_respond_error(api, call->req, 503, API_E_UNAVAILABLE,
                          "%u requests already wait for a raft index on this node; retry "
                          "shortly, or without X-Imgarc-Min-Index / ?consistent=true",
                          api->held_requests);
        return;
    }
    api->held_requests++;
    h = xcalloc(1, sizeof *h);
    h->call = *call;
    h->route = route;
    h->min_index = min_index;
    h->consistent = consistent;
    h->wait.data = h;
    h->read.data = h;
    call->req->data = h;
    call->req->abort_cb = held_aborted;
    if (consistent) {
        repl_read_index(api->repl, &h->read, false, held_read);
    } else {
        repl_wait_applied(api->repl, &h->wait, min_index, MIN_INDEX_WAIT_MS, held_applied);
    }
}

/* A node catching up (its store is being replaced by one fetched from another member,
 * docs/snapshots.md) answers only its probes and metrics: anything else would read or
 * change a store about to be replaced. */
static bool refused_while_catching_up(struct api_call *call, const struct route *route)
{
    if (!repl_catching_up(call->api->repl) || route->handler == api_handle_healthz ||
        route->handler == api_handle_readyz || route->handler == api_handle_metrics ||
        route->handler == api_handle_version) {
        return false;
    }
    http_request_add_header(call->req, "Retry-After", "5");
    api_respond_error(call->api, call->req, 503, API_E_UNAVAILABLE,
                      "this node is catching up: it is fetching the metadata store from "
                      "another member; send the request to another node, or retry when "
                      "GET /readyz answers 200");
    return true;
}

void api_route(struct api *api, struct http_request *req);

void api_route(struct api *api, struct http_request *req)
{
    struct api_call call = {.api = api, .req = req};
    bool path_known = false;
    char allow[64] = "";
    if (strncmp(req->raw_path, PEER_PREFIX, strlen(PEER_PREFIX)) == 0) {
        api_internal_route(api, req);
        return;
    }
    if (api_console_path(req->raw_path)) {
        api_console_route(api, req); /* the web console's files (api/console.c) */
        return;
    }
    if (api_vendor_path(req->raw_path)) {
        api_vendor_begin(&call); /* every answer in the vendor's envelope, 404 and 405 too */
    }
    /* A body that is part of something (RFC 9110: a server that does not apply partial
     * PUTs must refuse them) would be stored as if it were the whole file. */
    if ((req->method == HTTP_M_POST || req->method == HTTP_M_PUT ||
         req->method == HTTP_M_PATCH) &&
        http_request_header(req, "content-range") != NULL) {
        api_respond_error(api, req, 400, API_E_BAD_REQUEST,
                          "Content-Range on a request body: a part of a file cannot be "
                          "uploaded this way; send the whole file in one request (after a "
                          "broken upload, send it again from the start with the same "
                          "Idempotency-Key), or use a resumable upload (POST "
                          "/api/v1/bills/{image_no}/uploads, tus 1.0)");
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        char *params[2] = {call.param, call.param2};
        int m = match_route(routes[i].pattern, req->raw_path, params, sizeof call.param);
        if (m == 0) {
            continue;
        }
        if (m < 0) {
            api_respond_error(api, req, 400, API_E_BAD_REQUEST,
                              "path parameter is too long or not valid percent-encoding");
            return;
        }
        path_known = true;
        if (routes[i].method == req->method) {
            if (refused_while_catching_up(&call, &routes[i])) {
                return;
            }
            dispatch_when_applied(&call, &routes[i]);
            return;
        }
        snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                 allow[0] != '\0' ? ", " : "", method_name(routes[i].method));
    }
    if (path_known) {
        http_request_add_header(req, "Allow", allow);
        api_respond_error(api, req, 405, API_E_METHOD_NOT_ALLOWED,
                          "method %s is not allowed on %s", req->method_name, req->path);
    } else {
        api_respond_error(api, req, 404, API_E_NOT_FOUND,
                          "no such endpoint: %s %s; see docs/API.md", req->method_name,
                          req->path);
    }
}
