/* SPDX-License-Identifier: MIT */
/*
 * fanout: hold N Server-Sent Events subscribers on one channel with epoll,
 * publish M messages whose bodies are their publish time, and report the
 * publish -> receive latency of every delivery and how many were lost.
 * Works against fcpush and against nginx + Nchan (eventsource subscriber):
 * both take a POST to publish and a GET with Accept: text/event-stream.
 *
 * Subscribers speak HTTP/1.0 so that the stream arrives unchunked and a
 * "data: " line is never split by chunk framing. With --ws they are
 * WebSocket clients instead (RFC 6455 handshake; the server's text frames
 * carry either the bare publish time, as Nchan sends it, or a JSON message
 * whose "data" is the publish time, as fcpush-ws sends it). Bounded: stops
 * after --timeout-s whatever happens.
 *
 *   fanout --port P --sub-path PATH --pub-path PATH --subs N --msgs M
 *          [--interval-ms 200] [--timeout-s 60] [--ready-file F] [--ws 1]
 *          [--sub-unix PATH]
 *
 * --pub-port Q: publishes go to port Q instead of P. --pub-grip CH: publish
 * as a GRIP control request (Pushpin's HTTP publish API, POST /publish/),
 * the body {"items":[{"channel":CH,"formats":{"http-stream":{"content":
 * "data: TIME\n\n"}}}]}, so the subscribers of a Pushpin stream get the
 * same SSE event as from fcpush and Nchan.
 *
 * --sub-port2 P2: every other subscriber connects to port P2 instead of P
 * (two web nodes sharing one store: subscribers on both, publishes on one).
 *
 * --sub-unix: subscribers connect to the unix socket PATH instead of port P
 * (publishes still go to P): straight to fcpush-ws, bypassing the web
 * server's proxy.
 *
 * A subscriber answered with another status than 200 (101 for WebSocket) is
 * opened again (an EventSource would reconnect too): Pushpin answers 502 to
 * a few of a thousand simultaneous connects when its queue to zurl is full.
 *
 * Prints one line of key=value pairs: subs, ready, msgs, expected, received,
 * lost, p50_ms, p99_ms, max_ms, retried.
 */
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/un.h>

#include "httpc.h"

struct sub {
	int fd;
	int state; /* 0 connecting, 1 sent, 2 headers seen */
	char line[256];
	size_t linelen;
	unsigned char frame[2048]; /* WebSocket: bytes of an incomplete frame */
	size_t framelen;
	int got;
	int headers_done;
	int nl_run; /* consecutive newlines while reading headers */
	int status; /* of the response, from its status line */
};

/* The port subscriber i connects to: every other one to port2 when set. */
static int
sub_port(long i, int port, int port2)
{
	return port2 != 0 && i % 2 == 1 ? port2 : port;
}

/* A non-blocking connection to 127.0.0.1:port (TCP_NODELAY), or -1. */
static int
connect_to(int port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;

	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A non-blocking connection to the unix socket at path, or -1. */
static int
connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd == -1 || strlen(path) >= sizeof sa.sun_path) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 && errno != EINPROGRESS && errno != EAGAIN) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One blocking publish; returns 0 when the answer was 2xx. */
static int
publish(int port, const char *path, const char *body, const char *content_type)
{
	char req[768], resp[512];
	int fd = tcp_connect(port), n, ok = -1;

	if (fd == -1)
		return -1;
	n = snprintf(req, sizeof req,
		     "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		     "Connection: close\r\n\r\n%s",
		     path, content_type, strlen(body), body);
	if (write(fd, req, (size_t)n) == n && (n = (int)read(fd, resp, sizeof resp - 1)) > 12) {
		resp[n] = '\0';
		ok = resp[9] == '2' ? 0 : -1;
	}
	close(fd);
	return ok;
}

/* A complete line of an event stream arrived. */
static void
on_line(struct sub *s, const char *line, int64_t *lat, size_t *nlat)
{
	int64_t sent;

	if (strncmp(line, "data: ", 6) != 0 && strncmp(line, "data:", 5) != 0)
		return;
	sent = strtoll(line + (line[5] == ' ' ? 6 : 5), NULL, 10);
	if (sent <= 0)
		return;
	lat[(*nlat)++] = now_ns() - sent;
	s->got++;
}

/* A whole WebSocket text frame's payload: the publish time, bare or as the
 * "data" of a JSON message. */
static void
on_ws_text(struct sub *s, const char *p, size_t n, int64_t *lat, size_t *nlat)
{
	char tmp[64];
	const char *d;
	size_t k;

	if (n > 0 && p[0] == '{') {
		d = memmem(p, n, "\"data\":\"", 8);
		if (d == NULL)
			return; /* not a message (an ack, a gap notice) */
		d += 8;
		n -= (size_t)(d - p);
		p = d;
	}
	for (k = 0; k < n && k < sizeof tmp - 1 && p[k] >= '0' && p[k] <= '9'; k++)
		tmp[k] = p[k];
	tmp[k] = '\0';
	if (k == 0)
		return;
	lat[(*nlat)++] = now_ns() - strtoll(tmp, NULL, 10);
	s->got++;
}

