/**
 * Threads and exit: worker threads blocked in `waitRangeSync` without a
 * timeout, on resources nobody will write, must not keep the process from
 * ending: `worker.terminate()` resolves, `process.exit()` returns control to
 * the OS, a main thread whose loop ends (or that throws) exits. Each case is
 * a child process with a deadline: one that hangs is killed and fails.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import test from 'ava'
import { scratchDir } from './util.js'

const CHILD = join(__dirname, 'exit-child.mjs')
const DEADLINE_MS = 20_000

const cases = [
  { how: 'terminate', said: 'terminated', status: 0 },
  { how: 'exit', said: 'exiting', status: 0 },
  { how: 'end', said: 'ending', status: 0 },
  { how: 'throw', said: 'throwing', status: 1 },
] as const

/** Runs the child; resolves with how it ended, killing it (SIGKILL) at the deadline. */
function run(
  how: string,
  dir: string,
): Promise<{ status: number | null; killed: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, how, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += String(d)
    })
    child.stderr.on('data', (d) => {
      stderr += String(d)
    })
    let killed = false
    const timer = setTimeout(() => {
      killed = child.kill('SIGKILL')
    }, DEADLINE_MS)
    child.once('error', reject)
    child.once('exit', (status) => {
      clearTimeout(timer)
      resolve({ status, killed, stdout, stderr })
    })
  })
}

for (const { how, said, status } of cases) {
  test(`workers blocked in waitRangeSync: ${how} ends the process`, async (t) => {
    t.timeout(DEADLINE_MS + 10_000)
    const res = await run(how, scratchDir(t, `exit-${how}`))
    t.false(res.killed, `still running after ${DEADLINE_MS} ms (stdout: ${res.stdout})`)
    t.is(res.status, status, res.stderr)
    t.is(res.stdout.trim(), said, 'a blocked wait returned (or the child said something else)')
  })
}
