/* The web console: its files, built by console/build.mjs and embedded by
 * console/embed.mjs (api/console_assets.h), served at GET and HEAD / (the page) and
 * /assets/... (content-hashed files). Constant memory: no disk, no copy
 * (http_respond_static), nothing to compress at run time (the gzip is built in). The
 * lookup is exact over the raw path, so an escaped or dotted path ("/assets/..%2f")
 * names no entry and is answered 404. Loop thread only. */
#include "api/api_int.h"

#include <stdlib.h>
#include <string.h>

#include "api/console_assets.h"
#include "net/http_accept.h"

/* docs/API.md "The console": on the page and on every script (a worker takes the CSP of
 * its own answer; pdf.js's runs from /assets/). */
#define CONSOLE_CSP                                                                        \
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "         \
    "img-src 'self' blob: data:; font-src 'self'; connect-src 'self'; worker-src 'self'; " \
    "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "           \
    "frame-ancestors 'none'"
#define CONSOLE_PERMISSIONS "camera=(), microphone=(), geolocation=(), fullscreen=(self)"

bool api_console_path(const char *raw_path)
{
    return strcmp(raw_path, "/") == 0 || strncmp(raw_path, "/assets/", 8) == 0;
}

static int compare_path(const void *key, const void *entry)
{
    return strcmp(key, ((const struct console_asset *)entry)->path);
}

static bool is_script(const char *path)
{
    size_t n = strlen(path);
    return (n > 3 && strcmp(path + n - 3, ".js") == 0) ||
           (n > 4 && strcmp(path + n - 4, ".mjs") == 0);
}

static void add_page_headers(struct http_request *req)
{
    http_request_add_header(req, "Content-Security-Policy", CONSOLE_CSP);
    http_request_add_header(req, "X-Frame-Options", "DENY");
    http_request_add_header(req, "Referrer-Policy", "same-origin");
    http_request_add_header(req, "Cross-Origin-Opener-Policy", "same-origin");
    http_request_add_header(req, "Permissions-Policy", CONSOLE_PERMISSIONS);
}

static void serve(struct http_request *req, const struct console_asset *a)
{
    bool gz = a->gz != NULL && http_accepts_gzip(http_request_header(req, "accept-encoding"));
    http_request_add_header(req, "ETag", a->etag);
    http_request_add_header(req, "Cache-Control", a->immutable
                                                      ? "public, max-age=31536000, immutable"
                                                      : "no-cache");
    if (a->gz != NULL) {
        http_request_add_header(req, "Vary", "Accept-Encoding");
    }
    if (strcmp(a->path, "/") == 0) {
        add_page_headers(req);
    } else if (is_script(a->path)) {
        http_request_add_header(req, "Content-Security-Policy", CONSOLE_CSP);
    }
    if (http_etag_listed(http_request_header(req, "if-none-match"), a->etag)) {
        http_respond_static(req, 304, NULL, NULL, 0);
        return;
    }
    if (gz) {
        http_request_add_header(req, "Content-Encoding", "gzip");
        http_respond_static(req, 200, a->content_type, a->gz, a->gz_len);
    } else {
        http_respond_static(req, 200, a->content_type, a->data, a->len);
    }
}

void api_console_route(struct api *api, struct http_request *req)
{
    const struct console_asset *a;
    if (console_assets_count == 0) {
        api_respond_error(api, req, 404, API_E_NOT_FOUND,
                          "this node was built without the web console "
                          "(-DIMGARC_CONSOLE=OFF); the API is under /api/v1/");
        return;
    }
    a = bsearch(req->raw_path, console_assets, console_assets_count, sizeof *a, compare_path);
    if (a == NULL) {
        api_respond_error(api, req, 404, API_E_NOT_FOUND,
                          "no such console file: %.200s (this node's console is build %s; "
                          "reload the page)", req->path, console_build);
        return;
    }
    if (req->method != HTTP_M_GET && req->method != HTTP_M_HEAD) {
        http_request_add_header(req, "Allow", "GET, HEAD");
        api_respond_error(api, req, 405, API_E_METHOD_NOT_ALLOWED,
                          "method %s is not allowed on %s", req->method_name, req->path);
        return;
    }
    serve(req, a);
}
