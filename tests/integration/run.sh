#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The integration suite (one TESTS entry): for each web server in
# ${FCPUSH_TEST_SERVERS:-lighttpd apache} whose binary exists, run every
# tests/integration/t_*.sh against a fresh worker, database and server (each
# file sets up its own through tests/lib.sh). Prints one ok/FAIL line per
# case; exits 1 when any failed, 77 (automake SKIP) when no server exists.
#   FCPUSH_TEST_ONLY=t_longpoll   run only the files whose name contains this
#                                 (several words: any of them)
#   FCPUSH_TEST_STORE=nats        run them against the NATS JetStream backend
#                                 (tests/lib.sh; needs nats-server)
set -u

here=$(cd "$(dirname "$0")" && pwd)
export FCPUSH_SRCDIR=${FCPUSH_SRCDIR:-$(cd "$here/../.." && pwd)}
export FCPUSH_BUILDDIR=${FCPUSH_BUILDDIR:-$FCPUSH_SRCDIR/build}
export LIGHTTPD=${LIGHTTPD:-} APACHE2=${APACHE2:-} CURL=${CURL:-} SQLITE3=${SQLITE3:-}

for prog in curl jq sqlite3; do
	if ! command -v "$prog" >/dev/null 2>&1; then
		echo "run.sh: $prog is required (./quickstart installs it)" >&2
		exit 99
	fi
done
for f in fcpush fcpush.fcgi; do
	if [ ! -x "$FCPUSH_BUILDDIR/$f" ]; then
		echo "run.sh: $FCPUSH_BUILDDIR/$f is not built" >&2
		exit 99
	fi
done

find_server() {
	local name=$1 value=$2 d
	if [ -n "$value" ] && [ -x "$value" ]; then
		echo "$value"
		return 0
	fi
	command -v "$name" 2>/dev/null && return 0
	for d in /usr/sbin /sbin /usr/local/sbin; do
		[ -x "$d/$name" ] && { echo "$d/$name"; return 0; }
	done
	return 1
}

servers=()
for s in ${FCPUSH_TEST_SERVERS:-lighttpd apache}; do
	case $s in
	lighttpd) bin=$(find_server lighttpd "$LIGHTTPD") && LIGHTTPD=$bin ;;
	apache) bin=$(find_server apache2 "$APACHE2") && APACHE2=$bin ;;
	*) echo "run.sh: unknown server '$s' in FCPUSH_TEST_SERVERS" >&2; exit 99 ;;
	esac
	if [ -n "${bin:-}" ]; then
		servers+=("$s")
	else
		echo "# $s not found: skipping its tests"
	fi
	bin=
done
if [ ${#servers[@]} = 0 ]; then
	echo "run.sh: neither lighttpd nor apache2 found: SKIP"
	exit 77
fi
export LIGHTTPD APACHE2

# only_file NAME: whether FCPUSH_TEST_ONLY lets file NAME run.
only_file() {
	local w
	[ -n "${FCPUSH_TEST_ONLY:-}" ] || return 0
	for w in $FCPUSH_TEST_ONLY; do
		case $1 in *"$w"*) return 0 ;; esac
	done
	return 1
}

out=$(mktemp "${TMPDIR:-/tmp}/fcpush-run.XXXXXX") || exit 99
trap 'rm -f "$out"' EXIT
passed=0
failed=0
skipped=0
for s in "${servers[@]}"; do
	start=$(date +%s)
	for t in "$here"/t_*.sh; do
		only_file "$(basename "$t")" || continue
		SERVER=$s bash "$t" 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		p=$(grep '^ok - ' "$out" | grep -vc '# SKIP')
		s_=$(grep '^ok - ' "$out" | grep -c '# SKIP')
		f=$(grep -c '^FAIL - ' "$out")
		if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
			echo "FAIL - [$s] $(basename "$t" .sh): exited with status $rc"
			f=1
		fi
		passed=$((passed + p))
		skipped=$((skipped + s_))
		failed=$((failed + f))
	done
	echo "# $s: done in $(($(date +%s) - start)) s"
done
echo "# integration: $passed passed, $failed failed, $skipped skipped (servers: ${servers[*]}, store: ${FCPUSH_TEST_STORE:-sqlite})"
[ "$failed" = 0 ]
