#!/usr/bin/env bash
# The CPU budget per request: microseconds of troupe's CPU (user + system, every thread of the
# server process) per request, for the main endpoints, measured the same way each time.
#
#   benches/load/cpu_budget.sh                 # 3 rounds of 5 s per endpoint, -c 16
#   ROUNDS=5 DURATION=10s CONNECTIONS=32 benches/load/cpu_budget.sh
#   NO_BUILD=1 TROUPE_BIN=/path/to/release/troupe benches/load/cpu_budget.sh
#   ONLY="rating users_me" EXTRA_TROUPE_ENV="TROUPE__LOG__ACCESS_LOG=false" benches/load/cpu_budget.sh
#
# One release troupe (one HTTP worker, rate limits off, the default durable store with its
# fsyncs) on a fresh data dir, pinned to CPU 0, wrk pinned to CPU 1. Set-up: a user, a 2-s
# clip uploaded with tus and transcoded by ffmpeg, a playback session. Then, per endpoint and
# round, wrk runs for DURATION after a 1-s warm-up, and the script reads the server's CPU time
# (utime + stime of /proc/<pid>/stat, in clock ticks) before and after: CPU / requests is the
# budget. The process's CPU is what the server spent, whatever else the machine runs, so the
# figure moves much less than a throughput would on a shared machine; the median and the
# spread of the rounds are printed. Non-2xx answers are counted and make the row fail.
#
# Endpoints: GET /healthz (the floor), GET /api/v1/users/me, PUT a rating (alternating like
# and dislike, so every request is a durable change), a playback heartbeat, the latest
# listing (20 videos), a search, the media playlist and a segment (240p) through the signed
# HLS path. The forwarded `GET /users/me` needs a cluster: `cargo bench --bench cluster -- tls`
# prints its CPU per request beside the local one.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
CONNECTIONS="${CONNECTIONS:-16}"
VIDEOS="${VIDEOS:-24}"
ONLY="${ONLY:-}"                 # endpoint names to measure (default: all)
EXTRA_TROUPE_ENV="${EXTRA_TROUPE_ENV:-}"
SECRET="cpu-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

log() { printf '[cpu_budget] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

. "$REPO_ROOT/scripts/lib.sh"
ensure_apt wrk wrk
ensure_apt curl curl
ensure_apt ffmpeg ffmpeg
ensure_apt python3 python3

BENCH_NAME=cpu_budget
. "$REPO_ROOT/benches/load/common.sh"
TICK="$(getconf CLK_TCK)"

DATA="$TMP/data"
log "encoding a 2-s 480p clip with ffmpeg"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=854x480:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 2 \
    -c:v libx264 -preset veryfast -b:v 1M -pix_fmt yuv420p -c:a aac -b:a 96k "$TMP/source.mp4"

log "starting troupe on 127.0.0.1:$TROUPE_PORT ($PINNING)"
(
    cd "$TMP"
    exec "${PIN_SERVER[@]}" env -u RUST_LOG \
        TROUPE__SERVER__WORKERS=1 \
        TROUPE__LOG__FORMAT=json \
        TROUPE__RATE_LIMIT__ENABLED=false \
        TROUPE__AUTH__JWT_SECRET="$SECRET" \
        $EXTRA_TROUPE_ENV \
        "$TROUPE_BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$TROUPE_PORT"
) >"$TMP/troupe.out" 2>"$TMP/troupe.err" &
TROUPE_PID=$!
for ((i = 0; i < 600; i++)); do
    grep -q '^troupe listening on http://' "$TMP/troupe.out" 2>/dev/null && break
    kill -0 "$TROUPE_PID" 2>/dev/null || { tail -n 30 "$TMP/troupe.err" >&2; die "troupe exited during startup"; }
    sleep 0.1
done
ADDR="$(sed -n 's#^troupe listening on http://##p' "$TMP/troupe.out" | head -n1)"
[ -n "$ADDR" ] || die "troupe never printed its listening line"
BASE="http://$ADDR"
API="$BASE/api/v1"

jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
curl -sf -X POST "$API/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.org","password":"violet-harbor-cinnamon-42"}' >/dev/null ||
    die "cannot register the bench user"
