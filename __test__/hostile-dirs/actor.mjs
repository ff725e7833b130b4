// Child of the shared-directory tests (shared-dirs.test.ts, replace.test.ts):
// one action on one path, run as whichever user the test chose (setpriv),
// with the umask in KITHARA_UMASK (octal). Prints one JSON line:
// { ok: result } or { err: { code, errno, syscall, path, message } }.
//
//   node actor.mjs chunked-write-commit <path> <text>   AtomicChunked: write, commit, close
//   node actor.mjs chunked-write-close  <path> <text>   AtomicChunked: write, close (no commit)
//   node actor.mjs atomic <path> <text> [durable]       Atomic.writeAll / writeAllDurable
//   node actor.mjs persist <path> <text>                persistRanges: write, commit, close, reopen
import { Atomic, AtomicChunked, CancellationToken, MmapResource } from '@kithara/storage'

if (process.env.KITHARA_UMASK) process.umask(Number.parseInt(process.env.KITHARA_UMASK, 8))
const [action, path, text, flag] = process.argv.slice(2)
const data = Buffer.from(text ?? '')
const token = new CancellationToken()

function run() {
  switch (action) {
    case 'chunked-write-commit':
    case 'chunked-write-close': {
      const r = AtomicChunked.open(token, { path, mode: 'readWrite' })
      r.writeAt(0, data)
      if (action === 'chunked-write-commit') r.commit(data.length)
      r.close()
      return 'done'
    }
    case 'atomic': {
      const r = new Atomic(MmapResource.open(token, { path }))
      if (flag === 'durable') r.writeAllDurable(data)
      else r.writeAll(data)
      r.close()
      return 'done'
    }
    case 'persist': {
      const r = MmapResource.open(token, { path, persistRanges: true })
      r.writeAt(0, data)
      r.commit()
      r.close()
      const again = MmapResource.open(token, { path, persistRanges: true })
      const status = again.status()
      again.close()
      return status
    }
    default:
      throw new Error(`unknown action ${action}`)
  }
}

try {
  process.stdout.write(`${JSON.stringify({ ok: run() })}\n`)
} catch (e) {
  const { code, errno, syscall, path: p, message } = e
  process.stdout.write(`${JSON.stringify({ err: { code, errno, syscall, path: p, message } })}\n`)
}
