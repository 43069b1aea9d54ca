/* SPDX-License-Identifier: MIT */
/*
 * The SQLite backend's own header, shared by its files and nobody else:
 * store_sqlite.c (the SQL, helpers, open and close, bodies, the commit
 * watch and the table of operations), store_sqlite_append.c,
 * store_sqlite_read.c (reads and channels), store_sqlite_trim.c (retention)
 * and store_sqlite_idem.c (idempotency keys). A connection is used by one
 * thread at a time.
 */
#ifndef FCPUSH_STORE_SQLITE_H
#define FCPUSH_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"
#include "util.h"

/* The schema version this backend reads and writes (PRAGMA user_version). */
#define SQ_SCHEMA_VERSION 2

/* Every statement, prepared once at open and finalized at close. */
enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_CHANNEL_ENSURE,
	ST_MESSAGE_INSERT,
	ST_READ_SINCE_ONE,
	ST_READ_SINCE_MANY,
	ST_READ_LAST_ONE,
	ST_READ_LAST_MANY,
	ST_LAST_CURSOR_ONE,
	ST_LAST_CURSOR_MANY,
	ST_READ_ALL_SINCE,
	ST_READ_ONE,
	ST_BODY_INFO,
	ST_HIGH_SEQ,
	ST_GAP,
	ST_CHANNEL_INFO,
	ST_CHANNEL_LIST,
	ST_DELETE_MESSAGES,
	ST_DELETE_CHANNEL,
	ST_LOG_DELETION,
	ST_DELETION_HIGH,
	ST_READ_DELETIONS,
	ST_SET_RETENTION,
	ST_TRIM_FIND,
	ST_TRIM_MARK,
	ST_TRIM_DELETE,
	ST_TRIM_CLEAR,
	ST_NEXT_EXPIRY,
	ST_COUNT
};

/* Statements run with sqlite3_exec as well as prepared (store_sqlite.c). */
extern const char sql_user_version[];
extern const char sql_begin[];
extern const char sql_commit[];
extern const char sql_rollback[];
extern const char sql_channel_info[];
extern const char sql_channel_list[];

struct idem;

struct sq_store {
	struct store base; /* first: a struct store * from sq_open points at a struct sq_store */
	sqlite3 *db;
	sqlite3_blob *body; /* the body open for store_body_read, or NULL */
	sqlite3_stmt *stmt[ST_COUNT];
	struct buf channels; /* the JSON array bound as ?1 of the *_MANY reads */
	char epoch[STORE_EPOCH_LEN + 1]; /* "" when unknown (read-only, no database_info) */
	char *path;  /* the database file, for its -wake file */
	int wake_fd; /* DB-wake opened for writing at the first commit; -1 before (or when it cannot be) */
	struct idem *idem; /* idempotent publish (its own block below); NULL on a read-only connection */
};

/* The SQLite connection behind a struct store this backend opened. */
static inline struct sq_store *
sq_of(struct store *base)
{
	return (struct sq_store *)base;
}

