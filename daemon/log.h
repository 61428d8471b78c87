/*
 * log.h — the daemon's log: one line per event on stderr.
 *
 * Lines carry a level and, when stderr is the systemd journal
 * (JOURNAL_STREAM matches stderr), a "<N>" priority prefix instead of a
 * timestamp, since the journal stamps lines itself. Thread-safe: each line is
 * written with a single write(2), so lines from different threads never mix.
 */
#ifndef DAEMON_LOG_H
#define DAEMON_LOG_H

#include <stdarg.h>

enum daemon_log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARNING = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/* Sets the most verbose level written (default LOG_LVL_INFO) and checks
 * whether stderr is the journal. Call once before threads start. */
void daemon_log_init(int level);
int daemon_log_enabled(int level);
void daemon_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void daemon_vlog(int level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* "error", "warning", "info", "debug" <-> level; -1 when unknown. */
int daemon_log_level_parse(const char *name);
const char *daemon_log_level_name(int level);

#endif
