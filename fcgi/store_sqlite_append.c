/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend (store_sqlite.h): appends: messages in one transaction
 * per group commit, each group atomic on its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "log.h"
#include "store_sqlite.h"

/* ---- appends ----------------------------------------------------------- */

/*
 * Why one integer is a safe cursor. messages.seq is INTEGER PRIMARY KEY
 * AUTOINCREMENT: every insert takes a seq larger than any ever assigned, on
 * any channel, and a seq is never reused, even after deletes (sqlite_sequence
 * remembers the highest). SQLite admits one writer at a time (BEGIN
 * IMMEDIATE takes the write lock before the first insert), so a transaction
 * that took a smaller seq has committed before a later one could take a
 * larger seq: seq order is commit order. Hence a reader that has seen seq N
 * and asks for seq > N can never miss a row that commits later with a smaller
 * seq; no such row can exist. The same number serves every channel and every
 * transport, and a multi-channel subscription needs just one.
 */

/* The failures that belong to one group's data (a NULL channel, a body past
 * SQLITE_MAX_LENGTH) rather than to the database: they fail the group only. */
int
sq_group_error(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE: return 1;
	default: return 0;
	}
}

/* Copy the body of p from its file into the zeroblob of row seq, 256 KiB at a
 * time. Returns SQLITE_DONE, SQLITE_MISMATCH when the file is shorter than
 * body_len or unreadable, or the SQLite error of the blob write. */
static int
sq_copy_body(struct sq_store *st, int64_t seq, const struct store_pub *p)
{
	sqlite3_blob *blob = NULL;
	char *chunk = NULL;
	FILE *f = NULL;
	size_t off = 0, want, got;
	int rc;

	rc = sqlite3_blob_open(st->db, "main", "messages", "body", seq, 1, &blob);
	if (rc != SQLITE_OK)
		goto out;
	f = fopen(p->body_path, "rb");
	chunk = xmalloc(262144);
	rc = SQLITE_DONE;
	while (off < p->body_len) {
		want = p->body_len - off < 262144 ? p->body_len - off : 262144;
		got = f != NULL ? fread(chunk, 1, want, f) : 0;
		if (got != want) {
			rc = SQLITE_MISMATCH;
			break;
		}
		if ((rc = sqlite3_blob_write(blob, chunk, (int)got, (int)off)) != SQLITE_OK)
			break;
		rc = SQLITE_DONE;
		off += got;
	}
out:
	if (blob != NULL)
		sqlite3_blob_close(blob);
	if (f != NULL)
		fclose(f);
	free(chunk);
	return rc;
}

/* Insert one group. A group of several messages runs inside a savepoint;
 * a group of one needs none (the usual case of group commit), since a failed
 * INSERT undoes itself and the channel row is added only after the message
 * is in, unless it carries an idempotency key (two rows: message and key). *ensured is the channel whose row is known to exist in this
 * transaction: runs of messages to one channel, the usual batch, insert it
 * once. Returns STORE_OK (the group may still have failed: g->result), or the
 * transaction's failure with *txerr set to the message to report. */
