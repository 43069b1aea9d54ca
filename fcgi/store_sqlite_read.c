/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend (store_sqlite.h): reads by sequence number, channel
 * info and list, deletions and their log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "store_sqlite.h"

/* ---- reads ------------------------------------------------------------- */

/* One message from a row of SQL_MSG_COLS, in one allocation: the struct, then
 * channel, event, content type and body, each NUL-terminated. */
struct msg *
sq_row_message(sqlite3_stmt *s)
{
	const char *channel, *event, *type;
	const void *body;
	size_t clen, elen = 0, tlen, blen, size;
	struct msg *m;
	int omitted;
	char *p;

	channel = (const char *)sqlite3_column_text(s, 2);
	clen = (size_t)sqlite3_column_bytes(s, 2);
	event = (const char *)sqlite3_column_text(s, 3);
	if (event != NULL)
		elen = (size_t)sqlite3_column_bytes(s, 3);
	type = (const char *)sqlite3_column_text(s, 4);
	tlen = (size_t)sqlite3_column_bytes(s, 4);
	body = sqlite3_column_blob(s, 5);
	blen = (size_t)sqlite3_column_bytes(s, 5);
	omitted = sqlite3_column_type(s, 5) == SQLITE_NULL;

	size = sizeof *m + clen + 1 + (event != NULL ? elen + 1 : 0) + tlen + 1 + blen + 1;
	m = xmalloc(size);
	p = (char *)(m + 1);
	m->seq = sqlite3_column_int64(s, 0);
	m->time_ms = sqlite3_column_int64(s, 1);

	m->channel = p;
	if (clen > 0)
		memcpy(p, channel, clen);
	p[clen] = '\0';
	p += clen + 1;

	m->event = NULL;
	if (event != NULL) {
		m->event = p;
		memcpy(p, event, elen);
		p[elen] = '\0';
		p += elen + 1;
	}

	m->content_type = p;
	if (tlen > 0)
		memcpy(p, type, tlen);
	p[tlen] = '\0';
	p += tlen + 1;

	m->body = (const unsigned char *)p;
	m->body_len = blen;
	if (blen > 0)
		memcpy(p, body, blen);
	p[blen] = '\0';
	/* json_valid reads up to a NUL: a body with one is not embeddable. Nor
	 * is one that is not UTF-8 (RFC 8259 §8.1), which json_valid does not
	 * check: stored before publishes were checked, it would make every
	 * answer that embeds it invalid JSON. */
	m->body_is_json = sqlite3_column_int(s, 6) != 0 && memchr(m->body, '\0', blen) == NULL &&
			  json_utf8_valid(m->body, blen);
	m->body_omitted = omitted;
	if (omitted)
		m->body_len = (size_t)sqlite3_column_int64(s, 7);
	return m;
}

/* Step a bound read statement to the end, or until out's byte budget is
 * spent, appending every row to out, and reset it. On failure out is left as
 * it was. */
enum store_result
sq_read_rows(struct sq_store *st, sqlite3_stmt *s, struct msglist *out)
{
	size_t n0 = out->n, bytes0 = out->bytes;
	enum store_result res = STORE_OK;
	int rc;

	out->truncated = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		msglist_push(out, sq_row_message(s));
		if (out->max_bytes > 0 && out->bytes >= out->max_bytes) {
			out->truncated = 1;
			rc = SQLITE_DONE;
			break;
		}
	}
	if (rc != SQLITE_DONE) {
		res = sq_fail(st, rc, "read");
		while (out->n > n0)
			free(out->v[--out->n]);
		out->bytes = bytes0;
		out->truncated = 0;
	}
	sq_done(s);
	return res;
}

enum store_result
sq_read_since(struct store *base, const char *const *channels, size_t nch, int64_t since, size_t limit,
		 struct msglist *out)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s;

	if (nch == 0 || limit == 0)
		return STORE_OK;
	s = sq_bind_channels(st, ST_READ_SINCE_ONE, ST_READ_SINCE_MANY, channels, nch);
	sqlite3_bind_int64(s, 2, since);
	sqlite3_bind_int64(s, 3, sq_limit64(limit));
	return sq_read_rows(st, s, out);
}

/* Step bound statement s once and reset it: *out (left as it is when there
 * is no row) takes the first column of its row. what names it in errors. */
