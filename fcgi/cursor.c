/* SPDX-License-Identifier: MIT */
/*
 * Where a subscriber starts and how long a long poll waits: the request's
 * cursor inputs (query parameters and headers) reduced to one cursor, and
 * Prefer: wait (RFC 7240) or ?wait= reduced to milliseconds.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cursor.h"
#include "util.h"

#define OWS " \t"

static int cursor_seq(const char *s, size_t len, int64_t *out);
static int cursor_epoch(const char *s, size_t len, char *epoch);
static int cursor_token(const char *s, size_t len, struct cursor *c);
static int cursor_if_none_match(const char *s, struct cursor *c);
static int cursor_seconds(const char *s, size_t len, int64_t *out);
static int prefer_find_wait(const char *prefer, const char **value, size_t *len, char **unquoted);
static size_t skip_quoted(const char *s);
static int cursor_error(char **cause, char *why);

static int
cursor_error(char **cause, char *why)
{
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return -1;
}

/* Parse len bytes of s as a seq, a decimal 0..2^63-1. */
static int
cursor_seq(const char *s, size_t len, int64_t *out)
{
	char tmp[24];

	if (len == 0 || len >= sizeof tmp)
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return util_parse_i64(tmp, 0, INT64_MAX, out);
}

/* Copy len bytes of s, 1..CURSOR_EPOCH_MAX hex digits, lowercased into
 * epoch (CURSOR_EPOCH_MAX + 1 bytes). */
static int
cursor_epoch(const char *s, size_t len, char *epoch)
{
	static const char hex[] = "0123456789abcdefABCDEF";
	size_t i;

	if (len == 0 || len > CURSOR_EPOCH_MAX || strspn(s, hex) < len)
		return -1;
	for (i = 0; i < len; i++)
		epoch[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
	epoch[len] = '\0';
	return 0;
}

/* Parse len bytes of s as a cursor: SEQ, or EPOCH:SEQ (which also sets
 * c->epoch). */
static int
cursor_token(const char *s, size_t len, struct cursor *c)
{
	const char *colon = memchr(s, ':', len);
	char epoch[CURSOR_EPOCH_MAX + 1];

	if (colon == NULL)
		return cursor_seq(s, len, &c->since);
	if (cursor_epoch(s, (size_t)(colon - s), epoch) != 0 ||
	    cursor_seq(colon + 1, len - (size_t)(colon - s) - 1, &c->since) != 0)
		return -1;
	memcpy(c->epoch, epoch, sizeof epoch);
	return 0;
}

/* The length of the quoted-string that starts at s (which is '"'), quotes
 * included, backslash escapes skipped (RFC 9110 §5.6.4). An unterminated
 * string runs to the end. */
static size_t
skip_quoted(const char *s)
{
	size_t i = 1;

	while (s[i] != '\0' && s[i] != '"') {
		if (s[i] == '\\' && s[i + 1] != '\0')
			i++;
		i++;
	}
	return s[i] == '"' ? i + 1 : i;
}

/*
 * If-None-Match (RFC 9110 §13.1.2): "N", W/"N", a bare N, or a list of them
 * (N may be EPOCH:SEQ), of which the first that is a cursor counts. Returns 0
 * with c->since (and c->epoch) set, or -1 when no entity tag is a cursor (or
 * the header is *).
 */
static int
cursor_if_none_match(const char *s, struct cursor *c)
{
	const char *p = s, *tag;
	size_t len;

	while (*p != '\0') {
		p += strspn(p, OWS ",");
		if (*p == '\0')
			break;
		if (strncmp(p, "W/", 2) == 0)
			p += 2;
		if (*p == '"') {
			len = skip_quoted(p);
			tag = p + 1;
			if (cursor_token(tag, len >= 2 && p[len - 1] == '"' ? len - 2 : len - 1, c) == 0)
				return 0;
			p += len;
		} else {
			tag = p;
			len = strcspn(p, OWS ",");
			if (cursor_token(tag, len, c) == 0)
				return 0;
			p += len;
		}
		p += strcspn(p, ",");
	}
	return -1;
}

int
cursor_parse(const struct cursor_input *in, int64_t max_last, struct cursor *c, char **cause)
{
	const char *lei = in->last_event_id;
	size_t len;

	memset(c, 0, sizeof *c);
	if (in->epoch != NULL && cursor_epoch(in->epoch, strlen(in->epoch), c->epoch) != 0)
		return cursor_error(cause, xasprintf("?epoch=%.64s is not a database epoch (1 to %d hex digits, "
						     "as sent in Push-Epoch)",
						     in->epoch, CURSOR_EPOCH_MAX));
	/* An EventSource that reconnects requests its original URL again (any
	 * ?since= in it included) and adds Last-Event-ID with the last event it
	 * got; polyfills add ?lastEventId= instead. So those two, the newer
	 * position, win over ?since. */
	if (lei != NULL) {
		lei += strspn(lei, OWS);
		len = strlen(lei);
		while (len > 0 && (lei[len - 1] == ' ' || lei[len - 1] == '\t'))
			len--;
		if (len > 0) {
			if (cursor_token(lei, len, c) != 0)
				return cursor_error(cause,
						    xasprintf("the Last-Event-ID header \"%.*s\" is not a "
							      "message seq (a whole number from 0 to %lld)",
							      len > 64 ? 64 : (int)len, lei,
							      (long long)INT64_MAX));
			c->kind = CURSOR_SINCE;
			return 0;
		}
	}
	if (in->last_event_id_q != NULL && *in->last_event_id_q != '\0') {
		if (cursor_token(in->last_event_id_q, strlen(in->last_event_id_q), c) != 0)
			return cursor_error(cause, xasprintf("?lastEventId=%.64s is not a message seq (a "
							     "whole number from 0 to %lld)",
							     in->last_event_id_q, (long long)INT64_MAX));
		c->kind = CURSOR_SINCE;
		return 0;
	}
	if (in->since != NULL) {
		if (cursor_token(in->since, strlen(in->since), c) != 0)
			return cursor_error(cause, xasprintf("?since=%.64s is not a message seq (a whole "
							     "number from 0 to %lld)",
							     in->since, (long long)INT64_MAX));
		c->kind = CURSOR_SINCE;
		return 0;
	}
	if (in->if_none_match != NULL && cursor_if_none_match(in->if_none_match, c) == 0) {
		c->kind = CURSOR_SINCE;
		c->conditional = 1;
		return 0;
	}
	if (in->last != NULL) {
		if (util_parse_i64(in->last, 1, max_last, &c->last) != 0)
			return cursor_error(cause, xasprintf("?last=%.64s is not a whole number from 1 to "
							     "%lld",
							     in->last, (long long)max_last));
		c->kind = CURSOR_LAST;
		return 0;
	}
	return 0;
}

/* Parse len bytes of s as whole seconds >= 0; numbers too large for int64_t
 * saturate (they are capped later anyway). */
static int
cursor_seconds(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v <= (INT64_MAX - 9) / 10)
			v = v * 10 + (s[i] - '0');
		else
			v = INT64_MAX;
	}
	*out = v;
	return 0;
}

