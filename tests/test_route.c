/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcgi/route.c: every endpoint under several mount prefixes,
 * percent-decoding, channel lists and names at their limits, and the
 * malformed URIs that answer 400.
 */
#include <stdlib.h>
#include <string.h>

#include "route.h"
#include "suites.h"
#include "util.h"

/* Route uri, expect success with kind and mount; returns the route for more
 * checks (caller route_fini's it). */
static void
route_ok(const char *uri, struct route *r, enum route_kind kind, const char *mount)
{
	char *cause = NULL;
	int status = -1;

	ck_assert_msg(route_parse(uri, r, &status, &cause) == 0, "%s: %s", uri, cause ? cause : "");
	ck_assert_ptr_null(cause);
	ck_assert_msg(r->kind == kind, "%s: kind %d, want %d", uri, r->kind, kind);
	if (kind != ROUTE_NOTFOUND) {
		ck_assert_ptr_nonnull(r->mount);
		ck_assert_msg(strcmp(r->mount, mount) == 0, "%s: mount \"%s\", want \"%s\"", uri, r->mount,
			      mount);
	}
	ck_assert_ptr_nonnull(r->query);
}

/* Route uri, expect -1 with status 400 and a cause containing part. */
static void
route_bad(const char *uri, const char *part)
{
	struct route r;
	char *cause = NULL;
	int status = 0;

	ck_assert_msg(route_parse(uri, &r, &status, &cause) == -1, "%s accepted", uri);
	ck_assert_int_eq(status, 400);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, part) != NULL, "%s: cause \"%s\" lacks \"%s\"", uri, cause, part);
	free(cause);
	route_fini(&r);
}

static void
route_notfound(const char *uri)
{
	struct route r;

	route_ok(uri, &r, ROUTE_NOTFOUND, NULL);
	route_fini(&r);
}

/* ---- Core ------------------------------------------------------------- */

START_TEST(test_every_kind_every_mount)
{
	static const char *const mounts[] = {"", "/push", "/a/b/push"};
	struct route r;
	char *uri;
	size_t i;

	for (i = 0; i < 3; i++) {
		uri = xasprintf("%s/channels/news", mounts[i]);
		route_ok(uri, &r, ROUTE_CHANNEL, mounts[i]);
		ck_assert_uint_eq(r.nchannels, 1);
		ck_assert_str_eq(r.channels[0], "news");
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/channels", mounts[i]);
		route_ok(uri, &r, ROUTE_CHANNEL_LIST, mounts[i]);
		ck_assert_uint_eq(r.nchannels, 0);
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/channels/news/info", mounts[i]);
		route_ok(uri, &r, ROUTE_CHANNEL_INFO, mounts[i]);
		ck_assert_uint_eq(r.nchannels, 1);
		ck_assert_str_eq(r.channels[0], "news");
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/channels/news/messages/17", mounts[i]);
		route_ok(uri, &r, ROUTE_MESSAGE, mounts[i]);
		ck_assert_str_eq(r.channels[0], "news");
		ck_assert_int_eq(r.seq, 17);
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/publish", mounts[i]);
		route_ok(uri, &r, ROUTE_PUBLISH_BATCH, mounts[i]);
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/status", mounts[i]);
		route_ok(uri, &r, ROUTE_STATUS, mounts[i]);
		route_fini(&r);
		free(uri);

		uri = xasprintf("%s/metrics", mounts[i]);
		route_ok(uri, &r, ROUTE_METRICS, mounts[i]);
		route_fini(&r);
		free(uri);
	}
}
END_TEST

START_TEST(test_longest_pattern_first)
{
	struct route r;

	route_ok("/push/channels/a/messages/5", &r, ROUTE_MESSAGE, "/push");
	route_fini(&r);
	route_ok("/push/channels/info", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "info");
	route_fini(&r);
	route_ok("/push/channels/a/info", &r, ROUTE_CHANNEL_INFO, "/push");
	ck_assert_str_eq(r.channels[0], "a");
	route_fini(&r);
	route_ok("/push/channels/status", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "status");
	route_fini(&r);
	route_ok("/push/channels/metrics", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "metrics");
	route_fini(&r);
	route_ok("/push/channels/channels", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "channels");
	route_fini(&r);
	route_ok("/channels/publish", &r, ROUTE_CHANNEL, "");
	ck_assert_str_eq(r.channels[0], "publish");
	route_fini(&r);
}
END_TEST

