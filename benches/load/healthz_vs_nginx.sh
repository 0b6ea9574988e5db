#!/usr/bin/env bash
# Load benchmark: troupe `GET /healthz` vs nginx serving the same 15-byte JSON body as a
# static file, on the same machine, in one run, under the same load generator (wrk).
#
# Goal (from the issue): troupe >= 0.70 x nginx requests/s.
#
# Usage: benches/load/healthz_vs_nginx.sh
# Tunables (environment): ROUNDS=3 DURATION=5s WARMUP=2s CONNECTIONS=32 THREADS=1 GOAL=0.70
#                         TROUPE_PORT / NGINX_PORT (default: pick free ports)
#                         NO_PIN=1 (do not pin with taskset) NO_BUILD=1 (use existing binary)
#                         EXTRA_TROUPE_ENV="TROUPE__LOG__ACCESS_LOG=false ..." (experiments)
#                         NGINX_OPEN_FILE_CACHE=1 (stricter nginx reference: no open/fstat/close
#                         per request)
# Always exits 0 when the measurement completed: it is a measurement, not a gate.
set -euo pipefail

ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5s}"
WARMUP="${WARMUP:-2s}"
CONNECTIONS="${CONNECTIONS:-32}"
THREADS="${THREADS:-1}"
GOAL="${GOAL:-0.70}"
BODY='{"status":"ok"}'

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"

log() { printf '[healthz_vs_nginx] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# 1. Tools.
# ---------------------------------------------------------------------------------------------
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

NGINX_BIN="$(command -v nginx || true)"
[ -z "$NGINX_BIN" ] && [ -x /usr/sbin/nginx ] && NGINX_BIN=/usr/sbin/nginx
missing=()
[ -z "$NGINX_BIN" ] && missing+=(nginx-light)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} via apt-get"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
    NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
fi
[ -x "$NGINX_BIN" ] || die "nginx not found after install"
command -v wrk >/dev/null 2>&1 || die "wrk not found after install"
command -v cargo >/dev/null 2>&1 || die "cargo not found"

BENCH_NAME=healthz_vs_nginx
# shellcheck source=benches/load/common.sh
. "$REPO_ROOT/benches/load/common.sh"

wait_healthy() { # name, url, pid, log
    local name="$1" url="$2" pid="$3" logf="$4" i
    for ((i = 0; i < 300; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during startup; last log lines:"
            tail -n 30 "$logf" >&2 || true
            die "$name failed to start"
        fi
        if [ "$(curl -s --max-time 1 "$url" 2>/dev/null || true)" = "$BODY" ]; then return 0; fi
        sleep 0.1
    done
    tail -n 30 "$logf" >&2 || true
    die "$name did not answer $url with $BODY within 30 s"
}

# ---------------------------------------------------------------------------------------------
# 3. troupe: one HTTP worker, default config otherwise (rate limiting on: /healthz is exempt
#    by design; access log on: /healthz is excluded by design).
# ---------------------------------------------------------------------------------------------
mkdir -p "$TMP/data"
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
        "${extra_env[@]}" \
        "$TROUPE_BIN" serve --data-dir "$TMP/data" --listen "127.0.0.1:$TROUPE_PORT"
) >"$TMP/troupe.out" 2>"$TMP/troupe.err" &
TROUPE_PID=$!
for ((i = 0; i < 600; i++)); do
    grep -q '^troupe listening on http://' "$TMP/troupe.out" 2>/dev/null && break
    kill -0 "$TROUPE_PID" 2>/dev/null || { tail -n 30 "$TMP/troupe.err" >&2; die "troupe exited during startup"; }
    sleep 0.1
done
TROUPE_ADDR="$(sed -n 's#^troupe listening on http://##p' "$TMP/troupe.out" | head -n1)"
[ -n "$TROUPE_ADDR" ] || { tail -n 30 "$TMP/troupe.err" >&2; die "troupe never printed its listening line"; }
TROUPE_URL="http://$TROUPE_ADDR/healthz"
wait_healthy troupe "$TROUPE_URL" "$TROUPE_PID" "$TMP/troupe.err"

# ---------------------------------------------------------------------------------------------
# 4. nginx: one worker, a static file with the same body and content type.
# ---------------------------------------------------------------------------------------------
NGX="$TMP/nginx"
mkdir -p "$NGX/html" "$NGX/logs" "$NGX/tmp"
printf '%s' "$BODY" >"$NGX/html/healthz"
# The worker (nobody when started as root) must be able to read the docroot.
chmod 755 "$TMP" "$NGX" "$NGX/html"
chmod 644 "$NGX/html/healthz"
NGX_USER_LINE=""
if [ "$(id -u)" -eq 0 ]; then
    # Explicit, because the compiled-in default group may not exist on this system.
    NGX_USER_LINE="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
fi
NGX_OFC_LINE=""
NGX_DESC="worker_processes 1, sendfile, tcp_nodelay, access_log off"
if [ "${NGINX_OPEN_FILE_CACHE:-0}" = 1 ]; then
    # Stricter reference: without it nginx does open/fstat/close on the file for every request.
    NGX_OFC_LINE="    open_file_cache max=16; open_file_cache_valid 60s;"
    NGX_DESC="$NGX_DESC, open_file_cache"
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
    sendfile on;
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 100000;
$NGX_OFC_LINE
    client_body_temp_path $NGX/tmp/client_body;
    proxy_temp_path $NGX/tmp/proxy;
    fastcgi_temp_path $NGX/tmp/fastcgi;
    uwsgi_temp_path $NGX/tmp/uwsgi;
    scgi_temp_path $NGX/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $NGX/html;
        location = /healthz {
            default_type application/json;
            add_header Cache-Control no-store;
        }
    }
}
CONF
log "starting nginx on 127.0.0.1:$NGINX_PORT"
"${PIN_SERVER[@]}" "$NGINX_BIN" -p "$NGX" -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" \
    >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
