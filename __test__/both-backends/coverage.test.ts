import { MemCoverage } from '@kithara/storage'
/** MemCoverage: mark, setTotalSize, totalSize, nextGap, isComplete, ranges. */
import test from 'ava'

test('gaps, completion and ranges', (t) => {
  const c = new MemCoverage()
  t.is(c.totalSize(), null)
  t.is(c.nextGap(0), null)
  t.false(c.isComplete())
  c.mark(10, 20)
  c.mark(30, 40)
  c.mark(5, 5)
  t.deepEqual(c.nextGap(0), { start: 0, end: 10 })
  t.deepEqual(c.nextGap(15), { start: 20, end: 30 })
  t.is(c.nextGap(35), null)
  c.setTotalSize(50)
  t.is(c.totalSize(), 50)
  t.deepEqual(c.nextGap(35), { start: 40, end: 50 })
  c.mark(0, 10)
  c.mark(20, 30)
  c.mark(40, 50)
  t.true(c.isComplete())
  t.deepEqual(c.ranges(), [{ start: 0, end: 50 }])
})

test('an empty total is complete', (t) => {
  const c = new MemCoverage()
  c.setTotalSize(0)
  t.true(c.isComplete())
  t.deepEqual(c.ranges(), [])
})
