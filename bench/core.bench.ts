// Core figures: dirty-bitmap harvest and guest copy-in/out, each against a
// plain-wasm baseline measured in the same run.
import { DirtyBitmap } from "../src/index.js";
import { benchCore, medianMs, type BenchRow } from "./support.js";

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

  // Get-and-clear of a 32 MiB bitmap (2^28 pages: a 1 TiB guest), 0.01% dirty.
  const core = await benchCore(64 << 20);
  const pages = 2 ** 28;
  const bm = DirtyBitmap.create(core, pages);
  bm.enable();
  const dirty = Math.round(pages * 0.0001);
  let x = 0x12345678;
  const targets = Array.from({ length: dirty }, () => { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; return (x >>> 0) % pages; });
  // Marks land over a whole round in real use, so time both sides with cold caches:
  // after marking, read 64 MiB of guest RAM to push the bitmap out of the caches.
  const evict = () => { core.bx.bench_scan_ram(); };
  const markAll = () => { for (const p of targets) core.exports.dirty_mark(bm.handle, p); evict(); };
  // The timed operation is the get-and-clear itself: ranges land in the I/O buffer, host-visible.
  const cap = core.exports.io_size() >> 3;
  let harvested = 0;
  const harvestOnce = () => {
    let cursor = 0, ranges = 0;
    const words = core.exports.dirty_words(bm.handle);
    while (cursor < words) { ranges += core.exports.dirty_harvest_ranges(bm.handle, cursor, 0, cap); cursor = core.exports.dirty_cursor(); }
    return ranges;
  };
  const harvestMs = medianMs(() => { harvestOnce(); }, 21, 3, markAll);
  markAll();
  harvested = bm.harvestEach(() => {});
  const scanMs = medianMs(() => { core.bx.bench_scan_bitmap(bm.handle); }, 21, 3, evict);
  if (harvested !== new Set(targets).size) throw new Error(`harvest returned ${harvested} pages, expected ${new Set(targets).size}`);
  rows.push({ name: "dirty harvest 32 MiB bitmap, 0.01% dirty", value: harvestMs, unit: "ms", baseline: scanMs, ratio: scanMs / harvestMs,
    note: "baseline: plain v128 read of the same 32 MiB, both with cold caches; ratio = speed relative to it (goal ≥ 0.8, and ≤ 5 ms)" });

  // Guest copy-in/out of 4 KiB pages vs memory.copy of the same pages.
  const ram = await benchCore(64 << 20);
  ram.dirty.enable();
  const n = 4096, reps = 8; // 16 MiB per run, 128 MiB per timing
  const copyIn = medianMs(() => { ram.bx.bench_copy_in_pages(0, n, reps); }, 15);
  const memIn = medianMs(() => { ram.bx.bench_memcopy_pages(0, n, reps); }, 15);
  const copyOut = medianMs(() => { ram.bx.bench_copy_out_pages(0, n, reps); }, 15);
  const memOut = medianMs(() => { ram.bx.bench_memcopy_out_pages(0, n, reps); }, 15);
  const gbps = (ms: number) => (n * reps * 4096) / (ms / 1000) / 1e9;
  rows.push({ name: "guest copy-in 4 KiB pages (checked, dirty-marked)", value: gbps(copyIn), unit: "GB/s", baseline: gbps(memIn), ratio: memIn / copyIn,
    note: "baseline: memory.copy of the same pages (goal ≥ 0.8)" });
  rows.push({ name: "guest copy-out 4 KiB pages (checked)", value: gbps(copyOut), unit: "GB/s", baseline: gbps(memOut), ratio: memOut / copyOut,
    note: "baseline: memory.copy of the same pages (goal ≥ 0.8)" });
  return rows;
}
