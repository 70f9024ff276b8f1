// A vCPU's worker thread. It attaches to the VM's shared wasm memory and
// synchronisation state, then loops: take itself IDLE→FROZEN→RUNNING, run the
// synthetic workload in batches (each write through the guest-memory port, so
// dirty-marked), and go back to FROZEN/SLEEPING for throttle and rate pauses
// or to IDLE when the host asks it to stop (a freeze) — checking the request
// between batches, so a freeze waits at most one batch.

import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../vm-core.js";
import { SyncState, VW, VS } from "../sync/shared.js";
import { VcpuCell, VcpuOwner, VcpuState } from "./state.js";
import { PATTERN_CODE, type WorkloadSpec } from "./workload.js";

/** What the host posts to a vCPU worker. */
export interface VcpuWorkerData {
  shared: SharedVm;
  sync: SharedArrayBuffer;
  index: number;
  workload: WorkloadSpec;
  /** Longest run between checks for requests, in microseconds. */
  sliceUs: number;
  /** URL of a guest extension module (see VcpuExtension), imported in this worker. */
  extension?: string;
  /** Size of this worker's wasm I/O buffer. */
  ioBytes: number;
}

/** What a guest extension gets: this vCPU's view of the VM. */
export interface VcpuExtensionContext { core: VmCore; index: number; vcpus: number }

/**
 * A module the vCPU worker imports (config `vcpu.extension`) to do guest
 * work beyond page writes — drive the virtio-net driver model, send IPIs
 * through the APIC. `slice` runs once per run slice while the vCPU is
 * RUNNING, so a host freeze stops it exactly like the page writes.
 */
export interface VcpuExtension {
  init?(ctx: VcpuExtensionContext): void | Promise<void>;
  slice?(ctx: VcpuExtensionContext): void;
}

const d = (workerData as { data: VcpuWorkerData }).data;
const core = await VmCore.attach(d.shared, d.ioBytes);
const s = SyncState.from(d.sync);
const cell = new VcpuCell(s, d.index);
const i32 = s.i32;
const REQ = s.vcpuWord(d.index, VW.REQ);
const STOP = s.vcpuWord(d.index, VW.STOP);
const THROTTLE = s.vcpuWord(d.index, VW.THROTTLE_PPM);
const w = d.workload;
const e = core.exports;
e.vcpu_seed((w.seed ^ Math.imul(d.index + 1, 0x9e3779b1)) >>> 0);
const pattern = PATTERN_CODE[w.pattern];
// Batches are sized to take about 20..80 µs (adapted as we go: page faults,
// cache misses and write size all change the cost per write), so a freeze
// request waits at most one short batch.
const BATCH_MIN_MS = 0.02, BATCH_MAX_MS = 0.08;
let batch = 16;
const tag = 0x100 + d.index;

const stat = (c: number) => s.vcpuStat(d.index, c);
let writes = 0, runMs = 0, sleepMs = 0, slices = 0, exits = 0, lastPublish = 0;
const publish = () => {
  Atomics.store(s.i64, stat(VS.WRITES), BigInt(writes));
  Atomics.store(s.i64, stat(VS.BYTES), BigInt(writes) * BigInt(w.writeBytes));
  Atomics.store(s.i64, stat(VS.RUN_NS), BigInt(Math.round(runMs * 1e6)));
  Atomics.store(s.i64, stat(VS.SLEEP_NS), BigInt(Math.round(sleepMs * 1e6)));
  Atomics.store(s.i64, stat(VS.SLICES), BigInt(slices));
  Atomics.store(s.i64, stat(VS.EXITS), BigInt(exits));
};

const must = (r: string, what: string) => { if (r !== "ok") throw new Error(`vCPU ${d.index}: ${what}: ${r} (state ${cell.stateName})`); };
const wanted = () => Atomics.load(i32, REQ) !== 0 || Atomics.load(i32, STOP) !== 0;
const sliceMs = d.sliceUs / 1000;
// Rate limiting: a token bucket holding at most 10 ms of writes, refilled only while not frozen by the host.
let tokens = 0;
let lastRefill = performance.now();

const extCtx: VcpuExtensionContext = { core, index: d.index, vcpus: s.vcpus };
const ext: VcpuExtension | null = d.extension ? ((await import(d.extension)) as VcpuExtension) : null;
await ext?.init?.(extCtx);

parentPort!.postMessage({ ready: true });

while (Atomics.load(i32, STOP) === 0) {
  const req = Atomics.load(i32, REQ);
  if (req !== 0) { Atomics.wait(i32, REQ, req, 100); lastRefill = performance.now(); continue; }
  const cur = cell.raw;
  if (cell.transition(VcpuState.IDLE, VcpuState.FROZEN, VcpuOwner.SELF) !== "ok") { Atomics.wait(i32, cell.wordIndex, cur, 100); continue; }
  // The host sets REQ before it reads our state; we set our state before reading REQ: one of us sees the other.
  if (wanted()) { must(cell.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF), "back out"); continue; }
  for (;;) {
    must(cell.transition(VcpuState.FROZEN, VcpuState.RUNNING, VcpuOwner.SELF), "run");
    const t0 = performance.now();
    ext?.slice?.(extCtx);
    let t = performance.now();
    let pause = 0;
    while (t - t0 < sliceMs && !wanted()) {
      if (w.idle) { pause = sliceMs - (t - t0); break; }
      let n = batch;
      if (w.rate > 0) {
        tokens = Math.min(tokens + ((t - lastRefill) * w.rate) / 1000, Math.max(1, w.rate / 100));
        lastRefill = t;
        if (tokens < 1) { pause = ((1 - tokens) * 1000) / w.rate; break; }
        n = Math.min(n, Math.floor(tokens));
        tokens -= n;
      }
      const done = e.vcpu_dirty(pattern, w.firstPage, w.pageCount, w.hotPages, n, w.writeBytes, tag);
      if (done < 0) throw new Error(`vCPU ${d.index}: vcpu_dirty returned status ${-done}`);
      writes += done;
      const tb = performance.now();
      if (n === batch) {
        if (tb - t < BATCH_MIN_MS && batch < 65536) batch *= 2;
        else if (tb - t > BATCH_MAX_MS && batch > 1) batch >>= 1;
      }
      t = tb;
    }
    must(cell.transition(VcpuState.RUNNING, VcpuState.FROZEN, VcpuOwner.SELF), "stop running");
    const ran = t - t0;
    runMs += ran;
    slices++;
    if (wanted()) break;
    const f = Atomics.load(i32, THROTTLE) / 1e6;
    if (f < 1) pause = Math.max(pause, (ran * (1 - f)) / f);
    if (pause > 0) {
      must(cell.transition(VcpuState.FROZEN, VcpuState.SLEEPING, VcpuOwner.SELF), "sleep");
      const z = performance.now();
      // Sleep on the request word: a freeze or stop wakes us at once.
      Atomics.wait(i32, REQ, 0, pause);
      sleepMs += performance.now() - z;
      must(cell.transition(VcpuState.SLEEPING, VcpuState.FROZEN, VcpuOwner.SELF), "wake");
      if (wanted()) break;
    }
    if (performance.now() - lastPublish >= 2) { publish(); lastPublish = performance.now(); }
  }
  // Publish before going IDLE: a host that froze us reads final counters.
  exits++;
  publish();
  must(cell.transition(VcpuState.FROZEN, VcpuState.IDLE, VcpuOwner.SELF), "exit to idle");
}
publish();
parentPort!.postMessage({ stopped: true });
