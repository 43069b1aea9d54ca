/* SPDX-License-Identifier: MIT */
/*
 * CGI response building (see http.h).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"
#include "json.h"

void
http_response_init(struct http_response *r)
{
	buf_init(&r->head);
	buf_init(&r->body);
	http_response_reset(r);
}

void
http_response_fini(struct http_response *r)
{
	buf_fini(&r->head);
	buf_fini(&r->body);
}

void
http_response_reset(struct http_response *r)
{
	r->status = 200;
	buf_reset(&r->head);
	buf_reset(&r->body);
	r->body_reader = NULL;
	r->body_arg = NULL;
	r->body_offset = 0;
	r->body_length = 0;
	r->head_only = 0;
	r->error = NULL;
}

void
http_header(struct http_response *r, const char *name, const char *fmt, ...)
{
	va_list ap;

	buf_puts(&r->head, name);
	buf_puts(&r->head, ": ");
	va_start(ap, fmt);
	buf_vprintf(&r->head, fmt, ap);
	va_end(ap);
	buf_puts(&r->head, "\r\n");
}

void
http_error(struct http_response *r, int status, const char *code, const char *fmt, ...)
{
	struct buf detail;
	va_list ap;

	buf_init(&detail);
	va_start(ap, fmt);
	buf_vprintf(&detail, fmt, ap);
	va_end(ap);
	r->status = status;
	r->error = code;
	http_header(r, "Content-Type", "application/json");
	http_header(r, "Cache-Control", "no-store");
	buf_reset(&r->body);
	buf_puts(&r->body, "{\"error\":");
	json_append_cstr(&r->body, code);
	buf_puts(&r->body, ",\"detail\":");
	json_append_string(&r->body, detail.data != NULL ? detail.data : "", detail.len);
	buf_puts(&r->body, "}\n");
	buf_fini(&detail);
}

void
http_cors(struct http_response *r, const struct config *cfg, const char *origin)
{
	if (!config_origin_allowed(cfg, origin))
		return;
	http_header(r, "Access-Control-Allow-Origin", "%s", strcmp(cfg->cors_allow_origins, "*") == 0 ? "*" : origin);
	http_header(r, "Vary", "Origin");
	http_header(r, "Access-Control-Expose-Headers",
		    "ETag, Location, Push-Gap, Push-Epoch, Preference-Applied, Retry-After, Content-Range, "
		    "Idempotent-Replayed");
}

const char *
http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 406: return "Not Acceptable";
	case 408: return "Request Timeout";
	case 410: return "Gone";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 416: return "Range Not Satisfiable";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 507: return "Insufficient Storage";
	default: return "Unknown";
	}
}

void
http_serialize(const struct http_response *r, struct buf *out)
{
	int bodyless = r->status < 200 || r->status == 204 || r->status == 304;

	buf_reserve(out, r->head.len + r->body.len + 64);
	buf_printf(out, "Status: %d %s\r\n", r->status, http_reason(r->status));
	if (r->head.len > 0)
		buf_append(out, r->head.data, r->head.len);
	if (!bodyless && r->body_reader != NULL) {
		/* The caller sends the body_length bytes after this head. */
		buf_printf(out, "Content-Length: %lld\r\n\r\n", (long long)r->body_length);
	} else if (!bodyless) {
		buf_printf(out, "Content-Length: %zu\r\n\r\n", r->body.len);
		if (r->body.len > 0 && !r->head_only)
			buf_append(out, r->body.data, r->body.len);
	} else {
		buf_puts(out, "\r\n");
	}
}

void
http_serialize_head(const struct http_response *r, struct buf *out)
{
	buf_printf(out, "Status: %d %s\r\n", r->status, http_reason(r->status));
	if (r->head.len > 0)
		buf_append(out, r->head.data, r->head.len);
	buf_puts(out, "\r\n");
}

int
http_parse_range(const char *range, int64_t size, int64_t *first, int64_t *last)
{
	const char *p, *dash;
	char *a = NULL, *b = NULL;
	int64_t x = 0, y = 0;
	int rc = 0;

	if (range == NULL || strncasecmp(range, "bytes=", 6) != 0)
		return 0;
	p = range + 6;
	while (*p == ' ')
		p++;
	dash = strchr(p, '-');
	if (dash == NULL || strchr(p, ',') != NULL)
		return 0; /* malformed, or several ranges: send it all */
	a = xstrndup(p, (size_t)(dash - p));
	b = xstrdup(dash + 1);
	for (char *t = b + strlen(b); t > b && (t[-1] == ' ' || t[-1] == '\t'); t--)
		t[-1] = '\0';
	if (*a == '\0') {
		/* bytes=-n: the last n bytes */
		if (util_parse_i64(b, 0, INT64_MAX, &y) == -1)
			goto out;
		if (y == 0 || size == 0) {
			rc = -1;
			goto out;
		}
		*first = y >= size ? 0 : size - y;
		*last = size - 1;
		rc = 1;
		goto out;
	}
	if (util_parse_i64(a, 0, INT64_MAX, &x) == -1)
		goto out;
	if (*b == '\0')
		y = size - 1;
	else if (util_parse_i64(b, 0, INT64_MAX, &y) == -1 || y < x)
		goto out;
	if (x >= size) {
		rc = -1;
		goto out;
	}
	*first = x;
	*last = y >= size ? size - 1 : y;
	rc = 1;
out:
	free(a);
	free(b);
	return rc;
}

