// Guest time, injected: everything timed in guest time (APIC timers,
// TSC-deadline) reads a GuestClock, so tests drive it by hand and a migrated
// VM keeps its deadlines. The Machine's clock is src/machine/clock.ts.

/** Source of guest time in nanoseconds. */
export interface GuestClock {
  now(): bigint;
}

/** A clock the caller sets by hand (tests, deterministic replays). */
export class ManualClock implements GuestClock {
  /** Current guest time in ns. */
  t = 0n;
  now(): bigint { return this.t; }
  /** Move time forward by `ns`. */
  advance(ns: bigint | number): bigint { this.t += BigInt(ns); return this.t; }
}
