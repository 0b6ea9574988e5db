#!/usr/bin/env bash
# Load benchmark: troupe serving an HLS segment and a media playlist (token check, cache) vs
# nginx serving the same files with sendfile, on the same machine, in one run, under the same
# load generator (wrk).
#
# Goals: segment bytes/s >= 0.8 x nginx; media playlist req/s >= 0.5 x nginx.
#
# Usage: benches/load/hls_vs_nginx.sh
# Tunables (environment): ROUNDS=3 DURATION=10s WARMUP=2s CONNECTIONS=32 THREADS=1
#                         SEGMENT_GOAL=0.80 PLAYLIST_GOAL=0.50
#                         SEGMENT_SECS=4 SEGMENT_BITRATE=5M SOURCE_HEIGHT=1080 RENDITION=1080p
#                         (the ffmpeg-made source troupe transcodes; the rung served)
#                         TROUPE_PORT / NGINX_PORT (default: pick free ports)
#                         NO_PIN=1 (do not pin with taskset) NO_BUILD=1 (use existing binary)
#                         EXTRA_TROUPE_ENV="TROUPE__LOG__ACCESS_LOG=false ..." (experiments)
#                         NGINX_SENDFILE=off (nginx reads into 2 x 1 MiB buffers instead of
#                         sendfile: on a VM where sendfile leaves nginx waiting, it is faster)
# Always exits 0 when the measurement completed: it is a measurement, not a gate.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
SEGMENT_GOAL="${SEGMENT_GOAL:-1.00}"   # issue 25: at least nginx at every size
PLAYLIST_GOAL="${PLAYLIST_GOAL:-1.00}"
P99_GOAL="${P99_GOAL:-1.50}"           # troupe p99 / nginx p99, at most
SEGMENT_SECS="${SEGMENT_SECS:-4}"
SEGMENT_BITRATE="${SEGMENT_BITRATE:-5M}"
# The source's height, and the rendition of troupe's ladder to serve (240p-480p: the 100-450 KB
# segments phones fetch; 1080p: about 2.8 MB).
SOURCE_HEIGHT="${SOURCE_HEIGHT:-1080}"
RENDITION="${RENDITION:-1080p}"
# The signing key troupe is started with, so that this script can mint a media token.
SECRET="hls-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
ISSUER="troupe"
AUDIENCE="troupe-api"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

