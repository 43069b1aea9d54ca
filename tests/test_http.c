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

/* RFC 9110 §8.3.1 media types; everything else is refused. */
START_TEST(test_content_type_valid)
{
	static const char *const good[] = {
		"text/plain", "application/json", "text/plain; charset=utf-8", "text/plain;charset=\"utf-8\"",
		"application/vnd.api+json", "multipart/form-data; boundary=\"a b;c\"", "text/plain ;a=b; c=d ",
		"x-a/y.b-c_d!#$%&'*+^`|~", "text/plain;", "image/png;;a=1", "text/plain; a=\"q\\\"x\"",
	};
	static const char *const bad[] = {
		"", "png", "/png", "image/", "image /png", "image/ png", "text/plain\r\nSet-Cookie: a=b",
		"text/html\nStatus: 302", "text/plain; charset", "text/plain; =x", "text/plain; a=", "text/plain; a=b c",
		"text/plain; a=\"unterminated", "text/plain; a=\"\x01\"", "text/pl\x7f" "ain", "text/plain\x01",
		"t\xc3\xa9xt/plain", "text/plain; a=\"\xc3\xa9\"", "text/plain, text/html", "a/b/c", "text/plain\t\x0b",
	};
	char longest[HTTP_MAX_CONTENT_TYPE_BYTES + 2];
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(http_content_type_valid(good[i]), "refused %s", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!http_content_type_valid(bad[i]), "accepted %s", bad[i]);
	ck_assert(!http_content_type_valid(NULL));
	memset(longest, 'a', sizeof longest - 1);
	longest[sizeof longest - 1] = '\0';
	longest[1] = '/';
	ck_assert(!http_content_type_valid(longest)); /* 256 bytes */
	longest[sizeof longest - 2] = '\0';
	ck_assert(http_content_type_valid(longest)); /* 255 bytes */
}
END_TEST

START_TEST(test_content_type_active)
{
	ck_assert(http_content_type_active("text/html"));
	ck_assert(http_content_type_active("TEXT/HTML; charset=utf-8"));
	ck_assert(http_content_type_active("image/svg+xml"));
	ck_assert(http_content_type_active("application/xhtml+xml"));
	ck_assert(http_content_type_active("application/xml"));
	ck_assert(http_content_type_active("text/xml"));
	ck_assert(http_content_type_active("application/pdf"));
	ck_assert(!http_content_type_active("text/plain"));
	ck_assert(!http_content_type_active("image/png"));
	ck_assert(!http_content_type_active("application/json"));
	ck_assert(!http_content_type_active("text/htmlx"));
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
	ctx.jp = json_parse_new(NULL);
	ck_assert_ptr_nonnull(ctx.jp);
}

