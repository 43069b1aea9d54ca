/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: the text exposition format, version 0.0.4 (HELP/TYPE lines,
 * label escaping, value formatting) and cumulative histogram buckets. The
 * integration test t_metrics parses whole scrapes with prometheus_client.
 */
#include <pthread.h>
#include <string.h>

#include "metrics.h"
#include "suites.h"

START_TEST(test_counter_and_gauge)
{
	struct buf b;

	buf_init(&b);
	metrics_counter(&b, "fcpush_x_total", "Things done.", 42);
	metrics_gauge(&b, "fcpush_y", "A level.", 0.5);
	ck_assert_str_eq(b.data, "# HELP fcpush_x_total Things done.\n"
				 "# TYPE fcpush_x_total counter\n"
				 "fcpush_x_total 42\n"
				 "# HELP fcpush_y A level.\n"
				 "# TYPE fcpush_y gauge\n"
				 "fcpush_y 0.5\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_labels_escaped)
{
	struct buf b;

	buf_init(&b);
	metrics_family(&b, "fcpush_z_total", "counter", "back\\slash and\nnewline \"quoted\"");
	metrics_sample(&b, "fcpush_z_total", "transport", "a\"b\\c\nd", 3);
	ck_assert_str_eq(b.data, "# HELP fcpush_z_total back\\\\slash and\\nnewline \"quoted\"\n"
				 "# TYPE fcpush_z_total counter\n"
				 "fcpush_z_total{transport=\"a\\\"b\\\\c\\nd\"} 3\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_values)
{
	struct buf b;

	buf_init(&b);
	metrics_sample(&b, "a", NULL, NULL, 0);
	metrics_sample(&b, "a", NULL, NULL, 18446744073709551615.0); /* 2^64: too big to print exactly */
	metrics_sample(&b, "a", NULL, NULL, 9007199254740992.0);
	metrics_sample(&b, "a", NULL, NULL, -3);
	metrics_sample(&b, "a", NULL, NULL, 1e-6);
	metrics_sample(&b, "a", NULL, NULL, 1.0 / 0.0);
	metrics_sample(&b, "a", NULL, NULL, 0.0 / 0.0);
	ck_assert_str_eq(b.data, "a 0\na 1.84467440737096e+19\na 9007199254740992\na -3\na 1e-06\na +Inf\na NaN\n");
	buf_fini(&b);
}
END_TEST

static const int64_t bounds[] = {100, 1000, 10000};

START_TEST(test_histogram_cumulative)
{
	struct metrics_hist h;
	struct buf b;

	metrics_hist_init(&h, bounds, 3);
	metrics_hist_observe(&h, 50);
	metrics_hist_observe(&h, 100); /* bounds are inclusive: le="0.0001" */
	metrics_hist_observe(&h, 101);
	metrics_hist_observe(&h, 20000);
	buf_init(&b);
	metrics_histogram(&b, "fcpush_wake_latency_seconds", "Latency.", &h, 1e-6);
	ck_assert_str_eq(b.data, "# HELP fcpush_wake_latency_seconds Latency.\n"
				 "# TYPE fcpush_wake_latency_seconds histogram\n"
				 "fcpush_wake_latency_seconds_bucket{le=\"0.0001\"} 2\n"
				 "fcpush_wake_latency_seconds_bucket{le=\"0.001\"} 3\n"
				 "fcpush_wake_latency_seconds_bucket{le=\"0.01\"} 3\n"
				 "fcpush_wake_latency_seconds_bucket{le=\"+Inf\"} 4\n"
				 "fcpush_wake_latency_seconds_sum 0.020251\n"
				 "fcpush_wake_latency_seconds_count 4\n");
	buf_fini(&b);
}
END_TEST

START_TEST(test_histogram_too_many_bounds)
{
	static const int64_t many[METRICS_HIST_MAX_BUCKETS + 4] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
								   16, 17, 18, 19, 20};
	struct metrics_hist h;

	metrics_hist_init(&h, many, METRICS_HIST_MAX_BUCKETS + 4);
	ck_assert_uint_eq(h.nbounds, METRICS_HIST_MAX_BUCKETS);
	metrics_hist_observe(&h, 1000);
	ck_assert_uint_eq(atomic_load(&h.counts[METRICS_HIST_MAX_BUCKETS]), 1);
}
END_TEST

#define OBSERVERS 4
#define OBSERVATIONS 10000

static void *
observe_many(void *arg)
{
	struct metrics_hist *h = arg;
	int i;

	for (i = 0; i < OBSERVATIONS; i++)
		metrics_hist_observe(h, i % 3 == 0 ? 10 : 500);
	return NULL;
}

START_TEST(test_histogram_threads)
{
	struct metrics_hist h;
	pthread_t t[OBSERVERS];
	uint64_t total = 0;
	size_t i;

	metrics_hist_init(&h, bounds, 3);
	for (i = 0; i < OBSERVERS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, observe_many, &h), 0);
	for (i = 0; i < OBSERVERS; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i <= h.nbounds; i++)
		total += atomic_load(&h.counts[i]);
	ck_assert_uint_eq(total, OBSERVERS * OBSERVATIONS);
	ck_assert_uint_eq(atomic_load(&h.counts[0]), OBSERVERS * 3334);
}
END_TEST

Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("Core");

	tcase_add_test(tc, test_counter_and_gauge);
	tcase_add_test(tc, test_labels_escaped);
	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_histogram_cumulative);
	tcase_add_test(tc, test_histogram_too_many_bounds);
	tcase_add_test(tc, test_histogram_threads);
	suite_add_tcase(s, tc);
	return s;
}
