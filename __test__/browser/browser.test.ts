/**
 * The package in a real browser: a page importing '@kithara/storage' is
 * bundled by Vite (no plugins, no config: the wasm must load through the
 * `browser` export condition alone), served from 127.0.0.1 and run in
 * headless Debian Chromium driven by playwright-core. The page reports each
 * scenario on window.__results. Needs `npm run build` and /usr/bin/chromium.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { extname, join, normalize, resolve } from 'node:path'
import test from 'ava'

const root = resolve(__dirname, '..', '..')
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

const mime: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
}

/** A static file server for `dir` on 127.0.0.1 (random port). */
async function serve(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname))
    const file = join(dir, path.endsWith('/') ? `${path}index.html` : path)
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': mime[extname(file)] ?? 'application/octet-stream' })
    res.end(readFileSync(file))
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }
}

interface Result {
  name: string
  ok: boolean
  error?: string
}

test('the browser entry runs write/wait/read/commit/eof/cancel/AbortSignal/coverage in headless Chromium', async (t) => {
  t.timeout(180_000)
  for (const built of ['dist/browser.mjs', 'pkg-wasm/kithara_storage_wasm_bg.wasm']) {
    if (!existsSync(join(root, built))) t.fail(`${built} is missing: run \`npm run build\` first`)
  }
  if (!existsSync(chromium)) t.fail(`${chromium} is missing: apt-get install chromium`)

  // A consumer project: the page, with the package under node_modules.
  const project = mkdtempSync(join(tmpdir(), 'kithara-browser-'))
  t.teardown(() => rmSync(project, { recursive: true, force: true }))
  cpSync(join(__dirname, 'page'), project, { recursive: true })
  mkdirSync(join(project, 'node_modules', '@kithara'), { recursive: true })
  symlinkSync(root, join(project, 'node_modules', '@kithara', 'storage'), 'dir')

  const vite = await import('vite')
  await vite.build({
    root: project,
    configFile: false,
    logLevel: 'warn',
    build: { outDir: join(project, 'out'), emptyOutDir: true },
  })
  const emitted = readFileSync(join(project, 'out', 'index.html'), 'utf8')
  t.regex(emitted, /<script type="module"/)

  const { server, url } = await serve(join(project, 'out'))
  t.teardown(() => server.close())

  const { chromium: launcher } = await import('playwright-core')
  const browser = await launcher.launch({
    executablePath: chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  const pageErrors: string[] = []
  page.on('pageerror', (e) => pageErrors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(m.text())
  })
  page.on('response', (r) => {
    // The page itself never asks for a favicon; Chromium does.
    if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) pageErrors.push(`${r.status()} ${r.url()}`)
  })
  await page.goto(url)
  await page.waitForFunction(() => (globalThis as { __results?: unknown }).__results !== undefined, undefined, {
    timeout: 120_000,
  })
  const results = (await page.evaluate(() => (globalThis as { __results?: unknown }).__results)) as Result[]

  t.deepEqual(pageErrors, [])
  t.true(results.length >= 10, `scenarios reported: ${results.map((r) => r.name).join(', ')}`)
  for (const r of results) t.true(r.ok, `${r.name}: ${r.error ?? ''}`)
})
