#!/usr/bin/env bash
# README command 2: run the whole test suite. Installs what is missing (Rust, ffmpeg,
# moto_server, cargo-nextest, and for the real-client tests Debian's chromium, Node.js with
# hls.js, playwright-core and tus-js-client, and tuspy). The tests start real troupe processes
# and a real moto_server.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_ffmpeg
ensure_moto
ensure_nextest
ensure_chromium
ensure_node
ensure_player_packages
ensure_tuspy
exec cargo nextest run --workspace --no-fail-fast "$@"
