/* SPDX-License-Identifier: MIT */
/*
 * The parked-request event loop (see loop.h).
 *
 * Data: every parked request is a struct parked. The subscriber index
 * (subindex.h) maps channel names to the parked requests waiting on them (a
 * request on several channels is in several lists; removal is O(1)). A binary min-heap orders requests by deadline. Only the
 * loop thread touches these, except that other threads read the counts under
 * index_lock.
 *
 * Delivery: on every wake-up the feed (feed.h) reads the rows above the
 * process's high-water mark once, in pages, and for each row the loop visits only
 * the requests waiting on that row's channel. A row is encoded once per
 * transport (SSE event, NDJSON line) and the same bytes are queued to every
 * stream; each stream then gets one write(2) per wake-up. Long polls woken
 * by the same single row with the same label and headers (the common case:
 * many subscribers of one channel, each with its cursor at the last row)
 * get the same answer, built and serialized once per dispatch and queued to
 * each by reference.
 *
 * Streams stay parked after each delivery. A stream whose history does not
 * fit its opening is "behind": live rows skip it and it reads on from the
 * store page by page as its socket drains, until it has caught up. Output a
 * client does not read piles up in its queue; past stream_max_pending_bytes
 * the stream is dropped (its client resumes from its last seq).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "app.h"
#include "config.h"
#include "fcgi_out.h"
#include "feed.h"
#include "log.h"
#include "loop.h"
#include "push.h"
#include "subindex.h"
#include "retention.h"

#define LOOP_MAX_EVENTS 256

/* epoll user data tags: parked requests are tagged with their pointer. */
#define LOOP_TAG_NOTIFY ((void *)1)
#define LOOP_TAG_WAKE ((void *)2)

enum parked_state {
	PARKED_WAITING = 0, /* in the index and the heap */
	PARKED_DRAINING     /* answered; output still being written */
};

struct parked {
	int fd;
	enum parked_state state;
	int want_out;             /* EPOLLOUT is armed */
	int64_t last_write_ms;    /* streams: for heartbeats */
	size_t last_unit;         /* streams: bytes of the last message queued */
	int64_t progress_ms;      /* streams: monotonic ms of the last write that took bytes */
	struct parked *stream_prev, *stream_next; /* the list of streams */
	struct park_spec *spec;
	struct subindex_chan **chans; /* spec->nchannels channel lists it is in */
	size_t *slots;       /* its slot in each list */
	size_t heap_index;
	struct fcgi_out out;
	/* Messages gathered for it during one dispatch (borrowed). */
	struct msg **hits;
	size_t nhits, hits_cap;
	int more;
	struct parked *next_hit;
};

struct park_msg {
	int fd;
	int request_id;
	struct park_spec *spec;
};

struct loop {
	struct app *app;
	struct store *st;
	struct feed *feed; /* reads new rows and deletions; its fd wakes the loop */
	int epfd;
	int notify_fd; /* eventfd */

	pthread_mutex_t inbox_lock;
	struct park_msg *inbox;
	size_t inbox_n, inbox_cap;
	int stopping;              /* under inbox_lock */
	int64_t local_commit;      /* under inbox_lock: highest seq committed here, not yet seen */
	int64_t local_commit_us;   /* under inbox_lock: when it was notified */
	size_t nparked;            /* under inbox_lock: parked + queued in the inbox */
	size_t nkind[PARK_KINDS];  /* under inbox_lock: the same by kind */

	pthread_mutex_t index_lock; /* guards index for readers in other threads */
	struct subindex *index;     /* channel → parked requests */

	struct parked **heap;
	size_t heap_n, heap_cap;

	int stale;             /* nothing was parked: the feed may be behind; re-anchor on the next park */
	int watching;          /* the feed's fd is in the epoll set (something is parked) */
	int64_t heartbeat_at_ms; /* monotonic; 0 when no stream is open */
	int64_t stall_at_ms;     /* monotonic; 0 when no stream is held back */
	int64_t auth_at_ms;      /* monotonic; the earliest auth_end_ms of an open stream, 0 when none */
	struct parked *streams;  /* every open stream */
	struct out_bytes *enc[PARK_KINDS]; /* the current row, encoded once per stream kind, shared */
	struct parked *woken;    /* during a dispatch: requests the page's rows reached */
	struct buf scratch;
	struct http_response resp;
	/* The last long-poll answer built in this dispatch, for the next long
	 * poll woken by the same row alone (loop_answer_hits). */
	struct out_bytes *lp_answer;           /* serialized response, or NULL */
	const struct msg *lp_hit;    /* the row it carries (borrowed) */
	int64_t lp_seq;              /* and that row's seq: an address alone may be reused */
	struct buf lp_key;                     /* its spec's label, NUL, headers */
};

static void loop_answer(struct loop *, struct parked *, struct http_response *);
static void loop_release(struct loop *, struct parked *);
static const struct feed_ops loop_feed_ops;

/* ---- park specs ---------------------------------------------------------- */

struct park_spec *
park_spec_new(void)
{
	struct park_spec *spec = xcalloc(1, sizeof *spec);

	buf_init(&spec->headers);
	buf_init(&spec->opening);
	return spec;
}

void
park_spec_free(struct park_spec *spec)
{
	size_t i;

	if (spec == NULL)
		return;
	for (i = 0; i < spec->nchannels; i++)
		free(spec->channels[i]);
	free(spec->channels);
	free(spec->label);
	buf_fini(&spec->headers);
	buf_fini(&spec->opening);
	free(spec);
}

