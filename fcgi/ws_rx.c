/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws's client frames, checked before lws parses them (ws.h's frame
 * check) by interposing recv(2) and send(2).
 */
#include <errno.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>
#include "config.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "route.h"
#include "store.h"
#include "supervise.h"
#include "util.h"
#include "ws.h"

#include "wsd.h"

/* The frame check of every socket, by fd. File-scope because recv and
 * send below are called by lws with nothing but the fd: the one mutable
 * state of fcpush-ws outside struct wsd. */
static struct wrx *wsd_rx;
static size_t wsd_nrx;
/* Set on the thread that runs the lws loop (the one that makes slots):
 * recv and send below leave every other thread's sockets alone. Other
 * threads use sockets too (a store backend's client library, such as
 * libnats' reader thread) and must neither race the loop on wsd_rx nor
 * have their bytes taken for WebSocket frames. */
static _Thread_local int wsd_rx_thread;

/* Forget c in its socket's frame check: c is being freed. */
void
wsd_rx_detach(const struct wconn *c)
{
	if (c->fd >= 0 && (size_t)c->fd < wsd_nrx && wsd_rx[c->fd].c == c)
		wsd_rx[c->fd].c = NULL;
}

/* Free every socket's frame check (at exit, after the last connection). */
void
wsd_rx_free(void)
{
	size_t i;

	for (i = 0; i < wsd_nrx; i++)
		ws_frame_check_fini(&wsd_rx[i].fc);
	free(wsd_rx);
	wsd_rx = NULL;
	wsd_nrx = 0;
}

/* ---- client frames, checked before lws parses them --------------------------- */

struct wrx *
wsd_rx_slot(int fd)
{
	size_t n;

	if (fd < 0)
		return NULL;
	wsd_rx_thread = 1;
	if ((size_t)fd >= wsd_nrx) {
		n = wsd_nrx == 0 ? 1024 : wsd_nrx;
		while (n <= (size_t)fd)
			n *= 2;
		wsd_rx = xrealloc(wsd_rx, n * sizeof *wsd_rx);
		memset(wsd_rx + wsd_nrx, 0, (n - wsd_nrx) * sizeof *wsd_rx);
		wsd_nrx = n;
	}
	return &wsd_rx[fd];
}

/* The frame check of c's socket, NULL when it has none. */
static struct ws_frame_check *
wconn_frame_check(const struct wconn *c)
{
	return c->fd >= 0 && (size_t)c->fd < wsd_nrx && wsd_rx[c->fd].active ? &wsd_rx[c->fd].fc : NULL;
}

/* Whether c's client sent a bad frame (its frame check says so). */
int
wconn_sent_bad_frame(const struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	return fc != NULL && fc->close_code != 0;
}

/* Close c, which sent a bad frame, with the code its frame check chose
 * once its queue is out; it gets nothing more. */
void
wconn_close_bad_frame(struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	c->close_after_acks = 0;
	if (fc != NULL && fc->close_code != 0)
		wsd_close_when_sent(c, fc->close_code, fc->why);
	else
		wsd_close_when_sent(c, LWS_CLOSE_STATUS_PROTOCOL_ERR, "protocol error");
	c->dropped = 1;
}

/* c's client sent a bad frame (ws.h: unmasked, an oversized control frame,
 * a bad length, a bad close frame): the publishes it sent before it commit
 * (their acks are queued), then it gets nothing more and is closed with
 * 1002 or 1007 once its queue is out (RFC 6455 §7.1.7, §7.4.1). From the
 * WRITEABLE callback, so that lws has delivered every frame before the bad
 * one. With publishes not yet answered (waiting for or in the commit
 * thread's batch), it reads nothing more and takes no message from here on,
 * and the close waits for their acks (wsd_committed). */
void
wconn_bad_frame(struct wconn *c)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	log_info("closing a WebSocket that sent a bad frame (%d: %s)", fc->close_code, fc->why);
	c->peer_closed = 1;
	if (c->unacked > 0) {
		wconn_unsubscribe_all(c);
		c->close_after_acks = 1;
		return;
	}
	wconn_close_bad_frame(c);
}

