/* `imgarc upload --resumable`: a file sent as a resumable upload (tus 1.0,
 * docs/uploads.md) in pieces, each PATCH resumed from the offset the node reports when
 * a piece fails on the way (the connection cut, the node restarting, 5xx, 423), after
 * a pause that doubles up to 30 s, until --retries attempts in a row made no progress.
 * An upload that cannot go on is left on the node, and the line that continues it is
 * printed. */
#include "tools/cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PAUSE_MAX_S 30

static const char *const tus_headers[] = {"Tus-Resumable: 1.0.0"};

/* Creates the upload; its id into @id. */
static int create(struct cli *cli, const struct resumable *r, const char *name,
                  uint64_t size, char *id, size_t id_size)
{
    char length[48];
    const char *headers[] = {"Tus-Resumable: 1.0.0", length};
    const struct cli_param params[] = {
        {"name", name}, {"category", r->category}, {"after", r->after}, {"replace", r->replace}};
    struct cli_reply reply = {0};
    const struct cli_request req = {.method = "POST",
                                    .path = r->path,
                                    .params = params,
                                    .n_params = ARRAY_SIZE(params),
                                    .headers = headers,
                                    .n_headers = ARRAY_SIZE(headers),
                                    .reply = &reply};
    json_t *ans = NULL;
    int rv;
    snprintf(length, sizeof length, "Upload-Length: %" PRIu64, size);
    rv = cli_http_json(cli->http, &req, NULL, &ans);
    if (rv == 0) {
        const char *v = jstr(ans, "upload_id");
        if (strlen(v) == 0 || strlen(v) >= id_size || strspn(v, "0123456789abcdef") != strlen(v)) {
            fprintf(stderr, "imgarc: the node's answer names no upload id\n");
            rv = CLI_ETRANSPORT;
        } else {
            memcpy(id, v, strlen(v) + 1);
        }
    }
    json_decref(ans);
    return rv;
}

/* The upload's offset, as HEAD reports it. */
static int head(struct cli *cli, const char *path, uint64_t *offset)
{
    struct cli_reply reply = {0};
    const struct cli_request req = {.method = "HEAD",
                                    .path = path,
                                    .headers = tus_headers,
                                    .n_headers = ARRAY_SIZE(tus_headers),
                                    .reply = &reply};
    json_t *ans = NULL;
    int rv = cli_http_json(cli->http, &req, NULL, &ans);
    json_decref(ans);
    if (rv == 0 && !reply.has_offset) {
        fprintf(stderr, "imgarc: HEAD %s: no Upload-Offset in the answer\n", path);
        return CLI_ETRANSPORT;
    }
    if (rv == 0) {
        *offset = reply.upload_offset;
    }
    return rv;
}

/* Whether a failed request is worth another try: the network, the node busy or
 * restarting, the upload still owned by a broken request, an offset to read again. */
static bool retriable(int rv, const struct cli_reply *reply)
{
    return rv == CLI_ETRANSPORT ||
           (rv == CLI_ESERVER && (reply->status >= 500 || reply->status == 423 ||
                                  reply->status == 409 || reply->status == 0));
}

