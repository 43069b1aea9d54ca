/* SPDX-License-Identifier: MIT */
/*
 * Tests of fcpush-ws's conversation without libwebsockets (ws_proto.h): the
 * handshake decision, and each client command with what it does to the
 * connection and the frames it is answered with, on a stand-in connection
 * that records them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "json_parse.h"
#include "suites.h"
#include "util.h"
#include "ws_proto.h"

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* A connection as the conversation sees it: what it was sent, what it is
 * subscribed to, what it published. */
struct fake {
	char sent[8][512];
	size_t nsent;
	char subs[4][64];
	int since_given[4];
	size_t nsubs;
	char published[4][64]; /* channel=data */
	size_t npublished;
	int64_t start; /* the cursor subscribe answers */
};

static void
fake_send(void *conn, const struct buf *b)
{
	struct fake *f = conn;

	ck_assert_uint_lt(f->nsent, 8);
	snprintf(f->sent[f->nsent++], sizeof f->sent[0], "%.*s", (int)b->len, b->data);
}

static int
fake_subscribed(void *conn, const char *channel)
{
	struct fake *f = conn;
	size_t i;

	for (i = 0; i < f->nsubs; i++) {
		if (strcmp(f->subs[i], channel) == 0)
			return 1;
	}
	return 0;
}

static size_t
fake_nsubs(void *conn)
{
	return ((struct fake *)conn)->nsubs;
}

static int64_t
fake_subscribe(void *conn, const char *channel, int has_since, int64_t since)
{
	struct fake *f = conn;

	ck_assert_uint_lt(f->nsubs, 4);
	f->since_given[f->nsubs] = has_since;
	snprintf(f->subs[f->nsubs++], sizeof f->subs[0], "%s", channel);
	return has_since ? since : f->start;
}

static void
fake_unsubscribe(void *conn, const char *channel)
{
	struct fake *f = conn;
	size_t i;

	for (i = 0; i < f->nsubs; i++) {
		if (strcmp(f->subs[i], channel) == 0) {
			memcpy(f->subs[i], f->subs[--f->nsubs], sizeof f->subs[0]);
			return;
		}
	}
	ck_abort_msg("unsubscribe from %s, which it was not subscribed to", channel);
}

static void
fake_publish(void *conn, struct ws_command *cmd)
{
	struct fake *f = conn;

	ck_assert_uint_lt(f->npublished, 4);
	snprintf(f->published[f->npublished++], sizeof f->published[0], "%s=%.*s %s", cmd->channel,
		 (int)cmd->data_len, cmd->data, cmd->content_type);
	ws_command_fini(cmd);
}

static const struct ws_proto_ops fake_ops = {fake_send,	    fake_subscribed, fake_nsubs, fake_subscribe,
					     fake_unsubscribe, fake_publish, NULL};

static struct config cfg;
static struct json_parse *jp;
static struct ws_proto proto;
static struct fake conn;

static void
setup(void)
{
	config_init(&cfg);
	cfg.ws_max_subscriptions = 2;
	cfg.ws_max_connections = 3;
	cfg.max_message_bytes = 16;
	free(cfg.ws_allowed_origins);
	cfg.ws_allowed_origins = xstrdup("https://ok.example");
	jp = test_json_parse_open();
	ws_proto_init(&proto, &fake_ops, jp, &cfg);
	memset(&conn, 0, sizeof conn);
	conn.start = 41;
}

static void
teardown(void)
{
	ws_proto_fini(&proto);
	json_parse_free(jp);
	config_fini(&cfg);
}

static void
command(const char *text)
{
	ws_proto_command(&proto, &conn, text, strlen(text), 0);
}

