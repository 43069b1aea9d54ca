/* SPDX-License-Identifier: MIT */
/*
 * The feed: the one reader of new rows (see feed.h). One integer is a safe
 * high-water mark because seq order is commit order: store.h promises it of
 * every backend, store_sqlite_append.c says why SQLite keeps it.
 */
#include <stdlib.h>
#include <string.h>

#include "feed.h"
#include "log.h"
#include "store.h"
#include "util.h"

struct feed {
	struct store *st;   /* borrowed */
	struct store_watch *watch;
	struct feed_ops ops;
	void *arg;
	int64_t seen_seq;      /* every row up to here has been handed over */
	int64_t seen_deletion; /* every deletion up to here has been handed over */
	int64_t recheck_at_ms; /* monotonic; 0 when no WAL write awaits its commit */
	int64_t recheck_delay_ms;
	struct msglist rows;
};

struct feed *
feed_new(struct store *st, const char *location, size_t page_max_bytes, const struct feed_ops *ops, void *arg,
	 char **cause)
{
	struct feed *f = xcalloc(1, sizeof *f);

	f->st = st;
	if (ops != NULL)
		f->ops = *ops;
	f->arg = arg;
	msglist_init(&f->rows);
	f->rows.max_bytes = page_max_bytes;
	f->watch = store_watch_new(location, cause);
	if (f->watch == NULL)
		goto fail;
	if (store_high_seq(st, &f->seen_seq) != STORE_OK || store_deletion_high(st, &f->seen_deletion) != STORE_OK) {
		if (cause != NULL)
			*cause = xasprintf("reading %s: %s", location, store_errmsg(st));
		goto fail;
	}
	return f;
fail:
	feed_free(f);
	return NULL;
}

void
feed_free(struct feed *f)
{
	if (f == NULL)
		return;
	store_watch_free(f->watch);
	msglist_fini(&f->rows);
	free(f);
}

int
feed_fd(const struct feed *f)
{
	return store_watch_fd(f->watch);
}

int
feed_drain(struct feed *f, int64_t now_ms)
{
	int seen = store_watch_drain(f->watch);

	if (seen <= 0)
		return seen;
	if (seen & STORE_WATCH_SOON) {
		f->recheck_delay_ms = 1;
		f->recheck_at_ms = now_ms + 1;
	}
	return 1;
}

void
feed_discard(struct feed *f)
{
	store_watch_drain(f->watch);
}

/* Hand over the deletions logged since seen_deletion. */
static int
feed_read_deletions(struct feed *f)
{
	struct store_deletion *dels = NULL;
	size_t n = 0, i;

	if (store_read_deletions(f->st, f->seen_deletion, &dels, &n) != STORE_OK) {
		log_error("reading deletions: %s", store_errmsg(f->st));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (f->ops.on_deleted != NULL)
			f->ops.on_deleted(f->arg, dels[i].channel);
		f->seen_deletion = dels[i].id;
	}
	free(dels);
	return 0;
}

int
feed_read(struct feed *f)
{
	size_t i;
	int found = 0;

	if (feed_read_deletions(f) != 0)
		return -1;
	for (;;) {
		msglist_clear(&f->rows);
		if (store_read_all_since(f->st, f->seen_seq, FEED_READ_PAGE, &f->rows) != STORE_OK) {
			log_error("reading new messages: %s", store_errmsg(f->st));
			msglist_clear(&f->rows);
			return -1;
		}
		if (f->rows.n == 0)
			break;
		found = 1;
		for (i = 0; i < f->rows.n; i++) {
			if (f->ops.on_row != NULL)
				f->ops.on_row(f->arg, f->rows.v[i]);
		}
		f->seen_seq = f->rows.v[f->rows.n - 1]->seq;
		if (f->ops.on_page != NULL)
			f->ops.on_page(f->arg);
		if (f->rows.n < FEED_READ_PAGE && !f->rows.truncated)
			break;
	}
	msglist_clear(&f->rows);
	return found;
}

int64_t
feed_recheck_at(const struct feed *f)
{
	return f->recheck_at_ms;
}

void
feed_recheck_done(struct feed *f, int64_t now_ms, int found)
{
	if (found || f->recheck_delay_ms >= FEED_RECHECK_MAX_MS) {
		f->recheck_at_ms = 0;
		return;
	}
	f->recheck_delay_ms *= 2;
	f->recheck_at_ms = now_ms + f->recheck_delay_ms;
}

void
feed_recheck_cancel(struct feed *f)
{
	f->recheck_at_ms = 0;
}

int
feed_reanchor(struct feed *f)
{
	int64_t seq, del;

	if (store_high_seq(f->st, &seq) != STORE_OK || store_deletion_high(f->st, &del) != STORE_OK) {
		log_error("re-anchoring the feed: %s", store_errmsg(f->st));
		return -1;
	}
	f->seen_seq = seq;
	f->seen_deletion = del;
	return 0;
}

int64_t
feed_seen_seq(const struct feed *f)
{
	return f->seen_seq;
}

int64_t
feed_seen_deletion(const struct feed *f)
{
	return f->seen_deletion;
}

int
feed_resume(struct store *st, const char *const *channels, size_t nch, const char *epoch, int64_t high,
	    int64_t *since, int64_t *oldest)
{
	int64_t trimmed = 0, first = 0;
	int rollback = 0;

	if (high >= 0 || store_high_seq(st, &high) == STORE_OK)
		*since = store_cursor_resume(st, epoch, *since, high, &rollback);
	if (store_gap(st, channels, nch, *since, &trimmed, &first) != STORE_OK)
		return -1;
	if (!rollback && *since >= trimmed)
		return 0;
	*oldest = first > 0 ? first : (rollback ? *since : trimmed) + 1;
	return 1;
}

enum feed_page
feed_catch_up_page(struct store *st, const char *const *channels, size_t nch, int64_t *since, size_t page,
		   struct msglist *l, int (*take)(void *arg, struct msg *m), void *arg, const char *what)
{
	size_t i;
	int full = 0;

	msglist_clear(l);
	if (store_read_since(st, channels, nch, *since, page, l) != STORE_OK) {
		log_error("catching %s up: %s", what, store_errmsg(st));
		return FEED_PAGE_ERROR;
	}
	for (i = 0; i < l->n && !full; i++) {
		full = take(arg, l->v[i]);
		*since = l->v[i]->seq;
	}
	/* A short page taken whole: the read saw every row committed so far, so
	 * everything up to the feed's seen_seq (and beyond) is handed over; live
	 * rows take over and skip what it already has (seq <= since). */
	return l->n < page && !l->truncated && i == l->n ? FEED_PAGE_CAUGHT_UP : FEED_PAGE_MORE;
}
