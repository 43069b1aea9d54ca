/* SPDX-License-Identifier: MIT */
/* Unit tests of ws.c: the WebSocket protocol "fcpush.v1" without sockets
 * (handshake checks, the URL, client commands, server frames). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_parse.h"
#include "store.h"
#include "suites.h"
#include "ws.h"

static struct json_parse *jp;

static void
setup(void)
{
	jp = test_json_parse_open();
}

static void
teardown(void)
{
	json_parse_free(jp);
}

/* ---- Core ---------------------------------------------------------------- */

START_TEST(test_handshake_ok)
{
	char *cause = NULL;

	ck_assert_int_eq(ws_handshake_check("13", "dGhlIHNhbXBsZSBub25jZQ==", NULL, &cause), 0);
	ck_assert_int_eq(ws_handshake_check("13", "dGhlIHNhbXBsZSBub25jZQ==", "chat, fcpush.v1", &cause), 0);
	ck_assert_int_eq(ws_handshake_check("13", "AAAAAAAAAAAAAAAAAAAAAA==", "fcpush.v1", &cause), 0);
	ck_assert_ptr_null(cause);
}
END_TEST

START_TEST(test_handshake_bad)
{
	char *cause = NULL;

	ck_assert_int_eq(ws_handshake_check("8", "dGhlIHNhbXBsZSBub25jZQ==", NULL, &cause), 426);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(ws_handshake_check(NULL, "dGhlIHNhbXBsZSBub25jZQ==", NULL, NULL), 426);
	ck_assert_int_eq(ws_handshake_check("13", NULL, NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "", NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "not-base64!", NULL, NULL), 400);
	/* 15 and 17 bytes, a bad character, bits in the padding. */
	ck_assert_int_eq(ws_handshake_check("13", "AAAAAAAAAAAAAAAAAAAA", NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "AAAAAAAAAAAAAAAAAAAAAAA=", NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "AAAAAAAAAA*AAAAAAAAAAA==", NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "AAAAAAAAAAAAAAAAAAAAAB==", NULL, NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "dGhlIHNhbXBsZSBub25jZQ==", "chat", NULL), 400);
	ck_assert_int_eq(ws_handshake_check("13", "dGhlIHNhbXBsZSBub25jZQ==", "fcpush.v1x", NULL), 400);
}
END_TEST

START_TEST(test_target)
{
	struct ws_target t;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_int_eq(ws_target_parse("/push/ws/channels/a,b.c?since=42", 100, &t, &code, &cause), 0);
	ck_assert_uint_eq(t.nchannels, 2);
	ck_assert_str_eq(t.channels[0], "a");
	ck_assert_str_eq(t.channels[1], "b.c");
	ck_assert_int_eq(t.has_since, 1);
	ck_assert_int_eq(t.since, 42);
	ws_target_fini(&t);

	ck_assert_int_eq(ws_target_parse("/ws/channels/x", 100, &t, &code, NULL), 0);
	ck_assert_int_eq(t.has_since, 0);
	ws_target_fini(&t);

	ck_assert_int_eq(ws_target_parse("/p/ws/channels/x?lastEventId=7", 100, &t, &code, NULL), 0);
	ck_assert_int_eq(t.since, 7);
	ws_target_fini(&t);

	ck_assert_int_eq(ws_target_parse("/p/ws/channels/x?last=10", 100, &t, &code, NULL), 0);
	ck_assert_int_eq(t.has_since, 0);
	ck_assert_int_eq(t.last, 10);
	ws_target_fini(&t);
}
END_TEST

