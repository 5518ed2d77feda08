/* The resumable uploads a node keeps (uploads_int.h): read from DATA/uploads at the
 * start, removed when they expire (a sweep every half expiry, at most a minute) or are
 * cancelled, and freed at the stop once no request owns one. */
#include "api/uploads_int.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"
#include "base/mem.h"

#define SWEEP_MAX_MS 60000

void upload_free(struct upload *up)
{
    upload_record_clear(&up->rec);
    free(up->call);
    free(up->text);
    json_decref(up->answer);
    free(up);
}

void upload_unlink(struct upload *up)
{
    struct uploads *set = up->set;
    for (struct upload **p = &set->head; *p != NULL; p = &(*p)->next) {
        if (*p == up) {
            *p = up->next;
            set->count--;
            break;
        }
    }
}

void upload_queue(struct upload *up, uv_work_cb work, uv_after_work_cb after)
{
    up->set->jobs++;
    up->work.data = up;
    ASSERT(uv_queue_work(up->set->api->loop, &up->work, work, after) == 0);
}

/* A job has ended (its after-work callback runs). */
void upload_job_done(struct upload *up)
{
    up->set->jobs--;
}

void upload_release(struct upload *up)
{
    up->busy = false;
    up->req = NULL;
    free(up->call);
    up->call = NULL;
    uploads_maybe_stopped(up->set);
}

/* ---- Removal ---- */

static void remove_work(uv_work_t *work)
{
    struct upload *up = work->data;
    up->status = upload_files_remove(up->set->dir, up->rec.id, &up->err);
}

static void after_remove(uv_work_t *work, int status)
{
    struct upload *up = work->data;
    struct uploads *set = up->set;
    struct http_request *req = up->req;
    upload_job_done(up);
    if (status != 0 || up->status != 0) {
        LOG_ERROR("uploads", "upload=%s: %s", up->rec.id,
                  status != 0 ? "the removal was cancelled" : up->err.msg);
        if (req != NULL) {
            http_request_add_header(req, "Tus-Resumable", TUS_VERSION);
            api_respond_error(set->api, req, 500, API_E_INTERNAL,
                              "removing the upload failed on this node; retry");
        }
        up->expired = false;
        upload_release(up);
        return;
    }
    upload_unlink(up);
    if (req != NULL) {
        http_request_add_header(req, "Tus-Resumable", TUS_VERSION);
        http_respond(req, 204, NULL, NULL, 0);
    } else {
        LOG_INFO("uploads", "upload=%s image_no=%s: expired, removed (%" PRIu64 " of %" PRIu64
                 " bytes)",
                 up->rec.id, up->rec.image_no, up->rec.offset, up->rec.length);
    }
    upload_free(up);
    uploads_maybe_stopped(set);
}

void upload_remove(struct upload *up, struct http_request *req)
{
    up->busy = true;
    up->req = req;
    upload_queue(up, remove_work, after_remove);
}

/* ---- The expiry sweep ---- */

static void on_sweep(uv_timer_t *t)
{
    struct uploads *set = t->data;
    uint64_t now = clock_wall_ms();
    for (struct upload *up = set->head; up != NULL; up = up->next) {
        if (!up->busy && now >= up->rec.expires_ms) {
            up->expired = true;
            upload_remove(up, NULL);
        }
    }
}

/* ---- Start and stop ---- */

/* The directory, and every record in it; stray files (a record's temp file, data
 * without a record) are removed. An unreadable record is left for the operator. */
