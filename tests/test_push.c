/* SPDX-License-Identifier: MIT */
/* Unit tests of push.c: the transport table, a stream's opening, and the
 * long poll's answers, byte for byte. */
#include <string.h>

#include "push.h"
#include "suites.h"

static struct msg
msg(int64_t seq, const char *body)
{
	struct msg m;

	memset(&m, 0, sizeof m);
	m.seq = seq;
	m.time_ms = 9;
	m.channel = "c";
	m.content_type = "text/plain";
	m.body = (const unsigned char *)body;
	m.body_len = strlen(body);
	return m;
}

static struct park_spec *
spec_for(enum park_kind kind, int64_t since)
{
	struct park_spec *spec = park_spec_new();

	spec->kind = kind;
	spec->since = since;
	spec->label = xstrdup("c");
	return spec;
}

START_TEST(test_table)
{
	const struct push_transport *lp = push_transport(PARK_LONG_POLL);
	const struct push_transport *t;
	int k;

	ck_assert_str_eq(lp->name, "long_poll");
	ck_assert_str_eq(lp->content_type, "application/json");
	ck_assert_ptr_null(lp->message);
	ck_assert_str_eq(push_transport(PARK_SSE)->content_type, "text/event-stream; charset=utf-8");
	ck_assert_str_eq(push_transport(PARK_NDJSON)->content_type, "application/x-ndjson");
	for (k = PARK_SSE; k < PARK_KINDS; k++) {
		t = push_transport((enum park_kind)k);
		ck_assert_ptr_nonnull(t->opening);
		ck_assert_ptr_nonnull(t->message);
		ck_assert_ptr_nonnull(t->gap);
		ck_assert_ptr_nonnull(t->deleted);
		ck_assert_ptr_nonnull(t->heartbeat);
		ck_assert_ptr_nonnull(t->shutdown);
	}
}
END_TEST

/* Open a stream of kind from seq 5 with messages 6 and 7 in its history, a
 * gap when gap, and cfg's stream_max_pending_bytes set to max_pending (0:
 * the default). Returns the spec (its opening filled; caller frees) and sets
 * *sent to how many messages went in. */
static struct park_spec *
open_stream(enum park_kind kind, int gap, int64_t max_pending, size_t *sent)
{
	struct msg m1 = msg(6, "a"), m2 = msg(7, "b");
	struct msg *v[2] = {&m1, &m2};
	struct msglist l = {.v = v, .n = 2, .cap = 2};
	struct park_spec *spec = spec_for(kind, 5);
	struct http_response resp;
	struct config cfg;

	config_init(&cfg);
	cfg.retry_ms = 2000;
	if (max_pending > 0)
		cfg.stream_max_pending_bytes = max_pending;
	http_response_init(&resp);
	*sent = push_stream_opening(&cfg, spec, &resp, &l, 2, gap, 3, "0123456789abcdef");
	http_response_fini(&resp);
	config_fini(&cfg);
	return spec;
}

START_TEST(test_sse_opening)
{
	size_t sent;
	struct park_spec *spec = open_stream(PARK_SSE, 1, 0, &sent);

	ck_assert_uint_eq(sent, 2);
	ck_assert_str_eq(spec->opening.data, "Status: 200 OK\r\n"
					     "Content-Type: text/event-stream; charset=utf-8\r\n"
					     "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n\r\n"
					     ": fcpush\nretry: 2000\nid: 5\n\n"
					     "event: gap\ndata: {\"oldest\":3,\"epoch\":\"0123456789abcdef\"}\n\n"
					     "id: 6\ndata: a\n\nid: 7\ndata: b\n\n");
	park_spec_free(spec);
}
END_TEST

START_TEST(test_ndjson_opening_budget)
{
	size_t sent;
	/* A budget of one byte: one message goes in, the rest is read later. */
	struct park_spec *spec = open_stream(PARK_NDJSON, 0, 2, &sent);
	const char *p = strstr(spec->opening.data, "\r\n\r\n");

	ck_assert_uint_eq(sent, 1);
	ck_assert_ptr_nonnull(strstr(spec->opening.data, "Content-Type: application/x-ndjson\r\n"));
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(strncmp(p + 4, "{\"type\":\"heartbeat\",\"time\":", 27), 0);
	p = strchr(p + 4, '\n');
	ck_assert_str_eq(p + 1, "{\"type\":\"message\",\"channel\":\"c\",\"seq\":6,\"time\":9,"
				"\"content_type\":\"text/plain\",\"data\":\"a\"}\n");
	park_spec_free(spec);
}
END_TEST

START_TEST(test_poll_answers)
{
	struct msg m1 = msg(6, "a"), m2 = msg(7, "b");
	struct msg *v[2] = {&m1, &m2};
	struct park_spec *spec = spec_for(PARK_LONG_POLL, 5);
	struct http_response resp;

	buf_puts(&spec->headers, "Preference-Applied: wait=30\r\n");
	http_response_init(&resp);
	push_poll_messages(spec, v, 2, 0, 1, 4, 7, 1, &resp);
	/* max_bytes 1: the first message only, with more and its seq. */
	ck_assert_int_eq(resp.status, 200);
	ck_assert_str_eq(resp.body.data, "{\"channel\":\"c\",\"messages\":[{\"channel\":\"c\",\"seq\":6,\"time\":9,"
					 "\"content_type\":\"text/plain\",\"data\":\"a\"}],\"last_seq\":6,"
					 "\"more\":true,\"gap\":true,\"oldest\":4}\n");
	ck_assert_str_eq(resp.head.data, "Preference-Applied: wait=30\r\nContent-Type: application/json\r\n"
					 "Cache-Control: no-cache\r\nETag: \"6\"\r\nPush-Gap: 4\r\n");

	http_response_reset(&resp);
	push_poll_empty(spec, &resp);
	ck_assert_int_eq(resp.status, 204);
	ck_assert_str_eq(resp.head.data, "Preference-Applied: wait=30\r\nCache-Control: no-cache\r\nETag: \"5\"\r\n");
	spec->conditional = 1;
	http_response_reset(&resp);
	push_poll_empty(spec, &resp);
	ck_assert_int_eq(resp.status, 304);

	http_response_reset(&resp);
	push_poll_gone(spec, "c", &resp);
	ck_assert_int_eq(resp.status, 410);
	ck_assert_ptr_nonnull(strstr(resp.head.data, "Preference-Applied: wait=30\r\n"));
	ck_assert_ptr_nonnull(strstr(resp.body.data, "\"error\":\"channel_deleted\""));
	http_response_fini(&resp);
	park_spec_free(spec);
}
END_TEST

Suite *
push_suite(void)
{
	Suite *s = suite_create("push");
	TCase *core = tcase_create("Core");

	tcase_add_test(core, test_table);
	tcase_add_test(core, test_sse_opening);
	tcase_add_test(core, test_ndjson_opening_budget);
	tcase_add_test(core, test_poll_answers);
	suite_add_tcase(s, core);
	return s;
}