/* The client's close frame, as lws passes it on (payload, len bytes), which
 * lws then echoes. The frame check has refused every invalid one already; lws
 * 4.1.6 also rewrites the registered codes 1012-1014 to 1002 (ops-ws.c),
 * which the IANA registry assigns (service restart, try again later, bad
 * gateway): put back the code the client sent. */
void
wconn_peer_close(struct wconn *c, unsigned char *payload, size_t len)
{
	const struct ws_frame_check *fc = wconn_frame_check(c);

	c->peer_closed = 1;
	c->peer_code = len >= 2 ? (int)((unsigned)payload[0] << 8 | payload[1]) : 1005;
	if (fc != NULL && len >= 2 && ((unsigned)payload[0] << 8 | payload[1]) == LWS_CLOSE_STATUS_PROTOCOL_ERR &&
	    fc->peer_close >= 1012 && fc->peer_close <= 1014) {
		payload[0] = (unsigned char)(fc->peer_close >> 8);
		payload[1] = (unsigned char)fc->peer_close;
		c->peer_code = fc->peer_close;
	}
}

/*
 * recv(2), as libwebsockets calls it for each read from a connection: the
 * definition in the executable takes the place of libc's for the library
 * too (ELF symbol interposition, as a malloc replacement does). It reads
 * with recvfrom(2) and runs what it read through the connection's frame
 * check. lws gets the bytes before a bad frame; from that frame on it gets
 * nothing (EAGAIN: what arrives is read and discarded), and the next
 * WRITEABLE callback closes the connection with 1002 or 1007
 * (wconn_bad_frame). lws reads its adopted files (inotify, signalfd) with
 * read(2), so only sockets come here.
 */
ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);
	struct wrx *r;
	size_t ok;

	if (n <= 0 || !wsd_rx_thread || (flags & MSG_PEEK) != 0 || fd < 0 || (size_t)fd >= wsd_nrx ||
	    !wsd_rx[fd].active)
		return n;
	r = &wsd_rx[fd];
	if (r->fc.close_code != 0) {
		errno = EAGAIN;
		return -1;
	}
	ok = ws_frame_check_feed(&r->fc, buf, (size_t)n);
	if (r->fc.close_code == 0)
		return n;
	if (r->c != NULL)
		lws_callback_on_writable(r->c->wsi); /* wsd_writeable closes it */
	if (ok == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)ok;
}

/*
 * send(2), as libwebsockets calls it for each write to a connection
 * (interposed like recv above). It only watches: a write that starts with
 * the first byte of a close frame (FIN + opcode 8) is lws's close frame.
 * lws sends one on its own when it closes for a protocol error of the
 * client's (1002, 1007), and no callback of ours says so; after it, no data
 * frame may follow (RFC 6455 §5.5.1), so fcpush-ws writes nothing more
 * there. A frame starts a write: lws sends a close frame only once the rest
 * of any partial frame is out. Writes of such a rest (lws_partial_buffered
 * while it lasts) start anywhere in a frame and are not looked at.
 */
ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	struct wconn *c;

	if (wsd_rx_thread && len >= 2 && *(const unsigned char *)buf == 0x88 && fd >= 0 && (size_t)fd < wsd_nrx &&
	    (c = wsd_rx[fd].c) != NULL && !lws_partial_buffered(c->wsi))
		c->close_sent = 1;
	return sendto(fd, buf, len, flags, NULL, 0);
}

/* The request target as sent (path and query string, still
 * percent-encoded: route_parse decodes it once, as for HTTP), kept by the
 * frame check of wsi's socket; NULL when there is none or it was over
 * WS_MAX_TARGET_BYTES (*too_long set). Not lws's WSI_TOKEN_GET_URI: lws has
 * decoded that once already, and collapsed its path. Caller frees. */
char *
wsd_request_uri(struct lws *wsi, int *too_long)
{
	int fd = lws_get_socket_fd(wsi);
	const struct ws_frame_check *fc;

	*too_long = 0;
	if (fd < 0 || (size_t)fd >= wsd_nrx || !wsd_rx[fd].active)
		return NULL;
	fc = &wsd_rx[fd].fc;
	*too_long = fc->target_too_long;
	if (fc->target_too_long || fc->target.len == 0)
		return NULL;
	return xstrndup(fc->target.data, fc->target.len);
}
