// Dirty-page bitmaps: one bit per 4 KiB page, in 64-bit words, plus a summary
// with one bit per block of eight words (512 pages), so a harvest visits only
// blocks that hold dirty pages: its cost follows the dirty set, not guest size.
//
// A VM has up to MAX_BITMAPS bitmaps, named by small integer handles. Handle 1
// is the guest-RAM bitmap made by vm_init; the host may create more (an
// embedder's own log to OR-merge, or a bitmap larger than RAM for benches).
// Bitmap descriptors live in the control block so vCPU workers see them.
//
// Concurrency (shared memory; all atomics are sequentially consistent):
// - a mark sets the page bit, then the block's summary bit;
// - a harvest clears a summary bit, then swaps each word of that block with 0.
// A mark racing a harvest therefore lands in this harvest (its word was swapped
// after the mark) or leaves its summary bit set for the next one; never nowhere.
// Writers mark *after* the write lands: a page harvested between the write and
// the mark is sent again in the next round.

import { Status } from "./status";
import {
  controlBlock, CB_BITMAPS, BITMAP_SLOT, MAX_BITMAPS, regionAlloc,
  counterAdd, Counter,
} from "./layout";

import { GUEST_BITMAP } from "./defs";
export { GUEST_BITMAP };

const BM_PTR: usize = 0;
const BM_PAGES: usize = 4;
const BM_FLAGS: usize = 8;
const BM_SUMMARY: usize = 12;
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
// @ts-ignore: decorator
@inline function summaryPtr(h: i32): usize { return <usize>load<u32>(slot(h) + BM_SUMMARY); }
// @ts-ignore: decorator
@inline function blockCount(words: u32): u32 { return (words + 7) >> 3; }
// @ts-ignore: decorator
@inline function summaryWords(words: u32): u32 { return (blockCount(words) + 63) >> 6; }
export function bitmapEnabled(h: i32): bool {
  return (atomic.load<u32>(slot(h) + BM_FLAGS) & BMF_ENABLED) != 0;
}

/** Create a bitmap for `pages` pages. Returns the handle (> 0) or -status. */
export function bitmapCreate(pages: u32): i32 {
  if (pages == 0 || pages > (1 << 30)) return -Status.ERR_INVALID_ARG;
  for (let h = 1; h <= MAX_BITMAPS; h++) {
    const s = slot(h);
    if (atomic.cmpxchg<u32>(s + BM_FLAGS, 0, 0x8000_0000) != 0) continue; // claim the slot
    const words = (pages + 63) >> 6;
    // Whole 64-byte blocks: harvest reads a block as four v128 lanes.
    const bytes = (<u64>words << 3) + 63 & ~<u64>63;
    const sbytes = (<u64>summaryWords(words) << 3) + 63 & ~<u64>63;
    const ptr = regionAlloc(bytes + sbytes, 64);
    if (ptr == 0) { atomic.store<u32>(s + BM_FLAGS, 0); return -Status.ERR_NO_MEMORY; }
    store<u32>(s + BM_PTR, <u32>ptr);
    store<u32>(s + BM_SUMMARY, <u32>(ptr + <usize>bytes));
    store<u32>(s + BM_PAGES, pages);
    atomic.store<u32>(s + BM_FLAGS, BMF_LIVE);
    return h;
  }
  return -Status.ERR_NO_MEMORY;
}

/** Free slot `h` again (vm_init undoing a bitmap it could not finish the VM around). Its region is the caller's to undo. */
export function bitmapRelease(h: i32): void {
  if (h >= 1 && h <= MAX_BITMAPS) atomic.store<u32>(slot(h) + BM_FLAGS, 0);
}

/** Turn tracking on (the bitmap starts clean) or off (marks are dropped). */
export function bitmapSetEnabled(h: i32, on: bool): i32 {
  if (!bitmapValid(h)) return Status.ERR_BAD_HANDLE;
  if (on) {
    const words = bitmapWords(h);
    memory.fill(bitmapPtr(h), 0, <usize>words << 3);
    memory.fill(summaryPtr(h), 0, <usize>summaryWords(words) << 3);
    atomic.or<u32>(slot(h) + BM_FLAGS, BMF_ENABLED);
  } else {
    atomic.and<u32>(slot(h) + BM_FLAGS, ~BMF_ENABLED);
  }
  return Status.OK;
}

