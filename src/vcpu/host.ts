// The host side of the vCPUs: starts one worker per vCPU, freezes and thaws
// them (reference-counted, so pause and the write lock can overlap), sets
// their throttle, reads their statistics and stops them. Runs on the main
// thread and never blocks it: waits are Atomics.waitAsync with timeouts.

import type { Worker } from "node:worker_threads";
import type { SharedVm } from "../vm-core.js";
import { SyncState, VW, VS } from "../sync/shared.js";
import { waitAsync, now } from "../sync/wait.js";
import type { SyncStatus, VcpuFreezer } from "../sync/vm-lock.js";
import { VcpuCell, VcpuOwner, VcpuState, VCPU_STATE_NAMES } from "./state.js";
import { siblingModule, spawnWorker } from "./spawn.js";
import type { WorkloadSpec } from "./workload.js";
import type { VcpuWorkerData } from "./vcpu-worker.js";

/** Counters of one vCPU, cumulative since it started. */
export interface VcpuStats {
  index: number;
  state: string;
  /** Page writes done (each dirties one page). */
  writes: number;
  bytes: number;
  runMs: number;
  sleepMs: number;
  /** Times it went back to IDLE (freezes, stops). */
  exits: number;
  refusedTransitions: number;
}

/** I/O buffer of each vCPU worker's wasm instance (what a worker's attach takes is sized from it). */
export const VCPU_WORKER_IO_BYTES = 4096;

/** The vCPUs of one machine. */
export class VcpuHost implements VcpuFreezer {
  readonly cells: VcpuCell[];
  private readonly workers: Array<Worker | null>;
  private readonly holds: number[];
  private readonly pending: Array<Promise<SyncStatus> | null>;
  private readonly exited: Array<Promise<void>>;
  private started = false;
  /** Errors of vCPU workers after they started (a worker that fails stops running; freezes of it still succeed once it is IDLE). */
  readonly errors: Error[] = [];

  constructor(readonly sync: SyncState) {
    this.cells = Array.from({ length: sync.vcpus }, (_, i) => new VcpuCell(sync, i));
    this.workers = this.cells.map(() => null);
    this.holds = this.cells.map(() => 0);
    this.pending = this.cells.map(() => null);
    this.exited = this.cells.map(() => Promise.resolve());
  }

  get count(): number { return this.cells.length; }