START_TEST(test_target_bad)
{
	struct ws_target t;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_int_eq(ws_target_parse("/push/channels/a", 100, &t, &code, &cause), 404);
	ck_assert_str_eq(code, "not_found");
	free(cause);
	ws_target_fini(&t);
	ck_assert_int_eq(ws_target_parse("/push/ws/channels/a%20b", 100, &t, &code, &cause), 400);
	ck_assert_str_eq(code, "bad_channel");
	free(cause);
	ws_target_fini(&t);
	ck_assert_int_eq(ws_target_parse("/push/ws/channels/a?since=-1", 100, &t, &code, &cause), 400);
	ck_assert_str_eq(code, "bad_cursor");
	free(cause);
	ws_target_fini(&t);
	ck_assert_int_eq(ws_target_parse("/push/xws/channels/a", 100, &t, &code, NULL), 404);
	ws_target_fini(&t);
	ck_assert_int_eq(ws_target_parse("/push/ws/channels/a?last=101", 100, &t, &code, NULL), 400);
	ws_target_fini(&t);
}
END_TEST

/* Parse text as a command; on failure return the code. */
static const char *
parse(const char *text, struct ws_command *cmd)
{
	const char *code = NULL;
	char *detail = NULL;

	if (ws_command_parse(jp, text, strlen(text), 100, cmd, &code, &detail) == 0)
		return NULL;
	ck_assert_ptr_nonnull(detail);
	ck_assert(strlen(detail) > 0);
	free(detail);
	return code;
}

START_TEST(test_command_publish)
{
	struct ws_command cmd;

	ck_assert_ptr_null(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"hi \\u00e9\",\"id\":7}", &cmd));
	ck_assert_int_eq(cmd.kind, WS_CMD_PUBLISH);
	ck_assert_str_eq(cmd.channel, "c");
	ck_assert_str_eq(cmd.content_type, "text/plain; charset=utf-8");
	ck_assert_uint_eq(cmd.data_len, strlen("hi \xc3\xa9"));
	ck_assert(memcmp(cmd.data, "hi \xc3\xa9", cmd.data_len) == 0);
	ck_assert_str_eq(cmd.id, "7");
	ck_assert_ptr_null(cmd.event);
	ws_command_fini(&cmd);

	ck_assert_ptr_null(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":{\"a\": [1, true]},"
				 "\"event\":\"e\",\"id\":\"x\\\"y\"}",
				 &cmd));
	ck_assert_str_eq(cmd.content_type, "application/json");
	ck_assert_str_eq(cmd.data, "{\"a\":[1,true]}");
	ck_assert_str_eq(cmd.event, "e");
	ck_assert_str_eq(cmd.id, "\"x\\\"y\"");
	ws_command_fini(&cmd);

	ck_assert_ptr_null(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":false}", &cmd));
	ck_assert_str_eq(cmd.data, "false");
	ck_assert_ptr_null(cmd.id);
	ck_assert_ptr_null(cmd.idem_key);
	ws_command_fini(&cmd);
	ck_assert_ptr_null(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"idempotency_key\":\"k/1\"}", &cmd));
	ck_assert_str_eq(cmd.idem_key, "k/1");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"idempotency_key\":\"a b\"}", &cmd),
			 "bad_idempotency_key");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"idempotency_key\":5}", &cmd),
			 "bad_idempotency_key");
	ws_command_fini(&cmd);
	ck_assert_ptr_null(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":12.5}", &cmd));
	ck_assert_str_eq(cmd.data, "12.5");
	ws_command_fini(&cmd);
}
END_TEST

