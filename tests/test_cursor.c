/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcgi/cursor.c: every cursor source and their precedence, the
 * forms of If-None-Match, and Prefer: wait (RFC 7240) against ?wait=.
 */
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "suites.h"

#define MAX_LAST 1000

static void
cursor_ok(const struct cursor_input *in, enum cursor_kind kind, int64_t value, int conditional)
{
	struct cursor c;
	char *cause = NULL;

	ck_assert_msg(cursor_parse(in, MAX_LAST, &c, &cause) == 0, "refused: %s", cause ? cause : "");
	ck_assert_ptr_null(cause);
	ck_assert_int_eq(c.kind, kind);
	if (kind == CURSOR_SINCE)
		ck_assert_int_eq(c.since, value);
	if (kind == CURSOR_LAST)
		ck_assert_int_eq(c.last, value);
	ck_assert_int_eq(c.conditional, conditional);
}

static void
cursor_bad(const struct cursor_input *in, const char *part)
{
	struct cursor c;
	char *cause = NULL;

	ck_assert_int_eq(cursor_parse(in, MAX_LAST, &c, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, part) != NULL, "cause \"%s\" lacks \"%s\"", cause, part);
	free(cause);
}

static void
wait_ok(const char *prefer, const char *wait_q, int64_t want_ms, int64_t want_applied)
{
	int64_t ms = -2, applied = -2;
	char *cause = NULL;

	ck_assert_msg(cursor_parse_wait(prefer, wait_q, 30, &ms, &applied, &cause) == 0,
		      "Prefer: %s, ?wait=%s refused: %s", prefer ? prefer : "(none)",
		      wait_q ? wait_q : "(none)", cause ? cause : "");
	ck_assert_msg(ms == want_ms, "Prefer: %s, ?wait=%s: %lld ms, want %lld", prefer ? prefer : "(none)",
		      wait_q ? wait_q : "(none)", (long long)ms, (long long)want_ms);
	ck_assert_int_eq(applied, want_applied);
}

static void
wait_bad(const char *prefer, const char *wait_q, const char *part)
{
	int64_t ms, applied;
	char *cause = NULL;

	ck_assert_msg(cursor_parse_wait(prefer, wait_q, 30, &ms, &applied, &cause) == -1,
		      "Prefer: %s, ?wait=%s accepted", prefer ? prefer : "(none)", wait_q ? wait_q : "(none)");
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, part) != NULL, "cause \"%s\" lacks \"%s\"", cause, part);
	free(cause);
}

/* ---- Core ------------------------------------------------------------- */

START_TEST(test_no_cursor)
{
	struct cursor_input in = {0};

	cursor_ok(&in, CURSOR_NONE, 0, 0);
}
END_TEST

START_TEST(test_each_source)
{
	struct cursor_input in;

	in = (struct cursor_input){.since = "5"};
	cursor_ok(&in, CURSOR_SINCE, 5, 0);
	in = (struct cursor_input){.since = "0"};
	cursor_ok(&in, CURSOR_SINCE, 0, 0);
	in = (struct cursor_input){.last_event_id = "6"};
	cursor_ok(&in, CURSOR_SINCE, 6, 0);
	in = (struct cursor_input){.last_event_id_q = "7"};
	cursor_ok(&in, CURSOR_SINCE, 7, 0);
	in = (struct cursor_input){.if_none_match = "\"8\""};
	cursor_ok(&in, CURSOR_SINCE, 8, 1);
	in = (struct cursor_input){.last = "9"};
	cursor_ok(&in, CURSOR_LAST, 9, 0);
}
END_TEST

