/* SPDX-License-Identifier: MIT */
/*
 * The WebSocket protocol "fcpush.v1" of fcpush-ws, without the sockets:
 * checking a handshake, reading the URL, parsing and validating client
 * commands, and building the JSON text frames the server sends. The daemon
 * (ws_main.c and the files of wsd.h) does the I/O with libwebsockets;
 * ws_proto.h holds the conversation; everything here is plain data
 * in, data out, so the unit tests exercise it directly.
 */
#ifndef FCPUSH_WS_H
#define FCPUSH_WS_H

#include <stddef.h>
#include <stdint.h>

#include "cursor.h"
#include "json_parse.h"
#include "msg.h"
#include "util.h"

/* The subprotocol name (Sec-WebSocket-Protocol). A handshake without one is
 * served the same protocol. */
#define WS_SUBPROTOCOL "fcpush.v1"

/* Close codes (RFC 6455 §7.4.1, and 4000-4999 for the application). */
#define WS_CLOSE_GOING_AWAY 1001 /* the daemon stops (SIGTERM) */
#define WS_CLOSE_TRY_AGAIN 1013  /* the client fell too far behind: reconnect with ?since */
#define WS_CLOSE_TOO_BIG 1009    /* a client message over ws_max_message_bytes */
#define WS_CLOSE_DELETED 4410    /* a subscribed channel was deleted */
#define WS_CLOSE_AUTH_EXPIRED 4401 /* the handshake's token expired: get a fresh one, reconnect with ?since */

/* The most bytes of a command's "id" (its JSON text) echoed back. */
#define WS_MAX_ID_BYTES 256

/* Check the WebSocket parts of an upgrade request (RFC 6455 §4.2.1): version
 * is the Sec-WebSocket-Version header, key Sec-WebSocket-Key, protocols
 * Sec-WebSocket-Protocol (each NULL when absent). The key must be the base64
 * form of 16 bytes; the version must be 13; a protocol list, when sent, must
 * name WS_SUBPROTOCOL. Returns 0 when the handshake may go on, else the HTTP
 * status to refuse it with (426 for the version, which the caller answers with
 * Sec-WebSocket-Version: 13; 400 otherwise) and sets *cause (caller frees; may
 * be NULL) to a sentence. */
int ws_handshake_check(const char *version, const char *key, const char *protocols, char **cause);

/* What a WebSocket URL asks for: {mount}/ws/channels/{ch[,ch...]} with an
 * optional cursor (?since=, ?lastEventId=, ?last_event_id=; SEQ or
 * EPOCH:SEQ, and ?epoch=) or ?last=N. */
struct ws_target {
	char **channels; /* nchannels names, each malloc'd */
	size_t nchannels;
	int has_since;   /* a cursor was given */
	int64_t since;
	int64_t last;    /* ?last=N: the last N messages, then live (0: not asked) */
	char epoch[CURSOR_EPOCH_MAX + 1]; /* the cursor's database epoch; "" when none */
};

/* Read a request URI (path and query, raw as sent) into t; ?last may ask for
 * 1..max_last messages. Returns 0, or the
 * HTTP status to refuse the handshake with (404 for a path that is not a
 * WebSocket endpoint, 400 for a bad channel name or cursor) with *code (a
 * static error code) and *cause (caller frees; may be NULL). t must be
 * ws_target_fini'd either way. */
int ws_target_parse(const char *uri, int64_t max_last, struct ws_target *t, const char **code, char **cause);
void ws_target_fini(struct ws_target *t);

enum ws_command_kind { WS_CMD_PUBLISH = 0, WS_CMD_SUBSCRIBE, WS_CMD_UNSUBSCRIBE };

/* A client command. Strings point into members (owned; ws_command_fini
 * frees). id is the JSON text of the command's "id" to echo back, NULL when
 * it had none. */
struct ws_command {
	enum ws_command_kind kind;
	const char *channel;
	const char *event;        /* publish: NULL when none */
	const char *content_type; /* publish: how data is stored */
	const char *data;         /* publish: the body */
	const char *idem_key;     /* publish: its idempotency key (store.h), NULL when none */
	size_t data_len;
	int has_since;            /* subscribe: "since" was given */
	int64_t since;
	char *id;
	struct json_parse_member *members;
	unsigned char *body; /* a binary publish's body (data points here) */
};

