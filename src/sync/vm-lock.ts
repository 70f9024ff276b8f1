// The VM read/write lock and leases, after illumos bhyve's vmm
// (vmm_read_lock / vmm_write_lock, vmm_lease_sign / vmm_lease_block):
//
//  * A read lock freezes no vCPU. Readers are not recursive, and wait while a
//    writer waits (writer preference), so a stream of readers cannot starve a
//    writer.
//  * The write lock (1) freezes every vCPU, (2) blocks leases: marks every
//    lease expired and waits until each holder broke it, (3) takes the lock
//    exclusively once the remaining readers left. Release runs in reverse.
//  * A lease is a long-lived read hold with an expire callback. Signing waits
//    while a writer waits or leases are blocked. The callback runs on the
//    holder's thread, from its event loop or its own poll(), never inside this
//    module's critical sections (there are none to hold: every update is one
//    compare-and-swap). Returning true from the callback breaks the lease at
//    once; otherwise the holder breaks it later (a deferred break).
//  * Destroy blocks leases for good, breaks them all (forcing the ones their
//    holders do not break in time) and refuses new locks and leases.
//
// All state lives in the SyncState buffer; any thread may take read locks
// and leases. The write lock and destroy run on the thread that controls the
// vCPUs (the main thread) and never block it.

import { SyncState, W, WRITER, LeaseSlot, LEASE_GEN_MASK } from "./shared.js";
import { runAsync, runSync, waitAsync, now, type WaitAlgorithm, type WaitRequest } from "./wait.js";

/** Outcome of a wait: "ok", or why not. */
export type SyncStatus = "ok" | "timeout" | "destroyed" | "full";

/** Freezing the vCPUs for the write lock (implemented by the vCPU host). */
export interface VcpuFreezer {
  /** Freeze every vCPU; resolve "ok" once all are FROZEN, or "timeout" (with nothing left frozen). */
  freezeAll(timeoutMs: number): Promise<SyncStatus>;
  /** Undo one freezeAll. */
  thawAll(): void;
}

/** Result of a lock request. */
export type LockResult =
  | { status: "ok"; release: () => void }
  | { status: Exclude<SyncStatus, "ok">; stage: string };

/** Options of every wait: how long before it gives up with "timeout" (default: the lock's). */
export interface WaitOptions { timeoutMs?: number }

/** Longest single wait; algorithms re-check their condition at least this often. */
const MAX_WAIT_SLICE_MS = 50;

function* until(s: SyncState, deadline: number, cond: () => boolean): Generator<WaitRequest, boolean, void> {
  // Each round re-reads the epoch before the condition, so a change between the two wakes us.
  for (;;) {
    const e = s.load(W.EPOCH);
    if (cond()) return true;
    const left = deadline - now();
    if (left <= 0) return false;
    yield { index: W.EPOCH, value: e, ms: Math.min(left, MAX_WAIT_SLICE_MS) };
  }
}

/** Take a read hold: wait while a writer waits or holds the lock. */
function* readLockAlg(s: SyncState, deadline: number): WaitAlgorithm<SyncStatus> {
  for (;;) {
    if (s.load(W.DESTROYED)) return "destroyed";
    const e = s.load(W.EPOCH);
    if (s.load(W.WWAIT) === 0) {
      const rw = s.load(W.RW);
      if ((rw & WRITER) === 0) {
        if (Atomics.compareExchange(s.i32, W.RW, rw, rw + 1) === rw) { s.count(W.READ_LOCKS); return "ok"; }
        continue;
      }
    }
    const left = deadline - now();
    if (left <= 0) { s.count(W.TIMEOUTS); return "timeout"; }
    yield { index: W.EPOCH, value: e, ms: Math.min(left, MAX_WAIT_SLICE_MS) };
  }
}

function readUnlock(s: SyncState): void {
  const after = Atomics.sub(s.i32, W.RW, 1) - 1;
  if ((after & ~WRITER) < 0 || after < 0) throw new Error("VM read lock released more often than taken");
  s.changed();
}

/** Claim a free lease slot; returns [slot, gen] or null when the table is full. */
function claimSlot(s: SyncState): [number, number] | null {
  for (let slot = 0; slot < s.leases; slot++) {
    const i = s.leaseWord(slot);
    const w = s.load(i);
    if ((w & 3) !== LeaseSlot.FREE) continue;
    const gen = ((w >>> 2) + 1) & LEASE_GEN_MASK;
    if (Atomics.compareExchange(s.i32, i, w, (gen << 2) | LeaseSlot.ACTIVE) === w) return [slot, gen];
  }
  return null;
}

