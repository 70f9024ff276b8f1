// Device lifecycle: the handle tables of the device models, in shared linear
// memory (their addresses in the control block, CB_LIFECYCLE), so a handle
// made on one thread names the same device in every instance attached to the
// memory, and a reference count per handle so a device never goes away
// under a call in progress on another thread.
//
// One slot per handle: u32 word (state bits | references), u32 device
// address. A device goes
//   attach (lcReserve: ATTACHING, the model builds the device; calls refused)
//     → abort (lcAbort: the build failed, slot free again)
//     | open (lcOpen: OPEN, calls admitted)
//       → close (lcClose: CLOSING, new calls refused, calls in progress finish)
//       → detach (lcDetach: once the references drained; slot FREE, the
//         model gives the block back).
// Every entry point of a model takes a reference with one atomic add
// (lcEnter) and drops it with one atomic sub (lcLeave); the state bits ride
// in the same word, so admission is decided by the value the add returned.
// A call refused (slot not OPEN) gives its reference back at once and is
// counted as a bad handle.
//
// Who frees: the instance that created the device (blocks live on that
// instance's free list, layout.ts), so a close whose references have not
// drained leaves the slot CLOSING and the model's destroy reports ERR_MORE;
// the owner calls destroy again once lcRefs reads 0, and the model's next
// create detaches every drained CLOSING slot first, so the handle and the
// memory are reusable without it.
//
// Handles are reused (lowest free slot first): a stale handle kept by a
// thread after a destroy names the next device created in that slot. The
// host revokes a handle from every thread that holds it before it creates
// the next device of that model (the TypeScript layer does: a destroyed
// device object refuses calls, and a Machine unplug stops its workers'
// traffic first).

import { controlBlock, regionAlloc, regionCost, counterAdd, Counter, CB_LIFECYCLE } from "./layout";

/** The models with a handle table here (index into CB_LIFECYCLE). */
export const LC_VIRTIO: u32 = 0;
export const LC_E1000: u32 = 1;
export const LC_NE2K: u32 = 2;
export const LC_TABLES: u32 = 3;
/** Slots per table (handles 1..LC_SLOTS-1; a model may use fewer). */
export const LC_SLOTS: i32 = 16;

const SLOT: usize = 8;
export const LC_REFS: u32 = 0x00ff_ffff;
export const LC_ATTACHING: u32 = 1 << 24;
export const LC_OPEN: u32 = 1 << 25;
export const LC_CLOSING: u32 = 1 << 26;
const LC_STATE: u32 = LC_ATTACHING | LC_OPEN | LC_CLOSING;

// Per instance: the tables' addresses once seen (they never move).
let cache0: usize = 0, cache1: usize = 0, cache2: usize = 0;

// @ts-ignore: decorator
@inline function cached(id: u32): usize { return id == 0 ? cache0 : id == 1 ? cache1 : cache2; }

/** Table `id`, made by the first instance that needs one (make); 0 without memory or before it exists. */
export function lcTable(id: u32, make: bool): usize {
  const c = cached(id);
  if (c != 0) return c;
  const cell = controlBlock() + CB_LIFECYCLE + (<usize>id << 2);
  let t = atomic.load<u32>(cell);
  if (t == 0 && make) {
    const p = regionAlloc(<u64>LC_SLOTS * SLOT, 8);
    if (p == 0) return 0;
    const won = atomic.cmpxchg<u32>(cell, 0, <u32>p);
    // A racing instance published first: use its table (this region stays unused).
    t = won == 0 ? <u32>p : won;
  }
  if (id == 0) cache0 = <usize>t; else if (id == 1) cache1 = <usize>t; else cache2 = <usize>t;
  return <usize>t;
}

/** The most linear memory table `id` takes when a create makes it. */
export function lcTableCost(): u64 { return regionCost(<u64>LC_SLOTS * SLOT, 8); }

// @ts-ignore: decorator
@inline function slotAt(t: usize, h: i32): usize { return t + (<usize>h << 3); }

/**
 * Take a reference on device `h` of table `id` (handles below `max`): its
 * address, or 0 (counted as a bad handle) when the handle names no open
 * device. Every non-zero result is paired with one lcLeave.
 */
// @ts-ignore: decorator
@inline export function lcEnter(id: u32, h: i32, max: i32): usize {
  const p = lcHold(id, h, max);
  if (p == 0) counterAdd(Counter.BAD_HANDLE, 1);
  return p;
}

/** lcEnter without counting a refusal: a device reaching another (a link peer, a switch port), which may be going away. */
// @ts-ignore: decorator
@inline export function lcHold(id: u32, h: i32, max: i32): usize {
  // The table's address is cached once seen: one global load on the hot path.
  const c = cached(id);
  const t = c != 0 ? c : lcTable(id, false);
  if (h <= 0 || h >= max || t == 0) return 0;
  const w = slotAt(t, h);
  const old = atomic.add<u32>(w, 1);
  if ((old & LC_STATE) == LC_OPEN) return <usize>atomic.load<u32>(w, 4);
  lcDrop(w);
  return 0;
}

/** Drop the reference lcEnter took on `h` (whose lcEnter returned non-zero). */
// @ts-ignore: decorator
@inline export function lcLeave(id: u32, h: i32): void {
  lcDrop(slotAt(cached(id), h));
}

