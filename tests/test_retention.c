/* SPDX-License-Identifier: MIT */
/*
 * Tests of retention: trimming by count, age and bytes with per-channel
 * overrides, the trimmed_seq every gap report rests on, and the next expiry
 * a trim timer waits for. Each test gets a fresh database.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h> /* raw inserts from a second connection */

#include "config.h"
#include "retention.h"
#include "store.h"
#include "suites.h"
#include "util.h"

static struct test_db fx; /* the fixture (suites.h): fx.dir, fx.path, fx.st */

static void
setup(void)
{
	test_db_open(&fx);
}

static void
teardown(void)
{
	test_db_close(&fx);
}

/* Append one message of len bytes published at now_ms; returns its seq. */
static int64_t
add(const char *channel, size_t len, int64_t now_ms)
{
	static const char bytes[] = "0123456789abcdefghijklmnopqrstuvwxyz";

	ck_assert_uint_le(len, sizeof bytes - 1);
	return test_append(fx.st, channel, NULL, "text/plain", bytes, len, now_ms);
}

static int64_t
trim(int64_t max_messages, int64_t max_age_ms, int64_t max_bytes, int64_t now_ms)
{
	struct store_retention d = { max_messages, max_age_ms, max_bytes };
	int64_t deleted = -1;

	ck_assert_int_eq(store_trim(fx.st, &d, now_ms, &deleted), STORE_OK);
	return deleted;
}

static struct store_channel_info
info_of(const char *channel)
{
	struct store_channel_info info;

	ck_assert_int_eq(store_channel_info(fx.st, channel, &info), STORE_OK);
	return info;
}

static void
set_retention(const char *channel, int64_t max_messages, int64_t max_age_ms, int64_t max_bytes)
{
	struct store_retention r = { max_messages, max_age_ms, max_bytes };

	ck_assert_int_eq(store_set_retention(fx.st, channel, &r), STORE_OK);
}

/* ---- Core -------------------------------------------------------------- */

START_TEST(test_by_count)
{
	int64_t a[10], b[3];
	struct store_channel_info i;
	int k;

	for (k = 0; k < 10; k++) {
		a[k] = add("a", 1, 1000);
		if (k < 3)
			b[k] = add("b", 1, 1000);
	}
	ck_assert_int_eq(trim(4, 0, 0, 2000), 6);
	i = info_of("a");
	ck_assert_int_eq(i.messages, 4);
	ck_assert_int_eq(i.first_seq, a[6]);
	ck_assert_int_eq(i.last_seq, a[9]);
	ck_assert_int_eq(i.trimmed_seq, a[5]);
	i = info_of("b");
	ck_assert_int_eq(i.messages, 3);
	ck_assert_int_eq(i.first_seq, b[0]);
	ck_assert_int_eq(i.trimmed_seq, 0);
	/* Again: nothing more to do, nothing changes. */
	ck_assert_int_eq(trim(4, 0, 0, 2000), 0);
	ck_assert_int_eq(info_of("a").trimmed_seq, a[5]);
}
END_TEST

START_TEST(test_by_age)
{
	int64_t s[4];
	struct store_channel_info i;

	s[0] = add("a", 3, 1000);
	s[1] = add("a", 3, 2000);
	s[2] = add("a", 3, 3000);
	s[3] = add("b", 3, 1500);
	/* Older than 3500 - 1000 = 2500 goes. */
	ck_assert_int_eq(trim(0, 1000, 0, 3500), 3);
	i = info_of("a");
	ck_assert_int_eq(i.messages, 1);
	ck_assert_int_eq(i.first_seq, s[2]);
	ck_assert_int_eq(i.trimmed_seq, s[1]);
	i = info_of("b");
	ck_assert_int_eq(i.messages, 0);
	ck_assert_int_eq(i.trimmed_seq, s[3]);
	/* Exactly max_age old stays. */
	ck_assert_int_eq(trim(0, 1000, 0, 4000), 0);
	ck_assert_int_eq(trim(0, 1000, 0, 4001), 1);
}
END_TEST

START_TEST(test_by_bytes)
{
	int64_t s[5];
	struct store_channel_info i;
	int k;

	for (k = 0; k < 5; k++)
		s[k] = add("a", 10, 1000);
	/* Newest first: 10, 20, 30 > 25, so the newest two stay. */
	ck_assert_int_eq(trim(0, 0, 25, 1000), 3);
	i = info_of("a");
	ck_assert_int_eq(i.messages, 2);
	ck_assert_int_eq(i.bytes, 20);
	ck_assert_int_eq(i.first_seq, s[3]);
	ck_assert_int_eq(i.trimmed_seq, s[2]);
}
END_TEST

