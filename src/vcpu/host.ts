// The host side of the vCPUs: runs them on a bounded pool of worker threads
// (each thread multiplexes its vCPUs, see vcpu-worker.ts), freezes and thaws
// them (reference-counted per vCPU, so pause and the write lock can overlap),
// sets their throttle, reads their statistics and stops them. Runs on the
// main thread and never blocks it: waits are Atomics.waitAsync with timeouts.
// Every change to a vCPU's request words rings the doorbell of the pool
// thread that runs it (VW.DOORBELL), which is all that thread ever waits on.

import type { Worker } from "node:worker_threads";
import { availableParallelism } from "node:os";
import type { SharedVm } from "../vm-core.js";
import { SyncState, VW, VS } from "../sync/shared.js";
import { waitAsync, now } from "../sync/wait.js";
import type { SyncStatus, VcpuFreezer } from "../sync/vm-lock.js";
import { VcpuCell, VcpuOwner, VcpuState, VCPU_STATE_NAMES } from "./state.js";
import { siblingModule, spawnWorker } from "./spawn.js";
import type { WorkloadSpec } from "./workload.js";
import type { VcpuWorkerData, VcpuWorkerMessage } from "./vcpu-worker.js";

/** Counters of one vCPU, cumulative since it started. */
export interface VcpuStats {
  index: number;
  /** The pool thread that runs it. */
  thread: number;
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

/** I/O buffer of each pool thread's wasm instance (what a thread's attach takes is sized from it). */
export const VCPU_WORKER_IO_BYTES = 4096;

/** Pool threads for `vcpus` vCPUs when none is asked for: one per vCPU, up to the host's available parallelism. */
export function defaultVcpuThreads(vcpus: number): number {
  return Math.max(0, Math.min(vcpus, availableParallelism()));
}

/** The pool size for `vcpus` vCPUs and config value `asked` of vcpu.threads ("auto" or a count): at least 1, at most one thread per vCPU. */
export function vcpuThreads(vcpus: number, asked: string | number = "auto"): number {
  if (vcpus === 0) return 0;
  const want = asked === "auto" ? defaultVcpuThreads(vcpus) : Number(asked);
  if (!Number.isInteger(want) || want < 1) throw new RangeError(`vCPU threads ${asked}: want a whole number ≥ 1 or auto`);
  return Math.min(vcpus, want);
}

/** Options of a VcpuHost. */
export interface VcpuHostOptions {
  /** Pool threads the vCPUs run on (clamped to 1..vCPUs; default defaultVcpuThreads). */
  threads?: number;
}

/** The vCPUs of one machine. */
export class VcpuHost implements VcpuFreezer {
  readonly cells: VcpuCell[];
  /** Pool threads (0 only without vCPUs); vCPU i runs on thread i % threads. */
  readonly threads: number;
  private readonly workers: Array<Worker | null>;
  private readonly holds: number[];
  private readonly pending: Array<Promise<SyncStatus> | null>;
  private readonly exited: Array<Promise<void>>;
  /** Freezes asked and not yet settled, by vCPU (served by drain). */
  private readonly freezing = new Map<number, { deadline: number; resolve: (st: SyncStatus) => void }>();
  private draining = false;
  /** A freeze was added while drain waits, and drain was woken for it. */
  private kicked = false;
  private started = false;
  /** Errors of vCPUs after they started (a vCPU that fails stops running, the others on its thread go on; freezes of it still succeed once it is IDLE). */
  readonly errors: Error[] = [];

  constructor(readonly sync: SyncState, opts: VcpuHostOptions = {}) {
    this.cells = Array.from({ length: sync.vcpus }, (_, i) => new VcpuCell(sync, i));
    this.threads = vcpuThreads(this.cells.length, opts.threads ?? "auto");
    this.workers = Array.from({ length: this.threads }, () => null);
    this.exited = this.workers.map(() => Promise.resolve());
    this.holds = this.cells.map(() => 0);
    this.pending = this.cells.map(() => null);
  }

  get count(): number { return this.cells.length; }

  /** The pool thread that runs vCPU `i`. */
  threadOf(i: number): number { return i % this.threads; }

