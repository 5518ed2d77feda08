/* Logging: one line per event on stderr, "ts level module msg key=value".
 *
 * The log sink and level are the only mutable globals in the project. Safe to call
 * from any thread (each line is written with one write(2)). */
#ifndef IMGARC_BASE_LOG_H
#define IMGARC_BASE_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_level_parse(const char *name);

void log_write(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define LOG_ERROR(module, ...) log_write(LOG_LEVEL_ERROR, module, __VA_ARGS__)
#define LOG_WARN(module, ...) log_write(LOG_LEVEL_WARN, module, __VA_ARGS__)
#define LOG_INFO(module, ...) log_write(LOG_LEVEL_INFO, module, __VA_ARGS__)
#define LOG_DEBUG(module, ...)                                                           \
    do {                                                                                 \
        if (log_get_level() >= LOG_LEVEL_DEBUG)                                          \
            log_write(LOG_LEVEL_DEBUG, module, __VA_ARGS__);                             \
    } while (0)

#endif
