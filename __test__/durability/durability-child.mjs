// Child of the write-barrier test (durability.test.ts), run under strace:
// one scenario on files in <dir>, then exits.
//
//   commit   persistRanges: writes (mapped and pwrite), commit, close
//   close    persistRanges: writes, close without commit
//   flush    persistRanges: writes, flush, close
//   rewrite  persistRanges: commit, then a readWrite rewrite and its commit
//   chunked  AtomicChunked: writes, commit, close
//   durable  Atomic.writeAllDurable over an existing file
import { Atomic, AtomicChunked, CancellationToken, MmapResource } from '@kithara/storage'

const [scenario, dir] = process.argv.slice(2)
const token = new CancellationToken()
const path = `${dir}/data.bin`
const small = Buffer.alloc(4096, 1)
const large = Buffer.alloc(1 << 20, 2)

function fill(r) {
  r.writeAt(0, small) // fresh page: pwrite
  r.writeAt(0, small) // pages with blocks: through the mapping
  r.writeAt(1 << 20, large) // large, fresh: pwrite
}

switch (scenario) {
  case 'commit': {
    const r = MmapResource.open(token, { path, persistRanges: true })
    fill(r)
    r.commit()
    r.close()
    break
  }
  case 'close': {
    const r = MmapResource.open(token, { path, persistRanges: true })
    fill(r)
    r.close()
    break
  }
  case 'flush': {
    const r = MmapResource.open(token, { path, persistRanges: true })
    fill(r)
    r.flush()
    r.close()
    break
  }
  case 'rewrite': {
    const r = MmapResource.open(token, { path, persistRanges: true, mode: 'readWrite' })
    fill(r)
    r.commit()
    r.writeAt(0, Buffer.alloc(8192, 3))
    r.commit()
    r.close()
    break
  }
  case 'chunked': {
    const r = AtomicChunked.open(token, { path, mode: 'readWrite' })
    fill(r)
    r.commit()
    r.close()
    break
  }
  case 'durable': {
    const r = new Atomic(MmapResource.open(token, { path }))
    r.writeAllDurable(large)
    r.close()
    break
  }
  default:
    throw new Error(`unknown scenario ${scenario}`)
}
process.stdout.write('done\n')
