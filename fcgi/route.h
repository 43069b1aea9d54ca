/* SPDX-License-Identifier: MIT */
/*
 * Routing: REQUEST_URI to an endpoint. Both web servers pass REQUEST_URI raw
 * and identical (SCRIPT_NAME/PATH_INFO differ between lighttpd, mod_proxy_fcgi
 * and mod_fcgid), so the path is cut at '?', split into segments, matched from
 * the end (whatever precedes is the mount prefix, "/push" by default), and
 * each segment is percent-decoded after the split. Also query-string parsing
 * and channel-name rules.
 */
#ifndef FCPUSH_ROUTE_H
#define FCPUSH_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_CHANNELS 64
#define ROUTE_MAX_CHANNEL_LEN 128

enum route_kind {
	ROUTE_NOTFOUND = 0,
	ROUTE_CHANNEL,        /* {mount}/channels/{ch[,ch...]} */
	ROUTE_CHANNEL_LIST,   /* {mount}/channels */
	ROUTE_CHANNEL_INFO,   /* {mount}/channels/{ch}/info */
	ROUTE_MESSAGE,        /* {mount}/channels/{ch}/messages/{seq} */
	ROUTE_PUBLISH_BATCH,  /* {mount}/publish */
	ROUTE_STATUS,         /* {mount}/status */
	ROUTE_METRICS         /* {mount}/metrics */
};

/* A routed request. channels[] point into storage owned by the route;
 * route_fini frees it. mount is the prefix before the matched part ("" when
 * the endpoint is at the root), with no trailing slash. */
struct route {
	enum route_kind kind;
	char *mount;
	char *channels[ROUTE_MAX_CHANNELS];
	size_t nchannels;
	int64_t seq; /* ROUTE_MESSAGE */
	char *query; /* raw query string after '?', "" when none */
};

/* Route request_uri into r. Returns 0 (r->kind may be ROUTE_NOTFOUND), or -1
 * with *cause (caller frees; may be NULL) when the URI names an endpoint but
 * is malformed: a bad percent escape, a channel name that is empty, too long
 * or has a character outside A-Z a-z 0-9 . _ ~ -, more than
 * ROUTE_MAX_CHANNELS channels, a bad message seq. On -1, *status says which
 * HTTP status fits (400 or 404). r must be route_fini'd either way. */
int route_parse(const char *request_uri, struct route *r, int *status, char **cause);
void route_fini(struct route *r);

/* Whether name is a valid channel name (1-128 of A-Z a-z 0-9 . _ ~ -). */
int route_channel_valid(const char *name);
/* The longest event name, in bytes. */
#define ROUTE_MAX_EVENT_BYTES 128
/* Whether event is a usable SSE event name (WHATWG HTML, "event stream
 * interpretation": the field ends at CR or LF): 1 to ROUTE_MAX_EVENT_BYTES
 * bytes of UTF-8 with no control character (C0 or DEL). The one check for
 * every way to name an event: ?event=, X-EventSource-Event, a batch
 * element's "event", a WebSocket publish's "event", the CLI's --event.
 * 1 or 0 (0 for NULL). */
int route_event_valid(const char *event);

/* Percent-decode len bytes of s into a new string (caller frees); with
 * plus_is_space, '+' becomes ' ' (query strings). NULL for a bad escape or an
 * encoded NUL. */
char *route_percent_decode(const char *s, size_t len, int plus_is_space);

/* Find parameter key in a raw query string ("a=1&b=2") and return its
 * decoded value (caller frees), "" for a key without '='. Returns NULL when
 * absent; sets *bad (when not NULL) to 1 if the value had a bad escape. */
char *route_query_get(const char *query, const char *key, int *bad);

#endif
