/* Unit tests of json_parse.c: batch publish bodies and WebSocket command
 * objects read with json1 on a private in-memory connection, their limits
 * checked as they are read, and UTF-8 required of the text and of every
 * string decoded from it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "suites.h"

static struct json_parse *jp;

struct json_parse *
test_json_parse_open(void)
{
	char *cause = NULL;
	struct json_parse *p = json_parse_new(&cause);

	ck_assert_msg(p != NULL, "json_parse_new: %s", cause != NULL ? cause : "?");
	return p;
}

static void
setup(void)
{
	jp = test_json_parse_open();
}

static void
teardown(void)
{
	json_parse_free(jp);
}

/* ---- Core ---------------------------------------------------------------- */

START_TEST(test_valid)
{
	ck_assert_int_eq(json_parse_valid(jp, "{\"a\": [1, 2]}", 13), 1);
	ck_assert_int_eq(json_parse_valid(jp, "{\"a\": [1, 2]", 12), 0);
	ck_assert_int_eq(json_parse_valid(jp, "{}xyz", 2), 1); /* only len bytes count */
	ck_assert_int_eq(json_parse_valid(jp, "{}\0", 3), 0);
	ck_assert_int_eq(json_parse_valid(jp, "", 0), 0);
	ck_assert_int_eq(json_parse_valid(jp, "\"\xc3\xa9\"", 4), 1);
	/* json_valid alone accepts these: RFC 8259 §8.1 does not. */
	ck_assert_int_eq(json_parse_valid(jp, "\"\xff\"", 3), 0);
	ck_assert_int_eq(json_parse_valid(jp, "{\"a\":\"\xc3\"}", 9), 0);
	ck_assert_int_eq(json_parse_valid(jp, "\"\xed\xa0\x80\"", 5), 0); /* a surrogate */
}
END_TEST

START_TEST(test_parse_batch)
{
	static const char json[] = "[{\"channel\":\"a\",\"data\":\"hello\\nworld\"},"
				   " {\"channel\":\"b\",\"event\":\"tick\",\"data\":{\"x\":[1,true,null]}},"
				   " {\"channel\":\"c\",\"data\":42,\"content_type\":\"text/x-number\"},"
				   " {\"channel\":\"a\",\"data\":\"\\u00e9\\\\u0000z\",\"event\":null},"
				   " {\"channel\":\"d\",\"data\":null,\"idempotency_key\":\"k-7\"}]";
	struct store_pub *p = NULL;
	size_t n = 0;
	char *cause = NULL;

	ck_assert_int_eq(json_parse_batch(jp, json, strlen(json), 5, 100, &p, &n, &cause), JSON_PARSE_OK);
	ck_assert_ptr_null(cause);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(p[0].channel, "a");
	ck_assert_ptr_null(p[0].event);
	ck_assert_str_eq(p[0].content_type, "text/plain; charset=utf-8");
	ck_assert_uint_eq(p[0].body_len, 11);
	ck_assert_mem_eq(p[0].body, "hello\nworld", 11);
	ck_assert_str_eq(p[1].channel, "b");
	ck_assert_str_eq(p[1].event, "tick");
	ck_assert_str_eq(p[1].content_type, "application/json");
	ck_assert_str_eq((const char *)p[1].body, "{\"x\":[1,true,null]}");
	ck_assert_str_eq(p[2].content_type, "text/x-number");
	ck_assert_str_eq((const char *)p[2].body, "42");
	ck_assert_ptr_null(p[3].event);
	ck_assert_str_eq((const char *)p[3].body, "\xc3\xa9\\u0000z"); /* an escaped backslash */
	ck_assert_uint_eq(p[3].body_len, 9);
	ck_assert_str_eq(p[4].content_type, "application/json");
	ck_assert_str_eq((const char *)p[4].body, "null");
	ck_assert_ptr_null(p[4].body_path);
	ck_assert_ptr_null(p[0].idem_key);
	ck_assert_str_eq(p[4].idem_key, "k-7");
	free(p);
}
END_TEST

START_TEST(test_object)
{
	struct json_parse_member *mem = NULL;
	char *cause = NULL;
	size_t n = 0;
	const char *j = "{\"a\":1,\"b\":\"x\\ny\",\"c\":null,\"d\":[1, 2],\"a\":2}";

	ck_assert_int_eq(json_parse_object(jp, j, strlen(j), &mem, &n, &cause), JSON_PARSE_OK);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(mem[0].key, "a");
	ck_assert_str_eq(mem[0].type, "integer");
	ck_assert_str_eq(mem[0].text, "1");
	ck_assert_str_eq(mem[1].type, "text");
	ck_assert_str_eq(mem[1].text, "x\ny");
	ck_assert_uint_eq(mem[1].text_len, 3);
	ck_assert_str_eq(mem[2].type, "null");
	ck_assert_str_eq(mem[3].text, "[1,2]");
	free(mem);
	ck_assert_int_eq(json_parse_object(jp, "{}", 2, &mem, &n, &cause), JSON_PARSE_OK);
	ck_assert_uint_eq(n, 0);
	free(mem);
	ck_assert_int_eq(json_parse_object(jp, "\"s\"", 3, &mem, &n, &cause), JSON_PARSE_INVALID);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_ptr_null(mem);
	ck_assert_int_eq(json_parse_object(jp, "{\"a\":1}\0x", 9, &mem, &n, NULL), JSON_PARSE_INVALID);
}
END_TEST

