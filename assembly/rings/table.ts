// The VM's ring objects by handle. One table in shared memory (its address in
// the control block, CB_RINGS), so a handle made on one thread names the same
// object in every instance attached to the memory. Entry: u32 kind, u32
// address, u32 bytes (what blockFree needs), u32 references (rings using a pool).
//
// A slot is claimed by CAS on its kind (0 → CLAIMED), filled, then published
// with the real kind; lookups see only published objects. Destroying an object
// another thread is still using is the caller's error (as closing a file
// descriptor another thread reads): the table cannot tell.

import { controlBlock, regionAlloc, counterAdd, Counter, CB_RINGS } from "../core/layout";
import { RING_MAX_OBJECTS } from "./defs";

const ENTRY: usize = 16;
const CLAIMED: u32 = 0xffffffff;

let table: usize = 0;

/** This VM's table, made by the first instance that needs one. */
function tableAddr(make: bool): usize {
  if (table != 0) return table;
  const cb = controlBlock();
  let t = <usize>atomic.load<u32>(cb + CB_RINGS);
  if (t == 0 && make) {
    const p = regionAlloc(<u64>RING_MAX_OBJECTS * ENTRY, 64);
    if (p == 0) return 0;
    const won = atomic.cmpxchg<u32>(cb + CB_RINGS, 0, <u32>p);
    // A racing instance published first: use its table (this region stays unused).
    t = won == 0 ? p : <usize>won;
  }
  table = t;
  return t;
}

/** Claim a handle for an object of `kind` at `addr` (`bytes` long). Returns the handle or 0 when the table is full or cannot be made. */
export function rtInsert(kind: u32, addr: usize, bytes: u32): i32 {
  const t = tableAddr(true);
  if (t == 0) return 0;
  // Bounded: RING_MAX_OBJECTS entries.
  for (let i: u32 = 0; i < RING_MAX_OBJECTS; i++) {
    const e = t + <usize>i * ENTRY;
    if (atomic.load<u32>(e) != 0 || atomic.cmpxchg<u32>(e, 0, CLAIMED) != 0) continue;
    store<u32>(e, <u32>addr, 4);
    store<u32>(e, bytes, 8);
    atomic.store<u32>(e + 12, 0);
    atomic.store<u32>(e, kind);
    return <i32>i + 1;
  }
  return 0;
}

// @ts-ignore: decorator
@inline function entry(h: i32): usize {
  if (h < 1 || h > <i32>RING_MAX_OBJECTS) return 0;
  const t = tableAddr(false);
  return t == 0 ? 0 : t + <usize>(h - 1) * ENTRY;
}

/** Address of object `h` if it exists and is of `kind` (0: any kind); else 0, counted as a bad handle. */
export function rtGet(h: i32, kind: u32): usize {
  const e = entry(h);
  if (e != 0) {
    const k = atomic.load<u32>(e);
    if (k != 0 && k != CLAIMED && (kind == 0 || k == kind)) return <usize>load<u32>(e, 4);
  }
  counterAdd(Counter.BAD_HANDLE, 1);
  return 0;
}

/** Kind of object `h`, 0 if none. */
export function rtKind(h: i32): u32 {
  const e = entry(h);
  if (e == 0) return 0;
  const k = atomic.load<u32>(e);
  return k == CLAIMED ? 0 : k;
}

/** Take a reference on `h` (a ring holding buffers of pool `h`). */
export function rtRef(h: i32, delta: i32): void {
  const e = entry(h);
  if (e != 0) atomic.add<u32>(e + 12, <u32>delta);
}

export function rtRefs(h: i32): u32 {
  const e = entry(h);
  return e == 0 ? 0 : atomic.load<u32>(e + 12);
}

/**
 * Take object `h` of `kind` out of the table for destruction: lookups fail
 * from now on. Returns its address (the caller frees it) or 0 if there is no
 * such object. rtRelease then frees the handle.
 */
export function rtTake(h: i32, kind: u32): usize {
  const e = entry(h);
  if (e == 0 || atomic.cmpxchg<u32>(e, kind, CLAIMED) != kind) return 0;
  return <usize>load<u32>(e, 4);
}

export function rtRelease(h: i32): void {
  const e = entry(h);
  if (e != 0) atomic.store<u32>(e, 0);
}