START_TEST(test_precedence)
{
	struct cursor_input in = {
		.since = "1", .last_event_id = "2", .last_event_id_q = "3", .if_none_match = "\"4\"", .last = "5",
	};

	/* Last-Event-ID first: an EventSource reconnecting to a ?since= URL. */
	cursor_ok(&in, CURSOR_SINCE, 2, 0);
	in.last_event_id = NULL;
	cursor_ok(&in, CURSOR_SINCE, 3, 0);
	in.last_event_id_q = NULL;
	cursor_ok(&in, CURSOR_SINCE, 1, 0);
	in.since = NULL;
	cursor_ok(&in, CURSOR_SINCE, 4, 1);
	in.if_none_match = NULL;
	cursor_ok(&in, CURSOR_LAST, 5, 0);
	/* Lower sources are not even looked at once a higher one answers. */
	in = (struct cursor_input){.last_event_id = "1", .since = "junk", .last = "0"};
	cursor_ok(&in, CURSOR_SINCE, 1, 0);
}
END_TEST

START_TEST(test_empty_last_event_id)
{
	struct cursor_input in = {.last_event_id = ""};

	cursor_ok(&in, CURSOR_NONE, 0, 0);
	in.last_event_id = "  ";
	cursor_ok(&in, CURSOR_NONE, 0, 0);
	/* Empty falls through to the next source. */
	in = (struct cursor_input){.last_event_id = "", .last_event_id_q = "4"};
	cursor_ok(&in, CURSOR_SINCE, 4, 0);
	in = (struct cursor_input){.last_event_id = "", .last_event_id_q = "", .last = "2"};
	cursor_ok(&in, CURSOR_LAST, 2, 0);
	in = (struct cursor_input){.last_event_id = " 12 "};
	cursor_ok(&in, CURSOR_SINCE, 12, 0);
}
END_TEST

START_TEST(test_if_none_match_forms)
{
	static const struct {
		const char *header;
		enum cursor_kind kind;
		int64_t since;
	} cases[] = {
		{"\"8\"", CURSOR_SINCE, 8},
		{"W/\"9\"", CURSOR_SINCE, 9},
		{"10", CURSOR_SINCE, 10},
		{"\"11\", \"12\"", CURSOR_SINCE, 11},
		{"\"abc\", W/\"13\"", CURSOR_SINCE, 13},
		{"  \"14\"  ", CURSOR_SINCE, 14},
		{"\"0\"", CURSOR_SINCE, 0},
		{"*", CURSOR_NONE, 0},
		{"\"abc\"", CURSOR_NONE, 0},
		{"\"\"", CURSOR_NONE, 0},
		{"\"1,2\", \"15\"", CURSOR_SINCE, 15},
		{"", CURSOR_NONE, 0},
	};
	struct cursor_input in = {0};
	size_t i;
	struct cursor c;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		in.if_none_match = cases[i].header;
		ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, NULL), 0);
		ck_assert_msg(c.kind == cases[i].kind, "If-None-Match: %s: kind %d", cases[i].header, c.kind);
		if (c.kind == CURSOR_SINCE) {
			ck_assert_int_eq(c.since, cases[i].since);
			ck_assert_int_eq(c.conditional, 1);
		} else {
			ck_assert_int_eq(c.conditional, 0);
		}
	}
	/* * is no cursor; ?last still applies. */
	in = (struct cursor_input){.if_none_match = "*", .last = "3"};
	cursor_ok(&in, CURSOR_LAST, 3, 0);
}
END_TEST

START_TEST(test_prefer_wait)
{
	wait_ok(NULL, NULL, -1, -1);
	wait_ok("wait=5", NULL, 5000, 5);
	wait_ok("WAIT=5", NULL, 5000, 5);
	wait_ok("Wait = 5", NULL, 5000, 5);
	wait_ok("  wait=7  ", NULL, 7000, 7);
	wait_ok("wait=\"8\"", NULL, 8000, 8);
	wait_ok("respond-async, wait=9", NULL, 9000, 9);
	wait_ok("respond-async,wait=10;foo=bar", NULL, 10000, 10);
	wait_ok("return=minimal; foo=\"a,wait=99\", wait=11", NULL, 11000, 11);
	wait_ok("handling=lenient, wait=12, wait=13", NULL, 12000, 12);
	wait_ok("respond-async", NULL, -1, -1);
	wait_ok("waiting=3", NULL, -1, -1);
	wait_ok("", NULL, -1, -1);
	wait_ok("wait=0", NULL, 0, 0);
	wait_ok(NULL, "0", 0, 0);
	wait_ok(NULL, "4", 4000, 4);
}
END_TEST

