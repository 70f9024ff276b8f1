// A mutex in shared linear memory for threads of one VM: a 32-bit word, 0
// free, 1 held, 2 held with waiters (Drepper, "Futexes Are Tricky", mutex 2).
// A contended lock spins briefly, then sleeps in memory.atomic.wait32 when
// the caller may block (a worker; a browser's main thread may not, and an
// unshared memory cannot), else keeps spinning. Waits have a timeout and a
// cap, so a holder that died (a terminated worker) makes lock attempts fail
// instead of hanging the thread.

/** Loads before a contended lock starts sleeping. */
const SPIN: i32 = 200;
/** One sleep, in nanoseconds. */
const WAIT_NS: i64 = 200_000;
/** Sleeps (about 20 s) or spins (about a second) before a lock attempt gives up. */
const WAIT_CAP: i32 = 100_000;
const SPIN_CAP: i32 = 1 << 28;

export const LOCKED: i32 = 0;
export const LOCKED_AFTER_WAIT: i32 = 1;
export const LOCK_STUCK: i32 = -1;

// @ts-ignore: decorator
@inline export function mtxTryLock(m: usize): bool { return atomic.cmpxchg<i32>(m, 0, 1) == 0; }

/** Take the lock. Returns LOCKED, LOCKED_AFTER_WAIT (it slept or spun past SPIN), or LOCK_STUCK (gave up; not held). */
export function mtxLock(m: usize, mayWait: bool): i32 {
  if (atomic.cmpxchg<i32>(m, 0, 1) == 0) return LOCKED;
  for (let i = 0; i < SPIN; i++) {
    if (atomic.load<i32>(m) == 0 && atomic.cmpxchg<i32>(m, 0, 1) == 0) return LOCKED;
  }
  if (!mayWait) {
    for (let i = 0; i < SPIN_CAP; i++) {
      if (atomic.load<i32>(m) == 0 && atomic.cmpxchg<i32>(m, 0, 1) == 0) return LOCKED_AFTER_WAIT;
    }
    return LOCK_STUCK;
  }
  // Mark the lock contended, then sleep until an unlock finds it so.
  let c = atomic.xchg<i32>(m, 2);
  for (let waits = 0; c != 0; waits++) {
    if (waits >= WAIT_CAP) return LOCK_STUCK;
    atomic.wait<i32>(m, 2, WAIT_NS);
    c = atomic.xchg<i32>(m, 2);
  }
  return LOCKED_AFTER_WAIT;
}

export function mtxUnlock(m: usize): void {
  if (atomic.sub<i32>(m, 1) != 1) {
    atomic.store<i32>(m, 0);
    atomic.notify(m, 1);
  }
}
