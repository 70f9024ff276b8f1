// Machine-runtime constants the host shares: the synthetic workload's page
// patterns (vcpu_dirty). scripts/build-wasm.mjs generates MachineDefs in
// src/generated/constants.ts from this file.

/** Pages chosen uniformly at random in the window. */
export const PATTERN_UNIFORM: u32 = 0;
/** Pages chosen uniformly from the first `hotPages` pages of the window. */
export const PATTERN_HOT: u32 = 1;
/** Pages in order through the window, wrapping. */
export const PATTERN_SEQUENTIAL: u32 = 2;
