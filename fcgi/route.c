/* SPDX-License-Identifier: MIT */
/*
 * Routing: REQUEST_URI to an endpoint, matched from the end of the path so
 * that any mount prefix works, plus percent-decoding, query-string lookup and
 * the channel-name rules.
 */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "route.h"
#include "util.h"

/* The longest pattern, [..., "channels", X, "messages", N], has 4 segments. */
#define ROUTE_TAIL 4

/* One path segment: raw bytes in the path and, once asked for, the decoded
 * text (NULL with bad set when the escape was bad). */
struct segment {
	const char *raw;
	size_t len;
	char *decoded;
	int bad;
};

static int hex_value(int c);
static int segment_is(struct segment *seg, const char *word);
static int route_fail(int *status, char **cause, int code, char *why);
static char *route_excerpt(const char *s, size_t len);
static int route_channels(struct route *r, struct segment *seg, int list, int *status, char **cause);
static int route_seq(struct route *r, struct segment *seg, int *status, char **cause);

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *
route_percent_decode(const char *s, size_t len, int plus_is_space)
{
	char *out = xmalloc(len + 1), *o = out;
	size_t i;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 || (hi = hex_value((unsigned char)s[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)s[i + 2])) < 0 || (hi == 0 && lo == 0))
				goto fail;
			*o++ = (char)(hi << 4 | lo);
			i += 2;
		} else if (s[i] == '+' && plus_is_space) {
			*o++ = ' ';
		} else if (s[i] == '\0') {
			goto fail;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;

fail:
	free(out);
	return NULL;
}

int
route_channel_valid(const char *name)
{
	size_t n;

	if (name == NULL)
		return 0;
	n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-");
	return n > 0 && n <= ROUTE_MAX_CHANNEL_LEN && name[n] == '\0';
}

int
route_event_valid(const char *event)
{
	size_t len, i;

	if (event == NULL || (len = strlen(event)) == 0 || len > ROUTE_MAX_EVENT_BYTES)
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)event[i] < 0x20 || event[i] == 0x7f)
			return 0;
	}
	return json_utf8_valid((const unsigned char *)event, len);
}

/* Whether the segment decodes to word, or with word NULL whether it decodes
 * at all. Decodes it on first use. */
static int
segment_is(struct segment *seg, const char *word)
{
	if (seg->decoded == NULL && !seg->bad) {
		seg->decoded = route_percent_decode(seg->raw, seg->len, 0);
		seg->bad = seg->decoded == NULL;
	}
	return word == NULL ? !seg->bad : !seg->bad && strcmp(seg->decoded, word) == 0;
}

/* Set *status and *cause (taking why) and return -1. */
static int
route_fail(int *status, char **cause, int code, char *why)
{
	if (status != NULL)
		*status = code;
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -1;
}

/* A copy of s short enough to quote in a cause: at most 64 bytes, then "...". */
static char *
route_excerpt(const char *s, size_t len)
{
	if (len <= 64)
		return xstrndup(s, len);
	return xasprintf("%.64s...", s);
}

/*
 * Fill r->channels from the decoded segment: a comma-separated list when list
 * is set, else exactly one name. The names are compacted in place into one
 * allocation that r->channels[0] points to (route_fini frees it).
 */
static int
route_channels(struct route *r, struct segment *seg, int list, int *status, char **cause)
{
	char *names, *p, *next, *end, *out, *ex, *why;
	size_t i, len, n = 0;
	int dup;

	if (!segment_is(seg, NULL)) {
		ex = route_excerpt(seg->raw, seg->len);
		why = xasprintf("channel \"%s\" has a bad percent escape (%% must be followed by two "
				"hex digits, and %%00 is refused)",
				ex);
		free(ex);
		return route_fail(status, cause, 400, why);
	}
	names = seg->decoded;
	seg->decoded = NULL; /* now owned here */
	if (*names == '\0') {
		free(names);
		return route_fail(status, cause, 400, xstrdup("the channel name is empty"));
	}
	if (!list && strchr(names, ',') != NULL) {
		ex = route_excerpt(names, strlen(names));
		why = xasprintf("\"%s\" is a list; this endpoint takes exactly one channel", ex);
		free(ex);
		free(names);
		return route_fail(status, cause, 400, why);
	}
	end = names + strlen(names);
	out = names;
	for (p = names; p <= end; p = next + 1) {
		next = p + strcspn(p, ",");
		len = (size_t)(next - p);
		*next = '\0';
		if (len == 0) {
			free(names);
			r->nchannels = 0;
			return route_fail(status, cause, 400,
					  xstrdup("the channel list has an empty name (two commas in a row, "
						  "or a comma at either end)"));
		}
		if (!route_channel_valid(p)) {
			ex = route_excerpt(p, len);
			r->nchannels = 0;
			if (len > ROUTE_MAX_CHANNEL_LEN)
				route_fail(status, cause, 400,
					   xasprintf("channel name \"%s\" is %zu characters long; the "
						     "limit is %d",
						     ex, len, ROUTE_MAX_CHANNEL_LEN));
			else
				route_fail(status, cause, 400,
					   xasprintf("channel name \"%s\" has a character outside A-Z "
						     "a-z 0-9 . _ ~ -",
						     ex));
			free(ex);
			free(names);
			return -1;
		}
		dup = 0;
		for (i = 0; i < n && !dup; i++)
			dup = strcmp(r->channels[i], p) == 0;
		if (dup)
			continue;
		if (n == ROUTE_MAX_CHANNELS) {
			free(names);
			r->nchannels = 0;
			return route_fail(status, cause, 400,
					  xasprintf("more than %d channels in one subscription",
						    ROUTE_MAX_CHANNELS));
		}
		memmove(out, p, len + 1);
		r->channels[n++] = out;
		r->nchannels = n;
		out += len + 1;
	}
	return 0;
}

