/* SPDX-License-Identifier: MIT */
/* One Check suite per module; check_fcpush.c runs them all. */
#ifndef FCPUSH_TESTS_SUITES_H
#define FCPUSH_TESTS_SUITES_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

Suite *util_suite(void);
Suite *config_suite(void);
Suite *json_suite(void);
Suite *json_parse_suite(void);
Suite *route_suite(void);
Suite *cursor_suite(void);
Suite *store_suite(void);
Suite *store_contract_suite(void);
Suite *retention_suite(void);
Suite *feed_suite(void);
Suite *subindex_suite(void);
Suite *commit_suite(void);
Suite *http_suite(void);
Suite *sse_suite(void);
Suite *ndjson_suite(void);
Suite *push_suite(void);
Suite *ws_suite(void);
Suite *ws_proto_suite(void);
Suite *fcgi_out_suite(void);
Suite *log_suite(void);
Suite *metrics_suite(void);
Suite *auth_suite(void);

struct store;

/* A fresh temporary directory for one test (caller frees the path; the
 * directory and what is in it are removed by test_tmpdir_remove). */
char *test_tmpdir(void);
void test_tmpdir_remove(const char *dir);

/* A database of its own for one test: a fresh directory (test_tmpdir), the
 * file fcpush.db in it created with the schema, and st, a connection to it
 * (busy timeout 1 s). The test fails when it cannot be made. Defined, with
 * the two above, in fixture.c. */
struct test_db {
	char *dir;
	char *path;
	struct store *st;
};
void test_db_open(struct test_db *t);
/* Close t->st and remove the directory. */
void test_db_close(struct test_db *t);
/* Append one message in a group of its own on st at now_ms, asserting that
 * it was stored; returns its seq. */
int64_t test_append(struct store *st, const char *channel, const char *event, const char *content_type,
		    const void *body, size_t len, int64_t now_ms);
/* test_append of the NUL-terminated text as text/plain, with no event. */
int64_t test_append_text(struct store *st, const char *channel, const char *text, int64_t now_ms);
/* A new JSON parser, the test failing when it cannot be opened (caller
 * frees with json_parse_free). Defined in test_json_parse.c. */
struct json_parse *test_json_parse_open(void);

#endif
