/* SPDX-License-Identifier: MIT */
/*
 * HTTP as a FastCGI responder sees it: the request's CGI parameters
 * (RFC 3875 §4.1) gathered in one struct, and the response built as CGI
 * output — a Status: line, headers, a blank line, the body (RFC 3875 §6) —
 * which the web server turns into an HTTP response.
 */
#ifndef FCPUSH_HTTP_H
#define FCPUSH_HTTP_H

#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "util.h"

/* A request. Strings are borrowed from the FastCGI parameters and valid only
 * until the request finishes or is parked; NULL when absent. */
struct http_request {
	const char *method;        /* REQUEST_METHOD */
	const char *uri;           /* REQUEST_URI, raw */
	const char *content_type;  /* CONTENT_TYPE */
	int64_t content_length;    /* CONTENT_LENGTH, -1 when absent */
	const char *accept;        /* HTTP_ACCEPT */
	const char *origin;        /* HTTP_ORIGIN */
	const char *last_event_id; /* HTTP_LAST_EVENT_ID */
	const char *if_none_match; /* HTTP_IF_NONE_MATCH */
	const char *prefer;        /* HTTP_PREFER */
	const char *event;         /* HTTP_X_EVENTSOURCE_EVENT */
	const char *acr_method;    /* HTTP_ACCESS_CONTROL_REQUEST_METHOD (CORS preflight) */
	const char *range;         /* HTTP_RANGE */
	const char *idempotency_key; /* HTTP_IDEMPOTENCY_KEY */
	const char *authorization; /* HTTP_AUTHORIZATION (auth.h) */
	const char *cookie;        /* HTTP_COOKIE */
	/* Read up to n bytes of the body into p; returns bytes read, 0 at the
	 * end, -1 on error (errno ETIMEDOUT: the body stalled). */
	ssize_t (*read_body)(void *arg, char *p, size_t n);
	void *read_arg;
};

/* A response under construction. Caller storage. */
struct http_response {
	int status;
	struct buf head; /* header lines, each ending in \r\n */
	struct buf body;
	/* A body too large to build in memory (a message body streamed from
	 * the store): when body_reader is set, the body is body_length bytes
	 * from body_offset, produced in pieces by body_reader (0 on success, -1
	 * on failure), and `body` is unused. */
	int (*body_reader)(void *arg, int64_t offset, void *p, size_t n);
	void *body_arg;
	int64_t body_offset;
	int64_t body_length;
	/* An answer to HEAD: serialized with the Content-Length of the body
	 * but without it, and body_reader is not to be called. */
	int head_only;
	/* The error code of the answer http_error made (a string literal, as
	 * its callers pass), NULL for any other answer: for logs and metrics. */
	const char *error;
};

void http_response_init(struct http_response *r);
void http_response_fini(struct http_response *r);
/* Empty it for reuse: status 200, no headers, no body. */
void http_response_reset(struct http_response *r);
/* Add one header line "name: value" (value printf-formatted). */
void http_header(struct http_response *r, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Replace the response with an error: status, Content-Type application/json,
 * body {"error": code, "detail": <printf-formatted sentence>}. Headers added
 * before (CORS, Allow) are kept. code must outlive r (a literal): r->error
 * keeps it. */
void http_error(struct http_response *r, int status, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Add the CORS headers (Fetch standard, "CORS protocol") when origin is allowed
 * by cfg: Access-Control-Allow-Origin, Vary: Origin and the exposed headers. */
void http_cors(struct http_response *r, const struct config *cfg, const char *origin);
/* Write the response as CGI output into out: "Status: NNN Reason", headers,
 * Content-Length (except for 1xx/204/304), blank line, body (none when
 * head_only). */
void http_serialize(const struct http_response *r, struct buf *out);
/* Write only the status line and headers of r as CGI output, ending with the
 * blank line, without Content-Length: the start of a stream whose length is
 * unknown (the web server adds Transfer-Encoding: chunked for HTTP/1.1). */
void http_serialize_head(const struct http_response *r, struct buf *out);
/* Parse a Range header (RFC 9110 §14.1.2, §14.2) against a representation of
 * size bytes. Returns 1 with the inclusive byte range [*first, *last] for one
 * satisfiable range (bytes=a-b, bytes=a-, bytes=-n); 0 when the header is to
 * be ignored and the whole body sent (absent, another unit, several ranges,
 * malformed); -1 when no byte of it exists (answer 416). */
int http_parse_range(const char *range, int64_t size, int64_t *first, int64_t *last);
/* The reason phrase of a status code ("Unknown" for others). */
const char *http_reason(int status);
/* Whether an Accept header value admits type (e.g. "application/json"):
 * NULL/empty Accept, a matching type, type/ * or * / * with q > 0. */
int http_accepts(const char *accept, const char *type);
/* The longest media type we store and replay: 255 bytes (the store's
 * message header keeps 255). */
#define HTTP_MAX_CONTENT_TYPE_BYTES 255
/* Whether ct is a media type as RFC 9110 §8.3.1 defines it: type "/" subtype,
 * both tokens (§5.6.2), then parameters ";" name "=" (token | quoted-string
 * §5.6.4) with optional whitespace around the semicolons; no control
 * character, no byte >= 0x80, at most HTTP_MAX_CONTENT_TYPE_BYTES. Every
 * stored Content-Type passes this, so replaying one can add no header.
 * 1 or 0 (0 for NULL). */
int http_content_type_valid(const char *ct);
/* Whether browsers render a media type as an active document that may run
 * script or navigate: text/html, XML (text/xml, application/xml, text/xsl and
 * any +xml type: XHTML, SVG), application/pdf (viewers run its JavaScript),
 * multipart/x-mixed-replace. Raw bodies of these are sent as attachments. */
int http_content_type_active(const char *ct);

#endif