START_TEST(test_subscribe_answered)
{
	command("{\"type\":\"subscribe\",\"channel\":\"news\",\"id\":7}");
	ck_assert_uint_eq(conn.nsubs, 1);
	ck_assert_str_eq(conn.subs[0], "news");
	ck_assert_int_eq(conn.since_given[0], 0);
	ck_assert_uint_eq(conn.nsent, 1);
	ck_assert_str_eq(conn.sent[0], "{\"type\":\"subscribed\",\"channel\":\"news\",\"since\":41,\"id\":7}");
	/* With a cursor: the subscription starts there. */
	command("{\"type\":\"subscribe\",\"channel\":\"b\",\"since\":5}");
	ck_assert_int_eq(conn.since_given[1], 1);
	ck_assert_str_eq(conn.sent[1], "{\"type\":\"subscribed\",\"channel\":\"b\",\"since\":5}");
}
END_TEST

START_TEST(test_subscribe_refused)
{
	command("{\"type\":\"subscribe\",\"channel\":\"a\"}");
	command("{\"type\":\"subscribe\",\"channel\":\"a\",\"id\":\"x\"}");
	ck_assert_uint_eq(conn.nsubs, 1);
	ck_assert_ptr_nonnull(strstr(conn.sent[1], "\"error\":\"already_subscribed\""));
	ck_assert_ptr_nonnull(strstr(conn.sent[1], "\"id\":\"x\""));
	command("{\"type\":\"subscribe\",\"channel\":\"b\"}");
	command("{\"type\":\"subscribe\",\"channel\":\"c\",\"id\":3}");
	ck_assert_uint_eq(conn.nsubs, 2); /* ws_max_subscriptions */
	ck_assert_ptr_nonnull(strstr(conn.sent[3], "\"error\":\"too_many_subscriptions\""));
	ck_assert_ptr_nonnull(strstr(conn.sent[3], "subscribe to 2 channels"));
	ck_assert_ptr_nonnull(strstr(conn.sent[3], "\"id\":3"));
}
END_TEST

START_TEST(test_unsubscribe)
{
	command("{\"type\":\"unsubscribe\",\"channel\":\"a\",\"id\":1}");
	ck_assert_ptr_nonnull(strstr(conn.sent[0], "\"error\":\"not_subscribed\""));
	command("{\"type\":\"subscribe\",\"channel\":\"a\"}");
	command("{\"type\":\"unsubscribe\",\"channel\":\"a\",\"id\":2}");
	ck_assert_uint_eq(conn.nsubs, 0);
	ck_assert_str_eq(conn.sent[2], "{\"type\":\"unsubscribed\",\"channel\":\"a\",\"id\":2}");
}
END_TEST

START_TEST(test_publish_handed_over)
{
	static const unsigned char bin[] = "\0\0\0\x29{\"type\":\"publish\",\"channel\":\"b\",\"id\":\"q\"}\x01\x02";

	command("{\"type\":\"publish\",\"channel\":\"a\",\"data\":\"hi\",\"id\":\"p\"}");
	command("{\"type\":\"publish\",\"channel\":\"a\",\"data\":{\"k\":1}}");
	ck_assert_uint_eq(conn.npublished, 2);
	ck_assert_str_eq(conn.published[0], "a=hi text/plain; charset=utf-8");
	ck_assert_str_eq(conn.published[1], "a={\"k\":1} application/json");
	ws_proto_command(&proto, &conn, (const char *)bin, sizeof bin - 1, 1);
	ck_assert_uint_eq(conn.npublished, 3);
	ck_assert_str_eq(conn.published[2], "b=\x01\x02 application/octet-stream");
	ck_assert_uint_eq(conn.nsent, 0); /* answered once committed, not here */
}
END_TEST

