import { describe, it, expect } from "vitest";
import { DirtyBitmap, Status } from "../../src/index.js";
import { newCore, rng, testSeed } from "../support/core.js";

const MiB = 1 << 20;

/** Expand harvested ranges into a sorted page list. */
function pagesOf(ranges: Array<{ page: number; count: number }>): number[] {
  return ranges.flatMap(({ page, count }) => Array.from({ length: count }, (_, i) => page + i));
}

describe("dirty bitmap", () => {
  it("get-and-clear returns the marked pages, then the bitmap is clean", async () => {
    const core = await newCore(64 * MiB);
    core.dirty.enable();
    for (const p of [0, 1, 2, 63, 64, 65, 1000, 16383]) core.dirty.mark(p);
    expect(core.dirty.count()).toBe(8);
    expect(core.dirty.harvest()).toEqual([
      { page: 0, count: 3 }, { page: 63, count: 3 }, { page: 1000, count: 1 }, { page: 16383, count: 1 },
    ]);
    expect(core.dirty.count()).toBe(0);
    expect(core.dirty.harvest()).toEqual([]);
  });

  it("coalesces runs across many words into one range", async () => {
    const core = await newCore(64 * MiB);
    core.dirty.enable();
    core.dirty.markRange(10, 1000);
    core.dirty.markRange(5000, 64);
    expect(core.dirty.harvest()).toEqual([{ page: 10, count: 1000 }, { page: 5000, count: 64 }]);
  });

  it("harvest equals a reference model for random marks (seeded)", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    const core = await newCore(32 * MiB); // 8192 pages
    core.dirty.enable();
    for (let round = 0; round < 50; round++) {
      const model = new Set<number>();
      const marks = Math.floor(rand() * 400);
      for (let i = 0; i < marks; i++) {
        const first = Math.floor(rand() * 8192);
        const count = 1 + Math.floor(rand() * (rand() < 0.2 ? 200 : 3));
        const n = Math.min(count, 8192 - first);
        core.dirty.markRange(first, n);
        for (let p = first; p < first + n; p++) model.add(p);
      }
      const ranges = core.dirty.harvest();
      // Coalesced: no two ranges touch.
      for (let i = 1; i < ranges.length; i++) expect(ranges[i].page, `seed ${seed}`).toBeGreaterThan(ranges[i - 1].page + ranges[i - 1].count);
      expect(pagesOf(ranges), `seed ${seed}`).toEqual([...model].sort((a, b) => a - b));
      expect(core.dirty.count()).toBe(0);
    }
  });

  it("resumes from a cursor when the output fills up", async () => {
    const core = await newCore(64 * MiB);
    core.dirty.enable();
    for (let p = 0; p < 16384; p += 2) core.dirty.mark(p); // 8192 single-page ranges
    const e = core.exports;
    let cursor = 0, calls = 0, total = 0;
    while (cursor < e.dirty_words(1)) {
      const n = e.dirty_harvest_ranges(1, cursor, 0, 100);
      expect(n).toBeGreaterThan(0);
      total += n; calls++;
      cursor = e.dirty_cursor();
    }
    expect(total).toBe(8192);
    expect(calls).toBeGreaterThan(80);
    expect(e.dirty_harvest_ranges(1, 0, 0, 32)).toBe(-Status.ERR_INVALID_ARG);
  });

  it("harvestRanges hands back the same ranges as harvest, as pairs in one array", async () => {
    const core = await newCore(64 * MiB);
    core.dirty.enable();
    for (let p = 0; p < 16384; p += 2) core.dirty.mark(p);
    core.dirty.markRange(5, 1); // 4, 5 and 6 make one run
    const { ranges, pages } = core.dirty.harvestRanges();
    expect(pages).toBe(8193);
    expect(ranges.length).toBe(2 * 8191);
    expect(Array.from(ranges.subarray(0, 8))).toEqual([0, 1, 2, 1, 4, 3, 8, 1]);
    expect(core.dirty.count()).toBe(0);
    expect(core.dirty.harvestRanges().ranges.length).toBe(0);
  });

  it("harvests raw words and merges an embedder's words, ignoring bits past the end", async () => {
    const core = await newCore(4 * 1024 * 100); // 100 pages: the second word has 36 bits
    core.dirty.enable();
    core.dirty.mergeWords(0, new BigUint64Array([0b1011n, (1n << 64n) - 1n]));
    expect(core.dirty.count()).toBe(3 + 36);
    const e = core.exports;
    expect(e.dirty_harvest_words(1, 0, 0, 8)).toBe(2);
    const dv = core.dv();
    const io = core.ioPtr();
    expect(dv.getUint32(io, true)).toBe(0);
    expect(dv.getBigUint64(io + 8, true)).toBe(0b1011n);
    expect(dv.getUint32(io + 16, true)).toBe(1);
    expect(dv.getBigUint64(io + 24, true)).toBe((1n << 36n) - 1n);
    expect(core.dirty.count()).toBe(0);
    expect(e.dirty_merge_words(1, 2, 0, 1)).toBe(Status.ERR_RANGE);
  });

  it("OR-merges a second bitmap of the same size", async () => {
    const core = await newCore(MiB);
    core.dirty.enable();
    const own = DirtyBitmap.create(core, 256);
    own.enable();
    own.markRange(10, 5);
    core.dirty.mark(12);
    core.dirty.mark(200);
    core.dirty.merge(own);
    expect(core.dirty.harvest()).toEqual([{ page: 10, count: 5 }, { page: 200, count: 1 }]);
    expect(own.count()).toBe(5);
    const other = DirtyBitmap.create(core, 100);
    other.enable();
    expect(core.exports.dirty_merge(1, other.handle)).toBe(Status.ERR_INVALID_ARG);
  });

  it("re-enabling starts clean; marks outside the bitmap are refused", async () => {
    const core = await newCore(MiB);
    core.dirty.enable();
    core.dirty.mark(3);
    core.dirty.disable();
    core.dirty.enable();
    expect(core.dirty.count()).toBe(0);
    expect(core.exports.dirty_mark(1, 256)).toBe(Status.ERR_RANGE);
    expect(core.exports.dirty_mark_range(1, 250, 0xffffffff)).toBe(Status.ERR_RANGE);
  });

  it("handles a 1 TiB guest's bitmap (2^28 pages)", async () => {
    const core = await newCore(MiB);
    const big = DirtyBitmap.create(core, 2 ** 28);
    big.enable();
    big.mark(2 ** 28 - 1);
    big.mark(12345678);
    expect(big.harvest()).toEqual([{ page: 12345678, count: 1 }, { page: 2 ** 28 - 1, count: 1 }]);
  });
});

