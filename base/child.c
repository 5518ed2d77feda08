/* A program run in a child process under resource limits. See child.h. */
#include "base/child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
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

/* What the child does between vfork and exec, prepared by the parent beforehand: in
 * the child nothing is allocated and nothing of the parent's memory is written but
 * exec_errno. */
struct exec_plan {
    const char *exe;
    char *const *argv;
    char *const *envp;
    int fds[3]; /* become 0, 1, 2; all >= 3 */
    struct rlimit as, cpu, core;
    bool set_as, set_cpu;
    volatile int exec_errno; /* written by the child when exec fails */
};

/* The child's side of vfork: only system calls, on its own copies of the signal
 * dispositions and descriptor table. Never returns. */
__attribute__((noreturn, noinline)) static void exec_child(struct exec_plan *p)
{
    struct sigaction dfl;
    sigset_t none;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    /* A handler of the parent's (libuv's) must never run here, on the parent's memory:
     * every signal is blocked since before vfork, and every disposition goes back to the
     * default before any is unblocked. */
    for (int sig = 1; sig < NSIG; sig++) {
        (void)sigaction(sig, &dfl, NULL); /* fails harmlessly for KILL, STOP, glibc's own */
    }
    if ((p->set_as && setrlimit(RLIMIT_AS, &p->as) != 0) ||
        (p->set_cpu && setrlimit(RLIMIT_CPU, &p->cpu) != 0) ||
        setrlimit(RLIMIT_CORE, &p->core) != 0 || setpgid(0, 0) != 0 ||
        prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || dup2(p->fds[0], 0) < 0 ||
        dup2(p->fds[1], 1) < 0 || dup2(p->fds[2], 2) < 0) {
        goto fail;
    }
    /* Whatever another thread opened without O_CLOEXEC stays with the parent. */
    if (close_range(3, ~0u, 0) != 0) {
        goto fail;
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(p->exe, p->argv, p->envp);
fail:
    p->exec_errno = errno != 0 ? errno : EINVAL;
    _exit(127);
}

/* vfork with every signal blocked around it; the child runs exec_child(). Nothing but
 * @plan lives across the vfork (what the compiler must not keep in a register). */
__attribute__((noinline)) static pid_t vfork_exec(struct exec_plan *plan)
{
    sigset_t all, old;
    pid_t pid;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid = vfork();
    if (pid == 0) {
        exec_child(plan);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid;
}

/* A copy of @fd numbered 3 or more (close-on-exec), so the child's dup2 onto 0-2 never
 * overwrites a source it has yet to copy. Returns @fd itself when it is already. */
static int above_stdio(int fd, int *owned)
{
    if (fd > 2) {
        return fd;
    }
    *owned = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    return *owned;
}

/* Starts the child: vfork (the calling thread waits until the child has exec'd or
 * failed; the node's other threads run on), limits, descriptors, signals, exec. */
static int spawn(pid_t *pid_out, const char *exe, char *const argv[], char *const envp[],
                 int in_fd, int out_fd, int null_fd, const struct child_limits *lim,
                 struct base_err *err)
{
    struct exec_plan plan = {.exe = exe, .argv = argv, .envp = envp};
    int owned[3] = {-1, -1, -1};
    pid_t pid;
    int rv = 0;
    plan.fds[0] = above_stdio(in_fd >= 0 ? in_fd : null_fd, &owned[0]);
    plan.fds[1] = above_stdio(out_fd, &owned[1]);
    plan.fds[2] = above_stdio(null_fd, &owned[2]);
    plan.core = (struct rlimit){0, 0};
    plan.set_as = lim->address_space_bytes > 0 && !CHILD_ASAN;
    plan.as.rlim_cur = plan.as.rlim_max = lim->address_space_bytes;
    plan.set_cpu = lim->cpu_s > 0;
    /* Soft = hard: the kernel sends SIGKILL when it is reached. */
    plan.cpu.rlim_cur = plan.cpu.rlim_max = lim->cpu_s;
    if (plan.fds[0] < 0 || plan.fds[1] < 0 || plan.fds[2] < 0) {
        base_err_set(err, "fcntl: %s", strerror(errno));
        rv = BASE_EIO;
        goto out;
    }
    pid = vfork_exec(&plan);
    if (pid < 0) {
        base_err_set(err, "vfork: %s", strerror(errno));
        rv = BASE_EIO;
    } else if (plan.exec_errno != 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        base_err_set(err, "exec %s: %s", exe, strerror(plan.exec_errno));
        rv = BASE_EIO;
    } else {
        *pid_out = pid;
    }
out:
    for (int i = 0; i < 3; i++) {
        if (owned[i] >= 0) {
            close(owned[i]);
        }
    }
    return rv;
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
                pidfd = -1; /* cannot watch it: poll the child's state instead */
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
    memset(res, 0, sizeof *res);
    out[0] = '\0';
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
    rv = spawn(&pid, exe, argv, envp, in_fd, pipe_fds[1], null_fd, lim, err);
    close(null_fd);
    close(pipe_fds[1]);
    pipe_fds[1] = -1;
    if (rv != 0) {
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
                 sigdescr_np(res->code) != NULL ? sigdescr_np(res->code) : "unknown");
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

void child_slots_init(struct child_slots *s, unsigned max, unsigned waiting_max)
{
    ASSERT(max > 0);
    s->max = max;
    s->waiting_max = waiting_max;
    atomic_init(&s->waiting, 0);
    ASSERT(sem_init(&s->sem, 0, max) == 0);
}

void child_slots_close(struct child_slots *s)
{
    sem_destroy(&s->sem);
}

static bool wait_slot(struct child_slots *s, uint64_t wait_ms)
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

bool child_slots_acquire(struct child_slots *s, uint64_t wait_ms)
{
    bool got;
    if (sem_trywait(&s->sem) == 0) {
        return true;
    }
    if (wait_ms == 0) {
        return false;
    }
    /* Every waiter is a blocked worker thread: past waiting_max, no wait at all. */
    if (atomic_fetch_add(&s->waiting, 1) >= s->waiting_max) {
        atomic_fetch_sub(&s->waiting, 1);
        return false;
    }
    got = wait_slot(s, wait_ms);
    atomic_fetch_sub(&s->waiting, 1);
    return got;
}

void child_slots_release(struct child_slots *s)
{
    ASSERT(sem_post(&s->sem) == 0);
}
