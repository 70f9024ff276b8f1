// Dirty harvest at scale: ns per dirty page of the get-and-clear into
// coalesced ranges, at 0.01 %, 0.1 %, 1 % and 10 % of the pages dirty
// (uniformly random single pages: the fewest pages per range, so the most
// work per page), for a 4 GiB and a 1 TiB guest's bitmap. Each row is timed
// in one run against a baseline that does the same work — reads the summary
// and the blocks it names, emits the same ranges, zeroes what it read — with
// plain loads and stores; "previous" is the harvest this one replaced.
// Every timed run starts from the same saved dirty set with cold caches.
import { DirtyBitmap } from "../src/index.js";
import { benchCore, type BenchRow } from "./support.js";

type Harvest = (h: number, startWord: number, ioOffset: number, cap: number) => number;

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const core = await benchCore(64 << 20);
  core.ensureIo(1 << 20);
  const e = core.exports, bx = core.bx;
  const cap = e.io_size() >> 3;
  const variants: Array<{ name: string; fn: Harvest; cursor: () => number }> = [
    { name: "new", fn: e.dirty_harvest_ranges, cursor: e.dirty_cursor },
    { name: "previous", fn: bx.bench_harvest_old, cursor: bx.bench_harvest_cursor },
    { name: "plain", fn: bx.bench_harvest_plain, cursor: bx.bench_harvest_cursor },
  ];
  /** Harvest all of `h` with `v`; returns [ranges, pages] (pages only when `count`). */
  const harvestAll = (v: (typeof variants)[number], h: number, words: number, count: boolean): [number, number] => {
    let cursor = 0, ranges = 0, pages = 0;
    while (cursor < words) {
      const n = v.fn(h, cursor, 0, cap);
      if (n < 0) throw new Error(`${v.name} harvest: ${n}`);
      if (count) { const dv = core.dv(), io = core.ioPtr(); for (let i = 0; i < n; i++) pages += dv.getUint32(io + i * 8 + 4, true); }
      ranges += n;
      cursor = v.cursor();
    }
    return [ranges, pages];
  };
  const runs = 7;
  // Warm-up: V8 starts wasm functions in its baseline compiler and swaps in
  // optimised code later; time only the optimised code of all three.
  {
    const bm = DirtyBitmap.create(core, 2 ** 20);
    for (let k = 0; k < 3; k++) {
      for (const v of variants) {
        for (let i = 0; i < 30; i++) { bm.enable(); bx.bench_bitmap_fill(bm.handle, 100_000, 7 + i); harvestAll(v, bm.handle, e.dirty_words(bm.handle), false); }
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    bm.disable();
  }
  for (const [label, pages] of [["4 GiB", 2 ** 20], ["1 TiB", 2 ** 28]] as const) {
    const bm = DirtyBitmap.create(core, pages);
    const words = e.dirty_words(bm.handle);
    for (const frac of [0.0001, 0.001, 0.01, 0.1]) {
      bm.enable(); // clean
      bx.bench_bitmap_fill(bm.handle, Math.round(pages * frac), 0x9e3779b9);
      const dirty = bm.count();
      if (bx.bench_bitmap_save(bm.handle) !== 0) throw new Error("bench_bitmap_save: out of memory");
      // Same output from all three, and each leaves the bitmap clean.
      let want: [number, number] | null = null;
      for (const v of variants) {
        bx.bench_bitmap_restore(bm.handle);
        const got = harvestAll(v, bm.handle, words, true);
        if (got[1] !== dirty || bm.count() !== 0 || (want && (got[0] !== want[0] || got[1] !== want[1]))) {
          throw new Error(`${v.name} harvest at ${frac * 100}%: ${got[0]} ranges / ${got[1]} pages, expected ${want?.[0] ?? "?"} / ${dirty}, ${bm.count()} left`);
        }
        want = got;
      }
      // Interleaved, so drift on a shared machine hits all three alike.
      const times = variants.map(() => [] as number[]);
      for (let r = 0; r <= runs; r++) {
        variants.forEach((v, i) => {
          bx.bench_bitmap_restore(bm.handle);
          bx.bench_scan_ram(); // push the bitmap out of the caches, as a round of page sending does
          const t = performance.now();
          harvestAll(v, bm.handle, words, false);
          if (r > 0) times[i].push(performance.now() - t);
        });
      }
      const ns = times.map((t) => (t.sort((a, b) => a - b)[t.length >> 1] * 1e6) / dirty);
      const [fresh, old, plain] = ns;
      const pct = `${frac * 100}%`;
      rows.push({ name: `harvest ${label} bitmap, ${pct} dirty (${dirty} pages, ${want![0]} ranges)`, value: fresh, unit: "ns/page", baseline: plain, ratio: plain / fresh,
        note: `baseline: the same work in plain memory (no atomics); previous harvest ${old.toFixed(2)} ns/page, new is ${(old / fresh).toFixed(2)}× faster` });
      rows.push({ name: `harvest ${label} bitmap, ${pct} dirty — previous harvest`, value: old, unit: "ns/page", baseline: plain, ratio: plain / old });
    }
  }
  return rows;
}
