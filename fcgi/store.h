/* SPDX-License-Identifier: MIT */
/*
 * The message store: every published message with its sequence number, the
 * channels with their retention settings, and a log of deleted channels.
 *
 * This header is the boundary between fcpush and a storage backend. A backend
 * is one file that fills a struct store_ops and is named in store.c's table
 * of backends; store_open picks it by the scheme of the database setting
 * ("SCHEME:LOCATION", or a bare path for the default backend).
 * Nothing here names a backend's own types: every call goes through
 * st->ops.
 *
 * A struct store is one connection to the backend and is used by one thread
 * at a time. Each thread that needs the store opens its own.
 *
 * The one cursor: seq is assigned by the backend, increasing in commit
 * order across every channel and never reused. A reader that has seen seq N
 * and asks for seq > N misses nothing that commits later. Every backend must
 * keep that promise (tests/test_store_contract.c checks it).
 */
#ifndef FCPUSH_STORE_H
#define FCPUSH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"

struct store_ops;

/* One open connection to a backend. A backend's own connection type starts
 * with a struct store, set by its open operation, so a struct store * is a
 * pointer to the backend's connection. */
struct store {
	const struct store_ops *ops;
};

/* Outcomes of store calls that can fail in more than one way. */
enum store_result {
	STORE_OK = 0,
	STORE_NOTFOUND, /* no such channel or message */
	STORE_INVALID,  /* the input was refused (bad JSON, bad field): a 400 */
	STORE_BUSY,     /* locked past the busy timeout, or read-only/unwritable: a 503, nothing written */
	STORE_FULL,     /* the disk (or quota) is full: a 507, nothing written */
	STORE_CONFLICT, /* an idempotency key already used for another payload: a 422, nothing written */
	STORE_ERROR     /* anything else; logged with the backend's message (store_errmsg) */
};

/* Flags for store_open. */
#define STORE_CREATE 0x1   /* create the file and the schema when missing */
#define STORE_READONLY 0x2 /* open read-only (CLI tail, stats) */
#define STORE_SYNC_NORMAL 0x4 /* durability = normal: a commit may be lost with the machine, not with a process */

/* The length of a database epoch: 16 lowercase hex digits. */
#define STORE_EPOCH_LEN 16

/* One message to append. Strings are NUL-terminated; event may be NULL (no
 * event name) and content_type may be NULL (stored as
 * "application/octet-stream"). The store copies what it keeps. A large body
 * may instead come from a file: with body_path set, body is ignored and the
 * first body_len bytes of that file are copied into the store in pieces,
 * never all in memory. idem_key (NULL: none) makes the publish idempotent
 * (see "Idempotent publish" below). */
struct store_pub {
	const char *channel;
	const char *event;
	const char *content_type;
	const void *body;
	size_t body_len;
	const char *body_path;
	const char *idem_key;
};

/* What became of one message of a group (store_group.outcomes). */
struct store_outcome {
	int64_t time_ms; /* the publish time of its row: the transaction's, or a replay's original */
	int replayed;    /* 1: its idempotency key was seen; its seq is the original's, nothing stored */
};

/* A group of messages that commit or fail together inside a larger
 * transaction (see store_append_groups). The store fills seqs[0..n-1] and
 * result; seqs is caller storage of n elements. */
struct store_group {
	const struct store_pub *pubs;
	size_t n;
	int64_t *seqs;
	enum store_result result;
	char *cause; /* set (malloc'd, caller frees) when result != STORE_OK */
	struct store_outcome *outcomes; /* NULL, or caller storage of n elements the store fills */
};

/* Bodies larger than this are not read with the message: the message says
 * body_omitted and its size, and the body is fetched by store_body_open (a
 * large object is announced to subscribers, then downloaded with Range). */
#define STORE_INLINE_MAX_BYTES (1024 * 1024)

/* Retention limits; 0 means unlimited. */
struct store_retention {
	int64_t max_messages;
	int64_t max_age_ms;
	int64_t max_bytes;
};

