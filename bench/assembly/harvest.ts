// Dirty-harvest bench kit: the previous ranges harvest (kept verbatim so one
// run times old against new), a plain-memory baseline that does the same work
// as the harvest, and loops that fill, save and restore a bitmap's dirty set.
import {
  bitmapPtr, bitmapWords, bitmapPages, summaryPtr, summaryWords, bitmapMarkRange,
} from "../../assembly/core/dirty";
import { regionAlloc } from "../../assembly/core/layout";
import { ioPtr, ioRangeOk } from "../../assembly/core/vm";

let cursor: u32 = 0;
/** Where the last bench_harvest_old / bench_harvest_plain call stopped (as dirty_cursor). */
export function bench_harvest_cursor(): u32 { return cursor; }

// ---- The previous harvest: per-run ctz loop through module globals, one pass per block, xchg per word ----

let hOut: usize = 0;
let hCount: u32 = 0;
let hOpenStart: u32 = 0;
let hOpenEnd: u32 = 0;

// @ts-ignore: decorator
@inline function emitOpen(): void {
  if (hOpenEnd != 0) {
    store<u32>(hOut + (<usize>hCount << 3), hOpenStart);
    store<u32>(hOut + (<usize>hCount << 3), hOpenEnd - hOpenStart, 4);
    hCount++;
  }
}

