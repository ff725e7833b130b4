/**
 * `respondRange`, the fetch-style form: Request in, Response out, no server.
 * The HTTP rules live in one place for both forms, so the edge cases of the
 * Range grammar, conditionals and unknown lengths are checked here.
 */
import { CancellationToken, type Download, MemResource, type ResourceBase, respondRange } from '@kithara/storage'
import test from 'ava'
import { parseMultipart, pendingWaits, turns } from './util.js'

const data = Buffer.from(Array.from({ length: 100 }, (_, i) => i))
const committed = (): MemResource => MemResource.open(new CancellationToken(), { initialData: data })
const ask = (r: ResourceBase, headers: Record<string, string> = {}, method = 'GET', options = {}) =>
  respondRange(new Request('http://proxy.test/file', { method, headers }), r, options)
const bytesOf = async (res: Response): Promise<Buffer> => Buffer.from(await res.arrayBuffer())

test('the Range grammar: what is served for each header', async (t) => {
  const r = committed()
  const cases: Array<[string, number, string | null]> = [
    // header, status, Content-Range
    ['bytes=0-0', 206, 'bytes 0-0/100'],
    ['bytes=10-19', 206, 'bytes 10-19/100'],
    ['bytes=90-', 206, 'bytes 90-99/100'],
    ['bytes=-5', 206, 'bytes 95-99/100'],
    ['bytes=-500', 206, 'bytes 0-99/100'],
    ['bytes=95-500', 206, 'bytes 95-99/100'],
    [' bytes = 1-2 ', 206, 'bytes 1-2/100'],
    ['BYTES=1-2', 206, 'bytes 1-2/100'],
    ['bytes=1-2,', 206, 'bytes 1-2/100'],
    ['bytes=100-', 416, 'bytes */100'],
    ['bytes=-0', 416, 'bytes */100'],
    ['bytes=200-300,150-', 416, 'bytes */100'],
    // Unsatisfiable ranges next to a satisfiable one are dropped.
    ['bytes=200-300,5-6', 206, 'bytes 5-6/100'],
    // Invalid or foreign: ignored, the whole representation.
    ['bytes=5-1', 200, null],
    ['bytes=a-b', 200, null],
    ['bytes=1-2-3', 200, null],
    ['bytes=+1-2', 200, null],
    ['bytes=', 200, null],
    ['items=0-1', 200, null],
    ['0-1', 200, null],
  ]
  for (const [header, status, contentRange] of cases) {
    const res = await ask(r, { range: header })
    const body = await bytesOf(res)
    t.is(res.status, status, header)
    t.is(res.headers.get('content-range'), contentRange, header)
    if (status === 200) t.true(body.equals(data), header)
    if (status === 206) {
      const [, a, b] = /bytes (\d+)-(\d+)/.exec(contentRange ?? '') ?? []
      t.true(body.equals(data.subarray(Number(a), Number(b) + 1)), header)
      t.is(res.headers.get('content-length'), String(body.length), header)
    }
    if (status === 416) t.is(body.length, 0, header)
  }
})

test('overlapping ranges are merged, so no byte is sent twice', async (t) => {
  const res = await ask(committed(), { range: 'bytes=50-60,0-10,5-20,21-22' })
  const boundary = /boundary=(\S+)/.exec(res.headers.get('content-type') ?? '')?.[1] as string
  const parts = parseMultipart(await bytesOf(res), boundary)
  t.deepEqual(
    parts.map((p) => p.headers['content-range']),
    ['bytes 0-22/100', 'bytes 50-60/100'],
  )
  t.true(parts[0].body.equals(data.subarray(0, 23)))
})

test('ranges in the order asked when they do not overlap; more than maxRanges: the whole file', async (t) => {
  const r = committed()
  const res = await ask(r, { range: 'bytes=50-51,0-1' })
  const boundary = /boundary=(\S+)/.exec(res.headers.get('content-type') ?? '')?.[1] as string
  t.deepEqual(
    parseMultipart(await bytesOf(res), boundary).map((p) => p.headers['content-range']),
    ['bytes 50-51/100', 'bytes 0-1/100'],
  )
  const many = await ask(r, { range: 'bytes=0-0,2-2,4-4' }, 'GET', { maxRanges: 2 })
  t.is(many.status, 200)
  t.true((await bytesOf(many)).equals(data))
})

