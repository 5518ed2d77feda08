/* A program run in a limited child process (base/child.h). The children are this test
 * binary itself in a few modes (argv[1] "--child-..."), and /bin/sleep. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/child.h"
#include "base/clock.h"
#include "base/mem.h"
#include "tests/lib/testlib.h"

#ifndef __has_feature
#define __has_feature(x) 0
#endif
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer)
#define ASAN 1 /* RLIMIT_AS becomes ASan's RSS limit: see base/child.c */
#else
#define ASAN 0
#endif

extern char **environ;

/* ---- the child's side ---- */

/* Allocates and touches @argv[2] MiB: "ok" when it could. */
static int child_alloc(char **argv)
{
    size_t n = (size_t)strtoull(argv[2], NULL, 10) << 20;
    char *p = malloc(n);
    if (p == NULL) {
        printf("no memory\n");
        return 0;
    }
    memset(p, 1, n);
    printf("ok %d\n", p[n - 1]);
    free(p);
    return 0;
}

/* What it was given: descriptors, environment, limits. */
static int child_inventory(void)
{
    struct rlimit as, cpu, core;
    int env = 0;
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    printf("fds");
    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) {
            printf(" %s", e->d_name);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    for (char **v = environ; *v != NULL; v++) {
        env++;
    }
    getrlimit(RLIMIT_AS, &as);
    getrlimit(RLIMIT_CPU, &cpu);
    getrlimit(RLIMIT_CORE, &core);
    printf(" env %d as %lld cpu %lld core %lld stdin %c\n", env,
           as.rlim_cur == RLIM_INFINITY ? -1ll : (long long)as.rlim_cur,
           cpu.rlim_cur == RLIM_INFINITY ? -1ll : (long long)cpu.rlim_cur,
           (long long)core.rlim_cur, getchar());
    return 0;
}

static int child_main(int argc, char **argv)
{
    if (strcmp(argv[1], "--child-alloc") == 0 && argc == 3) {
        return child_alloc(argv);
    }
    if (strcmp(argv[1], "--child-inventory") == 0) {
        return child_inventory();
    }
    if (strcmp(argv[1], "--child-spin") == 0) {
        for (volatile unsigned long i = 0;; i++) {
        }
    }
    if (strcmp(argv[1], "--child-spew") == 0) {
        char buf[4096];
        memset(buf, 'x', sizeof buf);
        for (;;) {
            if (write(1, buf, sizeof buf) < 0) {
                return 1;
            }
        }
    }
    return 99;
}

/* ---- the parent's side ---- */