/* What GET /channels/{ch}/info and GET /channels report of a channel.
 * Counts cover the messages still stored. first_seq/last_seq are 0 when the
 * channel holds no message; trimmed_seq is the highest seq retention (or
 * `trim`) has deleted, 0 when none. retention holds the per-channel override
 * (0 fields: the default applies). */
struct store_channel_info {
	char name[129];
	int64_t messages;
	int64_t bytes;
	int64_t first_seq;
	int64_t last_seq;
	int64_t last_time_ms;
	int64_t trimmed_seq;
	int64_t created_ms;
	struct store_retention retention;
};

/* A channel deletion, as logged for other processes to see. */
struct store_deletion {
	int64_t id; /* increasing */
	char channel[129];
	int64_t time_ms;
};

/* Open the store named by location: "SCHEME:REST" picks the backend
 * registered for SCHEME in store.c (which gets REST), a location with no
 * registered scheme is a path for the default backend. flags are
 * STORE_* bits; busy_timeout_ms bounds how long one call waits for another
 * writer (ms). By default a commit is durable (on disk before the call
 * returns, so a 201 survives an OS crash or power loss); with
 * STORE_SYNC_NORMAL it survives the crash of any process, not of the
 * machine. With STORE_CREATE a missing store is created empty. A store of
 * an older schema version is brought to this one on a writable open (a
 * read-only open reads it as it is); a newer or foreign one is refused. Returns NULL on failure (an unknown
 * "SCHEME://" included) and, when cause is not NULL, sets *cause to a
 * sentence the caller frees. */
struct store *store_open(const char *location, int flags, int busy_timeout_ms, char **cause);
/* The STORE_SYNC_* flag for a `durability` setting: STORE_SYNC_NORMAL for
 * "normal", 0 (durable commits) for anything else. */
int store_durability_flags(const char *durability);
/* The database's epoch: STORE_EPOCH_LEN hex digits drawn at random when the
 * schema was created, naming this history of seqs. A restored or re-created
 * database has another one. "" when a read-only open found a database made
 * before epochs existed. Owned by st. */
const char *store_epoch(const struct store *st);
/* Where a subscriber's cursor resumes against this database's history
 * (high: the highest seq ever assigned, read before the caller's reads).
 * epoch (may be NULL or "": unchecked) is the epoch the client last saw.
 * Returns since when the cursor belongs to this history. When epoch names
 * another history, returns 0 (the whole stored history) and sets *rollback;
 * when since is above high (the database lost commits the client saw: a
 * power loss under durability = normal, or a restored backup), returns high
 * and sets *rollback. The caller then sends the gap signal: its client must
 * not believe it has seen seqs that will now be assigned to new messages. */
int64_t store_cursor_resume(const struct store *st, const char *epoch, int64_t since, int64_t high, int *rollback);
/* Close the connection and free it. st may be NULL. */
void store_close(struct store *st);

/* Append groups of messages in ONE transaction, each group atomic on its
 * own so that a group that fails (result set, nothing of it kept) does not
 * undo the others. Creates missing channels.
 * now_ms is the publish time stored in every row. Returns STORE_OK when the
 * transaction committed (check each group's result), STORE_BUSY when the
 * database stayed locked past the busy timeout or is unwritable, STORE_ERROR
 * otherwise; in both failure cases nothing at all was written and every group
 * result is set to the same value. A message with an idempotency key seen
 * within the window is not stored again: its seq is the original's (and its
 * outcome says replayed), or, when its payload differs, its group fails with
 * STORE_CONFLICT; an invalid key (not 1 to STORE_IDEM_STORED_KEY_MAX_BYTES
 * of visible ASCII) fails its group with STORE_INVALID. Groups are handled in order, so a later group repeating an
 * earlier group's key in the same transaction is a replay of it. */
enum store_result store_append_groups(struct store *st, struct store_group *groups, size_t ngroups,
				      int64_t now_ms);

/* Read up to limit messages with seq > since on any of the nch channels,
 * ascending, appending to out. Returns STORE_OK or STORE_ERROR/STORE_BUSY. */
enum store_result store_read_since(struct store *st, const char *const *channels, size_t nch,
				   int64_t since, size_t limit, struct msglist *out);
