/* SPDX-License-Identifier: MIT */
/* Unit tests of commit.c: group commit from many threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "commit.h"
#include "suites.h"
#include "util.h"

#define THREADS 8
#define PER_THREAD 200

static struct test_db fx; /* the fixture (suites.h): the database at fx.path */
static int64_t notified_high;
static pthread_mutex_t notified_lock = PTHREAD_MUTEX_INITIALIZER;

static void
setup(void)
{
	test_db_open(&fx);
	store_close(fx.st); /* each test opens its own connections */
	fx.st = NULL;
	notified_high = 0;
}

static void
teardown(void)
{
	test_db_close(&fx);
}

static void
on_commit(void *arg, int64_t high)
{
	(void)arg;
	pthread_mutex_lock(&notified_lock);
	if (high > notified_high)
		notified_high = high;
	pthread_mutex_unlock(&notified_lock);
}

struct worker_arg {
	struct committer *c;
	int id;
	int64_t seqs[PER_THREAD];
	int failures;
};

static void *
publisher(void *p)
{
	struct worker_arg *a = p;
	char channel[32], body[32];
	struct store_pub pub = {0};
	int i;

	snprintf(channel, sizeof channel, "t%d", a->id);
	for (i = 0; i < PER_THREAD; i++) {
		snprintf(body, sizeof body, "%d", i);
		pub.channel = channel;
		pub.event = NULL;
		pub.content_type = "text/plain";
		pub.body = body;
		pub.body_len = strlen(body);
		if (committer_submit(a->c, &pub, 1, &a->seqs[i], NULL, NULL, NULL) != STORE_OK)
			a->failures++;
	}
	return NULL;
}

