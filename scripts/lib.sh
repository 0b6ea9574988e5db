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

ensure_rust() {
  command -v cargo >/dev/null && return 0
  echo "==> installing Rust (rustup)" >&2
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
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
