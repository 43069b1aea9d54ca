/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 client shared by the bench/ programs: loopback TCP
 * connections, keep-alive, response parsing (Content-Length or chunked) over
 * a growable buffer, and blocking request/response helpers. Header only; each
 * program includes it once.
 */
#ifndef BENCH_HTTPC_H
#define BENCH_HTTPC_H

/* Not every program uses every helper. */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (p == NULL)
		die("out of memory");
	return p;
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Raise the open-files limit to the hard limit (a bench holds thousands of
 * connections) and ignore SIGPIPE: a kept-alive connection the web server
 * closed while idle must fail a write with EPIPE, then be reconnected. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Connect to 127.0.0.1:port (blocking connect), TCP_NODELAY. -1 on error. */
static int
tcp_connect(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return fd;
}

/* Write all of p (blocking fd; a non-blocking one is polled). */
static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct timespec ts = {0, 100000};
				nanosleep(&ts, NULL);
				continue;
			}
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

struct rbuf {
	char *data;
	size_t len, cap;
};

/* Append up to 64 KiB read from fd. Returns read(2)'s result. */
static ssize_t
rbuf_fill(struct rbuf *b, int fd)
{
	ssize_t r;

	if (b->cap - b->len < 65536) {
		b->cap = b->len + 65536 + b->cap;
		b->data = xrealloc(b->data, b->cap + 1);
	}
	r = read(fd, b->data + b->len, b->cap - b->len);
	if (r > 0) {
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
	return r;
}

/* Drop the first n bytes. */
static void
rbuf_consume(struct rbuf *b, size_t n)
{
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

struct response {
	int status;
	char *body; /* malloc'd, NUL-terminated */
	size_t body_len;
	/* Validators for a client that resumes by them (Nchan's long poll):
	 * the header values, "" when absent. */
	char etag[128], last_modified[128];
};

/* Copy a header's value (up to the end of its line) into dst. */
static void
header_copy(char *dst, size_t cap, const char *v)
{
	size_t n = 0;

	dst[0] = '\0';
	if (v == NULL)
		return;
	while (v[n] != '\r' && v[n] != '\n' && v[n] != '\0' && n + 1 < cap)
		n++;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static const char *
find_header(const char *hdrs, const char *end, const char *name)
{
	size_t n = strlen(name);
	const char *p = hdrs;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = eol + 1;
	}
	return NULL;
}

/*
 * Parse one complete response from the start of b. 1: *out filled and the
 * response consumed from b; 0: incomplete; -1: malformed.
 */
static int
parse_response(struct rbuf *b, struct response *out)
{
	char *end, *p, *q;
	const char *v;
	size_t hlen, total, blen = 0;
	long long cl = -1;
	int chunked = 0;

	if (b->len < 12)
		return 0;
	end = memmem(b->data, b->len, "\r\n\r\n", 4);
	if (end == NULL)
		return 0;
	hlen = (size_t)(end - b->data) + 4;
	if (strncmp(b->data, "HTTP/1.", 7) != 0)
		return -1;
	out->status = atoi(b->data + 9);
	header_copy(out->etag, sizeof out->etag, find_header(b->data, end, "Etag"));
	header_copy(out->last_modified, sizeof out->last_modified, find_header(b->data, end, "Last-Modified"));
	if ((v = find_header(b->data, end, "Content-Length")) != NULL)
		cl = atoll(v);
	if ((v = find_header(b->data, end, "Transfer-Encoding")) != NULL && strncasecmp(v, "chunked", 7) == 0)
		chunked = 1;
	if (!chunked) {
		if (cl < 0)
			cl = 0; /* keep-alive responses here always say */
		if (b->len < hlen + (size_t)cl)
			return 0;
		out->body = malloc((size_t)cl + 1);
		memcpy(out->body, b->data + hlen, (size_t)cl);
		out->body[cl] = '\0';
		out->body_len = (size_t)cl;
		rbuf_consume(b, hlen + (size_t)cl);
		return 1;
	}
	/* chunked: walk the chunks first, decode once complete */
	p = b->data + hlen;
	for (;;) {
		unsigned long sz;
		q = memmem(p, b->len - (size_t)(p - b->data), "\r\n", 2);
		if (q == NULL)
			return 0;
		sz = strtoul(p, NULL, 16);
		if (sz == 0) {
			/* last chunk, then (no trailers) CRLF */
			if ((size_t)(q + 4 - b->data) > b->len)
				return 0;
			total = (size_t)(q + 4 - b->data);
			break;
		}
		if ((size_t)(q + 2 + sz + 2 - b->data) > b->len)
			return 0;
		blen += sz;
		p = q + 2 + sz + 2;
	}
	out->body = malloc(blen + 1);
	out->body_len = 0;
	p = b->data + hlen;
	for (;;) {
		unsigned long sz = strtoul(p, NULL, 16);
		q = strstr(p, "\r\n");
		if (sz == 0)
			break;
		memcpy(out->body + out->body_len, q + 2, sz);
		out->body_len += sz;
		p = q + 2 + sz + 2;
	}
	out->body[out->body_len] = '\0';
	rbuf_consume(b, total);
	return 1;
}

/* A blocking keep-alive connection for one-at-a-time requests. */
struct bconn {
	int port;
	int fd;
	struct rbuf rb;
};

/*
 * Send a request (method, path, extra headers ending in \r\n or "", body)
 * and read its response. Reconnects once if the kept-alive connection was
 * closed. 0 on success, -1 on failure.
 */
static int
bconn_request(struct bconn *c, const char *method, const char *path, const char *headers, const char *body,
	      size_t body_len, struct response *out)
{
	char head[1024];
	int n, attempt, r;
	ssize_t got;

	n = snprintf(head, sizeof head,
		     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n", method, path, headers,
		     body_len);
	for (attempt = 0; attempt < 2; attempt++) {
		if (c->fd < 0 && (c->fd = tcp_connect(c->port)) < 0)
			return -1;
		c->rb.len = 0;
		if (write_all(c->fd, head, (size_t)n) == -1 || (body_len > 0 && write_all(c->fd, body, body_len) == -1))
			goto retry;
		for (;;) {
			r = parse_response(&c->rb, out);
			if (r == 1)
				return 0;
			if (r == -1)
				return -1;
			got = rbuf_fill(&c->rb, c->fd);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				goto retry;
		}
retry:
		close(c->fd);
		c->fd = -1;
	}
	return -1;
}

/* The integer after "key": in a JSON text, or -1. */
static long long
json_int(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof pat, "\"%s\":", key);
	p = strstr(json, pat);
	if (p == NULL)
		return -1;
	return atoll(p + strlen(pat));
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Percentile q (0..100) of a sorted array, nearest-rank. */
static int64_t
pct(const int64_t *v, size_t n, double q)
{
	size_t i;

	if (n == 0)
		return -1;
	i = (size_t)(q / 100.0 * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return v[i - 1];
}

#endif
