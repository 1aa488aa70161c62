/* Logging to stderr, one line per event, with a level and a subsystem tag.
 *
 * Contract: thread-safe (each line is one write(2)), never allocates, never fails loudly.
 * Lines look like "2026-12-01T06:58:02.123Z tandemd[1234] warn nbd: client 3: ...".
 * Secrets must never be passed to these functions; callers redact first. */
#ifndef TANDEM_UTIL_LOG_H
#define TANDEM_UTIL_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Sets the program name shown in each line and the minimum level printed (default LOG_INFO). */
void log_init(const char *progname, enum log_level min_level);

void log_msg(enum log_level level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(sub, ...) log_msg(LOG_DEBUG, sub, __VA_ARGS__)
#define log_info(sub, ...)  log_msg(LOG_INFO, sub, __VA_ARGS__)
#define log_warn(sub, ...)  log_msg(LOG_WARN, sub, __VA_ARGS__)
#define log_error(sub, ...) log_msg(LOG_ERROR, sub, __VA_ARGS__)

#endif
