#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The client pages' static checks: every pattern="" attribute compiles as
# browsers compile it (HTML: `^(?:PATTERN)$` with the v flag; an invalid one
# is dropped with a console error), accepts a valid channel name and refuses
# a bad one; every page links the favicon, which exists and is SVG.
set -u
: "${FCPUSH_SRCDIR:?}"
command -v node >/dev/null || { echo "run.sh: node is missing: SKIP"; exit 77; }
failed=0
for page in "$FCPUSH_SRCDIR"/www/*.html; do
	name=$(basename "$page")
	if grep -q '<link rel="icon" href="favicon.svg" type="image/svg+xml">' "$page"; then
		echo "ok - pages: $name links favicon.svg"
	else
		echo "FAIL - pages: $name does not link favicon.svg"
		failed=1
	fi
	while IFS= read -r pattern; do
		[ -n "$pattern" ] || continue
		if out=$(node -e '
			const re = new RegExp("^(?:" + process.argv[1] + ")$", "v");
			if (!re.test("news.sport_1~x-y") || re.test("a/b") || re.test("") || re.test("x".repeat(129)))
				throw new Error("accepts or refuses the wrong names");' "$pattern" 2>&1); then
			echo "ok - pages: $name pattern=\"$pattern\" compiles with the v flag"
		else
			echo "FAIL - pages: $name pattern=\"$pattern\": $(tail -n 3 <<<"$out" | tr '\n' ' ')"
			failed=1
		fi
	done < <(sed -n 's/.* pattern="\([^"]*\)".*/\1/p' "$page")
done
if grep -q '^<svg xmlns="http://www.w3.org/2000/svg"' "$FCPUSH_SRCDIR/www/favicon.svg" 2>/dev/null; then
	echo "ok - pages: www/favicon.svg is an SVG"
else
	echo "FAIL - pages: www/favicon.svg is missing or not an SVG"
	failed=1
fi
exit "$failed"
