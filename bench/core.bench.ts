// Core figures: guest copy-in/out against a plain-wasm baseline measured in
// the same run (the dirty harvest has its own bench: harvest.bench.ts).
import { benchCore, medianMs, type BenchRow } from "./support.js";

export async function run(): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];

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
