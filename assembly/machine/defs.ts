// Machine-runtime constants the host shares: the synthetic workload's page
// patterns (vcpu_dirty) and the fields of its stream (vcpu_stream_get/set). scripts/build-wasm.mjs generates MachineDefs in
// src/generated/constants.ts from this file.

/** Pages chosen uniformly at random in the window. */
export const PATTERN_UNIFORM: u32 = 0;
/** Pages chosen uniformly from the first `hotPages` pages of the window. */
export const PATTERN_HOT: u32 = 1;
/** Pages in order through the window, wrapping. */
export const PATTERN_SEQUENTIAL: u32 = 2;

/** Stream field: the xorshift32 PRNG state (never 0). */
export const STREAM_PRNG: u32 = 0;
/** Stream field: the sequential pattern's position in the window. */
export const STREAM_CURSOR: u32 = 1;
/** Stream field: the sequence number the last write carried. */
export const STREAM_SEQUENCE: u32 = 2;
