/* SPDX-License-Identifier: MIT */
/*
 * The request handlers of the HTTP contract (README.md, "The HTTP API"):
 * publish, batch publish, poll and long poll, channel info and list, delete,
 * status, CORS preflight. They see a request as struct http_request and
 * answer in a struct http_response, with no FastCGI in sight, so tests drive
 * them directly. A handler that must wait says so in its return value.
 */
#ifndef FCPUSH_HANDLER_H
#define FCPUSH_HANDLER_H

#include <stdint.h>

#include "app.h"
#include "commit.h"
#include "config.h"
#include "http.h"
#include "json_parse.h"
#include "loop.h"
#include "metrics.h"
#include "store.h"

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

#endif