static int
route_seq(struct route *r, struct segment *seg, int *status, char **cause)
{
	char *ex;
	int ok;

	ok = segment_is(seg, NULL) && util_parse_i64(seg->decoded, 1, INT64_MAX, &r->seq) == 0;
	if (ok)
		return 0;
	ex = route_excerpt(seg->raw, seg->len);
	route_fail(status, cause, 400,
		   xasprintf("message seq \"%s\" is not a whole number from 1 to %lld", ex,
			     (long long)INT64_MAX));
	free(ex);
	return -1;
}

int
route_parse(const char *request_uri, struct route *r, int *status, char **cause)
{
	struct segment seg[ROUTE_TAIL];
	const char *uri = request_uri != NULL ? request_uri : "";
	const char *q, *frag, *p, *end, *mount_end;
	size_t pathlen, n = 0, i, k = 0;
	int rc = 0;

	memset(r, 0, sizeof *r);
	memset(seg, 0, sizeof seg);
	if (status != NULL)
		*status = 0;

	pathlen = strcspn(uri, "?#");
	q = uri[pathlen] == '?' ? uri + pathlen + 1 : NULL;
	frag = q != NULL ? strchr(q, '#') : NULL;
	r->query = q == NULL ? xstrdup("") : frag != NULL ? xstrndup(q, (size_t)(frag - q)) : xstrdup(q);

	if (pathlen == 0 || uri[0] != '/')
		return 0;
	if (pathlen > 1 && uri[pathlen - 1] == '/')
		pathlen--; /* a trailing slash is tolerated */

	/* The last ROUTE_TAIL segments, last first: seg[0] is the last. */
	end = uri + pathlen;
	while (n < ROUTE_TAIL) {
		for (p = end; p > uri && p[-1] != '/'; p--)
			;
		if (p == uri)
			break; /* the empty segment before the leading '/' */
		seg[n].raw = p;
		seg[n].len = (size_t)(end - p);
		n++;
		end = p - 1;
	}

	if (n >= 4 && segment_is(&seg[3], "channels") && segment_is(&seg[1], "messages")) {
		r->kind = ROUTE_MESSAGE;
		k = 3;
		if (route_channels(r, &seg[2], 0, status, cause) != 0 || route_seq(r, &seg[0], status, cause) != 0)
			rc = -1;
	} else if (n >= 3 && segment_is(&seg[2], "channels") && segment_is(&seg[0], "info")) {
		r->kind = ROUTE_CHANNEL_INFO;
		k = 2;
		rc = route_channels(r, &seg[1], 0, status, cause);
	} else if (n >= 2 && segment_is(&seg[1], "channels")) {
		r->kind = ROUTE_CHANNEL;
		k = 1;
		rc = route_channels(r, &seg[0], 1, status, cause);
	} else if (n >= 1 && segment_is(&seg[0], "channels")) {
		r->kind = ROUTE_CHANNEL_LIST;
	} else if (n >= 1 && segment_is(&seg[0], "publish")) {
		r->kind = ROUTE_PUBLISH_BATCH;
	} else if (n >= 1 && segment_is(&seg[0], "status")) {
		r->kind = ROUTE_STATUS;
	} else if (n >= 1 && segment_is(&seg[0], "metrics")) {
		r->kind = ROUTE_METRICS;
	}

	if (r->kind != ROUTE_NOTFOUND) {
		mount_end = seg[k].raw - 1; /* the '/' before the matched part */
		while (mount_end > uri && mount_end[-1] == '/')
			mount_end--;
		r->mount = xstrndup(uri, (size_t)(mount_end - uri));
	}
	for (i = 0; i < n; i++)
		free(seg[i].decoded);
	return rc;
}

void
route_fini(struct route *r)
{
	if (r->nchannels > 0)
		free(r->channels[0]);
	free(r->mount);
	free(r->query);
	memset(r, 0, sizeof *r);
}

char *
route_query_get(const char *query, const char *key, int *bad)
{
	const char *p, *amp, *eq;
	char *name, *value;
	size_t len;

	/* *bad is only ever raised, so one flag can collect several lookups. */
	if (query == NULL || key == NULL)
		return NULL;
	for (p = query; *p != '\0'; p = *amp == '\0' ? amp : amp + 1) {
		amp = p + strcspn(p, "&");
		len = (size_t)(amp - p);
		if (len == 0)
			continue;
		eq = memchr(p, '=', len);
		name = route_percent_decode(p, eq != NULL ? (size_t)(eq - p) : len, 1);
		if (name == NULL || strcmp(name, key) != 0) {
			free(name);
			continue;
		}
		free(name);
		if (eq == NULL)
			return xstrdup("");
		value = route_percent_decode(eq + 1, (size_t)(amp - eq - 1), 1);
		if (value == NULL && bad != NULL)
			*bad = 1;
		return value;
	}
	return NULL;
}
