/* Allocation that aborts on out-of-memory, and the ASSERT macros.
 *
 * ASSERT stays on in release builds: in an archive, crashing beats corrupting.
 * Never ASSERT on bytes from disk, network or config; validate and return an error. */
#ifndef IMGARC_BASE_MEM_H
#define IMGARC_BASE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The struct holding @ptr as its @member. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
