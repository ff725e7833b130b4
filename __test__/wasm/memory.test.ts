/**
 * The WebAssembly backend returns memory on close(): after a warm-up, 10,000
 * open / wait / write / read / close cycles leave the module's linear memory
 * (which can only grow) as large as it was.
 *
 * A resource's buffer and state return on close(), without the collector.
 * What stays until JavaScript collects it is the object's own cell in the
 * module (wasm-bindgen keeps one per JavaScript object, ~32 bytes), and a
 * token's (~80 bytes: a token has no close()). So the tests let the
 * collector run where it matters, as any long-running program's does, and
 * the shared-token test bounds what 10,000 cycles without it may keep.
 */
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import test from 'ava'

// Before the facade picks its backend (each ava file runs in its own process).
process.env.KITHARA_STORAGE_BACKEND = 'wasm'

import { backendName, CancellationToken, MemResource } from '@kithara/storage'

// The facade loads this same glue module (same path, so the same instance).
const glue = require(join(__dirname, '..', '..', 'pkg-wasm', 'kithara_storage_wasm.node.cjs')) as {
  memoryBytes(): number
}
const memoryBytes = (): number => glue.memoryBytes()

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** A full collection, then a macrotask so FinalizationRegistry callbacks run. */
async function collectGarbage(): Promise<void> {
  gc()
  // V8 queues the finalizer callbacks as a task of their own; give it a couple of turns.
  for (let i = 0; i < 3; i++) await new Promise((r) => setTimeout(r, 0))
}

async function cycles(n: number, data: Uint8Array, token?: CancellationToken): Promise<void> {
  const buf = new Uint8Array(4096)
  for (let i = 0; i < n; i++) {
    const r = MemResource.open(token ?? new CancellationToken())
    const pendingWait = r.waitRange(0, data.length + 1)
    r.writeAt(0, data)
    r.readAt(data.length - buf.length, buf)
    r.close()
    await pendingWait.catch((e: { code?: string }) => {
      if (e.code !== 'ERR_STORAGE_CLOSED') throw e
    })
    if (token === undefined && i % 200 === 199) await collectGarbage()
  }
}

test.serial('fresh token per cycle: 10,000 open/write/close cycles do not grow wasm memory', async (t) => {
  t.is(backendName(), 'wasm')
  const data = new Uint8Array(64 * 1024).fill(0xab)
  await cycles(2000, data)
  await collectGarbage()
  const warm = memoryBytes()
  await cycles(10_000, data)
  // When the collector runs is up to V8, so allow two 64 KiB pages of slack:
  // keeping even 64 bytes per cycle would grow it by ten pages.
  const grown = memoryBytes() - warm
  t.true(grown <= 2 * 65536, `memory grew by ${grown} bytes (from ${warm})`)
})

test.serial('shared token: 10,000 cycles return every buffer at close, the rest at collection', async (t) => {
  const data = new Uint8Array(64 * 1024).fill(0xab)
  const token = new CancellationToken()
  await cycles(1000, data, token)
  await collectGarbage()
  const warm = memoryBytes()
  // No collection meanwhile: only the closed objects' cells may stay. Keeping
  // one cycle's buffer (64 KiB), or its state (~500 bytes), would need ten
  // or a hundred times this bound.
  await cycles(10_000, data, token)
  const grown = memoryBytes() - warm
  t.true(grown <= 8 * 65536, `memory grew by ${grown} bytes (from ${warm})`)
  // Collected, the cells return too: the same run again does not grow it at all.
  await collectGarbage()
  const settled = memoryBytes()
  await cycles(10_000, data, token)
  t.is(memoryBytes(), settled, `memory grew from ${settled} to ${memoryBytes()} bytes`)
})
