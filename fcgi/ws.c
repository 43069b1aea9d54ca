/* SPDX-License-Identifier: MIT */
/*
 * The WebSocket protocol "fcpush.v1" without the sockets (see ws.h):
 * handshake checks, the URL, client commands and server frames.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cursor.h"
#include "http.h"
#include "json.h"
#include "json_parse.h"
#include "route.h"
#include "ws.h"

static const struct json_parse_member *ws_member(const struct ws_command *cmd, size_t n, const char *key);
static int ws_fail(const char **code, char **detail, const char *c, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int ws_frame_check_head(struct ws_frame_check *fc, unsigned char c);
static void ws_frame_check_length_done(struct ws_frame_check *fc);
static size_t ws_frame_check_fail(struct ws_frame_check *fc, int code, const char *why, size_t frame_at);

/* ---- handshake ---------------------------------------------------------- */

int
ws_handshake_check(const char *version, const char *key, const char *protocols, char **cause)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	if (version == NULL || strcmp(version, "13") != 0) {
		if (cause != NULL)
			*cause = xstrdup("this server speaks WebSocket version 13 (RFC 6455) only");
		return 426;
	}
	/* 16 bytes in base64: 22 characters of the alphabet, then "==" (§4.1);
	 * the last character holds 2 bits, so it is one of A, Q, g, w. */
	if (key == NULL || strlen(key) != 24 || strcmp(key + 22, "==") != 0 ||
	    strchr("AQgw", key[21]) == NULL) {
		if (cause != NULL)
			*cause = xstrdup("Sec-WebSocket-Key must be the base64 form of 16 bytes");
		return 400;
	}
	for (i = 0; i < 22; i++) {
		if (key[i] == '\0' || strchr(b64, key[i]) == NULL) {
			if (cause != NULL)
				*cause = xstrdup("Sec-WebSocket-Key must be the base64 form of 16 bytes");
			return 400;
		}
	}
	if (protocols != NULL && !util_list_contains(protocols, WS_SUBPROTOCOL)) {
		if (cause != NULL)
			*cause = xasprintf("the only subprotocol served is %s (or none)", WS_SUBPROTOCOL);
		return 400;
	}
	return 0;
}

/* ---- the URL -------------------------------------------------------------- */

int
ws_target_parse(const char *uri, int64_t max_last, struct ws_target *t, const char **code, char **cause)
{
	struct cursor_input in;
	struct cursor c;
	struct route r;
	char *since = NULL, *leid = NULL, *leid2 = NULL, *last = NULL, *epoch = NULL, *why = NULL;
	size_t mlen, i;
	int status = 0, rc = 0, bad = 0;

	memset(t, 0, sizeof *t);
	if (route_parse(uri, &r, &status, &why) != 0) {
		*code = status == 404 ? "not_found" : "bad_channel";
		rc = status != 0 ? status : 400;
		goto out;
	}
	mlen = r.mount != NULL ? strlen(r.mount) : 0;
	if (r.kind != ROUTE_CHANNEL || mlen < 3 || strcmp(r.mount + mlen - 3, "/ws") != 0) {
		*code = "not_found";
		why = xstrdup("WebSocket endpoints are {mount}/ws/channels/{channel[,channel...]}");
		rc = 404;
		goto out;
	}
	since = route_query_get(r.query, "since", &bad);
	leid = route_query_get(r.query, "lastEventId", &bad);
	leid2 = route_query_get(r.query, "last_event_id", &bad);
	last = route_query_get(r.query, "last", &bad);
	epoch = route_query_get(r.query, "epoch", &bad);
	memset(&in, 0, sizeof in);
	in.epoch = epoch;
	in.since = since;
	in.last_event_id_q = leid != NULL ? leid : leid2;
	in.last = last;
	if (bad || cursor_parse(&in, max_last, &c, &why) != 0) {
		*code = "bad_cursor";
		if (why == NULL)
			why = xstrdup("the query string has a bad percent escape");
		rc = 400;
		goto out;
	}
	t->has_since = c.kind == CURSOR_SINCE;
	t->since = c.since;
	t->last = c.kind == CURSOR_LAST ? c.last : 0;
	memcpy(t->epoch, c.epoch, sizeof t->epoch);
	t->channels = xcalloc(r.nchannels, sizeof *t->channels);
	for (i = 0; i < r.nchannels; i++)
		t->channels[i] = xstrdup(r.channels[i]);
	t->nchannels = r.nchannels;
out:
	free(since);
	free(leid);
	free(leid2);
	free(last);
	free(epoch);
	route_fini(&r);
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return rc;
}

