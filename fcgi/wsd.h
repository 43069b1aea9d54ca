/* SPDX-License-Identifier: MIT */
/*
 * fcpush-ws internals shared by ws_main.c, ws_conn.c, ws_commit.c and
 * ws_rx.c (see ws_main.c for how the daemon works); ws_proto.c, the
 * conversation without libwebsockets, is in the library.
 */
#ifndef FCPUSH_WSD_H
#define FCPUSH_WSD_H

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
#include "feed.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "retention.h"
#include "route.h"
#include "store.h"
#include "subindex.h"
#include "supervise.h"
#include "util.h"
#include "ws.h"
#include "ws_proto.h"

#define WSD_CATCH_UP_PAGE 100 /* most rows in one read of a connection's history */
#define WSD_SHUTDOWN_MS 2000
#define WSD_DRAIN_GRACE_MS 5000

struct wsd;
struct wconn;

/* One frame to send: JSON text, or a binary message (ws.h), with LWS_PRE
 * bytes of headroom before it for lws_write. Shared by every connection it
 * is queued to. */
struct wframe {
	unsigned refs;
	int binary;
	size_t len;
	unsigned char data[]; /* LWS_PRE + len */
};

struct wq {
	struct wframe *f;
	struct wq *next;
};

/* A cursor shared by the channels subscribed together (the URL's, or one
 * subscribe command's): its messages arrive in seq order, so the seq of the
 * last one received is a safe cursor for all of them. */
struct wgroup {
	int64_t since;
	int behind;
	size_t nsubs;
};

struct wsub {
	struct wconn *c;
	struct wgroup *g;
	struct subindex_chan *ch; /* its channel's list in the index */
	size_t slot; /* index in ch->v (subindex.h) */
};

struct wconn {
	struct wsd *d;
	struct lws *wsi;
	int fd; /* its socket: the index of its wsd_rx slot */
	struct wconn *prev, *next;
	struct wq *head, *tail;
	size_t pending;   /* bytes queued */
	size_t last_unit; /* bytes of the frame queued last */
	size_t catch_up_unit; /* bytes of the history frame queued last (0: none yet) */
	struct wsub **subs;
	size_t nsubs;
	struct buf rx; /* a message arriving in fragments */
	int rx_binary;
	int close_code; /* close once the queue is sent (0: none) */
	const char *close_text;
	int dropped;     /* closing: queue nothing more */
	int over;        /* went over ws_max_pending_bytes; sul_over judges it */
	uint64_t sent;   /* bytes of frames written */
	uint64_t over_sent; /* sent when it went over */
	lws_sorted_usec_list_t sul_over;
	lws_sorted_usec_list_t sul_close; /* starts the close handshake */
	int rx_paused;   /* over the bound: its input is not read (lws_rx_flow_control) */
	int peer_closed; /* the client sent a close frame: ignore what follows */
	int close_sent;  /* lws sent a close frame: no data frame may follow */
	size_t unacked;  /* its publishes not yet answered (ack or error) */
	size_t in_flight; /* of those, in the commit thread's batch: it takes no message */
	int close_after_acks; /* sent a bad frame: close once unacked is 0 */
	int peer_code;   /* the code of the client's close frame (1005: none in it; 0: no frame) */
	char *path;      /* the request path, for the close log line */
	uint64_t delivered; /* message frames queued to it */
	struct auth_claims *claims; /* what its handshake's token grants; NULL: no token */
	int claims_from_cookie;     /* that token came in a cookie: it may not publish */
	lws_sorted_usec_list_t sul_auth; /* closes it 4401 when the token expires */
};

/* A publish waiting for the next group commit, or in the batch the commit
 * thread holds. */
struct wpub {
	struct wconn *c; /* NULL once its connection closed */
	struct ws_command cmd;
};

/* Where the batch handed to the commit thread is. */
enum wbatch_state {
	WBATCH_IDLE,  /* no batch: the loop may hand one over */
	WBATCH_READY, /* handed over: the thread owns groups */
	WBATCH_DONE,  /* committed (result set): the loop takes it back */
};

/* The commit thread: commits one batch of publishes at a time on a writer
 * connection of its own, then writes efd. Only the fields under lock are
 * shared; groups (and what they point to) belong to the thread from
 * WBATCH_READY until it sets WBATCH_DONE, to the loop otherwise. Not
 * commit.h's committer: that lets many threads share one writer, each
 * blocked until its transaction commits; here one loop submits and may not
 * block, and one batch in flight, with what arrives meanwhile going in the
 * next, is the same group commit without a second hand-off. */
struct wcommit {
	struct store *writer;
	int efd;     /* eventfd: a batch is done */
	int efd_dup; /* the eventfd as adopted by lws */
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the thread waits here for a batch or the stop */
	enum wbatch_state state;
	int stopping;
	struct store_group *groups;
	size_t ngroups;
	enum store_result result;
};

/* The close codes counted one by one in fcpush_ws_closes_total (RFC 6455
 * §7.4.1 and the IANA registry, and ours); others count as "other". */
static const int wsd_close_codes[] = {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008,
				      1009, 1010, 1011, 1012, 1013, 1014, WS_CLOSE_AUTH_EXPIRED, WS_CLOSE_DELETED};
