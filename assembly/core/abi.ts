// ABI version of the exported surface (assembly/index.ts) and of the
// constants shared with the host (assembly/**/defs.ts). Bump MAJOR when an
// export or constant is removed or renamed, or its signature, value or
// meaning changes; bump MINOR when exports or constants are added
// (test/abi.test.ts fails until the pin is regenerated).
export const ABI_MAJOR: u32 = 3;
export const ABI_MINOR: u32 = 6;
export const ABI_VERSION: u32 = (ABI_MAJOR << 16) | ABI_MINOR;

/** A blob or peer with ABI `v` is readable if the major versions agree. */
export function abiCompatible(v: u32): bool { return (v >> 16) == ABI_MAJOR; }
