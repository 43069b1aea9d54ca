/* SPDX-License-Identifier: MIT */
/*
 * FastCGI record framing for non-blocking output (see fcgi_out.h). The queue
 * is an array of records, each a header, a slice of shared content and its
 * padding, written with sendmsg(2) many records at a time.
 */
#include <errno.h>
#include <fastcgi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "fcgi_out.h"

#define FCGI_OUT_MAX_CONTENT 65535
#define FCGI_OUT_IOV 96 /* iovecs per sendmsg: 32 records */

struct fcgi_out_rec {
	FCGI_Header head;
	struct out_bytes *content; /* NULL when the record has none */
	size_t off, len;           /* the slice of content it carries */
};

static const char fcgi_out_zeros[8];

struct out_bytes *
out_bytes_new(const void *data, size_t len)
{
	struct out_bytes *b = xmalloc(sizeof *b + len + 1);

	b->refs = 1;
	b->len = len;
	if (len > 0)
		memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

struct out_bytes *
out_bytes_ref(struct out_bytes *b)
{
	b->refs++;
	return b;
}

void
out_bytes_unref(struct out_bytes *b)
{
	if (b != NULL && --b->refs == 0)
		free(b);
}

void
fcgi_out_init(struct fcgi_out *o, int fd, int request_id)
{
	memset(o, 0, sizeof *o);
	o->fd = fd;
	o->request_id = request_id;
}

void
fcgi_out_fini(struct fcgi_out *o)
{
	size_t i;

	for (i = o->head; i < o->n; i++)
		out_bytes_unref(o->recs[i].content);
	free(o->recs);
	o->recs = NULL;
	o->head = o->n = o->cap = o->written = o->pending = 0;
}

static size_t
fcgi_out_rec_size(const struct fcgi_out_rec *r)
{
	return sizeof r->head + r->len + r->head.paddingLength;
}

/* Append a record of type with the slice [off, off+len) of content (taking a
 * reference; content may be NULL when len is 0). */
static void
fcgi_out_push(struct fcgi_out *o, int type, struct out_bytes *content, size_t off, size_t len)
{
	struct fcgi_out_rec *r;

	if (o->n == o->cap) {
		if (o->head > 0 && o->head >= o->n / 2) {
			/* Reuse the written front instead of growing. */
			memmove(o->recs, o->recs + o->head, (o->n - o->head) * sizeof *o->recs);
			o->n -= o->head;
			o->head = 0;
		} else {
			o->cap = o->cap == 0 ? 8 : o->cap * 2;
			o->recs = xrealloc(o->recs, o->cap * sizeof *o->recs);
		}
	}
	r = &o->recs[o->n++];
	r->head.version = FCGI_VERSION_1;
	r->head.type = (unsigned char)type;
	r->head.requestIdB1 = (unsigned char)((o->request_id >> 8) & 0xff);
	r->head.requestIdB0 = (unsigned char)(o->request_id & 0xff);
	r->head.contentLengthB1 = (unsigned char)((len >> 8) & 0xff);
	r->head.contentLengthB0 = (unsigned char)(len & 0xff);
	r->head.paddingLength = type == FCGI_STDOUT ? (unsigned char)((8 - len % 8) % 8) : 0;
	r->head.reserved = 0;
	r->content = content != NULL ? out_bytes_ref(content) : NULL;
	r->off = off;
	r->len = len;
	o->pending += fcgi_out_rec_size(r);
}

void
fcgi_out_stdout_shared(struct fcgi_out *o, struct out_bytes *b)
{
	size_t off, chunk;

	for (off = 0; off < b->len; off += chunk) {
		chunk = b->len - off > FCGI_OUT_MAX_CONTENT ? FCGI_OUT_MAX_CONTENT : b->len - off;
		fcgi_out_push(o, FCGI_STDOUT, b, off, chunk);
	}
}

void
fcgi_out_stdout(struct fcgi_out *o, const void *data, size_t len)
{
	struct out_bytes *b;

	if (len == 0)
		return;
	b = out_bytes_new(data, len);
	fcgi_out_stdout_shared(o, b);
	out_bytes_unref(b);
}

void
fcgi_out_end(struct fcgi_out *o, int app_status)
{
	FCGI_EndRequestBody end;
	struct out_bytes *b;

	memset(&end, 0, sizeof end);
	end.appStatusB3 = (unsigned char)((app_status >> 24) & 0xff);
	end.appStatusB2 = (unsigned char)((app_status >> 16) & 0xff);
	end.appStatusB1 = (unsigned char)((app_status >> 8) & 0xff);
	end.appStatusB0 = (unsigned char)(app_status & 0xff);
	end.protocolStatus = FCGI_REQUEST_COMPLETE;
	b = out_bytes_new(&end, sizeof end);
	fcgi_out_push(o, FCGI_STDOUT, NULL, 0, 0);
	fcgi_out_push(o, FCGI_END_REQUEST, b, 0, sizeof end);
	out_bytes_unref(b);
}

/* Add the part of record r from byte skip on to iov; returns the new count. */
static int
fcgi_out_iov(const struct fcgi_out_rec *r, size_t skip, struct iovec *iov, int niov)
{
	const void *base[3] = {&r->head, r->content != NULL ? r->content->data + r->off : NULL, fcgi_out_zeros};
	size_t len[3] = {sizeof r->head, r->len, r->head.paddingLength};
	int k;

	for (k = 0; k < 3; k++) {
		if (skip >= len[k]) {
			skip -= len[k];
			continue;
		}
		iov[niov].iov_base = (char *)base[k] + skip;
		iov[niov].iov_len = len[k] - skip;
		niov++;
		skip = 0;
	}
	return niov;
}

/* Account n written bytes: release the records they complete. */
static void
fcgi_out_advance(struct fcgi_out *o, size_t n)
{
	struct fcgi_out_rec *r;
	size_t left;

	o->pending -= n;
	while (n > 0) {
		r = &o->recs[o->head];
		left = fcgi_out_rec_size(r) - o->written;
		if (n < left) {
			o->written += n;
			return;
		}
		n -= left;
		out_bytes_unref(r->content);
		o->head++;
		o->written = 0;
	}
}

enum fcgi_out_result
fcgi_out_flush(struct fcgi_out *o)
{
	struct iovec iov[FCGI_OUT_IOV];
	struct msghdr mh;
	size_t i;
	ssize_t n;
	int niov;

	while (o->head < o->n) {
		niov = 0;
		for (i = o->head; i < o->n && niov <= FCGI_OUT_IOV - 3; i++)
			niov = fcgi_out_iov(&o->recs[i], i == o->head ? o->written : 0, iov, niov);
		/* sendmsg, not writev: MSG_NOSIGNAL makes a closed peer EPIPE,
		 * whatever the process does with SIGPIPE. */
		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)niov;
		n = sendmsg(o->fd, &mh, MSG_NOSIGNAL);
		if (n > 0) {
			fcgi_out_advance(o, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return FCGI_OUT_AGAIN;
		return FCGI_OUT_ERROR;
	}
	o->head = o->n = o->written = 0;
	return FCGI_OUT_DONE;
}

size_t
fcgi_out_pending(const struct fcgi_out *o)
{
	return o->pending;
}
