// Linear-memory layout shared by every instance that attaches to one VM.
//
// vmdev never uses the AssemblyScript managed heap: all state lives in fixed
// regions carved out of linear memory by `regionAlloc`, starting at the first
// 64 KiB boundary above the static data. The first region is the control
// block; every instance of the module that shares this memory (the device
// instance on the main thread and one per vCPU worker) finds it at the same
// address, because the address depends only on the module's static data.
// Globals are per instance, so anything that must be seen by all instances is
// kept in the control block and read from there.
//
// Thread model: the memory is a shared WebAssembly.Memory when the host has
// SharedArrayBuffer. The bump pointer and the counters are updated with
// atomics; memory.grow is safe to call from several threads.
//
// Two kinds of region. `regionAlloc` regions live as long as the memory (guest
// RAM, bitmaps, I/O buffers, per-instance scratch). `blockAlloc` blocks are for
// state that is made and unmade while the VM runs (a NIC and its backlog): a
// freed block goes on this instance's free list, adjacent free blocks merge,
// and later blocks are carved first-fit from the list before the bump pointer
// moves. So destroying and re-creating devices reuses the same memory, and
// what the bump pointer has handed out for blocks never exceeds the most that
// was live at once plus fragmentation between blocks. Freed memory is never
// given back to `regionAlloc` (its regions must be zero, and zeroing a freed
// block would commit pages the device never touched). A block freed when the
// list is full and it merges with nothing is lost, and counted
// (Counter.BLOCK_BYTES_LOST).

import { PAGE_SHIFT, PAGE_SIZE, MAX_OWN_RAM_PAGES, MAX_FOREIGN_RAM_PAGES, MAX_HOLES, Counter, CORE_COUNTERS } from "./defs";
export { PAGE_SHIFT, PAGE_SIZE, MAX_OWN_RAM_PAGES, MAX_FOREIGN_RAM_PAGES, MAX_HOLES, Counter, CORE_COUNTERS };

export const WASM_PAGE: u32 = 65536;
export const MAX_BITMAPS: i32 = 16;
export const MAX_COUNTERS: i32 = 64;

export const CB_MAGIC: u32 = 0x42434d56; // "VMCB"

// Control block field offsets.
export const CB_MAGIC_OFF: usize = 0;
export const CB_TOP: usize = 4;          // u32 bump pointer (atomic)
export const CB_FLAGS: usize = 8;        // u32 CBF_*
export const CB_RAM_PTR: usize = 12;     // u32, 0 when foreign
export const CB_RAM_PAGES: usize = 16;   // u32
export const CB_HOLE_COUNT: usize = 20;  // u32
export const CB_HOLES: usize = 32;       // MAX_HOLES × (u32 firstPage, u32 pageCount)
export const CB_BITMAPS: usize = CB_HOLES + <usize>MAX_HOLES * 8;       // MAX_BITMAPS × BITMAP_SLOT
export const BITMAP_SLOT: usize = 16;    // u32 words ptr, u32 pages, u32 flags, u32 reserved
export const CB_COUNTERS: usize = CB_BITMAPS + <usize>MAX_BITMAPS * BITMAP_SLOT; // MAX_COUNTERS × u64
/** u32: address of the local APIC set (assembly/apic), 0 until apic_create; attached instances find it here. */
export const CB_APIC_SET: usize = CB_COUNTERS + <usize>MAX_COUNTERS * 8;
/** u32: address of the ring object table (assembly/rings), 0 until the first ring object; attached instances find it here. */
export const CB_RINGS: usize = CB_APIC_SET + 4;
/** 3 × u32: addresses of the device models' handle tables (core/lifecycle.ts), 0 until first used. */
export const CB_LIFECYCLE: usize = CB_APIC_SET + 8;
/** u32: address of the virtio device-type table (virtio/dispatch.ts), 0 until the first type registers. */
export const CB_VIRTIO_TYPES: usize = CB_LIFECYCLE + 12;
export const CB_SIZE: usize = CB_VIRTIO_TYPES + 4;

export const CBF_INIT: u32 = 1;
export const CBF_FOREIGN: u32 = 2;

/** Address of the control block: the first 64 KiB boundary above static data. */
// @ts-ignore: decorator
@inline export function controlBlock(): usize {
  return (__heap_base + <usize>(WASM_PAGE - 1)) & ~<usize>(WASM_PAGE - 1);
}

