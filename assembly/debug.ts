// Exports of the debug build only (build/vmdev.debug.wasm, the build the
// tests run): probes of internals that the tests drive directly and no host
// code calls. They are not part of the ABI: the release builds do not have
// them and test/abi pins the release surface. scripts/build-wasm.mjs
// compiles this file as a second entry of the debug target.

import { Status, STATUS_MAX } from "./core/status";
import * as vm from "./core/vm";
import * as dirty from "./core/dirty";
import * as pg from "./migration/pages";
import { deltaEncode, deltaDecode, PAGE } from "./migration/delta";
import { envPeekKind } from "./core/state";
import { LC_TABLES, LC_SLOTS, lcHold, lcLeave } from "./core/lifecycle";

/** The largest status value (the host has it as CoreDefs.STATUS_MAX). */
export function status_max(): i32 { return STATUS_MAX; }

/** The kind in the envelope header of the first `len` bytes of the I/O buffer, or -status (the header check of envOpen). */
export function state_peek_kind(len: u32): i32 {
  if (len > vm.ioSize()) return -Status.ERR_STATE_LENGTH;
  return envPeekKind(vm.ioPtr(), len);
}

/** Get-and-clear of bitmap `h` as (u32 word, u32 0, u64 bits) entries; see dirty_harvest_ranges. */
export function dirty_harvest_words(h: i32, startWord: u32, ioOffset: u32, cap: u32): i32 {
  if (cap == 0 || !vm.ioRangeOk(ioOffset, <u64>cap << 4)) return -Status.ERR_INVALID_ARG;
  return dirty.bitmapHarvestWords(h, startWord, vm.ioPtr() + ioOffset, cap);
}

/** XXH64 of a zero page (seed 0): the hash a zero-marker record carries. */
export function mig_zero_hash(): u64 { return pg.migZeroHash(); }
/** 1 if guest page `page` is all zeros, 0 if not, -status (range, hole, host) otherwise. */
export function mig_page_is_zero(page: u32): i32 { return pg.migPageIsZero(page); }
/** Number of zero pages in [first, first+count), holes skipped; -status on error. */
export function mig_count_zero(first: u32, count: u32): i32 { return pg.migCountZero(first, count); }

/** XBZRLE-encode the page at `newOff` against `oldOff` into `outOff` (≤ cap); length or -1 if larger. */
export function mig_delta_encode(oldOff: u32, newOff: u32, outOff: u32, cap: u32): i32 {
  if (!vm.ioRangeOk(oldOff, PAGE) || !vm.ioRangeOk(newOff, PAGE) || !vm.ioRangeOk(outOff, cap)) return -Status.ERR_INVALID_ARG;
  return deltaEncode(vm.ioPtr() + oldOff, vm.ioPtr() + newOff, vm.ioPtr() + outOff, cap);
}
/** Apply an untrusted delta of `len` bytes at `inOff` to the page at `pageOff`; untouched on error. */
export function mig_delta_decode(pageOff: u32, inOff: u32, len: u32): i32 {
  if (!vm.ioRangeOk(pageOff, PAGE) || !vm.ioRangeOk(inOff, len)) return Status.ERR_INVALID_ARG;
  return deltaDecode(vm.ioPtr() + pageOff, vm.ioPtr() + inOff, len);
}

/**
 * Take a reference on device `h` of lifecycle table `table` (core/lifecycle.ts
 * LC_*), as an entry point in progress on another thread would hold it: 1 if
 * taken, 0 if refused. Tests pair it with lc_release.
 */
export function lc_hold(table: u32, h: i32): i32 {
  if (table >= LC_TABLES) return 0;
  return lcHold(table, h, LC_SLOTS) != 0 ? 1 : 0;
}
/** Drop a reference lc_hold took. */
export function lc_release(table: u32, h: i32): void {
  if (table < LC_TABLES && h > 0 && h < LC_SLOTS) lcLeave(table, h);
}
