/* SPDX-License-Identifier: MIT */
/*
 * JSON output for every JSON transport: strings escaped per RFC 8259 §7 (plus
 * U+2028/U+2029 for JavaScript, invalid UTF-8 replaced by U+FFFD), base64 per
 * RFC 4648 §4, and the message object. This runs once per message per
 * subscriber, so it appends runs of safe bytes with one copy each and never
 * allocates beyond growing the caller's buffer.
 */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "json.h"

static size_t utf8_seq(const unsigned char *s, size_t len, int *valid);
static void json_append_i64(struct buf *b, int64_t v);
static int content_type_split(const char *ct, const char **type, size_t *tlen, const char **sub,
			      size_t *slen);

/* For ASCII bytes: 0 when safe as is, else the character after the
 * backslash ('u' for \u00XX). Bytes >= 0x80 go through the UTF-8 check. */
static const unsigned char json_escape_table[128] = {
	['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't',
	[0x00] = 'u', [0x01] = 'u', [0x02] = 'u', [0x03] = 'u', [0x04] = 'u', [0x05] = 'u',
	[0x06] = 'u', [0x07] = 'u', [0x0b] = 'u', [0x0e] = 'u', [0x0f] = 'u', [0x10] = 'u',
	[0x11] = 'u', [0x12] = 'u', [0x13] = 'u', [0x14] = 'u', [0x15] = 'u', [0x16] = 'u',
	[0x17] = 'u', [0x18] = 'u', [0x19] = 'u', [0x1a] = 'u', [0x1b] = 'u', [0x1c] = 'u',
	[0x1d] = 'u', [0x1e] = 'u', [0x1f] = 'u',
	['"'] = '"', ['\\'] = '\\',
};

static const char hex_digits[] = "0123456789abcdef";

/*
 * Length of the UTF-8 sequence at s (RFC 3629, Unicode Table 3-7). On a valid
 * sequence *valid is 1 and the length is 1-4. Otherwise *valid is 0 and the
 * length is the "maximal subpart" to replace by one U+FFFD (Unicode §3.9, as
 * the WHATWG decoder does): the lead byte and whatever continuation bytes
 * were acceptable before the sequence broke off.
 */
static size_t
utf8_seq(const unsigned char *s, size_t len, int *valid)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, i;

	*valid = 0;
	if (c < 0x80) {
		*valid = 1;
		return 1;
	}
	if (c < 0xc2 || c > 0xf4)
		return 1;
	if (c < 0xe0)
		need = 1;
	else if (c < 0xf0) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
	} else {
		need = 3;
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
	}
	for (i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi)
			return i;
		lo = 0x80;
		hi = 0xbf;
	}
	*valid = 1;
	return need + 1;
}

void
json_append_string(struct buf *b, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, n;
	unsigned char e;
	char esc[6];
	int valid = 0;

	buf_reserve(b, len + 2);
	buf_append(b, "\"", 1);
	while (i < len) {
		e = s[i] < 0x80 ? json_escape_table[s[i]] : 1;
		if (e == 0) {
			i++;
			continue;
		}
		if (e == 1) {
			n = utf8_seq(s + i, len - i, &valid);
			/* U+2028 and U+2029 are E2 80 A8 and E2 80 A9. */
			if (valid && !(n == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
				       (s[i + 2] == 0xa8 || s[i + 2] == 0xa9))) {
				i += n;
				continue;
			}
		}
		if (i > run)
			buf_append(b, s + run, i - run);
		if (e == 1) {
			if (valid)
				buf_append(b, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			else
				buf_append(b, "\xef\xbf\xbd", 3);
			i += n;
		} else if (e == 'u') {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex_digits[s[i] >> 4];
			esc[5] = hex_digits[s[i] & 0xf];
			buf_append(b, esc, 6);
			i++;
		} else {
			esc[0] = '\\';
			esc[1] = (char)e;
			buf_append(b, esc, 2);
			i++;
		}
		run = i;
	}
	if (i > run)
		buf_append(b, s + run, i - run);
	buf_append(b, "\"", 1);
}

void
json_append_cstr(struct buf *b, const char *s)
{
	if (s == NULL)
		buf_append(b, "null", 4);
	else
		json_append_string(b, s, strlen(s));
}

void
json_append_base64(struct buf *b, const unsigned char *data, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char out[1024]; /* a multiple of 4: whole quanta per chunk */
	size_t i = 0, o = 0;
	uint32_t v;

	buf_reserve(b, (len + 2) / 3 * 4);
	while (len - i >= 3) {
		v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 0x3f];
		out[o++] = alphabet[(v >> 6) & 0x3f];
		out[o++] = alphabet[v & 0x3f];
		i += 3;
		if (o == sizeof out) {
			buf_append(b, out, o);
			o = 0;
		}
	}
	if (len - i > 0) {
		v = (uint32_t)data[i] << 16;
		if (len - i == 2)
			v |= (uint32_t)data[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 0x3f];
		out[o++] = len - i == 2 ? alphabet[(v >> 6) & 0x3f] : '=';
		out[o++] = '=';
	}
	if (o > 0)
		buf_append(b, out, o);
}

int
json_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;
	int valid;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		i += utf8_seq(s + i, len - i, &valid);
		if (!valid)
			return 0;
	}
	return 1;
}

int
json_utf8_valid_prefix(const unsigned char *s, size_t len, size_t *tail)
{
	size_t i = 0, n, need;
	int valid;

	*tail = 0;
	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		n = utf8_seq(s + i, len - i, &valid);
		if (!valid) {
			/* A sequence cut by the end of the piece, valid so far:
			 * its lead byte announces more bytes than remain. */
			need = s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
			if (s[i] >= 0xc2 && s[i] <= 0xf4 && i + n == len && n < need) {
				*tail = n;
				return 1;
			}
			return 0;
		}
		i += n;
	}
	return 1;
}

