/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics: histograms that threads update without a lock, and a
 * writer of the text exposition format, version 0.0.4 (Prometheus
 * "Exposition formats": `# HELP`, `# TYPE`, then `name{label="value"} value`
 * lines), appending to a struct buf. Both fcpush.fcgi (GET /push/metrics)
 * and fcpush-ws (GET /metrics) answer with it.
 */
#ifndef FCPUSH_METRICS_H
#define FCPUSH_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* The Content-Type of an answer in this format. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The most buckets a histogram has, besides +Inf. */
#define METRICS_HIST_MAX_BUCKETS 16

/* A histogram of integer observations (microseconds, messages...): bounds
 * are the buckets' inclusive upper bounds, ascending, in the observations'
 * unit; counts[i] counts the observations in bucket i alone (counts[nbounds]
 * those above every bound), and the writer makes them cumulative. Callers
 * embed it; metrics_hist_observe is thread-safe against itself and the
 * writer (each field is atomic; a scrape during an observe may see count
 * and sum one observation apart, which Prometheus tolerates). */
struct metrics_hist {
	const int64_t *bounds; /* borrowed, nbounds elements, static storage */
	size_t nbounds;
	atomic_uint_fast64_t counts[METRICS_HIST_MAX_BUCKETS + 1];
	atomic_int_fast64_t sum;
};

/* Set h empty with bounds (borrowed for h's lifetime; ascending; nbounds at
 * most METRICS_HIST_MAX_BUCKETS, more are ignored). */
void metrics_hist_init(struct metrics_hist *h, const int64_t *bounds, size_t nbounds);
/* Count one observation v (in the bounds' unit). Thread-safe. */
void metrics_hist_observe(struct metrics_hist *h, int64_t v);

/* Append `# HELP name help` and `# TYPE name type` (type "counter",
 * "gauge" or "histogram"). help is escaped (backslash, newline). */
void metrics_family(struct buf *b, const char *name, const char *type, const char *help);
/* Append one sample line `name value`, or `name{label="lvalue"} value` when
 * label is not NULL (lvalue escaped: backslash, double quote, newline).
 * value is printed exactly for integers up to 2^53, else with 15 digits. */
void metrics_sample(struct buf *b, const char *name, const char *label, const char *lvalue, double value);
/* A whole family of one unlabelled sample: metrics_family, then
 * metrics_sample. */
void metrics_counter(struct buf *b, const char *name, const char *help, uint64_t value);
void metrics_gauge(struct buf *b, const char *name, const char *help, double value);
/* A whole histogram family: `name_bucket{le="..."}` for each bound (times
 * scale, e.g. 1e-6 for microseconds to seconds) and +Inf, cumulative, then
 * `name_sum` (times scale) and `name_count`. */
void metrics_histogram(struct buf *b, const char *name, const char *help, const struct metrics_hist *h,
		       double scale);

#endif