/** Make sure linear memory covers [0, end). Returns false if it cannot grow. */
export function ensureMemory(end: u64): bool {
  if (end > 0x1_0000_0000) return false;
  // Bounded: each iteration either returns or grows memory past `end`.
  while (<u64>memory.size() << 16 < end) {
    const have = <u64>memory.size() << 16;
    const need = <i32>((end - have + <u64>(WASM_PAGE - 1)) >> 16);
    if (memory.grow(need) < 0) {
      // Another thread may have grown it meanwhile; only fail if still short.
      return <u64>memory.size() << 16 >= end;
    }
  }
  return true;
}

/** End of the range regions are carved from (the last 64 KiB of the 4 GiB address space stay unused). */
export const REGION_LIMIT: u64 = 0xFFFF_0000;

/**
 * Carve `bytes` of zeroed memory aligned to `align` (a power of two) out of
 * linear memory. Returns 0, with nothing taken, when memory cannot grow.
 * Regions are never freed: they live as long as the memory.
 */
export function regionAlloc(bytes: u64, align: u32): usize {
  const cb = controlBlock();
  const mask = <u64>align - 1;
  // Lock-free bump: retry if another thread moved the pointer. Memory is grown
  // before the pointer moves, so a region that cannot exist never moves it.
  for (let tries = 0; tries < 1000; tries++) {
    const top = <u64>atomic.load<u32>(cb + CB_TOP);
    const start = (top + mask) & ~mask;
    const end = start + bytes;
    if (end > REGION_LIMIT) return 0;
    if (!ensureMemory(end)) return 0;
    if (atomic.cmpxchg<u32>(cb + CB_TOP, <u32>top, <u32>end) != <u32>top) continue;
    return <usize>start;
  }
  return 0;
}

/**
 * Undo every region allocated since the bump pointer read `mark`, if no other
 * thread allocated meanwhile. Only for a caller that wrote nothing into them
 * (memory above the pointer must stay zero). Returns false if it could not.
 */
export function regionRollback(mark: u32): bool {
  const cb = controlBlock();
  const top = atomic.load<u32>(cb + CB_TOP);
  return top == mark || atomic.cmpxchg<u32>(cb + CB_TOP, top, mark) == top;
}

// ---- Freeable blocks -----------------------------------------------------------
// This instance's free list: up to FREE_SLOTS runs (u32 start, u32 bytes),
// sorted by address, never adjacent (a free merges neighbours). Per instance
// (a wasm global points at it): blocks are freed by the instance that made
// them, so no lock is needed.

const BLOCK_GRAIN: u64 = 16;
const FREE_SLOTS: u32 = 64;
let freeList: usize = 0;
let freeCount: u32 = 0;

// @ts-ignore: decorator
@inline function runStart(i: u32): u32 { return load<u32>(freeList + (<usize>i << 3)); }
// @ts-ignore: decorator
@inline function runBytes(i: u32): u32 { return load<u32>(freeList + (<usize>i << 3), 4); }
// @ts-ignore: decorator
@inline function runSet(i: u32, start: u32, bytes: u32): void {
  store<u32>(freeList + (<usize>i << 3), start);
  store<u32>(freeList + (<usize>i << 3), bytes, 4);
}
function runInsert(i: u32, start: u32, bytes: u32): void {
  // Bounded by FREE_SLOTS; the caller checked freeCount < FREE_SLOTS.
  memory.copy(freeList + (<usize>(i + 1) << 3), freeList + (<usize>i << 3), <usize>(freeCount - i) << 3);
  runSet(i, start, bytes);
  freeCount++;
}
function runRemove(i: u32): void {
  memory.copy(freeList + (<usize>i << 3), freeList + (<usize>(i + 1) << 3), <usize>(freeCount - i - 1) << 3);
  freeCount--;
}

/**
 * Block size as blockAlloc/blockFree account for it: a multiple of the
 * block's alignment, so blocks made one after another from the bump pointer
 * are adjacent and merge again when freed.
 */
// @ts-ignore: decorator
@inline function grain(bytes: u64, align: u32): u64 {
  const g = <u64>max<u32>(align, <u32>BLOCK_GRAIN) - 1;
  return (bytes + g) & ~g;
}

/**
 * A block of `bytes` aligned to `align` (a power of two, ≥ 16) that
 * blockFree can give back. Its contents are undefined when it is reused:
 * the caller initialises what it reads. Returns 0, with nothing taken, when
 * memory cannot grow.
 */