/* No child of this process is left, zombie or running. */
static void assert_no_child_left(void)
{
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

static int run_self(const char *mode, const char *arg, const struct child_limits *lim,
                    char *out, size_t out_max, struct child_result *res)
{
    struct base_err err = {{0}};
    char *argv[] = {"test_child", (char *)mode, (char *)arg, NULL};
    return child_run("/proc/self/exe", argv, NULL, -1, lim, out, out_max, res, &err);
}

static void output_and_status_come_back(void **state)
{
    struct child_limits lim = {.wall_ms = 10000};
    struct child_result res;
    struct base_err err = {{0}};
    char out[64];
    char *argv[] = {"sh", "-c", "echo hello; exit 3", NULL};
    (void)state;
    assert_int_equal(child_run("/bin/sh", argv, NULL, -1, &lim, out, sizeof out, &res, &err),
                     0);
    assert_int_equal(res.end, CHILD_EXITED);
    assert_int_equal(res.code, 3);
    assert_string_equal(out, "hello\n");
    assert_int_equal(res.out_len, 6);
    assert_true(res.peak_rss_kib > 0);
    assert_no_child_left();
}

static void a_missing_program_is_an_error(void **state)
{
    struct child_limits lim = {.wall_ms = 10000};
    struct child_result res;
    struct base_err err = {{0}};
    char out[64];
    char *argv[] = {"nothing", NULL};
    (void)state;
    assert_int_equal(child_run("/nonexistent/nothing", argv, NULL, -1, &lim, out, sizeof out,
                               &res, &err),
                     BASE_EIO);
    assert_non_null(strstr(err.msg, "/nonexistent/nothing"));
    assert_no_child_left();
}

/* The deadline is the parent's: a child that sleeps is killed at it and reaped. */
static void the_deadline_kills_and_reaps(void **state)
{
    struct child_limits lim = {.wall_ms = 200};
    struct child_result res;
    struct base_err err = {{0}};
    char out[64];
    char *argv[] = {"sleep", "30", NULL};
    (void)state;
    assert_int_equal(child_run("/bin/sleep", argv, NULL, -1, &lim, out, sizeof out, &res, &err),
                     0);
    assert_int_equal(res.end, CHILD_TIMED_OUT);
    assert_int_equal(res.code, SIGKILL);
    assert_true(res.elapsed_ms >= 200);
    assert_true(res.elapsed_ms < 5000);
    assert_no_child_left();
}

/* A child that closes its output and lives on is still held to the deadline. */
static void a_child_that_closes_its_output_is_still_timed(void **state)
{
    struct child_limits lim = {.wall_ms = 200};
    struct child_result res;
    struct base_err err = {{0}};
    char out[64];
    char *argv[] = {"sh", "-c", "exec >&- ; sleep 30", NULL};
    (void)state;
    assert_int_equal(child_run("/bin/sh", argv, NULL, -1, &lim, out, sizeof out, &res, &err),
                     0);
    assert_int_equal(res.end, CHILD_TIMED_OUT);
    assert_true(res.elapsed_ms < 5000);
    assert_no_child_left();
}

static void memory_is_limited(void **state)
{
    struct child_limits lim = {.address_space_bytes = 256 << 20, .wall_ms = 30000};
    struct child_result res;
    char out[64];
    (void)state;
    /* Within the limit... */
    assert_int_equal(run_self("--child-alloc", "16", &lim, out, sizeof out, &res), 0);
    assert_int_equal(res.end, CHILD_EXITED);
    assert_string_equal(out, "ok 1\n");
    /* ...and beyond it: malloc fails under RLIMIT_AS; ASan's RSS limit kills. */
    assert_int_equal(run_self("--child-alloc", "2048", &lim, out, sizeof out, &res), 0);
    if (ASAN) {
        assert_true(res.end != CHILD_EXITED || res.code != 0);
    } else {
        assert_int_equal(res.end, CHILD_EXITED);
        assert_string_equal(out, "no memory\n");
        assert_true(res.peak_rss_kib < 256 * 1024);
    }
    assert_no_child_left();
}

static void cpu_is_limited(void **state)
{
    struct child_limits lim = {.cpu_s = 1, .wall_ms = 30000};
    struct child_result res;
    char out[64];
    (void)state;
    assert_int_equal(run_self("--child-spin", NULL, &lim, out, sizeof out, &res), 0);
    assert_int_equal(res.end, CHILD_SIGNALED);
    assert_int_equal(res.code, SIGKILL);
    /* The kernel charges CPU time by the tick (a whole tick to whoever is running when it
     * fires), so the limit can strike a few ticks before a full second of wall time has
     * passed: 900 ms is "the CPU limit ended it", 30 s would be the wall limit. */
    assert_true(res.elapsed_ms >= 900);
    assert_true(res.elapsed_ms < 30000);
    assert_no_child_left();
}

static void output_beyond_the_buffer_kills(void **state)
{
    struct child_limits lim = {.wall_ms = 30000};
    struct child_result res;
    char out[1024];
    (void)state;
    assert_int_equal(run_self("--child-spew", NULL, &lim, out, sizeof out, &res), 0);
    assert_int_equal(res.end, CHILD_TOO_MUCH);
    assert_int_equal(res.out_len, sizeof out - 1);
    assert_int_equal(out[sizeof out - 1], '\0');
    assert_no_child_left();
}

/* fds 0, 1 and 2 only (the caller's input on 0), an empty environment, the limits set
 * and no core file, whatever the parent holds open without O_CLOEXEC. */
static void the_child_gets_nothing_but_what_it_is_given(void **state)
{
    struct child_limits lim = {.address_space_bytes = 300 << 20, .cpu_s = 9, .wall_ms = 30000};
    struct child_result res;
    struct base_err err = {{0}};
    char out[256], want[256];
    char *argv[] = {"test_child", "--child-inventory", NULL};
    int leak = open("/dev/null", O_RDONLY); /* no O_CLOEXEC on purpose */
    int in[2];
    (void)state;
    assert_true(leak > 2);
    assert_int_equal(pipe2(in, O_CLOEXEC), 0);
    assert_int_equal(write(in[1], "Z", 1), 1);
    close(in[1]);
    setenv("IMGARC_TEST_SECRET", "do-not-pass", 1);
    assert_int_equal(child_run("/proc/self/exe", argv, NULL, in[0], &lim, out, sizeof out,
                               &res, &err),
                     0);
    assert_int_equal(res.end, CHILD_EXITED);
    snprintf(want, sizeof want, "fds 0 1 2 env %d as %lld cpu 9 core 0 stdin Z\n", ASAN ? 1 : 0,
             ASAN ? -1ll : 300ll << 20);
    assert_string_equal(out, want);
    close(in[0]);
    close(leak);
    unsetenv("IMGARC_TEST_SECRET");
    assert_no_child_left();
}

/* Without limits: none set but the core file, and /dev/null on fd 0. A parent whose
 * own fd 0 is closed (a daemon's may be) still gives the child its three. */
static void no_limit_means_none(void **state)
{
    struct child_limits lim = {.wall_ms = 30000};
    struct child_result res;
    char out[256], want[256];
    int saved = dup(0);
    (void)state;
    close(0);
    assert_int_equal(run_self("--child-inventory", NULL, &lim, out, sizeof out, &res), 0);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
    assert_int_equal(res.end, CHILD_EXITED);
    snprintf(want, sizeof want, "fds 0 1 2 env 0 as -1 cpu -1 core 0 stdin %c\n", EOF);
    assert_string_equal(out, want);
    assert_no_child_left();
}

/* A signal handler of the parent's is not the child's: SIGTERM kills it. */
static int terms_seen;
static void on_term(int sig)
{
    (void)sig;
    terms_seen++;
}

static void the_parents_handlers_stay_with_the_parent(void **state)
{
    struct child_limits lim = {.wall_ms = 30000};
    struct child_result res;
    struct base_err err = {{0}};
    char out[64];
    char *argv[] = {"sh", "-c", "kill -TERM $$; sleep 5", NULL};
    (void)state;
    signal(SIGTERM, on_term);
    assert_int_equal(child_run("/bin/sh", argv, NULL, -1, &lim, out, sizeof out, &res, &err),
                     0);
    signal(SIGTERM, SIG_DFL);
    assert_int_equal(res.end, CHILD_SIGNALED);
    assert_int_equal(res.code, SIGTERM);
    assert_int_equal(terms_seen, 0);
    assert_no_child_left();
}

static void slots_bound_how_many_run_at_once(void **state)
{
    struct child_slots s;
    (void)state;
    uint64_t t0;
    child_slots_init(&s, 2, 1);
    assert_true(child_slots_acquire(&s, 0));
    assert_true(child_slots_acquire(&s, 10));
    assert_false(child_slots_acquire(&s, 0));
    t0 = clock_mono_ns();
    assert_false(child_slots_acquire(&s, 50)); /* waits, then gives up */
    assert_true(clock_mono_ns() - t0 >= 50 * 1000000ull);
    child_slots_release(&s);
    assert_true(child_slots_acquire(&s, 50));
    child_slots_release(&s);
    child_slots_release(&s);
    child_slots_close(&s);
}

struct waiter {
    struct child_slots *s;
    bool got;
};

static void *wait_for_slot(void *arg)
{
    struct waiter *w = arg;
    w->got = child_slots_acquire(w->s, 5000);
    return NULL;
}

/* With every slot taken and waiting_max threads waiting, one more does not wait; the
 * one waiting gets the slot released. */
static void waiters_are_bounded_too(void **state)
{
    struct child_slots s;
    struct waiter w;
    pthread_t t;
    uint64_t t0;
    (void)state;
    child_slots_init(&s, 1, 1);
    assert_true(child_slots_acquire(&s, 0));
    w.s = &s;
    w.got = false;
    assert_int_equal(pthread_create(&t, NULL, wait_for_slot, &w), 0);
    while (atomic_load(&s.waiting) == 0) {
        usleep(1000);
    }
    t0 = clock_mono_ns();
    assert_false(child_slots_acquire(&s, 5000)); /* the waiting room is full: at once */
    assert_true(clock_mono_ns() - t0 < 1000 * 1000000ull);
    child_slots_release(&s);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(w.got);
    child_slots_release(&s);
    child_slots_close(&s);
}

static void the_description_says_what_happened(void **state)
{
    struct child_result res = {.end = CHILD_SIGNALED, .code = SIGKILL, .elapsed_ms = 1203,
                               .peak_rss_kib = 2048};
    char buf[160];
    (void)state;
    child_describe(&res, buf, sizeof buf);
    assert_non_null(strstr(buf, "killed by signal 9"));
    assert_non_null(strstr(buf, "1203 ms"));
    assert_non_null(strstr(buf, "2048 KiB"));
    res.end = CHILD_TIMED_OUT;
    child_describe(&res, buf, sizeof buf);
    assert_non_null(strstr(buf, "deadline"));
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(output_and_status_come_back),
    cmocka_unit_test(a_missing_program_is_an_error),
    cmocka_unit_test(the_deadline_kills_and_reaps),
    cmocka_unit_test(a_child_that_closes_its_output_is_still_timed),
    cmocka_unit_test(memory_is_limited),
    cmocka_unit_test(cpu_is_limited),
    cmocka_unit_test(output_beyond_the_buffer_kills),
    cmocka_unit_test(the_child_gets_nothing_but_what_it_is_given),
    cmocka_unit_test(no_limit_means_none),
    cmocka_unit_test(the_parents_handlers_stay_with_the_parent),
    cmocka_unit_test(slots_bound_how_many_run_at_once),
    cmocka_unit_test(waiters_are_bounded_too),
    cmocka_unit_test(the_description_says_what_happened),
};

int main(int argc, char **argv)
{
    if (argc > 1 && strncmp(argv[1], "--child-", 8) == 0) {
        return child_main(argc, argv);
    }
    return testlib_run("base/child", tests, ARRAY_SIZE(tests), argc, argv);
}