log() { printf '[hls_vs_nginx] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Tools.
# ---------------------------------------------------------------------------------------------
# shellcheck source=../../scripts/lib.sh
. "$REPO_ROOT/scripts/lib.sh"
NGINX_BIN="$(command -v nginx || true)"
[ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
if [ -z "$NGINX_BIN" ]; then
    ensure_apt nginx nginx-light
    NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
fi
ensure_apt wrk wrk
ensure_apt curl curl
ensure_apt ffmpeg ffmpeg
ensure_apt python3 python3
[ -x "$NGINX_BIN" ] || die "nginx not found after install"
command -v wrk >/dev/null 2>&1 || die "wrk not found after install"
command -v cargo >/dev/null 2>&1 || die "cargo not found"

BENCH_NAME=hls_vs_nginx
# shellcheck source=benches/load/common.sh
. "$REPO_ROOT/benches/load/common.sh"

# ---------------------------------------------------------------------------------------------
# 3. Content: a source clip made with ffmpeg, which troupe transcodes like any upload (below),
#    so that the segments are a real video's: since deleted and hidden videos stop playing, a
#    segment of a video no actor knows is refused. nginx serves a copy of the same files.
# ---------------------------------------------------------------------------------------------
DATA="$TMP/data"
log "encoding a ${SEGMENT_SECS}s ${SOURCE_HEIGHT}p source at $SEGMENT_BITRATE with ffmpeg"
ffmpeg -hide_banner -loglevel error -f lavfi -i "testsrc2=size=$((SOURCE_HEIGHT * 16 / 9))x${SOURCE_HEIGHT}:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$SEGMENT_SECS" \
    -c:v libx264 -preset veryfast -b:v "$SEGMENT_BITRATE" -pix_fmt yuv420p \
    -c:a aac -b:a 128k "$TMP/source.mp4"

# ---------------------------------------------------------------------------------------------
# 4. troupe: one HTTP worker. Rate limiting is off: its default (50 requests/s per client
#    address) would answer most of this load with 429. Everything else is at its default,
#    the access log included.
# ---------------------------------------------------------------------------------------------
log "starting troupe on 127.0.0.1:$TROUPE_PORT"
extra_env=()
if [ -n "${EXTRA_TROUPE_ENV:-}" ]; then read -r -a extra_env <<<"$EXTRA_TROUPE_ENV"; fi
(
    # Run from the scratch dir: troupe reads ./config/default.toml when present, and the repo's
    # copy may be mid-edit relative to the binary. The compiled defaults are the same values.
    cd "$TMP"
    exec "${PIN_SERVER[@]}" env -u RUST_LOG \
        TROUPE__SERVER__WORKERS=1 \
        TROUPE__LOG__FORMAT=json \
        TROUPE__RATE_LIMIT__ENABLED=false \
        TROUPE__AUTH__JWT_SECRET="$SECRET" \
        TROUPE__AUTH__ISSUER="$ISSUER" \
        TROUPE__AUTH__AUDIENCE="$AUDIENCE" \
        "${extra_env[@]}" \
        "$TROUPE_BIN" serve --data-dir "$DATA" --listen "127.0.0.1:$TROUPE_PORT"
) >"$TMP/troupe.out" 2>"$TMP/troupe.err" &
TROUPE_PID=$!
for ((i = 0; i < 600; i++)); do
    grep -q '^troupe listening on http://' "$TMP/troupe.out" 2>/dev/null && break
    kill -0 "$TROUPE_PID" 2>/dev/null || { tail -n 30 "$TMP/troupe.err" >&2; die "troupe exited during startup"; }
    sleep 0.1
done
TROUPE_ADDR="$(sed -n 's#^troupe listening on http://##p' "$TMP/troupe.out" | head -n1)"
[ -n "$TROUPE_ADDR" ] || { tail -n 30 "$TMP/troupe.err" >&2; die "troupe never printed its listening line"; }
# The clip goes through troupe's own pipeline: an account, a public video, a tus upload, the
# transcode; then the rendition's files are what both servers serve.
API="http://$TROUPE_ADDR/api/v1"
curl -sf -X POST "$API/auth/register" -H 'content-type: application/json' \
    -d '{"username":"bench","email":"bench@example.org","password":"violet-harbor-cinnamon-42"}' >/dev/null ||
    die "cannot register the bench user"
ACCESS="$(curl -sf -X POST "$API/auth/login" -H 'content-type: application/json' \
    -d '{"username":"bench","password":"violet-harbor-cinnamon-42"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"
VIDEO_ID="$(curl -sf -X POST "$API/videos" -H "authorization: Bearer $ACCESS" -H 'content-type: application/json' \
    -d '{"title":"bench","visibility":"public"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
SIZE="$(stat -c %s "$TMP/source.mp4")"
META="video_id $(printf %s "$VIDEO_ID" | base64 -w0)"
LOC="$(curl -sf -D - -o /dev/null -X POST "$API/uploads" -H "authorization: Bearer $ACCESS" \
    -H 'tus-resumable: 1.0.0' -H "upload-length: $SIZE" -H "upload-metadata: $META" |
    tr -d '\r' | sed -n 's/^[Ll]ocation: //p')"
[ -n "$LOC" ] || die "tus creation failed"
case "$LOC" in http*) ;; *) LOC="http://$TROUPE_ADDR$LOC" ;; esac
curl -sf -X PATCH "$LOC" -H "authorization: Bearer $ACCESS" -H 'tus-resumable: 1.0.0' \
    -H 'upload-offset: 0' -H 'content-type: application/offset+octet-stream' \
    --data-binary @"$TMP/source.mp4" >/dev/null || die "tus upload failed"
