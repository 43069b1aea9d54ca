/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws: the WebSocket companion daemon. One libwebsockets event loop
 * on one thread serves every WebSocket (protocol "fcpush.v1", see ws.h and
 * README) behind the web server's WebSocket proxy, reading and writing the
 * same SQLite file as the FastCGI workers and obeying the same wake-up signal.
 * The loop is libuv's (epoll), lent to lws as a foreign loop: lws's own is
 * poll(2), whose every wake-up costs time in proportion to the connections
 * held (measured: a third of the daemon's CPU in a 10,000-subscriber
 * fan-out went to poll).
 *
 * The loop watches, besides the sockets, four descriptors adopted into lws
 * as raw files: the feed's fd (feed.h: commits by any process), a
 * signalfd for SIGTERM/SIGINT, a timerfd for the 1, 2, 4 ... 512 ms
 * re-reads after a WAL write (store.h: STORE_WATCH_SOON; see wsd_recheck_callback for why not
 * an lws timer), and the eventfd by which the commit thread says a batch is
 * done. That rather than a helper thread calling lws_cancel_service: the
 * reading store connection, the subscriber index and every queue then
 * belong to one thread, and nothing polls: an idle daemon sleeps in
 * epoll_wait(2) until a commit, a client or a ping.
 * The other timers are lws "sul"s: the start of a group commit, the
 * judging of slow clients and the end of shutdown. Pings and dead-peer
 * detection are lws's own (retry_and_idle_policy: a ping after ws_ping_s
 * idle, hang up after twice).
 *
 * No wait on the SQLite write lock blocks the loop: publishes commit on a
 * thread of their own (the commit thread, with its own writer connection),
 * one batch at a time: the loop hands it every publish received so far and
 * goes on serving; when the eventfd says the batch is done, the loop sends
 * the acks and dispatches, and hands over what arrived meanwhile. Retention
 * runs on a thread of its own too (retention.h), as in the workers.
 *
 * Delivery follows fcgi/loop.c: every wake-up, the feed (feed.h) reads the
 * rows above the process's high-water mark once; ws_conn.c encodes each
 * row once into a shared, reference-counted frame, and queues it to every
 * subscription of its channel. A frame goes out at once (wconn_write_now) to a connection with
 * nothing waiting, as it almost always is when its reader keeps up: no
 * WRITEABLE round trip, so no change of the socket's epoll interest per
 * frame. Otherwise it queues and is written from LWS_CALLBACK_SERVER_WRITEABLE,
 * one lws_write per callback. A subscription whose cursor is older than the
 * live stream is "behind": live rows skip it, and it reads its history from
 * the store page by page as its queue drains, then joins the live stream.
 * A connection with more than ws_max_pending_bytes queued stops taking live
 * rows (its subscriptions fall behind: the store keeps them for it); if it
 * keeps frames queued while taking less than half of ws_max_pending_bytes
 * in WSD_DRAIN_GRACE_MS, it is closed (1013, try again later). History is durable, so it resumes with ?since and loses nothing.
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

#include "auth.h"
#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "route.h"
#include "store.h"
#include "supervise.h"
#include "util.h"
#include "ws.h"
#include "ws_proto.h"
#include "wsd.h"

static int wsd_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsd_signal_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);

/* The buckets of the batch-size histogram, in messages. */
static const int64_t wsd_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

static const struct lws_protocols wsd_protocols[] = {
	{WS_SUBPROTOCOL, wsd_callback, sizeof(struct wpss), 4096, 0, NULL, 0},
	{"fcpush-wake", wsd_wake_callback, 0, 0, 0, NULL, 0},
	{"fcpush-signal", wsd_signal_callback, 0, 0, 0, NULL, 0},
	{"fcpush-recheck", wsd_recheck_callback, 0, 0, 0, NULL, 0},
	{"fcpush-commit", wsd_committed_callback, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}};

/* ---- shutdown ---------------------------------------------------------------------------------- */

static void
wsd_stop_deadline(lws_sorted_usec_list_t *sul)
{
	struct wsd *d = lws_container_of(sul, struct wsd, sul_stop);

	d->done = 1;
}

