// Group 7: serving over HTTP. One node:http server in this process answers
// both contenders on the same port; curl (a separate process, so the client
// never competes with the server for the event loop) is the client.
//
//   whole      GET of a committed 256 MiB file: serveRange(req, res, file)
//              vs fs.createReadStream(path).pipe(res) with Content-Length.
//   ranges     400 random 64 KiB ranges over one keep-alive connection:
//              serveRange vs a hand-written 206 + fs.createReadStream({ start, end }).
//   ttfb       a 64 KiB range at the end of a 64 MiB file, asked for 0.3 s
//              into a download from a paced origin (2 MiB/s per connection,
//              4 connections): through download() + serveRange, vs the same
//              range straight from the origin. Also how many bytes of the
//              file were present when the tail arrived.
//
// Rounds alternate the contenders so machine noise hits both alike;
// medians are reported. BENCH_SERVE_ROUNDS overrides the round count.
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { CancellationToken, MmapResource, download, serveRange } from '@kithara/storage'
import { KIB, MIB, emit, log, median, randomBytes, randomOffsets, scratchDir } from './lib.mjs'

const ROUNDS = Number(process.env.BENCH_SERVE_ROUNDS ?? 5)
const WHOLE = 256 * MIB
const RANGE = 64 * KIB
const RANGE_COUNT = 400
const TTFB_FILE = 64 * MIB
const ORIGIN_RATE = 2 * MIB

const { dir } = scratchDir('serve')

function curl(args) {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-s', '-S', ...args], { maxBuffer: 64 * MIB }, (err, stdout, stderr) => {
      if (err) reject(new Error(`curl ${args.join(' ')}: ${stderr || err.message}`))
      else resolve(stdout)
    })
  })
}

