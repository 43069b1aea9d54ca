/* SPDX-License-Identifier: MIT */
/* Unit tests of util.c: allocation helpers, number parsing, struct buf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"
#include "util.h"

START_TEST(test_buf_grows_and_terminates)
{
	struct buf b;
	int i;

	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	ck_assert_uint_eq(b.len, strlen(b.data));
	ck_assert(strncmp(b.data, "0,1,2,", 6) == 0);
	ck_assert(strstr(b.data, "999,") != NULL);
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_append(&b, "a\0b", 3);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_int_eq(b.data[1], '\0');
	ck_assert_int_eq(b.data[3], '\0');
	buf_fini(&b);
}
END_TEST

START_TEST(test_buf_steal)
{
	struct buf b;
	char *s;

	buf_init(&b);
	buf_puts(&b, "hello");
	buf_putc(&b, '!');
	s = buf_steal(&b);
	ck_assert_str_eq(s, "hello!");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
}
END_TEST

START_TEST(test_xasprintf)
{
	char *s = xasprintf("%s-%d", "a", 42);

	ck_assert_str_eq(s, "a-42");
	free(s);
	s = xstrndup("abcdef", 3);
	ck_assert_str_eq(s, "abc");
	free(s);
}
END_TEST

START_TEST(test_parse_i64)
{
	int64_t v = -7;

	ck_assert_int_eq(util_parse_i64("0", 0, 10, &v), 0);
	ck_assert_int_eq(v, 0);
	ck_assert_int_eq(util_parse_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
	ck_assert(v == INT64_MAX);
	v = -7;
	ck_assert_int_eq(util_parse_i64("9223372036854775808", 0, INT64_MAX, &v), -1);
	ck_assert_int_eq(util_parse_i64("", 0, 10, &v), -1);
	ck_assert_int_eq(util_parse_i64("-1", -5, 10, &v), -1);
	ck_assert_int_eq(util_parse_i64("1x", 0, 10, &v), -1);
	ck_assert_int_eq(util_parse_i64(" 1", 0, 10, &v), -1);
	ck_assert_int_eq(util_parse_i64("11", 0, 10, &v), -1);
	ck_assert_int_eq(util_parse_i64("4", 5, 10, &v), -1);
	ck_assert_int_eq(v, -7);
}
END_TEST

START_TEST(test_clocks_advance)
{
	int64_t a = util_mono_us(), now = util_now_ms();

	ck_assert(now > 1600000000000LL);
	ck_assert(util_mono_us() >= a);
	ck_assert(util_mono_ms() >= a / 1000);
}
END_TEST

Suite *
util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *core = tcase_create("Core"), *limits = tcase_create("Limits");

	tcase_add_test(core, test_buf_grows_and_terminates);
	tcase_add_test(core, test_buf_steal);
	tcase_add_test(core, test_xasprintf);
	tcase_add_test(core, test_clocks_advance);
	tcase_add_test(limits, test_parse_i64);
	suite_add_tcase(s, core);
	suite_add_tcase(s, limits);
	return s;
}