/* ---- channel index (subindex.h) --------------------------------------------- */

static void
loop_index_add(struct loop *loop, struct parked *p)
{
	size_t i;

	pthread_mutex_lock(&loop->index_lock);
	for (i = 0; i < p->spec->nchannels; i++)
		p->chans[i] = subindex_add(loop->index, p->spec->channels[i], p, &p->slots[i]);
	pthread_mutex_unlock(&loop->index_lock);
}

static void
loop_index_remove(struct loop *loop, struct parked *p)
{
	size_t i;

	pthread_mutex_lock(&loop->index_lock);
	for (i = 0; i < p->spec->nchannels; i++) {
		subindex_remove(loop->index, p->chans[i], p->slots[i]);
		p->chans[i] = NULL;
	}
	pthread_mutex_unlock(&loop->index_lock);
}

/* ---- deadline heap --------------------------------------------------------- */

static int
loop_heap_less(const struct loop *loop, size_t a, size_t b)
{
	return loop->heap[a]->spec->deadline_ms < loop->heap[b]->spec->deadline_ms;
}

static void
loop_heap_swap(struct loop *loop, size_t a, size_t b)
{
	struct parked *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_index = a;
	loop->heap[b]->heap_index = b;
}

static void
loop_heap_up(struct loop *loop, size_t i)
{
	while (i > 0 && loop_heap_less(loop, i, (i - 1) / 2)) {
		loop_heap_swap(loop, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
loop_heap_down(struct loop *loop, size_t i)
{
	size_t l, r, m;

	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < loop->heap_n && loop_heap_less(loop, l, m))
			m = l;
		if (r < loop->heap_n && loop_heap_less(loop, r, m))
			m = r;
		if (m == i)
			return;
		loop_heap_swap(loop, i, m);
		i = m;
	}
}

static void
loop_heap_push(struct loop *loop, struct parked *p)
{
	if (loop->heap_n == loop->heap_cap) {
		loop->heap_cap = loop->heap_cap == 0 ? 64 : loop->heap_cap * 2;
		loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof *loop->heap);
	}
	p->heap_index = loop->heap_n;
	loop->heap[loop->heap_n++] = p;
	loop_heap_up(loop, p->heap_index);
}

static void
loop_heap_remove(struct loop *loop, struct parked *p)
{
	size_t i = p->heap_index;

	loop->heap_n--;
	if (i != loop->heap_n) {
		loop_heap_swap(loop, i, loop->heap_n);
		loop_heap_down(loop, i);
		loop_heap_up(loop, i);
	}
}

/* ---- life cycle -------------------------------------------------------------- */

struct loop *
loop_new(struct app *app, struct store *reader, char **cause)
{
	struct loop *loop = xcalloc(1, sizeof *loop);
	struct epoll_event ev;

	loop->app = app;
	loop->st = reader;
	loop->epfd = -1;
	loop->notify_fd = -1;
	pthread_mutex_init(&loop->inbox_lock, NULL);
	pthread_mutex_init(&loop->index_lock, NULL);
	loop->index = subindex_new();
	buf_init(&loop->scratch);
	buf_init(&loop->lp_key);
	http_response_init(&loop->resp);

	loop->feed = feed_new(reader, app->cfg->database, (size_t)app->cfg->page_max_bytes, &loop_feed_ops, loop, cause);
	if (loop->feed == NULL)
		goto fail;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->notify_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (loop->epfd == -1 || loop->notify_fd == -1) {
		if (cause != NULL)
			*cause = xasprintf("epoll/eventfd: %s", strerror(errno));
		goto fail;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = LOOP_TAG_NOTIFY;
	epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->notify_fd, &ev);
	return loop;
fail:
	loop_free(loop);
	return NULL;
}

void
loop_free(struct loop *loop)
{
	size_t i;

	if (loop == NULL)
		return;
	for (i = 0; i < loop->inbox_n; i++) {
		close(loop->inbox[i].fd);
		park_spec_free(loop->inbox[i].spec);
	}
	free(loop->inbox);
	subindex_free(loop->index);
	free(loop->heap);
	buf_fini(&loop->scratch);
	buf_fini(&loop->lp_key);
	out_bytes_unref(loop->lp_answer);
	http_response_fini(&loop->resp);
	feed_free(loop->feed);
	store_close(loop->st);
	if (loop->epfd != -1)
		close(loop->epfd);
	if (loop->notify_fd != -1)
		close(loop->notify_fd);
	pthread_mutex_destroy(&loop->inbox_lock);
	pthread_mutex_destroy(&loop->index_lock);
	free(loop);
}

static void
loop_kick(struct loop *loop)
{
	uint64_t one = 1;
	ssize_t n;

	n = write(loop->notify_fd, &one, sizeof one);
	(void)n; /* EAGAIN: the counter is already non-zero, the loop will wake */
}

void
loop_stop(struct loop *loop)
{
	pthread_mutex_lock(&loop->inbox_lock);
	loop->stopping = 1;
	pthread_mutex_unlock(&loop->inbox_lock);
	loop_kick(loop);
}