enum store_result
sq_append_group(struct sq_store *st, struct store_group *g, int64_t now_ms, const char **ensured, char **txerr)
{
	sqlite3_stmt *ins = st->stmt[ST_MESSAGE_INSERT], *chan = st->stmt[ST_CHANNEL_ENSURE];
	const struct store_pub *p;
	enum store_result res;
	int savepoint = g->n > 1, rc;
	unsigned char digest[EVP_MAX_MD_SIZE];
	size_t i;

	/* One insert undoes itself when it fails. A keyed message has a second
	 * row to write, and a body copied from a file after its insert could
	 * leave a row of zeros behind: a savepoint undoes them. */
	for (i = 0; i < g->n && !savepoint; i++)
		savepoint = g->pubs[i].body_path != NULL || g->pubs[i].idem_key != NULL;
	if (savepoint && (rc = sq_run(st, ST_SAVEPOINT)) != SQLITE_DONE)
		goto txfail;
	for (i = 0; i < g->n; i++) {
		p = &g->pubs[i];
		if (p->idem_key != NULL) {
			rc = sq_idem_lookup(st, g, i, now_ms, digest);
			if (rc == SQLITE_ROW)
				continue; /* a replay: seqs[i] and outcomes[i] are the original's */
			if (g->result != STORE_OK)
				break; /* refused: a key used for another payload, a bad key */
			if (rc != SQLITE_DONE)
				goto txfail;
		}
		sqlite3_bind_text(ins, 1, p->channel, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, p->event, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3,
				  p->content_type != NULL ? p->content_type : "application/octet-stream", -1,
				  SQLITE_STATIC);
		/* A zero-length blob from a non-NULL pointer, never SQL NULL. A
		 * body from a file goes in as zeros, then is copied in pieces. */
		if (p->body_path != NULL)
			sqlite3_bind_zeroblob64(ins, 4, p->body_len);
		else
			sqlite3_bind_blob64(ins, 4, p->body != NULL ? p->body : "", p->body_len, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 5, now_ms);
		rc = sqlite3_step(ins);
		sq_done(ins);
		if (rc == SQLITE_DONE && p->body_path != NULL &&
		    (rc = sq_copy_body(st, sqlite3_last_insert_rowid(st->db), p)) != SQLITE_DONE) {
			if ((rc & 0xff) == SQLITE_IOERR || (rc & 0xff) == SQLITE_FULL || (rc & 0xff) == SQLITE_BUSY)
				goto txfail;
			rc = SQLITE_MISMATCH; /* the file: this group's data, not the database */
		}
		if (rc != SQLITE_DONE) {
			if (!sq_group_error(rc))
				goto txfail;
			g->result = STORE_INVALID;
			sq_set_cause(&g->cause, "message %zu: %s", i, sqlite3_errmsg(st->db));
			log_info("store: group refused: %s", g->cause);
			break;
		}
		g->seqs[i] = sqlite3_last_insert_rowid(st->db);
		if (g->outcomes != NULL)
			g->outcomes[i] = (struct store_outcome){.time_ms = now_ms, .replayed = 0};
		if (p->idem_key != NULL) {
			if ((rc = sq_idem_store(st, p, g->seqs[i], now_ms, digest)) != SQLITE_DONE)
				goto txfail;
		}
		/* The insert succeeded, so p->channel is not NULL. */
		if (*ensured == NULL || strcmp(*ensured, p->channel) != 0) {
			sqlite3_bind_text(chan, 1, p->channel, -1, SQLITE_STATIC);
			sqlite3_bind_int64(chan, 2, now_ms);
			if ((rc = sq_run(st, ST_CHANNEL_ENSURE)) != SQLITE_DONE)
				goto txfail;
			*ensured = p->channel;
		}
	}
	if (g->result != STORE_OK) {
		memset(g->seqs, 0, g->n * sizeof *g->seqs);
		if (g->outcomes != NULL)
			memset(g->outcomes, 0, g->n * sizeof *g->outcomes);
		if (savepoint) {
			*ensured = NULL; /* its channel row may be undone too */
			if ((rc = sq_run(st, ST_ROLLBACK_TO)) != SQLITE_DONE)
				goto txfail;
		}
	}
	if (savepoint && (rc = sq_run(st, ST_RELEASE)) != SQLITE_DONE)
		goto txfail;
	return STORE_OK;
txfail:
	res = sq_fail(st, rc, "append");
	*txerr = xstrdup(sqlite3_errmsg(st->db));
	return res;
}

enum store_result
sq_append_groups(struct store *base, struct store_group *groups, size_t ngroups, int64_t now_ms)
{
	struct sq_store *st = sq_of(base);
	const char *ensured = NULL;
	char *txerr = NULL;
	enum store_result res = STORE_OK;
	size_t i;
	int rc;

	for (i = 0; i < ngroups; i++) {
		groups[i].result = STORE_OK;
		groups[i].cause = NULL;
	}
	if (ngroups == 0)
		return STORE_OK;
	if ((rc = sq_run(st, ST_BEGIN)) != SQLITE_DONE) {
		res = sq_fail(st, rc, "append: begin");
		txerr = xstrdup(sqlite3_errmsg(st->db));
		goto fail;
	}
	for (i = 0; i < ngroups; i++) {
		if ((res = sq_append_group(st, &groups[i], now_ms, &ensured, &txerr)) != STORE_OK)
			goto fail;
	}
	if ((rc = sq_run(st, ST_COMMIT)) != SQLITE_DONE) {
		res = sq_fail(st, rc, "append: commit");
		txerr = xstrdup(sqlite3_errmsg(st->db));
		goto fail;
	}
	sq_notify(st);
	return STORE_OK;
fail:
	sq_rollback(st);
	for (i = 0; i < ngroups; i++) {
		free(groups[i].cause);
		groups[i].result = res;
		groups[i].cause = xasprintf("store unavailable: %s", txerr);
		memset(groups[i].seqs, 0, groups[i].n * sizeof *groups[i].seqs);
		if (groups[i].outcomes != NULL)
			memset(groups[i].outcomes, 0, groups[i].n * sizeof *groups[i].outcomes);
	}
	free(txerr);
	return res;
}