/* Compare a media range (up to ';') with type, honouring * wildcards. */
static int
http_range_matches(const char *range, size_t len, const char *type)
{
	const char *slash = strchr(type, '/');
	size_t major = (size_t)(slash - type);

	while (len > 0 && (range[len - 1] == ' ' || range[len - 1] == '\t'))
		len--;
	if (len == 3 && strncmp(range, "*/*", 3) == 0)
		return 1;
	if (len == major + 2 && strncasecmp(range, type, major + 1) == 0 && range[major + 1] == '*')
		return 1;
	return len == strlen(type) && strncasecmp(range, type, len) == 0;
}

/* Whether the parameters of one Accept element (after its first ';') set
 * q=0, which refuses the type (RFC 9110 §12.4.2). */
static int
http_q_zero(const char *params, size_t len)
{
	const char *q;
	char tmp[64];

	if (len >= sizeof tmp)
		len = sizeof tmp - 1;
	memcpy(tmp, params, len);
	tmp[len] = '\0';
	q = strstr(tmp, "q=");
	return q != NULL && strtod(q + 2, NULL) <= 0.0;
}

int
http_accepts(const char *accept, const char *type)
{
	const char *p = accept, *end, *semi;
	size_t len;

	if (accept == NULL || *accept == '\0')
		return 1;
	while (*p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (*p == '\0')
			break;
		end = strchr(p, ',');
		len = end != NULL ? (size_t)(end - p) : strlen(p);
		semi = memchr(p, ';', len);
		if (http_range_matches(p, semi != NULL ? (size_t)(semi - p) : len, type) &&
		    !(semi != NULL && http_q_zero(semi, len - (size_t)(semi - p))))
			return 1;
		p += len;
	}
	return 0;
}

/* RFC 9110 §5.6.2 tchar: the characters of a token. */
static int
http_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The length of the token at p (0 when there is none). */
static size_t
http_token_len(const char *p)
{
	size_t n = 0;

	while (http_tchar((unsigned char)p[n]))
		n++;
	return n;
}

/* The length of the quoted-string at p (RFC 9110 §5.6.4), 0 when p does not
 * hold a whole one. obs-text (bytes >= 0x80) is refused: a stored type is
 * replayed as a header and stays ASCII. */
static size_t
http_quoted_len(const char *p)
{
	size_t n = 1;
	unsigned char c;

	if (p[0] != '"')
		return 0;
	for (;;) {
		c = (unsigned char)p[n];
		if (c == '"')
			return n + 1;
		if (c == '\\') {
			c = (unsigned char)p[n + 1];
			if (c != '\t' && (c < 0x20 || c > 0x7e))
				return 0;
			n += 2;
		} else if (c == '\t' || (c >= 0x20 && c <= 0x7e)) {
			n++;
		} else {
			return 0; /* the end, a control character or a byte >= 0x80 */
		}
	}
}

int
http_content_type_valid(const char *ct)
{
	const char *p = ct;
	size_t n;

	if (ct == NULL || strlen(ct) > HTTP_MAX_CONTENT_TYPE_BYTES)
		return 0;
	if ((n = http_token_len(p)) == 0 || p[n] != '/')
		return 0;
	p += n + 1;
	if ((n = http_token_len(p)) == 0)
		return 0;
	p += n;
	/* parameters = *( OWS ";" OWS [ parameter ] ) */
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			return 1;
		if (*p++ != ';')
			return 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == ';' || *p == '\0')
			continue; /* an empty parameter */
		if ((n = http_token_len(p)) == 0 || p[n] != '=')
			return 0;
		p += n + 1;
		if ((n = http_token_len(p)) == 0 && (n = http_quoted_len(p)) == 0)
			return 0;
		p += n;
	}
}

/* Whether the media type at ct (up to ';') equals type, ASCII case ignored. */
static int
http_type_is(const char *ct, size_t len, const char *type)
{
	return len == strlen(type) && strncasecmp(ct, type, len) == 0;
}

int
http_content_type_active(const char *ct)
{
	size_t len = strcspn(ct, "; \t");

	if (http_type_is(ct, len, "text/html") || http_type_is(ct, len, "text/xml") ||
	    http_type_is(ct, len, "application/xml") || http_type_is(ct, len, "text/xsl") ||
	    http_type_is(ct, len, "application/pdf") || http_type_is(ct, len, "multipart/x-mixed-replace"))
		return 1;
	/* Any XML type (application/xhtml+xml, image/svg+xml, ...): a document
	 * in the XHTML or SVG namespace runs its scripts whatever the suffix. */
	return len >= 4 && strncasecmp(ct + len - 4, "+xml", 4) == 0;
}