int
loop_park(struct loop *loop, int fd, int request_id, struct park_spec *spec)
{
	int kick;

	pthread_mutex_lock(&loop->inbox_lock);
	if (loop->nparked >= (size_t)loop->app->cfg->max_parked || loop->stopping) {
		pthread_mutex_unlock(&loop->inbox_lock);
		return -1;
	}
	if (loop->inbox_n == loop->inbox_cap) {
		loop->inbox_cap = loop->inbox_cap == 0 ? 64 : loop->inbox_cap * 2;
		loop->inbox = xrealloc(loop->inbox, loop->inbox_cap * sizeof *loop->inbox);
	}
	loop->inbox[loop->inbox_n].fd = fd;
	loop->inbox[loop->inbox_n].request_id = request_id;
	loop->inbox[loop->inbox_n].spec = spec;
	/* A non-empty inbox has its kick pending: the loop reads the eventfd
	 * before it takes the inbox, so one kick per batch is enough (a storm
	 * of re-parking long polls then wakes it once per batch, not per poll). */
	kick = loop->inbox_n == 0;
	loop->inbox_n++;
	loop->nparked++;
	loop->nkind[spec->kind]++;
	pthread_mutex_unlock(&loop->inbox_lock);
	if (spec->kind == PARK_LONG_POLL)
		atomic_fetch_add(&loop->app->stats.long_polls, 1);
	else
		atomic_fetch_add(&loop->app->stats.streams, 1);
	if (kick)
		loop_kick(loop);
	return 0;
}

void
loop_notify_commit(void *arg, int64_t high_seq)
{
	struct loop *loop = arg;
	int kick = 0;

	pthread_mutex_lock(&loop->inbox_lock);
	if (loop->nparked > 0 && high_seq >= loop->local_commit) {
		/* Nobody waits here otherwise: then the loop need not hear. */
		loop->local_commit = high_seq > 0 ? high_seq : loop->local_commit;
		loop->local_commit_us = util_mono_us();
		kick = 1;
	}
	pthread_mutex_unlock(&loop->inbox_lock);
	if (kick)
		loop_kick(loop);
	retention_kick(loop->app->retention);
}

size_t
loop_parked(struct loop *loop)
{
	size_t n;

	pthread_mutex_lock(&loop->inbox_lock);
	n = loop->nparked;
	pthread_mutex_unlock(&loop->inbox_lock);
	return n;
}

size_t
loop_parked_kind(struct loop *loop, enum park_kind kind)
{
	size_t n;

	pthread_mutex_lock(&loop->inbox_lock);
	n = loop->nkind[kind];
	pthread_mutex_unlock(&loop->inbox_lock);
	return n;
}

size_t
loop_channel_subscribers(struct loop *loop, const char *channel)
{
	size_t n;

	pthread_mutex_lock(&loop->index_lock);
	n = subindex_count(loop->index, channel);
	pthread_mutex_unlock(&loop->index_lock);
	return n;
}

/* ---- answering ------------------------------------------------------------ */

/* Arm or disarm EPOLLOUT as p's queue needs it. */
static void
loop_want_out(struct loop *loop, struct parked *p, int want)
{
	struct epoll_event ev;

	if (p->want_out == want)
		return;
	p->want_out = want;
	ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0);
	ev.data.ptr = p;
	epoll_ctl(loop->epfd, EPOLL_CTL_MOD, p->fd, &ev);
}

/* Take p out of the index, the heap and the stream list: it gets no more
 * messages. */
static void
loop_unpark(struct loop *loop, struct parked *p)
{
	if (p->state != PARKED_WAITING)
		return;
	loop_index_remove(loop, p);
	if (p->spec->kind == PARK_LONG_POLL) {
		loop_heap_remove(loop, p);
	} else {
		if (p->stream_prev != NULL)
			p->stream_prev->stream_next = p->stream_next;
		else
			loop->streams = p->stream_next;
		if (p->stream_next != NULL)
			p->stream_next->stream_prev = p->stream_prev;
	}
	p->state = PARKED_DRAINING;
}

/* Forget p entirely: close its connection and free it. */
static void
loop_release(struct loop *loop, struct parked *p)
{
	enum park_kind kind = p->spec->kind;

	loop_unpark(loop, p);
	/* The loop holds the only descriptor of this connection, so close(2)
	 * takes it out of the epoll set: no EPOLL_CTL_DEL needed. */
	close(p->fd);
	fcgi_out_fini(&p->out);
	park_spec_free(p->spec);
	free(p->chans);
	free(p->slots);
	free(p->hits);
	free(p);
	pthread_mutex_lock(&loop->inbox_lock);
	loop->nparked--;
	loop->nkind[kind]--;
	pthread_mutex_unlock(&loop->inbox_lock);
}

/* Whether stream p is behind by more than stream_max_pending_bytes, not
 * counting the newest message: one message larger than the bound is no sign
 * of a stalled reader. */
static int
loop_over_bound(const struct loop *loop, const struct parked *p)
{
	return fcgi_out_pending(&p->out) > (size_t)loop->app->cfg->stream_max_pending_bytes + p->last_unit;
}

/* Stream p is past the bound: it takes no more live rows (they wait in the
 * store, and loop_catch_up reads them once its queue has drained), and the
 * stall check drops it if it takes nothing for stream_stall_timeout_ms. */
static void
loop_hold(struct loop *loop, struct parked *p)
{
	int64_t at;

	if (p->spec->behind)
		return;
	p->spec->behind = 1;
	at = util_mono_ms() + loop->app->cfg->stream_stall_timeout_ms;
	if (loop->stall_at_ms == 0 || at < loop->stall_at_ms)
		loop->stall_at_ms = at;
}

/* Drop every stream that has output waiting and wrote nothing for
 * stream_stall_timeout_ms (its client stopped reading; it resumes from its
 * last seq), then schedule the next look while some stream is held. */