NGINX_URL="http://127.0.0.1:$NGINX_PORT/healthz"
wait_healthy nginx "$NGINX_URL" "$NGINX_PID" "$NGX/logs/error.log"

ct_troupe="$(curl -s -o /dev/null -w '%{content_type} %{size_download}' "$TROUPE_URL")"
ct_nginx="$(curl -s -o /dev/null -w '%{content_type} %{size_download}' "$NGINX_URL")"
hdr_troupe="$(curl -s -o /dev/null -D - "$TROUPE_URL" | wc -c)"
hdr_nginx="$(curl -s -o /dev/null -D - "$NGINX_URL" | wc -c)"

# ---------------------------------------------------------------------------------------------
# 5. Load.
# ---------------------------------------------------------------------------------------------
to_us() { # "123.45us" | "1.20ms" | "1.00s" -> microseconds
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1000000;
        else if (u == "m") m = 60000000; else m = 1;
        printf "%.0f", n * m }'
}

RESULTS="$TMP/results.tsv" # server round rps p50_us p99_us errors
: >"$RESULTS"

run_wrk() { # name url duration -> echo raw output path
    local name="$1" url="$2" dur="$3" out="$TMP/wrk.$1.$RANDOM.txt"
    "${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$dur" --latency "$url" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed against $name"; }
    echo "$out"
}

