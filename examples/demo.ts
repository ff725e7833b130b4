/**
 * `npm start`: a progressive, resumable, parallel downloader.
 *
 *   npm start                          # own local server, 64 MiB generated file
 *   npm start -- <url> [outfile]       # any server that supports Range
 *
 * Pieces are fetched over several connections, out of order, into an
 * `MmapResource` opened with `persistRanges`; a worker thread reads the file
 * in order with `waitRangeSync` and hashes it. Ctrl-C flushes and closes the
 * resource (`<outfile>.ranges` keeps what arrived); running the same command
 * again fetches only the gaps. Flags: --out, --size, --connections, --piece-size,
 * --rate, --fresh, --quiet (plain lines instead of the bar; also when stdout
 * is not a terminal).
 */
import { existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { CancellationToken, MmapResource } from '@kithara/storage'
import { MultiBar, Presets } from 'cli-progress'
import { download, planPieces, probe } from './download.js'
import { type DemoServer, startDemoServer } from './server.js'

const MiB = 1024 * 1024

const usage = `usage: npm start -- [<url> [outfile]] [--out FILE] [--size BYTES] [--connections N]
                   [--piece-size BYTES] [--rate BYTES_PER_S] [--fresh] [--quiet]`

interface Settings {
  url: string | undefined
  out: string | undefined
  size: number
  connections: number
  pieceSize: number
  rate: number
  fresh: boolean
  quiet: boolean
}

function parseSettings(argv: string[]): Settings {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      size: { type: 'string' },
      connections: { type: 'string' },
      'piece-size': { type: 'string' },
      rate: { type: 'string' },
      out: { type: 'string', short: 'o' },
      fresh: { type: 'boolean' },
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
    connections: Math.max(1, int(values.connections, 4, 'connections')),
    pieceSize: Math.max(1, int(values['piece-size'], MiB, 'piece-size')),
    // Own server only: 2 MiB/s per connection, so the bar can be watched and Ctrl-C tried.
    rate: int(values.rate, 2 * MiB, 'rate'),
    fresh: values.fresh ?? false,
    quiet: (values.quiet ?? false) || !process.stdout.isTTY,
  }
}

const fmtMiB = (n: number): string => `${(n / MiB).toFixed(1)} MiB`

/** The reader worker's final message. */
type ReaderResult =
  | { kind: 'done'; sha256: string; bytes: number }
  | { kind: 'error'; code?: string; message: string; bytes: number }

