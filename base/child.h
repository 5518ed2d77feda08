/* A program run in a child process under resource limits, for work on untrusted input
 * that may cost without bound (a library that inflates a PDF's streams whole): the
 * child can fail, run out of memory or be killed, the process that asked cannot.
 *
 * child_run() starts the child with vfork and exec (the calling thread waits until the
 * exec; unlike fork() this is safe from any thread of a multithreaded process, and
 * unlike posix_spawn it lets the limits be set before the program runs, not after):
 *   - every signal blocked around vfork, then in the child every disposition back to
 *     its default before the mask is cleared (no handler of the parent's ever runs in
 *     the child);
 *   - RLIMIT_AS, RLIMIT_CPU (soft = hard: SIGKILL when reached) and RLIMIT_CORE 0, set
 *     in the child before exec, so the program never runs a moment without them;
 *   - its own process group, and SIGKILL when the parent dies (PR_SET_PDEATHSIG);
 *   - an empty environment (or the one given: nothing of the parent's, so no secret);
 *   - fd 0 the caller's input (or /dev/null), fd 1 a pipe the parent reads, fd 2
 *     /dev/null, every other descriptor closed (close_range from 3, whatever the
 *     parent's threads opened without O_CLOEXEC);
 *   - a wall-clock deadline the parent enforces: past it the child is killed (SIGKILL)
 *     and reaped. Every child is reaped before child_run() returns, whatever happened:
 *     no zombie. Waits restart on EINTR. The parent waits with a pidfd (Linux 5.3) or,
 *     where there is none, by polling.
 * Under AddressSanitizer (tests) RLIMIT_AS cannot be used (its shadow reserves
 * terabytes): the address-space limit is passed as ASan's hard_rss_limit_mb instead.
 *
 * struct child_slots bounds how many children run at once (a counting semaphore): a
 * flood of requests cannot fork-bomb the node.
 *
 * Threads: child_run() blocks (up to the deadline and a little more): worker threads
 * only, never the loop. It touches nothing shared; child_slots are shared by design. */
#ifndef IMGARC_BASE_CHILD_H
#define IMGARC_BASE_CHILD_H

#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct child_limits {
    uint64_t address_space_bytes; /* RLIMIT_AS; 0: unlimited */
    uint64_t cpu_s;               /* RLIMIT_CPU, seconds of CPU time; 0: unlimited */
    uint64_t wall_ms;             /* from spawn to exit, enforced by the parent; 0: none */
};

/* How a child ended. */
enum child_end {
    CHILD_EXITED,    /* exit status in code */
    CHILD_SIGNALED,  /* killed by signal code (SIGKILL at the CPU limit, SIGABRT...) */
    CHILD_TIMED_OUT, /* past the deadline: killed by the parent */
    CHILD_TOO_MUCH,  /* wrote more than the output buffer holds: killed by the parent */
};

struct child_result {
    enum child_end end;
    int code;              /* the exit status or the signal */
    size_t out_len;        /* bytes of output (a NUL follows them in the buffer) */
    uint64_t elapsed_ms;   /* spawn to reaped */
    uint64_t peak_rss_kib; /* the child's peak resident set (wait4's ru_maxrss) */
};

/* Runs @exe (a path; no PATH search) with @argv (argv[0] first, NULL-terminated) and
 * @envp (NULL-terminated; NULL: empty) under @lim, with @in_fd as its fd 0 (-1:
 * /dev/null; the caller keeps it). Its output goes into @out (@out_max bytes, one kept
 * for a NUL). Returns 0 once the child has ended and been reaped, @res saying how,
 * whatever it did; or BASE_EIO when it could not be started or watched (no child
 * left either way), with why in @err. Blocks. */
int child_run(const char *exe, char *const argv[], char *const envp[], int in_fd,
              const struct child_limits *lim, char *out, size_t out_max,
              struct child_result *res, struct base_err *err) WARN_UNUSED;

/* "the child was killed by signal 9 (Killed) after 1203 ms, peak RSS 271 MiB", for
 * logs. */
void child_describe(const struct child_result *res, char *buf, size_t size);

/* At most @max children at once: a counting semaphore shared by the threads that
 * spawn. A thread that finds none free may wait, but at most @waiting_max threads wait
 * at once: each one is a blocked worker of a pool the node needs for its disk work. */
struct child_slots {
    sem_t sem;
    unsigned max;
    unsigned waiting_max;
    atomic_uint waiting;
};

void child_slots_init(struct child_slots *s, unsigned max, unsigned waiting_max);
void child_slots_close(struct child_slots *s);
/* Takes a slot: at once when one is free, else waiting at most @wait_ms for one, unless
 * waiting_max threads already wait. false: no slot (the caller does without). */
bool child_slots_acquire(struct child_slots *s, uint64_t wait_ms);
void child_slots_release(struct child_slots *s);

#endif
