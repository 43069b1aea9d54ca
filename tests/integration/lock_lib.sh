# SPDX-License-Identifier: MIT
# The SQLite write lock held by another process, for the tests of what
# waits on it (t_busy.sh, t_ws.sh); sourced after tests/lib.sh. The lock is
# real: the sqlite3 shell holds BEGIN IMMEDIATE open, fed through a fifo.

# db_locked: another connection cannot take the write lock now.
db_locked() {
	local err
	err=$("$SQLITE3" "$DB" 'BEGIN IMMEDIATE; ROLLBACK;' 2>&1 >/dev/null) && return 1
	grep -qi 'locked\|busy' <<<"$err"
}

# hold_lock NAME: start a sqlite3 shell that takes the write lock and keeps
# its transaction open until release_lock; returns once it holds the lock
# (it touches $T/NAME.held after BEGIN IMMEDIATE succeeded; -bail stops it
# there if it did not). The shell waits up to 5 s for a writer that holds the
# lock already (a trim or a publish of the worker's). Writes to fd 7. On
# another store the case is skipped (sqlite_only).
hold_lock() {
	sqlite_only "holds the SQLite write lock with sqlite3"
	mkfifo "$T/$1.fifo"
	"$SQLITE3" -bail "$DB" <"$T/$1.fifo" >"$T/$1.out" 2>&1 &
	HOLDER=$!
	exec 7>"$T/$1.fifo"
	printf '.timeout 5000\nBEGIN IMMEDIATE;\n.shell touch %s/%s.held\n' "$T" "$1" >&7
	wait_until 10 "sqlite3 to hold the write lock" test -e "$T/$1.held" ||
		fail "sqlite3 could not lock the database: $(cat "$T/$1.out")"
	db_locked || fail "the database is not locked"
}

# release_lock [--no-check]: end the holder's transaction and wait for it to
# exit; then the database must be unlocked, unless --no-check says that a
# writer waiting for the lock (a due trim, a publish or batch of fcpush-ws's)
# may take it at once.
release_lock() {
	echo 'ROLLBACK;' >&7
	exec 7>&-
	wait "$HOLDER"
	[ "${1:-}" = --no-check ] || ! db_locked || fail "the database is still locked"
}
