#!/usr/bin/env bash
# Compiles the core crate `kithara-storage` for wasm32-unknown-unknown.
#
# The toolchain is the one the WebAssembly build uses (scripts/wasm/toolchain.sh:
# rustup's when it can build for wasm32, else Debian's rustc-web). A separate
# target dir keeps these artifacts from invalidating the host build.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=wasm/toolchain.sh
source scripts/wasm/toolchain.sh
wasm_toolchain_setup

echo "check-wasm-core: building kithara-storage for wasm32-unknown-unknown (target dir $WASM_TARGET_DIR)"
wasm_cargo build -p kithara-storage "$@"
echo "check-wasm-core: ok"
