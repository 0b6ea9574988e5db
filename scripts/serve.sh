#!/usr/bin/env bash
# README command 1: run troupe on its embedded defaults (http://127.0.0.1:8080, data in ./data).
# Installs what is missing (Rust, ffmpeg, Node.js), and builds the web console (web/ into
# web/dist, which the binary embeds) when it is missing or stale. Extra arguments go to
# `troupe serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_rust
ensure_ffmpeg
ensure_node
ensure_console
exec cargo run --release --bin troupe -- serve "$@"
