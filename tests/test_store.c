/* SPDX-License-Identifier: MIT */
/*
 * Tests of the message store: appends and reads, batch parsing, channels and
 * the deletion log, and how the store fails (locked, read-only, foreign or
 * uninitialised files). Each test gets a fresh database in its own directory.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h> /* raw access from a second connection, as an operator would */

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

/* Append text (text/plain) to channel at 1000 ms; returns its seq. */
static int64_t
append_text(const char *channel, const char *text)
{
	return test_append_text(fx.st, channel, text, 1000);
}

/* Run SQL on a second connection, as the sqlite3 shell would. */
static void
raw_exec(const char *sql)
{
	sqlite3 *db = NULL;
	char *err = NULL;

	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 1000);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &err) == SQLITE_OK, "%s: %s", sql, err);
	sqlite3_close(db);
}

static size_t
count_all(void)
{
	struct msglist l;
	size_t n;

	msglist_init(&l);
	ck_assert_int_eq(store_read_all_since(fx.st, 0, SIZE_MAX, &l), STORE_OK);
	n = l.n;
	msglist_fini(&l);
	return n;
}

static void
assert_body(const struct msg *m, const char *text)
{
	ck_assert_uint_eq(m->body_len, strlen(text));
	ck_assert_mem_eq(m->body, text, m->body_len);
}

/* ---- Core -------------------------------------------------------------- */

