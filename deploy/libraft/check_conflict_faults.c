/* The check the patches of deploy/libraft are for, run by build-patched-libraft.sh
 * against the libraft it built and against the installed one. Only libraft and its
 * fixture (raft/fixture.h) are used, so that it builds without imgarc.
 *
 * A real follower whose log conflicts with a new leader's (the deposed leader: five
 * uncommitted entries, replaced by the eight the new leader commits at the same
 * indexes) meets one failing I/O operation while it handles the new leader's
 * messages: the fixture fails its Nth I/O call (term or vote write, truncate, append,
 * send...), N = 0..N_DELAYS-1, each in a child process. A delay passes when the
 * cluster then applies every command on the three servers, or when the process
 * stops with the patched library's message ("raft: handling ... stopping the
 * process"), after which a restart resumes from the disk. It fails on anything
 * else: a double free (libraft 0.22.1: src/recv_append_entries.c frees the received
 * batch, src/legacy.c:1655 frees it again), a read of memory that is not there, or a
 * follower that never catches up.
 *
 *   check_conflict_faults            runs every delay, prints one line each, exits
 *                                    0 when all pass
 *   check_conflict_faults DELAY      runs one delay in this process (for a debugger) */
#include <raft.h>
#include <raft/fixture.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 3
#define N_DELAYS 40
#define LOST 5
#define NEW 8
#define AFTER 5

static unsigned applied[N];

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf, void **result)
{
    (void)buf;
    applied[(unsigned)(size_t)fsm->data]++;
    *result = NULL;
    return 0;
}

static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[], unsigned *n_bufs)
{
    (void)fsm;
    (void)bufs;
    (void)n_bufs;
    return RAFT_NOTFOUND; /* never taken: the default threshold is not reached */
}

static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    (void)fsm;
    raft_free(buf->base);
    return 0;
}

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "check failed: %s (line %d)\n", #cond, __LINE__);      \
            exit(3);                                                                \
        }                                                                           \
    } while (0)

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    (void)req;
    (void)status;
    (void)result;
}

static raft_index propose(struct raft_fixture *f, unsigned i)
{
    struct raft_apply *req = calloc(1, sizeof *req); /* freed at exit */
    struct raft_buffer buf = {.base = raft_calloc(1, 8), .len = 8};
    CHECK(req != NULL && buf.base != NULL);
    CHECK(raft_apply(raft_fixture_get(f, i), req, &buf, 1, apply_cb) == 0);
    return req->index;
}

static bool other_leader(struct raft_fixture *f, void *arg)
{
    unsigned l = raft_fixture_leader_index(f);
    return l < N && l != *(unsigned *)arg;
}

static void saturate(struct raft_fixture *f, unsigned i, bool on)
{
    for (unsigned j = 0; j < N; j++) {
        if (j != i) {
            (on ? raft_fixture_saturate : raft_fixture_desaturate)(f, i, j);
            (on ? raft_fixture_saturate : raft_fixture_desaturate)(f, j, i);
        }
    }
}