async function main(): Promise<number> {
  const s = parseSettings(process.argv.slice(2))
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`)
  }

  let server: DemoServer | undefined
  let url = s.url
  if (url === undefined) {
    server = await startDemoServer({ size: s.size, rate: s.rate })
    url = server.url
    say(`server ${url} serving ${server.size} bytes, sha256 ${server.sha256}`)
  }
  const { size } = await probe(url)
  const out = resolve(
    s.out ?? (server ? join(tmpdir(), `kithara-demo-${size}.bin`) : basename(new URL(url).pathname) || 'download.bin'),
  )
  if (s.fresh) {
    rmSync(out, { force: true })
    rmSync(`${out}.ranges`, { force: true })
  }
  const hadFile = existsSync(out)
  const hadRecord = existsSync(`${out}.ranges`)
  say(`source ${url} (${size} bytes) -> ${out}`)

  const token = new CancellationToken()
  const resource = MmapResource.open(token, { path: out, initialLen: size, persistRanges: true })
  const status = resource.status()
  if (status.kind === 'committed') {
    if (hadFile && !hadRecord) {
      say(
        `note: ${out} exists without ${basename(out)}.ranges, so it opened as complete (use --fresh to download again)`,
      )
    }
    if (status.finalLen !== size) {
      say(`error: ${out} is complete with ${status.finalLen} bytes but the source has ${size}; use --fresh`)
      resource.close()
      await server?.close()
      return 1
    }
  } else if (!hadRecord) {
    // Record "nothing written yet" now, so that a crash before the first
    // checkpoint cannot leave a file that reopens as complete.
    resource.flush()
  }

  const pieces = status.kind === 'committed' ? [] : planPieces(resource, size, s.pieceSize)
  // The rest stays shuffled, but the reader's first piece goes first, as a
  // player would want it.
  const first = pieces.reduce((lo, p, i) => (p.start < pieces[lo].start ? i : lo), 0)
  if (pieces.length > 1) pieces.unshift(...pieces.splice(first, 1))
  const missing = pieces.reduce((sum, p) => sum + (p.end - p.start), 0)
  const present = size - missing
  if (status.kind === 'committed') say('complete already: reading it back')
  else if (present > 0)
    say(`resume ${present} of ${size} bytes present; fetching ${missing} bytes in ${pieces.length} pieces`)
  else say(`fresh fetching ${size} bytes in ${pieces.length} pieces over ${s.connections} connections`)

  // The in-order reader.
  const position = new SharedArrayBuffer(8)
  const readerPos = new BigInt64Array(position)
  const worker = new Worker(join(__dirname, 'reader-worker.mjs'), {
    workerData: { handle: resource.share(), size, chunk: 256 * 1024, position },
  })
  const readerDone = new Promise<ReaderResult>((resolveResult, reject) => {
    worker.once('message', (m: ReaderResult) => resolveResult(m))
    worker.once('error', reject)
  })

  // Progress: the downloaded count comes from the resource's 'write' events.
  let downloaded = present
  const onWrite = ({ start, end }: { start: number; end: number }): void => {
    downloaded += end - start
  }
  resource.on('write', onWrite)
  const started = Date.now()
  let bars: MultiBar | undefined
  let update: () => void = () => {}
  let lastQuietDecile = Math.floor((present / Math.max(size, 1)) * 10)
  const speed = (): string => {
    const secs = (Date.now() - started) / 1000
    return secs > 0 ? `${((downloaded - present) / MiB / secs).toFixed(1)} MiB/s` : '-'
  }
  if (!s.quiet) {
    bars = new MultiBar(
      {
        format: ' {name} |{bar}| {percentage}% {done}/{total_h} {extra}',
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
      },
      Presets.shades_classic,
    )
    const dl = bars.create(size, present, { name: 'download', done: fmtMiB(present), total_h: fmtMiB(size), extra: '' })
    const rd = bars.create(size, 0, { name: 'reader  ', done: fmtMiB(0), total_h: fmtMiB(size), extra: '' })
    update = () => {
      const r = Number(Atomics.load(readerPos, 0))
      dl.update(downloaded, { done: fmtMiB(downloaded), extra: speed() })
      rd.update(r, { done: fmtMiB(r), extra: '' })
    }
  } else {
    update = () => {
      const decile = Math.floor((downloaded / Math.max(size, 1)) * 10)
      if (decile > lastQuietDecile && decile < 10) {
        lastQuietDecile = decile
        say(`progress ${decile * 10}% downloaded, reader at ${Number(Atomics.load(readerPos, 0))}`)
      }
    }
  }
  const ticker = setInterval(update, 100)

  // Ctrl-C: stop the requests; the catch below flushes and closes.
  const stop = new AbortController()
  const onSigint = (): void => {
    if (stop.signal.aborted) process.exit(130)
    stop.abort(new Error('interrupted'))
  }
  process.on('SIGINT', onSigint)

  let code = 0
  try {
    let fetched = 0
    if (pieces.length > 0) {
      const stats = await download(resource, url, pieces, { connections: s.connections, signal: stop.signal })
      fetched = stats.receivedBytes
    }
    if (resource.status().kind !== 'committed') resource.commit(size)
    // Every byte is there; the last 'write' events may still be on their way.
    resource.off('write', onWrite)
    downloaded = present + fetched
    const result = await readerDone
    clearInterval(ticker)
    update()
    bars?.stop()
    if (result.kind === 'error') throw new Error(`reader: ${result.code ?? ''} ${result.message}`)
    const secs = (Date.now() - started) / 1000
    say(`done ${size} bytes, ${fetched} downloaded in ${secs.toFixed(1)} s (${speed()})`)
    say(`sha256 ${result.sha256}`)
    if (server) {
      const ok = result.sha256 === server.sha256
      say(ok ? 'verify sha256 matches the served file' : `verify MISMATCH: expected ${server.sha256}`)
      if (!ok) code = 1
    }
  } catch (e) {
    clearInterval(ticker)
    bars?.stop()
    // Make what arrived durable and recorded, then let go of the file.
    try {
      resource.flush()
    } catch {
      // Closed or failed already; close() below records what it can.
    }
    const kept = size - planPieces(resource, size, size, 'inOrder').reduce((sum, p) => sum + (p.end - p.start), 0)
    resource.close()
    await readerDone.catch(() => undefined)
    if (stop.signal.aborted) {
      say(`interrupted ${kept} of ${size} bytes kept (${basename(out)}.ranges); run the same command again to resume`)
      code = 130
    } else {
      say(`error ${e instanceof Error ? e.message : String(e)}`)
      code = 1
    }
  } finally {
    process.off('SIGINT', onSigint)
    await worker.terminate()
    resource.close()
    await server?.close()
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
