# shellcheck shell=bash
# Shared by the wasm scripts: picks a toolchain that builds for
# wasm32-unknown-unknown. Source it, call `wasm_toolchain_setup`, then run
# `wasm_cargo <cargo subcommand> <args>`.
#
# In order of preference:
#   1. WASM_RUSTC and WASM_CARGO from the environment: a toolchain with the
#      std sources; std is built from source (-Zbuild-std);
#   2. a rustup toolchain with the rust-src component (the default one, then
#      nightly): std built from source, as in 1;
#   3. a rustup toolchain with the wasm32-unknown-unknown target installed:
#      its prebuilt std (no size flags: they need std built from source);
#   4. Debian's rustc-web with the std sources (rust-web-src), installed with
#      apt when missing and permitted (scripts/lib/system-packages.sh).
# `rustup target add` and `rustup component add` are never run: they need the
# network of rustup's servers, which a machine may not have.
#
# Sets WASM_RUSTC, WASM_CARGO, WASM_BUILD_STD (1 or empty), WASM_LINKER (empty:
# rustc's own rust-lld), WASM_TARGET and WASM_TARGET_DIR.

WASM_TARGET=wasm32-unknown-unknown
WASM_TARGET_DIR=${WASM_TARGET_DIR:-$PWD/target/wasm}

# shellcheck source=../lib/system-packages.sh
source scripts/lib/system-packages.sh

# The sysroot of a rustup toolchain ('' = the default one), or nothing.
_rustup_sysroot() {
  if [ -z "$1" ]; then rustc --print sysroot 2>/dev/null; else rustup run "$1" rustc --print sysroot 2>/dev/null; fi
}

# Tries the rustup toolchains; sets WASM_RUSTC/WASM_CARGO/WASM_BUILD_STD on success.
_wasm_pick_rustup() {
  command -v rustup >/dev/null || return 1
  local candidates=('') tc sysroot
  rustup toolchain list 2>/dev/null | grep -q '^nightly-' && candidates+=(nightly)
  for tc in "${candidates[@]}"; do
    sysroot=$(_rustup_sysroot "$tc") || continue
    if [ -f "$sysroot/lib/rustlib/src/rust/library/Cargo.lock" ] && rustc_accepts_immediate_abort "$sysroot/bin/rustc"; then
      WASM_RUSTC=$sysroot/bin/rustc WASM_CARGO=$sysroot/bin/cargo WASM_BUILD_STD=1
      WASM_HOW="rustup ${tc:-default} toolchain with rust-src"
      return 0
    fi
  done
  for tc in "${candidates[@]}"; do
    sysroot=$(_rustup_sysroot "$tc") || continue
    if [ -d "$sysroot/lib/rustlib/$WASM_TARGET/lib" ]; then
      WASM_RUSTC=$sysroot/bin/rustc WASM_CARGO=$sysroot/bin/cargo WASM_BUILD_STD=
      WASM_HOW="rustup ${tc:-default} toolchain with the $WASM_TARGET target (prebuilt std)"
      return 0
    fi
  done
  return 1
}

wasm_toolchain_setup() {
  WASM_LINKER=${WASM_LINKER:-}
  if [ -n "${WASM_RUSTC:-}" ] || [ -n "${WASM_CARGO:-}" ]; then
    if [ -z "${WASM_RUSTC:-}" ] || [ -z "${WASM_CARGO:-}" ]; then
      echo "wasm toolchain: set both WASM_RUSTC and WASM_CARGO, or neither" >&2
      return 1
    fi
    WASM_BUILD_STD=1 WASM_HOW='WASM_RUSTC/WASM_CARGO'
  elif ! _wasm_pick_rustup; then
    ensure_rust_web 'wasm toolchain' || return 1
    WASM_RUSTC=/usr/bin/rustc WASM_CARGO=/usr/bin/cargo WASM_BUILD_STD=1
    WASM_HOW="Debian's rustc-web"
  fi
  # The linker: rustc's own rust-lld when its toolchain has one (rustup's do),
  # else the default rustup toolchain's, else Debian's wasm-ld (package lld).
  if [ -z "$WASM_LINKER" ]; then
    local host sysroot
    host=$("$WASM_RUSTC" -vV | sed -n 's/^host: //p')
    sysroot=$("$WASM_RUSTC" --print sysroot)
    if [ ! -x "$sysroot/lib/rustlib/$host/bin/rust-lld" ]; then
      if sysroot=$(_rustup_sysroot '') && [ -x "$sysroot/lib/rustlib/$host/bin/rust-lld" ]; then
        WASM_LINKER=$sysroot/lib/rustlib/$host/bin/rust-lld
      else
        command -v wasm-ld >/dev/null || apt_ensure 'wasm toolchain' "$WASM_LD_PACKAGE" || return 1
        WASM_LINKER=$(command -v wasm-ld)
      fi
    fi
  fi
  if [ -n "$WASM_LINKER" ] && [ ! -x "$WASM_LINKER" ]; then
    echo "wasm toolchain: no wasm linker at '$WASM_LINKER' (set WASM_LINKER)" >&2
    return 1
  fi
  echo "wasm toolchain: $("$WASM_RUSTC" --version) ($WASM_HOW${WASM_LINKER:+, linker $WASM_LINKER})" >&2
  export WASM_RUSTC WASM_CARGO WASM_BUILD_STD WASM_LINKER WASM_TARGET WASM_TARGET_DIR
}

# cargo for wasm32, std from source when the toolchain needs it; extra args go
# to cargo. Runs at low priority: builds share the machine with other work.
wasm_cargo() {
  local sub=$1
  shift
  local vars=(RUSTC="$WASM_RUSTC" CARGO_TARGET_DIR="$WASM_TARGET_DIR") std=()
  if [ -n "$WASM_BUILD_STD" ]; then
    vars+=(RUSTC_BOOTSTRAP=1)
    # shellcheck disable=SC2054 # one cargo argument
    std=(-Zbuild-std=std,panic_abort)
  fi
  [ -z "$WASM_LINKER" ] || vars+=(CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LINKER")
  env "${vars[@]}" nice -n 10 "$WASM_CARGO" "$sub" "${std[@]}" --target "$WASM_TARGET" "$@"
}
