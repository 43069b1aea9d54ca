/* SPDX-License-Identifier: MIT */
/*
 * The state of one worker process, shared by its threads: the config, the
 * committer, the loop of parked requests, the retention thread, and the
 * counters GET /status and GET /metrics report. One struct, passed explicitly; unit tests
 * build their own.
 */
#ifndef FCPUSH_APP_H
#define FCPUSH_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "loop.h"
#include "metrics.h"
#include "store.h"

struct auth;
struct committer;
struct config;
struct loop;
struct retention;

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
	struct auth *auth; /* access control (auth.h); NULL: off, as in unit tests */
	struct committer *committer;
	struct loop *loop;
	struct stats stats;
	struct retention *retention;              /* the retention thread; NULL in unit tests */
	struct store_retention retention_defaults; /* from cfg */
	int64_t started_ms;
};

#endif
