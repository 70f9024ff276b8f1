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
// Writers mark *after* the write lands, with the RMW every time (see
// bitmapMarkRange): a page harvested between the write and the mark is sent
// again in the next round.

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
@inline export function summaryPtr(h: i32): usize { return <usize>load<u32>(slot(h) + BM_SUMMARY); }
// @ts-ignore: decorator
@inline function blockCount(words: u32): u32 { return (words + 7) >> 3; }
// @ts-ignore: decorator
@inline export function summaryWords(words: u32): u32 { return (blockCount(words) + 63) >> 6; }
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
    // Always the RMW, never "skip if a load sees the bit set": the writer's
    // data store is a plain store, and a later load may be performed before
    // an earlier store to another location leaves the store buffer (Intel SDM
    // vol. 3 §9.2.3.4). A load that sees the bit set can then precede a
    // harvest's swap-to-zero while the data lands after the harvest copied the
    // page: a dirty page with its bit clear. The seq-cst RMW is the writer's
    // release: a harvest swap that reads the bit from it synchronizes-with it,
    // so the copy that follows sees the data (WebAssembly threads: seq-cst
    // atomics, the JS memory model's synchronizes-with); a swap ordered before
    // it leaves the bit set for the next round. (A fence before a plain test
    // would keep a shared line shared, but atomic.fence is not emitted by our
    // compiler; bench/dirty-mark.bench.ts times the RMW.)
    atomic.or<u64>(w, mask);
    // The page bit is set; the summary test may skip: its seq-cst load follows
    // our seq-cst RMW, so a harvest that clears the summary after the load
    // swaps the word after our OR, and one before it left a later OR's bit set.
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

// Output state of a raw-words harvest call.
let hOut: usize = 0;
let hCount: u32 = 0;

/**
 * Visit the dirty blocks from the block holding `startWord`, swapping each
 * non-zero word with zero and appending (u32 wordIndex, u32 0, u64 bits) to
 * the output, until done or the output is full. Returns the number of
 * entries; the cursor is the first word of the block to resume at (its
 * summary bit and those of all blocks not yet visited are left set).
 */
