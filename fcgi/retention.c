/* SPDX-License-Identifier: MIT */
/*
 * The retention thread (see retention.h): sleeps on a condition variable
 * until the next pass is due, runs store_trim, then asks the store when an
 * age limit next expires a message and sleeps until then. No limit, no
 * pass: an idle process has no timer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "commit.h"
#include "config.h"
#include "log.h"
#include "retention.h"
#include "util.h"

/* The most idempotency keys one pass deletes (store_idem_expire): a bound on
 * the pass's transaction (10,000 took about 15 ms of the write lock); a
 * backlog goes in the passes later commits schedule. */
#define RETENTION_IDEM_EXPIRE_MAX 10000

struct retention {
	struct store *st; /* reads expiry; trims too when committer is NULL */
	struct committer *committer;
	struct store_retention defaults;
	int64_t interval_ms;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	int64_t due_ms;      /* monotonic; 0: nothing scheduled */
	int stopping;
	uint64_t passes;
};

void
retention_defaults(const struct config *cfg, struct store_retention *out)
{
	out->max_messages = cfg->retention_max_messages;
	out->max_age_ms = cfg->retention_max_age_s * 1000;
	out->max_bytes = cfg->retention_max_bytes;
}

static enum store_result
retention_trim_fn(struct store *st, void *arg)
{
	struct retention *r = arg;
	int64_t deleted = 0, keys = 0, now = util_now_ms();
	enum store_result res = store_trim(st, &r->defaults, now, &deleted);

	if (res == STORE_OK && deleted > 0)
		log_debug("retention removed %lld messages", (long long)deleted);
	/* Idempotency keys past their window, on the same writer. */
	if (res == STORE_OK)
		res = store_idem_expire(st, now, RETENTION_IDEM_EXPIRE_MAX, &keys);
	if (res == STORE_OK && keys > 0)
		log_debug("retention forgot %lld idempotency keys", (long long)keys);
	return res;
}

/* After a failed pass, the next one comes this long after it (ms). */
#define RETENTION_RETRY_MS 1000

/* One pass, then the time (monotonic ms) of the next one: what an age limit
 * needs, or RETENTION_RETRY_MS on when the pass failed; 0 for none. Runs
 * without the lock. */
static int64_t
retention_pass(struct retention *r)
{
	enum store_result res;
	int64_t when = 0, now;

	if (r->committer != NULL)
		res = committer_run(r->committer, retention_trim_fn, r);
	else
		res = retention_trim_fn(r->st, r);
	if (res != STORE_OK) {
		/* Locked past the busy timeout, or the disk is full: try again
		 * soon, publish or not (a store stays over its limits else). */
		log_warn("retention pass failed; trying again in %d ms", RETENTION_RETRY_MS);
		return util_mono_ms() + RETENTION_RETRY_MS;
	}
	if (store_next_expiry(r->st, &r->defaults, &when) != STORE_OK || when <= 0)
		return 0;
	now = util_now_ms();
	return util_mono_ms() + (when > now ? when - now : 0) + 1;
}

static void *
retention_thread(void *arg)
{
	struct retention *r = arg;
	struct timespec ts;
	int64_t next;

	pthread_mutex_lock(&r->lock);
	while (!r->stopping) {
		if (r->due_ms == 0) {
			pthread_cond_wait(&r->cond, &r->lock);
			continue;
		}
		if (util_mono_ms() < r->due_ms) {
			ts.tv_sec = (time_t)(r->due_ms / 1000);
			ts.tv_nsec = (long)(r->due_ms % 1000) * 1000000;
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
			continue;
		}
		r->due_ms = 0;
		pthread_mutex_unlock(&r->lock);
		next = retention_pass(r);
		pthread_mutex_lock(&r->lock);
		r->passes++;
		if (next > 0 && (r->due_ms == 0 || next < r->due_ms))
			r->due_ms = next;
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

struct retention *
retention_new(const struct config *cfg, struct committer *committer, char **cause)
{
	struct retention *r = xcalloc(1, sizeof *r);
	pthread_condattr_t ca;

	r->st = store_open(cfg->database, store_durability_flags(cfg->durability), (int)cfg->busy_timeout_ms, cause);
	if (r->st == NULL) {
		free(r);
		return NULL;
	}
	store_idem_set_window(r->st, cfg->idempotency_window_s * 1000);
	r->committer = committer;
	retention_defaults(cfg, &r->defaults);
	r->interval_ms = cfg->trim_interval_ms;
	pthread_mutex_init(&r->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cond, &ca);
	pthread_condattr_destroy(&ca);
	if ((errno = pthread_create(&r->thread, NULL, retention_thread, r)) != 0) {
		if (cause != NULL)
			*cause = xasprintf("cannot start the retention thread: %s", strerror(errno));
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->cond);
		store_close(r->st);
		free(r);
		return NULL;
	}
	return r;
}

void
retention_free(struct retention *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	store_close(r->st);
	free(r);
}

void
retention_kick(struct retention *r)
{
	int64_t at;

	if (r == NULL)
		return;
	at = util_mono_ms() + r->interval_ms;
	pthread_mutex_lock(&r->lock);
	if (r->due_ms == 0 || at < r->due_ms) {
		r->due_ms = at;
		pthread_cond_signal(&r->cond);
	}
	pthread_mutex_unlock(&r->lock);
}

uint64_t
retention_passes(struct retention *r)
{
	uint64_t n;

	pthread_mutex_lock(&r->lock);
	n = r->passes;
	pthread_mutex_unlock(&r->lock);
	return n;
}
