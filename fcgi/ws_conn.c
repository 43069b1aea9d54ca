/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws's connections: their frame queues (shared, reference-counted
 * frames), their subscriptions (subindex.h), reading their history from the
 * store (feed_catch_up_page), the feed's rows and deletions (feed.h), and
 * the lws callbacks that write and read them.
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
#include "feed.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "route.h"
#include "store.h"
#include "supervise.h"
#include "util.h"
#include "ws.h"

#include "wsd.h"

static int wconn_over_bound(const struct wconn *c);
static void wconn_fall_behind(struct wconn *c);

/* ---- frames and queues ------------------------------------------------------ */

static struct wframe *
wframe_new(const char *data, size_t len, int binary)
{
	struct wframe *f = xmalloc(sizeof *f + LWS_PRE + len + 1);

	f->refs = 1;
	f->binary = binary;
	f->len = len;
	memcpy(f->data + LWS_PRE, data, len);
	f->data[LWS_PRE + len] = '\0';
	return f;
}

static void
wframe_unref(struct wframe *f)
{
	if (f != NULL && --f->refs == 0)
		free(f);
}

/* Queue f (one more reference) to c and ask for a WRITEABLE callback. Every
 * frame counts against ws_max_pending_bytes, the replies to the client's own
 * commands as much as messages: past it c falls behind (wconn_fall_behind). */
static void
wconn_queue(struct wconn *c, struct wframe *f)
{
	struct wq *q;

	if (c->dropped)
		return;
	q = xmalloc(sizeof *q);
	q->f = f;
	q->next = NULL;
	f->refs++;
	if (c->tail != NULL)
		c->tail->next = q;
	else
		c->head = q;
	c->tail = q;
	c->pending += f->len;
	c->last_unit = f->len;
	lws_callback_on_writable(c->wsi);
	if (wconn_over_bound(c))
		wconn_fall_behind(c);
}


/* Write f to c at once, without waiting for a WRITEABLE callback, when
 * nothing of c's is waiting: no frame queued, no partial frame held by lws,
 * not closing. The socket of a reader that keeps up almost always takes the
 * frame whole; if it takes part, lws keeps the rest and sends it first
 * (lws_partial_buffered), and later frames queue. Returns 1 when written, 0
 * when f must be queued. A failed write ends the connection. */
static int
wconn_write_now(struct wconn *c, struct wframe *f)
{
	if (c->head != NULL || c->dropped || c->close_code != 0 || c->peer_closed || c->close_sent ||
	    wconn_sent_bad_frame(c) || lws_partial_buffered(c->wsi))
		return 0;
	if (lws_write(c->wsi, f->data + LWS_PRE, f->len, f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)f->len) {
		c->dropped = 1;
		lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return 1;
	}
	c->sent += f->len;
	return 1;
}

/* Queue a frame built in b (copied): text, or binary when binary is set. */
void
wconn_queue_buf(struct wconn *c, const struct buf *b, int binary)
{
	struct wframe *f = wframe_new(b->data, b->len, binary);

	wconn_queue(c, f);
	wframe_unref(f);
}

void
wconn_clear_queue(struct wconn *c)
{
	struct wq *q, *next;

	for (q = c->head; q != NULL; q = next) {
		next = q->next;
		wframe_unref(q->f);
		free(q);
	}
	c->head = c->tail = NULL;
	c->pending = 0;
}

/* ---- subscriptions (subindex.h) ------------------------------------------------- */

/* Subscribe c to channel in group g (which counts it). */
static void
wconn_sub_add(struct wconn *c, const char *channel, struct wgroup *g)
{
	struct wsub *s = xcalloc(1, sizeof *s);

	s->c = c;
	s->g = g;
	s->ch = subindex_add(c->d->index, channel, s, &s->slot);
	g->nsubs++;
	c->subs = xrealloc(c->subs, (c->nsubs + 1) * sizeof *c->subs);
	c->subs[c->nsubs++] = s;
}

/* Remove subscription i of c; its group goes with its last subscription. */
static void
wconn_sub_remove(struct wconn *c, size_t i)
{
	struct wsub *s = c->subs[i];

	subindex_remove(c->d->index, s->ch, s->slot);
	if (--s->g->nsubs == 0)
		free(s->g);
	c->subs[i] = c->subs[--c->nsubs];
	free(s);
}

