// The VM's synchronisation state: one SharedArrayBuffer that the main thread
// and every worker (vCPUs, device-side workers) map, holding the VM
// read/write lock, the lease table and each vCPU's state word, all updated
// with Atomics. Nothing here blocks: waiting is done by the drivers in
// wait.ts (Atomics.wait in workers, Atomics.waitAsync on the main thread).

/** Word indices of the header. */
export const W = {
  /** Bumped (and notified) on every change a lock waiter may be waiting for. */
  EPOCH: 0,
  /** Read holders (leases included) in the low bits, WRITER when the write lock is held. */
  RW: 1,
  /** Writers that asked for the write lock and do not hold it yet (readers and signers wait while > 0). */
  WWAIT: 2,
  /** 1 while one writer is between asking and releasing (writers are serialised). */
  WOWNER: 3,
  /** Lease blockers (vmm_lease_blocker): > 0 while a writer or destroy has expired the leases. */
  BLOCKER: 4,
  DESTROYED: 5,
  NVCPU: 6,
  NLEASES: 7,
  // Counters.
  WRITE_LOCKS: 8,
  READ_LOCKS: 9,
  LEASES_SIGNED: 10,
  LEASES_EXPIRED: 11,
  LEASES_BROKEN: 12,
  TIMEOUTS: 13,
  TRANSITIONS_REFUSED: 14,
  LEASES_FORCED: 15,
} as const;
/** Words before the lease table. */
export const HEADER_WORDS = 16;
/** The write-held bit of W.RW. */
export const WRITER = 1 << 30;

/** Lease slot word: generation << 2 | state. */
export const LeaseSlot = { FREE: 0, ACTIVE: 1, EXPIRED: 2 } as const;
/** Lease generations wrap within 29 bits (the slot word keeps 2 bits of state). */
export const LEASE_GEN_MASK = 0x1fffffff;

/**
 * Words per vCPU. DOORBELL and IDLE are not the vCPU's own: word DOORBELL of
 * vCPU slot `t` is the doorbell of vCPU pool thread `t` (a pool never has
 * more threads than vCPUs), which the host bumps and notifies after every
 * change to a request of a vCPU that thread runs, so one wait covers all of
 * its vCPUs; word IDLE of slot 0 counts every return of any vCPU to IDLE
 * (bumped and notified by the transition), which the host's freezes wait on.
 */
export const VW = { STATE: 0, REQ: 1, STOP: 2, THROTTLE_PPM: 3, REFUSED: 4, DOORBELL: 5, IDLE: 6 } as const;
/** Int32 words reserved per vCPU. */
export const VCPU_WORDS = 8;
/** 64-bit counters per vCPU. */
export const VS = { WRITES: 0, BYTES: 1, RUN_NS: 2, SLEEP_NS: 3, SLICES: 4, EXITS: 5 } as const;
/** 64-bit counters reserved per vCPU. */
export const VCPU_STATS = 8;

/** Typed views over one VM's synchronisation buffer. Post `buffer` to a worker and call `SyncState.from` there. */
export class SyncState {
  readonly buffer: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  readonly vcpus: number;
  readonly leases: number;
  private readonly vcpuBase: number;
  private readonly statsBase: number;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.i32 = new Int32Array(buffer);
    this.vcpus = this.i32[W.NVCPU];
    this.leases = this.i32[W.NLEASES];
    this.vcpuBase = HEADER_WORDS + this.leases;
    const words = this.vcpuBase + this.vcpus * VCPU_WORDS;
    this.statsBase = Math.ceil(words / 2);
    this.i64 = new BigInt64Array(buffer, 0, this.statsBase + this.vcpus * VCPU_STATS);
  }

  /** A fresh state for `vcpus` vCPUs and up to `leases` simultaneous leases. */
  static create(vcpus: number, leases = 64): SyncState {
    if (!Number.isInteger(vcpus) || vcpus < 0 || vcpus > 1024) throw new RangeError(`vcpus ${vcpus} out of range 0..1024`);
    if (!Number.isInteger(leases) || leases < 1 || leases > 4096) throw new RangeError(`leases ${leases} out of range 1..4096`);
    const words = HEADER_WORDS + leases + vcpus * VCPU_WORDS;
    const bytes = Math.ceil(words / 2) * 8 + vcpus * VCPU_STATS * 8;
    const buffer = new SharedArrayBuffer(bytes);
    const i32 = new Int32Array(buffer);
    i32[W.NVCPU] = vcpus;
    i32[W.NLEASES] = leases;
    const s = new SyncState(buffer);
    for (let v = 0; v < vcpus; v++) Atomics.store(s.i32, s.vcpuWord(v, VW.THROTTLE_PPM), 1_000_000);
    return s;
  }

  /** Map a buffer another thread created. */
  static from(buffer: SharedArrayBuffer): SyncState { return new SyncState(buffer); }

  /** Index of lease slot `slot`'s word. */
  leaseWord(slot: number): number { return HEADER_WORDS + slot; }
  /** Index of word `w` (VW.*) of vCPU `v`. */
  vcpuWord(v: number, w: number): number { return this.vcpuBase + v * VCPU_WORDS + w; }
  /** Index of the counter of returns to IDLE of all vCPUs (see VW.IDLE). */
  idleWord(): number { return this.vcpuWord(0, VW.IDLE); }
  /** Index of the doorbell word of vCPU pool thread `t` (see VW.DOORBELL). */
  doorbellWord(t: number): number { return this.vcpuWord(t, VW.DOORBELL); }
  /** Index in i64 of counter `c` (VS.*) of vCPU `v`. */
  vcpuStat(v: number, c: number): number { return this.statsBase + v * VCPU_STATS + c; }

  load(w: number): number { return Atomics.load(this.i32, w); }

  /** Record a change lock waiters care about: bump the epoch and wake everyone waiting on it. */
  changed(): void {
    Atomics.add(this.i32, W.EPOCH, 1);
    Atomics.notify(this.i32, W.EPOCH);
  }

  count(w: number, n = 1): void { Atomics.add(this.i32, w, n); }
}