/* Parse one client text message of len bytes into cmd with jp (json1 on the
 * caller's private connection). The commands:
 *   {"type":"publish","channel":C,"data":ANY,"event":S?,"idempotency_key":K?,"id":ID?}
 *   {"type":"subscribe","channel":C,"since":N?,"id":ID?}
 *   {"type":"unsubscribe","channel":C,"id":ID?}
 * A string data is stored as text/plain; charset=utf-8, any other JSON value
 * as its JSON text with application/json; data over max_data_bytes is
 * refused; an event name must pass route_event_valid and an idempotency key
 * store_idem_key_valid. Returns 0, or -1 with
 * *code (a static error code: invalid_json, invalid_utf8 (a lone surrogate
 * escape), invalid_command, unknown_type, bad_channel, bad_event,
 * bad_idempotency_key, too_large, json_error) and
 * *detail (caller frees) set; cmd->id is set whenever the id could be read,
 * so the error can carry it. cmd must be ws_command_fini'd either way. */
int ws_command_parse(struct json_parse *jp, const char *text, size_t len, int64_t max_data_bytes,
		     struct ws_command *cmd, const char **code, char **detail);
void ws_command_fini(struct ws_command *cmd);

/* Binary messages, in both directions: a 4-byte big-endian length H, then H
 * bytes of JSON (the header), then the body up to the end of the message.
 * Server to client, a message whose body is neither JSON nor UTF-8 text
 * (the HTTP API and text frames would carry it in base64):
 *   {"type":"message","channel":C,"seq":N,"time":MS,"event":E?,"content_type":T,"size":BYTES}
 * Client to server, a publish of raw bytes:
 *   {"type":"publish","channel":C,"content_type":T?,"event":E?,"idempotency_key":K?,"id":ID?}
 * with no "data"; T defaults to application/octet-stream. */
#define WS_BINARY_HEAD_BYTES 4

/* Parse one binary client message of len bytes (see above) into cmd, as
 * ws_command_parse does a text one; the body is copied (cmd->body). Only
 * publish may be binary. Errors as ws_command_parse's, plus invalid_command
 * for a header length past the end of the message or a "data" member,
 * bad_content_type for a content_type that is not an RFC 9110 media type
 * (http_content_type_valid), invalid_utf8 for a JSON or text body that is not
 * UTF-8 (json_content_type_utf8) and bad_json for a JSON one that is not
 * JSON. */
int ws_command_parse_binary(struct json_parse *jp, const unsigned char *msg, size_t len, int64_t max_data_bytes,
			    struct ws_command *cmd, const char **code, char **detail);

/* Server frames, appended to b as JSON text (RFC 8259). id_json is the JSON
 * text of the command's id, or NULL to leave "id" out. */
/* {"type":"ack","id":ID,"channel":C,"seq":N} after a publish committed;
 * with replayed, "replayed":true is added: the publish repeated an earlier
 * one's idempotency key and N is that publish's seq (nothing was stored). */
void ws_frame_ack(struct buf *b, const char *id_json, const char *channel, int64_t seq, int replayed);
/* {"type":"error","error":CODE,"detail":TEXT,"id":ID}. */
void ws_frame_error(struct buf *b, const char *code, const char *detail, const char *id_json);
/* {"type":"gap","oldest":N,"epoch":E}: messages before N (up to the cursor)
 * were deleted by retention, or the cursor was above every seq of this
 * database (epoch E: store_epoch, hex digits, not escaped). */
void ws_frame_gap(struct buf *b, int64_t oldest, const char *epoch);
/* {"type":"deleted","channel":C}, before the close 4410. */
void ws_frame_deleted(struct buf *b, const char *channel);
/* {"type":"subscribed","channel":C,"since":N,"id":ID} answering subscribe,
 * and {"type":"unsubscribed","channel":C,"id":ID} answering unsubscribe. */
void ws_frame_subscribed(struct buf *b, const char *channel, int64_t since, const char *id_json);
void ws_frame_unsubscribed(struct buf *b, const char *channel, const char *id_json);
/* Message m as a frame: the message object of json_append_message with
 * "type":"message" (a text frame; returns 0), or, for a body json.h calls
 * binary, the binary message described above (returns 1). */
