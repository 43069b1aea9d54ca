/* SPDX-License-Identifier: MIT */
/*
 * Small helpers every module uses: allocation that aborts on failure in one
 * place, clocks in milliseconds, and a growable byte buffer.
 */
#ifndef FCPUSH_UTIL_H
#define FCPUSH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* Allocate like malloc/calloc/realloc/strdup; on failure print a message and
 * abort, so callers never test for NULL. xcalloc checks nmemb * size for
 * overflow. The caller owns the result and frees it with free(). */
void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string the caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wall-clock time in milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t util_now_ms(void);
/* Monotonic time in milliseconds and microseconds (CLOCK_MONOTONIC), for
 * deadlines and latency measurements. */
int64_t util_mono_ms(void);
int64_t util_mono_us(void);

/* Parse a whole decimal string (no sign, no spaces, no trailing garbage) into
 * *out, which must be between min and max. Returns 0, or -1 and leaves *out
 * untouched when s is not such a number. */
int util_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Whether item is one of the comma-separated items of list (spaces and tabs
 * around items ignored; compared exactly, case included). An empty item
 * matches an empty entry only. Both strings are borrowed, NUL-terminated. */
int util_list_contains(const char *list, const char *item);

/* A growable byte buffer. Callers embed it; data is always NUL-terminated
 * (the NUL is not counted in len) once anything was appended. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Set b empty; buf_fini releases its memory (b itself is caller storage). */
void buf_init(struct buf *b);
void buf_fini(struct buf *b);
/* Forget the content, keep the allocation. */
void buf_reset(struct buf *b);
/* Make room for at least extra more bytes. */
void buf_reserve(struct buf *b, size_t extra);
/* Append bytes (copied), a C string, one byte, or printf output. */
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hand the data to the caller (who frees it) and leave b empty. */
char *buf_steal(struct buf *b);

#endif