START_TEST(test_override)
{
	int k;

	for (k = 0; k < 6; k++) {
		add("a", 1, 1000);
		add("b", 1, 1000);
		add("c", 1, 1000 + k);
	}
	set_retention("a", 5, 0, 0); /* looser than the default */
	set_retention("c", 0, 1, 0); /* an age limit only for c, on top of the count */
	set_retention("d", 1, 0, 0); /* no messages: nothing to trim */
	ck_assert_int_eq(trim(3, 0, 0, 1006), 1 + 3 + 5);
	ck_assert_int_eq(info_of("a").messages, 5);
	ck_assert_int_eq(info_of("b").messages, 3);
	ck_assert_int_eq(info_of("c").messages, 1); /* the one at 1005 */
	ck_assert_int_eq(info_of("c").retention.max_age_ms, 1);
	ck_assert_int_eq(info_of("d").trimmed_seq, 0);

	/* Clearing the override brings the default back. */
	set_retention("a", 0, 0, 0);
	ck_assert_int_eq(info_of("a").retention.max_messages, 0);
	ck_assert_int_eq(trim(3, 0, 0, 1006), 2);
	ck_assert_int_eq(info_of("a").messages, 3);
	/* Defaults unlimited: only the overrides apply. */
	set_retention("b", 1, 0, 0);
	ck_assert_int_eq(trim(0, 0, 0, 1006), 2);
	ck_assert_int_eq(info_of("b").messages, 1);
	ck_assert_int_eq(info_of("a").messages, 3);
}
END_TEST

