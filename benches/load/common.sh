# Shared by the troupe-vs-reference load scripts (sourced, not run): CPU pinning, the release
# build, a scratch dir with cleanup of the servers on exit, and two free ports.
# Expects: REPO_ROOT, BENCH_NAME, and the functions log and die.

PIN_SERVER=()
PIN_WRK=()
NCPU="$(nproc 2>/dev/null || echo 1)"
if [ "${NO_PIN:-0}" != 1 ] && command -v taskset >/dev/null 2>&1 && [ "$NCPU" -ge 2 ]; then
    PIN_SERVER=(taskset -c 0)
    PIN_WRK=(taskset -c 1)
    PINNING="servers pinned to CPU 0, wrk pinned to CPU 1 (taskset)"
else
    PINNING="no CPU pinning (taskset unavailable, <2 CPUs, or NO_PIN=1)"
fi

# ---------------------------------------------------------------------------------------------
# 2. Build.
# ---------------------------------------------------------------------------------------------
TROUPE_BIN="${TROUPE_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/troupe}"
if [ "${NO_BUILD:-0}" != 1 ]; then
    log "building troupe (release) in $REPO_ROOT; this may wait for the cargo lock"
    (cd "$REPO_ROOT" && cargo build --release --bin troupe) >&2
fi
[ -x "$TROUPE_BIN" ] || die "$TROUPE_BIN not found"

# ---------------------------------------------------------------------------------------------
# Scratch space and cleanup.
# ---------------------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/$BENCH_NAME.XXXXXX")"
TROUPE_PID=""
NGINX_PID=""

stop_pid() { # pid, grace seconds
    local pid="$1" grace="$2" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_pid "$TROUPE_PID" 10
    stop_pid "$NGINX_PID" 5
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 40000))
        if port_free "$p"; then echo "$p"; return 0; fi
    done
    die "no free port found"
}
TROUPE_PORT="${TROUPE_PORT:-$(pick_port)}"
NGINX_PORT="${NGINX_PORT:-$(pick_port)}"
while [ "$NGINX_PORT" = "$TROUPE_PORT" ]; do NGINX_PORT="$(pick_port)"; done
