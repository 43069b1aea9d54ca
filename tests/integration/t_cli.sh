#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The command-line tool as a new user meets it: --help and --version without
# a database, a missing database names the `init` command to run, `retention
# CHANNEL` alone shows the retention (and changes nothing), and `publish` from
# standard input prints a summary (a progress line on a terminal), one seq
# per line only with --seqs.
. "$FCPUSH_SRCDIR/tests/lib.sh"
fcpush_setup

case_help_version_without_database() {
	local none="$T/nowhere/none.db" out
	out=$(FCPUSH_DATABASE=$none "$FCPUSH" --help) || fail "fcpush --help exited $?"
	grep -q '^usage: fcpush' <<<"$out" || fail "--help printed: $out"
	grep -q 'retention CHANNEL ' <<<"$out" || fail "--help lists no retention command: $out"
	out=$(FCPUSH_DATABASE=$none "$FCPUSH" publish --help) || fail "fcpush publish --help exited $?"
	grep -q '^usage: fcpush' <<<"$out" || fail "publish --help printed: $out"
	out=$(FCPUSH_DATABASE=$none "$FCPUSH" --version) || fail "fcpush --version exited $?"
	[[ $out =~ ^fcpush\ [0-9]+\.[0-9]+\.[0-9]+ ]] || fail "--version printed: $out"
	[ ! -e "$T/nowhere" ] || fail "--help or --version created $T/nowhere"
}

case_missing_database_says_init() {
	local none="$T/none.db" rc=0
	"$FCPUSH" --database "$none" stats >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" != 0 ] || fail "stats on a missing database exited 0"
	grep -qF "fcpush --database $none init" "$T/err" || fail "stderr does not name the init command: $(cat "$T/err")"
	[ ! -e "$none" ] || fail "stats created $none"
	rc=0
	FCPUSH_DATABASE=$none "$FCPUSH" publish news hi >"$T/out" 2>"$T/err" || rc=$?
	[ "$rc" != 0 ] || fail "publish to a missing database exited 0"
	grep -qF "fcpush --database $none init" "$T/err" || fail "stderr does not name the init command: $(cat "$T/err")"
}

case_retention_show() {
	local ch out
	ch=$(unique_channel ret)
	publish "$ch" one
	"$FCPUSH" --database "$DB" retention "$ch" --max-messages 7 --max-age-s 60 >/dev/null ||
		fail "fcpush retention --max-messages failed"
	out=$("$FCPUSH" --database "$DB" retention "$ch") || fail "fcpush retention $ch failed"
	assert_eq "$("$JQ" -c '[.channel, .max_messages, .max_age_s, .max_bytes]' <<<"$out")" "[\"$ch\",7,60,0]" \
		"retention shown"
	assert_eq "$("$JQ" -c '.defaults | keys' <<<"$out")" '["max_age_s","max_bytes","max_messages"]' \
		"defaults shown"
	# Showing changed nothing: the worker still reports the override.
	req GET "/push/channels/$ch/info"
	assert_json .retention.max_messages 7
	assert_json .retention.max_age_s 60
	if "$FCPUSH" --database "$DB" retention "$(unique_channel none)" >"$T/out" 2>"$T/err"; then
		fail "retention of an unknown channel exited 0"
	fi
	grep -q 'no channel' "$T/err" || fail "unknown channel: $(cat "$T/err")"
}

case_publish_stdin_summary() {
	local ch out first last
	ch=$(unique_channel sum)
	out=$(seq 1 1000 | "$FCPUSH" --database "$DB" publish "$ch") || fail "fcpush publish from stdin failed"
	assert_eq "$(wc -l <<<"$out" | tr -d ' ')" 1 "lines printed for 1000 messages"
	[[ $out =~ ^1000\ messages\ published\ to\ $ch\ in\ [0-9.]+\ s\ \([0-9]+/s\),\ seq\ ([0-9]+)\ to\ ([0-9]+)$ ]] ||
		fail "summary: $out"
	first=${BASH_REMATCH[1]}
	last=${BASH_REMATCH[2]}
	assert_eq "$(channel_seqs "$ch" $((first - 1)) | "$JQ" --argjson l "$last" 'map(select(. <= $l)) | length')" 1000 \
		"rows between first and last seq"
	out=$(printf 'a\nb\nc\n' | "$FCPUSH" --database "$DB" publish "$ch" --seqs) || fail "publish --seqs failed"
	assert_eq "$(wc -l <<<"$out" | tr -d ' ')" 3 "seqs printed with --seqs"
	assert_eq "$(sed -n 3p <<<"$out")" "$(channel_seqs "$ch" 0 | "$JQ" max)" "last seq printed"
}

