/* SPDX-License-Identifier: MIT */
/*
 * The fixture every store-backed suite shares (suites.h): a temporary
 * directory per test, a fresh database in it, and one-message appends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "suites.h"
#include "util.h"

char *
test_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir = xasprintf("%s/fcpush-test-XXXXXX", base != NULL && *base != '\0' ? base : "/tmp");

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

void
test_tmpdir_remove(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	free(cmd);
}

void
test_db_open(struct test_db *t)
{
	char *cause = NULL;

	t->dir = test_tmpdir();
	t->path = xasprintf("%s/fcpush.db", t->dir);
	t->st = store_open(t->path, STORE_CREATE, 1000, &cause);
	ck_assert_msg(t->st != NULL, "store_open(%s): %s", t->path, cause != NULL ? cause : "?");
}

void
test_db_close(struct test_db *t)
{
	store_close(t->st);
	test_tmpdir_remove(t->dir);
	free(t->path);
	free(t->dir);
	t->st = NULL;
	t->path = t->dir = NULL;
}

int64_t
test_append(struct store *st, const char *channel, const char *event, const char *content_type, const void *body,
	    size_t len, int64_t now_ms)
{
	struct store_pub p = {channel, event, content_type, body, len, NULL, NULL};
	int64_t seq = 0;
	struct store_group g = {&p, 1, &seq, STORE_ERROR, NULL, NULL};

	ck_assert_int_eq(store_append_groups(st, &g, 1, now_ms), STORE_OK);
	ck_assert_int_eq(g.result, STORE_OK);
	ck_assert_ptr_null(g.cause);
	ck_assert_int_gt(seq, 0);
	return seq;
}

int64_t
test_append_text(struct store *st, const char *channel, const char *text, int64_t now_ms)
{
	return test_append(st, channel, NULL, "text/plain", text, strlen(text), now_ms);
}
