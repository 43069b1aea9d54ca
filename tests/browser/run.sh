#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The browser suite (one TESTS entry): the pages of www/ in headless Debian
# chromium, driven by playwright-core (never a downloaded browser), against
# the real stack (fcpush.fcgi, fcpush-ws when built, lighttpd and Apache),
# with node's built-in test runner. See tests/browser/harness.mjs.
#
# Exits 77 (automake SKIP) when node or chromium is missing, unless
# FCPUSH_REQUIRE_BROWSER is set (CI sets it): then that is an error (99).
# playwright-core comes from tests/browser/node_modules (`npm ci --prefix
# tests/browser`, which ./quickstart runs) or, when that is absent (a
# distcheck's read-only tree), is installed with npm ci into a cache dir,
# $TMPDIR/fcpush-browser-deps-HASH (or FCPUSH_BROWSER_DEPS).
#   CHROMIUM=/usr/bin/chromium       the browser
#   FCPUSH_TEST_ONLY=client          run only the files whose name contains this
#   FCPUSH_TEST_KEEP=1               keep every temp dir (failed ones are kept anyway)
set -u

here=$(cd "$(dirname "$0")" && pwd)
export FCPUSH_SRCDIR=${FCPUSH_SRCDIR:-$(cd "$here/../.." && pwd)}
export FCPUSH_BUILDDIR=${FCPUSH_BUILDDIR:-$FCPUSH_SRCDIR/build}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
export LIGHTTPD=${LIGHTTPD:-} APACHE2=${APACHE2:-}

missing() {
	if [ -n "${FCPUSH_REQUIRE_BROWSER:-}" ]; then
		echo "browser tests: $* (FCPUSH_REQUIRE_BROWSER is set: failing; ./quickstart installs it)" >&2
		exit 99
	fi
	echo "browser tests: $*: SKIP (./quickstart installs it; set FCPUSH_REQUIRE_BROWSER to make this an error)"
	exit 77
}

command -v node >/dev/null 2>&1 || missing "node not found"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)
[ "${node_major:-0}" -ge 20 ] || missing "node ${node_major:-?} is too old: playwright-core needs 20 or later"
[ -x "$CHROMIUM" ] || missing "$CHROMIUM not found (Debian package chromium)"

for f in fcpush fcpush.fcgi; do
	if [ ! -x "$FCPUSH_BUILDDIR/$f" ]; then
		echo "browser tests: $FCPUSH_BUILDDIR/$f is not built" >&2
		exit 99
	fi
done

# playwright-core: the source tree's node_modules, else (a distcheck's
# read-only tree) a copy installed from the committed package-lock.json into
# a cache dir outside the build tree, keyed by the lock file's hash.
if [ -f "$here/node_modules/playwright-core/package.json" ]; then
	FCPUSH_NODE_MODULES=$here/node_modules
else
	key=$(sha256sum "$here/package-lock.json" | cut -c1-16)
	deps=${FCPUSH_BROWSER_DEPS:-${TMPDIR:-/tmp}/fcpush-browser-deps-$key}
	if [ ! -f "$deps/node_modules/playwright-core/package.json" ]; then
		command -v npm >/dev/null 2>&1 || missing "npm not found (needed once to install playwright-core)"
		tmp=$(mktemp -d "${TMPDIR:-/tmp}/fcpush-browser-deps.XXXXXX") || exit 99
		cp "$here/package.json" "$here/package-lock.json" "$tmp/"
		echo "# npm ci --prefix $deps (playwright-core)"
		if ! npm ci --prefix "$tmp" --no-audit --no-fund --prefer-offline >"$tmp/npm.log" 2>&1; then
			cat "$tmp/npm.log" >&2
			rm -rf "$tmp"
			echo "browser tests: npm ci failed" >&2
			exit 99
		fi
		rm -rf "$deps"
		mv "$tmp" "$deps" 2>/dev/null || rm -rf "$tmp" # another run may have won the race
	fi
	FCPUSH_NODE_MODULES=$deps/node_modules
fi
export FCPUSH_NODE_MODULES

files=()
for f in "$here"/*.test.mjs; do
	case $(basename "$f") in *"${FCPUSH_TEST_ONLY:-}"*) files+=("$f") ;; esac
done
[ ${#files[@]} -gt 0 ] || { echo "browser tests: no test file matches '${FCPUSH_TEST_ONLY:-}'" >&2; exit 99; }

# One file at a time (each starts its own servers and browser); every test
# is bounded (--test-timeout) and so is the whole run.
echo "# chromium: $("$CHROMIUM" --version 2>/dev/null | head -1); node $(node --version)"
exec timeout -k 10 600 node --test --test-concurrency=1 --test-timeout=120000 --test-reporter=spec "${files[@]}"