/* SIGHUP: reload the log level. SIGTERM or SIGINT: close every connection with 1001 (what is queued is
 * dropped: clients resume with ?since), then end the loop once all are
 * closed, or after WSD_SHUTDOWN_MS. */
static int
wsd_signal_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	struct signalfd_siginfo si;
	struct wconn *c;
	ssize_t n;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	while ((n = read(d->sig_fd, &si, sizeof si)) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGHUP) {
			config_reload_log_level(&d->cfg, d->config_path); /* and go on */
			continue;
		}
		if (d->stopping)
			continue;
		log_info("signal %u: closing %zu WebSockets", si.ssi_signo, d->nconns);
		d->stopping = 1;
		for (c = d->conns; c != NULL; c = c->next) {
			wconn_clear_queue(c);
			wsd_close_when_sent(c, WS_CLOSE_GOING_AWAY, "server shutting down");
			c->dropped = 1;
		}
		if (d->nconns == 0)
			d->done = 1;
		lws_sul_schedule(d->ctx, 0, &d->sul_stop, wsd_stop_deadline, WSD_SHUTDOWN_MS * LWS_US_PER_MS);
	}
	return 0;
}

/* ---- the WebSocket protocol ------------------------------------------------------------------ */

/* Answer an HTTP request with status, content_type and body (whose first
 * LWS_PRE bytes are lws's headroom), then close. The head is written whole
 * here rather than with lws_add_http_common_headers, which answers an
 * upgrade request as HTTP/1.0 (clients such as python-websockets refuse
 * that). Returns 0, or -1 when the answer cannot be written (hang up). */