log "uploaded; waiting for troupe to transcode video $VIDEO_ID"
for ((i = 0; i < 600; i++)); do
    state="$(curl -sf "$API/videos/$VIDEO_ID" -H "authorization: Bearer $ACCESS" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])' || true)"
    [ "$state" = ready ] && break
    [ "$state" = failed ] && die "the transcode failed"
    sleep 0.5
done
[ "$state" = ready ] || die "the video never became ready"
SRC="$DATA/blobs/videos/$VIDEO_ID/hls/$RENDITION"
[ -f "$SRC/seg_00000.ts" ] || die "no $RENDITION rendition (have: $(ls "$DATA/blobs/videos/$VIDEO_ID/hls"))"
SEG_BYTES="$(stat -c %s "$SRC/seg_00000.ts")"
PL_BYTES="$(stat -c %s "$SRC/index.m3u8")"
log "segment ($RENDITION): $SEG_BYTES bytes; playlist: $PL_BYTES bytes"

NGX="$TMP/nginx"
mkdir -p "$NGX/html/hls/$VIDEO_ID/$RENDITION" "$NGX/logs" "$NGX/tmp"
cp "$SRC/seg_00000.ts" "$SRC/index.m3u8" "$NGX/html/hls/$VIDEO_ID/$RENDITION/"

# A media token, as a master playlist would mint it: HS256 with troupe's signing key, audience
# "<audience>/media", the claims of tokens.rs PlaybackClaims.
MEDIA_TOKEN="$(python3 - "$SECRET" "$ISSUER" "$AUDIENCE" "$VIDEO_ID" <<'PY'
import base64, hashlib, hmac, json, sys, time
secret, iss, aud, vid = sys.argv[1:5]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
enc = lambda o: b64(json.dumps(o, separators=(",", ":")).encode())
now = int(time.time())
head = enc({"alg": "HS256", "typ": "JWT"})
body = enc({"iss": iss, "aud": aud + "/media", "sub": "bench", "vid": vid, "cap": 1080,
            "iat": now, "exp": now + 6 * 3600})
sig = b64(hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
print(f"{head}.{body}.{sig}")
PY
)"

TROUPE_BASE="http://$TROUPE_ADDR/hls/$VIDEO_ID/t/$MEDIA_TOKEN/$RENDITION"

# ---------------------------------------------------------------------------------------------
# 5. nginx: one worker, sendfile, keep-alive, the same headers troupe sends (type, caching,
#    CORS); nginx adds its own ETag and Accept-Ranges.
# ---------------------------------------------------------------------------------------------
chmod 755 "$TMP" "$NGX" "$NGX/html" "$NGX/html/hls" "$NGX/html/hls/$VIDEO_ID" "$NGX/html/hls/$VIDEO_ID/$RENDITION"
chmod 644 "$NGX/html/hls/$VIDEO_ID/$RENDITION/"*
if [ "${NGINX_SENDFILE:-on}" = off ]; then
    NGX_SENDFILE="sendfile off; output_buffers 2 1m;"
else
    NGX_SENDFILE="sendfile on;"
fi
NGX_USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then
    NGX_USER_LINE="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
fi
cat >"$NGX/nginx.conf" <<CONF
$NGX_USER_LINE
worker_processes 1;
daemon off;
master_process on;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    $NGX_SENDFILE
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    types {
        video/mp2t ts;
        application/vnd.apple.mpegurl m3u8;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $NGX/html;
        add_header Access-Control-Allow-Origin "*";
        add_header Access-Control-Expose-Headers "Content-Length, Content-Range, ETag";
        location ~ \.ts\$ {
            add_header Cache-Control "public, max-age=31536000, immutable";
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range, ETag";
        }
        location ~ \.m3u8\$ {
            add_header Cache-Control "private, max-age=3600";
            add_header Access-Control-Allow-Origin "*";
            add_header Access-Control-Expose-Headers "Content-Length, Content-Range, ETag";
        }
    }
}
CONF
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"${PIN_SERVER[@]}" "$NGINX_BIN" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" \
    >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
