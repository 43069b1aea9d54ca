/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of http.c (CGI response building, Accept matching) and of the
 * request handlers driven directly, without FastCGI, on a fresh database.
 */
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "suites.h"
#include "util.h"

/* ---- http.c ---------------------------------------------------------------- */

START_TEST(test_serialize_with_body)
{
	struct http_response r;
	struct buf out;

	http_response_init(&r);
	buf_init(&out);
	r.status = 201;
	http_header(&r, "Location", "/push/channels/%s/messages/%d", "a", 7);
	buf_puts(&r.body, "{}");
	http_serialize(&r, &out);
	ck_assert_str_eq(out.data, "Status: 201 Created\r\nLocation: /push/channels/a/messages/7\r\n"
				   "Content-Length: 2\r\n\r\n{}");
	buf_fini(&out);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_serialize_bodyless)
{
	struct http_response r;
	struct buf out;

	http_response_init(&r);
	buf_init(&out);
	r.status = 304;
	http_header(&r, "ETag", "\"5\"");
	http_serialize(&r, &out);
	ck_assert_str_eq(out.data, "Status: 304 Not Modified\r\nETag: \"5\"\r\n\r\n");
	buf_fini(&out);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_error_is_json)
{
	struct http_response r;

	http_response_init(&r);
	buf_puts(&r.body, "partial");
	http_error(&r, 413, "too_large", "limit %d \"bytes\"", 10);
	ck_assert_int_eq(r.status, 413);
	ck_assert_str_eq(r.body.data, "{\"error\":\"too_large\",\"detail\":\"limit 10 \\\"bytes\\\"\"}\n");
	ck_assert(strstr(r.head.data, "Content-Type: application/json\r\n") != NULL);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_accepts)
{
	ck_assert(http_accepts(NULL, "application/json"));
	ck_assert(http_accepts("", "application/json"));
	ck_assert(http_accepts("*/*", "application/json"));
	ck_assert(http_accepts("text/html, application/*;q=0.5", "application/json"));
	ck_assert(http_accepts("application/json", "application/json"));
	ck_assert(http_accepts("APPLICATION/JSON ; q=1", "application/json"));
	ck_assert(!http_accepts("text/event-stream", "application/json"));
	ck_assert(!http_accepts("application/json;q=0", "application/json"));
	ck_assert(!http_accepts("image/png, text/*", "application/json"));
}
END_TEST

START_TEST(test_parse_range)
{
	int64_t a = -1, b = -1;

	ck_assert_int_eq(http_parse_range(NULL, 100, &a, &b), 0);
	ck_assert_int_eq(http_parse_range("bytes=0-9", 100, &a, &b), 1);
	ck_assert(a == 0 && b == 9);
	ck_assert_int_eq(http_parse_range("bytes=90-", 100, &a, &b), 1);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(http_parse_range("bytes=90-200", 100, &a, &b), 1);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(http_parse_range("bytes=-10", 100, &a, &b), 1);
	ck_assert(a == 90 && b == 99);
	ck_assert_int_eq(http_parse_range("bytes=-1000", 100, &a, &b), 1);
	ck_assert(a == 0 && b == 99);
	/* Unsatisfiable: 416. */
	ck_assert_int_eq(http_parse_range("bytes=100-", 100, &a, &b), -1);
	ck_assert_int_eq(http_parse_range("bytes=-0", 100, &a, &b), -1);
	ck_assert_int_eq(http_parse_range("bytes=0-", 0, &a, &b), -1);
	/* Ignored (whole body): other units, several ranges, malformed. */
	ck_assert_int_eq(http_parse_range("items=0-1", 100, &a, &b), 0);
	ck_assert_int_eq(http_parse_range("bytes=0-1,5-6", 100, &a, &b), 0);
	ck_assert_int_eq(http_parse_range("bytes=5-1", 100, &a, &b), 0);
	ck_assert_int_eq(http_parse_range("bytes=x-1", 100, &a, &b), 0);
	ck_assert_int_eq(http_parse_range("bytes=1", 100, &a, &b), 0);
}
END_TEST

/* ---- handlers -------------------------------------------------------------- */

static char *dir;
static struct config cfg;
static struct app app;
static struct handler_ctx ctx;

struct body_src {
	const char *data;
	size_t len, off;
};

static ssize_t
read_src(void *arg, char *p, size_t n)
{
	struct body_src *s = arg;
	size_t k = s->len - s->off < n ? s->len - s->off : n;

	memcpy(p, s->data + s->off, k);
	s->off += k;
	return (ssize_t)k;
}

static void
setup(void)
{
	char *db;

	dir = test_tmpdir();
	config_init(&cfg);
	db = xasprintf("%s/h.db", dir);
	free(cfg.database);
	cfg.database = db;
	cfg.max_message_bytes = 64;
	cfg.page_messages = 3;
	handler_app_init(&app, &cfg);
	app.committer = committer_new(store_open(db, STORE_CREATE, 1000, NULL), NULL, NULL);
	ctx.app = &app;
	ctx.st = store_open(db, 0, 1000, NULL);
	ck_assert_ptr_nonnull(ctx.st);
}

static void
teardown(void)
{
	store_close(ctx.st);
	committer_free(app.committer);
	config_fini(&cfg);
	test_tmpdir_remove(dir);
	free(dir);
}

/* Run one request; returns the result and leaves the answer in *resp. */
static enum handler_result
run(const char *method, const char *uri, const char *ct, const char *body, struct http_response *resp,
    struct park_spec **spec, const char *prefer)
{
	struct http_request req;
	struct body_src src = {body, body != NULL ? strlen(body) : 0, 0};
	struct park_spec *unused = NULL;
	enum handler_result r;

