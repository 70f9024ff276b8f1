// Exported migration hot loops (prefix mig_). Byte buffers are named by
// offsets into the calling instance's I/O buffer; results are statuses or
// counts/lengths ≥ 0 with -status on failure.

import { Status } from "../core/status";
import * as vm from "../core/vm";
import * as pg from "./pages";
import { gmTouchPages } from "../core/guestmem";
import * as mirror from "./mirror";

/** Allocate page tables and an XBZRLE cache of `cacheSlots` pages (0 = no delta). */
export function mig_init(cacheSlots: u32): i32 { return pg.migInit(cacheSlots); }
/** One statistic of the last encode/apply/compare (defs.ts Stat). */
export function mig_stat(i: i32): u32 { return pg.migStat(i); }

/** Encode pages into records at I/O offset `outOff` (≤ cap bytes); returns bytes written or -status. */
export function mig_encode(first: u32, count: u32, flags: u32, outOff: u32, cap: u32): i32 {
  if (!vm.ioRangeOk(outOff, cap)) return -Status.ERR_INVALID_ARG;
  return pg.migEncode(first, count, flags, vm.ioPtr() + outOff, cap);
}
/** Apply `len` bytes of untrusted records at I/O offset `inOff`, sent in `round`. */
export function mig_apply(inOff: u32, len: u32, round: u32): i32 {
  if (!vm.ioRangeOk(inOff, len)) return Status.ERR_INVALID_ARG;
  return pg.migApply(vm.ioPtr() + inOff, len, round);
}
/** Destination: zero RAM that is not zero and reset the tables. */
export function mig_dest_prepare(): i32 { return pg.migDestPrepare(); }
/** Re-hash pages from guest RAM into the table; mig_stat says how many changed and the first. */
export function mig_hash_range(first: u32, count: u32): i32 { return pg.migHashRange(first, count); }
/** Destination: pages outside holes never written by a record, up to `cap` u32 page numbers to `outOff`; count or -status. */
export function mig_unsent(first: u32, count: u32, outOff: u32, cap: u32): i32 {
  if (!vm.ioRangeOk(outOff, <u64>cap << 2)) return -Status.ERR_INVALID_ARG;
  return pg.migUnsent(first, count, vm.ioPtr() + outOff, cap);
}
/** Pages whose hole-ness differs between the layout envelope at `inOff` (`len` bytes) and this VM's layout, or -status. */
export function mig_layout_check(inOff: u32, len: u32): i32 {
  if (!vm.ioRangeOk(inOff, len)) return -Status.ERR_INVALID_ARG;
  return pg.migLayoutCheck(vm.ioPtr() + inOff, len);
}
/** Digest of guest memory: XXH64 over the page-hash table. */
export function mig_digest(seed: u64): u64 { return pg.migDigest(seed); }
/** Copy `count` table hashes from page `first` to I/O offset `outOff`. */
export function mig_table_read(first: u32, count: u32, outOff: u32): i32 {
  if (!vm.ioRangeOk(outOff, <u64>count << 3)) return Status.ERR_INVALID_ARG;
  return pg.migTableRead(first, count, vm.ioPtr() + outOff);
}
/** Round page `page` was last applied in (0xffff = never). */
export function mig_round_of(page: u32): u32 { return pg.migRoundOf(page); }
/** Compare peer hashes at `inOff` with the table; (page, round) pairs of mismatches to `outOff`. */
export function mig_compare(first: u32, count: u32, inOff: u32, outOff: u32, cap: u32): i32 {
  if (!vm.ioRangeOk(inOff, <u64>count << 3) || !vm.ioRangeOk(outOff, <u64>cap << 3)) return -Status.ERR_INVALID_ARG;
  return pg.migCompare(first, count, vm.ioPtr() + inOff, vm.ioPtr() + outOff, cap);
}
/** Checksum of a PAGES payload (`len` bytes at I/O offset `inOff`) over its round prefix and record headers, seeded with `seed`; the page data is covered by each record's page hash. */
export function mig_records_hash(inOff: u32, len: u32, seed: u64): u64 {
  if (!vm.ioRangeOk(inOff, len)) return 0;
  return pg.migRecordsHash(vm.ioPtr() + inOff, len, seed);
}
/** Destination: make pages [first, first+count) of own-placement RAM resident (a value-preserving write per page); returns the pages touched. */
export function mig_pretouch(first: u32, count: u32): u32 { return gmTouchPages(first, count); }
/**
 * RAM mirror sync: compare `count` pages staged at I/O offset `inOff` (an
 * emulator's RAM) with guest pages from `first`; copy each page that differs
 * into guest RAM and mark it dirty. Returns the pages copied, or -status.
 */
export function mig_mirror_sync(inOff: u32, first: u32, count: u32): i32 { return mirror.mirrorSync(inOff, first, count); }