START_TEST(test_wait_query_wins)
{
	wait_ok("wait=5", "3", 3000, 3);
	wait_ok("wait=5", "0", 0, 0);
	/* A bad Prefer does not matter when ?wait= is given. */
	wait_ok("wait=abc", "2", 2000, 2);
}
END_TEST

/* ---- Limits ----------------------------------------------------------- */

START_TEST(test_seq_limits)
{
	struct cursor_input in = {.since = "9223372036854775807"};

	cursor_ok(&in, CURSOR_SINCE, INT64_MAX, 0);
	in = (struct cursor_input){.last_event_id = "9223372036854775807"};
	cursor_ok(&in, CURSOR_SINCE, INT64_MAX, 0);
	in = (struct cursor_input){.since = "9223372036854775808"};
	cursor_bad(&in, "?since=");
	in = (struct cursor_input){.last = "1000"};
	cursor_ok(&in, CURSOR_LAST, MAX_LAST, 0);
	in = (struct cursor_input){.last = "1001"};
	cursor_bad(&in, "?last=1001");
	in = (struct cursor_input){.last = "0"};
	cursor_bad(&in, "?last=0");
}
END_TEST

START_TEST(test_wait_cap)
{
	wait_ok("wait=30", NULL, 30000, 30);
	wait_ok("wait=31", NULL, 30000, 30);
	wait_ok(NULL, "3600", 30000, 30);
	wait_ok("wait=99999999999999999999999", NULL, 30000, 30);
	wait_ok(NULL, "99999999999999999999999", 30000, 30);
}
END_TEST

/* ---- Errors ----------------------------------------------------------- */

START_TEST(test_bad_cursors)
{
	struct cursor_input in;

	in = (struct cursor_input){.since = "abc"};
	cursor_bad(&in, "?since=abc");
	in = (struct cursor_input){.since = ""};
	cursor_bad(&in, "?since=");
	in = (struct cursor_input){.since = "-1"};
	cursor_bad(&in, "?since=-1");
	in = (struct cursor_input){.last_event_id = "abc"};
	cursor_bad(&in, "Last-Event-ID");
	in = (struct cursor_input){.last_event_id = "1.5"};
	cursor_bad(&in, "Last-Event-ID header \"1.5\"");
	in = (struct cursor_input){.last_event_id = "-3"};
	cursor_bad(&in, "Last-Event-ID");
	in = (struct cursor_input){.last_event_id_q = "x"};
	cursor_bad(&in, "lastEventId");
	in = (struct cursor_input){.last = "many"};
	cursor_bad(&in, "?last=many");
	in = (struct cursor_input){.last = ""};
	cursor_bad(&in, "?last=");
}
END_TEST

START_TEST(test_bad_waits)
{
	wait_bad("wait=-1", NULL, "Prefer: wait=-1");
	wait_bad("wait=abc", NULL, "Prefer: wait=abc");
	wait_bad("wait=1.5", NULL, "Prefer");
	wait_bad("wait", NULL, "Prefer");
	wait_bad("wait=", NULL, "Prefer");
	wait_bad("respond-async, wait=\"x\"", NULL, "Prefer");
	wait_bad(NULL, "-1", "?wait=-1");
	wait_bad(NULL, "soon", "?wait=soon");
	wait_bad(NULL, "", "?wait=");
	wait_bad(NULL, "5s", "?wait=5s");
	wait_bad(NULL, " 5", "?wait=");
}
END_TEST