	memset(&req, 0, sizeof req);
	req.method = method;
	req.uri = uri;
	req.content_type = ct;
	req.content_length = body != NULL ? (int64_t)src.len : -1;
	req.prefer = prefer;
	req.read_body = read_src;
	req.read_arg = &src;
	http_response_reset(resp);
	r = handler_run(&ctx, &req, resp, spec != NULL ? spec : &unused);
	park_spec_free(unused);
	return r;
}

START_TEST(test_publish_then_poll)
{
	struct http_response r;

	http_response_init(&r);
	ck_assert_int_eq(run("POST", "/push/channels/news", "text/plain", "hello", &r, NULL, NULL), HANDLER_FINISHED);
	ck_assert_int_eq(r.status, 201);
	ck_assert(strstr(r.head.data, "Location: /push/channels/news/messages/1\r\n") != NULL);
	ck_assert(strncmp(r.body.data, "{\"channel\":\"news\",\"seq\":1,\"time\":", 33) == 0);

	run("GET", "/push/channels/news?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.head.data, "ETag: \"1\"\r\n") != NULL);
	ck_assert(strstr(r.body.data, "\"data\":\"hello\"") != NULL);
	ck_assert(strstr(r.body.data, "\"last_seq\":1") != NULL);

	run("GET", "/push/channels/news?since=1", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 204);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_poll_pages_with_more)
{
	struct http_response r;
	int i;

	http_response_init(&r);
	for (i = 0; i < 5; i++)
		run("POST", "/push/channels/p", "text/plain", "m", &r, NULL, NULL);
	run("GET", "/push/channels/p?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.body.data, "\"last_seq\":3,\"more\":true") != NULL);
	run("GET", "/push/channels/p?since=3", NULL, NULL, &r, NULL, NULL);
	ck_assert(strstr(r.body.data, "\"last_seq\":5}") != NULL);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_long_poll_parks_with_spec)
{
	struct http_response r;
	struct park_spec *spec = NULL;

	http_response_init(&r);
	run("POST", "/push/channels/a", "text/plain", "x", &r, NULL, NULL);
	ck_assert_int_eq(run("GET", "/push/channels/a,b", NULL, NULL, &r, &spec, "wait=5"), HANDLER_WAIT_FOR_EVENT);
	ck_assert_ptr_nonnull(spec);
	ck_assert_uint_eq(spec->nchannels, 2);
	ck_assert_str_eq(spec->label, "a,b");
	ck_assert_int_eq(spec->since, 1); /* no cursor: from now */
	ck_assert_int_eq(spec->high_seq, 1);
	ck_assert(spec->deadline_ms > util_mono_ms() + 4000);
	ck_assert(strstr(spec->headers.data, "Preference-Applied: wait=5\r\n") != NULL);
	park_spec_free(spec);

	/* A message past the cursor answers at once instead of parking. */
	spec = NULL;
	ck_assert_int_eq(run("GET", "/push/channels/a?since=0&wait=5", NULL, NULL, &r, &spec, NULL), HANDLER_FINISHED);
	ck_assert_ptr_null(spec);
	ck_assert_int_eq(r.status, 200);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_errors)
{
	struct http_response r;

	http_response_init(&r);
	run("GET", "/push/nothing-here", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	run("PUT", "/push/channels/a", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 405);
	ck_assert(strstr(r.head.data, "Allow: GET, POST, DELETE, OPTIONS\r\n") != NULL);
	run("POST", "/push/channels/a", "text/plain",
	    "0123456789012345678901234567890123456789012345678901234567890123456789", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 413);
	run("POST", "/push/channels/a", "application/json", "{not json", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	run("POST", "/push/channels/a", "nonsense", "x", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 415);
	run("GET", "/push/channels/a?since=abc", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"bad_cursor\"") != NULL);
	run("GET", "/push/channels/a?wait=soon", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	run("DELETE", "/push/channels/never", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 404);
	/* Nothing was written by any of them. */
	run("GET", "/push/channels/a?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 204);
	http_response_fini(&r);
}
END_TEST

START_TEST(test_batch_all_or_nothing)
{
	struct http_response r;

	http_response_init(&r);
	run("POST", "/push/publish", "application/json",
	    "[{\"channel\":\"x\",\"data\":\"1\"},{\"channel\":\"y\",\"data\":{\"k\":2}}]", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	ck_assert_str_eq(r.body.data, "[{\"channel\":\"x\",\"seq\":1},{\"channel\":\"y\",\"seq\":2}]\n");
	run("POST", "/push/publish", "application/json", "[{\"channel\":\"x\",\"data\":\"1\"},{\"channel\":\"b d\",\"data\":1}]",
	    &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	run("GET", "/push/channels/y?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert(strstr(r.body.data, "\"data\":{\"k\":2}") != NULL);
	run("GET", "/push/channels/x?since=1", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 204);
	http_response_fini(&r);
}
END_TEST

Suite *
http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *core = tcase_create("Core"), *handlers = tcase_create("Handlers"), *errors = tcase_create("Errors");

	tcase_add_test(core, test_serialize_with_body);
	tcase_add_test(core, test_serialize_bodyless);
	tcase_add_test(core, test_error_is_json);
	tcase_add_test(core, test_accepts);
	tcase_add_test(core, test_parse_range);
	tcase_add_checked_fixture(handlers, setup, teardown);
	tcase_add_test(handlers, test_publish_then_poll);
	tcase_add_test(handlers, test_poll_pages_with_more);
	tcase_add_test(handlers, test_long_poll_parks_with_spec);
	tcase_add_test(handlers, test_batch_all_or_nothing);
	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_add_test(errors, test_errors);
	suite_add_tcase(s, core);
	suite_add_tcase(s, handlers);
	suite_add_tcase(s, errors);
	return s;
}
