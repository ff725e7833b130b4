import { CancellationToken, MemResource } from '@kithara/storage'
/** CancellationToken: cancel, isCancelled, child, share/fromShared, fromSignal. */
import test from 'ava'

test('cancel, isCancelled, child', (t) => {
  const parent = new CancellationToken()
  const child = parent.child()
  const grandchild = child.child()
  t.false(parent.isCancelled)
  child.cancel()
  t.true(child.isCancelled)
  t.true(grandchild.isCancelled)
  t.false(parent.isCancelled)
  const other = parent.child()
  parent.cancel()
  parent.cancel()
  t.true(other.isCancelled)
})

test('share / fromShared is the same token', (t) => {
  const token = new CancellationToken()
  const h = token.share()
  t.deepEqual(structuredClone(h), h)
  const same = CancellationToken.fromShared(structuredClone(h))
  same.cancel()
  t.true(token.isCancelled)
  t.throws(() => CancellationToken.fromShared({ __kithara: 'resource', id: 1 } as never), {
    instanceOf: TypeError,
  })
  t.throws(() => CancellationToken.fromShared(null as never), { instanceOf: TypeError })
})

test('fromSignal: aborted now or later', (t) => {
  const ac = new AbortController()
  const token = CancellationToken.fromSignal(ac.signal)
  t.is(CancellationToken.fromSignal(ac.signal), token)
  t.false(token.isCancelled)
  ac.abort()
  t.true(token.isCancelled)
  t.true(CancellationToken.fromSignal(AbortSignal.abort()).isCancelled)
  t.throws(() => CancellationToken.fromSignal({} as never), { instanceOf: TypeError })
})

test('cancelling the token cancels the resource and its waits', async (t) => {
  const token = new CancellationToken()
  const r = MemResource.open(token.child())
  const p = r.waitRange(0, 10)
  token.cancel()
  const err = await t.throwsAsync(p)
  t.is((err as { code?: string }).code, 'ERR_STORAGE_CANCELLED')
  t.deepEqual(r.status(), { kind: 'cancelled' })
})

test('a token argument of the wrong type is a TypeError', (t) => {
  for (const bad of [null, undefined, {}, 'x', 1]) {
    const err = t.throws(() => MemResource.open(bad as never), { instanceOf: TypeError })
    t.is((err as { code?: string }).code, 'ERR_INVALID_ARG_TYPE')
  }
})
