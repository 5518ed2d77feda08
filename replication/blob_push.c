/* Pushing a local blob to another node. See blob_push.h. */
#include "replication/blob_push.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/clock.h"
#include "base/hex.h"
#include "replication/peer.h"
#include "replication/peer_tls.h"

struct source {
    int fd;
    struct blob_push *p;
    uint64_t started_ms;
    int read_errno;
    /* The stall check: bytes moved either way, and when that count last changed (or
     * this side last read from its file: pacing sleeps are not the peer's stall). */
    uint64_t moved;
    uint64_t moved_ms;
    bool stalled;
    /* The start of the answer's body: what the other node said when it refused. */
    char said[160];
    size_t said_len;
};

static uint64_t mono_ms(void)
{
    return clock_mono_ns() / 1000000;
}

void *blob_push_handle_new(void)
{
    return curl_easy_init();
}

void blob_push_handle_free(void *h)
{
    if (h != NULL) {
        curl_easy_cleanup(h);
    }
}

/* Sleeps as long as the bytes sent so far are ahead of the rate. */
static void pace(struct source *s)
{
    uint64_t due_ms, now = mono_ms();
    if (s->p->bytes_per_s == 0) {
        return;
    }
    due_ms = s->started_ms + s->p->bytes * 1000 / s->p->bytes_per_s;
    if (due_ms > now) {
        uint64_t ms = due_ms - now;
        struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
    struct source *s = arg;
    ssize_t n;
    if (s->p->stop != NULL && atomic_load(s->p->stop)) {
        return CURL_READFUNC_ABORT;
    }
    pace(s);
    do {
        n = read(s->fd, buf, size * nitems);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        s->read_errno = errno;
        return CURL_READFUNC_ABORT;
    }
    s->p->bytes += (uint64_t)n;
    s->moved_ms = mono_ms();
    return (size_t)n;
}

/* curl rewinds the body when it sends the request again: on a new connection after a
 * kept one turned out closed (the other node restarted, or closed it as idle), or after
 * a redirect or an authentication round. Without this, such a push fails with "Send
 * failed since rewinding of the data stream failed". */
static int seek_cb(void *arg, curl_off_t offset, int origin)
{
    struct source *s = arg;
    if (origin != SEEK_SET || offset < 0) {
        return CURL_SEEKFUNC_CANTSEEK;
    }
    if (lseek(s->fd, (off_t)offset, SEEK_SET) != (off_t)offset) {
        s->read_errno = errno;
        return CURL_SEEKFUNC_FAIL;
    }
    s->p->bytes = (uint64_t)offset;
    s->moved_ms = mono_ms();
    return CURL_SEEKFUNC_OK;
}

/* Keeps the start of the answer (an error's message), printable bytes only. */
static size_t keep_cb(char *data, size_t size, size_t n, void *arg)
{
    struct source *s = arg;
    for (size_t i = 0; i < size * n && s->said_len + 1 < sizeof s->said; i++) {
        char c = data[i];
        s->said[s->said_len++] = c >= 0x20 && c < 0x7f ? c : ' ';
    }
    s->said[s->said_len] = '\0';
    return size * n;
}

static size_t header_cb(char *data, size_t size, size_t n, void *arg)
{
    peer_answer_line(arg, data, size * n);
    return size * n;
}

/* Called at least once a second: gives up when the node stops, or when nothing moved
 * for stall_ms (the request or its answer is stuck on the other side). */
static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct source *s = arg;
    uint64_t now = mono_ms(), moved = (uint64_t)dn + (uint64_t)un;
    (void)dt, (void)ut;
    if (s->p->stop != NULL && atomic_load(s->p->stop)) {
        return 1;
    }
    if (moved != s->moved) {
        s->moved = moved;
        s->moved_ms = now;
    } else if (s->p->stall_ms > 0 && now >= s->moved_ms + s->p->stall_ms) {
        s->stalled = true;
        return 1;
    }
    return 0;
}

/* One PUT of the copy from the start of s->fd, signed in the target's time as far as
 * this node knows it; the answer's clock into @answer. */