static void
loop_drop_stalled(struct loop *loop, int64_t now)
{
	int64_t timeout = loop->app->cfg->stream_stall_timeout_ms, next = 0, at;
	struct parked *p, *nextp;

	for (p = loop->streams; p != NULL; p = nextp) {
		nextp = p->stream_next;
		if (!p->spec->behind || fcgi_out_pending(&p->out) == 0)
			continue;
		at = p->progress_ms + timeout;
		if (at <= now) {
			log_debug("dropping a stream that took nothing for %lld ms, %zu bytes behind",
				  (long long)(now - p->progress_ms), fcgi_out_pending(&p->out));
			atomic_fetch_add(&loop->app->stats.dropped, 1);
			loop_release(loop, p);
			continue;
		}
		if (next == 0 || at < next)
			next = at;
	}
	loop->stall_at_ms = next;
}

/* Write what p's socket takes, noting when it took something. Frees
 * nothing. */
static enum fcgi_out_result
loop_write(struct parked *p)
{
	size_t before = fcgi_out_pending(&p->out);
	enum fcgi_out_result r = fcgi_out_flush(&p->out);

	if (fcgi_out_pending(&p->out) < before)
		p->progress_ms = util_mono_ms();
	return r;
}

/* Write what p's socket takes. A closed connection frees p; a draining
 * request that is done frees p; a stream whose unwritten output passes the
 * bound is dropped. Returns 0 while p lives, -1 once it is freed. */
static int
loop_flush(struct loop *loop, struct parked *p)
{
	enum fcgi_out_result r = loop_write(p);

	if (r == FCGI_OUT_ERROR) {
		if (p->state == PARKED_WAITING)
			atomic_fetch_add(&loop->app->stats.closed, 1);
		loop_release(loop, p);
		return -1;
	}
	if (r == FCGI_OUT_DONE && p->state == PARKED_DRAINING) {
		loop_release(loop, p);
		return -1;
	}
	if (r == FCGI_OUT_AGAIN && p->state == PARKED_WAITING && loop_over_bound(loop, p))
		loop_hold(loop, p);
	loop_want_out(loop, p, r == FCGI_OUT_AGAIN);
	return 0;
}

/* Queue the whole answer of a long poll and the end of the request, write
 * what the socket takes, and free p when all is written. */
static void
loop_answer(struct loop *loop, struct parked *p, struct http_response *resp)
{
	loop_unpark(loop, p);
	buf_reset(&loop->scratch);
	http_serialize(resp, &loop->scratch);
	fcgi_out_stdout(&p->out, loop->scratch.data, loop->scratch.len);
	fcgi_out_end(&p->out, 0);
	loop_flush(loop, p);
}

/* End a stream with a last piece of output (may be NULL). */
static void
loop_end_stream(struct loop *loop, struct parked *p, const char *last)
{
	loop_unpark(loop, p);
	if (last != NULL)
		fcgi_out_stdout(&p->out, last, strlen(last));
	fcgi_out_end(&p->out, 0);
	loop_flush(loop, p);
}

static void
loop_answer_empty(struct loop *loop, struct parked *p)
{
	http_response_reset(&loop->resp);
	push_poll_empty(p->spec, &loop->resp);
	loop_answer(loop, p, &loop->resp);
}

static void
loop_answer_gone(struct loop *loop, struct parked *p, const char *channel)
{
	atomic_fetch_add(&loop->app->stats.gone, 1);
	if (p->spec->kind != PARK_LONG_POLL) {
		buf_reset(&loop->scratch);
		push_transport(p->spec->kind)->deleted(&loop->scratch, channel);
		loop_end_stream(loop, p, loop->scratch.data);
		return;
	}
	http_response_reset(&loop->resp);
	push_poll_gone(p->spec, channel, &loop->resp);
	loop_answer(loop, p, &loop->resp);
}

/* Whether the answer in loop->lp_answer is p's too: p got that one row alone,
 * and its answer's only other inputs, the label and the headers, match. */
static int
loop_lp_shared(const struct loop *loop, const struct parked *p)
{
	size_t n = strlen(p->spec->label) + 1;

	return loop->lp_answer != NULL && p->nhits == 1 && !p->more && p->hits[0] == loop->lp_hit &&
	       p->hits[0]->seq == loop->lp_seq &&
	       loop->lp_key.len == n + p->spec->headers.len && memcmp(loop->lp_key.data, p->spec->label, n) == 0 &&
	       (p->spec->headers.len == 0 ||
		memcmp(loop->lp_key.data + n, p->spec->headers.data, p->spec->headers.len) == 0);
}

/* Forget the shared long-poll answer (its row is about to be freed). */
static void
loop_lp_forget(struct loop *loop)
{
	out_bytes_unref(loop->lp_answer);
	loop->lp_answer = NULL;
	loop->lp_hit = NULL;
}

/* Answer long poll p with the rows it collected. An answer of one row is
 * built once and shared by every long poll it fits (loop_lp_shared): the
 * queue holds a reference, and only the FastCGI record headers are p's. */
