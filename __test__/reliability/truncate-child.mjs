// Child of the truncation test (__test__/reliability/truncated.test.ts):
// maps a file, has another process (`truncate -s 0`) cut it to nothing, and
// touches the mapping again. The read must throw ERR_STORAGE_IO (EIO) rather
// than SIGBUS killing this process. Prints one JSON line; exits 0.
import { execFileSync } from 'node:child_process'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { CancellationToken, MmapResource } from '@kithara/storage'

const [dir] = process.argv.slice(2)
const SIZE = 256 * 1024
const token = new CancellationToken()
const err = (e) => ({ code: e.code, errno: e.errno, syscall: e.syscall })
const attempt = (fn) => {
  try {
    return { ok: fn() ?? null }
  } catch (e) {
    return { err: err(e) }
  }
}
const out = {}

// 1. A committed file, mapped read-only.
{
  const path = `${dir}/committed.bin`
  writeFileSync(path, Buffer.alloc(SIZE, 7))
  const r = MmapResource.open(token, { path })
  const buf = Buffer.alloc(4096)
  out.committedBefore = r.readAt(SIZE - 4096, buf)
  execFileSync('truncate', ['-s', '0', path])
  out.committedRead = attempt(() => r.readAt(SIZE - 4096, buf))
  out.committedReadAgain = attempt(() => r.readAt(0, buf))
  out.committedReadAll = attempt(() => r.readAll().length)
  r.close()
}

// 2. An active file being written, mapped read-write.
{
  const path = `${dir}/active.bin`
  const r = MmapResource.open(token, { path, initialLen: SIZE })
  r.writeAt(0, Buffer.alloc(SIZE, 9))
  execFileSync('truncate', ['-s', '0', path])
  const buf = Buffer.alloc(4096)
  out.activeRead = attempt(() => r.readAt(SIZE - 4096, buf))
  out.activeWrite = attempt(() => r.writeAt(8192, Buffer.alloc(16, 1)))
  // A commit maps the file afresh at the length it sets: usable again.
  out.activeCommit = attempt(() => r.commit(8192))
  out.activeAfterCommit = attempt(() => r.readAt(0, buf))
  out.activeStatus = r.status()
  r.close()
}
// 3. Recovery of a committed file cut to a quarter: reactivate() maps it
// afresh (reads see the file as it is now: its bytes up to the cut, then
// its end), and the next commit restores the committed length, zeros where
// it was cut.
{
  const path = `${dir}/recover-committed.bin`
  writeFileSync(path, Buffer.alloc(SIZE, 5))
  const r = MmapResource.open(token, { path })
  execFileSync('truncate', ['-s', String(SIZE / 4), path])
  const buf = Buffer.alloc(4096)
  out.cutRead = attempt(() => r.readAt(SIZE / 2, buf))
  out.cutReactivate = attempt(() => r.reactivate())
  out.cutReadBefore = attempt(() => r.readAt(0, buf) === 4096 && buf.every((b) => b === 5))
  out.cutReadPast = attempt(() => r.readAt(SIZE / 2, buf))
  out.cutCommit = attempt(() => r.commit())
  out.cutStatus = r.status()
  out.cutFileSize = statSync(path).size
  const all = readFileSync(path)
  out.cutFile = {
    kept: all.subarray(0, SIZE / 4).every((b) => b === 5),
    zeros: all.subarray(SIZE / 4).every((b) => b === 0),
  }
  r.close()
}

// 4. An active file cut while it is written: a commit() without a length
// commits the end of the highest written byte, and the file then has it.
{
  const path = `${dir}/recover-active.bin`
  const r = MmapResource.open(token, { path, initialLen: SIZE })
  r.writeAt(0, Buffer.alloc(SIZE, 6))
  execFileSync('truncate', ['-s', String(SIZE / 4), path])
  out.cutActiveWrite = attempt(() => r.writeAt(SIZE / 2, Buffer.alloc(16, 1)))
  out.cutActiveCommit = attempt(() => r.commit())
  out.cutActiveStatus = r.status()
  out.cutActiveFileSize = statSync(path).size
  const all = readFileSync(path)
  out.cutActiveFile = {
    kept: all.subarray(0, SIZE / 4).every((b) => b === 6),
    zeros: all.subarray(SIZE / 4).every((b) => b === 0),
  }
  r.close()
}
process.stdout.write(`${JSON.stringify(out)}\n`)
