#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The man pages (built from docs/man/*.in into the build tree) render with
# man -l and without a single groff warning (-ww), carry their NAME and
# SYNOPSIS, and fcpush.conf(5) lists exactly the keys the worker knows
# (`fcpush.fcgi --print-config-example`, from the table in fcgi/config.c).
set -u
: "${FCPUSH_BUILDDIR:?}"
failed=0
fail() {
	echo "FAIL - man: $*"
	failed=1
}
for prog in man groff; do
	command -v "$prog" >/dev/null || { echo "run.sh: $prog is missing (man-db, groff-base)" >&2; exit 99; }
done
for page in fcpush.1 fcpush.fcgi.8 fcpush-ws.8 fcpush.conf.5; do
	f=$FCPUSH_BUILDDIR/$page
	[ -s "$f" ] || { fail "$page was not built"; continue; }
	warn=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$f" 2>&1)
	[ -z "$warn" ] || fail "$page: groff warns: $warn"
	out=$(LC_ALL=C.UTF-8 MANWIDTH=80 MAN_KEEP_FORMATTING=0 man -l "$f" 2>&1 </dev/null | col -b)
	for section in NAME SYNOPSIS DESCRIPTION "SEE ALSO"; do
		grep -q "^$section" <<<"$out" || fail "$page: man -l shows no $section section"
	done
	grep -q '@[A-Z]*@' "$f" && fail "$page: an @PLACEHOLDER@ was left"
	echo "ok - man: $page renders ($(wc -l <<<"$out") lines)"
done
want=$("$FCPUSH_BUILDDIR/fcpush.fcgi" --print-config-example | sed -n 's/^#\([a-z_]*\) = .*/\1/p' | sort)
got=$(sed -n 's/^\.BR \([a-z_\\]*\) " = .*/\1/p' "$FCPUSH_BUILDDIR/fcpush.conf.5" | sed 's/\\-/-/g' | sort)
[ -n "$want" ] || fail "fcpush.fcgi --print-config-example printed no key"
if [ "$want" != "$got" ]; then
	fail "fcpush.conf(5) keys differ from fcpush.fcgi --print-config-example: $(diff <(echo "$want") <(echo "$got") | tr '\n' ' ')"
else
	echo "ok - man: fcpush.conf(5) lists the $(wc -l <<<"$want") keys of the config table"
fi
exit "$failed"
