/* SPDX-License-Identifier: MIT */
/*
 * The transport table and the long poll's answers (see push.h).
 */
#include "json.h"
#include "ndjson.h"
#include "push.h"
#include "sse.h"

static void push_sse_opening(struct buf *, int64_t, int64_t, int64_t);
static void push_sse_heartbeat(struct buf *, int64_t);
static void push_ndjson_opening(struct buf *, int64_t, int64_t, int64_t);

static const struct push_transport push_transports[PARK_KINDS] = {
	[PARK_LONG_POLL] = {
		.name = "long_poll",
		.content_type = "application/json",
	},
	[PARK_SSE] = {
		.name = "sse",
		.content_type = "text/event-stream; charset=utf-8",
		.opening = push_sse_opening,
		.message = sse_append_event,
		.gap = sse_append_gap,
		.deleted = sse_append_deleted,
		.heartbeat = push_sse_heartbeat,
		.shutdown = sse_append_shutdown,
	},
	[PARK_NDJSON] = {
		.name = "ndjson",
		.content_type = "application/x-ndjson",
		.opening = push_ndjson_opening,
		.message = ndjson_append_message,
		.gap = ndjson_append_gap,
		.deleted = ndjson_append_deleted,
		.heartbeat = ndjson_append_heartbeat,
		.shutdown = ndjson_append_shutdown,
	},
};

/* SSE's opening takes no time; its heartbeat is a comment. */
static void
push_sse_opening(struct buf *b, int64_t since, int64_t retry_ms, int64_t now_ms)
{
	(void)now_ms;
	sse_append_opening(b, since, retry_ms);
}

static void
push_sse_heartbeat(struct buf *b, int64_t now_ms)
{
	(void)now_ms;
	sse_append_heartbeat(b);
}

/* NDJSON has no resume or retry field: a client keeps the seq of its last
 * message line. */
static void
push_ndjson_opening(struct buf *b, int64_t since, int64_t retry_ms, int64_t now_ms)
{
	(void)since;
	(void)retry_ms;
	ndjson_append_opening(b, now_ms);
}

const struct push_transport *
push_transport(enum park_kind kind)
{
	return &push_transports[kind];
}

/* ---- streams --------------------------------------------------------------- */

size_t
push_stream_opening(const struct config *cfg, struct park_spec *spec, struct http_response *resp,
		    const struct msglist *msgs, size_t n, int gap, int64_t oldest, const char *epoch)
{
	const struct push_transport *t = push_transport(spec->kind);
	size_t budget = (size_t)cfg->stream_max_pending_bytes / 2;
	struct buf *b = &spec->opening;
	size_t i;

	resp->status = 200;
	http_header(resp, "Content-Type", "%s", t->content_type);
	http_header(resp, "Cache-Control", "no-cache");
	http_header(resp, "X-Accel-Buffering", "no");
	http_serialize_head(resp, b);
	t->opening(b, spec->since, cfg->retry_ms, util_now_ms());
	if (gap)
		t->gap(b, oldest, epoch);
	for (i = 0; i < n && (i == 0 || b->len < budget); i++)
		t->message(b, msgs->v[i]);
	return i;
}

/* ---- long poll ------------------------------------------------------------- */

void
push_poll_messages(const struct park_spec *spec, struct msg *const *msgs, size_t n, int more,
		   int gap, int64_t oldest, int64_t last_seq, size_t max_bytes, struct http_response *resp)
{
	size_t i;

	/* The body first: the ETag names the last message that fit. */
	buf_puts(&resp->body, "{\"channel\":");
	json_append_cstr(&resp->body, spec->label);
	buf_puts(&resp->body, ",\"messages\":[");
	for (i = 0; i < n && (i == 0 || resp->body.len < max_bytes); i++) {
		if (i > 0)
			buf_putc(&resp->body, ',');
		json_append_message(&resp->body, msgs[i], NULL);
	}
	if (i < n) {
		more = 1;
		last_seq = msgs[i - 1]->seq;
	}
	buf_printf(&resp->body, "],\"last_seq\":%lld", (long long)last_seq);
	if (more)
		buf_puts(&resp->body, ",\"more\":true");
	if (gap)
		buf_printf(&resp->body, ",\"gap\":true,\"oldest\":%lld", (long long)oldest);
	buf_puts(&resp->body, "}\n");

	resp->status = 200;
	if (spec->headers.len > 0)
		buf_append(&resp->head, spec->headers.data, spec->headers.len);
	http_header(resp, "Content-Type", "%s", push_transports[PARK_LONG_POLL].content_type);
	http_header(resp, "Cache-Control", "no-cache");
	http_header(resp, "ETag", "\"%lld\"", (long long)last_seq);
	if (gap)
		http_header(resp, "Push-Gap", "%lld", (long long)oldest);
}

void
push_poll_empty(const struct park_spec *spec, struct http_response *resp)
{
	resp->status = spec->conditional ? 304 : 204;
	if (spec->headers.len > 0)
		buf_append(&resp->head, spec->headers.data, spec->headers.len);
	http_header(resp, "Cache-Control", "no-cache");
	http_header(resp, "ETag", "\"%lld\"", (long long)spec->since);
}

void
push_poll_gone(const struct park_spec *spec, const char *channel, struct http_response *resp)
{
	if (spec->headers.len > 0)
		buf_append(&resp->head, spec->headers.data, spec->headers.len);
	http_error(resp, 410, "channel_deleted", "channel \"%s\" was deleted", channel);
}
