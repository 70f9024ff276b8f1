// The guest-memory port: the one door through which device models read and
// write guest RAM.
//
// Every access is bounds-checked against guest RAM and its holes with
// overflow-safe range math, and every write marks the guest dirty bitmap
// (after the write lands, see dirty.ts). Two placements behind one interface:
//
//  * own:     guest RAM is a region of this module's linear memory (zero copy);
//  * foreign: guest RAM belongs to an embedding emulator (v86) and is reached
//             through three host imports: copy out of it, copy into it, and a
//             write-notify so an emulator with a JIT can drop translated code
//             for the written range.
//
// Guest physical addresses (GPAs) are u64 on the way in; once a range passes
// `gmCheck` it lies below ramBytes ≤ 4 GiB, so it fits in u32/usize.
//
// Hot paths in devices call `gmCheck` once for a range and then the
// `gmLoad*`/`gmStore*` primitives for addresses inside it.

import { Status } from "./status";
import {
  controlBlock, CB_FLAGS, CB_RAM_PTR, CB_RAM_PAGES, CB_HOLE_COUNT, CB_HOLES, CB_COUNTERS,
  CBF_INIT, CBF_FOREIGN, MAX_HOLES, PAGE_SHIFT, counterAdd, Counter,
} from "./layout";
import { GUEST_BITMAP, bitmapMarkRange } from "./dirty";

// Host accessors for the foreign placement. Each returns 0 on success.
// @ts-ignore: decorator
@external("env", "guest_read")
declare function hostGuestRead(gpa: u32, dst: usize, len: u32): i32;
// @ts-ignore: decorator
@external("env", "guest_write")
declare function hostGuestWrite(gpa: u32, src: usize, len: u32): i32;
// @ts-ignore: decorator
@external("env", "guest_written")
declare function hostGuestWritten(gpa: u32, len: u32): void;

// Per-instance copies of the control block's immutable fields (set by vm_init / vm_attach).
let ready = false;
let foreign = false;
let ramPtr: usize = 0;
let ramBytes: u64 = 0;
let ramPages: u32 = 0;

// A small per-instance bounce buffer for scalar accesses to foreign RAM.
let bounce: usize = 0;

export function gmReady(): bool { return ready; }
export function gmForeign(): bool { return foreign; }
export function gmRamPtr(): usize { return ramPtr; }
export function gmRamBytes(): u64 { return ramBytes; }
export function gmRamPages(): u32 { return ramPages; }

/** Load this instance's view of guest RAM from the control block. */
export function gmBind(bounceBuf: usize): void {
  const cb = controlBlock();
  const flags = atomic.load<u32>(cb + CB_FLAGS);
  foreign = (flags & CBF_FOREIGN) != 0;
  ramPtr = <usize>load<u32>(cb + CB_RAM_PTR);
  ramPages = load<u32>(cb + CB_RAM_PAGES);
  ramBytes = <u64>ramPages << PAGE_SHIFT;
  bounce = bounceBuf;
  ready = (flags & CBF_INIT) != 0;
}

/** Add a hole (MMIO window) of whole pages; accesses touching it are rejected. */
export function gmAddHole(firstPage: u32, pageCount: u32): i32 {
  if (!ready) return Status.ERR_NOT_READY;
  if (pageCount == 0 || firstPage >= ramPages || pageCount > ramPages - firstPage) return Status.ERR_RANGE;
  const cb = controlBlock();
  const n = load<u32>(cb + CB_HOLE_COUNT);
  if (n >= <u32>MAX_HOLES) return Status.ERR_NO_MEMORY;
  store<u32>(cb + CB_HOLES + (<usize>n << 3), firstPage);
  store<u32>(cb + CB_HOLES + (<usize>n << 3), pageCount, 4);
  atomic.store<u32>(cb + CB_HOLE_COUNT, n + 1);
  layoutChanged();
  return Status.OK;
}

