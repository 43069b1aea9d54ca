/* SPDX-License-Identifier: MIT */
/*
 * The request handlers of the HTTP contract (DESIGN.md): publish, batch
 * publish, poll and long poll, channel info and list, delete, status, CORS
 * preflight. They see a request as struct http_request and answer in a
 * struct http_response, with no FastCGI in sight, so tests drive them
 * directly. A handler that must wait says so in its return value.
 */
#ifndef FCPUSH_HANDLER_H
#define FCPUSH_HANDLER_H

#include <stdatomic.h>
#include <stdint.h>

#include "commit.h"
#include "config.h"
#include "http.h"
#include "json_parse.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"

/* Store failures answered, by kind (store_result): 503, 507, 500. */
enum stats_store_error { STATS_STORE_BUSY = 0, STATS_STORE_FULL, STATS_STORE_ERROR, STATS_STORE_ERRORS };

/* Counters of one worker process, reported by GET /status and GET /metrics. */
struct stats {
	atomic_uint_fast64_t requests;
	atomic_uint_fast64_t publishes;  /* successful publish requests (single and batch) */
	atomic_uint_fast64_t messages;   /* messages published by this process */
	atomic_uint_fast64_t polls;      /* poll and long-poll requests */
	atomic_uint_fast64_t long_polls; /* long polls parked */
	atomic_uint_fast64_t streams;    /* SSE and NDJSON streams opened */
	atomic_uint_fast64_t dropped;    /* streams dropped for falling behind */
	atomic_uint_fast64_t woken;      /* parked long polls answered with messages */
	atomic_uint_fast64_t timeouts;   /* parked long polls answered at their deadline */
	atomic_uint_fast64_t gone;       /* parked long polls answered 410 */
	atomic_uint_fast64_t closed;     /* parked requests whose client went away */
	atomic_uint_fast64_t deliveries; /* messages written to parked subscribers */
	atomic_uint_fast64_t wakeups;    /* loop wake-ups that read new rows */
	atomic_uint_fast64_t errors_4xx;
	atomic_uint_fast64_t errors_5xx;
	atomic_int_fast64_t wake_last_us; /* local commit -> answers written, last */
	atomic_int_fast64_t wake_max_us;
	atomic_uint_fast64_t deliveries_by[PARK_KINDS];        /* deliveries, by park_kind */
	atomic_uint_fast64_t store_errors[STATS_STORE_ERRORS]; /* store failures answered */
	atomic_uint_fast64_t answers_by_status[200];           /* 4xx and 5xx answers, [status - 400] */
	struct metrics_hist wake_latency;                      /* local commit -> answers written, us */
};

/* State of one worker process, shared by its threads. */
struct app {
	struct config *cfg;
	struct committer *committer;
	struct loop *loop;
	struct stats stats;
	struct retention *retention;              /* the retention thread; NULL in unit tests */
	struct store_retention retention_defaults; /* from cfg */
	int64_t started_ms;
};

/* A request thread's own context: app, its own store connection and its
 * own JSON parser (json_parse_new; the thread opens and frees both). */
struct handler_ctx {
	struct app *app;
	struct store *st;
	struct json_parse *jp;
};

enum handler_result {
	HANDLER_FINISHED = 0,  /* resp holds the whole answer */
	HANDLER_WAIT_FOR_EVENT /* park the request: *park says for what; resp unused */
};

/* Fill app's retention defaults from its config. */
void handler_app_init(struct app *app, struct config *cfg);

/* Count an answer resp made to req in app's stats (4xx/5xx by status, store
 * errors by kind) and log it when it is an error: one line with the method,
 * the path (without the query string) and the status and error code, at
 * info for 4xx and warn for 5xx. handler_run calls it for its answers; the
 * caller calls it for an answer it makes itself. Thread-safe. */
void handler_note_answer(struct app *app, const struct http_request *req, const struct http_response *resp);

/* Handle one request. Reads the body through req->read_body when the
 * endpoint takes one. Every failure is an answer in resp (a JSON error),
 * never a return value. On HANDLER_WAIT_FOR_EVENT *park is a new spec the
 * caller hands to loop_park (or frees). */
enum handler_result handler_run(struct handler_ctx *h, const struct http_request *req, struct http_response *resp,
				 struct park_spec **park);

/* Build the answer to a poll: 200 with {"channel", "messages", "last_seq"
 * [, "more": true] [, "gap": true]}, ETag: "last_seq", Push-Gap when gap
 * (oldest available seq), plus spec->headers. msgs[0..n-1] are in ascending
 * seq order and borrowed. last_seq is the cursor the client continues from.
 * The body holds messages only while it is under max_bytes (at least one):
 * the rest are left for the next poll, with "more": true and last_seq (and
 * the ETag) the seq of the last message sent. */
void handler_messages_response(const struct park_spec *spec, struct store_message *const *msgs, size_t n,
			       int more, int gap, int64_t oldest, int64_t last_seq, size_t max_bytes,
			       struct http_response *resp);
/* The answer to a long poll that found nothing: 204, or 304 with the same
 * ETag when it was conditional. */
void handler_empty_response(const struct park_spec *spec, struct http_response *resp);

#endif
