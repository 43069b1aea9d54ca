/* SPDX-License-Identifier: MIT */
/*
 * Where a subscriber starts: the one-integer cursor (a seq) from ?since=,
 * the Last-Event-ID header (WHATWG EventSource), its ?lastEventId= and
 * ?last_event_id= aliases, or If-None-Match; or ?last=N. And how long a long
 * poll waits: Prefer: wait=N (RFC 7240 §4.3) or ?wait=N.
 *
 * A cursor may name the database history it comes from (the epoch, answered
 * in Push-Epoch): ?epoch=E beside any cursor, or the form E:SEQ in place of
 * SEQ. A plain integer means what it always did.
 */
#ifndef FCPUSH_CURSOR_H
#define FCPUSH_CURSOR_H

#include <stdint.h>

/* The longest epoch a client may send: hex digits. */
#define CURSOR_EPOCH_MAX 32

enum cursor_kind {
	CURSOR_NONE = 0, /* no cursor: a poll gets the latest page, a wait starts at now */
	CURSOR_SINCE,    /* messages with seq > since */
	CURSOR_LAST      /* the last `last` messages */
};

struct cursor {
	enum cursor_kind kind;
	int64_t since;
	int64_t last;
	int conditional; /* the cursor came from If-None-Match (answer 304, not 204) */
	char epoch[CURSOR_EPOCH_MAX + 1]; /* the history since belongs to (lowercase hex); "" unknown */
};

/* The request's cursor inputs; any may be NULL (absent). Values are raw. */
struct cursor_input {
	const char *since;            /* ?since= */
	const char *last_event_id;    /* Last-Event-ID header */
	const char *last_event_id_q;  /* ?lastEventId= or ?last_event_id= */
	const char *if_none_match;    /* If-None-Match header: "N", W/"N" or * */
	const char *last;             /* ?last= */
	const char *epoch;            /* ?epoch= */
};

/* Pick the cursor: Last-Event-ID, then its query aliases, then since, then
 * If-None-Match; else last; else none. (An EventSource reconnects to its
 * original URL, ?since= and all, with Last-Event-ID set to where it got to:
 * the header is the newer position.) A seq is a decimal 0..2^63-1, or
 * EPOCH:SEQ with EPOCH 1..CURSOR_EPOCH_MAX hex digits; c->epoch is that
 * EPOCH, else ?epoch=, else "". last is 1..max_last. Returns 0, or -1 with
 * *cause (caller frees; may be NULL) for a malformed value (an answer 400).
 * An empty Last-Event-ID means none (the WHATWG spec sends it empty after a
 * reset). If-None-Match: * is no cursor. */
int cursor_parse(const struct cursor_input *in, int64_t max_last, struct cursor *c, char **cause);

/* How long to wait, in ms, from Prefer (the whole header, RFC 7240: a list of
 * preferences, of which wait=N in seconds counts) and ?wait= (seconds). The
 * query parameter wins. A value above max_wait_s is capped to it. *wait_ms is
 * -1 when neither asks to wait. Returns 0, or -1 with *cause for a wait that
 * is not a whole number of seconds >= 0. *applied_s gets the seconds applied
 * (for Preference-Applied). */
int cursor_parse_wait(const char *prefer, const char *wait_q, int64_t max_wait_s, int64_t *wait_ms,
		      int64_t *applied_s, char **cause);

#endif
