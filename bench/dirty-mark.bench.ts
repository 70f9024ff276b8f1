// Dirty marking on the port's write path: ns per u32 store + mark of a hot
// page (its bit already set), for each way of making the mark sound against a
// concurrent harvest (see bitmapMarkRange in assembly/core/dirty.ts), timed in
// one run against the previous test-and-skip (which was not sound) and against
// the bare stores. One thread, then two threads writing pages of one bitmap
// word (the mark's cache line shared between cores).
import { benchCore, BenchWorkers, medianMs, type BenchRow } from "./support.js";

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const core = await benchCore(16 << 20);
  core.dirty.enable();
  const bx = core.bx;
  const pages = 16, reps = 1 << 16; // 1 Mi stores per run
  const ns = (ms: number) => (ms * 1e6) / (pages * reps);
  const loops = ["bench_store_unmarked", "bench_store_mark_skip", "bench_store_mark_rmw", "bench_store_port", "bench_store_port_prev"] as const;
  // Interleave the variants so machine noise spreads over all of them.
  const t: Record<string, number[]> = {};
  for (let k = 0; k < 9; k++) for (const f of loops) (t[f] ??= []).push(medianMs(() => { bx[f](0, pages, reps); }, 5, 2));
  const med = (f: string) => { const a = [...t[f]].sort((x, y) => x - y); return a[a.length >> 1]; };
  const skip = ns(med("bench_store_mark_skip"));
  const prev = ns(med("bench_store_port_prev"));
  rows.push({ name: "u32 store + mark, hot page: port (gmStore32)", value: ns(med("bench_store_port")), unit: "ns", baseline: prev, ratio: prev / ns(med("bench_store_port")),
    note: "baseline: the port's previous write path (plain test-and-skip mark, unsound against a harvest)" });
  for (const [f, label] of [["bench_store_mark_rmw", "atomic OR always"], ["bench_store_unmarked", "no mark"]] as const) {
    rows.push({ name: `u32 store + mark, hot page: ${label}`, value: ns(med(f)), unit: "ns", baseline: skip, ratio: skip / ns(med(f)),
      note: "baseline: store + the previous plain test-and-skip mark" });
  }
  // Two threads, pages 0..15 and 16..31: one bitmap word, one cache line.
  const workers = await BenchWorkers.start(core, 2);
  try {
    const two: Record<string, number> = {};
    for (const f of ["bench_store_mark_skip", "bench_store_mark_rmw"]) {
      const ms: number[] = [];
      for (let k = 0; k < 7; k++) ms.push((await workers.run([{ fn: f, args: [0, pages, reps] }, { fn: f, args: [pages, pages, reps] }])).ms);
      ms.sort((x, y) => x - y);
      two[f] = ns(ms[ms.length >> 1]) / 2;
    }
    for (const [f, label] of [["bench_store_mark_rmw", "atomic OR always"]] as const) {
      rows.push({ name: `u32 store + mark, 2 threads on one bitmap word: ${label}`, value: two[f], unit: "ns", baseline: two.bench_store_mark_skip, ratio: two.bench_store_mark_skip / two[f],
        note: "ns per store over both threads; baseline: the previous plain test-and-skip mark" });
    }
  } finally { await workers.stop(); }
  return rows;
}