/**
 * Count a change to the holes. A device validates its rings once (when the
 * driver makes a queue ready) and then uses the unchecked primitives; it keeps
 * the count it validated against and re-checks when it moves (gmLayoutGen).
 * Bumped after the new holes are stored, so a reader that sees the new count
 * sees the new holes.
 */
export function layoutChanged(): void { counterAdd(Counter.LAYOUT_CHANGES, 1); }

/** Changes to the holes so far (low 32 bits). */
// @ts-ignore: decorator
@inline export function gmLayoutGen(): u32 { return <u32>atomic.load<u64>(controlBlock() + CB_COUNTERS + (<usize>Counter.LAYOUT_CHANGES << 3)); }

export function gmHoleCount(): u32 { return atomic.load<u32>(controlBlock() + CB_HOLE_COUNT); }

/**
 * Validate [gpa, gpa+len) against guest RAM and holes. Overflow-safe: never
 * computes gpa+len before knowing gpa < ramBytes. A zero-length range is
 * valid anywhere up to and including the end of RAM.
 */
export function gmCheck(gpa: u64, len: u64): i32 {
  if (gpa > ramBytes || len > ramBytes - gpa) {
    counterAdd(Counter.GM_RANGE_ERRORS, 1);
    return ready ? Status.ERR_RANGE : Status.ERR_NOT_READY;
  }
  if (len == 0) return Status.OK;
  const cb = controlBlock();
  const holes = atomic.load<u32>(cb + CB_HOLE_COUNT);
  if (holes != 0) {
    const first = <u32>(gpa >> PAGE_SHIFT);
    const last = <u32>((gpa + len - 1) >> PAGE_SHIFT);
    // Bounded by MAX_HOLES.
    for (let i: u32 = 0; i < holes; i++) {
      const h0 = load<u32>(cb + CB_HOLES + (<usize>i << 3));
      const hn = load<u32>(cb + CB_HOLES + (<usize>i << 3), 4);
      // [first, last] overlaps [h0, h0 + hn); h0 + hn ≤ ramPages (gmAddHole), so no wrap.
      if (first < h0 + hn && last >= h0) {
        counterAdd(Counter.GM_HOLE_ERRORS, 1);
        return Status.ERR_HOLE;
      }
    }
  }
  return Status.OK;
}

// @ts-ignore: decorator
@inline export function markWritten(gpa: u64, len: u64): void {
  const first = <u32>(gpa >> PAGE_SHIFT);
  const last = <u32>((gpa + len - 1) >> PAGE_SHIFT);
  bitmapMarkRange(GUEST_BITMAP, first, last - first + 1);
  if (foreign) hostGuestWritten(<u32>gpa, <u32>len);
}

function foreignRead(gpa: u64, len: u32): void {
  if (hostGuestRead(<u32>gpa, bounce, len) != 0) {
    counterAdd(Counter.GM_HOST_ERRORS, 1);
    hostFault = true;
    memory.fill(bounce, 0, len);
  }
}

/** Set when a foreign accessor failed; devices and gmWrite poll it with gmTakeHostFault. */
let hostFault = false;
export function gmTakeHostFault(): bool { const f = hostFault; hostFault = false; return f; }

function foreignWrite(gpa: u64, len: u32): bool {
  if (hostGuestWrite(<u32>gpa, bounce, len) != 0) {
    counterAdd(Counter.GM_HOST_ERRORS, 1);
    hostFault = true;
    return false;
  }
  return true;
}

// --- Primitives for ranges already validated by gmCheck. -------------------
// Invariant for all of them: [gpa, gpa+width) passed gmCheck.

