// ava runs the TypeScript tests through tsx, against the built package
// (`npm run build` first; tests import '@kithara/storage').
export default {
  files: ['__test__/**/*.test.ts'],
  extensions: { ts: 'commonjs' },
  nodeArguments: ['--import=tsx'],
  timeout: '60s',
  workerThreads: false,
}
