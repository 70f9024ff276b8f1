// A vCPU pool thread. It attaches one wasm instance to the VM's shared
// memory and runs several vCPUs on it in turn, each with its own state word,
// requests, throttle, token bucket, counters and workload stream (the
// instance's stream is swapped to the vCPU's around its slice:
// vcpu_stream_get/set). Each vCPU goes the single-vCPU way: take itself
// IDLE→FROZEN→RUNNING, run the synthetic workload in batches (each write
// through the guest-memory port, so dirty-marked), back to FROZEN between
// slices, SLEEPING for throttle and rate pauses, and IDLE when the host asks
// it to stop (a freeze).
//
// Scheduling: a round gives every runnable vCPU one slice, in index order. A
// running slice checks its own requests and the thread's doorbell between
// batches; a doorbell ring (a request of any vCPU of this thread changed) ends
// the slice and the thread serves every request before it runs another slice.
// So a freeze of one vCPU or of all of them waits about one batch plus one
// pass over this thread's vCPUs, never a slice of every other vCPU. With
// nothing to run the thread waits on its doorbell until the next sleeper's
// wake-up time.

import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../vm-core.js";
import { SyncState, VW, VS } from "../sync/shared.js";
import { VcpuCell, VcpuOwner, VcpuState } from "./state.js";
import { PATTERN_CODE, type WorkloadSpec } from "./workload.js";
import { MachineDefs } from "../generated/constants.js";

/** What the host posts to a vCPU pool thread. */
export interface VcpuWorkerData {
  shared: SharedVm;
  sync: SharedArrayBuffer;
  /** This pool thread's number (its doorbell: SyncState.doorbellWord). */
  thread: number;
  /** The vCPUs it runs, in the order it runs them. */
  vcpus: number[];
  /** Their workloads, in the same order. */
  workloads: WorkloadSpec[];
  /** Longest run between checks for requests, in microseconds. */
  sliceUs: number;
  /** URL of a guest extension module (see VcpuExtension), imported once in this thread. */
  extension?: string;
  /** Size of this thread's wasm I/O buffer. */
  ioBytes: number;
}

/** What a pool thread posts to the host: all its vCPUs attached; one vCPU failed (it stopped, the others go on); all stopped. */
export type VcpuWorkerMessage = { ready: true } | { failed: number; message: string } | { stopped: true };

/** What a guest extension gets: this vCPU's view of the VM (`core` is its thread's instance, shared by the vCPUs that thread runs). */
export interface VcpuExtensionContext { core: VmCore; index: number; vcpus: number }

/**
 * A module the vCPU threads import (config `vcpu.extension`) to do guest
 * work beyond page writes — drive the virtio-net driver model, send IPIs
 * through the APIC. `init` runs once per vCPU, `slice` once per run slice
 * of each vCPU while it is RUNNING, so a host freeze stops it exactly like
 * the page writes. A thread imports the module once for all the vCPUs it
 * runs: keep per-vCPU state keyed by `ctx.index`, not in module variables.
 */
export interface VcpuExtension {
  init?(ctx: VcpuExtensionContext): void | Promise<void>;
  slice?(ctx: VcpuExtensionContext): void;
}

const d = (workerData as { data: VcpuWorkerData }).data;
const core = await VmCore.attach(d.shared, d.ioBytes);
const s = SyncState.from(d.sync);
const i32 = s.i32;
const BELL = s.doorbellWord(d.thread);
// Batches are sized to take about 20..80 µs (adapted as we go: page faults,
// cache misses and write size all change the cost per write), so a request
// waits at most one short batch.
const BATCH_MIN_MS = 0.02, BATCH_MAX_MS = 0.08;
const sliceMs = d.sliceUs / 1000;
/** Longest wait on the doorbell: a lost wake-up costs at most this. */
const MAX_WAIT_MS = 100;

/** Where a vCPU is, as this thread sees it. */
const Phase = {
  /** IDLE: not taken, or taken by the host; waits for its requests to clear. */
  PARKED: 0,
  /** FROZEN, taken by itself: runs a slice at its turn. */
  READY: 1,
  /** SLEEPING until `wakeAt`. */
  SLEEPING: 2,
  /** Stopped (STOP) or failed: never runs again. */
  DONE: 3,
} as const;

const STREAM_FIELDS = [MachineDefs.STREAM_PRNG, MachineDefs.STREAM_CURSOR, MachineDefs.STREAM_SEQUENCE];
/** The vCPU whose workload stream is in the instance now. */
let streamOf: Vcpu | null = null;