/* ---- helpers (store_sqlite.c) ---- */
/* *cause = the formatted sentence (malloc'd), when cause is not NULL. */
void sq_set_cause(char **cause, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Map SQLite code rc of what to a store_result, logging it: STORE_FULL for a
 * full disk, STORE_BUSY for a lock or a read-only file, else STORE_ERROR. */
enum store_result sq_fail(struct sq_store *st, int rc, const char *what);
/* Step prepared statement id once and reset it: its SQLite code. */
int sq_run(struct sq_store *st, enum stmt_id id);
/* Reset s and clear its bindings. */
void sq_done(sqlite3_stmt *s);
/* Roll back the open transaction, if any. */
void sq_rollback(struct sq_store *st);
/* The one integer sql returns on db into *out: an SQLite code. */
int sq_open_int(sqlite3 *db, const char *sql, int64_t *out);
/* The channels as the JSON array the *_MANY statements bind (owned by st). */
const char *sq_channels_json(struct sq_store *st, const char *const *channels, size_t nch);
/* n as a LIMIT (SIZE_MAX: -1, no limit). */
int64_t sq_limit64(size_t n);
/* Step s for one integer into *out (0 when no row), reset it. */
enum store_result sq_step_int(struct sq_store *st, sqlite3_stmt *s, const char *what, int64_t *out);
/* The statement for one channel (one_id) or several (many_id), its ?1 bound. */
sqlite3_stmt *sq_bind_channels(struct sq_store *st, enum stmt_id one_id, enum stmt_id many_id,
			       const char *const *channels, size_t nch);
/* The message of the current row of s (malloc'd, msg.h). */
struct msg *sq_row_message(sqlite3_stmt *s);
/* Step s to its end (or out's byte budget), appending its messages to out. */
enum store_result sq_read_rows(struct sq_store *st, sqlite3_stmt *s, struct msglist *out);
/* Whether SQLite code rc is the group's own fault (bad data), not the database's. */
int sq_group_error(int rc);
/* The channel info of the current row of s. */
void sq_channel_row(sqlite3_stmt *s, struct store_channel_info *info);
/* Bind the default retention d to s (?2, ?3, ?4). */
void sq_bind_limits(sqlite3_stmt *s, const struct store_retention *d);
/* Copy a column's text into dst of size bytes, truncated, NUL-terminated. */
void sq_copy_name(char *dst, size_t size, const unsigned char *src);
/* After a commit: tell every watching process (wake.h). */
void sq_notify(struct sq_store *st);

/* ---- appends (store_sqlite_append.c) ---- */
/* Append group g inside the open transaction (a savepoint when it has
 * more than one row to write). STORE_OK with g->result set, or the
 * transaction's failure with *txerr (malloc'd). */
enum store_result sq_append_group(struct sq_store *st, struct store_group *g, int64_t now_ms,
		const char **ensured, char **txerr);

/* ---- idempotency keys (store_sqlite_idem.c) ---- */
/* Bring a version-1 database to version 2 under the write lock. 0, or -1
 * with *cause. */
int sq_idem_migrate(struct sq_store *st, const char *path, char **cause);
/* Prepare the key statements of a writable connection (st->idem). 0, or -1
 * with *cause. */
int sq_idem_open(struct sq_store *st, const char *path, int flags, char **cause);
void sq_idem_close(struct sq_store *st);
/* Look up the key of g's message i: SQLITE_ROW for a replay (seqs[i] and
 * outcomes[i] set), SQLITE_DONE when new (digest filled for sq_idem_store),
 * g->result set when refused; another code for a database failure. */
int sq_idem_lookup(struct sq_store *st, struct store_group *g, size_t i, int64_t now_ms,
		unsigned char *digest);
/* Keep p's key for seq: an SQLite code. */
int sq_idem_store(struct sq_store *st, const struct store_pub *p, int64_t seq, int64_t now_ms,
		const unsigned char *digest);
/* Delete up to limit expired keys in the open transaction: an SQLite code. */
int sq_idem_trim(struct sq_store *st, int64_t now_ms, int64_t limit);

/* ---- the operations, as store.h's store_* of the same names ---- */
enum store_result sq_append_groups(struct store *base, struct store_group *groups, size_t ngroups,
		int64_t now_ms);
enum store_result sq_read_since(struct store *base, const char *const *channels, size_t nch, int64_t since,
		size_t limit, struct msglist *out);
enum store_result sq_read_last(struct store *base, const char *const *channels, size_t nch, size_t n,
		struct msglist *out);
enum store_result sq_last_cursor(struct store *base, const char *const *channels, size_t nch, size_t n,
		int64_t *since);
enum store_result sq_read_all_since(struct store *base, int64_t since, size_t limit, struct msglist *out);
enum store_result sq_read_one(struct store *base, const char *channel, int64_t seq, struct msglist *out);
enum store_result sq_high_seq(struct store *base, int64_t *seq);
enum store_result sq_gap(struct store *base, const char *const *channels, size_t nch, int64_t since,
		int64_t *trimmed, int64_t *oldest);
enum store_result sq_channel_info(struct store *base, const char *channel, struct store_channel_info *info);
enum store_result sq_channel_list(struct store *base, struct store_channel_info **infos, size_t *n);
enum store_result sq_channel_delete(struct store *base, const char *channel, int64_t now_ms);
enum store_result sq_deletion_high(struct store *base, int64_t *id);
enum store_result sq_read_deletions(struct store *base, int64_t since, struct store_deletion **dels,
		size_t *n);
enum store_result sq_set_retention(struct store *base, const char *channel, const struct store_retention *r);
enum store_result sq_trim(struct store *base, const struct store_retention *defaults, int64_t now_ms,
		int64_t *deleted);
enum store_result sq_next_expiry(struct store *base, const struct store_retention *defaults,
		int64_t *when_ms);
void sq_idem_set_window(struct store *base, int64_t window_ms);
enum store_result sq_idem_expire(struct store *base, int64_t now_ms, int64_t limit, int64_t *deleted);

#endif
