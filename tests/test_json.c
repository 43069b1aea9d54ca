/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcgi/json.c: string escaping (RFC 8259 §7), UTF-8 validation and
 * replacement, base64 (RFC 4648 §10 vectors) and the message object.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "suites.h"

/* Escape len bytes of s and compare with the expected JSON text. */
static void
check_string(const char *s, size_t len, const char *want)
{
	struct buf b;

	buf_init(&b);
	json_append_string(&b, s, len);
	ck_assert_uint_eq(b.len, strlen(want));
	ck_assert_str_eq(b.data, want);
	buf_fini(&b);
}

#define CHECK_STRING(lit, want) check_string(lit, sizeof(lit) - 1, want)

static void
check_base64(const char *in, const char *want)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "<");
	json_append_base64(&b, (const unsigned char *)in, strlen(in));
	ck_assert_str_eq(b.data + 1, want);
	buf_fini(&b);
}

static char *
message_json(const struct msg *m, const char *type)
{
	struct buf b;

	buf_init(&b);
	json_append_message(&b, m, type);
	return buf_steal(&b);
}

/* ---- Core ------------------------------------------------------------- */

START_TEST(test_plain_string)
{
	CHECK_STRING("", "\"\"");
	CHECK_STRING("hello, world", "\"hello, world\"");
	CHECK_STRING("/ and \x7f stay", "\"/ and \x7f stay\"");
}
END_TEST

START_TEST(test_every_escape)
{
	CHECK_STRING("\"", "\"\\\"\"");
	CHECK_STRING("\\", "\"\\\\\"");
	CHECK_STRING("\n\r\t\b\f", "\"\\n\\r\\t\\b\\f\"");
	CHECK_STRING("a\x01z", "\"a\\u0001z\"");
	CHECK_STRING("\x1f\x0b\x0e", "\"\\u001f\\u000b\\u000e\"");
	check_string("a\0b", 3, "\"a\\u0000b\"");
}
END_TEST

START_TEST(test_every_control_char)
{
	char in[1], want[16];
	int c;

	for (c = 0; c < 0x20; c++) {
		in[0] = (char)c;
		switch (c) {
		case '\b': strcpy(want, "\"\\b\""); break;
		case '\f': strcpy(want, "\"\\f\""); break;
		case '\n': strcpy(want, "\"\\n\""); break;
		case '\r': strcpy(want, "\"\\r\""); break;
		case '\t': strcpy(want, "\"\\t\""); break;
		default: snprintf(want, sizeof want, "\"\\u%04x\"", c); break;
		}
		check_string(in, 1, want);
	}
}
END_TEST

