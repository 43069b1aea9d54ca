/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with a level filter. The level is process-wide and set
 * once at start-up; it is read without a lock (an int read is atomic enough
 * for a filter). When stderr is the systemd journal, each line starts with
 * its sd-daemon(3) priority instead of a time stamp.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static enum log_level log_current = LOG_LEVEL_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};
/* syslog(3) priorities of the levels: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
static const int log_priorities[] = {3, 4, 6, 7};
/* Whether stderr is the journal: -1 not looked at yet, else 0 or 1. */
static atomic_int log_journal = -1;

enum log_level
log_set_level(enum log_level level)
{
	enum log_level old = log_current;

	log_current = level;
	atomic_store(&log_journal, -1);
	return old;
}

int
log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char end;

	/* systemd sets JOURNAL_STREAM=DEVICE:INODE of the stream it connects
	 * to stdout/stderr; a child whose stderr was redirected since inherits
	 * the variable but not the stream, hence the comparison. */
	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof log_names / sizeof log_names[0]; i++) {
		if (strcmp(name, log_names[i]) == 0)
			return (int)i;
	}
	return -1;
}

int
log_enabled(enum log_level level)
{
	return level <= log_current;
}

void
log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
	char msg[1024], stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int journal = atomic_load(&log_journal);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (journal == -1) {
		journal = log_stderr_is_journal();
		atomic_store(&log_journal, journal);
	}
	if (journal) {
		/* The journal stamps the time itself. */
		fprintf(stderr, "<%d>%s %s:%d: %s\n", log_priorities[level], log_names[level], file, line, msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so lines never interleave. */
	fprintf(stderr, "%s.%03ldZ %s %s:%d: %s\n", stamp, ts.tv_nsec / 1000000, log_names[level], file, line,
		msg);
}
