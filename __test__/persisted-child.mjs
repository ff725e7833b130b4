// Child process of __test__/persisted.test.ts: writes a piece of a file with
// persisted ranges and sets its metadata, then (with "sync") awaits sync(),
// and kills itself with SIGKILL: no close, no drop, no exit handler. What
// the parent finds on reopen is what sync() made durable.
//
//   node persisted-child.mjs <path> sync|nosync
import { CancellationToken, MmapResource } from '@kithara/storage'

const [path, mode] = process.argv.slice(2)
const r = MmapResource.open(new CancellationToken(), { path, persistRanges: true, expectedLen: 1 << 20 })
r.writeAt(4096, new Uint8Array(8192).fill(7))
r.setMetadata({ etag: '"synced"', url: 'http://origin/file' })
if (mode === 'sync') await r.sync()
process.kill(process.pid, 'SIGKILL')
