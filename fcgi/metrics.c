/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition format, version 0.0.4, and lock-free
 * histograms (see metrics.h).
 */
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "metrics.h"

static void metrics_escape(struct buf *b, const char *s, int quote);
static void metrics_value(struct buf *b, double v);

void
metrics_hist_init(struct metrics_hist *h, const int64_t *bounds, size_t nbounds)
{
	size_t i;

	h->bounds = bounds;
	h->nbounds = nbounds < METRICS_HIST_MAX_BUCKETS ? nbounds : METRICS_HIST_MAX_BUCKETS;
	for (i = 0; i <= METRICS_HIST_MAX_BUCKETS; i++)
		atomic_init(&h->counts[i], 0);
	atomic_init(&h->sum, 0);
}

void
metrics_hist_observe(struct metrics_hist *h, int64_t v)
{
	size_t i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	atomic_fetch_add(&h->counts[i], 1);
	atomic_fetch_add(&h->sum, v);
}

/* Append s escaped as the format asks: backslash and newline always, the
 * double quote too inside a label value (quote). */
static void
metrics_escape(struct buf *b, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else if (*s == '"' && quote)
			buf_puts(b, "\\\"");
		else
			buf_putc(b, *s);
	}
}

/* Append v as the format's Go ParseFloat reads it: +Inf, -Inf, NaN, an
 * integer as such, else 15 significant digits. */
static void
metrics_value(struct buf *b, double v)
{
	if (v != v)
		buf_puts(b, "NaN");
	else if (v > DBL_MAX || v < -DBL_MAX)
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else if (v >= -9007199254740992.0 && v <= 9007199254740992.0 && v == (double)(int64_t)v)
		buf_printf(b, "%lld", (long long)v);
	else
		buf_printf(b, "%.15g", v);
}

void
metrics_family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s ", name);
	metrics_escape(b, help, 0);
	buf_printf(b, "\n# TYPE %s %s\n", name, type);
}

void
metrics_sample(struct buf *b, const char *name, const char *label, const char *lvalue, double value)
{
	buf_puts(b, name);
	if (label != NULL) {
		buf_printf(b, "{%s=\"", label);
		metrics_escape(b, lvalue, 1);
		buf_puts(b, "\"}");
	}
	buf_putc(b, ' ');
	metrics_value(b, value);
	buf_putc(b, '\n');
}

void
metrics_counter(struct buf *b, const char *name, const char *help, uint64_t value)
{
	metrics_family(b, name, "counter", help);
	metrics_sample(b, name, NULL, NULL, (double)value);
}

void
metrics_gauge(struct buf *b, const char *name, const char *help, double value)
{
	metrics_family(b, name, "gauge", help);
	metrics_sample(b, name, NULL, NULL, value);
}

void
metrics_histogram(struct buf *b, const char *name, const char *help, const struct metrics_hist *h, double scale)
{
	uint64_t cum = 0;
	size_t i;
	char le[64];

	metrics_family(b, name, "histogram", help);
	for (i = 0; i < h->nbounds; i++) {
		cum += atomic_load(&h->counts[i]);
		snprintf(le, sizeof le, "%.15g", (double)h->bounds[i] * scale);
		buf_printf(b, "%s_bucket{le=\"%s\"} %llu\n", name, le, (unsigned long long)cum);
	}
	cum += atomic_load(&h->counts[h->nbounds]);
	buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
	buf_printf(b, "%s_sum ", name);
	metrics_value(b, (double)atomic_load(&h->sum) * scale);
	buf_printf(b, "\n%s_count %llu\n", name, (unsigned long long)cum);
}