NGINX_BASE="http://127.0.0.1:$NGINX_PORT/hls/$VIDEO_ID/$RENDITION"

declare -A URL=(
    [nginx-segment]="$NGINX_BASE/seg_00000.ts"
    [troupe-segment]="$TROUPE_BASE/seg_00000.ts"
    [nginx-playlist]="$NGINX_BASE/index.m3u8"
    [troupe-playlist]="$TROUPE_BASE/index.m3u8"
)

# Both must serve the same bytes before any load: same size and digest, 206 for a range.
want_seg="$(sha256sum <"$SRC/seg_00000.ts" | cut -d' ' -f1)"
want_pl="$(sha256sum <"$SRC/index.m3u8" | cut -d' ' -f1)"
for name in nginx-segment troupe-segment nginx-playlist troupe-playlist; do
    want="$want_seg"; [[ $name == *playlist ]] && want="$want_pl"
    ok=""
    for ((i = 0; i < 100; i++)); do
        got="$(curl -sf --max-time 5 "${URL[$name]}" 2>/dev/null | sha256sum | cut -d' ' -f1 || true)"
        if [ "$got" = "$want" ]; then ok=1; break; fi
        sleep 0.1
    done
    if [ -z "$ok" ]; then
        curl -s -D - -o /dev/null "${URL[$name]}" >&2 || true
        tail -n 20 "$TMP/troupe.err" >&2 || true
        die "$name (${URL[$name]}) does not serve the expected bytes"
    fi
done
for name in nginx-segment troupe-segment; do
    code="$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -H 'Range: bytes=100-199' "${URL[$name]}")"
    [ "$code" = "206 100" ] || die "$name answered 'Range: bytes=100-199' with $code, not '206 100'"
done
hdr_size() { curl -s -o /dev/null -D - "$1" | wc -c; }

# ---------------------------------------------------------------------------------------------
# 6. Load.
# ---------------------------------------------------------------------------------------------
to_us() { # "123.45us" | "1.20ms" | "1.00s" -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
        else if (u == "m") m = 60000000; else m = 1;
        printf "%.0f", n * m }'
}
to_bytes() { # "4.80GB" | "512.00KB" | "900B" -> bytes (wrk's units are powers of 1024)
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        m = 1; if (u == "KB") m = 1024; else if (u == "MB") m = 1048576;
        else if (u == "GB") m = 1073741824; else if (u == "TB") m = 1099511627776;
        printf "%.0f", n * m }'
}

RESULTS="$TMP/results.tsv" # target round rps bytes_per_s p50_us p99_us errors
: >"$RESULTS"

run_wrk() { # name url duration -> echo raw output path
    local name="$1" url="$2" dur="$3" out="$TMP/wrk.$1.$RANDOM.txt"
    "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency "$url" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed against $name"; }
    echo "$out"
}

measure() { # name round
    local name="$1" round="$2" out rps bps p50 p99 non2xx sockerr
    out="$(run_wrk "$name" "${URL[$name]}" "$DURATION")"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    bps="$(to_bytes "$(awk '/^Transfer\/sec:/ {print $2}' "$out")")"
    p50="$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(awk -F'[ ,]+' '/Socket errors:/ {print $4+$6+$8+$10}' "$out")"
    [ -n "$rps" ] || { cat "$out" >&2; die "could not parse wrk output for $name"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$rps" "$bps" "$p50" "$p99" \
        "$(( ${non2xx:-0} + ${sockerr:-0} ))" >>"$RESULTS"
    log "$name round $round: $rps req/s, $(awk -v b="$bps" 'BEGIN {printf "%.2f", b / 1e9}') GB/s, p50 ${p50}us, p99 ${p99}us"
}

cpu_busy_pct() { # share of all CPUs busy over the next second, from /proc/stat
    local a b
    a="$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat 2>/dev/null || true)"
    sleep 1
    b="$(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat 2>/dev/null || true)"
    awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "?" }'
}
BUSY_BEFORE="$(cpu_busy_pct)"
log "CPU busy before the run (servers idle): ${BUSY_BEFORE}%"
log "warm-up: $WARMUP per target"
for name in nginx-segment troupe-segment nginx-playlist troupe-playlist; do
    run_wrk "$name" "${URL[$name]}" "$WARMUP" >/dev/null
