// A complete caching proxy (the README's example): `node --import tsx examples/proxy.ts <url>`,
// then ask http://127.0.0.1:8000/ for any range, while it downloads or after.
import { createServer } from 'node:http'
import { CancellationToken, type DownloadError, MmapResource, download, serveRange } from '@kithara/storage'

const origin = process.argv[2] ?? 'http://127.0.0.1:8080/movie.mp4'
// persistRanges: the cache remembers which bytes arrived, so a rerun resumes.
const cache = MmapResource.open(new CancellationToken(), { path: 'cache.bin', persistRanges: true })

// Fill it from the origin: parallel Range requests, retries, only what is missing.
download(origin, cache, {
  connections: 4,
  onProgress: (p) => process.stdout.write(`\r${p.presentBytes} of ${p.totalBytes} bytes`),
}).then(
  (r) => console.log(`\ncomplete: ${r.size} bytes, ${r.fetchedBytes} fetched, ${r.resumedBytes} resumed`),
  (e: DownloadError) => console.error(`\n${e.code}: ${e.message}`),
)

// Serve it meanwhile: Range, multi-range, HEAD, If-Range. A client waits for bytes
// not there yet, and the bytes clients wait for are downloaded first.
createServer((req, res) => void serveRange(req, res, cache)).listen(8000, '127.0.0.1')

// Ctrl-C: close the file (it records what arrived) and go.
process.once('SIGINT', () => {
  cache.close()
  process.exit(130)
})
