#!/usr/bin/env bash
# The soak: one release troupe node under a steady mix of uploads (tus, transcoded), playback
# with heartbeats, ratings, searches, listings and event-stream subscribers for SOAK_MINUTES
# (30). Every minute: RSS, open files, the actor count, the load average and the p99, count
# and errors of every endpoint. At the end: the verdict against the goal (after the first 5
# minutes RSS grows <= 5 %, open files and actors stay flat, 0 errors), with RSS judged minus
# the HLS segment cache (troupe_hls_cache_bytes), which fills towards its bound by design.
# A measurement, not a CI gate: it exits 0 whenever the run completes. See README.md here.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$REPO_ROOT/benches/load"
log() { printf '[soak] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

SOAK_MINUTES="${SOAK_MINUTES:-30}"
SOAK_USERS="${SOAK_USERS:-12}"
SOAK_LIBRARY="${SOAK_LIBRARY:-16}"
SOAK_UPLOAD_EVERY="${SOAK_UPLOAD_EVERY:-20}"
SOAK_CLIP_SECS="${SOAK_CLIP_SECS:-12}"
SOAK_OUT="${SOAK_OUT:-${TMPDIR:-/tmp}/troupe-soak-$(date -u +%Y%m%dT%H%M%SZ)}"

# ---------------------------------------------------------------------------------------------
# Tools: ffmpeg (the clip, and troupe's transcodes), Python's aiohttp (the driver).
# ---------------------------------------------------------------------------------------------
apt_install() {
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get install -y -q "$@" >&2 || { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q "$@" >&2; }
}
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || apt_install ffmpeg
command -v python3 >/dev/null || apt_install python3
if ! python3 -c 'import aiohttp' 2>/dev/null; then
    log "installing aiohttp (pip)"
    python3 -m pip install -q --disable-pip-version-check aiohttp >&2 ||
        python3 -m pip install -q --disable-pip-version-check --user --break-system-packages aiohttp >&2
fi

# ---------------------------------------------------------------------------------------------
# Build (honours CARGO_TARGET_DIR).
# ---------------------------------------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
TROUPE_BIN="${TROUPE_BIN:-$TARGET_DIR/release/troupe}"
if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building troupe (release) in $REPO_ROOT; this may wait for the cargo lock"
    (cd "$REPO_ROOT" && cargo build --release --bin troupe) >&2
fi
[ -x "$TROUPE_BIN" ] || die "$TROUPE_BIN not found"

# ---------------------------------------------------------------------------------------------
# Scratch space (the data dir; deleted on exit), results (kept), cleanup.
# ---------------------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/troupe-soak-data.XXXXXX")"
mkdir -p "$SOAK_OUT"
TROUPE_PID=""
cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if [ -n "$TROUPE_PID" ] && kill -0 "$TROUPE_PID" 2>/dev/null; then
        kill -TERM "$TROUPE_PID" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do kill -0 "$TROUPE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$TROUPE_PID" 2>/dev/null && kill -KILL "$TROUPE_PID" 2>/dev/null || true
        wait "$TROUPE_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${TROUPE_PORT:-}"
if [ -z "$PORT" ]; then
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        if port_free "$p"; then PORT="$p"; break; fi
    done
fi
[ -n "$PORT" ] || die "no free port found"

# ---------------------------------------------------------------------------------------------
# The clip: generated once, uploaded over and over.
# ---------------------------------------------------------------------------------------------
CLIP="$TMP/clip.mp4"
ffmpeg -v error -y -f lavfi -i "testsrc=size=320x240:rate=25" -f lavfi -i "sine=frequency=440" \
    -t "$SOAK_CLIP_SECS" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -b:a 64k \
    -movflags +faststart "$CLIP"
log "clip: ${SOAK_CLIP_SECS} s 320x240 testsrc + sine, $(stat -c %s "$CLIP") bytes"

# ---------------------------------------------------------------------------------------------
# troupe with its defaults (rate limits on), from the scratch dir so that no config file applies.
# ---------------------------------------------------------------------------------------------
DATA="$TMP/data"
(cd "$TMP" && exec env -u RUST_LOG ${EXTRA_TROUPE_ENV:-} "$TROUPE_BIN" serve --data-dir "$DATA" \
    --listen "127.0.0.1:$PORT") >"$SOAK_OUT/troupe.log" 2>&1 &
TROUPE_PID=$!
URL="http://127.0.0.1:$PORT"
for ((i = 0; i < 600; i++)); do
    kill -0 "$TROUPE_PID" 2>/dev/null || die "troupe exited; see $SOAK_OUT/troupe.log"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" || true)" = 200 ] && break
    sleep 0.1
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/readyz" || true)" = 200 ] || die "troupe not ready"

{
    echo "# troupe soak, $(date -u +%FT%TZ)"
    echo "# commit $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $TROUPE_BIN"
    echo "# $SOAK_MINUTES minutes, $SOAK_USERS users, library $SOAK_LIBRARY clips, an upload every ${SOAK_UPLOAD_EVERY} s"
    echo "# troupe pid $TROUPE_PID on $URL, defaults (rate limits on)${EXTRA_TROUPE_ENV:+, plus $EXTRA_TROUPE_ENV}"
    echo "# machine: $(nproc) CPUs, load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$SOAK_OUT/report.txt"

python3 -u "$HERE/soak_driver.py" --base "$URL" --pid "$TROUPE_PID" --data-dir "$DATA" \
    --clip "$CLIP" --out "$SOAK_OUT" --minutes "$SOAK_MINUTES" --users "$SOAK_USERS" \
    --library "$SOAK_LIBRARY" --upload-every "$SOAK_UPLOAD_EVERY" ${SOAK_DRIVER_ARGS:-} |
    tee -a "$SOAK_OUT/report.txt"

grep -ciE '"level":"(ERROR|WARN)"' "$SOAK_OUT/troupe.log" >/dev/null &&
    log "troupe logged $(grep -ciE '"level":"(ERROR|WARN)"' "$SOAK_OUT/troupe.log") WARN/ERROR lines (see troupe.log)"
log "results: $SOAK_OUT (report.txt, soak.csv, errors.log, troupe.log, fds_minuteNN.txt)"