/* The last n messages across the nch channels, appended to out in ascending
 * seq order. */
enum store_result store_read_last(struct store *st, const char *const *channels, size_t nch, size_t n,
				  struct msglist *out);
/* The cursor from which store_read_since reads the last n messages across
 * the nch channels: *since is the seq of the (n + 1)-th newest, 0 when they
 * hold n or fewer. Reads seqs only, so a reader can then page through the n
 * messages. Returns STORE_OK or STORE_ERROR/STORE_BUSY (*since 0). */
enum store_result store_last_cursor(struct store *st, const char *const *channels, size_t nch, size_t n,
				    int64_t *since);
/* Up to limit messages with seq > since on every channel, ascending: the one
 * read an event loop does per wake-up. */
enum store_result store_read_all_since(struct store *st, int64_t since, size_t limit,
				       struct msglist *out);
/* One message by channel and seq; STORE_NOTFOUND when absent. */
enum store_result store_read_one(struct store *st, const char *channel, int64_t seq, struct msglist *out);

/* The highest seq ever assigned (it never goes back, even when messages are
 * deleted); 0 for an empty store. */
enum store_result store_high_seq(struct store *st, int64_t *seq);

/* Gap check for a cursor: *trimmed is the highest trimmed_seq among the nch
 * channels and *oldest the lowest seq still stored on them that is > since
 * (0 when none). The caller reports a gap when since < *trimmed. */
enum store_result store_gap(struct store *st, const char *const *channels, size_t nch, int64_t since,
			    int64_t *trimmed, int64_t *oldest);

/* Info of one channel; STORE_NOTFOUND when it has neither a channel row nor
 * messages (a channel written into the store by hand may have only
 * messages). */
enum store_result store_channel_info(struct store *st, const char *channel, struct store_channel_info *info);
/* Every channel, sorted by name; *infos is malloc'd (caller frees), *n set. */
enum store_result store_channel_list(struct store *st, struct store_channel_info **infos, size_t *n);
/* Delete a channel, its messages and its channel row in one transaction and
 * log the deletion (store_read_deletions). STORE_NOTFOUND when it did not
 * exist; STORE_BUSY as for appends. */
enum store_result store_channel_delete(struct store *st, const char *channel, int64_t now_ms);
/* The id of the latest logged deletion, 0 when none. */
enum store_result store_deletion_high(struct store *st, int64_t *id);
/* Deletions with id > since, ascending; *dels malloc'd (caller frees). */
enum store_result store_read_deletions(struct store *st, int64_t since, struct store_deletion **dels,
				       size_t *n);

/* Set a channel's retention override (0 fields clear the override), creating
 * the channel row when missing. */
enum store_result store_set_retention(struct store *st, const char *channel, const struct store_retention *r);
/* Apply retention to every channel: a channel's override where set, else
 * defaults. Deletes the oldest messages beyond max_messages, older than
 * now_ms - max_age_ms, and beyond max_bytes of bodies (newest kept), and
 * raises each channel's trimmed_seq to the highest seq it deleted. One
 * transaction. *deleted (may be NULL) gets the number of messages removed. */
enum store_result store_trim(struct store *st, const struct store_retention *defaults, int64_t now_ms,
			     int64_t *deleted);
/* The earliest time (ms) at which an age limit will expire a stored message,
 * 0 when no message is subject to an age limit. For scheduling trims without
 * polling. */
enum store_result store_next_expiry(struct store *st, const struct store_retention *defaults, int64_t *when_ms);

/* What a download needs to know of one message before reading its body. */
struct store_body_info {
	int64_t seq;
	int64_t time_ms;
	int64_t size;           /* bytes */
	char content_type[256]; /* truncated past 255 bytes */
	char event[129];        /* "" when none */
};

/* Look up message seq of channel for a download and open its body for
 * store_body_read (read in pieces, never all in memory; one open body per connection:
 * an earlier one is closed). STORE_NOTFOUND when there is no such message. */
enum store_result store_body_open(struct store *st, const char *channel, int64_t seq,
				  struct store_body_info *info);
