// A bare VM for the migration engine's own tests and bench: a VmCore plus
// vCPU worker threads that dirty guest memory through the port (optionally
// only a working set, so a test can check the rest stays intact), a pause
// flag that freezes them (the write lock's effect on vCPUs), and a throttle.
// It implements MigrationSource; StandInDestination implements
// MigrationDestination. `vmdev migrate` runs the real Machine
// (src/migration/machine-adapter.ts); the fault matrix, fuzz tests and bench
// use this.

import { Worker } from "node:worker_threads";
import { VmCore } from "../../vm-core.js";
import type { WasmVariant } from "../../wasm.js";
import type { MigratableDevice } from "../../device.js";
import type { MigrationDestination, MigrationSource } from "../../migration/types.js";

/** Shared control words (Int32Array over a SharedArrayBuffer). */
export const Ctl = {
  PAUSE: 0,     // 1 = vCPUs must park
  PARKED: 1,    // vCPUs parked
  THROTTLE: 2,  // per mille of run time spent asleep
  STOP: 3,      // 1 = workers exit
  RUNNING: 4,   // workers started and attached
  WRITES: 8,    // per-vCPU write counters from here (Int32 each)
} as const;

/** Where the stand-in vCPUs write: anywhere, mostly a hot 1/16 of the working set, or page after page. */
export type DirtyPattern = "uniform" | "hotset" | "sequential";

/** What a stand-in vCPU worker is given. */
export interface VcpuWorkerData {
  shared: ReturnType<VmCore["shareable"]>;
  ctl: SharedArrayBuffer;
  index: number;
  /** Pages this vCPU dirties per second. */
  pagesPerSec: number;
  pattern: DirtyPattern;
  /** First page and page count the workload writes (the rest is left alone). */
  first: number;
  count: number;
  seed: number;
}

/** Options of the stand-in source VM. */
export interface StandInOptions {
  module: WebAssembly.Module;
  variant: WasmVariant;
  ramBytes: number;
  vcpus?: number;
  /** Bytes of guest memory all vCPUs together dirty per second (each write dirties one page). */
  dirtyBytesPerSec?: number;
  pattern?: DirtyPattern;
  /** Fraction of RAM the workload writes (from the start of RAM; default 1). */
  workingSet?: number;
  devices?: MigratableDevice[];
  seed?: number;
  /** How long writeLock waits for the vCPUs to park (default 5 s). */
  freezeTimeoutMs?: number;
}

