/**
 * fast-check parameters shared by the reliability suite: one seed per run,
 * printed, and overridable to reproduce a failure.
 *
 * KITHARA_FC_SEED   the seed (default: random, printed by each test)
 * KITHARA_FC_PATH   fast-check's replay path from a failure report
 * KITHARA_MODEL_RUNS total model sequences (default 10,000; scaled per kind)
 */
import type { Parameters } from 'fast-check'

/** The seed of this process: from the environment, or fresh. */
export const SEED: number = process.env.KITHARA_FC_SEED
  ? Number(process.env.KITHARA_FC_SEED)
  : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0

/**
 * fast-check parameters for a property with `runs` runs out of a default
 * total of `defaultTotal`, scaled by KITHARA_MODEL_RUNS.
 */
export function fcParams<T>(runs: number, defaultTotal: number): Parameters<T> & { seed: number; numRuns: number } {
  const total = process.env.KITHARA_MODEL_RUNS ? Number(process.env.KITHARA_MODEL_RUNS) : defaultTotal
  const numRuns = Math.max(1, Math.round((runs * total) / defaultTotal))
  const path = process.env.KITHARA_FC_PATH
  return {
    seed: SEED,
    numRuns,
    includeErrorInReport: true,
    ...(path ? { path, endOnFailure: true } : {}),
  }
}