# On a terminal a progress line (ending in a carriage return) comes first;
# through a pipe (above) there is none.
case_publish_progress_on_terminal() {
	local ch
	command -v script >/dev/null || fail "script(1) (bsdutils) is missing"
	ch=$(unique_channel prog)
	timeout 20 script -qec "(echo one; sleep 0.6; echo two; echo three) | '$FCPUSH' --database '$DB' publish $ch" /dev/null \
		>"$T/tty.out" || fail "publish on a terminal failed: $(cat "$T/tty.out")"
	grep -q $'^2 messages published to '"$ch"'.*\r' "$T/tty.out" || fail "no progress line: $(od -c "$T/tty.out" | head)"
	grep -q "3 messages published to $ch" <(tr '\r' '\n' <"$T/tty.out") || fail "no summary: $(cat "$T/tty.out")"
}

# in_poll PID: the child of PID (timeout(1) runs `tail`) sleeps in poll(2)
# (x86_64 syscall 7): it has read the history and waits for commits. 2 when
# PID is gone.
in_poll() {
	local child sc
	[ -d "/proc/$1" ] || return 2
	child=$(cat "/proc/$1/task/$1/children" 2>/dev/null) || return 1
	sc=$(cat "/proc/${child%% *}/syscall" 2>/dev/null) || return 1
	[ "${sc%% *}" = 7 ]
}

# `tail` prints a channel's history after --since, then what other processes
# commit (the worker, and a raw sqlite3 INSERT seen only through the WAL),
# each row once and in order, not other channels' rows; --count ends it.
case_tail_history_then_live() {
	local ch other first pid rc=0
	ch=$(unique_channel tail)
	other=$(unique_channel other)
	publish "$ch" one
	first=$SEQ
	publish "$other" elsewhere
	publish "$ch" two
	timeout 10 "$FCPUSH" --database "$DB" tail "$ch" --since $((first - 1)) --count 2 >"$T/hist" ||
		fail "tail of the history exited $?"
	assert_eq "$("$JQ" -sc '[.[] | [.channel, .data]]' "$T/hist")" "[[\"$ch\",\"one\"],[\"$ch\",\"two\"]]" \
		"history after --since"
	timeout 10 "$FCPUSH" --database "$DB" tail "$ch,$other" --since "$SEQ" --count 3 >"$T/live" &
	pid=$!
	wait_until 5 "tail waiting for commits" in_poll "$pid" || fail "tail never waited: $(cat "$T/live")"
	publish "$ch" three
	# Another process's commit: a raw INSERT into the SQLite file, a CLI
	# publish on another store.
	if on_sqlite; then
		"$SQLITE3" -cmd '.timeout 5000' "$DB" "INSERT INTO messages(channel, body) VALUES('$other', 'raw');" ||
			fail "raw INSERT failed"
	else
		"$FCPUSH" --database "$DB" publish "$other" raw >/dev/null || fail "CLI publish failed"
	fi
	publish "$ch" four
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "live tail exited $rc: $(cat "$T/live")"
	assert_eq "$("$JQ" -sc '[.[].data]' "$T/live")" '["three","raw","four"]' "live rows once, in order"
	assert_eq "$("$JQ" -s '[.[].seq] | . == (sort | unique)' "$T/live")" true "seqs ascending"
}

run_case "--help and --version need no database" case_help_version_without_database
run_case "a missing database names the init command" case_missing_database_says_init
run_case "retention CHANNEL shows the retention and changes nothing" case_retention_show
run_case "publish from stdin prints a summary, --seqs one seq per line" case_publish_stdin_summary
run_case "publish on a terminal shows a progress line" case_publish_progress_on_terminal
run_case "tail prints the history, then commits by any process, once and in order" case_tail_history_then_live
finish