/* Copy n bytes of the open body from offset (bytes) into p. Returns
 * STORE_OK, STORE_INVALID past the end or with no body open, STORE_ERROR
 * when the row changed under it (deleted by retention). */
enum store_result store_body_read(struct store *st, int64_t offset, void *p, size_t n);
/* Close the open body, if any (ends its read transaction). */
void store_body_close(struct store *st);

/* ---- idempotent publish ------------------------------------------------ */

/* A publish that carries an idempotency key (the Idempotency-Key header of
 * draft-ietf-httpapi-idempotency-key-header, "idempotency_key" of a batch
 * element or a WebSocket publish) is stored once per (channel, key) within
 * the window: the key is kept with the message, in the same transaction,
 * with a SHA-256 digest of the event name, content type and body. A later
 * publish of the same key on the same channel within the window stores
 * nothing: with the same digest its outcome is "replayed" with the original
 * seq and time; with another digest its group fails with STORE_CONFLICT.
 * Two publishes of one key never both store a message, even inside one
 * group commit: a backend looks the key up and keeps it in the transaction
 * that stores the message, so no "in progress" state is ever visible. */

/* The longest idempotency key a client may send, in bytes; the store takes
 * keys of up to STORE_IDEM_STORED_KEY_MAX_BYTES, which leaves room for the
 * "/N" a batch's Idempotency-Key gains per element. */
#define STORE_IDEM_KEY_MAX_BYTES 255
#define STORE_IDEM_STORED_KEY_MAX_BYTES (STORE_IDEM_KEY_MAX_BYTES + 24)
/* The window a store applies until store_idem_set_window: 300 s. */
#define STORE_IDEM_WINDOW_MS_DEFAULT (300 * 1000)

/* Whether key is a valid idempotency key from a client: 1 to
 * STORE_IDEM_KEY_MAX_BYTES bytes of visible ASCII (0x21-0x7e). 1 or 0 (0 for
 * NULL). */
int store_idem_key_valid(const char *key);
/* The same rule with another bound (bytes): for a backend checking the keys
 * it stores (STORE_IDEM_STORED_KEY_MAX_BYTES). */
int store_idem_key_valid_max(const char *key, size_t max);
/* How long (ms, > 0) st remembers an idempotency key: a key older than this
 * is forgotten (its next publish stores a new message) and its row may be
 * deleted. */
void store_idem_set_window(struct store *st, int64_t window_ms);
/* Delete up to limit rows of idempotency keys older than the window at
 * now_ms, oldest first, in one transaction; a look without the write lock
 * comes first, so a call with nothing expired writes nothing. *deleted (may
 * be NULL) gets the number deleted. The retention passes call it (appends
 * do not: it would put the deletes on the publish path); a key past the
 * window but not yet deleted is ignored by appends and its row reused.
 * Returns STORE_OK, or STORE_BUSY/STORE_FULL/STORE_ERROR as appends do
 * (nothing deleted). */
enum store_result store_idem_expire(struct store *st, int64_t now_ms, int64_t limit, int64_t *deleted);

/* The backends compiled in with their libraries' versions, as
 * "SCHEME VERSION[, ...]", for --version. A static string. */
const char *store_backends(void);

/* The last error message of the connection, for logs. Owned by st. */
const char *store_errmsg(struct store *st);

/* The largest body (bytes) one message may carry in this backend whatever
 * its headers, or 0 when the backend has no limit of its own (the
 * max_message_bytes setting alone applies). When why is not NULL and there
 * is a limit, *why is a sentence naming it and how to raise it (owned by
 * st, valid until its next call). A publisher refuses a larger body with
 * 413 before reading it; the backend refuses it too (STORE_INVALID). */
int64_t store_max_body(struct store *st, const char **why);

/* The file of the store at location when it is the default backend's (a
 * bare path or "sqlite:PATH"): a pointer into location; NULL for any other
 * backend, whose store is not a local file. (Request bodies are spooled
 * next to that file by default.) */
const char *store_local_path(const char *location);

/* ---- watching for commits -------------------------------------------------
 * Every append and channel deletion that commits tells every process
 * watching the same store, the committing one included: one readable fd per
 * process, however many subscribers wait, and no polling while nothing
 * happens. */