START_TEST(test_concurrent_submits_all_commit_in_order)
{
	struct store *w = store_open(fx.path, 0, 5000, NULL), *r;
	struct committer *c;
	struct worker_arg args[THREADS];
	pthread_t th[THREADS];
	uint64_t tx = 0, msgs = 0;
	struct msglist l;
	const char *chan;
	int i, j;

	ck_assert_ptr_nonnull(w);
	c = committer_new(w, on_commit, NULL);
	for (i = 0; i < THREADS; i++) {
		memset(&args[i], 0, sizeof args[i]);
		args[i].c = c;
		args[i].id = i;
		pthread_create(&th[i], NULL, publisher, &args[i]);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	committer_counts(c, &tx, &msgs);
	ck_assert_uint_eq(msgs, THREADS * PER_THREAD);
	ck_assert(tx >= 1 && tx <= msgs);
	ck_assert_int_eq(notified_high, THREADS * PER_THREAD);

	/* Each thread's seqs increase, and each reads back its own bodies in order. */
	r = store_open(fx.path, 0, 1000, NULL);
	msglist_init(&l);
	for (i = 0; i < THREADS; i++) {
		char channel[32];

		ck_assert_int_eq(args[i].failures, 0);
		snprintf(channel, sizeof channel, "t%d", i);
		chan = channel;
		msglist_clear(&l);
		ck_assert_int_eq(store_read_since(r, &chan, 1, 0, 10000, &l), STORE_OK);
		ck_assert_uint_eq(l.n, PER_THREAD);
		for (j = 0; j < PER_THREAD; j++) {
			char body[32];

			snprintf(body, sizeof body, "%d", j);
			ck_assert_int_eq(l.v[j]->seq, args[i].seqs[j]);
			ck_assert_str_eq((const char *)l.v[j]->body, body);
			if (j > 0)
				ck_assert(args[i].seqs[j] > args[i].seqs[j - 1]);
		}
	}
	msglist_fini(&l);
	store_close(r);
	committer_free(c);
}
END_TEST

#define KEYS 50

struct keyed_arg {
	struct committer *c;
	int64_t seqs[KEYS];
	int replayed;
	int failures;
};

/* Publish "b<i>" to channel "shared" with key "k<i>" for every i: all
 * threads send the same retries at once. */
static void *
keyed_publisher(void *p)
{
	struct keyed_arg *a = p;
	char key[16], body[16];
	struct store_pub pub = {0};
	struct store_outcome o;
	int i;

	for (i = 0; i < KEYS; i++) {
		snprintf(key, sizeof key, "k%d", i);
		snprintf(body, sizeof body, "b%d", i);
		pub = (struct store_pub){.channel = "shared", .content_type = "text/plain", .body = body,
					 .body_len = strlen(body), .idem_key = key};
		if (committer_submit(a->c, &pub, 1, &a->seqs[i], &o, NULL, NULL) != STORE_OK)
			a->failures++;
		a->replayed += o.replayed;
	}
	return NULL;
}

/* Concurrent publishes of one key, whether they land in one transaction or
 * in several, store one message and all get its seq. */
START_TEST(test_concurrent_same_key_one_message)
{
	struct store *w = store_open(fx.path, 0, 5000, NULL);
	struct committer *c;
	struct keyed_arg args[THREADS];
	pthread_t th[THREADS];
	uint64_t tx = 0, msgs = 0;
	int i, j, replayed = 0;
	sqlite3 *raw = NULL;
	sqlite3_stmt *s = NULL;

	ck_assert_ptr_nonnull(w);
	c = committer_new(w, on_commit, NULL);
	for (i = 0; i < THREADS; i++) {
		memset(&args[i], 0, sizeof args[i]);
		args[i].c = c;
		pthread_create(&th[i], NULL, keyed_publisher, &args[i]);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(args[i].failures, 0);
		replayed += args[i].replayed;
		for (j = 0; j < KEYS; j++)
			ck_assert_int_eq(args[i].seqs[j], args[0].seqs[j]);
	}
	ck_assert_int_eq(replayed, (THREADS - 1) * KEYS);
	committer_counts(c, &tx, &msgs);
	ck_assert_uint_eq(msgs, KEYS); /* replays are not counted as committed */
	committer_free(c);

	ck_assert_int_eq(sqlite3_open(fx.path, &raw), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(raw, "SELECT count(*), count(DISTINCT body) FROM messages", -1, &s, NULL),
			 SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(s, 0), KEYS);
	ck_assert_int_eq(sqlite3_column_int(s, 1), KEYS);
	sqlite3_finalize(s);
	sqlite3_close(raw);
}
END_TEST

static enum store_result
count_fn(struct store *st, void *arg)
{
	int64_t *high = arg;

	return store_high_seq(st, high);
}

START_TEST(test_run_between_commits)
{
	struct committer *c = committer_new(store_open(fx.path, 0, 1000, NULL), NULL, NULL);
	struct store_pub pub = {"a", NULL, NULL, "x", 1, NULL, NULL};
	int64_t seq = 0, high = 0, t = 0;

	ck_assert_int_eq(committer_submit(c, &pub, 1, &seq, NULL, &t, NULL), STORE_OK);
	ck_assert(t > 0);
	ck_assert_int_eq(committer_run(c, count_fn, &high), STORE_OK);
	ck_assert_int_eq(high, seq);
	committer_free(c);
}
END_TEST

START_TEST(test_busy_store_fails_whole_group)
{
	struct committer *c = committer_new(store_open(fx.path, 0, 50, NULL), NULL, NULL);
	struct store_pub pubs[2] = {{"a", NULL, NULL, "1", 1, NULL, NULL}, {"a", NULL, NULL, "2", 1, NULL, NULL}};
	int64_t seqs[2] = {0, 0}, high = -1;
	char *cause = NULL;
	sqlite3 *blocker = NULL;

	/* A second connection holds the write lock past the 50 ms busy timeout. */
	ck_assert_int_eq(sqlite3_open(fx.path, &blocker), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(committer_submit(c, pubs, 2, seqs, NULL, NULL, &cause), STORE_BUSY);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(sqlite3_exec(blocker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	ck_assert_int_eq(committer_run(c, count_fn, &high), STORE_OK);
	ck_assert_int_eq(high, 0); /* nothing of the failed group was written */
	/* A failed transaction is no batch in the histogram. */
	ck_assert_int_eq(atomic_load(&committer_batch_hist(c)->sum), 0);

	/* Once the lock is gone the same committer serves again. */
	ck_assert_int_eq(committer_submit(c, pubs, 2, seqs, NULL, NULL, &cause), STORE_OK);
	ck_assert_int_eq(seqs[1], seqs[0] + 1);
	/* One transaction of 2 messages: the bucket le=2 (bounds 1, 2, ...). */
	ck_assert_uint_eq(atomic_load(&committer_batch_hist(c)->counts[0]), 0);
	ck_assert_uint_eq(atomic_load(&committer_batch_hist(c)->counts[1]), 1);
	ck_assert_int_eq(atomic_load(&committer_batch_hist(c)->sum), 2);
	sqlite3_close(blocker);
	committer_free(c);
}
END_TEST

Suite *
commit_suite(void)
{
	Suite *s = suite_create("commit");
	TCase *core = tcase_create("Core"), *errors = tcase_create("Errors");

	tcase_add_checked_fixture(core, setup, teardown);
	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_set_timeout(core, 30);
	tcase_add_test(core, test_concurrent_submits_all_commit_in_order);
	tcase_add_test(core, test_concurrent_same_key_one_message);
	tcase_add_test(core, test_run_between_commits);
	tcase_add_test(errors, test_busy_store_fails_whole_group);
	suite_add_tcase(s, core);
	suite_add_tcase(s, errors);
	return s;
}