static void load_work(uv_work_t *work)
{
    struct uploads *set = work->data;
    DIR *d;
    struct dirent *e;
    if (mkdir(set->dir, 0700) != 0 && errno != EEXIST) {
        base_err_set(&set->load_err, "creating %s failed: %s", set->dir, strerror(errno));
        return;
    }
    d = opendir(set->dir);
    if (d == NULL) {
        base_err_set(&set->load_err, "reading %s failed: %s", set->dir, strerror(errno));
        return;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char id[UPLOAD_ID_HEX + 1], path[1400];
        struct upload *up;
        struct base_err err = {{0}};
        struct stat st;
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(id, sizeof id, "%.*s", UPLOAD_ID_HEX, e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tmp") == 0) {
            snprintf(path, sizeof path, "%s/%s", set->dir, e->d_name);
            unlink(path);
            continue;
        }
        if (n > 5 && strcmp(e->d_name + n - 5, ".data") == 0) {
            snprintf(path, sizeof path, "%s/%s.json", set->dir, id);
            if (access(path, F_OK) != 0 && errno == ENOENT) {
                snprintf(path, sizeof path, "%s/%s", set->dir, e->d_name);
                unlink(path); /* a creation that did not finish */
            }
            continue;
        }
        if (n <= 5 || strcmp(e->d_name + n - 5, ".json") != 0) {
            continue;
        }
        up = xcalloc(1, sizeof *up);
        up->fd = -1;
        if (upload_record_load(set->dir, e->d_name, &up->rec, &err) != 0 ||
            n != UPLOAD_ID_HEX + 5 || strncmp(up->rec.id, e->d_name, UPLOAD_ID_HEX) != 0) {
            LOG_WARN("uploads", "%s/%s is left alone: %s", set->dir, e->d_name,
                     err.msg[0] != '\0' ? err.msg : "its name is not its upload's id");
            upload_record_clear(&up->rec);
            free(up);
            set->skipped++;
            continue;
        }
        /* Bytes the record counts but the file lacks (it cannot happen after a sync; a
         * disk that lied) are received again. */
        upload_data_path(set->dir, up->rec.id, path, sizeof path);
        if (up->rec.result == NULL &&
            (stat(path, &st) != 0 || (uint64_t)st.st_size < up->rec.offset)) {
            up->rec.offset = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
        }
        up->next = set->found;
        set->found = up;
    }
    closedir(d);
}

static void after_load(uv_work_t *work, int status)
{
    struct uploads *set = work->data;
    (void)status;
    set->jobs--;
    if (set->load_err.msg[0] != '\0') {
        LOG_ERROR("uploads", "%s; resumable uploads are refused on this node",
                  set->load_err.msg);
    }
    while (set->found != NULL) {
        struct upload *up = set->found;
        set->found = up->next;
        up->set = set;
        up->next = set->head;
        set->head = up;
        set->count++;
    }
    if (set->count > 0 || set->skipped > 0) {
        LOG_INFO("uploads", "%u unfinished uploads found in %s (%u unreadable)", set->count,
                 set->dir, set->skipped);
    }
    set->loaded = set->load_err.msg[0] == '\0';
    if (!set->stopping) {
        uv_timer_start(&set->sweep, on_sweep, set->sweep_ms, set->sweep_ms);
    }
    uploads_maybe_stopped(set);
}

void api_uploads_start(struct api *api)
{
    struct uploads *set = xcalloc(1, sizeof *set);
    uint64_t half = api->config.upload_expiry_s * 1000 / 2;
    set->api = api;
    snprintf(set->dir, sizeof set->dir, "%s/uploads", api->config.data_dir);
    set->sweep_ms = half < 1000 ? 1000 : half > SWEEP_MAX_MS ? SWEEP_MAX_MS : half;
    uv_timer_init(api->loop, &set->sweep);
    set->sweep.data = set;
    set->load_work.data = set;
    set->jobs++;
    ASSERT(uv_queue_work(api->loop, &set->load_work, load_work, after_load) == 0);
    api->uploads = set;
}

unsigned api_uploads_open(const struct api *api, uint64_t *bytes)
{
    unsigned n = 0;
    *bytes = 0;
    if (api->uploads == NULL) {
        return 0;
    }
    for (const struct upload *up = api->uploads->head; up != NULL; up = up->next) {
        if (up->rec.result == NULL) {
            n++;
            *bytes += up->rec.offset;
        }
    }
    return n;
}

static void timer_closed(uv_handle_t *h)
{
    struct uploads *set = h->data;
    set->timer_closed = true;
    uploads_maybe_stopped(set);
}

void uploads_maybe_stopped(struct uploads *set)
{
    void (*cb)(void *);
    void *arg;
    if (!set->stopping || !set->timer_closed || set->jobs > 0) {
        return;
    }
    for (struct upload *up = set->head; up != NULL; up = up->next) {
        if (up->busy) {
            return; /* a request owns it still */
        }
    }
    while (set->head != NULL) {
        struct upload *up = set->head;
        set->head = up->next;
        upload_free(up);
    }
    cb = set->stop_cb;
    arg = set->stop_arg;
    free(set);
    cb(arg);
}

void api_uploads_stop(struct api *api, void (*cb)(void *arg), void *arg)
{
    struct uploads *set = api->uploads;
    set->stopping = true;
    set->stop_cb = cb;
    set->stop_arg = arg;
    api->uploads = NULL;
    uv_close((uv_handle_t *)&set->sweep, timer_closed);
}
