// Exported functions of the core: VM setup, the guest-memory port, dirty
// bitmaps, hashing and the core's saved state. Numbers in, numbers out; a
// function that can fail returns a Status (or a count/handle ≥ 0 and -Status).
// Byte buffers are named by offsets into the calling instance's I/O buffer,
// never by raw pointers, so a host bug cannot point the device at its own state.

import { Status } from "./status";
import { ABI_VERSION } from "./abi";
import { BUILD_ID } from "./buildinfo";
import { controlBlock, CB_COUNTERS, regionTop, regionFree } from "./layout";
import * as vm from "./vm";
import * as gm from "./guestmem";
import * as dirty from "./dirty";
import { xxh64 } from "./hash";
import { envSetStrictBuild } from "./state";

export function abi_version(): u32 { return ABI_VERSION; }
export function build_id(): u32 { return BUILD_ID; }

/** Create guest RAM of `ramPages` 4 KiB pages; flags bit 0 = RAM owned by the embedder. */
export function vm_init(ramPages: u32, flags: u32): i32 { return vm.vmInit(ramPages, flags); }
/** Bind a further instance (a vCPU worker) to the VM in this shared memory. */
export function vm_attach(ioBytes: u32): i32 { return vm.vmAttach(ioBytes); }
export function vm_ready(): i32 { return gm.gmReady() ? 1 : 0; }
/** Bytes of linear memory in use by vmdev regions (guest RAM included). */
export function vm_memory_used(): u32 { return regionTop(); }
/** Bytes of linear memory regions can still take: what a host sizes the devices it is about to create against. */
export function vm_memory_free(): u32 { return <u32>regionFree(); }
/** The most linear memory vm_attach(ioBytes) takes (what each further instance, e.g. a vCPU worker, costs); -Status for a bad size. */
export function vm_attach_bytes(ioBytes: u32): i32 {
  return vm.attachIoOk(ioBytes) ? <i32>vm.attachCost(ioBytes) : -Status.ERR_INVALID_ARG;
}

export function io_ptr(): usize { return vm.ioPtr(); }
export function io_size(): u32 { return vm.ioSize(); }
export function io_resize(bytes: u32): i32 { return vm.ioResize(bytes); }
/** Address of the core counters (CORE_COUNTERS u64, defs.ts Counter order). */
export function vm_counters_ptr(): usize { return controlBlock() + CB_COUNTERS; }

export function gm_ram_ptr(): usize { return gm.gmRamPtr(); }
export function gm_ram_pages(): u32 { return gm.gmRamPages(); }
export function gm_foreign(): i32 { return gm.gmForeign() ? 1 : 0; }
export function gm_add_hole(firstPage: u32, pageCount: u32): i32 { return gm.gmAddHole(firstPage, pageCount); }
export function gm_check(gpa: u64, len: u64): i32 { return gm.gmCheck(gpa, len); }
export function gm_read(gpa: u64, width: u32): i32 { return gm.gmRead(gpa, width); }
export function gm_value(): u64 { return gm.gmLastValue(); }
export function gm_write(gpa: u64, width: u32, value: u64): i32 { return gm.gmWrite(gpa, width, value); }

export function gm_copy_in(gpa: u64, ioOffset: u32, len: u32): i32 {
  if (!vm.ioRangeOk(ioOffset, len)) return Status.ERR_INVALID_ARG;
  return gm.gmCopyIn(gpa, vm.ioPtr() + ioOffset, len);
}
export function gm_copy_out(gpa: u64, ioOffset: u32, len: u32): i32 {
  if (!vm.ioRangeOk(ioOffset, len)) return Status.ERR_INVALID_ARG;
  return gm.gmCopyOut(gpa, vm.ioPtr() + ioOffset, len);
}
export function gm_fill(gpa: u64, byte: u32, len: u64): i32 { return gm.gmFill(gpa, byte, len); }
/**
 * The host wrote own-placement guest RAM directly through a view of linear
 * memory (zero copy): validate the range and mark it dirty. Call after the write.
 */
