/* SPDX-License-Identifier: MIT */
/* One Check suite per module; check_fcpush.c runs them all. */
#ifndef FCPUSH_TESTS_SUITES_H
#define FCPUSH_TESTS_SUITES_H

#include <check.h>

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

/* A fresh temporary directory for one test (caller frees the path; the
 * directory and what is in it are removed by test_tmpdir_remove). */
char *test_tmpdir(void);
void test_tmpdir_remove(const char *dir);
/* A new JSON parser, the test failing when it cannot be opened (caller
 * frees with json_parse_free). Defined in test_json_parse.c. */
struct json_parse *test_json_parse_open(void);

#endif
