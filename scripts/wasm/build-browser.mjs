// Bundles the facade for browsers into dist/browser.mjs, from
// src/browser-entry.mts: the TypeScript sources with the WebAssembly backend
// wired in and nothing from Node.
//   - backend.ts's require('./backend-wasm.js') -> src/backend-wasm-browser.ts
//   - require('./backend-native.js') -> an empty module (never selected here)
//   - node: built-ins stay as lazy require() calls, which throw if reached
//     (only the Node stream adapters use one)
//   - the wasm-bindgen glue is external: ../pkg-wasm/kithara_storage_wasm.js
import { build } from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const glue = join(root, 'pkg-wasm', 'kithara_storage_wasm.js')

/** @type {import('esbuild').Plugin} */
const browserBackends = {
  name: 'kithara-browser-backends',
  setup(b) {
    b.onResolve({ filter: /^\.\/backend-wasm\.js$/ }, (args) =>
      args.importer.endsWith(join('src', 'backend.ts'))
        ? { path: join(root, 'src', 'backend-wasm-browser.ts') }
        : undefined,
    )
    b.onResolve({ filter: /^\.\/backend-native\.js$/ }, () => ({ path: 'backend-native', namespace: 'empty' }))
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: 'module.exports = {}', loader: 'js' }))
    b.onResolve({ filter: /kithara_storage_wasm\.js$/ }, (args) =>
      join(args.resolveDir, args.path) === glue
        ? { path: '../pkg-wasm/kithara_storage_wasm.js', external: true }
        : undefined,
    )
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, external: true }))
  },
}

const result = await build({
  entryPoints: [join(root, 'src', 'browser-entry.mts')],
  outfile: join(root, 'dist', 'browser.mjs'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  plugins: [browserBackends],
  logLevel: 'warning',
  metafile: true,
})
const inputs = Object.keys(result.metafile.inputs)
const nodeish = inputs.filter((p) => !p.startsWith('empty:') && /backend-native|backend-wasm\.ts|index\.js$/.test(p))
if (nodeish.length > 0) throw new Error(`browser bundle pulled in Node-only modules: ${nodeish.join(', ')}`)
console.log(`build-browser: dist/browser.mjs from ${inputs.length} modules`)