START_TEST(test_query_and_fragment)
{
	struct route r;

	route_ok("/push/channels/a?since=5&x=%20", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.query, "since=5&x=%20");
	ck_assert_str_eq(r.channels[0], "a");
	route_fini(&r);
	route_ok("/push/channels/a", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.query, "");
	route_fini(&r);
	route_ok("/push/channels/a?", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.query, "");
	route_fini(&r);
	route_ok("/push/channels/a?since=1#frag", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.query, "since=1");
	route_fini(&r);
	route_ok("/push/channels/a#frag?x=1", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.query, "");
	ck_assert_str_eq(r.channels[0], "a");
	route_fini(&r);
	route_ok("/push/status?/channels/a", &r, ROUTE_STATUS, "/push");
	route_fini(&r);
}
END_TEST

START_TEST(test_trailing_slash)
{
	struct route r;

	route_ok("/push/channels/a/", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "a");
	route_fini(&r);
	route_ok("/push/channels/", &r, ROUTE_CHANNEL_LIST, "/push");
	route_fini(&r);
	route_ok("/push/status/?x", &r, ROUTE_STATUS, "/push");
	ck_assert_str_eq(r.query, "x");
	route_fini(&r);
	route_ok("/push//channels", &r, ROUTE_CHANNEL_LIST, "/push");
	route_fini(&r);
}
END_TEST

