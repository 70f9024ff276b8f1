// RAM mirror sync: the dirty log of a guest whose CPU writes vmdev cannot
// see (an emulator's CPU writing its own memory). The host copies a chunk of
// the emulator's RAM into the I/O buffer; this compares it with the same
// pages of this instance's own guest RAM (the mirror), copies each page that
// differs into the mirror and marks it dirty through the guest-memory port's
// marking (markWritten), so the pre-copy harvest sees it like any device write.

import { Status } from "../core/status";
import { PAGE_SHIFT, PAGE_SIZE } from "../core/defs";
import * as vm from "../core/vm";
import { gmForeign, gmRamPages, gmRamPtr, gmReady, markWritten } from "../core/guestmem";

/** Whether the 4 KiB pages at `a` and `b` differ (v128 lanes, 64 bytes per step). */
// @ts-ignore: decorator
@inline function pageDiffers(a: usize, b: usize): bool {
  for (let off: usize = 0; off < PAGE_SIZE; off += 64) {
    const x = v128.or(
      v128.or(v128.xor(v128.load(a + off), v128.load(b + off)), v128.xor(v128.load(a + off, 16), v128.load(b + off, 16))),
      v128.or(v128.xor(v128.load(a + off, 32), v128.load(b + off, 32)), v128.xor(v128.load(a + off, 48), v128.load(b + off, 48))),
    );
    if (v128.any_true(x)) return true;
  }
  return false;
}

/**
 * Compare `count` pages at I/O offset `inOff` with guest pages from `first`;
 * copy those that differ into guest RAM, marked dirty. Returns the pages
 * copied, or -status.
 */
export function mirrorSync(inOff: u32, first: u32, count: u32): i32 {
  if (!gmReady() || gmForeign()) return -Status.ERR_NOT_READY;
  const pages = gmRamPages();
  if (first > pages || count > pages - first || count > 0x7fff_ffff >> PAGE_SHIFT) return -Status.ERR_RANGE;
  if (!vm.ioRangeOk(inOff, <u64>count << PAGE_SHIFT)) return -Status.ERR_INVALID_ARG;
  // Both ranges validated above: [src, src + count pages) lies in the I/O
  // buffer, [dst, dst + count pages) in own guest RAM.
  const src = vm.ioPtr() + inOff;
  const dst = gmRamPtr() + (<usize>first << PAGE_SHIFT);
  let changed: i32 = 0;
  for (let i: u32 = 0; i < count; i++) {
    const s = src + (<usize>i << PAGE_SHIFT), d = dst + (<usize>i << PAGE_SHIFT);
    if (!pageDiffers(s, d)) continue;
    memory.copy(d, s, PAGE_SIZE);
    markWritten(<u64>(first + i) << PAGE_SHIFT, PAGE_SIZE);
    changed++;
  }
  return changed;
}
