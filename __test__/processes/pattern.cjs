'use strict'
const { xorshift } = require('../reliability/xorshift.cjs')
// The bytes of the processes tests' "download": a byte that depends on its
// offset, so a misplaced or missing piece shows. Used by the tests and by
// their child processes (child.mjs).

/** Fills `buf` with the bytes that belong at `offset`. */
function fill(buf, offset) {
  for (let i = 0; i < buf.length; i++) buf[i] = (Math.imul(offset + i, 2654435761) >>> 13) & 0xff
  return buf
}

/** The bytes of `[start, end)`. */
exports.piece = function piece(start, end) {
  return fill(Buffer.allocUnsafe(end - start), start)
}

/** 0 .. n-1 in an order fixed by `seed` (Fisher–Yates over xorshift32). */
exports.shuffled = function shuffled(n, seed) {
  const order = Array.from({ length: n }, (_, i) => i)
  const rand = xorshift(seed)
  for (let i = n - 1; i > 0; i--) {
    const j = rand(i + 1)
    ;[order[i], order[j]] = [order[j], order[i]]
  }
  return order
}

/** The SHA-256 (hex) of the whole `size`-byte download. */
exports.hashOf = function hashOf(size) {
  const hash = require('node:crypto').createHash('sha256')
  const step = 1 << 20
  for (let at = 0; at < size; at += step) hash.update(exports.piece(at, Math.min(size, at + step)))
  return hash.digest('hex')
}