void
ws_target_fini(struct ws_target *t)
{
	size_t i;

	for (i = 0; i < t->nchannels; i++)
		free(t->channels[i]);
	free(t->channels);
	memset(t, 0, sizeof *t);
}

/* ---- commands ------------------------------------------------------------- */

static int
ws_fail(const char **code, char **detail, const char *c, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	*code = c;
	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	*detail = buf_steal(&b);
	return -1;
}

/* The first member named key, or NULL. */
static const struct json_parse_member *
ws_member(const struct ws_command *cmd, size_t n, const char *key)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(cmd->members[i].key, key) == 0)
			return &cmd->members[i];
	}
	return NULL;
}

/* Parse a command; body (body_len bytes) is a binary publish's body, NULL
 * for a text command. */
static int
ws_command_parse_body(struct json_parse *jp, const char *text, size_t len, const unsigned char *body, size_t body_len,
		      int64_t max_data_bytes, struct ws_command *cmd, const char **code, char **detail)
{
	const struct json_parse_member *type, *ch, *id, *m;
	enum json_parse_result r;
	struct buf b;
	char *why = NULL;
	size_t n = 0;

	memset(cmd, 0, sizeof *cmd);
	r = json_parse_object(jp, text, len, &cmd->members, &n, &why);
	if (r != JSON_PARSE_OK) {
		ws_fail(code, detail,
			r == JSON_PARSE_BAD_UTF8  ? "invalid_utf8"
			: r == JSON_PARSE_INVALID ? "invalid_json"
						  : "json_error",
			"a command is one JSON object: %s", why != NULL ? why : "cannot parse it");
		free(why);
		return -1;
	}
	if ((id = ws_member(cmd, n, "id")) != NULL && strcmp(id->type, "null") != 0) {
		buf_init(&b);
		if (strcmp(id->type, "text") == 0)
			json_append_string(&b, id->text, id->text_len);
		else
			buf_append(&b, id->text, id->text_len);
		if (b.len > WS_MAX_ID_BYTES || strcmp(id->type, "object") == 0 || strcmp(id->type, "array") == 0) {
			buf_fini(&b);
			return ws_fail(code, detail, "invalid_command",
				       "\"id\" must be a string or a number of at most %d bytes", WS_MAX_ID_BYTES);
		}
		cmd->id = buf_steal(&b);
	}
	type = ws_member(cmd, n, "type");
	if (type == NULL || strcmp(type->type, "text") != 0)
		return ws_fail(code, detail, "invalid_command",
			       "a command needs \"type\": \"publish\", \"subscribe\" or \"unsubscribe\"");
	if (strcmp(type->text, "publish") == 0)
		cmd->kind = WS_CMD_PUBLISH;
	else if (strcmp(type->text, "subscribe") == 0)
		cmd->kind = WS_CMD_SUBSCRIBE;
	else if (strcmp(type->text, "unsubscribe") == 0)
		cmd->kind = WS_CMD_UNSUBSCRIBE;
	else
		return ws_fail(code, detail, "unknown_type",
			       "unknown command type; use \"publish\", \"subscribe\" or \"unsubscribe\"");

	ch = ws_member(cmd, n, "channel");
	if (ch == NULL || strcmp(ch->type, "text") != 0)
		return ws_fail(code, detail, "invalid_command", "\"channel\" (a string) is required");
	if (!route_channel_valid(ch->text))
		return ws_fail(code, detail, "bad_channel",
			       "a channel name is 1-128 of A-Z a-z 0-9 . _ ~ -");
	cmd->channel = ch->text;

	if (body != NULL && cmd->kind != WS_CMD_PUBLISH)
		return ws_fail(code, detail, "invalid_command", "only a publish may be a binary message");
	switch (cmd->kind) {
	case WS_CMD_PUBLISH:
		if (body != NULL) {
			if (ws_member(cmd, n, "data") != NULL)
				return ws_fail(code, detail, "invalid_command",
					       "a binary publish carries its body after the header, not in \"data\"");
			cmd->content_type = "application/octet-stream";
			if ((m = ws_member(cmd, n, "content_type")) != NULL && strcmp(m->type, "null") != 0) {
				if (strcmp(m->type, "text") != 0)
					return ws_fail(code, detail, "invalid_command",
						       "\"content_type\" must be a string");
				if (!http_content_type_valid(m->text))
					return ws_fail(code, detail, "bad_content_type",
						       "\"content_type\" must be a media type such as image/png "
						       "(RFC 9110 §8.3.1, at most %d bytes of printable ASCII)",
						       HTTP_MAX_CONTENT_TYPE_BYTES);
				cmd->content_type = m->text;
			}
			cmd->data_len = body_len;
			if (json_content_type_utf8(cmd->content_type) && !json_utf8_valid(body, body_len))
				return ws_fail(code, detail, "invalid_utf8",
					       "the body is declared as %s but is not valid UTF-8", cmd->content_type);
			if (json_content_type_is_json(cmd->content_type) &&
			    json_parse_valid(jp, (const char *)body, body_len) != 1)
				return ws_fail(code, detail, "bad_json",
					       "the body is declared as %s but is not valid JSON", cmd->content_type);
		} else {
			if ((m = ws_member(cmd, n, "data")) == NULL)
				return ws_fail(code, detail, "invalid_command", "a publish needs \"data\"");
			cmd->content_type = strcmp(m->type, "text") == 0 ? "text/plain; charset=utf-8" : "application/json";
			cmd->data = m->text;
			cmd->data_len = m->text_len;
		}
		if ((int64_t)cmd->data_len > max_data_bytes)
			return ws_fail(code, detail, "too_large", "data is %zu bytes; the limit is %lld", cmd->data_len,
				       (long long)max_data_bytes);
		if ((m = ws_member(cmd, n, "event")) != NULL && strcmp(m->type, "null") != 0) {
			if (strcmp(m->type, "text") != 0)
				return ws_fail(code, detail, "invalid_command", "\"event\" must be a string");
			if (!route_event_valid(m->text))
				return ws_fail(code, detail, "bad_event",
					       "\"event\" must be a string of 1-%d bytes without control characters",
					       ROUTE_MAX_EVENT_BYTES);
			cmd->event = m->text;
		}
		if ((m = ws_member(cmd, n, "idempotency_key")) != NULL && strcmp(m->type, "null") != 0) {
			if (strcmp(m->type, "text") != 0 || !store_idem_key_valid(m->text))
				return ws_fail(code, detail, "bad_idempotency_key",
					       "\"idempotency_key\" must be a string of 1-%d visible ASCII characters",
					       STORE_IDEM_KEY_MAX_BYTES);
			cmd->idem_key = m->text;
		}
		if (body != NULL) {
			cmd->body = xmalloc(body_len + 1);
			if (body_len > 0)
				memcpy(cmd->body, body, body_len);
			cmd->data = (const char *)cmd->body;
		}
		break;
	case WS_CMD_SUBSCRIBE:
		if ((m = ws_member(cmd, n, "since")) != NULL && strcmp(m->type, "null") != 0) {
			if (util_parse_i64(m->text, 0, INT64_MAX, &cmd->since) != 0 ||
			    (strcmp(m->type, "integer") != 0 && strcmp(m->type, "text") != 0))
				return ws_fail(code, detail, "invalid_command",
					       "\"since\" must be a sequence number (a whole number >= 0)");
			cmd->has_since = 1;
		}
		break;
	case WS_CMD_UNSUBSCRIBE:
		break;
	}
	return 0;
}

