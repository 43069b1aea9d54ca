/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend (store_sqlite.h): idempotency keys, kept with the
 * message they stored.
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

/* ---- idempotent publish ------------------------------------------------ */

/*
 * Idempotency keys (store.h, "Idempotent publish"; table idempotency_keys
 * of schema/fcpush.sql). All of it is in this block but its hooks: the
 * migration in open_schema, idem_open and idem_close in store_open and
 * store_close, and idem_lookup and idem_store in append_group. Expiry is
 * store_idem_expire's, off the publish path: deleting expired keys as part
 * of each append raised a keyed one-message transaction from about 69 to
 * 111 us (unkeyed: 34 us; durability = normal), since the oldest rows lie
 * on other pages.
 * Its statements are its own (struct idem), prepared on writable
 * connections only: a read-only one never appends. The body digest is
 * SHA-256 through OpenSSL's EVP interface (libcrypto: SQLite has no hash
 * function, and OpenSSL is already on every machine that has
 * libwebsockets).
 */

#define IDEM_DIGEST_BYTES 32 /* SHA-256 */
#define IDEM_FILE_CHUNK 65536

/* Brings a version-1 database to version 2: the table and index of
 * schema/fcpush.sql (keep them in step; test_store's migration test compares
 * the columns), then the version. */
static const char sql_idem_migrate_1[] =
	"CREATE TABLE idempotency_keys (channel TEXT NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,"
	" time_ms INTEGER NOT NULL, digest BLOB NOT NULL, PRIMARY KEY (channel, key)) WITHOUT ROWID;"
	"CREATE INDEX idempotency_keys_time ON idempotency_keys(time_ms);"
	"PRAGMA user_version = 2";
/* ?1 channel, ?2 key, ?3 the oldest time still within the window. */
static const char sql_idem_find[] =
	"SELECT seq, time_ms, digest FROM idempotency_keys WHERE channel = ?1 AND key = ?2 AND time_ms >= ?3";
/* A row past the window may still be there: it is replaced. */
static const char sql_idem_put[] =
	"INSERT INTO idempotency_keys (channel, key, seq, time_ms, digest) VALUES (?1, ?2, ?3, ?4, ?5)"
	" ON CONFLICT (channel, key) DO UPDATE SET seq = excluded.seq, time_ms = excluded.time_ms,"
	" digest = excluded.digest";
/* Expiry, oldest first, through idempotency_keys_time: ?1 the oldest time
 * still within the window, ?2 the most rows to delete. */
static const char sql_idem_expired[] = "SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE time_ms < ?1)";
static const char sql_idem_expire[] =
	"DELETE FROM idempotency_keys WHERE (channel, key) IN"
	" (SELECT channel, key FROM idempotency_keys WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)";

enum idem_stmt_id { IDEM_FIND, IDEM_PUT, IDEM_EXPIRED, IDEM_EXPIRE, IDEM_COUNT };

static const char *const idem_sql[IDEM_COUNT] = {
	[IDEM_FIND] = sql_idem_find,
	[IDEM_PUT] = sql_idem_put,
	[IDEM_EXPIRED] = sql_idem_expired,
	[IDEM_EXPIRE] = sql_idem_expire,
};

struct idem {
	sqlite3_stmt *stmt[IDEM_COUNT];
	int64_t window_ms;
	EVP_MD *sha256;  /* fetched once: an implicit fetch per digest costs more than the digest */
	EVP_MD_CTX *ctx; /* reused for every digest */
};

static int idem_digest(struct idem *idem, const struct store_pub *p, unsigned char *out);
static int idem_feed(EVP_MD_CTX *ctx, const void *p, size_t n);

/* Migrate a version-1 database (see sql_idem_migrate_1) under the write
 * lock, unless another process did meanwhile. 0, or -1 with *cause. */
int
sq_idem_migrate(struct sq_store *st, const char *path, char **cause)
{
	int64_t version = 0;
	char *err = NULL;

	if (sqlite3_exec(st->db, sql_begin, NULL, NULL, &err) != SQLITE_OK ||
	    sq_open_int(st->db, sql_user_version, &version) != SQLITE_OK ||
	    (version == 1 && sqlite3_exec(st->db, sql_idem_migrate_1, NULL, NULL, &err) != SQLITE_OK) ||
	    sqlite3_exec(st->db, sql_commit, NULL, NULL, &err) != SQLITE_OK) {
		sq_set_cause(cause, "cannot migrate %s from schema version 1 to %d: %s", path, SQ_SCHEMA_VERSION,
			  err != NULL ? err : sqlite3_errmsg(st->db));
		sqlite3_free(err);
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, sql_rollback, NULL, NULL, NULL);
		return -1;
	}
	if (version == 1)
		log_info("store: %s: migrated schema version 1 to %d (added table idempotency_keys)", path,
			 SQ_SCHEMA_VERSION);
	return 0;
}