START_TEST(test_valid_utf8_passes)
{
	/* 2, 3 and 4-byte sequences at their boundaries. */
	CHECK_STRING("\xc2\x80 \xdf\xbf", "\"\xc2\x80 \xdf\xbf\"");
	CHECK_STRING("\xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80",
		     "\"\xe0\xa0\x80 \xef\xbf\xbf \xed\x9f\xbf \xee\x80\x80\"");
	CHECK_STRING("\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf", "\"\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"");
	CHECK_STRING("caf\xc3\xa9 \xe2\x82\xac", "\"caf\xc3\xa9 \xe2\x82\xac\"");
}
END_TEST

START_TEST(test_line_separators)
{
	CHECK_STRING("a\xe2\x80\xa8z", "\"a\\u2028z\"");
	CHECK_STRING("\xe2\x80\xa9", "\"\\u2029\"");
	/* Neighbours are left alone. */
	CHECK_STRING("\xe2\x80\xa7\xe2\x80\xaa", "\"\xe2\x80\xa7\xe2\x80\xaa\"");
}
END_TEST

START_TEST(test_cstr)
{
	struct buf b;

	buf_init(&b);
	json_append_cstr(&b, NULL);
	buf_puts(&b, ",");
	json_append_cstr(&b, "x\"y");
	ck_assert_str_eq(b.data, "null,\"x\\\"y\"");
	buf_fini(&b);
}
END_TEST

START_TEST(test_base64_rfc4648)
{
	/* RFC 4648 §10. */
	check_base64("", "");
	check_base64("f", "Zg==");
	check_base64("fo", "Zm8=");
	check_base64("foo", "Zm9v");
	check_base64("foob", "Zm9vYg==");
	check_base64("fooba", "Zm9vYmE=");
	check_base64("foobar", "Zm9vYmFy");
}
END_TEST

START_TEST(test_base64_all_bytes)
{
	unsigned char in[3] = {0xfb, 0xff, 0xbf};
	struct buf b;

	buf_init(&b);
	json_append_base64(&b, in, 3);
	ck_assert_str_eq(b.data, "+/+/");
	buf_fini(&b);
}
END_TEST

START_TEST(test_content_types)
{
	ck_assert(json_content_type_is_json("application/json"));
	ck_assert(json_content_type_is_json("Application/JSON; charset=utf-8"));
	ck_assert(json_content_type_is_json("application/ld+json"));
	ck_assert(json_content_type_is_json("application/vnd.api+JSON"));
	ck_assert(!json_content_type_is_json(NULL));
	ck_assert(!json_content_type_is_json("text/json5"));
	ck_assert(!json_content_type_is_json("application/jsonx"));
	ck_assert(!json_content_type_is_json("+json"));
	ck_assert(!json_content_type_is_json("application/+json-seq"));

	ck_assert(json_content_type_is_text(NULL));
	ck_assert(json_content_type_is_text("text/plain"));
	ck_assert(json_content_type_is_text("TEXT/html; charset=utf-8"));
	ck_assert(json_content_type_is_text("application/x-www-form-urlencoded"));
	ck_assert(json_content_type_is_text("application/xml"));
	ck_assert(json_content_type_is_text("application/javascript"));
	ck_assert(!json_content_type_is_text("application/octet-stream"));
	ck_assert(!json_content_type_is_text("image/png"));
	ck_assert(!json_content_type_is_text("application/json"));
	ck_assert(!json_content_type_is_text("text"));
}
END_TEST

START_TEST(test_message_json_body)
{
	struct msg m = {
		.seq = 42, .time_ms = 1700000000123, .channel = "news", .event = "update",
		.content_type = "application/json", .body = (const unsigned char *)"{\"a\":[1,2]}",
		.body_len = 11, .body_is_json = 1,
	};
	char *s = message_json(&m, NULL);

	ck_assert_str_eq(s, "{\"channel\":\"news\",\"seq\":42,\"time\":1700000000123,\"event\":\"update\","
			    "\"content_type\":\"application/json\",\"data\":{\"a\":[1,2]}}");
	free(s);
}
END_TEST

START_TEST(test_message_text_body_no_event)
{
	struct msg m = {
		.seq = 1, .time_ms = 5, .channel = "c", .event = NULL,
		.content_type = "text/plain; charset=utf-8", .body = (const unsigned char *)"line1\nline2",
		.body_len = 11, .body_is_json = 0,
	};
	char *s = message_json(&m, "message");

	ck_assert_str_eq(s, "{\"type\":\"message\",\"channel\":\"c\",\"seq\":1,\"time\":5,"
			    "\"content_type\":\"text/plain; charset=utf-8\",\"data\":\"line1\\nline2\"}");
	free(s);
}
END_TEST

START_TEST(test_message_binary_body)
{
	struct msg m = {
		.seq = 7, .time_ms = 9, .channel = "bin", .event = NULL,
		.content_type = "application/octet-stream", .body = (const unsigned char *)"foobar",
		.body_len = 6, .body_is_json = 0,
	};
	char *s = message_json(&m, NULL);

	/* Valid UTF-8, but the type is not text: base64 all the same. */
	ck_assert_str_eq(s, "{\"channel\":\"bin\",\"seq\":7,\"time\":9,\"content_type\":"
			    "\"application/octet-stream\",\"data\":\"Zm9vYmFy\",\"encoding\":\"base64\"}");
	free(s);
}
END_TEST

START_TEST(test_message_invalid_text_body)
{
	struct msg m = {
		.seq = 8, .time_ms = 9, .channel = "t", .event = "e",
		.content_type = "text/plain", .body = (const unsigned char *)"\xff",
		.body_len = 1, .body_is_json = 0,
	};
	char *s = message_json(&m, NULL);

	ck_assert_str_eq(s, "{\"channel\":\"t\",\"seq\":8,\"time\":9,\"event\":\"e\",\"content_type\":"
			    "\"text/plain\",\"data\":\"/w==\",\"encoding\":\"base64\"}");
	free(s);
}
END_TEST

START_TEST(test_message_null_content_type)
{
	struct msg m = {
		.seq = 3, .time_ms = 4, .channel = "n", .event = NULL,
		.content_type = NULL, .body = (const unsigned char *)"hi",
		.body_len = 2, .body_is_json = 0,
	};
	char *s = message_json(&m, NULL);

	ck_assert_str_eq(s, "{\"channel\":\"n\",\"seq\":3,\"time\":4,\"content_type\":null,\"data\":\"hi\"}");
	free(s);
}
END_TEST

START_TEST(test_message_appends)
{
	struct msg m = {
		.seq = 1, .time_ms = 1, .channel = "a", .content_type = "text/plain",
		.body = (const unsigned char *)"x", .body_len = 1,
	};
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "[");
	json_append_message(&b, &m, NULL);
	buf_puts(&b, ",");
	json_append_message(&b, &m, NULL);
	buf_puts(&b, "]");
	ck_assert_str_eq(b.data, "[{\"channel\":\"a\",\"seq\":1,\"time\":1,\"content_type\":\"text/plain\","
				 "\"data\":\"x\"},{\"channel\":\"a\",\"seq\":1,\"time\":1,"
				 "\"content_type\":\"text/plain\",\"data\":\"x\"}]");
	buf_fini(&b);
}
END_TEST

