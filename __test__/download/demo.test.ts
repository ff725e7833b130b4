/**
 * The `npm start` demo (a caching proxy) as a child process, in its
 * plain-line (non-TTY) mode: its own origin with a small file, serving a
 * range while it downloads, Ctrl-C and resume, and a URL (nginx).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { backendName } from '@kithara/storage'
import { generateBytes } from '../../examples/server.js'
import anyTest, { type TestFn } from 'ava'
import { type Nginx, makeFile, startNginx } from './nginx.js'

const test = anyTest as TestFn<{ dir: string; nginx: Nginx }>
// Files (MmapResource) need the native backend; under KITHARA_STORAGE_BACKEND=wasm these are skipped.
const native = backendName() === 'native'
const serial = native ? test.serial : test.serial.skip
const root = resolve(__dirname, '../..')
const MiB = 1024 * 1024
const file = makeFile('remote.bin', 3 * MiB + 17, 9)

test.before(async (t) => {
  if (!native) return
  t.context.dir = mkdtempSync(join(tmpdir(), 'kithara-demo-test-'))
  t.context.nginx = await startNginx(join(t.context.dir, 'nginx'), [file])
})

test.after.always(async (t) => {
  await t.context.nginx?.stop()
  if (t.context.dir) rmSync(t.context.dir, { recursive: true, force: true })
})

interface Run {
  child: ChildProcess
  /** Resolves when the child exits. */
  done: Promise<{ code: number | null; stdout: string; stderr: string }>
  /** Resolves when stdout has printed a line starting with `prefix`. */
  line(prefix: string): Promise<string>
}

/** Runs the demo as `npm start` does (stdout is a pipe, so it prints plain lines). */
function demo(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'examples/demo.ts'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  const waiters: Array<{ prefix: string; resolve: (l: string) => void }> = []
  child.stdout?.on('data', (d: Buffer) => {
    stdout += d.toString()
    for (const w of waiters.slice()) {
      const l = stdout.split('\n').find((x) => x.startsWith(w.prefix))
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(w), 1)
        w.resolve(l)
      }
    }
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString()
  })
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((res) =>
    child.once('close', (code) => res({ code, stdout, stderr })),
  )
  return {
    child,
    done,
    line: (prefix) =>
      new Promise((res, rej) => {
        const l = stdout.split('\n').find((x) => x.startsWith(prefix))
        if (l !== undefined) res(l)
        else {
          waiters.push({ prefix, resolve: res })
          void done.then((r) => rej(new Error(`exited (${r.code}) without '${prefix}':\n${r.stdout}${r.stderr}`)))
        }
      }),
  }
}

const lines = (out: string): string[] => out.split('\n').filter(Boolean)

serial('demo with its own server: downloads, verifies the sha256', async (t) => {
  const out = join(t.context.dir, 'own.bin')
  const { code, stdout, stderr } = await demo([
    ...['--size', String(2 * MiB + 5), '--rate', '0', '--fresh', '--once', '--out', out],
  ]).done
  t.is(code, 0, stderr)
  const ls = lines(stdout)
  t.true(ls.some((l) => l.startsWith('fresh fetching 2097157 bytes')))
  const served = /sha256 ([0-9a-f]{64})$/.exec(ls[0])?.[1]
  t.truthy(served)
  t.true(ls.includes(`sha256 ${served}`))
  t.true(ls.includes('verify sha256 matches the served file'))
  t.true(ls.some((l) => /^serving http:\/\/127\.0\.0\.1:\d+\/demo\.bin$/.test(l)))
  t.true(existsSync(`${out}.ranges`))
})

serial('demo: a range far ahead is served while the download runs', async (t) => {
  const out = join(t.context.dir, 'serve.bin')
  const size = 8 * MiB
  // 256 KiB/s per connection: about 8 s for the whole file.
  const run = demo(['--size', String(size), '--rate', String(256 * 1024), '--fresh', '--once', '--out', out])
  t.teardown(() => run.child.kill('SIGKILL'))
  const url = (await run.line('serving ')).slice('serving '.length)
  const res = await fetch(url, { headers: { range: 'bytes=-1000' } })
  t.is(res.status, 206)
  t.is(res.headers.get('content-range'), `bytes ${size - 1000}-${size - 1}/${size}`)
  const tail = Buffer.from(await res.arrayBuffer())
  t.true(tail.equals(generateBytes(size).subarray(size - 1000)))
  const progress = await new Promise<string>((resolve) => {
    run.child.kill('SIGINT')
    void run.done.then((r) => resolve(r.stdout))
  })
  t.false(progress.includes('\ndone '), 'the tail came before the download was done')
  t.regex(progress, /^interrupted \d+ of \d+ bytes kept/m)
})

serial('demo: Ctrl-C keeps what arrived, the rerun fetches only the rest', async (t) => {
  const out = join(t.context.dir, 'resume.bin')
  const size = 4 * MiB
  // 256 KiB/s per connection: about 4 s for the whole file, interrupted well before.
  const first = demo([
    '--size',
    String(size),
    '--rate',
    String(256 * 1024),
    '--piece-size',
    String(256 * 1024),
    '--once',
    '--out',
    out,
  ])
  await first.line('progress 10%')
  first.child.kill('SIGINT')
  const r1 = await first.done
  t.is(r1.code, 130, r1.stderr)
  const interrupted = /^interrupted (\d+) of (\d+) bytes kept/m.exec(r1.stdout)
  t.truthy(interrupted, r1.stdout)
  const kept = Number(interrupted?.[1])
  t.true(kept > 0 && kept < size)

  const r2 = await demo(['--size', String(size), '--rate', '0', '--once', '--out', out]).done
  t.is(r2.code, 0, r2.stderr)
  const resumed = /^resume (\d+) of (\d+) bytes present; fetching (\d+) bytes/m.exec(r2.stdout)
  t.truthy(resumed, r2.stdout)
  t.is(Number(resumed?.[1]), kept)
  t.is(Number(resumed?.[3]), size - kept)
  t.true(lines(r2.stdout).includes('verify sha256 matches the served file'))

  // Complete: a third run downloads nothing and reads the file back.
  const r3 = await demo(['--size', String(size), '--rate', '0', '--once', '--out', out]).done
  t.is(r3.code, 0, r3.stderr)
  t.true(lines(r3.stdout).includes('complete already: serving it'))
  t.true(lines(r3.stdout).includes('verify sha256 matches the served file'))
})

serial('demo with a URL (nginx) and an outfile', async (t) => {
  const out = join(t.context.dir, 'from-nginx.bin')
  const { code, stdout, stderr } = await demo([
    ...[`${t.context.nginx.base}/${file.name}`, out, '--piece-size', '65536', '--once'],
  ]).done
  t.is(code, 0, stderr)
  t.true(lines(stdout).includes(`sha256 ${file.sha256}`))
  t.false(stdout.includes('verify'), 'no expected hash for a foreign URL')
})
