/*
 * log.c — see log.h. The level is set once at start-up, before any thread
 * exists, and only read afterwards; that is the only state here.
 */
#include "daemon/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int log_level = LOG_LVL_INFO;
static int log_journal;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
/* syslog priorities for the journal's "<N>" prefix (sd-daemon.h). */
static const int level_prio[] = {3, 4, 6, 7};

/* JOURNAL_STREAM is "device:inode" of the journal's socket; stderr is the
 * journal when they match (systemd.exec(5)). */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void daemon_log_init(int level)
{
	if (level >= LOG_LVL_ERROR && level <= LOG_LVL_DEBUG)
		log_level = level;
	log_journal = stderr_is_journal();
}

int daemon_log_enabled(int level)
{
	return level <= log_level;
}

void daemon_vlog(int level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int k;

	if (level < LOG_LVL_ERROR)
		level = LOG_LVL_ERROR;
	if (level > LOG_LVL_DEBUG)
		level = LOG_LVL_DEBUG;
	if (!daemon_log_enabled(level))
		return;
	if (log_journal) {
		k = snprintf(line, sizeof line, "<%d>", level_prio[level]);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		k = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
		             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		             ts.tv_nsec / 1000000L, level_names[level]);
	}
	n = k > 0 ? (size_t)k : 0;
	k = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (k > 0)
		n += (size_t)k;
	/* Truncated lines still end with a newline. */
	if (n > sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write per line keeps lines whole across threads; a failed write to
	 * stderr has nowhere to be reported. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void daemon_log(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	daemon_vlog(level, fmt, ap);
	va_end(ap);
}

int daemon_log_level_parse(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	if (strcmp(name, "warn") == 0)
		return LOG_LVL_WARNING;
	return -1;
}

const char *daemon_log_level_name(int level)
{
	return level >= 0 && level < 4 ? level_names[level] : "?";
}
