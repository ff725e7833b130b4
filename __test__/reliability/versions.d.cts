/** The kill -9 test's two file versions: 0 is 1 MiB, 1 is 3 MiB + 17 bytes, different bytes everywhere. */
export declare function version(n: 0 | 1): Buffer