/** Free slot (gen) if it is still ours; true if this call freed it. */
function freeSlot(s: SyncState, slot: number, gen: number): boolean {
  const i = s.leaseWord(slot);
  for (const st of [LeaseSlot.ACTIVE, LeaseSlot.EXPIRED]) {
    if (Atomics.compareExchange(s.i32, i, (gen << 2) | st, (gen << 2) | LeaseSlot.FREE) === ((gen << 2) | st)) {
      Atomics.notify(s.i32, i);
      return true;
    }
  }
  return false;
}

type SignResult = { status: "ok"; slot: number; gen: number } | { status: Exclude<SyncStatus, "ok"> };

function* signAlg(s: SyncState, deadline: number): WaitAlgorithm<SignResult> {
  for (;;) {
    if (s.load(W.DESTROYED)) return { status: "destroyed" };
    const e = s.load(W.EPOCH);
    if (s.load(W.BLOCKER) === 0 && s.load(W.WWAIT) === 0) {
      const rw = s.load(W.RW);
      if ((rw & WRITER) === 0 && Atomics.compareExchange(s.i32, W.RW, rw, rw + 1) === rw) {
        const got = claimSlot(s);
        if (!got) { readUnlock(s); return { status: "full" }; }
        const [slot, gen] = got;
        // A writer adds to BLOCKER before it scans the slots, and we publish the
        // slot before reading BLOCKER: one of us sees the other (sequentially
        // consistent atomics). If the writer may have missed us, back out.
        if (s.load(W.BLOCKER) === 0 && s.load(W.DESTROYED) === 0 && s.load(W.WWAIT) === 0) {
          s.count(W.LEASES_SIGNED);
          return { status: "ok", slot, gen };
        }
        if (freeSlot(s, slot, gen)) readUnlock(s);
        else s.changed(); // destroy forced it and released the hold for us
        continue;
      }
      if ((rw & WRITER) === 0) continue; // lost a race with another reader: retry at once
    }
    const left = deadline - now();
    if (left <= 0) { s.count(W.TIMEOUTS); return { status: "timeout" }; }
    yield { index: W.EPOCH, value: e, ms: Math.min(left, MAX_WAIT_SLICE_MS) };
  }
}

/** Mark every active lease expired and wake its holder. Returns how many it expired. */
function expireAll(s: SyncState): number {
  let n = 0;
  for (let slot = 0; slot < s.leases; slot++) {
    const i = s.leaseWord(slot);
    const w = s.load(i);
    if ((w & 3) !== LeaseSlot.ACTIVE) continue;
    if (Atomics.compareExchange(s.i32, i, w, (w & ~3) | LeaseSlot.EXPIRED) === w) {
      n++;
      Atomics.notify(s.i32, i);
    }
  }
  if (n) s.count(W.LEASES_EXPIRED, n);
  s.changed();
  return n;
}

function noLeases(s: SyncState): boolean {
  for (let slot = 0; slot < s.leases; slot++) {
    const w = s.load(s.leaseWord(slot));
    if ((w & 3) === LeaseSlot.ACTIVE) {
      // Signed after our scan but before the signer saw BLOCKER: it backs out on
      // its own; expiring it as well is harmless and wakes its holder sooner.
      Atomics.compareExchange(s.i32, s.leaseWord(slot), w, (w & ~3) | LeaseSlot.EXPIRED);
      return false;
    }
    if ((w & 3) !== LeaseSlot.FREE) return false;
  }
  return true;
}

/**
 * A long-lived read hold. The holder checks `expired` (or calls `poll()`) in
 * its loops and must stop touching guest memory and call `break()` once it is
 * expired; the expire callback runs at most once.
 */
export class Lease {
  private notified = false;
  private watching = false;

  /** @internal created by VmLock.signLease */
  constructor(private readonly s: SyncState, readonly slot: number, readonly gen: number, private readonly onExpire: (lease: Lease) => boolean | void) {}

  private word(): number { return this.s.load(this.s.leaseWord(this.slot)); }

  /** True once a writer (or destroy) expired the lease, or it was broken. */
  get expired(): boolean { return this.word() !== ((this.gen << 2) | LeaseSlot.ACTIVE); }

  /** True once the lease no longer holds the VM (broken by its holder, or forced by destroy). */
  get broken(): boolean {
    const w = this.word();
    return w >>> 2 !== this.gen || (w & 3) === LeaseSlot.FREE;
  }

  /**
   * Break the lease: give back its read hold. Safe to call more than once and
   * after destroy forced it; returns true if this call broke it.
   */
  break(): boolean {
    if (!freeSlot(this.s, this.slot, this.gen)) return false;
    this.s.count(W.LEASES_BROKEN);
    readUnlock(this.s);
    return true;
  }

