// A bare VM for the migration engine's own tests and bench: a VmCore plus
// the Machine's own vCPU workers (src/vcpu/) dirtying guest memory through
// the port (optionally only a working set, so a test can check the rest stays
// intact), frozen by the write lock and slowed by the throttle exactly as a
// Machine's are, but without devices, config or leases. It implements
// MigrationSource; StandInDestination implements MigrationDestination.
// `vmdev migrate` runs the real Machine (src/migration/machine-adapter.ts);
// the fault matrix, fuzz tests and bench use this.

import { VmCore, PAGE_SIZE } from "../../vm-core.js";
import type { WasmVariant } from "../../wasm.js";
import type { MigratableDevice } from "../../device.js";
import type { MigrationDestination, MigrationSource } from "../../migration/types.js";
import { SyncState, VW } from "../../sync/shared.js";
import { VcpuHost } from "../../vcpu/host.js";
import type { WorkloadPattern, WorkloadSpec } from "../../vcpu/workload.js";

/** Where the stand-in vCPUs write (the Machine's workload patterns; "hot" is the first 1/16 of the working set). */
export type DirtyPattern = WorkloadPattern;

/** Options of the stand-in source VM. */
export interface StandInOptions {
  module: WebAssembly.Module;
  variant: WasmVariant;
  ramBytes: number;
  vcpus?: number;
  /** Bytes of guest memory all vCPUs together dirty per second (each write dirties one page; 0: the vCPUs write nothing). */
  dirtyBytesPerSec?: number;
  pattern?: DirtyPattern;
  /** Fraction of RAM the workload writes (from the start of RAM; default 1). */
  workingSet?: number;
  devices?: MigratableDevice[];
  seed?: number;
  /** How long writeLock waits for the vCPUs to freeze (default 5 s). */
  freezeTimeoutMs?: number;
}

/** The vCPUs' run slice between checks for freeze requests and the throttle (the Machine's default, vcpu.slice_us). */
const SLICE_US = 1000;

/** The stand-in source VM. */
export class StandInSource implements MigrationSource {
  readonly devices: MigratableDevice[];
  private readonly vcpuHost: VcpuHost;
  private frozen = false;
  private retired = false;
  private readonly freezeTimeoutMs: number;

  private constructor(readonly core: VmCore, private readonly opts: StandInOptions) {
    this.devices = opts.devices ?? [];
    this.vcpuHost = new VcpuHost(SyncState.create(opts.vcpus ?? 2));
    this.freezeTimeoutMs = opts.freezeTimeoutMs ?? 5000;
  }

  static async create(opts: StandInOptions): Promise<StandInSource> {
    const core = await VmCore.create({ module: opts.module, variant: opts.variant, ramBytes: opts.ramBytes });
    return new StandInSource(core, opts);
  }

  get vcpus(): number { return this.vcpuHost.count; }

  /** Start the vCPU workers and wait until each has attached. */
  async start(): Promise<void> {
    const n = this.vcpuHost.count;
    if (n === 0) return;
    const rate = (this.opts.dirtyBytesPerSec ?? 0) / PAGE_SIZE / n;
    const count = Math.max(1, Math.floor(this.core.guest.pages * (this.opts.workingSet ?? 1)));
    const workloads = Array.from({ length: n }, (_, i): WorkloadSpec => ({
      pattern: this.opts.pattern ?? "uniform", rate, idle: rate === 0, firstPage: 0, pageCount: count,
      hotPages: Math.max(1, Math.floor(count / 16)), writeBytes: 8, throttle: 1, seed: (this.opts.seed ?? 1) * 7919 + i,
    }));
    await this.vcpuHost.start(this.core.shareable(), workloads, SLICE_US);
  }

  /** Total writes the vCPUs have made (a liveness probe: it grows while they run, and stands still while they are frozen). */
  writes(): number { return this.vcpuHost.stats().reduce((a, s) => a + s.writes, 0); }

  /** True while the write lock holds the vCPUs frozen. */
  get paused(): boolean { return this.frozen; }
  get isRetired(): boolean { return this.retired; }

  async writeLock(): Promise<() => void> {
    if (this.retired) throw new Error("the VM was migrated away");
    const st = await this.vcpuHost.freezeAll(this.freezeTimeoutMs);
    if (st !== "ok") throw new Error(`vCPUs did not freeze within ${this.freezeTimeoutMs} ms (${st})`);
    this.frozen = true;
    let released = false;
    return () => {
      if (released || this.retired) return;
      released = true;
      this.frozen = false;
      this.vcpuHost.thawAll();
    };
  }

  /** Migration's throttle is the fraction taken away (0 = full speed); the vCPUs' is the fraction left to run. */
  setThrottle(fraction: number): void {
    const f = Math.min(0.99, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
    this.vcpuHost.setThrottle(Math.max(0.01, 1 - f));
  }

  /** The throttle as the vCPUs' control word carries it, in migration's sense (fraction taken away). */
  get throttle(): number {
    if (this.vcpuHost.count === 0) return 0;
    const s = this.vcpuHost.sync;
    return (1e6 - Atomics.load(s.i32, s.vcpuWord(0, VW.THROTTLE_PPM))) / 1e6;
  }

  retire(): void { this.retired = true; }

  /** Stop the vCPU workers (after a migration, or at the end of a test). */
  async stop(): Promise<void> { await this.vcpuHost.stop(); }
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