/* ---- Limits ----------------------------------------------------------- */

START_TEST(test_large_string)
{
	size_t n = 1 << 20, i;
	char *in = xmalloc(n);
	struct buf b;

	for (i = 0; i < n; i++)
		in[i] = i % 1000 == 999 ? '\n' : 'a';
	buf_init(&b);
	json_append_string(&b, in, n);
	ck_assert_uint_eq(b.len, n + 2 + n / 1000);
	ck_assert_int_eq(b.data[0], '"');
	ck_assert_int_eq(b.data[b.len - 1], '"');
	ck_assert(memcmp(b.data + 999, "a\\na", 4) == 0);
	buf_fini(&b);
	free(in);
}
END_TEST

START_TEST(test_large_base64)
{
	size_t n = 6 * 20000, i; /* spans many internal chunks */
	unsigned char *in = xmalloc(n);
	struct buf b;

	for (i = 0; i < n; i++)
		in[i] = (unsigned char)"foobar"[i % 6];
	buf_init(&b);
	json_append_base64(&b, in, n);
	ck_assert_uint_eq(b.len, n / 3 * 4);
	for (i = 0; i < b.len; i += 8)
		ck_assert(memcmp(b.data + i, "Zm9vYmFy", 8) == 0);
	buf_fini(&b);
	free(in);
}
END_TEST

START_TEST(test_utf8_boundaries)
{
	ck_assert(json_utf8_valid((const unsigned char *)"", 0));
	ck_assert(json_utf8_valid((const unsigned char *)"\x7f", 1));
	ck_assert(json_utf8_valid((const unsigned char *)"\xc2\x80", 2));
	ck_assert(json_utf8_valid((const unsigned char *)"\xed\x9f\xbf", 3));     /* U+D7FF */
	ck_assert(json_utf8_valid((const unsigned char *)"\xee\x80\x80", 3));     /* U+E000 */
	ck_assert(json_utf8_valid((const unsigned char *)"\xf4\x8f\xbf\xbf", 4)); /* U+10FFFF */
}
END_TEST

/* The piecewise check of a spooled body: a sequence cut between two pieces
 * is carried over, anything invalid is refused wherever it falls. */
