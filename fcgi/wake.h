/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's commit signal, behind store_watch_* (store.h).
 * inotify on the database directory reports two files to every watching
 * process at once:
 * - DB-wake, which the backend writes one byte to right after each commit
 *   (wake_notify_fd, from store_sqlite.c): the commit is visible when it
 *   arrives.
 * - DB-wal, which every writer appends to, the sqlite3 shell included. Its
 *   event comes when the WAL frames are written, which is before SQLite
 *   publishes the commit in the -shm index (a memory write inotify cannot
 *   see): a reader that looks at once may not see the rows yet, so the caller
 *   looks again a little later (WAKE_WAL).
 * No polling while nothing happens; one readable fd per process whatever the
 * number of waiting subscribers.
 */
#ifndef FCPUSH_WAKE_H
#define FCPUSH_WAKE_H

struct wake;

/* What wake_drain saw (a bit mask): the values of store.h's
 * STORE_WATCH_COMMIT and STORE_WATCH_SOON. */
#define WAKE_COMMIT 0x1 /* DB-wake: a commit is visible */
#define WAKE_WAL 0x2    /* DB-wal was written: a commit may become visible soon */

/* Watch the -wal and -wake files of the database at db_path. The directory is watched
 * (IN_MODIFY | IN_CREATE | IN_MOVED_TO, filtered to the -wal name) rather than
 * the file, so a -wal file that is deleted and recreated is still seen.
 * Returns NULL with *cause (caller frees; may be NULL) when inotify cannot be
 * set up. */
struct wake *wake_new(const char *db_path, char **cause);
/* Release it; w may be NULL. */
void wake_free(struct wake *w);
/* The non-blocking fd to poll for readability. */
int wake_fd(const struct wake *w);
/* Read every pending event. Returns a mask of WAKE_COMMIT and WAKE_WAL (0 when
 * no event concerned the database), or -1 on a read error. */
int wake_drain(struct wake *w);
/* Open (or create, mode 0666) the DB-wake file of the database at db_path
 * for wake_notify_fd, close-on-exec. Returns the fd, or -1 (errno set). */
int wake_open_notify(const char *db_path);
/* Tell every watching process, this one included, that a commit finished:
 * one 1-byte pwrite(2) to fd, from wake_open_notify. Thread-safe. Returns 0,
 * or -1 when the write failed (the WAL event still wakes them, later). */
int wake_notify_fd(int fd);

#endif