START_TEST(test_command_subscribe)
{
	struct ws_command cmd;

	ck_assert_ptr_null(parse("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":12}", &cmd));
	ck_assert_int_eq(cmd.kind, WS_CMD_SUBSCRIBE);
	ck_assert_int_eq(cmd.has_since, 1);
	ck_assert_int_eq(cmd.since, 12);
	ws_command_fini(&cmd);
	ck_assert_ptr_null(parse("{\"type\":\"subscribe\",\"channel\":\"c\"}", &cmd));
	ck_assert_int_eq(cmd.has_since, 0);
	ws_command_fini(&cmd);
	ck_assert_ptr_null(parse("{\"type\":\"unsubscribe\",\"channel\":\"c\"}", &cmd));
	ck_assert_int_eq(cmd.kind, WS_CMD_UNSUBSCRIBE);
	ws_command_fini(&cmd);
}
END_TEST

/* ---- Errors ------------------------------------------------------------- */

START_TEST(test_command_errors)
{
	struct ws_command cmd;

	ck_assert_str_eq(parse("{not json", &cmd), "invalid_json");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("[1,2]", &cmd), "invalid_json");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("", &cmd), "invalid_json");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"a\\u0000b\"}", &cmd),
			 "invalid_json");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"channel\":\"c\"}", &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"dance\",\"channel\":\"c\",\"id\":3}", &cmd), "unknown_type");
	ck_assert_str_eq(cmd.id, "3"); /* the error can carry it */
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"bad name\",\"data\":1}", &cmd), "bad_channel");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\"}", &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":7,\"data\":1}", &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"event\":5}", &cmd),
			 "invalid_command");
	ws_command_fini(&cmd);
	/* One event-name rule everywhere (route_event_valid): no control
	 * character, not only no line break. */
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"event\":\"a\\u0001b\"}", &cmd),
			 "bad_event");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"event\":\"a\\tb\"}", &cmd),
			 "bad_event");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"event\":\"\"}", &cmd),
			 "bad_event");
	ws_command_fini(&cmd);
	/* A lone surrogate escape decodes to bytes that are not UTF-8. */
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"\\ud800\"}", &cmd),
			 "invalid_utf8");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":-3}", &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"subscribe\",\"channel\":\"c\",\"since\":1.5}", &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1,\"id\":{}}", &cmd),
			 "invalid_command");
	ws_command_fini(&cmd);
}
END_TEST

START_TEST(test_command_too_large)
{
	struct ws_command cmd;
	char text[256];

	snprintf(text, sizeof text, "{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"%0101d\"}", 0);
	ck_assert_str_eq(parse(text, &cmd), "too_large");
	ws_command_fini(&cmd);
	snprintf(text, sizeof text, "{\"type\":\"publish\",\"channel\":\"c\",\"data\":\"%0100d\"}", 0);
	ck_assert_ptr_null(parse(text, &cmd));
	ws_command_fini(&cmd);
}
END_TEST

/* ---- Frames ------------------------------------------------------------ */

/* A binary client message: header length, header, body (ws.h). On failure
 * return the code. */
static const char *
parse_binary(const char *header, const void *body, size_t body_len, struct ws_command *cmd)
{
	size_t h = strlen(header), n = 4 + h + body_len;
	unsigned char *msg = xmalloc(n);
	const char *code = NULL;
	char *detail = NULL;
	int rc;

	msg[0] = (unsigned char)(h >> 24);
	msg[1] = (unsigned char)(h >> 16);
	msg[2] = (unsigned char)(h >> 8);
	msg[3] = (unsigned char)h;
	memcpy(msg + 4, header, h);
	memcpy(msg + 4 + h, body, body_len);
	rc = ws_command_parse_binary(jp, msg, n, 100, cmd, &code, &detail);
	memset(msg, 0, n); /* the command must hold its own copy */
	free(msg);
	if (rc == 0)
		return NULL;
	ck_assert_ptr_nonnull(detail);
	free(detail);
	return code;
}