class Vcpu {
  readonly cell: VcpuCell;
  readonly ctx: VcpuExtensionContext;
  private readonly req: number;
  private readonly stop: number;
  private readonly throttle: number;
  private readonly pattern: number;
  private readonly tag: number;
  phase: number = Phase.PARKED;
  wakeAt = 0;
  private sleptAt = 0;
  private batch = 16;
  private writes = 0;
  private runMs = 0;
  private sleepMs = 0;
  private slices = 0;
  private exits = 0;
  private lastPublish = 0;
  // Rate limiting: a token bucket holding at most 10 ms of writes, refilled only while not frozen by the host.
  private tokens = 0;
  private lastRefill = performance.now();
  /** Its workload stream while another vCPU's is in the instance (MachineDefs.STREAM_* order). */
  private readonly stream: number[];

  constructor(readonly index: number, readonly w: WorkloadSpec) {
    this.cell = new VcpuCell(s, index);
    this.req = s.vcpuWord(index, VW.REQ);
    this.stop = s.vcpuWord(index, VW.STOP);
    this.throttle = s.vcpuWord(index, VW.THROTTLE_PPM);
    this.pattern = PATTERN_CODE[w.pattern];
    this.tag = 0x100 + index;
    this.ctx = { core, index, vcpus: s.vcpus };
    core.exports.vcpu_seed((w.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
    this.stream = STREAM_FIELDS.map((f) => core.exports.vcpu_stream_get(f));
  }

  /** Make the instance's workload stream this vCPU's (saving the one there). */
  private own(): void {
    if (streamOf === this) return;
    const e = core.exports;
    if (streamOf) for (let k = 0; k < STREAM_FIELDS.length; k++) streamOf.stream[k] = e.vcpu_stream_get(STREAM_FIELDS[k]);
    for (let k = 0; k < STREAM_FIELDS.length; k++) {
      const st = e.vcpu_stream_set(STREAM_FIELDS[k], this.stream[k]);
      if (st !== 0) throw new Error(`vcpu_stream_set: status ${st}`);
    }
    streamOf = this;
  }

  wanted(): boolean { return Atomics.load(i32, this.req) !== 0 || Atomics.load(i32, this.stop) !== 0; }
  get stopping(): boolean { return Atomics.load(i32, this.stop) !== 0; }

  private must(r: string, what: string): void { if (r !== "ok") throw new Error(`${what}: ${r} (state ${this.cell.stateName})`); }

  publish(): void {
    const stat = (c: number) => s.vcpuStat(this.index, c);
    Atomics.store(s.i64, stat(VS.WRITES), BigInt(this.writes));
    Atomics.store(s.i64, stat(VS.BYTES), BigInt(this.writes) * BigInt(this.w.writeBytes));
    Atomics.store(s.i64, stat(VS.RUN_NS), BigInt(Math.round(this.runMs * 1e6)));
    Atomics.store(s.i64, stat(VS.SLEEP_NS), BigInt(Math.round(this.sleepMs * 1e6)));
    Atomics.store(s.i64, stat(VS.SLICES), BigInt(this.slices));
    Atomics.store(s.i64, stat(VS.EXITS), BigInt(this.exits));
    this.lastPublish = performance.now();
  }

  /** PARKED → READY if nothing is asked of it and the host does not hold it; DONE on STOP. */
  private unpark(): void {
    if (this.stopping) { this.publish(); this.phase = Phase.DONE; return; }
    if (Atomics.load(i32, this.req) !== 0) return;
    if (this.cell.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF) !== "ok") return; // the host holds it: its thaw rings
    // The host sets REQ before it reads our state; we set our state before reading REQ: one of us sees the other.
    if (this.wanted()) { this.must(this.cell.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF), "back out"); return; }
    this.lastRefill = performance.now();
    this.phase = Phase.READY;
  }

