/* What the capture paths share: the native upload (capture.c) and the vendor's
 * fileCollect (vendor_collect.c) check the license and quota the same way before the
 * body is read, learn what a file is the same way while the blob writer stores it
 * (replication/blob_path.h: the leading bytes and a first count of a PDF's pages on
 * every chunk, then the format from the content, a PDF's pages from qpdf in a limited
 * child and an e-invoice's data on the complete file, all on the writer's worker), say
 * the same things about it in the log, copy the blob to the write quorum and count the
 * outcome for /metrics the same way. Each path keeps its own rules in its own file (the
 * native upload's cover code and query parameters; fileCollect's fields and JSON
 * stream). Loop thread, but for api_probe_bytes() and api_probe_file(). */
#include "api/api_int.h"

#include <stdio.h>
#include <string.h>

#include "archive/license.h"
#include "base/clock.h"
#include "base/log.h"

bool api_write_allowed_now(struct api_call *call, uint64_t least_bytes)
{
    struct archive_result res = {.status = ARCHIVE_OK};
    struct base_err err = {{0}};
    int rv;
    res.status = archive_check_write(call->api->archive, call->tenant, clock_wall_ms(),
                                     LICENSE_MODE_BASIC, least_bytes, 1, res.message,
                                     sizeof res.message, &rv, &err);
    if (rv != 0) {
        api_respond_error(call->api, call->req, 500, API_E_INTERNAL, "license check: %s",
                          err.msg);
        return false;
    }
    if (res.status != ARCHIVE_OK) {
        call->api->captures_failed++;
        api_respond_refusal(call->api, call->req, &res);
        return false;
    }
    return true;
}

/* ---- The content, on the writer's worker ---- */

void api_probe_bytes(struct api_probe *p, const char *data, size_t len)
{
    if (p->head_len < sizeof p->head) {
        size_t n = sizeof p->head - p->head_len;
        n = n < len ? n : len;
        memcpy(p->head + p->head_len, data, n);
        p->head_len += n;
    }
    if (p->head_len >= 4 && memcmp(p->head, "%PDF", 4) == 0) {
        p->pdf_pages += document_pdf_scan_pages(data, len);
    }
}

/* A PDF's pages from qpdf, which reads the page tree wherever it is (object streams
 * included), run in a child process under the configured limits (qpdf inflates without
 * bound: archive/document.h), at most pdf_children_max at once, twice as many more
 * waiting for a turn. A PDF qpdf cannot read, one that needs more than the limits, and
 * one that finds no turn (too many waiting, or none free within the deadline) keep
 * the byte scan's count: the capture goes on. Returns 0, BASE_ECORRUPT for a PDF qpdf
 * cannot read, or another error with @err saying why. */
static int pdf_pages(struct api *api, const char *path, uint32_t *pages,
                     struct child_result *child, struct base_err *err)
{
    const struct api_config *cfg = &api->config;
    int rv;
    if (!child_slots_acquire(&api->pdf_slots, cfg->pdf_limits.wall_ms)) {
        base_err_set(err, "all %u page counters busy, %u uploads waiting for one (or none "
                     "free within %llu ms)", api->pdf_slots.max, api->pdf_slots.waiting_max,
                     (unsigned long long)cfg->pdf_limits.wall_ms);
        return BASE_ECANCELED;
    }
    rv = document_pdf_pages_isolated(cfg->pdf_exe, path, &cfg->pdf_limits, pages, child, err);
    child_slots_release(&api->pdf_slots);
    return rv;
}

static void count_pages(struct api_probe *p, struct api *api, const char *path)
{
    uint32_t pages;
    int rv;
    if (api->config.pdf_exe == NULL) {
        return; /* no counting child here (tools, the HTTP fuzz target): the scan stands */
    }
    rv = pdf_pages(api, path, &pages, &p->pdf_child, &p->pdf_err);
    if (rv == BASE_ECORRUPT) {
        p->pdf_unread = true;
    } else if (rv != 0) {
        p->pdf_failed = true;
    } else if (pages > 0) {
        p->pdf_pages = pages;
    }
}

/* An e-invoice (数电票 XML, OFD): its data is read from the file, as if the caller had
 * given it (archive/einvoice.h). A zip that says nothing by its name and reads as an
 * OFD invoice becomes an "ofd". */
static void read_invoice(struct api_probe *p, const char *path)
{
    const char *kind = einvoice_kind(p->format, p->head, p->head_len);
    if (kind == NULL) {
        return;
    }
    if (einvoice_read_file(path, kind, &p->einv, &p->einv_err) == 0) {
        p->einv_read = true;
        snprintf(p->format, sizeof p->format, "%s", kind);
    } else {
        p->einv_unread = strcmp(p->format, kind) == 0; /* not for any zip */
    }
}