ACCESS="$(curl -sf -X POST "$API/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"violet-harbor-cinnamon-42"}' | jget 'd["access_token"]')"
AUTH="authorization: Bearer $ACCESS"

upload() { # title -> video id, once transcoded
    local vid size loc state
    vid="$(curl -sf -X POST "$API/videos" -H "$AUTH" -H 'content-type: application/json' \
        -d "{\"title\":\"$1\",\"description\":\"a clip for the cpu budget\",\"visibility\":\"public\"}" | jget 'd["id"]')"
    size="$(stat -c %s "$TMP/source.mp4")"
    loc="$(curl -sf -D - -o /dev/null -X POST "$API/uploads" -H "$AUTH" -H 'tus-resumable: 1.0.0' \
        -H "upload-length: $size" -H "upload-metadata: video_id $(printf %s "$vid" | base64 -w0)" |
        tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
    case "$loc" in http*) ;; *) loc="$BASE$loc" ;; esac
    curl -sf -X PATCH "$loc" -H "$AUTH" -H 'tus-resumable: 1.0.0' -H 'upload-offset: 0' \
        -H 'content-type: application/offset+octet-stream' --data-binary @"$TMP/source.mp4" >/dev/null ||
        die "tus upload failed"
    for ((i = 0; i < 1200; i++)); do
        state="$(curl -sf "$API/videos/$vid" -H "$AUTH" | jget 'd["state"]' || true)"
        [ "$state" = ready ] && break
        [ "$state" = failed ] && die "the transcode failed"
        sleep 0.25
    done
    [ "$state" = ready ] || die "video $vid never became ready"
    echo "$vid"
}
log "uploading and transcoding one clip"
VIDEO="$(upload "Budget clip one")"
# The listing needs a page's worth of ready videos: the same small clip, uploaded again.
for ((n = 2; n <= VIDEOS; n++)); do upload "Budget clip $n" >/dev/null; done
log "$VIDEOS videos ready"

GRANT="$(curl -sf -X POST "$API/playback/sessions" -H "$AUTH" -H 'content-type: application/json' \
    -d "{\"video_id\":\"$VIDEO\",\"device_id\":\"bench-device\"}")"
SESSION="$(printf %s "$GRANT" | jget 'd["session_id"]')"
MASTER="$(printf %s "$GRANT" | jget 'd["master_url"]')"
case "$MASTER" in http*) ;; *) MASTER="$BASE$MASTER" ;; esac
# The playlists name their children by relative URIs (which carry the playback token).
resolve() { python3 -c 'import sys, urllib.parse; print(urllib.parse.urljoin(sys.argv[1], sys.argv[2]))' "$1" "$2"; }
curl -sf "$MASTER" -o "$TMP/master.m3u8" || die "no master playlist at $MASTER"
MEDIA_URL="$(resolve "$MASTER" "$(grep -v '^#' "$TMP/master.m3u8" | grep 240p | head -n1)")"
curl -sf "$MEDIA_URL" -o "$TMP/media.m3u8" || die "no 240p media playlist at $MEDIA_URL"
SEGMENT_URL="$(resolve "$MEDIA_URL" "$(grep -v '^#' "$TMP/media.m3u8" | head -n1)")"
curl -sf -o /dev/null "$SEGMENT_URL" || die "no segment at $SEGMENT_URL"

