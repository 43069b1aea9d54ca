/* SPDX-License-Identifier: MIT */
/*
 * Tests of the feed (feed.h), the one reader of new rows, on a real SQLite
 * file: rows handed over once and in order, deletions before the rows read
 * with them, the wake-up fd on a commit from another connection (fcpush's
 * own signal, and a raw sqlite3 write seen only through the WAL), the
 * re-read backoff, paging by rows and by the byte budget, and one page of a
 * subscriber's history.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h> /* a raw fx.st, as the sqlite3 shell would be */

#include "feed.h"
#include "store.h"
#include "suites.h"
#include "util.h"

static struct test_db fx; /* the fixture (suites.h); fx.st writes */
static struct store *st;   /* the feed's reader, another connection */

/* What the callbacks saw. */
struct seen {
	int64_t seqs[2048];
	char chans[2048][8];
	size_t n;
	char deleted[8][16];
	size_t ndeleted;
	size_t rows_at_deletion[8]; /* rows seen when each deletion came */
	size_t pages;
	size_t page_rows[2048]; /* rows in each page */
	size_t page_start;
};

static void
on_deleted(void *arg, const char *channel)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->ndeleted, 8);
	snprintf(s->deleted[s->ndeleted], sizeof s->deleted[0], "%s", channel);
	s->rows_at_deletion[s->ndeleted++] = s->n;
}

static void
on_row(void *arg, struct msg *m)
{
	struct seen *s = arg;

	ck_assert_uint_lt(s->n, 2048);
	s->seqs[s->n] = m->seq;
	snprintf(s->chans[s->n], sizeof s->chans[0], "%s", m->channel);
	s->n++;
}

static void
on_page(void *arg)
{
	struct seen *s = arg;

	s->page_rows[s->pages++] = s->n - s->page_start;
	s->page_start = s->n;
}

static const struct feed_ops ops = {on_deleted, on_row, on_page};

static struct seen *s; /* what this test's callbacks saw (fresh for each test) */
static struct feed *f; /* the feed under test, opened by the test (feed_open) */

static void
setup(void)
{
	char *cause = NULL;

	test_db_open(&fx);
	st = store_open(fx.path, 0, 1000, &cause);
	ck_assert_msg(st != NULL, "store_open: %s", cause != NULL ? cause : "?");
	s = xcalloc(1, sizeof *s);
}

static void
teardown(void)
{
	feed_free(f);
	f = NULL;
	free(s);
	s = NULL;
	store_close(st);
	test_db_close(&fx);
}

/* Append n messages of len bytes ('x') to channel in one transaction on the
 * fx.st; returns the seq of the last. */
static int64_t
add(const char *channel, size_t n, size_t len)
{
	struct store_pub *p = xcalloc(n, sizeof *p);
	int64_t *seqs = xcalloc(n, sizeof *seqs), last;
	char *body = xmalloc(len + 1);
	struct store_group g;
	size_t i;

	memset(body, 'x', len);
	for (i = 0; i < n; i++)
		p[i] = (struct store_pub){channel, NULL, "text/plain", body, len, NULL, NULL};
	g = (struct store_group){p, n, seqs, STORE_ERROR, NULL, NULL};
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, util_now_ms()), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	last = seqs[n - 1];
	free(p);
	free(seqs);
	free(body);
	return last;
}

/* A feed on st calling back into s, with pages of at most budget bytes of
 * bodies (0: no budget). */
static struct feed *
feed_open(size_t budget)
{
	char *cause = NULL;
	struct feed *feed = feed_new(st, fx.path, budget, &ops, s, &cause);

	ck_assert_msg(feed != NULL, "feed_new: %s", cause != NULL ? cause : "?");
	return feed;
}

/* The next feed_read hands over one row, the first the test sees: seq, on
 * channel. */
static void
assert_one_row(const char *channel, int64_t seq)
{
	ck_assert_int_eq(feed_read(f), 1);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_eq(s->seqs[0], seq);
	ck_assert_str_eq(s->chans[0], channel);
}