// @ts-ignore: decorator
@inline export function gmLoad8(gpa: u64): u32 {
  if (!foreign) return <u32>load<u8>(ramPtr + <usize>gpa);
  foreignRead(gpa, 1); return <u32>load<u8>(bounce);
}
// @ts-ignore: decorator
@inline export function gmLoad16(gpa: u64): u32 {
  if (!foreign) return <u32>load<u16>(ramPtr + <usize>gpa);
  foreignRead(gpa, 2); return <u32>load<u16>(bounce);
}
// @ts-ignore: decorator
@inline export function gmLoad32(gpa: u64): u32 {
  if (!foreign) return load<u32>(ramPtr + <usize>gpa);
  foreignRead(gpa, 4); return load<u32>(bounce);
}
// @ts-ignore: decorator
@inline export function gmLoad64(gpa: u64): u64 {
  if (!foreign) return load<u64>(ramPtr + <usize>gpa);
  foreignRead(gpa, 8); return load<u64>(bounce);
}
/** 16-bit load with acquire semantics (virtio ring indices written by another agent). */
// @ts-ignore: decorator
@inline export function gmLoad16Acquire(gpa: u64): u32 {
  if (!foreign) {
    // Atomic loads need natural alignment; ring indices are 2-byte aligned (checked at queue ready).
    return <u32>atomic.load<u16>(ramPtr + <usize>gpa);
  }
  foreignRead(gpa, 2); return <u32>load<u16>(bounce);
}

export function gmStore8(gpa: u64, v: u32): void {
  if (!foreign) store<u8>(ramPtr + <usize>gpa, <u8>v);
  else { store<u8>(bounce, <u8>v); if (!foreignWrite(gpa, 1)) return; }
  markWritten(gpa, 1);
}
export function gmStore16(gpa: u64, v: u32): void {
  if (!foreign) store<u16>(ramPtr + <usize>gpa, <u16>v);
  else { store<u16>(bounce, <u16>v); if (!foreignWrite(gpa, 2)) return; }
  markWritten(gpa, 2);
}
/** 16-bit store with release semantics (publishing a used index). */
export function gmStore16Release(gpa: u64, v: u32): void {
  if (!foreign) atomic.store<u16>(ramPtr + <usize>gpa, <u16>v);
  else { store<u16>(bounce, <u16>v); if (!foreignWrite(gpa, 2)) return; }
  markWritten(gpa, 2);
}
export function gmStore32(gpa: u64, v: u32): void {
  if (!foreign) store<u32>(ramPtr + <usize>gpa, v);
  else { store<u32>(bounce, v); if (!foreignWrite(gpa, 4)) return; }
  markWritten(gpa, 4);
}
export function gmStore64(gpa: u64, v: u64): void {
  if (!foreign) store<u64>(ramPtr + <usize>gpa, v);
  else { store<u64>(bounce, v); if (!foreignWrite(gpa, 8)) return; }
  markWritten(gpa, 8);
}

// --- Checked operations: validate, then act. Return a Status. ---------------

/** Copy `len` bytes from guest RAM at `gpa` to linear memory at `dst`. */
export function gmCopyOut(gpa: u64, dst: usize, len: u64): i32 {
  const s = gmCheck(gpa, len);
  if (s != Status.OK) return s;
  if (len == 0) return Status.OK;
  if (!foreign) { memory.copy(dst, ramPtr + <usize>gpa, <usize>len); return Status.OK; }
  if (hostGuestRead(<u32>gpa, dst, <u32>len) != 0) { counterAdd(Counter.GM_HOST_ERRORS, 1); return Status.ERR_HOST; }
  return Status.OK;
}

/**
 * The 16 bytes at `gpa` (a virtio descriptor) in one read: their address in
 * linear memory (own RAM in place, foreign RAM copied into the bounce buffer
 * with one upcall instead of one per field; valid until the next guest-memory
 * access), or 0 (counted) when the range is not in RAM. A failed upcall reads
 * as zeros and sets the host fault, like the scalar loads.
 */
export function gmRead16(gpa: u64): usize {
  if (gmCheck(gpa, 16) != Status.OK) return 0;
  if (!foreign) return ramPtr + <usize>gpa;
  foreignRead(gpa, 16);
  return bounce;
}

/** Copy `len` bytes from linear memory at `src` into guest RAM at `gpa`, marking the pages dirty. */
export function gmCopyIn(gpa: u64, src: usize, len: u64): i32 {
  const s = gmCheck(gpa, len);
  if (s != Status.OK) return s;
  if (len == 0) return Status.OK;
  if (!foreign) memory.copy(ramPtr + <usize>gpa, src, <usize>len);
  else if (hostGuestWrite(<u32>gpa, src, <u32>len) != 0) { counterAdd(Counter.GM_HOST_ERRORS, 1); return Status.ERR_HOST; }
  markWritten(gpa, len);
  return Status.OK;
}

