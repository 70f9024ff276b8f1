// Exported functions of the machine runtime: the vCPU synthetic workload, a
// whole-RAM hash (the write-lock invariant check and migration's final
// compare). The memtest device has its own room, assembly/memtest/.

import { Status } from "../core/status";
import { gmRamPtr, gmRamPages, gmForeign, gmReady } from "../core/guestmem";
import { xxh64 } from "../core/hash";
import { workloadSeed, workloadRun, workloadStreamGet, workloadStreamSet } from "./workload";
import { clockSave, clockRestore, clockRestored } from "./clock";

/** Reseed this instance's workload stream. */
export function vcpu_seed(seed: u32): void { workloadSeed(seed); }

/** Field `field` (MachineDefs.STREAM_*) of this instance's workload stream; 0 for an unknown field. A thread running several vCPUs on one instance saves each vCPU's stream with it after the vCPU's slice. */
export function vcpu_stream_get(field: u32): u32 { return workloadStreamGet(field); }

/** Set field `field` (MachineDefs.STREAM_*) of this instance's workload stream (loading a vCPU's stream before its slice); ERR_INVALID_ARG for an unknown field or a PRNG state of 0. */
export function vcpu_stream_set(field: u32, value: u32): i32 { return workloadStreamSet(field, value); }

/**
 * One batch of synthetic guest writes (pattern 0 uniform, 1 hot set, 2
 * sequential) into pages [firstPage, firstPage+pageCount). Returns the writes
 * that landed or -status.
 */
export function vcpu_dirty(pattern: u32, firstPage: u32, pageCount: u32, hotPages: u32, writes: u32, writeBytes: u32, tag: u32): i32 {
  if (!gmReady()) return -Status.ERR_NOT_READY;
  return workloadRun(pattern, firstPage, pageCount, hotPages, writes, writeBytes, tag);
}

/** XXH64 of pages [firstPage, firstPage+count) of own-placement guest RAM; 0 if the range is bad or RAM is foreign. */
export function mach_ram_hash(firstPage: u32, count: u32, seed: u64): u64 {
  const pages = gmRamPages();
  if (!gmReady() || gmForeign() || firstPage > pages || count > pages - firstPage) return 0;
  return xxh64(gmRamPtr() + (<usize>firstPage << 12), <usize>count << 12, seed);
}


/** Save the guest clock (guest ns) as an envelope at the start of the I/O buffer; length or -status. */
export function mach_clock_save(guestNs: u64): i32 { return clockSave(guestNs); }
/** Validate a guest-clock blob of `len` bytes in the I/O buffer; on OK read the time with mach_clock_restored. */
export function mach_clock_restore(len: u32): i32 { return clockRestore(len); }
/** Guest ns carried by the last blob mach_clock_restore accepted. */
export function mach_clock_restored(): u64 { return clockRestored(); }