/* Wait (at most 2 s) for the feed's fd to become readable. */
static int
readable(struct feed *feed)
{
	struct pollfd pfd = {.fd = feed_fd(feed), .events = POLLIN};

	return poll(&pfd, 1, 2000) == 1;
}

/* Insert a row with the raw connection db, wait for the feed's wake-up and
 * drain it at now: the WAL write schedules a re-read 1 ms on. */
static void
raw_write(sqlite3 *db, int64_t now)
{
	ck_assert_int_eq(sqlite3_exec(db, "INSERT INTO messages(channel, body) VALUES('raw', 'hi')", NULL, NULL, NULL),
			 SQLITE_OK);
	ck_assert_msg(readable(f), "no wake-up within 2 s of a raw INSERT");
	ck_assert_int_eq(feed_drain(f, now), 1);
	ck_assert_int_eq(feed_recheck_at(f), now + 1);
}

START_TEST(test_rows_once_in_order)
{
	int64_t before = add("a", 2, 3), last;

	f = feed_open(0);
	/* Anchored at the rows already there. */
	ck_assert_int_eq(feed_seen_seq(f), before);
	ck_assert_int_eq(feed_read(f), 0);
	ck_assert_uint_eq(s->n, 0);
	add("a", 1, 3);
	add("b", 1, 3);
	last = add("a", 1, 3);
	ck_assert_int_eq(feed_read(f), 1);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(s->seqs[0], before + 1);
	ck_assert_int_eq(s->seqs[1], before + 2);
	ck_assert_int_eq(s->seqs[2], last);
	ck_assert_str_eq(s->chans[0], "a");
	ck_assert_str_eq(s->chans[1], "b");
	ck_assert_str_eq(s->chans[2], "a");
	ck_assert_uint_eq(s->pages, 1);
	ck_assert_int_eq(feed_seen_seq(f), last);
	/* Read again: nothing twice. */
	ck_assert_int_eq(feed_read(f), 0);
	ck_assert_uint_eq(s->n, 3);
}
END_TEST

START_TEST(test_deletion_reported)
{
	int64_t kept;

	add("gone", 1, 3);
	f = feed_open(0);
	ck_assert_int_eq(store_channel_delete(fx.st, "gone", util_now_ms()), STORE_OK);
	kept = add("kept", 1, 3);
	assert_one_row("kept", kept);
	ck_assert_uint_eq(s->ndeleted, 1);
	ck_assert_str_eq(s->deleted[0], "gone");
	ck_assert_uint_eq(s->rows_at_deletion[0], 0); /* before the rows read with it */
	ck_assert_int_gt(feed_seen_deletion(f), 0);
	/* Once. */
	ck_assert_int_eq(feed_read(f), 0);
	ck_assert_uint_eq(s->ndeleted, 1);
}
END_TEST

