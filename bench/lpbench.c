/* SPDX-License-Identifier: MIT */
/*
 * lpbench: long-poll wake latency and idle cost of parked long polls, through
 * the web server, with one epoll loop and no threads.
 *
 * Latency mode (default): park K long polls on one channel (Prefer: wait=W,
 * since = the channel's current seq), wait until the worker's /push/status
 * says parked == K, then publish M messages one at a time. For each message:
 * take CLOCK_MONOTONIC just before sending the POST, then the time each
 * subscriber's response arrives (and the publish response's); every
 * subscriber re-parks at once with since = the seq it got; the next publish
 * goes out only after all K got this one and parked == K again. The publish
 * may go to another port (a second web server in front of a second worker
 * process: the cross-process wake). Reports publish->receive p50/p99/max
 * over K*M samples, the time until the last subscriber had it, the publish
 * response time, and messages lost (each subscriber must see each message
 * exactly once).
 *
 * --nchan 1: the same client against nginx + Nchan's long-poll subscriber
 * (nchan_subscriber longpoll at /sub/CH, nchan_publisher at /pub/CH, which
 * also answers GET with the channel's subscriber count). The message bodies
 * are {"seq":N} with N counted here, a subscriber parks with no cursor the
 * first time (nchan_subscriber_first_message newest) and re-parks with the
 * Last-Modified and Etag of its last answer as If-Modified-Since and
 * If-None-Match: Nchan's cursor, as fcpush's is since=. Same re-park rule:
 * the next publish goes out once every subscriber is parked again.
 *
 * Idle mode (--idle S): park K long polls, then measure the CPU time
 * (utime+stime, /proc/PID/stat) of the given processes over S seconds of no
 * traffic, and their RSS before and after parking.
 *
 *   lpbench --port P [--pub-port Q] --channel CH --subs K [--msgs M] [--wait W]
 *           [--warmup N] [--label TEXT] [--raw FILE]
 *           [--idle S --pid NAME=PID ...]
 */
#define _GNU_SOURCE
#include <sys/epoll.h>

#include "httpc.h"

#define MAX_PIDS 4

struct sub {
	int fd;
	struct rbuf rb;
	int64_t cursor;   /* highest seq received */
	int64_t received; /* messages received, each counted once */
	int64_t dups;     /* messages received again (seq <= cursor) */
	int64_t got_ns;   /* when this iteration's message arrived, 0 if not yet */
	char etag[128], last_modified[128]; /* Nchan: the cursor of its last answer */
};

static struct {
	int port, pub_port, subs, msgs, wait_s, warmup, idle_s, npids, nchan;
	const char *channel, *label, *raw;
	const char *pid_name[MAX_PIDS];
	int pid[MAX_PIDS];
} opt = {.wait_s = 25, .msgs = 100, .warmup = 3, .label = "lp"};

static struct sub *subs;
static int epfd;
static struct bconn status_conn, prime_conn;
static int pub_fd = -1;
static struct rbuf pub_rb;
static int64_t timeouts, reconnects, errors, unexpected;
static int repark = 1;       /* park again after each response */
static long long base_parked; /* parked in the worker before we started */
static long long nchan_seq;   /* Nchan: the number of the last message published */

static void
sub_park(struct sub *s)
{
	char req[512];
	int n;

	if (opt.nchan && s->last_modified[0] != '\0')
		n = snprintf(req, sizeof req,
			     "GET /sub/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nIf-Modified-Since: %s\r\n"
			     "If-None-Match: %s\r\n\r\n",
			     opt.channel, s->last_modified, s->etag);
	else if (opt.nchan)
		n = snprintf(req, sizeof req, "GET /sub/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", opt.channel);
	else
		n = snprintf(req, sizeof req,
			     "GET /push/channels/%s?since=%lld HTTP/1.1\r\nHost: 127.0.0.1\r\nPrefer: wait=%d\r\n\r\n",
			     opt.channel, (long long)s->cursor, opt.wait_s);
	for (;;) {
		if (s->fd < 0) {
			struct epoll_event ev = {.events = EPOLLIN};
			s->fd = tcp_connect(opt.port);
			if (s->fd < 0)
				die("lpbench: connect to port %d: %s", opt.port, strerror(errno));
			ev.data.ptr = s;
			if (epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev) == -1)
				die("lpbench: epoll_ctl: %s", strerror(errno));
			s->rb.len = 0;
		}
		if (write_all(s->fd, req, (size_t)n) == 0)
			return;
		close(s->fd);
		s->fd = -1;
		reconnects++;
	}
}