START_TEST(test_command_binary)
{
	static const unsigned char raw[] = {0, 1, 0xfe, 0xff, 'x'};
	unsigned char tiny[3] = {0, 0, 0};
	struct ws_command cmd;
	const char *code = NULL;
	char *detail = NULL;

	ck_assert_ptr_null(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"id\":\"b\"}", raw, sizeof raw, &cmd));
	ck_assert_int_eq(cmd.kind, WS_CMD_PUBLISH);
	ck_assert_str_eq(cmd.content_type, "application/octet-stream");
	ck_assert_uint_eq(cmd.data_len, sizeof raw);
	ck_assert(memcmp(cmd.data, raw, sizeof raw) == 0);
	ck_assert_str_eq(cmd.id, "\"b\"");
	ws_command_fini(&cmd);

	ck_assert_ptr_null(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":\"image/png\","
					"\"event\":\"e\"}", "", 0, &cmd));
	ck_assert_str_eq(cmd.content_type, "image/png");
	ck_assert_str_eq(cmd.event, "e");
	ck_assert_uint_eq(cmd.data_len, 0);
	ws_command_fini(&cmd);

	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"data\":1}", raw, 1, &cmd),
			 "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("{\"type\":\"subscribe\",\"channel\":\"c\"}", "", 0, &cmd), "invalid_command");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":\"png\"}", "", 0, &cmd),
			 "bad_content_type");
	ws_command_fini(&cmd);
	/* Issue 10 item 1: a stored type is replayed as a header. */
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\","
				      "\"content_type\":\"text/plain\\r\\nSet-Cookie: a=b\"}",
				      "", 0, &cmd),
			 "bad_content_type");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":7}", "", 0, &cmd),
			 "invalid_command");
	ws_command_fini(&cmd);
	/* Issue 10 item 6: a JSON or text body must be UTF-8, a JSON one JSON. */
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":\"text/plain\"}",
				      "\xff", 1, &cmd),
			 "invalid_utf8");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":\"application/json\"}",
				      "\"\xc3\"", 3, &cmd),
			 "invalid_utf8");
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\",\"content_type\":\"application/json\"}",
				      "{x", 2, &cmd),
			 "bad_json");
	ws_command_fini(&cmd);
	ck_assert_ptr_null(parse_binary("{\"type\":\"publish\",\"channel\":\"c\","
					"\"content_type\":\"text/plain; charset=iso-8859-1\"}",
					"\xe9", 1, &cmd));
	ws_command_fini(&cmd);
	ck_assert_str_eq(parse_binary("[1]", "", 0, &cmd), "invalid_json");
	ws_command_fini(&cmd);
	{
		static char big[101];

		ck_assert_str_eq(parse_binary("{\"type\":\"publish\",\"channel\":\"c\"}", big, sizeof big, &cmd),
				 "too_large");
		ws_command_fini(&cmd);
	}
	/* Shorter than the length field, or a header length past the end. */
	ck_assert_int_eq(ws_command_parse_binary(jp, tiny, sizeof tiny, 100, &cmd, &code, &detail), -1);
	ck_assert_str_eq(code, "invalid_command");
	free(detail);
	ws_command_fini(&cmd);
	ck_assert_int_eq(ws_command_parse_binary(jp, (const unsigned char *)"\0\0\0\x09{}", 6, 100, &cmd, &code, &detail),
			 -1);
	ck_assert_str_eq(code, "invalid_command");
	free(detail);
	ws_command_fini(&cmd);
}
END_TEST

/* A message on channel "c". */
static void
message_init(struct msg *m, int64_t seq, int64_t time_ms, const char *content_type, const void *body,
	     size_t len)
{
	memset(m, 0, sizeof *m);
	m->seq = seq;
	m->time_ms = time_ms;
	m->channel = "c";
	m->content_type = content_type;
	m->body = body;
	m->body_len = len;
}

START_TEST(test_frame_binary_message)
{
	static const unsigned char raw[] = {0, 0x80, 'z'};
	struct msg m;
	struct buf b;
	size_t h;

	buf_init(&b);
	message_init(&m, 9, 7, "application/octet-stream", raw, sizeof raw);
	ck_assert_int_eq(ws_frame_message(&b, &m), 1);
	h = (size_t)(unsigned char)b.data[0] << 24 | (size_t)(unsigned char)b.data[1] << 16 |
	    (size_t)(unsigned char)b.data[2] << 8 | (unsigned char)b.data[3];
	ck_assert_uint_eq(b.len, 4 + h + sizeof raw);
	ck_assert_mem_eq(b.data + 4, "{\"type\":\"message\",\"channel\":\"c\",\"seq\":9,\"time\":7,"
				     "\"content_type\":\"application/octet-stream\",\"size\":3}", h);
	ck_assert_mem_eq(b.data + 4 + h, raw, sizeof raw);

	/* Text that is not UTF-8 is binary too; UTF-8 text and JSON are not. */
	buf_reset(&b);
	m.content_type = "text/plain";
	ck_assert_int_eq(ws_frame_message(&b, &m), 1);
	buf_reset(&b);
	m.body = (const unsigned char *)"ok";
	m.body_len = 2;
	ck_assert_int_eq(ws_frame_message(&b, &m), 0);
	buf_reset(&b);
	m.body_omitted = 1; /* a large object is announced in text */
	m.content_type = "video/mp4";
	ck_assert_int_eq(ws_frame_message(&b, &m), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "\"omitted\":true"));
	buf_fini(&b);
}
END_TEST