test('conditional GET: If-None-Match (weak comparison) and If-Modified-Since give 304', async (t) => {
  const r = committed()
  const lastModified = new Date('2024-01-01T00:00:00Z')
  const options = { etag: '"abc"', lastModified }
  const hit = async (headers: Record<string, string>) => (await ask(r, headers, 'GET', options)).status
  t.is(await hit({ 'if-none-match': '"abc"' }), 304)
  t.is(await hit({ 'if-none-match': 'W/"abc"' }), 304)
  t.is(await hit({ 'if-none-match': '"x", "abc"' }), 304)
  t.is(await hit({ 'if-none-match': '*' }), 304)
  t.is(await hit({ 'if-none-match': '"x"' }), 200)
  t.is(await hit({ 'if-modified-since': lastModified.toUTCString() }), 304)
  t.is(await hit({ 'if-modified-since': new Date(lastModified.getTime() - 1000).toUTCString() }), 200)
  // If-None-Match decides alone when present.
  t.is(await hit({ 'if-none-match': '"x"', 'if-modified-since': lastModified.toUTCString() }), 200)
  const notModified = await ask(r, { 'if-none-match': '"abc"' }, 'GET', options)
  t.is(notModified.headers.get('etag'), '"abc"')
  t.is((await bytesOf(notModified)).length, 0)
})

test('If-Range: strong comparison only; without a validator it never matches', async (t) => {
  const r = committed()
  const withTag = (ifRange: string, etag?: string) =>
    ask(r, { range: 'bytes=0-1', 'if-range': ifRange }, 'GET', etag ? { etag } : {})
  t.is((await withTag('"a"', 'a')).status, 206)
  t.is((await withTag('"a"', 'W/"a"')).status, 200, 'a weak ETag cannot validate a range')
  t.is((await withTag('"b"', 'a')).status, 200)
  t.is((await withTag('"a"')).status, 200)
  t.is((await withTag('not a date or tag', 'a')).status, 200)
})

test('other methods: 405 with Allow', async (t) => {
  const res = await ask(committed(), {}, 'POST')
  t.is(res.status, 405)
  t.is(res.headers.get('allow'), 'GET, HEAD')
})

test('an empty committed resource: 200 with no body, any range 416', async (t) => {
  const r = MemResource.open(new CancellationToken(), { initialData: new Uint8Array(0) })
  const whole = await ask(r)
  t.is(whole.status, 200)
  t.is(whole.headers.get('content-length'), '0')
  t.is((await ask(r, { range: 'bytes=0-' })).status, 416)
  t.is((await ask(r, { range: 'bytes=-1' })).status, 416)
})

test('known size, bytes not there yet: headers at once, the body as the bytes land', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const res = await ask(r, { range: 'bytes=10-29' }, 'GET', { size: 100 })
  t.is(res.status, 206)
  t.is(res.headers.get('content-range'), 'bytes 10-29/100')
  const body = bytesOf(res)
  await turns()
  r.writeAt(20, data.subarray(20, 30))
  await turns()
  r.writeAt(10, data.subarray(10, 20))
  t.true((await body).equals(data.subarray(10, 30)))
})

test('unknown size: the whole body streams until the commit, without Content-Length', async (t) => {
  const r = MemResource.open(new CancellationToken())
  for (const range of [undefined, 'bytes=0-']) {
    const res = await ask(r, range ? { range } : {})
    t.is(res.status, 200)
    t.is(res.headers.get('content-length'), null)
    const reader = (res.body as ReadableStream<Uint8Array>).getReader()
    if (range === undefined) {
      r.writeAt(0, data.subarray(0, 40))
    }
    const first = await reader.read()
    t.true(Buffer.from(first.value as Uint8Array).equals(data.subarray(0, 40)), 'what is there goes out at once')
    await reader.cancel()
  }
})

