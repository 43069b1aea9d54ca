/* SPDX-License-Identifier: MIT */
/*
 * The unit test runner: every module's suite in one SRunner. Exit status is
 * 0 only when every test passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "suites.h"
#include "util.h"

int
main(void)
{
	SRunner *sr;
	int failed;

	/* Expected failures log warnings; keep the output for real ones. */
	log_set_level(getenv("FCPUSH_TEST_LOG") != NULL ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
	sr = srunner_create(util_suite());

	srunner_add_suite(sr, config_suite());
	srunner_add_suite(sr, json_suite());
	srunner_add_suite(sr, json_parse_suite());
	srunner_add_suite(sr, route_suite());
	srunner_add_suite(sr, cursor_suite());
	srunner_add_suite(sr, store_suite());
	srunner_add_suite(sr, store_contract_suite());
	srunner_add_suite(sr, retention_suite());
	srunner_add_suite(sr, feed_suite());
	srunner_add_suite(sr, subindex_suite());
	srunner_add_suite(sr, commit_suite());
	srunner_add_suite(sr, http_suite());
	srunner_add_suite(sr, sse_suite());
	srunner_add_suite(sr, ndjson_suite());
	srunner_add_suite(sr, push_suite());
	srunner_add_suite(sr, ws_suite());
	srunner_add_suite(sr, ws_proto_suite());
	srunner_add_suite(sr, fcgi_out_suite());
	srunner_add_suite(sr, log_suite());
	srunner_add_suite(sr, metrics_suite());
	srunner_add_suite(sr, auth_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
