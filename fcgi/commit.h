/* SPDX-License-Identifier: MIT */
/*
 * Group commit: many request threads publish at once through one writer
 * connection. A thread that submits while no commit is running becomes the
 * leader: it takes every submission queued so far and commits them all in one
 * transaction (store_append_groups), then wakes the followers with their
 * results. While it commits, new submissions queue for the next leader. So
 * at concurrency 1 every publish is its own transaction, and under load one
 * transaction carries many publishes.
 */
#ifndef FCPUSH_COMMIT_H
#define FCPUSH_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"
#include "store.h"

struct committer;

/* Called by the leader after every successful commit, outside the lock, with
 * the highest seq it committed. Must be cheap and thread-safe. */
typedef void (*committer_cb)(void *arg, int64_t high_seq);

/* Take over writer (owned from here on: committer_free closes it). on_commit
 * may be NULL. */
struct committer *committer_new(struct store *writer, committer_cb on_commit, void *arg);
/* Close the writer and free; c may be NULL. No submission may be running. */
void committer_free(struct committer *c);

/* Commit n messages atomically (all or none), blocking until their
 * transaction has committed. seqs (n elements, caller storage) receive their
 * seqs; outcomes (NULL, or n elements of caller storage) say which were
 * replays of an earlier publish's idempotency key (store.h) and their
 * publish times; *time_ms the transaction's publish time. Publishes with one
 * key that land in one transaction are handled in submission order, so only
 * the first stores a message. Returns STORE_OK, or the failure of
 * store_append_groups (STORE_BUSY: nothing written; STORE_INVALID,
 * STORE_CONFLICT, STORE_ERROR) with *cause (caller frees; may be NULL).
 * Thread-safe. */
enum store_result committer_submit(struct committer *c, const struct store_pub *pubs, size_t n, int64_t *seqs,
				   struct store_outcome *outcomes, int64_t *time_ms, char **cause);

/* Run fn(st, arg) on the writer connection between group commits (for
 * deletes and trims that must not race the writer). Returns what fn returns. */
enum store_result committer_run(struct committer *c, enum store_result (*fn)(struct store *st, void *arg),
				void *arg);

/* Transactions and messages committed so far (for /status). */
void committer_counts(struct committer *c, uint64_t *transactions, uint64_t *messages);
/* The histogram of messages per committed transaction (for /metrics),
 * owned by c; reading it is thread-safe. */
const struct metrics_hist *committer_batch_hist(const struct committer *c);

#endif