/** Set the summary bit of the block holding word `wi` (after the word's bits are set). */
// @ts-ignore: decorator
@inline function markSummary(summary: usize, wi: u32): void {
  const b = wi >> 3;
  const sw = summary + (<usize>(b >> 6) << 3);
  const bit = <u64>1 << (b & 63);
  if ((atomic.load<u64>(sw) & bit) == 0) atomic.or<u64>(sw, bit);
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
  const summary = summaryPtr(h);
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
    // The page bit is set (by us or by an earlier mark that also owes the summary bit).
    markSummary(summary, p >> 6);
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

/** Append the runs of set bits in word `i` (already swapped out) to the range output. */
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

const MODE_RANGES: i32 = 0;
const MODE_WORDS: i32 = 1;

/**
 * Visit the dirty blocks from the block holding `startWord`, swapping each
 * non-zero word with zero and appending it to the output, until done or the
 * output has no room for another word. Returns the number of entries; the
 * cursor is the first word of the block to resume at (its summary bit and
 * those of all blocks not yet visited are left set).
 */
function harvest(h: i32, startWord: u32, out: usize, cap: u32, mode: i32): i32 {
  if (!bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return -Status.ERR_DISABLED;
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  const words = bitmapWords(h);
  const blocks = blockCount(words);
  hOut = out; hCount = 0; hOpenStart = 0; hOpenEnd = 0;
  // Room for one more word: ≤ 32 ranges plus the final flush, or one word entry.
  const room = mode == MODE_RANGES ? cap - 33 : cap - 1;
  const z = i64x2.splat(0);
  let b = startWord >> 3;
  let stopBlock: u32 = blocks; // == blocks ⇒ ran to the end
  // Bounded by the summary size; each step consumes one summary word.
  while (b < blocks) {
    const sw = summary + (<usize>(b >> 6) << 3);
    if (atomic.load<u64>(sw) == 0) { b = (b | 63) + 1; continue; }
    // Take the bits of blocks ≥ b in this summary word; leave lower ones alone.
    const ours: u64 = ~((<u64>1 << (b & 63)) - 1);
    let taken = atomic.and<u64>(sw, ~ours) & ours;
    const wordBase = b & ~63;
    while (taken != 0) {
      const blk = wordBase + <u32>ctz<u64>(taken);
      // Invariant: blk < blocks, and the region is whole blocks, so p + 64 is inside it.
      const p = base + (<usize>blk << 6);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      let m = i64x2.bitmask(i64x2.ne(v0, z)) | (i64x2.bitmask(i64x2.ne(v1, z)) << 2)
        | (i64x2.bitmask(i64x2.ne(v2, z)) << 4) | (i64x2.bitmask(i64x2.ne(v3, z)) << 6);
      while (m != 0) {
        if (hCount > room) break;
        const wi = (blk << 3) + <u32>ctz<i32>(m);
        const bits = atomic.xchg<u64>(base + (<usize>wi << 3), 0);
        if (mode == MODE_RANGES) {
          takeRuns(wi, bits);
        } else if (bits != 0) {
          const e = out + (<usize>hCount << 4);
          store<u32>(e, wi);
          store<u32>(e, 0, 4);
          store<u64>(e, bits, 8);
          hCount++;
        }
        m &= m - 1;
      }
      if (m != 0) {
        // Out of room: give this block and the untouched ones back to the summary.
        atomic.or<u64>(sw, taken);
        stopBlock = blk;
        break;
      }
      taken &= taken - 1;
    }
    if (stopBlock != blocks) break;
    b = wordBase + 64;
  }
  if (mode == MODE_RANGES) emitOpen();
  harvestCursor = stopBlock == blocks ? words : stopBlock << 3;
  return <i32>hCount;
}

/**
 * Get-and-clear as coalesced page ranges: (u32 firstPage, u32 pageCount)
 * pairs written to `out`, at most `cap` (≥ 33) of them, starting at the block
 * (eight words) holding `startWord`. A run that crosses word or block
 * boundaries comes out as one range. Returns the number of ranges; the cursor
 * says where to resume (the word count once all is harvested).
 */
export function bitmapHarvestRanges(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  return harvest(h, startWord, out, cap, MODE_RANGES);
}

/**
 * Get-and-clear as raw words: (u32 wordIndex, u32 0, u64 bits) entries for
 * each non-zero word, at most `cap`, starting like bitmapHarvestRanges.
 */
export function bitmapHarvestWords(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  return harvest(h, startWord, out, cap, MODE_WORDS);
}

/** OR `count` words at `src` into bitmap `h` starting at word `firstWord`. */
export function bitmapMergeWords(h: i32, firstWord: u32, src: usize, count: u32): i32 {
  if (!bitmapValid(h)) return Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return Status.ERR_DISABLED;
  const words = bitmapWords(h);
  if (firstWord > words || count > words - firstWord) return Status.ERR_RANGE;
  const base = bitmapPtr(h) + (<usize>firstWord << 3);
  const summary = summaryPtr(h);
  // The last word may cover pages past the end: keep those bits clear.
  const tailBits = bitmapPages(h) & 63;
  for (let i: u32 = 0; i < count; i++) {
    let v = load<u64>(src + (<usize>i << 3));
    if (tailBits != 0 && firstWord + i == words - 1) v &= (<u64>1 << tailBits) - 1;
    if (v != 0) {
      atomic.or<u64>(base + (<usize>i << 3), v);
      markSummary(summary, firstWord + i);
    }
  }
  return Status.OK;
}

/** OR bitmap `src` into bitmap `dst` (same page count). */
export function bitmapMerge(dst: i32, src: i32): i32 {
  if (!bitmapValid(dst) || !bitmapValid(src)) return Status.ERR_BAD_HANDLE;
  if (bitmapPages(dst) != bitmapPages(src)) return Status.ERR_INVALID_ARG;
  return bitmapMergeWords(dst, 0, bitmapPtr(src), bitmapWords(src));
}