START_TEST(test_frames)
{
	struct msg m;
	struct buf b;

	buf_init(&b);
	ws_frame_ack(&b, "\"a\"", "ch", 12, 0);
	ck_assert_str_eq(b.data, "{\"type\":\"ack\",\"id\":\"a\",\"channel\":\"ch\",\"seq\":12}");
	buf_reset(&b);
	ws_frame_ack(&b, NULL, "ch", 3, 1);
	ck_assert_str_eq(b.data, "{\"type\":\"ack\",\"channel\":\"ch\",\"seq\":3,\"replayed\":true}");
	buf_reset(&b);
	ws_frame_error(&b, "bad_channel", "a \"name\"", "5");
	ck_assert_str_eq(b.data, "{\"type\":\"error\",\"error\":\"bad_channel\",\"detail\":\"a \\\"name\\\"\",\"id\":5}");
	buf_reset(&b);
	ws_frame_gap(&b, 9, "00ff");
	ck_assert_str_eq(b.data, "{\"type\":\"gap\",\"oldest\":9,\"epoch\":\"00ff\"}");
	buf_reset(&b);
	ws_frame_deleted(&b, "x");
	ck_assert_str_eq(b.data, "{\"type\":\"deleted\",\"channel\":\"x\"}");
	buf_reset(&b);
	ws_frame_subscribed(&b, "x", 4, NULL);
	ck_assert_str_eq(b.data, "{\"type\":\"subscribed\",\"channel\":\"x\",\"since\":4}");
	buf_reset(&b);
	ws_frame_unsubscribed(&b, "x", "1");
	ck_assert_str_eq(b.data, "{\"type\":\"unsubscribed\",\"channel\":\"x\",\"id\":1}");
	buf_reset(&b);
	message_init(&m, 5, 1000, "text/plain", "hi", 2);
	ws_frame_message(&b, &m);
	ck_assert_msg(strncmp(b.data, "{\"type\":\"message\",", 18) == 0, "%s", b.data);
	ck_assert_ptr_nonnull(strstr(b.data, "\"seq\":5"));
	ck_assert_ptr_nonnull(strstr(b.data, "\"data\":\"hi\""));
	buf_fini(&b);
}
END_TEST

/* A client frame: FIN, opcode, masked or not, with a payload of len bytes
 * (7-bit, 16-bit or 64-bit length form as RFC 6455 §5.2 picks). */
static size_t
client_frame(unsigned char *out, unsigned opcode, int masked, size_t len)
{
	size_t k = 0, i;

	out[k++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		out[k++] = (unsigned char)((masked ? 0x80 : 0) | len);
	} else if (len < 65536) {
		out[k++] = (unsigned char)((masked ? 0x80 : 0) | 126);
		out[k++] = (unsigned char)(len >> 8);
		out[k++] = (unsigned char)len;
	} else {
		out[k++] = (unsigned char)((masked ? 0x80 : 0) | 127);
		for (i = 0; i < 8; i++)
			out[k++] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	}
	if (masked) {
		memcpy(out + k, "\x11\x22\x33\x44", 4);
		k += 4;
	}
	memset(out + k, 0x81, len); /* payload bytes that look like headers */
	return k + len;
}

static const char request_head[] = "GET /push/ws/channels/a HTTP/1.1\r\nHost: x\r\n\r\n";

