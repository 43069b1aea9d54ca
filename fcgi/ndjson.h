/* SPDX-License-Identifier: MIT */
/*
 * The application/x-ndjson stream encoder: one JSON object per line, each
 * ended by LF, with a "type" member saying what it is: "message", "gap",
 * "deleted", "heartbeat" or "shutdown". It owns every piece of fcpush's
 * NDJSON framing, as sse.c does for text/event-stream.
 */
#ifndef FCPUSH_NDJSON_H
#define FCPUSH_NDJSON_H

#include <stdint.h>

#include "msg.h"
#include "util.h"

/* Append the line for message m: json_append_message's object with
 * "type":"message" first, then LF. */
void ndjson_append_message(struct buf *b, const struct msg *m);
/* Append the opening of a stream, after its headers: a heartbeat line at
 * time now_ms. Body bytes at once: Apache's mod_proxy_fcgi sends no headers
 * until the body starts, which would leave an idle stream unanswered until
 * its first heartbeat. */
void ndjson_append_opening(struct buf *b, int64_t now_ms);
/* Append {"type":"gap","oldest":OLDEST,"epoch":"EPOCH"} and LF; epoch is the
 * database epoch (store_epoch: hex digits, written as is). */
void ndjson_append_gap(struct buf *b, int64_t oldest, const char *epoch);
/* Append {"type":"deleted","channel":NAME} and LF, the name JSON-escaped.
 * The stream ends after it. */
void ndjson_append_deleted(struct buf *b, const char *channel);
/* Append {"type":"heartbeat","time":NOW_MS} and LF; now_ms is wall-clock
 * milliseconds since the Unix epoch. */
void ndjson_append_heartbeat(struct buf *b, int64_t now_ms);
/* Append {"type":"shutdown"} and LF: the worker is stopping; the client
 * reconnects and resumes from the seq of its last message. */
void ndjson_append_shutdown(struct buf *b);

#endif