export function blockAlloc(bytes: u64, align: u32): usize {
  if (bytes == 0 || bytes > REGION_LIMIT) return 0;
  const size = grain(bytes, align);
  const mask = <u64>align - 1;
  // First fit. Bounded by FREE_SLOTS.
  for (let i: u32 = 0; i < freeCount; i++) {
    const s = <u64>runStart(i), n = <u64>runBytes(i);
    const a = (s + mask) & ~mask;
    if (a + size > s + n) continue;
    const front = a - s, back = s + n - (a + size);
    if (front != 0 && back != 0) {
      if (freeCount >= FREE_SLOTS) continue;
      runSet(i, <u32>s, <u32>front);
      runInsert(i + 1, <u32>(a + size), <u32>back);
    } else if (front != 0) runSet(i, <u32>s, <u32>front);
    else if (back != 0) runSet(i, <u32>(a + size), <u32>back);
    else runRemove(i);
    return <usize>a;
  }
  if (freeList == 0) {
    // The list itself is a permanent region, made before the first block.
    freeList = regionAlloc(<u64>FREE_SLOTS << 3, 16);
    if (freeList == 0) return 0;
  }
  return regionAlloc(size, align < 16 ? 16 : align);
}

/** Give back a block blockAlloc returned, with the `bytes` and `align` it was asked for. */
export function blockFree(ptr: usize, bytes: u64, align: u32): void {
  if (ptr == 0 || freeList == 0) return;
  let s = <u32>ptr;
  let n = <u32>grain(bytes, align);
  // Position: first run above the block. Bounded by FREE_SLOTS.
  let i: u32 = 0;
  while (i < freeCount && runStart(i) < s) i++;
  if (i > 0 && runStart(i - 1) + runBytes(i - 1) == s) {
    i--; s = runStart(i); n += runBytes(i); runRemove(i);
  }
  if (i < freeCount && s + n == runStart(i)) {
    n += runBytes(i); runRemove(i);
  }
  if (freeCount >= FREE_SLOTS) { counterAdd(Counter.BLOCK_BYTES_LOST, <u64>n); return; }
  runInsert(i, s, n);
}

/** Bytes regionAlloc can still hand out. */
export function regionFree(): u64 {
  const top = <u64>regionTop();
  return top >= REGION_LIMIT ? 0 : REGION_LIMIT - top;
}

/**
 * The most linear memory `regionAlloc(bytes, align)` consumes: the bytes and
 * the worst alignment padding. Sizing queries add one of these per allocation
 * they stand for, so a host can check a machine fits before creating it.
 */
// @ts-ignore: decorator
@inline export function regionCost(bytes: u64, align: u32): u64 {
  return bytes + <u64>align - 1;
}

/** The most linear memory `blockAlloc(bytes, align)` consumes: its grain, with the free list the first block makes. */
export function blockCost(bytes: u64, align: u32): u64 {
  return regionCost(grain(bytes, align), align < 16 ? 16 : align) + regionCost(<u64>FREE_SLOTS << 3, 16);
}

/** Bytes of linear memory handed out so far (the bump pointer). */
export function regionTop(): u32 {
  return atomic.load<u32>(controlBlock() + CB_TOP);
}

/** Prepare the control block if this is the first instance on this memory. */
export function controlBlockInit(): bool {
  const cb = controlBlock();
  if (!ensureMemory(<u64>cb + <u64>CB_SIZE)) return false;
  if (atomic.load<u32>(cb + CB_MAGIC_OFF) == CB_MAGIC) return true;
  memory.fill(cb, 0, CB_SIZE);
  atomic.store<u32>(cb + CB_TOP, <u32>(cb + CB_SIZE));
  atomic.store<u32>(cb + CB_MAGIC_OFF, CB_MAGIC);
  return true;
}

// Counters (defs.ts Counter): monotonic u64 event counts in the control
// block, shared by all instances.

// @ts-ignore: decorator
@inline export function counterAdd(index: i32, n: u64): void {
  atomic.add<u64>(controlBlock() + CB_COUNTERS + (<usize>index << 3), n);
}

export function counterGet(index: i32): u64 {
  if (<u32>index >= <u32>MAX_COUNTERS) return 0;
  return atomic.load<u64>(controlBlock() + CB_COUNTERS + (<usize>index << 3));
}
