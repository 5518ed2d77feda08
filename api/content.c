/* GET /api/v1/files/{file_id}/content: a file's bytes, and the same through a signed link
 * (api/links.c). This handler checks the file is the caller's to see (a signed link
 * was checked when it was issued) and names it (Content-Disposition: inline for what a
 * browser shows, through a link; attachment otherwise); the bytes are streamed,
 * verified, by replication/blob_out.c (from this node's disk, or from a node that
 * holds the blob when this one does not). */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "replication/repl.h"

const char *api_content_type(const char *format)
{
    static const char *const types[][2] = {
        {"pdf", "application/pdf"}, {"jpg", "image/jpeg"},      {"png", "image/png"},
        {"tiff", "image/tiff"},     {"xml", "application/xml"}, {"ofd", "application/ofd"},
        {"txt", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        if (strcmp(format, types[i][0]) == 0) {
            return types[i][1];
        }
    }
    return "application/octet-stream";
}

/* Formats a browser shows itself: a signed link serves them inline. */
static bool browser_shows(const char *format)
{
    static const char *const shown[] = {"pdf", "jpg", "png", "txt"};
    for (size_t i = 0; i < ARRAY_SIZE(shown); i++) {
        if (strcmp(format, shown[i]) == 0) {
            return true;
        }
    }
    return false;
}

static void add_disposition(struct http_request *req, const char *name, bool show)
{
    /* A plain ASCII fallback plus the exact UTF-8 name (RFC 6266 / 8187). */
    size_t n = strlen(name);
    char *ascii = xmalloc(n + 1);
    char *enc = xmalloc(3 * n + 1);
    char *value;
    size_t e = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        ascii[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '_' : (char)c;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            strchr("!#$&+-.^_`|~", c) != NULL) {
            enc[e++] = (char)c;
        } else {
            e += (size_t)sprintf(enc + e, "%%%02X", c);
        }
    }
    ascii[n] = '\0';
    enc[e] = '\0';
    value = xasprintf("%s; filename=\"%s\"; filename*=UTF-8''%s", show ? "inline" : "attachment",
                      ascii, enc);
    http_request_add_header(req, "Content-Disposition", value);
    free(value);
    free(ascii);
    free(enc);
}

static bool file_visible(struct api_call *call, const FileRecord *f)
{
    struct base_err err;
    BillRecord *bill;
    bool yes;
    if (!api_restricted(call)) {
        return true;
    }
    if (archive_get_bill(call->api->archive, call->tenant, f->image_no, &bill, &err) != 0) {
        return api_org_visible(call, "");
    }
    yes = api_org_visible(call, bill->org);
    archive_free_bill(bill);
    return yes;
}

void api_handle_content(struct api_call *call)
{
    api_content_serve(call, call->param, false);
}

void api_content_serve(struct api_call *call, const char *file_id, bool signed_link)
{
    struct base_err err = {{0}};
    struct blob_out *out;
    FileRecord *f;
    int rv = archive_get_file(call->api->archive, call->tenant, file_id, &f, &err);
    /* A link made for a user shows what that user still sees (api/links.c). */
    if (rv == 0 && (!signed_link || call->principal == API_USER) && !file_visible(call, f)) {
        archive_free_file(f);
        rv = BASE_ENOTFOUND; /* outside the caller's grants: as if it did not exist */
    }
    if (rv == BASE_ENOTFOUND) {
        api_respond_error(call->api, call->req, 404, API_E_FILE_NOT_FOUND,
                          "no file %.64s in tenant %s; take file ids from GET "
                          "/api/v1/bills/{image_no}",
                          file_id, call->tenant);
        return;
    }
    if (rv != 0 || f->blob.len != BLOB_HASH_BYTES) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "file record: %s",
                          rv != 0 ? err.msg : "bad blob reference");
        archive_free_file(f);
        return;
    }
    out = blob_out_plan(&call->api->blob_path, call->req, f->blob.data, f->size, f->check);
    if (out == NULL) {
        archive_free_file(f);
        return;
    }
    add_disposition(call->req, f->name, signed_link && browser_shows(f->format));
    /* Stored bytes are the tenant's, not ours: never sniffed into another type, and an
     * image or text a link opens in a tab runs nothing and loads nothing (a PDF keeps
     * the browser's viewer, which a sandboxed answer would break). */
    http_request_add_header(call->req, "X-Content-Type-Options", "nosniff");
    if (strcmp(f->format, "pdf") != 0) {
        http_request_add_header(call->req, "Content-Security-Policy",
                                "sandbox; default-src 'none'; img-src 'self'; "
                                "style-src 'unsafe-inline'");
    }
    blob_out_start(out, api_content_type(f->format));
    archive_free_file(f);
}