START_TEST(test_append_read_back)
{
	static const unsigned char bin[] = { 'a', 0, 'b', 0, 0xff };
	struct store_pub p[3] = {
		{ "news", "update", "text/plain; charset=utf-8", "hello\nworld", 11, NULL, NULL },
		{ "news", NULL, "application/octet-stream", bin, sizeof bin, NULL, NULL },
		{ "news", NULL, NULL, NULL, 0, NULL, NULL },
	};
	int64_t seqs[3] = { 0 };
	struct store_group g = { p, 3, seqs, STORE_ERROR, NULL, NULL };
	const char *ch[] = { "news" };
	struct msglist l;
	struct msg *m;

	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 1700000000123), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	ck_assert_int_eq(seqs[1], seqs[0] + 1);
	ck_assert_int_eq(seqs[2], seqs[1] + 1);

	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, ch, 1, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);

	m = l.v[0];
	ck_assert_int_eq(m->seq, seqs[0]);
	ck_assert_int_eq(m->time_ms, 1700000000123);
	ck_assert_str_eq(m->channel, "news");
	ck_assert_str_eq(m->event, "update");
	ck_assert_str_eq(m->content_type, "text/plain; charset=utf-8");
	assert_body(m, "hello\nworld");
	ck_assert_int_eq(m->body_is_json, 0);

	m = l.v[1];
	ck_assert_ptr_null(m->event);
	ck_assert_str_eq(m->content_type, "application/octet-stream");
	ck_assert_uint_eq(m->body_len, sizeof bin);
	ck_assert_mem_eq(m->body, bin, sizeof bin);
	ck_assert_int_eq(m->body[m->body_len], '\0');

	m = l.v[2];
	ck_assert_str_eq(m->content_type, "application/octet-stream");
	ck_assert_uint_eq(m->body_len, 0);
	ck_assert_ptr_nonnull(m->body);
	ck_assert_int_eq(m->body[0], '\0');

	msglist_clear(&l);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(store_read_one(fx.st, "news", seqs[1], &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_mem_eq(l.v[0]->body, bin, sizeof bin);
	msglist_fini(&l);
}
END_TEST

START_TEST(test_seq_across_channels)
{
	const char *chans[] = { "a", "b", "a", "c", "b" };
	int64_t prev = 0, seq, high;
	size_t i;

	for (i = 0; i < 5; i++) {
		seq = append_text(chans[i], "x");
		ck_assert_int_gt(seq, prev);
		prev = seq;
	}
	ck_assert_int_eq(store_high_seq(fx.st, &high), STORE_OK);
	ck_assert_int_eq(high, prev);
}
END_TEST

START_TEST(test_multi_channel_read)
{
	const char *want[] = { "a", "c", "a" }; /* order and repeats do not matter */
	const char *others[] = { "b" };
	int64_t s[6];
	struct msglist l;

	s[0] = append_text("a", "a1");
	s[1] = append_text("b", "b1");
	s[2] = append_text("c", "c1");
	s[3] = append_text("a", "a2");
	s[4] = append_text("b", "b2");
	s[5] = append_text("c", "c2");

	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, want, 3, s[0], 100, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(l.v[0]->seq, s[2]);
	ck_assert_int_eq(l.v[1]->seq, s[3]);
	ck_assert_int_eq(l.v[2]->seq, s[5]);
	assert_body(l.v[2], "c2");
	msglist_clear(&l);

	/* The limit takes the first messages after the cursor. */
	ck_assert_int_eq(store_read_since(fx.st, want, 2, 0, 2, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.v[0]->seq, s[0]);
	ck_assert_int_eq(l.v[1]->seq, s[2]);
	msglist_clear(&l);

	/* Appending to a list keeps what was there. */
	ck_assert_int_eq(store_read_since(fx.st, want, 2, s[3], 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(store_read_since(fx.st, others, 1, s[3], 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.v[0]->seq, s[5]);
	ck_assert_int_eq(l.v[1]->seq, s[4]);
	msglist_fini(&l);
}
END_TEST

START_TEST(test_read_last)
{
	const char *ab[] = { "a", "b" }, *a[] = { "a" };
	int64_t s[6];
	struct msglist l;
	int i;

	for (i = 0; i < 6; i++)
		s[i] = append_text(i % 3 == 2 ? "c" : i % 3 == 1 ? "b" : "a", "x");
	/* a: s0 s3; b: s1 s4; c: s2 s5 */
	msglist_init(&l);
	ck_assert_int_eq(store_read_last(fx.st, ab, 2, 3, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(l.v[0]->seq, s[1]);
	ck_assert_int_eq(l.v[1]->seq, s[3]);
	ck_assert_int_eq(l.v[2]->seq, s[4]);
	msglist_clear(&l);

	ck_assert_int_eq(store_read_last(fx.st, a, 1, 1, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.v[0]->seq, s[3]);
	msglist_clear(&l);

	/* More than there are: all of them, ascending. */
	ck_assert_int_eq(store_read_last(fx.st, a, 1, 50, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.v[0]->seq, s[0]);
	ck_assert_int_eq(l.v[1]->seq, s[3]);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_last(fx.st, ab, 2, 50, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 4);
	ck_assert_int_eq(l.v[0]->seq, s[0]);
	ck_assert_int_eq(l.v[3]->seq, s[4]);
	msglist_fini(&l);
}
END_TEST

/* store_last_cursor: store_read_since from it reads what store_read_last
 * would. */
START_TEST(test_last_cursor)
{
	const char *ab[] = { "a", "b" }, *a[] = { "a" }, *none[] = { "none" };
	int64_t s[6], since = -1;
	int i;

	for (i = 0; i < 6; i++)
		s[i] = append_text(i % 3 == 2 ? "c" : i % 3 == 1 ? "b" : "a", "x");
	/* a: s0 s3; b: s1 s4; c: s2 s5 */
	ck_assert_int_eq(store_last_cursor(fx.st, ab, 2, 3, &since), STORE_OK);
	ck_assert_int_eq(since, s[0]); /* then s1 s3 s4 */
	ck_assert_int_eq(store_last_cursor(fx.st, ab, 2, 1, &since), STORE_OK);
	ck_assert_int_eq(since, s[3]);
	ck_assert_int_eq(store_last_cursor(fx.st, a, 1, 1, &since), STORE_OK);
	ck_assert_int_eq(since, s[0]);
	ck_assert_int_eq(store_last_cursor(fx.st, a, 1, 2, &since), STORE_OK);
	ck_assert_int_eq(since, 0); /* all of them */
	ck_assert_int_eq(store_last_cursor(fx.st, ab, 2, 50, &since), STORE_OK);
	ck_assert_int_eq(since, 0);
	since = -1;
	ck_assert_int_eq(store_last_cursor(fx.st, none, 1, 5, &since), STORE_OK);
	ck_assert_int_eq(since, 0);
}
END_TEST

START_TEST(test_read_all_since)
{
	int64_t s[4];
	struct msglist l;
	int i;

	for (i = 0; i < 4; i++)
		s[i] = append_text(i % 2 ? "odd" : "even", "x");
	msglist_init(&l);
	ck_assert_int_eq(store_read_all_since(fx.st, s[0], 2, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_int_eq(l.v[0]->seq, s[1]);
	ck_assert_str_eq(l.v[0]->channel, "odd");
	ck_assert_int_eq(l.v[1]->seq, s[2]);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_all_since(fx.st, s[3], 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 0);
	msglist_fini(&l);
}
END_TEST

START_TEST(test_raw_insert)
{
	const char *ch[] = { "c" };
	struct store_channel_info info;
	struct msglist l;
	int64_t now = util_now_ms();

	raw_exec("INSERT INTO messages(channel, body) VALUES('c', 'hi');"
		 "INSERT INTO messages(channel, content_type, body) VALUES"
		 " ('c', 'application/json', '{\"a\":[1,2]}'),"
		 " ('c', 'Application/Problem+JSON; charset=utf-8', x'7b7d'),"
		 " ('c', 'application/json', '{bad'),"
		 " ('c', 'text/plain', '{\"a\":1}');");
	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, ch, 1, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 5);
	ck_assert_str_eq(l.v[0]->channel, "c");
	ck_assert_ptr_null(l.v[0]->event);
	ck_assert_str_eq(l.v[0]->content_type, "text/plain; charset=utf-8");
	assert_body(l.v[0], "hi");
	ck_assert_int_ge(l.v[0]->time_ms, now - 60000);
	ck_assert_int_le(l.v[0]->time_ms, now + 60000);
	ck_assert_int_eq(l.v[0]->body_is_json, 0);
	ck_assert_int_eq(l.v[1]->body_is_json, 1);
	assert_body(l.v[1], "{\"a\":[1,2]}");
	ck_assert_int_eq(l.v[2]->body_is_json, 1);
	assert_body(l.v[2], "{}");
	ck_assert_int_eq(l.v[3]->body_is_json, 0);
	ck_assert_int_eq(l.v[4]->body_is_json, 0);
	msglist_fini(&l);

	/* The channel has no row, yet it exists. */
	ck_assert_int_eq(store_channel_info(fx.st, "c", &info), STORE_OK);
	ck_assert_int_eq(info.messages, 5);
	ck_assert_int_gt(info.created_ms, 0);
}
END_TEST

START_TEST(test_body_is_json)
{
	static const struct {
		const char *type, *body;
		size_t len;
		int json;
	} cases[] = {
		{ "application/json", "{\"k\": [1, 2.5, null]}", 0, 1 },
		{ "application/json; charset=utf-8", "\"s\"", 0, 1 },
		{ "application/vnd.api+json", "[]", 0, 1 },
		{ "application/json", "{\"k\": ", 0, 0 },
		{ "text/plain", "{}", 0, 0 },
		{ "application/jsonx", "{}", 0, 0 },
		{ "application/json-seq", "{}", 0, 0 },
		{ "APPLICATION/JSON ; charset=utf-8", "1", 0, 1 },
		{ "application/ld+json;profile=x", "{}", 0, 1 },
		{ "text/json", "{}", 0, 0 },
		{ "application/json", "{}\0junk", 7, 0 },
		{ "application/json", "\"\xff\"", 0, 0 }, /* json_valid alone says 1 */
	};
	const char *ch[] = { "j" };
	struct msglist l;
	size_t i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		test_append(fx.st, "j", NULL, cases[i].type, cases[i].body,
			    cases[i].len != 0 ? cases[i].len : strlen(cases[i].body), 1);
	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, ch, 1, 0, 100, &l), STORE_OK);
	ck_assert_uint_eq(l.n, sizeof cases / sizeof cases[0]);
	for (i = 0; i < l.n; i++)
		ck_assert_msg(l.v[i]->body_is_json == cases[i].json, "case %zu (%s)", i, cases[i].type);
	msglist_fini(&l);
}
END_TEST

START_TEST(test_group_isolation)
{
	struct store_pub p0[] = { { "a", NULL, NULL, "1", 1, NULL, NULL } };
	struct store_pub p1[] = { { "a", NULL, NULL, "2", 1, NULL, NULL }, { NULL, NULL, NULL, "x", 1, NULL, NULL } };
	struct store_pub p2[] = { { "b", NULL, NULL, "3", 1, NULL, NULL } };
	int64_t s0[1] = { 0 }, s1[2] = { -1, -1 }, s2[1] = { 0 };
	struct store_group g[3] = {
		{ p0, 1, s0, STORE_ERROR, NULL, NULL },
		{ p1, 2, s1, STORE_ERROR, NULL, NULL },
		{ p2, 1, s2, STORE_ERROR, NULL, NULL },
	};
	struct msglist l;

	ck_assert_int_eq(store_append_groups(fx.st, g, 3, 5), STORE_OK);
	ck_assert_int_eq(g[0].result, STORE_OK);
	ck_assert_int_eq(g[1].result, STORE_INVALID);
	ck_assert_ptr_nonnull(g[1].cause);
	ck_assert_ptr_nonnull(strstr(g[1].cause, "message 1"));
	ck_assert_int_eq(s1[0], 0);
	ck_assert_int_eq(s1[1], 0);
	ck_assert_int_eq(g[2].result, STORE_OK);
	ck_assert_int_gt(s2[0], s0[0]);
	free(g[1].cause);

	msglist_init(&l);
	ck_assert_int_eq(store_read_all_since(fx.st, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	assert_body(l.v[0], "1");
	assert_body(l.v[1], "3");
	msglist_fini(&l);
}
END_TEST

START_TEST(test_channels)
{
	struct store_retention r = { 7, 0, 0 };
	struct store_channel_info info, *infos = NULL;
	struct store_deletion *dels = NULL;
	int64_t a1, a2, b1, high, id;
	size_t n;

	a1 = test_append_text(fx.st, "a", "12345", 100);
	b1 = test_append_text(fx.st, "b", "1", 200);
	a2 = test_append_text(fx.st, "a", "123", 300);
	ck_assert_int_eq(store_set_retention(fx.st, "c", &r), STORE_OK);

	ck_assert_int_eq(store_channel_info(fx.st, "a", &info), STORE_OK);
	ck_assert_str_eq(info.name, "a");
	ck_assert_int_eq(info.messages, 2);
	ck_assert_int_eq(info.bytes, 8);
	ck_assert_int_eq(info.first_seq, a1);
	ck_assert_int_eq(info.last_seq, a2);
	ck_assert_int_eq(info.last_time_ms, 300);
	ck_assert_int_eq(info.created_ms, 100);
	ck_assert_int_eq(info.trimmed_seq, 0);
	ck_assert_int_eq(info.retention.max_messages, 0);

	ck_assert_int_eq(store_channel_info(fx.st, "c", &info), STORE_OK);
	ck_assert_int_eq(info.messages, 0);
	ck_assert_int_eq(info.first_seq, 0);
	ck_assert_int_eq(info.retention.max_messages, 7);
	ck_assert_int_eq(store_channel_info(fx.st, "nope", &info), STORE_NOTFOUND);

	ck_assert_int_eq(store_channel_list(fx.st, &infos, &n), STORE_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(infos[0].name, "a");
	ck_assert_int_eq(infos[0].messages, 2);
	ck_assert_str_eq(infos[1].name, "b");
	ck_assert_int_eq(infos[1].last_seq, b1);
	ck_assert_str_eq(infos[2].name, "c");
	ck_assert_int_eq(infos[2].retention.max_messages, 7);
	free(infos);

	ck_assert_int_eq(store_deletion_high(fx.st, &id), STORE_OK);
	ck_assert_int_eq(id, 0);
	ck_assert_int_eq(store_channel_delete(fx.st, "a", 1234), STORE_OK);
	ck_assert_int_eq(store_channel_info(fx.st, "a", &info), STORE_NOTFOUND);
	ck_assert_int_eq(store_channel_delete(fx.st, "c", 1235), STORE_OK); /* a row, no messages */
	ck_assert_int_eq(store_channel_delete(fx.st, "a", 1236), STORE_NOTFOUND);
	ck_assert_int_eq(store_channel_delete(fx.st, "zz", 1237), STORE_NOTFOUND);
	ck_assert_int_eq(store_deletion_high(fx.st, &id), STORE_OK);
	ck_assert_int_eq(id, 2);
	ck_assert_int_eq(store_read_deletions(fx.st, 0, &dels, &n), STORE_OK);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(dels[0].channel, "a");
	ck_assert_int_eq(dels[0].time_ms, 1234);
	ck_assert_str_eq(dels[1].channel, "c");
	ck_assert_int_gt(dels[1].id, dels[0].id);
	free(dels);
	ck_assert_int_eq(store_read_deletions(fx.st, id, &dels, &n), STORE_OK);
	ck_assert_uint_eq(n, 0);
	free(dels);

	/* The highest seq was on "a": deleting it does not take seq back. */
	ck_assert_int_eq(store_high_seq(fx.st, &high), STORE_OK);
	ck_assert_int_eq(high, a2);
	ck_assert_int_gt(append_text("b", "later"), a2);
	ck_assert_int_eq(store_channel_list(fx.st, &infos, &n), STORE_OK);
	ck_assert_uint_eq(n, 1);
	free(infos);
}
END_TEST

/* ---- Limits ------------------------------------------------------------ */

START_TEST(test_many_channels)
{
	char names[70][16];
	const char *list[70];
	struct msglist l;
	int i;

	for (i = 0; i < 70; i++) {
		snprintf(names[i], sizeof names[i], "ch%02d", i);
		list[i] = names[i];
		append_text(names[i], names[i]);
	}
	/* Names that need escaping in the bound JSON array. */
	append_text("q\"uo\\te", "odd");
	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, list + 3, 64, 0, 1000, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 64);
	ck_assert_str_eq(l.v[0]->channel, "ch03");
	ck_assert_str_eq(l.v[63]->channel, "ch66");
	msglist_clear(&l);
	list[0] = "q\"uo\\te";
	ck_assert_int_eq(store_read_last(fx.st, list, 2, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 2);
	ck_assert_str_eq(l.v[1]->channel, "q\"uo\\te");
	msglist_fini(&l);
}
END_TEST

START_TEST(test_limits)
{
	const char *a[] = { "a" }, *ab[] = { "a", "b" };
	struct msglist l;
	int64_t first = 0, s;
	int i;

	for (i = 0; i < 20; i++) {
		s = append_text(i % 2 ? "b" : "a", "x");
		if (i == 0)
			first = s;
	}
	msglist_init(&l);
	ck_assert_int_eq(store_read_since(fx.st, a, 1, 0, 3, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 3);
	ck_assert_int_eq(l.v[2]->seq, first + 4);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_since(fx.st, ab, 2, first, 5, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 5);
	ck_assert_int_eq(l.v[0]->seq, first + 1);
	ck_assert_int_eq(l.v[4]->seq, first + 5);
	msglist_clear(&l);
	ck_assert_int_eq(store_read_since(fx.st, a, 1, 0, 0, &l), STORE_OK);
	ck_assert_int_eq(store_read_last(fx.st, ab, 2, 0, &l), STORE_OK);
	ck_assert_int_eq(store_read_since(fx.st, ab, 0, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 0);
	ck_assert_int_eq(store_read_since(fx.st, ab, 2, 0, SIZE_MAX, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 20);
	msglist_fini(&l);
}
END_TEST

static void check_body_reads_back(int64_t seq, const unsigned char *body, size_t len);

START_TEST(test_large_body)
{
	size_t len = 4 << 20, i;
	unsigned char *body = xmalloc(len);
	struct msglist l;
	int64_t seq;

	for (i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 7);
	seq = test_append(fx.st, "big", NULL, "application/octet-stream", body, len, 1);
	msglist_init(&l);
	/* Over STORE_INLINE_MAX_BYTES: announced with its size, not read. */
	ck_assert_int_eq(store_read_one(fx.st, "big", seq, &l), STORE_OK);
	ck_assert_uint_eq(l.v[0]->body_len, len);
	ck_assert_int_eq(l.v[0]->body_omitted, 1);
	ck_assert_int_eq(l.v[0]->body_is_json, 0);
	msglist_fini(&l);
	check_body_reads_back(seq, body, len);
	free(body);
}
END_TEST

/* The body of message seq on channel "big", read through store_body_open in
 * uneven pieces, equals body. */
static void
check_body_reads_back(int64_t seq, const unsigned char *body, size_t len)
{
	struct store_body_info info;
	unsigned char *got = xmalloc(len + 1);
	size_t off, n;

	ck_assert_int_eq(store_body_open(fx.st, "big", seq, &info), STORE_OK);
	ck_assert_int_eq(info.size, (int64_t)len);
	ck_assert_str_eq(info.content_type, "application/octet-stream");
	for (off = 0; off < len; off += n) {
		n = len - off < 100003 ? len - off : 100003;
		ck_assert_int_eq(store_body_read(fx.st, (int64_t)off, got + off, n), STORE_OK);
	}
	ck_assert_int_eq(store_body_read(fx.st, (int64_t)len - 1, got, 2), STORE_INVALID);
	store_body_close(fx.st);
	ck_assert_int_eq(memcmp(got, body, len), 0);
	ck_assert_int_eq(store_body_open(fx.st, "other", seq, &info), STORE_NOTFOUND);
	free(got);
}

/* A body of len patterned bytes (caller frees), also written to the file
 * spool (a spooled request body). */
static unsigned char *
spool_body(const char *spool, size_t len)
{
	unsigned char *body = xmalloc(len);
	size_t i;
	FILE *f;

	for (i = 0; i < len; i++)
		body[i] = (unsigned char)(i * 13 + 1);
	f = fopen(spool, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(body, 1, len, f), len);
	fclose(f);
	return body;
}

START_TEST(test_body_from_file)
{
	size_t len = (3 << 20) + 17;
	char *spool = xasprintf("%s/spool", fx.dir);
	unsigned char *body = spool_body(spool, len);
	struct store_pub p = {"big", NULL, "application/octet-stream", NULL, len, spool, NULL};
	struct store_group g = {&p, 1, NULL, STORE_ERROR, NULL, NULL};
	int64_t seq = 0;

	g.seqs = &seq;
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 1), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	check_body_reads_back(seq, body, len);

	/* A file shorter than body_len fails the group, nothing written. */
	p.body_len = len + 1;
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 2), STORE_OK);
	ck_assert_int_ne(g.result, STORE_OK);
	free(g.cause);
	free(body);
	free(spool);
}
END_TEST

START_TEST(test_big_batch)
{
	size_t n = 10000, i;
	struct store_pub *p = xcalloc(n, sizeof *p);
	int64_t *seqs = xcalloc(n, sizeof *seqs), high;
	struct store_group g = { p, n, seqs, STORE_ERROR, NULL, NULL };

	for (i = 0; i < n; i++)
		p[i] = (struct store_pub){ i % 3 ? "x" : "y", NULL, "text/plain", "payload", 7, NULL, NULL };
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 1), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	for (i = 1; i < n; i++)
		ck_assert_int_eq(seqs[i], seqs[i - 1] + 1);
	ck_assert_int_eq(store_high_seq(fx.st, &high), STORE_OK);
	ck_assert_int_eq(high, seqs[n - 1]);
	ck_assert_uint_eq(count_all(), n);
	free(p);
	free(seqs);
}
END_TEST

/* ---- Errors ------------------------------------------------------------ */

START_TEST(test_busy_when_locked)
{
	struct store *st2;
	struct store_pub p = { "a", NULL, NULL, "x", 1, NULL, NULL };
	int64_t seq = -1;
	struct store_group g = { &p, 1, &seq, STORE_ERROR, NULL, NULL };
	struct store_retention r = { 1, 0, 0 };
	sqlite3 *db = NULL;
	char *cause = NULL;

	append_text("keep", "1");
	append_text("keep", "2");
	st2 = store_open(fx.path, 0, 50, &cause);
	ck_assert_ptr_nonnull(st2);
	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

	ck_assert_int_eq(store_append_groups(st2, &g, 1, 1), STORE_BUSY);
	ck_assert_int_eq(g.result, STORE_BUSY);
	ck_assert_ptr_nonnull(g.cause);
	ck_assert_int_eq(seq, 0);
	free(g.cause);
	ck_assert_int_eq(store_channel_delete(st2, "keep", 1), STORE_BUSY);
	ck_assert_int_eq(store_trim(st2, &r, 1, NULL), STORE_BUSY);
	/* Reads go on while another connection writes (WAL). */
	ck_assert_uint_eq(count_all(), 2);

	ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_uint_eq(count_all(), 2);
	/* The same connection works once the lock is gone. */
	ck_assert_int_eq(store_append_groups(st2, &g, 1, 1), STORE_OK);
	ck_assert_uint_eq(count_all(), 3);
	store_close(st2);
}
END_TEST

START_TEST(test_busy_when_readonly)
{
	struct store *ro;
	struct store_pub p = { "a", NULL, NULL, "x", 1, NULL, NULL };
	int64_t seq = -1, high;
	struct store_group g = { &p, 1, &seq, STORE_ERROR, NULL, NULL };
	struct msglist l;
	char *cause = NULL;

	append_text("a", "1");
	ro = store_open(fx.path, STORE_READONLY, 50, &cause);
	ck_assert_msg(ro != NULL, "%s", cause);
	ck_assert_int_eq(store_append_groups(ro, &g, 1, 1), STORE_BUSY);
	ck_assert_int_eq(g.result, STORE_BUSY);
	free(g.cause);
	ck_assert_int_eq(store_channel_delete(ro, "a", 1), STORE_BUSY);
	msglist_init(&l);
	ck_assert_int_eq(store_read_all_since(ro, 0, 10, &l), STORE_OK);
	ck_assert_uint_eq(l.n, 1);
	msglist_fini(&l);
	ck_assert_int_eq(store_high_seq(ro, &high), STORE_OK);
	ck_assert_int_eq(high, 1);
	store_close(ro);
	ck_assert_uint_eq(count_all(), 1);
}
END_TEST

START_TEST(test_version_mismatch)
{
	char *cause = NULL;
	struct store *other;

	raw_exec("PRAGMA user_version = 7");
	other = store_open(fx.path, STORE_CREATE, 50, &cause);
	ck_assert_ptr_null(other);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, "version 7") != NULL && strstr(cause, "version 2") != NULL, "%s", cause);
	free(cause);
}
END_TEST

START_TEST(test_not_initialised)
{
	char *empty = xasprintf("%s/empty.db", fx.dir), *missing = xasprintf("%s/missing.db", fx.dir);
	char *foreign = xasprintf("%s/foreign.db", fx.dir), *cause = NULL;
	sqlite3 *db = NULL;
	FILE *f;

	f = fopen(empty, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_ptr_null(store_open(empty, 0, 50, &cause));
	ck_assert_msg(strstr(cause, "not initialised: run fcpush init") != NULL, "%s", cause);
	free(cause);
	ck_assert_ptr_null(store_open(empty, STORE_READONLY | STORE_CREATE, 50, &cause));
	ck_assert_msg(strstr(cause, "not initialised") != NULL, "%s", cause);
	free(cause);

	ck_assert_ptr_null(store_open(missing, 0, 50, &cause));
	ck_assert_ptr_nonnull(strstr(cause, "cannot open"));
	free(cause);
	ck_assert_ptr_null(store_open(missing, 0, 50, NULL)); /* cause may be NULL */

	ck_assert_int_eq(sqlite3_open(foreign, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ck_assert_ptr_null(store_open(foreign, STORE_CREATE, 50, &cause));
	ck_assert_msg(strstr(cause, "not an fcpush database") != NULL, "%s", cause);
	free(cause);
	free(empty);
	free(missing);
	free(foreign);
}
END_TEST

START_TEST(test_not_found)
{
	struct msglist l;
	int64_t seq = append_text("a", "x");
	struct store_retention bad = { -1, 0, 0 };

	msglist_init(&l);
	ck_assert_int_eq(store_read_one(fx.st, "a", seq + 1, &l), STORE_NOTFOUND);
	ck_assert_int_eq(store_read_one(fx.st, "b", seq, &l), STORE_NOTFOUND);
	ck_assert_uint_eq(l.n, 0);
	msglist_fini(&l);
	ck_assert_int_eq(store_set_retention(fx.st, "a", &bad), STORE_INVALID);
}
END_TEST

/* The epoch: drawn at creation, the same for every connection, kept across
 * reopen; a database made before epochs gets one at its first writable open
 * (a read-only open reports none). */
START_TEST(test_epoch)
{
	struct store *other, *ro;
	char first[STORE_EPOCH_LEN + 1];
	char *cause = NULL;

	ck_assert_uint_eq(strlen(store_epoch(fx.st)), STORE_EPOCH_LEN);
	ck_assert_uint_eq(strspn(store_epoch(fx.st), "0123456789abcdef"), STORE_EPOCH_LEN);
	snprintf(first, sizeof first, "%s", store_epoch(fx.st));
	other = store_open(fx.path, 0, 50, &cause);
	ck_assert_msg(other != NULL, "%s", cause);
	ck_assert_str_eq(store_epoch(other), first);
	store_close(other);

	/* Another database has another epoch. */
	{
		char *p2 = xasprintf("%s/other.db", fx.dir);

		other = store_open(p2, STORE_CREATE, 50, &cause);
		ck_assert_msg(other != NULL, "%s", cause);
		ck_assert_str_ne(store_epoch(other), first);
		store_close(other);
		free(p2);
	}

	/* A database of before: no table. Read-only: no epoch; writable: a new one. */
	raw_exec("DROP TABLE database_info");
	ro = store_open(fx.path, STORE_READONLY, 50, &cause);
	ck_assert_msg(ro != NULL, "%s", cause);
	ck_assert_str_eq(store_epoch(ro), "");
	store_close(ro);
	other = store_open(fx.path, 0, 50, &cause);
	ck_assert_msg(other != NULL, "%s", cause);
	ck_assert_uint_eq(strlen(store_epoch(other)), STORE_EPOCH_LEN);
	ck_assert_str_ne(store_epoch(other), first);
	snprintf(first, sizeof first, "%s", store_epoch(other));
	store_close(other);

	/* The row deleted (after restoring a backup): a new epoch too. */
	raw_exec("DELETE FROM database_info");
	other = store_open(fx.path, 0, 50, &cause);
	ck_assert_msg(other != NULL, "%s", cause);
	ck_assert_uint_eq(strlen(store_epoch(other)), STORE_EPOCH_LEN);
	ck_assert_str_ne(store_epoch(other), first);
	store_close(other);

	other = store_open(fx.path, STORE_SYNC_NORMAL, 50, &cause);
	ck_assert_msg(other != NULL, "%s", cause);
	store_close(other);
	ck_assert_int_eq(store_durability_flags("normal"), STORE_SYNC_NORMAL);
	ck_assert_int_eq(store_durability_flags("full"), 0);
	ck_assert_int_eq(store_durability_flags(NULL), 0);
}
END_TEST

/* Where a cursor resumes: its own seq in this history; 0 for another epoch;
 * the highest seq for a cursor above it (a rolled-back database). */
START_TEST(test_cursor_resume)
{
	char other[STORE_EPOCH_LEN + 1];
	int rollback = -1;

	snprintf(other, sizeof other, "%s", store_epoch(fx.st));
	other[0] = other[0] == '0' ? '1' : '0';
	ck_assert_int_eq(store_cursor_resume(fx.st, NULL, 5, 9, &rollback), 5);
	ck_assert_int_eq(rollback, 0);
	ck_assert_int_eq(store_cursor_resume(fx.st, "", 9, 9, &rollback), 9);
	ck_assert_int_eq(rollback, 0);
	ck_assert_int_eq(store_cursor_resume(fx.st, store_epoch(fx.st), 5, 9, &rollback), 5);
	ck_assert_int_eq(rollback, 0);
	ck_assert_int_eq(store_cursor_resume(fx.st, other, 5, 9, &rollback), 0);
	ck_assert_int_eq(rollback, 1);
	ck_assert_int_eq(store_cursor_resume(fx.st, NULL, 12, 9, &rollback), 9);
	ck_assert_int_eq(rollback, 1);
	ck_assert_int_eq(store_cursor_resume(fx.st, store_epoch(fx.st), 12, 0, &rollback), 0);
	ck_assert_int_eq(rollback, 1);
}
END_TEST

/* ---- Idempotency ------------------------------------------------------- */

/* One keyed message in its own group at now: returns the group's result,
 * its seq in *seq and its outcome in *out (either may be NULL). */
static enum store_result
append_key(const char *channel, const char *event, const char *body, const char *key, int64_t now, int64_t *seq,
	   struct store_outcome *out)
{
	struct store_pub p = { channel, event, "text/plain", body, strlen(body), NULL, key };
	struct store_outcome o = { -1, -1 };
	int64_t s = 0;
	struct store_group g = { &p, 1, &s, STORE_ERROR, NULL, &o };

	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, now), STORE_OK);
	ck_assert((g.result == STORE_OK) == (g.cause == NULL));
	free(g.cause);
	if (seq != NULL)
		*seq = s;
	if (out != NULL)
		*out = o;
	return g.result;
}

/* One integer from SQL on a second connection. */
static int64_t
raw_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v;

	ck_assert_int_eq(sqlite3_open(fx.path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

START_TEST(test_idem_same_key_once)
{
	struct store_outcome o;
	int64_t s1 = 0, s2 = 0, s3 = 0;

	ck_assert_int_eq(append_key("a", NULL, "hello", "k-1", 1000, &s1, &o), STORE_OK);
	ck_assert_int_gt(s1, 0);
	ck_assert_int_eq(o.replayed, 0);
	ck_assert_int_eq(o.time_ms, 1000);
	/* The retry: the original seq and time, nothing stored. */
	ck_assert_int_eq(append_key("a", NULL, "hello", "k-1", 2000, &s2, &o), STORE_OK);
	ck_assert_int_eq(s2, s1);
	ck_assert_int_eq(o.replayed, 1);
	ck_assert_int_eq(o.time_ms, 1000);
	ck_assert_uint_eq(count_all(), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys"), 1);
	ck_assert_int_eq(raw_int("SELECT seq FROM idempotency_keys WHERE channel = 'a' AND key = 'k-1'"), s1);
	/* Keys are per channel. */
	ck_assert_int_eq(append_key("b", NULL, "hello", "k-1", 2000, &s3, &o), STORE_OK);
	ck_assert_int_gt(s3, s1);
	ck_assert_int_eq(o.replayed, 0);
	ck_assert_uint_eq(count_all(), 2);
	/* Unkeyed publishes are never deduplicated. */
	append_text("a", "hello");
	append_text("a", "hello");
	ck_assert_uint_eq(count_all(), 4);
}
END_TEST

START_TEST(test_idem_conflict)
{
	int64_t s1 = 0, s2 = -1;

	ck_assert_int_eq(append_key("a", NULL, "hello", "k", 1000, &s1, NULL), STORE_OK);
	/* Another body, another event name: refused, nothing stored. */
	ck_assert_int_eq(append_key("a", NULL, "hello!", "k", 1001, &s2, NULL), STORE_CONFLICT);
	ck_assert_int_eq(s2, 0);
	ck_assert_int_eq(append_key("a", "ev", "hello", "k", 1002, NULL, NULL), STORE_CONFLICT);
	ck_assert_uint_eq(count_all(), 1);
	/* The original still replays. */
	ck_assert_int_eq(append_key("a", NULL, "hello", "k", 1003, &s2, NULL), STORE_OK);
	ck_assert_int_eq(s2, s1);
	/* Keys a client may not send. */
	ck_assert_int_eq(append_key("a", NULL, "x", "", 1004, NULL, NULL), STORE_INVALID);
	ck_assert_int_eq(append_key("a", NULL, "x", "has space", 1004, NULL, NULL), STORE_INVALID);
	ck_assert_int_eq(append_key("a", NULL, "x", "caf\xc3\xa9", 1004, NULL, NULL), STORE_INVALID);
	ck_assert_uint_eq(count_all(), 1);
	ck_assert(store_idem_key_valid("8e03978e-40d5-43e8-bc93-6894a57f9324"));
	ck_assert(!store_idem_key_valid(NULL));
}
END_TEST

START_TEST(test_idem_expiry)
{
	struct store_outcome o;
	int64_t s1 = 0, s2 = 0, deleted = -1;
	char key[16];
	int i;

	store_idem_set_window(fx.st, 1000);
	ck_assert_int_eq(append_key("a", NULL, "x", "k", 10000, &s1, NULL), STORE_OK);
	ck_assert_int_eq(append_key("a", NULL, "x", "k", 10999, &s2, &o), STORE_OK);
	ck_assert_int_eq(s2, s1);
	ck_assert_int_eq(o.replayed, 1);
	/* Past the window the key is forgotten: a new message, its row reused. */
	ck_assert_int_eq(append_key("a", NULL, "x", "k", 11001, &s2, &o), STORE_OK);
	ck_assert_int_gt(s2, s1);
	ck_assert_int_eq(o.replayed, 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys"), 1);
	ck_assert_int_eq(raw_int("SELECT time_ms FROM idempotency_keys"), 11001);

	/* Appends leave expired rows alone; store_idem_expire (the retention
	 * pass) deletes them, oldest first, at most limit at a time. */
	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof key, "old-%d", i);
		ck_assert_int_eq(append_key("a", NULL, "x", key, 20000 + i, NULL, NULL), STORE_OK);
	}
	ck_assert_int_eq(append_key("a", NULL, "x", "new", 30000, NULL, NULL), STORE_OK);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys"), 7);
	ck_assert_int_eq(store_idem_expire(fx.st, 30000, 3, &deleted), STORE_OK);
	ck_assert_int_eq(deleted, 3);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys WHERE key IN ('k', 'old-0', 'old-1')"), 0);
	ck_assert_int_eq(store_idem_expire(fx.st, 30000, 100, &deleted), STORE_OK);
	ck_assert_int_eq(deleted, 3);
	ck_assert_int_eq(store_idem_expire(fx.st, 30000, 100, &deleted), STORE_OK);
	ck_assert_int_eq(deleted, 0);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys"), 1);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys WHERE key = 'new'"), 1);
}
END_TEST

/* Group commit: two publishes with one key in one transaction (two groups,
 * or twice in one batch) store one message. */
START_TEST(test_idem_same_transaction)
{
	struct store_pub p0[] = { { "a", NULL, NULL, "x", 1, NULL, "dup" } };
	struct store_pub p1[] = { { "a", NULL, NULL, "x", 1, NULL, "dup" } };
	struct store_pub p2[] = { { "b", NULL, NULL, "y", 1, NULL, "twice" }, { "b", NULL, NULL, "y", 1, NULL, "twice" } };
	struct store_outcome o0[1], o1[1], o2[2];
	int64_t s0[1] = { 0 }, s1[1] = { 0 }, s2[2] = { 0, 0 };
	struct store_group g[3] = {
		{ p0, 1, s0, STORE_ERROR, NULL, o0 },
		{ p1, 1, s1, STORE_ERROR, NULL, o1 },
		{ p2, 2, s2, STORE_ERROR, NULL, o2 },
	};

	ck_assert_int_eq(store_append_groups(fx.st, g, 3, 5), STORE_OK);
	ck_assert_int_eq(g[0].result, STORE_OK);
	ck_assert_int_eq(g[1].result, STORE_OK);
	ck_assert_int_eq(g[2].result, STORE_OK);
	ck_assert_int_eq(s1[0], s0[0]);
	ck_assert_int_eq(o0[0].replayed, 0);
	ck_assert_int_eq(o1[0].replayed, 1);
	ck_assert_int_eq(s2[1], s2[0]);
	ck_assert_int_eq(o2[1].replayed, 1);
	ck_assert_uint_eq(count_all(), 2);

	/* A group that fails after storing a key undoes the key too. */
	p2[1].body = "z";
	p2[0].idem_key = "fresh";
	ck_assert_int_eq(store_append_groups(fx.st, &g[2], 1, 6), STORE_OK);
	ck_assert_int_eq(g[2].result, STORE_CONFLICT);
	free(g[2].cause);
	ck_assert_int_eq(raw_int("SELECT count(*) FROM idempotency_keys WHERE key = 'fresh'"), 0);
	ck_assert_uint_eq(count_all(), 2);
}
END_TEST

/* A body from a file has the digest of the same bytes in memory. */
START_TEST(test_idem_body_from_file)
{
	size_t len = (1 << 20) + 3;
	char *spool = xasprintf("%s/spool", fx.dir);
	unsigned char *body = spool_body(spool, len);
	struct store_pub p = { "big", NULL, "application/octet-stream", NULL, len, spool, "file-key" };
	struct store_outcome o;
	int64_t s1 = 0, s2 = 0;
	struct store_group g = { &p, 1, &s1, STORE_ERROR, NULL, &o };

	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 1), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	p.body_path = NULL;
	p.body = body;
	g.seqs = &s2;
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 2), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	ck_assert_int_eq(o.replayed, 1);
	ck_assert_int_eq(s2, s1);
	body[len - 1] ^= 1;
	ck_assert_int_eq(store_append_groups(fx.st, &g, 1, 3), STORE_OK);
	ck_assert_int_eq(g.result, STORE_CONFLICT);
	free(g.cause);
	ck_assert_uint_eq(count_all(), 1);
	free(body);
	free(spool);
}
END_TEST

/* The columns of idempotency_keys and its index, as one string. */
static char *
raw_idem_shape(const char *file)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct buf b;

	buf_init(&b);
	ck_assert_int_eq(sqlite3_open(file, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db,
					    "SELECT name || ' ' || type || ' ' || \"notnull\" || ' ' || pk"
					    " FROM pragma_table_info('idempotency_keys')"
					    " UNION ALL SELECT name FROM pragma_index_list('idempotency_keys')"
					    " UNION ALL SELECT 'without rowid' FROM sqlite_master WHERE name = 'idempotency_keys'"
					    "   AND sql LIKE '%WITHOUT ROWID%'",
					    -1, &s, NULL),
			 SQLITE_OK);
	while (sqlite3_step(s) == SQLITE_ROW)
		buf_printf(&b, "%s;", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return buf_steal(&b);
}

/* A version-1 database (before idempotency keys) is migrated by a writable
 * open, and read as it is by a read-only one. */
START_TEST(test_idem_migrate)
{
	char *cause = NULL, *fresh, *migrated;
	struct store *ro;
	int64_t s1 = 0, s2 = 0;

	fresh = raw_idem_shape(fx.path);
	ck_assert_msg(strstr(fresh, "digest BLOB 1 0;") != NULL, "%s", fresh);
	append_text("a", "old");
	store_close(fx.st);
	raw_exec("DROP TABLE idempotency_keys; PRAGMA user_version = 1");
	ro = store_open(fx.path, STORE_READONLY, 1000, &cause);
	ck_assert_msg(ro != NULL, "%s", cause);
	store_close(ro);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 1);
	fx.st = store_open(fx.path, 0, 1000, &cause);
	ck_assert_msg(fx.st != NULL, "%s", cause);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 2); /* store_sqlite.c's schema version */
	migrated = raw_idem_shape(fx.path);
	ck_assert_str_eq(migrated, fresh);
	ck_assert_uint_eq(count_all(), 1);
	ck_assert_int_eq(append_key("a", NULL, "x", "k", 1, &s1, NULL), STORE_OK);
	ck_assert_int_eq(append_key("a", NULL, "x", "k", 2, &s2, NULL), STORE_OK);
	ck_assert_int_eq(s2, s1);
	ck_assert_uint_eq(count_all(), 2);
	free(fresh);
	free(migrated);
}
END_TEST

Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_append_read_back);
	tcase_add_test(tc, test_epoch);
	tcase_add_test(tc, test_cursor_resume);
	tcase_add_test(tc, test_seq_across_channels);
	tcase_add_test(tc, test_multi_channel_read);
	tcase_add_test(tc, test_read_last);
	tcase_add_test(tc, test_last_cursor);
	tcase_add_test(tc, test_read_all_since);
	tcase_add_test(tc, test_raw_insert);
	tcase_add_test(tc, test_body_is_json);
	tcase_add_test(tc, test_group_isolation);
	tcase_add_test(tc, test_channels);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20); /* big bodies and batches, slower under sanitizers */
	tcase_add_test(tc, test_many_channels);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_large_body);
	tcase_add_test(tc, test_body_from_file);
	tcase_add_test(tc, test_big_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_busy_when_locked);
	tcase_add_test(tc, test_busy_when_readonly);
	tcase_add_test(tc, test_version_mismatch);
	tcase_add_test(tc, test_not_initialised);
	tcase_add_test(tc, test_not_found);
	suite_add_tcase(s, tc);

	tc = tcase_create("Idempotency");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20); /* a 1 MiB body hashed twice, slower under sanitizers */
	tcase_add_test(tc, test_idem_same_key_once);
	tcase_add_test(tc, test_idem_conflict);
	tcase_add_test(tc, test_idem_expiry);
	tcase_add_test(tc, test_idem_same_transaction);
	tcase_add_test(tc, test_idem_body_from_file);
	tcase_add_test(tc, test_idem_migrate);
	suite_add_tcase(s, tc);
	return s;
}
