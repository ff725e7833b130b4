/** The bytes of `[start, end)` of the processes tests' download. */
export declare function piece(start: number, end: number): Buffer
/** 0 .. n-1 in an order fixed by `seed`. */
export declare function shuffled(n: number, seed: number): number[]
/** The SHA-256 (hex) of the whole `size`-byte download. */
export declare function hashOf(size: number): string
