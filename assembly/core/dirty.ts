// Dirty-page bitmaps: one bit per 4 KiB page, in 64-bit words.
//
// A VM has up to MAX_BITMAPS bitmaps, named by small integer handles. Handle 1
// is the guest-RAM bitmap made by vm_init; the host may create more (an
// embedder's own log to OR-merge, or a bitmap larger than RAM for benches).
// Bitmap descriptors live in the control block so vCPU workers see them.
//
// Concurrency (shared memory): marks are atomic ORs and harvest swaps each
// non-zero word with 0 atomically, so a mark racing a harvest lands either in
// this harvest or the next one, never nowhere. Writers mark *after* the write
// lands: a page harvested between the write and the mark is sent again in the
// next round.

import { Status } from "./status";
import {
  controlBlock, CB_BITMAPS, BITMAP_SLOT, MAX_BITMAPS, regionAlloc,
  counterAdd, Counter,
} from "./layout";

export const GUEST_BITMAP: i32 = 1;

const BM_PTR: usize = 0;
const BM_PAGES: usize = 4;
const BM_FLAGS: usize = 8;
const BMF_LIVE: u32 = 1;
const BMF_ENABLED: u32 = 2;

// @ts-ignore: decorator
@inline function slot(h: i32): usize {
  return controlBlock() + CB_BITMAPS + <usize>(h - 1) * BITMAP_SLOT;
}

/** True if `h` names a live bitmap. */
export function bitmapValid(h: i32): bool {
  if (h >= 1 && h <= MAX_BITMAPS && (atomic.load<u32>(slot(h) + BM_FLAGS) & BMF_LIVE) != 0) return true;
  counterAdd(Counter.BAD_HANDLE, 1);
  return false;
}

export function bitmapPages(h: i32): u32 { return load<u32>(slot(h) + BM_PAGES); }
export function bitmapWords(h: i32): u32 { return (load<u32>(slot(h) + BM_PAGES) + 63) >> 6; }
export function bitmapPtr(h: i32): usize { return <usize>load<u32>(slot(h) + BM_PTR); }
export function bitmapEnabled(h: i32): bool {
  return (atomic.load<u32>(slot(h) + BM_FLAGS) & BMF_ENABLED) != 0;
}

/** Create a bitmap for `pages` pages. Returns the handle (> 0) or -status. */
export function bitmapCreate(pages: u32): i32 {
  if (pages == 0 || pages > (1 << 30)) return -Status.ERR_INVALID_ARG;
  for (let h = 1; h <= MAX_BITMAPS; h++) {
    const s = slot(h);
    if (atomic.cmpxchg<u32>(s + BM_FLAGS, 0, 0x8000_0000) != 0) continue; // claim the slot
    const words = <u64>((pages + 63) >> 6);
    // Whole 64-byte blocks let harvest scan eight words per step with SIMD.
    const bytes = ((words << 3) + 63) & ~<u64>63;
    const ptr = regionAlloc(bytes, 64);
    if (ptr == 0) { atomic.store<u32>(s + BM_FLAGS, 0); return -Status.ERR_NO_MEMORY; }
    store<u32>(s + BM_PTR, <u32>ptr);
    store<u32>(s + BM_PAGES, pages);
    atomic.store<u32>(s + BM_FLAGS, BMF_LIVE);
    return h;
  }
  return -Status.ERR_NO_MEMORY;
}

/** Turn tracking on (the bitmap starts clean) or off (marks are dropped). */
export function bitmapSetEnabled(h: i32, on: bool): i32 {
  if (!bitmapValid(h)) return Status.ERR_BAD_HANDLE;
  if (on) {
    memory.fill(bitmapPtr(h), 0, <usize>bitmapWords(h) << 3);
    atomic.or<u32>(slot(h) + BM_FLAGS, BMF_ENABLED);
  } else {
    atomic.and<u32>(slot(h) + BM_FLAGS, ~BMF_ENABLED);
  }
  return Status.OK;
}

/**
 * Mark pages [first, first+count) dirty. Pages past the bitmap are ignored
 * (and counted): a mark is a hint, never an error for the writer.
 */
