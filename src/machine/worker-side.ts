// The worker side of a machine, for device work off the main thread (a
// virtio-net queue worker): attach to the VM's memory and lock state from a
// handle the main thread posts, and run work under a lease that is broken on
// expiry and signed again once the writer is done.

import { VmCore, type SharedVm } from "../vm-core.js";
import { SyncState } from "../sync/shared.js";
import { VmLock, type Lease, type SyncStatus } from "../sync/vm-lock.js";

/** What a worker needs to join a machine; `machine.workerHandle()` makes one, post it to the worker. */
export interface MachineWorkerHandle {
  shared: SharedVm;
  sync: SharedArrayBuffer;
  timeoutMs: number;
}

/** In a worker: attach to the machine's guest memory and VM lock. */
export async function attachToMachine(h: MachineWorkerHandle, ioBytes = 64 * 1024): Promise<{ core: VmCore; lock: VmLock }> {
  const core = await VmCore.attach(h.shared, ioBytes);
  return { core, lock: new VmLock(SyncState.from(h.sync), { timeoutMs: h.timeoutMs }) };
}

/** Counters of a lease loop. */
export interface LeaseLoopStats { leases: number; steps: number; expiries: number; timeouts: number }

/**
 * Run `step` repeatedly in a worker, only while holding a lease: sign, call
 * `step()` until the lease expires (checked before every step) or `stop()`,
 * break, and sign again (which waits while a writer has the VM). `step`
 * returns false when it had nothing to do; the loop then sleeps `idleMs`
 * (still holding the lease, as a queue worker waiting for a kick would).
 * Blocks the calling thread: workers only. Resolves to why it ended.
 */
export function runUnderLease(lock: VmLock, step: () => boolean, opts: { stop: () => boolean; idleMs?: number; signTimeoutMs?: number; stats?: LeaseLoopStats }): SyncStatus {
  const idle = new Int32Array(new SharedArrayBuffer(4));
  const stats = opts.stats ?? { leases: 0, steps: 0, expiries: 0, timeouts: 0 };
  while (!opts.stop()) {
    const r = lock.signLeaseSync(() => true, { timeoutMs: opts.signTimeoutMs });
    if (r.status === "destroyed") return "destroyed";
    if (r.status !== "ok") { stats.timeouts++; continue; }
    const lease: Lease = r.lease;
    stats.leases++;
    // Bounded by the lease's life: a writer expires it, destroy forces it.
    while (!opts.stop()) {
      if (lease.poll()) { stats.expiries++; break; }
      if (step()) stats.steps++;
      else if (opts.idleMs) Atomics.wait(idle, 0, 0, opts.idleMs);
    }
    lease.break();
  }
  return "ok";
}
