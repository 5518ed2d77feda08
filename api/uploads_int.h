/* The uploads a node keeps, shared by the protocol (uploads.c) and the set's start,
 * sweep and stop (upload_set.c). */
#ifndef IMGARC_API_UPLOADS_INT_H
#define IMGARC_API_UPLOADS_INT_H

#include "api/api_int.h"
#include "api/uploads.h"

#define TUS_VERSION "1.0.0"

struct upload {
    struct upload_record rec;
    struct uploads *set;
    struct upload *next;
    bool busy; /* a PATCH, the capture or a removal owns it */
    /* The request that owns it, and a copy of its call for the capture. */
    struct http_request *req;
    struct api_call *call;
    struct blob_in in; /* a PATCH body into ID.data */
    int fd;
    uint64_t written;
    int body_status;
    uv_work_t work;
    int status;
    struct base_err err;
    char *text;     /* a record being saved */
    json_t *answer; /* the capture's answer, while it is saved */
    bool expired;   /* the sweep removes it */
};

struct uploads {
    struct api *api;
    char dir[1024];
    struct upload *head;
    unsigned count;
    bool loaded;
    unsigned jobs; /* worker jobs in flight */
    uv_timer_t sweep;
    uint64_t sweep_ms;
    bool stopping;
    bool timer_closed;
    void (*stop_cb)(void *arg);
    void *stop_arg;
    /* The start's scan of the directory. */
    uv_work_t load_work;
    struct upload *found;
    unsigned skipped;
    struct base_err load_err;
};

/* Frees an upload that is in no set (or was just unlinked). */
void upload_free(struct upload *up);
/* Takes @up out of its set. */
void upload_unlink(struct upload *up);
/* Runs @work on a worker and @after on the loop; after must call upload_job_done(). */
void upload_queue(struct upload *up, uv_work_cb work, uv_after_work_cb after);
void upload_job_done(struct upload *up);
/* The request that owned @up has been answered: others may have it; a stopping set
 * may be freed (and @up with it). */
void upload_release(struct upload *up);
/* Removes @up's files on a worker, then it: a DELETE's (answered 204 with @req) or the
 * sweep's (@req NULL). */
void upload_remove(struct upload *up, struct http_request *req);
/* Frees a stopping set once no job runs and no request owns an upload. */
void uploads_maybe_stopped(struct uploads *set);

#endif
