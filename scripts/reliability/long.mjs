#!/usr/bin/env node
// `npm run test:long`: the reliability suite at full scale (never part of
// `npm test`). Runs the same ava files with bigger counts:
//   1,000,000 model sequences (KITHARA_MODEL_RUNS), 100,000 hygiene cycles
//   for MemResource and MmapResource (KITHARA_HYGIENE_CYCLES), 200 kills per
//   mode (KITHARA_KILLS), 2,000 hostile calls per argument (KITHARA_HOSTILE_RUNS).
// Any of them can be overridden from the environment; KITHARA_FC_SEED /
// KITHARA_FC_PATH replay a failure. Takes hours on 2 cores (the model run
// dominates: about 6 ms per sequence).
import { spawnSync } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const env = {
  KITHARA_MODEL_RUNS: '1000000',
  KITHARA_HYGIENE_CYCLES: '100000',
  KITHARA_KILLS: '200',
  KITHARA_HOSTILE_RUNS: '2000',
  ...process.env,
}
const files = process.argv.slice(2)
const args = [
  join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs'),
  // A hang fails: each long test sets its own bound, scaled to its count
  // (t.timeout), and nothing else may go 10 minutes without a result.
  '--timeout=10m',
  '--verbose',
  ...(files.length ? files : ['__test__/reliability/**/*.test.ts']),
]
console.log(
  `test:long: model ${env.KITHARA_MODEL_RUNS} sequences, hygiene ${env.KITHARA_HYGIENE_CYCLES} cycles, ` +
    `${env.KITHARA_KILLS} kills per mode, hostile ${env.KITHARA_HOSTILE_RUNS} runs per argument`,
)
const res = spawnSync(process.execPath, args, { cwd: root, env, stdio: 'inherit' })
process.exit(res.status ?? 1)