static struct wsub *
wconn_sub_find(struct wconn *c, const char *channel, size_t *idx)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++) {
		if (strcmp(c->subs[i]->ch->name, channel) == 0) {
			if (idx != NULL)
				*idx = i;
			return c->subs[i];
		}
	}
	return NULL;
}

void
wconn_unsubscribe_all(struct wconn *c)
{
	while (c->nsubs > 0)
		wconn_sub_remove(c, c->nsubs - 1);
}

/* ---- connections ----------------------------------------------------------------- */

/* Close c once what is queued has been sent: the close frame carries code
 * and text (RFC 6455 §5.5.1). It gets no more messages. */
void
wsd_close_when_sent(struct wconn *c, int code, const char *text)
{
	if (c->close_code == 0) {
		c->close_code = code;
		c->close_text = text;
	}
	wconn_unsubscribe_all(c);
	lws_callback_on_writable(c->wsi);
}

/* Drop a client that fell behind: forget its queue, close 1013 (try again
 * later: it resumes with ?since). If even the
 * close frame cannot be sent within 5 s, lws cuts the connection. */
static void
wsd_drop(struct wconn *c)
{
	log_info("dropping a WebSocket client too slow to read (%zu bytes queued)", c->pending);
	c->d->stats.dropped++;
	wconn_clear_queue(c);
	wsd_close_when_sent(c, WS_CLOSE_TRY_AGAIN, "too slow: reconnect with ?since");
	c->dropped = 1;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 5);
}

/* Whether c holds more than the bound, not counting the newest frame (one
 * frame larger than the bound is no sign of a stalled reader). */
static int
wconn_over_bound(const struct wconn *c)
{
	return c->pending > (size_t)c->d->cfg.ws_max_pending_bytes + c->last_unit;
}

/* Judge, every WSD_DRAIN_GRACE_MS, a connection that went over the bound:
 * one that still has frames queued but took less than half the bound in that
 * time is dropped; one whose queue is empty is back to normal; any other is
 * judged again later. */
static void
wconn_over_check(lws_sorted_usec_list_t *sul)
{
	struct wconn *c = lws_container_of(sul, struct wconn, sul_over);

	if (c->dropped || c->pending == 0) {
		c->over = 0;
		return;
	}
	if (c->sent - c->over_sent < (uint64_t)c->d->cfg.ws_max_pending_bytes / 2) {
		c->over = 0;
		wsd_drop(c);
		return;
	}
	c->over_sent = c->sent;
	lws_sul_schedule(c->d->ctx, 0, &c->sul_over, wconn_over_check, WSD_DRAIN_GRACE_MS * LWS_US_PER_MS);
}

/* c has more than the bound queued: its subscriptions stop taking live rows
 * (they read them from the store once the queue drains), and its input is
 * no longer read (lws keeps what it already read; TCP holds the rest back
 * at the client), so that commands cannot queue replies without end: its
 * memory stays bounded. Reading resumes once the queue is below half the
 * bound (wconn_rx_resume); whether it is dropped is decided after a grace
 * period. */
static void
wconn_fall_behind(struct wconn *c)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++)
		c->subs[i]->g->behind = 1;
	if (!c->rx_paused) {
		c->rx_paused = 1;
		lws_rx_flow_control(c->wsi, 0);
	}
	if (c->over)
		return; /* already being judged */
	c->over = 1;
	c->over_sent = c->sent;
	lws_sul_schedule(c->d->ctx, 0, &c->sul_over, wconn_over_check, WSD_DRAIN_GRACE_MS * LWS_US_PER_MS);
}

/* Read c's input again once its queue is below half the bound. */
static void
wconn_rx_resume(struct wconn *c)
{
	if (c->rx_paused && !c->dropped && c->pending <= (size_t)c->d->cfg.ws_max_pending_bytes / 2) {
		c->rx_paused = 0;
		lws_rx_flow_control(c->wsi, 1);
	}
}

/* Open a group for channels at cursor since (has_since: a cursor was given,
 * so history is read from the store first, after a gap notice if
 * feed_resume says it missed messages; epoch: its client's, NULL or "":
 * unchecked). */
