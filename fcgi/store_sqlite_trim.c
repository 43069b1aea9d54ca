/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend (store_sqlite.h): retention: trims by count, age and
 * bytes, and the next expiry.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_sqlite.h"

/* ---- retention --------------------------------------------------------- */

enum store_result
sq_set_retention(struct store *base, const char *channel, const struct store_retention *r)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_SET_RETENTION];
	const int64_t v[3] = { r->max_messages, r->max_age_ms, r->max_bytes };
	int i, rc;

	for (i = 0; i < 3; i++) {
		if (v[i] < 0)
			return STORE_INVALID;
	}
	sqlite3_bind_text(s, 1, channel, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, util_now_ms());
	for (i = 0; i < 3; i++) {
		if (v[i] > 0) /* 0 stores NULL: the default applies */
			sqlite3_bind_int64(s, 3 + i, v[i]);
	}
	if ((rc = sq_run(st, ST_SET_RETENTION)) != SQLITE_DONE)
		return sq_fail(st, rc, "set retention");
	return STORE_OK;
}

/* Bind the default limits as ?1..?3 of a SQL_LIMITS statement. */
void
sq_bind_limits(sqlite3_stmt *s, const struct store_retention *d)
{
	sqlite3_bind_int64(s, 1, d->max_messages > 0 ? d->max_messages : 0);
	sqlite3_bind_int64(s, 2, d->max_age_ms > 0 ? d->max_age_ms : 0);
	sqlite3_bind_int64(s, 3, d->max_bytes > 0 ? d->max_bytes : 0);
}

/* Begin a transaction with begin (ST_BEGIN or ST_BEGIN_READ) and fill
 * temp.store_trim with the rows retention would delete. Returns SQLITE_DONE,
 * or the failing step's code with the transaction left to roll back. */
static int
trim_find(struct sq_store *st, enum stmt_id begin, const struct store_retention *defaults, int64_t now_ms)
{
	int rc;

	if ((rc = sq_run(st, begin)) != SQLITE_DONE || (rc = sq_run(st, ST_TRIM_CLEAR)) != SQLITE_DONE)
		return rc;
	sq_bind_limits(st->stmt[ST_TRIM_FIND], defaults);
	sqlite3_bind_int64(st->stmt[ST_TRIM_FIND], 4, now_ms);
	return sq_run(st, ST_TRIM_FIND);
}

enum store_result
sq_trim(struct store *base, const struct store_retention *defaults, int64_t now_ms, int64_t *deleted)
{
	struct sq_store *st = sq_of(base);
	enum store_result res;
	int64_t count;
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	/* First look without the write lock (the rows found go to a TEMP
	 * table, which does not take it): a pass with nothing due never waits
	 * for, nor holds up, another writer. Only when something is due is the
	 * search made again under BEGIN IMMEDIATE. */
	if ((rc = trim_find(st, ST_BEGIN_READ, defaults, now_ms)) != SQLITE_DONE)
		goto fail;
	count = sqlite3_changes(st->db);
	sq_rollback(st);
	if (count == 0)
		return STORE_OK;
	if ((rc = trim_find(st, ST_BEGIN, defaults, now_ms)) != SQLITE_DONE)
		goto fail;
	if (sqlite3_changes(st->db) == 0) {
		/* Trimmed by another process meanwhile. */
		sq_rollback(st);
		return STORE_OK;
	}
	sqlite3_bind_int64(st->stmt[ST_TRIM_MARK], 1, now_ms);
	if ((rc = sq_run(st, ST_TRIM_MARK)) != SQLITE_DONE ||
	    (rc = sq_run(st, ST_TRIM_DELETE)) != SQLITE_DONE)
		goto fail;
	count = sqlite3_changes64(st->db);
	if ((rc = sq_run(st, ST_TRIM_CLEAR)) != SQLITE_DONE ||
	    (rc = sq_run(st, ST_COMMIT)) != SQLITE_DONE)
		goto fail;
	if (deleted != NULL)
		*deleted = count;
	log_debug("store: trim deleted %" PRId64 " messages", count);
	return STORE_OK;
fail:
	res = sq_fail(st, rc, "trim");
	sq_rollback(st);
	return res;
}

enum store_result
sq_next_expiry(struct store *base, const struct store_retention *defaults, int64_t *when_ms)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s = st->stmt[ST_NEXT_EXPIRY];
	enum store_result res = STORE_OK;
	int rc;

	*when_ms = 0;
	sq_bind_limits(s, defaults);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*when_ms = sqlite3_column_int64(s, 0);
	else
		res = sq_fail(st, rc, "next expiry");
	sq_done(s);
	return res;
}

