/* SPDX-License-Identifier: MIT */
/*
 * JSON output: string escaping (RFC 8259 §7), base64 (RFC 4648 §4) and the
 * message object every JSON transport sends. Parsing JSON is SQLite's job
 * (json1, in json_parse.c); writing it is a few lines of escaping, kept here.
 */
#ifndef FCPUSH_JSON_H
#define FCPUSH_JSON_H

#include <stddef.h>

#include "msg.h"
#include "util.h"

/* Append s (len bytes) as a quoted JSON string. Control characters are
 * escaped; bytes that are not valid UTF-8 become U+FFFD. */
void json_append_string(struct buf *b, const char *s, size_t len);
/* Append a quoted JSON string of NUL-terminated s, or null when s is NULL. */
void json_append_cstr(struct buf *b, const char *s);
/* Append the base64 encoding of len bytes (no quotes). */
void json_append_base64(struct buf *b, const unsigned char *data, size_t len);
/* Whether len bytes are valid UTF-8 (RFC 3629: no overlongs, surrogates or
 * code points above U+10FFFF). */
int json_utf8_valid(const unsigned char *s, size_t len);
/* The same check on one piece of a longer text read in pieces (a spooled
 * request body). Returns 1 when the piece is valid UTF-8 up to its last
 * *tail bytes (0-3), which begin a sequence the piece cuts off: the caller
 * carries them into the front of the next piece, and a text that ends with
 * *tail > 0 is invalid. Returns 0 on invalid UTF-8. */
int json_utf8_valid_prefix(const unsigned char *s, size_t len, size_t *tail);
/* Whether a content type is JSON: application/json or any type ending in
 * +json, parameters ignored, case-insensitive. NULL is not. */
int json_content_type_is_json(const char *content_type);
/* Whether a body of this content type must be UTF-8, so a publish of
 * anything else is refused: JSON (RFC 8259 §8.1) and any text/ type unless a charset
 * parameter names a charset other than utf-8 (or us-ascii). NULL is not. */
int json_content_type_utf8(const char *content_type);
/* Whether a content type is text we send as a JSON string: text/... ,
 * application/x-www-form-urlencoded, application/xml, application/javascript,
 * and a NULL type. */
int json_content_type_is_text(const char *content_type);
/* Append one message object:
 * {"channel":..,"seq":..,"time":..,"event":..,"content_type":..,"data":..}
 * where "event" is omitted when NULL, data is the body itself for a valid JSON
 * body, a string for a text body that is valid UTF-8, else base64 text plus
 * "encoding":"base64"; a body left on disk (body_omitted) is data null with
 * "size" and "omitted":true. extra_type, when not NULL, adds "type":extra_type first
 * (the WebSocket and NDJSON framing). */
void json_append_message(struct buf *b, const struct msg *m, const char *extra_type);
/* Append the start of that object, up to and including "content_type" and
 * without the closing brace, for framings that carry the body elsewhere. */
void json_append_message_head(struct buf *b, const struct msg *m, const char *extra_type);
/* Whether m's body is sent as base64 in a message object: a body held in
 * the row (not body_omitted) that is neither JSON nor UTF-8 text. Reads the
 * whole body of a text type (UTF-8 check). */
int json_message_is_binary(const struct msg *m);
/* Append the rest of that object after json_append_message_head: "data"
 * (and "encoding" or "size"/"omitted") and the closing brace. binary is
 * json_message_is_binary(m), passed in so a caller that needed it already
 * does not scan the body twice. */
void json_append_message_data(struct buf *b, const struct msg *m, int binary);

#endif