enum store_result
sq_step_int(struct sq_store *st, sqlite3_stmt *s, const char *what, int64_t *out)
{
	enum store_result res = STORE_OK;
	int rc = sqlite3_step(s);

	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		res = sq_fail(st, rc, what);
	sq_done(s);
	return res;
}

/* The statement for nch (>= 1) channels, with them bound to ?1: one_id's
 * with the name for one channel, many_id's with a JSON array for more. */
sqlite3_stmt *
sq_bind_channels(struct sq_store *st, enum stmt_id one_id, enum stmt_id many_id, const char *const *channels, size_t nch)
{
	sqlite3_stmt *s;

	if (nch == 1) {
		s = st->stmt[one_id];
		sqlite3_bind_text(s, 1, channels[0], -1, SQLITE_STATIC);
	} else {
		s = st->stmt[many_id];
		sqlite3_bind_text(s, 1, sq_channels_json(st, channels, nch), -1, SQLITE_STATIC);
	}
	return s;
}

enum store_result
sq_read_last(struct store *base, const char *const *channels, size_t nch, size_t n, struct msglist *out)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s;
	struct msg *m;
	size_t n0 = out->n, i, j;
	enum store_result res;

	if (nch == 0 || n == 0)
		return STORE_OK;
	s = sq_bind_channels(st, ST_READ_LAST_ONE, ST_READ_LAST_MANY, channels, nch);
	sqlite3_bind_int64(s, 2, sq_limit64(n));
	if ((res = sq_read_rows(st, s, out)) != STORE_OK)
		return res;
	for (i = n0, j = out->n; i + 1 < j; i++, j--) {
		m = out->v[i];
		out->v[i] = out->v[j - 1];
		out->v[j - 1] = m;
	}
	return STORE_OK;
}

enum store_result
sq_last_cursor(struct store *base, const char *const *channels, size_t nch, size_t n, int64_t *since)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s;

	*since = 0;
	if (nch == 0)
		return STORE_OK;
	s = sq_bind_channels(st, ST_LAST_CURSOR_ONE, ST_LAST_CURSOR_MANY, channels, nch);
	sqlite3_bind_int64(s, 2, sq_limit64(n));
	return sq_step_int(st, s, "last cursor", since);
}

enum store_result
sq_read_all_since(struct store *base, int64_t since, size_t limit, struct msglist *out)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_READ_ALL_SINCE];

	if (limit == 0)
		return STORE_OK;
	sqlite3_bind_int64(s, 1, since);
	sqlite3_bind_int64(s, 2, sq_limit64(limit));
	return sq_read_rows(st, s, out);
}

enum store_result
sq_read_one(struct store *base, const char *channel, int64_t seq, struct msglist *out)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_READ_ONE];
	size_t n0 = out->n;
	enum store_result res;

	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, seq);
	res = sq_read_rows(st, s, out);
	if (res == STORE_OK && out->n == n0)
		return STORE_NOTFOUND;
	return res;
}

enum store_result
sq_high_seq(struct store *base, int64_t *seq)
{
	struct sq_store *st = sq_of(base);
	*seq = 0;
	return sq_step_int(st, st->stmt[ST_HIGH_SEQ], "high seq", seq);
}

enum store_result
sq_gap(struct store *base, const char *const *channels, size_t nch, int64_t since, int64_t *trimmed,
	  int64_t *oldest)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_GAP];
	enum store_result res = STORE_OK;
	int rc;

	*trimmed = 0;
	*oldest = 0;
	if (nch == 0)
		return STORE_OK;
	sqlite3_bind_text(s, 1, sq_channels_json(st, channels, nch), -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*trimmed = sqlite3_column_int64(s, 0);
		*oldest = sqlite3_column_int64(s, 1);
	} else
		res = sq_fail(st, rc, "gap");
	sq_done(s);
	return res;
}

/* ---- channels ---------------------------------------------------------- */

/* Copy a name into a fixed buffer, cut at size - 1 bytes (a channel inserted
 * by hand may have a longer name than HTTP allows). */
