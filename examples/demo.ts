/**
 * `npm start`: a caching proxy. It downloads a file into an `MmapResource`
 * (parallel Range requests, `persistRanges`) and serves it with
 * `serveRange` while it downloads: open the printed URL, or ask for any range
 * with curl; bytes not there yet are waited for and fetched first.
 *
 *   npm start                          # its own local origin, 64 MiB generated file (offline)
 *   npm start -- <url> [outfile]       # any http(s) URL
 *
 * Ctrl-C stops the download and closes the file (`<outfile>.ranges` keeps
 * what arrived); running the same command again fetches only the rest.
 * Flags: --out, --size, --rate, --connections, --piece-size, --port, --fresh,
 * --once (exit when complete instead of serving on), --quiet (plain lines
 * instead of the bar; also when stdout is not a terminal).
 */
import { existsSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { CancellationToken, type DownloadProgress, MmapResource, download, serveRange } from '@kithara/storage'
import { MultiBar, Presets } from 'cli-progress'
import { startDemoServer } from './server.js'

const MiB = 1024 * 1024

const usage = `usage: npm start -- [<url> [outfile]] [--out FILE] [--size BYTES] [--rate BYTES_PER_S]
                   [--connections N] [--piece-size BYTES] [--port N] [--fresh] [--once] [--quiet]`

interface Settings {
  url: string | undefined
  out: string | undefined
  size: number
  rate: number
  connections: number
  pieceSize: number
  port: number
  fresh: boolean
  once: boolean
  quiet: boolean
}

function parseSettings(argv: string[]): Settings {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string', short: 'o' },
      size: { type: 'string' },
      rate: { type: 'string' },
      connections: { type: 'string' },
      'piece-size': { type: 'string' },
      port: { type: 'string' },
      fresh: { type: 'boolean' },
      once: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help || positionals.length > 2) {
    console.log(usage)
    process.exit(values.help ? 0 : 2)
  }
  const int = (v: string | undefined, fallback: number, name: string): number => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (!Number.isSafeInteger(n) || n < 0) {
      console.error(`--${name} must be a non-negative integer, got ${v}\n${usage}`)
      process.exit(2)
    }
    return n
  }
  return {
    url: positionals[0],
    out: positionals[1] ?? values.out,
    size: int(values.size, 64 * MiB, 'size'),
    // Own origin only: 2 MiB/s per connection, so the download can be watched, overtaken and interrupted.
    rate: int(values.rate, 2 * MiB, 'rate'),
    connections: Math.max(1, int(values.connections, 4, 'connections')),
    pieceSize: Math.max(1, int(values['piece-size'], MiB, 'piece-size')),
    port: int(values.port, 0, 'port'),
    fresh: values.fresh ?? false,
    once: values.once ?? false,
    quiet: (values.quiet ?? false) || !process.stdout.isTTY,
  }
}

const fmtMiB = (n: number): string => `${(n / MiB).toFixed(1)} MiB`