/* WebSocket frames from the server (unmasked, RFC 6455 §5.2), which may
 * straddle reads. Only small text frames are expected; others are skipped. */
static void
on_ws_bytes(struct sub *s, const char *p, size_t n, int64_t *lat, size_t *nlat)
{
	size_t hdr, len, take;

	while (n > 0) {
		take = sizeof s->frame - s->framelen < n ? sizeof s->frame - s->framelen : n;
		memcpy(s->frame + s->framelen, p, take);
		s->framelen += take;
		p += take;
		n -= take;
		for (;;) {
			if (s->framelen < 2)
				break;
			len = s->frame[1] & 0x7f;
			hdr = 2;
			if (len == 126) {
				if (s->framelen < 4)
					break;
				len = (size_t)s->frame[2] << 8 | s->frame[3];
				hdr = 4;
			} else if (len == 127) {
				s->framelen = 0; /* far larger than any message here */
				break;
			}
			if (hdr + len > sizeof s->frame) {
				s->framelen = 0;
				break;
			}
			if (s->framelen < hdr + len)
				break;
			if ((s->frame[0] & 0x0f) == 1)
				on_ws_text(s, (const char *)s->frame + hdr, len, lat, nlat);
			memmove(s->frame, s->frame + hdr + len, s->framelen - hdr - len);
			s->framelen -= hdr + len;
		}
	}
}

static int ws_mode;

static void
on_data(struct sub *s, const char *p, size_t n, int64_t *lat, size_t *nlat)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		if (!s->headers_done) {
			if (c == '\n') {
				if (++s->nl_run == 2) {
					s->headers_done = 1;
					s->state = 2;
					if (ws_mode) {
						on_ws_bytes(s, p + i + 1, n - i - 1, lat, nlat);
						return;
					}
				}
			} else if (c != '\r') {
				s->nl_run = 0;
			}
			continue;
		}
		if (ws_mode) {
			on_ws_bytes(s, p + i, n - i, lat, nlat);
			return;
		}
		if (c == '\n' || c == '\r') {
			s->line[s->linelen] = '\0';
			if (s->linelen > 0)
				on_line(s, s->line, lat, nlat);
			s->linelen = 0;
		} else if (s->linelen < sizeof s->line - 1) {
			s->line[s->linelen++] = c;
		}
	}
}

