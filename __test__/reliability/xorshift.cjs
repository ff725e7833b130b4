'use strict'
/** xorshift32: a small seeded generator, so a seed replays the same choices. Returns `rand(n)` in [0, n). */
exports.xorshift = function xorshift(seed) {
  let x = seed >>> 0 || 1
  return (n) => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x % n
  }
}
