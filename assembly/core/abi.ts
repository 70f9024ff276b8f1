// ABI version of the exported surface (assembly/index.ts).
// Bump MAJOR when an export is removed or its signature or meaning changes
// (test/abi.test.ts fails until you do); bump MINOR when exports are added.
export const ABI_MAJOR: u32 = 1;
export const ABI_MINOR: u32 = 4;
export const ABI_VERSION: u32 = (ABI_MAJOR << 16) | ABI_MINOR;

/** A blob or peer with ABI `v` is readable if the major versions agree. */
export function abiCompatible(v: u32): bool { return (v >> 16) == ABI_MAJOR; }