int
ws_command_parse(struct json_parse *jp, const char *text, size_t len, int64_t max_data_bytes, struct ws_command *cmd,
		 const char **code, char **detail)
{
	return ws_command_parse_body(jp, text, len, NULL, 0, max_data_bytes, cmd, code, detail);
}

int
ws_command_parse_binary(struct json_parse *jp, const unsigned char *msg, size_t len, int64_t max_data_bytes,
			struct ws_command *cmd, const char **code, char **detail)
{
	size_t h;

	if (len < WS_BINARY_HEAD_BYTES ||
	    (h = (size_t)msg[0] << 24 | (size_t)msg[1] << 16 | (size_t)msg[2] << 8 | msg[3]) >
		    len - WS_BINARY_HEAD_BYTES) {
		memset(cmd, 0, sizeof *cmd);
		return ws_fail(code, detail, "invalid_command",
			       "a binary message is a 4-byte big-endian header length, that many bytes of JSON "
			       "header, then the body");
	}
	return ws_command_parse_body(jp, (const char *)msg + WS_BINARY_HEAD_BYTES, h,
				     msg + WS_BINARY_HEAD_BYTES + h, len - WS_BINARY_HEAD_BYTES - h, max_data_bytes,
				     cmd, code, detail);
}

void
ws_command_fini(struct ws_command *cmd)
{
	free(cmd->body);
	free(cmd->members);
	free(cmd->id);
	memset(cmd, 0, sizeof *cmd);
}