static void pause_s(unsigned s)
{
    struct timespec ts = {.tv_sec = s, .tv_nsec = 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void print_continue(const struct resumable *r, const char *id, const char *file)
{
    fprintf(stderr,
            "imgarc: the upload stays on the node until it expires; continue it with: "
            "imgarc upload %s '%s' --resumable --upload-id %s\n",
            r->image_no, file, id);
}

/* The PATCHes, from @offset to @size; the captured file's id into @file_id. */
static int send_pieces(struct cli *cli, const struct resumable *r, const char *path,
                       const char *file, uint64_t offset, uint64_t size, char *file_id,
                       size_t file_id_size)
{
    unsigned failures = 0, pause = 1;
    while (true) {
        uint64_t len = size - offset < r->piece ? size - offset : r->piece;
        char at[48];
        const char *headers[] = {"Tus-Resumable: 1.0.0",
                                 "Content-Type: application/offset+octet-stream", at};
        struct cli_reply reply = {0};
        const struct cli_request req = {.method = "PATCH",
                                        .path = path,
                                        .headers = headers,
                                        .n_headers = ARRAY_SIZE(headers),
                                        .progress_label = r->label,
                                        .reply = &reply};
        json_t *ans = NULL;
        int rv;
        snprintf(at, sizeof at, "Upload-Offset: %" PRIu64, offset);
        rv = cli_http_send_range(cli->http, &req, file, offset, len, &ans);
        json_decref(ans);
        if (rv == 0 && reply.has_offset && reply.upload_offset == size &&
            reply.file_id[0] != '\0') {
            snprintf(file_id, file_id_size, "%s", reply.file_id);
            return 0;
        }
        if (rv == 0 && reply.has_offset && reply.upload_offset > offset &&
            reply.upload_offset <= size) {
            offset = reply.upload_offset;
            failures = 0;
            pause = 1;
            continue;
        }
        if (rv == 0) {
            fprintf(stderr, "imgarc: PATCH %s: the answer's Upload-Offset is not past %" PRIu64
                            "\n",
                    path, offset);
            rv = CLI_ETRANSPORT;
        }
        if (!retriable(rv, &reply) || ++failures > r->retries) {
            return rv;
        }
        fprintf(stderr, "imgarc: %s: trying again in %u s (%u of %u)\n", r->label, pause,
                failures, r->retries);
        pause_s(pause);
        pause = pause * 2 > PAUSE_MAX_S ? PAUSE_MAX_S : pause * 2;
        /* Where the node is now: what it kept of the failed piece. */
        while (head(cli, path, &offset) != 0) {
            if (++failures > r->retries) {
                return CLI_ETRANSPORT;
            }
            pause_s(pause);
            pause = pause * 2 > PAUSE_MAX_S ? PAUSE_MAX_S : pause * 2;
        }
        if (offset > size) {
            fprintf(stderr, "imgarc: the node holds %" PRIu64 " bytes, more than %s has\n",
                    offset, file);
            return CLI_ETRANSPORT;
        }
    }
}

int upload_resumable(struct cli *cli, const struct resumable *r, const char *file,
                     const char *name, json_t **ans)
{
    struct stat st;
    char id[64] = "", file_id[64] = "", *path;
    uint64_t offset = 0;
    json_t *got = NULL;
    int rv;
    if (stat(file, &st) != 0 || st.st_size == 0) {
        fprintf(stderr, "imgarc: %s: %s\n", file,
                st.st_size == 0 ? "the file is empty" : strerror(errno));
        return CLI_ELOCAL;
    }
    if (r->upload_id != NULL) {
        snprintf(id, sizeof id, "%s", r->upload_id);
    } else if ((rv = create(cli, r, name, (uint64_t)st.st_size, id, sizeof id)) != 0) {
        return rv;
    }
    path = cli_http_path("/api/v1/uploads/", id, "");
    rv = r->upload_id != NULL ? head(cli, path, &offset) : 0;
    if (rv == 0 && offset > (uint64_t)st.st_size) {
        fprintf(stderr, "imgarc: upload %s holds %" PRIu64 " bytes, more than %s has\n", id,
                offset, file);
        rv = CLI_ELOCAL;
    }
    if (rv == 0) {
        rv = send_pieces(cli, r, path, file, offset, (uint64_t)st.st_size, file_id,
                         sizeof file_id);
    }
    if (rv == 0) {
        const struct cli_request req = {.method = "GET", .path = path};
        rv = cli_http_json(cli->http, &req, NULL, &got);
    }
    if (rv == 0 && !json_is_object(json_object_get(got, "file"))) {
        fprintf(stderr, "imgarc: upload %s: the node's answer holds no captured file\n", id);
        rv = CLI_ETRANSPORT;
    }
    if (rv == 0) {
        *ans = json_incref(json_object_get(got, "file"));
    } else {
        print_continue(r, id, file);
    }
    json_decref(got);
    free(path);
    return rv;
}
