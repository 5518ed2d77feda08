/* Assertions: invariants that must hold, checked where they live (state transitions,
 * ownership, bounds).
 *
 * ASSERT stays on in release builds: in an archive, crashing beats corrupting. DASSERT is
 * for checks too expensive for release builds and compiles away under NDEBUG.
 * UNREACHABLE marks a branch that cannot happen (a switch's default over a closed enum);
 * it never returns, so the compiler needs no dummy return after it.
 * Never assert on bytes from disk, network or config: validate and return an error.
 * All three log `expr file:line` through base_assert_fail and abort. */
#ifndef IMGARC_BASE_ASSERT_H
#define IMGARC_BASE_ASSERT_H

/* Logs the failed expression and its place, then aborts. Defined in base/mem.c. */
void base_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));

#define ASSERT(x)                                                                        \
    do {                                                                                 \
        if (!(x))                                                                        \
            base_assert_fail(#x, __FILE__, __LINE__);                                    \
    } while (0)

#ifdef NDEBUG
#define DASSERT(x) ((void)0)
#else
#define DASSERT(x) ASSERT(x)
#endif

#define UNREACHABLE() base_assert_fail("unreachable", __FILE__, __LINE__)

#endif
