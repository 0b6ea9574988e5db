# Shared helpers for the set-up scripts: install what is missing, say what was done.

# Run as root, or through sudo when available.
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

apt_updated=""
# ensure_apt <command> <package>: installs <package> with apt-get if <command> is missing.
ensure_apt() {
  command -v "$1" >/dev/null && return 0
  echo "==> installing $2 (for $1)" >&2
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

# ensure_apt_package <package>: installs <package> with apt-get if it is not installed.
ensure_apt_package() {
  dpkg -s "$1" >/dev/null 2>&1 && return 0
  echo "==> installing $1" >&2
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
}

ensure_rust() {
  command -v cargo >/dev/null && return 0
  echo "==> installing Rust (rustup)" >&2
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
}

# strace: the power-cut test (tests/it/power_cut.rs) reads the server's fsyncs off its trace.
ensure_strace() {
  ensure_apt strace strace
}

ensure_ffmpeg() {
  ensure_apt ffmpeg ffmpeg
  ensure_apt ffprobe ffmpeg
}

# moto_server: a real S3-compatible server, for the S3 tests.
ensure_moto() {
  command -v moto_server >/dev/null && return 0
  echo "==> installing moto[server] (S3-compatible test server)" >&2
  python3 -m pip install -q --disable-pip-version-check "moto[server]"
  command -v moto_server >/dev/null || export PATH="$(python3 -m site --user-base)/bin:$PATH"
}

ensure_nextest() {
  cargo nextest --version >/dev/null 2>&1 && return 0
  echo "==> installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
}

# The real-client tests (tests/it/players.rs) drive unchanged third-party clients: hls.js in
# headless Chromium through playwright-core, tus-js-client in Node, and tuspy in Python.

# Debian's chromium: it plays H.264 and AAC through the system ffmpeg (Playwright's own
# Chromium has no H.264, and the tests never download a browser).
ensure_chromium() {
  ensure_apt chromium chromium
  # Text for the console's screenshots and accessibility checks.
  [ -d /usr/share/fonts/truetype/dejavu ] || ensure_apt_package fonts-dejavu-core
}

# Node.js >= 20 (playwright-core needs it) and npm. Debian 12's nodejs is 18: then Node 20
# from the npm registry's node-linux-<arch> package, put first on PATH.
ensure_node() {
  ensure_apt node nodejs
  ensure_apt npm npm
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  [ "$major" -ge 20 ] && return 0
  local arch dir
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  dir="${XDG_CACHE_HOME:-$HOME/.cache}/troupe/node20"
  if [ ! -x "$dir/node_modules/node-linux-$arch/bin/node" ]; then
    echo "==> installing Node.js 20 (npm package node-linux-$arch; the system has Node $major)" >&2
    npm install --prefix "$dir" --no-audit --no-fund --no-update-notifier --loglevel=error "node-linux-$arch@20" >/dev/null
  fi
  export PATH="$dir/node_modules/node-linux-$arch/bin:$PATH"
}

# hls.js, playwright-core and tus-js-client in tests/players/node_modules, as locked in
# tests/players/package-lock.json (again whenever the lock file changes).
ensure_player_packages() {
  local d=tests/players
  if [ -f "$d/node_modules/.package-lock.json" ] &&
    [ ! "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    return 0
  fi
  echo "==> installing hls.js, playwright-core and tus-js-client (npm ci in $d)" >&2
  (cd "$d" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null)
}

# schemathesis (PyPI; the `st` command), the API fuzzer the contract test runs.
ensure_schemathesis() {
  command -v st >/dev/null && return 0
  echo "==> installing schemathesis (API contract fuzzer)" >&2
  python3 -m pip install -q --disable-pip-version-check schemathesis ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages schemathesis
  command -v st >/dev/null || export PATH="$(python3 -m site --user-base)/bin:$PATH"
}

# tuspy (PyPI; module tusclient), the Python tus client.
ensure_tuspy() {
  python3 -c 'import tusclient' 2>/dev/null && return 0
  echo "==> installing tuspy (Python tus client)" >&2
  python3 -m pip install -q --disable-pip-version-check tuspy ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages tuspy
}

# feedparser (PyPI), the feed reader's parser the Atom and RSS feed tests read the feeds with.
ensure_feedparser() {
  python3 -c 'import feedparser' 2>/dev/null && return 0
  echo "==> installing feedparser (Atom/RSS parser)" >&2
  python3 -m pip install -q --disable-pip-version-check feedparser ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages feedparser
}

# brotli (PyPI, Google's bindings), with which the compression tests decode `br` answers and
# with which Python requests decodes them on its own (tests/it/compression.rs).
ensure_brotli() {
  python3 -c 'import brotli' 2>/dev/null && return 0
  echo "==> installing brotli (Python bindings)" >&2
  python3 -m pip install -q --disable-pip-version-check brotli ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages brotli
}

# standardwebhooks (PyPI), the Standard Webhooks verifier the webhook tests' receiver
# (tests/support/webhook_receiver.py) checks every delivery with.
ensure_standardwebhooks() {
  python3 -c 'import standardwebhooks' 2>/dev/null && return 0
  echo "==> installing standardwebhooks (webhook signature verifier)" >&2
  python3 -m pip install -q --disable-pip-version-check standardwebhooks ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages standardwebhooks
}

# dkimpy (PyPI), the DKIM verifier the email tests check troupe's signatures with
# (tests/support/dkim_verify.py).
ensure_dkimpy() {
  python3 -c 'import dkim' 2>/dev/null && return 0
  echo "==> installing dkimpy (DKIM verifier)" >&2
  python3 -m pip install -q --disable-pip-version-check dkimpy ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages dkimpy
}

# The web console (web/): its npm packages as locked (again whenever the lock file changes).
ensure_console_packages() {
  local d=web
  if [ -f "$d/node_modules/.package-lock.json" ] &&
    [ ! "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    return 0
  fi
  echo "==> installing the web console's npm packages (npm ci in $d)" >&2
  (cd "$d" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --no-update-notifier --loglevel=error >/dev/null)
}

# The built console in web/dist, which troupe embeds: built when it is missing or older than
# any of its sources or the API document its client is typed from.
ensure_console() {
  ensure_console_packages
  local d=web stale=""
  if [ ! -f "$d/dist/index.html" ]; then
    stale=1
  elif [ -n "$(find "$d/src" "$d/public" "$d/index.html" "$d/embed.html" "$d/vite.config.ts" \
    "$d/package-lock.json" docs/openapi.json -newer "$d/dist/index.html" -print -quit 2>/dev/null)" ]; then
    stale=1
  fi
  [ -z "$stale" ] && return 0
  echo "==> building the web console (npm run build in $d)" >&2
  (cd "$d" && npm run build --silent >/dev/null)
}

# aiosmtpd (PyPI, or Debian's python3-aiosmtpd), the SMTP server the email tests send to: its
# Maildir handler stores what it receives (tests/it/harness.rs, SmtpSink).
ensure_aiosmtpd() {
  python3 -c 'import aiosmtpd' 2>/dev/null && return 0
  echo "==> installing aiosmtpd (SMTP test server)" >&2
  python3 -m pip install -q --disable-pip-version-check aiosmtpd ||
    python3 -m pip install -q --disable-pip-version-check --user --break-system-packages aiosmtpd ||
    ensure_apt_package python3-aiosmtpd
}
