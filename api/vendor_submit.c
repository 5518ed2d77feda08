/* The vendor's scanBillSubmit (docs/integrators.md): the files fileCollect
 * collected join the bill named by scanBillNo, in the order of fileList, in one
 * SubmitCollected command (archive/apply_collect.c): saveType upload replaces the
 * bill's files, add appends; modelType 1 creates a missing bill; isSubmitErp 1 submits
 * it then. The same submit sent again is recognised by the state machine (every listed
 * file joined this bill already) and changes nothing. Loop thread only. */
#include "api/api_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

#define TEXT_MAX 255
#define URL_MAX 2048
#define SUBMIT_BODY_MAX (1u << 20)
#define SRC_PREFIX API_VENDOR_SRC_PREFIX

/* A truthy vendor flag: 1, "1", true or "true". */
static bool flag(const char *text)
{
    return strcmp(text, "1") == 0 || strcmp(text, "true") == 0;
}

/* billType: a string, or an object whose number/code/id names it. */
static bool bill_type_of(struct api_op *op, json_t *body, char *buf)
{
    json_t *v = json_object_get(body, "billType");
    if (json_is_object(v)) {
        static const char *const keys[] = {"number", "code", "id", "billTypeNumber", NULL};
        buf[0] = '\0';
        for (size_t i = 0; keys[i] != NULL && buf[0] == '\0'; i++) {
            if (!api_vendor_field(&op->call, v, keys[i], TEXT_MAX, buf)) {
                return false;
            }
        }
        return true;
    }
    return api_vendor_field(&op->call, body, "billType", TEXT_MAX, buf);
}

/* The file number of one fileList entry: fileNo, else the one srcPath names. */
static bool entry_file_no(struct api_op *op, json_t *e, size_t i, char *out)
{
    char file_no[ARCHIVE_ID_MAX + 1], src[URL_MAX + 1];
    char msg[160];
    if (!json_is_object(e)) {
        snprintf(msg, sizeof msg, "fileList[%zu] must be an object {fileNo, srcPath}", i);
        return api_op_bad(op, msg);
    }
    if (!api_vendor_field(&op->call, e, "fileNo", ARCHIVE_ID_MAX, file_no) ||
        !api_vendor_field(&op->call, e, "srcPath", URL_MAX, src)) {
        api_op_free(op);
        return false;
    }
    if (file_no[0] == '\0' && strncmp(src, SRC_PREFIX, strlen(SRC_PREFIX)) == 0) {
        const char *p = src + strlen(SRC_PREFIX);
        size_t n = strcspn(p, "/");
        if (n > 0 && n <= ARCHIVE_ID_MAX) {
            memcpy(file_no, p, n);
            file_no[n] = '\0';
        }
    }
    if (file_no[0] == '\0') {
        snprintf(msg, sizeof msg,
                 "fileList[%zu] names no collected file: give the fileNo (or the srcPath) "
                 "fileCollect answered",
                 i);
        return api_op_bad(op, msg);
    }
    snprintf(out, ARCHIVE_ID_MAX + 1, "%s", file_no);
    return true;
}

static void submitted(struct repl_propose *prop, int status, const struct archive_result *res)
{
    struct api_op *op = prop->data;
    if (api_op_applied(op, status, res)) {
        api_vendor_ok(&op->call, json_pack("{s:s, s:s, s:b, s:b}", "scanBillNo", res->image_no,
                                           "state", res->state, "created", res->created,
                                           "replayed", res->replayed));
    }
    api_op_free(op);
}

static void submit_body(struct http_request *req, int status)
{
    struct api_op *op = req->data;
    json_t *body = api_op_json(op, status), *list;
    char image_no[ARCHIVE_IMAGE_NO_MAX + 1], resource[TEXT_MAX + 1], bill_type[TEXT_MAX + 1];
    char model[8], save[16], erp[8];
    Command cmd = COMMAND__INIT;
    SubmitCollected s = SUBMIT_COLLECTED__INIT;
    char (*ids)[ARCHIVE_ID_MAX + 1];
    char **id_ptrs;
    size_t n;

    if (body == NULL) {
        api_op_free(op);
        return;
    }
    if (!api_vendor_need(&op->call, body, "scanBillNo", ARCHIVE_IMAGE_NO_MAX, image_no) ||
        !api_vendor_field(&op->call, body, "resource", TEXT_MAX, resource) ||
        !bill_type_of(op, body, bill_type) ||
        !api_vendor_field(&op->call, body, "modelType", sizeof model - 1, model) ||
        !api_vendor_field(&op->call, body, "saveType", sizeof save - 1, save) ||
        !api_vendor_field(&op->call, body, "isSubmitErp", sizeof erp - 1, erp)) {
        api_op_free(op);
        return;
    }
    if (!archive_valid_image_no(image_no)) {
        api_respond_error(op->call.api, req, 400, API_E_INVALID_IMAGE_NO,
                          "scanBillNo must be 1-64 characters of A-Z a-z 0-9 . _ -");
        api_op_free(op);
        return;
    }
    if (save[0] != '\0' && strcmp(save, "upload") != 0 && strcmp(save, "add") != 0) {
        api_op_bad(op, "saveType must be upload (replace the bill's files) or add");
        return;
    }
    if ((model[0] != '\0' && strcmp(model, "0") != 0 && strcmp(model, "1") != 0) ||
        (erp[0] != '\0' && !flag(erp) && strcmp(erp, "0") != 0 && strcmp(erp, "false") != 0)) {
        api_op_bad(op, "modelType and isSubmitErp are 0 or 1");
        return;
    }
    list = json_object_get(body, "fileList");
    n = json_is_array(list) ? json_array_size(list) : 0;
    if (n == 0 || n > 1000) {
        api_op_bad(op, "fileList must list 1-1000 collected files ({fileNo, srcPath})");
        return;
    }
    if (!api_bill_visible(&op->call, image_no)) {
        api_op_free(op);
        return;
    }
    ids = xcalloc(n, sizeof *ids);
    id_ptrs = xcalloc(n, sizeof *id_ptrs);
    for (size_t i = 0; i < n; i++) {
        if (!entry_file_no(op, json_array_get(list, i), i, ids[i])) {
            free(ids);
            free(id_ptrs);
            return;
        }
        id_ptrs[i] = ids[i];
    }
    s.image_no = image_no;
    s.file_nos = id_ptrs;
    s.n_file_nos = n;
    s.create = strcmp(model, "1") == 0;
    s.replace = strcmp(save, "add") != 0;
    s.submit = flag(erp);
    s.bill_type = bill_type;
    cmd.body_case = COMMAND__BODY_SUBMIT_COLLECTED;
    cmd.submit_collected = &s;
    api_op_propose(op, &cmd, NULL, submitted);
    free(ids);
    free(id_ptrs);
}

void api_handle_vendor_scan_bill_submit(struct api_call *call)
{
    api_op_start(call, SUBMIT_BODY_MAX, submit_body);
}