START_TEST(test_frame_check_masked)
{
	static unsigned char stream[80000];
	struct ws_frame_check fc;
	size_t n = 0, i, step;

	memset(&fc, 0, sizeof fc);
	memcpy(stream, request_head, sizeof request_head - 1);
	n += sizeof request_head - 1;
	n += client_frame(stream + n, 1, 1, 5);
	n += client_frame(stream + n, 9, 1, 0); /* ping */
	n += client_frame(stream + n, 2, 1, 300);
	n += client_frame(stream + n, 2, 1, 70000);
	n += client_frame(stream + n, 1, 1, 125);
	/* Whole, and in every read size from 1 byte up: never flagged. */
	for (step = 1; step <= 17; step += (step < 4 ? 1 : 13)) {
		ws_frame_check_init(&fc);
		for (i = 0; i < n; i += step) {
			size_t k = n - i < step ? n - i : step;

			ck_assert_uint_eq(ws_frame_check_feed(&fc, stream + i, k), k);
		}
		ck_assert_int_eq(fc.close_code, 0);
	}
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, n), n);
	ck_assert_int_eq(fc.close_code, 0);
	ck_assert_str_eq(fc.target.data, "/push/ws/channels/a");
	ws_frame_check_fini(&fc);
}
END_TEST

START_TEST(test_frame_check_unmasked)
{
	unsigned char stream[2048];
	struct ws_frame_check fc;
	size_t head = sizeof request_head - 1, good, n;

	memset(&fc, 0, sizeof fc);
	memcpy(stream, request_head, head);
	good = head + client_frame(stream + head, 1, 1, 300);
	n = good + client_frame(stream + good, 1, 0, 10);
	n += client_frame(stream + n, 1, 1, 10);

	/* In one read: the bytes before the unmasked frame's header. */
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, n), good);
	ck_assert_int_eq(fc.close_code, 1002);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, n), 0); /* sticky */

	/* The header split across reads: its first byte went out before. */
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, good + 1), good + 1);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream + good + 1, n - good - 1), 0);
	ck_assert_int_eq(fc.close_code, 1002);

	/* The header at the start of a read. */
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, good), good);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream + good, n - good), 0);

	/* A frame pipelined behind the request head is checked too. */
	ws_frame_check_init(&fc);
	memcpy(stream, request_head, head);
	n = head + client_frame(stream + head, 8, 0, 2);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, n), head);

	/* Header bytes inside the request head are not frames. */
	static const char partial_head[] = "GET / HTTP/1.1\r\nX: \x81\x05\r\n\r";

	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, (const unsigned char *)partial_head, sizeof partial_head - 1),
			  sizeof partial_head - 1);
	ck_assert_int_eq(fc.close_code, 0);
	ws_frame_check_fini(&fc);
}
END_TEST

/* A masked frame of opcode with payload p (len bytes, at most 125). */
static size_t
client_frame_with(unsigned char *out, unsigned opcode, const void *p, size_t len)
{
	static const unsigned char key[4] = {0x11, 0x22, 0x33, 0x44};
	size_t i;

	out[0] = (unsigned char)(0x80 | opcode);
	out[1] = (unsigned char)(0x80 | len);
	memcpy(out + 2, key, 4);
	for (i = 0; i < len; i++)
		out[6 + i] = ((const unsigned char *)p)[i] ^ key[i & 3];
	return 6 + len;
}

/* Feed head, a good text frame, then frame (n bytes), whole and a byte at a
 * time; the check must stop at frame's header with close code want. */
static void
check_bad_frame(const unsigned char *frame, size_t n, int want)
{
	unsigned char stream[512];
	struct ws_frame_check fc;
	size_t head = sizeof request_head - 1, good, total, i, passed = 0;

	memcpy(stream, request_head, head);
	good = head + client_frame(stream + head, 1, 1, 20);
	memcpy(stream + good, frame, n);
	total = good + n;
	memset(&fc, 0, sizeof fc);
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, stream, total), good);
	ck_assert_int_eq(fc.close_code, want);
	ck_assert_ptr_nonnull(fc.why);
	ws_frame_check_init(&fc);
	for (i = 0; i < total && fc.close_code == 0; i++)
		passed += ws_frame_check_feed(&fc, stream + i, 1);
	ck_assert_int_eq(fc.close_code, want);
	ck_assert_uint_ge(passed, good);
	ck_assert_uint_lt(passed, total); /* the frame's last byte never went out */
	ws_frame_check_fini(&fc);
}

