// Shared bench plumbing: timing, rows, and the bench module.
import { readFileSync } from "node:fs";
import { VmCore } from "../src/index.js";

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  /** The baseline measured in the same run, in the same unit as `value`. */
  baseline: number;
  /** How the figure compares with its baseline; > 1 is better than the baseline. */
  ratio: number;
  note?: string;
}

/** Median wall time in ms of `fn` over `runs` runs (after `warmup` untimed runs). */
export function medianMs(fn: () => void, runs = 15, warmup = 3, before?: () => void): number {
  for (let i = 0; i < warmup; i++) { before?.(); fn(); }
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

let benchModule: WebAssembly.Module | undefined;
export function benchWasm(): WebAssembly.Module {
  benchModule ??= new WebAssembly.Module(readFileSync(new URL("../build/bench.wasm", import.meta.url)));
  return benchModule;
}

/** A VM core on bench.wasm; its exports include the bench_* loops. */
export async function benchCore(ramBytes: number): Promise<VmCore & { bx: Record<string, (...a: number[]) => number> }> {
  const core = await VmCore.create({ module: benchWasm(), variant: "release", ramBytes });
  return Object.assign(core, { bx: core.exports as unknown as Record<string, (...a: number[]) => number> });
}
