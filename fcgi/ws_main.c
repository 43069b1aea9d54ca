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
 * as raw files: the inotify fd of wake.h (commits by any process), a
 * signalfd for SIGTERM/SIGINT, a timerfd for the 1, 2, 4 ... 512 ms
 * re-reads after a WAL write (wake.h; see wsd_recheck_callback for why not
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
 * Delivery follows fcgi/loop.c: every wake-up reads the rows above the
 * process's high-water mark once, encodes each row once into a shared,
 * reference-counted frame, and queues it to every subscription of its
 * channel. A frame goes out at once (wconn_write_now) to a connection with
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
#include "wake.h"
#include "ws.h"

#define WSD_READ_PAGE 1024
#define WSD_CATCH_UP_PAGE 100 /* most rows in one read of a connection's history */
#define WSD_SHUTDOWN_MS 2000
#define WSD_DRAIN_GRACE_MS 5000

struct wsd;
struct wconn;

/* One frame to send: JSON text, or a binary message (ws.h), with LWS_PRE
 * bytes of headroom before it for lws_write. Shared by every connection it
 * is queued to. */
struct wframe {
	unsigned refs;
	int binary;
	size_t len;
	unsigned char data[]; /* LWS_PRE + len */
};

struct wq {
	struct wframe *f;
	struct wq *next;
};

/* A cursor shared by the channels subscribed together (the URL's, or one
 * subscribe command's): its messages arrive in seq order, so the seq of the
 * last one received is a safe cursor for all of them. */
struct wgroup {
	int64_t since;
	int behind;
	size_t nsubs;
};

struct wchan;

struct wsub {
	struct wconn *c;
	struct wgroup *g;
	struct wchan *ch;
	size_t slot; /* index in ch->subs */
};

/* The subscriptions of one channel in this process. */
struct wchan {
	char *name;
	struct wsub **subs;
	size_t n, cap;
	struct wchan *next; /* hash chain */
};

struct wconn {
	struct wsd *d;
	struct lws *wsi;
	int fd; /* its socket: the index of its wsd_rx slot */
	struct wconn *prev, *next;
	struct wq *head, *tail;
	size_t pending;   /* bytes queued */
	size_t last_unit; /* bytes of the frame queued last */
	size_t catch_up_unit; /* bytes of the history frame queued last (0: none yet) */
	struct wsub **subs;
	size_t nsubs;
	struct buf rx; /* a message arriving in fragments */
	int rx_binary;
	int close_code; /* close once the queue is sent (0: none) */
	const char *close_text;
	int dropped;     /* closing: queue nothing more */
	int over;        /* went over ws_max_pending_bytes; sul_over judges it */
	uint64_t sent;   /* bytes of frames written */
	uint64_t over_sent; /* sent when it went over */
	lws_sorted_usec_list_t sul_over;
	lws_sorted_usec_list_t sul_close; /* starts the close handshake */
	int rx_paused;   /* over the bound: its input is not read (lws_rx_flow_control) */
	int peer_closed; /* the client sent a close frame: ignore what follows */
	int close_sent;  /* lws sent a close frame: no data frame may follow */
	size_t unacked;  /* its publishes not yet answered (ack or error) */
	size_t in_flight; /* of those, in the commit thread's batch: it takes no message */
	int close_after_acks; /* sent a bad frame: close once unacked is 0 */
	int peer_code;   /* the code of the client's close frame (1005: none in it; 0: no frame) */
	char *path;      /* the request path, for the close log line */
	uint64_t delivered; /* message frames queued to it */
	struct auth_claims *claims; /* what its handshake's token grants; NULL: no token */
	int claims_from_cookie;     /* that token came in a cookie: it may not publish */
	lws_sorted_usec_list_t sul_auth; /* closes it 4401 when the token expires */
};

/* A publish waiting for the next group commit, or in the batch the commit
 * thread holds. */
struct wpub {
	struct wconn *c; /* NULL once its connection closed */
	struct ws_command cmd;
};

/* Where the batch handed to the commit thread is. */
enum wbatch_state {
	WBATCH_IDLE,  /* no batch: the loop may hand one over */
	WBATCH_READY, /* handed over: the thread owns groups */
	WBATCH_DONE,  /* committed (result set): the loop takes it back */
};

/* The commit thread: commits one batch of publishes at a time on a writer
 * connection of its own, then writes efd. Only the fields under lock are
 * shared; groups (and what they point to) belong to the thread from
 * WBATCH_READY until it sets WBATCH_DONE, to the loop otherwise. Not
 * commit.h's committer: that lets many threads share one writer, each
 * blocked until its transaction commits; here one loop submits and may not
 * block, and one batch in flight, with what arrives meanwhile going in the
 * next, is the same group commit without a second hand-off. */
struct wcommit {
	struct store *writer;
	int efd;     /* eventfd: a batch is done */
	int efd_dup; /* the eventfd as adopted by lws */
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the thread waits here for a batch or the stop */
	enum wbatch_state state;
	int stopping;
	struct store_group *groups;
	size_t ngroups;
	enum store_result result;
};

/* The close codes counted one by one in fcpush_ws_closes_total (RFC 6455
 * §7.4.1 and the IANA registry, and ours); others count as "other". */
static const int wsd_close_codes[] = {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008,
				      1009, 1010, 1011, 1012, 1013, 1014, WS_CLOSE_AUTH_EXPIRED, WS_CLOSE_DELETED};
#define WSD_CLOSE_SLOTS (sizeof wsd_close_codes / sizeof wsd_close_codes[0] + 1)

/* The buckets of the batch-size histogram, in messages. */
static const int64_t wsd_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

/* Counters for GET /metrics (wsd_metrics). Only the loop's thread touches
 * them. */
struct wsd_stats {
	int64_t started_ms;
	uint64_t opened;        /* WebSockets established */
	uint64_t refused;       /* handshakes refused */
	uint64_t closes[WSD_CLOSE_SLOTS]; /* closed connections, by close code */
	uint64_t delivered;     /* message frames queued to connections */
	uint64_t acked;         /* publishes acknowledged */
	uint64_t publish_errors; /* publishes answered with an error after the commit */
	uint64_t dropped;       /* closed 1013 for reading too slowly */
	uint64_t transactions;  /* commit-thread transactions that committed */
	uint64_t committed;     /* messages they committed */
	struct metrics_hist batch; /* messages per such transaction */
};

/* The process. */
struct wsd {
	struct config cfg;
	struct auth *auth; /* access control (auth.h) */
	struct store *st;
	struct json_parse *jp; /* parses client commands; the daemon's own */
	struct wake *wake;
	int wake_dup; /* the inotify fd as adopted by lws */
	int sig_fd;
	int sig_dup; /* the signalfd as adopted by lws */
	const char *config_path; /* --config, re-read on SIGHUP; NULL when none */
	uv_loop_t loop; /* ours, lent to lws as a foreign loop */
	int loop_ready;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	lws_retry_bo_t retry;
	int64_t seen_seq;
	int64_t seen_deletion;
	struct wchan **buckets;
	size_t nbuckets, nchans;
	struct wconn *conns;
	size_t nconns;
	struct wpub *pubs; /* received, for the next batch */
	size_t npubs, pubs_cap;
	struct wpub *flight; /* the batch the commit thread holds (nflight 0: none) */
	size_t nflight, flight_cap;
	struct store_group *fgroups; /* flight's groups, publishes and seqs */
	struct store_pub *fpubs;
	int64_t *fseqs;
	size_t fcap;
	struct wcommit commit;
	lws_sorted_usec_list_t sul_commit;
	struct retention *retention; /* the retention thread (retention.h) */
	int recheck_fd;  /* timerfd of the re-reads after a WAL write */
	int recheck_dup; /* the timerfd as adopted by lws */
	lws_sorted_usec_list_t sul_stop;
	int64_t recheck_delay_ms;
	int stopping;
	int done;
	struct msglist rows;
	struct buf scratch;
	struct wsd_stats stats;
};

/* What lws keeps per connection: a pointer to ours. */
struct wpss {
	struct wconn *c;
};

/* A connection's frame check (ws.h), by socket fd: reset when lws accepts
 * the socket, tied to its wconn once the handshake is done. */
struct wrx {
	struct ws_frame_check fc;
	struct wconn *c;
	int active;
};

static struct wrx *wsd_rx;
static size_t wsd_nrx;

static int wsd_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsd_wake_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsd_signal_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsd_recheck_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static int wsd_committed_callback(struct lws *, enum lws_callback_reasons, void *, void *, size_t);
static void wsd_dispatch(struct wsd *, int *found);
static void wsd_close_when_sent(struct wconn *, int code, const char *text);
static int wconn_over_bound(const struct wconn *c);
static void wconn_fall_behind(struct wconn *c);
static void wsd_commit(lws_sorted_usec_list_t *sul);

static const struct lws_protocols wsd_protocols[] = {
	{WS_SUBPROTOCOL, wsd_callback, sizeof(struct wpss), 4096, 0, NULL, 0},
	{"fcpush-wake", wsd_wake_callback, 0, 0, 0, NULL, 0},
	{"fcpush-signal", wsd_signal_callback, 0, 0, 0, NULL, 0},
	{"fcpush-recheck", wsd_recheck_callback, 0, 0, 0, NULL, 0},
	{"fcpush-commit", wsd_committed_callback, 0, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, 0, NULL, 0}};

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

static int wconn_sent_bad_frame(const struct wconn *c);

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
static void
wconn_queue_buf(struct wconn *c, const struct buf *b, int binary)
{
	struct wframe *f = wframe_new(b->data, b->len, binary);

	wconn_queue(c, f);
	wframe_unref(f);
}

static void
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

/* ---- the channel index ------------------------------------------------------- */

static size_t
wsd_hash(const char *s)
{
	size_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static struct wchan *
wsd_chan_find(struct wsd *d, const char *name)
{
	struct wchan *ch;

	for (ch = d->buckets[wsd_hash(name) & (d->nbuckets - 1)]; ch != NULL; ch = ch->next) {
		if (strcmp(ch->name, name) == 0)
			return ch;
	}
	return NULL;
}

static struct wchan *
wsd_chan_get(struct wsd *d, const char *name)
{
	struct wchan *ch = wsd_chan_find(d, name), **b, *next;
	size_t nb, i, h;

	if (ch != NULL)
		return ch;
	if (d->nchans >= d->nbuckets * 2) {
		nb = d->nbuckets * 2;
		b = xcalloc(nb, sizeof *b);
		for (i = 0; i < d->nbuckets; i++) {
			for (ch = d->buckets[i]; ch != NULL; ch = next) {
				next = ch->next;
				h = wsd_hash(ch->name) & (nb - 1);
				ch->next = b[h];
				b[h] = ch;
			}
		}
		free(d->buckets);
		d->buckets = b;
		d->nbuckets = nb;
	}
	ch = xcalloc(1, sizeof *ch);
	ch->name = xstrdup(name);
	h = wsd_hash(name) & (d->nbuckets - 1);
	ch->next = d->buckets[h];
	d->buckets[h] = ch;
	d->nchans++;
	return ch;
}

static void
wsd_chan_drop(struct wsd *d, struct wchan *ch)
{
	struct wchan **pp = &d->buckets[wsd_hash(ch->name) & (d->nbuckets - 1)];

	while (*pp != ch)
		pp = &(*pp)->next;
	*pp = ch->next;
	d->nchans--;
	free(ch->name);
	free(ch->subs);
	free(ch);
}

/* Subscribe c to channel in group g (which counts it). */
static void
wconn_sub_add(struct wconn *c, const char *channel, struct wgroup *g)
{
	struct wchan *ch = wsd_chan_get(c->d, channel);
	struct wsub *s = xcalloc(1, sizeof *s);

	s->c = c;
	s->g = g;
	s->ch = ch;
	if (ch->n == ch->cap) {
		ch->cap = ch->cap == 0 ? 4 : ch->cap * 2;
		ch->subs = xrealloc(ch->subs, ch->cap * sizeof *ch->subs);
	}
	s->slot = ch->n;
	ch->subs[ch->n++] = s;
	g->nsubs++;
	c->subs = xrealloc(c->subs, (c->nsubs + 1) * sizeof *c->subs);
	c->subs[c->nsubs++] = s;
}

/* Remove subscription i of c; its group goes with its last subscription. */
static void
wconn_sub_remove(struct wconn *c, size_t i)
{
	struct wsub *s = c->subs[i];
	struct wchan *ch = s->ch;

	ch->subs[s->slot] = ch->subs[--ch->n];
	ch->subs[s->slot]->slot = s->slot;
	if (ch->n == 0)
		wsd_chan_drop(c->d, ch);
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

static void
wconn_unsubscribe_all(struct wconn *c)
{
	while (c->nsubs > 0)
		wconn_sub_remove(c, c->nsubs - 1);
}

/* ---- connections ----------------------------------------------------------------- */

/* Close c once what is queued has been sent: the close frame carries code
 * and text (RFC 6455 §5.5.1). It gets no more messages. */
static void
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

static void
wconn_error(struct wconn *c, const char *code, const char *detail, const char *id)
{
	struct buf *b = &c->d->scratch;

	buf_reset(b);
	ws_frame_error(b, code, detail, id);
	wconn_queue_buf(c, b, 0);
}

/* Open a group for channels at cursor since (has_since: a cursor was given,
 * so history is read from the store first, after a gap notice if retention
 * deleted part of it, or if the cursor is of another epoch (NULL or "":
 * unchecked) or above every seq of this database). */
static struct wgroup *
wconn_group_open(struct wconn *c, char *const *channels, size_t n, int has_since, int64_t since,
		 const char *epoch)
{
	struct wsd *d = c->d;
	struct wgroup *g = xcalloc(1, sizeof *g);
	int64_t trimmed = 0, oldest = 0, high = 0;
	int rollback = 0;
	size_t i;

	/* A cursor of another epoch starts at the beginning of the history,
	 * one above every seq assigned here (a restored database) at the
	 * highest: both after a gap notice. */
	if (has_since && store_high_seq(d->st, &high) == STORE_OK)
		since = store_cursor_resume(d->st, epoch, since, high, &rollback);
	g->since = has_since ? since : d->seen_seq;
	g->behind = has_since;
	if (has_since &&
	    store_gap(d->st, (const char *const *)channels, n, since, &trimmed, &oldest) == STORE_OK &&
	    (rollback || since < trimmed)) {
		buf_reset(&d->scratch);
		ws_frame_gap(&d->scratch, oldest > 0 ? oldest : (rollback ? since : trimmed) + 1, store_epoch(d->st));
		wconn_queue_buf(c, &d->scratch, 0);
	}
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

/* Read the history of c's behind groups from the store while its queue is
 * below half the bound, page by page (wconn_catch_up_page); called again
 * from the WRITEABLE callback once the queue is empty. A group that read a
 * short page whole has caught up (every row committed so far is queued) and
 * takes live rows from here on, skipping those it already has (seq <=
 * since). */
static void
wconn_catch_up(struct wconn *c)
{
	struct wsd *d = c->d;
	size_t budget = (size_t)d->cfg.ws_max_pending_bytes / 2, page, i, k, nch;
	int binary;
	const char **chans = xcalloc(c->nsubs > 0 ? c->nsubs : 1, sizeof *chans);
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
			page = wconn_catch_up_page(c, budget);
			msglist_clear(&l);
			if (store_read_since(d->st, chans, nch, g->since, page, &l) != STORE_OK) {
				log_error("catching a WebSocket up: %s", store_errmsg(d->st));
				break;
			}
			for (i = 0; i < l.n && (i == 0 || c->pending < budget); i++) {
				buf_reset(&d->scratch);
				binary = ws_frame_message(&d->scratch, l.v[i]);
				wconn_queue_buf(c, &d->scratch, binary);
				c->delivered++;
				d->stats.delivered++;
				c->catch_up_unit = d->scratch.len;
				g->since = l.v[i]->seq;
			}
			if (l.n < page && !l.truncated && i == l.n)
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
static void
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
	if (c->fd >= 0 && (size_t)c->fd < wsd_nrx && wsd_rx[c->fd].c == c)
		wsd_rx[c->fd].c = NULL;
	lws_sul_cancel(&c->sul_over);
	lws_sul_cancel(&c->sul_close);
	lws_sul_cancel(&c->sul_auth);
	auth_claims_free(c->claims);
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

/* ---- publishing: the commit thread ------------------------------------------------ */

static void *
wcommit_thread(void *arg)
{
	struct wcommit *w = arg;
	struct store_group *groups;
	enum store_result r;
	uint64_t one = 1;
	size_t n;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->state != WBATCH_READY && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->state != WBATCH_READY)
			break; /* stopping, and no batch: a batch handed over is committed first */
		groups = w->groups;
		n = w->ngroups;
		pthread_mutex_unlock(&w->lock);
		r = store_append_groups(w->writer, groups, n, util_now_ms());
		pthread_mutex_lock(&w->lock);
		w->result = r;
		w->state = WBATCH_DONE;
		if (write(w->efd, &one, sizeof one) != (ssize_t)sizeof one)
			log_error("commit thread: eventfd write: %s", strerror(errno)); /* cannot happen */
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Open the commit thread's writer connection and eventfd (and a copy of it
 * for lws to adopt) and start it. Returns 0, or -1 with *cause (caller
 * frees). Call with SIGTERM and SIGINT blocked: the thread inherits the mask. */
static int
wcommit_start(struct wcommit *w, const struct config *cfg, char **cause)
{
	int rc;

	w->writer = store_open(cfg->database, store_durability_flags(cfg->durability), (int)cfg->busy_timeout_ms, cause);
	if (w->writer == NULL)
		return -1;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd == -1 || (w->efd_dup = fcntl(w->efd, F_DUPFD_CLOEXEC, 0)) == -1) {
		*cause = xasprintf("eventfd: %s", strerror(errno));
		return -1;
	}
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if ((rc = pthread_create(&w->thread, NULL, wcommit_thread, w)) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		*cause = xasprintf("cannot start the commit thread: %s", strerror(rc));
		return -1;
	}
	w->started = 1;
	return 0;
}

/* Stop the commit thread: a batch it holds is committed first (bounded by
 * busy_timeout_ms), then it is joined. Returns the state the batch is left
 * in (WBATCH_DONE with w->result set, or WBATCH_IDLE). Safe when it never
 * started. */
static enum wbatch_state
wcommit_stop(struct wcommit *w)
{
	enum wbatch_state state = WBATCH_IDLE;

	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = 1;
		pthread_cond_signal(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
		state = w->state;
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		w->started = 0;
	}
	return state;
}

/* Close what wcommit_start opened (the thread stopped). */
static void
wcommit_fini(struct wcommit *w)
{
	if (w->efd_dup != -1)
		close(w->efd_dup);
	if (w->efd != -1)
		close(w->efd);
	store_close(w->writer);
	w->writer = NULL;
}

/* Hand every publish received so far to the commit thread as one batch (one
 * transaction, each publish in its own savepoint), unless a batch is in
 * flight: wsd_committed then hands the next one over. Never waits. */
static void
wsd_commit_start(struct wsd *d)
{
	struct wcommit *w = &d->commit;
	struct wpub *t;
	size_t i, n = d->npubs;

	if (n == 0 || d->nflight > 0)
		return;
	/* The received publishes become the batch; the batch's old array
	 * takes the next ones. */
	t = d->flight;
	d->flight = d->pubs;
	d->pubs = t;
	i = d->flight_cap;
	d->flight_cap = d->pubs_cap;
	d->pubs_cap = i;
	d->nflight = n;
	d->npubs = 0;
	if (n > d->fcap) {
		d->fcap = n * 2;
		d->fgroups = xrealloc(d->fgroups, d->fcap * sizeof *d->fgroups);
		d->fpubs = xrealloc(d->fpubs, d->fcap * sizeof *d->fpubs);
		d->fseqs = xrealloc(d->fseqs, d->fcap * sizeof *d->fseqs);
	}
	for (i = 0; i < n; i++) {
		t = &d->flight[i];
		if (t->c != NULL)
			t->c->in_flight++;
		memset(&d->fpubs[i], 0, sizeof d->fpubs[i]);
		d->fpubs[i].channel = t->cmd.channel;
		d->fpubs[i].event = t->cmd.event;
		d->fpubs[i].content_type = t->cmd.content_type;
		d->fpubs[i].body = t->cmd.data;
		d->fpubs[i].body_len = t->cmd.data_len;
		d->fgroups[i] = (struct store_group){.pubs = &d->fpubs[i], .n = 1, .seqs = &d->fseqs[i]};
	}
	pthread_mutex_lock(&w->lock);
	w->groups = d->fgroups;
	w->ngroups = n;
	w->state = WBATCH_READY;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* The sul of the group commit: after the events of a service pass, so the
 * publishes they carried go in one batch. */
static void
wsd_commit(lws_sorted_usec_list_t *sul)
{
	wsd_commit_start(lws_container_of(sul, struct wsd, sul_commit));
}

/* Release the batch's publishes and the causes of its failures. */
static void
wsd_flight_clear(struct wsd *d)
{
	size_t i;

	for (i = 0; i < d->nflight; i++) {
		free(d->fgroups[i].cause);
		ws_command_fini(&d->flight[i].cmd);
	}
	d->nflight = 0;
}

static void wconn_close_bad_frame(struct wconn *c);

/* The batch is done (result r): the cross-process signal, then each
 * publish's ack or error to its connection (if still open) in publish
 * order, the close of a connection that sent a bad frame once its last ack
 * is queued, the local dispatch (no waiting for our own inotify event), and
 * the next batch. A client subscribed to its own channel gets the ack
 * before the message, as when the loop committed: while a connection has
 * publishes in the batch, live rows skip it (our inotify event may come
 * first) and its subscriptions fall behind (wsd_dispatch); it reads them
 * from the store once its acks are queued (wconn_catch_up). */
static void
wsd_committed(struct wsd *d, enum store_result r)
{
	struct store_group *g;
	struct wpub *p;
	size_t i, msgs = 0;

	if (r == STORE_OK) {
		wake_notify(d->wake);
		retention_kick(d->retention);
		for (i = 0; i < d->nflight; i++)
			msgs += d->fgroups[i].result == STORE_OK ? d->fgroups[i].n : 0;
	}
	if (msgs > 0) {
		d->stats.transactions++;
		d->stats.committed += msgs;
		metrics_hist_observe(&d->stats.batch, (int64_t)msgs);
	}
	for (i = 0; i < d->nflight; i++) {
		p = &d->flight[i];
		g = &d->fgroups[i];
		if (p->c == NULL)
			continue;
		buf_reset(&d->scratch);
		if (g->result == STORE_OK) {
			d->stats.acked++;
			ws_frame_ack(&d->scratch, p->cmd.id, p->cmd.channel, d->fseqs[i]);
		} else {
			d->stats.publish_errors++;
			ws_frame_error(&d->scratch,
				       g->result == STORE_BUSY   ? "store_busy"
				       : g->result == STORE_FULL ? "insufficient_storage"
								 : "store_error",
				       g->cause != NULL ? g->cause : "the message was not stored", p->cmd.id);
		}
		wconn_queue_buf(p->c, &d->scratch, 0);
		p->c->in_flight--;
		if (--p->c->unacked == 0 && p->c->close_after_acks)
			wconn_close_bad_frame(p->c);
	}
	wsd_flight_clear(d);
	if (r == STORE_OK)
		wsd_dispatch(d, NULL);
	wsd_commit_start(d);
}

/* The commit thread's eventfd is readable: take the batch back. */
static int
wsd_committed_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	struct wcommit *w = &d->commit;
	enum store_result r;
	uint64_t count;

	(void)user;
	(void)in;
	(void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (read(w->efd, &count, sizeof count) != (ssize_t)sizeof count)
		return 0;
	pthread_mutex_lock(&w->lock);
	if (w->state != WBATCH_DONE) {
		pthread_mutex_unlock(&w->lock);
		return 0;
	}
	w->state = WBATCH_IDLE;
	r = w->result;
	pthread_mutex_unlock(&w->lock);
	wsd_committed(d, r);
	return 0;
}

/* ---- client frames, checked before lws parses them --------------------------- */

static struct wrx *
wsd_rx_slot(int fd)
{
	size_t n;

	if (fd < 0)
		return NULL;
	if ((size_t)fd >= wsd_nrx) {
		n = wsd_nrx == 0 ? 1024 : wsd_nrx;
		while (n <= (size_t)fd)
			n *= 2;
		wsd_rx = xrealloc(wsd_rx, n * sizeof *wsd_rx);
		memset(wsd_rx + wsd_nrx, 0, (n - wsd_nrx) * sizeof *wsd_rx);
		wsd_nrx = n;
	}
	return &wsd_rx[fd];
}

/* The frame check of c's socket, NULL when it has none. */
static struct ws_frame_check *
wconn_frame_check(const struct wconn *c)
{
	return c->fd >= 0 && (size_t)c->fd < wsd_nrx && wsd_rx[c->fd].active ? &wsd_rx[c->fd].fc : NULL;
}

/* Whether c's client sent a bad frame (its frame check says so). */
static int
wconn_sent_bad_frame(const struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	return fc != NULL && fc->close_code != 0;
}

/* Close c, which sent a bad frame, with the code its frame check chose
 * once its queue is out; it gets nothing more. */
static void
wconn_close_bad_frame(struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	c->close_after_acks = 0;
	if (fc != NULL && fc->close_code != 0)
		wsd_close_when_sent(c, fc->close_code, fc->why);
	else
		wsd_close_when_sent(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error");
	c->dropped = 1;
}

/* c's client sent a bad frame (ws.h: unmasked, an oversized control frame,
 * a bad length, a bad close frame): the publishes it sent before it commit
 * (their acks are queued), then it gets nothing more and is closed with
 * 1002 or 1007 once its queue is out (RFC 6455 §7.1.7, §7.4.1). From the
 * WRITEABLE callback, so that lws has delivered every frame before the bad
 * one. With publishes not yet answered (waiting for or in the commit
 * thread's batch), it reads nothing more and takes no message from here on,
 * and the close waits for their acks (wsd_committed). */
static void
wconn_bad_frame(struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	log_info("closing a WebSocket that sent a bad frame (%d: %s)", fc->close_code, fc->why);
	c->peer_closed = 1;
	if (c->unacked > 0) {
		wconn_unsubscribe_all(c);
		c->close_after_acks = 1;
		return;
	}
	wconn_close_bad_frame(c);
}

/* The client's close frame, as lws passes it on (payload, len bytes), which
 * lws then echoes. The frame check has refused every invalid one already; lws
 * 4.1.6 also rewrites the registered codes 1012-1014 to 1002 (ops-ws.c),
 * which the IANA registry assigns (service restart, try again later, bad
 * gateway): put back the code the client sent. */
static void
wconn_peer_close(struct wconn *c, unsigned char *payload, size_t len)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	c->peer_closed = 1;
	c->peer_code = len >= 2 ? (int)((unsigned)payload[0] << 8 | payload[1]) : 1005;
	if (fc != NULL && len >= 2 && ((unsigned)payload[0] << 8 | payload[1]) == LWS_CLOSE_STATUS_PROTOCOL_ERR &&
	    fc->peer_close >= 1012 && fc->peer_close <= 1014) {
		payload[0] = (unsigned char)(fc->peer_close >> 8);
		payload[1] = (unsigned char)fc->peer_close;
		c->peer_code = fc->peer_close;
	}
}

/*
 * recv(2), as libwebsockets calls it for each read from a connection: the
 * definition in the executable takes the place of libc's for the library
 * too (ELF symbol interposition, as a malloc replacement does). It reads
 * with recvfrom(2) and runs what it read through the connection's frame
 * check. lws gets the bytes before a bad frame; from that frame on it gets
 * nothing (EAGAIN: what arrives is read and discarded), and the next
 * WRITEABLE callback closes the connection with 1002 or 1007
 * (wconn_bad_frame). lws reads its adopted files (inotify, signalfd) with
 * read(2), so only sockets come here.
 */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
	struct wrx *r;
	size_t ok;

	if (n <= 0 || (flags & MSG_PEEK) != 0 || fd < 0 || (size_t)fd >= wsd_nrx || !wsd_rx[fd].active)
		return n;
	r = &wsd_rx[fd];
	if (r->fc.close_code != 0) {
		errno = EAGAIN;
		return -1;
	}
	ok = ws_frame_check_feed(&r->fc, buf, (size_t)n);
	if (r->fc.close_code == 0)
		return n;
	if (r->c != NULL)
		lws_callback_on_writable(r->c->wsi); /* wsd_writeable closes it */
	if (ok == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)ok;
}

/*
 * send(2), as libwebsockets calls it for each write to a connection
 * (interposed like recv above). It only watches: a write that starts with
 * the first byte of a close frame (FIN + opcode 8) is lws's close frame.
 * lws sends one on its own when it closes for a protocol error of the
 * client's (1002, 1007), and no callback of ours says so; after it, no data
 * frame may follow (RFC 6455 §5.5.1), so fcpush-ws writes nothing more
 * there. A frame starts a write: lws sends a close frame only once the rest
 * of any partial frame is out. Writes of such a rest (lws_partial_buffered
 * while it lasts) start anywhere in a frame and are not looked at.
 */
ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	struct wconn *c;

	if (len >= 2 && *(const unsigned char *)buf == 0x88 && fd >= 0 && (size_t)fd < wsd_nrx &&
	    (c = wsd_rx[fd].c) != NULL && !lws_partial_buffered(c->wsi))
		c->close_sent = 1;
	return sendto(fd, buf, len, flags, NULL, 0);
}

/* ---- commands ------------------------------------------------------------------------- */

/* Whether c may run cmd (publish or subscribe) under the configured mode;
 * if not, answer it with an error frame (invalid_request: no token, or a
 * cookie's for a publish; insufficient_scope) and return 0. */
static int
wconn_command_allowed(struct wconn *c, const struct ws_command *cmd)
{
	enum auth_op op = cmd->kind == WS_CMD_PUBLISH ? AUTH_OP_PUBLISH : AUTH_OP_SUBSCRIBE;
	char *detail;

	if (cmd->kind == WS_CMD_UNSUBSCRIBE || !auth_required(c->d->auth, op))
		return 1;
	if (c->claims == NULL || (op == AUTH_OP_PUBLISH && c->claims_from_cookie)) {
		wconn_error(c, "invalid_request",
			    op == AUTH_OP_PUBLISH ? "publishing needs a token (Authorization or ?access_token= on the "
						    "handshake; a cookie's does not publish)"
						  : "subscribing needs a token",
			    cmd->id);
		return 0;
	}
	if (auth_claims_allow(c->claims, op, cmd->channel))
		return 1;
	detail = xasprintf("the token does not allow %s on channel %s",
			   op == AUTH_OP_PUBLISH ? "publishing" : "subscribing", cmd->channel);
	wconn_error(c, "insufficient_scope", detail, cmd->id);
	free(detail);
	return 0;
}

/* A whole client message of len bytes: a JSON text command, or a binary
 * publish (ws.h). */
static void
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
	if (!wconn_command_allowed(c, &cmd)) {
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

/* ---- dispatch ------------------------------------------------------------------------------ */

static void
wsd_dispatch_deletions(struct wsd *d)
{
	struct store_deletion *dels = NULL;
	struct wchan *ch;
	struct wconn *c;
	size_t n = 0, i;

	if (store_read_deletions(d->st, d->seen_deletion, &dels, &n) != STORE_OK) {
		log_error("reading deletions: %s", store_errmsg(d->st));
		return;
	}
	for (i = 0; i < n; i++) {
		while ((ch = wsd_chan_find(d, dels[i].channel)) != NULL) {
			c = ch->subs[0]->c;
			buf_reset(&d->scratch);
			ws_frame_deleted(&d->scratch, dels[i].channel);
			wconn_queue_buf(c, &d->scratch, 0);
			wsd_close_when_sent(c, WS_CLOSE_DELETED, "channel deleted");
		}
		d->seen_deletion = dels[i].id;
	}
	free(dels);
}

/* Read every row above seen_seq once and queue each to every live
 * subscription of its channel. *found (may be NULL) is set when there were
 * new rows. */
static void
wsd_dispatch(struct wsd *d, int *found)
{
	struct wframe *f;
	struct store_message *m;
	struct wchan *ch;
	struct wsub *s;
	size_t i, j;
	int binary;

	if (found != NULL)
		*found = 0;
	wsd_dispatch_deletions(d);
	for (;;) {
		msglist_clear(&d->rows);
		if (store_read_all_since(d->st, d->seen_seq, WSD_READ_PAGE, &d->rows) != STORE_OK) {
			log_error("reading new messages: %s", store_errmsg(d->st));
			return;
		}
		if (d->rows.n == 0)
			break;
		if (found != NULL)
			*found = 1;
		for (i = 0; i < d->rows.n; i++) {
			m = d->rows.v[i];
			if ((ch = wsd_chan_find(d, m->channel)) == NULL)
				continue;
			f = NULL;
			for (j = 0; j < ch->n; j++) {
				s = ch->subs[j];
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
		d->seen_seq = d->rows.v[d->rows.n - 1]->seq;
		if (d->rows.n < WSD_READ_PAGE && !d->rows.truncated)
			break;
	}
	msglist_clear(&d->rows);
}

/* Arm the re-read timer to fire once in ms milliseconds. */
static void
wsd_recheck_arm(struct wsd *d, int64_t ms)
{
	struct itimerspec its;

	memset(&its, 0, sizeof its);
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (timerfd_settime(d->recheck_fd, 0, &its, NULL) == -1)
		log_warn("timerfd_settime: %s", strerror(errno));
}

/* A WAL write was seen: its commit may not be visible yet (wake.h). Look
 * again after 1, 2, 4 ... 512 ms until new rows show up. On a timerfd, not
 * an lws timer: lws 4.1 hands its loop timeouts in whole milliseconds, so a
 * timer due within the millisecond makes the loop spin until then
 * (measured on its poll loop, which rounds down: ~2,000 poll calls after
 * one publish; its libuv glue rounds to the nearest). */
static int
wsd_recheck_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	uint64_t expirations;
	int found = 0;

	(void)user;
	(void)in;
	(void)len;
	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	if (read(d->recheck_fd, &expirations, sizeof expirations) != (ssize_t)sizeof expirations)
		return 0; /* disarmed since it fired */
	wsd_dispatch(d, &found);
	if (found || d->recheck_delay_ms >= 512)
		return 0;
	d->recheck_delay_ms *= 2;
	wsd_recheck_arm(d, d->recheck_delay_ms);
	return 0;
}

static int
wsd_wake_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsd *d = lws_context_user(lws_get_context(wsi));
	int seen;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	seen = wake_drain(d->wake);
	if (seen <= 0)
		return 0;
	wsd_dispatch(d, NULL);
	if (seen & WAKE_WAL) {
		d->recheck_delay_ms = 1;
		wsd_recheck_arm(d, 1);
	}
	return 0;
}

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

/* The request target as sent (path and query string, still
 * percent-encoded: route_parse decodes it once, as for HTTP), kept by the
 * frame check of wsi's socket; NULL when there is none or it was over
 * WS_MAX_TARGET_BYTES (*too_long set). Not lws's WSI_TOKEN_GET_URI: lws has
 * decoded that once already, and collapsed its path. Caller frees. */
static char *
wsd_request_uri(struct lws *wsi, int *too_long)
{
	int fd = lws_get_socket_fd(wsi);
	const struct ws_frame_check *fc;

	*too_long = 0;
	if (fd < 0 || (size_t)fd >= wsd_nrx || !wsd_rx[fd].active)
		return NULL;
	fc = &wsd_rx[fd].fc;
	*too_long = fc->target_too_long;
	if (fc->target_too_long || fc->target.len == 0)
		return NULL;
	return xstrndup(fc->target.data, fc->target.len);
}

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

/* c is closing: count its close code and log the close. The code is the
 * one the server chose (c->close_code), else the client's, else 1006 (no
 * close frame: the connection was cut). */
static void
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

/* The token of wsi's handshake (auth_token_from: Authorization, then
 * ?access_token= in uri, then, with allow_cookie, the cookie). Caller
 * frees; NULL when none. */
static char *
wsd_token(struct wsd *d, struct lws *wsi, const char *uri, int allow_cookie)
{
	char *authz = wsd_header(wsi, WSI_TOKEN_HTTP_AUTHORIZATION), *cookie = wsd_header(wsi, WSI_TOKEN_HTTP_COOKIE);
	const char *q = uri != NULL ? strchr(uri, '?') : NULL;
	char *t = auth_token_from(authz, q != NULL ? q + 1 : NULL, cookie, d->cfg.auth_cookie, allow_cookie);

	free(authz);
	free(cookie);
	return t;
}

/* Check the token of a handshake for the URL's channels t (auth.h): the
 * same rules as for HTTP subscribers, and a token that is sent must be
 * valid even where subscribing is open (a publisher learns at once). 0, or
 * the status (401, 403) with *code and *cause (caller frees) and
 * *www_authenticate (caller frees) for the answer. */
static int
wsd_handshake_auth(struct wsd *d, struct lws *wsi, const char *uri, const struct ws_target *t, const char **code,
		   char **cause, char **www_authenticate)
{
	char *token = wsd_token(d, wsi, uri, 1), *own = wsd_token(d, wsi, uri, 0);
	enum auth_result ar = AUTH_OK;
	struct auth_claims *claims = NULL;

	if (auth_required(d->auth, AUTH_OP_SUBSCRIBE))
		ar = auth_check(d->auth, token, AUTH_OP_SUBSCRIBE, (const char *const *)t->channels, t->nchannels,
				util_now_ms() / 1000, NULL, cause);
	else if (auth_mode(d->auth) != AUTH_MODE_OFF && own != NULL)
		ar = auth_verify(d->auth, own, util_now_ms() / 1000, &claims, cause);
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

/* Decide on an upgrade request before lws answers it: 0 lets it proceed, -1
 * refuses it (an HTTP answer is written here, then lws hangs up). */
static int
wsd_confirm_upgrade(struct wsd *d, struct lws *wsi)
{
	char *version = wsd_header(wsi, WSI_TOKEN_VERSION), *key = wsd_header(wsi, WSI_TOKEN_KEY);
	char *protocols = wsd_header(wsi, WSI_TOKEN_PROTOCOL), *origin = wsd_header(wsi, WSI_TOKEN_ORIGIN);
	char *cause = NULL, *uri, *host = wsd_request_host(wsi), *www_authenticate = NULL;
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
	} else if (!config_ws_origin_allowed(&d->cfg, origin, host)) {
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
		if (status == 0)
			status = wsd_handshake_auth(d, wsi, uri, &t, &code, &cause, &www_authenticate);
	}
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
	ws_target_fini(&t);
	free(version);
	free(key);
	free(protocols);
	free(origin);
	free(uri);
	free(cause);
	return rc;
}

/* c's token has expired: close it 4401; its client gets a fresh token and
 * reconnects with ?since (fcpush.js does). */
static void
wconn_auth_expired(lws_sorted_usec_list_t *sul)
{
	struct wconn *c = lws_container_of(sul, struct wconn, sul_auth);

	wsd_close_when_sent(c, WS_CLOSE_AUTH_EXPIRED, "token expired");
}

/* Keep what c's handshake token grants (checked by wsd_handshake_auth) for
 * its commands, and close c when it expires. */
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

/* A handshake was accepted: subscribe the URL's channels. */
static int
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
static int
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
static int
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
	msglist_init(&d.rows);
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
	if (d.jp != NULL)
		d.st = store_open(d.cfg.database, store_durability_flags(d.cfg.durability), (int)d.cfg.busy_timeout_ms,
				  &cause);
	if (d.st == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	d.rows.max_bytes = (size_t)d.cfg.page_max_bytes;
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
	d.wake = wake_new(d.cfg.database, &cause);
	if (d.wake == NULL) {
		fprintf(stderr, "fcpush-ws: %s\n", cause);
		goto out;
	}
	if (store_high_seq(d.st, &d.seen_seq) != STORE_OK ||
	    store_deletion_high(d.st, &d.seen_deletion) != STORE_OK) {
		fprintf(stderr, "fcpush-ws: reading %s: %s\n", d.cfg.database, store_errmsg(d.st));
		goto out;
	}
	d.nbuckets = 256;
	d.buckets = xcalloc(d.nbuckets, sizeof *d.buckets);
	d.recheck_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d.recheck_fd == -1) {
		fprintf(stderr, "fcpush-ws: timerfd_create: %s\n", strerror(errno));
		goto out;
	}
	/* lws closes what it adopted: give it copies of the inotify fd (which
	 * wake_free closes), the signalfd and the timerfd. */
	d.wake_dup = fcntl(wake_fd(d.wake), F_DUPFD_CLOEXEC, 0);
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
	if (wcommit_stop(&d.commit) == WBATCH_DONE && d.commit.result == STORE_OK)
		wake_notify(d.wake);
	wsd_flight_clear(&d);
	wcommit_fini(&d.commit);
	for (i = 0; (size_t)i < d.npubs; i++)
		ws_command_fini(&d.pubs[i].cmd);
	free(d.pubs);
	free(d.flight);
	free(d.fgroups);
	free(d.fpubs);
	free(d.fseqs);
	free(d.buckets);
	for (i = 0; (size_t)i < wsd_nrx; i++)
		ws_frame_check_fini(&wsd_rx[i].fc);
	free(wsd_rx);
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
	wake_free(d.wake);
	store_close(d.st);
	json_parse_free(d.jp);
	auth_free(d.auth);
	msglist_fini(&d.rows);
	buf_fini(&d.scratch);
	free(cause);
	config_fini(&d.cfg);
	return rc;
}
