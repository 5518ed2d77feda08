/* Clocks: wall time for stamping commands, monotonic time for timeouts and latency. */
#ifndef IMGARC_BASE_CLOCK_H
#define IMGARC_BASE_CLOCK_H

#include <stdint.h>

/* Milliseconds since the Unix epoch. */
uint64_t clock_wall_ms(void);
/* Monotonic nanoseconds, for measuring durations. */
uint64_t clock_mono_ns(void);
/* Formats @ms as RFC 3339 UTC with milliseconds into @buf (at least 32 bytes). */
void clock_format_rfc3339(uint64_t ms, char *buf, unsigned long size);

#endif
