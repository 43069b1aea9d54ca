/* SPDX-License-Identifier: MIT */
/*
 * The fcpush.v1 conversation of fcpush-ws, without libwebsockets: whether a
 * handshake is accepted, and what each client command does and is answered
 * (ws.h parses the commands and builds the frames). The connection it acts
 * on is the caller's, reached through a table of operations: fcpush-ws's
 * connections (ws_conn.c), or a unit test's stand-in. Nothing here keeps
 * state between calls but struct ws_proto, which its owner passes in.
 */
#ifndef FCPUSH_WS_PROTO_H
#define FCPUSH_WS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"
#include "ws.h"

struct auth;
struct auth_claims;
struct config;
struct json_parse;

/* An upgrade request as fcpush-ws received it. Strings are NULL when
 * absent. */
struct ws_proto_handshake {
	const char *version;   /* Sec-WebSocket-Version */
	const char *key;       /* Sec-WebSocket-Key */
	const char *protocols; /* Sec-WebSocket-Protocol */
	const char *origin;    /* Origin */
	const char *uri;       /* the request target as sent; NULL when none or too long */
	int uri_too_long;      /* it was over WS_MAX_TARGET_BYTES */
	int stopping;          /* the daemon is shutting down */
	size_t nconns;         /* WebSockets open now */
	const char *host;      /* the host the request was sent to (X-Forwarded-Host, else Host):
				* the site's own origin when auth is on and ws_allowed_origins is empty */
};

/* Decide on handshake h under cfg (ws_allowed_origins, ws_max_connections,
 * page_messages as the ?last cap; the token is the caller's to check, on the
 * channels it accepts). Returns 0 to accept it, else the HTTP
 * status to refuse it with: 503 shutting_down or too_many_connections, 426
 * upgrade_required or 400 bad_handshake (ws_handshake_check), 403
 * origin_not_allowed, 414 uri_too_long, 400 bad_request, or what
 * ws_target_parse refuses the URL with; *code is then a static error code
 * and *cause (caller frees) a sentence. */
int ws_proto_handshake(const struct config *cfg, const struct ws_proto_handshake *h, const char **code,
		       char **cause);

/* What the conversation does to a connection (conn: the caller's). */
struct ws_proto_ops {
	/* Queue text frame b (copied) to conn. */
	void (*send)(void *conn, const struct buf *b);
	/* Whether conn is subscribed to channel. */
	int (*subscribed)(void *conn, const char *channel);
	/* How many channels conn is subscribed to. */
	size_t (*nsubs)(void *conn);
	/* Subscribe conn to channel, from cursor since when has_since (a gap
	 * frame may be queued first), else live. Returns the cursor its
	 * messages start after. */
	int64_t (*subscribe)(void *conn, const char *channel, int has_since, int64_t since);
	/* Unsubscribe conn from channel (it is subscribed). */
	void (*unsubscribe)(void *conn, const char *channel);
	/* Queue cmd, a valid publish, for the next group commit; it is moved
	 * (the callee ws_command_fini's it) and answered later (ack or error). */
	void (*publish)(void *conn, struct ws_command *cmd);
	/* What conn's handshake token grants (NULL: no valid token), and in
	 * *from_cookie whether it came in a cookie (it may not publish). May
	 * be NULL: no connection has a token. */
	const struct auth_claims *(*claims)(void *conn, int *from_cookie);
};

/* The conversation's state: its operations, the JSON parser and config it
 * borrows, and a scratch buffer for replies. */
struct ws_proto {
	const struct ws_proto_ops *ops;
	struct json_parse *jp;
	const struct config *cfg;
	struct auth *auth; /* access control (auth.h), borrowed; NULL: none */
	struct buf scratch;
};

/* Set up p on caller storage; ops, jp and cfg are borrowed and must outlive
 * it. */
void ws_proto_init(struct ws_proto *p, const struct ws_proto_ops *ops, struct json_parse *jp,
		   const struct config *cfg);
/* Free what p holds (not what it borrows). */
void ws_proto_fini(struct ws_proto *p);

/* One whole client message of len bytes from conn: a JSON text command, or
 * a binary publish (binary set; ws.h). A bad command is answered with an
 * error frame (ws_command_parse's codes, echoing its id when readable); a
 * publish or subscribe the connection's token does not allow (p->auth:
 * auth_required) is answered invalid_request (no token, or a cookie's for
 * a publish) or insufficient_scope, and goes no further; a
 * publish goes to ops->publish (max_message_bytes bounds its data); a
 * subscribe is answered "subscribed" (or already_subscribed,
 * too_many_subscriptions past ws_max_subscriptions); an unsubscribe
 * "unsubscribed" (or not_subscribed). */
void ws_proto_command(struct ws_proto *p, void *conn, const char *msg, size_t len, int binary);

#endif