struct store_watch {
	const struct store_ops *ops;
};

/* What store_watch_drain saw (a bit mask). */
#define STORE_WATCH_COMMIT 0x1 /* a commit is visible now: read */
#define STORE_WATCH_SOON 0x2   /* a commit may become visible shortly (a write by a
				* process that does not notify, e.g. a database shell):
				* read now and again a little later */

/* Watch the store at location (as for store_open). Returns NULL with *cause
 * (caller frees; may be NULL) when the backend cannot watch. */
struct store_watch *store_watch_new(const char *location, char **cause);
/* Release it; w may be NULL. */
void store_watch_free(struct store_watch *w);
/* The non-blocking fd to poll for readability. Owned by w. */
int store_watch_fd(const struct store_watch *w);
/* Read every pending event. Returns a mask of STORE_WATCH_*, 0 when nothing
 * concerned this store, or -1 on a read error. */
int store_watch_drain(struct store_watch *w);

/* ---- backends ------------------------------------------------------------
 * What a backend implements: one function per call above, with the same
 * arguments, outcomes and promises (store_open's location arrives without
 * its "SCHEME:" prefix). Every member is required but max_body (NULL: no
 * limit of its own). */
struct store_ops {
	const char *scheme;  /* the location prefix that picks it, without ':' */
	const char *(*version)(void); /* its library's version, a static string */
	struct store *(*open)(const char *location, int flags, int busy_timeout_ms, char **cause);
	void (*close)(struct store *st);
	const char *(*epoch)(const struct store *st);
	const char *(*errmsg)(struct store *st);
	enum store_result (*append_groups)(struct store *st, struct store_group *groups, size_t ngroups,
					   int64_t now_ms);
	enum store_result (*read_since)(struct store *st, const char *const *channels, size_t nch, int64_t since,
					size_t limit, struct msglist *out);
	enum store_result (*read_last)(struct store *st, const char *const *channels, size_t nch, size_t n,
				       struct msglist *out);
	enum store_result (*last_cursor)(struct store *st, const char *const *channels, size_t nch, size_t n,
					 int64_t *since);
	enum store_result (*read_all_since)(struct store *st, int64_t since, size_t limit, struct msglist *out);
	enum store_result (*read_one)(struct store *st, const char *channel, int64_t seq, struct msglist *out);
	enum store_result (*high_seq)(struct store *st, int64_t *seq);
	enum store_result (*gap)(struct store *st, const char *const *channels, size_t nch, int64_t since,
				 int64_t *trimmed, int64_t *oldest);
	enum store_result (*channel_info)(struct store *st, const char *channel, struct store_channel_info *info);
	enum store_result (*channel_list)(struct store *st, struct store_channel_info **infos, size_t *n);
	enum store_result (*channel_delete)(struct store *st, const char *channel, int64_t now_ms);
	enum store_result (*deletion_high)(struct store *st, int64_t *id);
	enum store_result (*read_deletions)(struct store *st, int64_t since, struct store_deletion **dels,
					    size_t *n);
	enum store_result (*set_retention)(struct store *st, const char *channel, const struct store_retention *r);
	enum store_result (*trim)(struct store *st, const struct store_retention *defaults, int64_t now_ms,
				  int64_t *deleted);
	enum store_result (*next_expiry)(struct store *st, const struct store_retention *defaults,
					 int64_t *when_ms);
	enum store_result (*body_open)(struct store *st, const char *channel, int64_t seq,
				       struct store_body_info *info);
	enum store_result (*body_read)(struct store *st, int64_t offset, void *p, size_t n);
	void (*body_close)(struct store *st);
	void (*idem_set_window)(struct store *st, int64_t window_ms);
	enum store_result (*idem_expire)(struct store *st, int64_t now_ms, int64_t limit, int64_t *deleted);
	int64_t (*max_body)(struct store *st, const char **why);
	struct store_watch *(*watch_new)(const char *location, char **cause);
	void (*watch_free)(struct store_watch *w);
	int (*watch_fd)(const struct store_watch *w);
	int (*watch_drain)(struct store_watch *w);
};

#endif