/* RFC 6455 §5.5: control frames carry at most 125 bytes; §5.2: a 64-bit
 * length has its top bit clear. Both are 1002 (lws drops the connection
 * without a close frame). */
START_TEST(test_frame_check_lengths)
{
	unsigned char f[256];
	unsigned op;

	for (op = 8; op <= 10; op++) /* 126 bytes: the 16-bit length form */
		check_bad_frame(f, client_frame(f, op, 1, 126), 1002);
	memcpy(f, "\x89\xff\0\0\0\0\0\0\0\x7e", 10); /* ping, 64-bit length 126 */
	check_bad_frame(f, 10, 1002);
	memcpy(f, "\x82\xff\x80\0\0\0\0\0\0\x01", 10); /* binary, 2^63 + 1 bytes */
	check_bad_frame(f, 10, 1002);
	memcpy(f, "\x82\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 10); /* 2^63 - 1: not this check's business */
	{
		struct ws_frame_check fc;
		unsigned char s[128];
		size_t h = sizeof request_head - 1;

		memcpy(s, request_head, h);
		memcpy(s + h, f, 10);
		memset(&fc, 0, sizeof fc);
		ws_frame_check_init(&fc);
		ck_assert_uint_eq(ws_frame_check_feed(&fc, s, h + 10), h + 10);
		ck_assert_int_eq(fc.close_code, 0);
		ws_frame_check_fini(&fc);
	}
}
END_TEST

/* RFC 6455 §5.5.1, §7.4: a close body is empty or a valid code, then UTF-8. */
START_TEST(test_close_payload)
{
	static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014,
					 3000, 3999, 4000, 4999};
	static const unsigned invalid[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535};
	unsigned char p[8] = {0}, f[64];
	size_t i;
	const char *why = "x";

	ck_assert_int_eq(ws_close_payload_check(p, 0, &why), 0);
	ck_assert_ptr_null(why);
	for (i = 0; i < sizeof valid / sizeof *valid; i++) {
		p[0] = (unsigned char)(valid[i] >> 8);
		p[1] = (unsigned char)valid[i];
		ck_assert_int_eq(ws_close_code_valid(valid[i]), 1);
		ck_assert_int_eq(ws_close_payload_check(p, 2, NULL), 0);
	}
	for (i = 0; i < sizeof invalid / sizeof *invalid; i++) {
		p[0] = (unsigned char)(invalid[i] >> 8);
		p[1] = (unsigned char)invalid[i];
		ck_assert_int_eq(ws_close_code_valid(invalid[i]), 0);
		ck_assert_int_eq(ws_close_payload_check(p, 2, &why), 1002);
		ck_assert_ptr_nonnull(why);
		check_bad_frame(f, client_frame_with(f, 8, p, 2), 1002);
	}
	check_bad_frame(f, client_frame_with(f, 8, "\x03", 1), 1002);  /* 1 byte */
	memcpy(p, "\x03\xe8ok\xc3\xa9", 6);                          /* 1000 "ok\u00e9" */
	ck_assert_int_eq(ws_close_payload_check(p, 6, NULL), 0);
	memcpy(p, "\x03\xe8ok\xff", 5);                               /* 1000, not UTF-8 */
	ck_assert_int_eq(ws_close_payload_check(p, 5, NULL), 1007);
	check_bad_frame(f, client_frame_with(f, 8, p, 5), 1007);
	memcpy(p, "\x03\xe8\xed\xa0\x80", 5);                         /* a surrogate */
	check_bad_frame(f, client_frame_with(f, 8, p, 5), 1007);
}
END_TEST

