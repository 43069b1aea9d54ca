/* SPDX-License-Identifier: MIT */
/*
 * Group commit over one writer connection (see commit.h). The queue is a
 * singly linked list of submissions living on their submitters' stacks; the
 * leader detaches the whole list, commits it without holding the lock, then
 * wakes exactly the submitters of that batch and the first of the next one
 * (who leads next), each through its own condition variable: a broadcast
 * would wake every waiting thread per commit, and the context switches cost
 * more than the commit.
 */
#include <pthread.h>
#include <stdlib.h>

#include "commit.h"
#include "util.h"

struct submission {
	struct store_group group;
	int64_t time_ms;
	int done;
	pthread_cond_t cond; /* signalled when done, or when it is to lead */
	struct submission *next;
};

struct committer {
	struct store *writer;
	committer_cb on_commit;
	void *arg;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* committer_run waits here for leadership */
	int run_waiting;     /* committer_run calls waiting for leadership */
	struct submission *head, **tail;
	int leader_active;
	uint64_t transactions;
	uint64_t messages;
	struct metrics_hist batch; /* messages per transaction */
	struct store_group *groups; /* leader's scratch array */
	size_t groups_cap;
};

/* The buckets of the batch-size histogram, in messages. */
static const int64_t committer_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096};

struct committer *
committer_new(struct store *writer, committer_cb on_commit, void *arg)
{
	struct committer *c = xcalloc(1, sizeof *c);

	c->writer = writer;
	c->on_commit = on_commit;
	c->arg = arg;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	c->tail = &c->head;
	metrics_hist_init(&c->batch, committer_batch_bounds, sizeof committer_batch_bounds / sizeof committer_batch_bounds[0]);
	return c;
}

void
committer_free(struct committer *c)
{
	if (c == NULL)
		return;
	store_close(c->writer);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cond);
	free(c->groups);
	free(c);
}

/* Become the leader: wait until no other leader runs. Called and returns
 * with the lock held. */
static void
committer_lead(struct committer *c)
{
	c->run_waiting++;
	while (c->leader_active)
		pthread_cond_wait(&c->cond, &c->lock);
	c->run_waiting--;
	c->leader_active = 1;
}

/* Give up leadership: hand it to a waiting committer_run, else wake the
 * first queued submission, which leads the next batch. */
static void
committer_step_down(struct committer *c)
{
	c->leader_active = 0;
	if (c->run_waiting > 0)
		pthread_cond_signal(&c->cond);
	else if (c->head != NULL)
		pthread_cond_signal(&c->head->cond);
}

/* The messages group g (committed) stored, not counting replays of an
 * idempotency key; raises *high to the highest seq it stored. */
static uint64_t
committer_stored(const struct store_group *g, int64_t *high)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (g->outcomes != NULL && g->outcomes[i].replayed)
			continue;
		n++;
		if (g->seqs[i] > *high)
			*high = g->seqs[i];
	}
	return n;
}

/* Commit every queued submission in one transaction. Called with the lock
 * held and leadership taken; returns the same way. */
static void
committer_flush(struct committer *c)
{
	struct submission *batch = c->head, *s, *next;
	size_t n = 0, i;
	int64_t now, high = 0;
	uint64_t msgs = 0;

	c->head = NULL;
	c->tail = &c->head;
	for (s = batch; s != NULL; s = s->next)
		n++;
	if (n == 0)
		return;
	if (n > c->groups_cap) {
		c->groups_cap = n * 2;
		c->groups = xrealloc(c->groups, c->groups_cap * sizeof *c->groups);
	}
	pthread_mutex_unlock(&c->lock);

	for (s = batch, i = 0; s != NULL; s = s->next, i++)
		c->groups[i] = s->group;
	now = util_now_ms();
	store_append_groups(c->writer, c->groups, n, now);
	for (s = batch, i = 0; s != NULL; s = s->next, i++) {
		s->group.result = c->groups[i].result;
		s->group.cause = c->groups[i].cause;
		s->time_ms = now;
		if (s->group.result == STORE_OK)
			msgs += committer_stored(&s->group, &high);
	}
	if (high > 0 && c->on_commit != NULL)
		c->on_commit(c->arg, high);

	pthread_mutex_lock(&c->lock);
	if (msgs > 0) {
		c->transactions++;
		c->messages += msgs;
		metrics_hist_observe(&c->batch, (int64_t)msgs);
	}
	for (s = batch; s != NULL; s = next) {
		next = s->next; /* s may return and vanish once signalled */
		s->done = 1;
		pthread_cond_signal(&s->cond);
	}
}

enum store_result
committer_submit(struct committer *c, const struct store_pub *pubs, size_t n, int64_t *seqs,
		 struct store_outcome *outcomes, int64_t *time_ms, char **cause)
{
	struct submission me = {
		.group = {.pubs = pubs, .n = n, .seqs = seqs, .result = STORE_OK, .outcomes = outcomes}};

	pthread_cond_init(&me.cond, NULL);
	pthread_mutex_lock(&c->lock);
	*c->tail = &me;
	c->tail = &me.next;
	while (!me.done && c->leader_active)
		pthread_cond_wait(&me.cond, &c->lock);
	if (!me.done) {
		/* No leader: lead, committing everything queued including me. */
		c->leader_active = 1;
		committer_flush(c);
		committer_step_down(c);
	}
	pthread_mutex_unlock(&c->lock);
	pthread_cond_destroy(&me.cond);

	if (time_ms != NULL)
		*time_ms = me.time_ms;
	if (cause != NULL)
		*cause = me.group.cause;
	else
		free(me.group.cause);
	return me.group.result;
}

enum store_result
committer_run(struct committer *c, enum store_result (*fn)(struct store *st, void *arg), void *arg)
{
	enum store_result r;

	pthread_mutex_lock(&c->lock);
	committer_lead(c);
	/* Queued publishes go first so they are not held behind fn. */
	committer_flush(c);
	pthread_mutex_unlock(&c->lock);
	r = fn(c->writer, arg);
	pthread_mutex_lock(&c->lock);
	committer_flush(c);
	committer_step_down(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void
committer_counts(struct committer *c, uint64_t *transactions, uint64_t *messages)
{
	pthread_mutex_lock(&c->lock);
	*transactions = c->transactions;
	*messages = c->messages;
	pthread_mutex_unlock(&c->lock);
}

const struct metrics_hist *
committer_batch_hist(const struct committer *c)
{
	return &c->batch;
}
