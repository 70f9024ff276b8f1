// The machine's guest clock: guest ns = host monotonic ns − offset while it
// runs; stopped, it reads a fixed value. Everything that keeps time in guest
// time (the local APIC timers, TSC-deadline) reads it, so a migrated machine
// keeps its deadlines: the clock is saved with the devices (the guest time at
// save, through the state envelope) and the destination restores it stopped at
// that value; resuming the destination starts it again. The guest therefore
// sees no time pass between the source's save and the destination's resume,
// like a suspended VM (bhyve restores the guest TSC the same way), and a timer
// armed on the source fires after exactly the guest interval that was left.
//
// The offset itself is not carried: host monotonic clocks of two processes or
// hosts have unrelated origins, so the destination recomputes its own offset
// from the carried guest time.

import { Status } from "../status.js";
import { DeviceKind } from "../state.js";
import type { VmCore } from "../vm-core.js";
import type { GuestClock } from "../clock.js";
import type { MachineDevice } from "./registry.js";

/** Host monotonic time in ns. */
export const hostNs = (): bigint => process.hrtime.bigint();

/** The guest clock of one machine, also a DeviceModel (`clock`) so migration carries it. */
export class MachineClock implements GuestClock, MachineDevice {
  readonly kind = DeviceKind.guestClock;
  readonly name = "clock";
  private offset: bigint;
  private stoppedAt: bigint | null;

  /** A clock at guest time 0, running (or stopped at 0 when `running` is false). */
  constructor(private readonly core: VmCore, running = true) {
    this.offset = hostNs();
    this.stoppedAt = running ? null : 0n;
  }

  /** Guest time in ns. */
  now(): bigint { return this.stoppedAt ?? hostNs() - this.offset; }

  get running(): boolean { return this.stoppedAt === null; }

  /** Stop guest time at its current value (idempotent). */
  stop(): void { if (this.stoppedAt === null) this.stoppedAt = this.now(); }

  /** Let guest time run on from where it stopped (idempotent). */
  start(): void {
    if (this.stoppedAt === null) return;
    this.offset = hostNs() - this.stoppedAt;
    this.stoppedAt = null;
  }

  /** The envelope with the guest time now. */
  saveState(): Uint8Array {
    return this.core.saveEnvelope("mach_clock_save", () => this.core.exports.mach_clock_save(this.now()));
  }

  /** Restore the guest time from a blob; the clock is left stopped at it (start() runs it). Untouched on error. */
  restoreState(blob: Uint8Array): number {
    const s = this.core.restoreEnvelope(blob, (len) => this.core.exports.mach_clock_restore(len));
    if (s !== Status.OK) return s;
    this.stoppedAt = BigInt.asUintN(64, this.core.exports.mach_clock_restored());
    return Status.OK;
  }

  /** Back to guest time 0 (keeps running or stopped as it was). */
  reset(): void {
    if (this.stoppedAt !== null) this.stoppedAt = 0n;
    else this.offset = hostNs();
  }
}
