#!/usr/bin/env bash
# Load benchmark: what compression costs and saves, troupe against itself (identity vs gzip vs
# br) in one run, under the same load generator (wrk).
#
# For a 24-video listing (`GET /api/v1/videos?limit=24`), a master and a media playlist, and
# the home page's JavaScript (the entry script and its modulepreload, precompressed at build):
# - bytes on the wire for each coding (curl, `size_download`);
# - the server's CPU per request (utime + stime of the troupe process from /proc/<pid>/stat,
#   over every request of a wrk run), and wrk's p50/p99, for each coding.
# ROUNDS alternating rounds (the codings in a rotated order each round); medians and spread.
#
# Goals: the listing >= 4x smaller with br; no endpoint's p99 worse than identity's by > 10 %.
#
# Usage: benches/load/compression.sh
# Tunables (environment): ROUNDS=5 DURATION=4s CONNECTIONS=8 THREADS=1
#                         VIDEOS=24 LONG_SECS=120 SEGMENT_SECS=2 (the playlists' video: 60
#                         segments, the media playlist of a 4-min video at the default 4 s)
#                         NO_PIN=1 (do not pin with taskset) NO_BUILD=1 (use existing binary)
# Always exits 0 when the measurement completed: it is a measurement, not a gate.
set -euo pipefail

ROUNDS="${ROUNDS:-5}"
DURATION="${DURATION:-4s}"
CONNECTIONS="${CONNECTIONS:-8}"
THREADS="${THREADS:-1}"
VIDEOS="${VIDEOS:-24}"
LONG_SECS="${LONG_SECS:-120}"
SEGMENT_SECS="${SEGMENT_SECS:-2}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
BENCH_NAME=compression

