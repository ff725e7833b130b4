// Child of the truncation test (__test__/reliability/truncated.test.ts):
// maps a file, has another process (`truncate -s 0`) cut it to nothing, and
// touches the mapping again. The read must throw ERR_STORAGE_IO (EIO) rather
// than SIGBUS killing this process. Prints one JSON line; exits 0.
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
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
process.stdout.write(`${JSON.stringify(out)}\n`)
