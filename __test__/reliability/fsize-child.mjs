// Child of the full-disk test (full-disk.test.ts beside it), run under a
// file-size limit: `sh -c 'ulimit -f N; exec node fsize-child.mjs <path>'`.
// Writes 64 KiB chunks until the limit stops one, then checks that the
// process lives, the bytes written before are intact and a commit works.
// Prints one JSON line; exits 0 unless something is wrong.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { Atomic, CancellationToken, MmapResource } from '@kithara/storage'

const path = process.argv[2]
const CHUNK = 64 * 1024
const chunk = (i) => Buffer.alloc(CHUNK, (i * 37 + 11) & 0xff)

// Signal 25 (SIGXFSZ) is bit 24 of SigIgn.
function ignoresSigxfsz() {
  const line = readFileSync('/proc/self/status', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('SigIgn:'))
  return line ? (BigInt(`0x${line.split(/\s+/)[1]}`) & (1n << 24n)) !== 0n : null
}

// Node itself ignores SIGXFSZ (since v12, nodejs/node#27798): a write past
// the limit fails with EFBIG instead of killing the process. The addon must
// leave that disposition alone, as a library should for any embedder: with
// `--default-sigxfsz` the child puts back the default first (libuv restores
// SIG_DFL when the last listener goes), loads the addon, reports whether the
// disposition changed, and writes nothing.
const defaultFirst = process.argv[3] === '--default-sigxfsz'
const prepared = process.argv[3] === '--prepared'
if (defaultFirst) {
  const noop = () => {}
  process.on('SIGXFSZ', noop)
  process.removeListener('SIGXFSZ', noop)
}
const out = { sigxfszIgnoredBeforeLoad: ignoresSigxfsz(), written: 0, error: null }
const attempt = (fn) => {
  try {
    return { ok: fn() ?? null }
  } catch (e) {
    return { err: { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path } }
  }
}

// `--prepared`: <path> is a persisted download (ranges [0, 64 KiB)) that the
// parent made 8 MiB long (sparse) before the limit applied. Its length is
// past the limit, so writes there need no growth: only the write itself can
// meet the limit. A `pwrite` does (EFBIG); a store through the mapping would
// not (the kernel does not check RLIMIT_FSIZE on page faults), so this is
// where a write into a fresh page must reserve its blocks with a `pwrite`.
if (prepared) {
  const MiB = 1024 * 1024
  const r = MmapResource.open(new CancellationToken(), { path, persistRanges: true })
  out.resumed = r.ranges()
  out.smallPastLimit = attempt(() => r.writeAt(4 * MiB, Buffer.alloc(4096, 1)))
  out.tinyPastLimit = attempt(() => r.writeAt(5 * MiB + 10, Buffer.alloc(100, 2)))
  out.largePastLimit = attempt(() => r.writeAt(6 * MiB, Buffer.alloc(2 * CHUNK, 3)))
  out.smallBelowLimit = attempt(() => r.writeAt(512 * 1024, Buffer.alloc(4096, 4)))
  out.smallRewrite = attempt(() => r.writeAt(100, Buffer.alloc(100, 5)))
  out.largeRewrite = attempt(() => r.writeAt(0, Buffer.alloc(CHUNK, 6)))
  out.ranges = r.ranges()
  const head = Buffer.alloc(CHUNK)
  r.readAt(0, head)
  const below = Buffer.alloc(4096)
  r.readAt(512 * 1024, below)
  out.bytesIntact = head.equals(Buffer.alloc(CHUNK, 6)) && below.equals(Buffer.alloc(4096, 4))
  r.close()
  console.log(JSON.stringify(out))
  process.exit(0)
}
// The addon loads on first use.
const r = MmapResource.open(new CancellationToken(), { path, initialLen: CHUNK })
out.sigxfszIgnoredAfterLoad = ignoresSigxfsz()
if (defaultFirst) {
  r.close()
  console.log(JSON.stringify(out))
  process.exit(0)
}
for (let i = 0; i < 256; i++) {
  try {
    r.writeAt(i * CHUNK, chunk(i))
    out.written = (i + 1) * CHUNK
  } catch (e) {
    out.error = { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message }
    break
  }
}
// The bytes written before the failure are all still there.
let intact = true
const buf = Buffer.alloc(CHUNK)
for (let i = 0; i < out.written / CHUNK; i++) {
  if (r.readAt(i * CHUNK, buf) !== CHUNK || !buf.equals(chunk(i))) intact = false
}
out.intact = intact
r.commit()
out.status = r.status()
out.committedIntact = r.readAll().equals(Buffer.concat(Array.from({ length: out.written / CHUNK }, (_, i) => chunk(i))))
r.close()

// Atomic.writeAll of a version larger than the limit: the old file stays.
const small = `${path}.atomic-target`
const old = Buffer.alloc(4096, 3)
writeFileSync(small, old)
const a = new Atomic(MmapResource.open(new CancellationToken(), { path: small }))
try {
  a.writeAll(Buffer.alloc(out.written + 4 * CHUNK, 4))
  out.atomicError = null
} catch (e) {
  out.atomicError = { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall }
}
out.atomicOldIntact = readFileSync(small).equals(old)
out.atomicTempsLeft = readdirSync(dirname(path)).filter((f) => f.endsWith('.atomic')).length
// Commit afterwards: the resource commits what it holds, the old version.
a.commit()
out.atomicStatus = a.status()
out.atomicReadAllIntact = a.readAll().equals(old)
a.close()
process.stdout.write(`${JSON.stringify(out)}\n`)