async function main(): Promise<number> {
  const s = parseSettings(process.argv.slice(2))
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }

  const origin = s.url === undefined ? await startDemoServer({ size: s.size, rate: s.rate }) : undefined
  const url = s.url ?? (origin?.url as string)
  if (origin) say(`server ${origin.url} serving ${origin.size} bytes, sha256 ${origin.sha256}`)
  const name = basename(new URL(url).pathname) || 'download.bin'
  const out = resolve(s.out ?? (origin ? join(tmpdir(), `kithara-demo-${origin.size}.bin`) : name))
  if (s.fresh) {
    rmSync(out, { force: true })
    rmSync(`${out}.ranges`, { force: true })
  }
  say(`source ${url} -> ${out}`)

  const file = MmapResource.open(new CancellationToken(), { path: out, persistRanges: true })
  const complete = file.status().kind === 'committed'
  if (!complete && !existsSync(`${out}.ranges`)) {
    // Record "nothing yet" now, so a crash before the first checkpoint never reopens as complete.
    file.flush()
  }

  // The proxy: every request is answered from the file, as far as it is there.
  let served = 0
  let requests = 0
  const proxy = createServer((req, res) => {
    requests++
    void serveRange(req, res, file).then((r) => {
      served += r.bytesSent
    })
  })
  await new Promise<void>((ok) => proxy.listen(s.port, '127.0.0.1', ok))
  const local = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/${name}`
  say(`serving ${local}`)
  say(`  try: curl -r -100 ${local} | xxd | tail -2    (the last 100 bytes, fetched first)`)

  const stop = new AbortController()
  const onSigint = (): void => {
    if (stop.signal.aborted) process.exit(130)
    stop.abort(new Error('interrupted'))
  }
  process.on('SIGINT', onSigint)

  // Progress: a bar, or a line per 10 % when quiet.
  let bars: MultiBar | undefined
  let show: (p: DownloadProgress) => void = () => {}
  let lastDecile = -1
  const started = Date.now()
  let startBytes = 0
  const speed = (p: DownloadProgress): string => {
    const secs = (Date.now() - started) / 1000
    return secs > 0 ? `${((p.presentBytes - startBytes) / MiB / secs).toFixed(1)} MiB/s` : '-'
  }
  const job = download(url, file, {
    connections: s.connections,
    pieceSize: s.pieceSize,
    signal: stop.signal,
    onProgress: (p) => show(p),
  })

  let code = 0
  try {
    const info = await job.origin
    const total = info.size ?? 0
    const first = job.progress()
    startBytes = first.presentBytes
    if (complete) say('complete already: serving it')
    else if (!info.rangeSupported) say(`no Range support at the origin: fetching ${total} bytes in one stream`)
    else if (first.presentBytes > 0)
      say(`resume ${first.presentBytes} of ${total} bytes present; fetching ${total - first.presentBytes} bytes`)
    else say(`fresh fetching ${total} bytes over ${s.connections} connections`)
    if (!s.quiet && !complete) {
      bars = new MultiBar(
        { format: ' {name} |{bar}| {percentage}% {done}/{total_h} {extra}', hideCursor: true, barsize: 30 },
        Presets.shades_classic,
      )
      const dl = bars.create(total, first.presentBytes, {
        name: 'download',
        done: fmtMiB(first.presentBytes),
        total_h: fmtMiB(total),
        extra: '',
      })
      const sv = bars.create(
        1,
        0,
        { requests: 0, sent: fmtMiB(0) },
        { format: ' served   {requests} requests, {sent}' },
      )
      show = (p) => {
        dl.update(p.presentBytes, { done: fmtMiB(p.presentBytes), extra: speed(p) })
        sv.update(0, { requests, sent: fmtMiB(served) })
      }
    } else {
      show = (p) => {
        const decile = Math.floor((p.presentBytes / Math.max(p.totalBytes ?? 1, 1)) * 10)
        if (decile > lastDecile && decile < 10) {
          lastDecile = decile
          if (decile > 0) say(`progress ${decile * 10}% present, ${requests} requests served`)
        }
      }
    }
    const result = await job
    bars?.stop()
    const secs = (Date.now() - started) / 1000
    say(`done ${result.size} bytes, ${result.fetchedBytes} downloaded in ${secs.toFixed(1)} s`)
    const { createHash } = await import('node:crypto')
    const sha = createHash('sha256').update(file.readAll()).digest('hex')
    say(`sha256 ${sha}`)
    if (origin) {
      const ok = sha === origin.sha256
      say(ok ? 'verify sha256 matches the served file' : `verify MISMATCH: expected ${origin.sha256}`)
      if (!ok) code = 1
    }
    if (!s.once && code === 0) {
      say(`still serving ${local}; Ctrl-C to quit`)
      await new Promise<void>((ok) => stop.signal.addEventListener('abort', () => ok(), { once: true }))
    }
  } catch (e) {
    bars?.stop()
    if (stop.signal.aborted) {
      const kept = job.progress().presentBytes
      if (file.status().kind !== 'committed') {
        say(`interrupted ${kept} of ${job.progress().totalBytes ?? '?'} bytes kept (${basename(out)}.ranges);`)
        say('run the same command again to resume')
        code = 130
      }
    } else {
      const err = e as { code?: string; message?: string }
      say(`error ${err.code ?? ''} ${err.message ?? String(e)}`.replace('  ', ' '))
      code = 1
    }
  } finally {
    process.off('SIGINT', onSigint)
    proxy.closeAllConnections()
    proxy.close()
    // Flushes and records what arrived.
    file.close()
    await origin?.close()
  }
  return code
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    console.error(e instanceof Error ? e.message : e)
    process.exitCode = 1
  },
)
