'use strict'
// The two file versions the kill -9 test alternates: different sizes and
// different bytes everywhere, so any mix of them, or a truncated one, is
// neither. Used by kill9.test.ts and its child, kill-child.mjs.

/** Version 0: 1 MiB; version 1: 3 MiB + 17 bytes. */
exports.version = function version(n) {
  const size = n === 0 ? 1024 * 1024 : 3 * 1024 * 1024 + 17
  const b = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i++) b[i] = n === 0 ? (i * 7 + 1) & 0xff : (i * 13 + 6) & 0xff
  return b
}