static void
loop_answer_hits(struct loop *loop, struct parked *p)
{
	atomic_fetch_add(&loop->app->stats.woken, 1);
	atomic_fetch_add(&loop->app->stats.deliveries, p->nhits);
	atomic_fetch_add(&loop->app->stats.deliveries_by[PARK_LONG_POLL], p->nhits);
	if (!loop_lp_shared(loop, p)) {
		http_response_reset(&loop->resp);
		push_poll_messages(p->spec, p->hits, p->nhits, p->more, 0, 0, p->hits[p->nhits - 1]->seq,
				   (size_t)loop->app->cfg->page_max_bytes, &loop->resp);
		if (p->nhits != 1 || p->more) {
			loop_answer(loop, p, &loop->resp);
			return;
		}
		loop_lp_forget(loop);
		buf_reset(&loop->scratch);
		http_serialize(&loop->resp, &loop->scratch);
		loop->lp_answer = out_bytes_new(loop->scratch.data, loop->scratch.len);
		loop->lp_hit = p->hits[0];
		loop->lp_seq = p->hits[0]->seq;
		buf_reset(&loop->lp_key);
		buf_append(&loop->lp_key, p->spec->label, strlen(p->spec->label) + 1);
		if (p->spec->headers.len > 0)
			buf_append(&loop->lp_key, p->spec->headers.data, p->spec->headers.len);
	}
	loop_unpark(loop, p);
	fcgi_out_stdout_shared(&p->out, loop->lp_answer);
	fcgi_out_end(&p->out, 0);
	loop_flush(loop, p);
}

/* ---- streams ---------------------------------------------------------------- */

/* A stream catching up (loop_catch_up) and the bytes it may queue. */
struct loop_catch_up {
	struct loop *loop;
	struct parked *p;
	size_t budget;
	size_t taken;
};

/* Queue one row of history to the stream; returns 1 once its queue holds
 * the budget. */
static int
loop_catch_up_take(void *arg, struct msg *m)
{
	struct loop_catch_up *cu = arg;
	struct buf *b = &cu->loop->scratch;

	buf_reset(b);
	push_transport(cu->p->spec->kind)->message(b, m);
	fcgi_out_stdout(&cu->p->out, b->data, b->len);
	cu->p->last_unit = b->len;
	cu->taken++;
	return fcgi_out_pending(&cu->p->out) >= cu->budget;
}

/* Read the history a behind stream has not had yet, page by page
 * (feed_catch_up_page), while its socket takes it. Each step queues at most
 * half of stream_max_pending_bytes (rows read past that are read again next
 * time), so catching up never looks like a stalled reader. Ends when it
 * caught up (it then gets live rows) or when its socket is full (EPOLLOUT
 * brings it back here). Returns -1 if p was freed. */
static int
loop_catch_up(struct loop *loop, struct parked *p)
{
	size_t page = (size_t)loop->app->cfg->page_messages;
	struct loop_catch_up cu = {loop, p, (size_t)loop->app->cfg->stream_max_pending_bytes / 2, 0};
	enum feed_page r;
	struct msglist l;
	int rc = 0;

	msglist_init(&l);
	l.max_bytes = (size_t)loop->app->cfg->page_max_bytes;
	while (p->spec->behind && p->state == PARKED_WAITING && fcgi_out_pending(&p->out) == 0) {
		cu.taken = 0;
		r = feed_catch_up_page(loop->st, (const char *const *)p->spec->channels, p->spec->nchannels,
				       &p->spec->since, page, &l, loop_catch_up_take, &cu, "a stream");
		if (r == FEED_PAGE_ERROR)
			break;
		atomic_fetch_add(&loop->app->stats.deliveries, cu.taken);
		atomic_fetch_add(&loop->app->stats.deliveries_by[p->spec->kind], cu.taken);
		if (r == FEED_PAGE_CAUGHT_UP)
			p->spec->behind = 0;
		p->last_write_ms = util_mono_ms();
		if (loop_flush(loop, p) == -1) {
			rc = -1;
			break;
		}
	}
	msglist_fini(&l);
	return rc;
}

/* Queue one heartbeat to every stream that wrote nothing for a heartbeat
 * interval; then schedule the next look. */
static void
loop_heartbeat(struct loop *loop, int64_t now)
{
	int64_t every = loop->app->cfg->heartbeat_s * 1000;
	struct parked *p, *next;

	for (p = loop->streams; p != NULL; p = next) {
		next = p->stream_next;
		if (now - p->last_write_ms < every || fcgi_out_pending(&p->out) > 0)
			continue;
		buf_reset(&loop->scratch);
		push_transport(p->spec->kind)->heartbeat(&loop->scratch, util_now_ms());
		fcgi_out_stdout(&p->out, loop->scratch.data, loop->scratch.len);
		p->last_write_ms = now;
		loop_flush(loop, p);
	}
	loop->heartbeat_at_ms = loop->streams != NULL ? now + every / 2 : 0;
}

/* End every stream whose token has expired (auth_end_ms), with a last
 * event saying so (SSE `event: auth`, an NDJSON {"type":"auth"} line): its
 * client fetches a fresh token and resumes from its last seq. Then note
 * the next expiry. */
static void
loop_auth_expire(struct loop *loop, int64_t now)
{
	static const char sse_end[] = "event: auth\ndata: {\"error\":\"invalid_token\",\"detail\":\"the token has "
				      "expired\"}\n\n";
	static const char ndjson_end[] = "{\"type\":\"auth\",\"error\":\"invalid_token\",\"detail\":\"the token "
					 "has expired\"}\n";
	struct parked *p, *next;
	int64_t at = 0;

	for (p = loop->streams; p != NULL; p = next) {
		next = p->stream_next;
		if (p->spec->auth_end_ms == 0)
			continue;
		if (p->spec->auth_end_ms <= now)
			loop_end_stream(loop, p, p->spec->kind == PARK_SSE ? sse_end : ndjson_end);
		else if (at == 0 || p->spec->auth_end_ms < at)
			at = p->spec->auth_end_ms;
	}
	loop->auth_at_ms = at;
}

