#!/usr/bin/env bash
# Builds the WebAssembly backend into pkg-wasm/ (the npm package ships it):
#   pkg-wasm/kithara_storage_wasm.js        ES module glue (wasm-bindgen --target web)
#   pkg-wasm/kithara_storage_wasm_bg.wasm   the module, loaded by the glue
# Installs what it needs: a toolchain for wasm32 (scripts/wasm/toolchain.sh:
# rustup's when it can, else Debian's rustc-web) and wasm-bindgen-cli at
# exactly the version the crate pins (into .tools/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=wasm/toolchain.sh
source scripts/wasm/toolchain.sh
wasm_toolchain_setup

CRATE=crates/kithara-storage-wasm
OUT=pkg-wasm
NAME=kithara_storage_wasm
TOOLS=$PWD/.tools

# The CLI must match the wasm-bindgen crate exactly, or the glue does not fit the module.
version=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' "$CRATE/Cargo.toml")
[ -n "$version" ] || { echo "build-wasm: no exact wasm-bindgen pin in $CRATE/Cargo.toml" >&2; exit 1; }
bindgen=$TOOLS/bin/wasm-bindgen
if ! "$bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $version"; then
  echo "build-wasm: installing wasm-bindgen-cli $version into $TOOLS" >&2
  # --locked first; the registry mirror may lack a locked dependency version,
  # in which case let cargo resolve the newest compatible ones.
  nice -n 10 cargo install --locked wasm-bindgen-cli --version "=$version" --root "$TOOLS" ||
    nice -n 10 cargo install wasm-bindgen-cli --version "=$version" --root "$TOOLS"
fi

echo "build-wasm: cargo build (wasm32-unknown-unknown, release)" >&2
# Size over speed for the download; only this build sees these settings.
# A panic message has nowhere to go on wasm32-unknown-unknown, so panics abort
# at once and std drops the formatting and locations it would carry for them
# (-13% gzip). They need std built from source; a toolchain with a prebuilt
# wasm32 std (see scripts/wasm/toolchain.sh) builds without them. WASM_DEBUG=1
# keeps panic messages.
size_flags=()
rustflags=""
if [ -n "$WASM_BUILD_STD" ] && [ -z "${WASM_DEBUG:-}" ]; then
  size_flags=(-Zbuild-std-features=optimize_for_size)
  rustflags="-Zunstable-options -Cpanic=immediate-abort -Zfmt-debug=none -Zlocation-detail=none"
fi
CARGO_PROFILE_RELEASE_OPT_LEVEL=${WASM_OPT_LEVEL:-s} CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="$rustflags" \
  wasm_cargo build --release -p kithara-storage-wasm "${size_flags[@]}"

rm -rf "$OUT"
module="$WASM_TARGET_DIR/$WASM_TARGET/release/$NAME.wasm"
# Browsers and bundlers: ES module glue that fetches the wasm through
# new URL('…_bg.wasm', import.meta.url), which Vite and others follow.
"$bindgen" --target web --out-dir "$OUT" --out-name "$NAME" "$module"
# Node: CommonJS glue that reads the same wasm file synchronously from its own
# directory (the facade's API is synchronous). Both targets emit the same wasm.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bindgen" --target nodejs --no-typescript --out-dir "$tmp" --out-name "$NAME" "$module"
cmp -s "$tmp/${NAME}_bg.wasm" "$OUT/${NAME}_bg.wasm" ||
  { echo "build-wasm: the nodejs and web targets produced different wasm" >&2; exit 1; }
cp "$tmp/$NAME.js" "$OUT/$NAME.node.cjs"
# The web glue is an ES module; say so for Node-based tools that look at it.
printf '{\n  "type": "module"\n}\n' > "$OUT/package.json"

# Optional: binaryen's optimizer, when the project has it installed.
wasm_opt=node_modules/.bin/wasm-opt
if [ -x "$wasm_opt" ]; then
  "$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$OUT/${NAME}_bg.wasm" -o "$OUT/${NAME}_bg.wasm"
fi
# wasm-bindgen writes a .gitignore with '*' into the out dir, which would make
# npm pack skip the files; the repo's root .gitignore already ignores pkg-wasm/.
rm -f "$OUT/.gitignore"

raw=$(stat -c %s "$OUT/${NAME}_bg.wasm")
gz=$(gzip -9c "$OUT/${NAME}_bg.wasm" | wc -c)
echo "build-wasm: $OUT/${NAME}_bg.wasm $raw bytes raw, $gz bytes gzip -9"
