// Indices of the core counters (assembly/core/layout.ts, namespace Counter).
export const CoreCounter = {
  gmRangeErrors: 0,
  gmHoleErrors: 1,
  gmHostErrors: 2,
  badHandle: 3,
  dirtyMarksIgnored: 4,
  stateRejected: 5,
} as const;
