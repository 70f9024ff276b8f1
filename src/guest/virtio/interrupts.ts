// The interrupt controller side the driver model sees: an InterruptSink that
// records every MSI (decoded back to the MSI-X vector the driver programmed)
// and the INTx line level.
import type { InterruptSink, MsiMessage } from "../../device.js";

/** Message address the driver programs into every MSI-X entry (x86 LAPIC window, §4.1.5.1.2 leaves it to the platform). */
export const MSI_ADDRESS = 0xfee00000;
/** Data of MSI-X entry n is MSI_DATA_BASE + n, so a message names its vector. */
export const MSI_DATA_BASE = 0x4100;

export class InterruptRecorder implements InterruptSink {
  /** MSIs per vector. */
  readonly perVector = new Map<number, number>();
  /** Vectors delivered and not yet serviced by the driver, in order. */
  pending: number[] = [];
  /** MSIs that matched no vector the driver programmed (address or data wrong). */
  strayMsi = 0;
  /** Current INTx level (pin 0) and the number of low→high edges. */
  intxLevel = false;
  intxAsserts = 0;
  /** INTx on a pin other than A. */
  strayIntx = 0;
  /** Every MSI message seen (for tests that check address/data). */
  readonly messages: MsiMessage[] = [];
  keepMessages = false;

  msi(msg: MsiMessage): void {
    if (this.keepMessages) this.messages.push({ ...msg });
    const v = msg.data - MSI_DATA_BASE;
    if ((msg.addressLo >>> 0) !== MSI_ADDRESS || msg.addressHi !== 0 || v < 0 || v > 0x7ff) { this.strayMsi++; return; }
    this.perVector.set(v, (this.perVector.get(v) ?? 0) + 1);
    this.pending.push(v);
  }

  intx(pin: number, level: boolean): void {
    if (pin !== 0) { this.strayIntx++; return; }
    if (level && !this.intxLevel) this.intxAsserts++;
    this.intxLevel = level;
  }

  /** MSIs on vector v so far. */
  count(v: number): number { return this.perVector.get(v) ?? 0; }
  /** All MSIs so far. */
  get totalMsi(): number { let n = 0; for (const c of this.perVector.values()) n += c; return n; }
  /** Forget the counts (not the INTx level). */
  clearCounts(): void { this.perVector.clear(); this.pending = []; this.intxAsserts = 0; this.strayMsi = 0; this.strayIntx = 0; this.messages.length = 0; }
}