  /** Start one worker per vCPU running `workloads[i]` (and the guest extension module, if any); resolves when all attached. */
  async start(shared: SharedVm, workloads: WorkloadSpec[], sliceUs: number, extension?: string, startTimeoutMs = 30_000): Promise<void> {
    if (this.started) throw new Error("vCPUs already started");
    this.started = true;
    const entry = siblingModule(import.meta.url, "vcpu-worker");
    const ready = this.cells.map((_, i) => {
      const data: VcpuWorkerData = { shared, sync: this.sync.buffer, index: i, workload: workloads[i], sliceUs, extension, ioBytes: VCPU_WORKER_IO_BYTES };
      const w = spawnWorker(entry, data);
      this.workers[i] = w;
      let failure: Error | null = null;
      this.exited[i] = new Promise<void>((resolve) => w.once("exit", () => resolve()));
      return new Promise<void>((resolve, reject) => {
        w.on("message", (m: { ready?: boolean }) => { if (m.ready) resolve(); });
        w.on("error", (err) => { failure = err; this.errors.push(new Error(`vCPU ${i}: ${err.message}`)); reject(new Error(`vCPU ${i} worker failed: ${err.message}`)); });
        w.once("exit", (code) => reject(failure ?? new Error(`vCPU ${i} worker exited (${code}) before it was ready`)));
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`vCPU workers not ready within ${startTimeoutMs} ms`)), startTimeoutMs);
    });
    try {
      await Promise.race([Promise.all(ready), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Set the fraction of time each vCPU (or vCPU `index`) may run, 0.01..1. */
  setThrottle(fraction: number, index?: number): void {
    if (!(fraction >= 0.01 && fraction <= 1)) throw new RangeError(`throttle ${fraction} out of range 0.01..1`);
    for (const c of index === undefined ? this.cells : [this.cells[index]]) {
      Atomics.store(this.sync.i32, this.sync.vcpuWord(c.index, VW.THROTTLE_PPM), Math.round(fraction * 1e6));
    }
  }

  throttle(index: number): number { return Atomics.load(this.sync.i32, this.sync.vcpuWord(index, VW.THROTTLE_PPM)) / 1e6; }

  /**
   * Freeze vCPU `i`: ask it to stop, wait until it is IDLE, take it to FROZEN
   * as the host. Reference-counted: the vCPU stays frozen until every freeze
   * is thawed. On timeout nothing is left held.
   */
  freeze(i: number, timeoutMs: number): Promise<SyncStatus> {
    this.holds[i]++;
    if (this.holds[i] > 1) {
      const p = this.pending[i]!;
      return p.then((st) => { if (st !== "ok") this.holds[i]--; return st; });
    }
    const p = this.freezeOne(i, now() + timeoutMs).then((st) => {
      if (st !== "ok") {
        this.holds[i]--;
        if (this.holds[i] === 0) this.pending[i] = null;
      }
      return st;
    });
    this.pending[i] = p;
    return p;
  }

  private async freezeOne(i: number, deadline: number): Promise<SyncStatus> {
    const s = this.sync;
    const req = s.vcpuWord(i, VW.REQ);
    const cell = this.cells[i];
    Atomics.store(s.i32, req, 1);
    Atomics.notify(s.i32, req); // wakes a SLEEPING vCPU
    for (;;) {
      const raw = cell.raw;
      if (raw === VcpuState.IDLE) {
        if (cell.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.HOST) === "ok") return "ok";
        continue;
      }
      const left = deadline - now();
      if (left <= 0) {
        Atomics.store(s.i32, req, 0);
        Atomics.notify(s.i32, req);
        return "timeout";
      }
      await waitAsync(s.i32, cell.wordIndex, raw, Math.min(left, 50));
    }
  }

  /** Undo one freeze of vCPU `i`; the last one returns it to IDLE and lets it run. */
  thaw(i: number): void {
    if (this.holds[i] <= 0) throw new Error(`thaw: vCPU ${i} is not frozen`);
    if (--this.holds[i] > 0) return;
    this.pending[i] = null;
    const r = this.cells[i].transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.HOST);
    if (r !== "ok") throw new Error(`thaw: vCPU ${i} was ${this.cells[i].stateName}, not host-frozen`);
    const req = this.sync.vcpuWord(i, VW.REQ);
    Atomics.store(this.sync.i32, req, 0);
    Atomics.notify(this.sync.i32, req);
  }

  /** Freeze every vCPU (see freeze); on timeout the ones already frozen are thawed. */
  async freezeAll(timeoutMs: number): Promise<SyncStatus> {
    const results = await Promise.all(this.cells.map((_, i) => this.freeze(i, timeoutMs)));
    if (results.every((r) => r === "ok")) return "ok";
    results.forEach((r, i) => { if (r === "ok") this.thaw(i); });
    return results.find((r) => r !== "ok")!;
  }

  thawAll(): void { for (let i = 0; i < this.cells.length; i++) this.thaw(i); }

  /** True while the host holds vCPU `i` frozen. */
  isFrozen(i: number): boolean { return this.holds[i] > 0 && this.cells[i].raw === (VcpuState.FROZEN | (VcpuOwner.HOST << 4)); }

  stats(): VcpuStats[] {
    const s = this.sync;
    const g = (i: number, c: number) => Number(Atomics.load(s.i64, s.vcpuStat(i, c)));
    return this.cells.map((c, i) => ({
      index: i, state: VCPU_STATE_NAMES[c.state],
      writes: g(i, VS.WRITES), bytes: g(i, VS.BYTES), runMs: g(i, VS.RUN_NS) / 1e6, sleepMs: g(i, VS.SLEEP_NS) / 1e6,
      exits: g(i, VS.EXITS), refusedTransitions: c.refused,
    }));
  }

  /** Ask every worker to finish and wait (up to `timeoutMs`); workers that do not are terminated. */
  /**
   * A worker terminated mid-run cannot take its vCPU back to IDLE itself:
   * finish its own legal path (RUNNING/SLEEPING → FROZEN → IDLE) for it. A vCPU
   * the host holds frozen stays with the host.
   */
  private settleTerminated(i: number): void {
    const cell = this.cells[i];
    const st = cell.state;
    if (cell.owner !== VcpuOwner.SELF) return;
    if (st === VcpuState.RUNNING || st === VcpuState.SLEEPING) cell.transition(st, VcpuState.FROZEN, VcpuOwner.SELF);
    if (cell.state === VcpuState.FROZEN) cell.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF);
  }

  async stop(timeoutMs = 2000): Promise<void> {
    const s = this.sync;
    for (let i = 0; i < this.cells.length; i++) {
      Atomics.store(s.i32, s.vcpuWord(i, VW.STOP), 1);
      Atomics.notify(s.i32, s.vcpuWord(i, VW.REQ));
      Atomics.notify(s.i32, this.cells[i].wordIndex);
    }
    await Promise.all(this.workers.map(async (w, i) => {
      if (!w) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => { timer = setTimeout(() => r("late"), timeoutMs); });
      const r = await Promise.race([this.exited[i].then(() => "exited" as const), late]);
      clearTimeout(timer);
      if (r === "late") {
        await w.terminate();
        this.settleTerminated(i);
      }
      this.workers[i] = null;
    }));
  }
}