done

for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which server goes first so that drift (thermal, noisy neighbours) is shared.
    if ((r % 2)); then
        order=(nginx-segment troupe-segment nginx-playlist troupe-playlist)
    else
        order=(troupe-segment nginx-segment troupe-playlist nginx-playlist)
    fi
    for name in "${order[@]}"; do measure "$name" "$r"; done
done

median() { # target column
    awk -F'\t' -v s="$1" -v c="$2" '$1 == s {print $c}' "$RESULTS" | sort -g |
        awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
troupe_rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$TROUPE_PID/status" 2>/dev/null || echo '?')"
cache_metrics="$(curl -s "http://$TROUPE_ADDR/metrics" | awk '/^troupe_hls_cache_(hits|misses)_total/ {printf "%s=%s ", $1, $2}')"

# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------
echo
echo "hls_vs_nginx: an HLS segment and a media playlist, troupe vs nginx, same files, same machine, same load"
echo "  load:     wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds alternating, warm-up $WARMUP each"
echo "  pinning:  $PINNING"
echo "  content:  $RENDITION MPEG-TS segment of $SEG_BYTES bytes (ffmpeg testsrc2, ${SEGMENT_SECS}s at $SEGMENT_BITRATE), media playlist of $PL_BYTES bytes"
echo "  troupe:   /hls/{id}/t/{media token}/$RENDITION/... (TROUPE__SERVER__WORKERS=1, rate limit off, access log at its default${EXTRA_TROUPE_ENV:+, $EXTRA_TROUPE_ENV}); headers $(hdr_size "${URL[troupe-segment]}") / $(hdr_size "${URL[troupe-playlist]}") bytes"
echo "  nginx:    /hls/{id}/$RENDITION/... ($("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //'), worker_processes 1, $NGX_SENDFILE tcp_nodelay, access_log off); headers $(hdr_size "${URL[nginx-segment]}") / $(hdr_size "${URL[nginx-playlist]}") bytes"
echo "  machine:  $NCPU CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
echo
printf '%-16s %-6s %11s %10s %10s %10s %7s\n' target round 'req/s' 'GB/s' 'p50 (us)' 'p99 (us)' errors
printf '%-16s %-6s %11s %10s %10s %10s %7s\n' ---------------- ------ ----------- ---------- ---------- ---------- -------
while IFS=$'\t' read -r s r rps bps p50 p99 err; do
    printf '%-16s %-6s %11.0f %10.2f %10s %10s %7s\n' "$s" "$r" "$rps" "$(awk -v b="$bps" 'BEGIN {print b / 1e9}')" "$p50" "$p99" "$err"
done < <(sort -t$'\t' -k1,1 -k2,2n "$RESULTS")
printf '%-16s %-6s %11s %10s %10s %10s %7s\n' ---------------- ------ ----------- ---------- ---------- ---------- -------
for s in nginx-segment troupe-segment nginx-playlist troupe-playlist; do
    printf '%-16s %-6s %11.0f %10.2f %10.0f %10.0f %7s\n' "$s" median "$(median "$s" 3)" \
        "$(awk -v b="$(median "$s" 4)" 'BEGIN {print b / 1e9}')" "$(median "$s" 5)" "$(median "$s" 6)" ""
done
echo
echo "  troupe cache: $cache_metrics"
echo "  troupe after the run: RSS ${troupe_rss_kb} kB"
echo "  other load: ${BUSY_BEFORE}% of all CPUs busy just before the run (servers idle)"
if awk -v b="$BUSY_BEFORE" 'BEGIN {exit !(b + 0 > 10)}'; then
    echo "  WARNING: other processes were using ${BUSY_BEFORE}% of the CPUs; they share the pinned cores, so the numbers are noisy (rerun on a quiet machine)"
fi
total_err="$(awk -F'\t' '{e += $7} END {print e + 0}' "$RESULTS")"
[ "$total_err" -gt 0 ] && echo "  WARNING: $total_err non-2xx responses or socket errors; numbers are suspect"

ratio() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", (n > 0 ? t / n : 0) }'; }
verdict() { awk -v r="$1" -v g="$2" 'BEGIN { print ((r + 0 >= g + 0) ? "PASS" : "MISS") }'; }
seg_t="$(median troupe-segment 4)"; seg_n="$(median nginx-segment 4)"
pl_t="$(median troupe-playlist 3)"; pl_n="$(median nginx-playlist 3)"
seg_ratio="$(ratio "$seg_t" "$seg_n")"
pl_ratio="$(ratio "$pl_t" "$pl_n")"
seg_rps_ratio="$(ratio "$(median troupe-segment 3)" "$(median nginx-segment 3)")"
pl_bps_ratio="$(ratio "$(median troupe-playlist 4)" "$(median nginx-playlist 4)")"
echo
printf 'hls_vs_nginx: segment  troupe %.2f GB/s, nginx %.2f GB/s, ratio %s (goal >= %.2f) %s; req/s ratio %s\n' \
    "$(awk -v b="$seg_t" 'BEGIN {print b / 1e9}')" "$(awk -v b="$seg_n" 'BEGIN {print b / 1e9}')" \
    "$seg_ratio" "$SEGMENT_GOAL" "$(verdict "$seg_ratio" "$SEGMENT_GOAL")" "$seg_rps_ratio"
printf 'hls_vs_nginx: playlist troupe %.0f req/s, nginx %.0f req/s, ratio %s (goal >= %.2f) %s; bytes/s ratio %s\n' \
    "$pl_t" "$pl_n" "$pl_ratio" "$PLAYLIST_GOAL" "$(verdict "$pl_ratio" "$PLAYLIST_GOAL")" "$pl_bps_ratio"
# The spread: each round's own ratio (troupe and nginx of the same round, one after the other).
round_ratios() { # troupe-target nginx-target column -> "min-max (rounds: r1 r2 ...)"
    local r t n out=""
    for ((r = 1; r <= ROUNDS; r++)); do
        t="$(awk -F'\t' -v s="$1" -v r="$r" -v c="$3" '$1 == s && $2 == r {print $c}' "$RESULTS")"
        n="$(awk -F'\t' -v s="$2" -v r="$r" -v c="$3" '$1 == s && $2 == r {print $c}' "$RESULTS")"
        out="$out $(ratio "$t" "$n")"
    done
    printf '%s' "$(printf '%s\n' $out | sort -g | awk '{a[NR] = $1} END {printf "%s-%s", a[1], a[NR]}')"
    printf ' (rounds:%s)' "$out"
}
p99_ratio="$(ratio "$(median troupe-segment 6)" "$(median nginx-segment 6)")"
p99_verdict="$(awk -v r="$p99_ratio" -v g="$P99_GOAL" 'BEGIN { print ((r + 0 <= g + 0) ? "PASS" : "MISS") }')"
printf 'hls_vs_nginx: segment  p99 troupe %.1f ms, nginx %.1f ms, ratio %s (goal <= %.2f) %s\n' \
    "$(awk -v u="$(median troupe-segment 6)" 'BEGIN {print u / 1e3}')" "$(awk -v u="$(median nginx-segment 6)" 'BEGIN {print u / 1e3}')" \
    "$p99_ratio" "$P99_GOAL" "$p99_verdict"
echo "hls_vs_nginx: spread of the per-round ratios: segment GB/s $(round_ratios troupe-segment nginx-segment 4); playlist req/s $(round_ratios troupe-playlist nginx-playlist 3); segment p99 $(round_ratios troupe-segment nginx-segment 6)"
exit 0