#define WSD_CLOSE_SLOTS (sizeof wsd_close_codes / sizeof wsd_close_codes[0] + 1)



/* Counters for GET /metrics (wsd_metrics). Only the loop's thread touches
 * them. */
struct wsd_stats {
	int64_t started_ms;
	uint64_t opened;        /* WebSockets established */
	uint64_t refused;       /* handshakes refused */
	uint64_t closes[WSD_CLOSE_SLOTS]; /* closed connections, by close code */
	uint64_t delivered;     /* message frames queued to connections */
	uint64_t acked;         /* publishes acknowledged */
	uint64_t publish_errors; /* publishes answered with an error after the commit */
	uint64_t dropped;       /* closed 1013 for reading too slowly */
	uint64_t transactions;  /* commit-thread transactions that committed */
	uint64_t committed;     /* messages they committed */
	struct metrics_hist batch; /* messages per such transaction */
};

/* The process. */
struct wsd {
	struct config cfg;
	struct auth *auth; /* access control (auth.h) */
	struct store *st;
	struct json_parse *jp; /* parses client commands; the daemon's own */
	struct ws_proto proto; /* the conversation with clients (ws_proto.h) */
	struct feed *feed; /* reads new rows (feed.h) */
	int wake_dup; /* the feed's fd as adopted by lws */
	int sig_fd;
	int sig_dup; /* the signalfd as adopted by lws */
	const char *config_path; /* --config, re-read on SIGHUP; NULL when none */
	uv_loop_t loop; /* ours, lent to lws as a foreign loop */
	int loop_ready;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	lws_retry_bo_t retry;
	struct subindex *index; /* channel → subscriptions (struct wsub) */
	struct wconn *conns;
	size_t nconns;
	struct wpub *pubs; /* received, for the next batch */
	size_t npubs, pubs_cap;
	struct wpub *flight; /* the batch the commit thread holds (nflight 0: none) */
	size_t nflight, flight_cap;
	struct store_group *fgroups; /* flight's groups, publishes and seqs */
	struct store_pub *fpubs;
	int64_t *fseqs;
	struct store_outcome *fouts; /* which were replays of an idempotency key */
	size_t fcap;
	struct wcommit commit;
	lws_sorted_usec_list_t sul_commit;
	struct retention *retention; /* the retention thread (retention.h) */
	int recheck_fd;  /* timerfd of the re-reads after a WAL write */
	int recheck_dup; /* the timerfd as adopted by lws */
	lws_sorted_usec_list_t sul_stop;
	int stopping;
	int done;
	struct buf scratch;
	struct wsd_stats stats;
};

/* What lws keeps per connection: a pointer to ours. */
struct wpss {
	struct wconn *c;
};

/* A connection's frame check (ws.h), by socket fd: reset when lws accepts
 * the socket, tied to its wconn once the handshake is done. */
struct wrx {
	struct ws_frame_check fc;
	struct wconn *c;
	int active;
};


/* ws_main.c */

/* ws_conn.c */
void wconn_queue_buf(struct wconn *c, const struct buf *b, int binary);
void wconn_clear_queue(struct wconn *c);
void wconn_unsubscribe_all(struct wconn *c);
void wsd_close_when_sent(struct wconn *c, int code, const char *text);
void wconn_catch_up(struct wconn *c);
void wconn_free(struct wconn *c);
extern const struct feed_ops wsd_feed_ops;
int wsd_recheck_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
int wsd_wake_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
int wsd_established(struct wsd *d, struct lws *wsi, struct wpss *pss);
int wsd_writeable(struct wconn *c);
int wsd_receive(struct wconn *c, const void *in, size_t len);
extern const struct ws_proto_ops wconn_proto_ops;
void wsd_closed(struct wconn *c);

/* ws_commit.c */
int wcommit_start(struct wcommit *w, const struct config *cfg, char **cause);
enum wbatch_state wcommit_stop(struct wcommit *w);
void wcommit_fini(struct wcommit *w);
void wsd_publish(void *conn, struct ws_command *cmd);
void wsd_flight_clear(struct wsd *d);
void wsd_committed(struct wsd *d, enum store_result r);
int wsd_committed_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

/* ws_rx.c */
void wsd_rx_detach(const struct wconn *c);
void wsd_rx_free(void);
struct wrx *wsd_rx_slot(int fd);
int wconn_sent_bad_frame(const struct wconn *c);
void wconn_close_bad_frame(struct wconn *c);
void wconn_bad_frame(struct wconn *c);
void wconn_peer_close(struct wconn *c, unsigned char *payload, size_t len);
char *wsd_request_uri(struct lws *wsi, int *too_long);

/* ws_main.c: the handshake's headers. */
/* Copy header h of wsi into a new string (caller frees), NULL when absent. */
char *wsd_header(struct lws *wsi, enum lws_token_indexes h);
/* The token of wsi's handshake (auth_token_from: Authorization, then
 * ?access_token= in uri, then, with allow_cookie, the cookie named by
 * auth_cookie). Caller frees; NULL when none. */
char *wsd_token(struct wsd *d, struct lws *wsi, const char *uri, int allow_cookie);


#endif