test('unknown size: any other range waits for the commit, then is answered exactly', async (t) => {
  const r = MemResource.open(new CancellationToken())
  let answered = false
  const pending = ask(r, { range: 'bytes=-10' }).then((res) => {
    answered = true
    return res
  })
  r.writeAt(0, data)
  await turns(5)
  t.false(answered, 'a suffix cannot be answered before the length is known')
  r.commit()
  const res = await pending
  t.is(res.status, 206)
  t.is(res.headers.get('content-range'), 'bytes 90-99/100')
  t.true((await bytesOf(res)).equals(data.subarray(90)))
})

test("a download's origin metadata supplies size, type and validators", async (t) => {
  const r = MemResource.open(new CancellationToken())
  const fake = {
    origin: Promise.resolve({
      size: 100,
      etag: '"origin"',
      lastModified: 'Mon, 01 Jan 2024 00:00:00 GMT',
      contentType: 'audio/mpeg',
      rangeSupported: true,
    }),
    demand: () => () => {},
  } as unknown as Download
  const res = await ask(r, { range: 'bytes=0-0' }, 'HEAD', { download: fake })
  t.is(res.status, 206)
  t.is(res.headers.get('content-range'), 'bytes 0-0/100')
  t.is(res.headers.get('content-type'), 'audio/mpeg')
  t.is(res.headers.get('etag'), '"origin"')
  t.is(res.headers.get('last-modified'), 'Mon, 01 Jan 2024 00:00:00 GMT')
  t.is(res.body, null)
  const failed = { origin: Promise.reject(new Error('no origin')), demand: () => () => {} } as unknown as Download
  ;(failed.origin as Promise<unknown>).catch(() => {})
  t.is((await ask(r, {}, 'GET', { download: failed })).status, 502)
})

test.serial('cancelling the body withdraws the wait', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const before = pendingWaits()
  const res = await ask(r, { range: 'bytes=0-9' }, 'GET', { size: 100 })
  const reader = (res.body as ReadableStream<Uint8Array>).getReader()
  const read = reader.read()
  await turns()
  t.is(pendingWaits(), before + 1)
  await reader.cancel()
  await read
  await turns()
  t.is(pendingWaits(), before)
})

test.serial(
  'an aborted request while waiting for the length rejects with the reason, the wait withdrawn',
  async (t) => {
    const r = MemResource.open(new CancellationToken())
    const before = pendingWaits()
    const ac = new AbortController()
    const pending = respondRange(
      new Request('http://proxy.test/', { headers: { range: 'bytes=5-6' }, signal: ac.signal }),
      r,
    )
    await turns()
    t.is(pendingWaits(), before + 1)
    const reason = new Error('client left')
    ac.abort(reason)
    t.is(await t.throwsAsync(pending), reason)
    t.is(pendingWaits(), before)
  },
)

test('a resource failed while a body waits errors the body; a failed resource gets 503', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const res = await ask(r, {}, 'GET', { size: 100 })
  const body = bytesOf(res)
  await turns()
  r.fail('origin gone')
  const err = await t.throwsAsync(body)
  t.is((err as { code?: string }).code, 'ERR_STORAGE_FAILED')
  t.is((await ask(r)).status, 503)
})

test('a resource committed shorter than the promised size errors the body', async (t) => {
  const r = MemResource.open(new CancellationToken())
  const res = await ask(r, {}, 'GET', { size: 100 })
  const body = bytesOf(res)
  r.writeAt(0, data.subarray(0, 50))
  r.commit()
  await t.throwsAsync(body)
})

test('bad arguments reject with Node codes', async (t) => {
  const r = committed()
  const code = async (p: Promise<unknown>) => ((await t.throwsAsync(p)) as { code?: string }).code
  t.is(await code(respondRange(new Request('http://x/'), {} as never)), 'ERR_INVALID_ARG_TYPE')
  t.is(await code(ask(r, {}, 'GET', { size: -1 })), 'ERR_OUT_OF_RANGE')
  t.is(await code(ask(r, {}, 'GET', { etag: 5 })), 'ERR_INVALID_ARG_TYPE')
  t.is(await code(ask(r, {}, 'GET', { signal: {} })), 'ERR_INVALID_ARG_TYPE')
})
