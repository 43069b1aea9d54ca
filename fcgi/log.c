/*
 * Logging to stderr with a level filter. The level is process-wide and set
 * once at start-up; it is read without a lock (an int read is atomic enough
 * for a filter).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static enum log_level log_current = LOG_LEVEL_INFO;
static const char *const log_names[] = {"error", "warn", "info", "debug"};

enum log_level
log_set_level(enum log_level level)
{
	enum log_level old = log_current;

	log_current = level;
	return old;
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

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	/* One fprintf per line: stdio locks the stream, so lines never interleave. */
	fprintf(stderr, "%s.%03ldZ %s %s:%d: %s\n", stamp, ts.tv_nsec / 1000000, log_names[level], file, line,
		msg);
}
