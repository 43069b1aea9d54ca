/* SPDX-License-Identifier: MIT */
/*
 * text/event-stream encoding (see sse.h).
 */
#include <string.h>

#include "json.h"
#include "route.h"
#include "sse.h"

void
sse_append_event(struct buf *b, const struct msg *m)
{
	const char *p = (const char *)m->body, *end = p + m->body_len, *eol;
	struct buf b64;

	buf_reserve(b, m->body_len + 64);
	buf_printf(b, "id: %lld\n", (long long)m->seq);
	/* Checked at publish; a name stored before that (or by hand) with a
	 * line break would add fields of its own, so it is left out. */
	if (m->event != NULL && route_event_valid(m->event))
		buf_printf(b, "event: %s\n", m->event);
	if (m->body_omitted) {
		buf_puts(b, "data: {\"omitted\":true,\"size\":");
		buf_printf(b, "%zu,\"content_type\":", m->body_len);
		json_append_cstr(b, m->content_type);
		buf_puts(b, "}\n\n");
		return;
	}
	if (!json_utf8_valid(m->body, m->body_len)) {
		buf_init(&b64);
		json_append_base64(&b64, m->body, m->body_len);
		buf_puts(b, "data: ");
		buf_append(b, b64.data, b64.len);
		buf_puts(b, "\n\n");
		buf_fini(&b64);
		return;
	}
	for (;;) {
		for (eol = p; eol < end && *eol != '\n' && *eol != '\r'; eol++)
			;
		buf_append(b, "data: ", eol > p ? 6 : 5);
		buf_append(b, p, (size_t)(eol - p));
		buf_putc(b, '\n');
		if (eol == end)
			break;
		p = eol + (*eol == '\r' && eol + 1 < end && eol[1] == '\n' ? 2 : 1);
	}
	buf_putc(b, '\n');
}

void
sse_append_comment(struct buf *b, const char *text)
{
	buf_puts(b, ": ");
	buf_puts(b, text);
	buf_putc(b, '\n');
}

void
sse_append_retry(struct buf *b, int64_t ms)
{
	buf_printf(b, "retry: %lld\n", (long long)ms);
}

void
sse_append_control(struct buf *b, const char *name, const char *json)
{
	buf_printf(b, "event: %s\ndata: %s\n\n", name, json);
}

void
sse_append_opening(struct buf *b, int64_t since, int64_t retry_ms)
{
	sse_append_comment(b, "fcpush");
	sse_append_retry(b, retry_ms);
	buf_printf(b, "id: %lld\n\n", (long long)since);
}

void
sse_append_gap(struct buf *b, int64_t oldest, const char *epoch)
{
	buf_printf(b, "event: gap\ndata: {\"oldest\":%lld,\"epoch\":\"%s\"}\n\n", (long long)oldest, epoch);
}

void
sse_append_deleted(struct buf *b, const char *channel)
{
	buf_puts(b, "event: deleted\ndata: {\"channel\":");
	json_append_cstr(b, channel);
	buf_puts(b, "}\n\n");
}

void
sse_append_heartbeat(struct buf *b)
{
	buf_puts(b, ": heartbeat\n\n");
}

void
sse_append_shutdown(struct buf *b)
{
	buf_puts(b, ": fcpush is shutting down; reconnect\n\n");
}
