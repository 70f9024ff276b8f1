// Zero-page test: a page of zeros travels as a marker instead of 4 KiB.
// Scans 64 bytes per step with v128 ORs and stops at the first non-zero block,
// so a typical data page costs one or two steps and a zero page 64.

/** True if the 4096 bytes at `p` (linear memory; caller validated) are all zero. */
export function pageIsZero(p: usize): bool {
  // p .. p+4096 lies inside a region the caller checked; 64 steps at most.
  for (let i: usize = 0; i < 4096; i += 64) {
    const v = v128.or(
      v128.or(v128.load(p + i), v128.load(p + i, 16)),
      v128.or(v128.load(p + i, 32), v128.load(p + i, 48)),
    );
    if (v128.any_true(v)) return false;
  }
  return true;
}