static struct wgroup *
wconn_group_open(struct wconn *c, char *const *channels, size_t n, int has_since, int64_t since,
		 const char *epoch)
{
	struct wsd *d = c->d;
	struct wgroup *g = xcalloc(1, sizeof *g);
	int64_t oldest = 0;
	size_t i;

	if (has_since && feed_resume(d->st, (const char *const *)channels, n, epoch, -1, &since, &oldest) == 1) {
		buf_reset(&d->scratch);
		ws_frame_gap(&d->scratch, oldest, store_epoch(d->st));
		wconn_queue_buf(c, &d->scratch, 0);
	}
	g->since = has_since ? since : feed_seen_seq(d->feed);
	g->behind = has_since;
	for (i = 0; i < n; i++)
		wconn_sub_add(c, channels[i], g);
	return g;
}

/* How many rows wconn_catch_up reads next for c: about as many as the room
 * left in budget takes at the size of the last history frame queued (one
 * before any), between 1 and WSD_CATCH_UP_PAGE. So a read holds about the
 * budget in rows, not a page of rows of up to STORE_INLINE_MAX_BYTES each,
 * and rows are seldom read and dropped for want of room. */
static size_t
wconn_catch_up_page(const struct wconn *c, size_t budget)
{
	size_t room = budget > c->pending ? budget - c->pending : 0, rows;

	if (c->catch_up_unit == 0)
		return 1;
	rows = room / c->catch_up_unit + 1;
	return rows < WSD_CATCH_UP_PAGE ? rows : WSD_CATCH_UP_PAGE;
}

/* Queue one row of history to the connection (wconn_catch_up); returns 1
 * once its queue holds the budget. */
static int
wconn_catch_up_take(void *arg, struct msg *m)
{
	struct wconn *c = arg;
	struct wsd *d = c->d;
	int binary;

	buf_reset(&d->scratch);
	binary = ws_frame_message(&d->scratch, m);
	wconn_queue_buf(c, &d->scratch, binary);
	c->delivered++;
	d->stats.delivered++;
	c->catch_up_unit = d->scratch.len;
	return c->pending >= (size_t)d->cfg.ws_max_pending_bytes / 2;
}

/* Read the history of c's behind groups from the store while its queue is
 * below half the bound, page by page (wconn_catch_up_page,
 * feed_catch_up_page); called again from the WRITEABLE callback once the
 * queue is empty. A group that read a short page whole has caught up (every
 * row committed so far is queued) and takes live rows from here on,
 * skipping those it already has (seq <= since). */
void
wconn_catch_up(struct wconn *c)
{
	struct wsd *d = c->d;
	size_t budget = (size_t)d->cfg.ws_max_pending_bytes / 2, i, k, nch;
	const char **chans = xcalloc(c->nsubs > 0 ? c->nsubs : 1, sizeof *chans);
	enum feed_page r;
	struct wgroup *g;
	struct msglist l;

	msglist_init(&l);
	l.max_bytes = (size_t)d->cfg.page_max_bytes;
	for (k = 0; k < c->nsubs && c->pending < budget && !c->dropped; k++) {
		g = c->subs[k]->g;
		if (!g->behind)
			continue;
		nch = 0;
		for (i = 0; i < c->nsubs; i++) {
			if (c->subs[i]->g == g)
				chans[nch++] = c->subs[i]->ch->name;
		}
		while (g->behind && c->pending < budget) {
			r = feed_catch_up_page(d->st, chans, nch, &g->since, wconn_catch_up_page(c, budget), &l,
					       wconn_catch_up_take, c, "a WebSocket");
			if (r == FEED_PAGE_ERROR)
				break;
			if (r == FEED_PAGE_CAUGHT_UP)
				g->behind = 0;
		}
	}
	msglist_fini(&l);
	free(chans);
}

/* ?last=N: start group g at the cursor before the last n messages of its
 * channels, behind: wconn_catch_up then reads them page by page as the
 * queue drains, as it reads any history, and the group goes on live after
 * them (a row it holds is not sent again). Nothing is read or queued here:
 * N messages of up to STORE_INLINE_MAX_BYTES are never held at once. */
static void
wconn_group_from_last(struct wconn *c, struct wgroup *g, const char *const *channels, size_t nch, size_t n)
{
	struct wsd *d = c->d;
	int64_t since = 0;

	if (store_last_cursor(d->st, channels, nch, n, &since) != STORE_OK) {
		log_error("reading the last messages: %s", store_errmsg(d->st));
		return; /* live only */
	}
	g->since = since;
	g->behind = 1;
}

static int
wconn_any_behind(const struct wconn *c)
{
	size_t i;

	for (i = 0; i < c->nsubs; i++) {
		if (c->subs[i]->g->behind)
			return 1;
	}
	return 0;
}