function harvestWords(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  if (!bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return -Status.ERR_DISABLED;
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  const words = bitmapWords(h);
  const blocks = blockCount(words);
  hOut = out; hCount = 0;
  const room = cap - 1;
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
      let m = blockMask(p, z);
      while (m != 0) {
        if (hCount > room) break;
        const wi = (blk << 3) + <u32>ctz<i32>(m);
        const bits = atomic.xchg<u64>(base + (<usize>wi << 3), 0);
        if (bits != 0) {
          const e = hOut + (<usize>hCount << 4);
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
  harvestCursor = stopBlock == blocks ? words : stopBlock << 3;
  return <i32>hCount;
}

/** Bit i set ⇔ word i of the 64-byte block at `p` is non-zero (four v128 loads). */
// @ts-ignore: decorator
@inline function blockMask(p: usize, z: v128): u32 {
  const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
  return i64x2.bitmask(i64x2.ne(v0, z)) | (i64x2.bitmask(i64x2.ne(v1, z)) << 2)
    | (i64x2.bitmask(i64x2.ne(v2, z)) << 4) | (i64x2.bitmask(i64x2.ne(v3, z)) << 6);
}

/** No range open: no page number equals it (pages ≤ 2^30). */
const NO_RANGE: u32 = 0xffff_ffff;

/**
 * Get-and-clear as coalesced page ranges: (u32 firstPage, u32 pageCount)
 * pairs written to `out`, at most `cap` (≥ 33) of them, starting at the block
 * (eight words) holding `startWord`. A run that crosses word or block
 * boundaries comes out as one range. Returns the number of ranges; the cursor
 * says where to resume (the word count once all is harvested).
 *
 * Cost follows the dirty set: clean summary words are skipped 64 blocks at a
 * time; the taken blocks of a summary word are read eight at a time with
 * plain v128 loads (no locked instruction between them, so their cache
 * misses overlap), then each non-zero word is swapped with zero and its runs are
 * found from its edges with count-trailing-zeros, one step per run, written
 * straight to the output (a run continuing the previous word's last run
 * extends that range in place).
 */
export function bitmapHarvestRanges(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  if (!bitmapValid(h)) return -Status.ERR_BAD_HANDLE;
  if (!bitmapEnabled(h)) return -Status.ERR_DISABLED;
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  const words = bitmapWords(h);
  const blocks = blockCount(words);
  // A word adds at most 32 ranges: checking n ≤ cap - 32 before each word keeps n ≤ cap (cap ≥ 33).
  const room = cap - 32;
  const z = i64x2.splat(0);
  let n: u32 = 0;
  let openEnd: u32 = NO_RANGE; // one past range n-1 while the next word may extend it
  let b = startWord >> 3;
  let stopBlock: u32 = blocks; // == blocks ⇒ ran to the end
  // Bounded by the summary size; each step consumes one summary word.
  while (b < blocks) {
    const sw = summary + (<usize>(b >> 6) << 3);
    if (atomic.load<u64>(sw) == 0) { b = (b | 63) + 1; continue; }
    // Take the bits of blocks ≥ b in this summary word; leave lower ones alone.
    const ours: u64 = ~((<u64>1 << (b & 63)) - 1);
    const taken = atomic.and<u64>(sw, ~ours) & ours;
    const wordBase = b & ~63;
    let t = taken;
    // Eight taken blocks at a time (each step consumes ≥ 1 bit of t).
    while (t != 0) {
      // Pass 1: which words of each block are non-zero, the eight masks packed in one u64.
      let g = t;
      let masks: u64 = 0;
      for (let k: u64 = 0; k < 64 && g != 0; k += 8) {
        // Invariant: wordBase + ctz(g) < blocks (summary bits exist only for real blocks), and the region is whole blocks.
        masks |= <u64>blockMask(base + (<usize>(wordBase + <u32>ctz<u64>(g)) << 6), z) << k;
        g &= g - 1;
      }
      // Pass 2: swap those words out and emit their runs.
      while (t != g) {
        const blk = wordBase + <u32>ctz<u64>(t);
        let m = <u32>masks & 0xff;
        masks >>= 8;
        // At most eight words per block.
        while (m != 0) {
          if (n > room) break;
          const wi = (blk << 3) + <u32>ctz<u32>(m);
          const w = atomic.xchg<u64>(base + (<usize>wi << 3), 0);
          const pb = wi << 6;
          let st = w & ~(w << 1); // first bit of each run
          let en = w & ~(w >> 1); // last bit of each run
          if ((w & 1) != 0 && openEnd == pb) {
            // The previous word's last run reached bit 63: this word's first run extends it (n ≥ 1 here).
            const c = out + (<usize>(n - 1) << 3) + 4;
            store<u32>(c, load<u32>(c) + <u32>ctz<u64>(en) + 1);
            st &= st - 1;
            en &= en - 1;
          }
          // Most words hold one or two runs: take two without a branch (a
          // step with no run left writes the slot n will fill next and does
          // not count it; such a step happens only with n ≤ room + 1 < cap).
          for (let k = 0; k < 2; k++) {
            const s = <u32>ctz<u64>(st);
            const o = out + (<usize>n << 3);
            store<u32>(o, pb + s);
            store<u32>(o, <u32>ctz<u64>(en) - s + 1, 4);
            n += <u32>(st != 0);
            st &= st - 1;
            en &= en - 1;
          }
          // The rest, one step per run: at most 30 more per word.
          while (st != 0) {
            const s = <u32>ctz<u64>(st);
            const o = out + (<usize>n << 3);
            store<u32>(o, pb + s);
            store<u32>(o, <u32>ctz<u64>(en) - s + 1, 4);
            n++;
            st &= st - 1;
            en &= en - 1;
          }
          openEnd = (w >> 63) != 0 ? pb + 64 : NO_RANGE;
          m &= m - 1;
        }
        if (m != 0) {
          // Out of room: give this block and the untouched ones back to the summary.
          atomic.or<u64>(sw, t);
          stopBlock = blk;
          break;
        }
        t &= t - 1;
      }
      if (stopBlock != blocks) break;
    }
    if (stopBlock != blocks) break;
    b = wordBase + 64;
  }
  harvestCursor = stopBlock == blocks ? words : stopBlock << 3;
  return <i32>n;
}

/**
 * Get-and-clear as raw words: (u32 wordIndex, u32 0, u64 bits) entries for
 * each non-zero word, at most `cap`, starting like bitmapHarvestRanges.
 */
export function bitmapHarvestWords(h: i32, startWord: u32, out: usize, cap: u32): i32 {
  return harvestWords(h, startWord, out, cap);
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