/* ---- frames ----------------------------------------------------------------- */

static void
ws_append_id(struct buf *b, const char *id_json)
{
	if (id_json != NULL) {
		buf_puts(b, ",\"id\":");
		buf_puts(b, id_json);
	}
}

void
ws_frame_ack(struct buf *b, const char *id_json, const char *channel, int64_t seq, int replayed)
{
	buf_puts(b, "{\"type\":\"ack\"");
	ws_append_id(b, id_json);
	buf_puts(b, ",\"channel\":");
	json_append_cstr(b, channel);
	buf_printf(b, ",\"seq\":%lld%s}", (long long)seq, replayed ? ",\"replayed\":true" : "");
}

void
ws_frame_error(struct buf *b, const char *code, const char *detail, const char *id_json)
{
	buf_puts(b, "{\"type\":\"error\",\"error\":");
	json_append_cstr(b, code);
	buf_puts(b, ",\"detail\":");
	json_append_cstr(b, detail);
	ws_append_id(b, id_json);
	buf_putc(b, '}');
}

void
ws_frame_gap(struct buf *b, int64_t oldest, const char *epoch)
{
	buf_printf(b, "{\"type\":\"gap\",\"oldest\":%lld,\"epoch\":\"%s\"}", (long long)oldest, epoch);
}

void
ws_frame_deleted(struct buf *b, const char *channel)
{
	buf_puts(b, "{\"type\":\"deleted\",\"channel\":");
	json_append_cstr(b, channel);
	buf_putc(b, '}');
}

void
ws_frame_subscribed(struct buf *b, const char *channel, int64_t since, const char *id_json)
{
	buf_puts(b, "{\"type\":\"subscribed\",\"channel\":");
	json_append_cstr(b, channel);
	buf_printf(b, ",\"since\":%lld", (long long)since);
	ws_append_id(b, id_json);
	buf_putc(b, '}');
}

void
ws_frame_unsubscribed(struct buf *b, const char *channel, const char *id_json)
{
	buf_puts(b, "{\"type\":\"unsubscribed\",\"channel\":");
	json_append_cstr(b, channel);
	ws_append_id(b, id_json);
	buf_putc(b, '}');
}

int
ws_frame_message(struct buf *b, const struct msg *m)
{
	size_t at = b->len, h;
	int binary = json_message_is_binary(m);

	buf_reserve(b, (m->body_omitted ? 0 : m->body_len) + 160);
	if (!binary) {
		json_append_message_head(b, m, "message");
		json_append_message_data(b, m, 0);
		return 0;
	}
	buf_append(b, "\0\0\0\0", WS_BINARY_HEAD_BYTES);
	json_append_message_head(b, m, "message");
	buf_printf(b, ",\"size\":%zu}", m->body_len);
	h = b->len - at - WS_BINARY_HEAD_BYTES;
	b->data[at] = (char)(h >> 24);
	b->data[at + 1] = (char)(h >> 16);
	b->data[at + 2] = (char)(h >> 8);
	b->data[at + 3] = (char)h;
	if (m->body_len > 0)
		buf_append(b, m->body, m->body_len);
	return 1;
}

/* ---- client frames, before lws parses them ----------------------------------- */

int
ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

int
ws_close_payload_check(const unsigned char *p, size_t len, const char **why)
{
	const char *w = NULL;
	int rc = 0;

	if (len == 1) {
		w = "a close frame's body is empty or a 2-byte code first (RFC 6455 5.5.1)";
		rc = 1002;
	} else if (len >= 2 && !ws_close_code_valid((unsigned)p[0] << 8 | p[1])) {
		w = "invalid close code (RFC 6455 7.4)";
		rc = 1002;
	} else if (len > 2 && !json_utf8_valid(p + 2, len - 2)) {
		w = "a close reason must be UTF-8 (RFC 6455 5.5.1)";
		rc = 1007;
	}
	if (why != NULL)
		*why = w;
	return rc;
}

enum { WS_FC_HEAD = 0, WS_FC_BYTE0, WS_FC_BYTE1, WS_FC_EXT, WS_FC_SKIP, WS_FC_CLOSE };

#define WS_OPCODE_CLOSE 0x8

void
ws_frame_check_init(struct ws_frame_check *fc)
{
	ws_frame_check_fini(fc);
	fc->state = WS_FC_HEAD;
}

void
ws_frame_check_fini(struct ws_frame_check *fc)
{
	buf_fini(&fc->target);
	memset(fc, 0, sizeof *fc);
}