static void
teardown(void)
{
	store_close(ctx.st);
	json_parse_free(ctx.jp);
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

/* GET /push/metrics: the 0.0.4 text format, with the counters the requests
 * before it moved (tests/integration/t_metrics.sh parses whole scrapes). */
START_TEST(test_metrics_endpoint)
{
	struct http_response r;

	http_response_init(&r);
	run("POST", "/push/channels/news", "text/plain", "hello", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	ck_assert_ptr_null(r.error);
	run("DELETE", "/push/channels/never", NULL, NULL, &r, NULL, NULL);
	run("PUT", "/push/metrics", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 405);
	run("GET", "/push/metrics", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert(strstr(r.head.data, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != NULL);
	ck_assert(strstr(r.body.data, "# TYPE fcpush_publishes_total counter\nfcpush_publishes_total 1\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_requests_total 4\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_http_errors_total{code=\"405\"} 1\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_http_errors_total{code=\"404\"} 1\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_http_errors_total{code=\"503\"} 0\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_store_errors_total{kind=\"busy\"} 0\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_committed_messages_total 1\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_commit_batch_messages_bucket{le=\"1\"} 1\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_parked{transport=\"sse\"} 0\n") != NULL);
	ck_assert(strstr(r.body.data, "\nfcpush_wake_latency_seconds_count 0\n") != NULL);
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
	ck_assert(strstr(r.head.data, "Allow: GET, HEAD, POST, DELETE, OPTIONS\r\n") != NULL);
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
	ck_assert_str_eq(r.error, "bad_cursor"); /* for the log line and metrics */
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

/* Issue 10 item 1: the attack, a batch element whose content_type carries
 * CRLF and headers (replayed raw on /messages/{seq} before), is refused with
 * nothing stored; so is an empty or garbage type. */
START_TEST(test_batch_content_type_injection)
{
	static const char *const bodies[] = {
		"[{\"channel\":\"x\",\"data\":\"ok\"},{\"channel\":\"x\",\"data\":\"<script>\","
		"\"content_type\":\"text/html\\r\\nSet-Cookie: a=b\"}]",
		"[{\"channel\":\"x\",\"data\":\"1\",\"content_type\":\"text/html\\r\\nStatus: 302\\r\\nLocation: http://evil/\"}]",
		"[{\"channel\":\"x\",\"data\":\"1\",\"content_type\":\"\"}]",
		"[{\"channel\":\"x\",\"data\":\"1\",\"content_type\":\"garbage\"}]",
	};
	struct http_response r;
	size_t i;

	http_response_init(&r);
	for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		run("POST", "/push/publish", "application/json", bodies[i], &r, NULL, NULL);
		ck_assert_int_eq(r.status, 400);
		ck_assert_msg(strstr(r.body.data, "\"error\":\"bad_content_type\"") != NULL, "%s", r.body.data);
	}
	run("POST", "/push/publish", "application/json", "[{\"channel\":\"x\",\"data\":\"1\",\"event\":\"a\\u0007\"}]", &r,
	    NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"bad_event\"") != NULL);
	run("GET", "/push/channels/x?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 204); /* nothing stored */
	http_response_fini(&r);
}
END_TEST

/* Issue 10 item 6: JSON and text bodies must be UTF-8. */
START_TEST(test_publish_utf8)
{
	struct http_response r;

	http_response_init(&r);
	run("POST", "/push/channels/u", "application/json", "\"\xff\"", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"invalid_utf8\"") != NULL);
	run("POST", "/push/channels/u", "text/plain", "caf\xc3", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"invalid_utf8\"") != NULL);
	run("POST", "/push/publish", "application/json", "[{\"channel\":\"u\",\"data\":\"\\ud800\"}]", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"invalid_utf8\"") != NULL);
	run("POST", "/push/publish", "application/json", "[{\"channel\":\"u\",\"data\":\"\xff\"}]", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 400);
	ck_assert(strstr(r.body.data, "\"error\":\"invalid_utf8\"") != NULL);
	run("GET", "/push/channels/u?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 204);
	/* Bytes, and text in a declared charset, are not ours to refuse. */
	run("POST", "/push/channels/u", "application/octet-stream", "\xff", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	run("POST", "/push/channels/u", "text/plain; charset=iso-8859-1", "caf\xe9", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	run("POST", "/push/channels/u", "text/plain; charset=utf-8", "caf\xc3\xa9", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	http_response_fini(&r);
}
END_TEST

/* Issue 10 item 9: HEAD is GET without the body. */
START_TEST(test_head)
{
	struct http_response r;
	struct park_spec *spec = NULL;
	struct buf out;

	http_response_init(&r);
	buf_init(&out);
	run("POST", "/push/channels/h", "text/plain", "hello", &r, NULL, NULL);
	run("HEAD", "/push/channels/h?since=0", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	http_serialize(&r, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Type: application/json\r\n"));
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Length: "));
	ck_assert_msg(strcmp(out.data + out.len - 4, "\r\n\r\n") == 0, "a body follows: %s", out.data);
	/* A long poll or a stream answers at once. */
	ck_assert_int_eq(run("HEAD", "/push/channels/h?since=1&wait=5", NULL, NULL, &r, &spec, NULL), HANDLER_FINISHED);
	ck_assert_int_eq(r.status, 204);
	ck_assert_int_eq(run("HEAD", "/push/channels/h?stream=sse", NULL, NULL, &r, &spec, NULL), HANDLER_FINISHED);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head.data, "text/event-stream"));
	ck_assert_ptr_null(spec);
	run("HEAD", "/push/channels/h/messages/1", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_int_eq(r.head_only, 1);
	ck_assert_int_eq(r.body_length, 5);
	buf_reset(&out);
	http_serialize(&r, &out);
	ck_assert_ptr_nonnull(strstr(out.data, "Content-Length: 5\r\n"));
	run("HEAD", "/push/status", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	run("HEAD", "/push/publish", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 405);
	buf_fini(&out);
	store_body_close(ctx.st);
	http_response_fini(&r);
}
END_TEST

/* Raw bodies are never sniffed or run: nosniff, CSP sandbox, and an
 * attachment for types browsers render actively. */
START_TEST(test_raw_body_headers)
{
	struct http_response r;

	http_response_init(&r);
	run("POST", "/push/channels/raw", "text/html", "<script>alert(1)</script>", &r, NULL, NULL);
	ck_assert_int_eq(r.status, 201);
	run("POST", "/push/channels/raw", "image/png", "png", &r, NULL, NULL);
	run("GET", "/push/channels/raw/messages/1", NULL, NULL, &r, NULL, NULL);
	ck_assert_int_eq(r.status, 200);
	ck_assert_ptr_nonnull(strstr(r.head.data, "X-Content-Type-Options: nosniff\r\n"));
	ck_assert_ptr_nonnull(strstr(r.head.data, "Content-Security-Policy: sandbox\r\n"));
	ck_assert_ptr_nonnull(strstr(r.head.data, "Content-Disposition: attachment"));
	store_body_close(ctx.st);
	run("GET", "/push/channels/raw/messages/2", NULL, NULL, &r, NULL, NULL);
	ck_assert_ptr_nonnull(strstr(r.head.data, "X-Content-Type-Options: nosniff\r\n"));
	ck_assert_ptr_null(strstr(r.head.data, "Content-Disposition"));
	store_body_close(ctx.st);
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
	tcase_add_test(core, test_content_type_valid);
	tcase_add_test(core, test_content_type_active);
	tcase_add_checked_fixture(handlers, setup, teardown);
	tcase_add_test(handlers, test_publish_then_poll);
	tcase_add_test(handlers, test_poll_pages_with_more);
	tcase_add_test(handlers, test_long_poll_parks_with_spec);
	tcase_add_test(handlers, test_batch_all_or_nothing);
	tcase_add_checked_fixture(errors, setup, teardown);
	tcase_add_test(errors, test_errors);
	tcase_add_test(errors, test_batch_content_type_injection);
	tcase_add_test(errors, test_publish_utf8);
	tcase_add_test(handlers, test_head);
	tcase_add_test(handlers, test_metrics_endpoint);
	tcase_add_test(handlers, test_raw_body_headers);
	suite_add_tcase(s, core);
	suite_add_tcase(s, handlers);
	suite_add_tcase(s, errors);
	return s;
}