START_TEST(test_utf8_valid_prefix)
{
	static const unsigned char text[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	size_t len = sizeof text - 1, cut, tail;
	unsigned char piece[16];

	for (cut = 0; cut <= len; cut++) {
		/* The first piece, then its carried tail plus the rest. */
		ck_assert_msg(json_utf8_valid_prefix(text, cut, &tail), "cut %zu", cut);
		ck_assert_uint_le(tail, 3);
		memcpy(piece, text + cut - tail, tail + len - cut);
		ck_assert_msg(json_utf8_valid_prefix(piece, tail + len - cut, &tail), "cut %zu", cut);
		ck_assert_uint_eq(tail, 0);
	}
	ck_assert(json_utf8_valid_prefix((const unsigned char *)"ab\xf0\x9f", 4, &tail));
	ck_assert_uint_eq(tail, 2);
	ck_assert(!json_utf8_valid_prefix((const unsigned char *)"ab\xff", 3, &tail));
	ck_assert(!json_utf8_valid_prefix((const unsigned char *)"\xc3(", 2, &tail));
	ck_assert(!json_utf8_valid_prefix((const unsigned char *)"\xed\xa0", 2, &tail)); /* a surrogate */
	ck_assert(!json_utf8_valid_prefix((const unsigned char *)"\xc0", 1, &tail));     /* never a lead */
}
END_TEST

START_TEST(test_content_type_utf8)
{
	ck_assert(json_content_type_utf8("application/json"));
	ck_assert(json_content_type_utf8("application/ld+json; charset=utf-8"));
	ck_assert(json_content_type_utf8("text/plain"));
	ck_assert(json_content_type_utf8("Text/HTML; Charset=\"UTF-8\""));
	ck_assert(json_content_type_utf8("text/csv; header=present; charset=us-ascii"));
	ck_assert(!json_content_type_utf8("text/plain; charset=iso-8859-1"));
	ck_assert(!json_content_type_utf8("text/plain;charset=windows-1252"));
	ck_assert(!json_content_type_utf8("application/octet-stream"));
	ck_assert(!json_content_type_utf8("image/png"));
	ck_assert(!json_content_type_utf8(NULL));
}
END_TEST

/* ---- Errors ----------------------------------------------------------- */

START_TEST(test_utf8_invalid)
{
	static const struct {
		const char *in;
		size_t len;
		const char *why;
	} bad[] = {
		{"\x80", 1, "lone continuation"},
		{"\xc0\xaf", 2, "overlong 2-byte"},
		{"\xc1\xbf", 2, "overlong 2-byte"},
		{"\xe0\x80\xaf", 3, "overlong 3-byte"},
		{"\xf0\x80\x80\xaf", 4, "overlong 4-byte"},
		{"\xed\xa0\x80", 3, "high surrogate"},
		{"\xed\xbf\xbf", 3, "low surrogate"},
		{"\xf4\x90\x80\x80", 4, "above U+10FFFF"},
		{"\xf5\x80\x80\x80", 4, "lead byte F5"},
		{"\xff", 1, "byte FF"},
		{"\xc3", 1, "truncated 2-byte"},
		{"\xe2\x82", 2, "truncated 3-byte"},
		{"\xf0\x9f\x98", 3, "truncated 4-byte"},
		{"\xe2\x28\xa1", 3, "bad continuation"},
	};
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!json_utf8_valid((const unsigned char *)bad[i].in, bad[i].len), "%s accepted",
			      bad[i].why);
}
END_TEST

START_TEST(test_replacement)
{
	/* One U+FFFD per maximal subpart (Unicode §3.9, WHATWG). */
	CHECK_STRING("a\xffz", "\"a\xef\xbf\xbdz\"");
	CHECK_STRING("\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\"");             /* overlong */
	CHECK_STRING("\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""); /* surrogate */
	CHECK_STRING("\xf4\x90\x80\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	CHECK_STRING("ab\xe2\x82", "\"ab\xef\xbf\xbd\"");                       /* truncated at end */
	CHECK_STRING("\xe2\x82z", "\"\xef\xbf\xbdz\"");                         /* truncated in the middle */
	CHECK_STRING("\xf0\x9f\x98\"", "\"\xef\xbf\xbd\\\"\"");
	CHECK_STRING("\xe2\x28\xa1", "\"\xef\xbf\xbd(\xef\xbf\xbd\"");
}
END_TEST

Suite *
json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_test(tc, test_plain_string);
	tcase_add_test(tc, test_every_escape);
	tcase_add_test(tc, test_every_control_char);
	tcase_add_test(tc, test_valid_utf8_passes);
	tcase_add_test(tc, test_line_separators);
	tcase_add_test(tc, test_cstr);
	tcase_add_test(tc, test_base64_rfc4648);
	tcase_add_test(tc, test_base64_all_bytes);
	tcase_add_test(tc, test_content_types);
	tcase_add_test(tc, test_message_json_body);
	tcase_add_test(tc, test_message_text_body_no_event);
	tcase_add_test(tc, test_message_binary_body);
	tcase_add_test(tc, test_message_invalid_text_body);
	tcase_add_test(tc, test_message_null_content_type);
	tcase_add_test(tc, test_message_appends);
	suite_add_tcase(s, tc);

	tc = tcase_create("Limits");
	tcase_add_test(tc, test_large_string);
	tcase_add_test(tc, test_large_base64);
	tcase_add_test(tc, test_utf8_boundaries);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_test(tc, test_utf8_invalid);
	tcase_add_test(tc, test_utf8_valid_prefix);
	tcase_add_test(tc, test_content_type_utf8);
	tcase_add_test(tc, test_replacement);
	suite_add_tcase(s, tc);
	return s;
}