  /**
   * If the lease expired and the callback has not run, run it now (on this
   * thread); a true result breaks the lease at once. Returns `expired`.
   */
  poll(): boolean {
    if (!this.expired) return false;
    if (!this.notified) {
      this.notified = true;
      let breakNow: boolean | void = false;
      try { breakNow = this.onExpire(this); } finally {
        if (breakNow === true) this.break();
      }
    }
    return true;
  }

  /**
   * Run the callback from this thread's event loop as soon as the lease
   * expires (Atomics.waitAsync on the slot word). Use it where the holder's
   * thread is not busy in a loop that calls poll().
   */
  watch(): this {
    if (this.watching) return this;
    this.watching = true;
    const i = this.s.leaseWord(this.slot);
    const active = (this.gen << 2) | LeaseSlot.ACTIVE;
    const loop = (): void => {
      if (this.poll() || this.broken) return;
      void waitAsync(this.s.i32, i, active, 1000).then(loop);
    };
    loop();
    return this;
  }
}

/** The VM read/write lock and its leases, over a SyncState shared by every thread of one VM. */
export class VmLock {
  readonly state: SyncState;
  private readonly freezer: VcpuFreezer | null;
  readonly defaultTimeoutMs: number;

  /**
   * `freezer` is given on the thread that controls the vCPUs; elsewhere (a
   * worker) the write lock and destroy are unavailable.
   */
  constructor(state: SyncState, opts: { freezer?: VcpuFreezer; timeoutMs?: number } = {}) {
    this.state = state;
    this.freezer = opts.freezer ?? null;
    this.defaultTimeoutMs = opts.timeoutMs ?? 5000;
  }

  private deadline(o?: WaitOptions): number { return now() + (o?.timeoutMs ?? this.defaultTimeoutMs); }

  /** Take a read hold without blocking the thread. Resolves to a release function. */
  async readLock(o?: WaitOptions): Promise<LockResult> {
    const st = await runAsync(this.state.i32, readLockAlg(this.state, this.deadline(o)));
    return st === "ok" ? { status: "ok", release: once(() => readUnlock(this.state)) } : { status: st, stage: "read lock" };
  }

  /** Take a read hold, blocking this thread (workers only). */
  readLockSync(o?: WaitOptions): LockResult {
    const st = runSync(this.state.i32, readLockAlg(this.state, this.deadline(o)));
    return st === "ok" ? { status: "ok", release: once(() => readUnlock(this.state)) } : { status: st, stage: "read lock" };
  }

  /** Sign a lease without blocking; `onExpire` runs on this thread when a writer wants the VM (see Lease). */
  async signLease(onExpire: (lease: Lease) => boolean | void, o?: WaitOptions): Promise<{ status: "ok"; lease: Lease } | { status: Exclude<SyncStatus, "ok"> }> {
    const r = await runAsync(this.state.i32, signAlg(this.state, this.deadline(o)));
    return r.status === "ok" ? { status: "ok", lease: new Lease(this.state, r.slot, r.gen, onExpire) } : r;
  }

  /** Sign a lease, blocking this thread while leases are blocked (workers only). */
  signLeaseSync(onExpire: (lease: Lease) => boolean | void, o?: WaitOptions): { status: "ok"; lease: Lease } | { status: Exclude<SyncStatus, "ok"> } {
    const r = runSync(this.state.i32, signAlg(this.state, this.deadline(o)));
    return r.status === "ok" ? { status: "ok", lease: new Lease(this.state, r.slot, r.gen, onExpire) } : r;
  }

