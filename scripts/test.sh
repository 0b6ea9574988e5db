#!/usr/bin/env bash
# README command 2: run the whole test suite. Installs what is missing (Rust, ffmpeg, strace,
# moto_server, cargo-nextest, and for the real-client tests Debian's chromium, Node.js with
# hls.js, playwright-core and tus-js-client, tuspy, schemathesis, and the web console's packages and
# build). The tests start real troupe processes and a real moto_server; then the console's
# end-to-end tests (Playwright in Debian's chromium, web/e2e) run against a real troupe.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_ffmpeg
ensure_strace
ensure_moto
ensure_aiosmtpd
ensure_nextest
ensure_chromium
ensure_node
ensure_player_packages
ensure_tuspy
ensure_feedparser
ensure_brotli
ensure_standardwebhooks
ensure_dkimpy
ensure_schemathesis
ensure_console
status=0
cargo nextest run --workspace --no-fail-fast "$@" || status=$?
# The console end to end, against the troupe binary nextest just built.
target="${CARGO_TARGET_DIR:-$PWD/target}"
(cd web && TROUPE_BIN="$target/debug/troupe" CHROMIUM=/usr/bin/chromium npm run e2e --silent) || status=$?
exit "$status"
