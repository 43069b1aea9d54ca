/* SPDX-License-Identifier: MIT */
/*
 * The text/event-stream encoder (WHATWG HTML, "Server-sent events",
 * §9.2.5 "Parsing an event stream" and §9.2.6 "Interpreting an event stream"):
 * events with id, event and data fields, comments, the retry field. It owns
 * every piece of fcpush's SSE framing: the opening, one event per message,
 * the gap and deleted control events, heartbeats and the shutdown notice.
 */
#ifndef FCPUSH_SSE_H
#define FCPUSH_SSE_H

#include <stdint.h>

#include "msg.h"
#include "util.h"

/* Append one event for message m: "id: SEQ", "event: NAME" when it has one,
 * then one "data:" line per line of the body, and the blank line that
 * dispatches it. Bodies split on LF, CR and CRLF alike (a client joins the
 * lines with LF, so CR and CRLF arrive as LF); an empty body is one empty
 * data line (dispatched as ""). A body that is not valid UTF-8 is sent as its
 * base64 text. A body too large to read with the message (body_omitted) is
 * announced as data {"omitted":true,"size":N,"content_type":T}: the client
 * fetches it from .../messages/SEQ. */
void sse_append_event(struct buf *b, const struct msg *m);
/* Append a comment line ": text" (text must not hold CR or LF). Comments
 * are ignored by clients; they commit headers and keep connections alive. */
void sse_append_comment(struct buf *b, const char *text);
/* Append "retry: ms" (the reconnection time a client waits, §9.2.6). */
void sse_append_retry(struct buf *b, int64_t ms);
/* Append a control event "event: NAME" with data json (one line, no CR/LF),
 * and no id, so a client's Last-Event-ID stays at the last message: used for
 * `gap` ({"oldest":SEQ}) and `deleted` ({"channel":NAME}). */
void sse_append_control(struct buf *b, const char *name, const char *json);

/* Append the opening of a stream, after its headers: the comment ": fcpush"
 * (body bytes that commit the headers), "retry: retry_ms", then "id: since"
 * and a blank line. The id field sets the client's last event ID without an
 * event (§9.2.6: the ID is taken before an empty data buffer ends the
 * dispatch), so a client dropped before its first event still resumes from
 * where it started. */
void sse_append_opening(struct buf *b, int64_t since, int64_t retry_ms);
/* Append the control event `gap`: data {"oldest":OLDEST,"epoch":"EPOCH"};
 * epoch is the database epoch (store_epoch: hex digits, written as is). */
void sse_append_gap(struct buf *b, int64_t oldest, const char *epoch);
/* Append the control event `deleted`: data {"channel":NAME}, the name
 * JSON-escaped. The stream ends after it. */
void sse_append_deleted(struct buf *b, const char *channel);
/* Append a heartbeat: the comment ": heartbeat" and a blank line. */
void sse_append_heartbeat(struct buf *b);
/* Append the last words of a stream the worker ends as it stops: the comment
 * ": fcpush is shutting down; reconnect" and a blank line (the client
 * reconnects after its retry time and resumes from its last event ID). */
void sse_append_shutdown(struct buf *b);

#endif
