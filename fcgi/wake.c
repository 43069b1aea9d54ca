/* SPDX-License-Identifier: MIT */
/*
 * Cross-process wake-up through inotify on the database directory, filtered
 * to the -wal and -wake files (see wake.h). A store location that is not a
 * file ("SCHEME://...", e.g. the NATS backend) is watched through the
 * backend's own commit feed (store_watch_*, store.h) behind the same calls,
 * until the engine calls store_watch_* itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store.h"
#include "util.h"
#include "wake.h"

struct wake {
	struct store_watch *watch; /* a backend's feed, for a "SCHEME://" location; else NULL */
	int fd;
	int wd;
	int notify_fd;     /* DB-wake, opened for writing; -1 when it cannot be */
	char *wal_name;    /* basename of the -wal file */
	char *notify_name; /* basename of the -wake file */
};

struct wake *
wake_new(const char *db_path, char **cause)
{
	struct wake *w = xcalloc(1, sizeof *w);
	char *copy1 = xstrdup(db_path), *copy2 = xstrdup(db_path);
	const char *dir = dirname(copy1), *base = basename(copy2);

	w->wd = -1;
	w->notify_fd = -1;
	if (strstr(db_path, "://") != NULL) {
		w->fd = -1;
		w->watch = store_watch_new(db_path, cause);
		if (w->watch == NULL)
			goto fail;
		free(copy1);
		free(copy2);
		return w;
	}
	w->wal_name = xasprintf("%s-wal", base);
	w->notify_name = xasprintf("%s-wake", base);
	w->notify_fd = wake_open_notify(db_path);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd == -1) {
		if (cause != NULL)
			*cause = xasprintf("inotify_init1: %s", strerror(errno));
		goto fail;
	}
	w->wd = inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CREATE | IN_MOVED_TO);
	if (w->wd == -1) {
		if (cause != NULL)
			*cause = xasprintf("inotify_add_watch %s: %s", dir, strerror(errno));
		goto fail;
	}
	free(copy1);
	free(copy2);
	return w;
fail:
	free(copy1);
	free(copy2);
	wake_free(w);
	return NULL;
}

void
wake_free(struct wake *w)
{
	if (w == NULL)
		return;
	store_watch_free(w->watch);
	if (w->fd != -1)
		close(w->fd);
	if (w->notify_fd != -1)
		close(w->notify_fd);
	free(w->wal_name);
	free(w->notify_name);
	free(w);
}

int
wake_fd(const struct wake *w)
{
	if (w->watch != NULL)
		return store_watch_fd(w->watch);
	return w->fd;
}

int
wake_drain(struct wake *w)
{
	char events[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	int relevant = 0;
	ssize_t n;
	char *p;

	if (w->watch != NULL) {
		n = store_watch_drain(w->watch);
		return n < 0 ? -1
			     : ((n & STORE_WATCH_COMMIT) ? WAKE_COMMIT : 0) | ((n & STORE_WATCH_SOON) ? WAKE_WAL : 0);
	}
	for (;;) {
		n = read(w->fd, events, sizeof events);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return relevant;
		if (n <= 0)
			return -1;
		for (p = events; p < events + n; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				relevant |= WAKE_COMMIT | WAKE_WAL; /* events were lost */
			else if (ev->len > 0 && strcmp(ev->name, w->notify_name) == 0)
				relevant |= WAKE_COMMIT;
			else if (ev->len > 0 && strcmp(ev->name, w->wal_name) == 0)
				relevant |= WAKE_WAL;
		}
	}
}

int
wake_notify(struct wake *w)
{
	if (w->watch != NULL)
		return 0; /* the backend's appends tell every watcher themselves */
	return wake_notify_fd(w->notify_fd);
}

int
wake_open_notify(const char *db_path)
{
	char *notify_path = xasprintf("%s-wake", db_path);
	int fd = open(notify_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);

	if (fd != -1)
		fchmod(fd, 0666); /* any fcpush process may signal */
	free(notify_path);
	return fd;
}

int
wake_notify_fd(int fd)
{
	static const char one = '1';

	if (fd == -1)
		return -1;
	return pwrite(fd, &one, 1, 0) == 1 ? 0 : -1;
}
