/* A program run in a child process under resource limits. See child.h. */
#include "base/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/assert.h"
#include "base/clock.h"

/* AddressSanitizer reserves terabytes of address space for its shadow memory at start:
 * under RLIMIT_AS a sanitized child cannot even start. In such builds (tests only) the
 * address-space limit becomes ASan's own RSS limit, given in the child's environment. */
#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define CHILD_ASAN 1
#else
#define CHILD_ASAN 0
#endif

/* Without a pidfd, how often the parent looks whether the child has exited. */
#define POLL_EXIT_MS 2

/* prlimit(@pid) (0: this process) of the three limits. */
static int set_limits(pid_t pid, const struct child_limits *lim, struct base_err *err)
{
    struct rlimit as = {RLIM_INFINITY, RLIM_INFINITY};
    struct rlimit cpu = {RLIM_INFINITY, RLIM_INFINITY};
    struct rlimit core = {0, 0};
    if (lim->address_space_bytes > 0 && !CHILD_ASAN) {
        as.rlim_cur = as.rlim_max = lim->address_space_bytes;
    }
    if (lim->cpu_s > 0) {
        /* Soft = hard: the kernel sends SIGKILL when it is reached. */
        cpu.rlim_cur = cpu.rlim_max = lim->cpu_s;
    }
    if ((as.rlim_max != RLIM_INFINITY && prlimit(pid, RLIMIT_AS, &as, NULL) != 0) ||
        (lim->cpu_s > 0 && prlimit(pid, RLIMIT_CPU, &cpu, NULL) != 0) ||
        prlimit(pid, RLIMIT_CORE, &core, NULL) != 0) {
        base_err_set(err, "prlimit: %s", strerror(errno));
        return BASE_EIO;
    }
    return 0;
}

int child_limit_self(const struct child_limits *lim, struct base_err *err)
{
    /* Dies with the node rather than running on as an orphan. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        base_err_set(err, "prctl: %s", strerror(errno));
        return BASE_EIO;
    }
    if (getppid() == 1) { /* the parent died before the line above took effect */
        base_err_set(err, "the parent is gone");
        return BASE_EIO;
    }
    return set_limits(0, lim, err);
}

static int spawn(pid_t *pid, const char *exe, char *const argv[], char *const envp[], int in_fd,
                 int out_fd, int null_fd, struct base_err *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rv;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /* dup2 clears close-on-exec on the copies; the originals stay O_CLOEXEC. */
    posix_spawn_file_actions_adddup2(&fa, in_fd >= 0 ? in_fd : null_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, null_fd, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* The spawning thread's mask (a libuv worker's may block signals) and the parent's
     * handlers are not the child's business. Its own process group: a terminal's ^C
     * is for the node, which decides. */
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    rv = posix_spawn(pid, exe, &fa, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rv != 0) {
        base_err_set(err, "posix_spawn %s: %s", exe, strerror(rv));
        return BASE_EIO;
    }
    return 0;
}

static int remaining_ms(uint64_t deadline_ns)
{
    uint64_t now = clock_mono_ns();
    if (deadline_ns == 0) {
        return -1; /* poll: no timeout */
    }
    if (now >= deadline_ns) {
        return 0;
    }
    uint64_t ms = (deadline_ns - now + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

/* Reads the child's output until EOF. Returns CHILD_EXITED when it came (how the child
 * ended is for the wait to say), CHILD_TIMED_OUT past the deadline, CHILD_TOO_MUCH when
 * the child wrote more than fits. */
static enum child_end read_output(int fd, char *out, size_t out_max, size_t *len,
                                  uint64_t deadline_ns)
{
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int timeout = remaining_ms(deadline_ns);
        if (timeout == 0) {
            return CHILD_TIMED_OUT;
        }
        int n = poll(&p, 1, timeout);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? CHILD_TIMED_OUT : CHILD_EXITED; /* poll failing: stop reading */
        }
        char spill;
        size_t room = out_max - 1 - *len;
        ssize_t got = room > 0 ? read(fd, out + *len, room) : read(fd, &spill, 1);
        if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (got <= 0) {
            return CHILD_EXITED; /* EOF (or a read error: the same for us) */
        }
        if (room == 0) {
            return CHILD_TOO_MUCH;
        }
        *len += (size_t)got;
    }
}

/* Waits until the child has exited (it is then a zombie, reaped by the caller) or the
 * deadline passes. Returns false past the deadline. */
static bool wait_exit(pid_t pid, int pidfd, uint64_t deadline_ns)
{
    for (;;) {
        int timeout = remaining_ms(deadline_ns);
        siginfo_t si;
        if (pidfd >= 0) {
            struct pollfd p = {.fd = pidfd, .events = POLLIN};
            if (timeout == 0) {
                return poll(&p, 1, 0) == 1;
            }
            int n = poll(&p, 1, timeout);
            if (n > 0) {
                return true;
            }
            if (n < 0 && errno != EINTR) {
                return true; /* cannot watch: the caller's blocking wait takes over */
            }
            continue;
        }
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0) {
            if (errno == EINTR) {
                continue;
            }
            return true;
        }
        if (si.si_pid == pid) {
            return true;
        }
        if (timeout == 0) {
            return false;
        }
        struct timespec ts = {0, POLL_EXIT_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void reap(pid_t pid, struct child_result *res)
{
    int status = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
    }
    res->peak_rss_kib = (uint64_t)ru.ru_maxrss;
    if (res->end == CHILD_EXITED) {
        if (WIFSIGNALED(status)) {
            res->end = CHILD_SIGNALED;
            res->code = WTERMSIG(status);
        } else {
            res->code = WEXITSTATUS(status);
        }
    } else {
        res->code = WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status);
    }
}