/* ---- Errors -------------------------------------------------------------- */

START_TEST(test_parse_batch_errors)
{
	static const struct {
		const char *json, *cause;
	} cases[] = {
		{ "", "not valid JSON" },
		{ "nope", "not valid JSON" },
		{ "[{\"channel\":\"a\",\"data\":1}", "not valid JSON" },
		{ "{\"channel\":\"a\",\"data\":1}", "must be a JSON array" },
		{ "[]", "no message" },
		{ "[1]", "element 0: not an object" },
		{ "[{\"channel\":\"a\",\"data\":1},\"x\"]", "element 1: not an object" },
		{ "[{\"data\":1}]", "element 0: \"channel\" is missing" },
		{ "[{\"channel\":\"a\",\"data\":1},{\"channel\":\"a\",\"data\":1},"
		  "{\"channel\":\"a\",\"data\":1},{\"channel\":5,\"data\":1}]",
		  "element 3: \"channel\" must be a string" },
		{ "[{\"channel\":null,\"data\":1}]", "\"channel\" must be a string" },
		{ "[{\"channel\":\"a\"}]", "element 0: \"data\" is missing" },
		{ "[{\"channel\":\"a\",\"data\":1,\"event\":3}]", "\"event\" must be a string" },
		{ "[{\"channel\":\"a\",\"data\":1,\"content_type\":[]}]",
		  "\"content_type\" must be a string" },
		{ "[{\"channel\":\"a\",\"data\":1,\"idempotency_key\":7}]", "\"idempotency_key\" must be a string" },
		{ "[{\"channel\":\"a\\u0000b\",\"data\":1}]", "NUL" },
	};
	struct store_pub *p;
	size_t i, n;
	char *cause;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p = (struct store_pub *)&n;
		n = 99;
		cause = NULL;
		ck_assert_msg(json_parse_batch(jp, cases[i].json, strlen(cases[i].json), 10, 100, &p, &n,
					       &cause) == JSON_PARSE_INVALID,
			      "case %zu", i);
		ck_assert_ptr_null(p);
		ck_assert_uint_eq(n, 0);
		ck_assert_msg(cause != NULL && strstr(cause, cases[i].cause) != NULL, "case %zu: %s", i,
			      cause != NULL ? cause : "(null)");
		free(cause);
	}
	/* A NUL inside the text is not JSON, even after a valid prefix. */
	ck_assert_int_eq(
		json_parse_batch(jp, "[{\"channel\":\"a\",\"data\":1}]\0x", 28, 10, 100, &p, &n, NULL),
		JSON_PARSE_INVALID);
}
END_TEST

/* Invalid UTF-8 in the text, and strings that decode to it (a lone
 * surrogate escape, which json1 decodes to the bytes ED A0 80). */
START_TEST(test_utf8)
{
	static const char *const bad[] = {
		"[{\"channel\":\"a\",\"data\":\"\xff\"}]",
		"[{\"channel\":\"a\",\"data\":{\"k\":\"\xc3\"}}]",
		"[{\"channel\":\"a\",\"data\":\"x\\ud800y\"}]",
		"[{\"channel\":\"a\",\"event\":\"\\udfff\",\"data\":1}]",
		"[{\"channel\":\"a\",\"content_type\":\"text/\\ud800\",\"data\":1}]",
	};
	struct json_parse_member *mem;
	struct store_pub *p;
	char *cause = NULL;
	size_t i, n;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(json_parse_batch(jp, bad[i], strlen(bad[i]), 10, 100, &p, &n, &cause) ==
				      JSON_PARSE_BAD_UTF8,
			      "case %zu", i);
		ck_assert_ptr_null(p);
		ck_assert_ptr_nonnull(cause);
		free(cause);
		cause = NULL;
	}
	/* A surrogate pair is one character; inside JSON data it stays escaped. */
	ck_assert_int_eq(json_parse_batch(jp, "[{\"channel\":\"a\",\"data\":\"\\ud83d\\ude00\"}]", 39, 10,
					  100, &p, &n, NULL),
			 JSON_PARSE_OK);
	ck_assert_str_eq((const char *)p[0].body, "\xf0\x9f\x98\x80");
	free(p);
	ck_assert_int_eq(json_parse_object(jp, "{\"a\":\"\xff\"}", 9, &mem, &n, NULL), JSON_PARSE_BAD_UTF8);
	ck_assert_int_eq(json_parse_object(jp, "{\"a\":\"\\ud800\"}", 14, &mem, &n, NULL),
			 JSON_PARSE_BAD_UTF8);
	ck_assert_int_eq(json_parse_object(jp, "{\"\\udc00\":1}", 12, &mem, &n, NULL), JSON_PARSE_BAD_UTF8);
	ck_assert_ptr_null(mem);
}
END_TEST

