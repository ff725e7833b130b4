/** `len` bytes of the test pattern from `offset` (a function of the absolute offset only). */
export declare function pattern(offset: number, len: number): Buffer
/** The first offset in `buf` (holding the bytes from `offset`) that differs from the pattern, or -1. */
export declare function firstMismatch(offset: number, buf: Uint8Array): number
