/* SPDX-License-Identifier: MIT */
/*
 * The event loop that holds parked requests: long polls waiting for a
 * message, and open SSE and NDJSON streams (framed through push.h). One
 * thread, one epoll set: the store's commit watch (through its feed,
 * feed.h), an eventfd for this process's own commits and new parked
 * requests, and every parked FastCGI connection, so that a waiting request
 * costs memory, never a thread. On every wake-up the feed reads the new
 * rows once and the loop answers every subscriber they concern
 * (subindex.h).
 */
#ifndef FCPUSH_LOOP_H
#define FCPUSH_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "util.h"

struct app;
struct loop;

/* How a parked request is answered. */
enum park_kind {
	PARK_LONG_POLL = 0, /* one JSON answer, then the request ends */
	PARK_SSE,           /* text/event-stream: an event per message, for as long as the client stays */
	PARK_NDJSON,        /* application/x-ndjson: a JSON line per message, likewise */
	PARK_KINDS
};

/* What a parked request waits for, built by the handler. Owned by the loop
 * once parked. */
struct park_spec {
	enum park_kind kind;
	char **channels; /* nchannels names, each malloc'd */
	size_t nchannels;
	char *label;           /* channel list as requested, "a,b" */
	int64_t since;         /* answer with messages seq > since */
	int64_t high_seq;      /* store_high_seq when the handler found nothing */
	int64_t deletion_high; /* store_deletion_high at the same time */
	int64_t deadline_ms;   /* monotonic ms: answer 204/304 then */
	int64_t auth_end_ms;   /* streams: monotonic ms when its token expires (0: never); it ends then */
	int conditional;       /* the cursor came from If-None-Match */
	struct buf headers;    /* long polls: extra header lines for the answer (CORS, Preference-Applied) */
	struct buf opening;    /* streams: what is written first (headers, retry, gap, backlog) */
	int behind;            /* streams: history past the opening is still to be read */
};

/* Allocate an empty spec; park_spec_free releases it and all it holds (spec
 * may be NULL). */
struct park_spec *park_spec_new(void);
void park_spec_free(struct park_spec *spec);

/* Make a loop for app; reader is its own store connection (owned from here
 * on). Returns NULL with *cause when epoll, eventfd or inotify fail. */
struct loop *loop_new(struct app *app, struct store *reader, char **cause);
/* Free a stopped loop (loop_thread returned); loop may be NULL. */
void loop_free(struct loop *loop);
/* The loop's thread body (pthread start routine, arg is the loop). Runs until
 * loop_stop; then answers every parked request and returns NULL. */
void *loop_thread(void *arg);
/* Ask the loop to finish (thread-safe, async with respect to the loop). */
void loop_stop(struct loop *loop);

/* Hand a request to the loop (thread-safe): fd is its FastCGI connection,
 * request_id its FastCGI request id; the loop owns both fd and spec from here
 * on. A long poll is answered when a message for it commits, its deadline
 * passes, its channel is deleted, or the worker stops; a stream gets its
 * opening, then every message, heartbeats when idle, and ends when its
 * channel is deleted, its client leaves or falls more than
 * stream_max_pending_bytes behind, or the worker stops. Returns 0, or -1 when
 * max_parked requests are already parked (nothing is taken: the caller
 * answers 503 and keeps fd and spec). */
int loop_park(struct loop *loop, int fd, int request_id, struct park_spec *spec);
/* Tell the loop that this process committed rows up to high_seq, so it
 * does not wait for the cross-process signal. A committer_cb (arg is the
 * loop). Thread-safe, one eventfd write. */
void loop_notify_commit(void *arg, int64_t high_seq);

/* Parked requests now, of one kind, and those waiting on one channel
 * (thread-safe). */
size_t loop_parked(struct loop *loop);
size_t loop_parked_kind(struct loop *loop, enum park_kind kind);
size_t loop_channel_subscribers(struct loop *loop, const char *channel);

#endif