START_TEST(test_reanchor_skips)
{
	int64_t last;

	f = feed_open(0);
	add("a", 3, 3);
	ck_assert_int_eq(store_channel_delete(fx.st, "a", util_now_ms()), STORE_OK);
	ck_assert_int_eq(feed_reanchor(f), 0);
	ck_assert_int_eq(feed_read(f), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_uint_eq(s->ndeleted, 0);
	last = add("a", 1, 3);
	assert_one_row("a", last);
}
END_TEST

/* fcpush's own writers: the append on another connection tells the watchers
 * itself (store.h), nobody notifies by hand. */
START_TEST(test_wake_on_commit)
{
	int64_t last;

	f = feed_open(0);
	feed_discard(f); /* whatever the opens wrote */
	last = add("a", 1, 3);
	ck_assert_msg(readable(f), "no wake-up within 2 s of a commit by another connection");
	ck_assert_int_eq(feed_drain(f, util_mono_ms()), 1);
	assert_one_row("a", last);
}
END_TEST

/* A raw sqlite3 fx.st never notifies: the WAL write wakes the
 * feed, and re-reads are scheduled in case its commit was not visible yet. */
START_TEST(test_wake_on_raw_write)
{
	sqlite3 *db = NULL;

	f = feed_open(0);
	feed_discard(f);
	ck_assert_int_eq(feed_recheck_at(f), 0);
	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	raw_write(db, util_mono_ms());
	assert_one_row("raw", sqlite3_last_insert_rowid(db)); /* seq is the rowid */
	sqlite3_close(db);
}
END_TEST

START_TEST(test_recheck_backoff)
{
	sqlite3 *db = NULL;
	int64_t delay = 1, now = 1000;

	/* A WAL write schedules the first re-read 1 ms on. */
	f = feed_open(0);
	feed_discard(f);
	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	raw_write(db, now);
	/* Nothing found: 2, 4 ... 512 ms, then no more. */
	while (delay < FEED_RECHECK_MAX_MS) {
		feed_recheck_done(f, now, 0);
		delay *= 2;
		ck_assert_int_eq(feed_recheck_at(f), now + delay);
	}
	feed_recheck_done(f, now, 0);
	ck_assert_int_eq(feed_recheck_at(f), 0);
	/* Rows found: no more either. */
	raw_write(db, now);
	feed_recheck_done(f, now, 1);
	ck_assert_int_eq(feed_recheck_at(f), 0);
	sqlite3_close(db);
}
END_TEST

/* More rows than a page: every one once, in order, in two pages. */
START_TEST(test_pages_by_rows)
{
	size_t i;

	f = feed_open(0);
	add("a", FEED_READ_PAGE + 6, 3);
	ck_assert_int_eq(feed_read(f), 1);
	ck_assert_uint_eq(s->n, FEED_READ_PAGE + 6);
	ck_assert_uint_eq(s->pages, 2);
	ck_assert_uint_eq(s->page_rows[0], FEED_READ_PAGE);
	ck_assert_uint_eq(s->page_rows[1], 6);
	for (i = 1; i < s->n; i++)
		ck_assert_int_eq(s->seqs[i], s->seqs[i - 1] + 1);
}
END_TEST

/* A byte budget of 250 with 100-byte bodies: pages of 3 rows (a read stops
 * once the bodies reach the budget), every row once, in order. */
START_TEST(test_pages_by_bytes)
{
	int64_t last;
	size_t i;

	f = feed_open(250);
	last = add("a", 10, 100);
	ck_assert_int_eq(feed_read(f), 1);
	ck_assert_uint_eq(s->n, 10);
	ck_assert_int_eq(s->seqs[9], last);
	for (i = 1; i < s->n; i++)
		ck_assert_int_eq(s->seqs[i], s->seqs[i - 1] + 1);
	ck_assert_uint_ge(s->pages, 4);
	for (i = 0; i < s->pages; i++)
		ck_assert_uint_le(s->page_rows[i], 3);
}
END_TEST

struct taker {
	size_t taken;
	size_t room; /* rows it takes before it says it is full */
};

static int
take(void *arg, struct msg *m)
{
	struct taker *t = arg;

	(void)m;
	return ++t->taken >= t->room;
}

START_TEST(test_catch_up_page)
{
	const char *chans[] = {"a", "b"};
	struct taker t = {0, 2};
	struct msglist l;
	int64_t since = 0, first = add("a", 1, 3);

	add("c", 1, 3); /* not subscribed */
	add("b", 3, 3);
	msglist_init(&l);
	/* Full after two rows: the cursor is at the second, more to read. */
	ck_assert_int_eq(feed_catch_up_page(st, chans, 2, &since, 10, &l, take, &t, "a test"), FEED_PAGE_MORE);
	ck_assert_uint_eq(t.taken, 2);
	ck_assert_int_eq(since, first + 2);
	/* Room for all: a short page taken whole has caught up. */
	t = (struct taker){0, 100};
	ck_assert_int_eq(feed_catch_up_page(st, chans, 2, &since, 10, &l, take, &t, "a test"), FEED_PAGE_CAUGHT_UP);
	ck_assert_uint_eq(t.taken, 2);
	ck_assert_int_eq(since, first + 4);
	/* A full page is not the end, even taken whole. */
	since = 0;
	t = (struct taker){0, 100};
	ck_assert_int_eq(feed_catch_up_page(st, chans, 2, &since, 4, &l, take, &t, "a test"), FEED_PAGE_MORE);
	ck_assert_uint_eq(t.taken, 4);
	msglist_fini(&l);
}
END_TEST

/* Where a cursor resumes, and the gap it is told of: retention deleted
 * rows after it (some left, or none), another epoch, a cursor above every
 * seq of this database. */
START_TEST(test_resume_gap)
{
	const char *a[] = {"a"}, *b[] = {"b"};
	struct store_retention keep2 = {2, 0, 0}, none = {0, 1, 0};
	int64_t last = add("a", 5, 3), since, oldest, high; /* a: last - 4 ... last */

	/* Nothing trimmed: no gap, the cursor stays. */
	since = last - 5;
	oldest = -1;
	ck_assert_int_eq(feed_resume(st, a, 1, NULL, -1, &since, &oldest), 0);
	ck_assert_int_eq(since, last - 5);
	ck_assert_int_eq(oldest, -1);
	/* Keep the last 2 of a's 5: a cursor before them missed the others. */
	ck_assert_int_eq(store_trim(fx.st, &keep2, util_now_ms(), NULL), STORE_OK);
	since = last - 4;
	ck_assert_int_eq(feed_resume(st, a, 1, store_epoch(st), -1, &since, &oldest), 1);
	ck_assert_int_eq(since, last - 4);
	ck_assert_int_eq(oldest, last - 1);
	since = last - 2; /* saw every trimmed one */
	ck_assert_int_eq(feed_resume(st, a, 1, NULL, -1, &since, &oldest), 0);
	/* Everything of b expired: one above what was lost. */
	high = add("b", 2, 3);
	ck_assert_int_eq(store_trim(fx.st, &none, util_now_ms() + 60000, NULL), STORE_OK);
	since = high - 2;
	ck_assert_int_eq(feed_resume(st, b, 1, NULL, -1, &since, &oldest), 1);
	ck_assert_int_eq(oldest, high + 1);
	/* Another database's epoch: from the start, after a gap. */
	add("a", 1, 3);
	since = high;
	ck_assert_int_eq(feed_resume(st, a, 1, "0123456789abcdef", -1, &since, &oldest), 1);
	ck_assert_int_eq(since, 0);
	ck_assert_int_eq(oldest, high + 1);
	/* Above every seq assigned here: at the highest, after a gap. */
	since = high + 100;
	ck_assert_int_eq(feed_resume(st, a, 1, store_epoch(st), -1, &since, &oldest), 1);
	ck_assert_int_eq(since, high + 1);
	ck_assert_int_eq(oldest, high + 2);
	/* The caller's high is taken as it is, not read again: the newest seq
	 * is a cursor above a high one lower. */
	since = high + 1;
	ck_assert_int_eq(feed_resume(st, a, 1, store_epoch(st), -1, &since, &oldest), 0);
	ck_assert_int_eq(feed_resume(st, a, 1, store_epoch(st), high, &since, &oldest), 1);
	ck_assert_int_eq(since, high);
}
END_TEST

Suite *
feed_suite(void)
{
	Suite *suite = suite_create("feed");
	TCase *core = tcase_create("Core");
	TCase *wake = tcase_create("Wake");
	TCase *pages = tcase_create("Pages");

	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_test(core, test_rows_once_in_order);
	tcase_add_test(core, test_deletion_reported);
	tcase_add_test(core, test_reanchor_skips);
	suite_add_tcase(suite, core);
	tcase_add_checked_fixture(wake, setup, teardown);
	tcase_add_test(wake, test_wake_on_commit);
	tcase_add_test(wake, test_wake_on_raw_write);
	tcase_add_test(wake, test_recheck_backoff);
	suite_add_tcase(suite, wake);
	tcase_add_checked_fixture(pages, setup, teardown);
	tcase_add_test(pages, test_pages_by_rows);
	tcase_add_test(pages, test_pages_by_bytes);
	tcase_add_test(pages, test_catch_up_page);
	tcase_add_test(pages, test_resume_gap);
	suite_add_tcase(suite, pages);
	return suite;
}
