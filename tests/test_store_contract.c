/* SPDX-License-Identifier: MIT */
/*
 * The store contract: what every backend behind store.h must do, written
 * against store.h alone and run once per entry of `backends` below. A new
 * backend adds its entry (a location to open, or NULL to skip when its
 * server is not configured) and must pass every test here unchanged.
 *
 * The promises checked: one increasing seq across all channels in commit
 * order; reads since a cursor, of the last n, of one message; the byte
 * budget of a read; the gap after a trim; channel info, list and deletion
 * with its log; bodies read in pieces; the epoch kept across reopening;
 * a failing group that does not undo the others.
 */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "suites.h"
#include "util.h"

/* How a test reaches one backend: a location made from a fresh directory. */
struct contract_backend {
	const char *name;
	char *(*location)(const char *dir); /* malloc'd; NULL: skip this backend */
};

static char *
sqlite_path(const char *dir)
{
	return xasprintf("%s/contract.db", dir);
}

static char *
sqlite_scheme(const char *dir)
{
	return xasprintf("sqlite:%s/contract.db", dir);
}

#ifdef HAVE_NATS
/* A fresh stream on the server FCPUSH_TEST_NATS_URL names ("nats://HOST:PORT",
 * with JetStream); skipped when unset. The stream is named after the fresh
 * directory, so every test gets its own. */
static char *
nats_stream(const char *dir)
{
	const char *url = getenv("FCPUSH_TEST_NATS_URL"), *base = strrchr(dir, '/');
	char name[40];
	size_t i, n = 0;

	if (url == NULL || url[0] == '\0')
		return NULL;
	base = base != NULL ? base + 1 : dir;
	for (i = 0; base[i] != '\0' && n < sizeof name - 1; i++)
		if ((base[i] >= 'a' && base[i] <= 'z') || (base[i] >= 'A' && base[i] <= 'Z') ||
		    (base[i] >= '0' && base[i] <= '9'))
			name[n++] = base[i];
	name[n] = '\0';
	return xasprintf("%s%s/ct_%s", strncmp(url, "nats://", 7) == 0 ? "" : "nats://", url, name);
}
#endif

static const struct contract_backend backends[] = {
	{ "sqlite (bare path)", sqlite_path },
	{ "sqlite (sqlite: scheme)", sqlite_scheme },
#ifdef HAVE_NATS
	{ "nats (FCPUSH_TEST_NATS_URL)", nats_stream },
#endif
};

#define NBACKENDS ((int)(sizeof backends / sizeof backends[0]))

static char *dir;
static char *location;
static struct store *st;

/* Open the backend of loop index i on a fresh location; 0 when skipped. */
static int
open_backend(int i)
{
	char *cause = NULL;

	dir = test_tmpdir();
	location = backends[i].location(dir);
	if (location == NULL)
		return 0;
	st = store_open(location, STORE_CREATE, 1000, &cause);
	ck_assert_msg(st != NULL, "%s: store_open(%s): %s", backends[i].name, location,
		      cause != NULL ? cause : "?");
	return 1;
}

static void
close_backend(void)
{
	store_close(st);
	st = NULL;
	test_tmpdir_remove(dir);
	free(location);
	free(dir);
	location = dir = NULL;
}

/* Append text (text/plain) to channel on the backend at now_ms; returns its
 * seq. */
static int64_t
append(const char *channel, const char *text, int64_t now_ms)
{
	return test_append_text(st, channel, text, now_ms);
}

