# Shared by the wasm scripts: finds or installs the std-from-source toolchain.
# Source it, then call `wasm_toolchain_setup` and use `wasm_cargo <args>`.

# Debian's rustc-web: a rustc/cargo with the std sources needed by -Zbuild-std.
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_TARGET=wasm32-unknown-unknown
WASM_TARGET_DIR=${WASM_TARGET_DIR:-$PWD/target/wasm}

# shellcheck source=../lib/apt.sh
source scripts/lib/apt.sh

wasm_toolchain_setup() {
  # With WASM_RUSTC/WASM_CARGO pointing at another toolchain that has the std
  # sources (e.g. a nightly with rust-src), Debian's packages are not needed.
  local debian_pkgs=(rustc-web cargo-web rust-web-src)
  [ "$WASM_RUSTC" = /usr/bin/rustc ] || debian_pkgs=()
  apt_ensure 'wasm toolchain' "${debian_pkgs[@]}"
  # Debian's rustc-web ships no linker for wasm: use rustup's bundled rust-lld
  # when there is a rustup toolchain, else Debian's wasm-ld (package lld).
  if [ -z "${WASM_LINKER:-}" ]; then
    local sysroot host
    if command -v rustc >/dev/null && sysroot=$(rustc --print sysroot 2>/dev/null); then
      host=$(rustc -vV | sed -n 's/^host: //p')
      WASM_LINKER=$sysroot/lib/rustlib/$host/bin/rust-lld
    fi
    if [ ! -x "${WASM_LINKER:-}" ]; then
      command -v wasm-ld >/dev/null ||
        apt_ensure 'wasm toolchain' lld
      WASM_LINKER=$(command -v wasm-ld)
    fi
  fi
  if [ ! -x "$WASM_LINKER" ]; then
    echo "wasm toolchain: no wasm linker at '$WASM_LINKER' (set WASM_LINKER)" >&2
    return 1
  fi
  export WASM_LINKER WASM_TARGET_DIR
}

# cargo for wasm32 with std from source. Extra args are passed to cargo.
wasm_cargo() {
  local sub=$1; shift
  RUSTC_BOOTSTRAP=1 RUSTC="$WASM_RUSTC" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$WASM_LINKER" \
    CARGO_TARGET_DIR="$WASM_TARGET_DIR" \
    "$WASM_CARGO" "$sub" -Zbuild-std=std,panic_abort --target "$WASM_TARGET" "$@"
}
