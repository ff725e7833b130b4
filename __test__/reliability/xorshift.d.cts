/** xorshift32: a small seeded generator, so a seed replays the same choices. Returns `rand(n)` in [0, n). */
export declare function xorshift(seed: number): (n: number) => number
