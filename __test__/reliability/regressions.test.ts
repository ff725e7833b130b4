/**
 * Regression tests for the core bugs the reliability suite found (fixed in
 * the core since): each asserts the behaviour the model test expects.
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { AtomicChunked, CancellationToken, StorageError } from '@kithara/storage'
import { scratchDir } from './util.js'

// Found by the model test: after the rename, the canonical path was reopened
// in Auto mode, which treats an empty file as new (active, 64 KiB reserved).
test('AtomicChunked: commit(0) leaves an empty committed file', (t) => {
  const path = join(scratchDir(t, 'bug-empty'), 'empty.bin')
  const r = AtomicChunked.open(new CancellationToken(), { path })
  t.teardown(() => r.close())
  r.commit(0)
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 0 })
  t.is(statSync(path).size, 0)
})

// Found by the model test: fail() deleted the temp but reactivate still
// worked; commit then renamed nothing and a later reactivate recreated an
// empty temp, losing the bytes. Now reactivate refuses with the fail's reason.
test('AtomicChunked: fail() discards the temp; reactivate then fails FAILED, nothing is left behind', (t) => {
  const path = join(scratchDir(t, 'bug-abandon'), 'file.bin')
  const r = AtomicChunked.open(new CancellationToken(), { path })
  t.teardown(() => r.close())
  r.writeAt(0, Buffer.from('hello'))
  r.fail('network down')
  t.false(existsSync(`${path}.tmp`))
  const e = t.throws(() => r.reactivate(), { instanceOf: StorageError })
  t.is(e?.code, 'ERR_STORAGE_FAILED')
  t.is(e?.reason, 'network down')
  t.is(t.throws(() => r.commit(), { instanceOf: StorageError })?.code, 'ERR_STORAGE_FAILED')
  r.close()
  t.false(existsSync(path))
  t.false(existsSync(`${path}.tmp`))
})