/** Start a vCPU worker: from dist it is plain JS; from TypeScript sources (tests, bench) through tsx. */
export function spawnVcpu(data: VcpuWorkerData): Worker {
  const here = import.meta.url;
  if (here.endsWith(".ts")) {
    return new Worker(new URL("./ts-bootstrap.mjs", here), { workerData: { entry: new URL("./standin-vcpu.ts", here).href, data } });
  }
  return new Worker(new URL("./standin-vcpu.js", here), { workerData: { data } });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The stand-in source VM. */
export class StandInSource implements MigrationSource {
  readonly devices: MigratableDevice[];
  readonly ctl: Int32Array;
  private workers: Worker[] = [];
  private retired = false;
  private readonly freezeTimeoutMs: number;

  private constructor(readonly core: VmCore, private readonly opts: StandInOptions) {
    this.devices = opts.devices ?? [];
    this.ctl = new Int32Array(new SharedArrayBuffer(4 * (Ctl.WRITES + 64)));
    this.freezeTimeoutMs = opts.freezeTimeoutMs ?? 5000;
  }

  static async create(opts: StandInOptions): Promise<StandInSource> {
    const core = await VmCore.create({ module: opts.module, variant: opts.variant, ramBytes: opts.ramBytes });
    return new StandInSource(core, opts);
  }

  get vcpus(): number { return this.workers.length; }

  /** Start the vCPU workers and wait until each has attached. */
  async start(): Promise<void> {
    const n = this.opts.vcpus ?? 2;
    const rate = (this.opts.dirtyBytesPerSec ?? 0) / 4096 / Math.max(1, n);
    const pages = this.core.guest.pages;
    const count = Math.max(1, Math.floor(pages * (this.opts.workingSet ?? 1)));
    for (let i = 0; i < n; i++) {
      const w = spawnVcpu({ shared: this.core.shareable(), ctl: this.ctl.buffer as SharedArrayBuffer, index: i, pagesPerSec: rate,
        pattern: this.opts.pattern ?? "uniform", first: 0, count, seed: (this.opts.seed ?? 1) * 7919 + i });
      w.on("error", (e) => { this.workerError = e; });
      this.workers.push(w);
    }
    const t0 = performance.now();
    while (Atomics.load(this.ctl, Ctl.RUNNING) < n) {
      if (this.workerError) throw this.workerError;
      if (performance.now() - t0 > 20_000) throw new Error("vCPU workers did not start");
      await sleep(5);
    }
  }
  private workerError: Error | undefined;

  /** Total writes the vCPUs have made (a liveness probe: it grows while they run). */
  writes(): number {
    let s = 0;
    for (let i = 0; i < this.workers.length; i++) s += Atomics.load(this.ctl, Ctl.WRITES + i);
    return s;
  }

  /** True while vCPUs are asked to stay parked. */
  get paused(): boolean { return Atomics.load(this.ctl, Ctl.PAUSE) === 1; }
  get isRetired(): boolean { return this.retired; }

  async writeLock(): Promise<() => void> {
    if (this.retired) throw new Error("the VM was migrated away");
    Atomics.store(this.ctl, Ctl.PAUSE, 1);
    const n = this.workers.length;
    const t0 = performance.now();
    // The main thread never blocks: poll the parked count asynchronously.
    while (Atomics.load(this.ctl, Ctl.PARKED) < n) {
      if (performance.now() - t0 > this.freezeTimeoutMs) {
        this.unpause();
        throw new Error(`vCPUs did not freeze within ${this.freezeTimeoutMs} ms`);
      }
      const r = (Atomics as unknown as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string } })
        .waitAsync?.(this.ctl, Ctl.PARKED, Atomics.load(this.ctl, Ctl.PARKED), 5);
      if (r && r.async) await r.value; else await sleep(0);
    }
    let released = false;
    return () => { if (!released && !this.retired) { released = true; this.unpause(); } };
  }

  private unpause(): void {
    Atomics.store(this.ctl, Ctl.PAUSE, 0);
    Atomics.notify(this.ctl, Ctl.PAUSE);
  }

  setThrottle(fraction: number): void {
    Atomics.store(this.ctl, Ctl.THROTTLE, Math.round(Math.min(0.99, Math.max(0, fraction)) * 1000));
  }

  get throttle(): number { return Atomics.load(this.ctl, Ctl.THROTTLE) / 1000; }

  retire(): void { this.retired = true; }

  /** Pause the vCPUs for good (after a migration) or stop them; terminates the workers. */
  async stop(): Promise<void> {
    Atomics.store(this.ctl, Ctl.STOP, 1);
    Atomics.notify(this.ctl, Ctl.PAUSE);
    await Promise.all(this.workers.map((w) => new Promise<void>((r) => { w.once("exit", () => r()); setTimeout(() => { void w.terminate(); }, 2000).unref(); })));
    this.workers = [];
  }
}

/** The stand-in destination: a VmCore of the announced size and matching devices, with the holes its configuration names. */
export class StandInDestination implements MigrationDestination {
  resumedAt = 0;
  private constructor(readonly core: VmCore, readonly devices: MigratableDevice[]) {}

  static async create(opts: { module: WebAssembly.Module; variant: WasmVariant; ramBytes: number; devices?: MigratableDevice[]; holes?: Array<[number, number]> }): Promise<StandInDestination> {
    const core = await VmCore.create({ module: opts.module, variant: opts.variant, ramBytes: opts.ramBytes, holes: opts.holes });
    return new StandInDestination(core, opts.devices ?? []);
  }

  get resumed(): boolean { return this.resumedAt !== 0; }

  resume(): void {
    if (this.resumedAt) throw new Error("resumed twice");
    this.resumedAt = performance.now();
  }
}
