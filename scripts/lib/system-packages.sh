# shellcheck shell=bash
# Every system package the build and the tests use, in one place (Debian
# names). Source it (it sources apt.sh), then call the ensure_* functions.
#
# Build (`npm install` runs `prepare` = `npm run build`):
#   the WebAssembly backend needs a Rust toolchain that builds std for
#   wasm32-unknown-unknown. scripts/wasm/toolchain.sh prefers rustup's (a
#   toolchain with rust-src, or with the wasm32 target installed) and only
#   when there is none falls back to Debian's rustc-web with its std sources:
# shellcheck disable=SC2034 # used by the scripts that source this file
RUST_WEB_PACKAGES=(rustc-web cargo-web rust-web-src)
#   and, when no rustup toolchain brings rust-lld, Debian's wasm-ld:
# shellcheck disable=SC2034
WASM_LD_PACKAGE=lld
#
# Tests (`npm test` runs `pretest` = scripts/ensure-test-tools.sh): each entry
# is a package and the commands that show it is installed.
TEST_TOOLS=(
  'nginx-light /usr/sbin/nginx' # download and demo tests: a real origin with Range support
  'chromium /usr/bin/chromium'  # browser test: playwright-core drives Debian's chromium
  'ffmpeg ffmpeg ffprobe'       # media tests: real media files, checked by a real prober
  'curl curl'                   # serving tests: a real HTTP client
  'strace strace'               # tests that check which system calls a path makes
  'mount mount umount'          # reliability: a 1 MiB tmpfs for the full-disk tests
  'coreutils truncate stat'     # reliability: truncate a file under a mapping, statfs
  'util-linux setpriv'          # tests that drop a child process to nobody
)

# shellcheck source=apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"

# True when `rustc` accepts the panic strategy scripts/build-wasm.sh uses.
# rustc-web 1.85 (what a new bookworm machine's stale lists offer) rejects it:
#   error: incorrect value 'immediate-abort' for codegen option 'panic'
rustc_accepts_immediate_abort() {
  RUSTC_BOOTSTRAP=1 "$1" -Zunstable-options -Cpanic=immediate-abort --print cfg --crate-type lib - </dev/null >/dev/null 2>&1
}

# Debian's rustc-web, installed if missing, at a version that builds this
# project (checked on the compiler actually installed, not on the package).
ensure_rust_web() {
  local who=$1
  apt_ensure "$who" "${RUST_WEB_PACKAGES[@]}" || return 1
  if ! rustc_accepts_immediate_abort /usr/bin/rustc; then
    echo "$who: Debian's $(/usr/bin/rustc --version 2>&1) is too old (it must accept -Cpanic=immediate-abort: 1.92 or later); run 'apt-get update && apt-get install rustc-web cargo-web rust-web-src' (bookworm-security has 1.96)" >&2
    return 1
  fi
}

# True when every command of a TEST_TOOLS entry (minus its package) is found.
# /usr/sbin and /sbin count although a normal user's PATH lacks them.
tools_present() {
  local tool
  for tool in "$@"; do
    case "$tool" in
      /*) [ -x "$tool" ] || return 1 ;;
      *) command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || [ -x "/sbin/$tool" ] || return 1 ;;
    esac
  done
}

# Installs the packages of the TEST_TOOLS entries whose commands are missing.
# With package names as arguments, only those entries.
ensure_test_tools() {
  local who=$1
  shift
  local entry pkg tools missing=() want
  for entry in "${TEST_TOOLS[@]}"; do
    read -r pkg tools <<<"$entry"
    if [ $# -gt 0 ]; then
      want=
      for w in "$@"; do [ "$w" = "$pkg" ] && want=1; done
      [ -n "$want" ] || continue
    fi
    # shellcheck disable=SC2086 # tools is a space-separated list
    tools_present $tools || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  apt_ensure "$who" "${missing[@]}" || return 1
  for entry in "${TEST_TOOLS[@]}"; do
    read -r pkg tools <<<"$entry"
    for w in "${missing[@]}"; do
      # shellcheck disable=SC2086
      if [ "$w" = "$pkg" ] && ! tools_present $tools; then
        echo "$who: $pkg is installed but '$tools' still not found" >&2
        return 1
      fi
    done
  done
}
