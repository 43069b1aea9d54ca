/* SPDX-License-Identifier: MIT */
/*
 * Level-filtered logging to stderr, every line with its source file and line.
 * Below the level in force the arguments are not even formatted.
 */
#ifndef FCPUSH_LOG_H
#define FCPUSH_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Set the level below which messages are dropped; returns the old one. Also
 * makes the next line look again whether stderr is the journal. */
enum log_level log_set_level(enum log_level level);
/* Parse "error", "warn", "info" or "debug"; -1 when the name is unknown. */
int log_level_parse(const char *name);
/* Whether a message at level would be written. */
int log_enabled(enum log_level level);
/* Whether stderr is the systemd journal: JOURNAL_STREAM (set by systemd,
 * "DEVICE:INODE") names stderr's device and inode. */
int log_stderr_is_journal(void);
/* Write one line: time, level, file:line, message; under the journal
 * (log_stderr_is_journal) the line starts with its sd-daemon(3) priority
 * "<3>" (error), "<4>" (warn), "<6>" (info) or "<7>" (debug) instead of the
 * time. Use the macros. */
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_at(lvl, ...)                                                                 \
	do {                                                                             \
		if (log_enabled(lvl))                                                    \
			log_write(lvl, __FILE__, __LINE__, __VA_ARGS__);                 \
	} while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
