// The memtest device: the machine runtime's own small device, proving the
// device path (registry → factory → DeviceModel, interrupt sink, leases,
// saved state). Each tick writes a counter pattern into its window of guest
// RAM through the guest-memory port (assembly/memtest/device.ts) and, when
// asked, raises an MSI. With `interval_ms` it ticks on a timer, off vCPU
// context, holding a lease as device-side work must: on expiry it stops and
// breaks at once, and re-signs when the writer is done.

import { countersJson, type JsonCounter } from "../../tables.js";
import { check, VmdevError } from "../../status.js";
import { DeviceKind } from "../../state.js";
import type { InterruptSink } from "../../device.js";
import type { VmCore } from "../../vm-core.js";
import type { Lease, VmLock } from "../../sync/vm-lock.js";
import type { MachineDevice } from "../../machine/registry.js";

/** A memtest device's window and behaviour. */
export interface MemtestOptions {
  /** Window in guest RAM the device writes: start and length in bytes. */
  gpa: number;
  size: number;
  /** Words written per tick. */
  wordsPerTick?: number;
  /** Raise an MSI with this vector after each tick (undefined: none). */
  msiVector?: number;
}

/** The memtest device model. */
export class MemtestDevice implements MachineDevice {
  readonly kind = DeviceKind.memtest;
  private handle: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lease: Lease | null = null;
  private signing = false;
  /** Ticks skipped because the device held no lease (a writer had the VM). */
  skippedTicks = 0;
  /** Timer ticks refused by the device (ERR_HOLE: a hole now covers part of the window). */
  failedTicks = 0;

  constructor(private readonly core: VmCore, readonly name: string, readonly options: MemtestOptions, private readonly irq?: InterruptSink) {
    const h = core.exports.memtest_create(BigInt(options.gpa), options.size);
    if (h < 0) throw new VmdevError(-h, `memtest ${name}: window ${options.gpa}+${options.size}`);
    this.handle = h;
  }

  /** Write one tick's words into the window and raise the MSI if configured. */
  tick(words = this.options.wordsPerTick ?? 64): void {
    check(this.core.exports.memtest_tick(this.handle, words), "memtest_tick");
    if (this.options.msiVector !== undefined) this.irq?.msi({ addressLo: 0xfee00000, addressHi: 0, data: this.options.msiVector });
  }

  /** Words written since power-on (or the restored count). */
  get ticks(): bigint { return BigInt.asUintN(64, this.core.exports.memtest_ticks(this.handle)); }

  /** Words written, ticks skipped and refused, JSON-safe (a number up to 2^53 − 1, else a decimal string). */
  countersJSON(): Record<"ticks" | "skippedTicks" | "failedTicks", JsonCounter> {
    return countersJson({ ticks: this.ticks, skippedTicks: BigInt(this.skippedTicks), failedTicks: BigInt(this.failedTicks) });
  }

  saveState(): Uint8Array {
    return this.core.saveEnvelope("memtest_save", () => this.core.exports.memtest_save(this.handle));
  }

  restoreState(blob: Uint8Array): number {
    return this.core.restoreEnvelope(blob, (len) => this.core.exports.memtest_restore(this.handle, len));
  }

  reset(): void { check(this.core.exports.memtest_reset(this.handle), "memtest_reset"); }

  /**
   * Tick every `intervalMs` off vCPU context, under a lease: a writer's expiry
   * stops the ticks and breaks the lease at once; the next tick re-signs
   * (signing waits until the writer is done).
   */
  startTimer(lock: VmLock, intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.timerTick(lock), intervalMs);
  }

  private async timerTick(lock: VmLock): Promise<void> {
    if (this.lease && this.lease.expired) { this.lease.poll(); this.lease = null; }
    if (!this.lease) {
      if (this.signing) { this.skippedTicks++; return; }
      this.signing = true;
      const r = await lock.signLease(() => true, { timeoutMs: 1000 });
      this.signing = false;
      if (r.status !== "ok") { this.skippedTicks++; return; }
      this.lease = r.lease.watch();
    }
    if (this.lease.expired || !this.timer) return;
    // A tick the wasm refuses (its window under a hole) is counted, not thrown out of the timer.
    try { this.tick(); } catch (err) { if (!(err instanceof VmdevError)) throw err; this.failedTicks++; }
  }

  stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.lease?.break();
    this.lease = null;
  }

  destroy(): void {
    this.stopTimer();
    if (this.handle > 0) this.core.exports.memtest_destroy(this.handle);
    this.handle = 0;
  }
}
