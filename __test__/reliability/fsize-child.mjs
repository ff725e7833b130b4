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
if (defaultFirst) {
  const noop = () => {}
  process.on('SIGXFSZ', noop)
  process.removeListener('SIGXFSZ', noop)
}
const out = { sigxfszIgnoredBeforeLoad: ignoresSigxfsz(), written: 0, error: null }
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