  /**
   * Take the write lock: freeze every vCPU, expire and wait out every lease,
   * then wait for the remaining readers and hold the VM exclusively. On
   * timeout every step already taken is undone and `stage` names the step.
   */
  async writeLock(o?: WaitOptions): Promise<LockResult> {
    const s = this.state;
    if (!this.freezer) throw new Error("writeLock: this VmLock has no vCPU freezer (only the controlling thread may write-lock)");
    const deadline = this.deadline(o);
    if (s.load(W.DESTROYED)) return { status: "destroyed", stage: "request" };
    Atomics.add(s.i32, W.WWAIT, 1);
    s.changed();
    const fail = (status: "timeout" | "destroyed", stage: string): LockResult => {
      Atomics.sub(s.i32, W.WWAIT, 1);
      if (status === "timeout") s.count(W.TIMEOUTS);
      s.changed();
      return { status, stage };
    };
    // Writers one at a time.
    let got = false;
    const queued = await runAsync(s.i32, until(s, deadline, () => s.load(W.DESTROYED) !== 0 || (got = Atomics.compareExchange(s.i32, W.WOWNER, 0, 1) === 0)));
    const disown = () => { Atomics.store(s.i32, W.WOWNER, 0); s.changed(); };
    if (!queued) return fail("timeout", "writer queue");
    if (!got) return fail("destroyed", "writer queue");
    if (s.load(W.DESTROYED)) { disown(); return fail("destroyed", "writer queue"); }
    // 1. Freeze every vCPU.
    const frozen = await this.freezer.freezeAll(Math.max(0, deadline - now()));
    if (frozen !== "ok") { disown(); return fail(frozen === "destroyed" ? "destroyed" : "timeout", "freeze vCPUs"); }
    // 2. Block leases: expire them all, wait until each is broken.
    Atomics.add(s.i32, W.BLOCKER, 1);
    expireAll(s);
    const leasesGone = await runAsync(s.i32, until(s, deadline, () => noLeases(s)));
    if (!leasesGone) {
      Atomics.sub(s.i32, W.BLOCKER, 1);
      this.freezer.thawAll();
      disown();
      return fail("timeout", "break leases");
    }
    // 3. Exclusive: wait for the readers that are not leases.
    const exclusive = await runAsync(s.i32, until(s, deadline, () => Atomics.compareExchange(s.i32, W.RW, 0, WRITER) === 0));
    if (!exclusive) {
      Atomics.sub(s.i32, W.BLOCKER, 1);
      this.freezer.thawAll();
      disown();
      return fail("timeout", "drain readers");
    }
    Atomics.sub(s.i32, W.WWAIT, 1);
    s.count(W.WRITE_LOCKS);
    s.changed();
    const freezer = this.freezer;
    return {
      status: "ok",
      release: once(() => {
        // Reverse order: exclusive hold, lease block, vCPU freeze.
        Atomics.sub(s.i32, W.RW, WRITER);
        Atomics.sub(s.i32, W.BLOCKER, 1);
        freezer.thawAll();
        disown();
        s.changed();
      }),
    };
  }

  /** True while some writer holds the lock. */
  get writeHeld(): boolean { return (this.state.load(W.RW) & WRITER) !== 0; }
  /** Read holders now (leases included). */
  get readers(): number { return this.state.load(W.RW) & ~WRITER; }
  /** Active or expired-but-unbroken leases now. */
  get leaseCount(): number {
    let n = 0;
    for (let i = 0; i < this.state.leases; i++) if ((this.state.load(this.state.leaseWord(i)) & 3) !== LeaseSlot.FREE) n++;
    return n;
  }
  get destroyed(): boolean { return this.state.load(W.DESTROYED) !== 0; }

  /** Lock counters (shared by all threads). */
  stats(): { writeLocks: number; readLocks: number; leasesSigned: number; leasesExpired: number; leasesBroken: number; leasesForced: number; timeouts: number; transitionsRefused: number } {
    const s = this.state;
    return {
      writeLocks: s.load(W.WRITE_LOCKS), readLocks: s.load(W.READ_LOCKS), leasesSigned: s.load(W.LEASES_SIGNED),
      leasesExpired: s.load(W.LEASES_EXPIRED), leasesBroken: s.load(W.LEASES_BROKEN), leasesForced: s.load(W.LEASES_FORCED),
      timeouts: s.load(W.TIMEOUTS), transitionsRefused: s.load(W.TRANSITIONS_REFUSED),
    };
  }

  /**
   * Destroy: refuse new locks and leases, expire every lease and wait (up to
   * the timeout) for holders to break them, then force-break the rest.
   * Resolves to the number of leases forced.
   */
  async destroy(o?: WaitOptions): Promise<number> {
    const s = this.state;
    if (Atomics.exchange(s.i32, W.DESTROYED, 1) === 1) return 0;
    Atomics.add(s.i32, W.BLOCKER, 1);
    expireAll(s);
    await runAsync(s.i32, until(s, this.deadline(o), () => noLeases(s)));
    let forced = 0;
    for (let slot = 0; slot < s.leases; slot++) {
      const w = s.load(s.leaseWord(slot));
      if ((w & 3) !== LeaseSlot.FREE && freeSlot(s, slot, w >>> 2)) {
        forced++;
        Atomics.sub(s.i32, W.RW, 1);
      }
    }
    if (forced) s.count(W.LEASES_FORCED, forced);
    s.changed();
    return forced;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => { if (!done) { done = true; fn(); } };
}