/* Free c and everything it holds; its pending publishes lose their ack. */
void
wconn_free(struct wconn *c)
{
	struct wsd *d = c->d;
	size_t i;

	for (i = 0; i < d->npubs; i++) {
		if (d->pubs[i].c == c)
			d->pubs[i].c = NULL;
	}
	for (i = 0; i < d->nflight; i++) {
		if (d->flight[i].c == c)
			d->flight[i].c = NULL; /* the thread never reads c */
	}
	wsd_rx_detach(c);
	lws_sul_cancel(&c->sul_over);
	lws_sul_cancel(&c->sul_auth);
	auth_claims_free(c->claims);
	lws_sul_cancel(&c->sul_close);
	wconn_unsubscribe_all(c);
	wconn_clear_queue(c);
	buf_fini(&c->rx);
	free(c->subs);
	free(c->path);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns--;
	free(c);
	if (d->stopping && d->nconns == 0)
		d->done = 1; /* the loop in main ends after this callback */
}

/* ---- the conversation (ws_proto.h) ------------------------------------------------------- */

static void
wconn_proto_send(void *conn, const struct buf *b)
{
	wconn_queue_buf(conn, b, 0);
}

static int
wconn_proto_subscribed(void *conn, const char *channel)
{
	return wconn_sub_find(conn, channel, NULL) != NULL;
}

static size_t
wconn_proto_nsubs(void *conn)
{
	return ((struct wconn *)conn)->nsubs;
}

static int64_t
wconn_proto_subscribe(void *conn, const char *channel, int has_since, int64_t since)
{
	char *chan = (char *)channel;

	return wconn_group_open(conn, &chan, 1, has_since, since, NULL)->since;
}

static void
wconn_proto_unsubscribe(void *conn, const char *channel)
{
	size_t idx;

	if (wconn_sub_find(conn, channel, &idx) != NULL)
		wconn_sub_remove(conn, idx);
}

/* ws_proto_ops.claims: what c's handshake token grants. */
static const struct auth_claims *
wconn_proto_claims(void *conn, int *from_cookie)
{
	struct wconn *c = conn;

	*from_cookie = c->claims_from_cookie;
	return c->claims;
}

const struct ws_proto_ops wconn_proto_ops = {
	.send = wconn_proto_send,
	.subscribed = wconn_proto_subscribed,
	.nsubs = wconn_proto_nsubs,
	.subscribe = wconn_proto_subscribe,
	.unsubscribe = wconn_proto_unsubscribe,
	.publish = wsd_publish,
	.claims = wconn_proto_claims,
};

/* c's token has expired: close it 4401; its client gets a fresh token and
 * reconnects with ?since (fcpush.js does). */
static void
wconn_auth_expired(lws_sorted_usec_list_t *sul)
{
	struct wconn *c = lws_container_of(sul, struct wconn, sul_auth);

	wsd_close_when_sent(c, WS_CLOSE_AUTH_EXPIRED, "token expired");
}

/* Keep what c's handshake token grants (checked by wsd_confirm_upgrade)
 * for its commands, and close c when it expires. */
static void
wconn_auth_init(struct wconn *c, const char *uri)
{
	struct wsd *d = c->d;
	char *token = wsd_token(d, c->wsi, uri, 1), *own = wsd_token(d, c->wsi, uri, 0);
	int64_t now_ms = util_now_ms();

	if (auth_mode(d->auth) != AUTH_MODE_OFF && token != NULL &&
	    auth_verify(d->auth, token, now_ms / 1000, &c->claims, NULL) == AUTH_OK) {
		c->claims_from_cookie = own == NULL;
		if (c->claims->exp > 0)
			lws_sul_schedule(d->ctx, 0, &c->sul_auth, wconn_auth_expired,
					 (c->claims->exp * 1000 - now_ms) * LWS_US_PER_MS);
	}
	free(token);
	free(own);
}

/* A whole client message of len bytes: a JSON text command, or a binary
 * publish (ws.h), for the conversation (ws_proto_command). */
