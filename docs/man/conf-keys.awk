# SPDX-License-Identifier: MIT
# conf-keys.awk: the KEYS section of fcpush.conf(5) from
# conf/fcpush.conf.example (written by `fcpush.fcgi --print-config-example`
# from the table in fcgi/config.c; tests/man/run.sh checks they agree).
# A key's block: comment lines (its description), an optional
# "# range: ..." line, then "#key = default". The header (up to the first
# blank line after the text) is skipped.
function esc(s) {
	gsub(/\\/, "\\e", s)
	gsub(/-/, "\\-", s)
	gsub(/"/, "\\(dq", s)
	return s
}
function line(s) {
	# A text line starting with . or ' would be a request.
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}
/^$/ { header_done = 1; desc = ""; range = ""; next }
!header_done { next }
/^# range: / { range = substr($0, 10); next }
/^#[a-z_]+ = / {
	key = $0; sub(/^#/, "", key); sub(/ = .*/, "", key)
	val = $0; sub(/^#[a-z_]+ = /, "", val)
	print ".TP"
	print ".BR " esc(key) " \" = " esc(val) "\""
	printf "%s", desc
	if (range != "")
		print "Range: " esc(range) "."
	desc = ""; range = ""
	next
}
/^#/ { t = $0; sub(/^# ?/, "", t); desc = desc line(esc(t)) "\n"; next }
