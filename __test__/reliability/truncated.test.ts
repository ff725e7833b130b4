/**
 * A file truncated under the mapping by another process (`truncate -s 0`):
 * touching the mapping must not kill the process (SIGBUS). The core's
 * choice (documented in the README, "Guarantees"): the access fails with
 * ERR_STORAGE_IO, errno -EIO, and the resource keeps answering EIO until a
 * commit or reactivate maps the file afresh. Run in a child process, so a
 * regression kills the child and not the suite.
 */
import { spawnSync } from 'node:child_process'
import { constants } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { scratchDir } from './util.js'

const CHILD = join(__dirname, 'truncate-child.mjs')
const EIO = { code: 'ERR_STORAGE_IO', errno: -constants.errno.EIO }

interface ChildReport {
  [k: string]: { ok?: unknown; err?: { code: string; errno?: number; syscall?: string } } | number | unknown
}

function runChild(dir: string): { status: number | null; signal: string | null; out: ChildReport; stderr: string } {
  const res = spawnSync(process.execPath, [CHILD, dir], { encoding: 'utf8', timeout: 60_000 })
  const line = res.stdout.trim().split('\n').pop() ?? ''
  return { status: res.status, signal: res.signal, out: line ? JSON.parse(line) : {}, stderr: res.stderr }
}

if (process.platform === 'win32') {
  test.skip('truncation under the mapping (Windows refuses to truncate a mapped file)', () => {})
} else {
  test('truncated under the mapping: the process survives (no SIGBUS), commit recovers', (t) => {
    const res = runChild(scratchDir(t, 'trunc'))
    t.log(JSON.stringify(res.out))
    t.is(res.signal, null, `child killed by ${res.signal}: ${res.stderr}`)
    t.is(res.status, 0, res.stderr)
    t.is(res.out.committedBefore, 4096)
    // After commit(8192) the file is mapped afresh: readable, zeros past what survived.
    t.deepEqual(res.out.activeCommit, { ok: null })
    t.deepEqual(res.out.activeAfterCommit, { ok: 4096 })
    t.deepEqual(res.out.activeStatus, { kind: 'committed', finalLen: 8192 })
  })

  // Found here: in release builds (the addon is one) the guard's fault flag
  // was a thread-local Cell the optimizer folded, so reads returned zeros.
  test('truncated under the mapping: reads and writes throw ERR_STORAGE_IO EIO', (t) => {
    const res = runChild(scratchDir(t, 'trunc-eio'))
    t.is(res.status, 0, res.stderr)
    t.like(res.out.committedRead, { err: EIO })
    t.like(res.out.committedReadAgain, { err: EIO })
    t.like(res.out.committedReadAll, { err: EIO })
    t.like(res.out.activeRead, { err: EIO })
    t.like(res.out.activeWrite, { err: EIO })
  })
}
