// 4 KiB writeAt / readAt through the public API on both backends, plus the
// size of the shipped wasm. Each backend runs in its own child process
// (KITHARA_STORAGE_BACKEND picks it), so neither warms the other's JIT.
//   node bench/wasm-vs-native.mjs [--json]
// Needs `npm run build` (dist/, pkg-wasm/ and the native addon).
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const here = fileURLToPath(import.meta.url)
const root = join(dirname(here), '..')
const SIZE = 4096
const SLOTS = 1024 // a 4 MiB resource, written and read 4 KiB at a time
const ROUNDS = 50
const PASSES = 5

/** In the child: ns per 4 KiB op on this process's backend, best of PASSES. */
function measure() {
  const { CancellationToken, MemResource, backendName } = createRequire(here)('../dist/index.js')
  const data = new Uint8Array(SIZE).fill(0x5a)
  const buf = new Uint8Array(SIZE)
  const r = MemResource.open(new CancellationToken())
  const pass = (op) => {
    const t0 = process.hrtime.bigint()
    for (let round = 0; round < ROUNDS; round++) for (let i = 0; i < SLOTS; i++) op(i * SIZE)
    return Number(process.hrtime.bigint() - t0) / (ROUNDS * SLOTS)
  }
  const best = (op) => {
    pass(op) // warm-up
    let min = Number.POSITIVE_INFINITY
    for (let k = 0; k < PASSES; k++) min = Math.min(min, pass(op))
    return min
  }
  const writeNs = best((off) => r.writeAt(off, data))
  const readNs = best((off) => r.readAt(off, buf))
  r.close()
  return { backend: backendName(), writeNs, readNs }
}

if (process.argv[2] === '--child') {
  process.stdout.write(JSON.stringify(measure()))
} else {
  const results = {}
  for (const backend of ['native', 'wasm']) {
    try {
      const out = execFileSync(process.execPath, [here, '--child'], {
        env: { ...process.env, KITHARA_STORAGE_BACKEND: backend },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      results[backend] = JSON.parse(out.toString())
    } catch (e) {
      results[backend] = {
        error: String(e.stderr ?? e.message ?? e)
          .trim()
          .split('\n')[0],
      }
    }
  }
  const wasm = readFileSync(join(root, 'pkg-wasm', 'kithara_storage_wasm_bg.wasm'))
  const size = { rawBytes: wasm.length, gzipBytes: gzipSync(wasm, { level: 9 }).length }
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify({ opBytes: SIZE, results, wasmSize: size }, null, 2))
  } else {
    console.log(`wasm module: ${size.rawBytes} bytes raw, ${size.gzipBytes} bytes gzip -9`)
    console.log(`4 KiB ops on a MemResource, ns/op (best of ${PASSES} passes of ${ROUNDS * SLOTS}):`)
    for (const [name, r] of Object.entries(results)) {
      if (r.error) console.log(`  ${name.padEnd(6)} unavailable: ${r.error}`)
      else console.log(`  ${name.padEnd(6)} writeAt ${r.writeNs.toFixed(0)}  readAt ${r.readNs.toFixed(0)}`)
    }
    const { native: n, wasm: w } = results
    if (n.writeNs && w.writeNs) {
      console.log(
        `  wasm/native: writeAt x${(w.writeNs / n.writeNs).toFixed(2)}, readAt x${(w.readNs / n.readNs).toFixed(2)}`,
      )
    }
  }
}
