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
/* Parses RFC 3339 ("2027-01-31T00:00:00Z", fractions of a second and "+08:00" style
 * offsets allowed) into milliseconds since the epoch; -1 when @s is not one, or
 * is before 1970. */
int64_t clock_parse_rfc3339(const char *s);

#endif