# Each endpoint: name, method, URL, body (or -), auth (1/0).
ENDPOINTS=(
    "healthz|GET|$BASE/healthz|-|0"
    "users_me|GET|$API/users/me|-|1"
    "rating|PUT|$API/videos/$VIDEO/rating|rating|1"
    "heartbeat|POST|$API/playback/sessions/$SESSION/heartbeat|{\"position\":1.5}|1"
    "latest_20|GET|$API/videos?limit=20|-|0"
    "search|GET|$API/search?q=budget|-|0"
    "playlist|GET|$MEDIA_URL|-|0"
    "segment_240p|GET|$SEGMENT_URL|-|0"
)
if [ -n "$ONLY" ]; then
    KEPT=()
    for e in "${ENDPOINTS[@]}"; do
        for o in $ONLY; do [ "${e%%|*}" = "$o" ] && KEPT+=("$e"); done
    done
    [ "${#KEPT[@]}" -gt 0 ] || die "ONLY=\"$ONLY\" names no endpoint"
    ENDPOINTS=("${KEPT[@]}")
fi
[ -z "$EXTRA_TROUPE_ENV" ] || log "extra server environment: $EXTRA_TROUPE_ENV"

lua_for() { # method body auth -> path of a wrk script
    local f="$TMP/wrk_$RANDOM.lua"
    {
        echo "wrk.method = \"$1\""
        echo 'wrk.headers["content-type"] = "application/json"'
        [ "$3" = 1 ] && echo "wrk.headers[\"authorization\"] = \"Bearer $ACCESS\""
        if [ "$2" = rating ]; then
            # Alternate like and dislike: every request changes the rating (a durable write).
            echo 'local n = 0'
            echo 'request = function() n = n + 1; local r = (n % 2 == 0) and "like" or "dislike"; return wrk.format(nil, nil, nil, "{\"rating\":\"" .. r .. "\"}") end'
        elif [ "$2" != - ]; then
            echo "wrk.body = '$2'"
        fi
        cat <<'LUA'
local bad = 0
response = function(status) if status >= 300 then bad = bad + 1 end end
done = function(summary, latency, requests) io.stderr:write("non2xx " .. bad .. "\n") end
LUA
    } >"$f"
    echo "$f"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$TROUPE_PID/stat"; }

declare -A RESULTS
for ((r = 1; r <= ROUNDS; r++)); do
    for e in "${ENDPOINTS[@]}"; do
        IFS='|' read -r name method url body auth <<<"$e"
        script="$(lua_for "$method" "$body" "$auth")"
        "${PIN_WRK[@]}" wrk -t1 -c"$CONNECTIONS" -d1s -s "$script" "$url" >/dev/null 2>&1 || true
        before="$(cpu_ticks)"
        out="$("${PIN_WRK[@]}" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$script" "$url" 2>"$TMP/wrk.err")"
        after="$(cpu_ticks)"
        reqs="$(printf '%s\n' "$out" | awk '/requests in/ {print $1}')"
        bad="$(awk '/non2xx/ {print $2}' "$TMP/wrk.err")"
        [ "${bad:-0}" = 0 ] || die "$name: $bad answers were not 2xx"
        us="$(python3 -c "print(f'{($after - $before) / $TICK * 1e6 / max($reqs, 1):.1f}')")"
        rps="$(printf '%s\n' "$out" | awk '/Requests\/sec/ {printf "%.0f", $2}')"
        log "round $r $name: $reqs requests, $rps req/s, $us µs CPU each"
        RESULTS[$name]="${RESULTS[$name]:-} $us"
    done
done

echo
echo "CPU per request (µs of server CPU, user+system, median of $ROUNDS rounds [min-max]), wrk -c$CONNECTIONS, $DURATION, $PINNING"
printf '%-14s %10s %s\n' endpoint "µs/req" "spread"
for e in "${ENDPOINTS[@]}"; do
    IFS='|' read -r name _ <<<"$e"
    python3 - "$name" ${RESULTS[$name]} <<'PY'
import statistics, sys
name, xs = sys.argv[1], sorted(float(x) for x in sys.argv[2:])
print(f"{name:<14} {statistics.median(xs):>10.1f} [{xs[0]:.1f}-{xs[-1]:.1f}]")
PY
done