export function bitmapMarkRange(h: i32, first: u32, count: u32): void {
  if (!bitmapEnabled(h)) return;
  const pages = bitmapPages(h);
  if (first >= pages) { counterAdd(Counter.DIRTY_MARKS_IGNORED, 1); return; }
  let end = <u64>first + <u64>count;
  if (end > <u64>pages) { counterAdd(Counter.DIRTY_MARKS_IGNORED, 1); end = <u64>pages; }
  const base = bitmapPtr(h);
  let p = first;
  const last = <u32>end;
  // Bounded by the bitmap size: p advances by ≥ 1 page per iteration.
  while (p < last) {
    const bit = p & 63;
    const n = min<u32>(64 - bit, last - p);
    const mask: u64 = n == 64 ? <u64>-1 : ((<u64>1 << n) - 1) << bit;
    const w = base + (<usize>(p >> 6) << 3);
    // Test first: a hot page is usually already marked and a plain load is cheaper than an RMW.
    if ((load<u64>(w) & mask) != mask) atomic.or<u64>(w, mask);
    p += n;
  }
}

// @ts-ignore: decorator
@inline export function bitmapMarkPage(h: i32, page: u32): void {
  bitmapMarkRange(h, page, 1);
}

/** Number of dirty pages (population count). */
export function bitmapCount(h: i32): u64 {
  const base = bitmapPtr(h);
  const words = bitmapWords(h);
  let n: u64 = 0;
  for (let i: u32 = 0; i < words; i++) n += popcnt<u64>(load<u64>(base + (<usize>i << 3)));
  return n;
}

/** Test one page (for tests and the host's per-page queries). */
export function bitmapTest(h: i32, page: u32): bool {
  if (page >= bitmapPages(h)) return false;
  return (load<u64>(bitmapPtr(h) + (<usize>(page >> 6) << 3)) >> (page & 63) & 1) != 0;
}

/**
 * Index of the first non-zero word at or after `from`, or `words` if none.
 * The bitmap is a whole number of 16-byte lanes (bitmapCreate), so v128 loads
 * up to roundUp(words, 2) stay inside the region.
 */
export function nextDirtyWord(base: usize, from: u32, words: u32): u32 {
  let i = from;
  if (i & 1) {
    if (load<u64>(base + (<usize>i << 3)) != 0) return i;
    i++;
  }
  // Four lanes at a time: a sparse bitmap is almost all zero and this loop is memory-bound.
  while (i + 8 <= words) {
    const p = base + (<usize>i << 3);
    const v = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
    if (v128.any_true(v)) break;
    i += 8;
  }
  while (i < words) {
    if (load<u64>(base + (<usize>i << 3)) != 0) return i;
    i++;
  }
  return words;
}

/** Where the last harvest call stopped: the next word to scan, or the word count when done. */
let harvestCursor: u32 = 0;
export function bitmapHarvestCursor(): u32 { return harvestCursor; }

// Output state of one harvest call (module globals keep the inlined helpers cheap).
let hOut: usize = 0;
let hCount: u32 = 0;
let hOpenStart: u32 = 0;
let hOpenEnd: u32 = 0; // [hOpenStart, hOpenEnd) is the range still growing; hOpenEnd == 0 ⇒ none

// @ts-ignore: decorator
@inline function emitOpen(): void {
  if (hOpenEnd != 0) {
    store<u32>(hOut + (<usize>hCount << 3), hOpenStart);
    store<u32>(hOut + (<usize>hCount << 3), hOpenEnd - hOpenStart, 4);
    hCount++;
  }
}

/** Append the runs of set bits in word `i` (already swapped out) to the output. */
// @ts-ignore: decorator
@inline function takeRuns(i: u32, bits: u64): void {
  let w = bits;
  const pageBase = i << 6;
  // Each iteration consumes one run of set bits: at most 32 per word.
  while (w != 0) {
    const start = <u32>ctz<u64>(w);
    const ones = <u32>ctz<u64>(~(w >> start));
    const runStart = pageBase + start;
    if (hOpenEnd == runStart) {
      hOpenEnd = runStart + ones;
    } else {
      emitOpen();
      hOpenStart = runStart;
      hOpenEnd = runStart + ones;
    }
    const used = start + ones;
    w = used >= 64 ? 0 : w & ~((<u64>1 << used) - 1);
  }
}

/**
 * Get-and-clear as coalesced page ranges. Scans words from `startWord`, swaps
 * each non-zero word with zero atomically and writes (u32 firstPage, u32
 * pageCount) pairs to `out`, at most `cap` (≥ 33) of them. A run that ends at
 * a word boundary continues into the next word. Returns the number of ranges;
 * the cursor says where to resume (the word count once all is harvested).
 */
