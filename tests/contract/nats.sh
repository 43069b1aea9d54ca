#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The store contract suite (tests/test_store_contract.c) against a real NATS
# JetStream backend: starts a lone nats-server on loopback ports in a
# temporary folder, points FCPUSH_TEST_NATS_URL at it and runs only the
# store_contract suite of check_fcpush (Check's CK_RUN_SUITE). Skipped (77)
# when the build has no NATS backend or nats-server is not installed.
set -u
: "${FCPUSH_SRCDIR:?}" "${FCPUSH_BUILDDIR:?}"
export NATS_SERVER=${NATS_SERVER:-$(command -v nats-server 2>/dev/null || echo /usr/sbin/nats-server)}
check=$FCPUSH_BUILDDIR/tests/check_fcpush
case "$("$FCPUSH_BUILDDIR/fcpush" --version 2>/dev/null)" in
*nats*) ;;
*) echo "SKIP - store contract on NATS: this build has no NATS backend (configure --with-nats)"; exit 77 ;;
esac
[ -x "$NATS_SERVER" ] || { echo "SKIP - store contract on NATS: nats-server is not installed"; exit 77; }

. "$FCPUSH_SRCDIR/tests/nats_lib.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/fcpush-contract-nats.XXXXXX")
trap 'nats_cluster_stop "$dir"; rm -rf "$dir"' EXIT
nats_cluster_start "$dir" 1 || { echo "FAIL - store contract on NATS: nats-server did not start"; exit 1; }
echo "# nats-server pid ${NATS_PIDS[0]} on $NATS_URLS"
FCPUSH_TEST_NATS_URL="nats://$NATS_URLS" CK_RUN_SUITE=store_contract timeout 300 "$check"
rc=$?
[ "$rc" = 0 ] && echo "ok - store contract on NATS" || echo "FAIL - store contract on NATS (exit $rc)"
exit "$rc"
