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

/** Worker threads attached to a bench core, that run bench_* exports together. */
export class BenchWorkers {
  private constructor(private readonly workers: import("node:worker_threads").Worker[]) {}

  static async start(core: VmCore, n: number): Promise<BenchWorkers> {
    const { spawnWorker } = await import("../src/vcpu/spawn.js");
    const ws = await Promise.all(Array.from({ length: n }, () => new Promise<import("node:worker_threads").Worker>((resolve, reject) => {
      const w = spawnWorker(new URL("./rings.worker.ts", import.meta.url), { shared: core.shareable() });
      w.once("message", () => resolve(w));
      w.once("error", reject);
    })));
    return new BenchWorkers(ws);
  }

  /** Run `jobs[i]` on worker i, all released at once. Resolves with the results and the span (ms) from the first start to the last end. */
  async run(jobs: Array<{ fn: string; args: number[] }>): Promise<{ results: number[]; ms: number }> {
    const gate = new SharedArrayBuffer(8);
    const g = new Int32Array(gate);
    const done = jobs.map((j, i) => new Promise<{ result: number; t0: number; t1: number }>((resolve, reject) => {
      const w = this.workers[i];
      // One listener pair per run, removed when it settles (workers are reused across runs).
      const onError = (e: Error) => { w.off("message", onMessage); reject(e); };
      const onMessage = (m: { result: number; t0: number; t1: number }) => { w.off("error", onError); resolve(m); };
      w.once("message", onMessage);
      w.once("error", onError);
      w.postMessage({ gate, ...j });
    }));
    while (Atomics.load(g, 1) < jobs.length) await new Promise((r) => setTimeout(r, 1));
    Atomics.store(g, 0, 1);
    Atomics.notify(g, 0);
    const r = await Promise.all(done);
    return { results: r.map((x) => x.result), ms: Math.max(...r.map((x) => x.t1)) - Math.min(...r.map((x) => x.t0)) };
  }

  async stop(): Promise<void> { await Promise.all(this.workers.map((w) => w.terminate())); }
}

/** Cycles per nanosecond of this machine's CPU as /proc/cpuinfo reports it (for cycle estimates), or 0 if unknown. */
export function cpuGhz(): number {
  try {
    const m = /cpu MHz\s*:\s*([\d.]+)/.exec(readFileSync("/proc/cpuinfo", "utf8"));
    return m ? Number(m[1]) / 1000 : 0;
  } catch { return 0; }
}

/** Guest-physical layout of one fixed virtqueue: descriptors, avail and used rings, 2 KiB buffers. */
export interface FixedRing { desc: number; avail: number; used: number; bufs: number }

/**
 * A virtio-net device (mmio, VERSION_1 only) whose queues are laid out once
 * with fixed descriptors i → buffer i and avail entries i → i, so a bench
 * moves frames by bumping avail indices. `rx` gets device-writable buffers,
 * every one posted, NO_INTERRUPT set; `tx` gets readable ones, none posted.
 */
export async function fixedRingNic(core: VmCore, mac: string, rings: { rx?: FixedRing; tx?: FixedRing }, queueSize = 256): Promise<import("../src/index.js").VirtioNet> {
  const { VirtioNet } = await import("../src/index.js");
  const d = VirtioNet.create(core, { mac, transport: "mmio", queueSize, interrupts: { msi() {}, intx() {} }, backlogFrames: 64 });
  const g = core.guest;
  d.mmioWrite(0x70, 4, 0); d.mmioWrite(0x70, 4, 3);
  d.mmioWrite(0x24, 4, 1); d.mmioWrite(0x20, 4, 1);
  d.mmioWrite(0x70, 4, 11);
  const setup = (qi: number, r: FixedRing, writable: boolean) => {
    d.mmioWrite(0x30, 4, qi); d.mmioWrite(0x38, 4, queueSize);
    d.mmioWrite(0x80, 4, r.desc); d.mmioWrite(0x84, 4, 0);
    d.mmioWrite(0x90, 4, r.avail); d.mmioWrite(0x94, 4, 0);
    d.mmioWrite(0xa0, 4, r.used); d.mmioWrite(0xa4, 4, 0);
    for (let i = 0; i < queueSize; i++) {
      g.writeU64(r.desc + 16 * i, BigInt(r.bufs + 2048 * i));
      g.writeU32(r.desc + 16 * i + 8, 2048);
      g.writeU16(r.desc + 16 * i + 12, writable ? 2 : 0);
      g.writeU16(r.avail + 4 + 2 * i, i);
    }
    d.mmioWrite(0x44, 4, 1);
  };
  if (rings.rx) setup(0, rings.rx, true);
  if (rings.tx) setup(1, rings.tx, false);
  d.mmioWrite(0x70, 4, 15);
  if (rings.rx) { g.writeU16(rings.rx.avail, 1); g.writeU16(rings.rx.avail + 2, queueSize); }
  return d;
}