int child_run(const char *exe, char *const argv[], char *const envp[], int in_fd,
              const struct child_limits *lim, char *out, size_t out_max,
              struct child_result *res, struct base_err *err)
{
    int pipe_fds[2];
    int null_fd, pidfd, rv;
    pid_t pid;
    uint64_t start = clock_mono_ns();
    uint64_t deadline = lim->wall_ms > 0 ? start + lim->wall_ms * 1000000 : 0;
    char asan[96];
    char *asan_env[] = {asan, NULL};
    char *empty_env[] = {NULL};
    ASSERT(out_max > 0);
    if (envp == NULL) {
        envp = empty_env;
        if (CHILD_ASAN && lim->address_space_bytes > 0) {
            snprintf(asan, sizeof asan, "ASAN_OPTIONS=hard_rss_limit_mb=%llu:detect_leaks=0",
                     (unsigned long long)(lim->address_space_bytes >> 20));
            envp = asan_env;
        }
    }
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        base_err_set(err, "pipe: %s", strerror(errno));
        return BASE_EIO;
    }
    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0) {
        base_err_set(err, "/dev/null: %s", strerror(errno));
        rv = BASE_EIO;
        goto close_pipe;
    }
    rv = spawn(&pid, exe, argv, envp, in_fd, pipe_fds[1], null_fd, err);
    close(null_fd);
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if (rv != 0) {
        goto close_pipe;
    }
    memset(res, 0, sizeof *res);
    if ((rv = set_limits(pid, lim, err)) != 0) {
        kill(pid, SIGKILL);
        res->end = CHILD_SIGNALED;
        reap(pid, res);
        goto close_pipe;
    }
    pidfd = pidfd_open(pid, 0); /* -1 on a kernel before 5.3: wait_exit() polls */
    res->end = read_output(pipe_fds[0], out, out_max, &res->out_len, deadline);
    out[res->out_len] = '\0';
    if (res->end == CHILD_EXITED && !wait_exit(pid, pidfd, deadline)) {
        res->end = CHILD_TIMED_OUT;
    }
    if (res->end != CHILD_EXITED) {
        /* Not reaped yet, so the pid is still this child's: kill cannot hit another. */
        kill(pid, SIGKILL);
    }
    reap(pid, res);
    if (pidfd >= 0) {
        close(pidfd);
    }
    res->elapsed_ms = (clock_mono_ns() - start) / 1000000;
close_pipe:
    close(pipe_fds[0]);
    if (pipe_fds[1] >= 0) {
        close(pipe_fds[1]);
    }
    return rv;
}

void child_describe(const struct child_result *res, char *buf, size_t size)
{
    char how[96];
    switch (res->end) {
    case CHILD_EXITED:
        snprintf(how, sizeof how, "exited with status %d", res->code);
        break;
    case CHILD_SIGNALED:
        snprintf(how, sizeof how, "was killed by signal %d (%s)", res->code,
                 strsignal(res->code));
        break;
    case CHILD_TIMED_OUT:
        snprintf(how, sizeof how, "passed its deadline and was killed");
        break;
    case CHILD_TOO_MUCH:
        snprintf(how, sizeof how, "wrote too much and was killed");
        break;
    }
    snprintf(buf, size, "the child %s after %llu ms, peak RSS %llu KiB", how,
             (unsigned long long)res->elapsed_ms, (unsigned long long)res->peak_rss_kib);
}

void child_slots_init(struct child_slots *s, unsigned max)
{
    ASSERT(max > 0);
    s->max = max;
    ASSERT(sem_init(&s->sem, 0, max) == 0);
}

void child_slots_close(struct child_slots *s)
{
    sem_destroy(&s->sem);
}

bool child_slots_acquire(struct child_slots *s, uint64_t wait_ms)
{
    struct timespec at;
    clock_gettime(CLOCK_MONOTONIC, &at);
    at.tv_sec += (time_t)(wait_ms / 1000);
    at.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (at.tv_nsec >= 1000000000L) {
        at.tv_sec++;
        at.tv_nsec -= 1000000000L;
    }
    for (;;) {
        int rv = wait_ms == 0 ? sem_trywait(&s->sem) : sem_clockwait(&s->sem, CLOCK_MONOTONIC, &at);
        if (rv == 0) {
            return true;
        }
        if (errno != EINTR) {
            return false; /* ETIMEDOUT or EAGAIN: no slot in time */
        }
    }
}

void child_slots_release(struct child_slots *s)
{
    ASSERT(sem_post(&s->sem) == 0);
}
