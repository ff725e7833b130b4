# Shared by the wasm scripts: finds or installs the std-from-source toolchain.
# Source it, then call `wasm_toolchain_setup` and use `wasm_cargo <args>`.

# Debian's rustc-web: a rustc/cargo with the std sources needed by -Zbuild-std.
WASM_RUSTC=${WASM_RUSTC:-/usr/bin/rustc}
WASM_CARGO=${WASM_CARGO:-/usr/bin/cargo}
WASM_TARGET=wasm32-unknown-unknown
WASM_TARGET_DIR=${WASM_TARGET_DIR:-$PWD/target/wasm}

_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "wasm toolchain: need root to run: $*" >&2; return 1
  fi
}

wasm_toolchain_setup() {
  local missing=()
  for pkg in rustc-web cargo-web rust-web-src; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "wasm toolchain: installing ${missing[*]}" >&2
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" ||
      { _as_root apt-get update && _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"; }
  fi
  # rustup's bundled lld links wasm; Debian's rustc-web does not ship one.
  local sysroot
  sysroot=$(rustc --print sysroot)
  WASM_LINKER=${WASM_LINKER:-$sysroot/lib/rustlib/x86_64-unknown-linux-gnu/bin/rust-lld}
  if [ ! -x "$WASM_LINKER" ]; then
    echo "wasm toolchain: no rust-lld at $WASM_LINKER (set WASM_LINKER)" >&2
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