function listen(handler) {
  const server = http.createServer(handler)
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` })),
  )
}

// --- the file and the server ---------------------------------------------------

const filePath = path.join(dir, 'whole.bin')
{
  const chunk = randomBytes(MIB)
  const fd = fs.openSync(filePath, 'w')
  for (let off = 0; off < WHOLE; off += MIB) fs.writeSync(fd, chunk, 0, MIB, off)
  fs.closeSync(fd)
}
// An existing non-empty file opens committed ('auto').
const file = MmapResource.open(new CancellationToken(), { path: filePath })
if (file.status().kind !== 'committed') throw new Error('expected a committed resource')

/** The baseline a user would write by hand: a 200 or single-range 206 over fs.createReadStream. */
function fsHandler(req, res) {
  const m = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')
  if (m) {
    const start = Number(m[1])
    const end = Number(m[2])
    res.writeHead(206, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(end - start + 1),
      'Content-Range': `bytes ${start}-${end}/${WHOLE}`,
      'Accept-Ranges': 'bytes',
    })
    fs.createReadStream(filePath, { start, end }).pipe(res)
    return
  }
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(WHOLE) })
  fs.createReadStream(filePath).pipe(res)
}

const { server, base } = await listen((req, res) => {
  if (req.url === '/ours') void serveRange(req, res, file)
  else fsHandler(req, res)
})

// --- whole file -------------------------------------------------------------------

async function wholeOnce(route) {
  const out = await curl(['-o', '/dev/null', '-w', '%{size_download} %{time_total}', `${base}/${route}`])
  const [bytes, secs] = out.trim().split(' ').map(Number)
  if (bytes !== WHOLE) throw new Error(`${route}: got ${bytes} bytes`)
  return WHOLE / 1e6 / secs
}

// Warm the page cache and both code paths once.
await wholeOnce('ours')
await wholeOnce('fs')
const whole = { ours: [], fs: [] }
for (let r = 0; r < ROUNDS; r++) {
  whole.fs.push(await wholeOnce('fs'))
  whole.ours.push(await wholeOnce('ours'))
  log(
    `whole round ${r}: serveRange ${whole.ours[r].toFixed(0)} MB/s, fs.createReadStream ${whole.fs[r].toFixed(0)} MB/s`,
  )
}

// --- many small ranges on one keep-alive connection ------------------------------

const offsets = randomOffsets(RANGE_COUNT, WHOLE, RANGE, 4 * KIB)
const rangeConfig = (route) => {
  const lines = []
  offsets.forEach((off, i) => {
    if (i > 0) lines.push('next')
    lines.push(
      `url = "${base}/${route}"`,
      `range = "${off}-${off + RANGE - 1}"`,
      'output = "/dev/null"',
      'write-out = "%{http_code}\\n"',
    )
  })
  const cfg = path.join(dir, `ranges-${route}.curlrc`)
  fs.writeFileSync(cfg, `${lines.join('\n')}\n`)
  return cfg
}
const configs = { ours: rangeConfig('ours'), fs: rangeConfig('fs') }

async function rangesOnce(route) {
  const t0 = process.hrtime.bigint()
  const out = await curl(['-K', configs[route]])
  const secs = Number(process.hrtime.bigint() - t0) / 1e9
  const codes = out.trim().split('\n')
  if (codes.length !== RANGE_COUNT || codes.some((c) => c !== '206')) throw new Error(`${route}: ${codes.slice(0, 3)}`)
  return RANGE_COUNT / secs
}

await rangesOnce('ours')
await rangesOnce('fs')
const ranges = { ours: [], fs: [] }
for (let r = 0; r < ROUNDS; r++) {
  ranges.fs.push(await rangesOnce('fs'))
  ranges.ours.push(await rangesOnce('ours'))
  log(`ranges round ${r}: serveRange ${ranges.ours[r].toFixed(0)} req/s, fs ${ranges.fs[r].toFixed(0)} req/s`)
}
file.close()
server.close()

// --- time to first byte, far ahead of a running download -------------------------

const originData = randomBytes(TTFB_FILE)

/** A paced origin with single-range support, as slow per connection as a far-away server. */
const origin = await listen((req, res) => {
  const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '')
  const start = m ? Number(m[1]) : 0
  const end = m && m[2] !== '' ? Math.min(Number(m[2]) + 1, TTFB_FILE) : TTFB_FILE
  res.writeHead(m ? 206 : 200, {
    'Content-Length': String(end - start),
    ...(m ? { 'Content-Range': `bytes ${start}-${end - 1}/${TTFB_FILE}` } : {}),
    ETag: '"bench"',
  })
  const began = Date.now()
  let at = start
  const step = () => {
    while (at < end && !res.destroyed) {
      const n = Math.min(16 * KIB, end - at)
      const ok = res.write(originData.subarray(at, at + n))
      at += n
      const due = began + ((at - start) / ORIGIN_RATE) * 1000
      if (due > Date.now()) return void setTimeout(step, due - Date.now())
      if (!ok) return void res.once('drain', step)
    }
    res.end()
  }
  step()
})
const originUrl = `${origin.base}/file`

const ttfbArgs = (url) => [
  '-o',
  '/dev/null',
  '-r',
  `${TTFB_FILE - RANGE}-${TTFB_FILE - 1}`,
  '-w',
  '%{time_starttransfer} %{time_total} %{size_download}',
  url,
]

let ttfbRound = 0
async function ttfbProxyOnce() {
  // A file, as a caching proxy keeps: a MemResource written far ahead would
  // first zero-fill everything below (tens of ms for 60 MiB on this VM).
  const target = path.join(dir, `ttfb-${ttfbRound++}.bin`)
  const resource = MmapResource.open(new CancellationToken(), { path: target })
  const stop = new AbortController()
  const job = download(originUrl, resource, { connections: 4, pieceSize: MIB, signal: stop.signal })
  job.catch(() => {})
  const proxy = await listen((req, res) => void serveRange(req, res, resource))
  await new Promise((r) => setTimeout(r, 300))
  const out = await curl(ttfbArgs(`${proxy.base}/file`))
  const present = job.progress().presentBytes
  stop.abort(new Error('done'))
  proxy.server.closeAllConnections()
  proxy.server.close()
  resource.close()
  fs.rmSync(target, { force: true })
  const [first, total, bytes] = out.trim().split(' ').map(Number)
  if (bytes !== RANGE) throw new Error(`proxy: got ${bytes} bytes`)
  return { first: first * 1000, total: total * 1000, present }
}

async function ttfbOriginOnce() {
  const out = await curl(ttfbArgs(originUrl))
  const [first, total] = out.trim().split(' ').map(Number)
  return { first: first * 1000, total: total * 1000 }
}

const ttfb = { proxy: [], origin: [], proxyTotal: [], originTotal: [], present: [] }
for (let r = 0; r < ROUNDS; r++) {
  const o = await ttfbOriginOnce()
  const p = await ttfbProxyOnce()
  ttfb.origin.push(o.first)
  ttfb.originTotal.push(o.total)
  ttfb.proxy.push(p.first)
  ttfb.proxyTotal.push(p.total)
  ttfb.present.push(p.present)
  log(
    `ttfb round ${r}: proxy first byte ${p.first.toFixed(1)} ms (whole range ${p.total.toFixed(1)} ms, ` +
      `${(p.present / MIB).toFixed(1)} MiB of ${TTFB_FILE / MIB} present), origin ${o.first.toFixed(1)} ms (${o.total.toFixed(1)} ms)`,
  )
}
origin.server.closeAllConnections()
origin.server.close()

emit({
  group: 'serve',
  cases: [
    { name: 'whole 256MiB serveRange', unit: 'MB/s', p50: median(whole.ours), samples: whole.ours },
    { name: 'whole 256MiB fs.createReadStream', unit: 'MB/s', p50: median(whole.fs), samples: whole.fs },
    { name: 'ranges 64KiB serveRange', unit: 'req/s', p50: median(ranges.ours), samples: ranges.ours },
    { name: 'ranges 64KiB fs.createReadStream', unit: 'req/s', p50: median(ranges.fs), samples: ranges.fs },
    { name: 'ttfb tail via proxy', unit: 'ms', p50: median(ttfb.proxy), samples: ttfb.proxy },
    { name: 'ttfb tail from origin', unit: 'ms', p50: median(ttfb.origin), samples: ttfb.origin },
    { name: 'tail total via proxy', unit: 'ms', p50: median(ttfb.proxyTotal), samples: ttfb.proxyTotal },
    { name: 'tail total from origin', unit: 'ms', p50: median(ttfb.originTotal), samples: ttfb.originTotal },
    { name: 'present when tail served', unit: 'bytes', p50: median(ttfb.present), samples: ttfb.present },
  ],
})
process.exit(0)