/** Fill `len` bytes of guest RAM at `gpa` with `byte`, marking the pages dirty. */
export function gmFill(gpa: u64, byte: u32, len: u64): i32 {
  const s = gmCheck(gpa, len);
  if (s != Status.OK) return s;
  if (len == 0) return Status.OK;
  if (!foreign) {
    memory.fill(ramPtr + <usize>gpa, <u8>byte, <usize>len);
  } else {
    // Through the bounce buffer in bounded chunks (BOUNCE_SIZE bytes each).
    memory.fill(bounce, <u8>byte, BOUNCE_SIZE);
    let done: u64 = 0;
    while (done < len) {
      const n = <u32>min<u64>(len - done, BOUNCE_SIZE);
      if (hostGuestWrite(<u32>(gpa + done), bounce, n) != 0) {
        counterAdd(Counter.GM_HOST_ERRORS, 1);
        if (done != 0) markWritten(gpa, done);
        return Status.ERR_HOST;
      }
      done += n;
    }
  }
  markWritten(gpa, len);
  return Status.OK;
}

/** Size of the per-instance bounce buffer (vm_init/vm_attach allocate it). */
export const BOUNCE_SIZE: u32 = 4096;

let lastValue: u64 = 0;
/** Value produced by the last successful gmRead. */
export function gmLastValue(): u64 { return lastValue; }

/** Checked scalar read of 1, 2, 4 or 8 bytes; the value goes to gmLastValue(). */
export function gmRead(gpa: u64, width: u32): i32 {
  if (width != 1 && width != 2 && width != 4 && width != 8) return Status.ERR_INVALID_ARG;
  const s = gmCheck(gpa, width);
  if (s != Status.OK) return s;
  hostFault = false;
  if (width == 1) lastValue = gmLoad8(gpa);
  else if (width == 2) lastValue = gmLoad16(gpa);
  else if (width == 4) lastValue = gmLoad32(gpa);
  else lastValue = gmLoad64(gpa);
  return gmTakeHostFault() ? Status.ERR_HOST : Status.OK;
}

/** Checked scalar write of 1, 2, 4 or 8 bytes (little-endian, like the guest). */
export function gmWrite(gpa: u64, width: u32, value: u64): i32 {
  if (width != 1 && width != 2 && width != 4 && width != 8) return Status.ERR_INVALID_ARG;
  const s = gmCheck(gpa, width);
  if (s != Status.OK) return s;
  hostFault = false;
  if (width == 1) gmStore8(gpa, <u32>value);
  else if (width == 2) gmStore16(gpa, <u32>value);
  else if (width == 4) gmStore32(gpa, <u32>value);
  else gmStore64(gpa, value);
  return gmTakeHostFault() ? Status.ERR_HOST : Status.OK;
}

/**
 * Make the own-placement RAM of pages [first, first+count) resident without
 * changing a byte: an atomic add of 0 to each page's first word is a write
 * (the kernel maps the page on the fault) that leaves its value as it was
 * even if another thread writes the word at the same time. Not marked dirty:
 * no content changed. Holes are skipped; the foreign placement has nothing to
 * touch (its RAM is the emulator's). Returns the pages touched.
 */
export function gmTouchPages(first: u32, count: u32): u32 {
  if (!ready || foreign || first >= ramPages) return 0;
  const end = count > ramPages - first ? ramPages : first + count;
  let n: u32 = 0;
  for (let p = first; p < end; p++) {
    const gpa = <u64>p << PAGE_SHIFT;
    if (gmCheck(gpa, 4) != Status.OK) continue;
    // gmCheck passed: the word lies inside RAM.
    atomic.add<u32>(ramPtr + <usize>gpa, 0);
    n++;
  }
  return n;
}
