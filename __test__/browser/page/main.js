// Runs the browser scenarios against the package as a bundler sees it
// (`import … from '@kithara/storage'`, resolved through the `browser`
// export condition) and reports them on window.__results.
import {
  AbortError,
  AtomicChunked,
  backendName,
  CancellationToken,
  MemCoverage,
  MemResource,
  MmapResource,
  StorageError,
} from '@kithara/storage'

const results = []
const bytes = (...xs) => new Uint8Array(xs)
const fail = (msg) => {
  throw new Error(msg)
}
const eq = (actual, expected, what) => {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`)
}
/** The rejection of `p`, or a failure if it resolves. */
const rejection = (p) =>
  p.then(
    (v) => fail(`expected a rejection, got ${JSON.stringify(v)}`),
    (e) => e,
  )
/** What `fn()` throws, or a failure if it returns. */
const thrown = (fn) => {
  try {
    fn()
  } catch (e) {
    return e
  }
  return fail('expected a throw')
}
/** Whether `p` is still pending after the current microtasks have run. */
const pending = async (p) => {
  const marker = {}
  return (await Promise.race([p, new Promise((r) => setTimeout(() => r(marker), 0))])) === marker
}

const scenarios = {
  async backend() {
    eq(backendName(), 'wasm', 'backendName()')
  },

  async 'write and read'() {
    const r = MemResource.open(new CancellationToken())
    r.writeAt(3, bytes(4, 5, 6))
    r.writeAt(0, bytes(1, 2, 3))
    const buf = new Uint8Array(8)
    eq(r.readAt(0, buf), 6, 'bytes read')
    eq([...buf.subarray(0, 6)], [1, 2, 3, 4, 5, 6], 'contents')
    eq(r.containsRange(0, 6), true, 'containsRange')
    eq(r.nextGap(0, 10), { start: 6, end: 10 }, 'nextGap')
    r.close()
  },

  async 'wait woken by a write'() {
    const r = MemResource.open(new CancellationToken())
    const wait = r.waitRange(0, 4)
    r.writeAt(0, bytes(1, 2))
    eq(await pending(wait), true, 'pending after a partial write')
    r.writeAt(2, bytes(3, 4))
    eq(await wait, 'ready', 'outcome')
    r.close()
  },

  async 'commit and eof'() {
    const r = MemResource.open(new CancellationToken())
    r.writeAt(0, bytes(1, 2, 3, 4, 5))
    const clamped = r.waitRange(2, 100)
    const past = r.waitRange(5, 10)
    r.commit()
    eq(await clamped, 'ready', 'clamped wait')
    eq(await past, 'eof', 'wait past the end')
    eq(r.status(), { kind: 'committed', finalLen: 5 }, 'status')
    eq([...r.readAll()], [1, 2, 3, 4, 5], 'readAll')
    eq(r.waitRangeSync(7, 9), 'eof', 'decided waitRangeSync')
    eq(thrown(() => r.writeAt(0, bytes(9))).code, 'ERR_STORAGE_COMMITTED', 'write after commit')
    r.close()
  },

  async 'cancel the token'() {
    const token = new CancellationToken()
    const r = MemResource.open(token.child())
    const wait = r.waitRange(0, 1)
    token.cancel()
    const e = await rejection(wait)
    eq(e instanceof StorageError, true, 'a StorageError')
    eq(e.code, 'ERR_STORAGE_CANCELLED', 'code')
    eq(r.status(), { kind: 'cancelled' }, 'status')
  },

  async 'AbortSignal on a wait'() {
    const r = MemResource.open(new CancellationToken())
    const ac = new AbortController()
    const reason = new Error('user gave up')
    const aborted = r.waitRange(0, 1, { signal: ac.signal })
    const other = r.waitRange(0, 1)
    ac.abort(reason)
    const e = await rejection(aborted)
    eq(e instanceof AbortError, true, 'rejects with an AbortError')
    eq([e.name, e.code, e.cause === reason], ['AbortError', 'ABORT_ERR', true], 'caused by signal.reason')
    eq(await pending(other), true, 'other waits unaffected')
    r.writeAt(0, bytes(7))
    eq(await other, 'ready', 'other wait')
    r.close()
  },

  async 'AbortSignal as the token'() {
    const ac = new AbortController()
    const r = MemResource.open(ac.signal)
    const wait = r.waitRange(0, 1)
    ac.abort()
    eq((await rejection(wait)).code, 'ERR_STORAGE_CANCELLED', 'code')
  },

  async 'fail, interrupt and close wake waiters'() {
    const r = MemResource.open(new CancellationToken())
    const interrupted = r.waitRange(0, 1)
    r.interrupt()
    eq(await interrupted, 'interrupted', 'interrupt')
    const failed = r.waitRange(0, 1)
    r.fail('network down')
    const e = await rejection(failed)
    eq([e.code, e.reason], ['ERR_STORAGE_FAILED', 'network down'], 'fail')
    r.reactivate()
    const closed = r.waitRange(0, 1)
    r.close()
    eq((await rejection(closed)).code, 'ERR_STORAGE_CLOSED', 'close')
    eq(thrown(() => r.readAt(0, new Uint8Array(1))).code, 'ERR_STORAGE_CLOSED', 'read after close')
  },

  async coverage() {
    const c = new MemCoverage()
    c.mark(0, 10)
    c.mark(20, 30)
    c.mark(10, 12)
    eq(c.ranges(), [{ start: 0, end: 12 }, { start: 20, end: 30 }], 'ranges')
    eq(c.nextGap(0), { start: 12, end: 20 }, 'gap before the total is known')
    c.setTotalSize(40)
    eq(c.nextGap(25), { start: 30, end: 40 }, 'gap up to the total')
    eq(c.isComplete(), false, 'incomplete')
    c.mark(12, 40)
    eq(c.isComplete(), true, 'complete')
  },

  async 'unsupported on WebAssembly'() {
    const t = new CancellationToken()
    eq(thrown(() => MmapResource.open(t, { path: '/tmp/x' })).code, 'ERR_STORAGE_UNSUPPORTED', 'MmapResource')
    eq(thrown(() => AtomicChunked.open(t, { path: '/tmp/x' })).code, 'ERR_STORAGE_UNSUPPORTED', 'AtomicChunked')
    const r = MemResource.open(t)
    eq(thrown(() => r.waitRangeSync(0, 1)).code, 'ERR_STORAGE_UNSUPPORTED', 'blocking waitRangeSync')
    r.close()
  },

  async 'memory returns after close'() {
    // 1,100 resources of 4 MiB opened, filled and closed: 4.4 GiB in all,
    // more than a wasm32 memory can ever hold, so this passes only if
    // close() hands each buffer back.
    const chunk = new Uint8Array(4 << 20).fill(7)
    for (let i = 0; i < 1100; i++) {
      const r = MemResource.open(new CancellationToken())
      r.writeAt(0, chunk)
      r.close()
    }
  },
}

for (const [name, run] of Object.entries(scenarios)) {
  try {
    await run()
    results.push({ name, ok: true })
  } catch (e) {
    results.push({ name, ok: false, error: `${e?.code ?? ''} ${e?.stack ?? e}` })
  }
}
window.__results = results