/** A random bitmap of `pages` pages as u64 words: clean stretches, full words, sparse and dense words, long runs. */
function randomWords(rand: () => number, pages: number): BigUint64Array {
  const words = new BigUint64Array(Math.ceil(pages / 64));
  const bitsOf = (density: number) => {
    let w = 0n;
    for (let b = 0n; b < 64n; b++) if (rand() < density) w |= 1n << b;
    return w;
  };
  for (let i = 0; i < words.length;) {
    const r = rand();
    if (r < 0.5) { i += 1 + Math.floor(rand() * (rand() < 0.3 ? 3000 : 40)); continue; } // clean: skips blocks and summary words
    if (r < 0.6) { const n = 1 + Math.floor(rand() * 20); for (let k = 0; k < n && i < words.length; k++) words[i++] = (1n << 64n) - 1n; continue; }
    if (r < 0.7) { words[i++] = 1n << 63n; if (i < words.length) words[i++] = 1n; continue; } // a run across a word boundary
    words[i++] = bitsOf(rand() < 0.5 ? 0.05 : rand());
  }
  return words;
}

/**
 * The harvest contract as a model: blocks of eight words from the block of
 * `startWord`; before each non-zero word, stop (cursor = that block's first
 * word) if the ranges already closed exceed cap - 33; runs coalesce across
 * words within a call; the harvested words are cleared.
 */
function modelHarvest(words: BigUint64Array, startWord: number, cap: number): { ranges: Array<[number, number]>; cursor: number } {
  const ranges: Array<[number, number]> = [];
  let open: [number, number] | null = null;
  for (let blk = startWord >> 3; blk * 8 < words.length; blk++) {
    for (let wi = blk * 8; wi < Math.min(words.length, blk * 8 + 8); wi++) {
      const w = words[wi];
      if (w === 0n) continue;
      if (ranges.length > cap - 33) {
        if (open) ranges.push(open);
        return { ranges, cursor: blk * 8 };
      }
      words[wi] = 0n;
      for (let b = 0; b < 64; b++) {
        if (((w >> BigInt(b)) & 1n) === 0n) continue;
        const page = wi * 64 + b;
        if (open && open[0] + open[1] === page) open[1]++;
        else { if (open) ranges.push(open); open = [page, 1]; }
      }
    }
  }
  if (open) ranges.push(open);
  return { ranges, cursor: words.length };
}

describe("dirty harvest at scale", () => {
  it("matches the model call by call on random bitmaps: same ranges, cursors and bits cleared (seeded)", async () => {
    const seed = testSeed();
    const rand = rng(seed);
    for (let trial = 0; trial < 40; trial++) {
      // A fresh core per bitmap: a VM has a few bitmap slots and none is given back.
      const core = await newCore(MiB);
      const e = core.exports;
      const pages = 1 + Math.floor(rand() * 70000); // up to three summary words (32768 pages each)
      const bm = DirtyBitmap.create(core, pages);
      bm.enable();
      const model = randomWords(rand, pages);
      const tail = pages % 64;
      if (tail) model[model.length - 1] &= (1n << BigInt(tail)) - 1n;
      bm.mergeWords(0, model);
      const r = rand();
      const cap = r < 0.5 ? 33 + Math.floor(rand() * 18) : r < 0.7 ? 51 + Math.floor(rand() * 100) : 4096; // the stop rule bites at small caps
      let cursor = Math.floor(rand() * 3) === 0 ? Math.floor(rand() * model.length) : 0;
      const io = core.ioPtr();
      for (let call = 0; cursor < model.length; call++) {
        const want = modelHarvest(model, cursor, cap);
        const n = e.dirty_harvest_ranges(bm.handle, cursor, 0, cap);
        const dv = core.dv();
        const got = Array.from({ length: Math.max(0, n) }, (_, i) => [dv.getUint32(io + i * 8, true), dv.getUint32(io + i * 8 + 4, true)]);
        const where = `seed ${seed}, trial ${trial}, ${pages} pages, cap ${cap}, call ${call} from word ${cursor}`;
        expect(got, where).toEqual(want.ranges);
        expect(e.dirty_cursor(), where).toBe(want.cursor);
        // Bits left = the model's: equal counts, and every page the model keeps is still set.
        let left = 0;
        for (let wi = 0; wi < model.length; wi++) {
          for (let w = model[wi], b = 0; w !== 0n; w >>= 1n, b++) {
            if (w & 1n) { left++; if (left % 7 === 0) expect(bm.test(wi * 64 + b), where).toBe(true); }
          }
        }
        expect(bm.count(), where).toBe(left);
        cursor = want.cursor;
      }
    }
  });
});
