/* SPDX-License-Identifier: MIT */
/* Unit tests of fcgi_out.c: FastCGI record framing over a real socket pair,
 * shared content, partial writes. */
#include <errno.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fcgi_out.h"
#include "suites.h"
#include "util.h"

/* What a reader of the records saw. */
struct parsed {
	struct buf stdout_bytes; /* FCGI_STDOUT content, concatenated */
	int stdout_end;          /* the empty FCGI_STDOUT record arrived */
	int ended;               /* FCGI_END_REQUEST arrived */
	int app_status;
	int protocol_status;
};

/* Read everything available from fd into b (non-blocking). */
static void
drain(int fd, struct buf *b)
{
	char tmp[65536];
	ssize_t n;

	while ((n = read(fd, tmp, sizeof tmp)) > 0)
		buf_append(b, tmp, (size_t)n);
}

/* Parse the records in raw for request id; every record must be whole,
 * padded to 8 and at most 65535 bytes of content (spec §3.3). */
static void
parse_records(const struct buf *raw, int request_id, struct parsed *p)
{
	const unsigned char *d = (const unsigned char *)raw->data;
	size_t off = 0, clen, plen;
	const FCGI_Header *h;

	buf_init(&p->stdout_bytes);
	p->stdout_end = p->ended = 0;
	while (off < raw->len) {
		ck_assert_uint_ge(raw->len - off, sizeof *h);
		h = (const FCGI_Header *)(d + off);
		ck_assert_int_eq(h->version, FCGI_VERSION_1);
		ck_assert_int_eq((h->requestIdB1 << 8) | h->requestIdB0, request_id);
		clen = (size_t)((h->contentLengthB1 << 8) | h->contentLengthB0);
		plen = h->paddingLength;
		ck_assert_uint_eq((clen + plen) % 8, 0);
		ck_assert_uint_ge(raw->len - off, sizeof *h + clen + plen);
		ck_assert_msg(!p->ended, "a record after FCGI_END_REQUEST");
		if (h->type == FCGI_STDOUT) {
			ck_assert_msg(!p->stdout_end, "FCGI_STDOUT content after its end");
			if (clen == 0)
				p->stdout_end = 1;
			buf_append(&p->stdout_bytes, d + off + sizeof *h, clen);
		} else {
			const FCGI_EndRequestBody *e = (const FCGI_EndRequestBody *)(d + off + sizeof *h);

			ck_assert_int_eq(h->type, FCGI_END_REQUEST);
			ck_assert_uint_eq(clen, sizeof *e);
			p->ended = 1;
			p->app_status = (e->appStatusB3 << 24) | (e->appStatusB2 << 16) | (e->appStatusB1 << 8) |
					e->appStatusB0;
			p->protocol_status = e->protocolStatus;
		}
		off += sizeof *h + clen + plen;
	}
}

static void
make_pair(int sv[2], int sndbuf)
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (sndbuf > 0)
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
}

/* Bytes 0..n-1 of a recognisable pattern. */
static char *
pattern(size_t n, unsigned seed)
{
	char *p = xmalloc(n);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)((i * 31 + seed) & 0xff);
	return p;
}

START_TEST(test_records_and_end)
{
	struct fcgi_out o;
	struct parsed p;
	struct buf raw;
	int sv[2];
	char *big = pattern(200000, 7);

	make_pair(sv, 0);
	fcgi_out_init(&o, sv[0], 258);
	fcgi_out_stdout(&o, "Status: 200 OK\r\n\r\n", 18);
	fcgi_out_stdout(&o, big, 200000); /* four records: 65535 * 3 + 3395 */
	fcgi_out_stdout(&o, "", 0);       /* queues nothing */
	fcgi_out_end(&o, 3);
	ck_assert_uint_eq(fcgi_out_pending(&o), 8 + 24 + (8 * 4 + 200000 + 1 + 1 + 1 + 5) + 8 + 16);
	buf_init(&raw);
	while (fcgi_out_flush(&o) == FCGI_OUT_AGAIN)
		drain(sv[1], &raw);
	drain(sv[1], &raw);
	ck_assert_uint_eq(fcgi_out_pending(&o), 0);
	parse_records(&raw, 258, &p);
	ck_assert_uint_eq(p.stdout_bytes.len, 18 + 200000);
	ck_assert_mem_eq(p.stdout_bytes.data, "Status: 200 OK\r\n\r\n", 18);
	ck_assert_mem_eq(p.stdout_bytes.data + 18, big, 200000);
	ck_assert(p.stdout_end);
	ck_assert(p.ended);
	ck_assert_int_eq(p.app_status, 3);
	ck_assert_int_eq(p.protocol_status, FCGI_REQUEST_COMPLETE);
	buf_fini(&p.stdout_bytes);
	buf_fini(&raw);
	fcgi_out_fini(&o);
	close(sv[0]);
	close(sv[1]);
	free(big);
}
END_TEST

