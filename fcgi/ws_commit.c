/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws's publishes: queued for the commit thread, committed there one
 * batch at a time on a writer connection of its own, and acknowledged.
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
#include "ws.h"

#include "wsd.h"

static void wsd_commit(lws_sorted_usec_list_t *sul);

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
int
wcommit_start(struct wcommit *w, const struct config *cfg, char **cause)
{
	int rc;

	w->writer = store_open(cfg->database, store_durability_flags(cfg->durability), (int)cfg->busy_timeout_ms, cause);
	if (w->writer == NULL)
		return -1;
	store_idem_set_window(w->writer, cfg->idempotency_window_s * 1000);
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
enum wbatch_state
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
void
wcommit_fini(struct wcommit *w)
{
	if (w->efd_dup != -1)
		close(w->efd_dup);
	if (w->efd != -1)
		close(w->efd);
	store_close(w->writer);
	w->writer = NULL;
}

/* Queue cmd (a valid publish of c's, moved) for the next group commit:
 * after the events of this service pass, so the publishes they carried
 * commit together (ws_proto_ops.publish). */
void
wsd_publish(void *conn, struct ws_command *cmd)
{
	struct wconn *c = conn;
	struct wsd *d = c->d;

	if (d->npubs == d->pubs_cap) {
		d->pubs_cap = d->pubs_cap == 0 ? 16 : d->pubs_cap * 2;
		d->pubs = xrealloc(d->pubs, d->pubs_cap * sizeof *d->pubs);
	}
	d->pubs[d->npubs].c = c;
	d->pubs[d->npubs].cmd = *cmd; /* moved */
	d->npubs++;
	c->unacked++;
	lws_sul_schedule(d->ctx, 0, &d->sul_commit, wsd_commit, 1);
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
		d->fouts = xrealloc(d->fouts, d->fcap * sizeof *d->fouts);
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
		d->fpubs[i].idem_key = t->cmd.idem_key;
		d->fgroups[i] = (struct store_group){
			.pubs = &d->fpubs[i], .n = 1, .seqs = &d->fseqs[i], .outcomes = &d->fouts[i]};
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
void
wsd_flight_clear(struct wsd *d)
{
	size_t i;

	for (i = 0; i < d->nflight; i++) {
		free(d->fgroups[i].cause);
		ws_command_fini(&d->flight[i].cmd);
	}
	d->nflight = 0;
}


/* The batch is done (result r): the cross-process signal, then each
 * publish's ack or error to its connection (if still open) in publish
 * order, the close of a connection that sent a bad frame once its last ack
 * is queued, the local dispatch (no waiting for our own inotify event), and
 * the next batch. A client subscribed to its own channel gets the ack
 * before the message, as when the loop committed: while a connection has
 * publishes in the batch, live rows skip it (our inotify event may come
 * first) and its subscriptions fall behind (wsd_on_row); it reads them
 * from the store once its acks are queued (wconn_catch_up). */
void
wsd_committed(struct wsd *d, enum store_result r)
{
	struct store_group *g;
	struct wpub *p;
	size_t i, msgs = 0;

	if (r == STORE_OK) {
		retention_kick(d->retention);
		for (i = 0; i < d->nflight; i++)
			msgs += d->fgroups[i].result == STORE_OK && !d->fouts[i].replayed ? d->fgroups[i].n : 0;
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
			ws_frame_ack(&d->scratch, p->cmd.id, p->cmd.channel, d->fseqs[i], d->fouts[i].replayed);
		} else {
			d->stats.publish_errors++;
			ws_frame_error(&d->scratch,
				       g->result == STORE_BUSY       ? "store_busy"
				       : g->result == STORE_FULL     ? "insufficient_storage"
				       : g->result == STORE_CONFLICT ? "idempotency_key_reused"
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
		feed_read(d->feed);
	wsd_commit_start(d);
}

/* The commit thread's eventfd is readable: take the batch back. */
int
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
