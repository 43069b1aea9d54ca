/* SPDX-License-Identifier: MIT */
/*
 * The fcpush.v1 conversation of fcpush-ws: the handshake decision and the
 * client commands (see ws_proto.h).
 */
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "config.h"
#include "ws_proto.h"

int
ws_proto_handshake(const struct config *cfg, const struct ws_proto_handshake *h, const char **code,
		   char **cause)
{
	struct ws_target t;
	int status;

	*code = "bad_handshake";
	*cause = NULL;
	memset(&t, 0, sizeof t);
	if (h->stopping) {
		status = 503;
		*code = "shutting_down";
		*cause = xstrdup("fcpush-ws is shutting down; reconnect");
	} else if ((status = ws_handshake_check(h->version, h->key, h->protocols, cause)) != 0) {
		*code = status == 426 ? "upgrade_required" : "bad_handshake";
	} else if (!config_ws_origin_allowed(cfg, h->origin, h->host)) {
		status = 403;
		*code = "origin_not_allowed";
		*cause = xasprintf("Origin %s may not open WebSockets here (ws_allowed_origins)", h->origin);
	} else if (h->nconns >= (size_t)cfg->ws_max_connections) {
		status = 503;
		*code = "too_many_connections";
		*cause = xasprintf("this fcpush-ws holds its limit of %lld connections",
				   (long long)cfg->ws_max_connections);
	} else if (h->uri == NULL) { /* lws refuses heads over its 4 KiB buffer first */
		status = h->uri_too_long ? 414 : 400;
		*code = h->uri_too_long ? "uri_too_long" : "bad_request";
		*cause = h->uri_too_long ? xasprintf("the request target is over %d bytes", WS_MAX_TARGET_BYTES)
					 : xstrdup("no request target");
	} else {
		status = ws_target_parse(h->uri, cfg->page_messages, &t, code, cause);
	}
	ws_target_fini(&t);
	return status;
}

void
ws_proto_init(struct ws_proto *p, const struct ws_proto_ops *ops, struct json_parse *jp,
	      const struct config *cfg)
{
	p->ops = ops;
	p->jp = jp;
	p->cfg = cfg;
	p->auth = NULL;
	buf_init(&p->scratch);
}

void
ws_proto_fini(struct ws_proto *p)
{
	buf_fini(&p->scratch);
}

static void
ws_proto_error(struct ws_proto *p, void *conn, const char *code, const char *detail, const char *id)
{
	buf_reset(&p->scratch);
	ws_frame_error(&p->scratch, code, detail, id);
	p->ops->send(conn, &p->scratch);
}

/* Whether conn may run cmd (publish or subscribe) under the configured
 * mode; if not, answer it with an error frame and return 0. */
static int
ws_proto_allowed(struct ws_proto *p, void *conn, const struct ws_command *cmd)
{
	enum auth_op op = cmd->kind == WS_CMD_PUBLISH ? AUTH_OP_PUBLISH : AUTH_OP_SUBSCRIBE;
	const struct auth_claims *claims = NULL;
	int from_cookie = 0, ok;
	char *detail;

	if (p->auth == NULL || cmd->kind == WS_CMD_UNSUBSCRIBE || !auth_required(p->auth, op))
		return 1;
	if (p->ops->claims != NULL)
		claims = p->ops->claims(conn, &from_cookie);
	if (claims == NULL || (op == AUTH_OP_PUBLISH && from_cookie)) {
		ws_proto_error(p, conn, "invalid_request",
			       op == AUTH_OP_PUBLISH ? "publishing needs a token (Authorization or ?access_token= on "
						       "the handshake; a cookie's does not publish)"
						     : "subscribing needs a token",
			       cmd->id);
		return 0;
	}
	ok = auth_claims_allow(claims, op, cmd->channel);
	if (!ok) {
		detail = xasprintf("the token does not allow %s on channel %s",
				   op == AUTH_OP_PUBLISH ? "publishing" : "subscribing", cmd->channel);
		ws_proto_error(p, conn, "insufficient_scope", detail, cmd->id);
		free(detail);
	}
	return ok;
}

void
ws_proto_command(struct ws_proto *p, void *conn, const char *msg, size_t len, int binary)
{
	const struct config *cfg = p->cfg;
	struct ws_command cmd;
	const char *code = NULL;
	char *detail = NULL;
	int64_t since;
	int rc;

	if (binary)
		rc = ws_command_parse_binary(p->jp, (const unsigned char *)msg, len, cfg->max_message_bytes, &cmd,
					     &code, &detail);
	else
		rc = ws_command_parse(p->jp, msg, len, cfg->max_message_bytes, &cmd, &code, &detail);
	if (rc != 0) {
		ws_proto_error(p, conn, code, detail, cmd.id);
		free(detail);
		ws_command_fini(&cmd);
		return;
	}
	if (!ws_proto_allowed(p, conn, &cmd)) {
		ws_command_fini(&cmd);
		return;
	}
	switch (cmd.kind) {
	case WS_CMD_PUBLISH:
		p->ops->publish(conn, &cmd); /* moved */
		return;
	case WS_CMD_SUBSCRIBE:
		if (p->ops->subscribed(conn, cmd.channel)) {
			ws_proto_error(p, conn, "already_subscribed",
				       "this connection is already subscribed to the channel", cmd.id);
		} else if (p->ops->nsubs(conn) >= (size_t)cfg->ws_max_subscriptions) {
			detail = xasprintf("a connection may subscribe to %lld channels",
					   (long long)cfg->ws_max_subscriptions);
			ws_proto_error(p, conn, "too_many_subscriptions", detail, cmd.id);
		} else {
			since = p->ops->subscribe(conn, cmd.channel, cmd.has_since, cmd.since);
			buf_reset(&p->scratch);
			ws_frame_subscribed(&p->scratch, cmd.channel, since, cmd.id);
			p->ops->send(conn, &p->scratch);
		}
		break;
	case WS_CMD_UNSUBSCRIBE:
		if (!p->ops->subscribed(conn, cmd.channel)) {
			ws_proto_error(p, conn, "not_subscribed", "this connection is not subscribed to the channel",
				       cmd.id);
		} else {
			p->ops->unsubscribe(conn, cmd.channel);
			buf_reset(&p->scratch);
			ws_frame_unsubscribed(&p->scratch, cmd.channel, cmd.id);
			p->ops->send(conn, &p->scratch);
		}
		break;
	}
	free(detail);
	ws_command_fini(&cmd);
}
