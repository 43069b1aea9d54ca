/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws: The fcpush.v1 protocol: client commands, the handshake decision, the
 * close count.
 */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>
#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "route.h"
#include "store.h"
#include "supervise.h"
#include "util.h"
#include "wake.h"
#include "ws.h"

#include "wsd.h"

/* ---- commands ------------------------------------------------------------------------- */

/* A whole client message of len bytes: a JSON text command, or a binary
 * publish (ws.h). */
void
wconn_command(struct wconn *c, const char *msg, size_t len, int binary)
{
	struct wsd *d = c->d;
	struct ws_command cmd;
	struct wgroup *g;
	const char *code = NULL;
	char *detail = NULL, *chan;
	size_t idx;
	int rc;

	if (binary)
		rc = ws_command_parse_binary(d->jp, (const unsigned char *)msg, len, d->cfg.max_message_bytes, &cmd,
					     &code, &detail);
	else
		rc = ws_command_parse(d->jp, msg, len, d->cfg.max_message_bytes, &cmd, &code, &detail);
	if (rc != 0) {
		wconn_error(c, code, detail, cmd.id);
		free(detail);
		ws_command_fini(&cmd);
		return;
	}
	switch (cmd.kind) {
	case WS_CMD_PUBLISH:
		if (d->npubs == d->pubs_cap) {
			d->pubs_cap = d->pubs_cap == 0 ? 16 : d->pubs_cap * 2;
			d->pubs = xrealloc(d->pubs, d->pubs_cap * sizeof *d->pubs);
		}
		d->pubs[d->npubs].c = c;
		d->pubs[d->npubs].cmd = cmd; /* moved */
		d->npubs++;
		c->unacked++;
		/* After the events of this service pass: the publishes they
		 * carried commit together. */
		lws_sul_schedule(d->ctx, 0, &d->sul_commit, wsd_commit, 1);
		return;
	case WS_CMD_SUBSCRIBE:
		if (wconn_sub_find(c, cmd.channel, NULL) != NULL) {
			wconn_error(c, "already_subscribed", "this connection is already subscribed to the channel",
				    cmd.id);
		} else if (c->nsubs >= (size_t)d->cfg.ws_max_subscriptions) {
			detail = xasprintf("a connection may subscribe to %lld channels",
					   (long long)d->cfg.ws_max_subscriptions);
			wconn_error(c, "too_many_subscriptions", detail, cmd.id);
		} else {
			chan = (char *)cmd.channel;
			g = wconn_group_open(c, &chan, 1, cmd.has_since, cmd.since, NULL);
			buf_reset(&d->scratch);
			ws_frame_subscribed(&d->scratch, cmd.channel, g->since, cmd.id);
			wconn_queue_buf(c, &d->scratch, 0);
		}
		break;
	case WS_CMD_UNSUBSCRIBE:
		if (wconn_sub_find(c, cmd.channel, &idx) == NULL) {
			wconn_error(c, "not_subscribed", "this connection is not subscribed to the channel", cmd.id);
		} else {
			wconn_sub_remove(c, idx);
			buf_reset(&d->scratch);
			ws_frame_unsubscribed(&d->scratch, cmd.channel, cmd.id);
			wconn_queue_buf(c, &d->scratch, 0);
		}
		break;
	}
	free(detail);
	ws_command_fini(&cmd);
}

/* Copy header h of wsi into a new string, NULL when absent. */
static char *
wsd_header(struct lws *wsi, enum lws_token_indexes h)
{
	int n = lws_hdr_total_length(wsi, h);
	char *s;

	if (n <= 0)
		return NULL;
	s = xmalloc((size_t)n + 1);
	if (lws_hdr_copy(wsi, s, n + 1, h) < 0) {
		free(s);
		return NULL;
	}
	return s;
}

/* c is closing: count its close code and log the close. The code is the
 * one the server chose (c->close_code), else the client's, else 1006 (no
 * close frame: the connection was cut). */
void
wsd_closed(struct wconn *c)
{
	int code = c->close_code != 0 ? c->close_code : c->peer_code != 0 ? c->peer_code : 1006;
	size_t i;

	for (i = 0; i + 1 < WSD_CLOSE_SLOTS && wsd_close_codes[i] != code; i++)
		;
	c->d->stats.closes[i]++;
	log_info("WebSocket closed: %s: %d by the %s, %llu messages delivered", c->path != NULL ? c->path : "?", code,
		 c->close_code != 0 ? "server" : c->peer_code != 0 ? "client" : "network",
		 (unsigned long long)c->delivered);
}

/* Decide on an upgrade request before lws answers it: 0 lets it proceed, -1
 * refuses it (an HTTP answer is written here, then lws hangs up). */
int
wsd_confirm_upgrade(struct wsd *d, struct lws *wsi)
{
	char *version = wsd_header(wsi, WSI_TOKEN_VERSION), *key = wsd_header(wsi, WSI_TOKEN_KEY);
	char *protocols = wsd_header(wsi, WSI_TOKEN_PROTOCOL), *origin = wsd_header(wsi, WSI_TOKEN_ORIGIN);
	char *cause = NULL, *uri;
	struct ws_target t;
	const char *code = "bad_handshake";
	int status, rc = 0, too_long;

	uri = wsd_request_uri(wsi, &too_long);

	memset(&t, 0, sizeof t);
	if (d->stopping) {
		status = 503;
		code = "shutting_down";
		cause = xstrdup("fcpush-ws is shutting down; reconnect");
	} else if ((status = ws_handshake_check(version, key, protocols, &cause)) != 0) {
		code = status == 426 ? "upgrade_required" : "bad_handshake";
	} else if (!config_ws_origin_allowed(&d->cfg, origin)) {
		status = 403;
		code = "origin_not_allowed";
		cause = xasprintf("Origin %s may not open WebSockets here (ws_allowed_origins)", origin);
	} else if (d->nconns >= (size_t)d->cfg.ws_max_connections) {
		status = 503;
		code = "too_many_connections";
		cause = xasprintf("this fcpush-ws holds its limit of %lld connections",
				  (long long)d->cfg.ws_max_connections);
	} else if (uri == NULL) { /* lws refuses heads over its 4 KiB buffer first */
		status = too_long ? 414 : 400;
		code = too_long ? "uri_too_long" : "bad_request";
		cause = too_long ? xasprintf("the request target is over %d bytes", WS_MAX_TARGET_BYTES)
				 : xstrdup("no request target");
	} else {
		status = ws_target_parse(uri, d->cfg.page_messages, &t, &code, &cause);
	}
	if (status != 0) {
		d->stats.refused++;
		log_debug("refused a WebSocket handshake for %s: %d %s", uri != NULL ? uri : "?", status, cause);
		/* Then hang up (the answer says Connection: close): one
		 * request per connection, for the frame check. */
		wsd_http_error(wsi, (unsigned)status, code, cause != NULL ? cause : "refused");
		rc = -1;
	}
	ws_target_fini(&t);
	free(version);
	free(key);
	free(protocols);
	free(origin);
	free(uri);
	free(cause);
	return rc;
}
