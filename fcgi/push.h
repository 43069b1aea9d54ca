/* SPDX-License-Identifier: MIT */
/*
 * The transports a subscriber reads a channel with over HTTP, as a table in
 * the style of Redis's pubsubtype: one struct of functions per transport,
 * indexed by enum park_kind, so the handler and the loop frame every piece of
 * output through it instead of branching on the kind. Streams (SSE, NDJSON)
 * fill every entry from sse.c and ndjson.c; the long poll has only its
 * content type in the table, and its whole-answer builders below.
 */
#ifndef FCPUSH_PUSH_H
#define FCPUSH_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "http.h"
#include "loop.h"
#include "msg.h"
#include "util.h"

/* One transport. Every append function adds to b and cannot fail. The
 * stream functions are NULL for the long poll. */
struct push_transport {
	const char *name;         /* "long_poll", "sse", "ndjson" */
	const char *content_type; /* of the answer, or of the stream */
	/* What a stream writes after its headers: since is the seq the client
	 * resumes from, retry_ms its reconnection time, now_ms wall-clock ms. */
	void (*opening)(struct buf *b, int64_t since, int64_t retry_ms, int64_t now_ms);
	/* One message. */
	void (*message)(struct buf *b, const struct msg *m);
	/* Messages before oldest were trimmed or belong to another history
	 * (epoch: the database epoch, hex digits). */
	void (*gap)(struct buf *b, int64_t oldest, const char *epoch);
	/* The channel was deleted; the stream ends after this. */
	void (*deleted)(struct buf *b, const char *channel);
	/* Keep an idle stream alive; now_ms is wall-clock ms. */
	void (*heartbeat)(struct buf *b, int64_t now_ms);
	/* The worker is stopping; the stream ends after this. */
	void (*shutdown)(struct buf *b);
};

/* The transport of kind (PARK_LONG_POLL, PARK_SSE, PARK_NDJSON): a static
 * entry, never NULL for a valid kind. */
const struct push_transport *push_transport(enum park_kind kind);

/* Append the opening of a stream to spec->opening: resp's status (200) and
 * headers (the transport's content type, no caching, no proxy buffering)
 * serialized, the transport's opening, the gap notice when gap (oldest: the
 * oldest seq available, epoch: the database epoch), and as many of
 * msgs->v[0..n-1] as fit in half of cfg->stream_max_pending_bytes (at least
 * one; so a slow start is never mistaken for a stalled reader). Returns how
 * many went in; the stream reads the rest from the store as it drains.
 * spec->kind must be a stream kind; msgs is borrowed. */
size_t push_stream_opening(const struct config *cfg, struct park_spec *spec, struct http_response *resp,
			   const struct msglist *msgs, size_t n, int gap, int64_t oldest, const char *epoch);

/* Build the answer to a poll: 200 with {"channel", "messages", "last_seq"
 * [, "more": true] [, "gap": true, "oldest": OLDEST]}, ETag: "last_seq",
 * Push-Gap when gap (oldest available seq), plus spec->headers. msgs[0..n-1]
 * are in ascending seq order and borrowed. last_seq is the cursor the client
 * continues from. The body holds messages only while it is under max_bytes
 * (at least one): the rest are left for the next poll, with "more": true and
 * last_seq (and the ETag) the seq of the last message sent. */
void push_poll_messages(const struct park_spec *spec, struct msg *const *msgs, size_t n, int more,
			int gap, int64_t oldest, int64_t last_seq, size_t max_bytes,
			struct http_response *resp);
/* The answer to a long poll that found nothing: 204, or 304 with the same
 * ETag when it was conditional, plus spec->headers. */
void push_poll_empty(const struct park_spec *spec, struct http_response *resp);
/* The answer to a long poll whose channel was deleted while it waited: 410
 * channel_deleted naming channel, plus spec->headers. */
void push_poll_gone(const struct park_spec *spec, const char *channel, struct http_response *resp);

#endif
