/**
 * The caching proxy with real media clients: an MP4 whose index (moov) is at
 * the end, generated with Debian's ffmpeg, behind a slow nginx (limit_rate);
 * a proxy of this package alone (`download` into an MmapResource, `serveRange`
 * out); ffprobe, ffmpeg and headless Chromium read it from the proxy while
 * the download is still running.
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { CancellationToken, type Download, MmapResource, backendName, download, serveRange } from '@kithara/storage'
import anyTest, { type ExecutionContext, type TestFn } from 'ava'
import { type Nginx, type ServedFile, startNginx } from '../download/nginx.js'
import { listen } from './util.js'

const run = promisify(execFile)
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const test = anyTest as TestFn<{ dir: string; nginx: Nginx; movie: ServedFile; duration: number }>
// Files (MmapResource) need the native backend; under KITHARA_STORAGE_BACKEND=wasm these are skipped.
const native = backendName() === 'native'
const serial = native ? test.serial : test.serial.skip

/**
 * 30 s of test pattern and tone at a constant 1 Mbit/s (filler NAL units
 * keep the rate up), about 4 MB: at 4 connections x 32 KiB/s the download
 * takes about 25 s, far longer than any client here needs.
 */
const DURATION = 30
const RATE = '32k'

/** Top-level MP4 boxes as [type, offset]. */
function boxes(data: Buffer): Array<[string, number]> {
  const out: Array<[string, number]> = []
  for (let at = 0; at + 8 <= data.length; ) {
    const size = data.readUInt32BE(at)
    out.push([data.toString('latin1', at + 4, at + 8), at])
    if (size < 8) break
    at += size
  }
  return out
}

test.before(async (t) => {
  if (!native) return
  for (const tool of ['/usr/bin/ffmpeg', '/usr/bin/ffprobe']) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: install Debian's ffmpeg (.ci/run does)`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'kithara-media-'))
  t.context.dir = dir
  const path = join(dir, 'movie.mp4')
  // No -movflags +faststart: the moov box is written after the media data.
  await run('ffmpeg', [
    ...['-hide_banner', '-loglevel', 'error', '-y'],
    ...['-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${DURATION}`],
    ...['-f', 'lavfi', '-i', `sine=frequency=440:duration=${DURATION}`],
    ...['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p'],
    ...['-b:v', '1M', '-minrate', '1M', '-maxrate', '1M', '-bufsize', '1M', '-x264-params', 'nal-hrd=cbr'],
    ...['-g', '50', '-c:a', 'aac', '-b:a', '64k'],
    path,
  ])
  const data = readFileSync(path)
  t.context.movie = { name: 'movie.mp4', data, sha256: createHash('sha256').update(data).digest('hex') }
  t.context.duration = DURATION
  t.context.nginx = await startNginx(join(dir, 'nginx'), [t.context.movie], RATE)
})

test.after.always(async (t) => {
  await t.context.nginx?.stop()
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true })
})

let proxyNo = 0

/** The proxy: download() from the slow nginx into a fresh file, serveRange() out. */
async function startProxy(t: ExecutionContext<{ dir: string; nginx: Nginx }>, page?: string) {
  const resource = MmapResource.open(new CancellationToken(), {
    path: join(t.context.dir, `proxy-${proxyNo++}.mp4`),
    persistRanges: true,
  })
  const stop = new AbortController()
  const job: Download = download(`${t.context.nginx.base}/slow/movie.mp4`, resource, {
    connections: 4,
    pieceSize: 128 * 1024,
    signal: stop.signal,
  })
  job.catch(() => {})
  const { base } = await listen(t, (req, res) => {
    if (page !== undefined && req.url === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end(page)
      return
    }
    void serveRange(req, res, resource, { contentType: 'video/mp4' })
  })
  t.teardown(() => {
    stop.abort(new Error('test over'))
    resource.close()
  })
  return { url: `${base}/movie.mp4`, base, resource, job }
}

serial('the generated MP4 has its index (moov) after the media data', (t) => {
  const order = boxes(t.context.movie.data).map(([type]) => type)
  t.true(order.indexOf('moov') > order.indexOf('mdat'), order.join(' '))
})