/* Good close frames pass, and the check remembers the code (fcpush-ws puts
 * back the 1012-1014 lws rewrites); frames after them are still checked. */
START_TEST(test_frame_check_close_ok)
{
	unsigned char s[512];
	struct ws_frame_check fc;
	size_t h = sizeof request_head - 1, n = h, i;

	memcpy(s, request_head, h);
	n += client_frame_with(s + n, 8, "", 0);
	n += client_frame_with(s + n, 8, "\x03\xf5try later", 11); /* 1013 */
	memset(&fc, 0, sizeof fc);
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, s, n), n);
	ck_assert_int_eq(fc.close_code, 0);
	ck_assert_uint_eq(fc.peer_close, 1013);
	ws_frame_check_init(&fc);
	for (i = 0; i < n; i++)
		ck_assert_uint_eq(ws_frame_check_feed(&fc, s + i, 1), 1);
	ck_assert_uint_eq(fc.peer_close, 1013);
	n += client_frame(s + n, 1, 0, 3); /* unmasked after them */
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, s, n), n - 5);
	ck_assert_int_eq(fc.close_code, 1002);
	ws_frame_check_fini(&fc);
}
END_TEST

/* The request target is kept as sent: percent escapes, '+', "/../" and all
 * (lws decodes and collapses its copy); one over WS_MAX_TARGET_BYTES is
 * flagged. */
START_TEST(test_frame_check_target)
{
	static const char head[] = "GET /push/ws/channels/%2561/../x+y?since=1&q=%26 HTTP/1.1\r\nHost: h\r\n\r\n";
	struct ws_frame_check fc;
	struct buf b;
	size_t i;

	memset(&fc, 0, sizeof fc);
	ws_frame_check_init(&fc);
	for (i = 0; i < sizeof head - 1; i++)
		ws_frame_check_feed(&fc, (const unsigned char *)head + i, 1);
	ck_assert_int_eq(fc.target_too_long, 0);
	ck_assert_uint_eq(fc.target.len, strlen("/push/ws/channels/%2561/../x+y?since=1&q=%26"));
	ck_assert(memcmp(fc.target.data, "/push/ws/channels/%2561/../x+y?since=1&q=%26", fc.target.len) == 0);

	buf_init(&b);
	buf_puts(&b, "GET /");
	for (i = 0; i < WS_MAX_TARGET_BYTES; i++)
		buf_putc(&b, 'a');
	buf_puts(&b, " HTTP/1.1\r\n\r\n");
	ws_frame_check_init(&fc);
	ck_assert_uint_eq(ws_frame_check_feed(&fc, (const unsigned char *)b.data, b.len), b.len);
	ck_assert_int_eq(fc.target_too_long, 1);
	ck_assert_uint_eq(fc.target.len, WS_MAX_TARGET_BYTES);
	buf_fini(&b);
	ws_frame_check_fini(&fc);
}
END_TEST

Suite *
ws_suite(void)
{
	Suite *s = suite_create("ws");
	TCase *tc;

	tc = tcase_create("Core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake_ok);
	tcase_add_test(tc, test_target);
	tcase_add_test(tc, test_command_publish);
	tcase_add_test(tc, test_command_subscribe);
	tcase_add_test(tc, test_frames);
	tcase_add_test(tc, test_frame_check_masked);
	tcase_add_test(tc, test_command_binary);
	tcase_add_test(tc, test_frame_binary_message);
	suite_add_tcase(s, tc);

	tc = tcase_create("Errors");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake_bad);
	tcase_add_test(tc, test_target_bad);
	tcase_add_test(tc, test_command_errors);
	tcase_add_test(tc, test_command_too_large);
	tcase_add_test(tc, test_frame_check_unmasked);
	tcase_add_test(tc, test_frame_check_lengths);
	tcase_add_test(tc, test_close_payload);
	tcase_add_test(tc, test_frame_check_close_ok);
	tcase_add_test(tc, test_frame_check_target);
	suite_add_tcase(s, tc);
	return s;
}