export function gm_host_wrote(gpa: u64, len: u64): i32 {
  if (gm.gmForeign()) return Status.ERR_UNSUPPORTED;
  const s = gm.gmCheck(gpa, len);
  if (s != Status.OK || len == 0) return s;
  dirty.bitmapMarkRange(dirty.GUEST_BITMAP, <u32>(gpa >> 12), <u32>(((gpa + len - 1) >> 12) - (gpa >> 12) + 1));
  return Status.OK;
}
/** XXH64 of one page of own-placement guest RAM (migration integrity); 0 for a page outside RAM or foreign RAM. */
export function gm_hash_page(page: u32, seed: u64): u64 {
  if (page >= gm.gmRamPages() || gm.gmForeign()) return 0;
  return xxh64(gm.gmRamPtr() + (<usize>page << 12), 4096, seed);
}

export function dirty_create(pages: u32): i32 { return dirty.bitmapCreate(pages); }
export function dirty_enable(h: i32, on: i32): i32 { return dirty.bitmapSetEnabled(h, on != 0); }
export function dirty_enabled(h: i32): i32 {
  if (!dirty.bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  return dirty.bitmapEnabled(h) ? 1 : 0;
}
export function dirty_pages(h: i32): i32 {
  return dirty.bitmapValid(h) ? <i32>dirty.bitmapPages(h) : -Status.ERR_BAD_HANDLE;
}
export function dirty_mark(h: i32, page: u32): i32 { return dirty_mark_range(h, page, 1); }
export function dirty_mark_range(h: i32, first: u32, count: u32): i32 {
  if (!dirty.bitmapValid(h)) return Status.ERR_BAD_HANDLE;
  if (!dirty.bitmapEnabled(h)) return Status.ERR_DISABLED;
  if (first >= dirty.bitmapPages(h) || count > dirty.bitmapPages(h) - first) return Status.ERR_RANGE;
  dirty.bitmapMarkRange(h, first, count);
  return Status.OK;
}
export function dirty_test(h: i32, page: u32): i32 {
  if (!dirty.bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  return dirty.bitmapTest(h, page) ? 1 : 0;
}
/** Dirty pages in `h` (pages ≤ 2^30, so the count fits). */
export function dirty_count(h: i32): i32 {
  if (!dirty.bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  return <i32>dirty.bitmapCount(h);
}
/**
 * Get-and-clear from word `startWord` as (u32 firstPage, u32 pageCount)
 * ranges into the I/O buffer at `ioOffset`, at most `cap` (≥ 33) of them.
 * Returns the count or -status; dirty_cursor() tells where to resume.
 */
export function dirty_harvest_ranges(h: i32, startWord: u32, ioOffset: u32, cap: u32): i32 {
  if (cap < 33 || !vm.ioRangeOk(ioOffset, <u64>cap << 3)) return -Status.ERR_INVALID_ARG;
  return dirty.bitmapHarvestRanges(h, startWord, vm.ioPtr() + ioOffset, cap);
}
export function dirty_cursor(): u32 { return dirty.bitmapHarvestCursor(); }
export function dirty_words(h: i32): i32 {
  return dirty.bitmapValid(h) ? <i32>dirty.bitmapWords(h) : -Status.ERR_BAD_HANDLE;
}
/** OR `count` u64 words from the I/O buffer into `h` at word `firstWord`. */
export function dirty_merge_words(h: i32, firstWord: u32, ioOffset: u32, count: u32): i32 {
  if (!vm.ioRangeOk(ioOffset, <u64>count << 3)) return Status.ERR_INVALID_ARG;
  return dirty.bitmapMergeWords(h, firstWord, vm.ioPtr() + ioOffset, count);
}
export function dirty_merge(dst: i32, src: i32): i32 { return dirty.bitmapMerge(dst, src); }

export function hash_xxh64(ioOffset: u32, len: u32, seed: u64): u64 {
  if (!vm.ioRangeOk(ioOffset, len)) return 0;
  return xxh64(vm.ioPtr() + ioOffset, len, seed);
}

export function state_strict_build(on: i32): void { envSetStrictBuild(on != 0); }
/** Save the guest-memory layout to the start of the I/O buffer; returns the length or -status. */
export function gm_save(): i32 { return vm.gmSaveState(); }
/** Restore the guest-memory layout from `len` bytes at the start of the I/O buffer. */
export function gm_restore(len: u32): i32 { return vm.gmRestoreState(len); }