void api_probe_file(struct api_probe *p, struct api *api, const char *path, const char *name,
                    bool invoice)
{
    snprintf(p->format, sizeof p->format, "%s", document_format(p->head, p->head_len, name));
    if (invoice) {
        read_invoice(p, path);
    }
    if (strcmp(p->format, "pdf") == 0) {
        count_pages(p, api, path);
    }
}

uint32_t api_probe_pages(const struct api_probe *p)
{
    return p->pdf_pages > 0 ? p->pdf_pages : 1;
}

/* ---- On the loop ---- */

void api_probe_log(const struct api_probe *p, const char *module, const char *request_id,
                   const char *file_id)
{
    if (p->pdf_unread) {
        LOG_INFO(module, "request_id=%s file_id=%s: pages=%u from the byte scan, the PDF "
                 "library cannot read the file: %s",
                 request_id, file_id, api_probe_pages(p), p->pdf_err.msg);
    } else if (p->pdf_failed) {
        LOG_WARN(module, "request_id=%s file_id=%s: pages=%u from the byte scan, the PDF "
                 "page counter gave no count: %s (child: %llu ms, peak RSS %llu KiB)",
                 request_id, file_id, api_probe_pages(p), p->pdf_err.msg,
                 (unsigned long long)p->pdf_child.elapsed_ms,
                 (unsigned long long)p->pdf_child.peak_rss_kib);
    } else if (p->pdf_child.elapsed_ms > 0 || p->pdf_child.peak_rss_kib > 0) {
        LOG_DEBUG(module, "request_id=%s file_id=%s: pages=%u counted by a child in %llu "
                  "ms, peak RSS %llu KiB", request_id, file_id, p->pdf_pages,
                  (unsigned long long)p->pdf_child.elapsed_ms,
                  (unsigned long long)p->pdf_child.peak_rss_kib);
    }
    if (p->einv_unread) {
        LOG_INFO(module, "request_id=%s file_id=%s: no invoice data read from the %s: %s",
                 request_id, file_id, p->format, p->einv_err.msg);
    }
}

/* ---- The request: the blob, its copies, the proposal and the outcome ---- */

void api_intake_init(struct api_intake *in, struct api_call *call, blob_in_inspect_cb inspect,
                     blob_in_examine_cb examine, blob_in_done_cb done, void *data)
{
    in->api = call->api;
    in->req = call->req;
    snprintf(in->tenant, sizeof in->tenant, "%s", call->tenant);
    snprintf(in->actor, sizeof in->actor, "%s", call->actor);
    in->data = data;
    in->up.bp = &call->api->blob_path;
    in->up.req = call->req;
    in->up.inspect = inspect;
    in->up.examine = examine;
    in->up.done = done;
    in->up.data = data;
}

static void copied(struct keeper_copies *kc, int status)
{
    struct api_intake *in = kc->data;
    if (status != 0) {
        in->api->captures_failed++;
        api_respond_error(in->api, in->req, 503, API_E_UNAVAILABLE, "%s",
                          status == BASE_ESHUTDOWN ? "the node is shutting down; retry on another"
                                                   : kc->message);
        in->release(in);
        return;
    }
    in->propose(in);
}

void api_intake_copy(struct api_intake *in, void (*propose)(struct api_intake *in),
                     void (*release)(struct api_intake *in))
{
    struct keeper_copies *kc = &in->copies;
    struct keeper *keeper = in->api->config.keeper;
    int rv;
    memcpy(kc->hash, in->up.writer.hash, BLOB_HASH_BYTES);
    kc->size = in->up.writer.size;
    kc->data = in;
    in->propose = propose;
    in->release = release;
    if (keeper == NULL) { /* no keeper (tools): this node's copy only */
        kc->holders[0] = in->api->config.node_id;
        kc->n_holders = 1;
        kc->copies = 1;
        propose(in);
        return;
    }
    rv = keeper_copy(keeper, kc, copied);
    if (rv == 1) {
        propose(in);
    } else if (rv != 0) {
        copied(kc, rv);
    }
}

bool api_intake_propose(struct api_intake *in, Command *cmd, const char *idempotency_key,
                        repl_propose_cb cb)
{
    int rv;
    api_command_stamp(&(struct api_call){.api = in->api, .req = in->req}, cmd, idempotency_key);
    cmd->tenant = in->tenant;
    cmd->operator_ = in->actor;
    in->prop.data = in->data;
    rv = repl_propose(in->api->repl, &in->prop, cmd, cb);
    if (rv != 0) {
        in->api->captures_failed++;
        api_respond_propose_error(in->api, in->req, rv);
        return false;
    }
    return true;
}

bool api_intake_applied(struct api_intake *in, int status, const struct archive_result *res)
{
    if (status != 0) {
        in->api->captures_failed++;
        api_respond_propose_failed(in->api, in->req, &in->prop, status);
        return false;
    }
    if (res->status != ARCHIVE_OK) {
        in->api->captures_failed++;
        api_respond_refusal(in->api, in->req, res);
        return false;
    }
    in->api->captures_total++;
    in->api->capture_bytes_total += in->up.writer.size;
    return true;
}
