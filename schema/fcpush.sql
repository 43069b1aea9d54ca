-- SPDX-License-Identifier: MIT
-- fcpush message store, schema version 2.
--
-- One SQLite file holds every published message, the channels with their
-- retention settings, a log of deleted channels, and the idempotency keys of
-- recent publishes. `fcpush init` (or any
-- fcpush program opening a new file) runs this script once; it is compiled
-- into the binaries. The file runs in WAL mode, so you can open it with the
-- sqlite3 shell while fcpush is running:
--
--   sqlite3 /var/lib/fcpush/fcpush.db
--   sqlite> SELECT * FROM recent_messages LIMIT 20;
--   sqlite> SELECT * FROM channel_stats;
--
-- Publishing from SQL works too; subscribers receive the row like any other:
--
--   sqlite> INSERT INTO messages(channel, body) VALUES('news', 'hello');
--
-- Times are whole milliseconds since 1970-01-01 UTC (Unix time * 1000).

-- The schema version, checked by every fcpush program at open. A program
-- built for another version refuses the file instead of misreading it; a
-- version-2 program opening a version-1 file adds idempotency_keys and sets
-- the version to 2 (a version-1 program then refuses the file).
PRAGMA user_version = 2;

-- Every message still stored, one row each.
CREATE TABLE messages (
	-- The message's sequence number: assigned on insert, strictly
	-- increasing across all channels, never reused (AUTOINCREMENT), so
	-- one number is a subscriber's position in every channel at once.
	-- It is the SSE id, the ETag of a poll and the `since` parameter.
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	-- The channel name (1-128 of A-Z a-z 0-9 . _ ~ - when published over
	-- HTTP). A channel needs no row in `channels` to receive messages.
	channel TEXT NOT NULL,
	-- The SSE event name, or NULL for none (plain "message" events).
	event TEXT,
	-- The body's media type as published; replayed as Content-Type.
	content_type TEXT NOT NULL DEFAULT 'text/plain; charset=utf-8',
	-- When the message was published (ms since the epoch, UTC).
	time_ms INTEGER NOT NULL
		DEFAULT (CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER)),
	-- The message body, stored as given (any bytes). Last, so that a large
	-- body written in pieces starts as a zeroblob SQLite need not hold in
	-- memory (it keeps a zeroblob unexpanded only in a row's last column),
	-- and so that reading the other columns never walks its overflow pages.
	body BLOB NOT NULL DEFAULT x''
);

-- Reads are "messages of these channels after seq N": this index serves them.
CREATE INDEX messages_channel_seq ON messages(channel, seq);

-- One row per channel that was published to through fcpush or configured.
-- Rows are created on first publish; a channel written only by a raw INSERT
-- gets its row when retention first trims it.
CREATE TABLE channels (
	name TEXT NOT NULL PRIMARY KEY,
	-- When the channel row was created (ms since the epoch, UTC).
	created_ms INTEGER NOT NULL,
	-- Retention overrides for this channel; NULL (or 0) means the
	-- configured default applies. Oldest messages go first.
	max_messages INTEGER, -- keep at most this many messages
	max_age_ms INTEGER,   -- delete messages older than this (ms)
	max_bytes INTEGER,    -- keep at most this many bytes of bodies
	-- The highest seq that retention (or `fcpush trim`) deleted from this
	-- channel, 0 when none. A subscriber whose position is below it has
	-- missed messages and is told so ("gap").
	trimmed_seq INTEGER NOT NULL DEFAULT 0
);

-- A log of deleted channels, one row per DELETE, so that every fcpush
-- process can close the subscribers of a channel another process deleted.
CREATE TABLE deletions (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	channel TEXT NOT NULL,
	-- When the channel was deleted (ms since the epoch, UTC).
	time_ms INTEGER NOT NULL
);

