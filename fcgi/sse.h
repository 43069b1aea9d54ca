/* SPDX-License-Identifier: MIT */
/*
 * The text/event-stream encoder (WHATWG HTML, "Server-sent events",
 * §9.2.5 "Parsing an event stream" and §9.2.6 "Interpreting an event stream"):
 * events with id, event and data fields, comments, the retry field.
 */
#ifndef FCPUSH_SSE_H
#define FCPUSH_SSE_H

#include <stdint.h>

#include "store.h"
#include "util.h"

/* Append one event for message m: "id: SEQ", "event: NAME" when it has one,
 * then one "data:" line per line of the body, and the blank line that
 * dispatches it. Bodies split on LF, CR and CRLF alike (a client joins the
 * lines with LF, so CR and CRLF arrive as LF); an empty body is one empty
 * data line (dispatched as ""). A body that is not valid UTF-8 is sent as its
 * base64 text. A body too large to read with the message (body_omitted) is
 * announced as data {"omitted":true,"size":N,"content_type":T}: the client
 * fetches it from .../messages/SEQ. */
void sse_append_event(struct buf *b, const struct store_message *m);
/* Append a comment line ": text" (text must not hold CR or LF). Comments
 * are ignored by clients; they commit headers and keep connections alive. */
void sse_append_comment(struct buf *b, const char *text);
/* Append "retry: ms" (the reconnection time a client waits, §9.2.6). */
void sse_append_retry(struct buf *b, int64_t ms);
/* Append a control event "event: NAME" with data json (one line, no CR/LF),
 * and no id, so a client's Last-Event-ID stays at the last message: used for
 * `gap` ({"oldest":SEQ}) and `deleted` ({"channel":NAME}). */
void sse_append_control(struct buf *b, const char *name, const char *json);

#endif
