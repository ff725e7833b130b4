#!/usr/bin/env bash
# Compiles the core crate `kithara-storage` for wasm32-unknown-unknown.
#
# The rustup toolchain of this project has no wasm32 std, so std is built from
# source with Debian's rustc-web (which ships the std sources in rust-web-src)
# and linked with rustup's rust-lld. A separate target dir keeps these
# artifacts from invalidating the host build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=wasm/toolchain.sh
source scripts/wasm/toolchain.sh
wasm_toolchain_setup

echo "check-wasm-core: building kithara-storage for wasm32-unknown-unknown (target dir $WASM_TARGET_DIR)"
wasm_cargo build -p kithara-storage "$@"
echo "check-wasm-core: ok"
