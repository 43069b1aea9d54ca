/* SPDX-License-Identifier: MIT */
/*
 * FastCGI record framing for non-blocking output (see fcgi_out.h).
 */
#include <errno.h>
#include <fastcgi.h>
#include <string.h>
#include <unistd.h>

#include "fcgi_out.h"

#define FCGI_OUT_MAX_CONTENT 65535

void
fcgi_out_init(struct fcgi_out *o, int fd, int request_id)
{
	o->fd = fd;
	o->request_id = request_id;
	o->off = 0;
	buf_init(&o->queue);
}

void
fcgi_out_fini(struct fcgi_out *o)
{
	buf_fini(&o->queue);
}

static void
fcgi_out_header(struct fcgi_out *o, int type, size_t content_len, size_t padding)
{
	FCGI_Header h;

	h.version = FCGI_VERSION_1;
	h.type = (unsigned char)type;
	h.requestIdB1 = (unsigned char)((o->request_id >> 8) & 0xff);
	h.requestIdB0 = (unsigned char)(o->request_id & 0xff);
	h.contentLengthB1 = (unsigned char)((content_len >> 8) & 0xff);
	h.contentLengthB0 = (unsigned char)(content_len & 0xff);
	h.paddingLength = (unsigned char)padding;
	h.reserved = 0;
	buf_append(&o->queue, &h, sizeof h);
}

void
fcgi_out_stdout(struct fcgi_out *o, const void *data, size_t len)
{
	static const char zeros[8];
	const char *p = data;
	size_t chunk, padding;

	while (len > 0) {
		chunk = len > FCGI_OUT_MAX_CONTENT ? FCGI_OUT_MAX_CONTENT : len;
		padding = (8 - chunk % 8) % 8;
		buf_reserve(&o->queue, sizeof(FCGI_Header) + chunk + padding);
		fcgi_out_header(o, FCGI_STDOUT, chunk, padding);
		buf_append(&o->queue, p, chunk);
		buf_append(&o->queue, zeros, padding);
		p += chunk;
		len -= chunk;
	}
}

void
fcgi_out_end(struct fcgi_out *o, int app_status)
{
	FCGI_EndRequestBody end;

	fcgi_out_header(o, FCGI_STDOUT, 0, 0);
	fcgi_out_header(o, FCGI_END_REQUEST, sizeof end, 0);
	memset(&end, 0, sizeof end);
	end.appStatusB3 = (unsigned char)((app_status >> 24) & 0xff);
	end.appStatusB2 = (unsigned char)((app_status >> 16) & 0xff);
	end.appStatusB1 = (unsigned char)((app_status >> 8) & 0xff);
	end.appStatusB0 = (unsigned char)(app_status & 0xff);
	end.protocolStatus = FCGI_REQUEST_COMPLETE;
	buf_append(&o->queue, &end, sizeof end);
}

enum fcgi_out_result
fcgi_out_flush(struct fcgi_out *o)
{
	ssize_t n;

	while (o->off < o->queue.len) {
		n = write(o->fd, o->queue.data + o->off, o->queue.len - o->off);
		if (n > 0) {
			o->off += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return FCGI_OUT_AGAIN;
		return FCGI_OUT_ERROR;
	}
	buf_reset(&o->queue);
	o->off = 0;
	return FCGI_OUT_DONE;
}

size_t
fcgi_out_pending(const struct fcgi_out *o)
{
	return o->queue.len - o->off;
}