/* ---- dispatch --------------------------------------------------------------- */

/* Row m concerns parked request p: a long poll collects it; a stream that
 * is live gets its encoding for the stream's kind (made once per row). */
static void
loop_hit(struct loop *loop, struct parked *p, struct msg *m, size_t page, struct parked **woken)
{
	struct out_bytes *enc;

	if (m->seq <= p->spec->since || (p->spec->kind != PARK_LONG_POLL && p->spec->behind))
		return;
	if (p->nhits == 0 && !p->more) {
		p->next_hit = *woken;
		*woken = p;
	}
	if (p->spec->kind != PARK_LONG_POLL) {
		if (loop->enc[p->spec->kind] == NULL) {
			buf_reset(&loop->scratch);
			push_transport(p->spec->kind)->message(&loop->scratch, m);
			loop->enc[p->spec->kind] = out_bytes_new(loop->scratch.data, loop->scratch.len);
		}
		enc = loop->enc[p->spec->kind];
		fcgi_out_stdout_shared(&p->out, enc);
		p->last_unit = enc->len;
		p->spec->since = m->seq;
		p->more = 1; /* marks it woken */
		atomic_fetch_add(&loop->app->stats.deliveries, 1);
		atomic_fetch_add(&loop->app->stats.deliveries_by[p->spec->kind], 1);
		/* The bound holds per message, not per page: past it, write what
		 * the socket takes now; a stream still past it is held back (it
		 * cannot be freed here, amid the channel's list). */
		if (loop_over_bound(loop, p) && loop_write(p) == FCGI_OUT_AGAIN && loop_over_bound(loop, p))
			loop_hold(loop, p);
		return;
	}
	if (p->nhits >= page) {
		p->more = 1;
		return;
	}
	if (p->nhits == p->hits_cap) {
		p->hits_cap = p->hits_cap == 0 ? 4 : p->hits_cap * 2;
		p->hits = xrealloc(p->hits, p->hits_cap * sizeof *p->hits);
	}
	p->hits[p->nhits++] = m;
}

/* Finish a dispatch for a woken request: answer a long poll, write to a
 * stream. */
static void
loop_deliver(struct loop *loop, struct parked *p, int64_t now)
{
	if (p->spec->kind == PARK_LONG_POLL) {
		loop_answer_hits(loop, p);
		return;
	}
	p->more = 0;
	p->last_write_ms = now;
	loop_flush(loop, p);
}

/* The feed's on_deleted: 410 to the channel's waiters. */
static void
loop_on_deleted(void *arg, const char *channel)
{
	struct loop *loop = arg;
	struct subindex_chan *c;

	while ((c = subindex_find(loop->index, channel)) != NULL)
		loop_answer_gone(loop, c->v[0].sub, channel);
}

/* The feed's on_row: every parked request waiting on m's channel gets it
 * (loop_hit); the encodings made for it are dropped after. */
static void
loop_on_row(void *arg, struct msg *m)
{
	struct loop *loop = arg;
	size_t page = (size_t)loop->app->cfg->page_messages, j, k;
	struct subindex_chan *c = subindex_find(loop->index, m->channel);

	for (j = 0; c != NULL && j < c->n; j++)
		loop_hit(loop, c->v[j].sub, m, page, &loop->woken);
	for (k = 0; k < PARK_KINDS; k++) {
		out_bytes_unref(loop->enc[k]);
		loop->enc[k] = NULL;
	}
}

/* The feed's on_page: answer or write to every request the page reached
 * while its rows are still held. */
static void
loop_on_page(void *arg)
{
	struct loop *loop = arg;
	struct parked *p, *next;
	int64_t now = util_mono_ms();

	atomic_fetch_add(&loop->app->stats.wakeups, 1);
	for (p = loop->woken; p != NULL; p = next) {
		next = p->next_hit;
		loop_deliver(loop, p, now);
	}
	loop->woken = NULL;
	loop_lp_forget(loop); /* its row goes with the page */
}

static const struct feed_ops loop_feed_ops = {
	.on_deleted = loop_on_deleted,
	.on_row = loop_on_row,
	.on_page = loop_on_page,
};

/* Have the feed hand over every deletion and row since the last look and
 * deliver each row to every parked request it concerns. Returns 1 when there
 * were new rows. With nothing parked it reads nothing: it marks the loop
 * stale, and the next request to park re-anchors the feed (loop_take_inbox),
 * its own high-water mark covering what came in between. */
static int
loop_dispatch(struct loop *loop)
{
	int64_t local_us;
	int found;

	retention_kick(loop->app->retention); /* commits of other processes too */
	if (loop->streams == NULL && loop->heap_n == 0) {
		loop->stale = 1;
		return 1;
	}
	found = feed_read(loop->feed);
	if (found < 0)
		return 0;

	pthread_mutex_lock(&loop->inbox_lock);
	local_us = loop->local_commit_us;
	loop->local_commit_us = 0;
	pthread_mutex_unlock(&loop->inbox_lock);
	if (local_us > 0) {
		int64_t lat = util_mono_us() - local_us;

		atomic_store(&loop->app->stats.wake_last_us, lat);
		metrics_hist_observe(&loop->app->stats.wake_latency, lat);
		if (lat > atomic_load(&loop->app->stats.wake_max_us))
			atomic_store(&loop->app->stats.wake_max_us, lat);
	}
	return found;
}

/* Whether a deletion the loop already applied concerns p (it was parked
 * after the handler looked and before the loop saw it). */