/*
 * Split a media type "type/subtype; params" (RFC 9110 §8.3.1) into its type
 * and subtype, leading and trailing whitespace dropped. Returns -1 when there
 * is no '/' or either part is empty.
 */
static int
content_type_split(const char *ct, const char **type, size_t *tlen, const char **sub, size_t *slen)
{
	const char *p, *slash, *end;

	if (ct == NULL)
		return -1;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	end = ct + strcspn(ct, ";");
	while (end > ct && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	slash = memchr(ct, '/', (size_t)(end - ct));
	if (slash == NULL || slash == ct || slash + 1 == end)
		return -1;
	p = slash + 1;
	*type = ct;
	*tlen = (size_t)(slash - ct);
	*sub = p;
	*slen = (size_t)(end - p);
	return 0;
}

int
json_content_type_is_json(const char *content_type)
{
	const char *type, *sub;
	size_t tlen, slen;

	if (content_type_split(content_type, &type, &tlen, &sub, &slen) != 0)
		return 0;
	if (tlen == 11 && strncasecmp(type, "application", 11) == 0 && slen == 4 &&
	    strncasecmp(sub, "json", 4) == 0)
		return 1;
	return slen > 5 && strncasecmp(sub + slen - 5, "+json", 5) == 0;
}

int
json_content_type_is_text(const char *content_type)
{
	static const char *const application_text[] = {"x-www-form-urlencoded", "xml", "javascript"};
	const char *type, *sub;
	size_t tlen, slen, i;

	if (content_type == NULL)
		return 1;
	if (content_type_split(content_type, &type, &tlen, &sub, &slen) != 0)
		return 0;
	if (tlen == 4 && strncasecmp(type, "text", 4) == 0)
		return 1;
	if (tlen != 11 || strncasecmp(type, "application", 11) != 0)
		return 0;
	for (i = 0; i < sizeof application_text / sizeof application_text[0]; i++) {
		if (slen == strlen(application_text[i]) && strncasecmp(sub, application_text[i], slen) == 0)
			return 1;
	}
	return 0;
}

int
json_content_type_utf8(const char *content_type)
{
	const char *type, *sub, *p;
	size_t tlen, slen, n;

	if (json_content_type_is_json(content_type))
		return 1;
	if (content_type_split(content_type, &type, &tlen, &sub, &slen) != 0 || tlen != 4 ||
	    strncasecmp(type, "text", 4) != 0)
		return 0;
	/* A charset parameter naming another charset is honest: not ours to
	 * refuse (such a body is sent as base64 in JSON). */
	for (p = strchr(content_type, ';'); p != NULL; p = strchr(p + 1, ';')) {
		p += strspn(p + 1, " \t") + 1;
		if (strncasecmp(p, "charset=", 8) != 0)
			continue;
		p += 8;
		if (*p == '"')
			p++;
		n = strcspn(p, "\"; \t");
		return (n == 5 && strncasecmp(p, "utf-8", 5) == 0) || (n == 4 && strncasecmp(p, "utf8", 4) == 0) ||
		       (n == 8 && strncasecmp(p, "us-ascii", 8) == 0);
	}
	return 1;
}

/* Append v in decimal; the hot path's replacement for printf("%lld"). */
static void
json_append_i64(struct buf *b, int64_t v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void
json_append_message_head(struct buf *b, const struct msg *m, const char *extra_type)
{
	buf_append(b, "{", 1);
	if (extra_type != NULL) {
		buf_append(b, "\"type\":", 7);
		json_append_cstr(b, extra_type);
		buf_append(b, ",", 1);
	}
	buf_append(b, "\"channel\":", 10);
	json_append_cstr(b, m->channel);
	buf_append(b, ",\"seq\":", 7);
	json_append_i64(b, m->seq);
	buf_append(b, ",\"time\":", 8);
	json_append_i64(b, m->time_ms);
	if (m->event != NULL) {
		buf_append(b, ",\"event\":", 9);
		json_append_cstr(b, m->event);
	}
	buf_append(b, ",\"content_type\":", 16);
	json_append_cstr(b, m->content_type);
}

int
json_message_is_binary(const struct msg *m)
{
	const unsigned char *body = m->body != NULL ? m->body : (const unsigned char *)"";

	if (m->body_omitted || (m->body_is_json && m->body_len > 0))
		return 0;
	return !(json_content_type_is_text(m->content_type) && json_utf8_valid(body, m->body_len));
}

void
json_append_message_data(struct buf *b, const struct msg *m, int binary)
{
	const unsigned char *body = m->body != NULL ? m->body : (const unsigned char *)"";

	buf_append(b, ",\"data\":", 8);
	if (m->body_omitted) {
		/* A large object: announced, fetched from .../messages/SEQ. */
		buf_puts(b, "null,\"size\":");
		json_append_i64(b, (int64_t)m->body_len);
		buf_puts(b, ",\"omitted\":true");
	} else if (binary) {
		buf_append(b, "\"", 1);
		json_append_base64(b, body, m->body_len);
		buf_append(b, "\",\"encoding\":\"base64\"", 21);
	} else if (m->body_is_json && m->body_len > 0) {
		buf_append(b, body, m->body_len);
	} else {
		json_append_string(b, (const char *)body, m->body_len);
	}
	buf_append(b, "}", 1);
}

void
json_append_message(struct buf *b, const struct msg *m, const char *extra_type)
{
	buf_reserve(b, (m->body_omitted ? 0 : m->body_len) + 128);
	json_append_message_head(b, m, extra_type);
	json_append_message_data(b, m, json_message_is_binary(m));
}