static int
wsd_http_answer(struct lws *wsi, unsigned status, const char *content_type, const struct buf *body,
		const char *extra_headers)
{
	struct buf head;
	const char *reason;
	int rc = -1;

	switch (status) {
	case 200: reason = "OK"; break;
	case 400: reason = "Bad Request"; break;
	case 401: reason = "Unauthorized"; break;
	case 403: reason = "Forbidden"; break;
	case 404: reason = "Not Found"; break;
	case 414: reason = "URI Too Long"; break;
	case 426: reason = "Upgrade Required"; break;
	case 503: reason = "Service Unavailable"; break;
	default: reason = "Error"; break;
	}
	buf_init(&head);
	buf_reserve(&head, LWS_PRE);
	head.len = LWS_PRE;
	buf_printf(&head,
		   "HTTP/1.1 %u %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Cache-Control: no-store\r\nConnection: close\r\n%s%s\r\n",
		   status, reason, content_type, body->len - LWS_PRE,
		   status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", extra_headers != NULL ? extra_headers : "");
	if (lws_write(wsi, (unsigned char *)head.data + LWS_PRE, head.len - LWS_PRE, LWS_WRITE_HTTP_HEADERS) < 0 ||
	    lws_write(wsi, (unsigned char *)body->data + LWS_PRE, body->len - LWS_PRE, LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	rc = 0;
out:
	buf_fini(&head);
	return rc;
}

/* Answer an HTTP request (a refused handshake) with status and the JSON
 * error body {"error","detail"}, then close (wsd_http_answer). */
static int
wsd_http_error(struct lws *wsi, unsigned status, const char *code, const char *detail, const char *extra_headers)
{
	struct buf body;
	int rc;

	buf_init(&body);
	buf_reserve(&body, LWS_PRE);
	body.len = LWS_PRE;
	buf_puts(&body, "{\"error\":");
	json_append_cstr(&body, code);
	buf_puts(&body, ",\"detail\":");
	json_append_cstr(&body, detail);
	buf_puts(&body, "}\n");
	rc = wsd_http_answer(wsi, status, "application/json", &body, extra_headers);
	buf_fini(&body);
	return rc;
}

/* Copy header h of wsi into a new string, NULL when absent. */
char *
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

/* The host the request was sent to, for the same-origin check: the
 * proxy's X-Forwarded-Host (Apache's ProxyPass rewrites Host), else Host.
 * Caller frees; NULL when neither is there. */
static char *
wsd_request_host(struct lws *wsi)
{
	int n = lws_hdr_custom_length(wsi, "x-forwarded-host:", 17);
	char *s, *comma;

	if (n <= 0)
		return wsd_header(wsi, WSI_TOKEN_HOST);
	s = xmalloc((size_t)n + 1);
	if (lws_hdr_custom_copy(wsi, s, n + 1, "x-forwarded-host:", 17) < 0) {
		free(s);
		return wsd_header(wsi, WSI_TOKEN_HOST);
	}
	if ((comma = strchr(s, ',')) != NULL) /* several proxies: the first is the client's */
		*comma = '\0';
	return s;
}

char *
wsd_token(struct wsd *d, struct lws *wsi, const char *uri, int allow_cookie)
{
	char *authz = wsd_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION), *cookie = wsd_header(wsi, WSI_TOKEN_HTTP_COOKIE);
	const char *q = uri != NULL ? strchr(uri, '?') : NULL;
	char *t = auth_token_from(authz, q != NULL ? q + 1 : NULL, cookie, d->cfg.auth_cookie, allow_cookie);

	free(authz);
	free(cookie);
	return t;
}

/* Check the token of a handshake for the URL's channels (auth.h): the same
 * rules as for HTTP subscribers, and a token that is sent must be valid
 * even where subscribing is open (a publisher learns at once). 0, or the
 * status (401, 403) with *code, *cause (caller frees) and
 * *www_authenticate (caller frees) for the answer. */
static int
wsd_handshake_auth(struct wsd *d, struct lws *wsi, const char *uri, const char **code, char **cause,
		   char **www_authenticate)
{
	char *token = wsd_token(d, wsi, uri, 1), *own = wsd_token(d, wsi, uri, 0);
	enum auth_result ar = AUTH_OK;
	struct auth_claims *claims = NULL;
	struct ws_target t;
	const char *tcode = NULL;
	char *tcause = NULL;

	memset(&t, 0, sizeof t);
	if (auth_required(d->auth, AUTH_OP_SUBSCRIBE)) {
		/* ws_proto_handshake accepted the URL: it parses again. */
		if (ws_target_parse(uri, d->cfg.page_messages, &t, &tcode, &tcause) == 0)
			ar = auth_check(d->auth, token, AUTH_OP_SUBSCRIBE, (const char *const *)t.channels,
					t.nchannels, util_now_ms() / 1000, NULL, cause);
		free(tcause);
	} else if (auth_mode(d->auth) != AUTH_MODE_OFF && own != NULL) {
		ar = auth_verify(d->auth, own, util_now_ms() / 1000, &claims, cause);
	}
	ws_target_fini(&t);
	auth_claims_free(claims);
	free(token);
	free(own);
	if (ar == AUTH_OK)
		return 0;
	*code = auth_error_code(ar);
	*www_authenticate = ar == AUTH_MISSING ? xstrdup("WWW-Authenticate: Bearer realm=\"fcpush\"\r\n")
					       : xasprintf("WWW-Authenticate: Bearer realm=\"fcpush\", error=\"%s\"\r\n",
							   *code);
	return auth_status(ar);
}

/* Decide on an upgrade request before lws answers it (ws_proto_handshake):
 * 0 lets it proceed, -1 refuses it (an HTTP answer is written here, then lws
 * hangs up). */
static int
wsd_confirm_upgrade(struct wsd *d, struct lws *wsi)
{
	char *version = wsd_header(wsi, WSI_TOKEN_VERSION), *key = wsd_header(wsi, WSI_TOKEN_KEY);
	char *protocols = wsd_header(wsi, WSI_TOKEN_PROTOCOL), *origin = wsd_header(wsi, WSI_TOKEN_ORIGIN);
	char *cause = NULL, *uri, *host = wsd_request_host(wsi), *www_authenticate = NULL;
	struct ws_proto_handshake h;
	const char *code = NULL;
	int status, rc = 0, too_long;

	uri = wsd_request_uri(wsi, &too_long);
	h = (struct ws_proto_handshake){version, key, protocols, origin, uri, too_long, d->stopping, d->nconns, host};
	status = ws_proto_handshake(&d->cfg, &h, &code, &cause);
	if (status == 0)
		status = wsd_handshake_auth(d, wsi, uri, &code, &cause, &www_authenticate);
	if (status != 0) {
		d->stats.refused++;
		log_debug("refused a WebSocket handshake for %s: %d %s", uri != NULL ? uri : "?", status, cause);
		/* Then hang up (the answer says Connection: close): one
		 * request per connection, for the frame check. */
		wsd_http_error(wsi, (unsigned)status, code, cause != NULL ? cause : "refused", www_authenticate);
		rc = -1;
	}
	free(host);
	free(www_authenticate);
	free(version);
	free(key);
	free(protocols);
	free(origin);
	free(uri);
	free(cause);
	return rc;
}

/* Whether wsi's plain HTTP request asks for the metrics: a GET of a path
 * whose last segment is "metrics" (path: lws's decoded path, "/metrics"
 * when scraped directly, "/push/ws/metrics" through the web server). */
static int
wsd_is_metrics(struct lws *wsi, const char *path)
{
	size_t n = path != NULL ? strlen(path) : 0;

	return lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0 && n >= 8 &&
	       strcmp(path + n - 8, "/metrics") == 0;
}

/* Answer GET /metrics: fcpush-ws's counters in the Prometheus text format
 * (metrics.h; README "Metrics" lists them). */
static void
wsd_metrics(struct wsd *d, struct lws *wsi)
{
	struct wsd_stats *st = &d->stats;
	struct buf b;
	char code[16];
	size_t i;

	buf_init(&b);
	buf_reserve(&b, LWS_PRE);
	b.len = LWS_PRE;
	metrics_gauge(&b, "fcpush_ws_start_time_seconds", "When this fcpush-ws started, Unix time.",
		      (double)st->started_ms / 1000.0);
	metrics_gauge(&b, "fcpush_ws_connections", "WebSockets open now.", (double)d->nconns);
	metrics_counter(&b, "fcpush_ws_connections_opened_total", "WebSockets established.", st->opened);
	metrics_counter(&b, "fcpush_ws_handshakes_refused_total", "WebSocket handshakes refused (4xx, 5xx).",
			st->refused);
	metrics_family(&b, "fcpush_ws_closes_total", "counter",
		       "WebSockets closed, by close code (the server's, else the client's; 1006: no close frame).");
	for (i = 0; i < WSD_CLOSE_SLOTS; i++) {
		if (i + 1 < WSD_CLOSE_SLOTS)
			snprintf(code, sizeof code, "%d", wsd_close_codes[i]);
		else
			snprintf(code, sizeof code, "other");
		metrics_sample(&b, "fcpush_ws_closes_total", "code", code, (double)st->closes[i]);
	}
	metrics_counter(&b, "fcpush_ws_messages_delivered_total", "Message frames queued to WebSockets.",
			st->delivered);
	metrics_counter(&b, "fcpush_ws_publishes_acked_total", "Publishes committed and acknowledged.", st->acked);
	metrics_counter(&b, "fcpush_ws_publish_errors_total", "Publishes answered with a store error.",
			st->publish_errors);
	metrics_counter(&b, "fcpush_ws_slow_clients_dropped_total", "WebSockets closed 1013 for reading too slowly.",
			st->dropped);
	metrics_counter(&b, "fcpush_ws_commit_transactions_total", "Transactions of the commit thread.",
			st->transactions);
	metrics_counter(&b, "fcpush_ws_committed_messages_total", "Messages the commit thread committed.",
			st->committed);
	metrics_histogram(&b, "fcpush_ws_commit_batch_messages", "Messages per commit-thread transaction.",
			  &st->batch, 1.0);
	wsd_http_answer(wsi, 200, METRICS_CONTENT_TYPE, &b, NULL);
	buf_fini(&b);
}

static int
wsd_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	struct wpss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
		/* A new socket (in: its fd): its frame check starts at the request head. */
		struct wrx *r = wsd_rx_slot((int)(intptr_t)in);

		if (r != NULL) {
			ws_frame_check_init(&r->fc);
			r->c = NULL;
			r->active = 1;
		}
		return 0;
	}
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		if (in == NULL || strcasecmp(in, "websocket") != 0)
			return -1;
		return wsd_confirm_upgrade(d, wsi);
	case LWS_CALLBACK_HTTP:
		/* Answered with Connection: close, and closed: a connection
		 * carries one request, so its frame check starts right. */
		if (wsd_is_metrics(wsi, in)) {
			wsd_metrics(d, wsi);
			return -1;
		}
		wsd_http_error(wsi, 426, "upgrade_required",
			       "this is fcpush-ws: open a WebSocket on {mount}/ws/channels/{channel}, "
			       "or GET {mount}/ws/metrics or /metrics for its metrics",
			       NULL);
		return -1;
	case LWS_CALLBACK_ESTABLISHED:
		return wsd_established(d, wsi, pss);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (pss == NULL || pss->c == NULL)
			return 0;
		return wsd_writeable(pss->c);
	case LWS_CALLBACK_RECEIVE:
		if (pss == NULL || pss->c == NULL)
			return -1;
		return wsd_receive(pss->c, in, len);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* RFC 6455 §5.5.1: nothing the client sends after its close frame
		 * counts (lws 4.1 would still pass on frames that arrived with it). */
		if (pss != NULL && pss->c != NULL)
			wconn_peer_close(pss->c, in, len);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (pss != NULL && pss->c != NULL) {
			wsd_closed(pss->c);
			wconn_free(pss->c);
			pss->c = NULL;
		}
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

/* ---- set-up ------------------------------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f, "usage: fcpush-ws [--config FILE] [--supervise] [--print-config-example] [--version]\n"
		   "--supervise: restart fcpush-ws when it dies.\n"
		   "Every key of the configuration may also be set as FCPUSH_<KEY> in the environment.\n");
}

static void
wsd_lws_log(int level, const char *line)
{
	size_t n = strlen(line);

	while (n > 0 && line[n - 1] == '\n')
		n--;
	if (level & LLL_ERR)
		log_error("lws: %.*s", (int)n, line);
	else if (level & LLL_WARN)
		log_warn("lws: %.*s", (int)n, line);
	else
		log_debug("lws: %.*s", (int)n, line);
}

/* Adopt fd into the loop as a raw file served by protocol name. */
static int
wsd_adopt(struct wsd *d, int fd, const char *name)
{
	lws_sock_file_fd_type u;

	u.filefd = fd;
	if (lws_adopt_descriptor_vhost(d->vh, LWS_ADOPT_RAW_FILE_DESC, u, name, NULL) == NULL) {
		fprintf(stderr, "fcpush-ws: cannot watch the %s descriptor\n", name);
		return -1;
	}
	return 0;
}

static int
wsd_create(struct wsd *d)
{
	struct lws_context_creation_info info;
	char *host = NULL, *colon;
	int64_t port = 0;
	void *foreign_loops[1];
	int rc;

	/* lws's own loop is poll(2), whose cost grows with every held
	 * connection on every wake-up; libuv's is epoll. */
	memset(&info, 0, sizeof info);
	if ((rc = uv_loop_init(&d->loop)) != 0) {
		fprintf(stderr, "fcpush-ws: uv_loop_init: %s\n", uv_strerror(rc));
		return -1;
	}
	d->loop_ready = 1;
	rc = -1;
	foreign_loops[0] = &d->loop;
	info.foreign_loops = foreign_loops;
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_VALIDATE_UTF8 |
		       LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_LIBUV;
	info.user = d;
	info.protocols = wsd_protocols;
	info.pt_serv_buf_size = 16384;
	info.timeout_secs = 20; /* handshake */
	d->retry.secs_since_valid_ping = (uint16_t)d->cfg.ws_ping_s;
	d->retry.secs_since_valid_hangup = (uint16_t)(d->cfg.ws_ping_s * 2 > 65535 ? 65535 : d->cfg.ws_ping_s * 2);
	info.retry_and_idle_policy = &d->retry;
	d->ctx = lws_create_context(&info);
	if (d->ctx == NULL) {
		fprintf(stderr, "fcpush-ws: cannot create the libwebsockets context "
			"(is its libuv plugin, libwebsockets-evlib-uv, installed?)\n");
		return -1;
	}
	if (d->cfg.ws_listen[0] == '/') {
		unlink(d->cfg.ws_listen);
		info.options |= LWS_SERVER_OPTION_UNIX_SOCK;
		info.iface = d->cfg.ws_listen;
	} else {
		host = xstrdup(d->cfg.ws_listen);
		colon = strrchr(host, ':');
		if (colon == NULL || util_parse_i64(colon + 1, 0, 65535, &port) != 0) {
			fprintf(stderr, "fcpush-ws: ws_listen must be host:port or a unix socket path, not \"%s\"\n",
				d->cfg.ws_listen);
			goto out;
		}
		*colon = '\0';
		info.iface = host[0] != '\0' ? host : NULL;
		info.port = (int)port;
	}
	info.vhost_name = "fcpush-ws";
	d->vh = lws_create_vhost(d->ctx, &info);
	if (d->vh == NULL) {
		fprintf(stderr, "fcpush-ws: cannot listen on %s\n", d->cfg.ws_listen);
		goto out;
	}
	if (d->cfg.ws_listen[0] == '/' && chmod(d->cfg.ws_listen, (mode_t)strtol(d->cfg.listen_mode, NULL, 8)) == -1)
		log_warn("chmod %s: %s", d->cfg.ws_listen, strerror(errno));
	if (wsd_adopt(d, d->wake_dup, "fcpush-wake") != 0)
		goto out;
	d->wake_dup = -1; /* lws owns it now */
	if (wsd_adopt(d, d->sig_dup, "fcpush-signal") != 0)
		goto out;
	d->sig_dup = -1;
	if (wsd_adopt(d, d->recheck_dup, "fcpush-recheck") != 0)
		goto out;
	d->recheck_dup = -1;
	if (wsd_adopt(d, d->commit.efd_dup, "fcpush-commit") != 0)
		goto out;
	d->commit.efd_dup = -1;
	rc = 0;
	log_info("listening on %s", d->cfg.ws_listen);
out:
	free(host);
	return rc;
}

int
main(int argc, char **argv)
{
	struct wsd d;
	sigset_t stop_set;
	char *cause = NULL;
	const char *config_path = NULL;
	int i, rc = EXIT_FAILURE, lws_levels, supervise = 0;

	memset(&d, 0, sizeof d);
	d.stats.started_ms = util_now_ms();
	metrics_hist_init(&d.stats.batch, wsd_batch_bounds, sizeof wsd_batch_bounds / sizeof wsd_batch_bounds[0]);
	d.wake_dup = -1;
	d.sig_fd = -1;
	d.sig_dup = -1;
	d.recheck_fd = -1;
	d.recheck_dup = -1;
	d.commit.efd = -1;
	d.commit.efd_dup = -1;
	config_init(&d.cfg);
	buf_init(&d.scratch);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--supervise") == 0) {
			supervise = 1;
		} else if (strcmp(argv[i], "--print-config-example") == 0) {
			config_write_example(stdout);
			rc = EXIT_SUCCESS;
			goto out;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("fcpush-ws %s (libwebsockets %s)\n", PACKAGE_VERSION, lws_get_library_version());
			rc = EXIT_SUCCESS;
			goto out;
		} else {
			usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
			rc = strcmp(argv[i], "--help") == 0 ? EXIT_SUCCESS : 2;
			goto out;
		}
	}
	if ((config_path != NULL && config_load_file(&d.cfg, config_path, &cause) == -1) ||
	    config_load_env(&d.cfg, &cause) == -1) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	log_set_level((enum log_level)log_level_parse(d.cfg.log_level));
	lws_levels = LLL_ERR | (log_enabled(LOG_LEVEL_DEBUG) ? LLL_WARN | LLL_NOTICE : 0);
	lws_set_log_level(lws_levels, wsd_lws_log);
	/* lws 4.1 cannot serve a listening socket it did not create, so the
	 * supervisor only restarts: each child opens ws_listen again. */
	if (supervise) {
		rc = supervise_run("fcpush-ws", argv, -1, NULL);
		goto out;
	}

	/* SIGTERM and SIGINT (stop) and SIGHUP (reload the log level, go on)
	 * arrive through a signalfd the loop watches. */
	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGHUP);
	d.config_path = config_path;
	sigprocmask(SIG_BLOCK, &stop_set, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.sig_fd = signalfd(-1, &stop_set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d.sig_fd == -1) {
		fprintf(stderr, "fcpush-ws: signalfd: %s\n", strerror(errno));
		goto out;
	}

	d.auth = auth_new(&d.cfg, &cause);
	if (d.auth == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	d.jp = json_parse_new(&cause);
	if (d.jp != NULL) {
		ws_proto_init(&d.proto, &wconn_proto_ops, d.jp, &d.cfg);
		d.proto.auth = d.auth;
		d.st = store_open(d.cfg.database, store_durability_flags(d.cfg.durability), (int)d.cfg.busy_timeout_ms,
				  &cause);
	}
	if (d.st == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	/* Trims on a thread of their own (it inherits the blocked signals):
	 * the loop never waits on the write lock for one. */
	d.retention = retention_new(&d.cfg, NULL, &cause);
	if (d.retention == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	/* Publishes commit on a thread of their own, for the same reason. */
	if (wcommit_start(&d.commit, &d.cfg, &cause) != 0) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	d.feed = feed_new(d.st, d.cfg.database, (size_t)d.cfg.page_max_bytes, &wsd_feed_ops, &d, &cause);
	if (d.feed == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	d.index = subindex_new();
	d.recheck_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d.recheck_fd == -1) {
		fprintf(stderr, "fcpush-ws: timerfd_create: %s\n", strerror(errno));
		goto out;
	}
	/* lws closes what it adopted: give it copies of the feed's fd (which
	 * feed_free closes), the signalfd and the timerfd. */
	d.wake_dup = fcntl(feed_fd(d.feed), F_DUPFD_CLOEXEC, 0);
	d.sig_dup = fcntl(d.sig_fd, F_DUPFD_CLOEXEC, 0);
	d.recheck_dup = fcntl(d.recheck_fd, F_DUPFD_CLOEXEC, 0);
	if (d.wake_dup == -1 || d.sig_dup == -1 || d.recheck_dup == -1 || wsd_create(&d) != 0)
		goto out;

	while (!d.done)
		uv_run(&d.loop, UV_RUN_ONCE);
	rc = EXIT_SUCCESS;
	log_info("stopped");

out:
	if (d.ctx != NULL) {
		lws_sul_cancel(&d.sul_commit);
		lws_sul_cancel(&d.sul_stop);
		lws_context_destroy(d.ctx); /* closes every connection: wconn_free */
	}
	if (d.loop_ready) {
		/* On a foreign loop lws_context_destroy only starts: lws's libuv
		 * handles close on our loop, and a second call once they have
		 * frees the context (without it LeakSanitizer reports lws's
		 * tables). */
		uv_run(&d.loop, UV_RUN_DEFAULT);
		if (d.ctx != NULL)
			lws_context_destroy(d.ctx);
		if (uv_loop_close(&d.loop) != 0)
			log_warn("libuv loop closed with handles still open");
	}
	/* The batch the commit thread holds is committed before the process
	 * ends; its acks have no connection left to go to (every one was
	 * closed 1001, its queue dropped: clients resume with ?since). What was
	 * received but never handed over is not stored, and was never acked. */
	wcommit_stop(&d.commit); /* its commit told the watchers (store.h) */
	wsd_flight_clear(&d);
	wcommit_fini(&d.commit);
	for (i = 0; (size_t)i < d.npubs; i++)
		ws_command_fini(&d.pubs[i].cmd);
	free(d.pubs);
	free(d.flight);
	free(d.fgroups);
	free(d.fpubs);
	free(d.fseqs);
	free(d.fouts);
	subindex_free(d.index);
	wsd_rx_free();
	if (d.wake_dup != -1)
		close(d.wake_dup);
	if (d.sig_dup != -1)
		close(d.sig_dup);
	if (d.sig_fd != -1)
		close(d.sig_fd);
	if (d.recheck_dup != -1)
		close(d.recheck_dup);
	if (d.recheck_fd != -1)
		close(d.recheck_fd);
	retention_free(d.retention);
	feed_free(d.feed);
	store_close(d.st);
	if (d.jp != NULL)
		ws_proto_fini(&d.proto);
	json_parse_free(d.jp);
	auth_free(d.auth);
	buf_fini(&d.scratch);
	free(cause);
	config_fini(&d.cfg);
	return rc;
}