int
main(int argc, char **argv)
{
	int port = 0, nsubs = 100, nmsgs = 10, interval_ms = 200, timeout_s = 60, i, n, ready = 0, published = 0;
	const char *sub_path = NULL, *pub_path = NULL, *ready_file = NULL, *sub_unix = NULL, *grip_channel = NULL;
	int pub_port = 0, sub_port2 = 0;
	long long retried = 0;
	struct epoll_event ev, evs[512];
	struct sub *subs;
	int64_t *lat, start, next_pub = 0, deadline, t;
	size_t nlat = 0, received;
	char req[512], buf[65536], body[384];
	int epfd, connected = 0, reqlen;

	for (i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--port") == 0)
			port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--pub-port") == 0)
			pub_port = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--sub-port2") == 0)
			sub_port2 = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--pub-grip") == 0)
			grip_channel = argv[i + 1];
		else if (strcmp(argv[i], "--sub-unix") == 0)
			sub_unix = argv[i + 1];
		else if (strcmp(argv[i], "--sub-path") == 0)
			sub_path = argv[i + 1];
		else if (strcmp(argv[i], "--pub-path") == 0)
			pub_path = argv[i + 1];
		else if (strcmp(argv[i], "--subs") == 0)
			nsubs = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--msgs") == 0)
			nmsgs = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--interval-ms") == 0)
			interval_ms = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--timeout-s") == 0)
			timeout_s = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--ready-file") == 0)
			ready_file = argv[i + 1];
		else if (strcmp(argv[i], "--ws") == 0)
			ws_mode = atoi(argv[i + 1]);
	}
	if (port == 0 || sub_path == NULL || pub_path == NULL || nsubs <= 0 || nmsgs <= 0) {
		fprintf(stderr, "usage: fanout --port P --sub-path PATH --pub-path PATH --subs N --msgs M\n");
		return 2;
	}
	subs = calloc((size_t)nsubs, sizeof *subs);
	lat = calloc((size_t)nsubs * (size_t)nmsgs + 1, sizeof *lat);
	epfd = epoll_create1(0);
	if (ws_mode)
		reqlen = snprintf(req, sizeof req,
				  "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
				  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
				  sub_path);
	else
		reqlen = snprintf(req, sizeof req,
				  "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n", sub_path);
	start = now_ns();
	deadline = start + (int64_t)timeout_s * 1000000000;

	while (now_ns() < deadline) {
		/* Open subscribers in waves of 256 so no listen backlog overflows. */
		while (connected < nsubs && connected - ready < 256) {
			struct sub *s = &subs[connected];

			s->fd = sub_unix != NULL ? connect_unix(sub_unix) : connect_to(sub_port(connected, port, sub_port2));
			if (s->fd == -1) {
				fprintf(stderr, "fanout: connect %d: %s\n", connected, strerror(errno));
				return 1;
			}
			ev.events = EPOLLOUT | EPOLLIN;
			ev.data.ptr = s;
			epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
			connected++;
		}
		if (ready == nsubs && published == 0 && ready_file != NULL) {
			/* Tell the driver every subscriber is held (it measures RSS),
			 * and wait for it to remove the file before publishing. */
			FILE *f = fopen(ready_file, "w");

			if (f != NULL) {
				fprintf(f, "%d\n", ready);
				fclose(f);
			}
			while (access(ready_file, F_OK) == 0 && now_ns() < deadline)
				usleep(20000);
			ready_file = NULL;
			next_pub = now_ns();
		}
		if (ready == nsubs && published < nmsgs && now_ns() >= next_pub) {
			if (grip_channel != NULL)
				snprintf(body, sizeof body,
					 "{\"items\":[{\"channel\":\"%s\",\"formats\":{\"http-stream\":"
					 "{\"content\":\"data: %lld\\n\\n\"}}}]}",
					 grip_channel, (long long)now_ns());
			else
				snprintf(body, sizeof body, "%lld", (long long)now_ns());
			if (publish(pub_port > 0 ? pub_port : port, pub_path, body,
				    grip_channel != NULL ? "application/json" : "text/plain") == 0)
				published++;
			next_pub = now_ns() + (int64_t)interval_ms * 1000000;
			/* What has not come 10 s after the last publish is lost. */
			if (published == nmsgs && deadline > now_ns() + 10000000000LL)
				deadline = now_ns() + 10000000000LL;
		}
		if (published == nmsgs && nlat == (size_t)nsubs * (size_t)nmsgs)
			break;
		n = epoll_wait(epfd, evs, 512, 5);
		for (i = 0; i < n; i++) {
			struct sub *s = evs[i].data.ptr;
			ssize_t r;

			if (s->state == 0 && (evs[i].events & EPOLLOUT)) {
				if (write(s->fd, req, (size_t)reqlen) != reqlen) {
					fprintf(stderr, "fanout: request write failed\n");
					return 1;
				}
				s->state = 1;
				ev.events = EPOLLIN;
				ev.data.ptr = s;
				epoll_ctl(epfd, EPOLL_CTL_MOD, s->fd, &ev);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
				int was = s->headers_done;

				r = read(s->fd, buf, sizeof buf);
				if (r <= 0) {
					if (r == -1 && errno == EAGAIN)
						continue;
					epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
					close(s->fd);
					s->fd = -1;
					if (!was)
						ready++; /* counted, so the run goes on; it will show as lost */
					continue;
				}
				if (!was && s->status == 0 && r >= 12 && memcmp(buf, "HTTP/1.", 7) == 0)
					s->status = atoi(buf + 9);
				on_data(s, buf, (size_t)r, lat, &nlat);
				if (!was && s->headers_done && s->status != (ws_mode ? 101 : 200)) {
					/* Refused: open it again. */
					epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
					close(s->fd);
					memset(s, 0, sizeof *s);
					s->fd = sub_unix != NULL ? connect_unix(sub_unix)
								 : connect_to(sub_port(s - subs, port, sub_port2));
					if (s->fd == -1) {
						fprintf(stderr, "fanout: connect: %s\n", strerror(errno));
						return 1;
					}
					ev.events = EPOLLOUT | EPOLLIN;
					ev.data.ptr = s;
					epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
					retried++;
					continue;
				}
				if (!was && s->headers_done)
					ready++;
			}
		}
	}
	t = now_ns();
	received = nlat;
	qsort(lat, nlat, sizeof *lat, cmp_i64);
	printf("subs=%d ready=%d msgs=%d published=%d expected=%lld received=%zu lost=%lld p50_ms=%.2f "
	       "p99_ms=%.2f max_ms=%.2f elapsed_s=%.1f retried=%lld\n",
	       nsubs, ready, nmsgs, published, (long long)nsubs * nmsgs, received,
	       (long long)nsubs * nmsgs - (long long)received, nlat ? lat[nlat / 2] / 1e6 : -1.0,
	       nlat ? lat[(size_t)((double)nlat * 0.99)] / 1e6 : -1.0, nlat ? lat[nlat - 1] / 1e6 : -1.0,
	       (double)(t - start) / 1e9, retried);
	for (i = 0; i < nsubs; i++) {
		if (subs[i].fd > 0)
			close(subs[i].fd);
	}
	free(subs);
	free(lat);
	return 0;
}
