#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_LEVEL_INFO;

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_level_parse(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

void log_write(enum log_level level, const char *module, const char *fmt, ...)
{
    static const char *const names[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    char line[2048];
    struct timeval tv;
    struct tm tm;
    size_t n;
    va_list ap;
    int rv;

    if (level > current_level) {
        return;
    }
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    rv = snprintf(line + n, sizeof line - n, ".%03ldZ %s %s ", (long)(tv.tv_usec / 1000),
                  names[level], module);
    if (rv > 0) {
        n += (size_t)rv;
    }
    va_start(ap, fmt);
    rv = vsnprintf(line + n, sizeof line - n, fmt, ap);
    va_end(ap);
    if (rv > 0) {
        n += (size_t)rv;
    }
    if (n > sizeof line - 2) {
        n = sizeof line - 2;
    }
    line[n++] = '\n';
    /* One write per line keeps lines whole when several threads log. */
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}