  /** FROZEN (its own) → IDLE, counters published first: a host that froze it reads final counters. */
  private exit(): void {
    this.exits++;
    this.publish();
    this.must(this.cell.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF), "exit to idle");
    this.phase = Phase.PARKED;
  }

  private wake(): void {
    this.must(this.cell.transition(VcpuState.SLEEPING, VcpuState.FROZEN, VcpuOwner.SELF), "wake");
    this.sleepMs += performance.now() - this.sleptAt;
    this.phase = Phase.READY;
  }

  /** Serve its requests without running it: exit on a request, wake at its time, leave IDLE once nothing is asked. */
  serve(t: number): void {
    if (this.phase === Phase.SLEEPING && (this.wanted() || t >= this.wakeAt)) this.wake();
    if (this.phase === Phase.READY && this.wanted()) this.exit();
    if (this.phase === Phase.PARKED) this.unpark();
  }

  /**
   * One slice of a READY vCPU (ended early by a request or a ring of the
   * doorbell away from `bell`), then FROZEN again, or SLEEPING for its
   * throttle or rate pause, or IDLE on a request.
   */
  runSlice(ext: VcpuExtension | null, bell: number): void {
    const w = this.w, e = core.exports, cell = this.cell;
    this.own();
    this.must(cell.transition(VcpuState.FROZEN, VcpuState.RUNNING, VcpuOwner.SELF), "run");
    const t0 = performance.now();
    ext?.slice?.(this.ctx);
    let t = performance.now();
    let pause = 0;
    while (t - t0 < sliceMs && !this.wanted() && Atomics.load(i32, BELL) === bell) {
      if (w.idle) { pause = sliceMs - (t - t0); break; }
      let n = this.batch;
      if (w.rate > 0) {
        this.tokens = Math.min(this.tokens + ((t - this.lastRefill) * w.rate) / 1000, Math.max(1, w.rate / 100));
        this.lastRefill = t;
        if (this.tokens < 1) { pause = ((1 - this.tokens) * 1000) / w.rate; break; }
        n = Math.min(n, Math.floor(this.tokens));
        this.tokens -= n;
      }
      const done = e.vcpu_dirty(this.pattern, w.firstPage, w.pageCount, w.hotPages, n, w.writeBytes, this.tag);
      if (done < 0) throw new Error(`vcpu_dirty returned status ${-done}`);
      this.writes += done;
      const tb = performance.now();
      if (n === this.batch) {
        if (tb - t < BATCH_MIN_MS && this.batch < 65536) this.batch *= 2;
        else if (tb - t > BATCH_MAX_MS && this.batch > 1) this.batch >>= 1;
      }
      t = tb;
    }
    this.must(cell.transition(VcpuState.RUNNING, VcpuState.FROZEN, VcpuOwner.SELF), "stop running");
    const ran = t - t0;
    this.runMs += ran;
    this.slices++;
    if (this.wanted()) { this.exit(); return; }
    const f = Atomics.load(i32, this.throttle) / 1e6;
    if (f < 1) pause = Math.max(pause, (ran * (1 - f)) / f);
    if (pause > 0) {
      this.must(cell.transition(VcpuState.FROZEN, VcpuState.SLEEPING, VcpuOwner.SELF), "sleep");
      this.sleptAt = performance.now();
      this.wakeAt = this.sleptAt + pause;
      this.phase = Phase.SLEEPING;
    }
    if (performance.now() - this.lastPublish >= 2) this.publish();
  }

  /** After an error: finish its own legal path back to IDLE (a host-held vCPU stays the host's) and never run it again. */
  fail(): void {
    this.cell.settleSelf();
    this.publish();
    this.phase = Phase.DONE;
  }
}

const ext: VcpuExtension | null = d.extension ? ((await import(d.extension)) as VcpuExtension) : null;
const vcpus: Vcpu[] = [];
for (let k = 0; k < d.vcpus.length; k++) {
  const v = new Vcpu(d.vcpus[k], d.workloads[k]);
  await ext?.init?.(v.ctx);
  vcpus.push(v);
}
const post = (m: VcpuWorkerMessage) => parentPort!.postMessage(m);
post({ ready: true });

/** An error stops vCPU `v` only (reported to the host); the others of this thread go on. */
function failed(v: Vcpu, err: unknown): void {
  v.fail();
  post({ failed: v.index, message: err instanceof Error ? err.message : String(err) });
}

/** Serve every vCPU's requests (Vcpu.serve) at time `t`. */
function serveAll(t: number): void {
  for (const v of vcpus) {
    if (v.phase === Phase.DONE) continue;
    try { v.serve(t); } catch (err) { failed(v, err); }
  }
}

for (;;) {
  // Read the doorbell before looking at any request: a ring after this read makes the wait below return at once.
  let bell = Atomics.load(i32, BELL);
  serveAll(performance.now());
  let live = 0, ran = false, nextWake = Infinity;
  for (const v of vcpus) {
    if (v.phase === Phase.DONE) continue;
    if (Atomics.load(i32, BELL) !== bell) {
      // A request changed while we ran: serve them all before the next slice.
      bell = Atomics.load(i32, BELL);
      serveAll(performance.now());
      if (v.phase === Phase.DONE) continue;
    }
    live++;
    if (v.phase === Phase.READY) {
      try { v.runSlice(ext, bell); } catch (err) { failed(v, err); }
      ran = true;
    }
    if (v.phase === Phase.SLEEPING) nextWake = Math.min(nextWake, v.wakeAt);
  }
  if (live === 0) break;
  if (!ran) Atomics.wait(i32, BELL, bell, Math.max(0, Math.min(MAX_WAIT_MS, nextWake - performance.now())));
}
post({ stopped: true });