/* A subscriber's response: count its messages, then park again. */
static void
sub_response(struct sub *s, struct response *r, int64_t t)
{
	const char *p;
	long long seq;
	int fresh = 0;

	if (opt.nchan && r->last_modified[0] != '\0') {
		memcpy(s->etag, r->etag, sizeof s->etag);
		memcpy(s->last_modified, r->last_modified, sizeof s->last_modified);
	}
	if (r->status == 204 || r->status == 304 || (opt.nchan && r->status == 408)) {
		timeouts++;
	} else if (r->status == 200) {
		for (p = strstr(r->body, "\"seq\":"); p != NULL; p = strstr(p + 6, "\"seq\":")) {
			seq = atoll(p + 6);
			if (seq > s->cursor) {
				s->cursor = seq;
				s->received++;
				fresh = 1;
			} else {
				s->dups++;
			}
		}
		if (fresh && s->got_ns == 0)
			s->got_ns = t;
		if (opt.idle_s > 0)
			unexpected++;
	} else {
		errors++;
		fprintf(stderr, "lpbench: subscriber got HTTP %d: %.200s\n", r->status, r->body);
	}
	if (repark)
		sub_park(s);
}

static int pub_done;
static int64_t pub_seq, pub_done_ns;

/* Process events for up to timeout_ms (one epoll_wait). */
static void
pump(int timeout_ms)
{
	struct epoll_event evs[256];
	struct response r;
	int n, i;
	int64_t t;

	n = epoll_wait(epfd, evs, 256, timeout_ms);
	t = now_ns();
	for (i = 0; i < n; i++) {
		struct sub *s = evs[i].data.ptr;
		struct rbuf *rb = s != NULL ? &s->rb : &pub_rb;
		int fd = s != NULL ? s->fd : pub_fd;
		ssize_t got = rbuf_fill(rb, fd);

		if (got <= 0) {
			if (got < 0 && errno == EINTR)
				continue;
			if (s == NULL) {
				/* The web server closes a kept-alive connection
				 * idle past its limit: reconnect before the next
				 * publish. Closed with a publish outstanding: fail. */
				if (!pub_done)
					die("lpbench: the publish connection closed (%s)",
					    got < 0 ? strerror(errno) : "EOF");
				epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
				pub_fd = -1;
				pub_rb.len = 0;
				continue;
			}
			epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
			close(fd);
			s->fd = -1;
			reconnects++;
			sub_park(s);
			continue;
		}
		for (;;) {
			int pr = parse_response(rb, &r);
			if (pr == 0)
				break;
			if (pr == -1)
				die("lpbench: malformed response: %.200s", rb->data);
			if (s == NULL) {
				if (r.status != 201 && !(opt.nchan && r.status == 202))
					die("lpbench: publish answered %d: %s", r.status, r.body);
				pub_seq = opt.nchan ? nchan_seq : json_int(r.body, "seq");
				pub_done_ns = t;
				pub_done = 1;
			} else {
				sub_response(s, &r, t);
			}
			free(r.body);
		}
	}
}

static long long
status_parked(void)
{
	struct response r;
	long long parked;

	if (opt.nchan) {
		char path[256];

		snprintf(path, sizeof path, "/pub/%s", opt.channel);
		if (bconn_request(&status_conn, "GET", path, "Accept: text/json\r\n", NULL, 0, &r) == -1)
			die("lpbench: GET %s failed", path);
		parked = r.status == 200 ? json_int(r.body, "subscribers") : 0;
		free(r.body);
		return parked;
	}
	if (bconn_request(&status_conn, "GET", "/push/status", "", NULL, 0, &r) == -1)
		die("lpbench: GET /push/status failed");
	parked = json_int(r.body, "parked");
	free(r.body);
	return parked;
}

/* Wait (serving events) until the subscriber's worker holds K parked. */
static void
wait_parked(int k, int timeout_ms)
{
	int64_t deadline = now_ns() + (int64_t)timeout_ms * 1000000;
	long long p = -1;

	while (now_ns() < deadline) {
		p = status_parked();
		if (p >= base_parked + k)
			return;
		pump(2);
	}
	die("lpbench: only %lld of %d long polls parked after %d ms (%lld before we started)", p - base_parked, k,
	    timeout_ms, base_parked);
}