START_TEST(test_bad_commands)
{
	command("{\"type\":");
	ck_assert_ptr_nonnull(strstr(conn.sent[0], "\"error\":\"invalid_json\""));
	command("{\"type\":\"dance\",\"id\":9}");
	ck_assert_ptr_nonnull(strstr(conn.sent[1], "\"error\":\"unknown_type\""));
	ck_assert_ptr_nonnull(strstr(conn.sent[1], "\"id\":9"));
	command("{\"type\":\"subscribe\",\"channel\":\"no/slash\"}");
	ck_assert_ptr_nonnull(strstr(conn.sent[2], "\"error\":\"bad_channel\""));
	command("{\"type\":\"publish\",\"channel\":\"a\",\"data\":\"0123456789abcdefXYZ\"}");
	ck_assert_ptr_nonnull(strstr(conn.sent[3], "\"error\":\"too_large\"")); /* max_message_bytes */
	ck_assert_uint_eq(conn.nsent, 4);
	ck_assert_uint_eq(conn.npublished, 0);
	ck_assert_uint_eq(conn.nsubs, 0);
}
END_TEST

#define OK "https://ok.example"
#define URI "/push/ws/channels/a?since=3"

/* Upgrade requests, each the first one changed in one way, and their
 * answers (cfg: origin OK only, 3 connections at most). */
static const struct {
	struct ws_proto_handshake h;
	int status;
	const char *code;
} handshakes[] = {
	{{"13", KEY, "fcpush.v1", OK, URI, 0, 0, 0, NULL}, 0, NULL},
	{{"13", KEY, NULL, NULL, URI, 0, 0, 2, NULL}, 0, NULL}, /* no subprotocol, not a browser */
	{{"13", KEY, "fcpush.v1", OK, URI, 0, 1, 0, NULL}, 503, "shutting_down"},
	{{"8", KEY, "fcpush.v1", OK, URI, 0, 0, 0, NULL}, 426, "upgrade_required"},
	{{"13", "short", "fcpush.v1", OK, URI, 0, 0, 0, NULL}, 400, "bad_handshake"},
	{{"13", KEY, "chat", OK, URI, 0, 0, 0, NULL}, 400, "bad_handshake"},
	{{"13", KEY, "fcpush.v1", "https://evil.example", URI, 0, 0, 0, NULL}, 403, "origin_not_allowed"},
	{{"13", KEY, "fcpush.v1", OK, URI, 0, 0, 3, NULL}, 503, "too_many_connections"},
	{{"13", KEY, "fcpush.v1", OK, NULL, 1, 0, 0, NULL}, 414, "uri_too_long"},
	{{"13", KEY, "fcpush.v1", OK, NULL, 0, 0, 0, NULL}, 400, "bad_request"},
	{{"13", KEY, "fcpush.v1", OK, "/push/channels/a", 0, 0, 0, NULL}, 404, NULL},
	{{"13", KEY, "fcpush.v1", OK, "/push/ws/channels/a?since=x", 0, 0, 0, NULL}, 400, NULL},
};

START_TEST(test_handshake)
{
	const char *code = NULL;
	char *cause = NULL;
	int status = ws_proto_handshake(&cfg, &handshakes[_i].h, &code, &cause);

	ck_assert_int_eq(status, handshakes[_i].status);
	if (status != 0) {
		ck_assert_msg(cause != NULL && cause[0] != '\0', "refused without a cause");
		ck_assert_ptr_nonnull(code);
	}
	if (handshakes[_i].code != NULL)
		ck_assert_str_eq(code, handshakes[_i].code);
	free(cause);
}
END_TEST

Suite *
ws_proto_suite(void)
{
	Suite *s = suite_create("ws_proto");
	TCase *cmds = tcase_create("Commands");
	TCase *hs = tcase_create("Handshake");

	tcase_add_checked_fixture(cmds, setup, teardown);
	tcase_add_test(cmds, test_subscribe_answered);
	tcase_add_test(cmds, test_subscribe_refused);
	tcase_add_test(cmds, test_unsubscribe);
	tcase_add_test(cmds, test_publish_handed_over);
	tcase_add_test(cmds, test_bad_commands);
	suite_add_tcase(s, cmds);
	tcase_add_checked_fixture(hs, setup, teardown);
	tcase_add_loop_test(hs, test_handshake, 0, sizeof handshakes / sizeof handshakes[0]);
	suite_add_tcase(s, hs);
	return s;
}