int ws_frame_message(struct buf *b, const struct msg *m);

/* Close codes a client may send (RFC 6455 §7.4.1-2 and the IANA "WebSocket
 * Close Code Number Registry"): 1000-1003, 1007-1014 and 3000-4999. 1004 is
 * reserved, 1005, 1006 and 1015 must never be on the wire, the rest of
 * 0-2999 is unassigned and 5000 and above are outside the registry. */
int ws_close_code_valid(unsigned code);

/* Check the payload of a client's close frame (len bytes, unmasked):
 * empty, or a valid close code (ws_close_code_valid) in two bytes, network
 * order, then a reason in UTF-8 (RFC 6455 §5.5.1). Returns 0 when it is
 * well formed, else the close code to answer with: 1002 (protocol error) for
 * a 1-byte body or an invalid code, 1007 (invalid payload) for a reason that
 * is not UTF-8; *why (may be NULL) is then set to a static sentence. */
int ws_close_payload_check(const unsigned char *p, size_t len, const char **why);

/* The most bytes of a request target (the path and query of the request
 * line) ws_frame_check keeps. */
#define WS_MAX_TARGET_BYTES 8192

/* The frames of a client, checked on the bytes read from its socket before
 * libwebsockets parses them, for what lws 4.1.6 lets through or drops
 * without the close frame RFC 6455 asks for (§7.1.7, "Fail the WebSocket
 * Connection"; lws's parser in roles/ws/ops-ws.c, and upstream's to date):
 *   - a frame without the MASK bit (§5.1: "The server MUST close the
 *     connection upon receiving a frame that is not masked"): lws takes the
 *     payload as it is;
 *   - a control frame whose payload is over 125 bytes (§5.5), and a 64-bit
 *     payload length with its most significant bit set (§5.2): lws hangs up
 *     without a close frame;
 *   - a close frame with a 1-byte body or an invalid code (lws echoes 5000
 *     and above back), or a reason that is not UTF-8 (lws hangs up without a
 *     close frame): see ws_close_payload_check.
 * Each is answered 1002 (protocol error), the bad reason 1007. fcpush-ws
 * feeds every byte read from a connection, in order, to one of these. The
 * checker reads only what it needs: the request head up to its blank line
 * (keeping the request target as sent, which lws hands on percent-decoded
 * and with its path collapsed), then each frame's header; it skips the
 * masking key and payload of data frames and unmasks only close frames'
 * payloads (at most 125 bytes). Framing is still lws's: this never delivers
 * anything. */
struct ws_frame_check {
	unsigned char state;   /* WS_FC_* in ws.c */
	unsigned char matched; /* head: bytes of "\r\n\r\n" matched */
	unsigned char line;    /* head: 0 method, 1 target, 2 past the target */
	unsigned char opcode;  /* of the frame being read */
	unsigned char ext;     /* extended length bytes still to read */
	unsigned char nkey;    /* close frame: masking key bytes read */
	unsigned char key[4];
	unsigned char ctl[125]; /* close frame: its payload, unmasked */
	unsigned char nctl;
	int close_code;        /* 1002 or 1007 once a bad frame was seen: sticky */
	const char *why;       /* a static sentence saying what was wrong */
	unsigned peer_close;   /* the code of the client's last close frame (0: none or empty) */
	int target_too_long;   /* the request target was over WS_MAX_TARGET_BYTES */
	struct buf target;     /* the request target as sent */
	uint64_t len;          /* payload length being read */
	uint64_t skip;         /* masking key and payload bytes still to skip */
};

/* Start checking a new connection: its first bytes are an HTTP request head
 * (RFC 6455 §4.1: the client sends no frame before the server's answer). fc
 * must be zeroed or ws_frame_check_fini'd. */
void ws_frame_check_init(struct ws_frame_check *fc);

/* Release what fc holds (the request target); fc may be zeroed. */
void ws_frame_check_fini(struct ws_frame_check *fc);

/* Feed the next n bytes read from the connection. Returns n when they hold
 * no bad frame; else the number of bytes before the header of the first bad
 * frame (0 when that header began in an earlier read) and sets
 * fc->close_code and fc->why, after which every feed returns 0. */
size_t ws_frame_check_feed(struct ws_frame_check *fc, const unsigned char *p, size_t n);

#endif