-- The idempotency keys of recent publishes (the Idempotency-Key header, the
-- "idempotency_key" of a batch element or of a WebSocket publish), one row
-- per channel and key, written in the same transaction as the message. A
-- publish that repeats a key within the window (idempotency_window_s, 5
-- minutes by default) stores nothing and is answered with the original seq;
-- with another payload it is refused (422). Rows older than the window are
-- forgotten, and deleted by the retention passes that follow commits.
--   SELECT channel, key, seq, hex(digest) FROM idempotency_keys ORDER BY time_ms DESC LIMIT 10;
-- (Keep in step with sql_idem_migrate_1 in fcgi/store.c, which adds this
-- table to a version-1 database.)
CREATE TABLE idempotency_keys (
	channel TEXT NOT NULL,
	-- The key as the publisher sent it: 1-255 visible ASCII characters.
	key TEXT NOT NULL,
	-- The seq of the message it stored (it may since have been trimmed).
	seq INTEGER NOT NULL,
	-- When that message was published (ms since the epoch, UTC).
	time_ms INTEGER NOT NULL,
	-- SHA-256 of the publish's event name, content type and body, to tell
	-- a retry (same digest) from a different message reusing the key.
	digest BLOB NOT NULL,
	PRIMARY KEY (channel, key)
) WITHOUT ROWID;
-- Expiry deletes the oldest keys first.
CREATE INDEX idempotency_keys_time ON idempotency_keys(time_ms);

-- One row naming this database. `epoch` is drawn at random when the schema
-- is created and never changes: it names this history of seqs. fcpush sends
-- it to subscribers (header Push-Epoch, field "epoch" of gap notices) and
-- they may send it back with their cursor (?epoch=, or EPOCH:SEQ). A
-- subscriber whose cursor carries another epoch, or a seq above the highest
-- ever assigned here (a database restored from a copy, or rolled back by a
-- power loss), is told it has a gap instead of waiting for seqs that now
-- belong to other messages. Deleting this row (or restoring a copy made
-- before fcpush added it) gives the database a new epoch at the next open.
CREATE TABLE IF NOT EXISTS database_info (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	epoch TEXT NOT NULL,
	-- When the epoch was drawn (ms since the epoch, UTC).
	created_ms INTEGER NOT NULL
);
INSERT OR IGNORE INTO database_info (id, epoch, created_ms)
	VALUES (1, lower(hex(randomblob(8))),
		CAST(round((julianday('now') - 2440587.5) * 86400000) AS INTEGER));

-- The latest messages first, with readable times. Bodies of text and JSON
-- messages are shown as text, other bodies as their size:
--   SELECT * FROM recent_messages WHERE channel = 'news' LIMIT 10;
CREATE VIEW recent_messages AS
SELECT
	seq,
	channel,
	event,
	strftime('%Y-%m-%dT%H:%M:%S', time_ms / 1000, 'unixepoch')
		|| printf('.%03dZ', time_ms % 1000) AS time,
	content_type,
	CASE
		WHEN lower(trim(substr(content_type, 1, instr(content_type || ';', ';') - 1)))
			IN ('application/json', 'application/x-ndjson')
		  OR trim(substr(content_type, 1, instr(content_type || ';', ';') - 1)) LIKE 'text/%'
		  OR trim(substr(content_type, 1, instr(content_type || ';', ';') - 1)) LIKE '%+json'
		THEN CAST(body AS TEXT)
		ELSE '<' || length(CAST(body AS BLOB)) || ' bytes>'
	END AS body
FROM messages
ORDER BY seq DESC;

-- One row per channel (with a row in `channels` or any message): how many
-- messages and body bytes it holds, the first and last seq still stored,
-- when it was last published to (UTC), and the highest seq retention
-- deleted from it.
CREATE VIEW channel_stats AS
SELECT
	n.name AS channel,
	count(m.seq) AS messages,
	coalesce(sum(length(CAST(m.body AS BLOB))), 0) AS bytes,
	min(m.seq) AS first_seq,
	max(m.seq) AS last_seq,
	strftime('%Y-%m-%dT%H:%M:%S', max(m.time_ms) / 1000, 'unixepoch')
		|| printf('.%03dZ', max(m.time_ms) % 1000) AS last_publish,
	coalesce(c.trimmed_seq, 0) AS trimmed_seq
FROM (SELECT name FROM channels UNION SELECT channel FROM messages) AS n
LEFT JOIN messages AS m ON m.channel = n.name
LEFT JOIN channels AS c ON c.name = n.name
GROUP BY n.name
ORDER BY n.name;