static CURLcode send_copy(CURL *h, const struct peer_auth *auth, struct blob_push *p,
                          struct source *s, const char *url, const char *target,
                          uint64_t size, struct peer_headers *sent, struct peer_answer *answer)
{
    struct curl_slist *headers = NULL;
    CURLcode cc;
    /* The copy is named by its hash (in the signed target) and checked against it. */
    peer_headers_sign(auth, p->http, "PUT", target, NULL, (size_t)size, sent);
    peer_answer_reset(answer);
    headers = curl_slist_append(headers, sent->time);
    headers = curl_slist_append(headers, sent->signature);
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
    headers = curl_slist_append(headers, "Expect:");

    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)size);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(h, CURLOPT_READDATA, s);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, seek_cb);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, keep_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, answer);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    http_client_tls_setopt(h, peer_tls());
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, s);
    s->started_ms = s->moved_ms = mono_ms();
    s->moved = 0;
    s->said_len = 0;
    s->said[0] = '\0';
    cc = curl_easy_perform(h);
    p->http_status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &p->http_status);
    curl_slist_free_all(headers);
    return cc;
}

int blob_push(void *handle, struct blob_store *bs, const struct peer_auth *auth,
              struct blob_push *p)
{
    CURL *h = handle;
    struct base_err err;
    struct source s = {.fd = -1, .p = p};
    char hex[BLOB_HEX_BYTES], target[96], url[ARCHIVE_ADDRESS_MAX + 160];
    struct peer_headers sent;
    struct peer_answer answer;
    uint64_t size;
    int64_t offset = 0;
    bool learned;
    CURLcode cc;
    int rv;

    p->bytes = 0;
    p->http_status = 0;
    p->why[0] = '\0';
    if ((rv = blob_open(bs, p->hash, &s.fd, &size, &err)) != 0) {
        snprintf(p->why, sizeof p->why, "%s", err.msg);
        return rv == BASE_ENOTFOUND ? BASE_ENOTFOUND : BASE_EIO;
    }
    hex_encode(p->hash, BLOB_HASH_BYTES, hex);
    snprintf(target, sizeof target, "%s%s", PEER_PATH_BLOBS, hex);
    snprintf(url, sizeof url, "%s://%s%s", peer_scheme(), p->http, target);
    cc = send_copy(h, auth, p, &s, url, target, size, &sent, &answer);
    learned = peer_headers_learn(auth, p->http, &sent, &answer, &offset);
    /* Refused for the time window (nothing was stored): again, in its time as just
     * learned (PEER_AUTH_RESENDS_MAX). */
    for (int resent = 0;
         resent < PEER_AUTH_RESENDS_MAX && peer_auth_should_resign(p->http_status, learned, &sent,
                                                                offset) &&
         s.read_errno == 0 && !(p->stop != NULL && atomic_load(p->stop)) &&
         lseek(s.fd, 0, SEEK_SET) == 0;
         resent++) {
        p->bytes = 0;
        cc = send_copy(h, auth, p, &s, url, target, size, &sent, &answer);
        learned = peer_headers_learn(auth, p->http, &sent, &answer, &offset);
    }
    close(s.fd);

    if (p->stop != NULL && atomic_load(p->stop)) {
        snprintf(p->why, sizeof p->why, "stopping");
        return BASE_ESHUTDOWN;
    }
    if (s.read_errno != 0) {
        snprintf(p->why, sizeof p->why, "reading the local copy: %s", strerror(s.read_errno));
        return BASE_EIO;
    }
    if (p->http_status == 507) {
        /* Answered from the head, possibly while the body was still being sent. */
        snprintf(p->why, sizeof p->why, "node %llu refuses copies: its disk is full",
                 (unsigned long long)p->target);
        return BASE_ENOSPACE;
    }
    if (s.stalled) {
        snprintf(p->why, sizeof p->why,
                 "node %llu at %.128s: nothing moved for %u ms (%llu of %llu bytes sent); "
                 "it is stopped, hung or cut off",
                 (unsigned long long)p->target, p->http, p->stall_ms,
                 (unsigned long long)p->bytes, (unsigned long long)size);
        return BASE_EIO;
    }
    if (cc != CURLE_OK) {
        snprintf(p->why, sizeof p->why, "node %llu at %.128s: %s", (unsigned long long)p->target,
                 p->http, curl_easy_strerror(cc));
        return BASE_EIO;
    }
    if (p->http_status == 422) {
        snprintf(p->why, sizeof p->why, "node %llu found this node's copy corrupt",
                 (unsigned long long)p->target);
        return BASE_ECORRUPT;
    }
    if (p->http_status != 200 && p->http_status != 201) {
        snprintf(p->why, sizeof p->why, "node %llu at %.64s answered HTTP %ld%s%.150s",
                 (unsigned long long)p->target, p->http, p->http_status,
                 s.said_len > 0 ? ": " : "", s.said);
        return BASE_EIO;
    }
    return 0;
}