static void
wconn_command(struct wconn *c, const char *msg, size_t len, int binary)
{
	ws_proto_command(&c->d->proto, c, msg, len, binary);
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

/* ---- dispatch ------------------------------------------------------------------------------ */

/* The feed's on_deleted: every subscriber of the channel is told and closed
 * (4410) once what is queued is out. */
static void
wsd_on_deleted(void *arg, const char *channel)
{
	struct wsd *d = arg;
	struct subindex_chan *ch;
	struct wconn *c;

	while ((ch = subindex_find(d->index, channel)) != NULL) {
		c = ((struct wsub *)ch->v[0].sub)->c;
		buf_reset(&d->scratch);
		ws_frame_deleted(&d->scratch, channel);
		wconn_queue_buf(c, &d->scratch, 0);
		wsd_close_when_sent(c, WS_CLOSE_DELETED, "channel deleted");
	}
}

/* The feed's on_row: queue m to every live subscription of its channel,
 * encoded once into a frame they share. */
static void
wsd_on_row(void *arg, struct msg *m)
{
	struct wsd *d = arg;
	struct wframe *f = NULL;
	struct subindex_chan *ch;
	struct wsub *s;
	size_t j;
	int binary;

	if ((ch = subindex_find(d->index, m->channel)) == NULL)
		return;
	for (j = 0; j < ch->n; j++) {
		s = ch->v[j].sub;
		if (s->g->behind || m->seq <= s->g->since || s->c->dropped || s->c->close_sent)
			continue;
		if (s->c->in_flight > 0) {
			/* Its acks first: the row may be its own
			 * publish (wsd_committed). */
			s->g->behind = 1;
			continue;
		}
		if (f == NULL) {
			buf_reset(&d->scratch);
			binary = ws_frame_message(&d->scratch, m);
			f = wframe_new(d->scratch.data, d->scratch.len, binary);
		}
		if (!wconn_write_now(s->c, f))
			wconn_queue(s->c, f); /* checks the bound */
		s->c->delivered++;
		d->stats.delivered++;
		s->g->since = m->seq;
	}
	wframe_unref(f);
}

const struct feed_ops wsd_feed_ops = {
	.on_deleted = wsd_on_deleted,
	.on_row = wsd_on_row,
};

/* Arm the re-read timer for the feed's next re-read after a WAL write, if
 * one is due (at least 1 ms from now: a zero timerfd would be disarmed). */
static void
wsd_recheck_arm(struct wsd *d)
{
	struct itimerspec its;
	int64_t at = feed_recheck_at(d->feed), ms;

	if (at == 0)
		return;
	ms = at - util_mono_ms();
	if (ms < 1)
		ms = 1;
	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (timerfd_settime(d->recheck_fd, 0, &its, NULL) == -1)
		log_warn("timerfd_settime: %s", strerror(errno));
}

/* A WAL write was seen: its commit may not be visible yet (store.h:
 * STORE_WATCH_SOON). Look again after 1, 2, 4 ... 512 ms until new rows
 * show up (feed.h). On a timerfd, not an lws timer: lws 4.1 hands its loop
 * timeouts in whole milliseconds, so a timer due within the millisecond
 * makes the loop spin until then
 * (measured on its poll loop, which rounds down: ~2,000 poll calls after
 * one publish; its libuv glue rounds to the nearest). */
int
wsd_recheck_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	uint64_t expirations;

	(void)user;
	(void)in;
	(void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (read(d->recheck_fd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations)
		return 0; /* disarmed since it fired */
	feed_recheck_done(d->feed, util_mono_ms(), feed_read(d->feed) > 0);
	wsd_recheck_arm(d);
	return 0;
}

int
wsd_wake_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));

	(void)user;
	(void)in;
	(void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (feed_drain(d->feed, util_mono_ms()) <= 0)
		return 0;
	feed_read(d->feed);
	wsd_recheck_arm(d);
	return 0;
}