START_TEST(test_cause_optional)
{
	struct cursor_input in = {.since = "x"};
	struct cursor c;
	int64_t ms;

	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, NULL), -1);
	ck_assert_int_eq(cursor_parse_wait("wait=x", NULL, 30, &ms, NULL, NULL), -1);
	ck_assert_int_eq(cursor_parse_wait("wait=3", NULL, 30, &ms, NULL, NULL), 0);
	ck_assert_int_eq(ms, 3000);
}
END_TEST

/* EPOCH:SEQ in every cursor source, and ?epoch= beside a plain seq; the
 * cursor's own epoch wins; plain integers keep no epoch. */
START_TEST(test_epoch_forms)
{
	struct cursor_input in;
	struct cursor c;
	char *cause = NULL;

	memset(&in, 0, sizeof in);
	in.since = "12";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.since, 12);
	ck_assert_str_eq(c.epoch, "");
	in.since = "00AbCdef01234567:12";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.since, 12);
	ck_assert_str_eq(c.epoch, "00abcdef01234567");
	in.since = "12";
	in.epoch = "beef";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_str_eq(c.epoch, "beef");
	in.since = "cafe:3";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_str_eq(c.epoch, "cafe");
	ck_assert_int_eq(c.since, 3);
	memset(&in, 0, sizeof in);
	in.last_event_id = " ab:7 ";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.kind, CURSOR_SINCE);
	ck_assert_int_eq(c.since, 7);
	ck_assert_str_eq(c.epoch, "ab");
	memset(&in, 0, sizeof in);
	in.last_event_id_q = "ab:8";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.since, 8);
	memset(&in, 0, sizeof in);
	in.if_none_match = "W/\"ab:9\"";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.since, 9);
	ck_assert_str_eq(c.epoch, "ab");
	ck_assert_int_eq(c.conditional, 1);
	/* ?epoch= alone (a stream from now) is accepted and kept. */
	memset(&in, 0, sizeof in);
	in.epoch = "ab";
	ck_assert_int_eq(cursor_parse(&in, MAX_LAST, &c, &cause), 0);
	ck_assert_int_eq(c.kind, CURSOR_NONE);

	memset(&in, 0, sizeof in);
	in.since = "xyz:1";
	cursor_bad(&in, "?since=xyz:1");
	in.since = ":1";
	cursor_bad(&in, "?since=");
	in.since = "ab:";
	cursor_bad(&in, "?since=");
	in.since = "ab:-1";
	cursor_bad(&in, "?since=");
	in.since = "000000000000000000000000000000000:1"; /* 33 digits */
	cursor_bad(&in, "?since=");
	memset(&in, 0, sizeof in);
	in.last_event_id = "ab:cd:1";
	cursor_bad(&in, "Last-Event-ID");
	memset(&in, 0, sizeof in);
	in.since = "1";
	in.epoch = "not-hex";
	cursor_bad(&in, "?epoch=not-hex");
	in.epoch = "";
	cursor_bad(&in, "?epoch=");
}
END_TEST

Suite *
cursor_suite(void)
{
	Suite *s = suite_create("cursor");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_test(tc, test_no_cursor);
	tcase_add_test(tc, test_each_source);
	tcase_add_test(tc, test_precedence);
	tcase_add_test(tc, test_empty_last_event_id);
	tcase_add_test(tc, test_if_none_match_forms);
	tcase_add_test(tc, test_epoch_forms);
	tcase_add_test(tc, test_prefer_wait);
	tcase_add_test(tc, test_wait_query_wins);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_test(tc, test_seq_limits);
	tcase_add_test(tc, test_wait_cap);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_test(tc, test_bad_cursors);
	tcase_add_test(tc, test_bad_waits);
	tcase_add_test(tc, test_cause_optional);
	suite_add_tcase(s, tc);
	return s;
}