/* The next byte c of the request head: find its blank line, keep the
 * request target. Returns 1 once the head is over. */
static int
ws_frame_check_head(struct ws_frame_check *fc, unsigned char c)
{
	static const char blank_line[] = "\r\n\r\n";

	if (fc->line < 2) {
		if (c == ' ' || c == '\r' || c == '\n')
			fc->line = c == ' ' ? fc->line + 1 : 2;
		else if (fc->line == 1 && fc->target.len < WS_MAX_TARGET_BYTES)
			buf_putc(&fc->target, (char)c);
		else if (fc->line == 1)
			fc->target_too_long = 1;
	}
	if (c == (unsigned char)blank_line[fc->matched])
		fc->matched++;
	else
		fc->matched = c == '\r' ? 1 : 0;
	return fc->matched == 4;
}

/* The payload length is known: skip a data frame's masking key and payload,
 * read a close frame's. */
static void
ws_frame_check_length_done(struct ws_frame_check *fc)
{
	fc->skip = 4 + fc->len; /* masking key, payload; len < 2^63 */
	fc->nkey = 0;
	fc->nctl = 0;
	fc->state = fc->opcode == WS_OPCODE_CLOSE ? WS_FC_CLOSE : WS_FC_SKIP;
}

/* A bad frame: remember why, return what the feed returns. */
static size_t
ws_frame_check_fail(struct ws_frame_check *fc, int code, const char *why, size_t frame_at)
{
	fc->close_code = code;
	fc->why = why;
	return frame_at;
}

size_t
ws_frame_check_feed(struct ws_frame_check *fc, const unsigned char *p, size_t n)
{
	size_t i = 0, take, frame_at = 0;
	const char *why;
	int code;

	if (fc->close_code != 0)
		return 0;
	while (i < n) {
		switch (fc->state) {
		case WS_FC_HEAD:
			if (ws_frame_check_head(fc, p[i++]))
				fc->state = WS_FC_BYTE0;
			break;
		case WS_FC_BYTE0: /* FIN, RSV1-3, opcode (§5.2) */
			frame_at = i;
			fc->opcode = p[i++] & 0x0f;
			fc->state = WS_FC_BYTE1;
			break;
		case WS_FC_BYTE1: /* MASK, payload length */
			if ((p[i] & 0x80) == 0)
				return ws_frame_check_fail(fc, 1002, "client frames must be masked (RFC 6455 5.1)",
							   frame_at);
			fc->len = p[i] & 0x7f;
			if ((fc->opcode & 0x8) != 0 && fc->len > 125)
				return ws_frame_check_fail(fc, 1002,
							   "a control frame's payload is at most 125 bytes (RFC 6455 5.5)",
							   frame_at);
			fc->ext = fc->len == 126 ? 2 : fc->len == 127 ? 8 : 0;
			if (fc->ext > 0)
				fc->len = 0;
			i++;
			if (fc->ext > 0)
				fc->state = WS_FC_EXT;
			else
				ws_frame_check_length_done(fc);
			break;
		case WS_FC_EXT:
			if (fc->ext == 8 && (p[i] & 0x80) != 0)
				return ws_frame_check_fail(
					fc, 1002, "the most significant bit of a 64-bit payload length must be 0 (RFC 6455 5.2)",
					frame_at);
			fc->len = fc->len << 8 | p[i++];
			if (--fc->ext == 0)
				ws_frame_check_length_done(fc);
			break;
		case WS_FC_SKIP:
			take = (uint64_t)(n - i) < fc->skip ? n - i : (size_t)fc->skip;
			i += take;
			fc->skip -= take;
			if (fc->skip == 0)
				fc->state = WS_FC_BYTE0;
			break;
		case WS_FC_CLOSE: /* masking key, then the payload (len <= 125) */
			if (fc->nkey < 4) {
				fc->key[fc->nkey++] = p[i++];
			} else {
				fc->ctl[fc->nctl] = p[i++] ^ fc->key[fc->nctl & 3];
				fc->nctl++;
			}
			if (fc->nkey < 4 || fc->nctl < fc->len)
				break;
			if ((code = ws_close_payload_check(fc->ctl, fc->nctl, &why)) != 0)
				return ws_frame_check_fail(fc, code, why, frame_at);
			fc->peer_close = fc->nctl >= 2 ? (unsigned)fc->ctl[0] << 8 | fc->ctl[1] : 0;
			fc->state = WS_FC_BYTE0;
			break;
		}
	}
	return n;
}
