#!/usr/bin/env bash
# Cross-compiles the napi addon (crates/kithara-storage-node) for another Linux
# target on an x86_64 Linux host, without rustup targets:
#
#   npm run build:cross -- aarch64-unknown-linux-gnu
#   npm run build:cross -- armv7-unknown-linux-gnueabihf
#
# The rustup toolchain here ships only the host std, so std is built from
# source (-Zbuild-std) by Debian's rustc-web/cargo-web, whose rust-web-src
# package carries the std sources; RUSTC_BOOTSTRAP=1 unlocks -Z on a stable
# compiler. Debian's cross gcc links. Artifacts go to target/cross so this
# never invalidates the host build in target/.
#
# The build is driven by `napi build` (as in CI), pointed at Debian's cargo
# through CARGO=/usr/bin/cargo, with -Zbuild-std passed through to cargo; its
# loader and typings go to target/cross/out, so the host's native-binding.js
# and native-binding.d.ts stay untouched. CROSS_DRIVER=cargo calls cargo directly instead
# and renames the cdylib (the addon needs nothing from napi build but the copy).
#
# Output: npm/<platform>/kithara-storage.<platform>.node (the file the
# platform package publishes). Env: CROSS_PROFILE=release|dev (default
# release), CROSS_TARGET_DIR (default target/cross), CROSS_DRIVER=napi|cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."

triple=${1:-aarch64-unknown-linux-gnu}
shift || true

case "$triple" in
  aarch64-unknown-linux-gnu)
    platform=linux-arm64-gnu; gcc=aarch64-linux-gnu-gcc
    apt_pkgs=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross); elf='ARM aarch64' ;;
  armv7-unknown-linux-gnueabihf)
    platform=linux-arm-gnueabihf; gcc=arm-linux-gnueabihf-gcc
    apt_pkgs=(gcc-arm-linux-gnueabihf libc6-dev-armhf-cross); elf='ARM, EABI5' ;;
  *)
    echo "build:cross: unsupported target '$triple' (supported: aarch64-unknown-linux-gnu, armv7-unknown-linux-gnueabihf)" >&2
    echo "build:cross: musl, darwin and windows targets are built by the release workflow (.github/workflows/ci.yml)" >&2
    exit 2 ;;
esac

# shellcheck source=../lib/system-packages.sh
source scripts/lib/system-packages.sh
# Debian packages: the std-from-source toolchain and the cross linker.
ensure_rust_web build:cross
apt_ensure build:cross "${apt_pkgs[@]}" file

profile=${CROSS_PROFILE:-release}
target_dir=${CROSS_TARGET_DIR:-$PWD/target/cross}
env_triple=$(echo "$triple" | tr '[:lower:]-' '[:upper:]_')
cc_triple=${triple//-/_}
profile_dir=$([ "$profile" = dev ] && echo debug || echo "$profile")

driver=${CROSS_DRIVER:-napi}
binary_name=$(node -p "require('./package.json').napi.binaryName")
out="npm/$platform/$binary_name.$platform.node"
export RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc CARGO=/usr/bin/cargo CARGO_TARGET_DIR="$target_dir"
export "CARGO_TARGET_${env_triple}_LINKER=$gcc" "CC_${cc_triple}=$gcc"

echo "build:cross: $triple ($profile) via $driver with /usr/bin/cargo, -Zbuild-std, linker $gcc, target dir $target_dir"
case "$driver" in
  napi)
    napi_out=$target_dir/out
    mkdir -p "$napi_out"
    nice -n 10 npx --no-install napi build --platform --target "$triple" --profile "$profile" \
      --manifest-path crates/kithara-storage-node/Cargo.toml --package-json-path package.json \
      --output-dir "$napi_out" --no-js --dts native-binding.d.ts --no-const-enum \
      -- -Zbuild-std=std,panic_abort "$@"
    cp "$napi_out/$binary_name.$platform.node" "$out" ;;
  cargo)
    nice -n 10 /usr/bin/cargo build -Zbuild-std=std,panic_abort --target "$triple" --profile "$profile" \
      -p kithara-storage-node "$@"
    cp "$target_dir/$triple/$profile_dir/libkithara_storage_node.so" "$out" ;;
  *) echo "build:cross: CROSS_DRIVER must be napi or cargo" >&2; exit 2 ;;
esac
description=$(file -b "$out")
echo "build:cross: wrote $out"
echo "build:cross: file: $description"
case "$description" in
  *"$elf"*) ;;
  *) echo "build:cross: expected an ELF for '$elf'" >&2; exit 1 ;;
esac
