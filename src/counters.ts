// Indices of the core counters (assembly/core/layout.ts, namespace Counter).
export const CoreCounter = {
  gmRangeErrors: 0,
  gmHoleErrors: 1,
  gmHostErrors: 2,
  badHandle: 3,
  dirtyMarksIgnored: 4,
  stateRejected: 5,
  /** Bytes of freed device memory dropped because the instance's free list was full. */
  blockBytesLost: 6,
  /** Changes to the guest-memory holes (devices re-check their rings when it moves). */
  layoutChanges: 7,
} as const;