void
sq_copy_name(char *dst, size_t size, const unsigned char *src)
{
	size_t len = src != NULL ? strlen((const char *)src) : 0;

	if (len > size - 1)
		len = size - 1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

/* One row of sql_channel_info / sql_channel_list. */
void
sq_channel_row(sqlite3_stmt *s, struct store_channel_info *info)
{
	memset(info, 0, sizeof *info);
	sq_copy_name(info->name, sizeof info->name, sqlite3_column_text(s, 0));
	info->messages = sqlite3_column_int64(s, 1);
	info->bytes = sqlite3_column_int64(s, 2);
	info->first_seq = sqlite3_column_int64(s, 3);
	info->last_seq = sqlite3_column_int64(s, 4);
	info->last_time_ms = sqlite3_column_int64(s, 5);
	info->trimmed_seq = sqlite3_column_int64(s, 6);
	info->created_ms = sqlite3_column_int64(s, 7);
	info->retention.max_messages = sqlite3_column_int64(s, 8);
	info->retention.max_age_ms = sqlite3_column_int64(s, 9);
	info->retention.max_bytes = sqlite3_column_int64(s, 10);
}

enum store_result
sq_channel_info(struct store *base, const char *channel, struct store_channel_info *info)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_CHANNEL_INFO];
	enum store_result res = STORE_OK;
	int rc;

	memset(info, 0, sizeof *info);
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(s, 11))
			sq_channel_row(s, info);
		else
			res = STORE_NOTFOUND;
	} else
		res = sq_fail(st, rc, "channel info");
	sq_done(s);
	return res;
}

enum store_result
sq_channel_list(struct store *base, struct store_channel_info **infos, size_t *n)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_CHANNEL_LIST];
	struct store_channel_info *v = NULL;
	size_t cap = 0, count = 0;
	enum store_result res = STORE_OK;
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		sq_channel_row(s, &v[count++]);
	}
	if (rc != SQLITE_DONE) {
		res = sq_fail(st, rc, "channel list");
		free(v);
		v = NULL;
		count = 0;
	}
	sq_done(s);
	*infos = v;
	*n = count;
	return res;
}

enum store_result
sq_channel_delete(struct store *base, const char *channel, int64_t now_ms)
{
	struct sq_store *st = sq_of(base);
	enum store_result res;
	int removed, rc;

	if ((rc = sq_run(st, ST_BEGIN)) != SQLITE_DONE)
		return sq_fail(st, rc, "delete channel: begin");
	sqlite3_bind_text(st->stmt[ST_DELETE_MESSAGES], 1, channel, -1, SQLITE_STATIC);
	if ((rc = sq_run(st, ST_DELETE_MESSAGES)) != SQLITE_DONE)
		goto fail;
	removed = sqlite3_changes(st->db);
	sqlite3_bind_text(st->stmt[ST_DELETE_CHANNEL], 1, channel, -1, SQLITE_STATIC);
	if ((rc = sq_run(st, ST_DELETE_CHANNEL)) != SQLITE_DONE)
		goto fail;
	removed += sqlite3_changes(st->db);
	if (removed == 0) {
		sq_rollback(st);
		return STORE_NOTFOUND;
	}
	sqlite3_bind_text(st->stmt[ST_LOG_DELETION], 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st->stmt[ST_LOG_DELETION], 2, now_ms);
	if ((rc = sq_run(st, ST_LOG_DELETION)) != SQLITE_DONE ||
	    (rc = sq_run(st, ST_COMMIT)) != SQLITE_DONE)
		goto fail;
	sq_notify(st);
	return STORE_OK;
fail:
	res = sq_fail(st, rc, "delete channel");
	sq_rollback(st);
	return res;
}

enum store_result
sq_deletion_high(struct store *base, int64_t *id)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_DELETION_HIGH];
	enum store_result res = STORE_OK;
	int rc;

	*id = 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(s, 0);
	else
		res = sq_fail(st, rc, "deletion high");
	sq_done(s);
	return res;
}

enum store_result
sq_read_deletions(struct store *base, int64_t since, struct store_deletion **dels, size_t *n)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_READ_DELETIONS];
	struct store_deletion *v = NULL;
	size_t cap = 0, count = 0;
	enum store_result res = STORE_OK;
	int rc;

	sqlite3_bind_int64(s, 1, since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (count == cap) {
			cap = cap == 0 ? 8 : cap * 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[count].id = sqlite3_column_int64(s, 0);
		sq_copy_name(v[count].channel, sizeof v[count].channel, sqlite3_column_text(s, 1));
		v[count].time_ms = sqlite3_column_int64(s, 2);
		count++;
	}
	if (rc != SQLITE_DONE) {
		res = sq_fail(st, rc, "read deletions");
		free(v);
		v = NULL;
		count = 0;
	}
	sq_done(s);
	*dels = v;
	*n = count;
	return res;
}