START_TEST(test_seq_increases_across_channels)
{
	const char *chans[] = { "a", "b" };
	struct msglist l;
	int64_t s1, s2, s3, high = 0;

	if (!open_backend(_i))
		return;
	s1 = append("a", "one", 1000);
	s2 = append("b", "two", 1000);
	s3 = append("a", "three", 1000);
	ck_assert_int_gt(s1, 0);
	ck_assert_int_gt(s2, s1);
	ck_assert_int_gt(s3, s2);
	ck_assert_int_eq(store_high_seq(st, &high), STORE_OK);
	ck_assert_int_eq(high, s3);

	msglist_init(&l);
	ck_assert_int_eq(store_read_since(st, chans, 1, s1, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.v[0]->seq, s3);
	ck_assert_str_eq(l.v[0]->channel, "a");
	ck_assert_mem_eq(l.v[0]->body, "three", 5);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_since(st, chans, 2, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(l.v[0]->seq, s1);
	ck_assert_int_eq(l.v[2]->seq, s3);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_all_since(st, s2, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.v[0]->seq, s3);
	msglist_fini(&l);
	close_backend();
}
END_TEST

START_TEST(test_read_last_and_one)
{
	const char *chans[] = { "a" };
	struct msglist l;
	int64_t seqs[5], since = -1;
	char text[16];
	int i;

	if (!open_backend(_i))
		return;
	for (i = 0; i < 5; i++) {
		snprintf(text, sizeof text, "m%d", i);
		seqs[i] = append("a", text, 1000 + i);
	}
	append("other", "x", 2000);
	msglist_init(&l);
	ck_assert_int_eq(store_read_last(st, chans, 1, 2, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.v[0]->seq, seqs[3]); /* ascending */
	ck_assert_int_eq(l.v[1]->seq, seqs[4]);
	msglist_clear(&l);
	ck_assert_int_eq(store_last_cursor(st, chans, 1, 2, &since), STORE_OK);
	ck_assert_int_eq(since, seqs[2]);
	ck_assert_int_eq(store_last_cursor(st, chans, 1, 9, &since), STORE_OK);
	ck_assert_int_eq(since, 0);
	ck_assert_int_eq(store_read_one(st, "a", seqs[1], &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_mem_eq(l.v[0]->body, "m1", 2);
	ck_assert_int_eq(l.v[0]->time_ms, 1001);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_one(st, "other", seqs[1], &l), STORE_NOTFOUND);
	ck_assert_uint_eq(l.n, 0);
	msglist_fini(&l);
	close_backend();
}
END_TEST

START_TEST(test_read_stops_at_byte_budget)
{
	const char *chans[] = { "a" };
	char body[1000];
	struct msglist l;
	int i;

	if (!open_backend(_i))
		return;
	memset(body, 'x', sizeof body - 1);
	body[sizeof body - 1] = '\0';
	for (i = 0; i < 10; i++)
		append("a", body, 1000);
	msglist_init(&l);
	l.max_bytes = 2500;
	ck_assert_int_eq(store_read_since(st, chans, 1, 0, 100, &l), STORE_OK);
	/* the budget may be passed by the message that crosses it, never more */
	ck_assert_uint_ge(l.n, 2);
	ck_assert_uint_le(l.n, 3);
	ck_assert_int_eq(l.truncated, 1);
	msglist_fini(&l);
	close_backend();
}
END_TEST

START_TEST(test_group_failure_keeps_others)
{
	struct store_pub ok = { "a", NULL, "text/plain", "fine", 4, NULL, NULL };
	struct store_pub bad = { "a", NULL, "text/plain", NULL, 4, "/nonexistent/fcpush-contract-body", NULL };
	int64_t s_ok = 0, s_bad = 0, s_ok2 = 0;
	struct store_group g[3] = {
		{ &ok, 1, &s_ok, STORE_ERROR, NULL, NULL },
		{ &bad, 1, &s_bad, STORE_ERROR, NULL, NULL },
		{ &ok, 1, &s_ok2, STORE_ERROR, NULL, NULL },
	};
	struct msglist l;
	const char *chans[] = { "a" };

	if (!open_backend(_i))
		return;
	ck_assert_int_eq(store_append_groups(st, g, 3, 1000), STORE_OK);
	ck_assert_int_eq(g[0].result, STORE_OK);
	ck_assert_int_ne(g[1].result, STORE_OK);
	ck_assert_ptr_nonnull(g[1].cause);
	ck_assert_int_eq(g[2].result, STORE_OK);
	ck_assert_int_gt(s_ok2, s_ok);
	free(g[1].cause);
	msglist_init(&l);
	ck_assert_int_eq(store_read_since(st, chans, 1, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	msglist_fini(&l);
	close_backend();
}
END_TEST

START_TEST(test_trim_reports_gap)
{
	const char *chans[] = { "a" };
	struct store_retention keep2 = { 2, 0, 0 }, none = { 0, 0, 0 };
	int64_t seqs[5], trimmed = 0, oldest = 0, deleted = 0, high = 0;
	int i;

	if (!open_backend(_i))
		return;
	for (i = 0; i < 5; i++)
		seqs[i] = append("a", "m", 1000);
	ck_assert_int_eq(store_set_retention(st, "a", &keep2), STORE_OK);
	ck_assert_int_eq(store_trim(st, &none, 5000, &deleted), STORE_OK);
	ck_assert_int_eq(deleted, 3);
	ck_assert_int_eq(store_gap(st, chans, 1, 0, &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(trimmed, seqs[2]);
	ck_assert_int_eq(oldest, seqs[3]);
	/* the seq never goes back when messages are deleted */
	ck_assert_int_eq(store_high_seq(st, &high), STORE_OK);
	ck_assert_int_eq(high, seqs[4]);
	ck_assert_int_gt(append("a", "later", 6000), seqs[4]);
	close_backend();
}
END_TEST

START_TEST(test_channels_and_deletion_log)
{
	struct store_channel_info info, *list = NULL;
	struct store_deletion *dels = NULL;
	int64_t high = -1, s;
	size_t n = 0;

	if (!open_backend(_i))
		return;
	ck_assert_int_eq(store_deletion_high(st, &high), STORE_OK);
	ck_assert_int_eq(high, 0);
	append("b", "x", 1000);
	s = append("a", "yy", 1500);
	ck_assert_int_eq(store_channel_info(st, "a", &info), STORE_OK);
	ck_assert_str_eq(info.name, "a");
	ck_assert_int_eq(info.messages, 1);
	ck_assert_int_eq(info.bytes, 2);
	ck_assert_int_eq(info.first_seq, s);
	ck_assert_int_eq(info.last_seq, s);
	ck_assert_int_eq(store_channel_info(st, "none", &info), STORE_NOTFOUND);
	ck_assert_int_eq(store_channel_list(st, &list, &n), STORE_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(list[0].name, "a"); /* sorted by name */
	ck_assert_str_eq(list[1].name, "b");
	free(list);

	ck_assert_int_eq(store_channel_delete(st, "a", 3000), STORE_OK);
	ck_assert_int_eq(store_channel_delete(st, "a", 3000), STORE_NOTFOUND);
	ck_assert_int_eq(store_channel_info(st, "a", &info), STORE_NOTFOUND);
	ck_assert_int_eq(store_read_deletions(st, 0, &dels, &n), STORE_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(dels[0].channel, "a");
	ck_assert_int_eq(dels[0].time_ms, 3000);
	ck_assert_int_eq(store_deletion_high(st, &high), STORE_OK);
	ck_assert_int_eq(high, dels[0].id);
	free(dels);
	dels = NULL;
	ck_assert_int_eq(store_read_deletions(st, high, &dels, &n), STORE_OK);
	ck_assert_uint_eq(n, 0);
	free(dels);
	close_backend();
}
END_TEST

START_TEST(test_body_in_pieces)
{
	struct store_body_info info;
	char body[5000], piece[100];
	int64_t s;
	size_t i;

	if (!open_backend(_i))
		return;
	for (i = 0; i < sizeof body - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof body - 1] = '\0';
	s = append("a", body, 1000);
	ck_assert_int_eq(store_body_open(st, "a", s, &info), STORE_OK);
	ck_assert_int_eq(info.seq, s);
	ck_assert_int_eq(info.size, (int64_t)strlen(body));
	ck_assert_str_eq(info.content_type, "text/plain");
	ck_assert_int_eq(store_body_read(st, 4000, piece, sizeof piece), STORE_OK);
	ck_assert_mem_eq(piece, body + 4000, sizeof piece);
	ck_assert_int_eq(store_body_read(st, 4950, piece, sizeof piece), STORE_INVALID); /* past the end */
	store_body_close(st);
	ck_assert_int_eq(store_body_read(st, 0, piece, 1), STORE_INVALID); /* none open */
	ck_assert_int_eq(store_body_open(st, "a", s + 1, &info), STORE_NOTFOUND);
	close_backend();
}
END_TEST

START_TEST(test_epoch_kept_and_cursor_resume)
{
	char epoch[STORE_EPOCH_LEN + 1], *cause = NULL;
	int rollback = -1;

	if (!open_backend(_i))
		return;
	ck_assert_uint_eq(strlen(store_epoch(st)), STORE_EPOCH_LEN);
	snprintf(epoch, sizeof epoch, "%s", store_epoch(st));
	append("a", "x", 1000);
	store_close(st);
	st = store_open(location, 0, 1000, &cause);
	ck_assert_msg(st != NULL, "reopen: %s", cause != NULL ? cause : "?");
	ck_assert_str_eq(store_epoch(st), epoch);
	ck_assert_int_eq(store_cursor_resume(st, epoch, 1, 1, &rollback), 1);
	ck_assert_int_eq(rollback, 0);
	ck_assert_int_eq(store_cursor_resume(st, "0123456789abcdef", 1, 1, &rollback), 0);
	ck_assert_int_eq(rollback, 1);
	ck_assert_int_eq(store_cursor_resume(st, NULL, 7, 1, &rollback), 1); /* above the history */
	ck_assert_int_eq(rollback, 1);
	close_backend();
}
END_TEST

/* A watch hears a commit made on another connection of the same store,
 * through its fd, within a bounded time; and a deletion too. */
START_TEST(test_watch_hears_commits)
{
	struct store_watch *w;
	struct store *other;
	struct pollfd pfd;
	char *cause = NULL;
	int seen;

	if (!open_backend(_i))
		return;
	w = store_watch_new(location, &cause);
	ck_assert_msg(w != NULL, "store_watch_new: %s", cause != NULL ? cause : "?");
	other = store_open(location, 0, 1000, &cause);
	ck_assert_msg(other != NULL, "second connection: %s", cause != NULL ? cause : "?");
	store_watch_drain(w); /* whatever opening made */

	{
		struct store_pub p = { "a", NULL, "text/plain", "x", 1, NULL, NULL };
		int64_t seq = 0;
		struct store_group g = { &p, 1, &seq, STORE_ERROR, NULL, NULL };

		ck_assert_int_eq(store_append_groups(other, &g, 1, 1000), STORE_OK);
	}
	pfd.fd = store_watch_fd(w);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	seen = store_watch_drain(w);
	ck_assert_msg(seen & STORE_WATCH_COMMIT, "drain after an append saw %d", seen);

	ck_assert_int_eq(store_channel_delete(other, "a", 2000), STORE_OK);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	seen = store_watch_drain(w);
	ck_assert_msg(seen & STORE_WATCH_COMMIT, "drain after a deletion saw %d", seen);
	ck_assert_int_eq(store_watch_drain(w), 0); /* nothing more */

	store_close(other);
	store_watch_free(w);
	close_backend();
}
END_TEST

/* Not per backend: the choice of backend itself. */
START_TEST(test_unknown_scheme_refused)
{
	char *cause = NULL;

	ck_assert_ptr_null(store_open("nosuch://host:4222/S", STORE_CREATE, 100, &cause));
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "no store backend for nosuch") != NULL, "cause: %s", cause);
	ck_assert_msg(strstr(cause, "sqlite") != NULL, "cause names what the build has: %s", cause);
	free(cause);
	ck_assert_ptr_nonnull(strstr(store_backends(), "sqlite "));
}
END_TEST

Suite *
store_contract_suite(void)
{
	Suite *s = suite_create("store_contract");
	TCase *tc = tcase_create("contract");

	tcase_add_loop_test(tc, test_seq_increases_across_channels, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_read_last_and_one, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_read_stops_at_byte_budget, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_group_failure_keeps_others, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_trim_reports_gap, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_channels_and_deletion_log, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_body_in_pieces, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_epoch_kept_and_cursor_resume, 0, NBACKENDS);
	tcase_add_loop_test(tc, test_watch_hears_commits, 0, NBACKENDS);
	tcase_add_test(tc, test_unknown_scheme_refused);
	suite_add_tcase(s, tc);
	return s;
}
