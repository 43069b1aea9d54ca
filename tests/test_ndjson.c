/* SPDX-License-Identifier: MIT */
/* Unit tests of ndjson.c, the application/x-ndjson stream encoder: every
 * piece of its framing, byte for byte. */
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"
#include "suites.h"

/* The framing of one call, as a string the test frees. */
static char *
frame(void (*fn)(struct buf *))
{
	struct buf b;

	buf_init(&b);
	fn(&b);
	return buf_steal(&b);
}

START_TEST(test_message_line)
{
	struct msg m;
	struct buf b;

	memset(&m, 0, sizeof m);
	m.seq = 1;
	m.time_ms = 5;
	m.channel = "c";
	m.content_type = "text/plain";
	m.body = (const unsigned char *)"a\nb";
	m.body_len = 3;
	buf_init(&b);
	ndjson_append_message(&b, &m);
	/* One line: the body's own LF is escaped, the line ends in LF. */
	ck_assert_str_eq(b.data, "{\"type\":\"message\",\"channel\":\"c\",\"seq\":1,\"time\":5,"
				 "\"content_type\":\"text/plain\",\"data\":\"a\\nb\"}\n");
	ck_assert_ptr_null(memchr(b.data, '\n', b.len - 1));
	buf_fini(&b);
}
END_TEST

START_TEST(test_opening_and_heartbeat)
{
	struct buf b;

	buf_init(&b);
	ndjson_append_opening(&b, 1700000000123);
	ck_assert_str_eq(b.data, "{\"type\":\"heartbeat\",\"time\":1700000000123}\n");
	buf_reset(&b);
	ndjson_append_heartbeat(&b, 42);
	ck_assert_str_eq(b.data, "{\"type\":\"heartbeat\",\"time\":42}\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_gap)
{
	struct buf b;

	buf_init(&b);
	ndjson_append_gap(&b, 17, "0123456789abcdef");
	ck_assert_str_eq(b.data, "{\"type\":\"gap\",\"oldest\":17,\"epoch\":\"0123456789abcdef\"}\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_deleted_escapes_name)
{
	struct buf b;

	buf_init(&b);
	ndjson_append_deleted(&b, "news");
	ck_assert_str_eq(b.data, "{\"type\":\"deleted\",\"channel\":\"news\"}\n");
	buf_reset(&b);
	/* A name is JSON-escaped: it cannot end the line or the string. */
	ndjson_append_deleted(&b, "a\"b\nc");
	ck_assert_str_eq(b.data, "{\"type\":\"deleted\",\"channel\":\"a\\\"b\\nc\"}\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_shutdown)
{
	char *s = frame(ndjson_append_shutdown);

	ck_assert_str_eq(s, "{\"type\":\"shutdown\"}\n");
	free(s);
}
END_TEST

Suite *
ndjson_suite(void)
{
	Suite *s = suite_create("ndjson");
	TCase *core = tcase_create("Core");

	tcase_add_test(core, test_message_line);
	tcase_add_test(core, test_opening_and_heartbeat);
	tcase_add_test(core, test_gap);
	tcase_add_test(core, test_deleted_escapes_name);
	tcase_add_test(core, test_shutdown);
	suite_add_tcase(s, core);
	return s;
}