log() { printf '[compression] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=../../scripts/lib.sh
. "$REPO_ROOT/scripts/lib.sh"
ensure_apt wrk wrk
ensure_apt curl curl
ensure_apt ffmpeg ffmpeg
ensure_apt python3 python3
ensure_console
# shellcheck source=common.sh
. "$SCRIPT_DIR/common.sh"

# ---------------------------------------------------------------------------------------------
# troupe, with videos to list and play.
# ---------------------------------------------------------------------------------------------
DATA="$TMP/data"
mkdir -p "$DATA"
BASE="http://127.0.0.1:$TROUPE_PORT"
# From the scratch dir, so that no config/default.toml of the working directory applies; `exec`,
# so that $! is troupe's own pid (its CPU time is read from /proc/<pid>/stat).
(cd "$TMP" && exec env TROUPE__SERVER__LISTEN="127.0.0.1:$TROUPE_PORT" \
    TROUPE__SERVER__DATA_DIR="$DATA" \
    TROUPE__SERVER__WORKERS=1 \
    TROUPE__RATE_LIMIT__ENABLED=false \
    TROUPE__LOG__ACCESS_LOG=false \
    TROUPE__LOG__LEVEL=warn \
    TROUPE__MEDIA__X264_PRESET=ultrafast \
    TROUPE__MEDIA__SEGMENT_SECS="$SEGMENT_SECS" \
    TROUPE__PLAYBACK__STREAM_TIMEOUT_SECS=86400 \
    TROUPE__AUTH__JWT_SECRET="compression-bench-secret-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')" \
    "${PIN_SERVER[@]}" "$TROUPE_BIN" serve) >"$TMP/troupe.log" 2>&1 &
TROUPE_PID=$!
for _ in $(seq 1 300); do
    curl -fsS "$BASE/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "$BASE/healthz" >/dev/null || die "troupe did not start: $(tail -20 "$TMP/troupe.log")"

log "making $VIDEOS videos (one ${LONG_SECS}-s 640x360 for the playlists, the rest 2-s clips)"
ffmpeg -v error -y -f lavfi -i testsrc2=size=640x360:rate=30 -f lavfi -i sine=frequency=440 \
    -t "$LONG_SECS" -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$TMP/long.mp4"
ffmpeg -v error -y -f lavfi -i testsrc2=size=426x240:rate=30 -f lavfi -i sine=frequency=660 \
    -t 2 -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -shortest "$TMP/short.mp4"

python3 - "$BASE" "$TMP" "$VIDEOS" >"$TMP/urls" <<'EOF'
import base64, random, sys, time, requests
base, tmp, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = requests.Session()
pw = "violet-harbor-cinnamon-42"
r = s.post(base + "/api/v1/auth/register", json={"username": "bencher", "email": "b@example.org", "password": pw})
assert r.status_code == 201, r.text
tok = s.post(base + "/api/v1/auth/login", json={"username": "bencher", "password": pw}).json()["access_token"]
auth = {"Authorization": "Bearer " + tok}
words = "music travel guitar kitchen garden football planet river mountain sunset coffee winter city night piano ocean".split()
rng = random.Random(7)
b64 = lambda s: base64.b64encode(s.encode()).decode()
ids = []
for i in range(n):
    title = " ".join(rng.choice(words) for _ in range(rng.randint(3, 7))).capitalize()
    desc = " ".join(rng.choice(words) for _ in range(rng.randint(15, 40))).capitalize() + "."
    tags = rng.sample(words, 3)
    r = s.post(base + "/api/v1/videos", headers=auth, json={"title": title, "description": desc, "tags": tags, "visibility": "public"})
    assert r.status_code == 201, r.text
    vid = r.json()["id"]
    data = open(f"{tmp}/{'long' if i == 0 else 'short'}.mp4", "rb").read()
    r = s.post(base + "/api/v1/uploads", headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)),
               "Upload-Metadata": f"video_id {b64(vid)},filename {b64('clip.mp4')}"})
    assert r.status_code == 201, r.text
    r = s.patch(base + r.headers["location"], data=data, headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream"})
    assert r.status_code == 204, r.text
    ids.append(vid)
deadline = time.time() + 900
for vid in ids:
    while True:
        st = s.get(f"{base}/api/v1/videos/{vid}", headers=auth).json()["state"]
        if st == "ready":
            break
        assert st != "failed" and time.time() < deadline, st
        time.sleep(0.5)
while len(s.get(base + "/api/v1/videos?limit=24").json()["items"]) < min(n, 24):
    assert time.time() < deadline
    time.sleep(0.2)
r = s.post(base + "/api/v1/playback/sessions", headers=auth, json={"video_id": ids[0], "device_id": "bench"})
assert r.status_code == 201, r.text
master = base + r.json()["master_url"]
text = s.get(master).text
rel = [l for l in text.splitlines() if l and not l.startswith("#")][-1]
media = master.split("?")[0].rsplit("/", 1)[0] + "/" + rel
html = s.get(base + "/").text
js = [p.split('"')[0] for p in html.split('src="')[1:] + html.split('modulepreload" crossorigin href="')[1:]]
print("listing", base + "/api/v1/videos?limit=24")
print("master", master)
print("media", media)
for i, p in enumerate(js):
    print("js-entry" if i == 0 else f"js-pre{i}", base + p)
EOF

# ---------------------------------------------------------------------------------------------
# Measurements.
# ---------------------------------------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$TROUPE_PID/stat"; }
accept_of() { case "$1" in identity) echo identity ;; gzip) echo gzip ;; br) echo br ;; esac; }

