/**
 * Known core bugs the model test found, written as the behaviour they
 * should have and marked `test.failing`: they pass while the bug is there,
 * and fail (asking for `.failing` to be removed) once it is fixed. The
 * model test (model.ts, `Model.knownBug`) ends a sequence just before it
 * would run into one of these, and counts how often.
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import test from 'ava'
import { AtomicChunked, CancellationToken } from '@kithara/storage'
import { scratchDir } from './util.js'

// chunked-empty-commit (core, src/decorator/chunked.rs `AtomicChunked::mmap`):
// after the rename the factory reopens the canonical path in Auto mode, and
// Auto treats an empty file as new: it opens it *active* and reserves the
// default 64 KiB. So commit(0) leaves an active resource and a 64 KiB file of
// zeros where an empty committed file belongs. Fix: reopen with ReadOnly
// semantics (or pass the committed length), never Auto's create path.
test.failing('AtomicChunked: commit(0) leaves an empty committed file', (t) => {
  const path = join(scratchDir(t, 'bug-empty'), 'empty.bin')
  const r = AtomicChunked.open(new CancellationToken(), { path })
  t.teardown(() => r.close())
  r.commit(0)
  t.deepEqual(r.status(), { kind: 'committed', finalLen: 0 })
  t.is(statSync(path).size, 0)
})

// chunked-reopen-after-abandon (core, src/decorator/chunked.rs): fail()
// deletes the temp and drops the claim, but the resource stays usable:
// reactivate + commit then "commits" the unlinked temp (nothing is renamed,
// the canonical path never appears), and a later reactivate (or write, the
// temp is opened ReadWrite) reopens `<path>.tmp` by name, creating a new
// empty file: the committed bytes read as nothing, and a stray unclaimed
// temp is left behind. Fix: after abandon, refuse reactivate (stay failed),
// or re-claim a temp and copy the data over on reactivate.
test.failing('AtomicChunked: fail, reactivate, commit, reactivate keeps the bytes', (t) => {
  const path = join(scratchDir(t, 'bug-abandon'), 'file.bin')
  const r = AtomicChunked.open(new CancellationToken(), { path })
  t.teardown(() => r.close())
  r.writeAt(0, Buffer.from('hello'))
  r.fail('network down')
  r.reactivate()
  r.commit()
  r.reactivate()
  const buf = Buffer.alloc(5)
  t.is(r.readAt(0, buf), 5)
  t.is(buf.toString(), 'hello')
  r.close()
  t.false(existsSync(`${path}.tmp`))
})