/* One encoded message shared by two queues: each writes it whole, in
 * pieces, under its own request id, and the reference goes when both are
 * done. */
START_TEST(test_shared_partial_writes)
{
	struct fcgi_out o[2];
	struct buf raw[2];
	struct parsed p;
	struct out_bytes *msg;
	char *body = pattern(300000, 3);
	int sv[2][2], again = 0, k, busy;

	msg = out_bytes_new(body, 300000);
	for (k = 0; k < 2; k++) {
		make_pair(sv[k], 4096);
		fcgi_out_init(&o[k], sv[k][0], 1 + k);
		buf_init(&raw[k]);
		fcgi_out_stdout_shared(&o[k], msg);
		fcgi_out_stdout_shared(&o[k], msg);
	}
	ck_assert_uint_eq(msg->refs, 1 + 2 * 2 * 5); /* 5 records per copy */
	do {
		busy = 0;
		for (k = 0; k < 2; k++) {
			if (fcgi_out_flush(&o[k]) == FCGI_OUT_AGAIN) {
				again++;
				busy = 1;
			}
			drain(sv[k][1], &raw[k]);
		}
	} while (busy);
	ck_assert_int_gt(again, 0); /* it really was written in pieces */
	ck_assert_uint_eq(msg->refs, 1);
	for (k = 0; k < 2; k++) {
		parse_records(&raw[k], 1 + k, &p);
		ck_assert_uint_eq(p.stdout_bytes.len, 600000);
		ck_assert_mem_eq(p.stdout_bytes.data, body, 300000);
		ck_assert_mem_eq(p.stdout_bytes.data + 300000, body, 300000);
		buf_fini(&p.stdout_bytes);
		buf_fini(&raw[k]);
		fcgi_out_fini(&o[k]);
		close(sv[k][0]);
		close(sv[k][1]);
	}
	out_bytes_unref(msg);
	free(body);
}
END_TEST

/* A queue dropped with records unwritten gives back its references; a
 * closed peer is an error, not a hang. */
START_TEST(test_fini_and_closed_peer)
{
	struct fcgi_out o;
	struct out_bytes *msg;
	char *body = pattern(100000, 1);
	int sv[2];

	msg = out_bytes_new(body, 100000);
	make_pair(sv, 4096);
	fcgi_out_init(&o, sv[0], 1);
	fcgi_out_stdout_shared(&o, msg);
	ck_assert_int_eq(fcgi_out_flush(&o), FCGI_OUT_AGAIN);
	ck_assert_uint_gt(msg->refs, 1);
	close(sv[1]);
	ck_assert_int_eq(fcgi_out_flush(&o), FCGI_OUT_ERROR);
	fcgi_out_fini(&o);
	ck_assert_uint_eq(msg->refs, 1);
	out_bytes_unref(msg);
	close(sv[0]);
	free(body);
}
END_TEST

Suite *
fcgi_out_suite(void)
{
	Suite *s = suite_create("fcgi_out");
	TCase *tc = tcase_create("Core");

	tcase_add_test(tc, test_records_and_end);
	tcase_add_test(tc, test_shared_partial_writes);
	tcase_add_test(tc, test_fini_and_closed_peer);
	suite_add_tcase(s, tc);
	return s;
}