// @ts-ignore: decorator
@inline function takeRuns(i: u32, bits: u64): void {
  let w = bits;
  const pageBase = i << 6;
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

/** The previous dirty_harvest_ranges (same arguments, same output, same cursor rule). */
export function bench_harvest_old(h: i32, startWord: u32, ioOffset: u32, cap: u32): i32 {
  if (cap < 33 || !ioRangeOk(ioOffset, <u64>cap << 3)) return -1;
  const out = ioPtr() + ioOffset;
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  const words = bitmapWords(h);
  const blocks = (words + 7) >> 3;
  hOut = out; hCount = 0; hOpenStart = 0; hOpenEnd = 0;
  const room = cap - 33;
  const z = i64x2.splat(0);
  let b = startWord >> 3;
  let stopBlock: u32 = blocks;
  while (b < blocks) {
    const sw = summary + (<usize>(b >> 6) << 3);
    if (atomic.load<u64>(sw) == 0) { b = (b | 63) + 1; continue; }
    const ours: u64 = ~((<u64>1 << (b & 63)) - 1);
    let taken = atomic.and<u64>(sw, ~ours) & ours;
    const wordBase = b & ~63;
    while (taken != 0) {
      const blk = wordBase + <u32>ctz<u64>(taken);
      const p = base + (<usize>blk << 6);
      const v0 = v128.load(p), v1 = v128.load(p, 16), v2 = v128.load(p, 32), v3 = v128.load(p, 48);
      let m = i64x2.bitmask(i64x2.ne(v0, z)) | (i64x2.bitmask(i64x2.ne(v1, z)) << 2)
        | (i64x2.bitmask(i64x2.ne(v2, z)) << 4) | (i64x2.bitmask(i64x2.ne(v3, z)) << 6);
      while (m != 0) {
        if (hCount > room) break;
        const wi = (blk << 3) + <u32>ctz<i32>(m);
        const bits = atomic.xchg<u64>(base + (<usize>wi << 3), 0);
        takeRuns(wi, bits);
        m &= m - 1;
      }
      if (m != 0) {
        atomic.or<u64>(sw, taken);
        stopBlock = blk;
        break;
      }
      taken &= taken - 1;
    }
    if (stopBlock != blocks) break;
    b = wordBase + 64;
  }
  emitOpen();
  cursor = stopBlock == blocks ? words : stopBlock << 3;
  return <i32>hCount;
}

// ---- Baseline: the same work in plain memory ----

/**
 * Baseline: what a harvest must do, with no concurrency: read the summary,
 * read the words of the blocks it names, emit the same coalesced ranges
 * (same order, same cursor rule) and zero what it read, all with plain loads
 * and stores (no atomic RMW, no two-pass block read). The gap to it is the
 * price of being safe against vCPUs marking during the harvest.
 */
export function bench_harvest_plain(h: i32, startWord: u32, ioOffset: u32, cap: u32): i32 {
  if (cap < 33 || !ioRangeOk(ioOffset, <u64>cap << 3)) return -1;
  const out = ioPtr() + ioOffset;
  const base = bitmapPtr(h);
  const summary = summaryPtr(h);
  const words = bitmapWords(h);
  const blocks = (words + 7) >> 3;
  const room = cap - 32;
  let n: u32 = 0;
  let openEnd: u32 = 0xffff_ffff;
  let b = startWord >> 3;
  let stopBlock: u32 = blocks;
  while (b < blocks) {
    const sw = summary + (<usize>(b >> 6) << 3);
    const all = load<u64>(sw);
    if (all == 0) { b = (b | 63) + 1; continue; }
    const ours: u64 = ~((<u64>1 << (b & 63)) - 1);
    let t = all & ours;
    store<u64>(sw, all & ~ours);
    const wordBase = b & ~63;
    while (t != 0) {
      const blk = wordBase + <u32>ctz<u64>(t);
      let wi = blk << 3;
      const end = wi + 8;
      for (; wi < end; wi++) {
        const a = base + (<usize>wi << 3);
        const w = load<u64>(a);
        if (w == 0) continue;
        if (n > room) break;
        store<u64>(a, 0);
        const pb = wi << 6;
        let st = w & ~(w << 1);
        let en = w & ~(w >> 1);
        if ((w & 1) != 0 && openEnd == pb) {
          const c = out + (<usize>(n - 1) << 3) + 4;
          store<u32>(c, load<u32>(c) + <u32>ctz<u64>(en) + 1);
          st &= st - 1;
          en &= en - 1;
        }
        while (st != 0) {
          const s = <u32>ctz<u64>(st);
          const o = out + (<usize>n << 3);
          store<u32>(o, pb + s);
          store<u32>(o, <u32>ctz<u64>(en) - s + 1, 4);
          n++;
          st &= st - 1;
          en &= en - 1;
        }
        openEnd = (w >> 63) != 0 ? pb + 64 : 0xffff_ffff;
      }
      if (wi < end) {
        store<u64>(sw, load<u64>(sw) | t);
        stopBlock = blk;
        break;
      }
      t &= t - 1;
    }
    if (stopBlock != blocks) break;
    b = wordBase + 64;
  }
  cursor = stopBlock == blocks ? words : stopBlock << 3;
  return <i32>n;
}

// ---- The dirty set: fill once, save, restore before each timed run ----

/** Mark `marks` pages of bitmap `h` chosen uniformly at random (xorshift32 from `seed`, repeats allowed). */
export function bench_bitmap_fill(h: i32, marks: u32, seed: u32): void {
  const pages = bitmapPages(h);
  let x = seed | 1;
  for (let i: u32 = 0; i < marks; i++) {
    x ^= x << 13; x ^= x >> 17; x ^= x << 5;
    bitmapMarkRange(h, x % pages, 1);
  }
}

let saved: usize = 0;
let savedBytes: usize = 0;

// @ts-ignore: decorator
@inline function wordBytes(h: i32): usize { return <usize>bitmapWords(h) << 3; }
// @ts-ignore: decorator
@inline function sumBytes(h: i32): usize { return <usize>summaryWords(bitmapWords(h)) << 3; }

/** Copy bitmap `h` and its summary aside (one saved copy; 0 ok, -1 out of memory). */
export function bench_bitmap_save(h: i32): i32 {
  const need = wordBytes(h) + sumBytes(h);
  if (need > savedBytes) {
    saved = regionAlloc(need, 64);
    if (saved == 0) return -1;
    savedBytes = need;
  }
  memory.copy(saved, bitmapPtr(h), wordBytes(h));
  memory.copy(saved + wordBytes(h), summaryPtr(h), sumBytes(h));
  return 0;
}

/** Put the saved copy back into bitmap `h`. */
export function bench_bitmap_restore(h: i32): void {
  memory.copy(bitmapPtr(h), saved, wordBytes(h));
  memory.copy(summaryPtr(h), saved + wordBytes(h), sumBytes(h));
}