static long long
publish_blocking(struct bconn *c, const char *data)
{
	struct response r;
	char path[256];
	long long seq;
	char nbody[64];

	if (opt.nchan) {
		snprintf(path, sizeof path, "/pub/%s", opt.channel);
		snprintf(nbody, sizeof nbody, "{\"seq\":%lld}", ++nchan_seq);
		data = nbody;
	} else {
		snprintf(path, sizeof path, "/push/channels/%s", opt.channel);
	}
	if (bconn_request(c, "POST", path, "Content-Type: text/plain\r\n", data, strlen(data), &r) == -1)
		die("lpbench: publish failed");
	if (r.status != 201 && !(opt.nchan && r.status == 202))
		die("lpbench: publish answered %d: %s", r.status, r.body);
	seq = opt.nchan ? nchan_seq : json_int(r.body, "seq");
	free(r.body);
	return seq;
}

static void
proc_stat(int pid, long long *ticks, long long *rss_kb)
{
	char path[64], buf[4096], *p;
	FILE *f;
	unsigned long long ut = 0, st = 0;
	int i;

	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (f == NULL || fgets(buf, sizeof buf, f) == NULL)
		die("lpbench: cannot read %s", path);
	fclose(f);
	p = strrchr(buf, ')');
	/* after ") ": field 3 (state) ... utime is field 14, stime 15 */
	for (i = 3, p += 2; i < 14 && p != NULL; i++) {
		p = strchr(p, ' ');
		if (p != NULL)
			p++;
	}
	if (p == NULL || sscanf(p, "%llu %llu", &ut, &st) != 2)
		die("lpbench: cannot parse %s", path);
	*ticks = (long long)(ut + st);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	f = fopen(path, "r");
	*rss_kb = -1;
	if (f != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL)
			if (strncmp(buf, "VmRSS:", 6) == 0)
				*rss_kb = atoll(buf + 6);
		fclose(f);
	}
}

static void
open_and_park(int64_t cursor)
{
	int i;

	base_parked = status_parked();
	subs = calloc((size_t)opt.subs, sizeof *subs);
	for (i = 0; i < opt.subs; i++) {
		subs[i].fd = -1;
		subs[i].cursor = cursor;
		sub_park(&subs[i]);
	}
	wait_parked(opt.subs, 20000);
}

static int
run_idle(void)
{
	long long t0[MAX_PIDS], t1[MAX_PIDS], rss0[MAX_PIDS], rss1[MAX_PIDS], dummy;
	int64_t start, end;
	long hz = sysconf(_SC_CLK_TCK);
	long long cursor, released_lost = 0, idle_unexpected;
	int64_t idle_start, idle_end;
	int i;

	cursor = publish_blocking(&prime_conn, "idle-prime");
	/* settle, so the baseline is not mid-request */
	usleep(200000);
	for (i = 0; i < opt.npids; i++)
		proc_stat(opt.pid[i], &dummy, &rss0[i]);
	open_and_park(cursor);
	/* Let the last parks and the status polls finish. */
	start = now_ns();
	while (now_ns() - start < 1000000000LL)
		pump(100);
	for (i = 0; i < opt.npids; i++)
		proc_stat(opt.pid[i], &t0[i], &rss1[i]);
	start = now_ns();
	end = start + (int64_t)opt.idle_s * 1000000000;
	while (now_ns() < end)
		pump((int)((end - now_ns()) / 1000000) + 1);
	end = now_ns();
	idle_start = start;
	idle_end = end;
	idle_unexpected = unexpected;
	for (i = 0; i < opt.npids; i++)
		proc_stat(opt.pid[i], &t1[i], &dummy);
	/* Release the parked polls with one message (each must get it), so
	 * none lingers in the worker after we leave. */
	repark = 0;
	for (i = 0; i < opt.subs; i++)
		subs[i].got_ns = 0;
	unexpected = 0;
	cursor = publish_blocking(&prime_conn, "idle-release");
	start = now_ns();
	for (;;) {
		int all = 1;
		for (i = 0; all && i < opt.subs; i++)
			if (subs[i].cursor < cursor)
				all = 0;
		if (all || now_ns() - start > 10000000000LL)
			break;
		pump(10);
	}
	for (i = 0; i < opt.subs; i++)
		if (subs[i].cursor < cursor)
			released_lost++;
	printf("RESULT kind=idle label=%s parked=%d seconds=%.2f unexpected=%lld reconnects=%lld lost=%lld",
	       opt.label, opt.subs, (double)(idle_end - idle_start) / 1e9, (long long)idle_unexpected,
	       (long long)reconnects, released_lost);
	for (i = 0; i < opt.npids; i++) {
		double cpu = (double)(t1[i] - t0[i]) / (double)hz;
		printf(" %s_cpu_s=%.2f %s_cpu_pct=%.3f %s_rss0_kb=%lld %s_rss1_kb=%lld %s_kb_per_parked=%.2f",
		       opt.pid_name[i], cpu, opt.pid_name[i], 100.0 * cpu / ((double)(idle_end - idle_start) / 1e9),
		       opt.pid_name[i], rss0[i], opt.pid_name[i], rss1[i], opt.pid_name[i],
		       (double)(rss1[i] - rss0[i]) / opt.subs);
	}
	printf("\n");
	return idle_unexpected == 0 && reconnects == 0 && released_lost == 0 ? 0 : 1;
}