export function bitmapHarvestRanges(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  if (!bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return -Status.ERR_DISABLED;
  const base = bitmapPtr(h);
  const words = bitmapWords(h);
  hOut = out; hCount = 0; hOpenStart = 0; hOpenEnd = 0;
  // A word adds at most 32 ranges and the final flush one more.
  const room = cap - 33;
  let i = startWord;
  // Head: single words up to a 64-byte block boundary.
  while (i < words && (i & 7) != 0) {
    if (hCount > room) break;
    if (load<u64>(base + (<usize>i << 3)) != 0) takeRuns(i, atomic.xchg<u64>(base + (<usize>i << 3), 0));
    i++;
  }
  // Blocks of eight words: bitmapCreate rounds the region up to whole blocks,
  // and words past `words` in the last block are always zero. A zero block
  // costs one branch; a dirty one visits only its non-zero words.
  if ((i & 7) == 0) {
    while (i < words) {
      const p = base + (<usize>i << 3);
      const v = v128.or(v128.or(v128.load(p), v128.load(p, 16)), v128.or(v128.load(p, 32), v128.load(p, 48)));
      if (!v128.any_true(v)) { i += 8; continue; }
      // One bit per non-zero word of the block; visit only those.
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      const z = i64x2.splat(0);
      let m = i64x2.bitmask(i64x2.ne(v0, z)) | (i64x2.bitmask(i64x2.ne(v1, z)) << 2)
        | (i64x2.bitmask(i64x2.ne(v2, z)) << 4) | (i64x2.bitmask(i64x2.ne(v3, z)) << 6);
      let stopAt: u32 = 0xffff_ffff;
      while (m != 0) {
        const wi = i + <u32>ctz<i32>(m);
        // Out of room: resume at this word next call (the cursor may land mid-block).
        if (hCount > room) { stopAt = wi; break; }
        takeRuns(wi, atomic.xchg<u64>(base + (<usize>wi << 3), 0));
        m &= m - 1;
      }
      if (stopAt != 0xffff_ffff) { i = stopAt; break; }
      i += 8;
    }
  }
  emitOpen();
  harvestCursor = min<u32>(i, words);
  return <i32>hCount;
}

/**
 * Get-and-clear as raw words: writes (u32 wordIndex, u32 0, u64 bits) entries
 * for each non-zero word from `startWord`, at most `cap`. Returns the count.
 */
export function bitmapHarvestWords(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  if (!bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return -Status.ERR_DISABLED;
  const base = bitmapPtr(h);
  const words = bitmapWords(h);
  let n: u32 = 0;
  let i = startWord;
  while (n < cap) {
    i = nextDirtyWord(base, i, words);
    if (i >= words) break;
    const bits = atomic.xchg<u64>(base + (<usize>i << 3), 0);
    const e = out + (<usize>n << 4);
    store<u32>(e, i);
    store<u32>(e, 0, 4);
    store<u64>(e, bits, 8);
    n++;
    i++;
  }
  harvestCursor = i;
  return <i32>n;
}

/** OR `count` words at `src` into bitmap `h` starting at word `firstWord`. */
export function bitmapMergeWords(h: i32, firstWord: u32, src: usize, count: u32): i32 {
  if (!bitmapValid(h)) return Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return Status.ERR_DISABLED;
  const words = bitmapWords(h);
  if (firstWord > words || count > words - firstWord) return Status.ERR_RANGE;
  const base = bitmapPtr(h) + (<usize>firstWord << 3);
  // The last word may cover pages past the end: keep those bits clear.
  const tailBits = bitmapPages(h) & 63;
  for (let i: u32 = 0; i < count; i++) {
    let v = load<u64>(src + (<usize>i << 3));
    if (tailBits != 0 && firstWord + i == words - 1) v &= (<u64>1 << tailBits) - 1;
    if (v != 0) atomic.or<u64>(base + (<usize>i << 3), v);
  }
  return Status.OK;
}

/** OR bitmap `src` into bitmap `dst` (same page count). */
export function bitmapMerge(dst: i32, src: i32): i32 {
  if (!bitmapValid(dst) || !bitmapValid(src)) return Status.ERR_BAD_HANDLE;
  if (bitmapPages(dst) != bitmapPages(src)) return Status.ERR_INVALID_ARG;
  return bitmapMergeWords(dst, 0, bitmapPtr(src), bitmapWords(src));
}