echo "compression: identity vs gzip vs br, troupe against itself, same run"
echo "  machine:  $NCPU CPUs, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown); shared with other work (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
echo "  load:     wrk -t$THREADS -c$CONNECTIONS -d$DURATION per cell, $ROUNDS alternating rounds, $PINNING; troupe 1 worker"
echo "  endpoints:"
while read -r name url; do echo "    $name  ${url%%\?*}"; done <"$TMP/urls"
echo
echo "bytes on the wire (body, as sent):"
printf '  %-9s %10s %10s %10s %8s %8s\n' endpoint identity gzip br "id/gz" "id/br"
while read -r name url; do
    declare -A size=()
    for c in identity gzip br; do
        size[$c]="$(curl -sS -o /dev/null -w '%{size_download}' -H "Accept-Encoding: $(accept_of $c)" "$url")"
    done
    printf '  %-9s %10s %10s %10s %7.1fx %7.1fx\n' "$name" "${size[identity]}" "${size[gzip]}" "${size[br]}" \
        "$(awk -v a="${size[identity]}" -v b="${size[gzip]}" 'BEGIN {print a / b}')" \
        "$(awk -v a="${size[identity]}" -v b="${size[br]}" 'BEGIN {print a / b}')"
done <"$TMP/urls"
echo

RES="$TMP/results"
: >"$RES"
CODINGS=(identity gzip br)
for ((round = 1; round <= ROUNDS; round++)); do
    # Rotate the order each round, so that no coding always runs first (or last).
    order=()
    for ((k = 0; k < 3; k++)); do order+=("${CODINGS[$(((k + round) % 3))]}"); done
    log "round $round/$ROUNDS: ${order[*]}"
    while read -r name url; do
        for c in "${order[@]}"; do
            before="$(cpu_ticks)"
            out="$("${PIN_WRK[@]}" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
                -H "Accept-Encoding: $(accept_of "$c")" "$url")"
            after="$(cpu_ticks)"
            reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
            p50="$(awk '$1 == "50%" {print $2}' <<<"$out")"
            p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
            non2xx="$(awk '/Non-2xx/ {print $NF}' <<<"$out")"
            [ -z "$non2xx" ] || die "$name $c: $non2xx non-2xx answers"
            echo "$name $c $round $reqs $((after - before)) $p50 $p99" >>"$RES"
        done
    done <"$TMP/urls"
done

python3 - "$RES" "$CLK_TCK" "${DURATION%s}" <<'EOF'
import statistics, sys
res, hz, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def ms(v):
    for unit, f in (("us", 1e-3), ("ms", 1.0), ("s", 1e3)):
        if v.endswith(unit) and not (unit == "s" and v.endswith(("us", "ms"))):
            return float(v[: -len(unit)]) * f
    return float(v)
rows = {}
for line in open(res):
    name, c, rnd, reqs, ticks, p50, p99 = line.split()
    rows.setdefault((name, c), []).append((int(reqs), int(ticks) / hz * 1e6 / int(reqs), ms(p50), ms(p99)))
names = list(dict.fromkeys(n for n, _ in rows))
print("server CPU per request and latency (median of rounds, [min-max]):")
print(f"  {'endpoint':9} {'coding':8} {'req/s':>8} {'CPU us/req':>18} {'p50 ms':>16} {'p99 ms':>18} {'p99 vs id':>9}")
for n in names:
    base = statistics.median(r[3] for r in rows[(n, "identity")])
    for c in ("identity", "gzip", "br"):
        rs = rows[(n, c)]
        cpu = [r[1] for r in rs]; p50 = [r[2] for r in rs]; p99 = [r[3] for r in rs]
        rate = statistics.median(r[0] for r in rs) / secs
        m99 = statistics.median(p99)
        verdict = "" if c == "identity" else f"{m99 / base:8.2f}x"
        print(f"  {n:9} {c:8} {rate:8.0f} {statistics.median(cpu):7.1f} [{min(cpu):5.1f}-{max(cpu):5.1f}]"
              f" {statistics.median(p50):5.2f} [{min(p50):4.2f}-{max(p50):4.2f}] {m99:6.2f} [{min(p99):4.2f}-{max(p99):5.2f}] {verdict}")
print("  (CPU: troupe's utime+stime over a run / its requests; the machine is shared, so absolute values drift: compare codings within a round)")
EOF