  /** The vCPUs pool thread `t` runs, in the order it runs them. */
  vcpusOf(t: number): number[] {
    const out: number[] = [];
    for (let i = t; i < this.cells.length; i += this.threads) out.push(i);
    return out;
  }

  /** Threads to ring once a batch of requests (freezeAll, thawAll) is posted; null outside a batch. */
  private batch: Set<number> | null = null;

  /** Tell the thread of vCPU `i` that one of its requests changed (at the end of the batch, within one). */
  private ring(i: number): void {
    const t = this.threadOf(i);
    if (this.batch) this.batch.add(t);
    else this.ringThread(t);
  }

  private ringThread(t: number): void {
    const b = this.sync.doorbellWord(t);
    Atomics.add(this.sync.i32, b, 1);
    Atomics.notify(this.sync.i32, b);
  }

  /** Run `post` (which posts requests synchronously), then ring each thread concerned once: one pass over its vCPUs serves them all. */
  private batched<T>(post: () => T): T {
    if (this.batch) return post();
    const rung = (this.batch = new Set());
    try { return post(); } finally {
      this.batch = null;
      for (const t of rung) this.ringThread(t);
    }
  }

  /**
   * Start the pool threads, thread t running vCPUs t, t+threads, … on
   * `workloads[i]` (and the guest extension module, if any); resolves when
   * every vCPU has attached.
   */
  async start(shared: SharedVm, workloads: WorkloadSpec[], sliceUs: number, extension?: string, startTimeoutMs = 30_000): Promise<void> {
    if (this.started) throw new Error("vCPUs already started");
    this.started = true;
    const entry = siblingModule(import.meta.url, "vcpu-worker");
    const ready = this.workers.map((_, t) => {
      const vcpus = this.vcpusOf(t);
      const data: VcpuWorkerData = { shared, sync: this.sync.buffer, thread: t, vcpus, workloads: vcpus.map((i) => workloads[i]), sliceUs, extension, ioBytes: VCPU_WORKER_IO_BYTES };
      const w = spawnWorker(entry, data);
      this.workers[t] = w;
      let failure: Error | null = null;
      this.exited[t] = new Promise<void>((resolve) => w.once("exit", () => resolve()));
      return new Promise<void>((resolve, reject) => {
        w.on("message", (m: VcpuWorkerMessage) => {
          if ("ready" in m) resolve();
          else if ("failed" in m) this.errors.push(new Error(`vCPU ${m.failed}: ${m.message}`));
        });
        w.on("error", (err) => {
          failure = err;
          // The thread is gone: its vCPUs' states are finished for them, so freezes of them succeed.
          for (const i of vcpus) { this.errors.push(new Error(`vCPU ${i}: ${err.message}`)); this.cells[i].settleSelf(); }
          reject(new Error(`vCPU thread ${t} failed: ${err.message}`));
        });
        w.once("exit", (code) => reject(failure ?? new Error(`vCPU thread ${t} exited (${code}) before it was ready`)));
      });
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`vCPU threads not ready within ${startTimeoutMs} ms`)), startTimeoutMs);
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

  /** Ask vCPU `i` to stop; `drain` takes it once it is IDLE. */
  private freezeOne(i: number, deadline: number): Promise<SyncStatus> {
    Atomics.store(this.sync.i32, this.sync.vcpuWord(i, VW.REQ), 1);
    this.ring(i); // wakes its thread if it waits (a SLEEPING vCPU), ends the slice it runs
    return new Promise((resolve) => {
      this.freezing.set(i, { deadline, resolve });
      if (!this.draining) {
        // From a microtask: every freeze asked in this turn (a freezeAll) is in the first scan.
        this.draining = true;
        queueMicrotask(() => void this.drain());
      } else if (!this.kicked) {
        // The loop may be waiting for a vCPU to go IDLE while this one is IDLE already: have it scan again.
        this.kicked = true;
        Atomics.notify(this.sync.i32, this.sync.idleWord());
      }
    });
  }

