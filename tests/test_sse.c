/* SPDX-License-Identifier: MIT */
/* Unit tests of sse.c, the text/event-stream encoder. */
#include <string.h>

#include "sse.h"
#include "suites.h"

static struct msg
msg(int64_t seq, const char *event, const char *body, size_t len)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	m.seq = seq;
	m.event = event;
	m.content_type = "text/plain";
	m.body = (const unsigned char *)body;
	m.body_len = len;
	return m;
}

static void
check_event(const char *body, size_t len, const char *event, const char *want)
{
	struct msg m = msg(42, event, body, len);
	struct buf b;

	buf_init(&b);
	sse_append_event(&b, &m);
	ck_assert_str_eq(b.data, want);
	buf_fini(&b);
}

START_TEST(test_single_line)
{
	check_event("hello", 5, NULL, "id: 42\ndata: hello\n\n");
	check_event("hello", 5, "news", "id: 42\nevent: news\ndata: hello\n\n");
	/* A stored name that is no event name (written before the publish
	 * check, or by hand) adds no field of its own. */
	check_event("hello", 5, "x\nid: 9", "id: 42\ndata: hello\n\n");
}
END_TEST

START_TEST(test_line_endings)
{
	check_event("a\nb", 3, NULL, "id: 42\ndata: a\ndata: b\n\n");
	check_event("a\rb", 3, NULL, "id: 42\ndata: a\ndata: b\n\n");
	check_event("a\r\nb", 4, NULL, "id: 42\ndata: a\ndata: b\n\n");
	/* A trailing newline survives as an empty last data line. */
	check_event("a\n", 2, NULL, "id: 42\ndata: a\ndata:\n\n");
	check_event("a\r\n\r\nb", 6, NULL, "id: 42\ndata: a\ndata:\ndata: b\n\n");
	/* A lone CR at the very end. */
	check_event("a\r", 2, NULL, "id: 42\ndata: a\ndata:\n\n");
}
END_TEST

START_TEST(test_empty_body)
{
	check_event("", 0, NULL, "id: 42\ndata:\n\n");
}
END_TEST

START_TEST(test_leading_space_kept)
{
	/* "data: " strips one space after the colon, so a body's own leading
	 * space survives. */
	check_event(" x", 2, NULL, "id: 42\ndata:  x\n\n");
}
END_TEST

START_TEST(test_long_line_and_utf8)
{
	static char big[100001];
	struct msg m;
	struct buf b;

	memset(big, 'x', sizeof big - 1);
	m = msg(7, NULL, big, sizeof big - 1);
	buf_init(&b);
	sse_append_event(&b, &m);
	ck_assert_uint_eq(b.len, strlen("id: 7\ndata: \n\n") + sizeof big - 1);
	buf_fini(&b);
	check_event("\xc3\xa9t\xc3\xa9 \xe2\x82\xac", 9, NULL, "id: 42\ndata: \xc3\xa9t\xc3\xa9 \xe2\x82\xac\n\n");
}
END_TEST

START_TEST(test_binary_is_base64)
{
	check_event("\xff\x00\x01", 3, NULL, "id: 42\ndata: /wAB\n\n");
}
END_TEST

START_TEST(test_comment_retry_control)
{
	struct buf b;

	buf_init(&b);
	sse_append_comment(&b, "fcpush");
	sse_append_retry(&b, 2000);
	sse_append_control(&b, "gap", "{\"oldest\":5}");
	ck_assert_str_eq(b.data, ": fcpush\nretry: 2000\nevent: gap\ndata: {\"oldest\":5}\n\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_opening)
{
	struct buf b;

	buf_init(&b);
	sse_append_opening(&b, 17, 2000);
	/* The id line with an empty data buffer sets the last event ID and
	 * dispatches nothing (§9.2.6). */
	ck_assert_str_eq(b.data, ": fcpush\nretry: 2000\nid: 17\n\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_gap_deleted)
{
	struct buf b;

	buf_init(&b);
	sse_append_gap(&b, 5, "0123456789abcdef");
	ck_assert_str_eq(b.data, "event: gap\ndata: {\"oldest\":5,\"epoch\":\"0123456789abcdef\"}\n\n");
	buf_reset(&b);
	sse_append_deleted(&b, "news");
	ck_assert_str_eq(b.data, "event: deleted\ndata: {\"channel\":\"news\"}\n\n");
	buf_reset(&b);
	/* The name is JSON-escaped: a line break in it cannot end the data line. */
	sse_append_deleted(&b, "a\"b\nc");
	ck_assert_str_eq(b.data, "event: deleted\ndata: {\"channel\":\"a\\\"b\\nc\"}\n\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_heartbeat_shutdown)
{
	struct buf b;

	buf_init(&b);
	sse_append_heartbeat(&b);
	ck_assert_str_eq(b.data, ": heartbeat\n\n");
	buf_reset(&b);
	sse_append_shutdown(&b);
	ck_assert_str_eq(b.data, ": fcpush is shutting down; reconnect\n\n");
	buf_fini(&b);
}
END_TEST

Suite *
sse_suite(void)
{
	Suite *s = suite_create("sse");
	TCase *core = tcase_create("Core"), *limits = tcase_create("Limits");

	tcase_add_test(core, test_single_line);
	tcase_add_test(core, test_line_endings);
	tcase_add_test(core, test_empty_body);
	tcase_add_test(core, test_leading_space_kept);
	tcase_add_test(core, test_comment_retry_control);
	tcase_add_test(core, test_opening);
	tcase_add_test(core, test_gap_deleted);
	tcase_add_test(core, test_heartbeat_shutdown);
	tcase_add_test(limits, test_long_line_and_utf8);
	tcase_add_test(limits, test_binary_is_base64);
	suite_add_tcase(s, core);
	suite_add_tcase(s, limits);
	return s;
}