START_TEST(test_percent_decoding)
{
	struct route r;
	char *s;

	route_ok("/push/channels/caf%65", &r, ROUTE_CHANNEL, "/push");
	ck_assert_str_eq(r.channels[0], "cafe");
	route_fini(&r);
	route_ok("/push/%63hannels/a%2Db/messages/%31%32", &r, ROUTE_MESSAGE, "/push");
	ck_assert_str_eq(r.channels[0], "a-b");
	ck_assert_int_eq(r.seq, 12);
	route_fini(&r);
	/* An encoded comma separates channels like a plain one (encodeURIComponent). */
	route_ok("/push/channels/a%2Cb", &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(r.nchannels, 2);
	route_fini(&r);
	/* The mount stays raw. */
	route_ok("/my%20app/channels", &r, ROUTE_CHANNEL_LIST, "/my%20app");
	route_fini(&r);

	s = route_percent_decode("a%41+b%2b", 9, 0);
	ck_assert_str_eq(s, "aA+b+");
	free(s);
	s = route_percent_decode("a%41+b%2b", 9, 1);
	ck_assert_str_eq(s, "aA b+");
	free(s);
	s = route_percent_decode("%e2%82%AC", 9, 0);
	ck_assert_str_eq(s, "\xe2\x82\xac");
	free(s);
	s = route_percent_decode("abc", 2, 0);
	ck_assert_str_eq(s, "ab");
	free(s);
}
END_TEST

START_TEST(test_channel_lists)
{
	struct route r;

	route_ok("/push/channels/a,b,c", &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(r.nchannels, 3);
	ck_assert_str_eq(r.channels[0], "a");
	ck_assert_str_eq(r.channels[1], "b");
	ck_assert_str_eq(r.channels[2], "c");
	route_fini(&r);
	route_ok("/push/channels/b,a,b,a,c", &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(r.nchannels, 3);
	ck_assert_str_eq(r.channels[0], "b");
	ck_assert_str_eq(r.channels[1], "a");
	ck_assert_str_eq(r.channels[2], "c");
	route_fini(&r);
}
END_TEST

START_TEST(test_channel_valid)
{
	ck_assert(route_channel_valid("a"));
	ck_assert(route_channel_valid("AZaz09._~-"));
	ck_assert(!route_channel_valid(""));
	ck_assert(!route_channel_valid(NULL));
	ck_assert(!route_channel_valid("a b"));
	ck_assert(!route_channel_valid("a/b"));
	ck_assert(!route_channel_valid("a,b"));
	ck_assert(!route_channel_valid("caf\xc3\xa9"));
}
END_TEST

/* One event-name rule for every way to name an event (issue 10 item 1). */
START_TEST(test_event_valid)
{
	char longest[ROUTE_MAX_EVENT_BYTES + 2];

	ck_assert(route_event_valid("tick"));
	ck_assert(route_event_valid("a b:c/d"));
	ck_assert(route_event_valid("caf\xc3\xa9"));
	ck_assert(!route_event_valid(NULL));
	ck_assert(!route_event_valid(""));
	ck_assert(!route_event_valid("a\nb"));
	ck_assert(!route_event_valid("a\rb"));
	ck_assert(!route_event_valid("a\tb"));
	ck_assert(!route_event_valid("a\x01"));
	ck_assert(!route_event_valid("a\x7f"));
	ck_assert(!route_event_valid("caf\xc3"));
	memset(longest, 'e', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	ck_assert(!route_event_valid(longest));
	longest[ROUTE_MAX_EVENT_BYTES] = '\0';
	ck_assert(route_event_valid(longest));
}
END_TEST

START_TEST(test_query_get)
{
	const char *q = "a=1&b=&c&d=x+y%21&%61a=2&a=3&e=%zz";
	char *v;
	int bad = 0;

	v = route_query_get(q, "a", &bad);
	ck_assert_str_eq(v, "1");
	ck_assert_int_eq(bad, 0);
	free(v);
	v = route_query_get(q, "b", NULL);
	ck_assert_str_eq(v, "");
	free(v);
	v = route_query_get(q, "c", NULL);
	ck_assert_str_eq(v, "");
	free(v);
	v = route_query_get(q, "d", NULL);
	ck_assert_str_eq(v, "x y!");
	free(v);
	v = route_query_get(q, "aa", NULL);
	ck_assert_str_eq(v, "2");
	free(v);
	ck_assert_ptr_null(route_query_get(q, "z", &bad));
	ck_assert_int_eq(bad, 0);
	ck_assert_ptr_null(route_query_get("", "a", NULL));
	ck_assert_ptr_null(route_query_get("&&", "a", NULL));
	v = route_query_get("last+event=5", "last event", NULL);
	ck_assert_str_eq(v, "5");
	free(v);
}
END_TEST

/* ---- Limits ----------------------------------------------------------- */

START_TEST(test_64_channels)
{
	struct buf b;
	struct route r;
	int i;

	buf_init(&b);
	buf_puts(&b, "/push/channels/");
	for (i = 0; i < ROUTE_MAX_CHANNELS; i++)
		buf_printf(&b, "%sc%d", i > 0 ? "," : "", i);
	route_ok(b.data, &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(r.nchannels, ROUTE_MAX_CHANNELS);
	ck_assert_str_eq(r.channels[63], "c63");
	route_fini(&r);

	/* Duplicates do not count against the limit. */
	buf_puts(&b, ",c0,c1");
	route_ok(b.data, &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(r.nchannels, ROUTE_MAX_CHANNELS);
	route_fini(&r);

	buf_puts(&b, ",c64");
	route_bad(b.data, "more than 64 channels");
	buf_fini(&b);
}
END_TEST

START_TEST(test_128_char_names)
{
	char name[ROUTE_MAX_CHANNEL_LEN + 2], *uri;
	struct route r;

	memset(name, 'x', sizeof name - 1);
	name[ROUTE_MAX_CHANNEL_LEN] = '\0';
	ck_assert(route_channel_valid(name));
	uri = xasprintf("/push/channels/%s", name);
	route_ok(uri, &r, ROUTE_CHANNEL, "/push");
	ck_assert_uint_eq(strlen(r.channels[0]), 128);
	route_fini(&r);
	free(uri);

	name[ROUTE_MAX_CHANNEL_LEN] = 'x';
	name[ROUTE_MAX_CHANNEL_LEN + 1] = '\0';
	ck_assert(!route_channel_valid(name));
	uri = xasprintf("/push/channels/%s", name);
	route_bad(uri, "129 characters");
	free(uri);
}
END_TEST

START_TEST(test_seq_bounds)
{
	struct route r;

	route_ok("/push/channels/a/messages/1", &r, ROUTE_MESSAGE, "/push");
	ck_assert_int_eq(r.seq, 1);
	route_fini(&r);
	route_ok("/push/channels/a/messages/9223372036854775807", &r, ROUTE_MESSAGE, "/push");
	ck_assert_int_eq(r.seq, INT64_MAX);
	route_fini(&r);
	route_bad("/push/channels/a/messages/0", "message seq \"0\"");
	route_bad("/push/channels/a/messages/9223372036854775808", "message seq");
	route_bad("/push/channels/a/messages/-1", "message seq");
	route_bad("/push/channels/a/messages/%2B1", "message seq");
	route_bad("/push/channels/a/messages/1x", "message seq");
	route_bad("/push/channels/a/messages/%zz", "message seq");
}
END_TEST

/* ---- Errors ----------------------------------------------------------- */

START_TEST(test_bad_names)
{
	route_bad("/push/channels/a%20b",
		  "channel name \"a b\" has a character outside A-Z a-z 0-9 . _ ~ -");
	route_bad("/push/channels/a%2Fb", "channel name \"a/b\"");
	route_bad("/push/channels/ok,b%21d", "channel name \"b!d\"");
	route_bad("/push/channels/a,,b", "empty name");
	route_bad("/push/channels/a,", "empty name");
	route_bad("/push/channels/,a", "empty name");
	route_bad("/push/channels//", "empty");
	route_bad("/push/channels/%C3%A9", "character outside");
	route_bad("/push/channels/a,b/info", "exactly one channel");
	route_bad("/push/channels/a,b/messages/1", "exactly one channel");
	route_bad("/push/channels/a b/info", "channel name \"a b\"");
}
END_TEST

START_TEST(test_bad_escapes)
{
	route_bad("/push/channels/%zz", "bad percent escape");
	route_bad("/push/channels/a%00b", "bad percent escape");
	route_bad("/push/channels/a%4", "bad percent escape");
	route_bad("/push/channels/a%", "bad percent escape");
	route_bad("/push/channels/%zz/info", "bad percent escape");

	ck_assert_ptr_null(route_percent_decode("%zz", 3, 0));
	ck_assert_ptr_null(route_percent_decode("%00", 3, 0));
	ck_assert_ptr_null(route_percent_decode("%4", 2, 0));
	ck_assert_ptr_null(route_percent_decode("a%", 2, 0));
	ck_assert_ptr_null(route_percent_decode("a\0b", 3, 0));
}
END_TEST

START_TEST(test_query_bad_escape)
{
	int bad = 0;

	ck_assert_ptr_null(route_query_get("since=%zz", "since", &bad));
	ck_assert_int_eq(bad, 1);
	ck_assert_ptr_null(route_query_get("since=%4", "since", &bad));
	ck_assert_int_eq(bad, 1);
	/* First occurrence wins, even when bad. */
	bad = 0;
	ck_assert_ptr_null(route_query_get("since=%00&since=4", "since", &bad));
	ck_assert_int_eq(bad, 1);
	/* bad is never lowered: one flag collects several lookups. */
	free(route_query_get("a=1", "a", &bad));
	ck_assert_int_eq(bad, 1);
	bad = 0;
	free(route_query_get("a=%zz&b=2", "b", &bad));
	ck_assert_int_eq(bad, 0); /* a bad value of another key does not count */
}
END_TEST

START_TEST(test_not_found)
{
	route_notfound("/");
	route_notfound("");
	route_notfound(NULL);
	route_notfound("/push");
	route_notfound("/push/");
	route_notfound("/push/channel/a");
	route_notfound("/push/channels/a/messages");
	route_notfound("/push/channels/a/info/x");
	route_notfound("/push/channels/a/b");
	route_notfound("/push/Status");
	route_notfound("/push/channels/a/./info/x");
	route_notfound("/push/channels/a//");
	route_notfound("push/channels/a");
	route_notfound("/push/%zz/b");
	route_notfound("?/push/status");
}
END_TEST

START_TEST(test_cause_optional)
{
	struct route r;

	ck_assert_int_eq(route_parse("/push/channels/%zz", &r, NULL, NULL), -1);
	route_fini(&r);
	route_fini(&r); /* twice is harmless */
}
END_TEST

Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_test(tc, test_every_kind_every_mount);
	tcase_add_test(tc, test_longest_pattern_first);
	tcase_add_test(tc, test_query_and_fragment);
	tcase_add_test(tc, test_trailing_slash);
	tcase_add_test(tc, test_percent_decoding);
	tcase_add_test(tc, test_channel_lists);
	tcase_add_test(tc, test_channel_valid);
	tcase_add_test(tc, test_event_valid);
	tcase_add_test(tc, test_query_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_test(tc, test_64_channels);
	tcase_add_test(tc, test_128_char_names);
	tcase_add_test(tc, test_seq_bounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_test(tc, test_bad_names);
	tcase_add_test(tc, test_bad_escapes);
	tcase_add_test(tc, test_query_bad_escape);
	tcase_add_test(tc, test_not_found);
	tcase_add_test(tc, test_cause_optional);
	suite_add_tcase(s, tc);
	return s;
}
