/* SPDX-License-Identifier: MIT */
/*
 * Retention off the event loops: a thread of its own applies the configured
 * limits trim_interval_ms after a commit, and again when an age limit is due
 * to expire a message, so no loop ever waits on the SQLite write lock for a
 * trim. Each pass also deletes idempotency keys past idempotency_window_s. Used by the worker and by fcpush-ws; the CLI trims on request.
 */
#ifndef FCPUSH_RETENTION_H
#define FCPUSH_RETENTION_H

#include <stdint.h>

#include "store.h"

struct config;
struct committer;
struct retention;

/* The default limits of cfg (retention_max_*), in the store's units. */
void retention_defaults(const struct config *cfg, struct store_retention *out);

/* Start the retention thread for cfg's database and limits. With committer
 * set, each pass runs on its writer between group commits (committer_run:
 * trims never contend with this process's publishes); with NULL, on a
 * connection of the thread's own. Nothing runs until retention_kick.
 * Returns NULL with *cause (caller frees; may be NULL) when the database
 * cannot be opened or the thread cannot start. */
struct retention *retention_new(const struct config *cfg, struct committer *committer, char **cause);
/* Stop the thread (a pass under way finishes first) and free; r may be
 * NULL. */
void retention_free(struct retention *r);
/* Something committed: schedule a pass trim_interval_ms from now unless one
 * is due sooner. Thread-safe and cheap (a mutex; a signal only when the
 * schedule moves earlier), so every commit may call it. r may be NULL
 * (nothing happens). */
void retention_kick(struct retention *r);
/* Passes run so far (for tests and status). */
uint64_t retention_passes(struct retention *r);

#endif
