/* The node-to-node protocol's shared parts. See peer.h. */
#include "replication/peer.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/mem.h"
#include "net/http_server.h"

const char *peer_error_name(enum peer_error code)
{
    const char *name = error_code_name((int)code);
    return name != NULL ? name : "internal";
}

void peer_respond_error(struct http_request *req, int status, enum peer_error code,
                        const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_respond_error(req, status, (int)code, peer_error_name(code), msg);
}

uint8_t *peer_propose_result_pack(const struct archive_result *res, uint64_t entry_index,
                                  size_t *len)
{
    ProposeResult pr = PROPOSE_RESULT__INIT;
    uint8_t *buf;
    ASSERT(entry_index > 0);
    pr.status = (int32_t)res->status;
    pr.message = (char *)res->message;
    pr.replayed = res->replayed;
    pr.created = res->created;
    pr.index = res->index;
    pr.image_no = (char *)res->image_no;
    pr.file_id = (char *)res->file_id;
    pr.state = (char *)res->state;
    pr.category = (char *)res->category;
    pr.position = res->position;
    pr.entry_index = entry_index;
    *len = propose_result__get_packed_size(&pr);
    buf = xmalloc(*len > 0 ? *len : 1);
    propose_result__pack(&pr, buf);
    return buf;
}

bool peer_propose_result_unpack(const uint8_t *buf, size_t len, struct archive_result *res,
                                uint64_t *entry_index)
{
    ProposeResult *pr = propose_result__unpack(NULL, len, buf);
    if (pr == NULL || pr->entry_index == 0 || pr->status < 0) {
        propose_result__free_unpacked(pr, NULL);
        return false;
    }
    memset(res, 0, sizeof *res);
    res->status = (enum archive_status)pr->status;
    snprintf(res->message, sizeof res->message, "%s", pr->message);
    res->replayed = pr->replayed;
    res->created = pr->created;
    res->index = pr->index;
    snprintf(res->image_no, sizeof res->image_no, "%s", pr->image_no);
    snprintf(res->file_id, sizeof res->file_id, "%s", pr->file_id);
    snprintf(res->state, sizeof res->state, "%s", pr->state);
    snprintf(res->category, sizeof res->category, "%s", pr->category);
    res->position = pr->position;
    *entry_index = pr->entry_index;
    propose_result__free_unpacked(pr, NULL);
    return true;
}