START_TEST(test_gap)
{
	const char *a[] = { "a" }, *ab[] = { "a", "b" };
	int64_t s[6], trimmed, oldest;
	int k;

	for (k = 0; k < 6; k++)
		s[k] = add(k < 4 ? "a" : "b", 1, 1000);
	ck_assert_int_eq(store_gap(fx.st, a, 1, 0, &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(trimmed, 0);
	ck_assert_int_eq(oldest, s[0]);

	ck_assert_int_eq(trim(2, 0, 0, 1000), 2); /* a: s0 s1 go */
	ck_assert_int_eq(store_gap(fx.st, a, 1, 0, &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(trimmed, s[1]);
	ck_assert_int_eq(oldest, s[2]);
	/* A cursor at the trim point has missed nothing. */
	ck_assert_int_eq(store_gap(fx.st, a, 1, s[1], &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(oldest, s[2]);
	ck_assert_int_eq(store_gap(fx.st, a, 1, s[3], &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(oldest, 0);
	/* Several channels: the highest trimmed_seq, the lowest remaining. */
	ck_assert_int_eq(store_gap(fx.st, ab, 2, 0, &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(trimmed, s[1]);
	ck_assert_int_eq(oldest, s[2]);
	ck_assert_int_eq(store_gap(fx.st, ab, 2, s[3], &trimmed, &oldest), STORE_OK);
	ck_assert_int_eq(oldest, s[4]);
}
END_TEST

START_TEST(test_raw_channel)
{
	struct store_channel_info *infos = NULL;
	sqlite3 *db = NULL;
	size_t n;

	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db,
				      "INSERT INTO messages(channel, body) VALUES"
				      " ('raw', '1'), ('raw', '2'), ('raw', '3'), ('raw', '4')",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	ck_assert_int_eq(trim(1, 0, 0, util_now_ms()), 3);
	ck_assert_int_eq(info_of("raw").trimmed_seq, 3);
	ck_assert_int_eq(info_of("raw").messages, 1);
	ck_assert_int_eq(store_channel_list(fx.st, &infos, &n), STORE_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(infos[0].trimmed_seq, 3);
	free(infos);
}
END_TEST

START_TEST(test_next_expiry)
{
	struct store_retention none = { 5, 0, 0 }, age = { 0, 1000, 0 };
	int64_t when = -1;

	ck_assert_int_eq(store_next_expiry(fx.st, &age, &when), STORE_OK);
	ck_assert_int_eq(when, 0); /* no message */
	add("a", 1, 6000);
	add("a", 1, 5000); /* times need not follow seq */
	add("b", 1, 7000);
	ck_assert_int_eq(store_next_expiry(fx.st, &none, &when), STORE_OK);
	ck_assert_int_eq(when, 0);
	ck_assert_int_eq(store_next_expiry(fx.st, &age, &when), STORE_OK);
	ck_assert_int_eq(when, 6000);
	set_retention("b", 0, 100, 0);
	ck_assert_int_eq(store_next_expiry(fx.st, &none, &when), STORE_OK);
	ck_assert_int_eq(when, 7100);
	set_retention("a", 0, 5000, 0);
	ck_assert_int_eq(store_next_expiry(fx.st, &age, &when), STORE_OK);
	ck_assert_int_eq(when, 7100);
}
END_TEST

/* ---- Limits ------------------------------------------------------------ */

START_TEST(test_unlimited)
{
	int k;

	for (k = 0; k < 5; k++)
		add("a", 5, k);
	ck_assert_int_eq(trim(0, 0, 0, INT64_MAX / 2), 0);
	ck_assert_int_eq(info_of("a").messages, 5);
	ck_assert_int_eq(info_of("a").trimmed_seq, 0);
}
END_TEST

START_TEST(test_edges)
{
	int64_t s1, s2;

	s1 = add("a", 1, 1);
	s2 = add("a", 1, 1);
	ck_assert_int_eq(trim(1, 0, 0, 1), 1); /* max_messages 1 keeps the newest */
	ck_assert_int_eq(info_of("a").first_seq, s2);
	ck_assert_int_eq(info_of("a").trimmed_seq, s1);
	add("a", 30, 1);
	/* A message larger than max_bytes by itself is over the limit too. */
	ck_assert_int_eq(trim(0, 0, 20, 1), 2);
	ck_assert_int_eq(info_of("a").messages, 0);
	/* trimmed_seq never goes back. */
	add("a", 1, 1);
	ck_assert_int_eq(trim(0, 0, 20, 1), 0);
	ck_assert_int_eq(info_of("a").trimmed_seq, s2 + 1);
}
END_TEST

START_TEST(test_many)
{
	size_t n = 20000, i;
	struct store_pub *p = xcalloc(n, sizeof *p);
	int64_t *seqs = xcalloc(n, sizeof *seqs);
	struct store_group g = { p, n, seqs, STORE_ERROR, NULL, NULL };
	char names[8][8];

	for (i = 0; i < 8; i++)
		snprintf(names[i], sizeof names[i], "c%zu", i);
	for (i = 0; i < n; i++)
		p[i] = (struct store_pub){ names[i % 8], NULL, NULL, "0123456789", 10, NULL, NULL };
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 1), STORE_OK);
	ck_assert_int_eq(trim(100, 0, 0, 1), (int64_t)n - 800);
	ck_assert_int_eq(info_of("c7").messages, 100);
	ck_assert_int_eq(info_of("c7").last_seq, seqs[n - 1]);
	free(p);
	free(seqs);
}
END_TEST

/* ---- Errors ------------------------------------------------------------ */

START_TEST(test_trim_readonly)
{
	struct store_retention d = { 1, 0, 0 };
	struct store *ro;
	char *cause = NULL;
	int64_t deleted = -1;

	add("a", 1, 1);
	add("a", 1, 1);
	ro = store_open(fx.path, STORE_READONLY, 50, &cause);
	ck_assert_msg(ro != NULL, "%s", cause);
	ck_assert_int_eq(store_trim(ro, &d, 1, &deleted), STORE_BUSY);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(store_set_retention(ro, "a", &d), STORE_BUSY);
	store_close(ro);
	ck_assert_int_eq(info_of("a").messages, 2);
	ck_assert_int_eq(info_of("a").trimmed_seq, 0);
}
END_TEST

START_TEST(test_trim_locked)
{
	struct store_retention d = { 1, 0, 0 };
	struct store *other;
	sqlite3 *db = NULL;
	char *cause = NULL;

	add("a", 1, 1);
	add("a", 1, 1);
	other = store_open(fx.path, 0, 50, &cause);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(store_trim(other, &d, 1, NULL), STORE_BUSY);
	ck_assert_int_eq(store_set_retention(other, "a", &d), STORE_BUSY);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	ck_assert_int_eq(info_of("a").messages, 2);
	ck_assert_int_eq(store_trim(other, &d, 1, NULL), STORE_OK);
	ck_assert_int_eq(info_of("a").messages, 1);
	store_close(other);
}
END_TEST

/* A pass with nothing due reads without the write lock: another writer
 * holding it neither blocks nor fails it (busy timeout 0 here, so a pass
 * that asked for the lock would fail at once). */
START_TEST(test_trim_nothing_due_locked)
{
	struct store_retention none = { 0, 0, 0 }, roomy = { 5, 0, 0 }, tight = { 1, 0, 0 };
	struct store *other;
	sqlite3 *db = NULL;

	add("a", 1, 1);
	add("a", 1, 1);
	other = store_open(fx.path, 0, 0, NULL);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(store_trim(other, &none, 1, NULL), STORE_OK);
	ck_assert_int_eq(store_trim(other, &roomy, 1, NULL), STORE_OK);
	ck_assert_int_eq(store_trim(other, &tight, 1, NULL), STORE_BUSY);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
	ck_assert_int_eq(info_of("a").messages, 2);
	store_close(other);
}
END_TEST

/* ---- the retention thread ---------------------------------------------- */

/* Wait (bounded) until the thread has run at least n passes. */
static void
await_passes(struct retention *r, uint64_t n)
{
	int64_t deadline = util_mono_ms() + 5000;

	while (retention_passes(r) < n && util_mono_ms() < deadline) {
		struct timespec ts = { 0, 2 * 1000000 };

		nanosleep(&ts, NULL);
	}
	ck_assert_uint_ge(retention_passes(r), n);
}

START_TEST(test_thread_trims_after_kick)
{
	struct config cfg;
	struct retention *r;
	char *cause = NULL;
	int i;

	config_init(&cfg);
	ck_assert_int_eq(config_set(&cfg, "database", fx.path, NULL), 0);
	ck_assert_int_eq(config_set(&cfg, "retention_max_messages", "2", NULL), 0);
	ck_assert_int_eq(config_set(&cfg, "trim_interval_ms", "10", NULL), 0);
	r = retention_new(&cfg, NULL, &cause);
	ck_assert_msg(r != NULL, "%s", cause);
	for (i = 0; i < 5; i++)
		add("a", 1, util_now_ms());
	ck_assert_uint_eq(retention_passes(r), 0); /* nothing runs before a kick */
	ck_assert_int_eq(info_of("a").messages, 5);
	retention_kick(r);
	await_passes(r, 1);
	ck_assert_int_eq(info_of("a").messages, 2);
	retention_free(r);
	config_fini(&cfg);
}
END_TEST

/* An age limit schedules the next pass by itself, with no further kick. */
START_TEST(test_thread_expiry)
{
	struct config cfg;
	struct retention *r;
	int64_t now = util_now_ms();

	config_init(&cfg);
	ck_assert_int_eq(config_set(&cfg, "database", fx.path, NULL), 0);
	ck_assert_int_eq(config_set(&cfg, "retention_max_age_s", "60", NULL), 0);
	ck_assert_int_eq(config_set(&cfg, "trim_interval_ms", "10", NULL), 0);
	r = retention_new(&cfg, NULL, NULL);
	ck_assert_ptr_nonnull(r);
	add("a", 1, now - 59900); /* expires in about 100 ms */
	add("a", 1, now);         /* in a minute: stays, however late a pass runs */
	retention_kick(r);
	await_passes(r, 1);
	/* Then passes come by themselves (a pass that lands on the very
	 * millisecond of the expiry finds nothing and runs again). */
	while (info_of("a").messages > 1 && util_now_ms() < now + 5000) {
		struct timespec ts = { 0, 2 * 1000000 };

		nanosleep(&ts, NULL);
	}
	ck_assert_int_eq(info_of("a").messages, 1);
	ck_assert_uint_ge(retention_passes(r), 2);
	retention_free(r);
	config_fini(&cfg);
}
END_TEST

Suite *
retention_suite(void)
{
	Suite *s = suite_create("retention");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_by_count);
	tcase_add_test(tc, test_by_age);
	tcase_add_test(tc, test_by_bytes);
	tcase_add_test(tc, test_override);
	tcase_add_test(tc, test_gap);
	tcase_add_test(tc, test_raw_channel);
	tcase_add_test(tc, test_next_expiry);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20); /* thousands of rows, slower under sanitizers */
	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_edges);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_trim_readonly);
	tcase_add_test(tc, test_trim_locked);
	tcase_add_test(tc, test_trim_nothing_due_locked);
	suite_add_tcase(s, tc);

	tc = tcase_create("Thread");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_thread_trims_after_kick);
	tcase_add_test(tc, test_thread_expiry);
	suite_add_tcase(s, tc);
	return s;
}
