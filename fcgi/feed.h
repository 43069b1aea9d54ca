/* SPDX-License-Identifier: MIT */
/*
 * The feed: the one reader of new rows in a process. It holds the high-water
 * mark (every row up to seen_seq has been handed over) and the id of the
 * last channel deletion applied, watches the store for commits
 * (store_watch_*: the backend's commit signal), schedules the re-reads
 * when the backend says a commit may become visible soon (SQLite: a WAL
 * write by a process that does not notify, the sqlite3 shell), and reads what
 * committed since, page by page within a byte budget, handing each row and
 * each deletion to its owner's callbacks once. The worker's event loop
 * (loop.c), fcpush-ws (ws_conn.c) and `fcpush tail` (cli.c) are its owners;
 * each decides who gets a row. feed_catch_up_page is the matching reader of
 * one subscriber's history.
 *
 * A feed is used by one thread. Nobody notifies it by hand: every append
 * and deletion that commits tells the watchers (store.h).
 */
#ifndef FCPUSH_FEED_H
#define FCPUSH_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct feed;
struct store;

/* Rows read per page by feed_read. */
#define FEED_READ_PAGE 1024
/* The last re-read after a "soon" signal (a WAL write) comes this long after the first
 * (1, 2, 4 ... 512 ms). */
#define FEED_RECHECK_MAX_MS 512

/* What a feed hands over. arg is feed_new's. Every callback may be NULL. */
struct feed_ops {
	/* A channel was deleted (its deletion log entry, in id order), before
	 * the rows read in the same feed_read. */
	void (*on_deleted)(void *arg, const char *channel);
	/* A new row, in ascending seq order, once. m (and every row of its page)
	 * stays valid until on_page returns. */
	void (*on_row)(void *arg, struct msg *m);
	/* The end of a page of rows (at least one): flush what they queued. */
	void (*on_page)(void *arg);
};

/* A feed reading st (borrowed: the caller's reading connection, used by
 * this thread only) for the store at location (as store_open), with pages of at most
 * page_max_bytes of bodies (msg.h; 0: no budget). Anchored at the current
 * highest seq and deletion: only what commits from now on is handed over.
 * ops (copied) and arg may be NULL. Returns NULL with *cause (caller frees;
 * may be NULL) when the wake-up signal cannot be set up or the store cannot
 * be read. */
struct feed *feed_new(struct store *st, const char *location, size_t page_max_bytes, const struct feed_ops *ops,
		      void *arg, char **cause);
/* Release it (not its store); f may be NULL. */
void feed_free(struct feed *f);

/* The non-blocking fd that becomes readable when something may have
 * committed; poll it, then call feed_drain. Owned by the feed. */
int feed_fd(const struct feed *f);
/* Read the wake-up events pending on feed_fd. Returns 1 when a commit may
 * be visible (call feed_read), 0 when no event concerned the database, -1
 * on a read error. A STORE_WATCH_SOON signal (a WAL write: its commit may
 * not be visible yet) also schedules re-reads from now_ms (monotonic ms): see feed_recheck_at. */
int feed_drain(struct feed *f, int64_t now_ms);
/* Drop the pending wake-up events without scheduling anything (an owner
 * that stopped watching and resumes: it re-anchors instead). */
void feed_discard(struct feed *f);

/* Hand over what committed since the last read: deletions logged since
 * seen_deletion (on_deleted), then every row above seen_seq, FEED_READ_PAGE
 * rows or the byte budget at a time (on_row for each, on_page after each
 * page), advancing the marks as it goes. Returns 1 when there were new rows,
 * 0 when none, -1 when the store could not be read (logged; the marks stay
 * where the last handed-over row or deletion left them). */
int feed_read(struct feed *f);

/* When the next re-read after a WAL write is due (monotonic ms), 0 when none
 * is scheduled. */
int64_t feed_recheck_at(const struct feed *f);
/* A re-read was done at now_ms (monotonic) and found rows or not: stop
 * re-reading once it found some or the last delay was FEED_RECHECK_MAX_MS,
 * else look again after twice the last delay. */
void feed_recheck_done(struct feed *f, int64_t now_ms, int found);
/* Forget a scheduled re-read (the owner stopped watching). */
void feed_recheck_cancel(struct feed *f);

/* Skip to the current highest seq and deletion: nothing committed so far
 * will be handed over (an owner that had nobody to give rows to). Returns
 * 0, or -1 when the store could not be read (logged; the marks stay). */
int feed_reanchor(struct feed *f);
/* Every row up to this seq has been handed over. */
int64_t feed_seen_seq(const struct feed *f);
/* Every deletion up to this id has been handed over. */
int64_t feed_seen_deletion(const struct feed *f);

/* Where a subscriber resumes that has seen every seq up to *since on the
 * nch channels (epoch: the database epoch its client last saw; NULL or "":
 * unchecked), and whether it must first be told that it missed messages
 * (README: gaps are never silent). A cursor of another epoch resumes at 0
 * (the whole stored history), one above every seq assigned here (a
 * restored database, a power loss under durability = normal) at the
 * highest (store_cursor_resume): *since is set to that. Returns 1 when it
 * missed messages (that, or retention deleted some after its cursor), with
 * *oldest the oldest seq it can still get: the lowest stored above the
 * cursor, else one above what was lost; 0 when it missed nothing; -1 when
 * the store could not be read (no gap known). high: the store's highest
 * seq when the caller has just read it (store_high_seq), else -1 to read it
 * here (on NATS that is a round trip to the server). */
int feed_resume(struct store *st, const char *const *channels, size_t nch, const char *epoch, int64_t high,
		int64_t *since, int64_t *oldest);

/* What feed_catch_up_page did. */
enum feed_page {
	FEED_PAGE_CAUGHT_UP, /* a short page taken whole: every row committed so far is handed over */
	FEED_PAGE_MORE,      /* rows may remain: read again once there is room */
	FEED_PAGE_ERROR      /* the store could not be read (logged with what) */
};

/* Read one page of a subscriber's history: at most page rows with seq >
 * *since on the nch channels into l (cleared first; its byte budget holds),
 * handing them to take(arg, m) in order while it returns 0. The first row
 * is always taken; take returns nonzero once the subscriber's queue is full
 * after a row, and the rows after it are read again next time. *since is
 * the seq of the last row taken. what names the subscriber for the log. */
enum feed_page feed_catch_up_page(struct store *st, const char *const *channels, size_t nch, int64_t *since,
				  size_t page, struct msglist *l, int (*take)(void *arg, struct msg *m),
				  void *arg, const char *what);

#endif