serial('ffprobe reads the MP4 from the proxy while the download is still running', async (t) => {
  const proxy = await startProxy(t)
  const { stdout } = await run('ffprobe', [
    ...['-v', 'error', '-of', 'json'],
    ...['-show_entries', 'format=duration:stream=codec_name,width,height'],
    proxy.url,
  ])
  // Before anything else: the download had not finished when ffprobe was done.
  const { presentBytes } = proxy.job.progress()
  t.is(proxy.resource.status().kind, 'active', 'still downloading')
  t.true(presentBytes < t.context.movie.data.length, `${presentBytes} of ${t.context.movie.data.length} bytes present`)
  const info = JSON.parse(stdout) as {
    format: { duration: string }
    streams: Array<{ codec_name: string; width?: number; height?: number }>
  }
  t.true(Math.abs(Number(info.format.duration) - t.context.duration) < 0.2, info.format.duration)
  t.deepEqual(info.streams.map((s) => s.codec_name).sort(), ['aac', 'h264'])
  t.like(
    info.streams.find((s) => s.codec_name === 'h264'),
    { width: 320, height: 240 },
  )
})

serial('ffmpeg decodes the last second over HTTP, frame-identical to the file, while the download runs', async (t) => {
  const proxy = await startProxy(t)
  const lastSecond = (input: string) =>
    run('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-ss', String(t.context.duration - 1)],
      ...['-i', input, '-map', '0:v', '-f', 'framemd5', '-'],
    ])
  const remote = await lastSecond(proxy.url)
  t.is(proxy.resource.status().kind, 'active', 'still downloading')
  const local = await lastSecond(join(t.context.nginx.dir, 'www', 'movie.mp4'))
  const frames = (s: string) => s.split('\n').filter((l) => /^\d/.test(l))
  t.true(frames(remote.stdout).length >= 20, `${frames(remote.stdout).length} frames`)
  t.deepEqual(frames(remote.stdout), frames(local.stdout))
})

serial('Chromium plays the MP4 from the proxy while it downloads, and seeks near the end', async (t) => {
  t.timeout(90_000)
  if (!existsSync(chromium)) t.fail(`${chromium} is missing: apt-get install chromium`)
  // The page's side, in the page: window.kt drives the <video> element.
  const page = `<!doctype html>
<video id="v" src="/movie.mp4" muted playsinline preload="auto"></video>
<script>
  const v = document.getElementById('v')
  window.kt = {
    canPlay: (type) => v.canPlayType(type),
    play: () => v.play().then(() => true),
    time: () => v.currentTime,
    seek: (to) => new Promise((resolve) => {
      v.addEventListener('seeked', () => resolve({ currentTime: v.currentTime, readyState: v.readyState, error: v.error ? v.error.code : null }), { once: true })
      v.currentTime = to
    }),
  }
</script>`
  const proxy = await startProxy(t, page)
  const { chromium: launcher } = await import('playwright-core')
  const browser = await launcher.launch({
    executablePath: chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  })
  t.teardown(() => browser.close())
  const tab = await browser.newPage()
  await tab.goto(`${proxy.base}/`)
  const codec = await tab.evaluate(`kt.canPlay('video/mp4; codecs="avc1.42E01E, mp4a.40.2"')`)
  t.is(codec, 'probably', 'H.264 + AAC in MP4')
  t.true(await tab.evaluate('kt.play()'))
  await tab.waitForFunction('kt.time() > 2', undefined, { timeout: 30_000 })
  t.is(proxy.resource.status().kind, 'active', 'playing while the download runs')
  const target = t.context.duration - 2
  const seeked = (await tab.evaluate(`kt.seek(${target})`)) as {
    currentTime: number
    readyState: number
    error: number | null
  }
  t.is(proxy.resource.status().kind, 'active', 'the seek completed while the download runs')
  t.is(seeked.error, null)
  t.true(Math.abs(seeked.currentTime - target) < 0.5, `at ${seeked.currentTime}`)
  t.true(seeked.readyState >= 2, `readyState ${seeked.readyState}`)
  // And it plays on from there.
  await tab.waitForFunction(`kt.time() > ${target + 0.5}`, undefined, { timeout: 15_000 })
})