/* A handshake was accepted: subscribe the URL's channels. */
int
wsd_established(struct wsd *d, struct lws *wsi, struct wpss *pss)
{
	int too_long;
	char *uri = wsd_request_uri(wsi, &too_long);
	struct ws_target t;
	struct wgroup *g;
	struct wconn *c;
	struct wrx *r;
	const char *code;
	int rc = 0;

	memset(&t, 0, sizeof t);
	if (uri == NULL || ws_target_parse(uri, d->cfg.page_messages, &t, &code, NULL) != 0) {
		rc = -1; /* confirm_upgrade checked it: cannot happen */
		goto out;
	}
	c = xcalloc(1, sizeof *c);
	c->d = d;
	c->wsi = wsi;
	c->fd = lws_get_socket_fd(wsi);
	buf_init(&c->rx);
	c->next = d->conns;
	if (d->conns != NULL)
		d->conns->prev = c;
	d->conns = c;
	d->nconns++;
	d->stats.opened++;
	pss->c = c;
	c->path = xstrndup(uri, strcspn(uri, "?"));
	log_info("WebSocket connected: %s (%zu open)", c->path, d->nconns);
	wconn_auth_init(c, uri);
	g = wconn_group_open(c, t.channels, t.nchannels, t.has_since, t.since, t.epoch);
	if (t.last > 0)
		wconn_group_from_last(c, g, (const char *const *)t.channels, t.nchannels, (size_t)t.last);
	if (wconn_any_behind(c))
		lws_callback_on_writable(wsi);
	if ((r = wsd_rx_slot(c->fd)) != NULL && r->active) {
		r->c = c;
		buf_fini(&r->fc.target); /* read above: not needed any more */
		if (r->fc.close_code != 0) /* a frame sent along with the request */
			lws_callback_on_writable(wsi);
	}
out:
	ws_target_fini(&t);
	free(uri);
	return rc;
}

/* Start the close handshake of RFC 6455 §7.1.2 with c's close code: lws
 * sends the close frame, waits for the client's, then closes the socket.
 * Run from a timer, not from c's own WRITEABLE callback: lws treats a
 * nonzero return there as a failed write and drops the socket without a
 * close frame (on its libuv loop; its poll loop happened to flush it). */
static void
wconn_close_now(lws_sorted_usec_list_t *sul)
{
	struct wconn *c = lws_container_of(sul, struct wconn, sul_close);

	if (c->rx_paused) { /* let lws read the client's close frame */
		c->rx_paused = 0;
		lws_rx_flow_control(c->wsi, 1);
	}
	lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
			 (unsigned char *)(uintptr_t)c->close_text, strlen(c->close_text));
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_SYNC);
}

/* Send the next queued frame (one lws_write), or start the close handshake
 * once the queue is empty and a close is due. Returns -1 when the write
 * failed (lws then drops the connection). */
int
wsd_writeable(struct wconn *c)
{
	struct wq *q;
	size_t len;
	int n;

	if (c->close_sent) {
		wconn_clear_queue(c); /* lws is closing it: nothing may follow */
		return 0;
	}
	if (!c->peer_closed && wconn_sent_bad_frame(c))
		wconn_bad_frame(c);
	if (c->head == NULL && !c->dropped && c->close_code == 0 && c->in_flight == 0 && wconn_any_behind(c))
		wconn_catch_up(c);
	if ((q = c->head) == NULL) {
		if (c->close_code != 0)
			lws_sul_schedule(c->d->ctx, 0, &c->sul_close, wconn_close_now, 1);
		return 0;
	}
	len = q->f->len;
	n = lws_write(c->wsi, q->f->data + LWS_PRE, len, q->f->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	c->head = q->next;
	if (c->head == NULL)
		c->tail = NULL;
	c->pending -= len;
	wframe_unref(q->f);
	free(q);
	if (n < (int)len)
		return -1;
	c->sent += len;
	wconn_rx_resume(c);
	if (c->head != NULL || c->close_code != 0 || wconn_any_behind(c))
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* A piece of a client message. Complete text messages are commands. Returns
 * -1 to close (after lws_close_reason). */
int
wsd_receive(struct wconn *c, const void *in, size_t len)
{
	struct wsd *d = c->d;

	if (lws_is_first_fragment(c->wsi)) {
		buf_reset(&c->rx);
		c->rx_binary = lws_frame_is_binary(c->wsi);
	}
	if (c->rx.len + len > (size_t)d->cfg.ws_max_message_bytes) {
		static const char why[] = "message too big (ws_max_message_bytes)";

		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)(uintptr_t)why,
				 sizeof why - 1);
		c->close_code = WS_CLOSE_TOO_BIG; /* for wsd_closed's count and log line */
		return -1;
	}
	buf_append(&c->rx, in, len);
	if (!lws_is_final_fragment(c->wsi))
		return 0;
	if (c->close_code != 0 || c->peer_closed || d->stopping) {
		buf_reset(&c->rx);
		return 0;
	}
	wconn_command(c, c->rx.data != NULL ? c->rx.data : "", c->rx.len, c->rx_binary);
	if (c->rx.cap > 65536) {
		buf_fini(&c->rx);
		buf_init(&c->rx);
	} else {
		buf_reset(&c->rx);
	}
	return 0;
}