static const char *
loop_missed_deletion(struct loop *loop, struct parked *p, struct store_deletion **dels)
{
	size_t nd = 0, d, ch;

	if (p->spec->deletion_high >= feed_seen_deletion(loop->feed) ||
	    store_read_deletions(loop->st, p->spec->deletion_high, dels, &nd) != STORE_OK)
		return NULL;
	for (d = 0; d < nd && (*dels)[d].id <= feed_seen_deletion(loop->feed); d++) {
		for (ch = 0; ch < p->spec->nchannels; ch++) {
			if (strcmp((*dels)[d].channel, p->spec->channels[ch]) == 0)
				return (*dels)[d].channel;
		}
	}
	return NULL;
}

/* Register the parked requests handed over by request threads. A request
 * whose high-water mark is below what the loop already dispatched may have
 * missed rows: look for them now. A stream gets its opening written. */
static void
loop_take_inbox(struct loop *loop)
{
	struct store_deletion *dels;
	struct park_msg *msgs;
	struct epoll_event ev;
	struct parked *p, *woken;
	struct msglist l;
	const char *gone;
	size_t n, i, k, page = (size_t)loop->app->cfg->page_messages;
	int64_t now = util_mono_ms();

	pthread_mutex_lock(&loop->inbox_lock);
	msgs = loop->inbox;
	n = loop->inbox_n;
	loop->inbox = NULL;
	loop->inbox_n = loop->inbox_cap = 0;
	pthread_mutex_unlock(&loop->inbox_lock);

	if (n > 0 && !loop->watching) {
		/* Something parks: watch for commits again. What the fd queued
		 * while unwatched is dropped; the re-anchor below covers it. */
		struct epoll_event wev = {.events = EPOLLIN, .data.ptr = LOOP_TAG_WAKE};

		feed_discard(loop->feed);
		epoll_ctl(loop->epfd, EPOLL_CTL_ADD, feed_fd(loop->feed), &wev);
		loop->watching = 1;
		loop->stale = 1;
	}
	if (n > 0 && loop->stale) {
		/* Skip the rows nobody was waiting for: each request below checks
		 * its own high-water mark against the feed's new one. */
		if (feed_reanchor(loop->feed) == 0)
			loop->stale = 0;
	}
	msglist_init(&l);
	l.max_bytes = (size_t)loop->app->cfg->page_max_bytes;
	for (i = 0; i < n; i++) {
		p = xcalloc(1, sizeof *p);
		p->fd = msgs[i].fd;
		p->spec = msgs[i].spec;
		p->chans = xcalloc(p->spec->nchannels, sizeof *p->chans);
		p->slots = xcalloc(p->spec->nchannels, sizeof *p->slots);
		p->last_write_ms = now;
		p->progress_ms = now;
		fcgi_out_init(&p->out, p->fd, msgs[i].request_id);
		fcntl(p->fd, F_SETFL, O_RDWR | O_NONBLOCK); /* an accepted socket: no other status flag */
		if (p->spec->kind != PARK_LONG_POLL) {
			/* What the kernel holds on this socket is part of what a
			 * stalled client falls behind by: by default megabytes
			 * of small events, before stream_max_pending_bytes
			 * counts anything. Bound it to an eighth of that (the
			 * kernel doubles the value and counts its own overhead). */
			int sndbuf = (int)(loop->app->cfg->stream_max_pending_bytes / 8);

			setsockopt(p->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
		}
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = p;
		epoll_ctl(loop->epfd, EPOLL_CTL_ADD, p->fd, &ev);
		loop_index_add(loop, p);
		if (p->spec->kind == PARK_LONG_POLL) {
			loop_heap_push(loop, p);
		} else {
			p->stream_next = loop->streams;
			if (loop->streams != NULL)
				loop->streams->stream_prev = p;
			loop->streams = p;
			if (loop->heartbeat_at_ms == 0)
				loop->heartbeat_at_ms = now + loop->app->cfg->heartbeat_s * 1000 / 2;
			if (p->spec->auth_end_ms > 0 && (loop->auth_at_ms == 0 || p->spec->auth_end_ms < loop->auth_at_ms))
				loop->auth_at_ms = p->spec->auth_end_ms;
			fcgi_out_stdout(&p->out, p->spec->opening.data, p->spec->opening.len);
			p->last_unit = p->spec->opening.len;
			buf_fini(&p->spec->opening);
			if (p->spec->high_seq < feed_seen_seq(loop->feed))
				p->spec->behind = 1; /* rows it may have missed are read from the store */
			if (loop_flush(loop, p) == -1)
				continue;
		}
		dels = NULL;
		gone = loop_missed_deletion(loop, p, &dels);
		if (gone != NULL)
			loop_answer_gone(loop, p, gone);
		free(dels);
		if (gone != NULL)
			continue;
		if (p->spec->kind != PARK_LONG_POLL) {
			loop_catch_up(loop, p);
			continue;
		}
		if (p->spec->high_seq < feed_seen_seq(loop->feed)) {
			msglist_clear(&l);
			if (store_read_since(loop->st, (const char *const *)p->spec->channels, p->spec->nchannels,
					     p->spec->since, page + 1, &l) == STORE_OK &&
			    l.n > 0) {
				woken = NULL;
				for (k = 0; k < l.n; k++)
					loop_hit(loop, p, l.v[k], page, &woken);
				if (l.truncated)
					p->more = 1;
				if (p->nhits > 0)
					loop_answer_hits(loop, p);
				/* Its rows go with l: a shared answer must not
				 * outlive them (their addresses come back). */
				loop_lp_forget(loop);
			}
		}
	}
	msglist_fini(&l);
	free(msgs);
}

/* A parked connection is writable, readable or hung up. The web server sends
 * nothing more after the request, so data is read and dropped; end of file
 * or an error means it closed the connection (its client left). */
static void
loop_on_conn(struct loop *loop, struct parked *p, uint32_t events)
{
	char sink[512];
	ssize_t n;

	if (events & EPOLLOUT) {
		if (loop_flush(loop, p) == -1)
			return;
		if (p->spec->behind && loop_catch_up(loop, p) == -1)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			n = read(p->fd, sink, sizeof sink);
			if (n > 0)
				continue;
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) && !(events & (EPOLLHUP | EPOLLERR)))
				return;
			break;
		}
		if (p->state == PARKED_WAITING)
			atomic_fetch_add(&loop->app->stats.closed, 1);
		loop_release(loop, p);
	}
}