  /**
   * Serve every freeze in progress with one loop: take each asked vCPU that
   * is IDLE to FROZEN as the host, give up on those past their deadline
   * (withdrawing the request), and wait on the pool's idle counter
   * (SyncState.idleWord), which every return of a vCPU to IDLE bumps: one
   * wait for any number of vCPUs, not one each.
   */
  private async drain(): Promise<void> {
    const s = this.sync, idle = s.idleWord();
    try {
      while (this.freezing.size > 0) {
        this.kicked = false;
        // Read before the scan: a vCPU that goes IDLE after its check changes it, and the wait returns at once.
        const seen = Atomics.load(s.i32, idle);
        let next = Infinity;
        this.batched(() => {
          const t = now();
          for (const [i, f] of this.freezing) {
            const cell = this.cells[i];
            if (cell.raw === VcpuState.IDLE && cell.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.HOST) === "ok") {
              this.freezing.delete(i);
              f.resolve("ok");
            } else if (t >= f.deadline) {
              Atomics.store(s.i32, s.vcpuWord(i, VW.REQ), 0);
              this.ring(i);
              this.freezing.delete(i);
              f.resolve("timeout");
            } else next = Math.min(next, f.deadline);
          }
        });
        if (this.freezing.size === 0) break;
        await waitAsync(s.i32, idle, seen, Math.max(0, Math.min(next - now(), 50)));
      }
    } finally {
      this.draining = false;
    }
  }

  /** Undo one freeze of vCPU `i`; the last one returns it to IDLE and lets it run. */
  thaw(i: number): void {
    if (this.holds[i] <= 0) throw new Error(`thaw: vCPU ${i} is not frozen`);
    if (--this.holds[i] > 0) return;
    this.pending[i] = null;
    const r = this.cells[i].transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.HOST);
    if (r !== "ok") throw new Error(`thaw: vCPU ${i} was ${this.cells[i].stateName}, not host-frozen`);
    Atomics.store(this.sync.i32, this.sync.vcpuWord(i, VW.REQ), 0);
    this.ring(i);
  }

  /** Freeze every vCPU (see freeze); on timeout the ones already frozen are thawed. */
  async freezeAll(timeoutMs: number): Promise<SyncStatus> {
    const results = await Promise.all(this.batched(() => this.cells.map((_, i) => this.freeze(i, timeoutMs))));
    if (results.every((r) => r === "ok")) return "ok";
    this.batched(() => results.forEach((r, i) => { if (r === "ok") this.thaw(i); }));
    return results.find((r) => r !== "ok")!;
  }

  thawAll(): void { this.batched(() => { for (let i = 0; i < this.cells.length; i++) this.thaw(i); }); }

  /** True while the host holds vCPU `i` frozen. */
  isFrozen(i: number): boolean { return this.holds[i] > 0 && this.cells[i].raw === (VcpuState.FROZEN | (VcpuOwner.HOST << 4)); }

  stats(): VcpuStats[] {
    const s = this.sync;
    const g = (i: number, c: number) => Number(Atomics.load(s.i64, s.vcpuStat(i, c)));
    return this.cells.map((c, i) => ({
      index: i, thread: this.threadOf(i), state: VCPU_STATE_NAMES[c.state],
      writes: g(i, VS.WRITES), bytes: g(i, VS.BYTES), runMs: g(i, VS.RUN_NS) / 1e6, sleepMs: g(i, VS.SLEEP_NS) / 1e6,
      exits: g(i, VS.EXITS), refusedTransitions: c.refused,
    }));
  }

  /** Ask every vCPU to stop and each thread to finish, and wait (up to `timeoutMs`); threads that do not are terminated. */
  async stop(timeoutMs = 2000): Promise<void> {
    const s = this.sync;
    for (let i = 0; i < this.cells.length; i++) Atomics.store(s.i32, s.vcpuWord(i, VW.STOP), 1);
    for (let t = 0; t < this.threads; t++) this.ringThread(t);
    await Promise.all(this.workers.map(async (w, t) => {
      if (!w) return;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<"late">((r) => { timer = setTimeout(() => r("late"), timeoutMs); });
      const r = await Promise.race([this.exited[t].then(() => "exited" as const), late]);
      clearTimeout(timer);
      if (r === "late") {
        await w.terminate();
        for (const i of this.vcpusOf(t)) this.cells[i].settleSelf();
      }
      this.workers[t] = null;
    }));
  }
}
