// A device-side worker for the machine stress tests: attaches to the VM's
// memory and lock state and, until told to stop, takes read locks or leases
// in a seeded random pattern and writes guest RAM while it holds them — the
// way a virtio-net queue worker would. Lease expiry is handled both ways:
// breaking at once from the callback, or a deferred break a little later.
import { parentPort, workerData } from "node:worker_threads";
import { VmCore, type SharedVm } from "../../src/index.js";
import { SyncState } from "../../src/sync/shared.js";
import { VmLock, type Lease } from "../../src/sync/vm-lock.js";
import { rng } from "./core.js";

export interface ClientData { shared: SharedVm; sync: SharedArrayBuffer; control: SharedArrayBuffer; seed: number; mode: "reader" | "lease" | "mixed"; firstPage: number; pages: number; timeoutMs: number }
const d = (workerData as { data: ClientData }).data;
const core = await VmCore.attach(d.shared, 4096);
const lock = new VmLock(SyncState.from(d.sync), { timeoutMs: d.timeoutMs });
const control = new Int32Array(d.control); // [0] stop
const rand = rng(d.seed);
const stats = { reads: 0, leases: 0, syncBreaks: 0, deferredBreaks: 0, writes: 0, timeouts: 0, destroyed: 0, lateWrites: 0 };
const sleepUs = (us: number) => { if (us > 0) Atomics.wait(control, 1, 0, us / 1000); };
const spinUs = (us: number) => { const end = performance.now() + us / 1000; while (performance.now() < end) { /* hold */ } };
const write = () => {
  const page = d.firstPage + Math.floor(rand() * d.pages);
  core.guest.writeU32(page * 4096 + Math.floor(rand() * 1024) * 4, (rand() * 2 ** 32) >>> 0);
  stats.writes++;
};

parentPort!.postMessage({ ready: true });
while (Atomics.load(control, 0) === 0) {
  const mode = d.mode === "mixed" ? (rand() < 0.5 ? "reader" : "lease") : d.mode;
  if (mode === "reader") {
    const r = lock.readLockSync();
    if (r.status === "destroyed") { stats.destroyed++; break; }
    if (r.status !== "ok") { stats.timeouts++; continue; }
    stats.reads++;
    for (let i = 1 + Math.floor(rand() * 4); i > 0; i--) write();
    spinUs(rand() * 200);
    r.release();
  } else {
    const breakAtOnce = rand() < 0.5;
    const r = lock.signLeaseSync(() => breakAtOnce);
    if (r.status === "destroyed") { stats.destroyed++; break; }
    if (r.status !== "ok") { stats.timeouts++; continue; }
    const lease: Lease = r.lease;
    stats.leases++;
    // Work under the lease until it expires (or we are told to stop).
    const maxOps = 1 + Math.floor(rand() * 200);
    for (let op = 0; op < maxOps && Atomics.load(control, 0) === 0; op++) {
      if (lease.poll()) break;
      write();
      sleepUs(rand() * 100);
    }
    if (lease.expired && !lease.broken) {
      // Deferred break: finish up a little later, still allowed to touch RAM until we break.
      spinUs(rand() * 300);
      write();
      if (lease.break()) stats.deferredBreaks++;
    } else if (lease.expired) {
      stats.syncBreaks++;
    } else {
      lease.break();
    }
  }
  sleepUs(rand() * 300);
}
parentPort!.postMessage({ stats });
