/**
 * Model-based test: 10,000 random command sequences (seeded) against
 * MemResource, MmapResource, StorageResource (both kinds) and AtomicChunked,
 * compared step by step with the reference model in model.ts.
 *
 * Reproduce a failure: the failure message carries fast-check's `seed` and
 * `path`; run with KITHARA_FC_SEED=<seed> KITHARA_FC_PATH=<path>.
 * Scale: KITHARA_MODEL_RUNS=<total> (the long run, `npm run test:long`, does 1,000,000).
 */
import test from 'ava'
import fc from 'fast-check'
import { DEFAULT_RUNS, type ModelKind, type RunStats, runSequence, sequenceArb } from './model.js'
import { fcParams } from './seed.js'
import { scratchDir } from './util.js'

const kinds = Object.keys(DEFAULT_RUNS) as ModelKind[]

for (const kind of kinds) {
  test.serial(`model: ${kind}`, async (t) => {
    const params = fcParams(DEFAULT_RUNS[kind], 10_000)
    // Bounded, scaled to the run: about 6 ms a sequence, so 50 ms is ample.
    t.timeout(60_000 + params.numRuns * 50)
    t.log(`${kind}: ${params.numRuns} sequences, seed ${params.seed}${params.path ? `, path ${params.path}` : ''}`)
    const dir = scratchDir(t, `model-${kind}`)
    const stats: RunStats = { sequences: 0, steps: 0, cutShort: {} }
    let n = 0
    await fc.assert(
      fc.asyncProperty(sequenceArb, async (cmds) => {
        await runSequence(kind, dir, `seq-${n++}.bin`, cmds, stats)
      }),
      params,
    )
    t.log(
      `${kind}: ${stats.sequences} sequences run, ${stats.steps} steps, cut short before known bugs: ${JSON.stringify(stats.cutShort)}`,
    )
    t.pass()
  })
}
