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

export const PAGE_SHIFT: u32 = 12;
export const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;
export const WASM_PAGE: u32 = 65536;

/** Largest guest RAM vmdev places in its own linear memory (3.75 GiB, leaving room for state). */
export const MAX_OWN_RAM_PAGES: u32 = 0xF0000;
/** Largest guest RAM behind foreign accessors (4 GiB; GPAs stay 32-bit). */
export const MAX_FOREIGN_RAM_PAGES: u32 = 0x100000;

export const MAX_HOLES: i32 = 16;
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
export const CB_SIZE: usize = CB_APIC_SET + 8;

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
 * linear memory. Returns 0 when memory cannot grow. Regions are never freed:
 * they are created when a VM or device is made and live as long as the instance.
 */
export function regionAlloc(bytes: u64, align: u32): usize {
  const cb = controlBlock();
  const mask = <u64>align - 1;
  // Lock-free bump: retry if another thread moved the pointer.
  for (let tries = 0; tries < 1000; tries++) {
    const top = <u64>atomic.load<u32>(cb + CB_TOP);
    const start = (top + mask) & ~mask;
    const end = start + bytes;
    if (end > REGION_LIMIT) return 0;
    if (atomic.cmpxchg<u32>(cb + CB_TOP, <u32>top, <u32>end) != <u32>top) continue;
    if (!ensureMemory(end)) return 0;
    return <usize>start;
  }
  return 0;
}

/** Bytes of linear memory handed out so far (the bump pointer). */
export function regionTop(): u32 {
  return atomic.load<u32>(controlBlock() + CB_TOP);
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

// Counters: monotonic u64 event counts shared by all instances. Indices are
// fixed here so the host can read them by name (src/counters.ts mirrors them).
export namespace Counter {
  export const GM_RANGE_ERRORS = 0;
  export const GM_HOLE_ERRORS = 1;
  export const GM_HOST_ERRORS = 2;
  export const BAD_HANDLE = 3;
  export const DIRTY_MARKS_IGNORED = 4;
  export const STATE_REJECTED = 5;
}
export const CORE_COUNTERS: i32 = 6;

// @ts-ignore: decorator
@inline export function counterAdd(index: i32, n: u64): void {
  atomic.add<u64>(controlBlock() + CB_COUNTERS + (<usize>index << 3), n);
}

export function counterGet(index: i32): u64 {
  if (<u32>index >= <u32>MAX_COUNTERS) return 0;
  return atomic.load<u64>(controlBlock() + CB_COUNTERS + (<usize>index << 3));
}