measure() { # name url round
    local name="$1" url="$2" round="$3" out rps p50 p99 non2xx sockerr
    out="$(run_wrk "$name" "$url" "$DURATION")"
    rps="$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    p50="$(to_us "$(awk '$1 == "50%" {print $2}' "$out")")"
    p99="$(to_us "$(awk '$1 == "99%" {print $2}' "$out")")"
    non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")"
    sockerr="$(awk -F'[ ,]+' '/Socket errors:/ {print $4+$6+$8+$10}' "$out")"
    [ -n "$rps" ] || { cat "$out" >&2; die "could not parse wrk output for $name"; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$rps" "$p50" "$p99" \
        "$(( ${non2xx:-0} + ${sockerr:-0} ))" >>"$RESULTS"
    log "$name round $round: $rps req/s, p50 ${p50}us, p99 ${p99}us"
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
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
log "CPU busy before the run (servers idle): ${BUSY_BEFORE}%"
log "warm-up: $WARMUP per server"
run_wrk troupe "$TROUPE_URL" "$WARMUP" >/dev/null
run_wrk nginx "$NGINX_URL" "$WARMUP" >/dev/null

for ((r = 1; r <= ROUNDS; r++)); do
    # Alternate which server goes first so that drift (thermal, noisy neighbours) is shared.
    if ((r % 2)); then order=(troupe nginx); else order=(nginx troupe); fi
    for s in "${order[@]}"; do
        if [ "$s" = troupe ]; then measure troupe "$TROUPE_URL" "$r"; else measure nginx "$NGINX_URL" "$r"; fi
    done
done

median() { # server column
    awk -F'\t' -v s="$1" -v c="$2" '$1 == s {print $c}' "$RESULTS" | sort -g |
        awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
troupe_rss_kb="$(awk '/^VmRSS:/ {print $2}' "/proc/$TROUPE_PID/status" 2>/dev/null || echo '?')"
troupe_threads="$(awk '/^Threads:/ {print $2}' "/proc/$TROUPE_PID/status" 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------
# Report.
# ---------------------------------------------------------------------------------------------
echo
echo "healthz_vs_nginx: GET /healthz, troupe vs nginx static file, same machine, same load"
echo "  load:     wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency, $ROUNDS rounds alternating, warm-up $WARMUP each"
echo "  pinning:  $PINNING"
echo "  troupe:   $TROUPE_URL (TROUPE__SERVER__WORKERS=1, rate limit + access log at defaults${EXTRA_TROUPE_ENV:+, $EXTRA_TROUPE_ENV}); response $ct_troupe bytes, headers $hdr_troupe bytes"
echo "  nginx:    $NGINX_URL ($("$NGINX_BIN" -v 2>&1 | sed 's/.*version: //'), $NGX_DESC); response $ct_nginx bytes, headers $hdr_nginx bytes"
echo "  machine:  $NCPU CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)"
echo
printf '%-8s %-6s %12s %10s %10s %7s\n' server round 'req/s' 'p50 (us)' 'p99 (us)' errors
printf '%-8s %-6s %12s %10s %10s %7s\n' -------- ------ ------------ ---------- ---------- -------
while IFS=$'\t' read -r s r rps p50 p99 err; do
    printf '%-8s %-6s %12.0f %10s %10s %7s\n' "$s" "$r" "$rps" "$p50" "$p99" "$err"
done < <(sort -t$'\t' -k1,1 -k2,2n "$RESULTS")
printf '%-8s %-6s %12s %10s %10s %7s\n' -------- ------ ------------ ---------- ---------- -------
for s in troupe nginx; do
    printf '%-8s %-6s %12.0f %10.0f %10.0f %7s\n' "$s" median "$(median "$s" 3)" "$(median "$s" 4)" "$(median "$s" 5)" ""
done
echo
per_round="$(awk -F'\t' '$1 == "troupe" {t[$2] = $3} $1 == "nginx" {n[$2] = $3}
    END {for (r = 1; r in t; r++) if (n[r] > 0) printf "%s%.2f", (r > 1 ? " " : ""), t[r] / n[r]}' "$RESULTS")"
spread() { awk -F'\t' -v s="$1" '$1 == s {if (min == "" || $3 < min) min = $3; if ($3 > max) max = $3}
    END {printf "%.0f%%", (min > 0 ? (max / min - 1) * 100 : 0)}' "$RESULTS"; }
echo "  per-round ratio troupe/nginx: $per_round"
echo "  spread (max/min - 1) of req/s across rounds: troupe $(spread troupe), nginx $(spread nginx)"
echo "  other load: ${BUSY_BEFORE}% of all CPUs busy just before the run (servers idle); load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
if awk -v b="$BUSY_BEFORE" 'BEGIN {exit !(b + 0 > 10)}'; then
    echo "  WARNING: other processes were using ${BUSY_BEFORE}% of the CPUs; they share the pinned cores, so the numbers are noisy (rerun on a quiet machine)"
fi
echo "  troupe after the run: RSS ${troupe_rss_kb} kB, ${troupe_threads} threads"
total_err="$(awk -F'\t' '{e += $6} END {print e + 0}' "$RESULTS")"
[ "$total_err" -gt 0 ] && echo "  WARNING: $total_err non-2xx responses or socket errors; numbers are suspect"

t_rps="$(median troupe 3)"
n_rps="$(median nginx 3)"
ratio="$(awk -v t="$t_rps" -v n="$n_rps" 'BEGIN { printf "%.2f", (n > 0 ? t / n : 0) }')"
verdict="$(awk -v t="$t_rps" -v n="$n_rps" -v g="$GOAL" 'BEGIN { print ((n > 0 && t / n >= g) ? "PASS" : "MISS") }')"
echo
printf 'healthz_vs_nginx: troupe %.0f req/s, nginx %.0f req/s, ratio %s (goal >= %.2f)\n' "$t_rps" "$n_rps" "$ratio" "$GOAL"
echo "healthz_vs_nginx: goal $verdict"
exit 0