/*
 * Find the first "wait" preference in a Prefer header (RFC 7240 §2):
 *   Prefer = 1#preference
 *   preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
 * Tokens compare case-insensitively; commas inside quoted strings do not
 * split. Returns 1 with *value and *len set (*len 0 and *value NULL when wait has
 * no value; a quoted value is unescaped into *unquoted, which the caller
 * frees), or 0 when there is no wait preference.
 */
static int
prefer_find_wait(const char *prefer, const char **value, size_t *len, char **unquoted)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	const char *p = prefer, *tok, *v;
	size_t tlen, vlen, i;
	char *u;

	*value = NULL;
	*len = 0;
	*unquoted = NULL;
	while (*p != '\0') {
		p += strspn(p, OWS ",");
		if (*p == '\0')
			break;
		tok = p;
		tlen = strspn(p, tchar);
		p += tlen;
		p += strspn(p, OWS);
		v = NULL;
		vlen = 0;
		if (*p == '=') {
			p++;
			p += strspn(p, OWS);
			v = p;
			if (*p == '"') {
				vlen = skip_quoted(p);
			} else {
				vlen = strspn(p, tchar);
			}
			p += vlen;
		}
		if (tlen == 4 && strncasecmp(tok, "wait", 4) == 0) {
			if (v != NULL && *v == '"') {
				u = xmalloc(vlen + 1);
				*len = 0;
				for (i = 1; i < vlen && v[i] != '"'; i++) {
					if (v[i] == '\\' && i + 1 < vlen)
						i++;
					u[(*len)++] = v[i];
				}
				u[*len] = '\0';
				*unquoted = u;
				*value = u;
			} else {
				*value = v;
				*len = vlen;
			}
			return 1;
		}
		/* Skip parameters and anything malformed up to the next comma. */
		while (*p != '\0' && *p != ',')
			p += *p == '"' ? skip_quoted(p) : 1;
	}
	return 0;
}

int
cursor_parse_wait(const char *prefer, const char *wait_q, int64_t max_wait_s, int64_t *wait_ms,
		  int64_t *applied_s, char **cause)
{
	const char *value = NULL;
	char *unquoted = NULL;
	size_t len = 0;
	int64_t s;
	int rc = 0;

	*wait_ms = -1;
	if (applied_s != NULL)
		*applied_s = -1;
	if (wait_q != NULL) {
		if (cursor_seconds(wait_q, strlen(wait_q), &s) != 0)
			return cursor_error(cause, xasprintf("?wait=%.64s is not a whole number of "
							     "seconds",
							     wait_q));
	} else if (prefer != NULL && prefer_find_wait(prefer, &value, &len, &unquoted)) {
		if (value == NULL || cursor_seconds(value, len, &s) != 0) {
			rc = cursor_error(cause, xasprintf("Prefer: wait=%.*s is not a whole number of "
							   "seconds",
							   len > 64 ? 64 : (int)len,
							   value != NULL ? value : ""));
			goto out;
		}
	} else {
		return 0;
	}
	if (s > max_wait_s)
		s = max_wait_s;
	if (s < 0)
		s = 0;
	*wait_ms = s * 1000;
	if (applied_s != NULL)
		*applied_s = s;
out:
	free(unquoted);
	return rc;
}
