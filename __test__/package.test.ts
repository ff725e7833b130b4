/** The package entries: CommonJS `require` and ES `import` both give the whole API. */
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import * as api from '@kithara/storage'
import test from 'ava'

const root = resolve(__dirname, '..')
const names = [
  'Atomic',
  'AtomicChunked',
  'CancellationToken',
  'MemCoverage',
  'MemResource',
  'MmapResource',
  'OpenMode',
  'Resource',
  'StorageError',
  'StorageResource',
  'WaitOutcome',
]

const script = `
  const r = api.MemResource.open(new api.CancellationToken())
  r.writeAll(new Uint8Array([1, 2, 3]))
  const names = ${JSON.stringify(names)}.filter((n) => api[n] === undefined)
  console.log(JSON.stringify({ missing: names, len: r.len(), ok: r instanceof api.MemResource }))
`

function run(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(process.execPath, args, { cwd: root, env, encoding: 'utf8' }).trim()
}

test('this suite sees every export', (t) => {
  for (const n of names) t.not((api as Record<string, unknown>)[n], undefined, n)
  t.deepEqual(api.OpenMode, { Auto: 'auto', ReadWrite: 'readWrite', ReadOnly: 'readOnly' })
  t.deepEqual(api.WaitOutcome, { Ready: 'ready', Eof: 'eof', Interrupted: 'interrupted' })
})

test('require() works (CommonJS)', (t) => {
  const out = run(['-e', `const api = require('@kithara/storage'); ${script}`])
  t.deepEqual(JSON.parse(out), { missing: [], len: 3, ok: true })
})

test('import works (ES module) and is the same instance as require', (t) => {
  const out = run([
    '--input-type=module',
    '-e',
    `import * as api from '@kithara/storage'
     import { createRequire } from 'node:module'
     const cjs = createRequire(process.cwd() + '/')('@kithara/storage')
     if (cjs.StorageError !== api.StorageError) throw new Error('two copies')
     ${script}`,
  ])
  t.deepEqual(JSON.parse(out), { missing: [], len: 3, ok: true })
})

test('KITHARA_STORAGE_BACKEND with an unknown value is ERR_STORAGE_UNSUPPORTED', (t) => {
  const out = run(
    [
      '-e',
      `const api = require('@kithara/storage')
       try { new api.CancellationToken(); console.log('no error') } catch (e) { console.log(e.code) }`,
    ],
    { ...process.env, KITHARA_STORAGE_BACKEND: 'quantum' },
  )
  t.is(out, 'ERR_STORAGE_UNSUPPORTED')
})

test('KITHARA_STORAGE_BACKEND=native uses the addon', (t) => {
  const out = run(['-e', `console.log(require('@kithara/storage').backendName())`], {
    ...process.env,
    KITHARA_STORAGE_BACKEND: 'native',
  })
  t.is(out, 'native')
})

test('MmapResource on the WebAssembly backend is ERR_STORAGE_UNSUPPORTED', (t) => {
  const out = run(
    [
      '-e',
      `const api = require('@kithara/storage')
       try { api.MmapResource.open(new api.CancellationToken(), { path: 'x' }); console.log('no error') }
       catch (e) { console.log(e.name + ' ' + e.code) }`,
    ],
    { ...process.env, KITHARA_STORAGE_BACKEND: 'wasm' },
  )
  t.is(out, 'StorageError ERR_STORAGE_UNSUPPORTED')
})