// @ts-ignore: decorator
@inline function lcDrop(w: usize): void {
  const old = atomic.sub<u32>(w, 1);
  // The last reference on a closing device: wake a host thread waiting for the drain.
  if ((old & LC_CLOSING) != 0 && (old & LC_REFS) == 1) atomic.notify(w, 0xffff);
}

/**
 * Address of device `h` if it is being built or open (0 if free or closing),
 * without a reference: for the owner's host-side paths (create, destroy,
 * links), which no other thread runs.
 */
export function lcPeek(id: u32, h: i32, max: i32): usize {
  const t = lcTable(id, false);
  if (h <= 0 || h >= max || t == 0) return 0;
  const w = slotAt(t, h);
  return (atomic.load<u32>(w) & (LC_ATTACHING | LC_OPEN)) == 0 ? 0 : <usize>atomic.load<u32>(w, 4);
}

/** Attach: claim the lowest free handle below `max` for a device about to be built (lcSet names its block). The handle, -ERR_FULL or -ERR_NO_MEMORY. */
export function lcReserve(id: u32, max: i32): i32 {
  const t = lcTable(id, true);
  if (t == 0) return -5; // Status.ERR_NO_MEMORY
  // Bounded: max ≤ LC_SLOTS slots, each retried only while refused calls move its count.
  for (let h: i32 = 1; h < max; h++) {
    const w = slotAt(t, h);
    let v = atomic.load<u32>(w);
    while ((v & LC_STATE) == 0) {
      // References here are calls being refused: they give them back themselves.
      const seen = atomic.cmpxchg<u32>(w, v, v | LC_ATTACHING);
      if (seen == v) { atomic.store<u32>(w, 0, 4); return h; }
      v = seen;
    }
  }
  return -24; // Status.ERR_FULL
}

/** The block of device `h`, being attached. */
export function lcSet(id: u32, h: i32, addr: usize): void {
  atomic.store<u32>(slotAt(lcTable(id, false), h), <u32>addr, 4);
}

/** Abort an attach: the build failed; the handle is free again (the model gives its memory back). */
export function lcAbort(id: u32, h: i32): void {
  lcSwap(slotAt(lcTable(id, false), h), LC_ATTACHING, 0);
}

/** Open: the device is built; calls are admitted from now on. */
export function lcOpen(id: u32, h: i32): void {
  lcSwap(slotAt(lcTable(id, false), h), LC_ATTACHING, LC_OPEN);
}

/** Replace state bits `from` with `to`, keeping the count. False if the slot was not in `from`. */
function lcSwap(w: usize, from: u32, to: u32): bool {
  let v = atomic.load<u32>(w);
  // Bounded: each retry means a concurrent lcEnter/lcLeave moved the count.
  while ((v & LC_STATE) == from) {
    const seen = atomic.cmpxchg<u32>(w, v, (v & ~LC_STATE) | to);
    if (seen == v) return true;
    v = seen;
  }
  return false;
}

/**
 * Close: refuse new calls on device `h`. Returns 1 if this call closed it,
 * 2 if it was closing already (a destroy called again), 0 if the handle
 * names no open or closing device.
 */
export function lcClose(id: u32, h: i32, max: i32): i32 {
  const t = lcTable(id, false);
  if (h <= 0 || h >= max || t == 0) return 0;
  const w = slotAt(t, h);
  if (lcSwap(w, LC_OPEN, LC_CLOSING)) return 1;
  return (atomic.load<u32>(w) & LC_STATE) == LC_CLOSING ? 2 : 0;
}

/** Detach: if device `h` is closing and no call holds it, free its handle and return its address (the caller frees the block); else 0. */
export function lcDetach(id: u32, h: i32): usize {
  const t = lcTable(id, false);
  if (t == 0) return 0;
  const w = slotAt(t, h);
  const p = <usize>atomic.load<u32>(w, 4);
  return atomic.cmpxchg<u32>(w, LC_CLOSING, 0) == LC_CLOSING ? p : 0;
}

/** Calls in progress on device `h` (its references); -1 if the handle names no device. */
export function lcRefs(id: u32, h: i32, max: i32): i32 {
  const t = lcTable(id, false);
  if (h <= 0 || h >= max || t == 0) return -1;
  const v = atomic.load<u32>(slotAt(t, h));
  if ((v & (LC_OPEN | LC_CLOSING)) == 0) return -1;
  return <i32>(v & LC_REFS);
}

/**
 * Give a freed block's bytes a poison pattern in the debug build, so a call
 * that still used the device after its free would follow a pointer past the
 * end of memory and trap there, instead of reading the next device's state.
 */
export function lcPoison(p: usize, bytes: u32): void {
  if (!ASC_NO_ASSERT) memory.fill(p, 0xdb, <usize>bytes);
}

/** True if device `h` is closing (destroyed, waiting for calls in progress). */
export function lcClosing(id: u32, h: i32, max: i32): bool {
  const t = lcTable(id, false);
  if (h <= 0 || h >= max || t == 0) return false;
  return (atomic.load<u32>(slotAt(t, h)) & LC_STATE) == LC_CLOSING;
}
