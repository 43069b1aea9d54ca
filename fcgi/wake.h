/*
 * The cross-process wake-up signal: a commit by any process (a worker, the
 * CLI, the sqlite3 shell) appends to the database's -wal file, and inotify
 * reports that write to every process watching it at once. No polling while
 * nothing happens; one readable fd per process whatever the number of
 * waiting subscribers.
 */
#ifndef FCPUSH_WAKE_H
#define FCPUSH_WAKE_H

struct wake;

/* Watch the -wal file of the database at db_path. The directory is watched
 * (IN_MODIFY | IN_CREATE | IN_MOVED_TO, filtered to the -wal name) rather than
 * the file, so a -wal file that is deleted and recreated is still seen.
 * Returns NULL with *cause (caller frees; may be NULL) when inotify cannot be
 * set up. */
struct wake *wake_new(const char *db_path, char **cause);
/* Release it; w may be NULL. */
void wake_free(struct wake *w);
/* The non-blocking fd to poll for readability. */
int wake_fd(const struct wake *w);
/* Read every pending event. Returns 1 when one of them concerned the -wal
 * file (new rows may have committed), 0 when none did, -1 on a read error. */
int wake_drain(struct wake *w);

#endif