/* ---- Limits -------------------------------------------------------------- */

/* The element count is refused from json_array_length, before any element
 * is read; a data over its limit at its own element. */
START_TEST(test_batch_limits)
{
	static const char tricky[] = "[{\"channel\":\"a\",\"data\":[\"x,]\\\",\",{\"y\":[1,2]},3]}]";
	static const char three[] = "[{\"channel\":\"a\",\"data\":1},{\"channel\":\"a\",\"data\":\"12345\"},"
				    "{\"channel\":\"a\",\"data\":[\"123456\"]}]";
	struct store_pub *p = NULL;
	char *cause = NULL;
	size_t n = 0;

	ck_assert_int_eq(json_parse_batch(jp, three, strlen(three), 2, 100, &p, &n, &cause),
			 JSON_PARSE_TOO_MANY);
	ck_assert_ptr_null(p);
	ck_assert_msg(strstr(cause, "more than 2 messages") != NULL, "%s", cause);
	free(cause);
	/* Counted without parsing: commas inside strings and nested values do
	 * not count, and a count over the limit is refused before json1 reads
	 * the text (" [1,2,3," is not even valid JSON). */
	ck_assert_int_eq(json_parse_batch(jp, tricky, strlen(tricky), 1, 100, &p, &n, NULL), JSON_PARSE_OK);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq((const char *)p[0].body, "[\"x,]\\\",\",{\"y\":[1,2]},3]");
	free(p);
	ck_assert_int_eq(json_parse_batch(jp, " [1,2,3,", 8, 2, 100, &p, &n, NULL), JSON_PARSE_TOO_MANY);
	ck_assert_int_eq(json_parse_batch(jp, "[1,2", 4, 2, 100, &p, &n, NULL), JSON_PARSE_INVALID);
	ck_assert_int_eq(json_parse_batch(jp, three, strlen(three), 3, 4, &p, &n, &cause),
			 JSON_PARSE_TOO_LARGE);
	ck_assert_msg(strstr(cause, "element 1: the message is 5 bytes; the limit is 4") != NULL, "%s",
		      cause);
	free(cause);
	ck_assert_int_eq(json_parse_batch(jp, three, strlen(three), 3, 5, &p, &n, &cause),
			 JSON_PARSE_TOO_LARGE);
	ck_assert_msg(strstr(cause, "element 2: the message is 10 bytes") != NULL, "%s", cause);
	free(cause);
	ck_assert_int_eq(json_parse_batch(jp, three, strlen(three), 3, 10, &p, &n, NULL), JSON_PARSE_OK);
	ck_assert_uint_eq(n, 3);
	free(p);
}
END_TEST

/* Two parsers are independent: each owner (a request thread, the WebSocket
 * daemon) holds its own. */
START_TEST(test_two_parsers)
{
	struct json_parse *other = json_parse_new(NULL);
	struct json_parse_member *a = NULL, *b = NULL;
	size_t na = 0, nb = 0;

	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(json_parse_object(jp, "{\"x\":1}", 7, &a, &na, NULL), JSON_PARSE_OK);
	ck_assert_int_eq(json_parse_object(other, "{\"y\":2,\"z\":3}", 13, &b, &nb, NULL), JSON_PARSE_OK);
	ck_assert_uint_eq(na, 1);
	ck_assert_uint_eq(nb, 2);
	ck_assert_str_eq(a[0].key, "x");
	ck_assert_str_eq(b[1].key, "z");
	free(a);
	free(b);
	json_parse_free(other);
	json_parse_free(NULL);
}
END_TEST

Suite *
json_parse_suite(void)
{
	Suite *s = suite_create("json_parse");
	TCase *tc = tcase_create("Core");
	TCase *errors = tcase_create("Errors");
	TCase *limits = tcase_create("Limits");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_valid);
	tcase_add_test(tc, test_parse_batch);
	tcase_add_test(tc, test_object);
	tcase_add_test(tc, test_two_parsers);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_add_test(errors, test_parse_batch_errors);
	tcase_add_test(errors, test_utf8);
	suite_add_tcase(s, errors);
	tcase_add_checked_fixture(limits, setup, teardown);
	tcase_add_test(limits, test_batch_limits);
	suite_add_tcase(s, limits);
	return s;
}