static int
run_latency(void)
{
	int64_t *lat, *pub_lat, *last_lat, *first_lat, t0, deadline;
	size_t nlat = 0, nmsg = 0;
	long long cursor, lost = 0, dups = 0, wake_max;
	int m, i, total = opt.msgs + opt.warmup;
	char body[64], req[512];
	struct epoll_event ev = {.events = EPOLLIN};
	struct response r;
	FILE *raw = NULL;

	lat = calloc((size_t)opt.subs * (size_t)opt.msgs + 1, sizeof *lat);
	pub_lat = calloc((size_t)opt.msgs + 1, sizeof *pub_lat);
	last_lat = calloc((size_t)opt.msgs + 1, sizeof *last_lat);
	first_lat = calloc((size_t)opt.msgs + 1, sizeof *first_lat);

	cursor = publish_blocking(&prime_conn, "prime");
	pub_done = 1; /* nothing outstanding */
	open_and_park(cursor);

	for (m = 0; m < total; m++) {
		int measured = m >= opt.warmup, all;
		int n;

		if (pub_fd < 0) {
			pub_fd = tcp_connect(opt.pub_port);
			if (pub_fd < 0)
				die("lpbench: connect to port %d: %s", opt.pub_port, strerror(errno));
			ev.data.ptr = NULL;
			epoll_ctl(epfd, EPOLL_CTL_ADD, pub_fd, &ev);
		}
		for (i = 0; i < opt.subs; i++)
			subs[i].got_ns = 0;
		pub_done = 0;
		if (m + 1 == total)
			repark = 0; /* leave nothing parked behind */
		if (opt.nchan)
			snprintf(body, sizeof body, "{\"seq\":%lld}", ++nchan_seq);
		else
			snprintf(body, sizeof body, "message %d", m);
		n = snprintf(req, sizeof req,
			     "POST %s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     opt.nchan ? "/pub" : "/push/channels", opt.channel, strlen(body), body);
		t0 = now_ns();
		if (write_all(pub_fd, req, (size_t)n) == -1)
			die("lpbench: publish write: %s", strerror(errno));
		deadline = t0 + 10000000000LL;
		for (;;) {
			pump(10);
			all = pub_done;
			for (i = 0; all && i < opt.subs; i++)
				if (subs[i].got_ns == 0 || subs[i].cursor < pub_seq)
					all = 0;
			if (all || now_ns() > deadline)
				break;
		}
		if (!all)
			fprintf(stderr, "lpbench: message %d not delivered to every subscriber within 10 s\n", m);
		if (measured && pub_done) {
			int64_t first = INT64_MAX, last = 0, d;
			for (i = 0; i < opt.subs; i++) {
				if (subs[i].got_ns == 0)
					continue;
				d = subs[i].got_ns - t0;
				lat[nlat++] = d;
				if (d < first)
					first = d;
				if (d > last)
					last = d;
			}
			pub_lat[nmsg] = pub_done_ns - t0;
			first_lat[nmsg] = first;
			last_lat[nmsg] = last;
			nmsg++;
		}
		if (m + 1 < total)
			wait_parked(opt.subs, 20000);
	}
	for (i = 0; i < opt.subs; i++) {
		lost += total - subs[i].received;
		dups += subs[i].dups;
	}
	if (opt.nchan) {
		wake_max = -1;
	} else if (bconn_request(&status_conn, "GET", "/push/status", "", NULL, 0, &r) == 0) {
		const char *w = strstr(r.body, "\"wake_latency_us\"");
		wake_max = w != NULL ? json_int(w, "max") : -1;
		free(r.body);
	} else {
		wake_max = -1;
	}
	if (opt.raw != NULL && (raw = fopen(opt.raw, "w")) != NULL) {
		for (size_t j = 0; j < nlat; j++)
			fprintf(raw, "%lld\n", (long long)lat[j]);
		fclose(raw);
	}
	qsort(lat, nlat, sizeof *lat, cmp_i64);
	qsort(pub_lat, nmsg, sizeof *pub_lat, cmp_i64);
	qsort(last_lat, nmsg, sizeof *last_lat, cmp_i64);
	qsort(first_lat, nmsg, sizeof *first_lat, cmp_i64);
#define US(x) ((double)(x) / 1000.0)
	printf("RESULT kind=lp label=%s subs=%d msgs=%d samples=%zu lost=%lld dups=%lld timeouts=%lld "
	       "reconnects=%lld errors=%lld p50_us=%.0f p99_us=%.0f max_us=%.0f first_p50_us=%.0f first_p99_us=%.0f "
	       "last_p50_us=%.0f last_p99_us=%.0f pub_p50_us=%.0f pub_p99_us=%.0f worker_wake_max_us=%lld\n",
	       opt.label, opt.subs, opt.msgs, nlat, lost, dups, (long long)timeouts, (long long)reconnects,
	       (long long)errors, US(pct(lat, nlat, 50)), US(pct(lat, nlat, 99)), US(pct(lat, nlat, 100)),
	       US(pct(first_lat, nmsg, 50)), US(pct(first_lat, nmsg, 99)), US(pct(last_lat, nmsg, 50)), US(pct(last_lat, nmsg, 99)),
	       US(pct(pub_lat, nmsg, 50)), US(pct(pub_lat, nmsg, 99)), wake_max);
	return lost == 0 && dups == 0 && errors == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (v == NULL)
			die("lpbench: %s wants a value", a);
		i++;
		if (strcmp(a, "--port") == 0)
			opt.port = atoi(v);
		else if (strcmp(a, "--pub-port") == 0)
			opt.pub_port = atoi(v);
		else if (strcmp(a, "--channel") == 0)
			opt.channel = v;
		else if (strcmp(a, "--subs") == 0)
			opt.subs = atoi(v);
		else if (strcmp(a, "--msgs") == 0)
			opt.msgs = atoi(v);
		else if (strcmp(a, "--wait") == 0)
			opt.wait_s = atoi(v);
		else if (strcmp(a, "--warmup") == 0)
			opt.warmup = atoi(v);
		else if (strcmp(a, "--label") == 0)
			opt.label = v;
		else if (strcmp(a, "--nchan") == 0)
			opt.nchan = atoi(v);
		else if (strcmp(a, "--raw") == 0)
			opt.raw = v;
		else if (strcmp(a, "--idle") == 0)
			opt.idle_s = atoi(v);
		else if (strcmp(a, "--pid") == 0 && opt.npids < MAX_PIDS && strchr(v, '=') != NULL) {
			opt.pid_name[opt.npids] = strndup(v, (size_t)(strchr(v, '=') - v));
			opt.pid[opt.npids++] = atoi(strchr(v, '=') + 1);
		} else
			die("lpbench: unknown option %s", a);
	}
	if (opt.port <= 0 || opt.channel == NULL || opt.subs <= 0 || opt.msgs <= 0)
		die("usage: lpbench --port P [--pub-port Q] --channel CH --subs K [--msgs M] [--wait W] "
		    "[--warmup N] [--label L] [--raw FILE] [--nchan 1] [--idle S --pid NAME=PID ...]");
	if (opt.pub_port == 0)
		opt.pub_port = opt.port;
	raise_nofile();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	status_conn.port = opt.port;
	status_conn.fd = -1;
	prime_conn.port = opt.pub_port;
	prime_conn.fd = -1;
	return opt.idle_s > 0 ? run_idle() : run_latency();
}
