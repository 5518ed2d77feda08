/* Allocation that aborts on out-of-memory, ARRAY_SIZE and container_of.
 *
 * Includes base/assert.h (ASSERT, DASSERT, UNREACHABLE), so code that takes the
 * assertions from here keeps compiling; new code includes base/assert.h itself. */
#ifndef IMGARC_BASE_MEM_H
#define IMGARC_BASE_MEM_H

#include <stddef.h>

#include "base/assert.h"

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh allocation. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* The struct holding @ptr as its @member. */
#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif
