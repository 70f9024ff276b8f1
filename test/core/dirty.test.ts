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