static void
loop_expire(struct loop *loop, int64_t now)
{
	while (loop->heap_n > 0 && loop->heap[0]->spec->deadline_ms <= now) {
		atomic_fetch_add(&loop->app->stats.timeouts, 1);
		loop_answer_empty(loop, loop->heap[0]);
	}
}

static int
loop_timeout(const struct loop *loop, int64_t now)
{
	int64_t t = -1, d, at[5];
	size_t i;

	at[0] = loop->heap_n > 0 ? loop->heap[0]->spec->deadline_ms : 0;
	at[1] = feed_recheck_at(loop->feed);
	at[2] = loop->stall_at_ms;
	at[3] = loop->heartbeat_at_ms;
	at[4] = loop->auth_at_ms;
	for (i = 0; i < 5; i++) {
		if (at[i] > 0 && (t == -1 || at[i] < t))
			t = at[i];
	}
	if (t == -1)
		return -1;
	d = t - now;
	return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

/* Answer everything, end every stream, and drain what can be written before
 * returning. */
static void
loop_shutdown(struct loop *loop)
{
	int64_t deadline = util_mono_ms() + 2000;
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i;

	loop_take_inbox(loop);
	while (loop->heap_n > 0)
		loop_answer_empty(loop, loop->heap[0]);
	while (loop->streams != NULL) {
		buf_reset(&loop->scratch);
		push_transport(loop->streams->spec->kind)->shutdown(&loop->scratch);
		loop_end_stream(loop, loop->streams, loop->scratch.data);
	}
	while (loop_parked(loop) > 0 && util_mono_ms() < deadline) {
		n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, 100);
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr != LOOP_TAG_NOTIFY && evs[i].data.ptr != LOOP_TAG_WAKE)
				loop_on_conn(loop, evs[i].data.ptr, evs[i].events);
		}
	}
}

void *
loop_thread(void *arg)
{
	struct loop *loop = arg;
	struct epoll_event evs[LOOP_MAX_EVENTS];
	int n, i, dispatch, stopping;
	int64_t now, at;
	uint64_t counter;
	ssize_t rn;

	for (;;) {
		n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, loop_timeout(loop, util_mono_ms()));
		if (n == -1 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			break;
		}
		/* Connection events first: dispatch may free parked requests that
		 * later entries of evs[] would still point to. */
		dispatch = 0;
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == LOOP_TAG_NOTIFY) {
				rn = read(loop->notify_fd, &counter, sizeof counter);
				(void)rn;
				/* Kicked for a local commit, not only for parks (those
				 * need no read of new rows: loop_take_inbox). */
				pthread_mutex_lock(&loop->inbox_lock);
				if (loop->local_commit_us != 0 || loop->stopping)
					dispatch = 1;
				pthread_mutex_unlock(&loop->inbox_lock);
			} else if (evs[i].data.ptr == LOOP_TAG_WAKE) {
				if (feed_drain(loop->feed, util_mono_ms()) > 0)
					dispatch = 1;
			} else {
				loop_on_conn(loop, evs[i].data.ptr, evs[i].events);
			}
		}
		/* New requests before the read, so the rows read reach them too. */
		loop_take_inbox(loop);
		if (dispatch)
			loop_dispatch(loop);
		now = util_mono_ms();
		at = feed_recheck_at(loop->feed);
		if (at > 0 && at <= now) /* a WAL write's commit may show now (feed.h) */
			feed_recheck_done(loop->feed, now, loop_dispatch(loop));
		loop_expire(loop, now);
		if (loop->heartbeat_at_ms > 0 && loop->heartbeat_at_ms <= now)
			loop_heartbeat(loop, now);
		if (loop->stall_at_ms > 0 && loop->stall_at_ms <= now)
			loop_drop_stalled(loop, now);
		if (loop->auth_at_ms > 0 && loop->auth_at_ms <= now)
			loop_auth_expire(loop, now);
		if (loop->watching && loop->heap_n == 0 && loop->streams == NULL && loop_parked(loop) == 0) {
			/* Nobody parked: stop waking for every commit in the world. */
			epoll_ctl(loop->epfd, EPOLL_CTL_DEL, feed_fd(loop->feed), NULL);
			loop->watching = 0;
			feed_recheck_cancel(loop->feed);
		}
		pthread_mutex_lock(&loop->inbox_lock);
		stopping = loop->stopping;
		pthread_mutex_unlock(&loop->inbox_lock);
		if (stopping)
			break;
	}
	loop_shutdown(loop);
	return NULL;
}