static void run(int delay)
{
    struct raft_fixture f;
    struct raft_fsm fsm[N];
    struct raft_configuration conf;
    unsigned old, l2;
    raft_index last = 0;
    CHECK(raft_fixture_init(&f) == 0);
    for (unsigned i = 0; i < N; i++) {
        memset(&fsm[i], 0, sizeof fsm[i]);
        fsm[i].version = 1;
        fsm[i].data = (void *)(size_t)i;
        fsm[i].apply = fsm_apply;
        fsm[i].snapshot = fsm_snapshot;
        fsm[i].restore = fsm_restore;
        CHECK(raft_fixture_grow(&f, &fsm[i]) == 0);
        raft_set_pre_vote(raft_fixture_get(&f, i), true);
        if (getenv("LIBRAFT_TRACE") == NULL) {
            raft_fixture_get(&f, i)->tracer = NULL;
        }
    }
    raft_configuration_init(&conf);
    CHECK(raft_fixture_configuration(&f, N, &conf) == 0);
    CHECK(raft_fixture_bootstrap(&f, &conf) == 0);
    raft_configuration_close(&conf);
    CHECK(raft_fixture_start(&f) == 0);
    CHECK(raft_fixture_step_until_has_leader(&f, 20000));
    old = raft_fixture_leader_index(&f);
    CHECK(raft_fixture_step_until_applied(&f, N, propose(&f, old), 20000));

    saturate(&f, old, true);
    for (unsigned j = 0; j < LOST; j++) {
        propose(&f, old);
    }
    CHECK(raft_fixture_step_until(&f, other_leader, &old, 30000));
    l2 = raft_fixture_leader_index(&f);
    for (unsigned j = 0; j < NEW; j++) {
        last = propose(&f, l2);
    }
    CHECK(raft_fixture_step_until_applied(&f, l2, last, 30000));

    raft_fixture_io_fault(&f, old, delay, 1);
    saturate(&f, old, false);
    raft_fixture_step_until_elapsed(&f, 5000);
    for (unsigned j = 0; j < AFTER; j++) {
        last = propose(&f, raft_fixture_leader_index(&f));
    }
    /* Every server applies every command the new leader committed. */
    CHECK(raft_fixture_step_until_applied(&f, N, last, 30000));
    raft_fixture_close(&f);
}

/* 0: pass; otherwise a failure, described in @what. */
static int run_child(int delay, char *what, size_t what_len)
{
    int pipefd[2];
    char err[4096];
    size_t len = 0;
    ssize_t n;
    int status;
    pid_t pid;
    CHECK(pipe(pipefd) == 0);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], STDERR_FILENO);
        close(pipefd[0]);
        run(delay);
        _exit(0);
    }
    close(pipefd[1]);
    while (len < sizeof err - 1 && (n = read(pipefd[0], err + len, sizeof err - 1 - len)) > 0) {
        len += (size_t)n;
    }
    err[len] = '\0';
    for (size_t k = 0; k < len; k++) {
        /* The fixture leaves its I/O error messages unset: keep the report readable. */
        if (err[k] != '\n' && (err[k] < ' ' || err[k] > '~')) {
            err[k] = '?';
        }
    }
    while (read(pipefd[0], &(char){0}, 1) > 0) {
    }
    close(pipefd[0]);
    CHECK(waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        snprintf(what, what_len, "caught up");
        return 0;
    }
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
        strstr(err, "stopping the process") != NULL) {
        snprintf(what, what_len, "stopped: %.*s", (int)strcspn(strstr(err, "raft: "), "\n"),
                 strstr(err, "raft: "));
        return 0;
    }
    if (strstr(err, "double free") != NULL || strstr(err, "double-free") != NULL) {
        snprintf(what, what_len, "FAIL: double free");
    } else if (strstr(err, "AddressSanitizer") != NULL) {
        snprintf(what, what_len, "FAIL: %.*s", (int)strcspn(strstr(err, "AddressSanitizer"), "\n"),
                 strstr(err, "AddressSanitizer"));
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
        snprintf(what, what_len, "FAIL: %.*s", (int)strcspn(err, "\n"), err);
    } else {
        snprintf(what, what_len, "FAIL: status 0x%x: %.*s", status, (int)strcspn(err, "\n"), err);
    }
    return 1;
}

int main(int argc, char *argv[])
{
    char what[512];
    int failed = 0;
    if (argc > 1) {
        run(atoi(argv[1]));
        return 0;
    }
    for (int delay = 0; delay < N_DELAYS; delay++) {
        failed += run_child(delay, what, sizeof what);
        printf("fault at I/O call %2d: %s\n", delay, what);
        fflush(stdout);
    }
    printf("%d of %d failed\n", failed, N_DELAYS);
    return failed == 0 ? 0 : 1;
}
