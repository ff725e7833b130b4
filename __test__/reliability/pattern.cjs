'use strict'
// The bytes the wake-up and resume tests write: a function of the absolute
// offset only, so any reader (a worker, a later process) can check any range
// it is given without knowing which writes put it there.

/** The byte at `offset`. */
function byteAt(offset) {
  return ((offset * 131) ^ (offset >>> 9) ^ (offset >>> 17) ^ (offset >>> 25)) & 0xff
}

/** `len` bytes of the pattern from `offset`. */
exports.pattern = function pattern(offset, len) {
  const b = Buffer.allocUnsafe(len)
  for (let i = 0; i < len; i++) b[i] = byteAt(offset + i)
  return b
}

/** The first offset in `buf` (holding the bytes from `offset`) that differs from the pattern, or -1. */
exports.firstMismatch = function firstMismatch(offset, buf) {
  for (let i = 0; i < buf.length; i++) if (buf[i] !== byteAt(offset + i)) return offset + i
  return -1
}