/* Prepare the statements of a writable connection. 0, or -1 with *cause. */
int
sq_idem_open(struct sq_store *st, const char *path, int flags, char **cause)
{
	int i;

	if (flags & STORE_READONLY)
		return 0;
	st->idem = xcalloc(1, sizeof *st->idem);
	st->idem->window_ms = STORE_IDEM_WINDOW_MS_DEFAULT;
	if ((st->idem->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL ||
	    (st->idem->ctx = EVP_MD_CTX_new()) == NULL) {
		sq_set_cause(cause, "OpenSSL has no SHA-256 (idempotency digests)");
		return -1;
	}
	for (i = 0; i < IDEM_COUNT; i++) {
		if (sqlite3_prepare_v3(st->db, idem_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->idem->stmt[i], NULL) !=
		    SQLITE_OK) {
			sq_set_cause(cause, "cannot prepare a statement on %s: %s", path, sqlite3_errmsg(st->db));
			log_error("store: prepare %s: %s", idem_sql[i], sqlite3_errmsg(st->db));
			return -1;
		}
	}
	return 0;
}

void
sq_idem_close(struct sq_store *st)
{
	int i;

	if (st->idem == NULL)
		return;
	for (i = 0; i < IDEM_COUNT; i++)
		sqlite3_finalize(st->idem->stmt[i]);
	EVP_MD_CTX_free(st->idem->ctx);
	EVP_MD_free(st->idem->sha256);
	free(st->idem);
	st->idem = NULL;
}

void
sq_idem_set_window(struct store *base, int64_t window_ms)
{
	struct sq_store *st = sq_of(base);

	if (st->idem != NULL && window_ms > 0)
		st->idem->window_ms = window_ms;
}

/* Hash the length of a field (8 bytes, big-endian) and, when p is not NULL,
 * its n bytes: with every field's length before it, no two sequences of
 * fields hash alike. 0, or -1 when OpenSSL fails. */
static int
idem_feed(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	unsigned char len[8];
	int i;

	for (i = 0; i < 8; i++)
		len[i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
	if (EVP_DigestUpdate(ctx, len, sizeof len) != 1)
		return -1;
	return p == NULL || n == 0 || EVP_DigestUpdate(ctx, p, n) == 1 ? 0 : -1;
}

/* The digest of what p would store (event name, content type as stored,
 * body; the channel and key are the row's address) into out
 * (IDEM_DIGEST_BYTES), with idem's SHA-256 and context. A body from a file is read in pieces. 0, or -1 when
 * the file is shorter than body_len or unreadable, or OpenSSL fails. */
static int
idem_digest(struct idem *idem, const struct store_pub *p, unsigned char *out)
{
	const char *type = p->content_type != NULL ? p->content_type : "application/octet-stream";
	EVP_MD_CTX *ctx = idem->ctx;
	unsigned char *chunk = NULL, flag = p->event != NULL;
	size_t off = 0, want;
	FILE *f = NULL;
	int ret = -1;

	if (EVP_DigestInit_ex(ctx, idem->sha256, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, &flag, 1) != 1 ||
	    idem_feed(ctx, p->event, p->event != NULL ? strlen(p->event) : 0) != 0 ||
	    idem_feed(ctx, type, strlen(type)) != 0)
		goto out;
	/* A body from a file hashes as the same bytes in memory would. */
	if (idem_feed(ctx, p->body_path == NULL ? p->body : NULL, p->body_len) != 0)
		goto out;
	if (p->body_path != NULL) {
		if ((f = fopen(p->body_path, "rb")) == NULL)
			goto out;
		chunk = xmalloc(IDEM_FILE_CHUNK);
		while (off < p->body_len) {
			want = p->body_len - off < IDEM_FILE_CHUNK ? p->body_len - off : IDEM_FILE_CHUNK;
			if (fread(chunk, 1, want, f) != want || EVP_DigestUpdate(ctx, chunk, want) != 1)
				goto out;
			off += want;
		}
	}
	ret = EVP_DigestFinal_ex(ctx, out, NULL) == 1 ? 0 : -1;
out:
	if (f != NULL)
		fclose(f);
	free(chunk);
	return ret;
}

/* Look up the key of message i of g (set) for append_group at now_ms, and
 * compute its digest into digest (IDEM_DIGEST_BYTES) for idem_store.
 * Returns SQLITE_ROW when the key was used within the window with the same
 * digest: g->seqs[i] (and g->outcomes[i]) are then the original's; else
 * SQLITE_DONE, having set g->result and g->cause when the group is refused:
 * STORE_CONFLICT for another digest, STORE_INVALID for an invalid key or a
 * body file that cannot be read. Any other return is SQLite's error. */
int
sq_idem_lookup(struct sq_store *st, struct store_group *g, size_t i, int64_t now_ms, unsigned char *digest)
{
	const struct store_pub *p = &g->pubs[i];
	sqlite3_stmt *s;
	int rc;

	if (!store_idem_key_valid_max(p->idem_key, STORE_IDEM_STORED_KEY_MAX_BYTES)) {
		g->result = STORE_INVALID;
		sq_set_cause(&g->cause, "message %zu: an idempotency key is 1 to %d visible ASCII characters", i,
			  STORE_IDEM_STORED_KEY_MAX_BYTES);
		return SQLITE_DONE;
	}
	if (st->idem == NULL)
		return SQLITE_READONLY;
	if (idem_digest(st->idem, p, digest) != 0) {
		g->result = STORE_INVALID;
		sq_set_cause(&g->cause, "message %zu: cannot read its body to check its idempotency key", i);
		return SQLITE_DONE;
	}
	s = st->idem->stmt[IDEM_FIND];
	sqlite3_bind_text(s, 1, p->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, p->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms - st->idem->window_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_bytes(s, 2) == IDEM_DIGEST_BYTES &&
		    memcmp(sqlite3_column_blob(s, 2), digest, IDEM_DIGEST_BYTES) == 0) {
			g->seqs[i] = sqlite3_column_int64(s, 0);
			if (g->outcomes != NULL)
				g->outcomes[i] = (struct store_outcome){.time_ms = sqlite3_column_int64(s, 1),
									.replayed = 1};
		} else {
			g->result = STORE_CONFLICT;
			sq_set_cause(&g->cause,
				  "message %zu: idempotency key \"%s\" was used on channel %s for another message "
				  "(seq %" PRId64 ") in the last %" PRId64 " s",
				  i, p->idem_key, p->channel, (int64_t)sqlite3_column_int64(s, 0),
				  st->idem->window_ms / 1000);
			log_info("store: group refused: %s", g->cause);
			rc = SQLITE_DONE;
		}
	}
	sq_done(s);
	return rc;
}

/* Record p's key (valid; the lookup found none within the window) for the
 * message seq it stored at now_ms, with its digest. SQLITE_DONE or the
 * error. */
int
sq_idem_store(struct sq_store *st, const struct store_pub *p, int64_t seq, int64_t now_ms, const unsigned char *digest)
{
	sqlite3_stmt *s = st->idem->stmt[IDEM_PUT];
	int rc;

	sqlite3_bind_text(s, 1, p->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, p->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, seq);
	sqlite3_bind_int64(s, 4, now_ms);
	sqlite3_bind_blob(s, 5, digest, IDEM_DIGEST_BYTES, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc;
}

/* Delete up to limit keys older than the window at now_ms, oldest first,
 * in the open transaction (store_idem_expire's). SQLITE_DONE or the
 * error. */
int
sq_idem_trim(struct sq_store *st, int64_t now_ms, int64_t limit)
{
	sqlite3_stmt *s = st->idem->stmt[IDEM_EXPIRE];
	int rc;

	sqlite3_bind_int64(s, 1, now_ms - st->idem->window_ms);
	sqlite3_bind_int64(s, 2, limit);
	rc = sqlite3_step(s);
	sq_done(s);
	return rc;
}

enum store_result
sq_idem_expire(struct store *base, int64_t now_ms, int64_t limit, int64_t *deleted)
{
	struct sq_store *st = sq_of(base);
	sqlite3_stmt *s;
	enum store_result res;
	int64_t due = 0, n = 0;
	int rc;

	if (deleted != NULL)
		*deleted = 0;
	if (st->idem == NULL || limit <= 0)
		return STORE_OK;
	s = st->idem->stmt[IDEM_EXPIRED];
	sqlite3_bind_int64(s, 1, now_ms - st->idem->window_ms);
	if ((res = sq_step_int(st, s, "idempotency keys", &due)) != STORE_OK || due == 0)
		return res;
	if ((rc = sq_run(st, ST_BEGIN)) == SQLITE_DONE && (rc = sq_idem_trim(st, now_ms, limit)) == SQLITE_DONE) {
		n = sqlite3_changes64(st->db);
		rc = sq_run(st, ST_COMMIT);
	}
	if (rc != SQLITE_DONE) {
		res = sq_fail(st, rc, "expire idempotency keys");
		sq_rollback(st);
		return res;
	}
	if (deleted != NULL)
		*deleted = n;
	return STORE_OK;
}

